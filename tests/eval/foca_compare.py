#!/usr/bin/env python3
"""Rumor against foca (crates.io) on one scenario grid: runs `foca-sim` (bench/foca-compare)
and `rumor sim --json` for every point, then writes the tables of docs/eval/foca-comparison.md.

    python3 tests/eval/foca_compare.py               # run what is missing, then tabulate
    python3 tests/eval/foca_compare.py --jobs 2      # simulations in parallel
    python3 tests/eval/foca_compare.py --no-run      # only rebuild the tables from the cache
    python3 tests/eval/foca_compare.py --max-nodes 500 --seeds 1   # a quick subset
    python3 tests/eval/foca_compare.py --rerun       # forget cached results and run everything

The grid: N in {100, 500, 1000} x loss in {0, 10, 20 %} x seeds {1, 2, 3}, one crash 20 s into a
90 s window after 30 s of settling with loss on, every cluster preseeded (`--bootstrap`), for
three implementations: foca 2 with `Config::new_lan(N)`; Rumor with its defaults (LAN preset,
Lifeguard on); Rumor with foca's fixed suspicion timeout (`--suspicion-timeout`, dynamic
suspicion off), so that detection times compare like for like.

Every report is cached in docs/eval/foca-results.json, keyed by its exact command line (binary
name and flags), so a re-run only simulates points that are new; the tables are always rebuilt
from that file. Reports are deterministic by seed (except their wall-clock fields). Pass
--rerun after changing either protocol or the harness.
"""

import argparse
import concurrent.futures
import json
import math
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from evaluate import load_results, replace_block, save_results, table  # noqa: E402  (the cache and tables of evaluate.py)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "docs", "eval")
RESULTS = os.environ.get("FOCA_COMPARE_RESULTS", os.path.join(OUT, "foca-results.json"))
DOC = os.path.join(OUT, "foca-comparison.md")
BINARIES = {
    "rumor": os.path.join(ROOT, "target", "release", "rumor"),
    "foca-sim": os.path.join(ROOT, "target", "release", "foca-sim"),
}

SIZES = [100, 500, 1000]
LOSSES = [0.0, 0.1, 0.2]
SEEDS = [1, 2, 3]
SCENARIO = ["--kill", 1, "--settle", 30, "--duration", 90, "--kill-at", 20]

IMPLS = ["foca", "rumor", "rumor-fixed"]
LABELS = {
    "foca": "foca 2 `new_lan`",
    "rumor": "Rumor (Lifeguard)",
    "rumor-fixed": "Rumor, foca's timeout",
}


def foca_timeout(n):
    """foca's `Config::new_lan(n).suspect_to_down_after`: 4 x max(1, log10 n) x 1 s."""
    return 4.0 * max(1.0, math.log10(n)) * 1.0


def rumor_bounds(n):
    """Rumor's LAN preset with Lifeguard: the suspicion timeout runs from 6x the minimum down
    to the minimum, 2 x max(1, log10 n) x 1 s, as confirmations arrive."""
    lo = 2.0 * max(1.0, math.log10(n))
    return lo, 6 * lo


def command(impl, n, loss, seed):
    """The command line of one point (the cache key is this, joined by spaces)."""
    common = ["--nodes", n, "--loss", loss, *SCENARIO, "--seed", seed]
    if impl == "foca":
        return ["foca-sim", "--config", "lan", *common]
    args = ["rumor", "sim", "--bootstrap", *common]
    if impl == "rumor-fixed":
        args += ["--suspicion-timeout", f"{foca_timeout(n):.3f}"]
    return args


def points(sizes, seeds):
    return [(impl, n, loss, seed, command(impl, n, loss, seed))
            for n in sizes for loss in LOSSES for seed in seeds for impl in IMPLS]


def key(args):
    return " ".join(str(a) for a in args)


def simulate(args):
    cmd = [BINARIES[args[0]], *[str(a) for a in args[1:]]]
    if args[0] == "rumor":
        cmd.append("--json")
    started = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{key(args)} failed: {out.stderr.strip()}")
    print(f"  {time.time() - started:7.1f} s  {key(args)}", file=sys.stderr, flush=True)
    return json.loads(out.stdout)


