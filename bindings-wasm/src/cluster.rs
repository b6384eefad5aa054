//! `Cluster`: the deterministic simulator (`rumor_sim::Cluster`) for a page that shows a
//! cluster at work. Reads meant for every animation frame (`view`, `matrix`, `states`) fill
//! one byte per member from the nodes' borrowed member lists and allocate nothing per member,
//! so N = 2000 stays cheap.

use js_sys::{Array, Uint8Array};
use rumor_core::{Lifeguard, MemberView};
use rumor_sim::{Cluster as SimCluster, Link, MAX_NODES, SimNode};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsError, JsValue};

use crate::convert::{event_to_js, instant, set, status_code, to_js};
use crate::error::refused;
use crate::node::preset;

/// Process states by code, as [`Cluster::states`] reports them.
const KILLED: u8 = 0;
const RUNNING: u8 = 1;
const STALLED: u8 = 2;

/// A simulated cluster of real Rumor nodes on virtual time, formed and quiet at time zero.
/// Nodes are numbered from 0; node `i` is named `node-i` and listens at `Cluster.addrFor(i)`.
#[wasm_bindgen]
pub struct Cluster {
    sim: SimCluster,
    /// The default link, kept here because the simulator takes it whole.
    link: Link,
}

#[wasm_bindgen]
impl Cluster {
    /// `n` nodes (1 to 16 777 214) with `preset` (`"lan"`, `"wan"`, `"local"`; default
    /// `"lan"`) and Lifeguard on or off (default on), every random choice derived from `seed`
    /// (an integer). They start as a formed, quiet cluster (`rumor_sim::Cluster::bootstrap`).
    /// Events are not recorded until `setRecordEvents(true)`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        n: u32,
        seed: f64,
        #[wasm_bindgen(js_name = preset)] preset_name: Option<String>,
        lifeguard: Option<bool>,
    ) -> Result<Cluster, JsError> {
        let n = usize::try_from(n).map_err(refused)?;
        if n == 0 || n > MAX_NODES {
            return Err(refused(format_args!("a cluster has 1 to {MAX_NODES} nodes, not {n}")));
        }
        if !(seed >= 0.0 && seed.fract() == 0.0 && seed <= 9_007_199_254_740_991.0) {
            return Err(refused(format_args!("seed must be a non-negative integer, not {seed}")));
        }
        let mut config = preset(preset_name.as_deref().unwrap_or("lan"))?;
        if lifeguard == Some(false) {
            config.lifeguard = Lifeguard::OFF;
        }
        let mut sim = SimCluster::new(seed as u64);
        sim.set_record_events(false);
        for i in 0..n {
            sim.add_node(&format!("node-{i}"), config.clone());
        }
        let all: Vec<usize> = (0..n).collect();
        sim.bootstrap(&all).map_err(refused)?;
        Ok(Cluster { sim, link: Link::default() })
    }

    /// The address of node `i` (`"ip:port"`).
    #[wasm_bindgen(js_name = addrFor)]
    pub fn addr_for(i: u32) -> String {
        SimCluster::addr_for(usize::try_from(i).unwrap_or(usize::MAX)).to_string()
    }

    /// Number of nodes.
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> u32 {
        u32::try_from(self.sim.len()).unwrap_or(u32::MAX)
    }

    /// The virtual time in milliseconds.
    pub fn now(&self) -> f64 {
        self.sim.now().as_millis_f64()
    }

    /// Advances virtual time by `ms` milliseconds, delivering packets and running timers.
    pub fn step(&mut self, ms: f64) {
        self.sim.run_for(instant(ms).as_duration());
    }

    /// Sets the packet loss of every link, a probability from 0 to 1.
    #[wasm_bindgen(js_name = setLoss)]
    pub fn set_loss(&mut self, loss: f64) -> Result<(), JsError> {
        if !(0.0..=1.0).contains(&loss) {
            return Err(refused(format_args!("loss must be from 0 to 1, not {loss}")));
        }
        self.link.loss = loss;
        self.sim.set_default_link(self.link);
        Ok(())
    }

    /// Sets the one-way latency of every link, uniform from `minMs` to `maxMs`.
    #[wasm_bindgen(js_name = setLatency)]
    pub fn set_latency(
        &mut self,
        #[wasm_bindgen(js_name = minMs)] min_ms: f64,
        #[wasm_bindgen(js_name = maxMs)] max_ms: f64,
    ) -> Result<(), JsError> {
        if !(min_ms >= 0.0 && max_ms >= min_ms && max_ms.is_finite()) {
            return Err(refused(format_args!("latency must be 0 ≤ min ≤ max, not {min_ms}..{max_ms}")));
        }
        self.link.latency_min = instant(min_ms).as_duration();
        self.link.latency_max = instant(max_ms).as_duration();
        self.sim.set_default_link(self.link);
        Ok(())
    }

    /// Cuts the network in two: the nodes of `group` on one side, every other node on the other.
    pub fn partition(&mut self, group: Vec<u32>) -> Result<(), JsError> {
        let group = group.into_iter().map(|i| self.index(i)).collect::<Result<Vec<_>, _>>()?;
        self.sim.partition(&[&group]);
        Ok(())
    }

    /// Removes the partition.
    pub fn heal(&mut self) {
        self.sim.heal();
    }

    /// Kills node `i`: it stops at once, without leaving.
    pub fn kill(&mut self, i: u32) -> Result<(), JsError> {
        let i = self.index(i)?;
        self.sim.kill(i);
        Ok(())
    }

    /// Restarts node `i` as a new process with the same name and address, which rejoins.
    pub fn restart(&mut self, i: u32) -> Result<(), JsError> {
        let i = self.index(i)?;
        self.sim.restart(i);
        Ok(())
    }

    /// Stalls node `i` for `ms` milliseconds: it handles nothing, then everything at once.
    pub fn stall(&mut self, i: u32, ms: f64) -> Result<(), JsError> {
        let i = self.index(i)?;
        self.sim.stall(i, instant(ms).as_duration());
        Ok(())
    }

    /// Node `i` leaves gracefully.
    pub fn leave(&mut self, i: u32) -> Result<(), JsError> {
        let i = self.index(i)?;
        self.sim.leave(i);
        Ok(())
    }

    /// How node `i` sees every node: one status code per node index (`statusNames()` names
    /// them; 0 is unknown to it).
    pub fn view(&self, i: u32) -> Result<Uint8Array, JsError> {
        let node = self.sim_node(i)?;
        let mut row = vec![0u8; self.sim.len()];
        self.fill_row(node, &mut row);
        Ok(Uint8Array::from(row.as_slice()))
    }

    /// Every node's view: `size × size` status codes, row = observer, column = member.
    pub fn matrix(&self) -> Uint8Array {
        let n = self.sim.len();
        let mut all = vec![0u8; n * n];
        for (i, row) in all.chunks_exact_mut(n).enumerate() {
            self.fill_row(self.sim.node(i), row);
        }
        Uint8Array::from(all.as_slice())
    }

    /// Each node's process state: 0 killed, 1 running, 2 stalled.
    pub fn states(&self) -> Uint8Array {
        let states: Vec<u8> = (0..self.sim.len())
            .map(|i| {
                let node = self.sim.node(i);
                match (node.is_running(), node.is_stalled()) {
                    (false, _) => KILLED,
                    (true, false) => RUNNING,
                    (true, true) => STALLED,
                }
            })
            .collect();
        Uint8Array::from(states.as_slice())
    }

    /// Node `i`'s members by status: `{alive, suspect, failed, left}`.
    #[wasm_bindgen(js_name = memberCounts, unchecked_return_type = "MemberCounts")]
    pub fn member_counts(&self, i: u32) -> Result<JsValue, JsError> {
        to_js(&self.sim_node(i)?.node.member_counts())
    }

    /// Node `i`'s counters, as `Node.stats()` gives them.
    #[wasm_bindgen(unchecked_return_type = "Stats")]
    pub fn stats(&self, i: u32) -> Result<JsValue, JsError> {
        to_js(self.sim_node(i)?.node.stats())
    }

    /// The network's counters: `{sent, bytes, lost, cut, undeliverable, max_packet, reordered}`.
    #[wasm_bindgen(js_name = netStats, unchecked_return_type = "NetStats")]
    pub fn net_stats(&self) -> JsValue {
        let s = self.sim.net_stats();
        let object: JsValue = js_sys::Object::new().into();
        for (key, value) in [
            ("sent", s.sent),
            ("bytes", s.bytes),
            ("lost", s.lost),
            ("cut", s.cut),
            ("undeliverable", s.undeliverable),
            ("max_packet", u64::try_from(s.max_packet).unwrap_or(u64::MAX)),
            ("reordered", s.reordered),
        ] {
            set(&object, key, &JsValue::from_f64(value as f64));
        }
        object
    }

    /// Whether the nodes record their events for `takeEvents` (off at first: with thousands
    /// of nodes every join is an event everywhere).
    #[wasm_bindgen(js_name = setRecordEvents)]
    pub fn set_record_events(&mut self, on: bool) {
        self.sim.set_record_events(on);
    }

    /// The events recorded since the last call, oldest first per node: each as `Node.pollEvent`
    /// gives it, plus `node` (the index of the node that saw it) and `time` (ms).
    #[wasm_bindgen(js_name = takeEvents, unchecked_return_type = "ClusterEvent[]")]
    pub fn take_events(&mut self) -> Result<Array, JsError> {
        let list = Array::new();
        for i in 0..self.sim.len() {
            let events = core::mem::take(&mut self.sim.node_mut(i).events);
            for (time, event) in &events {
                let object = event_to_js(event)?;
                set(&object, "node", &JsValue::from_f64(i as f64));
                set(&object, "time", &JsValue::from_f64(time.as_millis_f64()));
                list.push(&object);
            }
        }
        Ok(list)
    }
}

impl Cluster {
    /// `i` as a node index, if there is such a node.
    fn index(&self, i: u32) -> Result<usize, JsError> {
        usize::try_from(i)
            .ok()
            .filter(|&i| i < self.sim.len())
            .ok_or_else(|| refused(format_args!("no node {i} (the cluster has {})", self.sim.len())))
    }

    fn sim_node(&self, i: u32) -> Result<&SimNode, JsError> {
        let i = self.index(i)?;
        Ok(self.sim.node(i))
    }

    /// Writes the status code of every member `node` knows at the member's index in `row`.
    fn fill_row(&self, node: &SimNode, row: &mut [u8]) {
        for MemberView { addr, status, .. } in node.node.members() {
            if let Some(cell) = self.sim.index_of(addr).and_then(|j| row.get_mut(j)) {
                *cell = status_code(status);
            }
        }
    }
}
