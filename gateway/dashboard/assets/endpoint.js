// The call form of one endpoint, built from the request shape the registry
// reflects (Value{name, type, values}): an input per scalar field, a group
// per nested message, a growable list per repeated field, JSON for maps
// and what the form cannot tell. The reply is shown as formatted JSON with
// its status and latency, next to the same call as a curl and a micro line.

import {h, field, jsonView, link, notice, pathOf, replace, encodeText} from './dom.js';
import {APIError, call, errorView, namespace, stream} from './api.js';
import {cliLine, copyLine, curlLine, remember} from './calls.js';

// kindOf maps a reflected type name (Go's, or a proto scalar's) to the
// kind of input that edits it.
export function kindOf(value) {
  if (value.values && value.values.length) return 'json';
  const t = String(value.type || '').replace(/^\*/, '');
  if (t === 'bool') return 'bool';
  if (/^(u?int(8|16|32)?|sint32|s?fixed32)$/.test(t)) return 'int';
  if (/^(u?int64|sint64|s?fixed64)$/.test(t)) return 'int64';
  if (/^(float32|float64|float|double)$/.test(t)) return 'float';
  if (t === 'string') return 'string';
  if (/^(\[\]u?int8|\[\]byte|bytes)$/.test(t)) return 'bytes';
  return 'json';
}

// skeleton is an example JSON value for a reflected shape, shown as the
// placeholder of a JSON field.
export function skeleton(value, depth = 0) {
  const t = String(value.type || '');
  if (depth > 6) return null;
  if (value.values && value.values.length) {
    const obj = {};
    for (const v of value.values) if (v && v.name) obj[v.name] = skeleton(v, depth + 1);
    return t.startsWith('[]') ? [obj] : obj;
  }
  switch (kindOf(value)) {
    case 'bool': return false;
    case 'int': case 'int64': case 'float': return 0;
    case 'string': case 'bytes': return '';
  }
  if (t.startsWith('[]')) return [];
  if (t.startsWith('map[')) return {};
  return null;
}

// parseField turns an input's text into the JSON value for its kind; it
// returns undefined for an empty input (the field is left out) and throws
// a message for bad input.
export function parseField(kind, text) {
  if (kind !== 'string' && text.trim() === '') return undefined;
  if (kind === 'string') return text === '' ? undefined : text;
  const s = text.trim();
  switch (kind) {
    case 'bool':
      if (s === 'true' || s === 'false') return s === 'true';
      throw new Error('must be true or false');
    case 'int':
    case 'int64': {
      if (!/^[-+]?\d+$/.test(s)) throw new Error('must be a whole number');
      const n = Number(s);
      // protojson takes 64-bit integers as strings; past 2^53 a JS number
      // would lose digits, so those stay strings.
      return Number.isSafeInteger(n) ? n : s.replace(/^\+/, '');
    }
    case 'float': {
      const n = Number(s);
      if (!Number.isFinite(n)) throw new Error('must be a number');
      return n;
    }
    case 'bytes':
      return encodeText(text);
    default:
      try {
        return JSON.parse(s);
      } catch (e) {
        throw new Error('must be JSON: ' + e.message);
      }
  }
}

// MAX_DEPTH is how deep the form follows nested messages; deeper (or
// recursive) shapes are edited as JSON.
const MAX_DEPTH = 4;

// isList and isMessage read a reflected type: "[]T" is repeated, a value
// with values is a message.
const isList = (v) => String(v.type || '').startsWith('[]');
const isMessage = (v) => !!(v.values && v.values.length);

// editorOf returns the editor of one value: {el, read()} where read returns
// the JSON value, undefined when left empty, or throws (marking the field).
// path names the input ("a.b"), prefill is the text of a top-level field.
function editorOf(value, path, depth, prefill) {
  if (isList(value) && (isMessage(value) || kindOf({type: String(value.type).slice(2)}) !== 'json') && depth < MAX_DEPTH) {
    return listEditor(value, path, depth);
  }
  if (isMessage(value) && depth < MAX_DEPTH) return messageEditor(value, path, depth);
  return scalarEditor(value, path, prefill);
}

