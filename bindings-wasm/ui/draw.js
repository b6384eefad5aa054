// Drawing shared by both modes: the status colours, the legends, the "who thinks what about
// whom" matrix and the line chart. Status codes are the binding's (statusNames(): 0 unknown,
// then alive, suspect, failed, left); nothing here knows the protocol.

const css = getComputedStyle(document.documentElement);
const colour = (name) => css.getPropertyValue(`--${name}`).trim();

/** Colour of each status name, from the style sheet. */
export const COLOURS = Object.fromEntries(
  ['unknown', 'alive', 'suspect', 'failed', 'left'].map((s) => [s, colour(s)]),
);

const rgb = (hex) => [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));

/** Fills every `.legend[data-legend]` with its statuses' colours. */
export function legends() {
  for (const el of document.querySelectorAll('.legend[data-legend]')) {
    el.replaceChildren(...el.dataset.legend.split(' ').map((s) => {
      const span = document.createElement('span');
      span.textContent = s;
      span.style.setProperty('--c', COLOURS[s]);
      return span;
    }));
  }
}

/** How telling each status is when a pixel stands for several cells (see `draw`). */
const RANK = { failed: 4, suspect: 3, left: 2, unknown: 1, alive: 0 };

/**
 * The N×M matrix on a canvas: one cell per (observer, member), coloured by status code,
 * drawn at one pixel per cell into an off-screen image and scaled up (or down) to the canvas.
 */
export class MatrixView {
  constructor(canvas, names) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.palette = names.map((s) => rgb(COLOURS[s] ?? COLOURS.unknown));
    this.rank = names.map((s) => RANK[s] ?? 0);
    this.image = null;
  }

  /**
   * `codes[r * cols + c]` is row r's opinion of column c; `dim(r)` dims a row (a stopped
   * observer), `labels` (optional) names the rows and columns when there is room.
   */
  draw(codes, rows, cols, dim = () => false, labels = null) {
    // More cells than pixels: each pixel shows a block of cells by its most telling status
    // (failed, then suspect, left, unknown, alive), so one node's news is not scaled away.
    const b = Math.max(1, Math.ceil(Math.max(rows / this.canvas.height, cols / this.canvas.width)));
    const h = Math.ceil(rows / b), w = Math.ceil(cols / b);
    if (!this.image || this.image.width !== Math.max(w, 1) || this.image.height !== Math.max(h, 1)) {
      this.off = new OffscreenCanvas(Math.max(w, 1), Math.max(h, 1));
      this.image = new ImageData(Math.max(w, 1), Math.max(h, 1));
    }
    const px = this.image.data;
    for (let R = 0; R < h; R++) {
      for (let C = 0; C < w; C++) {
        const RANKS = this.rank;
        let code = codes[R * b * cols + C * b], rank = RANKS[code] ?? 0;
        for (let r = R * b; b > 1 && r < Math.min(rows, R * b + b); r++) {
          for (let c = C * b; c < Math.min(cols, C * b + b); c++) {
            const k = codes[r * cols + c];
            if ((RANKS[k] ?? 0) > rank) { code = k; rank = RANKS[k]; }
          }
        }
        const [red, green, blue] = this.palette[code] ?? this.palette[0];
        const o = (R * w + C) * 4;
        px[o] = red; px[o + 1] = green; px[o + 2] = blue; px[o + 3] = dim(R * b) ? 70 : 255;
      }
    }
    this.off.getContext('2d').putImageData(this.image, 0, 0);
    const { ctx, canvas } = this;
    const pad = labels ? 70 : 0;
    const top = labels ? 56 : 0;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingEnabled = false;
    const cell = Math.min((canvas.width - pad) / cols, (canvas.height - top) / rows, 28);
    if (!(cell > 0)) return;
    ctx.drawImage(this.off, 0, 0, w, h, pad, top, cell * cols, cell * rows);
    if (labels && cell >= 9) {
      ctx.fillStyle = colour('dim');
      ctx.font = `${Math.min(12, cell - 2)}px system-ui`;
      ctx.textBaseline = 'middle';
      labels.rows.forEach((name, r) => ctx.fillText(name, 0, top + (r + 0.5) * cell, pad - 4));
      ctx.save();
      labels.cols.forEach((name, c) => {
        ctx.setTransform(1, 0, 0, 1, pad + (c + 0.5) * cell, top - 4);
        ctx.rotate(-Math.PI / 3);
        ctx.fillText(name, 0, 0, top);
      });
      ctx.restore();
    }
  }
}

/**
 * The fraction of nodes that have heard of something, after `t` ms, by the classic push
 * epidemic (each informed node tells `fanout` random others every `intervalMs`): per round,
 * i' = 1 − (1 − i)·e^(−fanout·i), from one informed node of `n`. A reference curve, not how
 * Rumor decides anything: the real nodes also piggyback news on probes and acks.
 */
export function epidemic(n, fanout, intervalMs, t) {
  let i = 1 / Math.max(n, 1);
  const rounds = Math.floor(t / intervalMs);
  for (let k = 0; k < rounds && i < 0.9999; k++) i = 1 - (1 - i) * Math.exp(-fanout * i);
  return Math.min(1, i);
}

/** A small line chart: `series` is [{label, colour, points: [[x, y], …], dash?}]. */
export function lineChart(canvas, series, { xMax, yMax, xLabel, yLabel }) {
  const ctx = canvas.getContext('2d');
  const W = canvas.width, H = canvas.height, L = 40, B = 26, T = 8, R = 10;
  ctx.clearRect(0, 0, W, H);
  ctx.strokeStyle = '#30363d';
  ctx.fillStyle = '#8b949e';
  ctx.font = '11px system-ui';
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(L, T); ctx.lineTo(L, H - B); ctx.lineTo(W - R, H - B);
  ctx.stroke();
  const x = (v) => L + (v / xMax) * (W - L - R);
  const y = (v) => H - B - (v / yMax) * (H - B - T);
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (const v of [0, yMax / 2, yMax]) ctx.fillText(String(Math.round(v)), L - 4, y(v));
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (let k = 0; k <= 4; k++) ctx.fillText((xMax * k / 4).toFixed(xMax < 4 ? 1 : 0), x(xMax * k / 4), H - B + 3);
  ctx.fillText(xLabel, (L + W) / 2, H - 12);
  ctx.save();
  ctx.translate(10, (T + H - B) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText(yLabel, 0, -6);
  ctx.restore();
  // The legend in the lower right, where spreading curves (which rise and stay up) are not.
  let ly = H - B - 8 - 14 * (series.length - 1);
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dash ?? []);
    ctx.beginPath();
    s.points.forEach(([px, py], k) => (k ? ctx.lineTo(x(px), y(py)) : ctx.moveTo(x(px), y(py))));
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.fillStyle = s.colour;
    ctx.textAlign = 'right';
    ctx.textBaseline = 'middle';
    ctx.fillText(s.label, W - R - 4, ly);
    ly += 14;
  }
}

/** Formats virtual or real milliseconds as seconds. */
export const secs = (ms) => `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;

/** Appends a line to a log list, newest first, keeping at most `max`. */
export function logLine(list, when, text, cls = '', max = 200) {
  const li = document.createElement('li');
  if (cls) li.className = cls;
  const t = document.createElement('time');
  t.textContent = when;
  li.append(t, text);
  list.prepend(li);
  while (list.childElementCount > max) list.lastElementChild.remove();
}
