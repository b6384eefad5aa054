// Figures of the browser visualizer (a benchmark, not a test): prints markdown tables and writes
// ARTIFACTS/bench.json.
//
//   1. In-browser simulator speed: headless Chromium, a same-origin document served by a real
//      `rumor agent` (/ui/pkg/rumor_wasm.d.ts), dynamic import('/ui/pkg/rumor_wasm.js') — the
//      module compiled into the binary. `new Cluster(N, 1, 'lan')` (timed on its own: the
//      build), then the fixed scenario, timed with performance.now(): step 10 s of virtual time
//      quiet, kill node 1, step 30 s more. Virtual seconds per real second = 40 / stepped time.
//      A fresh page per repetition.
//   2. The native equivalent: `rumor sim --nodes N --seed 1 --preset lan --bootstrap --settle 10
//      --duration 30 --kill 1 --kill-at 0 --json` (formed cluster, 10 s quiet, one random node
//      killed, 30 s more: 40 s simulated, same default links 0.2–2 ms). Its own `speedup` is
//      simulated_s / wall_s with the bootstrap inside wall_s (compared with the page's whole
//      run, build included); the stepping-only estimate is 40 s over the median wall_s of these
//      runs minus the median wall_s of build-only runs (`--settle 0 --duration 0.001`, same N).
//   3. The page's frame rate while it simulates 1000 nodes (/ui/?mode=simulate&nodes=1000):
//      requestAnimationFrame callbacks over 10 s of wall time, at the page's default #speed and
//      at #speed's maximum, with the virtual time the page advanced meanwhile.
//   4. The .wasm module's size: raw and gzip -9 (bindings-wasm/ui/pkg/rumor_wasm_bg.wasm).
//
// Environment: RUMOR_BENCH_SIZES (default "100:3,1000:3,2000:2" — N:repetitions), and lib.mjs's.

import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import {
  ARTIFACTS, Agent, ROOT, RUMOR, cleanupAll, closeBrowser, freePort, launchBrowser, mkdirp, say, scaled,
  waitReady, watchConsole, withTimeout,
} from "./lib.mjs";

const SIZES = (process.env.RUMOR_BENCH_SIZES || "100:3,1000:3,2000:2").split(",").map((s) => {
  const [n, reps] = s.split(":").map(Number);
  return { n, reps: reps || 1 };
});
const WASM = path.join(ROOT, "bindings-wasm/ui/pkg/rumor_wasm_bg.wasm");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 0) => (x === null || x === undefined || Number.isNaN(x) ? "–" : x.toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }));
/** "median (min–max)" of xs. */
const spread = (xs, d = 0) => (xs.length ? `${fmt(median(xs), d)} (${fmt(Math.min(...xs), d)}–${fmt(Math.max(...xs), d)})` : "–");

// ---------------------------------------------------------------------------------------------

/** The fixed scenario in the page; returns times in ms and a sanity check of the outcome. */
async function wasmScenario(n) {
  const mod = await import("/ui/pkg/rumor_wasm.js");
  await mod.default();
  const t0 = performance.now();
  const c = new mod.Cluster(n, 1, "lan");
  const t1 = performance.now();
  c.step(10000);
  c.kill(1);
  c.step(30000);
  const t2 = performance.now();
  const virtualMs = c.now();
  const m = c.matrix(), st = c.states();
  let live = 0, seeFailed = 0;
  for (let i = 0; i < n; i++) {
    if (i === 1 || st[i] !== 1) continue;
    live++;
    if (m[i * n + 1] === 3) seeFailed++;
  }
  const net = c.netStats();
  c.free();
  return { buildMs: t1 - t0, stepMs: t2 - t1, virtualMs, live, seeFailed, packets: net.sent };
}

async function browserSpeed(browser, agent, results) {
  for (const { n, reps } of SIZES) {
    for (let r = 0; r < reps; r++) {
      const page = await browser.newPage();
      const errs = [];
      watchConsole(page, [], errs);
      await page.goto(`http://${agent.http}/ui/pkg/rumor_wasm.d.ts`, { timeout: scaled(20000) });
      const res = await withTimeout(`wasm scenario N=${n}`, scaled(600000), () => page.evaluate(wasmScenario, n));
      await page.close();
      if (errs.length) throw new Error(`page errors during the wasm scenario: ${errs.join("; ")}`);
      res.vsps = 40000 / res.stepMs;
      say(`wasm N=${n} #${r + 1}: build ${fmt(res.buildMs)} ms, 40 s virtual in ${fmt(res.stepMs)} ms = ${fmt(res.vsps, 1)} virtual s/s; ` +
        `${res.seeFailed}/${res.live} live nodes see node 1 failed; ${res.packets} packets`);
      results.push({ n, rep: r + 1, ...res });
    }
  }
}

