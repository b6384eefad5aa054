#!/usr/bin/env python3
"""Rumor's evaluation: runs `rumor sim --json` for every point, then writes the plots
(SVG, standard library only) and the tables of docs/evaluation.md.

    python3 tests/eval/evaluate.py                  # run what is missing, then plot and tabulate
    python3 tests/eval/evaluate.py --max-nodes 1000  # skip the 10 000-node points (up to 15 GB, hours)
    python3 tests/eval/evaluate.py --jobs 2         # simulations in parallel (10 000-node ones in turn)
    python3 tests/eval/evaluate.py --rerun          # forget cached results and run everything

Every simulation's JSON report is cached in docs/eval/results.json, keyed by its exact command
line, so a re-run only simulates points that changed or are new; the plots and tables are always
rebuilt from that file. Reports are deterministic by seed (except their wall-clock fields).
"""

import argparse
import concurrent.futures
import json
import math
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "docs", "eval")
RESULTS = os.environ.get("RUMOR_EVAL_RESULTS", os.path.join(OUT, "results.json"))
DOC = os.path.join(ROOT, "docs", "evaluation.md")
BINARY = os.path.join(ROOT, "target", "release", "rumor")

SEEDS = [1, 2, 3]

# LAN preset anti-entropy period (push_pull_interval × (ceil(log2 n − 5) + 1)); traffic windows
# cover three of them after one of settling, so full-state exchanges are counted fairly.
def push_pull_period(n):
    return 30 * (math.ceil(math.log2(n) - 5) + 1) if n > 32 else 30


# At 10 000 nodes one simulated second costs several wall seconds (and loss multiplies it), so
# the largest size gets one lossless run that serves detection and traffic together: half an
# anti-entropy period of settling, then one full period measured, the crash 20 s in.
BIG = 10000
BIG_RUN = ["--nodes", BIG, "--loss", 0.0, "--kill", 1, "--settle", 150, "--duration", 300, "--kill-at", 20,
           "--seed", 1]


def detection_points(sizes):
    pts = []
    for n in sizes:
        if n == BIG:
            pts.append(("detect", dict(n=n, loss=0.0, lifeguard="on"), BIG_RUN))
            # With loss every false suspicion is gossiped to all 10 000 nodes: one seed per
            # loss, the crash 20 s into a 60 s window after 30 s of settling (5-10 minutes and
            # 5 GB each; docs/evaluation.md, "Limits").
            for loss in (0.1, 0.2):
                pts.append(("detect", dict(n=n, loss=loss, seed=1, lifeguard="on"),
                            ["--nodes", n, "--loss", loss, "--kill", 1, "--settle", 30,
                             "--duration", 60, "--kill-at", 20, "--seed", 1]))
            continue
        for loss in (0.0, 0.1, 0.2):
            if loss == 0.0:
                # Lossless runs are cheap: ten seeds show the spread of detection times.
                seeds = list(range(1, 11))
            else:
                seeds = SEEDS
            for seed in seeds:
                pts.append(("detect", dict(n=n, loss=loss, seed=seed, lifeguard="on"),
                            ["--nodes", n, "--loss", loss, "--kill", 1, "--settle", 30,
                             "--duration", 90, "--kill-at", 20, "--seed", seed]))
        # The same lossless crashes without Lifeguard: what dynamic suspicion costs in time.
        for seed in range(1, 11):
            pts.append(("detect", dict(n=n, loss=0.0, seed=seed, lifeguard="off"),
                        ["--nodes", n, "--loss", 0.0, "--lifeguard", "off", "--kill", 1, "--settle", 30,
                         "--duration", 90, "--kill-at", 20, "--seed", seed]))
    return pts


def preset_points(sizes):
    """Detection and traffic of the three timing presets, each on a network it is meant for."""
    nets = {"lan": [], "wan": ["--latency-min-ms", 20, "--latency-max-ms", 150],
            "local": ["--latency-min-ms", 0.02, "--latency-max-ms", 0.2]}
    pts = []
    for n in sizes:
        for preset, net in nets.items():
            for seed in SEEDS:
                pts.append(("preset", dict(n=n, preset=preset, seed=seed),
                            ["--nodes", n, "--preset", preset, *net, "--kill", 1, "--settle", 30,
                             "--duration", 150, "--kill-at", 20, "--seed", seed]))
    return pts


