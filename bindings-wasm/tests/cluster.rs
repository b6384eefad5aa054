//! The simulator in the browser: failure detection in a 100-node cluster, a partition and its
//! healing, read through the compact views a page animates.
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::indexing_slicing, missing_docs)]

mod common;

use common::json;
use js_sys::{Function, Promise, Reflect};
use rumor_wasm::Cluster;
use serde_json::json;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// The code `Cluster.view` uses for a status name.
fn code(name: &str) -> u8 {
    let names = rumor_wasm::status_names();
    u8::try_from(names.iter().position(|n| n == name).unwrap()).unwrap()
}

/// Lets the browser run its event loop (a `setTimeout(0)`), so that the test runner's
/// WebDriver requests are answered during a long test.
async fn yield_to_browser() {
    let promise = Promise::new(&mut |resolve, _| {
        let set_timeout: Function = Reflect::get(&js_sys::global(), &"setTimeout".into()).unwrap().unchecked_into();
        set_timeout.call2(&JsValue::UNDEFINED, &resolve, &JsValue::from(0)).unwrap();
    });
    JsFuture::from(promise).await.unwrap();
}

/// Steps `cluster` a second at a time until `done` holds; panics after `limit_ms`.
async fn step_until(cluster: &mut Cluster, limit_ms: f64, what: &str, mut done: impl FnMut(&Cluster) -> bool) -> f64 {
    let start = cluster.now();
    while !done(cluster) {
        assert!(cluster.now() - start < limit_ms, "{what}: not after {limit_ms} ms");
        cluster.step(1000.0);
        yield_to_browser().await;
    }
    cluster.now() - start
}

#[wasm_bindgen_test]
fn status_codes_are_the_cores_names() {
    assert_eq!(rumor_wasm::status_names(), ["unknown", "alive", "suspect", "failed", "left"]);
}

#[wasm_bindgen_test]
async fn a_killed_node_is_seen_failed_by_all_others() {
    let n = 100;
    let mut cluster = Cluster::new(n, 7.0, Some("lan".into()), Some(true)).unwrap();
    assert_eq!(cluster.size(), n);
    let alive = code("alive");
    let matrix = cluster.matrix().to_vec();
    assert_eq!(matrix.len(), 100 * 100);
    assert!(matrix.iter().all(|&c| c == alive), "bootstrapped: everyone sees everyone alive");

    cluster.set_record_events(true);
    cluster.kill(42).unwrap();
    assert_eq!(cluster.states().to_vec()[42], 0, "killed");
    let failed = code("failed");
    let others = (0..n).filter(|&i| i != 42);
    let took = step_until(&mut cluster, 120_000.0, "everyone sees node 42 failed", |c| {
        others.clone().all(|i| c.view(i).unwrap().to_vec()[42] == failed)
    })
    .await;
    assert!(took > 0.0);
    let matrix = cluster.matrix().to_vec();
    for i in (0..100).filter(|&i| i != 42) {
        let row = &matrix[i * 100..(i + 1) * 100];
        assert_eq!(row[42], failed);
        assert_eq!(row.iter().filter(|&&c| c == alive).count(), 99, "row {i}");
    }
    assert_eq!(json(&cluster.member_counts(0).unwrap()), json!({"alive": 99, "suspect": 0, "failed": 1, "left": 0}));
    let events = json(&cluster.take_events().unwrap().into());
    let failures = events.as_array().unwrap().iter().filter(|e| e["type"] == "member-failed" && e["name"] == "node-42");
    assert_eq!(failures.count(), 99, "one member-failed event per observer");
    assert_eq!(json(&cluster.take_events().unwrap().into()), json!([]), "taken");
    assert!(json(&cluster.net_stats())["sent"].as_u64().unwrap() > 0);
    assert!(json(&cluster.stats(0).unwrap())["probes_sent"].as_u64().unwrap() > 0);

    cluster.restart(42).unwrap();
    step_until(&mut cluster, 60_000.0, "node 42 back", |c| c.matrix().to_vec().iter().all(|&s| s == alive)).await;
}

#[wasm_bindgen_test]
async fn a_partition_heals() {
    let n = 40;
    let mut cluster = Cluster::new(n, 11.0, None, None).unwrap();
    let (alive, failed) = (code("alive"), code("failed"));
    let side: Vec<u32> = (0..n / 2).collect();
    cluster.partition(side.clone()).unwrap();
    let across = |c: &Cluster, want: u8| {
        let m = c.matrix().to_vec();
        (0..n as usize).all(|i| (0..n as usize).all(|j| (i < 20) == (j < 20) || m[i * n as usize + j] == want))
    };
    step_until(&mut cluster, 180_000.0, "each side sees the other failed", |c| across(c, failed)).await;
    assert_eq!(json(&cluster.member_counts(0).unwrap())["alive"], json!(20));
    cluster.heal();
    step_until(&mut cluster, 300_000.0, "healed", |c| c.matrix().to_vec().iter().all(|&s| s == alive)).await;
}

#[wasm_bindgen_test]
fn faults_and_bad_arguments() {
    let mut cluster = Cluster::new(10, 3.0, Some("local".into()), Some(false)).unwrap();
    assert!(cluster.kill(10).is_err());
    assert!(cluster.view(99).is_err());
    assert!(cluster.partition(vec![1, 100]).is_err());
    assert!(cluster.set_loss(1.5).is_err());
    assert!(cluster.set_loss(f64::NAN).is_err());
    assert!(cluster.set_latency(5.0, 1.0).is_err());
    assert!(Cluster::new(0, 1.0, None, None).is_err());
    assert!(Cluster::new(3, -1.0, None, None).is_err());
    assert!(Cluster::new(3, 1.0, Some("moon".into()), None).is_err());
    cluster.set_loss(0.05).unwrap();
    cluster.set_latency(1.0, 20.0).unwrap();
    cluster.stall(2, 500.0).unwrap();
    assert_eq!(cluster.states().to_vec()[2], 2, "stalled");
    cluster.leave(3).unwrap();
    cluster.step(30_000.0);
    assert_eq!(cluster.now(), 30_000.0);
    assert_eq!(cluster.view(0).unwrap().to_vec()[3], code("left"));
    assert_eq!(cluster.states().to_vec()[2], 1, "running again");
    assert_eq!(Cluster::addr_for(0), "10.0.0.1:7946");
}

/// The size the simulator page uses: 2000 nodes form at once, and a whole matrix read is
/// one copy. Optimised builds only (CI runs `--release`): unoptimised, forming them blocks the
/// page longer than the test runner waits.
#[cfg(not(debug_assertions))]
#[wasm_bindgen_test]
async fn two_thousand_nodes() {
    let t0 = js_sys::Date::now();
    let mut cluster = Cluster::new(2000, 1.0, None, None).unwrap();
    let t1 = js_sys::Date::now();
    yield_to_browser().await;
    cluster.step(2000.0);
    let t2 = js_sys::Date::now();
    let matrix = cluster.matrix().to_vec();
    let t3 = js_sys::Date::now();
    wasm_bindgen_test::console_log!("new {} ms, step 2 s {} ms, matrix {} ms", t1 - t0, t2 - t1, t3 - t2);
    assert_eq!(matrix.len(), 2000 * 2000);
    assert!(matrix.iter().all(|&c| c == code("alive")));
}