function scalarEditor(value, path, initial) {
  const kind = depth0Kind(value);
  const name = value.name || path;
  let control;
  if (kind === 'bool') {
    control = h('select', {name: path},
      h('option', {value: '', text: '(unset)'}), h('option', {value: 'true', text: 'true'}),
      h('option', {value: 'false', text: 'false'}));
    if (initial === 'true' || initial === 'false') control.value = initial;
  } else if (kind === 'json') {
    const ph = skeleton(value);
    control = h('textarea', {name: path, rows: 3, spellcheck: 'false',
      placeholder: ph === null ? 'JSON' : JSON.stringify(ph, null, 1)});
    if (initial) control.value = initial;
  } else {
    control = h('input', {name: path, autocomplete: 'off',
      inputmode: kind === 'int' || kind === 'int64' ? 'numeric' : kind === 'float' ? 'decimal' : null});
    if (initial) control.value = initial;
  }
  const hint = kind === 'bytes' ? `${value.type}: text, sent base64-encoded` : value.type;
  const error = h('small', {class: 'field-error', hidden: true});
  const wrap = field(name, control, hint);
  wrap.appendChild(error);
  return {
    el: wrap,
    read() {
      error.hidden = true;
      try {
        return parseField(kind, control.value);
      } catch (e) {
        error.textContent = e.message;
        error.hidden = false;
        throw e;
      }
    },
  };
}

// depth0Kind is kindOf for a value the form edits as one control: a list
// or message that reaches here is JSON.
function depth0Kind(value) {
  return isList(value) || isMessage(value) ? 'json' : kindOf(value);
}

function messageEditor(value, path, depth) {
  const children = value.values.filter((v) => v && v.name)
    .map((v) => ({name: v.name, ed: editorOf(v, path + '.' + v.name, depth + 1, '')}));
  return {
    el: h('fieldset', {class: 'group'}, h('legend', {}, value.name, ' ', h('small', {class: 'hint', text: value.type})),
      children.map((c) => c.ed.el)),
    read() {
      const obj = {};
      let bad = null;
      for (const c of children) {
        try {
          const v = c.ed.read();
          if (v !== undefined) obj[c.name] = v;
        } catch (e) {
          bad = e;
        }
      }
      if (bad) throw bad;
      return Object.keys(obj).length ? obj : undefined;
    },
  };
}

function listEditor(value, path, depth) {
  const elemType = String(value.type).slice(2);
  const elem = {name: '', type: elemType, values: value.values};
  const items = [];
  const box = h('div', {class: 'items'});
  const add = h('button', {type: 'button', class: 'secondary small', text: `Add ${value.name} item`});
  const addItem = () => {
    const n = items.length;
    const ed = editorOf({...elem, name: `${value.name}[${n}]`}, `${path}.${n}`, depth + 1, '');
    const item = {ed, el: null};
    const remove = h('button', {type: 'button', class: 'secondary small', text: 'Remove',
      'aria-label': `Remove ${value.name} item`, onclick: () => {
        items.splice(items.indexOf(item), 1);
        item.el.remove();
        add.focus();
      }});
    item.el = h('div', {class: 'item'}, ed.el, remove);
    items.push(item);
    box.appendChild(item.el);
    const first = item.el.querySelector('input, select, textarea');
    if (first) first.focus();
  };
  add.addEventListener('click', addItem);
  return {
    el: h('fieldset', {class: 'group list'}, h('legend', {}, value.name, ' ', h('small', {class: 'hint', text: value.type})), box, add),
    read() {
      const out = [];
      let bad = null;
      for (const it of items) {
        try {
          const v = it.ed.read();
          out.push(v === undefined ? skeleton(elem) : v);
        } catch (e) {
          bad = e;
        }
      }
      if (bad) throw bad;
      return out.length ? out : undefined;
    },
  };
}

