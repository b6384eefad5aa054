//! `Node`: one `rumor_core::Node` driven by JavaScript, which owns the socket (a WebRTC data
//! channel, a WebSocket relay, or a test harness) and the clock. The I/O contract is the
//! core's: feed datagrams and timeouts in, then drain `pollTransmit` and `pollEvent`, and call
//! `handleTimeout` again at `pollTimeout()`.

use js_sys::{Array, Object};
use rumor_core::{Config, Identity, Lifeguard, user_event};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsError, JsValue};

use crate::convert::{
    event_to_js, get, instant, js_bytes, keyring_from_js, member_to_js, meta_from_js, set, socket_addr, to_js,
};
use crate::error::refused;

/// The fields a config object may have.
const CONFIG_FIELDS: [&str; 4] = ["preset", "label", "keys", "lifeguard"];

/// A preset by name: `lan`, `wan` or `local` (`Config::lan`, `Config::wan`, `Config::local`).
pub(crate) fn preset(name: &str) -> Result<Config, JsError> {
    Config::preset(name).ok_or_else(|| {
        refused(format_args!("unknown preset {name:?} (expected one of {})", Config::PRESETS.join(", ")))
    })
}

/// The names of the timing presets (`Config::PRESETS`), for a page's picker.
#[wasm_bindgen(js_name = presetNames)]
pub fn preset_names() -> Vec<String> {
    Config::PRESETS.iter().map(|s| String::from(*s)).collect()
}

/// A preset's timings in milliseconds, and its fan-outs: what a page needs to draw the
/// epidemic model beside the real nodes, or to say how long detection should take. Read from
/// `Config::preset`, so the page never keeps its own copy.
#[wasm_bindgen(js_name = presetTimings, unchecked_return_type = "PresetTimings")]
pub fn preset_timings(name: &str) -> Result<JsValue, JsError> {
    let c = preset(name)?;
    let ms = |d: core::time::Duration| JsValue::from_f64(d.as_secs_f64() * 1000.0);
    let object: JsValue = Object::new().into();
    for (key, value) in [
        ("probeIntervalMs", ms(c.probe_interval)),
        ("probeTimeoutMs", ms(c.probe_timeout)),
        ("indirectChecks", JsValue::from(c.indirect_checks)),
        ("suspicionMult", JsValue::from(c.suspicion_mult)),
        ("suspicionMaxMult", JsValue::from(c.suspicion_max_mult)),
        ("retransmitMult", JsValue::from(c.retransmit_mult)),
        ("gossipIntervalMs", ms(c.gossip_interval)),
        ("gossipFanout", JsValue::from(c.gossip_fanout)),
        ("pushPullIntervalMs", ms(c.push_pull_interval)),
    ] {
        set(&object, key, &value);
    }
    Ok(object)
}

/// A config from undefined (the `lan` preset), a preset name, or an object `{preset, label,
/// keys, lifeguard}` (every field optional; `keys` is an array of base64 strings or 32-byte
/// `Uint8Array`s, the primary first; `lifeguard: false` is plain SWIM).
fn config_from_js(value: &JsValue) -> Result<Config, JsError> {
    if value.is_undefined() || value.is_null() {
        return Ok(Config::lan());
    }
    if let Some(name) = value.as_string() {
        return preset(&name);
    }
    if !value.is_object() {
        return Err(refused("config must be a preset name or an object"));
    }
    for field in Object::keys(&Object::from(value.clone())).iter() {
        let field = field.as_string().unwrap_or_default();
        if !CONFIG_FIELDS.contains(&field.as_str()) {
            return Err(refused(format_args!(
                "unknown config field {field:?} (expected {})",
                CONFIG_FIELDS.join(", ")
            )));
        }
    }
    let name = get(value, "preset");
    let mut config = if name.is_undefined() {
        Config::lan()
    } else {
        preset(&name.as_string().ok_or_else(|| refused("config.preset must be a string"))?)?
    };
    let label = get(value, "label");
    if !label.is_undefined() {
        config.label = label.as_string().ok_or_else(|| refused("config.label must be a string"))?;
    }
    config.keyring = keyring_from_js(&get(value, "keys"))?;
    match get(value, "lifeguard").as_bool() {
        Some(false) => config.lifeguard = Lifeguard::OFF,
        Some(true) => config.lifeguard = Lifeguard::ON,
        None => {}
    }
    Ok(config)
}

