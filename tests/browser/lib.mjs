// Shared harness of e2e.mjs and bench.mjs: real `rumor agent` processes on 127.0.0.1, Debian's
// headless Chromium through playwright-core, deadlines, artifacts, and cleanup of every process
// started here — on success, on failure, on a timeout and on SIGINT/SIGTERM.
//
// Environment:
//   RUMOR_BIN                 the `rumor` binary (default: <target>/release/rumor)
//   CARGO_TARGET_DIR          the target directory (default: <repo>/target)
//   RUMOR_BROWSER_ARTIFACTS   where screenshots, console logs and agent logs go
//                             (default: <target>/browser-artifacts)
//   RUMOR_BROWSER_UI_DIR      serve the page from this directory (`rumor agent --ui-dir`) instead
//                             of the copy compiled into the binary (for editing the page)
//   RUMOR_TEST_TIMEOUT_SCALE  multiplies every deadline (as in the Rust tests), e.g. 3
//   CHROMIUM                  the browser (default: /usr/bin/chromium)

import { spawn, spawnSync } from "node:child_process";
import dgram from "node:dgram";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const TARGET = path.resolve(ROOT, process.env.CARGO_TARGET_DIR || "target");
export const RUMOR = process.env.RUMOR_BIN || path.join(TARGET, "release", "rumor");
export const ARTIFACTS = process.env.RUMOR_BROWSER_ARTIFACTS || path.join(TARGET, "browser-artifacts");
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const UI_DIR = process.env.RUMOR_BROWSER_UI_DIR ? path.resolve(process.env.RUMOR_BROWSER_UI_DIR) : null;

const SCALE = Math.max(0.1, Number(process.env.RUMOR_TEST_TIMEOUT_SCALE) || 1);
/** A deadline in ms, scaled by RUMOR_TEST_TIMEOUT_SCALE. */
export const scaled = (ms) => Math.round(ms * SCALE);

