// End-to-end tests of the browser visualizer (/ui/, bindings-wasm/ui/) served by real
// `rumor agent` processes, in Debian's headless Chromium. Three scenarios:
//
//   simulate  one agent serves /ui/?mode=simulate&nodes=200&seed=1; the in-page simulator
//             (wasm) is driven through the page's own controls: kill node 17 by clicking its
//             dot (every running node sees it failed), split the cluster in two halves
//             (each side suspects or fails the other), heal (one view again, node 17 failed).
//   live      five agents node-1..node-5 on 127.0.0.1; the page served by node-1 in live mode
//             shows all five alive; SIGKILL node-3 → failed within 20 s; restart it → alive;
//             restart node-1 itself → the page reconnects by itself and shows five alive.
//   demo      `rumor demo --nodes 5` (the README's run command); its console's page shows every
//             node's view; the page's kill button for node-3 → failed, restart → alive again.
//
// In both, any console error or uncaught page error during the scenario fails it, except
// Chromium's own "WebSocket connection … failed" lines for the page's reconnection attempts
// while node-1 is deliberately down (logged, marked "not counted").
//
// Usage: node e2e.mjs [simulate|live ...]   (default: both). Prints PASS/FAIL lines; exits 1 on
// any failure. Artifacts (screenshots, console logs, agent logs) go to ARTIFACTS (lib.mjs).

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import {
  ARTIFACTS, Agent, RUMOR, cleanupAll, closeBrowser, dumpAgents, freePort, launchBrowser, mkdirp,
  rumorEnv, say, scaled, sleep, track, waitReady, waitUntil, watchConsole, withTimeout,
} from "./lib.mjs";

const VIEWPORT = { width: 1400, height: 1000 };
const artifacts = [];

function artifact(file) {
  const p = path.join(ARTIFACTS, file);
  artifacts.push(p);
  return p;
}

async function screenshot(page, file) {
  const p = artifact(file);
  await page.screenshot({ path: p, fullPage: true });
  say(`screenshot ${p}`);
}

/** `page.waitForFunction` with a readable timeout message that includes `describe()`'s output. */
async function waitPage(page, what, ms, fn, arg, describe) {
  const t = Date.now();
  try {
    await page.waitForFunction(fn, arg, { timeout: ms, polling: 250 });
  } catch (e) {
    let state = "";
    if (describe) {
      try {
        state = `\n  state: ${JSON.stringify(await page.evaluate(describe, arg))}`;
      } catch (e2) {
        state = `\n  (state unavailable: ${e2.message.split("\n")[0]})`;
      }
    }
    throw new Error(`${what}: not reached within ${(ms / 1000).toFixed(0)} s (${e.message.split("\n")[0]})${state}`);
  }
  return Date.now() - t;
}

// ---------------------------------------------------------------------------------------------
// (a) simulate

// In-page helpers (run by page.waitForFunction / page.evaluate; they only see their argument).

/** Every running (state 1) or stalled node's row shows `dead` as failed (3). */
function allSeeFailed(dead) {
  const s = window.rumorUI.sim, n = s.size, m = s.matrix(), st = s.states();
  for (let i = 0; i < n; i++) if (i !== dead && st[i] !== 0 && m[i * n + dead] !== 3) return false;
  return true;
}

function describeFailed(dead) {
  const s = window.rumorUI.sim, n = s.size, m = s.matrix(), st = s.states();
  const counts = {};
  let running = 0;
  for (let i = 0; i < n; i++) {
    if (i === dead || st[i] === 0) continue;
    running++;
    counts[m[i * n + dead]] = (counts[m[i * n + dead]] || 0) + 1;
  }
  return { virtualMs: s.now(), stateOfDead: st[dead], running, codesSeenForDead: counts };
}

/** Some running node of each half sees some running node of the other half suspect or failed. */
function halvesSplit(skip) {
  const s = window.rumorUI.sim, n = s.size, m = s.matrix(), st = s.states(), h = Math.floor(n / 2);
  const up = (i) => i !== skip && st[i] !== 0;
  const sees = (a0, a1, b0, b1) => {
    for (let i = a0; i < a1; i++) {
      if (!up(i)) continue;
      for (let j = b0; j < b1; j++) if (up(j) && (m[i * n + j] === 2 || m[i * n + j] === 3)) return true;
    }
    return false;
  };
  return sees(0, h, h, n) && sees(h, n, 0, h);
}

