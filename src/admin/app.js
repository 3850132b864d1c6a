// The App's shell: sign-in, the collections sidebar, the routes in the URL hash, the server
// panel and the two dialogs (confirm, bypass). Views come from items.js, the item form from
// editor.js, maintenance from maint.js.
import { api, session } from './api.js';
import { $, h, num, timeEl } from './dom.js';
import { initMaintenance, setBypass, check } from './maint.js';
import { itemsView, fieldsView } from './items.js';
import { closeEditor } from './editor.js';

let needsToken = false;
let current = null; // { key, collection, view }
const lastItemsHash = new Map(); // collection → the hash of its last items view
const ctx = { confirm: confirmDialog, go, deleteCollection, itemsHref };
const listCollections = async (token) => (await api('GET', '/collections', { token })).data;

initMaintenance();
wire();
start();

async function start() {
  // A call without a token says whether the server asks for one.
  try {
    return showApp(await listCollections(null));
  } catch (error) {
    if (error.status !== 403) return showSignIn(error.message);
  }
  needsToken = true;
  return session.token ? signIn(session.token) : showSignIn('');
}

async function signIn(token) {
  try {
    const collections = await listCollections(token);
    session.token = token;
    $('#token').value = '';
    showApp(collections);
  } catch (error) {
    session.token = null;
    showSignIn(error.message);
  }
}

function showSignIn(message) {
  for (const id of ['#workspace', '#sign-out', '#server-link']) $(id).hidden = true;
  $('#signin').hidden = false;
  $('#signin-error').textContent = message;
  $('#token').select();
}

function showApp(collections) {
  $('#signin').hidden = true;
  $('#workspace').hidden = $('#server-link').hidden = false;
  $('#sign-out').hidden = !needsToken;
  showCollections(collections);
  route();
}

function wire() {
  $('#signin-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    event.submitter.disabled = true;
    await signIn($('#token').value);
    event.submitter.disabled = false;
  });
  $('#sign-out').addEventListener('click', () => {
    session.token = null;
    closeEditor();
    current?.view.destroy?.();
    current = null;
    $('#main').replaceChildren();
    showSignIn('');
  });
  $('#new-collection').addEventListener('submit', createCollection);
  $('#menu').addEventListener('click', () => setMenu(!document.body.classList.contains('menu-open')));
  // A tap beside the open menu (on its backdrop) closes it.
  $('#workspace').addEventListener('click', (event) => { if (event.target === event.currentTarget) setMenu(false); });
  addEventListener('keydown', (event) => { if (event.key === 'Escape') setMenu(false); });
  $('#notice-bypass').addEventListener('click', openBypass);
  $('#bypass-cancel').addEventListener('click', () => $('#bypass-dialog').close());
  $('#bypass-form').addEventListener('submit', (event) => {
    event.preventDefault();
    setBypass($('#bypass-secret').value.trim());
    $('#bypass-secret').value = '';
    $('#bypass-dialog').close();
    if (current?.key === 'server') route(true);
  });
  $('#stop-bypass').addEventListener('click', () => { if (current?.key === 'server') route(true); });
  addEventListener('hashchange', () => route());
}

function setMenu(open) {
  document.body.classList.toggle('menu-open', open);
  $('#menu').setAttribute('aria-expanded', String(open));
  if (open) $('#sidebar a, #sidebar input').focus();
}

function openBypass() {
  $('#bypass-dialog').showModal();
}

function showCollections(collections) {
  const names = collections.map((c) => c.collection).sort();
  $('#collection-list').replaceChildren(...names.map((name) => h('li', null, h('a', { href: itemsHref(name), 'data-collection': name }, name))));
  if (!names.length) $('#collection-list').append(h('li', { class: 'muted' }, 'No collections yet.'));
  markCurrent();
}

const mark = (el, on) => (on ? el.setAttribute('aria-current', 'page') : el.removeAttribute('aria-current'));
function markCurrent() {
  mark($('#server-link'), current?.key === 'server');
  for (const link of document.querySelectorAll('#collection-list a')) mark(link, link.dataset.collection === current?.collection);
}

/** The link to a collection's items, in the view the person last had there. */
function itemsHref(collection) {
  return lastItemsHash.get(collection) ?? `#/items/${encodeURIComponent(collection)}`;
}