// endpointPanel is a collapsible panel with the form for ep of service.
// opts: {open, prefill: URLSearchParams, signal: the page's AbortSignal,
// onCall: called after each call}.
export function endpointPanel(service, ep, opts) {
  const [handler, method] = ep.name.includes('.') ? ep.name.split('.', 2) : [ep.name, ''];
  const path = method ? `${service}/${handler}/${method}` : `${service}/${handler}`;
  const streaming = !!(ep.metadata && ep.metadata.stream === 'true');
  const shape = (ep.request && ep.request.values || []).filter((v) => v && v.name);
  const inputs = shape.map((v) => ({name: v.name, ed: editorOf(v, v.name, 0, opts.prefill.get(v.name) || '')}));
  const raw = h('textarea', {name: '_body', rows: shape.length ? 4 : 6, spellcheck: 'false',
    placeholder: shape.length ? 'Optional: a whole JSON body, used instead of the fields above' : '{}'});
  if (opts.prefill.get('body')) raw.value = opts.prefill.get('body');
  const out = h('div', {class: 'response', 'aria-live': 'polite'});
  const callButton = h('button', {type: 'submit', text: 'Call'});
  const stopButton = h('button', {type: 'button', class: 'secondary', text: 'Stop', hidden: true});
  let running = null;

  const body = () => {
    if (raw.value.trim()) {
      const v = parseField('json', raw.value);
      if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('the body must be a JSON object');
      return v;
    }
    const req = {};
    let bad = false;
    for (const i of inputs) {
      try {
        const v = i.ed.read();
        if (v !== undefined) req[i.name] = v;
      } catch (e) {
        bad = true;
      }
    }
    if (bad) throw new Error('Fix the fields marked above.');
    return req;
  };

  const run = async () => {
    let req;
    try {
      req = body();
    } catch (e) {
      replace(out, notice('error', e.message));
      return;
    }
    const ctl = new AbortController();
    const onPageLeave = () => ctl.abort();
    opts.signal.addEventListener('abort', onPageLeave);
    running = ctl;
    callButton.disabled = true;
    stopButton.hidden = !streaming;
    const started = performance.now();
    const ms = () => Math.round(performance.now() - started);
    const outcome = h('p', {class: 'outcome muted', text: streaming ? 'Streaming…' : 'Calling…'});
    const commands = h('div', {class: 'commands'},
      copyLine('curl', 'curl', curlLine(path, req)), copyLine('cli', 'micro', cliLine(service, ep.name, req, streaming)));
    const sent = h('details', {class: 'sent'}, h('summary', {text: `POST /${path}`}), jsonView(req));
    const entry = {service, endpoint: ep.name, request: req, namespace: namespace(), at: Date.now()};
    replace(out, outcome, sent, commands);
    try {
      if (streaming) {
        const list = h('div', {class: 'messages'});
        let count = 0;
        out.appendChild(list);
        await stream(path, req, (msg) => {
          count++;
          list.appendChild(jsonView(msg));
        }, {signal: ctl.signal});
        outcome.textContent = `200 OK · ${count} message${count === 1 ? '' : 's'} · ${ms()} ms`;
      } else {
        const rsp = await call(path, req, {signal: ctl.signal});
        outcome.textContent = `200 OK · ${ms()} ms`;
        out.appendChild(Object.keys(rsp).length ? jsonView(rsp) : h('p', {text: '(empty response)'}));
      }
      Object.assign(entry, {ok: true, status: 200, ms: ms()});
    } catch (err) {
      if (err.name === 'AbortError') {
        outcome.textContent = `Stopped after ${ms()} ms.`;
        return;
      }
      const code = err instanceof APIError ? err.code : 0;
      outcome.textContent = `${code || 'no answer'} ${err.status || ''} · ${ms()} ms`;
      outcome.classList.add('bad');
      out.append(errorView(err, err.missingService ? service : ''),
        err instanceof APIError && err.code ? jsonView({id: err.id, code: err.code, detail: err.detail, status: err.status}) : null);
      Object.assign(entry, {ok: false, status: code || 'no answer', ms: ms()});
    } finally {
      opts.signal.removeEventListener('abort', onPageLeave);
      running = null;
      callButton.disabled = false;
      stopButton.hidden = true;
      if (entry.ms !== undefined) {
        remember(entry);
        if (opts.onCall) opts.onCall();
      }
    }
  };
  stopButton.addEventListener('click', () => running && running.abort());

  const form = h('form', {class: 'call', onsubmit: (e) => {
    e.preventDefault();
    run();
  }},
  inputs.map((i) => i.ed.el),
  shape.length ? h('details', {open: !!raw.value}, h('summary', {text: 'Raw JSON body'}), raw) : field('Request (JSON)', raw),
  h('div', {class: 'actions'}, callButton, stopButton, h('span', {class: 'muted small', text: 'Ctrl+Enter calls'})));
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      run();
    }
  });

  return h('details', {class: 'endpoint', open: opts.open},
    h('summary', {},
      h('code', {text: ep.name}),
      streaming ? h('span', {class: 'badge', text: 'stream'}) : null,
      ' ', link(pathOf(['service', service, ep.name]), 'link', {class: 'small', title: 'Link to this endpoint'})),
    h('div', {class: 'shapes'},
      shapeView('Request', ep.request), shapeView('Response', ep.response)),
    form, out);
}

// shapeView shows a reflected message as an indented field list.
function shapeView(label, value) {
  const fields = (value && value.values || []).filter((v) => v && v.name);
  const rows = [];
  const walk = (vals, depth) => {
    for (const v of vals) {
      rows.push(h('li', {class: 'd' + Math.min(depth, 4)}, h('code', {text: v.name}), ' ', h('span', {class: 'muted', text: v.type || ''})));
      if (v.values && v.values.length && depth < MAX_DEPTH) walk(v.values.filter((x) => x && x.name), depth + 1);
    }
  };
  walk(fields, 0);
  return h('details', {class: 'shape'}, h('summary', {}, `${label} shape`, value && value.type ? ` (${value.type})` : ''),
    rows.length ? h('ul', {class: 'shape'}, rows) : h('p', {class: 'muted', text: 'no fields'}));
}