/// One Rumor node. Create it, `join` seeds, and from then on: pass every datagram received to
/// `handleDatagram`, call `handleTimeout` when `pollTimeout()` comes (and after any input), and
/// after each call send every `pollTransmit` result and read every `pollEvent`.
#[wasm_bindgen]
pub struct Node {
    inner: rumor_core::Node,
    /// The send buffer, `Config::mtu` bytes.
    buf: Vec<u8>,
}

#[wasm_bindgen]
impl Node {
    /// A node called `name` (1 to 64 bytes) that others reach at `addr` (`"ip:port"`), with
    /// `config` (a preset name `"lan"`, `"wan"`, `"local"`, or `{preset, label, keys,
    /// lifeguard}`; default `"lan"`), metadata `meta` (an object of strings), a 32-byte `seed`
    /// for its random choices (default: from `crypto.getRandomValues`) and the time `now` in
    /// milliseconds. Throws the core's message if any of them is refused.
    #[wasm_bindgen(constructor)]
    pub fn new(
        name: String,
        addr: &str,
        #[wasm_bindgen(unchecked_param_type = "Preset | NodeConfig | null | undefined")] config: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string> | null | undefined")] meta: JsValue,
        seed: Option<Vec<u8>>,
        now: f64,
    ) -> Result<Node, JsError> {
        let config = config_from_js(&config)?;
        let addr = socket_addr(addr)?;
        let meta = meta_from_js(&meta, config.max_meta_len)?;
        let seed: [u8; 32] = match seed {
            Some(seed) => {
                let len = seed.len();
                seed.try_into().map_err(|_| refused(format_args!("seed must be 32 bytes, not {len}")))?
            }
            None => {
                let mut seed = [0u8; 32];
                getrandom::fill(&mut seed).map_err(|e| refused(format_args!("no random seed: {e}")))?;
                seed
            }
        };
        let buf = vec![0; config.mtu];
        let inner =
            rumor_core::Node::new(config, Identity { name, addr, meta }, seed, instant(now)).map_err(refused)?;
        Ok(Node { inner, buf })
    }

    /// This node's name.
    #[wasm_bindgen(getter)]
    pub fn name(&self) -> String {
        self.inner.name().into()
    }

    /// The address others reach it at (`"ip:port"`).
    #[wasm_bindgen(getter)]
    pub fn addr(&self) -> String {
        self.inner.addr().to_string()
    }

    /// Its incarnation (raised whenever it refutes a suspicion or changes its metadata).
    #[wasm_bindgen(getter)]
    pub fn incarnation(&self) -> u32 {
        self.inner.incarnation()
    }

    /// Whether a seed (or any member) has answered since `join`.
    #[wasm_bindgen(getter, js_name = isJoined)]
    pub fn is_joined(&self) -> bool {
        self.inner.is_joined()
    }

    /// Whether its leave completed: it takes no more input.
    #[wasm_bindgen(getter, js_name = hasLeft)]
    pub fn has_left(&self) -> bool {
        self.inner.has_left()
    }

    /// Joins the cluster through `seeds` (`"ip:port"` strings), retrying until one answers.
    pub fn join(&mut self, seeds: Vec<String>, now: f64) -> Result<(), JsError> {
        let seeds = seeds.iter().map(|s| socket_addr(s)).collect::<Result<Vec<_>, _>>()?;
        self.inner.join(&seeds, instant(now)).map_err(refused)
    }

    /// Handles one datagram received from `from` (`"ip:port"`). Invalid datagrams are dropped
    /// and counted in `stats()`; only an unreadable `from` throws.
    #[wasm_bindgen(js_name = handleDatagram)]
    pub fn handle_datagram(&mut self, now: f64, from: &str, bytes: &[u8]) -> Result<(), JsError> {
        let from = socket_addr(from)?;
        self.inner.handle_datagram(instant(now), from, bytes);
        Ok(())
    }

