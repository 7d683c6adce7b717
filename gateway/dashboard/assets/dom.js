// DOM helpers. Every value from the API reaches the page through
// textContent or setAttribute (never innerHTML), so data is never markup.

// h builds an element: h('a', {href: '/x', class: 'y', onclick: fn}, 'text', child).
// Props starting with "on" become listeners; other props become attributes,
// except "text" (textContent), "value", "checked", "disabled", "hidden" and
// "open" (set as properties). Children may be strings, nodes, arrays, null.
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') {
      el.addEventListener(k.slice(2), v);
    } else if (k === 'text') {
      el.textContent = String(v);
    } else if (['value', 'checked', 'disabled', 'hidden', 'open'].includes(k)) {
      el[k] = v;
    } else if (k === 'href' && !String(v).startsWith('/')) {
      // Links are built by the app itself and always point inside it;
      // refuse anything else rather than risk a javascript: URL.
      throw new Error('h: href must be a local path: ' + v);
    } else {
      el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// clear removes every child of el and returns it.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// replace puts children in place of el's content.
export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// notice is a message box; kind is info, ok, warn or error.
export function notice(kind, ...children) {
  return h('div', {class: 'notice ' + kind, role: kind === 'error' ? 'alert' : 'status'}, ...children);
}

// jsonView shows a value as indented JSON text.
export function jsonView(value) {
  return h('pre', {class: 'json', text: JSON.stringify(value, null, 2)});
}

// table builds a table from header labels and rows of cells (strings or nodes).
export function table(headers, rows) {
  return h('table', {},
    h('thead', {}, h('tr', {}, headers.map((t) => h('th', {text: t})))),
    h('tbody', {}, rows.map((r) => h('tr', {}, r.map((c) => h('td', {}, c))))));
}

// link is an in-app link; the router handles its clicks.
export function link(path, text, props) {
  return h('a', {...props, href: path, text});
}

// pathOf joins encoded segments and an optional query object into a path.
export function pathOf(segments, query) {
  let p = '/' + segments.map(encodeURIComponent).join('/');
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, v);
  }
  const s = q.toString();
  return s ? p + '?' + s : p;
}

// field wraps a labelled control.
export function field(label, control, hint) {
  return h('label', {class: 'field'}, h('span', {class: 'label', text: label}), control,
    hint ? h('small', {class: 'hint', text: hint}) : null);
}

// decodeBytes turns base64 (as protojson sends bytes) into text when it is
// printable UTF-8, else reports it as binary.
export function decodeBytes(b64) {
  let bytes;
  try {
    const bin = atob(b64 || '');
    bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  } catch (e) {
    return {binary: true, size: 0, base64: b64 || ''};
  }
  try {
    const text = new TextDecoder('utf-8', {fatal: true}).decode(bytes);
    // Printable: no control characters but tab, newline, carriage return.
    if (!/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/.test(text)) {
      return {binary: false, size: bytes.length, text, base64: b64};
    }
  } catch (e) { /* not UTF-8 */ }
  return {binary: true, size: bytes.length, base64: b64, hex: hexPreview(bytes)};
}

function hexPreview(bytes) {
  const n = Math.min(bytes.length, 256);
  const parts = [];
  for (let i = 0; i < n; i++) parts.push(bytes[i].toString(16).padStart(2, '0'));
  return parts.join(' ') + (bytes.length > n ? ' …' : '');
}

// encodeText is text as base64 of its UTF-8 bytes, as protojson wants bytes.
export function encodeText(text) {
  const bytes = new TextEncoder().encode(text);
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(bin);
}

// bytesView shows decoded bytes: JSON indented, text as is, binary as hex.
export function bytesView(b64) {
  const d = decodeBytes(b64);
  if (!d.binary) {
    try {
      const v = JSON.parse(d.text);
      if (v !== null && typeof v === 'object') return jsonView(v);
    } catch (e) { /* plain text */ }
    return h('pre', {class: 'value', text: d.text});
  }
  return h('div', {},
    h('p', {class: 'muted', text: `binary, ${d.size} bytes (hex preview; base64 below)`}),
    h('pre', {class: 'value', text: d.hex || ''}),
    h('pre', {class: 'value', text: d.base64}));
}

// formatTime shows unix seconds (a number or protojson's int64 string).
export function formatTime(seconds) {
  const n = Number(seconds);
  if (!n) return '';
  return new Date(n * 1000).toLocaleString();
}

// metadataView shows a string map as "key: value" lines.
export function metadataView(md) {
  const keys = Object.keys(md || {}).sort();
  if (!keys.length) return h('span', {class: 'muted', text: '—'});
  return h('dl', {class: 'metadata'}, keys.map((k) => [
    h('dt', {text: k}),
    h('dd', {text: typeof md[k] === 'object' ? JSON.stringify(md[k]) : md[k]}),
  ]));
}

// busy disables a button while fn runs.
export async function busy(button, fn) {
  button.disabled = true;
  try {
    return await fn();
  } finally {
    button.disabled = false;
  }
}
