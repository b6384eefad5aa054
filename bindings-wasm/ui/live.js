// Live mode: real agents' views, streamed from their relays (`GET /v1/relay`, docs/relay.md).
// The page connects to the agent that served it, or to every node of `rumor demo` when the
// demo served it (from `GET /v1/demo`), and to any `?relays=HOST:PORT,…`; it reconnects by
// itself. It only shows
// what the agents send: each relay's snapshot, then its events applied in order.

import { statusNames } from './pkg/rumor_wasm.js';
import { MatrixView, logLine } from './draw.js';

const $ = (id) => document.getElementById(id);
const RELAY_VERSION = 1;
const RETRY_MIN_MS = 500, RETRY_MAX_MS = 5000;

/** One agent's relay: its view of the cluster, kept up to date, reconnecting when it drops. */
class Relay {
  /**
   * `name`: the agent's name if known before its hello (the demo lists them); `wanted()`: whether
   * to try connecting now (the demo says which nodes run, so stopped ones are not knocked on).
   */
  constructor(host, changed, { name = null, wanted = () => true } = {}) {
    this.host = host;
    this.wanted = wanted;
    this.url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${host}/v1/relay`;
    this.changed = changed;
    this.state = 'connecting';
    this.name = name;
    this.members = new Map();
    this.metrics = null;
    this.rates = null;
    this.note = '';
    this.retry = RETRY_MIN_MS;
    this.lost = false; // an open connection was lost: say so when it is back
    this.connect();
  }

  connect() {
    if (!this.wanted()) {
      setTimeout(() => this.connect(), RETRY_MIN_MS);
      return;
    }
    this.state = 'connecting';
    const ws = (this.ws = new WebSocket(this.url));
    let previous = null; // the last stats message, for rates
    ws.onopen = () => { this.retry = RETRY_MIN_MS; };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch { return; }
      switch (msg.type) {
        case 'hello':
          if (msg.relay !== RELAY_VERSION) {
            this.note = `relay version ${msg.relay}, this page speaks ${RELAY_VERSION}`;
            ws.close();
            return;
          }
          this.name = msg.name;
          this.hello = msg;
          break;
        case 'snapshot':
          this.members = new Map(msg.members.map((x) => [x.name, x]));
          this.metrics = msg.metrics;
          this.state = 'open';
          this.note = '';
          if (msg.missed) this.changed(this, { type: 'missed', missed: msg.missed });
          if (this.lost) this.changed(this, { type: 'reconnected' });
          this.lost = false;
          this.changed(this, { type: 'snapshot' });
          break;
        case 'stats':
          if (previous) {
            const dt = (msg.ms - previous.ms) / 1000;
            const d = (k) => (msg.metrics.stats[k] - previous.metrics.stats[k]) / dt;
            this.rates = dt > 0 ? { packetsIn: d('packets_in'), packetsOut: d('packets_out'), bytesOut: d('bytes_out') } : this.rates;
          }
          previous = msg;
          this.metrics = msg.metrics;
          this.changed(this, null);
          break;
        case 'bye':
          this.note = msg.reason === 'left' ? 'left the cluster' : 'stopped';
          break;
        default:
          // An event: each replaces the member it carries. Unknown types are ignored.
          if (msg.member) this.members.set(msg.member.name, msg.member);
          this.changed(this, msg);
      }
    };
    ws.onclose = () => {
      const was = this.state;
      this.state = 'closed';
      this.rates = null;
      // Said once per lost connection, not at every failed retry.
      if (was === 'open') this.lost = true;
      this.changed(this, was === 'open' ? { type: 'closed' } : null);
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(RETRY_MAX_MS, this.retry * 2);
    };
  }
}

export class Live {
  /** `site`: what served the page (`agent`, `demo` or null; app.js reads `site.json`). */
  constructor(site) {
    this.site = site;
    this.names = statusNames();
    this.code = Object.fromEntries(this.names.map((n, i) => [n, i]));
    this.matrixView = new MatrixView($('live-matrix'), this.names);
    this.relays = [];
    this.choice = null; // the observer the user picked, by host
    this.dirty = true;
    this.demo = null;
    let resolve;
    this.ready = new Promise((r) => (resolve = r));
    this.resolveReady = resolve;
    $('live-observer').onchange = () => { this.choice = $('live-observer').value; this.dirty = true; };
  }

  /** Finds the relays to show and connects to them. */
  async start() {
    const hosts = [];
    if (this.site === 'demo') {
      try {
        this.demo = await (await fetch('/v1/demo')).json();
        document.body.classList.add('demo');
        for (const n of this.demo.nodes) {
          const wanted = () => this.demo.nodes.find((x) => x.name === n.name)?.running ?? true;
          this.relays.push(new Relay(n.http, (relay, msg) => this.changed(relay, msg), { name: n.name, wanted }));
        }
        // Which nodes run, for the relays and the buttons.
        setInterval(async () => {
          try {
            this.demo = await (await fetch('/v1/demo')).json();
            this.dirty = true;
          } catch { /* the demo stopped; the relays say so */ }
        }, 1000);
      } catch (e) {
        $('live-status').textContent = `Could not list the demo's nodes: ${e.message}`;
      }
    } else if (this.site === 'agent') {
      hosts.push(location.host);
    }
    const extra = new URLSearchParams(location.search).get('relays');
    if (extra) hosts.push(...extra.split(',').map((h) => h.trim()).filter(Boolean));
    if (!hosts.length && !this.relays.length) {
      $('live-status').textContent = 'No agent to show: open this page from an agent (http://AGENT_HTTP/ui/) or add ?relays=HOST:PORT (an agent\'s HTTP address).';
      return;
    }
    const known = new Set(this.relays.map((r) => r.host));
    for (const host of new Set(hosts)) if (!known.has(host)) this.relays.push(new Relay(host, (relay, msg) => this.changed(relay, msg)));
    setInterval(() => this.render(), 250);
  }

  changed(relay, msg) {
    this.dirty = true;
    if (msg?.type === 'snapshot') this.resolveReady();
    if (!msg || msg.type === 'snapshot') return;
    const who = relay.name ?? relay.host;
    const time = new Date().toLocaleTimeString();
    const text = msg.member ? `${who} sees ${msg.member.name} ${msg.member.state} (${msg.type})`
      : msg.type === 'closed' ? `lost the relay of ${who}${relay.note ? ` (${relay.note})` : ''}; reconnecting`
      : msg.type === 'reconnected' ? `the relay of ${who} is back`
      : msg.type === 'missed' ? `${who}: ${msg.missed} events missed, took a new snapshot`
      : msg.type === 'user-event' ? `${who} got user event ${msg.name} from ${msg.origin}: ${msg.payload}`
      : `${who}: ${msg.type}`;
    logLine($('live-log'), time, text, msg.member ? `state-${msg.member.state}` : '');
  }

  /** The relay whose view the table shows: the user's pick, else the first one open. */
  observer() {
    const open = this.relays.filter((r) => r.state === 'open');
    return open.find((r) => r.host === this.choice) ?? open[0] ?? this.relays.find((r) => r.members.size) ?? null;
  }

  render() {
    if (!this.dirty) return;
    this.dirty = false;
    const obs = this.observer();
    const open = this.relays.filter((r) => r.state === 'open').length;
    $('live-status').textContent = this.demo
      ? `rumor demo: ${this.demo.nodes.length} agents on this machine, ${open} reachable.`
      : `${open ? 'Connected to' : 'Reconnecting to'} ${this.relays.map((r) => r.name ?? r.host).join(', ')}` +
        (obs?.hello?.label ? ` — cluster “${obs.hello.label}”` : '') + (obs ? ` — ${obs.members.size} members` : '');

    // The observer picker.
    const sel = $('live-observer');
    const opts = this.relays.map((r) => `${r.host}|${r.name ?? r.host}|${r.state}`).join();
    if (sel.dataset.opts !== opts) {
      sel.dataset.opts = opts;
      sel.replaceChildren(...this.relays.map((r) => new Option(`${r.name ?? r.host}${r.state === 'open' ? '' : ` (${r.state})`}`, r.host)));
    }
    if (obs) sel.value = obs.host;

    this.table(obs);
    this.agents();
    this.matrix();
  }

  table(obs) {
    const tbody = $('live-members').tBodies[0];
    const members = obs ? [...obs.members.values()] : [];
    if (this.demo) {
      // Demo nodes the observer has never heard of still get a row, for their buttons.
      for (const n of this.demo.nodes) if (!obs?.members.has(n.name)) members.push({ name: n.name, addr: n.gossip, state: 'unknown', incarnation: '', meta: {} });
    }
    members.sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }));
    const rows = members.map((m) => {
      const tr = document.createElement('tr');
      tr.dataset.name = m.name;
      const cell = (text, cls = '') => {
        const td = tr.insertCell();
        td.textContent = text;
        if (cls) td.className = cls;
        return td;
      };
      cell(m.name + (obs && m.name === obs.name ? ' (observer)' : ''));
      cell(m.addr);
      cell(m.state, `state state-${m.state}`);
      cell(String(m.incarnation));
      cell(Object.entries(m.meta ?? {}).map(([k, v]) => `${k}=${v}`).join(' '), 'meta');
      const node = this.demo?.nodes.find((n) => n.name === m.name);
      if (node) {
        const td = cell('', 'demo-only');
        for (const action of ['kill', 'restart', 'leave']) {
          const b = document.createElement('button');
          b.textContent = action;
          b.title = { kill: 'crash it: stop without a word', restart: 'start it again (same name and ports)', leave: 'leave gracefully' }[action];
          b.dataset.demo = action;
          b.dataset.node = m.name;
          b.disabled = (action === 'restart') === node.running;
          b.onclick = () => this.demoAction(action, m.name);
          td.append(b);
        }
      }
      return tr;
    });
    // Rebuild only when something shown changed, so buttons stay clickable.
    const running = (name) => this.demo?.nodes.find((n) => n.name === name)?.running;
    const key = members.map((m) => `${m.name}|${m.addr}|${m.state}|${m.incarnation}|${JSON.stringify(m.meta)}|${running(m.name)}`).join() + (obs?.host ?? '');
    if (tbody.dataset.key !== key) {
      tbody.dataset.key = key;
      tbody.replaceChildren(...rows);
    }
  }

  async demoAction(action, name) {
    try {
      const r = await fetch(`/v1/demo/nodes/${encodeURIComponent(name)}/${action}`, { method: 'POST' });
      const body = await r.json().catch(() => ({}));
      logLine($('live-log'), new Date().toLocaleTimeString(), r.ok ? `demo: ${action} ${name}` : `demo: ${action} ${name} refused: ${body.error ?? r.status}`);
      this.demo = await (await fetch('/v1/demo')).json();
      this.dirty = true;
    } catch (e) {
      logLine($('live-log'), new Date().toLocaleTimeString(), `demo: ${action} ${name} failed: ${e.message}`);
    }
  }

  agents() {
    const table = $('live-relays');
    const rows = [['agent', 'relay', 'alive / members', 'packets/s in·out', 'health']].concat(this.relays.map((r) => {
      const m = r.metrics?.members;
      const total = m ? m.alive + m.suspect + m.failed + m.left : 0;
      return [
        r.name ?? r.host,
        r.state + (r.note ? ` (${r.note})` : ''),
        m && r.state === 'open' ? `${m.alive} / ${total}` : '–',
        r.rates ? `${r.rates.packetsIn.toFixed(1)} · ${r.rates.packetsOut.toFixed(1)}` : '–',
        r.metrics && r.state === 'open' ? String(r.metrics.health_score) : '–',
      ];
    }));
    while (table.rows.length < rows.length) { const tr = table.insertRow(); for (let k = 0; k < 5; k++) tr.insertCell(); }
    while (table.rows.length > rows.length) table.deleteRow(-1);
    rows.forEach((row, i) => row.forEach((v, k) => {
      const td = table.rows[i].cells[k];
      td.textContent = v;
      if (k === 1 && i > 0) td.className = `state-${this.relays[i - 1].state}`;
    }));
  }

  matrix() {
    const rows = this.relays.filter((r) => r.members.size);
    const cols = [...new Set(rows.flatMap((r) => [...r.members.keys()]))]
      .sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    const codes = new Uint8Array(rows.length * cols.length);
    rows.forEach((r, i) => cols.forEach((name, j) => {
      const m = r.members.get(name);
      codes[i * cols.length + j] = m ? this.code[m.state] ?? 0 : 0;
    }));
    this.matrixView.draw(codes, rows.length, cols.length, (i) => rows[i].state !== 'open',
      { rows: rows.map((r) => r.name ?? r.host), cols });
  }

  /** For automation (tests): `window.rumorUI.live`. */
  api() {
    return {
      relays: () => this.relays.map((r) => ({ url: r.url, name: r.name, state: r.state })),
      view: (name) => {
        const r = this.relays.find((x) => x.name === name);
        return r ? Object.fromEntries([...r.members.values()].map((m) => [m.name, m.state])) : null;
      },
      members: () => [...new Set(this.relays.flatMap((r) => [...r.members.keys()]))].sort(),
    };
  }
}
