// /events: the topics with their event counts (events/Topics/List), a
// topic's history a page at a time (events/Store/Read), a live tail as
// server-sent events from the gateway (GET <api>/events/{topic}), and
// publishing (events/Stream/Publish).

import {h, busy, bytesView, encodeText, field, formatTime, link, metadataView, notice, pathOf, replace, table} from './dom.js';
import {apiBase, call, errorView} from './api.js';

// KEEP is how many tailed events stay on the page; PAGE is a history page.
const KEEP = 200;
const PAGE = 20;

export async function render(main, ctx) {
  const topic = ctx.query.get('topic') || '';
  const topics = h('section', {}, h('h2', {text: 'Topics'}), h('p', {class: 'muted', text: 'Loading…'}));
  const past = h('section', {class: 'history'});
  main.append(h('h1', {text: 'Events'}), topics, tail(ctx, topic), past, publishForm(ctx, topic));
  await Promise.all([topicList(topics, ctx), topic ? historyOf(past, ctx, topic) : null]);
}

// count is how many events a topic retains, from its sequence numbers.
function count(t) {
  const first = Number(t.first_sequence) || 0;
  const last = Number(t.last_sequence) || 0;
  return last >= first && last > 0 ? last - first + 1 : 0;
}

async function topicList(section, ctx) {
  let rsp;
  try {
    rsp = await call('events/Topics/List', {}, {signal: ctx.signal});
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    replace(section, h('h2', {text: 'Topics'}), errorView(err, 'events'));
    return;
  }
  const list = (rsp.topics || []).filter((t) => t && t.name).sort((a, b) => a.name.localeCompare(b.name));
  replace(section, h('h2', {text: 'Topics'}), list.length ?
    h('div', {class: 'scroll'}, table(['Topic', 'Events', 'Newest', 'Kept for', 'Groups'], list.map((t) => [
      link(pathOf(['events'], {topic: t.name}), t.name),
      String(count(t)),
      t.last_sequence ? '#' + t.last_sequence : '',
      duration(Number(t.retention) || 0) + (t.retention_set ? '' : ' (default)'),
      (t.groups || []).join(', '),
    ]))) :
    notice('info', 'No topics yet: a topic appears with its first event. Publish one below.'));
  section.querySelector('table')?.classList.add('topics');
}

function duration(s) {
  if (!s) return 'forever';
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60]]) if (s % n === 0 && s >= n) return s / n + unit;
  return s + 's';
}

// historyOf shows a page of topic's retained events, newest first; ?before
// is the offset (from the oldest) the page ends at.
async function historyOf(section, ctx, topic) {
  let total = 0;
  try {
    const rsp = await call('events/Topics/List', {}, {signal: ctx.signal});
    const t = (rsp.topics || []).find((x) => x && x.name === topic);
    total = t ? count(t) : 0;
  } catch (err) {
    if (err.name === 'AbortError') throw err;
  }
  const end = Math.min(total, Math.max(0, parseInt(ctx.query.get('before') || String(total), 10) || 0));
  const offset = Math.max(0, end - PAGE);
  let events = [];
  try {
    const rsp = await call('events/Store/Read', {topic, limit: end - offset || PAGE, offset}, {signal: ctx.signal});
    events = (rsp.events || []).filter(Boolean).reverse();
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    replace(section, h('h2', {text: `History of ${topic}`}), errorView(err, 'events'));
    return;
  }
  replace(section, h('h2', {text: `History of ${topic}`}),
    events.length ? events.map((e) => h('div', {class: 'event'},
      h('p', {class: 'muted'}, h('code', {text: '#' + (e.sequence || '')}), ' ', formatTime(e.timestamp), ' ',
        e.id ? h('span', {class: 'small', text: e.id}) : null),
      metadataView(e.metadata), bytesView(e.payload))) :
      notice('info', 'No events retained on this topic.'),
    h('p', {class: 'pager'},
      end < total ? link(pathOf(['events'], {topic, before: Math.min(total, end + PAGE)}), '← Newer') : null, ' ',
      h('span', {class: 'muted', text: events.length ? `events ${offset + 1}–${end} of ${total}` : ''}), ' ',
      offset > 0 ? link(pathOf(['events'], {topic, before: offset}), 'Older →') : null));
}

