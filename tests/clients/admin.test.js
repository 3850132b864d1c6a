// The App at /admin/, driven in headless Chromium the way a person (or a screen reader) meets
// it: by roles and labels. Sign-in, browsing (sort, page, search, filter builder and raw JSON,
// columns, API preview), editing (typed values, PATCH of the changed fields only, errors kept
// beside the form), deleting, collections, index switches, the server panel, and maintenance:
// the full notice and the return without a reload (the edit kept), read-only, an announced
// window and the operator bypass. Item values holding markup must show as text and run
// nothing. Screenshots go to target/test-artifacts/. Every wait is bounded; none is a sleep.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from './harness.js';

const here = dirname(fileURLToPath(import.meta.url));
const artifacts = join(here, '..', '..', 'target', 'test-artifacts');
const TOKEN = 'test-token';
const WAIT = 15_000;
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const XSS_IMG = '<img src=x onerror="window.__xss=1;alert(1)">';
const XSS_SCRIPT = '<script>window.__xss=2;alert(2)</script>';

let api;
let browser;
let page;
const dialogs = [];
const requested = [];

/** Calls the API directly (with the token), answering status and parsed body. */
async function call(method, path, body) {
  const res = await fetch(`${api.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

const text = (value) => page.getByText(value, { exact: true });
const button = (name, scope = page) => scope.getByRole('button', { name, exact: true });
const panel = () => page.getByRole('complementary', { name: 'Item editor' });
const notice = () => page.getByRole('alertdialog', { name: 'Under maintenance' });
const readOnlyBanner = () => page.getByRole('status', { name: 'Read-only' });
const bypassBar = () => page.getByRole('region', { name: 'Maintenance bypass' });
const field = (name) => panel().getByLabel(name, { exact: true });

/** Waits until the locator's element has the given input value. */
async function waitValue(locator, value) {
  const handle = await locator.elementHandle({ timeout: WAIT });
  await page.waitForFunction(([el, v]) => el.value === v, [handle, value], { timeout: WAIT });
}

/** Waits until the locator's element is (or is not) disabled. */
async function waitDisabled(locator, disabled = true) {
  const handle = await locator.elementHandle({ timeout: WAIT });
  await page.waitForFunction(([el, d]) => el.disabled === d, [handle, disabled], { timeout: WAIT });
}

/** Clicks and answers the first request that `match` accepts. */
async function clickFor(locator, match) {
  const [request] = await Promise.all([page.waitForRequest(match, { timeout: WAIT }), locator.click()]);
  return request;
}

const isWrite = (method, path) => (r) => r.method() === method && new URL(r.url()).pathname.startsWith(path);

/** Opens the hash route in the running page (no reload). */
async function goHash(hash) {
  await page.evaluate((h) => { location.hash = h; }, hash);
}

/** Makes the App look at /server/maintenance now, as it does when the window gets focus. */
async function focusWindow() {
  await page.evaluate(() => window.dispatchEvent(new Event('focus')));
}

async function shoot(name, viewport) {
  mkdirSync(artifacts, { recursive: true });
  await page.setViewportSize(viewport);
  // The run on PostgreSQL keeps its own pictures beside SQLite's.
  const file = process.env.DIRECTUS_TEST_PG ? name.replace(/\.png$/, '-postgres.png') : name;
  await page.screenshot({ path: join(artifacts, file) });
}

before(async () => {
  api = await startServer(['--token', TOKEN, '--metrics']);
  await call('POST', '/collections', { collection: 'articles' });
  const items = Array.from({ length: 30 }, (_, i) => ({
    title: `Article ${String(i + 1).padStart(2, '0')}`, views: (i + 1) * 10, published: (i + 1) % 2 === 0,
  }));
  items.push({ title: XSS_IMG }, { title: XSS_SCRIPT, meta: { tags: ['<b>x</b>'] } });
  assert.equal((await call('POST', '/items/articles', items)).status, 200);
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: LAPTOP });
  page.setDefaultTimeout(WAIT);
  page.on('dialog', (dialog) => { dialogs.push(dialog.message()); dialog.dismiss().catch(() => {}); });
  page.on('request', (request) => requested.push(request.url()));
});

after(async () => {
  await browser?.close();
  await api?.stop();
});

test('sign in: a wrong token shows the API message, the right one opens the App', async () => {
  await page.goto(`${api.url}/admin/`);
  await page.getByLabel('Access token').fill('not-the-token');
  await button('Sign in').click();
  await page.getByRole('alert').filter({ hasText: 'Invalid user credentials.' }).waitFor();
  await page.getByLabel('Access token').fill(TOKEN);
  await button('Sign in').click();
  await page.getByRole('navigation', { name: 'Collections' }).getByRole('link', { name: 'articles' }).waitFor();
  assert.equal(await page.evaluate(() => Object.values(sessionStorage).includes('test-token')), true);
  assert.equal(await page.evaluate(() => localStorage.length), 0);
});

test('items: values holding markup show as text and run nothing', async () => {
  await page.getByRole('link', { name: 'articles', exact: true }).click();
  await text('32 items').waitFor();
  await text('Page 1 of 2').waitFor();
  await button('Next page').click();
  await text('Page 2 of 2').waitFor();
  await page.getByRole('cell', { name: XSS_IMG, exact: true }).waitFor();
  await page.getByRole('cell', { name: XSS_SCRIPT, exact: true }).waitFor();
  assert.equal(await page.locator('main img, main script').count(), 0);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  await button('Edit item 32').click();
  await waitValue(field('title'), XSS_SCRIPT);
  await button('Close', panel()).click();
  await panel().waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => window.__xss), undefined);
  assert.deepEqual(dialogs, []);
  await button('Previous page').click();
  await text('Page 1 of 2').waitFor();
});

test('items: sort by a column, page, and the view survives a reload', async () => {
  const views = page.getByRole('columnheader', { name: 'views', exact: true });
  await button('views').click();
  await views.and(page.locator('[aria-sort="ascending"]')).waitFor();
  await button('views').click();
  await views.and(page.locator('[aria-sort="descending"]')).waitFor();
  await page.getByRole('row').nth(1).getByRole('cell', { name: 'Article 30', exact: true }).waitFor();
  await button('Next page').click();
  await text('Page 2 of 2').waitFor();
  assert.match(page.url(), /#\/items\/articles\?page=2&sort=-views$/);
  await page.reload();
  await text('Page 2 of 2').waitFor();
  await views.and(page.locator('[aria-sort="descending"]')).waitFor();
  await page.getByRole('cell', { name: 'Article 05', exact: true }).waitFor();
  await shoot('admin-items-laptop.png', LAPTOP);
  await shoot('admin-items-phone.png', PHONE);
  await button('Menu').click();
  await page.getByRole('navigation', { name: 'Collections' }).getByRole('link', { name: 'articles' }).waitFor();
  await shoot('admin-menu-phone.png', PHONE);
  await page.keyboard.press('Escape');
  await page.setViewportSize(LAPTOP);
  await goHash('#/items/articles');
  await text('Page 1 of 2').waitFor();
});

test('items: search, the filter builder (typed values, _and) and the raw JSON filter', async () => {
  await page.getByLabel('Search', { exact: true }).fill('article 07');
  await text('1 of 32 items match').waitFor();
  await page.getByRole('cell', { name: 'Article 07', exact: true }).waitFor();
  assert.match(page.url(), /search=article\+07/);
  await page.getByLabel('Search', { exact: true }).fill('');
  await text('32 items').waitFor();

  await page.getByLabel('Filter field').selectOption('views');
  await page.getByLabel('Operator').selectOption('_gt');
  await page.getByLabel('Value', { exact: true }).fill('250');
  await button('Add condition').click();
  await text('5 of 32 items match').waitFor();
  await waitValue(page.getByLabel('Filter (JSON)'), '{"views":{"_gt":250}}');
  await page.getByLabel('Filter field').selectOption('published');
  await page.getByLabel('Operator').selectOption('_eq');
  await page.getByLabel('Value', { exact: true }).fill('true');
  await button('Add condition').click();
  await text('3 of 32 items match').waitFor();
  await waitValue(page.getByLabel('Filter (JSON)'), '{"_and":[{"views":{"_gt":250}},{"published":{"_eq":true}}]}');
  await page.getByLabel('Filter field').selectOption('views');
  await page.getByLabel('Operator').selectOption('_between');
  await page.getByLabel('Value', { exact: true }).fill('260,280');
  await button('Add condition').click();
  await text('2 of 32 items match').waitFor();

  // The raw box: type-exact comparisons (the string "50" is not the number 50).
  await page.getByLabel('Filter (JSON)').fill('{"views":{"_eq":"50"}}');
  await button('Apply filter').click();
  await text('0 of 32 items match').waitFor();
  await text('No items match this search or filter.').waitFor();
  await page.getByLabel('Filter (JSON)').fill('{"views":{"_eq":50}}');
  await button('Apply filter').click();
  await text('1 of 32 items match').waitFor();
  await page.getByRole('cell', { name: 'Article 05', exact: true }).waitFor();
  await page.getByLabel('Filter (JSON)').fill('{"views":{"_near":1}}');
  await button('Apply filter').click();
  await page.getByRole('alert').filter({ hasText: /_near|operator/i }).waitFor();
  await button('Clear filter').click();
  await text('32 items').waitFor();
});

test('items: choose the visible columns, and the API preview of the view', async () => {
  await button('Columns').click();
  await page.getByLabel('Show views').uncheck();
  await page.getByRole('columnheader', { name: 'views', exact: true }).waitFor({ state: 'detached' });
  const shown = new URLSearchParams(new URL(page.url()).hash.split('?')[1]).get('fields').split(',');
  assert.deepEqual([shown.includes('id'), shown.includes('title'), shown.includes('views')], [true, true, false]);
  await page.getByLabel('Show views').check();
  await page.getByRole('columnheader', { name: 'views', exact: true }).waitFor();
  await button('Columns').click();

  await button('API preview').click();
  const preview = page.getByRole('region', { name: 'API request of this view' });
  await preview.filter({ hasText: '/items/articles?limit=25&page=1' }).waitFor();
  await preview.filter({ hasText: "curl -H 'Authorization: Bearer $DIRECTUS_TOKEN'" }).waitFor();
  assert.equal(await preview.textContent().then((t) => t.includes(TOKEN)), false);
  await button('API preview').click();
});

test('keyboard: sort and open an item without a mouse', async () => {
  await button('title').focus();
  await page.keyboard.press('Enter');
  await page.getByRole('columnheader', { name: 'title', exact: true }).and(page.locator('[aria-sort="ascending"]')).waitFor();
  await button('Edit item 3').focus();
  await page.keyboard.press('Enter');
  await panel().getByRole('heading', { name: 'Item 3' }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.closest('aside')?.getAttribute('aria-label')), 'Item editor');
  await page.keyboard.press('Escape');
  await panel().waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => document.activeElement.getAttribute('aria-label')), 'Edit item 3');
  await goHash('#/items/articles');
  await page.getByRole('columnheader', { name: 'title', exact: true }).and(page.locator(':not([aria-sort])')).waitFor();
});

test('edit: create, change only what changed, keep types, show errors beside the form, delete', async () => {
  await button('New item').click();
  await panel().getByRole('heading', { name: 'New item' }).waitFor();
  await field('title').fill('Created in test');
  await field('views').fill('42');
  await field('published').fill('true');
  const created = await clickFor(button('Save', panel()), isWrite('POST', '/items/articles'));
  assert.deepEqual(created.postDataJSON(), { title: 'Created in test', views: 42, published: true });
  await panel().getByRole('heading', { name: 'Item 33' }).waitFor();
  await text('Created.').waitFor();

  await field('title').fill('Edited in test');
  const edited = await clickFor(button('Save', panel()), isWrite('PATCH', '/items/articles/33'));
  assert.deepEqual(edited.postDataJSON(), { title: 'Edited in test' });
  await text('Saved.').waitFor();
  await panel().getByLabel('Type of views').selectOption('string');
  const retyped = await clickFor(button('Save', panel()), isWrite('PATCH', '/items/articles/33'));
  assert.deepEqual(retyped.postDataJSON(), { views: '42' });
  await text('Saved.').waitFor();
  assert.deepEqual((await call('GET', '/items/articles/33')).body.data,
    { id: 33, title: 'Edited in test', views: '42', published: true });

  // A value that does not parse as its type never leaves the form.
  await panel().getByLabel('Type of views').selectOption('number');
  await field('views').fill('lots');
  await button('Save', panel()).click();
  await panel().getByRole('alert').filter({ hasText: 'views: “lots” is not a number.' }).waitFor();
  await field('views').fill('42');

  // An API error (the item went away behind the App's back) shows beside the form; the edit stays.
  assert.equal((await call('DELETE', '/items/articles/33')).status, 204);
  await field('title').fill('Edit that must not be lost');
  const refused = (await call('PATCH', '/items/articles/33', { title: 'x' })).body.errors[0].message;
  await button('Save', panel()).click();
  await panel().getByRole('alert').filter({ hasText: refused }).waitFor();
  await waitValue(field('title'), 'Edit that must not be lost');
  await button('Close', panel()).click();

  await button('Edit item 1').click();
  await panel().getByRole('heading', { name: 'Item 1' }).waitFor();
  await button('Delete item', panel()).click();
  const confirm = page.getByRole('dialog', { name: 'Delete item 1?' });
  await button('Delete', confirm).click();
  await panel().waitFor({ state: 'hidden' });
  assert.equal((await call('GET', '/items/articles/1')).status, 403);

  await page.getByLabel('Select item 2', { exact: true }).check();
  await page.getByLabel('Select item 3', { exact: true }).check();
  await button('Delete selected (2)').click();
  const request = await clickFor(button('Delete', page.getByRole('dialog', { name: 'Delete 2 items?' })),
    isWrite('DELETE', '/items/articles'));
  assert.deepEqual(request.postDataJSON(), [2, 3]);
  await text('29 items').waitFor();
  assert.equal((await call('GET', '/items/articles/2')).status, 403);
  assert.equal((await call('GET', '/items/articles/3')).status, 403);
});

test('collections: a bad name shows the API error; create, then delete after confirming', async () => {
  const name = page.getByLabel('New collection name');
  const expected = (await call('POST', '/collections', { collection: '1bad' })).body.errors[0].message;
  await name.fill('1bad');
  await button('Create collection').click();
  await page.getByRole('alert').filter({ hasText: expected }).waitFor();
  await name.fill('notes');
  await button('Create collection').click();
  await page.getByRole('heading', { name: 'notes', level: 1 }).waitFor();
  await text('No items yet. Create the first one with New item.').waitFor();
  await button('Delete collection').click();
  await button('Delete collection', page.getByRole('dialog', { name: 'Delete collection notes?' })).click();
  await page.getByRole('link', { name: 'notes', exact: true }).waitFor({ state: 'detached' });
  assert.equal((await call('GET', '/collections/notes')).status, 403);
});

test('fields: each type is shown and the index switch calls PATCH /fields', async () => {
  await page.getByRole('link', { name: 'articles', exact: true }).click();
  await page.getByRole('link', { name: 'Fields', exact: true }).click();
  const views = page.getByRole('switch', { name: 'Index views' });
  await views.waitFor();
  assert.equal(await views.isChecked(), true);
  assert.equal(await page.getByRole('switch', { name: 'Index id' }).isDisabled(), true);
  await page.getByRole('row', { name: /^published boolean/ }).waitFor();
  const [off] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === 'PATCH' && r.url().endsWith('/fields/articles/views')),
    views.click(),
  ]);
  assert.equal(off.status(), 200);
  assert.deepEqual(off.request().postDataJSON(), { schema: { is_indexed: false } });
  await text('Index on views dropped.').waitFor();
  assert.equal((await call('GET', '/fields/articles/views')).body.data.schema.is_indexed, false);
  await views.click();
  await text('Index on views built.').waitFor();
  assert.equal((await call('GET', '/fields/articles/views')).body.data.schema.is_indexed, true);
});

test('server panel: version, health, maintenance state, metrics', async () => {
  const { version } = (await call('GET', '/server/specs/oas')).body.info;
  await page.getByRole('link', { name: 'Server', exact: true }).click();
  await page.getByRole('row', { name: `Version ${version}` }).waitFor();
  await page.getByRole('row', { name: 'Health ok' }).waitFor();
  await page.getByRole('row', { name: 'Maintenance Off (serving)' }).waitFor();
  await page.getByRole('row', { name: 'Metrics On (/server/metrics)' }).waitFor();
  await goHash('#/items/articles');
  await text('29 items').waitFor();
});

test('maintenance: a full-page notice, then back where the person was, no reload, edit kept', async () => {
  await page.evaluate(() => { window.__marker = 'still the same page'; });
  await button('Edit item 4').click();
  await field('title').fill('Typed before the upgrade');
  api.cli('maintenance:on', '--message', 'Upgrading the database, back in a minute', '--retry', '2');
  await button('Save', panel()).click();
  await notice().waitFor();
  await notice().getByText('Upgrading the database, back in a minute').waitFor();
  const { since } = (await call('GET', '/server/maintenance')).body.data;
  const shown = notice().locator(`time[datetime="${since}"]`);
  const local = await page.evaluate((s) => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(s)), since);
  assert.equal(await shown.textContent(), local);
  await notice().getByText(/^in \d+ s$|^now$/).waitFor();
  await shoot('admin-maintenance-laptop.png', LAPTOP);
  await shoot('admin-maintenance-phone.png', PHONE);
  await page.setViewportSize(LAPTOP);
  const polled = page.waitForResponse((r) => r.url().endsWith('/server/maintenance'));
  await button('Try again', notice()).click();
  assert.equal((await (await polled).json()).data.state, 'on');
  await notice().waitFor();

  api.cli('maintenance:off');
  await notice().waitFor({ state: 'hidden' });
  assert.equal(await page.evaluate(() => window.__marker), 'still the same page');
  await waitValue(field('title'), 'Typed before the upgrade');
  const saved = await clickFor(button('Save', panel()), isWrite('PATCH', '/items/articles/4'));
  assert.deepEqual(saved.postDataJSON(), { title: 'Typed before the upgrade' });
  await text('Saved.').waitFor();
  assert.equal((await call('GET', '/items/articles/4')).body.data.title, 'Typed before the upgrade');
});

test('read-only: browsing works, a banner says why, every write control is disabled', async () => {
  await field('title').fill('Typed while read-only');
  api.cli('maintenance:on', '--read-only', '--message', 'Backing up: reading works, saving is paused', '--retry', '2');
  await button('Save', panel()).click();
  await panel().getByRole('alert').filter({ hasText: 'Backing up: reading works, saving is paused' }).waitFor();
  await readOnlyBanner().filter({ hasText: 'Backing up: reading works, saving is paused' }).waitFor();
  for (const name of ['Save', 'Delete item']) await waitDisabled(button(name, panel()));
  for (const name of ['New item', 'Delete collection', 'Create collection']) await waitDisabled(button(name));
  assert.equal(await notice().isVisible(), false);

  await button('title').click();
  await page.getByRole('columnheader', { name: 'title', exact: true }).and(page.locator('[aria-sort="ascending"]')).waitFor();
  await text('Page 1 of 2').waitFor();
  await page.getByRole('link', { name: 'Fields', exact: true }).click();
  await waitDisabled(page.getByRole('switch', { name: 'Index views' }));
  await page.getByRole('link', { name: 'Items', exact: true }).click();
  await text('Page 1 of 2').waitFor();
  await waitValue(field('title'), 'Typed while read-only');

  api.cli('maintenance:off');
  await readOnlyBanner().waitFor({ state: 'hidden' });
  await waitDisabled(button('Save', panel()), false);
  const saved = await clickFor(button('Save', panel()), isWrite('PATCH', '/items/articles/4'));
  assert.deepEqual(saved.postDataJSON(), { title: 'Typed while read-only' });
  await text('Saved.').waitFor();
  await button('Close', panel()).click();
});

test('an announced window shows its message and start in local time', async () => {
  api.cli('maintenance:announce', '--at', '+30m', '--message', 'Planned upgrade tonight');
  await focusWindow();
  const banner = page.getByRole('status', { name: 'Planned maintenance' });
  await banner.filter({ hasText: 'Planned upgrade tonight' }).waitFor();
  const { starts_at: startsAt } = (await call('GET', '/server/maintenance')).body.data.announcement;
  const local = await page.evaluate((s) => new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(s)), startsAt);
  assert.equal(await banner.locator(`time[datetime="${startsAt}"]`).textContent(), local);
  api.cli('maintenance:announce', '--clear');
  await focusWindow();
  await banner.waitFor({ state: 'hidden' });
});

test('operator bypass: the secret goes with every call and a distinct bar says so', async () => {
  const out = api.cli('maintenance:on', '--bypass', '--message', 'Operators are checking the upgrade', '--retry', '2');
  const secret = out.match(/^bypass secret: (\S+)$/m)[1];
  await focusWindow();
  await notice().getByText('Operators are checking the upgrade').waitFor();
  await button('Operator bypass…', notice()).click();
  const dialog = page.getByRole('dialog', { name: 'Bypass maintenance' });
  await dialog.getByLabel('Bypass secret').fill(secret);
  await button('Use secret', dialog).click();
  await notice().waitFor({ state: 'hidden' });
  await bypassBar().getByText('Bypassing maintenance').waitFor();

  await button('Edit item 5').click();
  await field('title').fill('Checked by an operator');
  const saved = await clickFor(button('Save', panel()), isWrite('PATCH', '/items/articles/5'));
  assert.equal(saved.headers()['x-maintenance-bypass'], secret);
  await text('Saved.').waitFor();
  await button('Close', panel()).click();

  await page.getByRole('link', { name: 'Server', exact: true }).click();
  await page.getByRole('row', { name: 'Maintenance On: Operators are checking the upgrade' }).filter({ hasText: 'since' }).waitFor();
  await bypassBar().waitFor();
  await button('Stop bypassing', bypassBar()).click();
  await bypassBar().waitFor({ state: 'hidden' });
  await notice().waitFor();
  assert.equal(await page.evaluate(() => Object.keys(sessionStorage).some((k) => k.includes('bypass'))), false);
  api.cli('maintenance:off');
  await notice().waitFor({ state: 'hidden' });
  await page.getByRole('row', { name: 'Maintenance Off (serving)' }).waitFor();
});

test('sign out, and the token was never in a URL', async () => {
  await button('Sign out').click();
  await page.getByLabel('Access token').waitFor();
  assert.equal(await page.evaluate(() => Object.values(sessionStorage).includes('test-token')), false);
  assert.equal(requested.some((url) => url.includes(TOKEN)), false);
  assert.equal(page.url().includes(TOKEN), false);
  assert.deepEqual(dialogs, []);
  assert.equal(await page.evaluate(() => window.__xss), undefined);
});

test('without a token: no sign-in; opened during maintenance, the App waits and then loads', async () => {
  const open = await startServer([]);
  const other = await browser.newPage({ viewport: LAPTOP });
  other.setDefaultTimeout(WAIT);
  try {
    await fetch(`${open.url}/collections`, {
      method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ collection: 'drafts' }),
    });
    open.cli('maintenance:on', '--message', 'Moving to a new disk', '--retry', '2');
    await other.goto(`${open.url}/`);
    assert.equal(new URL(other.url()).pathname, '/admin/');
    const waiting = other.getByRole('alertdialog', { name: 'Under maintenance' });
    await waiting.getByText('Moving to a new disk').waitFor();
    open.cli('maintenance:off');
    await waiting.waitFor({ state: 'hidden' });
    await other.getByRole('link', { name: 'drafts', exact: true }).click();
    await other.getByText('No items yet. Create the first one with New item.').waitFor();
    assert.equal(await other.getByRole('button', { name: 'Sign out' }).isVisible(), false);
    await other.getByRole('link', { name: 'Server', exact: true }).click();
    await other.getByRole('row', { name: 'Metrics Off' }).waitFor();
  } finally {
    await other.close();
    await open.stop();
  }
});
