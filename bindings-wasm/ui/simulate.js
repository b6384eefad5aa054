// Simulate mode: N real Rumor nodes (rumor-wasm's Cluster: the protocol core and the
// deterministic simulator, compiled to WebAssembly) on virtual time, driven from the animation
// loop, drawn as a cluster, a matrix, a chart and counters. The page only steps time, applies
// what the user clicks and draws what the nodes report: every protocol decision is the core's.

import { Cluster, presetNames, presetTimings, statusNames } from './pkg/rumor_wasm.js';
import { COLOURS, MatrixView, epidemic, legends, lineChart, logLine, secs } from './draw.js';

const $ = (id) => document.getElementById(id);
// Status code → name (unknown, alive, suspect, failed, left) and back; set once the module is
// initialised.
let NAMES, CODE;
const KILLED = 0, STALLED = 2; // Cluster.states()
const STALL_MS = 5000;
const FRAME_BUDGET_MS = 28; // real time per frame spent stepping the nodes, at most

/** Speed slider position → virtual seconds per real second (0.1 to 100, logarithmic). */
const speedOf = (v) => 10 ** (v / 20 - 1);

/** What the others think of node j: counts by code over running observers other than j. */
function column(matrix, states, n, j) {
  const counts = new Uint32Array(NAMES.length);
  for (let i = 0; i < n; i++) {
    if (i !== j && states[i] !== KILLED) counts[matrix[i * n + j]]++;
  }
  return counts;
}

export class Simulation {
  constructor() {
    NAMES = statusNames();
    CODE = Object.fromEntries(NAMES.map((n, i) => [n, i]));
    this.cluster = null;
    this.paused = false;
    this.matrixView = new MatrixView($('matrix'), NAMES);
    this.selected = null;
    this.change = null; // the latest change followed by the chart
    this.partitioned = false;
    this.totals = null; // counters summed over every node (see `tally`)
    this.net = []; // [virtual ms, sent, bytes] samples for rates
    this.lastRefresh = 0;
    this.refreshCost = 0;
    this.achieved = 0;
    for (const name of presetNames()) {
      $('preset').add(new Option(`${name} (probes every ${presetTimings(name).probeIntervalMs / 1000} s)`, name));
    }
    this.bind();
    legends();
  }

  bind() {
    $('sim-build').onclick = () => this.build(Number($('sim-nodes').value), this.settings());
    $('speed').oninput = () => this.showSpeed();
    $('pause').onclick = () => {
      this.paused = !this.paused;
      $('pause').textContent = this.paused ? 'Run' : 'Pause';
    };
    $('loss').oninput = () => {
      $('loss-out').textContent = `${$('loss').value} %`;
      this.cluster?.setLoss(Number($('loss').value) / 100);
    };
    $('lifeguard').onchange = $('preset').onchange = () =>
      this.build(this.cluster?.size ?? Number($('sim-nodes').value), this.settings());
    $('partition').onclick = () => this.partition();
    $('heal').onclick = () => this.heal();
    $('cluster').onclick = (e) => {
      const i = this.nodeAt(e.offsetX, e.offsetY);
      if (i !== null) this.act($('sim-action').value, i);
    };
    this.showSpeed();
  }

  settings() {
    return { preset: $('preset').value, lifeguard: $('lifeguard').checked, seed: Number($('seed').value) || 0 };
  }

  showSpeed() {
    this.speed = speedOf(Number($('speed').value));
    $('speed-out').textContent = `${this.speed < 1 ? this.speed.toFixed(2) : this.speed.toPrecision(2)}× real time`;
  }