const T0 = Date.now();
/** A log line with the seconds since start. */
export function say(...args) {
  console.log(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(6)} s]`, ...args);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export function mkdirp(dir) {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------------------------
// Cleanup: every child process and browser started here is registered and torn down on exit.

const children = new Set(); // ChildProcess
const browsers = new Set(); // playwright Browser

function killAllNow() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        c.kill("SIGKILL");
      } catch {}
    }
  }
  children.clear();
}

/** Registers a child process started elsewhere, so that it is killed with the others. */
export function track(child) {
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/** The environment for `rumor` processes: info logs, no colour, no RUMOR_* from ours. */
export function rumorEnv() {
  return agentEnv();
}

/** Closes every browser and kills every child still running. */
export async function cleanupAll() {
  for (const b of browsers) {
    try {
      await Promise.race([b.close(), sleep(5000)]);
    } catch {}
  }
  browsers.clear();
  killAllNow();
}

process.on("exit", killAllNow);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    console.error(`received ${sig}: stopping every process started here`);
    cleanupAll().finally(() => process.exit(130));
  });
}

/** Runs `fn` and fails with a clear message if it takes longer than `ms`. */
export async function withTimeout(what, ms, fn) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${(ms / 1000).toFixed(0)} s: ${what}`)), ms);
  });
  try {
    return await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------
// Ports

const handedOut = new Set();

function canBind(kind, port) {
  return new Promise((resolve) => {
    if (kind === "udp") {
      const s = dgram.createSocket("udp4");
      s.once("error", () => resolve(false));
      s.bind(port, "127.0.0.1", () => s.close(() => resolve(true)));
    } else {
      const s = net.createServer();
      s.once("error", () => resolve(false));
      s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
    }
  });
}

/** A loopback port free for both UDP (gossip) and TCP (HTTP) now, not handed out before. */
export async function freePort() {
  for (let i = 0; i < 200; i++) {
    const port = await new Promise((resolve) => {
      const s = dgram.createSocket("udp4");
      s.once("error", () => resolve(0));
      s.bind(0, "127.0.0.1", () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
    });
    if (!port || handedOut.has(port)) continue;
    if (!(await canBind("tcp", port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error("no free loopback port found");
}

// ---------------------------------------------------------------------------------------------
// HTTP

export async function httpGet(hostPort, p, timeoutMs = 3000) {
  const ctl = new AbortController();
  const t = setTimeout(() => ctl.abort(), timeoutMs);
  try {
    const r = await fetch(`http://${hostPort}${p}`, { signal: ctl.signal });
    return { status: r.status, body: await r.text() };
  } finally {
    clearTimeout(t);
  }
}

/** `GET /v1/members` as `{self, members: [{name, state, ...}]}`. */
export async function members(hostPort) {
  const r = await httpGet(hostPort, "/v1/members");
  if (r.status !== 200) throw new Error(`GET /v1/members at ${hostPort}: status ${r.status}`);
  return JSON.parse(r.body);
}

/** Polls `check` (returns a truthy value, or throws / returns falsy with a reason) until `ms`. */
export async function waitUntil(what, ms, check, every = 200) {
  const deadline = Date.now() + ms;
  let last = "";
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${(ms / 1000).toFixed(0)} s waiting for ${what}${last ? `: ${last}` : ""}`);
    await sleep(every);
  }
}

// ---------------------------------------------------------------------------------------------
// Agents

function agentEnv() {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("RUMOR_")) env[k] = v;
  env.RUST_LOG = "info";
  env.NO_COLOR = "1";
  return env;
}

function tail(file, n) {
  try {
    return fs.readFileSync(file, "utf8").split("\n").slice(-n - 1).join("\n");
  } catch (e) {
    return `(cannot read ${file}: ${e.message})`;
  }
}

/**
 * One `rumor agent` on 127.0.0.1, as native-node/tests/common/mod.rs starts them: gossip (UDP)
 * and HTTP (TCP) on the same port number, `--preset local`, joining `join` (UDP addresses).
 */
export class Agent {
  constructor({ name, port, join = [], preset = "local", logDir }) {
    this.name = name;
    this.port = port;
    this.join = join;
    this.preset = preset;
    this.logDir = logDir;
    this.starts = 0;
    this.child = null;
    this.log = null;
    this.logs = []; // one per start
  }

  get addr() {
    return `127.0.0.1:${this.port}`;
  }

  get http() {
    return `127.0.0.1:${this.port}`;
  }

  args() {
    const a = ["agent", "--name", this.name, "--bind", this.addr, "--http", this.http, "--preset", this.preset];
    if (this.join.length) a.push("--join", this.join.join(","));
    if (UI_DIR) a.push("--ui-dir", UI_DIR);
    return a;
  }

  /** Spawns the agent (stderr to its log) and waits for `/healthz` to answer 200. */
  async start() {
    this.starts += 1;
    this.log = path.join(this.logDir, `${this.name}.${this.starts}.log`);
    this.logs.push(this.log);
    const out = fs.openSync(this.log, "w");
    const child = spawn(RUMOR, this.args(), { stdio: ["ignore", "ignore", out], env: agentEnv() });
    fs.closeSync(out);
    children.add(child);
    child.once("exit", () => children.delete(child));
    this.child = child;
    const deadline = Date.now() + scaled(20000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`agent ${this.name} exited during start-up (${child.exitCode ?? child.signalCode}); log:\n${tail(this.log, 30)}`);
      }
      try {
        if ((await httpGet(this.http, "/healthz", 1000)).status === 200) return this;
      } catch {}
      if (Date.now() > deadline) {
        this.kill();
        throw new Error(`agent ${this.name}: /healthz at ${this.http} did not answer 200 within 20 s; log:\n${tail(this.log, 30)}`);
      }
      await sleep(50);
    }
  }

  running() {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async waitExit(ms) {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return true;
    return await new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), ms);
      c.once("exit", () => {
        clearTimeout(t);
        resolve(true);
      });
    });
  }

  /** SIGKILL: a crash. */
  async kill() {
    if (this.running()) {
      this.child.kill("SIGKILL");
      await this.waitExit(5000);
    }
    this.child = null;
  }

  /** SIGTERM (the agent leaves gracefully), then waits for the exit; SIGKILL after `ms`. */
  async terminate(ms = scaled(15000)) {
    if (!this.running()) return;
    this.child.kill("SIGTERM");
    if (!(await this.waitExit(ms))) {
      await this.kill();
      throw new Error(`agent ${this.name} did not exit within ${ms / 1000} s of SIGTERM; log:\n${tail(this.log, 30)}`);
    }
    this.child = null;
  }

  async members() {
    return members(this.http);
  }

  tail(n = 25) {
    return tail(this.log, n);
  }
}

/** Every agent's members table (or why not) and log tail, for failure messages. */
export async function dumpAgents(agents) {
  let out = "";
  for (const a of agents) {
    out += `--- agent ${a.name} ${a.addr} running=${a.running()} log=${a.log}\n`;
    if (a.running()) {
      try {
        const v = await a.members();
        for (const m of v.members) out += `    ${m.name.padEnd(10)} ${m.addr.padEnd(22)} ${m.state.padEnd(8)} inc=${m.incarnation}\n`;
      } catch (e) {
        out += `    (members unavailable: ${e.message})\n`;
      }
    }
    out += a.tail(15).replace(/^/gm, "    | ") + "\n";
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Browser

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--disable-dev-shm-usage",
];

/** Debian's Chromium, headless (registered for cleanup). */
export async function launchBrowser() {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  browsers.add(browser);
  return browser;
}

export async function closeBrowser(browser) {
  if (!browser) return;
  browsers.delete(browser);
  try {
    await Promise.race([browser.close(), sleep(5000)]);
  } catch {}
}

/**
 * Records every console message and page error of `page` into `log` (an array of lines),
 * and the errors (console.error, failed resource loads, uncaught exceptions, a crash) into
 * `errors` — except errors for which `expected(text)` returns a reason (e.g. Chromium's own "WebSocket connection … failed"
 * while a test has deliberately stopped that agent).
 */
export function watchConsole(page, log, errors, expected = () => null) {
  const stamp = () => `${((Date.now() - T0) / 1000).toFixed(1)} s`;
  page.on("console", (m) => {
    const loc = m.location();
    const where = loc && loc.url ? ` (${loc.url}:${loc.lineNumber})` : "";
    const line = `[${stamp()}] console.${m.type()}: ${m.text()}${where}`;
    let why = null;
    if (m.type() === "error") {
      why = expected(m.text());
    }
    log.push(why ? `${line} (not counted: ${why})` : line);
    if (m.type() === "error" && !why) errors.push(line);
  });
  page.on("pageerror", (e) => {
    const line = `[${stamp()}] pageerror: ${e.stack || e.message}`;
    log.push(line);
    errors.push(line);
  });
  page.on("crash", () => {
    const line = `[${stamp()}] page crashed`;
    log.push(line);
    errors.push(line);
  });
}

/** Waits for `window.rumorUI`, then for `rumorUI.whenReady()`; explains a missing contract. */
export async function waitReady(page, ms) {
  try {
    await page.waitForFunction(() => typeof window.rumorUI === "object" && window.rumorUI !== null, null, { timeout: ms });
  } catch {
    throw new Error(`window.rumorUI did not appear within ${(ms / 1000).toFixed(0)} s (the page does not implement the test contract yet?)`);
  }
  const t = Date.now();
  await withTimeout("rumorUI.whenReady()", ms, () => page.evaluate(() => window.rumorUI.whenReady().then(() => true)));
  return Date.now() - t;
}
