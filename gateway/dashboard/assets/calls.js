// The same call from a terminal (curl and micro lines to copy), and the
// calls made from this browser, kept in localStorage.

import {h, link, pathOf} from './dom.js';
import {apiBase, namespace} from './api.js';

// shellQuote quotes s for a POSIX shell.
function shellQuote(s) {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// curlLine and cliLine are the same call from a terminal.
export function curlLine(path, req) {
  const ns = namespace();
  return `curl -X POST ${shellQuote(apiBase + '/' + path)} -H 'Content-Type: application/json'` +
    (ns !== 'micro' ? ` -H ${shellQuote('Micro-Namespace: ' + ns)}` : '') +
    ` -H "Authorization: Bearer $MICRO_TOKEN" -d ${shellQuote(JSON.stringify(req))}`;
}

export function cliLine(service, endpoint, req, streaming) {
  const ns = namespace();
  return (ns !== 'micro' ? `MICRO_NAMESPACE=${shellQuote(ns)} ` : '') +
    `micro ${streaming ? 'stream' : 'call'} ${service} ${endpoint} ${shellQuote(JSON.stringify(req))}`;
}

// copyLine is a command in a box with a Copy button.
export function copyLine(cls, label, text) {
  const code = h('code', {class: cls, text});
  const button = h('button', {type: 'button', class: 'secondary small', text: 'Copy', 'aria-label': `Copy the ${label} command`,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text);
        button.textContent = 'Copied';
      } catch (e) {
        // No clipboard (plain http, or refused): select the text instead.
        getSelection().selectAllChildren(code);
        button.textContent = 'Selected: press Ctrl+C';
      }
    }});
  return h('div', {class: 'copy'}, h('span', {class: 'muted small', text: label}), code, button);
}

// The recent calls are kept in this browser only (localStorage), newest
// first, HISTORY_MAX of them.
const HISTORY_KEY = 'micro-calls';
const HISTORY_MAX = 20;

export function recentCalls() {
  try {
    const list = JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]');
    return Array.isArray(list) ? list.filter((c) => c && typeof c.service === 'string' && typeof c.endpoint === 'string') : [];
  } catch (e) {
    return [];
  }
}

export function remember(entry) {
  const list = recentCalls().filter((c) => !(c.service === entry.service && c.endpoint === entry.endpoint &&
    JSON.stringify(c.request) === JSON.stringify(entry.request) && c.namespace === entry.namespace));
  list.unshift(entry);
  try {
    localStorage.setItem(HISTORY_KEY, JSON.stringify(list.slice(0, HISTORY_MAX)));
  } catch (e) { /* full or private: not kept */ }
}

// historyView lists the recent calls; each opens its endpoint with the
// request filled in (?body=).
export function historyView(filter) {
  const list = recentCalls().filter((c) => !filter || c.service === filter);
  if (!list.length) return h('p', {class: 'muted history', text: 'No calls made from this browser yet.'});
  return h('ol', {class: 'history'}, list.map((c) => h('li', {},
    link(pathOf(['service', c.service, c.endpoint], {body: JSON.stringify(c.request)}), `${c.service} ${c.endpoint}`),
    ' ', h('code', {class: 'small', text: JSON.stringify(c.request)}),
    ' ', h('span', {class: c.ok ? 'muted small' : 'small bad', text: `${c.status} · ${c.ms} ms · ${new Date(c.at).toLocaleTimeString()}`}))));
}

