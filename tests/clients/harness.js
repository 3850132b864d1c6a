// Test support for the client suites: start the real server binary on port 0 in a temporary
// root (reading its `listening on` line, no sleeps) and run the real CLI against that root.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, '..', '..', 'target', 'debug');
export const SERVER = process.env.DIRECTUS_SERVER_BIN ?? join(target, 'directus-server');
export const CLI = process.env.DIRECTUS_CLI_BIN ?? join(target, 'directus');

let databases = 0;

// With DIRECTUS_TEST_PG (the socket directory of a PostgreSQL cluster that
// scripts/test-clients.sh started), each server gets a fresh database on it.
export async function startServer(args = []) {
  const root = mkdtempSync(join(tmpdir(), 'directus-client-'));
  const pg = process.env.DIRECTUS_TEST_PG;
  if (pg) {
    const name = `sdk_${process.pid}_${databases++}`;
    execFileSync('psql', ['-q', '-h', pg, '-U', 'directus', '-d', 'postgres', '-c', `CREATE DATABASE ${name}`]);
    args = [...args, '--db', `postgresql://directus@/${name}?host=${pg}`];
  }
  const child = spawn(SERVER, ['--root', root, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, RUST_LOG: 'warn' },
  });
  const lines = createInterface({ input: child.stdout });
  const first = await new Promise((resolve, reject) => {
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const url = first.replace(/^listening on /, '');
  if (!url.startsWith('http://')) throw new Error(`unexpected first line: ${first}`);
  return {
    url,
    root,
    cli: (...cliArgs) => execFileSync(CLI, [...cliArgs, '--root', root], { encoding: 'utf8' }),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