# ---- tables ----------------------------------------------------------------------------------

def mean(xs):
    return sum(xs) / len(xs) if xs else None


def seconds(v):
    return "—" if v is None else f"{v:.2f} s"


def spread(xs):
    """Mean with min–max, in seconds."""
    if not xs:
        return "—"
    if len(xs) == 1:
        return f"{xs[0]:.2f} s"
    return f"{mean(xs):.2f} s ({min(xs):.1f}–{max(xs):.1f})"


def number(v, digits=0):
    if v is None:
        return "—"
    return f"{v:,.{digits}f}"


def runs_of(results, impl, n, loss, seeds):
    return [r for r in (results.get(key(command(impl, n, loss, s))) for s in seeds) if r is not None]


def grid_table(results, sizes, seeds):
    """Detection and false positives: one row per (N, loss, implementation)."""
    header = ["N", "loss", "implementation", "runs", "first detects", "all detect: mean (min–max)",
              "live nodes that detected", "false down (total)", "falsely downed nodes (mean)",
              "false suspect (mean)", "rejoins (mean)"]
    rows = []
    for n in sizes:
        for loss in LOSSES:
            for impl in IMPLS:
                got = runs_of(results, impl, n, loss, seeds)
                head = [f"{n:,}", f"{loss * 100:.0f} %", LABELS[impl]]
                if not got:
                    rows.append(head + [f"0/{len(seeds)}", "not run", "not run"] + ["—"] * 5)
                    continue
                all_s = [r["detect_all_s"] for r in got if r["detect_all_s"] is not None]
                never = len(got) - len(all_s)
                all_cell = spread(all_s)
                if never:
                    all_cell = f"{all_cell}; **{never} of {len(got)} runs: not every live node**"
                first = mean([r["detect_first_s"] for r in got if r["detect_first_s"] is not None])
                rejoins = [r["rejoins"] for r in got if "rejoins" in r]
                rows.append(head + [
                    f"{len(got)}/{len(seeds)}" if len(got) < len(seeds) else str(len(got)),
                    seconds(first), all_cell,
                    f"{sum(r['detected_by'] for r in got)}/{sum(r['live_nodes'] for r in got)}",
                    number(sum(r["false_failed"] for r in got)),
                    number(mean([r["false_failed_members"] for r in got]), 1),
                    number(mean([r["false_suspect"] for r in got])),
                    number(mean(rejoins), 1) if rejoins else "—",
                ])
    return table(header, rows)


def traffic_table(results, sizes, seeds):
    """Traffic: one row per (N, loss), the implementations side by side."""
    header = ["N", "loss"]
    for impl in IMPLS:
        header += [f"{LABELS[impl]}: B/s per node", "datagrams/s", "largest (B)"]
    rows = []
    for n in sizes:
        for loss in LOSSES:
            row = [f"{n:,}", f"{loss * 100:.0f} %"]
            for impl in IMPLS:
                got = runs_of(results, impl, n, loss, seeds)
                if not got:
                    row += ["not run", "—", "—"]
                    continue
                row += [number(mean([r["bytes_per_node_per_s"] for r in got])),
                        number(mean([r["msgs_per_node_per_s"] for r in got]), 2),
                        number(max(r["max_packet_bytes"] for r in got))]
            rows.append(row)
    return table(header, rows)