function rumorSim(args) {
  const r = spawnSync(RUMOR, ["sim", ...args, "--json"], { encoding: "utf8", timeout: scaled(900000), maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`rumor sim ${args.join(" ")} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout);
}

function nativeSpeed(results) {
  for (const { n, reps } of SIZES) {
    // The bootstrap dominates the wall time and varies by more than the stepping takes, and
    // small runs take milliseconds (wall_s has 1 ms resolution): repeat more than in the page.
    const nativeReps = n <= 200 ? Math.max(reps, 7) : Math.max(reps, 5);
    for (let r = 0; r < nativeReps; r++) {
      const base = ["--nodes", String(n), "--seed", "1", "--preset", "lan", "--bootstrap"];
      const full = rumorSim([...base, "--settle", "10", "--duration", "30", "--kill", "1", "--kill-at", "0"]);
      const build = rumorSim([...base, "--settle", "0", "--duration", "0.001"]);
      const res = {
        n, rep: r + 1, simulatedS: full.simulated_s, wallS: full.wall_s, speedup: full.speedup, buildWallS: build.wall_s,
        detectedBy: full.detected_by, liveNodes: full.live_nodes, detectAllS: full.detect_all_s,
      };
      say(`native N=${n} #${r + 1}: ${full.simulated_s} s simulated in ${full.wall_s} s wall (speedup ${full.speedup}, bootstrap included); ` +
        `build-only run ${build.wall_s} s; node killed detected by ${full.detected_by}/${full.live_nodes}`);
      results.push(res);
    }
  }
}

/** rAF callbacks over `ms` of wall time, their intervals, and the virtual time advanced. */
async function countFrames(ms) {
  const v0 = window.rumorUI.sim.now();
  return await new Promise((resolve) => {
    const times = [];
    const t0 = performance.now();
    const tick = (t) => {
      times.push(t);
      if (performance.now() - t0 < ms) requestAnimationFrame(tick);
      else {
        const wall = performance.now() - t0;
        const gaps = times.slice(1).map((x, i) => x - times[i]).sort((a, b) => a - b);
        const q = (p) => (gaps.length ? gaps[Math.min(gaps.length - 1, Math.floor(p * gaps.length))] : null);
        resolve({
          frames: times.length, wallMs: wall, fps: (times.length / wall) * 1000,
          gapMedianMs: q(0.5), gapP95Ms: q(0.95), gapMaxMs: gaps.length ? gaps[gaps.length - 1] : null,
          virtualMs: window.rumorUI.sim.now() - v0,
        });
      }
    };
    requestAnimationFrame(tick);
  });
}

async function frameRate(browser, agent) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const log = [], errs = [];
  watchConsole(page, log, errs);
  try {
    await page.goto(`http://${agent.http}/ui/?mode=simulate&nodes=1000`, { timeout: scaled(20000) });
    try {
      await waitReady(page, scaled(60000));
    } catch (e) {
      return { skipped: `the page is not ready: ${e.message}` };
    }
    const out = { size: await page.evaluate(() => window.rumorUI.sim.size), runs: [] };
    const speedOf = () => page.$eval("#speed", (el) => ({
      value: Number(el.value), min: Number(el.min), max: Number(el.max),
      label: document.querySelector("#speed-out")?.textContent.trim() ?? null,
    }));
    let speed;
    try {
      speed = await speedOf();
    } catch (e) {
      speed = { value: null, error: `#speed: ${e.message.split("\n")[0]}` };
    }
    const r1 = await page.evaluate(countFrames, 10000);
    out.runs.push({ speed: speed.value, speedLabel: speed.label, speedRange: [speed.min, speed.max], ...r1 });
    say(`frames at N=${out.size}, #speed=${speed.value} (${speed.label}): ${r1.frames} in ${fmt(r1.wallMs)} ms = ${fmt(r1.fps, 1)} fps; virtual ${fmt(r1.virtualMs / 1000, 1)} s`);
    if (speed.value !== null && speed.max !== speed.value) {
      await page.$eval("#speed", (el) => {
        el.value = el.max;
        el.dispatchEvent(new Event("input", { bubbles: true }));
        el.dispatchEvent(new Event("change", { bubbles: true }));
      });
      const s2 = await speedOf();
      const r2 = await page.evaluate(countFrames, 10000);
      out.runs.push({ speed: s2.value, speedLabel: s2.label, speedRange: [s2.min, s2.max], ...r2 });
      say(`frames at N=${out.size}, #speed=${s2.value} (${s2.label}): ${r2.frames} in ${fmt(r2.wallMs)} ms = ${fmt(r2.fps, 1)} fps; virtual ${fmt(r2.virtualMs / 1000, 1)} s`);
    }
    if (errs.length) out.pageErrors = errs;
    return out;
  } finally {
    fs.writeFileSync(path.join(ARTIFACTS, "bench-page-console.log"), log.join("\n") + "\n");
    await page.close();
  }
}

