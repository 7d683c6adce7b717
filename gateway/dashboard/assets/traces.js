// /traces: the newest traces of the namespace (trace/Trace/List), newest
// first, filtered by service; /trace/{id}: one trace (trace/Trace/Read) as a
// waterfall, spans nested under their parent by start time, each with its
// offset and duration as a bar on the trace's timeline. The trace block
// answers admins of the namespace only, so others get its 403.

import {h, field, link, metadataView, notice, pathOf, replace, table} from './dom.js';
import {call, errorView, namespace} from './api.js';

// LIMIT is how many traces the list asks for.
const LIMIT = 50;

// ns turns protojson's int64 (a string) into a BigInt; nanoseconds since
// 1970 do not fit a Number exactly.
function ns(v) {
  try {
    return BigInt(v || 0);
  } catch (e) {
    return 0n;
  }
}

// duration shows nanoseconds as µs below a millisecond, else ms or s.
export function duration(n) {
  const v = Number(n);
  if (v < 1e6) return Math.round(v / 1e3) + 'µs';
  if (v < 1e9) return (v / 1e6).toFixed(1) + 'ms';
  return (v / 1e9).toFixed(2) + 's';
}

function started(n) {
  return new Date(Number(ns(n) / 1000000n)).toLocaleString();
}

function statusOf(failed, error) {
  return failed ?
    h('span', {class: 'status status-error', title: error || '', text: 'error'}) :
    h('span', {class: 'status status-running', text: 'ok'});
}

export async function renderList(main, ctx) {
  const service = ctx.query.get('service') || '';
  const input = h('input', {type: 'search', name: 'service', value: service, autocomplete: 'off',
    placeholder: 'gateway, proxy, router or a service name'});
  const list = h('div', {}, h('p', {class: 'muted', text: 'Loading…'}));
  main.append(h('h1', {text: 'Traces'}),
    h('form', {class: 'inline traces-filter', onsubmit: (e) => {
      e.preventDefault();
      ctx.navigate(pathOf(['traces'], {service: input.value.trim()}));
    }}, field('Service', input), h('button', {type: 'submit', text: 'Filter'})),
    list);

  let rsp;
  try {
    rsp = await call('trace/Trace/List', {service, limit: LIMIT}, {signal: ctx.signal});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    replace(list, errorView(err, 'trace'));
    return;
  }
  const traces = (rsp.traces || []).filter((t) => t && t.trace_id);
  if (!traces.length) {
    replace(list, notice('info', service ?
      `No traces with a span of "${service}" in namespace "${namespace()}".` :
      `No traces in namespace "${namespace()}" yet: calls through the gateway or the proxy are traced when the server runs with --trace.`));
    return;
  }
  replace(list, h('div', {class: 'scroll'}, table(['Trace', 'Started', 'Duration', 'Spans', 'Root', 'Status'],
    traces.map((t) => [
      link(pathOf(['trace', t.trace_id]), t.trace_id, {class: 'trace-id'}),
      started(t.start),
      duration(t.duration_ns),
      String(t.spans || 0),
      h('span', {}, h('span', {class: 'badge', text: t.service || '?'}), ' ', t.name || ''),
      statusOf(t.failed),
    ]))));
  list.querySelector('table').classList.add('traces');
}

// tree orders spans depth first, children under their parent by start;
// a span whose parent is not in the trace (a caller that records
// elsewhere) is a root.
export function tree(spans) {
  const ids = new Set(spans.map((s) => s.span_id));
  const kids = new Map();
  const roots = [];
  for (const s of spans) {
    if (s.parent_id && ids.has(s.parent_id)) {
      if (!kids.has(s.parent_id)) kids.set(s.parent_id, []);
      kids.get(s.parent_id).push(s);
    } else {
      roots.push(s);
    }
  }
  const byStart = (a, b) => (ns(a.start) < ns(b.start) ? -1 : ns(a.start) > ns(b.start) ? 1 : 0);
  const out = [];
  const walk = (s, depth) => {
    out.push({span: s, depth});
    for (const k of (kids.get(s.span_id) || []).sort(byStart)) walk(k, depth + 1);
  };
  for (const r of roots.sort(byStart)) walk(r, 0);
  return out;
}

export async function renderTrace(main, ctx) {
  const [id] = ctx.params;
  main.append(h('p', {class: 'crumbs'}, link('/traces', 'Traces'), ' / ', id), h('h1', {text: 'Trace'}));
  const body = h('div', {}, h('p', {class: 'muted', text: 'Loading…'}));
  main.append(body);
  let rsp;
  try {
    rsp = await call('trace/Trace/Read', {trace_id: id.toLowerCase()}, {signal: ctx.signal});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    replace(body, errorView(err, 'trace'));
    return;
  }
  const spans = (rsp.spans || []).filter((s) => s && s.span_id);
  if (!spans.length) {
    replace(body, notice('warn', `No spans of trace ${id} in namespace "${namespace()}".`));
    return;
  }
  let t0 = ns(spans[0].start);
  let t1 = ns(spans[0].end);
  for (const s of spans) {
    if (ns(s.start) < t0) t0 = ns(s.start);
    if (ns(s.end) > t1) t1 = ns(s.end);
  }
  const total = Number(t1 - t0) || 1;
  const failed = spans.filter((s) => s.failed).length;
  replace(body,
    h('dl', {class: 'facts'},
      h('dt', {text: 'Trace'}), h('dd', {}, h('code', {text: id})),
      h('dt', {text: 'Started'}), h('dd', {text: started(t0)}),
      h('dt', {text: 'Duration'}), h('dd', {text: duration(t1 - t0)}),
      h('dt', {text: 'Spans'}), h('dd', {text: `${spans.length}${failed ? `, ${failed} failed` : ''}`})),
    h('div', {class: 'scroll'}, h('table', {class: 'waterfall'},
      h('thead', {}, h('tr', {}, ['Span', 'Service', 'Status', 'Start', 'Duration', 'Timeline'].map((x) => h('th', {text: x})))),
      h('tbody', {}, tree(spans).map(({span, depth}) => spanRow(span, depth, t0, total))))));
}

// spanRow is one span: its name indented by depth (details open onto its
// ids, kind, attributes and error), and a bar placed on the timeline. The
// bar's place is set through the CSSOM, which the CSP allows (a style
// attribute it would not).
function spanRow(s, depth, t0, total) {
  const offset = Number(ns(s.start) - t0);
  const length = Number(ns(s.end) - ns(s.start));
  const bar = h('div', {class: s.failed ? 'bar failed' : 'bar', title: `${duration(offset)} + ${duration(length)}`});
  bar.style.marginLeft = (100 * offset / total).toFixed(3) + '%';
  bar.style.width = Math.max(0.3, 100 * length / total).toFixed(3) + '%';
  const name = h('details', {class: 'span'},
    h('summary', {text: s.name || '(unnamed)'}),
    metadataView(Object.assign({span: s.span_id, parent: s.parent_id || '—', kind: s.kind || ''},
      s.failed ? {error: s.error || ''} : {}, s.attributes || {})));
  name.style.paddingLeft = (depth * 16) + 'px';
  return h('tr', {'data-span': s.span_id, 'data-depth': String(depth)},
    h('td', {}, name),
    h('td', {}, h('span', {class: 'badge', text: s.service || '?'})),
    h('td', {}, statusOf(s.failed, s.error), s.failed && s.error ? h('div', {class: 'bad small', text: s.error}) : null),
    h('td', {class: 'num', text: duration(offset)}),
    h('td', {class: 'num', text: duration(length)}),
    h('td', {class: 'timeline'}, h('div', {class: 'track'}, bar)));
}