function describeHalves(skip) {
  const s = window.rumorUI.sim, n = s.size, m = s.matrix(), st = s.states(), h = Math.floor(n / 2);
  const up = (i) => i !== skip && st[i] !== 0;
  const count = (a0, a1, b0, b1) => {
    const c = {};
    for (let i = a0; i < a1; i++) {
      if (!up(i)) continue;
      for (let j = b0; j < b1; j++) if (up(j)) c[m[i * n + j]] = (c[m[i * n + j]] || 0) + 1;
    }
    return c;
  };
  return { virtualMs: s.now(), firstHalfSeesSecond: count(0, h, h, n), secondHalfSeesFirst: count(h, n, 0, h), netStats: s.netStats ? s.netStats() : undefined };
}

/** Every running node sees every other running node alive, and `dead` failed. */
function healed(dead) {
  const s = window.rumorUI.sim, n = s.size, m = s.matrix(), st = s.states();
  for (let i = 0; i < n; i++) {
    if (st[i] === 0) continue;
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      const want = j === dead ? 3 : st[j] === 0 ? null : 1;
      if (want !== null && m[i * n + j] !== want) return false;
    }
  }
  return true;
}

function describeHealed(dead) {
  const s = window.rumorUI.sim, n = s.size, m = s.matrix(), st = s.states();
  const wrong = {};
  let example = null;
  for (let i = 0; i < n; i++) {
    if (st[i] === 0) continue;
    for (let j = 0; j < n; j++) {
      if (i === j || (st[j] === 0 && j !== dead)) continue;
      const want = j === dead ? 3 : 1;
      if (m[i * n + j] !== want) {
        const k = `${j === dead ? "dead" : "live"} member seen as ${m[i * n + j]}`;
        wrong[k] = (wrong[k] || 0) + 1;
        example ??= { observer: i, member: j, code: m[i * n + j] };
      }
    }
  }
  return { virtualMs: s.now(), wrong, example };
}