function wasmSize() {
  const raw = fs.readFileSync(WASM);
  const g = spawnSync("gzip", ["-9", "-c", WASM], { maxBuffer: 64 << 20 });
  const gz = g.status === 0 ? g.stdout.length : zlib.gzipSync(raw, { level: 9 }).length;
  return { file: path.relative(ROOT, WASM), raw: raw.length, gzip9: gz, gzipTool: g.status === 0 ? "gzip -9" : "zlib level 9" };
}

// ---------------------------------------------------------------------------------------------

async function main() {
  if (!fs.existsSync(RUMOR)) throw new Error(`no rumor binary at ${RUMOR} (cargo build -p rumor-node --release --locked)`);
  mkdirp(ARTIFACTS);
  const logDir = mkdirp(path.join(ARTIFACTS, "logs", "bench"));
  const env = {
    date: new Date().toISOString(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadavgAtStart: os.loadavg(),
    rumor: RUMOR, chromium: spawnSync("/usr/bin/chromium", ["--version"], { encoding: "utf8" }).stdout?.trim(),
  };
  say(`machine: ${env.cpus} × ${env.cpuModel}; load average ${env.loadavgAtStart.map((x) => x.toFixed(2)).join(" ")}; ${env.chromium}`);

  const size = wasmSize();
  say(`wasm: ${size.raw} bytes, ${size.gzip9} gzip -9`);

  const nativeRuns = [];
  nativeSpeed(nativeRuns);

  const agent = new Agent({ name: "bench-1", port: await freePort(), logDir });
  let browser = null;
  const wasmRuns = [];
  let frames;
  try {
    await agent.start();
    browser = await launchBrowser();
    await browserSpeed(browser, agent, wasmRuns);
    frames = await frameRate(browser, agent);
    if (frames.skipped) say(`SKIPPED: frame rate — ${frames.skipped}`);
  } finally {
    await closeBrowser(browser);
    await agent.kill();
  }
  env.loadavgAtEnd = os.loadavg();

  // ---- report ----
  const lines = [];
  lines.push(`### Simulator speed: the fixed scenario (formed cluster, lan preset, 10 s quiet, kill one node, 30 s more = 40 s virtual)`);
  lines.push("");
  lines.push("| N | runs wasm / native | wasm build (ms) | native build (ms) | wasm stepping: virtual s / real s | native stepping: virtual s / real s (est.) | wasm whole run incl. build: virtual s / real s | native `speedup` (whole run incl. build) |");
  lines.push("|---:|---:|---:|---:|---:|---:|---:|---:|");
  const summary = [];
  for (const { n } of SIZES) {
    const w = wasmRuns.filter((r) => r.n === n), nt = nativeRuns.filter((r) => r.n === n);
    const wv = w.map((r) => r.vsps);
    const wWhole = w.map((r) => 40000 / (r.buildMs + r.stepMs));
    // Native stepping: the median whole run minus the median build-only run.
    const stepS = nt.length ? median(nt.map((r) => r.wallS)) - median(nt.map((r) => r.buildWallS)) : null;
    const nStep = stepS && stepS > 0 ? 40 / stepS : null;
    summary.push({
      n,
      wasm: { buildMs: w.map((r) => r.buildMs), steppingVsps: wv, wholeVsps: wWhole },
      native: { buildMs: nt.map((r) => r.buildWallS * 1000), wholeWallS: nt.map((r) => r.wallS), speedup: nt.map((r) => r.speedup), steppingVspsEstimate: nStep },
    });
    lines.push(`| ${n} | ${w.length} / ${nt.length} | ${spread(w.map((r) => r.buildMs))} | ${spread(nt.map((r) => r.buildWallS * 1000))} | ${spread(wv, 1)} | ${nStep === null ? "–" : fmt(nStep, 0)} | ${spread(wWhole, 1)} | ${spread(nt.map((r) => r.speedup), 1)} |`);
  }
  lines.push("");
  lines.push("median (min–max). wasm: headless Chromium, the module the agent serves at /ui/pkg/, `new Cluster(N, 1, 'lan')` (build), then `step(10000); kill(1); step(30000)` (stepping), timed with performance.now(), a fresh page per run. native: `rumor sim --nodes N --seed 1 --preset lan --bootstrap --settle 10 --duration 30 --kill 1 --kill-at 0 --json` (the same formed cluster, links and timings; kills one random node and also tracks its detection); its `speedup` = simulated_s / wall_s with the bootstrap included, comparable with the wasm whole-run column; native build = wall_s of `--settle 0 --duration 0.001`; native stepping (est.) = 40 s / (median whole wall_s − median build wall_s), a difference of two noisy numbers. Wall-clock on a shared 2-core machine.");
  lines.push("");
  lines.push("### Page frame rate while simulating");
  lines.push("");
  if (!frames || frames.skipped) {
    lines.push(`SKIPPED: ${frames?.skipped ?? "not measured"}`);
  } else {
    lines.push("| N | #speed value (range): label | rAF callbacks in 10 s | fps | frame gap median / p95 / max (ms) | virtual s advanced in those 10 s |");
    lines.push("|---:|---|---:|---:|---|---:|");
    for (const r of frames.runs) {
      lines.push(`| ${frames.size} | ${r.speed} (${r.speedRange.join("–")}): ${r.speedLabel ?? "?"} | ${r.frames} | ${fmt(r.fps, 1)} | ${fmt(r.gapMedianMs, 1)} / ${fmt(r.gapP95Ms, 1)} / ${fmt(r.gapMaxMs, 1)} | ${fmt(r.virtualMs / 1000, 1)} |`);
    }
    lines.push("");
    lines.push("`/ui/?mode=simulate&nodes=1000`, first at the page's default #speed, then with #speed set to its maximum; requestAnimationFrame counted in the page over 10 s of wall time.");
    if (frames.pageErrors) lines.push(`\npage errors meanwhile: ${frames.pageErrors.join("; ")}`);
  }
  lines.push("");
  lines.push("### Module size");
  lines.push("");
  lines.push("| file | raw (bytes) | gzip -9 (bytes) |");
  lines.push("|---|---:|---:|");
  lines.push(`| ${size.file} | ${fmt(size.raw)} | ${fmt(size.gzip9)}${size.gzipTool !== "gzip -9" ? ` (${size.gzipTool})` : ""} |`);
  lines.push("");
  lines.push(`Machine: ${env.cpus} × ${env.cpuModel}, load average ${env.loadavgAtStart.map((x) => x.toFixed(2)).join(" ")} at start, ${env.loadavgAtEnd.map((x) => x.toFixed(2)).join(" ")} at end; ${env.chromium}.`);
  const md = lines.join("\n");
  console.log("\n" + md);

  const out = path.join(ARTIFACTS, "bench.json");
  fs.writeFileSync(out, JSON.stringify({ env, sizes: SIZES, summary, wasmRuns, nativeRuns, frames, wasmSize: size }, null, 2) + "\n");
  fs.writeFileSync(path.join(ARTIFACTS, "bench.md"), md + "\n");
  console.log(`\nartifacts:\n  ${out}\n  ${path.join(ARTIFACTS, "bench.md")}\n  ${path.join(ARTIFACTS, "bench-page-console.log")}`);
}

main()
  .then(() => cleanupAll())
  .catch(async (e) => {
    console.log(`FAIL bench: ${e.stack || e.message}`);
    await cleanupAll();
    process.exit(1);
  });
