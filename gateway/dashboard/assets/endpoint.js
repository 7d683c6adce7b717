// The call form of one endpoint, built from the request shape the registry
// reflects (Value{name, type, values}): one input per top-level field,
// typed by the field's type, and the reply shown as formatted JSON.

import {h, field, jsonView, link, notice, pathOf, replace, encodeText} from './dom.js';
import {APIError, call, errorView, stream} from './api.js';

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

// fieldInput is the control for one top-level field, prefilled from the
// query string; read() returns its value or throws.
function fieldInput(value, prefill) {
  const kind = kindOf(value);
  const initial = prefill.get(value.name);
  let control;
  if (kind === 'bool') {
    control = h('select', {name: value.name},
      h('option', {value: '', text: '(unset)'}), h('option', {value: 'true', text: 'true'}),
      h('option', {value: 'false', text: 'false'}));
    if (initial === 'true' || initial === 'false') control.value = initial;
  } else if (kind === 'json') {
    const ph = skeleton(value);
    control = h('textarea', {name: value.name, rows: 3, spellcheck: 'false',
      placeholder: ph === null ? 'JSON' : JSON.stringify(ph, null, 1)});
    if (initial !== null) control.value = initial;
  } else {
    control = h('input', {name: value.name, autocomplete: 'off',
      inputmode: kind === 'int' || kind === 'int64' ? 'numeric' : kind === 'float' ? 'decimal' : null});
    if (initial !== null) control.value = initial;
  }
  const hint = kind === 'bytes' ? `${value.type}: text, sent base64-encoded` : value.type;
  const error = h('small', {class: 'field-error', hidden: true});
  const wrap = field(value.name, control, hint);
  wrap.appendChild(error);
  return {
    el: wrap,
    name: value.name,
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

// endpointPanel is a collapsible panel with the form for ep of service.
// opts: {open, prefill: URLSearchParams, signal: the page's AbortSignal}.
export function endpointPanel(service, ep, opts) {
  const [handler, method] = ep.name.includes('.') ? ep.name.split('.', 2) : [ep.name, ''];
  const path = method ? `${service}/${handler}/${method}` : `${service}/${handler}`;
  const streaming = !!(ep.metadata && ep.metadata.stream === 'true');
  const shape = (ep.request && ep.request.values || []).filter((v) => v && v.name);
  const inputs = shape.map((v) => fieldInput(v, opts.prefill));
  const raw = h('textarea', {name: '_body', rows: shape.length ? 4 : 6, spellcheck: 'false',
    placeholder: shape.length ? 'Optional: a whole JSON body, used instead of the fields above' : '{}'});
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
        const v = i.read();
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
    const sent = h('details', {class: 'sent'}, h('summary', {text: `POST /${path}`}), jsonView(req));
    try {
      if (streaming) {
        const list = h('div', {class: 'messages'});
        let count = 0;
        const status = h('p', {class: 'muted', text: 'Streaming…'});
        replace(out, sent, status, list);
        await stream(path, req, (msg) => {
          count++;
          list.appendChild(jsonView(msg));
        }, {signal: ctl.signal});
        status.textContent = `${count} message${count === 1 ? '' : 's'} · ${Math.round(performance.now() - started)} ms`;
      } else {
        const rsp = await call(path, req, {signal: ctl.signal});
        replace(out, sent, h('p', {class: 'muted', text: `OK · ${Math.round(performance.now() - started)} ms`}),
          Object.keys(rsp).length ? jsonView(rsp) : h('p', {text: '(empty response)'}));
      }
    } catch (err) {
      if (err.name === 'AbortError') {
        out.appendChild(h('p', {class: 'muted', text: 'Stopped.'}));
      } else {
        out.append(errorView(err, err.missingService ? service : ''),
          err instanceof APIError && err.code ? jsonView({id: err.id, code: err.code, detail: err.detail, status: err.status}) : null);
        if (!out.contains(sent)) out.prepend(sent);
      }
    } finally {
      opts.signal.removeEventListener('abort', onPageLeave);
      running = null;
      callButton.disabled = false;
      stopButton.hidden = true;
    }
  };
  stopButton.addEventListener('click', () => running && running.abort());

  const form = h('form', {class: 'call', onsubmit: (e) => {
    e.preventDefault();
    run();
  }},
  inputs.map((i) => i.el),
  shape.length ? h('details', {}, h('summary', {text: 'Raw JSON body'}), raw) : field('Request (JSON)', raw),
  h('div', {class: 'actions'}, callButton, stopButton));

  return h('details', {class: 'endpoint', open: opts.open},
    h('summary', {},
      h('code', {text: ep.name}),
      streaming ? h('span', {class: 'badge', text: 'stream'}) : null,
      ' ', link(pathOf(['service', service, ep.name]), 'link', {class: 'small', title: 'Link to this endpoint'})),
    form, out);
}
