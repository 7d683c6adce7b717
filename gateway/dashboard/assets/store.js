// /store: databases -> tables -> keys -> one record, with write and delete.
// Where the browser is lives in the query string (?database=&table=&key=),
// so every level can be linked to and the back button works.

import {h, busy, bytesView, encodeText, field, link, notice, pathOf, replace} from './dom.js';
import {call, errorView, namespace, stream} from './api.js';

const PAGE = 100;

function storePath(q) {
  return pathOf(['store'], q);
}

function crumbs(database, table, key) {
  const parts = [link('/store', 'Databases')];
  if (database) parts.push(' / ', table ? link(storePath({database}), database) : database);
  if (table) parts.push(' / ', key ? link(storePath({database, table}), table) : table);
  if (key) parts.push(' / ', key);
  return h('p', {class: 'crumbs'}, parts);
}

export async function render(main, ctx) {
  const database = ctx.query.get('database') || '';
  const table = ctx.query.get('table') || '';
  const key = ctx.query.get('key') || null;
  main.append(crumbs(database, table, key), h('h1', {text: 'Store'}));
  const body = h('div', {}, h('p', {class: 'muted', text: 'Loading…'}));
  main.append(body);
  try {
    if (!database) await databases(body, ctx);
    else if (!table) await tables(body, ctx, database);
    else if (key !== null) await record(body, ctx, database, table, key);
    else await keys(body, ctx, database, table);
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    replace(body, errorView(err, 'store'));
  }
}

// openForm is a one-field form that goes to the level named, which lets a
// user reach a database or table that has no records yet.
function openForm(ctx, label, placeholder, to) {
  const input = h('input', {placeholder, 'aria-label': label, required: true});
  return h('form', {class: 'inline', onsubmit: (e) => {
    e.preventDefault();
    if (input.value.trim()) ctx.navigate(to(input.value.trim()));
  }}, input, h('button', {type: 'submit', class: 'secondary', text: label}));
}

function nameList(names, to) {
  return h('ul', {class: 'names'}, names.map((n) => h('li', {}, link(to(n), n))));
}

async function databases(body, ctx) {
  const rsp = await call('store/Store/Databases', {}, {signal: ctx.signal});
  const names = (rsp.databases || []).slice().sort();
  replace(body,
    names.length ? nameList(names, (d) => storePath({database: d})) :
      notice('info', 'No databases yet: a database appears with its first record.'),
    openForm(ctx, 'Open database', namespace(), (d) => storePath({database: d})));
}

async function tables(body, ctx, database) {
  const rsp = await call('store/Store/Tables', {database}, {signal: ctx.signal});
  const names = (rsp.tables || []).slice().sort();
  replace(body,
    h('h2', {text: `Tables in ${database}`}),
    names.length ? nameList(names, (t) => storePath({database, table: t})) :
      notice('info', 'No tables in this database yet.'),
    openForm(ctx, 'Open table', 'micro', (t) => storePath({database, table: t})));
}

async function keys(body, ctx, database, table) {
  const prefix = ctx.query.get('prefix') || '';
  const offset = Math.max(0, parseInt(ctx.query.get('offset') || '0', 10) || 0);
  const found = [];
  // Store.List streams; the server sends the keys in one or more messages.
  await stream('store/Store/List', {options: {database, table, prefix, limit: PAGE + 1, offset}},
    (msg) => found.push(...(msg.keys || [])), {signal: ctx.signal});
  const more = found.length > PAGE;
  const shown = found.slice(0, PAGE);

  const filter = h('input', {type: 'search', name: 'prefix', value: prefix, placeholder: 'Key prefix', 'aria-label': 'Key prefix'});
  const filterForm = h('form', {class: 'inline', onsubmit: (e) => {
    e.preventDefault();
    ctx.navigate(storePath({database, table, prefix: filter.value}));
  }}, filter, h('button', {type: 'submit', class: 'secondary', text: 'Filter'}));

  const pager = h('p', {class: 'pager'},
    offset > 0 ? link(storePath({database, table, prefix, offset: Math.max(0, offset - PAGE) || ''}), '← Previous') : null,
    ' ', h('span', {class: 'muted', text: shown.length ? `keys ${offset + 1}–${offset + shown.length}` : ''}), ' ',
    more ? link(storePath({database, table, prefix, offset: offset + PAGE}), 'Next →') : null);

  const blobs = h('section', {class: 'blobs'});
  replace(body,
    h('h2', {text: `Keys in ${database} / ${table}`}),
    filterForm,
    shown.length ? nameList(shown, (k) => storePath({database, table, key: k})) :
      notice('info', prefix ? 'No keys with this prefix.' : 'No keys in this table.'),
    pager,
    writeForm(ctx, database, table, {}),
    blobs);
  await blobList(blobs, ctx, database, table, prefix);
}

