// The HTTP API client: every call is POST <api>/<service>/<Handler>/<Method>
// with a JSON body, the namespace and the user's token as headers. Errors
// come back as micro errors {id, code, detail, status}.

import {h, notice} from './dom.js';

function meta(name) {
  const el = document.querySelector(`meta[name="${name}"]`);
  return el ? el.getAttribute('content') : '';
}

// apiBase is where the gateway is, as the server worked it out.
export const apiBase = meta('micro-api') || `${location.protocol}//${location.hostname}:8080`;
// version is the server's version.
export const version = meta('micro-version');

export const TOKEN_COOKIE = 'micro-token';
// ANONYMOUS is the stand-in token of a server without an auth service; it
// is never sent to the API.
export const ANONYMOUS = 'anonymous';
const NS_KEY = 'micro-namespace';

export function getCookie(name) {
  for (const part of document.cookie.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    if (part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return '';
}

export function token() {
  return getCookie(TOKEN_COOKIE);
}

// setToken stores the token in the micro-token cookie until expiry (unix
// seconds; 0 means until the browser closes).
export function setToken(value, expiry) {
  let c = `${TOKEN_COOKIE}=${encodeURIComponent(value)}; Path=/; SameSite=Lax`;
  if (expiry > 0) c += '; Expires=' + new Date(expiry * 1000).toUTCString();
  if (location.protocol === 'https:') c += '; Secure';
  document.cookie = c;
}

export function namespace() {
  try {
    return localStorage.getItem(NS_KEY) || 'micro';
  } catch (e) {
    return 'micro';
  }
}

export function setNamespace(ns) {
  try {
    localStorage.setItem(NS_KEY, ns || 'micro');
  } catch (e) { /* private mode: the default stays */ }
}

// APIError is a micro error; code 0 means the API could not be reached.
export class APIError extends Error {
  constructor({id = '', code = 0, detail = '', status = ''} = {}) {
    super(detail || status || 'request failed');
    this.id = id;
    this.code = code;
    this.detail = detail;
    this.status = status;
  }

  // missingService says the API has no such service or endpoint (yet):
  // the gateway's 500 "service not found", or a 404 from the gateway's
  // routing rather than from a service.
  get missingService() {
    if (this.code === 500 && /service not found|route not found/i.test(this.detail)) return true;
    return this.code === 404 && (/^endpoint not found/i.test(this.detail) || this.id === 'go.micro.api');
  }
}

function headers(auth) {
  const hd = {'Content-Type': 'application/json', 'Micro-Namespace': namespace()};
  const t = token();
  if (auth !== false && t && t !== ANONYMOUS) hd['Authorization'] = 'Bearer ' + t;
  return hd;
}

// endpointURL is <api>/<service>/<Handler>/<Method> from "service/Handler/Method".
export function endpointURL(path) {
  return apiBase + '/' + path.split('/').map(encodeURIComponent).join('/');
}

async function send(path, body, opts) {
  let rsp;
  try {
    rsp = await fetch(endpointURL(path), {
      method: 'POST',
      headers: headers(opts.auth),
      body: JSON.stringify(body || {}),
      signal: opts.signal,
    });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new APIError({id: 'dashboard', code: 0, detail: `cannot reach the API at ${apiBase}`});
  }
  if (!rsp.ok) {
    const err = await errorOf(rsp);
    if (err.code === 401 && opts.auth !== false) signIn();
    throw err;
  }
  return rsp;
}

// signIn drops a token the API refused (401) and sends the user to sign
// in, coming back to this page afterwards.
export function signIn() {
  document.cookie = `${TOKEN_COOKIE}=; Path=/; Max-Age=0; SameSite=Lax`;
  if (location.pathname === '/login') return;
  location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
}

async function errorOf(rsp) {
  const text = await rsp.text();
  try {
    const e = JSON.parse(text);
    if (e && typeof e === 'object' && ('detail' in e || 'code' in e)) {
      return new APIError({id: e.id, code: Number(e.code) || rsp.status, detail: e.detail, status: e.status});
    }
  } catch (err) { /* not JSON */ }
  return new APIError({code: rsp.status, detail: text.trim() || rsp.statusText, status: rsp.statusText});
}

// call makes a unary call and returns the parsed reply ({} for 204).
// opts: {signal, auth: false to send no token}.
export async function call(path, body, opts = {}) {
  const rsp = await send(path, body, opts);
  if (rsp.status === 204) return {};
  const text = await rsp.text();
  return text ? JSON.parse(text) : {};
}

// stream makes a server-streaming call: the gateway writes one JSON message
// per line; onMessage gets each as it arrives. An error written as the
// last line (after the stream started) is thrown.
export async function stream(path, body, onMessage, opts = {}) {
  const rsp = await send(path, body, opts);
  if (rsp.status === 204 || !rsp.body) return;
  const reader = rsp.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const emit = (line) => {
    if (!line.trim()) return;
    const msg = JSON.parse(line);
    if (msg && typeof msg === 'object' && 'detail' in msg && 'code' in msg && 'status' in msg && Object.keys(msg).length <= 4) {
      throw new APIError(msg);
    }
    onMessage(msg);
  };
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    buf += dec.decode(value, {stream: true});
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      emit(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  }
  emit(buf + dec.decode());
}

// errorView explains an error in place of a page or panel. what names the
// block the page needs ("registry"), for the missing-service message.
export function errorView(err, what) {
  if (!(err instanceof APIError)) {
    return notice('error', String(err && err.message ? err.message : err));
  }
  if (err.missingService && what) {
    return notice('warn', h('strong', {text: `This server has no ${what} service yet.`}),
      ' ', h('span', {class: 'muted', text: `(${err.code} ${err.detail})`}));
  }
  if (err.code === 401) {
    return notice('error', `Not signed in or the session expired: ${err.detail}. `,
      h('a', {href: '/logout', 'data-reload': true, text: 'Sign in again'}));
  }
  if (err.code === 403) {
    return notice('error', h('strong', {text: `Not allowed in namespace "${namespace()}". `}), err.detail,
      '. The auth rules decide who may call what: ', h('a', {href: '/auth', text: 'see the rules'}), '.');
  }
  if (err.code === 0) {
    return notice('error', err.detail + '. Is the gateway running?');
  }
  return notice('error', `${err.code} ${err.status || ''}: ${err.detail}`.replace(/\s+:/, ':'));
}
