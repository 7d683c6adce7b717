// /runtime: the services `micro run` runs (runtime/Runtime/Read) with their
// status, build, uptime, restarts and last error; restart (Update) and stop
// (Delete) buttons; and the logs of one of them (runtime/Runtime/Logs),
// followed live on request.

import {h, busy, formatTime, notice, replace, table} from './dom.js';
import {call, errorView, namespace, stream} from './api.js';

// STATUS names runtime.Service.status values.
const STATUS = ['unknown', 'pending', 'building', 'starting', 'running', 'stopping', 'stopped', 'error'];
const LOG_COUNT = 200;
// LOG_KEEP bounds the lines a followed log keeps on the page.
const LOG_KEEP = 2000;

function statusName(s) {
  // protojson sends the int32 as a number; accept a name or string too.
  const n = Number(s.status);
  return Number.isInteger(n) && STATUS[n] ? STATUS[n] : String(s.status || (s.metadata && s.metadata.status) || 'unknown');
}

// uptime is how long ago an RFC 3339 time was, as "3m 12s".
export function uptime(started, now = Date.now()) {
  const t = Date.parse(started || '');
  if (!t) return '';
  let s = Math.max(0, Math.floor((now - t) / 1000));
  const parts = [];
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]]) {
    if (s >= n || parts.length) {
      parts.push(Math.floor(s / n) + unit);
      s %= n;
    }
  }
  parts.push(s + 's');
  return parts.slice(0, 2).join(' ');
}

export async function render(main, ctx) {
  const list = h('div', {}, h('p', {class: 'muted', text: 'Loading…'}));
  const logs = h('section', {class: 'logs'});
  const refresh = h('button', {type: 'button', class: 'secondary', text: 'Refresh'});
  const msg = h('div', {'aria-live': 'polite'});
  main.append(h('h1', {text: 'Runtime'}), h('div', {class: 'toolbar'}, refresh), msg, list, logs);
  ctx.onLeave(() => logs.stopLogs && logs.stopLogs());

  const resource = (s) => ({resource: {service: {name: s.name, version: s.version || ''}}, options: {namespace: namespace()}});
  const act = (button, s, what, path) => busy(button, async () => {
    try {
      await call(path, resource(s), {signal: ctx.signal});
      replace(msg, notice('ok', `${what} ${s.name}${s.version ? ' ' + s.version : ''}.`));
      await load();
    } catch (err) {
      if (err.name !== 'AbortError') replace(msg, errorView(err, 'runtime'));
    }
  });

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
      replace(list, notice('info', `The runtime runs no services in namespace "${namespace()}". `,
        'Start one with ', h('code', {text: 'micro run ./path/to/service'}), '.'));
      return;
    }
    const t = table(['Name', 'Version', 'Status', 'Build', 'Uptime', 'Restarts', 'Error', 'Source', ''], services.map((s) => {
      const md = s.metadata || {};
      const st = statusName(s);
      const restart = h('button', {type: 'button', class: 'secondary small', text: 'Restart', 'data-restart': s.name,
        title: 'Rebuild and restart (micro update)'});
      const stop = h('button', {type: 'button', class: 'secondary small', text: 'Stop', 'data-stop': s.name,
        title: 'Stop and remove (micro kill)'});
      restart.addEventListener('click', () => act(restart, s, 'Restarting', 'runtime/Runtime/Update'));
      stop.addEventListener('click', () => {
        if (confirm(`Stop ${s.name} and remove it from the runtime?`)) act(stop, s, 'Stopped', 'runtime/Runtime/Delete');
      });
      return [
        h('strong', {text: s.name || ''}),
        s.version || '',
        h('span', {class: 'status status-' + st.replace(/[^a-z]/g, ''), text: st}),
        h('code', {text: (md.build || md.commit || '').slice(0, 12)}),
        st === 'running' ? h('span', {title: md.started || '', text: uptime(md.started)}) : '',
        md.retries || '0',
        md.error ? h('span', {class: 'bad', text: md.error}) : '',
        h('span', {class: 'small', text: s.source || md.source || ''}),
        h('div', {class: 'row-actions'},
          h('button', {type: 'button', class: 'secondary small', text: 'Logs', 'data-logs': s.name,
            onclick: () => showLogs(logs, ctx, s)}),
          restart, stop),
      ];
    }));
    t.classList.add('runtime');
    replace(list, h('div', {class: 'scroll'}, t));
  };
  refresh.addEventListener('click', () => busy(refresh, () => load().catch(() => {})));
  await load();
  const wanted = ctx.query.get('logs');
  if (wanted) {
    const b = list.querySelector(`button[data-logs="${CSS.escape(wanted)}"]`);
    if (b) b.click();
  }
}

// showLogs shows the last LOG_COUNT records of s, and with Follow keeps
// streaming new ones until stopped or the page is left.
function showLogs(section, ctx, s) {
  const out = h('pre', {class: 'log', tabindex: '0', 'aria-label': `Logs of ${s.name}`});
  const status = h('p', {class: 'muted log-status', 'aria-live': 'polite'});
  const follow = h('input', {type: 'checkbox', name: 'follow'});
  let ctl = null;

  const stop = () => {
    if (ctl) ctl.abort();
    ctl = null;
  };
  // One log view at a time: end the previous one's stream.
  if (section.stopLogs) section.stopLogs();
  section.stopLogs = stop;
  ctx.setQuery({logs: s.name});

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
        const atEnd = out.scrollTop + out.clientHeight >= out.scrollHeight - 4;
        out.appendChild(document.createTextNode(`${formatTime(rec.timestamp)}  ${rec.message || ''}\n`));
        while (out.childNodes.length > LOG_KEEP) out.removeChild(out.firstChild);
        if (follow.checked) {
          status.textContent = `Following: ${count} record${count === 1 ? '' : 's'}`;
          if (atEnd) out.scrollTop = out.scrollHeight;
        }
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
