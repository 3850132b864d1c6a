// Maintenance as people meet it: the full-page notice while the API is closed, the read-only
// banner (with every control that writes disabled), the banner of an announced window, and
// the bar shown while this tab bypasses maintenance. It never rebuilds the page: the notice
// covers it and goes away, so whatever the person was typing is still there.
import { api, session, setGate } from './api.js';
import { $, h, timeEl } from './dom.js';

const QUIET_CHECK_MS = 10_000;
let mode = 'off'; // what the App acts on: 'off', 'read_only' or 'on' (the notice shows)
let info = {};
let waiters = [];
let timer = 0;
let due = 0;
let ticker = 0;
let returnFocus = null;
let checking = null;

/** Wires the notice, the bars and the background checks; call once at start. */
export function initMaintenance() {
  setGate({ meet, whenOpen });
  $('#notice-retry').addEventListener('click', () => check());
  $('#stop-bypass').addEventListener('click', () => setBypass(null));
  addEventListener('focus', () => check());
  document.addEventListener('visibilitychange', () => { if (!document.hidden) check(); });
  // Controls that write carry data-write; whatever view adds them, read-only mode wins.
  new MutationObserver(syncWrites).observe(document.body, { childList: true, subtree: true });
  // The bar stays on top; what is pinned below it (panel, notice) starts at its height.
  const bar = $('#bypass-bar');
  new ResizeObserver(() => document.documentElement.style.setProperty('--bar', `${bar.offsetHeight}px`)).observe(bar);
  showBypass();
  check();
}

/** True while writes are refused (read-only mode). */
export const writesLocked = () => mode === 'read_only';

/**
 * Marks a control that writes as usable or not on its own account (nothing selected, a
 * request under way); read-only mode disables it regardless.
 */
export function allowWrite(el, allowed) {
  el.dataset.write = allowed ? 'on' : 'off';
  el.disabled = !allowed || writesLocked();
}

function syncWrites() {
  for (const el of document.querySelectorAll('[data-write]')) {
    const disabled = writesLocked() || el.dataset.write === 'off';
    if (el.disabled !== disabled) el.disabled = disabled;
  }
}

function meet(error) {
  const { since = null, retry_after = null } = error.extensions;
  enter(error.reason === 'read_only' ? 'read_only' : 'on', { message: error.message, since, retry_after });
}

function whenOpen() {
  return mode === 'on' ? new Promise((resolve) => waiters.push(resolve)) : Promise.resolve();
}

/** Seconds until the next look while maintenance lasts: Retry-After bounded to 2–60, else 5. */
function retryMs() {
  const seconds = Number.isFinite(info.retry_after) ? info.retry_after : 5;
  return Math.min(60, Math.max(2, seconds)) * 1000;
}

function enter(next, details) {
  mode = next;
  info = details;
  schedule(mode === 'off' ? QUIET_CHECK_MS : retryMs());
  if (mode === 'on') showNotice();
  else hideNotice();
  const banner = $('#readonly-banner');
  banner.hidden = mode !== 'read_only';
  $('#readonly-text').textContent = info.message || 'The server is read-only for now.';
  document.body.classList.toggle('read-only', mode === 'read_only');
  syncWrites();
}

function schedule(ms) {
  clearTimeout(timer);
  due = Date.now() + ms;
  timer = setTimeout(check, ms);
}

/**
 * Asks the server for its maintenance state now (the "Try again" button, focus, timers) and
 * tells the page with a `maintenance-state` event on window.
 */
export function check() {
  checking ??= (async () => {
    $('#notice-retry').disabled = true;
    try {
      const { data } = await api('GET', '/server/maintenance');
      showAnnouncement(data.announcement);
      dispatchEvent(new CustomEvent('maintenance-state', { detail: data }));
      let next = { on: 'on', read_only: 'read_only' }[data.state] ?? 'off';
      // With a bypass secret this tab is served as if maintenance were off; the notice then
      // stays only while a real call is still refused (a wrong secret).
      if (session.bypass && next !== 'off') next = mode === 'on' ? 'on' : 'off';
      enter(next, { message: data.message, since: data.since, retry_after: data.retry_after });
    } catch {
      schedule(mode === 'off' ? QUIET_CHECK_MS : retryMs());
    } finally {
      $('#notice-retry').disabled = false;
      checking = null;
    }
  })();
  return checking;
}

function showNotice() {
  const notice = $('#maintenance');
  $('#notice-message').textContent = info.message || 'The server is being updated.';
  $('#notice-since').replaceChildren(info.since ? timeEl(info.since) : 'just now');
  if (notice.hidden) {
    returnFocus = document.activeElement;
    $('#app').inert = true;
    notice.hidden = false;
    $('#notice-retry').focus();
    ticker = setInterval(tick, 1000);
  }
  tick();
}

function tick() {
  const seconds = Math.max(0, Math.ceil((due - Date.now()) / 1000));
  $('#notice-next').textContent = seconds ? `in ${seconds} s` : 'now';
}

function hideNotice() {
  const notice = $('#maintenance');
  if (notice.hidden) return;
  notice.hidden = true;
  $('#app').inert = false;
  clearInterval(ticker);
  if (returnFocus?.isConnected) returnFocus.focus();
  returnFocus = null;
  const resume = waiters;
  waiters = [];
  for (const resolve of resume) resolve();
}

function showAnnouncement(announcement) {
  const banner = $('#announce-banner');
  const starts = Date.parse(announcement?.starts_at);
  banner.hidden = !(starts > Date.now());
  if (banner.hidden) return;
  const { starts_at, ends_at, message } = announcement;
  $('#announce-text').replaceChildren(h('span', null,
    'Maintenance is planned from ', timeEl(starts_at),
    ends_at ? [' until ', timeEl(ends_at)] : '', '.', message ? ` ${message}` : ''));
}

/** Sets (or with null removes) this tab's bypass secret and shows the bar while it is set. */
export function setBypass(secret) {
  session.bypass = secret;
  showBypass();
  // Let what waits try again with the secret: a call that is still refused brings the
  // notice back; without a secret, ask the server where things stand.
  if (secret) enter('off', {});
  else check();
}

function showBypass() {
  $('#bypass-bar').hidden = !session.bypass;
  document.body.classList.toggle('bypassing', Boolean(session.bypass));
}