async function simulateScenario(ctx) {
  const logDir = mkdirp(path.join(ARTIFACTS, "logs", "simulate"));
  const agent = new Agent({ name: "node-1", port: await freePort(), logDir });
  ctx.agents.push(agent);
  await agent.start();
  say(`agent node-1 serving http://${agent.http}/ui/ (log ${agent.log})`);

  ctx.browser = await launchBrowser();
  const page = await ctx.browser.newPage({ viewport: VIEWPORT });
  watchConsole(page, ctx.console, ctx.errors);
  const url = `http://${agent.http}/ui/?mode=simulate&nodes=200&seed=1`;
  say(`open ${url}`);
  await page.goto(url, { waitUntil: "load", timeout: scaled(20000) });
  const readyMs = await waitReady(page, scaled(60000));
  const info = await page.evaluate(() => ({ mode: window.rumorUI.mode, size: window.rumorUI.sim.size, now: window.rumorUI.sim.now() }));
  say(`ready after ${readyMs} ms: mode=${info.mode} size=${info.size} virtual=${info.now} ms`);
  if (info.mode !== "simulate") throw new Error(`rumorUI.mode is ${JSON.stringify(info.mode)}, want "simulate"`);
  if (info.size !== 200) throw new Error(`rumorUI.sim.size is ${info.size}, want 200`);

  // Kill node 17 by clicking its dot with the `kill` action, at the highest speed.
  await page.selectOption("#sim-action", "kill");
  const speed = await page.$eval("#speed", (el) => {
    el.value = el.max;
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
    return { value: el.value, min: el.min, max: el.max };
  });
  say(`#speed set to ${speed.value} (range ${speed.min}..${speed.max})`);
  const dot = await page.evaluate(() => window.rumorUI.sim.nodeCenter(17));
  say(`node 17's dot at (${dot.x.toFixed(1)}, ${dot.y.toFixed(1)}); click`);
  await page.mouse.click(dot.x, dot.y);
  await waitPage(page, "node 17 killed by the click (rumorUI.sim.states()[17] === 0)", scaled(5000),
    () => window.rumorUI.sim.states()[17] === 0, null,
    () => ({ state17: window.rumorUI.sim.states()[17], nodeInfo: document.querySelector("#node-info")?.textContent }));
  const nodeInfo = await page.$eval("#node-info", (el) => el.textContent.trim().replace(/\s+/g, " "));
  say(`#node-info: ${JSON.stringify(nodeInfo.slice(0, 200))}`);
  if (!/(^|\D)17(\D|$)/.test(nodeInfo)) throw new Error(`#node-info does not describe node 17: ${JSON.stringify(nodeInfo)}`);
  const v0 = await page.evaluate(() => window.rumorUI.sim.now());
  let took = await waitPage(page, "every running node sees node 17 failed", scaled(90000), allSeeFailed, 17, describeFailed);
  let v1 = await page.evaluate(() => window.rumorUI.sim.now());
  say(`every running node sees node 17 failed: waited ${(took / 1000).toFixed(1)} s real, ${((v1 - v0) / 1000).toFixed(1)} s virtual after the kill was confirmed`);
  await screenshot(page, "simulate-killed.png");

  // Partition into halves 0..99 | 100..199.
  await page.click("#partition");
  const p0 = await page.evaluate(() => window.rumorUI.sim.now());
  took = await waitPage(page, "each half sees some node of the other half suspect or failed", scaled(90000), halvesSplit, 17, describeHalves);
  v1 = await page.evaluate(() => window.rumorUI.sim.now());
  say(`partition detected on both sides: waited ${(took / 1000).toFixed(1)} s real, ${((v1 - p0) / 1000).toFixed(1)} s virtual after the click`);
  await screenshot(page, "simulate-partition.png");

  // Heal: one view again.
  await page.click("#heal");
  const h0 = await page.evaluate(() => window.rumorUI.sim.now());
  took = await waitPage(page, "after #heal every running node sees every other running node alive and node 17 failed", scaled(180000), healed, 17, describeHealed);
  v1 = await page.evaluate(() => window.rumorUI.sim.now());
  say(`healed: waited ${(took / 1000).toFixed(1)} s real, ${((v1 - h0) / 1000).toFixed(1)} s virtual after the click`);
  await screenshot(page, "simulate-healed.png");
}

// ---------------------------------------------------------------------------------------------
// (b) live

/** Each `tr[data-name=NAME] td.state` text, trimmed (missing rows absent). */
function tableStates() {
  const out = {};
  for (const tr of document.querySelectorAll("#live-members tbody tr[data-name]")) {
    out[tr.dataset.name] = tr.querySelector("td.state")?.textContent.trim();
  }
  return out;
}

function tableHas([names, state]) {
  for (const n of names) {
    const td = document.querySelector(`#live-members tbody tr[data-name="${n}"] td.state`);
    if (!td || td.textContent.trim() !== state) return false;
  }
  return true;
}

function liveState() {
  const out = { table: {}, status: document.querySelector("#live-status")?.textContent.trim(), relays: null };
  for (const tr of document.querySelectorAll("#live-members tbody tr[data-name]")) {
    out.table[tr.dataset.name] = tr.querySelector("td.state")?.textContent.trim();
  }
  try {
    out.relays = window.rumorUI.live.relays();
  } catch (e) {
    out.relays = `(relays() threw ${e.message})`;
  }
  return out;
}