/** Shows the view named by the hash; a change of query only updates the current view. */
function route(rebuild = false) {
  if ($('#workspace').hidden) return;
  const [path, query = ''] = location.hash.slice(1).split(/\?(.*)/s);
  const [kind, collection] = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  let key = kind === 'server' ? kind : 'home';
  if ((kind === 'items' || kind === 'fields') && collection) key = `${kind}/${collection}`;
  if (key.startsWith('items/')) lastItemsHash.set(collection, location.hash);
  setMenu(false);
  if (!rebuild && current?.key === key) return current.view.update?.(params);
  current?.view.destroy?.();
  const inCollection = key.includes('/') ? collection : null;
  if (current?.collection !== inCollection || !inCollection) closeEditor();
  const view = key.startsWith('items/') ? itemsView(collection, params, ctx)
    : key.startsWith('fields/') ? fieldsView(collection, ctx)
      : key === 'server' ? serverView() : homeView();
  current = { key, collection: inCollection, view };
  $('#main').replaceChildren(view.el);
  markCurrent();
  return undefined;
}

/** Changes the query of a collection's items view; `replace` keeps history short (typing). */
function go(collection, params, replace = false) {
  const query = params.toString();
  const hash = `#/items/${encodeURIComponent(collection)}${query ? `?${query}` : ''}`;
  if (hash === location.hash) return;
  if (!replace) location.hash = hash;
  else {
    history.replaceState(null, '', hash);
    route();
  }
}

async function createCollection(event) {
  event.preventDefault();
  const input = $('#new-collection-name');
  $('#new-collection-error').textContent = '';
  try {
    const { data } = await api('POST', '/collections', { body: { collection: input.value.trim() } });
    input.value = '';
    showCollections(await listCollections());
    location.hash = itemsHref(data.collection);
  } catch (e) {
    $('#new-collection-error').textContent = e.message;
  }
}

async function deleteCollection(collection) {
  if (!await confirmDialog({ title: `Delete collection ${collection}?`, text: 'The collection and all its items are removed for good.', ok: 'Delete collection' })) return;
  await api('DELETE', `/collections/${encodeURIComponent(collection)}`);
  lastItemsHash.delete(collection);
  location.hash = '#/';
  showCollections(await listCollections());
}

/** An in-page confirmation: resolves true when the person confirms. */
function confirmDialog({ title, text, ok }) {
  const dialog = $('#confirm');
  $('#confirm-title').textContent = title;
  $('#confirm-text').textContent = text;
  $('#confirm-ok').textContent = ok;
  dialog.returnValue = '';
  dialog.showModal();
  return new Promise((resolve) => dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }));
}

function homeView() {
  const count = document.querySelectorAll('#collection-list a').length;
  return { el: h('section', null, h('h1', null, 'Collections'), h('p', null, count
    ? `${num(count)} ${count === 1 ? 'collection' : 'collections'}. Pick one in the sidebar to browse and edit its items.`
    : 'No collections yet. Create the first one in the sidebar.')) };
}

function serverView() {
  const rows = ['Version', 'Health', 'Maintenance', 'Announced maintenance', 'Metrics'].map((label) => h('tr', null, h('th', { scope: 'row' }, label), h('td', null, '…')));
  const [version, health, maintenance, announcement, metrics] = rows.map((row) => row.cells[1]);
  const show = (td, promise) => promise.then((value) => td.replaceChildren(value), (e) => td.replaceChildren(h('span', { class: 'error' }, e.message)));
  show(version, api('GET', '/server/specs/oas').then((oas) => oas?.info?.version ?? 'unknown'));
  show(health, api('GET', '/server/health').then((body) => body?.status ?? 'unknown'));
  show(metrics, api('GET', '/server/metrics').then(() => 'On (/server/metrics)', (e) => { if (e.status === 404) return 'Off'; throw e; }));
  const showState = ({ detail: m }) => {
    const a = m.announcement;
    maintenance.replaceChildren(h('span', null, { off: 'Off (serving)', read_only: 'Read-only', on: 'On' }[m.state] ?? m.state,
      m.message ? `: ${m.message}` : '', m.since ? [' since ', timeEl(m.since)] : ''));
    announcement.replaceChildren(a ? h('span', null, timeEl(a.starts_at), a.ends_at ? [' until ', timeEl(a.ends_at)] : '', a.message ? `: ${a.message}` : '') : 'None');
  };
  addEventListener('maintenance-state', showState);
  check();
  const bypassing = Boolean(session.bypass);
  return {
    destroy: () => removeEventListener('maintenance-state', showState),
    el: h('section', null,
      h('div', { class: 'view-head' }, h('h1', null, 'Server'), h('button', { type: 'button', onclick: () => route(true) }, 'Refresh')),
      h('table', { class: 'facts-table' }, h('caption', { class: 'sr-only' }, 'Server status'), h('tbody', null, rows)),
      h('h2', null, 'Maintenance bypass'),
      h('p', null, bypassing ? 'This tab sends a bypass secret with every request (see the bar at the top).'
        : 'Operators can check the API during maintenance with the secret printed by maintenance:on --bypass.'),
      h('button', { type: 'button', onclick: openBypass }, bypassing ? 'Change bypass secret' : 'Enter bypass secret')),
  };
}
