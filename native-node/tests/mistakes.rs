//! What an operator sees in the first hour, against real `rumor agent` processes on loopback:
//! the start-up line, both sides of a join that cannot work (a wrong key, a wrong label) saying
//! why within seconds, and the refusals that keep encryption from being switched on or off by
//! accident (an empty keyring file, a key installed on an agent that does not encrypt) or
//! state from growing without bound (a keyring of more than 16 keys), with clear errors.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;

/// Waits until the agent's log holds a line with every one of `needles`; returns that line.
fn log_line(agent: &Agent, what: &str, needles: &[&str], timeout: Duration) -> (String, Duration) {
    wait_until(what, timeout, || {
        let log = std::fs::read_to_string(&agent.log).map_err(|e| e.to_string())?;
        log.lines()
            .find(|l| needles.iter().all(|n| l.contains(n)))
            .map(str::to_owned)
            .ok_or_else(|| format!("no line with {needles:?} in {}:\n{}", agent.log.display(), tail(&agent.log, 10)))
    })
}

#[test]
fn the_start_up_line_states_the_essentials() {
    let mut c = Cluster::new("startline");
    let ring = c.path("ring.json");
    write_keyring(&ring, &[key(1), key(2)]);
    c.start(AgentSpec::new("plain"));
    c.start(AgentSpec::new("sealed").keyring(&ring).label("prod"));
    let (plain, sealed) = (&c.agents[0], &c.agents[1]);
    let (line, _) = log_line(plain, "the start-up line", &["agent started:"], Duration::from_secs(5));
    for part in [
        "name=plain".to_owned(),
        format!("bind={}", plain.addr),
        format!("advertise={}", plain.addr),
        "encryption=off".to_owned(),
        "label=\"\"".to_owned(),
        "preset=local".to_owned(),
        "mdns=off".to_owned(),
        format!("http={}", plain.http),
    ] {
        assert!(line.contains(&part), "`{part}` missing from {line}");
    }
    let (line, _) = log_line(sealed, "the start-up line", &["agent started:"], Duration::from_secs(5));
    let id = rumor_core::Key::from_bytes(key(1)).id();
    assert!(line.contains(&format!("encryption=on (primary key id {id:#04x}, 2 keys)")), "{line}");
    assert!(line.contains("label=\"prod\""), "{line}");
}

/// A joiner with the wrong key, and one with the wrong label: each warns that no seed
/// answers, naming what to check, and the seed warns about the datagrams it drops, with the
/// reason and the source, all within 5 s; the drops are counted as before.
#[test]
fn a_join_that_cannot_work_is_explained_on_both_sides() {
    let mut c = Cluster::new("wrongjoin");
    let (good, bad) = (c.path("good.json"), c.path("bad.json"));
    write_keyring(&good, &[key(1)]);
    write_keyring(&bad, &[key(2)]);
    c.start(AgentSpec::new("seed").keyring(&good).label("prod"));
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("wrong-key").keyring(&bad).label("prod").join(&[seed]));
    c.start(AgentSpec::new("wrong-label").keyring(&good).label("test").join(&[seed]));
    let limit = Duration::from_secs(5);
    for joiner in [&c.agents[1], &c.agents[2]] {
        let (line, took) = log_line(joiner, "the joiner's warning", &["WARN", "no seed has answered"], limit);
        eprintln!("figure: {} warned after {took:?}: {line}", joiner.name());
        for hint in ["reachable", "key", "label"] {
            assert!(line.contains(hint), "the warning does not mention `{hint}`: {line}");
        }
    }
    let seed_agent = &c.agents[0];
    for (joiner, reason) in [(&c.agents[1], "auth"), (&c.agents[2], "label")] {
        let from = format!("from={}", joiner.addr);
        let (line, took) = log_line(
            seed_agent,
            &format!("the seed's warning about {}", joiner.name()),
            &["WARN", "dropped a datagram", &format!("reason=\"{reason}\""), &from],
            limit,
        );
        eprintln!("figure: the seed warned about {} after {took:?}: {line}", joiner.name());
    }
    // One line per reason and source per 10 s however many datagrams, each one counted.
    std::thread::sleep(Duration::from_secs(2));
    let log = std::fs::read_to_string(&seed_agent.log).unwrap();
    let lines = log.lines().filter(|l| l.contains("dropped a datagram") && l.contains("reason=\"auth\"")).count();
    let metrics = seed_agent.metrics().unwrap();
    assert!(dropped(&metrics, "auth") >= 2.0 && dropped(&metrics, "label") >= 2.0, "{metrics}");
    assert_eq!(lines, 1, "the wrong key's drops were logged more than once in 10 s:\n{log}");
}

