//! A bounded flood of hostile datagrams at a real agent on loopback: random garbage, truncated
//! frames, unknown versions, other clusters' labels, other keys, plaintext, oversized
//! datagrams, replays and a rate-limit burst. The agent must keep answering its peers' probes
//! (it stays alive in their views), keep its memory flat, and count every drop under the
//! right reason in /metrics.
//!
//! Drops are accounted exactly: what the agent counts under a reason plus what the kernel
//! dropped on the agent's socket (the `drops` column of /proc/net/udp, when its receive buffer
//! was full) must explain every datagram sent, and no reason may count more than was sent for
//! it.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use rumor_core::Key;
use rumor_core::wire::{Message, encode_frame, encode_to_vec};

const LABEL: &str = "flood";
const KEY: u8 = 42;
/// Datagrams per category in the accounting phase (under the per-source burst of 2000).
const PER_CATEGORY: usize = 1000;
/// Datagrams of the rate-limit burst, all from one source.
const RATE_BURST: usize = 5000;
/// Bounds of each of the two rounds of the big flood: whichever comes first.
const FLOOD_ROUND_PACKETS: usize = 30_000;
const FLOOD_ROUND_TIME: Duration = Duration::from_secs(5);
/// Distinct source addresses of the sweep that opens the big flood.
const SWEEP_SOURCES: usize = 6_000;
/// `max_inbound_packet` of the presets: the largest datagram an agent accepts.
const MAX_INBOUND: usize = 9_216;
/// RSS may grow by this much over the flood (allocator noise, lazily touched pages).
const RSS_MARGIN_KIB: u64 = 4 * 1024;
/// ... and by at most this much over the second of two equal rounds.
const RSS_FLAT_KIB: u64 = 1024;

/// What a hostile datagram is, and the drop reason the agent must count it under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Garbage,
    Truncated,
    Version,
    WrongLabel,
    WrongKey,
    Plaintext,
    Oversized,
}

impl Kind {
    const ALL: [Kind; 7] = [
        Kind::Garbage,
        Kind::Truncated,
        Kind::Version,
        Kind::WrongLabel,
        Kind::WrongKey,
        Kind::Plaintext,
        Kind::Oversized,
    ];

    fn reason(self) -> &'static str {
        match self {
            Kind::Garbage | Kind::Truncated => "decode",
            Kind::Version => "version",
            Kind::WrongLabel => "label",
            Kind::WrongKey | Kind::Plaintext => "auth",
            Kind::Oversized => "oversized",
        }
    }
}

/// Makes hostile datagrams for an agent named `target`.
struct Forge {
    rng: SplitMix,
    nonce: u64,
    target: String,
}

impl Forge {
    fn body(&mut self) -> Vec<u8> {
        let seq = self.rng.next_u64() as u32;
        encode_to_vec(&Message::Ping { seq, target: &self.target })
    }

    fn next_nonce(&mut self) -> [u8; 12] {
        self.nonce += 1;
        let mut n = [0u8; 12];
        n[..4].copy_from_slice(b"fld!");
        n[4..].copy_from_slice(&self.nonce.to_be_bytes());
        n
    }

    fn sealed(&mut self, label: &str, key: u8) -> Vec<u8> {
        let body = self.body();
        let nonce = self.next_nonce();
        encode_frame(label.as_bytes(), Some((&Key::from_bytes(key_bytes(key)), nonce)), &body).expect("frame fits")
    }

    fn make(&mut self, kind: Kind) -> Vec<u8> {
        match kind {
            Kind::Garbage => {
                // Mostly packet-sized, sometimes exactly the largest size accepted.
                let len = if self.rng.below(10) == 0 { MAX_INBOUND } else { 1 + self.rng.below(1400) };
                let mut g = self.rng.bytes(len);
                // Not the magic's first byte, so it is garbage and not (by chance) a header.
                if g[0] == b'R' {
                    g[0] = b'X';
                }
                g
            }
            Kind::Truncated => {
                // A real sealed frame cut inside its header + tag: too short to be a frame.
                let frame = self.sealed(LABEL, KEY);
                let min_sealed = 5 + LABEL.len() + 13 + 16;
                let len = 1 + self.rng.below(min_sealed - 1);
                frame[..len].to_vec()
            }
            Kind::Version => {
                let mut frame = self.sealed(LABEL, KEY);
                frame[2] = 2 + (self.rng.below(250) as u8);
                frame
            }
            Kind::WrongLabel => self.sealed("other-cluster", KEY),
            Kind::WrongKey => self.sealed(LABEL, KEY + 1),
            Kind::Plaintext => {
                let body = self.body();
                encode_frame(LABEL.as_bytes(), None, &body).expect("frame fits")
            }
            Kind::Oversized => {
                // Half exactly one byte too many (the agent must not read a truncated copy as
                // acceptable), half up to the largest UDP payload.
                let len = if self.rng.below(2) == 0 {
                    MAX_INBOUND + 1
                } else {
                    MAX_INBOUND + 1 + self.rng.below(65_507 - MAX_INBOUND)
                };
                self.rng.bytes(len)
            }
        }
    }
}

