// A browser app on another origin, in headless Chromium: items listed, then the maintenance
// message after `bin/directus maintenance:on`, then items again after `off`; in read-only mode
// the items stay listed and a write from the page shows the operator's message. Keeps
// screenshots of both states in target/test-artifacts/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, '..', '..', 'target', 'test-artifacts');
let api;
let site;
let origin;
let browser;

before(async () => {
  const page = readFileSync(join(here, 'app', 'index.html'));
  site = createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(page);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${site.address().port}`;
  api = await startServer(['--cors-origin', origin]);
  await fetch(`${api.url}/collections`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ collection: 'articles' }),
  });
  await fetch(`${api.url}/items/articles`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify([{ title: 'First article' }, { title: 'Second article' }]),
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  await api?.stop();
  site?.close();
});

// The page sends Content-Type: application/json, so every load below needs a CORS preflight:
// had the server not answered it (or left CORS headers off the 503), the page would show a
// network error instead of the items or the message.
test('the app shows the maintenance message from another origin', async () => {
  const page = await browser.newPage();
  const url = `${origin}/?api=${encodeURIComponent(api.url)}`;

  await page.goto(url);
  await page.waitForSelector('body[data-state="items"]');
  assert.deepEqual(await page.locator('#items li').allTextContents(), ['First article', 'Second article']);

  api.cli('maintenance:on', '--message', 'Upgrading the database, back soon', '--retry', '600');
  await page.reload();
  await page.waitForSelector('body[data-state="maintenance"]');
  assert.equal(await page.locator('#message').textContent(), 'Upgrading the database, back soon');
  assert.equal(await page.locator('#retry').textContent(), ' (try again in 10 min)');
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'maintenance.png') });

  api.cli('maintenance:off');
  await page.reload();
  await page.waitForSelector('body[data-state="items"]');
  assert.equal(await page.locator('#items li').count(), 2);
  assert.equal(await page.locator('#maintenance').isHidden(), true);
});

test('in read-only mode the app keeps listing items and shows why its write was declined', async () => {
  const page = await browser.newPage();
  await page.goto(`${origin}/?api=${encodeURIComponent(api.url)}`);
  await page.waitForSelector('body[data-state="items"]');
  const before = await page.locator('#items li').allTextContents();

  api.cli('maintenance:on', '--read-only', '--message', 'Backing up: reading works, saving is paused', '--retry', '120');
  await page.reload();
  await page.waitForSelector('body[data-state="items"]');
  assert.deepEqual(await page.locator('#items li').allTextContents(), before);
  assert.equal(await page.locator('#maintenance').isHidden(), true);

  await page.click('#add button');
  await page.waitForSelector('body[data-write="declined"]');
  assert.equal(await page.locator('#message').textContent(), 'Backing up: reading works, saving is paused');
  assert.equal(await page.locator('#retry').textContent(), ' (try again in 2 min)');
  assert.deepEqual(await page.locator('#items li').allTextContents(), before);
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: join(artifacts, 'read-only.png') });

  api.cli('maintenance:off');
  await page.click('#add button');
  await page.waitForSelector('body[data-write="saved"]');
  await page.waitForFunction((n) => document.querySelectorAll('#items li').length === n, before.length + 1);
  assert.deepEqual(await page.locator('#items li').allTextContents(), [...before, 'Written from the page']);
});