def lifeguard_points(sizes):
    pts = []
    for n in sizes:
        seeds = SEEDS if n <= 100 else SEEDS[:2]
        duration = 900 if n <= 100 else 300
        for lg in ("off", "on"):
            for seed in seeds:
                pts.append(("lifeguard", dict(n=n, lifeguard=lg, seed=seed, mode="lag"),
                            ["--nodes", n, "--lifeguard", lg, "--stall", 0.01, "--stall-mode", "lag",
                             "--stall-lag", 8, "--stall-min", 5, "--stall-max", 20, "--stall-gap", 20,
                             "--kill", 1, "--kill-at", 30, "--settle", 30, "--duration", duration,
                             "--seed", seed]))
            # The simulator's other stall, a full pause then catch-up, for comparison.
            pts.append(("lifeguard", dict(n=n, lifeguard=lg, seed=1, mode="pause"),
                        ["--nodes", n, "--lifeguard", lg, "--stall", 0.01, "--stall-mode", "pause",
                         "--stall-min", 5, "--stall-max", 20, "--stall-gap", 20,
                         "--kill", 1, "--kill-at", 30, "--settle", 30, "--duration", duration, "--seed", 1]))
    return pts


def dissemination_points(sizes):
    pts = []
    for n in sizes:
        # Loss makes the simulation several times slower; at N > 1000 only the lossless point.
        for loss in (0.0, 0.1) if n <= 1000 else (0.0,):
            pts.append(("dissem", dict(n=n, loss=loss),
                        ["--nodes", n, "--loss", loss, "--broadcast", "--broadcast-at", 5,
                         "--settle", 10, "--duration", 30, "--seed", 1]))
    return pts


def traffic_points(sizes):
    pts = []
    for n in sizes:
        if n == BIG:
            pts.append(("traffic", dict(n=n, encrypt=False), BIG_RUN))
            pts.append(("traffic", dict(n=n, encrypt=True), [*BIG_RUN, "--encrypt"]))
            continue
        period = push_pull_period(n)
        for enc in (False, True):
            args = ["--nodes", n, "--settle", period, "--duration", 3 * period, "--seed", 1]
            if enc:
                args.append("--encrypt")
            pts.append(("traffic", dict(n=n, encrypt=enc), args))
    return pts


def partition_churn_points(sizes):
    pts = []
    for n in sizes:
        pts.append(("partition", dict(n=n),
                    ["--nodes", n, "--partition-at", 10, "--heal-at", 70, "--settle", 30,
                     "--duration", 250, "--seed", 1]))
        pts.append(("churn", dict(n=n),
                    ["--nodes", n, "--churn", 0.05, "--churn-down", 5, "--settle", 30,
                     "--duration", 600 if n <= 100 else 300, "--converge-limit", 120, "--seed", 1]))
    return pts


def all_points(max_nodes):
    def upto(*sizes):
        return [n for n in sizes if n <= max_nodes]

    pts = []
    pts += detection_points(upto(100, 1000, 10000))
    pts += preset_points(upto(100, 1000))
    pts += lifeguard_points(upto(100, 1000))
    pts += dissemination_points(upto(1000, 3000, 10000))
    pts += traffic_points(upto(100, 300, 1000, 3000, 10000))
    pts += partition_churn_points([n for n in (100, 1000) if n <= max_nodes])
    return with_bootstrap(pts)


def with_bootstrap(points):
    """Every point starts from a formed cluster (see the doc: joining 10 000 nodes by gossip
    costs hours of CPU), so all sizes are measured the same way."""
    return [(kind, params, ["--bootstrap", *args]) for kind, params, args in points]


def key(args):
    return " ".join(str(a) for a in args)


# glibc's malloc asks for transparent huge pages: a 10 000-node simulation holds ~11 GB of
# member tables, and with 4 KiB pages nearly every access to another node's state also misses
# the TLB (docs/benchmarks.md, "Simulator"). It applies to a `rumor` built without its default
# `jemalloc` feature; jemalloc ignores it (and its own `thp:always` made `rumor sim` slower).
SIM_ENV = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=1", **os.environ}


# A 10 000-node run holds 9-11 GB: two at once would not fit this machine's 24 GB, so with
# --jobs 2 they take turns while the other job runs the small points.
BIG_RUNS = threading.Semaphore(1)