fn key_bytes(k: u8) -> [u8; 32] {
    key(k)
}

/// A socket bound to a distinct loopback source address, so each has its own rate-limit
/// bucket and none shares one with the real peers on 127.0.0.1.
fn source(a: u8, b: u8) -> UdpSocket {
    UdpSocket::bind((Ipv4Addr::new(127, 0, a, b), 0)).unwrap_or_else(|e| panic!("binding 127.0.{a}.{b}: {e}"))
}

/// The kernel's drop count for the UDP socket bound to `port` on 127.0.0.1 (last column of
/// /proc/net/udp): datagrams that never reached the agent because its buffer was full.
fn kernel_drops(port: u16) -> u64 {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

const REASONS: [&str; 7] = ["decode", "version", "auth", "label", "rate_limit", "oversized", "replay"];

fn drop_counts(text: &str) -> BTreeMap<&'static str, u64> {
    REASONS.iter().map(|r| (*r, dropped(text, r) as u64)).collect()
}

fn diff(after: &BTreeMap<&'static str, u64>, before: &BTreeMap<&'static str, u64>) -> BTreeMap<&'static str, u64> {
    after.iter().map(|(r, a)| (*r, a - before.get(r).copied().unwrap_or(0))).collect()
}

/// Waits until the agent has read everything sent to it (its received-packet counter plus
/// the kernel's drops stop moving) and returns its metrics text.
fn settled_metrics(agent: &Agent) -> String {
    let mut last = (f64::NAN, u64::MAX);
    let (text, _) = wait_until("the agent to drain its socket", Duration::from_secs(30), || {
        let text = agent.metrics()?;
        let now = (metric(&text, "rumor_received_packets_total").unwrap_or(0.0), kernel_drops(agent.addr.port()));
        // Peers keep gossiping, so "not moving" means: at most a handful of packets since the
        // previous poll.
        let quiet = (now.0 - last.0).abs() < 20.0 && now.1 == last.1;
        last = now;
        if quiet { Ok(text) } else { Err(format!("still receiving: {now:?}")) }
    });
    text
}

