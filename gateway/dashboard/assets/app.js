// The app: a router over history.pushState, the header, and link handling.
// Each page module exports a render(main, ctx) function; ctx carries the
// route's params, the query string, an AbortSignal that fires when the user
// leaves the page, and helpers to navigate.

import {clear, h, notice} from './dom.js';
import {ANONYMOUS, call, errorView, namespace, setNamespace, token, version, apiBase} from './api.js';
import * as login from './login.js';
import * as services from './services.js';
import * as store from './store.js';
import * as runtime from './runtime.js';
import * as events from './events.js';
import * as config from './config.js';
import * as auth from './auth.js';
import * as traces from './traces.js';

// routes: the first match wins; groups become ctx.params (decoded).
const routes = [
  {re: /^\/login$/, page: login.render, title: 'Sign in', public: true},
  {re: /^\/(?:services)?$/, page: services.renderList, title: 'Services', nav: 'services'},
  {re: /^\/service\/([^/]+)(?:\/([^/]+))?$/, page: services.renderService, title: 'Service', nav: 'services'},
  {re: /^\/store$/, page: store.render, title: 'Store', nav: 'store'},
  {re: /^\/runtime$/, page: runtime.render, title: 'Runtime', nav: 'runtime'},
  {re: /^\/events$/, page: events.render, title: 'Events', nav: 'events'},
  {re: /^\/config$/, page: config.render, title: 'Config', nav: 'config'},
  {re: /^\/auth$/, page: auth.render, title: 'Auth', nav: 'auth'},
  {re: /^\/traces$/, page: traces.renderList, title: 'Traces', nav: 'traces'},
  {re: /^\/trace\/([0-9A-Fa-f]{32})$/, page: traces.renderTrace, title: 'Trace', nav: 'traces'},
];

let current = null;

function match(path) {
  for (const r of routes) {
    const m = r.re.exec(path);
    if (!m) continue;
    try {
      return {route: r, params: m.slice(1).map((p) => (p === undefined ? undefined : decodeURIComponent(p)))};
    } catch (e) {
      return null; // a malformed %-escape names nothing
    }
  }
  return null;
}

// navigate shows path (with its query) without reloading the page.
function navigate(path, opts = {}) {
  if (opts.replace) history.replaceState(null, '', path);
  else history.pushState(null, '', path);
  render();
  window.scrollTo(0, 0);
}

function leave() {
  if (!current) return;
  current.controller.abort();
  for (const f of current.cleanups) {
    try {
      f();
    } catch (e) { /* keep leaving */ }
  }
  current = null;
}

function render() {
  leave();
  const main = document.getElementById('main');
  const found = match(location.pathname);
  if (found && !found.route.public && !token()) {
    // The server redirects full loads; this covers in-app navigation.
    location.assign('/login?next=' + encodeURIComponent(location.pathname + location.search));
    return;
  }
  const controller = new AbortController();
  current = {controller, cleanups: []};
  const ctx = {
    params: found ? found.params : [],
    query: new URLSearchParams(location.search),
    signal: controller.signal,
    navigate,
    refreshUser: loadUser,
    onLeave: (f) => current && current.cleanups.push(f),
    // setQuery rewrites the query string in place (no new history entry,
    // no re-render), e.g. to keep a filter in the URL.
    setQuery(values) {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(values)) if (v) q.set(k, v);
      const s = q.toString();
      history.replaceState(null, '', location.pathname + (s ? '?' + s : ''));
    },
  };
  header(found && found.route);
  clear(main);
  if (!found) {
    document.title = 'Not found · micro';
    main.appendChild(h('h1', {text: 'Not found'}));
    main.appendChild(notice('warn', 'There is no page at ', h('code', {text: location.pathname}), '.'));
    return;
  }
  document.title = found.route.title + ' · micro';
  Promise.resolve()
    .then(() => found.route.page(main, ctx))
    .catch((err) => {
      if (err && err.name === 'AbortError') return;
      main.appendChild(errorView(err));
    });
}

// header shows the chrome for route: hidden on the sign-in page.
function header(route) {
  const hd = document.getElementById('header');
  hd.hidden = !route || !!route.public;
  for (const a of hd.querySelectorAll('nav a[data-nav]')) {
    a.classList.toggle('active', !!route && a.dataset.nav === route.nav);
  }
  document.getElementById('ns-input').value = namespace();
}

// loadUser shows who the token belongs to.
async function loadUser() {
  const el = document.getElementById('user');
  const t = token();
  el.title = '';
  if (!t) {
    el.textContent = '';
    return;
  }
  if (t === ANONYMOUS) {
    el.textContent = 'anonymous';
    el.title = 'This server has no auth service: calls carry no token';
    return;
  }
  try {
    const rsp = await call('auth/Auth/Inspect', {token: t});
    const a = rsp.account || {};
    el.textContent = a.name || a.id || 'unknown user';
    el.title = `${a.type || 'account'} ${a.id || ''} issued by ${a.issuer || '?'}`;
  } catch (e) {
    el.textContent = 'unknown user';
    el.title = e.message;
  }
}

function start() {
  document.getElementById('version').textContent = version;
  document.getElementById('api').textContent = apiBase;

  document.getElementById('ns-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = document.getElementById('ns-input');
    setNamespace(input.value.trim() || 'micro');
    loadUser();
    render();
  });

  // In-app links are followed without reloading; /logout and links marked
  // data-reload go to the server.
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download') || a.hasAttribute('data-reload')) return;
    const url = new URL(a.href, location.href);
    if (url.origin !== location.origin || url.pathname === '/logout') return;
    e.preventDefault();
    if (url.pathname + url.search !== location.pathname + location.search) navigate(url.pathname + url.search);
  });
  window.addEventListener('popstate', render);

  if (location.pathname !== '/login') loadUser();
  render();
}

start();