  /** Builds a formed, quiet cluster of `n` nodes (replacing the current one). */
  async build(n, { preset, lifeguard, seed }) {
    n = Math.max(2, Math.min(2000, Math.floor(n) || 64));
    $('sim-nodes').value = n;
    $('busy').textContent = `Starting ${n} nodes…`;
    $('busy').hidden = false;
    await new Promise((r) => setTimeout(r, 30)); // let the message paint
    try {
      const t0 = performance.now();
      const cluster = new Cluster(n, seed, preset, lifeguard); // throws before anything changes
      this.cluster?.free();
      this.cluster = cluster;
      this.cluster.setLoss(Number($('loss').value) / 100);
      this.timings = presetTimings(preset);
      this.n = n;
      this.layout();
      this.selected = null;
      this.change = null;
      this.partitioned = false;
      $('partition').disabled = false;
      $('heal').disabled = true;
      this.totals = { raised: 0, refuted: 0, declared: 0, last: new Array(n).fill(null) };
      this.net = [];
      $('sim-log').replaceChildren();
      $('node-info').textContent = 'Click a node.';
      $('chart-info').textContent = 'Crash, restart or stall a node to follow the news of it.';
      this.log(`${n} nodes formed a cluster (${preset}, Lifeguard ${lifeguard ? 'on' : 'off'}, seed ${seed}) in ${Math.round(performance.now() - t0)} ms of real time`);
      this.refresh();
    } catch (e) {
      // A refusal from the binding (a bad preset or seed in the URL): say it, keep the old cluster.
      this.log(`could not build ${n} nodes: ${e.message}`);
    } finally {
      $('busy').hidden = true;
    }
  }

  /** Node positions: a circle up to 128 nodes, else a grid; halves on either side. */
  layout() {
    const canvas = $('cluster');
    const W = canvas.width, H = canvas.height, n = this.n;
    this.pos = new Float32Array(2 * n);
    if (n <= 128) {
      const R = W / 2 - 18;
      this.radius = Math.max(3, Math.min(11, (Math.PI * R) / n - 1.5));
      for (let i = 0; i < n; i++) {
        // The first half on the left, the second on the right: a partition cuts down the middle.
        const a = Math.PI / 2 + (2 * Math.PI * (i + 0.5)) / n;
        this.pos[2 * i] = W / 2 + R * Math.cos(a);
        this.pos[2 * i + 1] = H / 2 + R * Math.sin(a);
      }
    } else {
      const half = Math.ceil(n / 2), GAP = 10;
      // The largest square cell that fits both halves, each starting on a fresh row.
      let cols = Math.ceil(Math.sqrt(n)), cell = 0;
      for (; cols <= n; cols++) {
        const rows = Math.ceil(half / cols) + Math.ceil((n - half) / cols);
        const fit = Math.min((W - 8) / cols, (H - 8 - GAP) / rows);
        if (fit < cell) break;
        cell = fit;
      }
      cols--;
      this.radius = Math.max(1.2, cell / 2 - Math.max(0.6, cell * 0.12));
      for (let i = 0; i < n; i++) {
        // Row-major; the second half starts on a fresh row, below a gap.
        const k = i < half ? i : Math.ceil(half / cols) * cols + (i - half);
        const gap = i < half ? 0 : GAP;
        this.pos[2 * i] = 4 + cell * ((k % cols) + 0.5);
        this.pos[2 * i + 1] = 4 + gap + cell * (Math.floor(k / cols) + 0.5);
      }
    }
  }

  nodeAt(x, y) {
    let best = null, dist = Infinity;
    for (let i = 0; i < this.n; i++) {
      const d = (this.pos[2 * i] - x) ** 2 + (this.pos[2 * i + 1] - y) ** 2;
      if (d < dist) { dist = d; best = i; }
    }
    return dist <= (this.radius + 4) ** 2 ? best : null;
  }

  /** Viewport coordinates of node i's dot (for automation: `rumorUI.sim.nodeCenter`). */
  nodeCenter(i) {
    const r = $('cluster').getBoundingClientRect();
    const scale = r.width / $('cluster').width;
    return { x: r.left + this.pos[2 * i] * scale, y: r.top + this.pos[2 * i + 1] * scale };
  }