async function liveScenario(ctx) {
  const logDir = mkdirp(path.join(ARTIFACTS, "logs", "live"));
  const names = ["node-1", "node-2", "node-3", "node-4", "node-5"];
  const agents = [];
  for (const name of names) {
    const join = agents.length ? [agents[0].addr] : [];
    const a = new Agent({ name, port: await freePort(), join, logDir });
    ctx.agents.push(a);
    agents.push(a);
    await a.start();
  }
  const [n1, , n3] = agents;
  say(`agents: ${agents.map((a) => `${a.name}=${a.addr}`).join(" ")}`);
  const allAlive = async (a) => {
    const v = await a.members();
    const bad = names.filter((n) => v.members.find((m) => m.name === n)?.state !== "alive");
    if (bad.length) throw new Error(`${a.name} sees ${bad.map((n) => `${n}=${v.members.find((m) => m.name === n)?.state}`).join(", ")}`);
    return true;
  };
  await waitUntil("every agent seeing all five alive", scaled(30000), async () => {
    for (const a of agents) await allAlive(a);
    return true;
  });
  say("cluster formed: every agent sees all five alive (GET /v1/members)");

  ctx.browser = await launchBrowser();
  const page = await ctx.browser.newPage({ viewport: VIEWPORT });
  // While node-1 is deliberately down, Chromium itself logs each failed attempt of the page to
  // reconnect ("WebSocket connection to 'ws://…' failed: … ERR_CONNECTION_REFUSED") as a console
  // error; those, and only those, are expected. Any other error fails the scenario.
  let down = null;
  const expected = (text) =>
    down && text.includes(down) && /WebSocket connection to .* failed|ERR_CONNECTION_REFUSED|ERR_CONNECTION_RESET|ERR_EMPTY_RESPONSE/.test(text)
      ? `a reconnection attempt while ${down} is deliberately down`
      : null;
  watchConsole(page, ctx.console, ctx.errors, expected);
  const url = `http://${n1.http}/ui/?mode=live`;
  say(`open ${url}`);
  await page.goto(url, { waitUntil: "load", timeout: scaled(20000) });
  const readyMs = await waitReady(page, scaled(30000));
  const mode = await page.evaluate(() => window.rumorUI.mode);
  say(`ready after ${readyMs} ms: mode=${mode}`);
  if (mode !== "live") throw new Error(`rumorUI.mode is ${JSON.stringify(mode)}, want "live"`);
  await waitPage(page, "the table shows all five alive", scaled(15000), tableHas, [names, "alive"], liveState);
  const relays = await page.evaluate(() => window.rumorUI.live.relays());
  say(`table: all five alive; relays: ${JSON.stringify(relays)}`);
  if (!relays.length || !relays.every((r) => r.state === "open")) throw new Error(`relays not all open: ${JSON.stringify(relays)}`);
  const view1 = await page.evaluate(() => window.rumorUI.live.view("node-1"));
  if (!view1 || names.some((n) => view1[n] !== "alive")) throw new Error(`rumorUI.live.view("node-1") is ${JSON.stringify(view1)}, want all five alive`);

  // Crash node-3.
  await n3.kill();
  say("SIGKILL node-3");
  let took = await waitPage(page, "node-3 shown failed", scaled(20000), tableHas, [["node-3"], "failed"], liveState);
  say(`node-3 shown failed after ${(took / 1000).toFixed(1)} s`);

  // Restart it, same flags and ports.
  await n3.start();
  say("node-3 restarted");
  took = await waitPage(page, "node-3 shown alive again", scaled(30000), tableHas, [["node-3"], "alive"], liveState);
  say(`node-3 shown alive after ${(took / 1000).toFixed(1)} s`);
  await waitPage(page, "the table shows all five alive", scaled(15000), tableHas, [names, "alive"], liveState);

  // Restart node-1, the agent that served the page and whose relay it reads. A restarted seed
  // with no seeds of its own would stay alone, so it joins through node-2 this time.
  await page.evaluate(() => {
    window.__relayStates = [];
    window.__relayTimer = setInterval(() => {
      const s = window.rumorUI.live.relays().map((r) => r.state).join(",");
      if (window.__relayStates[window.__relayStates.length - 1] !== s) window.__relayStates.push(s);
    }, 50);
  });
  down = n1.http;
  await n1.terminate();
  say("SIGTERM node-1: exited");
  await waitPage(page, "the page noticing node-1's relay is gone (a relay not 'open')", scaled(15000),
    () => window.rumorUI.live.relays().some((r) => r.state !== "open"), null, liveState);
  say(`page noticed: ${JSON.stringify(await page.evaluate(() => window.rumorUI.live.relays()))}`);
  await sleep(1000);
  n1.join = [agents[1].addr];
  await n1.start();
  say(`node-1 restarted on ${n1.addr} (--join ${n1.join})`);
  took = await waitPage(page, "the page reconnecting by itself (every relay 'open')", scaled(30000),
    () => window.rumorUI.live.relays().every((r) => r.state === "open"), null, liveState);
  say(`relays open again after ${(took / 1000).toFixed(1)} s`);
  down = null;
  took = await waitPage(page, "the table shows all five alive after node-1's restart", scaled(30000), tableHas, [names, "alive"], liveState);
  const states = await page.evaluate(() => {
    clearInterval(window.__relayTimer);
    return window.__relayStates;
  });
  say(`table shows all five alive (${(took / 1000).toFixed(1)} s more); relay states seen: ${states.join(" → ")}`);
  // #live-status has no fixed wording in the contract; it should stop saying "reconnecting".
  let status = "";
  for (let i = 0; i < 20; i++) {
    status = await page.$eval("#live-status", (el) => el.textContent.trim());
    if (!/reconnect|connecting|closed/i.test(status)) break;
    await sleep(250);
  }
  say(`#live-status: ${JSON.stringify(status)}`);
  if (/reconnect|connecting|closed/i.test(status)) {
    throw new Error(`#live-status still says ${JSON.stringify(status)} 5 s after every relay is 'open' and the table shows five alive`);
  }
  await screenshot(page, "live.png");
}