    /// Runs the timers due at `now`.
    #[wasm_bindgen(js_name = handleTimeout)]
    pub fn handle_timeout(&mut self, now: f64) {
        self.inner.handle_timeout(instant(now));
    }

    /// The next datagram to send, `{destination: "ip:port", bytes: Uint8Array}`, or undefined
    /// when there is none.
    #[wasm_bindgen(js_name = pollTransmit, unchecked_return_type = "Transmit | undefined")]
    pub fn poll_transmit(&mut self, now: f64) -> JsValue {
        let Some(transmit) = self.inner.poll_transmit(instant(now), &mut self.buf) else {
            return JsValue::UNDEFINED;
        };
        let object: JsValue = Object::new().into();
        set(&object, "destination", &JsValue::from_str(&transmit.destination.to_string()));
        set(&object, "bytes", &js_bytes(self.buf.get(..transmit.size).unwrap_or_default()));
        object
    }

    /// The next event as a plain object (`type` is its kind: `member-joined`, `member-failed`,
    /// `user-event`, …; member events carry `name`, `addr`, `status`, `incarnation`, `meta`),
    /// or undefined when there is none.
    #[wasm_bindgen(js_name = pollEvent, unchecked_return_type = "RumorEvent | undefined")]
    pub fn poll_event(&mut self) -> Result<JsValue, JsError> {
        match self.inner.poll_event() {
            Some(event) => event_to_js(&event),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// When to call `handleTimeout` next, in milliseconds; undefined once the node has left.
    #[wasm_bindgen(js_name = pollTimeout)]
    pub fn poll_timeout(&self) -> Option<f64> {
        self.inner.poll_timeout().map(|t| t.as_millis_f64())
    }

    /// Replaces this node's metadata (an object of strings) and gossips it.
    #[wasm_bindgen(js_name = setMeta)]
    pub fn set_meta(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Record<string, string>")] meta: JsValue,
        now: f64,
    ) -> Result<(), JsError> {
        let meta = meta_from_js(&meta, self.inner.config().max_meta_len)?;
        self.inner.set_meta(&meta, instant(now)).map_err(refused)
    }

    /// Broadcasts `payload` to every member (best effort, by gossip).
    pub fn broadcast(&mut self, payload: &[u8], now: f64) -> Result<(), JsError> {
        self.inner.broadcast(payload, instant(now)).map_err(refused)
    }

    /// Broadcasts a named user event (`rumor_core::user_event`); receivers see its `name` and
    /// `data` on the `user-event` event.
    #[wasm_bindgen(js_name = sendEvent)]
    pub fn send_event(&mut self, name: &str, data: &[u8], now: f64) -> Result<(), JsError> {
        let payload = user_event::encode(name, data).map_err(refused)?;
        self.inner.broadcast(&payload, instant(now)).map_err(refused)
    }

    /// Leaves gracefully: a `leave-complete` event says when it may stop.
    pub fn leave(&mut self, now: f64) -> Result<(), JsError> {
        self.inner.leave(instant(now)).map_err(refused)
    }

    /// Every known member, this node first: `{name, addr, status, incarnation, meta}`, with
    /// `meta` an object of strings (or a `Uint8Array` when it is not a string map).
    #[wasm_bindgen(unchecked_return_type = "Member[]")]
    pub fn members(&self) -> Result<Array, JsError> {
        let list = Array::new();
        for member in self.inner.members() {
            list.push(&member_to_js(&member.to_member())?);
        }
        Ok(list)
    }

    /// Members by status: `{alive, suspect, failed, left}`.
    #[wasm_bindgen(js_name = memberCounts, unchecked_return_type = "MemberCounts")]
    pub fn member_counts(&self) -> Result<JsValue, JsError> {
        to_js(&self.inner.member_counts())
    }

    /// The core's counters (`packets_in`, `dropped_auth`, …) as numbers.
    #[wasm_bindgen(unchecked_return_type = "Stats")]
    pub fn stats(&self) -> Result<JsValue, JsError> {
        to_js(self.inner.stats())
    }
}