  act(action, i) {
    const c = this.cluster, name = `node-${i}`;
    // What the chart follows: the running nodes that see the change, in one or two stages.
    const track = (news, codes, colour) => ({ news, codes, colour, points: [], first: null, all: null });
    const expect = {
      kill: { what: `${name} crashed`, tracks: [track('suspect or failed', [CODE.suspect, CODE.failed], COLOURS.suspect), track('failed', [CODE.failed], COLOURS.failed)] },
      leave: { what: `${name} is leaving`, tracks: [track('left', [CODE.left], COLOURS.left)] },
      restart: { what: `${name} restarted`, tracks: [track('alive again', [CODE.alive], COLOURS.alive)] },
      stall: { what: `${name} stalled for ${STALL_MS / 1000} s`, tracks: [track('suspect or failed', [CODE.suspect, CODE.failed], COLOURS.suspect), track('failed', [CODE.failed], COLOURS.failed)] },
    }[action];
    try {
      if (action === 'stall') c.stall(i, STALL_MS); else c[action](i);
    } catch (e) {
      this.log(`${name}: ${e.message}`);
      return;
    }
    this.selected = i;
    this.change = { node: i, at: c.now(), ...expect };
    this.log(expect.what);
    this.refresh();
  }

  partition() {
    const half = Array.from({ length: Math.ceil(this.n / 2) }, (_, i) => i);
    this.cluster.partition(half);
    this.partitioned = true;
    $('partition').disabled = true;
    $('heal').disabled = false;
    this.log(`network split: node-0…node-${half.length - 1} | node-${half.length}…node-${this.n - 1}`);
    this.refresh();
  }

  heal() {
    this.cluster.heal();
    this.partitioned = false;
    $('partition').disabled = false;
    $('heal').disabled = true;
    this.log('network healed');
    this.refresh();
  }

  log(text) {
    logLine($('sim-log'), this.cluster ? secs(this.cluster.now()) : '', text);
  }

  /** One animation frame: step virtual time within the frame's budget, then redraw. */
  frame(dtReal) {
    const c = this.cluster;
    if (!c) return;
    if (!this.paused) {
      const want = Math.min(dtReal, 100) * this.speed;
      const t0 = performance.now();
      let done = 0;
      const chunk = Math.max(10, Math.min(100, want));
      while (done < want && performance.now() - t0 < FRAME_BUDGET_MS) {
        const ms = Math.min(chunk, want - done);
        c.step(ms);
        done += ms;
      }
      const took = performance.now() - t0;
      this.achieved = 0.9 * this.achieved + 0.1 * (dtReal > 0 ? done / Math.max(dtReal, took) : 0);
    }
    // Reading every node's view costs O(N²) (a quarter of a second at 2000 nodes): refresh
    // at most every other such time, so stepping keeps at least half of the real time.
    const now = performance.now();
    if (now - this.lastRefresh >= 2 * this.refreshCost) this.refresh();
  }

  /**
   * Sums the nodes' own counters (`Cluster.stats`, the core's `Stats`) into cluster totals. A
   * restarted node starts again from zero, so each node adds what grew since the last look.
   * (The nodes' events are not recorded: after a split of 2000 nodes they would be millions.)
   */
  tally() {
    const t = this.totals;
    for (let i = 0; i < this.n; i++) {
      const s = this.cluster.stats(i);
      const now = [s.suspicions_raised, s.suspicions_refuted, s.failures_declared];
      const was = t.last[i] ?? [0, 0, 0];
      const grew = now.map((v, k) => (v >= was[k] ? v - was[k] : v));
      t.raised += grew[0];
      t.refuted += grew[1];
      t.declared += grew[2];
      t.last[i] = now;
    }
  }

  refresh() {
    const t0 = performance.now();
    const c = this.cluster, n = this.n;
    this.matrix = c.matrix();
    this.states = c.states();
    this.drawCluster();
    this.matrixView.draw(this.matrix, n, n, (i) => this.states[i] === KILLED);
    this.follow();
    this.tally();
    this.counters();
    this.info();
    this.lastRefresh = performance.now();
    this.refreshCost = this.lastRefresh - t0;
  }