// ---------------------------------------------------------------------------------------------
// (c) demo

async function demoScenario(ctx) {
  const logDir = mkdirp(path.join(ARTIFACTS, "logs", "demo"));
  const log = path.join(logDir, "demo.log");
  const err = fs.openSync(log, "w");
  const child = track(spawn(RUMOR, ["demo", "--nodes", "5", "--ui", "127.0.0.1:0"], { stdio: ["ignore", "pipe", err], env: rumorEnv() }));
  fs.closeSync(err);
  ctx.stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGINT"); // every node leaves, as at Ctrl-C
      await Promise.race([new Promise((r) => child.once("exit", r)), sleep(15000)]);
    }
  };
  // The first line of stdout is the visualizer's address.
  const url = await withTimeout("the demo's first line", scaled(30000), () => new Promise((resolve, reject) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /^visualizer: (http:\/\/\S+)/m.exec(out);
      if (m) resolve(m[1]);
    });
    child.once("exit", (code) => reject(new Error(`rumor demo exited (${code}) before printing its URL: ${out}`)));
  }));
  child.stdout.resume();
  say(`rumor demo: ${url}`);
  ctx.browser = await launchBrowser();
  const page = await ctx.browser.newPage({ viewport: VIEWPORT });
  // The page only connects to nodes the demo says are running: no console error is expected.
  watchConsole(page, ctx.console, ctx.errors);
  await page.goto(url, { waitUntil: "load", timeout: scaled(20000) });
  await waitReady(page, scaled(30000));
  const mode = await page.evaluate(() => window.rumorUI.mode);
  if (mode !== "live") throw new Error(`the demo's page opened in mode ${JSON.stringify(mode)}, want "live"`);
  const names = ["node-1", "node-2", "node-3", "node-4", "node-5"];
  await waitPage(page, "every node's relay open and all five alive", scaled(30000),
    (ns) => window.rumorUI.live.relays().length === 5 && window.rumorUI.live.relays().every((r) => r.state === "open") &&
      ns.every((n) => Object.values(window.rumorUI.live.view(n) ?? {}).filter((s) => s === "alive").length === 5),
    names, liveState);
  say("every demo node's view: five alive");

  await page.click('button[data-demo="kill"][data-node="node-3"]');
  say("clicked kill node-3");
  let took = await waitPage(page, "node-3 shown failed", scaled(20000), tableHas, [["node-3"], "failed"], liveState);
  const others = ["node-1", "node-2", "node-4", "node-5"];
  await waitPage(page, "every other node's view of node-3 failed", scaled(20000),
    (ns) => ns.every((n) => window.rumorUI.live.view(n)?.["node-3"] === "failed"), others, liveState);
  say(`node-3 shown failed after ${(took / 1000).toFixed(1)} s, by all four others`);
  await screenshot(page, "demo-killed.png");

  await page.click('button[data-demo="restart"][data-node="node-3"]');
  say("clicked restart node-3");
  took = await waitPage(page, "node-3 shown alive again", scaled(30000), tableHas, [["node-3"], "alive"], liveState);
  await waitPage(page, "node-3's relay open again", scaled(15000),
    () => window.rumorUI.live.relays().every((r) => r.state === "open"), null, liveState);
  say(`node-3 shown alive after ${(took / 1000).toFixed(1)} s; every relay open`);
  await screenshot(page, "demo.png");
  await ctx.stop();
  if (child.exitCode !== 0) throw new Error(`rumor demo exited with ${child.exitCode ?? child.signalCode} after SIGINT (log: ${log})`);
  ctx.logs = [log];
}