// blobList shows the blobs of the table (the blob store, as micro blob ls):
// their keys, which is all the API lists. A failure shows here only.
async function blobList(el, ctx, database, table, prefix) {
  try {
    const rsp = await call('store/BlobStore/List', {options: {namespace: database, table, prefix}}, {signal: ctx.signal});
    const names = rsp.keys || [];
    replace(el,
      h('h2', {text: `Blobs in ${database} / ${table}`}),
      names.length ? h('ul', {class: 'names blob-keys'}, names.map((n) => h('li', {}, h('code', {text: n})))) :
        notice('info', prefix ? 'No blobs with this prefix.' : 'No blobs in this table.'),
      h('p', {class: 'muted', text: `micro blob get --database ${database} --table ${table} KEY FILE fetches one.`}));
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    replace(el, errorView(err, 'blob store'));
  }
}

async function record(body, ctx, database, table, key) {
  let rec;
  try {
    const rsp = await call('store/Store/Read', {key, options: {database, table}}, {signal: ctx.signal});
    rec = (rsp.records || [])[0];
  } catch (err) {
    if (err.code !== 404 || err.missingService) throw err;
  }
  if (!rec) {
    replace(body, notice('warn', 'No record with this key (it may have expired or been deleted).'),
      writeForm(ctx, database, table, {key}));
    return;
  }
  const expiry = Number(rec.expiry) || 0;
  const del = h('button', {type: 'button', class: 'danger', text: 'Delete'});
  const msg = h('div', {'aria-live': 'polite'});
  del.addEventListener('click', () => {
    if (!confirm(`Delete "${key}" from ${database}/${table}?`)) return;
    busy(del, async () => {
      try {
        await call('store/Store/Delete', {key, options: {database, table}}, {signal: ctx.signal});
        ctx.navigate(storePath({database, table}));
      } catch (err) {
        if (err.name !== 'AbortError') replace(msg, errorView(err, 'store'));
      }
    });
  });
  const md = rec.metadata || {};
  const mdKeys = Object.keys(md).sort();
  replace(body,
    h('h2', {}, h('code', {text: rec.key})),
    h('dl', {class: 'facts'},
      h('dt', {text: 'Expiry'}),
      h('dd', {text: expiry ? `in ${expiry} s (${new Date(Date.now() + expiry * 1000).toLocaleString()})` : 'never'}),
      mdKeys.length ? [h('dt', {text: 'Metadata'}),
        h('dd', {}, h('dl', {class: 'metadata'}, mdKeys.map((k) => [h('dt', {text: k}),
          h('dd', {text: md[k] && typeof md[k] === 'object' ? `${md[k].value} (${md[k].type})` : String(md[k])})])))] : null),
    h('h3', {text: 'Value'}),
    bytesView(rec.value),
    h('div', {class: 'actions'}, del),
    msg,
    writeForm(ctx, database, table, {key: rec.key, value: rec.value, expiry}));
}

// writeForm writes a record (text value) into database/table; prefill may
// hold the key, the base64 value and the expiry of a record being edited.
function writeForm(ctx, database, table, prefill) {
  const key = h('input', {name: 'key', required: true, value: prefill.key || ''});
  const value = h('textarea', {name: 'value', rows: 5, spellcheck: 'false'});
  const expiry = h('input', {name: 'expiry', inputmode: 'numeric', placeholder: '0 = never',
    value: prefill.expiry ? String(prefill.expiry) : ''});
  if (prefill.value) {
    try {
      value.value = new TextDecoder('utf-8', {fatal: true}).decode(Uint8Array.from(atob(prefill.value), (c) => c.charCodeAt(0)));
    } catch (e) {
      value.placeholder = 'The current value is binary; writing replaces it with this text.';
    }
  }
  const submit = h('button', {type: 'submit', text: 'Write'});
  const msg = h('div', {'aria-live': 'polite'});
  const form = h('form', {class: 'card write', onsubmit: (e) => {
    e.preventDefault();
    const seconds = expiry.value.trim();
    if (seconds && !/^\d+$/.test(seconds)) {
      replace(msg, notice('error', 'Expiry must be a whole number of seconds.'));
      return;
    }
    busy(submit, async () => {
      try {
        await call('store/Store/Write', {
          record: {key: key.value, value: encodeText(value.value), expiry: seconds ? Number(seconds) : 0},
          options: {database, table},
        }, {signal: ctx.signal});
        ctx.navigate(storePath({database, table, key: key.value}));
      } catch (err) {
        if (err.name !== 'AbortError') replace(msg, errorView(err, 'store'));
      }
    });
  }},
  h('h3', {text: prefill.value !== undefined ? 'Edit record' : 'Write a record'}),
  field('Key', key),
  field('Value', value, 'text, stored as its UTF-8 bytes'),
  field('Expiry (seconds)', expiry),
  h('div', {class: 'actions'}, submit),
  msg);
  return form;
}
