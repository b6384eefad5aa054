// The visualizer's entry point: loads the wasm module, picks the mode and runs the animation
// loop. Modes: `?mode=simulate` (real nodes in the page) or `?mode=live` (real agents through
// their relays); without one, live when an agent or `rumor demo` served the page (it answers
// `site.json`), else simulate.
// Simulate takes `&nodes=N&seed=S&preset=P`; live takes `&relays=HOST:PORT,…`.
// `window.rumorUI` gives tests and benchmarks the same data the page draws.

import init from './pkg/rumor_wasm.js';
import { Simulation } from './simulate.js';
import { Live } from './live.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

/** What served this page: `agent`, `demo` (native-node/src/ui.rs), or null (anything else). */
async function servedBy() {
  if (!location.protocol.startsWith('http')) return null;
  try {
    const r = await fetch('site.json');
    return r.ok ? (await r.json()).served_by ?? null : null;
  } catch {
    return null;
  }
}

async function main() {
  await init();
  const site = await servedBy();
  let sim = null, live = null;
  let resolveReady;
  let ready = new Promise((r) => (resolveReady = r));
  const ui = (window.rumorUI = {
    mode: null,
    whenReady: () => ready,
    get sim() { return sim?.api(); },
    get live() { return live?.api(); },
  });

  async function show(mode) {
    ui.mode = mode;
    for (const m of ['simulate', 'live']) {
      $(m).hidden = m !== mode;
      $(`tab-${m}`).setAttribute('aria-pressed', String(m === mode));
    }
    const url = new URL(location);
    url.searchParams.set('mode', mode);
    history.replaceState(null, '', url);
    if (mode === 'simulate') {
      if (!sim) {
        sim = new Simulation();
        if (params.get('preset')) $('preset').value = params.get('preset');
        if (params.get('seed')) $('seed').value = params.get('seed');
        await sim.build(Number(params.get('nodes') ?? 64), sim.settings());
      }
      resolveReady();
    } else {
      if (!live) {
        live = new Live(site);
        live.start();
      }
      live.ready.then(resolveReady);
    }
  }
  for (const mode of ['simulate', 'live']) {
    $(`tab-${mode}`).onclick = () => {
      if (ui.mode === mode) return;
      ready = new Promise((r) => (resolveReady = r));
      show(mode);
    };
  }

  let last = performance.now();
  const frame = (t) => {
    if (ui.mode === 'simulate') sim?.frame(t - last);
    last = t;
    requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);

  const wanted = params.get('mode');
  await show(wanted === 'simulate' || wanted === 'live' ? wanted : site ? 'live' : 'simulate');
}

main().catch((e) => {
  $('fatal').hidden = false;
  $('fatal').textContent = `The visualizer could not start: ${e.message ?? e}`;
  console.error(e);
});
