// /auth: the namespace's accounts (auth/Accounts/List, Delete; created with
// auth/Auth/Generate) and rules (auth/Rules/List, Create, Delete). The API
// decides what the signed-in account may see and change here.

import {h, busy, field, notice, replace, table} from './dom.js';
import {call, errorView, namespace} from './api.js';

const opts = () => ({namespace: namespace()});

export async function render(main, ctx) {
  const msg = h('div', {'aria-live': 'polite'});
  const accounts = h('section', {}, h('h2', {text: 'Accounts'}), h('p', {class: 'muted', text: 'Loading…'}));
  const rules = h('section', {}, h('h2', {text: 'Rules'}), h('p', {class: 'muted', text: 'Loading…'}));
  main.append(h('h1', {text: 'Auth'}), msg, accounts, rules);

  const act = (button, what, fn, reload) => busy(button, async () => {
    try {
      await fn();
      replace(msg, notice('ok', what));
      await reload();
    } catch (err) {
      if (err.name !== 'AbortError') replace(msg, errorView(err, 'auth'));
    }
  });

  const loadAccounts = async () => {
    let list;
    try {
      list = ((await call('auth/Accounts/List', {options: opts()}, {signal: ctx.signal})).accounts || []).filter(Boolean);
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      replace(accounts, h('h2', {text: 'Accounts'}), errorView(err, 'auth'));
      return;
    }
    list.sort((a, b) => (a.id || '').localeCompare(b.id || ''));
    const t = table(['ID', 'Name', 'Type', 'Scopes', ''], list.map((a) => {
      const del = h('button', {type: 'button', class: 'secondary small', text: 'Delete', 'aria-label': `Delete account ${a.id}`});
      del.addEventListener('click', () => {
        if (!confirm(`Delete account ${a.id}? It can no longer sign in.`)) return;
        act(del, `Deleted account ${a.id}.`, () => call('auth/Accounts/Delete', {id: a.id, options: opts()}, {signal: ctx.signal}), loadAccounts);
      });
      return [h('code', {text: a.id || ''}), a.name || '', a.type || '', (a.scopes || []).join(', '), del];
    }));
    t.classList.add('accounts');
    replace(accounts, h('h2', {text: 'Accounts'}),
      list.length ? h('div', {class: 'scroll'}, t) : notice('info', `No accounts in namespace "${namespace()}".`),
      accountForm(ctx, (button, body) => act(button, `Created account ${body.id}.`,
        () => call('auth/Auth/Generate', body, {signal: ctx.signal}), loadAccounts)));
  };

  const loadRules = async () => {
    let list;
    try {
      list = ((await call('auth/Rules/List', {options: opts()}, {signal: ctx.signal})).rules || []).filter(Boolean);
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      replace(rules, h('h2', {text: 'Rules'}), errorView(err, 'auth'));
      return;
    }
    list.sort((a, b) => (Number(b.priority) || 0) - (Number(a.priority) || 0) || (a.id || '').localeCompare(b.id || ''));
    const t = table(['ID', 'Scope', 'Resource', 'Access', 'Priority', ''], list.map((r) => {
      const res = r.resource || {};
      const del = h('button', {type: 'button', class: 'secondary small', text: 'Delete', 'aria-label': `Delete rule ${r.id}`});
      del.addEventListener('click', () => {
        if (!confirm(`Delete rule ${r.id}?`)) return;
        act(del, `Deleted rule ${r.id}.`, () => call('auth/Rules/Delete', {id: r.id, options: opts()}, {signal: ctx.signal}), loadRules);
      });
      const access = String(r.access || 'UNKNOWN');
      return [h('code', {text: r.id || ''}),
        h('code', {text: r.scope === '' || r.scope === undefined ? '(public)' : r.scope}),
        h('code', {text: `${res.type || '*'}:${res.name || '*'}:${res.endpoint || '*'}`}),
        h('span', {class: access === 'GRANTED' ? 'status status-running' : 'status status-error', text: access.toLowerCase()}),
        String(r.priority || 0), del];
    }));
    t.classList.add('rules');
    replace(rules, h('h2', {text: 'Rules'}),
      h('p', {class: 'muted small', text: 'Checked highest priority first; the first rule that matches the call and the caller decides. No match: denied.'}),
      list.length ? h('div', {class: 'scroll'}, t) : notice('info', `No rules in namespace "${namespace()}".`),
      ruleForm(ctx, (button, body) => act(button, `Created rule ${body.rule.id}.`,
        () => call('auth/Rules/Create', body, {signal: ctx.signal}), loadRules)));
  };

  await Promise.all([loadAccounts(), loadRules()]);
}

function accountForm(ctx, create) {
  const id = h('input', {name: 'account-id', required: true, autocomplete: 'off'});
  const secret = h('input', {name: 'account-secret', type: 'password', required: true, autocomplete: 'new-password'});
  const type = h('select', {name: 'account-type'}, ['user', 'service', 'admin'].map((t) => h('option', {value: t, text: t})));
  const scopes = h('input', {name: 'account-scopes', autocomplete: 'off', placeholder: 'comma-separated'});
  const submit = h('button', {type: 'submit', text: 'Create account'});
  return h('details', {class: 'card'}, h('summary', {text: 'Create an account'}),
    h('form', {class: 'account-create', onsubmit: (e) => {
      e.preventDefault();
      create(submit, {id: id.value.trim(), secret: secret.value, type: type.value,
        scopes: scopes.value.split(',').map((s) => s.trim()).filter(Boolean), options: opts()});
    }}, field('ID', id), field('Secret', secret), field('Type', type), field('Scopes', scopes),
    h('div', {class: 'actions'}, submit)));
}

function ruleForm(ctx, create) {
  const id = h('input', {name: 'rule-id', required: true, autocomplete: 'off'});
  const scope = h('input', {name: 'rule-scope', autocomplete: 'off', placeholder: '"" public, * any account here, + any account, or a scope'});
  const resource = h('input', {name: 'rule-resource', required: true, autocomplete: 'off', value: 'service:*:*',
    pattern: '[^:]+:[^:]+:[^:]+', title: 'type:name:endpoint, e.g. service:helloworld:Helloworld.Call'});
  const access = h('select', {name: 'rule-access'}, h('option', {value: 'GRANTED', text: 'grant'}), h('option', {value: 'DENIED', text: 'deny'}));
  const priority = h('input', {name: 'rule-priority', inputmode: 'numeric', value: '0', pattern: '-?\\d+'});
  const submit = h('button', {type: 'submit', text: 'Create rule'});
  return h('details', {class: 'card'}, h('summary', {text: 'Create a rule'}),
    h('form', {class: 'rule-create', onsubmit: (e) => {
      e.preventDefault();
      const [type, name, endpoint] = resource.value.split(':');
      create(submit, {rule: {id: id.value.trim(), scope: scope.value.trim(), resource: {type, name, endpoint},
        access: access.value, priority: Number(priority.value) || 0}, options: opts()});
    }}, field('ID', id), field('Scope', scope), field('Resource', resource, 'type:name:endpoint'),
    field('Access', access), field('Priority', priority), h('div', {class: 'actions'}, submit)));
}