#[test]
fn garbage_flood_is_dropped_counted_and_harmless() {
    let mut c = Cluster::new("flood");
    let ring = c.path("flood.keys");
    write_keyring(&ring, &[key(KEY)]);
    c.start(AgentSpec::new("target").keyring(&ring).label(LABEL));
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("peer1").keyring(&ring).label(LABEL).join(&[seed]));
    c.start(AgentSpec::new("peer2").keyring(&ring).label(LABEL).join(&[seed]));
    let names = ["target", "peer1", "peer2"];
    let all: Vec<(&str, &str)> = names.iter().map(|n| (*n, "alive")).collect();
    c.wait_states("3 agents to converge", &names, &all, Duration::from_secs(30));

    let seed_value = 0x5eed_f00d_u64;
    eprintln!("garbage seed {seed_value:#x}");
    let mut forge = Forge { rng: SplitMix(seed_value), nonce: 0, target: "target".to_owned() };
    let target = c.agent("target");
    let dst: SocketAddr = target.addr;
    let pid = target.pid();

    // Watch the peers' view of the target during everything that follows.
    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let polls = Arc::new(Mutex::new(0u64));
    let suspect = Arc::new(Mutex::new(0u64));
    let watcher = {
        let peers: Vec<(&'static str, SocketAddr)> =
            vec![("peer1", c.agent("peer1").http), ("peer2", c.agent("peer2").http)];
        let (stop, seen, polls, suspect) = (stop.clone(), seen.clone(), polls.clone(), suspect.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                for (p, http) in &peers {
                    match members(*http) {
                        Ok(v) if v.state_of("target") == Some("alive") => {}
                        // A probe lost to a full socket buffer may raise a suspicion, which
                        // the target then refutes: counted, not fatal.
                        Ok(v) if v.state_of("target") == Some("suspect") => *suspect.lock().unwrap() += 1,
                        Ok(v) => seen.lock().unwrap().push(format!(
                            "{p} sees target {:?}:\n{}",
                            v.state_of("target"),
                            v.table()
                        )),
                        Err(e) => seen.lock().unwrap().push(format!("polling {p}: {e}")),
                    }
                }
                *polls.lock().unwrap() += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        })
    };

    // Warm-up: one of each kind, so one-time allocations (buffers, tables) happen before the
    // memory baseline.
    let warm = source(3, 1);
    for _ in 0..50 {
        for k in Kind::ALL {
            let _ = warm.send_to(&forge.make(k), dst);
        }
    }
    let base = drop_counts(&settled_metrics(target));
    let kernel_base = kernel_drops(dst.port());
    let rss_before = rss_kib(pid);

    // Phase 1, accounting: PER_CATEGORY of each kind, each kind from its own source,
    // interleaved and paced; PER_CATEGORY replays of one valid frame; a rate-limit burst.
    let sources: Vec<UdpSocket> = (0..Kind::ALL.len()).map(|i| source(2, 1 + i as u8)).collect();
    let mut sent: BTreeMap<&'static str, u64> = BTreeMap::new();
    let phase1 = Instant::now();
    for round in 0..PER_CATEGORY {
        for (k, sock) in Kind::ALL.iter().zip(&sources) {
            sock.send_to(&forge.make(*k), dst).unwrap();
            *sent.entry(k.reason()).or_default() += 1;
        }
        if round % 20 == 19 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let replayer = source(2, 100);
    let valid = forge.sealed(LABEL, KEY);
    for i in 0..PER_CATEGORY {
        replayer.send_to(&valid, dst).unwrap();
        if i % 50 == 49 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    // The first copy is accepted (a valid ping); every later one is a replay.
    *sent.entry("replay").or_default() += PER_CATEGORY as u64 - 1;
    let burst = source(2, 200);
    // The limiter refuses before looking at the bytes, so one forged packet serves.
    let version_packet = forge.make(Kind::Version);
    let burst_start = Instant::now();
    for i in 0..RATE_BURST {
        burst.send_to(&version_packet, dst).unwrap();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let burst_secs = burst_start.elapsed().as_secs_f64();
    let phase1_time = phase1.elapsed();
    let after1 = drop_counts(&settled_metrics(target));
    let kernel1 = kernel_drops(dst.port()) - kernel_base;
    let got = diff(&after1, &base);
    eprintln!(
        "figure: phase 1 sent {sent:?} + {RATE_BURST} burst in {phase1_time:?}; \
         agent counted {got:?}; kernel dropped {kernel1}"
    );

    // Exact accounting. The burst's packets are `version` packets: those the rate limiter
    // let through count as version, the rest as rate_limit.
    let mut problems = Vec::new();
    let mut unexplained = 0u64;
    for reason in ["decode", "auth", "label", "oversized", "replay"] {
        let (s, g) = (sent.get(reason).copied().unwrap_or(0), got[reason]);
        if g > s {
            problems.push(format!("`{reason}` counted {g} but only {s} such datagrams were sent"));
        }
        unexplained += s.saturating_sub(g);
        if g == 0 {
            problems.push(format!("`{reason}` counted nothing of {s} sent"));
        }
    }
    let version_sent = sent["version"] + RATE_BURST as u64;
    let version_got = got["version"] + got["rate_limit"];
    if version_got > version_sent {
        problems.push(format!("`version` + `rate_limit` counted {version_got} but only {version_sent} were sent"));
    }
    unexplained += version_sent.saturating_sub(version_got);
    // At most the burst allowance (2000) plus the refill (500/s) passes the limiter.
    let min_limited = (RATE_BURST as f64 - 2000.0 - 500.0 * (burst_secs + 1.0)).max(0.0) as u64;
    if got["rate_limit"] + kernel1 < min_limited {
        problems.push(format!(
            "`rate_limit` counted {} (kernel dropped {kernel1}); at least {min_limited} of the \
             {RATE_BURST}-packet burst exceed the per-source limit",
            got["rate_limit"]
        ));
    }
    if unexplained > kernel1 {
        problems.push(format!(
            "{unexplained} datagrams are counted under no reason, but the kernel dropped only {kernel1}"
        ));
    }
    assert!(
        problems.is_empty(),
        "drop accounting is wrong:\n{}\nsent {sent:?} (+{RATE_BURST} burst), counted {got:?}",
        problems.join("\n")
    );

    // Phase 2: the big flood, from 256 sources, bounded in count and time. Datagrams are
    // forged up front so the sender is not slowed by sealing.
    let pool: Vec<Vec<u8>> = (0..4096).map(|i| forge.make(Kind::ALL[i % Kind::ALL.len()])).collect();
    let many: Vec<UdpSocket> = (0..=255u8).map(|b| source(4, b)).collect();
    let phase2 = Instant::now();
    // First a sweep from many more source addresses than the rate limiter has slots (512), as
    // a spoofed flood would be, so every slot is shared by several sources.
    for i in 0..SWEEP_SOURCES {
        let sock = UdpSocket::bind((Ipv4Addr::new(127, 5, (i / 250) as u8, 1 + (i % 250) as u8), 0))
            .unwrap_or_else(|e| panic!("binding sweep source {i}: {e}"));
        let _ = sock.send_to(&pool[i % pool.len()], dst);
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // Then two equal rounds from 256 sources. Tables that fill up do so in the first round;
    // memory that grows per datagram grows in both, so the second round must leave RSS flat.
    let round = |offset: usize| -> usize {
        let start = Instant::now();
        let mut sent = 0;
        'flood: loop {
            for sock in &many {
                if sent >= FLOOD_ROUND_PACKETS || start.elapsed() >= FLOOD_ROUND_TIME {
                    break 'flood;
                }
                let _ = sock.send_to(&pool[(offset + sent) % pool.len()], dst);
                sent += 1;
            }
            // At most about 12 000 datagrams a second: about what a debug build reads on a
            // loaded machine, so the kernel drops few (the peers' probes share the socket).
            std::thread::sleep(Duration::from_millis(20));
        }
        sent
    };
    let first = round(0);
    settled_metrics(target);
    let rss_mid = rss_kib(pid);
    let second = round(first);
    let flood_sent = SWEEP_SOURCES + first + second;
    let phase2_time = phase2.elapsed();
    let after2_text = settled_metrics(target);
    let rss_after = rss_kib(pid);
    let got2 = diff(&drop_counts(&after2_text), &after1);
    let kernel2 = kernel_drops(dst.port()) - kernel_base - kernel1;
    eprintln!(
        "figure: phase 2 sent {flood_sent} datagrams ({SWEEP_SOURCES} sources once each, then {first} + \
         {second} from 256 sources) in {phase2_time:?}; agent counted {got2:?}; kernel dropped {kernel2}"
    );
    eprintln!(
        "figure: target RSS {rss_before} KiB before, {rss_mid} KiB after round 1 ({:+}), \
         {rss_after} KiB after round 2 ({:+})",
        rss_mid as i64 - rss_before as i64,
        rss_after as i64 - rss_mid as i64
    );

    // The target still answers probes: both peers still see it alive after the flood, and
    // saw it alive at every poll during it.
    c.wait_states(
        "the peers to see the target alive after the flood",
        &["peer1", "peer2"],
        &[("target", "alive")],
        Duration::from_secs(10),
    );
    stop.store(true, Ordering::Relaxed);
    watcher.join().unwrap();
    let seen = seen.lock().unwrap();
    let polls = *polls.lock().unwrap();
    let suspect = *suspect.lock().unwrap();
    eprintln!("figure: peers saw the target suspect in {suspect} of {} views polled, failed in none", 2 * polls);
    assert!(
        seen.is_empty(),
        "the target was neither alive nor suspect in a peer's view at {} of {polls} polls during the flood:\n{}",
        seen.len(),
        seen.join("\n")
    );
    let total2: u64 = got2.values().sum();
    // Every datagram of the flood was either counted as a drop or lost in the kernel (which
    // may also have lost a few of the peers' packets, hence only a lower bound there).
    assert!(
        total2 + kernel2 >= flood_sent as u64 && total2 <= flood_sent as u64,
        "phase 2: {flood_sent} sent, but {total2} counted as drops and {kernel2} dropped by the kernel"
    );
    assert!(
        rss_after <= rss_before + RSS_MARGIN_KIB,
        "the target's RSS grew from {rss_before} KiB to {rss_after} KiB over the flood (allowed {RSS_MARGIN_KIB} KiB)"
    );
    assert!(
        rss_after <= rss_mid + RSS_FLAT_KIB,
        "the target's RSS kept growing: {rss_mid} KiB after the first round, {rss_after} KiB after \
         an equal second one (allowed {RSS_FLAT_KIB} KiB)"
    );
    let target = c.agent("target").members().unwrap();
    for p in ["peer1", "peer2"] {
        assert_eq!(target.state_of(p), Some("alive"), "the flooded target still sees {p} alive:\n{}", target.table());
    }
}