def constants_table(results, sizes):
    header = ["N", "foca `suspect_to_down_after`", "Rumor's suspicion timeout (Lifeguard: max → min)",
              "Rumor with `--suspicion-timeout` (fixed)", "foca `max_transmissions`",
              "Rumor retransmissions per update"]
    rows = []
    for n in sizes:
        lo, hi = rumor_bounds(n)
        foca = next((r for k, r in results.items() if k.startswith("foca-sim ") and r["nodes"] == n), None)
        fixed = next((r for k, r in results.items()
                      if k.startswith("rumor sim ") and r["nodes"] == n and "suspicion_timeout_s" in r), None)
        stdn = foca["config"]["suspect_to_down_after_s"] if foca else foca_timeout(n)
        if foca and abs(stdn - foca_timeout(n)) > 1e-3:
            print(f"warning: foca's timeout at N={n} is {stdn}, not {foca_timeout(n)}", file=sys.stderr)
        max_tx = foca["config"]["max_transmissions"] if foca else math.floor(4 * math.log10(n + 1))
        rumor_tx = 4 * max(1, math.ceil(math.log10(n + 1)))
        used = fixed["suspicion_timeout_s"] if fixed else foca_timeout(n)
        rows.append([f"{n:,}", f"{stdn:.3f} s", f"{hi:.2f} s → {lo:.2f} s", f"{used:.3f} s", max_tx, rumor_tx])
    return table(header, rows)


def missing_note(results, sizes, seeds):
    missing = [key(args) for impl, n, loss, seed, args in points(sizes, seeds) if key(args) not in results]
    if not missing:
        return f"Every point of the grid ran ({len(points(sizes, seeds))} runs)."
    lines = [f"**{len(missing)} of {len(points(sizes, seeds))} runs are missing** (the table's `runs` column "
             "says which cells have fewer than three seeds):", ""]
    lines += [f"- `{m}`" for m in missing]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--max-nodes", type=int, default=1000, help="skip points with more nodes")
    ap.add_argument("--seeds", type=int, nargs="+", default=SEEDS, help="seeds to run (default 1 2 3)")
    ap.add_argument("--jobs", type=int, default=1, help="simulations run in parallel")
    ap.add_argument("--rerun", action="store_true", help="ignore cached results")
    ap.add_argument("--no-run", action="store_true", help="only rebuild the tables from the cache")
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build first")
    opts = ap.parse_args()

    sizes = [n for n in SIZES if n <= opts.max_nodes]
    results = {} if opts.rerun else load_results(RESULTS)
    if not opts.no_run:
        if not opts.no_build:
            subprocess.run(["cargo", "build", "--release", "-q", "-p", "rumor-node", "-p", "foca-compare"],
                           cwd=ROOT, check=True)
        todo = [args for _, _, _, _, args in points(sizes, opts.seeds) if key(args) not in results]
        # What the table needs most first: every seed of N <= 500 and seed 1 of N = 1000, then
        # the other seeds of N = 1000; largest first within each, so long runs overlap short ones.
        nodes = lambda a: int(a[a.index("--nodes") + 1])
        seed = lambda a: int(a[a.index("--seed") + 1])
        todo.sort(key=lambda a: (nodes(a) >= 1000 and seed(a) != 1, -nodes(a), a[0] != "foca-sim"))
        print(f"{len(todo)} simulations to run ({len(points(sizes, opts.seeds)) - len(todo)} cached)", file=sys.stderr)
        failed = 0
        with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
            futures = {pool.submit(simulate, args): args for args in todo}
            for fut in concurrent.futures.as_completed(futures):
                try:
                    results[key(futures[fut])] = fut.result()
                except (RuntimeError, json.JSONDecodeError) as e:
                    failed += 1
                    print(f"error: {e}", file=sys.stderr)
                    continue
                save_results(results, RESULTS)
        if failed:
            print(f"{failed} simulations failed; their cells are marked in the tables", file=sys.stderr)
    save_results(results, RESULTS)
    try:
        with open(DOC) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = SKELETON
    blocks = {
        "FOCA-CONSTANTS": constants_table(results, SIZES),
        "FOCA-GRID": grid_table(results, SIZES, SEEDS),
        "FOCA-TRAFFIC": traffic_table(results, SIZES, SEEDS),
        "FOCA-MISSING": missing_note(results, SIZES, SEEDS),
    }
    for name, content in blocks.items():
        doc = replace_block(doc, name, content)
    with open(DOC, "w") as f:
        f.write(doc)
    print(f"wrote {DOC}", file=sys.stderr)


if __name__ == "__main__":
    main()