  drawCluster() {
    const canvas = $('cluster'), ctx = canvas.getContext('2d');
    const { n, matrix, states, pos, radius } = this;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (this.partitioned) {
      ctx.strokeStyle = COLOURS.failed;
      ctx.setLineDash([6, 6]);
      ctx.lineWidth = 2;
      ctx.beginPath();
      if (n <= 128) { ctx.moveTo(canvas.width / 2, 4); ctx.lineTo(canvas.width / 2, canvas.height - 4); }
      else {
        const y = (pos[2 * (Math.ceil(n / 2) - 1) + 1] + pos[2 * Math.ceil(n / 2) + 1]) / 2;
        ctx.moveTo(4, y); ctx.lineTo(canvas.width - 4, y);
      }
      ctx.stroke();
      ctx.setLineDash([]);
    }
    // Each dot is a pie of the others' opinions of that node: all green is a healthy node
    // everyone agrees on; a crash turns it amber, then red, as the news spreads.
    const order = [CODE.alive, CODE.suspect, CODE.failed, CODE.left, 0];
    for (let j = 0; j < n; j++) {
      const counts = column(matrix, states, n, j);
      const total = counts.reduce((x, y) => x + y, 0);
      const x = pos[2 * j], y = pos[2 * j + 1];
      let a = -Math.PI / 2;
      for (const k of order) {
        if (!counts[k]) continue;
        const span = total ? (2 * Math.PI * counts[k]) / total : 2 * Math.PI;
        ctx.beginPath();
        ctx.moveTo(x, y);
        ctx.arc(x, y, radius, a, a + span);
        ctx.closePath();
        ctx.fillStyle = COLOURS[NAMES[k]];
        ctx.fill();
        a += span;
      }
      if (states[j] === KILLED) {
        // A crashed process: a dark hole in its dot.
        ctx.beginPath();
        ctx.arc(x, y, radius * 0.55, 0, 2 * Math.PI);
        ctx.fillStyle = '#0d1117';
        ctx.fill();
      } else if (states[j] === STALLED) {
        ctx.beginPath();
        ctx.arc(x, y, radius + 1, 0, 2 * Math.PI);
        ctx.strokeStyle = '#e6edf3';
        ctx.lineWidth = 1.5;
        ctx.stroke();
      }
      if (j === this.selected) {
        ctx.beginPath();
        ctx.arc(x, y, radius + 3, 0, 2 * Math.PI);
        ctx.strokeStyle = '#e6edf3';
        ctx.lineWidth = 1.5;
        ctx.stroke();
      }
    }
    if (n <= 32) {
      ctx.fillStyle = '#8b949e';
      ctx.font = '10px system-ui';
      ctx.textAlign = 'center';
      for (let j = 0; j < n; j++) ctx.fillText(String(j), pos[2 * j], pos[2 * j + 1] - radius - 4);
    }
  }