/// An empty keyring file would silently mean "no encryption": refused, naming the field
/// and the file, as is a keyring of more than 16 keys.
#[test]
fn an_empty_keyring_file_is_refused() {
    let c = Cluster::new("emptyring");
    let ring = c.path("empty.json");
    std::fs::write(&ring, "[]").unwrap();
    let ring_s = ring.display().to_string();
    let port = free_port().to_string();
    let bind = format!("127.0.0.1:{port}");
    // Starts an agent with the keyring file; it must refuse to start (exit 2). Its stderr.
    let refused = || {
        let args = ["agent", "--name", "a", "--bind", &bind, "--http", "off", "--keyring", &ring_s];
        let out = run_rumor(&args, &[], Duration::from_secs(10));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{err}");
        err
    };
    let err = refused();
    assert!(err.contains("`keyring`") && err.contains(&ring_s) && err.contains("holds no keys"), "{err}");

    let many: Vec<[u8; 32]> = (0..17).map(key).collect();
    write_keyring(&ring, &many);
    let err = refused();
    assert!(err.contains("`keyring`") && err.contains("at most 16"), "{err}");
}

/// `rumor keys install` on an agent started without a keyring would make the key primary at
/// once and cut the agent off from its plaintext cluster: refused, and the agent stays
/// plaintext and in the cluster. On an encrypted agent the keyring stops at 16 keys.
#[test]
fn key_operations_are_refused_without_encryption_and_past_sixteen_keys() {
    let mut c = Cluster::new("keyrules");
    c.start(AgentSpec::new("a"));
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("b").join(&[seed]));
    c.wait_states("a and b alive", &["a", "b"], &[("a", "alive"), ("b", "alive")], Duration::from_secs(20));
    let http = c.agents[0].http.to_string();
    let out = run_rumor(&["keys", "install", &b64(&key(5)), "--http", &http], &[], Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "installing a key on a plaintext agent succeeded");
    assert!(err.contains("does not encrypt"), "{err}");
    assert!(rumor_ok(&["keys", "list", "--http", &http]).trim().is_empty(), "the keyring stayed empty");
    std::thread::sleep(Duration::from_secs(3));
    c.wait_states("a and b still alive", &["a", "b"], &[("a", "alive"), ("b", "alive")], Duration::from_secs(5));

    let ring = c.path("ring.json");
    write_keyring(&ring, &[key(1)]);
    c.start(AgentSpec::new("sealed").keyring(&ring));
    let http = c.agents[2].http.to_string();
    for k in 2..=16 {
        rumor_ok(&["keys", "install", &b64(&key(k)), "--http", &http]);
    }
    let out = run_rumor(&["keys", "install", &b64(&key(17)), "--http", &http], &[], Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("16 keys"), "{err}");
    assert_eq!(read_keyring(&ring).len(), 16);
}

/// An empty user-event name is refused with a clear error.
#[test]
fn an_empty_event_name_is_refused() {
    let mut c = Cluster::new("emptyevent");
    c.start(AgentSpec::new("a"));
    let http = c.agents[0].http.to_string();
    let out = run_rumor(&["event", "", "x", "--http", &http], &[], Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("must not be empty"), "{err}");
}

/// Turning encryption on in a running plaintext cluster, the three steps of docs/agent.md
/// with real processes: each agent restarted with the next step's flags, nobody ever seen
/// anything but alive by the agents that stay up.
#[test]
fn encryption_is_turned_on_by_rolling_restarts() {
    let mut c = Cluster::new("migrate");
    let ring = c.path("ring.json");
    write_keyring(&ring, &[key(1)]);
    let names = ["m0", "m1", "m2"];
    c.start(AgentSpec::new("m0"));
    let seed = c.agents[0].addr;
    for n in &names[1..] {
        c.start(AgentSpec::new(n).join(&[seed]));
    }
    let alive: Vec<(&str, &str)> = names.iter().map(|n| (*n, "alive")).collect();
    c.wait_states("plaintext cluster", &names, &alive, Duration::from_secs(20));
    let steps: [&[&str]; 3] = [&["--accept-plaintext", "--send-plaintext"], &["--accept-plaintext"], &[]];
    for (step, flags) in steps.iter().enumerate() {
        for i in 0..names.len() {
            let others: Vec<SocketAddrOf> = (0..names.len()).filter(|&j| j != i).map(|j| c.agents[j].addr).collect();
            let mut spec = c.agents[i].spec.clone().keyring(&ring).join(&others);
            spec.port = Some(c.agents[i].addr.port());
            spec.extra = flags.iter().map(|f| (*f).to_owned()).collect();
            c.agents[i].terminate(Duration::from_secs(10));
            c.start(spec);
            c.wait_states(
                &format!("step {} after restarting {}", step + 1, names[i]),
                &names,
                &alive,
                Duration::from_secs(20),
            );
        }
    }
    let plain = free_port();
    let mut stranger = AgentSpec::new("stranger").join(&[seed]);
    stranger.port = Some(plain);
    c.start(stranger);
    std::thread::sleep(Duration::from_secs(3));
    let view = c.agents[0].members().unwrap();
    assert_eq!(view.state_of("stranger"), None, "a plaintext agent joined the encrypted cluster:\n{}", view.table());
}

type SocketAddrOf = std::net::SocketAddr;
