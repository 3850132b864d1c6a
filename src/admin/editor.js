// The slide-in form that creates, changes and deletes one item. Each value keeps its JSON
// type (a type select beside each input); a change sends only the fields that changed; an
// error stays beside the form and the edit stays in it. Nothing outside this module rebuilds
// the form, so a maintenance pause leaves it exactly as the person left it.
import { api } from './api.js';
import { $, h, labelled } from './dom.js';
import { allowWrite } from './maint.js';

const TYPES = { string: 'String', number: 'Number', boolean: 'Boolean', null: 'Null', json: 'JSON' };
let state = { rows: [] };

/** What the editor holds: the open item's id (null for a new one) and whether it has changes. */
export function editorState() {
  if ($('#panel').hidden) return {};
  const { body, problems } = changes();
  return { id: state.id, dirty: problems.length > 0 || Object.keys(body).length > 0 };
}

const typeOf = (value) => (value === null ? 'null' : typeof value === 'object' ? 'json' : typeof value);
const typeOfField = (type) => ({ integer: 'number', float: 'number', boolean: 'boolean', json: 'json' }[type] ?? 'string');

function display(value, type) {
  if (type === 'null') return '';
  return type === 'json' ? JSON.stringify(value, null, 2) : String(value);
}

function parse({ name, input, select }) {
  const text = input.value.trim();
  if (select.value === 'string') return input.value;
  if (select.value === 'null') return null;
  if (select.value === 'number') {
    if (text === '' || !Number.isFinite(Number(text))) throw new Error(`${name}: “${text}” is not a number.`);
    return Number(text);
  }
  if (select.value === 'boolean') {
    if (text !== 'true' && text !== 'false') throw new Error(`${name}: a boolean is true or false.`);
    return text === 'true';
  }
  try { return JSON.parse(text); } catch (e) { throw new Error(`${name}: not valid JSON (${e.message}).`); }
}

/** The fields that differ from the stored item, and any value that does not parse. */
function changes() {
  const body = {};
  const problems = [];
  for (const row of state.rows) {
    if (!row.present && row.input.value === '' && row.select.value === row.initialType) continue;
    try {
      const value = parse(row);
      if (!row.present || JSON.stringify(value) !== JSON.stringify(row.original)) body[row.name] = value;
    } catch (e) {
      problems.push(e.message);
    }
  }
  return { body, problems };
}

/** Closes the panel (its content goes) and gives focus back to what opened it. */
export function closeEditor() {
  const panel = $('#panel');
  if (panel.hidden) return;
  panel.hidden = true;
  panel.replaceChildren();
  document.body.classList.remove('editing');
  for (const tr of document.querySelectorAll('tr.editing')) tr.classList.remove('editing');
  if (state.opener?.isConnected) state.opener.focus();
  state = { rows: [] };
}

/**
 * Opens the form for `item` (null: a new item) of `collection`; `onChange` runs after each
 * save or delete so the table can refresh.
 */
export function openEditor(options, note = '') {
  const { collection, fields, item, confirm, onChange } = options;
  const panel = $('#panel');
  const path = `/items/${encodeURIComponent(collection)}`;
  const rows = h('div', { class: 'rows' });
  state = { id: item ? item.id : null, rows: [], opener: panel.hidden ? document.activeElement : state.opener };

  function addRow(name, present, value, fieldType) {
    const type = present ? typeOf(value) : typeOfField(fieldType);
    // A field the item lacks says so; left empty, nothing is sent for it.
    const input = h('textarea', {
      rows: type === 'json' ? 3 : 1,
      spellcheck: 'false',
      value: present ? display(value, type) : '',
      placeholder: present ? '' : 'not set',
    });
    const select = h('select', { 'aria-label': `Type of ${name}` }, Object.entries(TYPES).map(([key, label]) => h('option', { value: key }, label)));
    const sync = () => {
      input.disabled = select.value === 'null';
      input.classList.toggle('mono', select.value === 'json');
    };
    select.value = type;
    select.addEventListener('change', sync);
    sync();
    state.rows.push({ name, present, original: value, initialType: type, input, select });
    const row = labelled(name, input, 'field-row');
    row.append(select);
    rows.append(row);
    return input;
  }

  const known = new Map(fields.map((f) => [f.field, f.type]));
  for (const name of new Set([...known.keys(), ...Object.keys(item ?? {})])) {
    if (name !== 'id') addRow(name, Boolean(item) && name in item, item?.[name], known.get(name));
  }

  const alert = h('p', { class: 'error', role: 'alert' });
  const status = h('p', { class: 'saved', role: 'status' }, note);
  const newField = h('input', { autocomplete: 'off', spellcheck: 'false' });
  const addField = () => {
    const name = newField.value.trim();
    if (!name) return;
    if (name === 'id' || state.rows.some((r) => r.name === name)) {
      alert.textContent = `The form already has a field ${name}.`;
      return;
    }
    newField.value = '';
    addRow(name, false, undefined, 'string').focus();
  };
  newField.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); addField(); } });
  const save = h('button', { type: 'submit', class: 'primary', 'data-write': 'on' }, 'Save');

  async function submit(event) {
    event.preventDefault();
    alert.textContent = status.textContent = '';
    const { body, problems } = changes();
    if (problems.length || (item && !Object.keys(body).length)) {
      alert.textContent = problems.join(' ');
      status.textContent = problems.length ? '' : 'Nothing changed.';
      return;
    }
    allowWrite(save, false);
    try {
      const { data } = await api(item ? 'PATCH' : 'POST', item ? `${path}/${item.id}` : path, { body });
      openEditor({ ...options, item: data }, item ? 'Saved.' : 'Created.');
      onChange();
    } catch (e) {
      alert.textContent = e.message;
    } finally {
      allowWrite(save, true);
    }
  }

  async function removeItem() {
    alert.textContent = '';
    if (!await confirm({ title: `Delete item ${item.id}?`, text: 'The item is removed for good.', ok: 'Delete' })) return;
    try {
      await api('DELETE', `${path}/${item.id}`);
      closeEditor();
      onChange();
    } catch (e) {
      alert.textContent = e.message;
    }
  }

  const title = h('h2', { tabindex: '-1' }, item ? `Item ${item.id}` : 'New item');
  const more = labelled('New field name', newField, 'add-field');
  more.append(h('button', { type: 'button', onclick: addField }, 'Add field'));
  panel.replaceChildren(
    h('div', { class: 'panel-head' }, title, h('button', { type: 'button', class: 'quiet', onclick: closeEditor }, 'Close')),
    h('form', { class: 'panel-body', novalidate: true, onsubmit: submit },
      h('p', { class: 'small muted' }, collection, item ? ` · id ${item.id}` : ' · the server gives the id'),
      rows, more, alert, status,
      h('div', { class: 'panel-actions' }, save,
        item && h('button', { type: 'button', class: 'danger', 'data-write': 'on', onclick: removeItem }, 'Delete item'))));
  panel.onkeydown = (e) => { if (e.key === 'Escape') closeEditor(); };
  panel.hidden = false;
  document.body.classList.add('editing');
  (note ? title : rows.querySelector('textarea') ?? title).focus();
}
