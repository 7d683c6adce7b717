// /runtime: the services the runtime runs (runtime/Runtime/Read) with their
// status, and the logs of one of them (runtime/Runtime/Logs).

import {h, busy, formatTime, metadataView, notice, replace, table} from './dom.js';
import {call, errorView, namespace, stream} from './api.js';

// STATUS names runtime.Service.status values.
const STATUS = ['unknown', 'pending', 'building', 'starting', 'running', 'stopping', 'stopped', 'error'];
const LOG_COUNT = 200;

function statusOf(s) {
  // protojson sends the int32 as a number; accept a name or string too.
  const n = Number(s.status);
  const name = Number.isInteger(n) && STATUS[n] ? STATUS[n] : String(s.status || (s.metadata && s.metadata.status) || 'unknown');
  return h('span', {class: 'status status-' + name.replace(/[^a-z]/g, ''), text: name});
}

export async function render(main, ctx) {
  const list = h('div', {}, h('p', {class: 'muted', text: 'Loading…'}));
  const logs = h('section', {class: 'logs'});
  const refresh = h('button', {type: 'button', class: 'secondary', text: 'Refresh'});
  main.append(h('h1', {text: 'Runtime'}), h('div', {class: 'toolbar'}, refresh), list, logs);
  ctx.onLeave(() => logs.stopLogs && logs.stopLogs());

  const load = async () => {
    let rsp;
    try {
      rsp = await call('runtime/Runtime/Read', {options: {namespace: namespace()}}, {signal: ctx.signal});
    } catch (err) {
      if (err.name === 'AbortError') throw err;
      replace(list, errorView(err, 'runtime'));
      return;
    }
    const services = (rsp.services || []).filter(Boolean)
      .sort((a, b) => (a.name || '').localeCompare(b.name || '') || (a.version || '').localeCompare(b.version || ''));
    if (!services.length) {
      replace(list, notice('info', `The runtime runs no services in namespace "${namespace()}".`));
      return;
    }
    replace(list, table(['Name', 'Version', 'Status', 'Source', 'Metadata', ''], services.map((s) => [
      s.name || '',
      s.version || '',
      statusOf(s),
      s.source || '',
      metadataView(s.metadata),
      h('button', {type: 'button', class: 'secondary small', text: 'Logs', onclick: () => showLogs(logs, ctx, s)}),
    ])));
  };
  refresh.addEventListener('click', () => busy(refresh, () => load().catch(() => {})));
  await load();
}

// showLogs shows the last LOG_COUNT records of s, and with Follow keeps
// streaming new ones until stopped or the page is left.
function showLogs(section, ctx, s) {
  const out = h('pre', {class: 'log'});
  const status = h('p', {class: 'muted'});
  const follow = h('input', {type: 'checkbox'});
  let ctl = null;

  const stop = () => {
    if (ctl) ctl.abort();
    ctl = null;
  };
  // One log view at a time: end the previous one's stream.
  if (section.stopLogs) section.stopLogs();
  section.stopLogs = stop;

  const run = async () => {
    stop();
    const mine = new AbortController();
    ctl = mine;
    out.textContent = '';
    status.textContent = follow.checked ? 'Following…' : 'Loading…';
    let count = 0;
    try {
      await stream('runtime/Runtime/Logs', {
        service: s.name, version: s.version || '', count: LOG_COUNT, stream: follow.checked,
        options: {namespace: namespace()},
      }, (rec) => {
        count++;
        out.appendChild(document.createTextNode(`${formatTime(rec.timestamp)}  ${rec.message || ''}\n`));
        if (follow.checked) out.scrollTop = out.scrollHeight;
      }, {signal: mine.signal});
      status.textContent = count ? `${count} record${count === 1 ? '' : 's'}` : 'No log records.';
    } catch (err) {
      if (err.name === 'AbortError') {
        status.textContent = `Stopped after ${count} record${count === 1 ? '' : 's'}.`;
        return;
      }
      replace(status, errorView(err, 'runtime logs'));
    } finally {
      if (ctl === mine) ctl = null;
    }
  };

  follow.addEventListener('change', run);
  replace(section,
    h('h2', {text: `Logs of ${s.name}${s.version ? ' ' + s.version : ''}`}),
    h('div', {class: 'toolbar'},
      h('label', {class: 'check'}, follow, ' Follow'),
      h('button', {type: 'button', class: 'secondary', text: 'Reload', onclick: run}),
      h('button', {type: 'button', class: 'secondary', text: 'Stop', onclick: stop})),
    status, out);
  run();
}
