// A collection's views: the items table (page, sort, columns, search, filter builder, raw
// filter, API preview, selection) and the fields table with its index switches. The view's
// state lives in the URL hash; this module reads it and asks app.js to change it.
import { api, apiUrl, session } from './api.js';
import { h, num, cellText, newId, labelled } from './dom.js';
import { allowWrite } from './maint.js';
import { openEditor, closeEditor, editorState } from './editor.js';

const OPERATORS = {
  _eq: 'equals', _neq: 'does not equal', _lt: 'less than', _lte: 'at most', _gt: 'greater than',
  _gte: 'at least', _in: 'is one of', _nin: 'is none of', _null: 'is null', _nnull: 'is not null',
  _contains: 'contains', _ncontains: 'does not contain', _icontains: 'contains, any case',
  _starts_with: 'starts with', _nstarts_with: 'does not start with',
  _istarts_with: 'starts with, any case', _ends_with: 'ends with', _nends_with: 'does not end with',
  _iends_with: 'ends with, any case', _between: 'between', _nbetween: 'not between',
  _empty: 'is empty', _nempty: 'is not empty',
};
const TAKES_TRUE = ['_null', '_nnull', '_empty', '_nempty'];
const TAKES_LIST = ['_in', '_nin', '_between', '_nbetween'];
const LIMIT = 25;
const plural = (n, word) => `${num(n)} ${word}${n === 1 ? '' : 's'}`;

/** The view's state as the hash says it, with defaults for what it leaves out. */
function readView(params) {
  const view = { page: Math.max(1, Number.parseInt(params.get('page'), 10) || 1) };
  for (const key of ['sort', 'search', 'filter', 'fields']) view[key] = params.get(key) ?? '';
  return view;
}

function writeView(view) {
  const params = new URLSearchParams();
  if (view.page > 1) params.set('page', view.page);
  for (const key of ['sort', 'search', 'filter', 'fields']) if (view[key]) params.set(key, view[key]);
  return params;
}

/** A typed filter value: JSON when it parses (10, "10", true, null), else the text itself. */
function filterValue(operator, text) {
  if (TAKES_TRUE.includes(operator)) return true;
  const parse = (t) => { try { return JSON.parse(t); } catch { return t; } };
  if (!TAKES_LIST.includes(operator)) return parse(text);
  const value = parse(text.trim());
  return Array.isArray(value) ? value : text.split(',').map((part) => parse(part.trim()));
}

/** Adds one condition to a filter: `_and` of what was there and the new one. */
function combine(filter, condition) {
  const keys = Object.keys(filter);
  if (!keys.length) return condition;
  if (keys.length === 1 && Array.isArray(filter._and)) return { _and: [...filter._and, condition] };
  return { _and: [filter, condition] };
}

/** A button that shows and hides `target`, saying so with aria-expanded. */
function toggle(label, target, cls = '') {
  const button = h('button', { type: 'button', class: cls, 'aria-expanded': 'false', 'aria-controls': target.id ||= newId('t') }, label);
  button.addEventListener('click', () => {
    const open = target.hidden;
    target.hidden = !open;
    button.setAttribute('aria-expanded', String(open));
  });
  return button;
}

function collectionHead(collection, tab, ctx, actions, report) {
  const link = (name, href) => h('a', { href, 'aria-current': tab === name ? 'page' : null }, name);
  return h('header', { class: 'view-head' },
    h('div', { class: 'view-title' }, h('h1', null, collection),
      h('nav', { class: 'tabs', 'aria-label': 'Collection views' },
        link('Items', ctx.itemsHref(collection)), link('Fields', `#/fields/${encodeURIComponent(collection)}`))),
    h('div', { class: 'view-actions' }, actions,
      h('button', { type: 'button', class: 'danger-quiet', 'data-write': 'on',
        onclick: () => ctx.deleteCollection(collection).catch(report) }, 'Delete collection')));
}

