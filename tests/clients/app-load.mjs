// `make bench`'s browser timing of the App (scripts/bench.py; not a test): opens the App in headless
// Chromium five times, each in a fresh context (nothing cached), and prints the milliseconds from
// navigation to the collections list, one per line. Run from tests/clients (playwright-core).
import { chromium } from 'playwright-core';

const [url, executablePath] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  for (let i = 0; i < 5; i++) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const started = performance.now();
    await page.goto(url);
    await page.getByRole('link', { name: 'articles' }).first().waitFor({ timeout: 15000 });
    console.log((performance.now() - started).toFixed(1));
    await context.close();
  }
} finally {
  await browser.close();
}
