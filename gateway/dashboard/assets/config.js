// /config: the namespace's config tree (config/Config/Get, secrets masked
// as "[secret]" by the server), one row per leaf with its path, and forms
// to set (config/Config/Set, optionally as a secret) and delete values.

import {h, busy, field, jsonView, notice, replace, table} from './dom.js';
import {call, errorView, namespace} from './api.js';

// leaves flattens a JSON value into [path, value] pairs, one per leaf.
export function leaves(value, prefix = '', out = []) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length) {
    for (const k of Object.keys(value).sort()) leaves(value[k], prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) {
    out.push([prefix, value]);
  }
  return out;
}

export async function render(main, ctx) {
  const tree = h('section', {}, h('p', {class: 'muted', text: 'Loading…'}));
  const msg = h('div', {'aria-live': 'polite'});
  main.append(h('h1', {text: 'Config'}), msg, setForm(ctx, msg, () => load()), tree);

  const del = (path, button) => {
    if (!confirm(`Delete ${path} from namespace "${namespace()}"?`)) return;
    busy(button, async () => {
      try {
        await call('config/Config/Delete', {namespace: namespace(), path}, {signal: ctx.signal});
        replace(msg, notice('ok', `Deleted ${path}.`));
        await load();
      } catch (err) {
        if (err.name !== 'AbortError') replace(msg, errorView(err, 'config'));
      }
    });
  };

  const load = async () => {
    let rsp;
    try {
      rsp = await call('config/Config/Get', {namespace: namespace(), path: ''}, {signal: ctx.signal});
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      replace(tree, errorView(err, 'config'));
      return;
    }
    let value = null;
    try {
      value = JSON.parse((rsp.value && rsp.value.data) || 'null');
    } catch (e) {
      replace(tree, notice('error', 'The config is not JSON: ' + e.message));
      return;
    }
    const rows = leaves(value);
    if (!rows.length) {
      replace(tree, notice('info', `No config in namespace "${namespace()}" yet. Set a value above.`));
      return;
    }
    const t = table(['Path', 'Value', ''], rows.map(([path, v]) => {
      const button = h('button', {type: 'button', class: 'secondary small', text: 'Delete', 'aria-label': `Delete ${path}`});
      button.addEventListener('click', () => del(path, button));
      return [h('code', {text: path}),
        v === '[secret]' ? h('span', {class: 'secret', title: 'Secret: the server masks it', text: '•••••• (secret)'}) :
          h('code', {text: JSON.stringify(v)}),
        button];
    }));
    t.classList.add('config-tree');
    replace(tree, h('h2', {text: `Namespace ${namespace()}`}), h('div', {class: 'scroll'}, t),
      h('details', {}, h('summary', {text: 'As JSON'}), jsonView(value)),
      rsp.revision ? h('p', {class: 'muted small', text: `revision ${rsp.revision}`}) : null);
  };
  await load();
}

// setForm sets a path to a JSON value (a bare word is taken as a string).
function setForm(ctx, msg, reload) {
  const path = h('input', {name: 'path', required: true, autocomplete: 'off', placeholder: 'helloworld.greeting',
    pattern: '[^\\s]+', title: 'a dot-separated path'});
  const value = h('textarea', {name: 'value', rows: 2, spellcheck: 'false', required: true, placeholder: '"Hello" or 42 or {"a": 1}'});
  const secret = h('input', {type: 'checkbox', name: 'secret'});
  const submit = h('button', {type: 'submit', text: 'Set'});
  return h('form', {class: 'card config-set', onsubmit: (e) => {
    e.preventDefault();
    let data = value.value.trim();
    try {
      JSON.parse(data);
    } catch (err) {
      data = JSON.stringify(value.value);
    }
    busy(submit, async () => {
      try {
        await call('config/Config/Set', {namespace: namespace(), path: path.value.trim(),
          value: {data, format: 'json'}, options: {secret: secret.checked}}, {signal: ctx.signal});
        replace(msg, notice('ok', `Set ${path.value.trim()}${secret.checked ? ' (secret)' : ''}.`));
        await reload();
      } catch (err) {
        if (err.name !== 'AbortError') replace(msg, errorView(err, 'config'));
      }
    });
  }},
  h('h2', {text: 'Set a value'}),
  field('Path', path),
  field('Value (JSON)', value, 'text that is not JSON is set as a string'),
  h('label', {class: 'check'}, secret, ' Secret (stored encrypted, shown masked)'),
  h('div', {class: 'actions'}, submit));
}