function publishForm(ctx, topic) {
  const topicIn = h('input', {name: 'topic', required: true, value: topic, autocomplete: 'off'});
  const payload = h('textarea', {name: 'payload', rows: 4, spellcheck: 'false', placeholder: '{"hello": "world"}'});
  const metadata = h('textarea', {name: 'metadata', rows: 2, spellcheck: 'false', placeholder: '{"key": "value"} (optional)'});
  const submit = h('button', {type: 'submit', text: 'Publish'});
  const msg = h('div', {'aria-live': 'polite'});
  return h('form', {class: 'card publish', onsubmit: (e) => {
    e.preventDefault();
    let md = {};
    if (metadata.value.trim()) {
      try {
        md = JSON.parse(metadata.value);
      } catch (err) {
        replace(msg, notice('error', 'Metadata must be a JSON object of strings: ' + err.message));
        return;
      }
      if (!md || typeof md !== 'object' || Array.isArray(md) || Object.values(md).some((v) => typeof v !== 'string')) {
        replace(msg, notice('error', 'Metadata must be a JSON object of strings.'));
        return;
      }
    }
    busy(submit, async () => {
      try {
        await call('events/Stream/Publish', {topic: topicIn.value.trim(), payload: encodeText(payload.value), metadata: md},
          {signal: ctx.signal});
        replace(msg, notice('ok', `Published to ${topicIn.value.trim()} at ${new Date().toLocaleTimeString()}.`));
      } catch (err) {
        if (err.name !== 'AbortError') replace(msg, errorView(err, 'events'));
      }
    });
  }},
  h('h2', {text: 'Publish'}),
  field('Topic', topicIn),
  field('Payload', payload, 'text, sent as its UTF-8 bytes'),
  field('Metadata (JSON)', metadata),
  h('div', {class: 'actions'}, submit),
  msg);
}

// tail follows a topic with EventSource. A browser cannot set headers on
// an EventSource, so it sends the micro-token cookie instead
// (withCredentials): the gateway accepts the token from that cookie.
function tail(ctx, topic) {
  const topicIn = h('input', {name: 'tail-topic', required: true, value: topic, autocomplete: 'off', 'aria-label': 'Topic to follow'});
  const startButton = h('button', {type: 'submit', text: 'Follow'});
  const stopButton = h('button', {type: 'button', class: 'secondary', text: 'Stop', disabled: true});
  const status = h('p', {class: 'muted tail-status', 'aria-live': 'polite'});
  const list = h('div', {class: 'events'});
  let source = null;
  let received = 0;

  const stop = (why) => {
    if (source) source.close();
    source = null;
    startButton.disabled = false;
    stopButton.disabled = true;
    if (why) replace(status, why);
  };
  ctx.onLeave(() => stop());

  const start = () => {
    stop();
    const t = topicIn.value.trim();
    if (!t) return;
    ctx.setQuery({topic: t});
    const url = `${apiBase}/events/${encodeURIComponent(t)}`;
    received = 0;
    replace(list);
    status.textContent = `Connecting to ${url}…`;
    startButton.disabled = true;
    stopButton.disabled = false;
    let opened = false;
    const es = new EventSource(url, {withCredentials: true});
    source = es;
    es.onopen = () => {
      opened = true;
      status.textContent = `Following ${t}: ${received} event${received === 1 ? '' : 's'} so far.`;
    };
    // The gateway names each event after its topic (event: <topic>).
    es.addEventListener(t, (e) => {
      received++;
      list.prepend(eventView(e));
      while (list.childElementCount > KEEP) list.lastElementChild.remove();
      status.textContent = `Following ${t}: ${received} event${received === 1 ? '' : 's'} so far.`;
    });
    es.onerror = () => {
      if (source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        // The browser gives up (no retry) when the answer is not an event
        // stream: an error status, or a gateway without SSE.
        stop(opened ? notice('warn', 'The event stream closed.') :
          notice('warn', h('strong', {text: 'This server has no event stream for the dashboard yet'}),
            ` (GET ${url} did not answer with server-sent events; is the events service running, and may you read this topic?)`));
      } else {
        status.textContent = 'Connection lost; reconnecting…';
      }
    };
  };

  stopButton.addEventListener('click', () => stop(`Stopped after ${received} event${received === 1 ? '' : 's'}.`));
  return h('section', {},
    h('h2', {text: 'Live tail'}),
    h('form', {class: 'inline tail', onsubmit: (e) => {
      e.preventDefault();
      start();
    }}, topicIn, startButton, stopButton),
    status, list);
}

// eventView shows one server-sent event: its topic (the event's name), its
// sequence number (the event id) and its payload (JSON when it is JSON).
function eventView(e) {
  let text = e.data;
  try {
    text = JSON.stringify(JSON.parse(e.data), null, 2);
  } catch (err) { /* not JSON: shown as sent */ }
  return h('div', {class: 'event'},
    h('p', {class: 'muted'}, h('code', {text: e.type}), ' ', e.lastEventId ? `#${e.lastEventId}` : ''),
    h('pre', {class: 'json', text}));
}
