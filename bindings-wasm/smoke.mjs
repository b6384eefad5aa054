// Loads the generated ES module (bindings-wasm/ui/pkg/, from build.sh) the way a page does and uses
// it through its JavaScript names, which the Rust-side browser tests do not go through: two nodes
// meet, bad input throws, a simulated node fails. Run: node bindings-wasm/smoke.mjs
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as rumor from './ui/pkg/rumor_wasm.js';

rumor.initSync({ module: readFileSync(new URL('./ui/pkg/rumor_wasm_bg.wasm', import.meta.url)) });
assert.deepEqual(rumor.statusNames(), ['unknown', 'alive', 'suspect', 'failed', 'left']);

const config = { preset: 'local', label: 'smoke' };
const a = new rumor.Node('a', '10.0.0.1:7946', config, { role: 'db' }, undefined, 0);
const b = new rumor.Node('b', '10.0.0.2:7946', config, undefined, new Uint8Array(32), 0);
b.join(['10.0.0.1:7946'], 0);
const nodes = new Map([['10.0.0.1:7946', a], ['10.0.0.2:7946', b]]);
for (let now = 0; now < 3000; now += 10) {
  for (const [addr, node] of nodes) {
    if ((node.pollTimeout() ?? Infinity) <= now) node.handleTimeout(now);
    for (let t; (t = node.pollTransmit(now)); ) nodes.get(t.destination).handleDatagram(now, addr, t.bytes);
  }
}
assert.ok(b.isJoined);
assert.deepEqual(b.memberCounts(), { alive: 2, suspect: 0, failed: 0, left: 0 });
assert.deepEqual(b.members()[1], { name: 'a', addr: '10.0.0.1:7946', status: 'alive', incarnation: 0, meta: { role: 'db' } });
const events = [];
for (let e; (e = b.pollEvent()); ) events.push(e);
assert.deepEqual(events.map((e) => e.type), ['joined', 'member-joined']);

assert.throws(() => new rumor.Node('', '10.0.0.3:1', 'lan', undefined, undefined, 0), { message: 'node name must be 1 to 64 bytes without control characters' });
assert.throws(() => rumor.decodeFrame(new Uint8Array([1, 2, 3, 4, 5]), undefined), { name: 'DecodeError', kind: 'BadMagic' });

const cluster = new rumor.Cluster(30, 3, 'lan', true);
cluster.kill(3);
cluster.step(60000);
const view = cluster.view(0);
assert.equal(rumor.statusNames()[view[3]], 'failed');
assert.equal(cluster.matrix().length, 30 * 30);
console.log('rumor-wasm module: ok');