/** The items table of one collection, driven by the hash's query. */
export function itemsView(collection, params, ctx) {
  const path = `/items/${encodeURIComponent(collection)}`;
  let view = readView(params);
  let fields = [];
  let rows = [];
  let headKey = '';
  let seq = 0;
  const selected = new Set();
  const go = (change, replace = false) => ctx.go(collection, writeView({ ...view, ...change }), replace);
  const error = h('p', { class: 'error', role: 'alert' });
  const status = h('p', { class: 'count', role: 'status' });
  const report = (e) => { error.textContent = e.message; };

  const newItem = h('button', { type: 'button', class: 'primary', 'data-write': 'on', onclick: () => edit(null) }, 'New item');
  const deleteSelected = h('button', { type: 'button', class: 'danger-quiet', 'data-write': 'off', onclick: removeSelection }, 'Delete selected');
  const preview = h('div', { class: 'preview', role: 'region', 'aria-label': 'API request of this view', hidden: true });
  const columns = h('fieldset', { class: 'popover', hidden: true });

  // Search: typing updates the hash in place (no history entry per key).
  const search = h('input', { type: 'search', value: view.search, placeholder: 'Search text fields', autocomplete: 'off' });
  let typing = 0;
  const searchNow = (replace) => { clearTimeout(typing); go({ search: search.value, page: 1 }, replace); };
  search.addEventListener('input', () => { clearTimeout(typing); typing = setTimeout(() => searchNow(true), 300); });

  // The builder adds a condition to the filter; the raw box shows and edits the whole filter.
  const fieldSelect = h('select');
  const opSelect = h('select', null, Object.entries(OPERATORS).map(([op, label]) => h('option', { value: op }, `${label} (${op})`)));
  const hint = h('p', { class: 'hint', id: newId('hint') },
    'Values are read as JSON: 10 is a number, "10" a string, true a boolean. Lists: 1,5 or [1,5]. Conditions combine with _and.');
  const valueInput = h('input', { autocomplete: 'off', spellcheck: 'false', 'aria-describedby': hint.id, placeholder: '10, "10", true, null, [1,5]' });
  opSelect.addEventListener('change', () => {
    valueInput.disabled = TAKES_TRUE.includes(opSelect.value);
    if (valueInput.disabled) valueInput.value = 'true';
  });
  const raw = h('textarea', { id: newId('raw'), class: 'mono', rows: 1, spellcheck: 'false', value: view.filter, placeholder: '{"views":{"_gt":500}}' });
  const filters = h('div', { class: `filters${view.filter ? ' open' : ''}` },
    h('form', { class: 'builder', onsubmit: addCondition },
      labelled('Filter field', fieldSelect), labelled('Operator', opSelect), labelled('Value', valueInput),
      h('button', { type: 'submit' }, 'Add condition')),
    hint,
    h('form', { class: 'raw-filter', onsubmit: applyRaw }, h('label', { htmlFor: raw.id }, 'Filter (JSON)'),
      h('div', { class: 'inline' }, raw, h('button', { type: 'submit' }, 'Apply filter'),
        h('button', { type: 'button', class: 'quiet', onclick: () => go({ filter: '', page: 1 }) }, 'Clear filter'))));
  // On a phone the filter tools fold behind a button; on a laptop they always show.
  const filtersToggle = h('button', { type: 'button', class: 'filters-toggle', 'aria-expanded': String(Boolean(view.filter)),
    onclick: () => filtersToggle.setAttribute('aria-expanded', String(filters.classList.toggle('open'))) }, 'Filters');

  const table = h('table', { class: 'grid' });
  const pageText = h('span', { class: 'muted' });
  const prev = h('button', { type: 'button', onclick: () => go({ page: view.page - 1 }) }, 'Previous page');
  const next = h('button', { type: 'button', onclick: () => go({ page: view.page + 1 }) }, 'Next page');

  const el = h('section', { class: 'view items' },
    collectionHead(collection, 'items', ctx, [newItem, deleteSelected, toggle('Columns', columns), toggle('API preview', preview)], report),
    columns, preview,
    h('div', { class: 'findbar' }, h('form', { class: 'search', role: 'search', onsubmit: (e) => { e.preventDefault(); searchNow(false); } },
      labelled('Search', search)), filtersToggle),
    filters, error, status,
    h('div', { class: 'table-box', role: 'region', 'aria-label': `Items of ${collection}`, tabindex: '0' }, table),
    h('nav', { class: 'pager', 'aria-label': 'Pages' }, prev, pageText, next));

  function addCondition(event) {
    event.preventDefault();
    let filter = {};
    try { filter = JSON.parse(view.filter || '{}'); } catch { /* a broken filter is replaced */ }
    const condition = { [fieldSelect.value]: { [opSelect.value]: filterValue(opSelect.value, valueInput.value) } };
    go({ filter: JSON.stringify(combine(filter, condition)), page: 1 });
  }

  function applyRaw(event) {
    event.preventDefault();
    const text = raw.value.trim();
    let filter = null;
    try { filter = text ? JSON.parse(text) : null; } catch { /* said below */ }
    if (text && (filter?.constructor !== Object)) {
      error.textContent = 'The filter must be a JSON object, such as {"views":{"_gt":500}}.';
      return;
    }
    go({ filter: filter ? JSON.stringify(filter) : '', page: 1 });
  }

  const names = () => fields.map((f) => f.field);
  const visible = () => {
    const chosen = view.fields.split(',');
    return view.fields ? names().filter((name) => name === 'id' || chosen.includes(name)) : names();
  };
  const query = () => ({ limit: LIMIT, page: view.page, sort: view.sort, search: view.search, filter: view.filter,
    fields: view.fields && ['id', ...visible().filter((f) => f !== 'id')].join(','), meta: 'total_count,filter_count' });

  function renderColumns() {
    const shown = visible();
    columns.replaceChildren(h('legend', null, 'Visible columns'), ...names().map((name) => h('label', { class: 'check' },
      h('input', { type: 'checkbox', checked: shown.includes(name), disabled: name === 'id', 'aria-label': `Show ${name}`,
        onchange: (e) => {
          const now = visible().filter((n) => n !== name).concat(e.target.checked ? [name] : []);
          const list = names().filter((n) => now.includes(n));
          go({ fields: list.length === fields.length ? '' : list.join(',') });
        } }), name)));
    const keep = fieldSelect.value;
    fieldSelect.replaceChildren(...names().map((name) => h('option', { value: name }, name)));
    if (names().includes(keep)) fieldSelect.value = keep;
  }

  function sortOf(name) {
    const first = view.sort.split(',')[0];
    return first === name ? 'ascending' : first === `-${name}` ? 'descending' : null;
  }

  function renderHead() {
    const shown = visible();
    if (shown.join() !== headKey) {
      headKey = shown.join();
      const all = h('input', { type: 'checkbox', 'aria-label': 'Select all on this page', onchange: (e) => {
        for (const item of rows) selected[e.target.checked ? 'add' : 'delete'](item.id);
        renderBody();
      } });
      table.replaceChildren(h('caption', { class: 'sr-only' }, `Items of ${collection}`),
        h('thead', null, h('tr', null, h('th', { class: 'pick', scope: 'col' }, all),
          shown.map((name) => h('th', { scope: 'col', 'data-field': name },
            h('button', { type: 'button', class: 'sort', onclick: () => {
              const state = sortOf(name);
              go({ sort: !state ? name : state === 'ascending' ? `-${name}` : '', page: 1 });
            } }, name, h('span', { class: 'sort-mark', 'aria-hidden': 'true' })))))),
        h('tbody'));
    }
    for (const th of table.querySelectorAll('th[data-field]')) {
      const state = sortOf(th.dataset.field);
      if (state) th.setAttribute('aria-sort', state); else th.removeAttribute('aria-sort');
      th.querySelector('.sort-mark').textContent = { ascending: '↑', descending: '↓' }[state] ?? '';
    }
  }

  function renderBody() {
    const shown = visible();
    const pick = (id) => (e) => { selected[e.target.checked ? 'add' : 'delete'](id); renderBody(); };
    table.tBodies[0].replaceChildren(...(rows.length ? rows.map((item) => h('tr', {
      'data-id': item.id, class: editorState().id === item.id ? 'editing' : null,
      onclick: (e) => { if (!e.target.closest('input, button')) edit(item); },
    }, h('td', { class: 'pick' }, h('input', { type: 'checkbox', 'aria-label': `Select item ${item.id}`, checked: selected.has(item.id), onchange: pick(item.id) })),
    shown.map((name) => (name === 'id'
      ? h('td', null, h('button', { type: 'button', class: 'link', 'aria-label': `Edit item ${item.id}`, onclick: () => edit(item) }, item.id))
      : h('td', { class: `v-${item[name] === null ? 'null' : typeof item[name]}` }, cellText(item[name]))))))
      : [h('tr', null, h('td', { class: 'empty', colspan: shown.length + 1 }, view.search || view.filter
        ? 'No items match this search or filter.' : 'No items yet. Create the first one with New item.'))]));
    const all = table.querySelector('thead input');
    const onPage = rows.filter((item) => selected.has(item.id)).length;
    all.checked = rows.length > 0 && onPage === rows.length;
    all.indeterminate = onPage > 0 && onPage < rows.length;
    deleteSelected.textContent = selected.size ? `Delete selected (${num(selected.size)})` : 'Delete selected';
    allowWrite(deleteSelected, selected.size > 0);
  }

  function renderPreview() {
    const url = apiUrl(path, query());
    const auth = session.token ? "-H 'Authorization: Bearer $DIRECTUS_TOKEN' " : '';
    preview.replaceChildren(h('p', { class: 'small' }, 'The request behind this view:'),
      h('pre', null, h('code', null, `GET ${url.pathname}${url.search}`)),
      h('pre', null, h('code', null, `curl ${auth}'${url.href}'`)));
  }

  async function load() {
    const mine = ++seq;
    table.setAttribute('aria-busy', 'true');
    status.textContent = 'Loading…';
    error.textContent = '';
    if (document.activeElement !== search) search.value = view.search;
    raw.value = view.filter;
    let meta = { filter_count: 0, total_count: 0 };
    try {
      if (!fields.length) {
        fields = (await api('GET', `/fields/${encodeURIComponent(collection)}`)).data;
        if (!fields.some((f) => f.field === 'id')) fields.unshift({ field: 'id', type: 'integer' });
        renderColumns();
      }
      renderPreview();
      const answer = await api('GET', path, { query: query() });
      if (mine !== seq) return;
      rows = answer.data;
      meta = answer.meta ?? { filter_count: rows.length, total_count: rows.length };
    } catch (e) {
      if (mine !== seq) return;
      rows = [];
      report(e);
    }
    const pages = Math.max(1, Math.ceil(meta.filter_count / LIMIT));
    if (!rows.length && view.page > pages) {
      go({ page: pages }, true);
      return;
    }
    renderHead();
    renderBody();
    table.removeAttribute('aria-busy');
    const { filter_count: found, total_count: total } = meta;
    status.textContent = found === total ? plural(total, 'item') : `${num(found)} of ${plural(total, 'item')} match`;
    pageText.textContent = `Page ${num(view.page)} of ${num(pages)}`;
    prev.disabled = view.page <= 1;
    next.disabled = view.page >= pages;
  }

  async function edit(item) {
    const open = editorState();
    if (open.dirty && open.id !== item?.id && !await ctx.confirm({
      title: 'Discard your changes?', text: 'The open item has changes that are not saved.', ok: 'Discard changes' })) return;
    openEditor({ collection, fields, item, confirm: ctx.confirm, onChange: () => { fields = []; load(); } });
    for (const tr of table.tBodies[0].rows) tr.classList.toggle('editing', tr.dataset.id === String(item?.id));
  }

  async function removeSelection() {
    const keys = [...selected];
    if (!await ctx.confirm({ title: `Delete ${plural(keys.length, 'item')}?`, text: `Items ${keys.join(', ')} are removed for good.`, ok: 'Delete' })) return;
    try {
      await api('DELETE', path, { body: keys });
      selected.clear();
      if (keys.includes(editorState().id)) closeEditor();
      await load();
    } catch (e) {
      report(e);
    }
  }

  load();
  return {
    el,
    update(next) {
      const before = view;
      view = readView(next);
      if (before.filter !== view.filter || before.search !== view.search) selected.clear();
      if (before.fields !== view.fields) renderColumns();
      load();
    },
  };
}

