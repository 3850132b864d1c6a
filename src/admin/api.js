// The API client: the only module that calls fetch. It adds the token and the bypass secret
// (both kept for this tab only, in sessionStorage, never in a URL), turns error envelopes into
// ApiError, and hands maintenance answers to the maintenance module.

const keys = { token: 'directus-lite.token', bypass: 'directus-lite.bypass' };

/** What this tab holds: the access token and the operator's bypass secret. */
export const session = {
  get token() { return sessionStorage.getItem(keys.token); },
  set token(value) { store(keys.token, value); },
  get bypass() { return sessionStorage.getItem(keys.bypass); },
  set bypass(value) { store(keys.bypass, value); },
};

function store(key, value) {
  if (value) sessionStorage.setItem(key, value);
  else sessionStorage.removeItem(key);
}

/** An answer that was not a success, with the API's own sentence as its message. */
export class ApiError extends Error {
  constructor(status, message, code, extensions = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extensions = extensions;
  }

  /** "maintenance" or "read_only" for a maintenance 503, else null. */
  get reason() {
    return this.code === 'SERVICE_UNAVAILABLE' ? (this.extensions.reason ?? 'maintenance') : null;
  }
}

// Set by the maintenance module: `meet(error)` is told of every maintenance 503 and
// `whenOpen()` resolves once the API answers again.
let gate = { meet() {}, whenOpen: () => Promise.resolve() };
export function setGate(value) { gate = value; }

/** The URL of an API path with its query (empty values left out), on this origin. */
export function apiUrl(path, query = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(key, value);
  }
  return url;
}

/**
 * Calls the API and answers the parsed body (null when empty or not JSON). A read that meets
 * full maintenance waits until the API is open again and then runs again, so the view that
 * asked simply completes later; a write is not repeated: its error goes back to the form.
 */
export async function api(method, path, { query, body, token } = {}) {
  for (;;) {
    const headers = {};
    const bearer = token === undefined ? session.token : token;
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    if (session.bypass) headers['X-Maintenance-Bypass'] = session.bypass;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    let res;
    try {
      res = await fetch(apiUrl(path, query), {
        method, headers, cache: 'no-store',
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, 'The server cannot be reached. Check the connection and try again.', 'NETWORK');
    }
    const text = await res.text();
    let json = null;
    try { json = text ? JSON.parse(text) : null; } catch { /* not JSON: metrics, ping */ }
    if (res.ok) return json;
    const first = json?.errors?.[0];
    const error = new ApiError(res.status, first?.message || `The server answered ${res.status}.`,
      first?.extensions?.code || `HTTP_${res.status}`, { ...first?.extensions });
    if (error.reason) {
      const header = Number.parseInt(res.headers.get('Retry-After'), 10);
      if (error.extensions.retry_after == null && header >= 0) error.extensions.retry_after = header;
      gate.meet(error);
      if (error.reason === 'maintenance' && (method === 'GET' || method === 'HEAD')) {
        await gate.whenOpen();
        continue;
      }
    }
    throw error;
  }
}
