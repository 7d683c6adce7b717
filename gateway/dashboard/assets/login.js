// /login: exchange an id and secret for a token (auth/Auth/Token) and keep
// it in the micro-token cookie until it expires.

import {h, field, notice, replace, busy} from './dom.js';
import {ANONYMOUS, call, errorView, namespace, setNamespace, setToken} from './api.js';

// TOKEN_EXPIRY asks for a 30-day token, as Micro's dashboard did.
const TOKEN_EXPIRY = 30 * 24 * 60 * 60;

// nextPath is where to go after signing in: the ?next= path when it stays
// on this site, else the home page.
function nextPath(query) {
  const next = query.get('next') || '/';
  try {
    const url = new URL(next, location.origin);
    if (url.origin === location.origin && url.pathname !== '/login' && url.pathname !== '/logout') {
      return url.pathname + url.search;
    }
  } catch (e) { /* not a URL */ }
  return '/';
}

export function render(main, ctx) {
  const ns = h('input', {name: 'namespace', value: namespace(), autocomplete: 'off', required: true,
    pattern: '[A-Za-z0-9._\\-]+', title: 'letters, digits, dot, dash or underscore'});
  const id = h('input', {name: 'id', autocomplete: 'username', required: true, autofocus: true});
  const secret = h('input', {name: 'secret', type: 'password', autocomplete: 'current-password', required: true});
  const submit = h('button', {type: 'submit', text: 'Sign in'});
  const message = h('div', {'aria-live': 'polite'});

  const done = (tokenValue, expiry) => {
    setToken(tokenValue, expiry);
    setNamespace(ns.value.trim() || 'micro');
    ctx.refreshUser();
    ctx.navigate(nextPath(ctx.query), {replace: true});
  };

  // Offered only when the server has no auth service: the API then checks
  // no tokens, so the dashboard may be used without one.
  const withoutAuth = h('button', {type: 'button', class: 'secondary', text: 'Continue without signing in',
    onclick: () => done(ANONYMOUS, 0)});

  const form = h('form', {class: 'card narrow', onsubmit: async (e) => {
    e.preventDefault();
    replace(message);
    await busy(submit, async () => {
      try {
        const rsp = await call('auth/Auth/Token', {
          id: id.value.trim(),
          secret: secret.value,
          token_expiry: TOKEN_EXPIRY,
          options: {namespace: ns.value.trim() || 'micro'},
        }, {auth: false, signal: ctx.signal});
        const t = rsp.token || {};
        if (!t.access_token) throw new Error('the auth service answered without a token');
        done(t.access_token, Number(t.expiry) || 0);
      } catch (err) {
        if (err.name === 'AbortError') return;
        if (err.missingService) {
          replace(message, errorView(err, 'auth'),
            notice('info', 'Without an auth service the API does not check tokens. ', withoutAuth));
          return;
        }
        // Micro shows the error's detail, e.g. "Account not found with this ID".
        replace(message, notice('error', err.detail || err.message));
      }
    });
  }},
  h('h1', {text: 'Sign in to micro'}),
  field('Namespace', ns),
  field('ID', id),
  field('Secret', secret),
  h('div', {class: 'actions'}, submit),
  message);

  main.appendChild(form);
  id.focus();
}