/** The fields of one collection: type, and a switch for its index. */
export function fieldsView(collection, ctx) {
  const error = h('p', { class: 'error', role: 'alert' });
  const status = h('p', { class: 'count', role: 'status' }, 'Loading…');
  const body = h('tbody');
  const report = (e) => { error.textContent = e.message; };
  const th = (text) => h('th', { scope: 'col' }, text);
  const el = h('section', { class: 'view fields' },
    collectionHead(collection, 'fields', ctx, [], report),
    h('p', { class: 'hint' }, 'Every top-level scalar field is indexed automatically; switch an index off to save space on a field nobody filters or sorts by.'),
    error, status,
    h('div', { class: 'table-box' }, h('table', { class: 'grid' }, h('caption', { class: 'sr-only' }, `Fields of ${collection}`),
      h('thead', null, h('tr', null, th('Field'), th('Type'), th('Index'))), body)));

  async function flip(field, input) {
    error.textContent = '';
    allowWrite(input, false);
    try {
      const { data } = await api('PATCH', `/fields/${encodeURIComponent(collection)}/${encodeURIComponent(field)}`,
        { body: { schema: { is_indexed: input.checked } } });
      input.checked = Boolean(data?.schema?.is_indexed ?? input.checked);
      status.textContent = `Index on ${field} ${input.checked ? 'built' : 'dropped'}.`;
    } catch (e) {
      input.checked = !input.checked;
      report(e);
    } finally {
      allowWrite(input, true);
    }
  }

  api('GET', `/fields/${encodeURIComponent(collection)}`).then(({ data }) => {
    status.textContent = plural(data.length, 'field');
    body.replaceChildren(...data.map((f) => {
      const primary = f.field === 'id' || f.schema?.is_primary_key;
      const input = h('input', { type: 'checkbox', role: 'switch', 'aria-label': `Index ${f.field}`,
        checked: Boolean(f.schema?.is_indexed), disabled: primary, 'data-write': !primary && 'on' });
      input.addEventListener('change', () => flip(f.field, input));
      return h('tr', null, h('th', { scope: 'row' }, f.field), h('td', { class: 'mono' }, f.type),
        h('td', null, h('label', { class: 'switch' }, input, primary ? h('span', { class: 'small' }, 'primary key, always indexed') : null)));
    }));
  }, (e) => { status.textContent = ''; report(e); });

  return { el };
}
