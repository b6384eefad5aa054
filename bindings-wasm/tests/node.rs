//! The JavaScript-facing `Node` in the browser: datagrams from the native encoder, two nodes
//! meeting through the JavaScript API alone, and refusals as exceptions.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

mod common;

use common::{get, json, unhex};
use js_sys::Uint8Array;
use rumor_wasm::Node;
use serde_json::{Value, json};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

const VECTORS: &str = include_str!("../../tests/vectors/wire.json");

fn meta(pairs: &[(&str, &str)]) -> JsValue {
    let object = js_sys::Object::new();
    for (k, v) in pairs {
        js_sys::Reflect::set(&object, &JsValue::from_str(k), &JsValue::from_str(v)).unwrap();
    }
    object.into()
}

fn node(name: &str, addr: &str, config: JsValue, meta: JsValue, seed: u8, now: f64) -> Node {
    Node::new(name.into(), addr, config, meta, Some(vec![seed; 32]), now).unwrap_or_else(|e| {
        panic!("{name}: {:?}", JsValue::from(e).dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())))
    })
}

fn message_of(e: wasm_bindgen::JsError) -> String {
    JsValue::from(e).dyn_into::<js_sys::Error>().map(|e| String::from(e.message())).unwrap()
}

/// A ping encoded by the native encoder (the vector `plain_no_label_ping`: `Ping { seq: 7,
/// target: "b" }`) is answered by node `b` with an ack to the sender.
#[wasm_bindgen_test]
fn answers_a_natively_encoded_ping() {
    let vectors: Value = serde_json::from_str(VECTORS).unwrap();
    let frame = vectors["frames"].as_array().unwrap().iter().find(|f| f["name"] == "plain_no_label_ping").unwrap();
    assert_eq!(frame["messages"], json!([{"type": "Ping", "seq": 7, "target": "b"}]));
    let mut b = node("b", "10.0.0.2:7946", JsValue::from_str("lan"), JsValue::UNDEFINED, 2, 0.0);
    b.handle_datagram(5.0, "10.0.0.1:7946", &unhex(frame["hex"].as_str().unwrap())).unwrap();
    let mut acks = Vec::new();
    loop {
        let t = b.poll_transmit(5.0);
        if t.is_undefined() {
            break;
        }
        let bytes: Uint8Array = get(&t, "bytes").unchecked_into();
        let decoded = rumor_wasm::decode_frame(&bytes.to_vec(), JsValue::UNDEFINED, None).unwrap();
        let messages = json(&get(&decoded, "messages"));
        if messages.as_array().unwrap().iter().any(|m| m == &json!({"type": "Ack", "seq": 7})) {
            acks.push(json(&get(&t, "destination")));
        }
    }
    assert_eq!(acks, [json!("10.0.0.1:7946")]);
    assert_eq!(json(&b.stats().unwrap())["packets_in"], json!(1));
}

/// Two nodes, wired together only through the JavaScript API, each end up seeing the other
/// alive with its metadata; events come out in their serde shape.
#[wasm_bindgen_test]
fn two_nodes_meet_through_the_javascript_api() {
    let config = |label: &str| {
        let c = meta(&[("preset", "local"), ("label", label)]);
        let keys = js_sys::Array::of1(&JsValue::from_str("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="));
        js_sys::Reflect::set(&c, &JsValue::from_str("keys"), &keys).unwrap();
        c
    };
    let (a_addr, b_addr) = ("10.0.0.1:7946", "10.0.0.2:7946");
    let mut nodes = [
        node("a", a_addr, config("web"), meta(&[("role", "db")]), 1, 0.0),
        node("b", b_addr, config("web"), meta(&[("role", "web")]), 2, 0.0),
    ];
    nodes[1].join(vec![a_addr.into()], 0.0).unwrap();
    let mut events: Vec<Vec<Value>> = vec![Vec::new(), Vec::new()];
    let mut now = 0.0;
    let both_alive = |nodes: &[Node; 2]| {
        nodes.iter().all(|n| {
            let members = json(&n.members().unwrap().into());
            members.as_array().unwrap().len() == 2 && members.as_array().unwrap().iter().all(|m| m["status"] == "alive")
        })
    };
    while !both_alive(&nodes) {
        assert!(now < 10_000.0, "not met after 10 s");
        now += 10.0;
        for i in 0..2 {
            let due = nodes[i].poll_timeout();
            if due.is_some_and(|t| t <= now) {
                nodes[i].handle_timeout(now);
            }
            loop {
                let t = nodes[i].poll_transmit(now);
                if t.is_undefined() {
                    break;
                }
                let to = if json(&get(&t, "destination")) == json!(a_addr) { 0 } else { 1 };
                let bytes: Uint8Array = get(&t, "bytes").unchecked_into();
                let from = if i == 0 { a_addr } else { b_addr };
                nodes[to].handle_datagram(now, from, &bytes.to_vec()).unwrap();
            }
            loop {
                let e = nodes[i].poll_event().unwrap();
                if e.is_undefined() {
                    break;
                }
                events[i].push(json(&e));
            }
        }
    }
    assert!(nodes[1].is_joined());
    let a_members = json(&nodes[0].members().unwrap().into());
    assert_eq!(a_members[0]["name"], "a", "this node first");
    assert_eq!(
        a_members[1],
        json!({"name": "b", "addr": b_addr, "status": "alive", "incarnation": 0, "meta": {"role": "web"}})
    );
    assert!(
        events[1].contains(&json!({"type": "member-joined", "name": "a", "addr": a_addr, "status": "alive",
            "incarnation": 0, "meta": {"role": "db"}})),
        "{:?}",
        events[1]
    );
    assert!(events[1].contains(&json!({"type": "joined"})));
    assert_eq!(json(&nodes[0].member_counts().unwrap()), json!({"alive": 2, "suspect": 0, "failed": 0, "left": 0}));
    // Encrypted with the key given as base64: nothing was dropped for authentication.
    assert_eq!(json(&nodes[0].stats().unwrap())["dropped_auth"], json!(0));

    // A user event and new metadata travel too.
    nodes[0].send_event("deploy", b"v2", now).unwrap();
    nodes[0].set_meta(meta(&[("role", "primary")]), now).unwrap();
    let mut seen = Vec::new();
    for _ in 0..200 {
        now += 10.0;
        for i in 0..2 {
            nodes[i].handle_timeout(now);
            loop {
                let t = nodes[i].poll_transmit(now);
                if t.is_undefined() {
                    break;
                }
                let bytes: Uint8Array = get(&t, "bytes").unchecked_into();
                let from = if i == 0 { a_addr } else { b_addr };
                nodes[1 - i].handle_datagram(now, from, &bytes.to_vec()).unwrap();
            }
        }
        loop {
            let e = nodes[1].poll_event().unwrap();
            if e.is_undefined() {
                break;
            }
            seen.push(json(&e));
        }
    }
    assert!(
        seen.iter().any(|e| e["type"] == "user-event"
            && e["origin"] == "a"
            && e["name"] == "deploy"
            && e["data"] == "7632"
            && e["payload"] == "6465706c6f79007632"),
        "{seen:?}"
    );
    assert!(seen.iter().any(|e| e["type"] == "member-updated" && e["meta"] == json!({"role": "primary"})), "{seen:?}");

    nodes[1].leave(now).unwrap();
    let refused = nodes[1].set_meta(meta(&[("role", "gone")]), now).unwrap_err();
    assert_eq!(message_of(refused), "the node is leaving or has left");
}