def simulate(args):
    cmd = [BINARY, "sim", *[str(a) for a in args], "--json"]
    big = int(args[args.index("--nodes") + 1]) >= BIG
    if big:
        BIG_RUNS.acquire()
    started = time.time()
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, env=SIM_ENV)
    finally:
        if big:
            BIG_RUNS.release()
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr.strip()}")
    print(f"  {time.time() - started:7.1f} s  {key(args)}", file=sys.stderr, flush=True)
    return json.loads(out.stdout)


def load_results(path=RESULTS):
    """The cached reports, by command line (`key`); also used by foca_compare.py."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def save_results(results, path=RESULTS):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


# ---- SVG (standard library only) -------------------------------------------------------------

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"]


class Plot:
    """A minimal line/point chart written as SVG."""

    def __init__(self, title, xlabel, ylabel, xlog=False, ylog=False, width=640, height=400, legend="top-left"):
        self.title, self.xlabel, self.ylabel = title, xlabel, ylabel
        self.legend = legend
        self.xlog, self.ylog = xlog, ylog
        self.w, self.h = width, height
        self.series = []  # (label, points, color, dashed, markers)
        self.hlines = []  # (y, label)

    def line(self, label, points, dashed=False, markers=True):
        color = COLORS[len(self.series) % len(COLORS)]
        self.series.append((label, [(x, y) for x, y in points if x is not None and y is not None], color, dashed, markers))

    def hline(self, y, label):
        self.hlines.append((y, label))

    def _t(self, v, log):
        return math.log10(v) if log else v

    def svg(self):
        L, R, T, B = 70, 20, 40, 55
        pw, ph = self.w - L - R, self.h - T - B
        xs = [self._t(x, self.xlog) for _, pts, *_ in self.series for x, _ in pts]
        ys = [self._t(y, self.ylog) for _, pts, *_ in self.series for _, y in pts]
        ys += [self._t(y, self.ylog) for y, _ in self.hlines]
        if not xs:
            xs, ys = [0, 1], [0, 1]
        x0, x1 = min(xs), max(xs)
        y0, y1 = (min(ys), max(ys))
        if not self.ylog:
            y0 = min(0, y0)
        if x1 == x0:
            x1 = x0 + 1
        if y1 == y0:
            y1 = y0 + 1
        y1 += (y1 - y0) * 0.08
        sx = lambda x: L + (self._t(x, self.xlog) - x0) / (x1 - x0) * pw
        sy = lambda y: T + ph - (self._t(y, self.ylog) - y0) / (y1 - y0) * ph
        o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
             f'viewBox="0 0 {self.w} {self.h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{self.w}" height="{self.h}" fill="white"/>',
             f'<text x="{self.w / 2}" y="22" text-anchor="middle" font-size="15">{esc(self.title)}</text>']
        # Axes and ticks.
        o.append(f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>')
        for v in ticks(x0, x1, self.xlog):
            px = sx(v)
            o.append(f'<line x1="{px:.1f}" y1="{T}" x2="{px:.1f}" y2="{T + ph}" stroke="#ddd"/>')
            o.append(f'<text x="{px:.1f}" y="{T + ph + 16}" text-anchor="middle">{fmt(v)}</text>')
        for v in ticks(y0, y1, self.ylog):
            py = sy(v)
            o.append(f'<line x1="{L}" y1="{py:.1f}" x2="{L + pw}" y2="{py:.1f}" stroke="#ddd"/>')
            o.append(f'<text x="{L - 6}" y="{py + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
        o.append(f'<text x="{L + pw / 2}" y="{self.h - 12}" text-anchor="middle">{esc(self.xlabel)}</text>')
        o.append(f'<text x="16" y="{T + ph / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 16 {T + ph / 2})">{esc(self.ylabel)}</text>')
        for y, label in self.hlines:
            py = sy(y)
            o.append(f'<line x1="{L}" y1="{py:.1f}" x2="{L + pw}" y2="{py:.1f}" stroke="#888" stroke-dasharray="2,3"/>')
            o.append(f'<text x="{L + pw - 4}" y="{py - 4:.1f}" text-anchor="end" fill="#666">{esc(label)}</text>')
        for i, (label, pts, color, dashed, markers) in enumerate(self.series):
            if pts:
                path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
                dash = ' stroke-dasharray="6,4"' if dashed else ""
                o.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>')
                if markers:
                    for x, y in pts:
                        o.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{color}"/>')
            if self.legend == "bottom-right":
                lx, ly = L + pw - 250, T + ph - 10 - 16 * (len(self.series) - 1 - i)
            else:
                lx, ly = L, T + 14 + 16 * i
            dash = ' stroke-dasharray="6,4"' if dashed else ""
            o.append(f'<line x1="{lx + 10}" y1="{ly - 4}" x2="{lx + 30}" y2="{ly - 4}" stroke="{color}" '
                     f'stroke-width="2"{dash}/>')
            o.append(f'<text x="{lx + 36}" y="{ly}">{esc(label)}</text>')
        o.append("</svg>")
        return "\n".join(o) + "\n"

    def write(self, name):
        with open(os.path.join(OUT, name), "w") as f:
            f.write(self.svg())


class Bars:
    """Grouped bars with their values written on top, as SVG."""

    def __init__(self, title, ylabel, width=640, height=380):
        self.title, self.ylabel, self.w, self.h = title, ylabel, width, height
        self.groups = []  # (group label, [(bar label, value)])

    def group(self, label, bars):
        self.groups.append((label, bars))

    def svg(self):
        L, R, T, B = 70, 20, 40, 60
        pw, ph = self.w - L - R, self.h - T - B
        top = max([v for _, bars in self.groups for _, v in bars] + [1]) * 1.15
        o = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.w}" height="{self.h}" '
             f'viewBox="0 0 {self.w} {self.h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{self.w}" height="{self.h}" fill="white"/>',
             f'<text x="{self.w / 2}" y="22" text-anchor="middle" font-size="15">{esc(self.title)}</text>',
             f'<rect x="{L}" y="{T}" width="{pw}" height="{ph}" fill="none" stroke="#444"/>']
        for v in ticks(0, top, False):
            py = T + ph - v / top * ph
            o.append(f'<line x1="{L}" y1="{py:.1f}" x2="{L + pw}" y2="{py:.1f}" stroke="#ddd"/>')
            o.append(f'<text x="{L - 6}" y="{py + 4:.1f}" text-anchor="end">{fmt(v)}</text>')
        o.append(f'<text x="16" y="{T + ph / 2}" text-anchor="middle" '
                 f'transform="rotate(-90 16 {T + ph / 2})">{esc(self.ylabel)}</text>')
        gw = pw / max(len(self.groups), 1)
        for g, (label, bars) in enumerate(self.groups):
            bw = gw * 0.7 / max(len(bars), 1)
            for b, (blabel, v) in enumerate(bars):
                x = L + g * gw + gw * 0.15 + b * bw
                hgt = v / top * ph
                color = COLORS[b % len(COLORS)]
                o.append(f'<rect x="{x:.1f}" y="{T + ph - hgt:.1f}" width="{bw * 0.9:.1f}" height="{hgt:.1f}" fill="{color}"/>')
                o.append(f'<text x="{x + bw * 0.45:.1f}" y="{T + ph - hgt - 4:.1f}" text-anchor="middle">{fmt(v)}</text>')
                o.append(f'<text x="{x + bw * 0.45:.1f}" y="{T + ph + 16}" text-anchor="middle">{esc(blabel)}</text>')
            o.append(f'<text x="{L + g * gw + gw / 2:.1f}" y="{T + ph + 36}" text-anchor="middle" '
                     f'font-weight="bold">{esc(label)}</text>')
        o.append("</svg>")
        return "\n".join(o) + "\n"

    def write(self, name):
        with open(os.path.join(OUT, name), "w") as f:
            f.write(self.svg())


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fmt(v):
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if v == int(v):
        return str(int(v))
    return f"{v:g}"


def ticks(lo, hi, log):
    if log:
        return [10 ** e for e in range(math.floor(lo), math.ceil(hi) + 1) if lo - 1e-9 <= e <= hi + 1e-9]
    span = hi - lo
    step = 10 ** math.floor(math.log10(span / 5)) if span > 0 else 1
    for m in (1, 2, 5, 10):
        if span / (step * m) <= 7:
            step *= m
            break
    start = math.ceil(lo / step) * step
    out, v = [], start
    while v <= hi + 1e-9:
        out.append(round(v, 10))
        v += step
    return out


# ---- tables ---------------------------------------------------------------------------------

def s(v, unit="s", digits=1):
    return "—" if v is None else f"{v:.{digits}f} {unit}".strip()


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def replace_block(doc, name, content):
    """`doc` with the generated block `name` replaced by `content`; also used by foca_compare.py."""
    pattern = re.compile(rf"(<!-- BEGIN {name} -->\n).*?(<!-- END {name} -->)", re.S)
    if not pattern.search(doc):
        print(f"warning: no block {name} in the document", file=sys.stderr)
        return doc
    return pattern.sub(lambda m: m.group(1) + content + "\n" + m.group(2), doc)


def model_fraction(n, fanout, loss, x):
    c_n = fanout * (1 - loss) * 0.5
    return 1 / (1 + (n + 1) * math.exp(-c_n * x))


def report(points, results):
    by = {}
    for kind, params, args in points:
        r = results.get(key(args))
        if r is not None:
            by.setdefault(kind, []).append((params, r))
    blocks = {}

    # (1) Detection.
    rows, plot = [], Plot("Crash detection (LAN preset, 1 node killed)", "packet loss (%)",
                          "seconds after the crash", width=640, height=380, legend="bottom-right")
    sizes = sorted({p["n"] for p, _ in by.get("detect", [])})
    for n, lg in [(n, lg) for n in sizes for lg in ("on", "off")]:
        losses = sorted({p["loss"] for p, _ in by["detect"] if p["n"] == n and p["lifeguard"] == lg})
        if not losses:
            continue
        means_all, means_first = [], []
        for loss in losses:
            rs = [r for p, r in by["detect"] if p["n"] == n and p["loss"] == loss and p["lifeguard"] == lg]
            first = [r["detect_first_s"] for r in rs if r["detect_first_s"] is not None]
            every = [r["detect_all_s"] for r in rs if r["detect_all_s"] is not None]
            mean = lambda v: sum(v) / len(v) if v else None
            means_all.append((loss * 100, mean(every) if len(every) == len(rs) else None))
            means_first.append((loss * 100, mean(first)))
            rows.append([f"{n:,}", f"{loss * 100:.0f} %", lg, len(rs), s(mean(first), digits=2),
                         s(mean(every), digits=2) if len(every) == len(rs) else "not all",
                         s(max(every), digits=2) if every else "—",
                         f"{sum(r['detected_by'] for r in rs)}/{sum(r['live_nodes'] for r in rs)}",
                         sum(r["false_failed"] for r in rs), round(mean([r["false_suspect"] for r in rs])),
                         f"{mean([r['bytes_per_node_per_s'] for r in rs]):.0f}"])
        if lg == "on":
            plot.line(f"N={n:,}: every live node (mean)", means_all)
            plot.line(f"N={n:,}: first node (mean)", means_first, dashed=True)
    plot.hline(12, "memberlist LAN suspicion minimum (12 s)")
    if rows:
        plot.write("detection.svg")
    blocks["DETECTION"] = table(["N", "loss", "Lifeguard", "seeds", "first detects (mean)", "all detect (mean)",
                                 "all detect (worst)", "detected by", "false Failed (total)",
                                 "false Suspect (mean)", "B/s per node"], rows)

    # (1b) Presets.
    rows = []
    groups = {}
    for p, r in by.get("preset", []):
        groups.setdefault((p["n"], p["preset"]), []).append(r)
    order = {"local": 0, "lan": 1, "wan": 2}
    for (n, preset) in sorted(groups, key=lambda k: (k[0], order[k[1]])):
        rs = groups[(n, preset)]
        every = [r["detect_all_s"] for r in rs if r["detect_all_s"] is not None]
        first = [r["detect_first_s"] for r in rs if r["detect_first_s"] is not None]
        rows.append([f"{n:,}", preset, len(rs), s(sum(first) / len(first) if first else None, digits=2),
                     s(sum(every) / len(every), digits=2) if len(every) == len(rs) else "not all",
                     s(max(every), digits=2) if every else "—", sum(r["false_failed"] for r in rs),
                     f"{sum(r['bytes_per_node_per_s'] for r in rs) / len(rs):.0f}",
                     f"{sum(r['msgs_per_node_per_s'] for r in rs) / len(rs):.2f}"])
    blocks["PRESETS"] = table(["N", "preset", "seeds", "first detects (mean)", "all detect (mean)",
                               "all detect (worst)", "false Failed", "B/s per node", "datagrams/s per node"], rows)

    # (2) Lifeguard.
    rows = []
    groups = {}
    for p, r in by.get("lifeguard", []):
        groups.setdefault((p["n"], p["mode"], p["lifeguard"]), []).append(r)
    for (n, mode, lg) in sorted(groups, key=lambda k: (k[0], k[1] != "lag", k[2] == "on")):
        rs = groups[(n, mode, lg)]
        det = [r["detect_all_s"] for r in rs if r["detect_all_s"] is not None]
        first = [r["detect_first_s"] for r in rs if r["detect_first_s"] is not None]
        rows.append([f"{n:,}", mode, lg, len(rs), f"{sum(r['window_s'] for r in rs):.0f} s",
                     sum(r["stalls"] for r in rs), sum(r["false_failed"] for r in rs),
                     sum(r["false_failed_members"] for r in rs), sum(r["false_suspect"] for r in rs),
                     sum(r["unavailable_failed"] for r in rs),
                     s(sum(first) / len(first) if first else None, digits=2),
                     s(sum(det) / len(det) if det else None, digits=2)])
    blocks["LIFEGUARD"] = table(["N", "stall", "Lifeguard", "runs", "simulated", "stalls", "false Failed",
                                 "(distinct nodes)", "false Suspect", "Failed about stalled nodes",
                                 "mean first-detect", "mean all-detect"], rows)
    bars = Bars("False Failed about healthy nodes, 1 % of nodes stalling (all runs added)", "false Failed events")
    for n, mode in sorted({(k[0], k[1]) for k in groups}, key=lambda k: (k[0], k[1] != "lag")):
        bars.group(f"N={n:,}, {mode}", [(f"Lifeguard {lg}", sum(r["false_failed"] for r in groups[(n, mode, lg)]))
                                         for lg in ("off", "on") if (n, mode, lg) in groups])
    if groups:
        bars.write("lifeguard.svg")

    # (3) Dissemination.
    rows, images = [], []
    for p, r in sorted(by.get("dissem", []), key=lambda pr: (pr[0]["n"], pr[0]["loss"])):
        d = r["dissemination"]
        g = d["gossip_interval_s"]
        rnd = lambda v: None if v is None else v / g
        rows.append([f"{p['n']:,}", f"{p['loss'] * 100:.0f} %", f"{d['reached']}/{d['targets']}",
                     f"{s(rnd(d['p50_s']), '')} / {d['model_p50_rounds']:.1f}",
                     f"{s(rnd(d['p99_s']), '')} / {d['model_p99_rounds']:.1f}",
                     f"{s(rnd(d['p9999_s']), '')} / {d['model_p9999_rounds']:.1f}",
                     s(d["p9999_s"], digits=2)])
        plot = Plot(f"One broadcast spreading through N={p['n']:,} nodes, {p['loss'] * 100:.0f} % loss",
                    "gossip rounds (200 ms) since it was sent", "fraction of nodes that have it")
        plot.line("simulated", d["curve"])
        last = max(x for x, _ in d["curve"]) if d["curve"] else 10
        xs = [i / 4 for i in range(int(max(last, d["model_p9999_rounds"]) * 4) + 2)]
        plot.line("epidemic model 1/(1+(N+1)e^(−cNx))",
                  [(x, model_fraction(d["targets"], 3, p["loss"], x)) for x in xs], dashed=True, markers=False)
        name = f"dissemination-{p['n']}-{int(p['loss'] * 100)}.svg"
        plot.write(name)
        images.append(f"![dissemination N={p['n']} loss {p['loss'] * 100:.0f} %](eval/{name})")
    blocks["DISSEMINATION"] = table(["N", "loss", "reached", "50 %: sim / model (rounds)",
                                     "99 %: sim / model", "99.99 %: sim / model", "99.99 % in seconds"], rows)
    blocks["DISSEMINATION"] += "\n\n" + "\n".join(images)

    # (4) Traffic.
    rows = []
    plot = Plot("Steady-state traffic per node (LAN preset, no loss)", "cluster size N", "bytes per node per second",
                xlog=True)
    series = {}
    for p, r in sorted(by.get("traffic", []), key=lambda pr: (pr[0]["n"], pr[0]["encrypt"])):
        rows.append([f"{p['n']:,}", "yes" if p["encrypt"] else "no", f"{r['window_s']:.0f} s",
                     f"{r['bytes_per_node_per_s']:.0f}", f"{r['msgs_per_node_per_s']:.2f}",
                     f"{r['bytes_per_node_per_s'] / max(r['msgs_per_node_per_s'], 1e-9):.0f}", r["max_packet_bytes"],
                     f"{r['speedup']:.1f}×"])
        series.setdefault(p["encrypt"], []).append((p["n"], r["bytes_per_node_per_s"]))
    for enc, pts in sorted(series.items()):
        plot.line("encrypted" if enc else "plaintext", pts)
    plot.hline(1000, "goal at N=1000: 1 KB/s")
    if series:
        plot.write("traffic.svg")
    blocks["TRAFFIC"] = table(["N", "encrypted", "window", "B/s per node", "datagrams/s per node",
                               "mean datagram (B)", "largest datagram (B)", "sim speed"], rows)

    # (5) Partition and churn.
    rows = []
    for p, r in sorted(by.get("partition", []), key=lambda pr: pr[0]["n"]):
        rows.append([f"{p['n']:,}", "50/50 partition for 60 s", s(r.get("heal_all_live_s")), s(r["heal_converge_s"]),
                     r["partition_failed"], r["false_failed"], "yes" if r["converged"] else "no"])
    blocks["PARTITION"] = table(["N", "fault", "all live to all after the heal", "one view after the heal", "Failed during the partition",
                                 "false Failed", "converged at end"], rows)
    rows = []
    for p, r in sorted(by.get("churn", []), key=lambda pr: pr[0]["n"]):
        rows.append([f"{p['n']:,}", f"{r['window_s']:.0f} s", r["restarts"], r["unavailable_failed"], r["false_failed"],
                     r["false_suspect"], f"{r['bytes_per_node_per_s']:.0f}", "yes" if r["converged"] else "no",
                     s(r["tail_converge_s"])])
    blocks["CHURN"] = table(["N", "window", "restarts", "Failed about restarting nodes", "false Failed",
                             "false Suspect", "B/s per node", "converged at window end", "one view after"], rows)
    return blocks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-nodes", type=int, default=10000,
                    help="skip points with more nodes (a 10000-node run needs up to 15 GB of memory and up to an hour)")
    ap.add_argument("--jobs", type=int, default=1, help="simulations run in parallel")
    ap.add_argument("--rerun", action="store_true", help="ignore cached results")
    ap.add_argument("--no-run", action="store_true", help="only rebuild plots and tables from the cache")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build first")
    opts = ap.parse_args()

    points = all_points(opts.max_nodes)
    results = {} if opts.rerun else load_results()
    if not opts.no_run:
        if not opts.no_build:
            subprocess.run(["cargo", "build", "--release", "-q", "-p", "rumor-node"], cwd=ROOT, check=True)
        todo = list({key(args): args for _, _, args in points if key(args) not in results}.values())
        # Largest first, so the long runs overlap the short ones.
        todo.sort(key=lambda a: -int(a[a.index("--nodes") + 1]))
        print(f"{len(todo)} simulations to run ({len(points) - len(todo)} cached)", file=sys.stderr)
        with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
            futures = {pool.submit(simulate, args): args for args in todo}
            failed = 0
            for fut in concurrent.futures.as_completed(futures):
                try:
                    results[key(futures[fut])] = fut.result()
                except (RuntimeError, json.JSONDecodeError) as e:
                    failed += 1
                    print(f"error: {e}", file=sys.stderr)
                    continue
                save_results(results)
        if failed:
            print(f"{failed} simulations failed; their points are missing from the tables", file=sys.stderr)
    save_results(results)
    os.makedirs(OUT, exist_ok=True)
    blocks = report(points, results)
    with open(DOC) as f:
        doc = f.read()
    for name, content in blocks.items():
        doc = replace_block(doc, name, content)
    with open(DOC, "w") as f:
        f.write(doc)
    print(f"wrote {DOC} and the plots in {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
