// /services (and /): the registered services, with a filter box.
// /service/{name}[/{endpoint}]: a service's versions, nodes and endpoints,
// each endpoint with a call form (endpoint.js).

import {h, link, notice, pathOf, replace, table, metadataView} from './dom.js';
import {call, errorView, namespace} from './api.js';
import {endpointPanel} from './endpoint.js';
import {historyView} from './calls.js';

export async function renderList(main, ctx) {
  const filter = h('input', {type: 'search', placeholder: 'Filter services', 'aria-label': 'Filter services',
    value: ctx.query.get('q') || '', autofocus: true});
  const list = h('div', {}, h('p', {class: 'muted', text: 'Loading…'}));
  main.append(h('h1', {text: 'Services'}), h('div', {class: 'toolbar'}, filter), list,
    h('section', {class: 'recent'}, h('h2', {text: 'Recent calls'}), historyView()));
  filter.focus();

  let rsp;
  try {
    rsp = await call('registry/Registry/ListServices', {}, {signal: ctx.signal});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    replace(list, errorView(err, 'registry'));
    return;
  }

  // One row per name; several versions of a service come as several entries.
  const versions = new Map();
  const nodeCount = new Map();
  for (const s of rsp.services || []) {
    if (!s || !s.name) continue;
    if (!versions.has(s.name)) versions.set(s.name, new Set());
    if (s.version) versions.get(s.name).add(s.version);
    nodeCount.set(s.name, (nodeCount.get(s.name) || 0) + (s.nodes || []).length);
  }
  const names = [...versions.keys()].sort();

  const matching = () => {
    const q = filter.value.trim().toLowerCase();
    return names.filter((n) => n.toLowerCase().includes(q));
  };
  const show = () => {
    ctx.setQuery({q: filter.value.trim()});
    const rows = matching();
    if (!names.length) {
      replace(list, notice('info', `No services are registered in namespace "${namespace()}".`));
      return;
    }
    if (!rows.length) {
      replace(list, notice('info', 'No service matches the filter.'));
      return;
    }
    replace(list, h('ul', {class: 'services'}, rows.map((n) => h('li', {},
      link(pathOf(['service', n]), n),
      ' ', h('span', {class: 'muted', text: [...versions.get(n)].sort().join(', ')}),
      ' ', nodeBadge(nodeCount.get(n) || 0)))));
  };
  filter.addEventListener('input', show);
  // Enter with a single match opens it.
  filter.addEventListener('keydown', (e) => {
    const rows = matching();
    if (e.key === 'Enter' && rows.length === 1) ctx.navigate(pathOf(['service', rows[0]]));
  });
  show();
}

export async function renderService(main, ctx) {
  const [name, only] = ctx.params;
  main.append(
    h('p', {class: 'crumbs'}, link('/services', 'Services'), ' / ',
      only ? link(pathOf(['service', name]), name) : name,
      only ? [' / ', only] : null),
    h('h1', {text: name}));
  const body = h('div', {}, h('p', {class: 'muted', text: 'Loading…'}));
  main.append(body);

  let rsp;
  try {
    rsp = await call('registry/Registry/GetService', {service: name}, {signal: ctx.signal});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    if (err.code === 404 && !err.missingService) {
      replace(body, notice('warn', `No service "${name}" is registered in namespace "${namespace()}".`));
    } else {
      replace(body, errorView(err, 'registry'));
    }
    return;
  }
  const services = (rsp.services || []).filter(Boolean);
  if (!services.length) {
    replace(body, notice('warn', `No service "${name}" is registered in namespace "${namespace()}".`));
    return;
  }

  // Endpoints of every version, first version's shape winning on a clash.
  const endpoints = new Map();
  for (const s of services) {
    for (const ep of s.endpoints || []) {
      if (ep && ep.name && !endpoints.has(ep.name)) endpoints.set(ep.name, ep);
    }
  }
  let shown = [...endpoints.values()].sort((a, b) => a.name.localeCompare(b.name));
  if (only) shown = shown.filter((ep) => ep.name === only);

  const nodes = [];
  for (const s of services) {
    for (const n of s.nodes || []) {
      nodes.push([s.version || '', n.id || '', n.address || '', healthOf(n), metadataView(n.metadata)]);
    }
  }
  const recent = h('section', {class: 'recent'}, h('h2', {text: 'Recent calls'}), historyView(name));
  const showRecent = () => replace(recent, h('h2', {text: 'Recent calls'}), historyView(name));

  replace(body,
    only ? null : h('section', {},
      h('h2', {text: 'Nodes'}),
      nodes.length ? table(['Version', 'ID', 'Address', 'Health', 'Metadata'], nodes) :
        h('p', {class: 'muted', text: 'No nodes: the service is not running anywhere.'}),
      services.some((s) => s.metadata && Object.keys(s.metadata).length) ?
        [h('h2', {text: 'Metadata'}), metadataView(Object.assign({}, ...services.map((s) => s.metadata || {})))] : null),
    h('section', {},
      h('h2', {text: only ? 'Endpoint' : 'Endpoints'}),
      shown.length ? shown.map((ep) => endpointPanel(name, ep, {
        open: !!only || shown.length === 1,
        prefill: ctx.query,
        signal: ctx.signal,
        onCall: showRecent,
      })) : notice('info', only ? `The service has no endpoint "${only}".` : 'The service lists no endpoints.')),
    recent);
}

// nodeBadge says how many live nodes serve a service: the registry lists a
// node only while its registration's TTL holds.
function nodeBadge(n) {
  return h('span', {class: n ? 'badge up' : 'badge down', text: n ? `${n} node${n === 1 ? '' : 's'} up` : 'no nodes'});
}

// healthOf reads a node's health from its registration: a node is listed
// while its TTL holds, so listed means alive; its metadata may say more.
function healthOf(n) {
  const md = n.metadata || {};
  const s = md.health || md.status || 'registered';
  return h('span', {class: 'status status-' + (/^(ok|healthy|running|serving|registered)$/i.test(s) ? 'running' : 'error'), text: s});
}