/// Bad input from JavaScript is an exception carrying the core's message, never a panic.
#[wasm_bindgen_test]
fn refusals_are_exceptions() {
    let new = |name: &str, addr: &str, config: JsValue, meta: JsValue, seed: Option<Vec<u8>>| {
        Node::new(name.into(), addr, config, meta, seed, 0.0).map(|_| ()).map_err(message_of)
    };
    let none = || JsValue::UNDEFINED;
    assert_eq!(
        new("", "10.0.0.1:1", none(), none(), None),
        Err("node name must be 1 to 64 bytes without control characters".into())
    );
    assert_eq!(new("a", "nowhere", none(), none(), None), Err("\"nowhere\" is not a socket address (ip:port)".into()));
    assert_eq!(
        new("a", "10.0.0.1:1", "moon".into(), none(), None),
        Err("unknown preset \"moon\" (expected one of lan, wan, local)".into())
    );
    assert_eq!(
        new("a", "10.0.0.1:1", meta(&[("mtu", "9000")]), none(), None),
        Err("unknown config field \"mtu\" (expected preset, label, keys, lifeguard)".into())
    );
    assert_eq!(new("a", "10.0.0.1:1", none(), none(), Some(vec![0; 3])), Err("seed must be 32 bytes, not 3".into()));
    let long = "x".repeat(600);
    assert_eq!(
        new("a", "10.0.0.1:1", none(), meta(&[("k", &long)]), None),
        Err("metadata is 605 bytes; at most 512 allowed".into())
    );
    assert!(new("a", "10.0.0.1:1", none(), JsValue::from(5), None).unwrap_err().starts_with("metadata must be"));
    // Without a seed, the browser's CSPRNG gives one.
    let mut a = Node::new("a".into(), "10.0.0.1:7946", none(), none(), None, 0.0).unwrap();
    assert_eq!(a.name(), "a");
    assert!(a.join(vec!["10.0.0.2".into()], 0.0).is_err());
    assert!(a.handle_datagram(0.0, "x", b"RU").is_err());
    a.handle_datagram(0.0, "10.0.0.2:1", b"garbage").unwrap();
    let stats = json(&a.stats().unwrap());
    let dropped: u64 = stats
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| k.starts_with("dropped_"))
        .map(|(_, v)| v.as_u64().unwrap())
        .sum();
    assert_eq!((stats["packets_in"].as_u64(), dropped), (Some(1), 1), "dropped and counted once: {stats}");
    assert!(a.broadcast(&vec![0; 70_000], 0.0).is_err());
    a.handle_timeout(f64::NAN);
    a.handle_timeout(-1.0);
    assert!(a.poll_timeout().is_some());
}

/// `presetTimings` reads the core's presets (no copy in the page), in milliseconds.
#[wasm_bindgen_test]
fn preset_timings_are_the_cores() {
    for name in rumor_core::Config::PRESETS {
        let c = rumor_core::Config::preset(name).unwrap();
        let t = json(&rumor_wasm::preset_timings(name).map_err(JsValue::from).unwrap());
        let ms = |d: core::time::Duration| Some(d.as_secs_f64() * 1000.0);
        assert_eq!(t["gossipIntervalMs"].as_f64(), ms(c.gossip_interval), "{name}");
        assert_eq!(t["gossipFanout"].as_f64(), Some(f64::from(c.gossip_fanout)), "{name}");
        assert_eq!(t["probeIntervalMs"].as_f64(), ms(c.probe_interval), "{name}");
        assert_eq!(t["suspicionMult"].as_f64(), Some(f64::from(c.suspicion_mult)), "{name}");
    }
    assert_eq!(rumor_wasm::preset_names(), rumor_core::Config::PRESETS);
    let e = rumor_wasm::preset_timings("fast").map_err(JsValue::from).unwrap_err();
    let message = String::from(e.dyn_ref::<js_sys::Error>().unwrap().message());
    assert!(message.contains("unknown preset") && message.contains("lan"), "{message}");
}
