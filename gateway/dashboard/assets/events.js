// /events: publish to a topic (events/Stream/Publish) and follow a topic
// live as server-sent events from the gateway (GET <api>/events/{topic}).

import {h, busy, encodeText, field, notice, replace} from './dom.js';
import {apiBase, call, errorView} from './api.js';

// KEEP is how many tailed events stay on the page.
const KEEP = 200;

export function render(main, ctx) {
  const topic = ctx.query.get('topic') || '';
  main.append(h('h1', {text: 'Events'}), publishForm(ctx, topic), tail(ctx, topic));
}

function publishForm(ctx, topic) {
  const topicIn = h('input', {name: 'topic', required: true, value: topic, autocomplete: 'off'});
  const payload = h('textarea', {name: 'payload', rows: 4, spellcheck: 'false', placeholder: '{"hello": "world"}'});
  const metadata = h('textarea', {name: 'metadata', rows: 2, spellcheck: 'false', placeholder: '{"key": "value"} (optional)'});
  const submit = h('button', {type: 'submit', text: 'Publish'});
  const msg = h('div', {'aria-live': 'polite'});
  return h('form', {class: 'card', onsubmit: (e) => {
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
  const status = h('p', {class: 'muted', 'aria-live': 'polite'});
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
    h('form', {class: 'inline', onsubmit: (e) => {
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
