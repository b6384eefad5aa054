//! The embeddable agent (`Agent`/`Handle`) over real UDP sockets on loopback, in one process,
//! and its typed errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use rumor_agent::{Agent, AgentConfig, AgentEvent, Error, Handle, KeyOp, keys};
use rumor_core::{KeyringError, MetaError, Status};
use tokio::time::{Instant, sleep};

const DEADLINE: Duration = Duration::from_secs(20);

fn config(name: &str, seeds: &[SocketAddr]) -> AgentConfig {
    let mut c = AgentConfig::new(name, "127.0.0.1:0".parse().expect("addr"), rumor_core::Config::local());
    c.join = seeds.iter().map(ToString::to_string).collect();
    c
}

async fn start(name: &str, seeds: &[SocketAddr]) -> Agent {
    Agent::start(config(name, seeds)).await.expect("agent starts")
}

/// Polls `check` every 50 ms until it holds or `DEADLINE` passes.
async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let end = Instant::now() + DEADLINE;
    while Instant::now() < end {
        if check().await {
            return;
        }
        sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn state_of(viewer: &Handle, name: &str) -> Option<Status> {
    viewer.members().await.ok()?.into_iter().find(|m| m.name == name).map(|m| m.state)
}

async fn all_see(handles: &[Handle], name: &str, state: Status) -> bool {
    for h in handles {
        if h.name() != name && state_of(h, name).await != Some(state) {
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_agents_converge_share_meta_and_events_then_leave() {
    let a = start("a", &[]).await;
    let b = start("b", &[a.handle().local_addr()]).await;
    let c = start("c", &[b.handle().local_addr()]).await;
    let hs = [a.handle(), b.handle(), c.handle()];
    assert!(hs[0].is_ready(), "no seeds: ready at once");
    let mut events = hs[0].subscribe();

    eventually("every agent sees 3 alive", async || {
        for h in &hs {
            let ms = h.members().await.expect("running");
            if ms.len() != 3 || ms.iter().any(|m| m.state != Status::Alive) {
                return false;
            }
        }
        true
    })
    .await;
    assert!(hs.iter().all(Handle::is_ready));

    hs[1].set_meta(BTreeMap::from([("role".into(), "db".into())])).await.expect("meta fits");
    eventually("a sees b's metadata", async || {
        hs[0]
            .members()
            .await
            .expect("running")
            .iter()
            .any(|m| m.name == "b" && m.meta.get("role").is_some_and(|r| r == "db"))
    })
    .await;

    hs[2].send_event("deploy", b"v2").await.expect("fits");
    let got = tokio::time::timeout(DEADLINE, async {
        loop {
            if let AgentEvent::UserEvent { origin, name, payload } = events.recv().await.expect("open") {
                return (origin, name, payload);
            }
        }
    })
    .await
    .expect("user event arrives");
    assert_eq!(got, ("c".into(), "deploy".into(), b"v2".to_vec()));

    let too_big = vec![b'x'; hs[2].max_event_len() + 1];
    let e = hs[2].broadcast(too_big).await.expect_err("oversized broadcast refused");
    assert!(matches!(e, Error::Node(rumor_core::Error::PayloadTooLarge { .. })), "{e:?}");
    let e = hs[2].send_event("a\0b", b"").await.expect_err("NUL in the name");
    assert!(matches!(e, Error::UserEvent(_)), "{e:?}");
    assert_eq!(e.to_string(), "event name must not contain NUL");
    let e = hs[2].set_meta(BTreeMap::from([("k".into(), "x".repeat(600))])).await.expect_err("too long");
    assert!(matches!(e, Error::Meta(MetaError::TooLong { len: 605, max: 512 })), "{e:?}");

    let acks = hs[2].leave().await.expect("leaves");
    assert!(acks >= 1, "a live member acknowledged the leave");
    hs[2].stopped().await;
    assert!(matches!(hs[2].members().await, Err(Error::Stopped)), "a stopped agent refuses commands");
    eventually("a and b see c left", async || all_see(&hs[..2], "c", Status::Left).await).await;

    hs[1].shutdown().await;
    eventually("a sees b failed after a silent stop", async || state_of(&hs[0], "b").await == Some(Status::Dead)).await;
    let m = hs[0].metrics().await.expect("running");
    assert!(m.stats.probes_failed > 0 && m.stats.failures_declared >= 1, "{m:?}");
    hs[0].shutdown().await;
    for agent in [a, b, c] {
        tokio::time::timeout(DEADLINE, agent.wait()).await.expect("agents stop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_without_suspicion_and_strangers_stay_out() {
    let (k1, k2) = (keys::generate().expect("rng"), keys::generate().expect("rng"));
    let secured = |name: &str, seeds: &[SocketAddr], key: &rumor_core::Key| {
        let mut c = config(name, seeds);
        c.protocol.keyring = rumor_core::Keyring::with_primary(key.clone());
        c
    };
    let a = Agent::start(secured("a", &[], &k1)).await.expect("starts");
    let seed = [a.handle().local_addr()];
    let b = Agent::start(secured("b", &seed, &k1)).await.expect("starts");
    let c = Agent::start(secured("c", &seed, &k1)).await.expect("starts");
    let k3 = keys::generate().expect("rng");
    let stranger = Agent::start(secured("stranger", &seed, &k3)).await.expect("starts");
    let mut labelled = secured("other-label", &seed, &k1);
    labelled.protocol.label = "other".into();
    let labelled = Agent::start(labelled).await.expect("starts");
    let hs = [a.handle(), b.handle(), c.handle()];

    eventually("a, b, c see each other alive", async || {
        for h in &hs {
            if h.members().await.expect("running").iter().filter(|m| m.state == Status::Alive).count() != 3 {
                return false;
            }
        }
        true
    })
    .await;

    // Rotate k1 → k2 while watching for any suspicion.
    let mut watch = hs.iter().map(Handle::subscribe).collect::<Vec<_>>();
    for op in [KeyOp::Install(k2.clone()), KeyOp::Use(k2.clone()), KeyOp::Remove(k1.clone())] {
        for h in &hs {
            h.keys(op.clone()).await.expect("keyring change accepted");
        }
        sleep(Duration::from_millis(1500)).await; // three probe periods under each keyring
    }
    for h in &hs {
        assert_eq!(h.keys(KeyOp::List).await.expect("running"), vec![keys::encode(&k2)]);
    }
    let a_metrics = hs[0].metrics().await.expect("running");
    assert!(a_metrics.stats.probes_sent > 0);
    for (h, rx) in hs.iter().zip(&mut watch) {
        while let Ok(e) = rx.try_recv() {
            assert!(
                !matches!(e, AgentEvent::MemberSuspect { .. } | AgentEvent::MemberFailed { .. }),
                "{} saw {e:?} during the rotation",
                h.name()
            );
        }
    }
    let e = hs[1].keys(KeyOp::Remove(k2.clone())).await.expect_err("the primary cannot be removed");
    assert!(matches!(e, Error::Keyring(KeyringError::RemovePrimary)), "{e:?}");

    // Neither a node with another key nor one with another label ever got in.
    for h in &hs {
        let names: Vec<String> = h.members().await.expect("running").into_iter().map(|m| m.name).collect();
        assert_eq!(names, ["a", "b", "c"], "{} sees {names:?}", h.name());
    }
    let stats = hs[0].metrics().await.expect("running").stats;
    assert!(stats.dropped_auth > 0 && stats.dropped_label > 0, "the seed counted both: {stats:?}");

    for agent in [a, b, c, stranger, labelled] {
        agent.handle().shutdown().await;
        agent.wait().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_agents_converge() {
    let v6 = |name: &str, seeds: &[SocketAddr]| {
        let mut c = config(name, seeds);
        c.bind = "[::1]:0".parse().expect("addr");
        c
    };
    let Ok(a) = Agent::start(v6("a", &[])).await else {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    };
    let b = Agent::start(v6("b", &[a.handle().local_addr()])).await.expect("starts");
    let hs = [a.handle(), b.handle()];
    eventually("both see two alive over IPv6", async || {
        for h in &hs {
            let ms = h.members().await.expect("running");
            if ms.iter().filter(|m| m.state == Status::Alive && m.addr.is_ipv6()).count() != 2 {
                return false;
            }
        }
        true
    })
    .await;
    for agent in [a, b] {
        agent.handle().shutdown().await;
        agent.wait().await;
    }
}

#[tokio::test]
async fn start_errors_are_typed() {
    let e = Agent::start(config("", &[])).await.err().expect("empty name refused");
    assert!(matches!(&e, Error::Config(c) if c.field == "name"), "{e:?}");
    let a = start("a", &[]).await;
    let taken = a.handle().local_addr();
    let mut c = config("b", &[]);
    c.bind = taken;
    let e = Agent::start(c).await.err().expect("address in use");
    assert!(matches!(e, Error::Bind(addr, _) if addr == taken), "{e:?}");
    assert!(e.to_string().starts_with(&format!("cannot bind UDP {taken}: ")), "{e}");
    a.handle().shutdown().await;
    a.wait().await;
}
