// Building the page. Every datum becomes a text node or a property: this module has no way to
// parse markup, so a value holding HTML or script can only ever show as text.

/** `h('button', {class: 'x', onclick: f}, 'Save')`: an element with properties and children. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (['value', 'checked', 'disabled', 'hidden', 'selected', 'htmlFor', 'rows'].includes(key)) el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  el.append(...children.flat(Infinity).filter((c) => c != null && c !== false).map(nodeOf));
  return el;
}

function nodeOf(child) {
  return child instanceof Node ? child : document.createTextNode(String(child));
}

export const $ = (selector, root = document) => root.querySelector(selector);

const count = new Intl.NumberFormat();
/** A count for people: "1,234" in the person's locale. */
export const num = (n) => count.format(n);

const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
/** An RFC 3339 instant in the person's local time, or null when it does not parse. */
export function localTime(rfc3339) {
  const t = Date.parse(rfc3339);
  return Number.isNaN(t) ? null : when.format(new Date(t));
}

/** A `<time>` element holding the machine value and showing the local one. */
export function timeEl(rfc3339) {
  return h('time', { datetime: rfc3339 }, localTime(rfc3339) ?? rfc3339);
}

let uid = 0;
/** A fresh id for pairing a label with its control. */
export const newId = (prefix) => `${prefix}-${++uid}`;

/** A label and its control, paired by id, in a `div` of class `cls`. */
export function labelled(text, control, cls = 'stack') {
  control.id ||= newId('c');
  return h('div', { class: cls }, h('label', { htmlFor: control.id }, text), control);
}

/** Short text for one value in a table cell: the JSON form for anything but a string. */
export function cellText(value) {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  const text = JSON.stringify(value);
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}