  /** The chart: running nodes that see the latest change, and the epidemic model. */
  follow() {
    const ch = this.change;
    const axes = { xLabel: 'virtual seconds since the change', yLabel: 'nodes' };
    if (!ch) {
      lineChart($('chart'), [], { xMax: 10, yMax: this.n - 1, ...axes });
      return;
    }
    const t = this.cluster.now() - ch.at;
    const counts = column(this.matrix, this.states, this.n, ch.node);
    const observers = counts.reduce((a, b) => a + b, 0);
    const name = `node-${ch.node}`;
    for (const tr of ch.tracks) {
      const see = tr.codes.reduce((sum, k) => sum + counts[k], 0);
      if (tr.points.at(-1)?.[0] !== t / 1000) tr.points.push([t / 1000, see]);
      tr.now = see;
      if (see > 0 && tr.first === null) {
        tr.first = t;
        this.log(`the first node sees ${name} ${tr.news}, ${secs(t)} after`);
      }
      if (see === observers && observers > 0 && tr.all === null) {
        tr.all = t;
        this.log(`all ${observers} running nodes see ${name} ${tr.news}, ${secs(t)} after`);
      }
    }
    const last = ch.tracks.at(-1);
    const xMax = Math.max(5, Math.ceil(((last.all ?? t) / 1000) * 1.25));
    const series = ch.tracks.map((tr) => ({ label: `see ${name} ${tr.news}`, colour: tr.colour, points: tr.points }));
    const start = ch.tracks[0].first;
    if (start !== null) {
      // The model starts when the first node has the news, as the real spread does.
      const { gossipFanout: f, gossipIntervalMs: T } = this.timings;
      const model = [];
      for (let x = start; x <= xMax * 1000; x += T / 2) model.push([x / 1000, observers * epidemic(observers, f, T, x - start)]);
      series.push({ label: `epidemic model: fan-out ${f} every ${T} ms`, colour: '#8b949e', points: model, dash: [5, 4] });
    }
    lineChart($('chart'), series, { xMax, yMax: Math.max(1, observers), ...axes });
    $('chart-info').textContent = ch.tracks.map((tr) => `${tr.now} of ${observers} see ${name} ${tr.news}` +
      (tr.all !== null ? ` (all after ${secs(tr.all)})` : tr.first !== null ? ` (first after ${secs(tr.first)})` : '')).join(' · ');
  }

  counters() {
    const c = this.cluster, now = c.now(), s = c.netStats();
    this.net.push([now, s.sent, s.bytes]);
    while (this.net.length > 2 && now - this.net[0][0] > 5000) this.net.shift();
    const [t0, sent0, bytes0] = this.net[0];
    const running = this.states.reduce((a, st) => a + (st !== KILLED ? 1 : 0), 0);
    const per = (d) => (now > t0 && running ? (d / ((now - t0) / 1000)) / running : 0);
    const rows = [
      ['virtual time', secs(now)],
      ['speed', `${this.achieved.toFixed(this.achieved < 10 ? 2 : 0)}× real time${this.achieved < this.speed * 0.8 && !this.paused ? ' (as fast as this machine goes)' : ''}`],
      ['nodes running', `${running} of ${this.n}`],
      ['messages per node per second', per(s.sent - sent0).toFixed(1)],
      ['bytes per node per second', per(s.bytes - bytes0).toFixed(0)],
      ['packets lost / cut by the partition', `${s.lost} / ${s.cut}`],
      ['suspicions raised (a probe went unanswered)', String(this.totals.raised)],
      ['suspicions refuted (false alarms: suspect, then alive)', String(this.totals.refuted)],
      ['failures declared (suspicions that timed out)', String(this.totals.declared)],
    ];
    const table = $('counters');
    while (table.rows.length < rows.length) { const r = table.insertRow(); r.insertCell(); r.insertCell(); }
    rows.forEach(([k, v], i) => { table.rows[i].cells[0].textContent = k; table.rows[i].cells[1].textContent = v; });
  }

  info() {
    const j = this.selected;
    if (j === null) return;
    const counts = column(this.matrix, this.states, this.n, j);
    const process = ['crashed', 'running', 'stalled'][this.states[j]];
    const observers = counts.reduce((a, b) => a + b, 0);
    const parts = NAMES.map((s, k) => [s, counts[k]]).filter(([, k]) => k > 0);
    const major = parts.reduce((a, b) => (b[1] > a[1] ? b : a), ['', -1]);
    $('node-info').textContent = `node-${j} (process ${process}) — ${major[0]} for ${major[1]} of ${observers} running nodes` +
      (parts.length > 1 ? ` (${parts.map(([s, k]) => `${s} ${k}`).join(', ')})` : '');
  }

  /** For automation (tests, benchmarks): `window.rumorUI.sim`. */
  api() {
    const self = this;
    return {
      get size() { return self.n; },
      now: () => self.cluster.now(),
      matrix: () => self.cluster.matrix(),
      states: () => self.cluster.states(),
      nodeCenter: (i) => self.nodeCenter(i),
      statusNames: NAMES,
    };
  }
}