// ---------------------------------------------------------------------------------------------

const SCENARIOS = {
  simulate: { fn: simulateScenario, timeout: 420000 },
  live: { fn: liveScenario, timeout: 240000 },
  demo: { fn: demoScenario, timeout: 180000 },
};

async function run(name) {
  const { fn, timeout } = SCENARIOS[name];
  const ctx = { agents: [], browser: null, console: [], errors: [] };
  say(`=== ${name} ===`);
  // Artifacts of an earlier run of this scenario would be mistaken for this run's.
  for (const f of fs.readdirSync(ARTIFACTS)) if (f.startsWith(`${name}-`)) fs.rmSync(path.join(ARTIFACTS, f), { force: true });
  fs.rmSync(path.join(ARTIFACTS, "logs", name), { recursive: true, force: true });
  let error = null;
  try {
    await withTimeout(`scenario ${name}`, scaled(timeout), () => fn(ctx));
    if (ctx.errors.length) {
      throw new Error(`${ctx.errors.length} console error(s) / page error(s):\n  ${ctx.errors.join("\n  ")}`);
    }
  } catch (e) {
    error = e;
    try {
      const page = ctx.browser?.contexts()[0]?.pages()[0];
      if (page) await withTimeout("failure screenshot", 10000, () => screenshot(page, `${name}-failure.png`));
    } catch {}
    try {
      console.log(await withTimeout("agent dump", 15000, () => dumpAgents(ctx.agents)));
    } catch {}
  } finally {
    await closeBrowser(ctx.browser);
    for (const a of ctx.agents) await a.kill();
    await ctx.stop?.();
    const logFile = artifact(`${name}-console.log`);
    fs.writeFileSync(logFile, ctx.console.join("\n") + "\n");
    say(`console log ${logFile} (${ctx.console.length} messages, ${ctx.errors.length} errors)`);
    if (ctx.errors.length) console.log(`console errors / page errors:\n  ${ctx.errors.join("\n  ")}`);
    for (const a of ctx.agents) artifacts.push(...a.logs);
    artifacts.push(...(ctx.logs ?? []));
  }
  if (error) {
    console.log(`FAIL ${name}: ${error.message}`);
    return false;
  }
  console.log(`PASS ${name}`);
  return true;
}

async function main() {
  if (!fs.existsSync(RUMOR)) throw new Error(`no rumor binary at ${RUMOR} (cargo build -p rumor-node --release --locked)`);
  mkdirp(ARTIFACTS);
  const wanted = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(SCENARIOS);
  for (const w of wanted) if (!SCENARIOS[w]) throw new Error(`unknown scenario ${w}; known: ${Object.keys(SCENARIOS).join(", ")}`);
  const results = [];
  for (const w of wanted) results.push([w, await run(w)]);
  await cleanupAll();
  console.log("\nartifacts:");
  for (const a of artifacts) console.log(`  ${a}`);
  const failed = results.filter(([, ok]) => !ok).map(([w]) => w);
  console.log(`\nbrowser e2e: ${results.length - failed.length} passed, ${failed.length} failed${failed.length ? ` (${failed.join(", ")})` : ""}`);
  process.exit(failed.length ? 1 : 0);
}

main().catch(async (e) => {
  console.log(`FAIL: ${e.stack || e.message}`);
  await cleanupAll();
  process.exit(1);
});
