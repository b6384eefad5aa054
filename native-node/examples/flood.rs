//! The flood check of `tests/flood/run.sh`: three encrypted `rumor agent` processes on loopback
//! (127.0.0.11, .12 and .13), and a flood of hostile datagrams at the first one, bounded in
//! time, from two places at once:
//!
//! - a second address (127.0.0.99), and
//! - a member's own address (127.0.0.12, another port): what a spoofer of that member's source
//!   address gets through the agent's per-source rate limit, which is keyed by IP.
//!
//! The datagrams are random bytes, mutated copies of a frame sealed with the cluster's key (one
//! byte changed, or cut short), replays of that frame, frames sealed with another key or
//! another cluster's label, plaintext frames and unknown versions. While it runs, every agent's
//! view is polled; afterwards it checks that the flooded agent is still up, that no member was
//! ever seen anything but `alive`, that the flooded agent's resident memory stayed flat, and
//! that every datagram sent is counted under a drop reason (or in the kernel's drop count of the
//! agent's socket, when its buffer overflowed), with each reason the flood aimed at counted.
//!
//! ```text
//! cargo build -p rumor-node --bin rumor --example flood
//! target/debug/examples/flood --rumor target/debug/rumor [--secs 20] [--pps 8000]
//! ```
//! The flood's first copy of the captured frame authenticates (it is sealed with the cluster's
//! key, as a captured frame would be), so the flood's own nonce stream is then known: its frames
//! sealed with another key pass the rate limit on that stream's allowance and are counted as
//! `auth` rather than `rate_limit`, at most the stream's 500 a second.
//!
//! Exit status 0 when every check holds, 1 otherwise, 77 when loopback addresses other than
//! 127.0.0.1 cannot be bound (not Linux).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rumor_core::wire::{Message, encode_frame, encode_to_vec};
use rumor_core::{Dropped, Key};

const LABEL: &str = "flood";
const KEY: [u8; 32] = [42; 32];
const OTHER_KEY: [u8; 32] = [43; 32];
const NAMES: [&str; 3] = ["m1", "m2", "m3"];
/// Resident memory may grow this much over the whole flood (allocator noise, lazily touched
/// pages), and this much over its second half.
const RSS_MARGIN_KIB: u64 = 8 * 1024;
const RSS_FLAT_KIB: u64 = 2 * 1024;

struct Args {
    rumor: PathBuf,
    secs: u64,
    pps: u64,
    members: usize,
}

fn args() -> Args {
    let mut a = Args { rumor: PathBuf::from("target/debug/rumor"), secs: 20, pps: 10_000, members: 3 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--rumor" => a.rumor = PathBuf::from(value),
            "--secs" => a.secs = value.parse().unwrap_or_else(|_| fail("--secs takes seconds")),
            "--pps" => a.pps = value.parse().unwrap_or_else(|_| fail("--pps takes datagrams a second")),
            "--members" => {
                a.members =
                    value.parse().ok().filter(|n| (2..=3).contains(n)).unwrap_or_else(|| fail("--members is 2 or 3"))
            }
            _ => fail(&format!("unknown flag {flag}")),
        }
    }
    a
}

/// Says why and ends the run unsuccessfully, unwinding (not `exit`), so that every agent
/// started so far is killed by its `Drop` rather than left running.
fn fail(why: &str) -> ! {
    eprintln!("flood: {why}");
    std::panic::resume_unwind(Box::new(why.to_owned()))
}

/// SplitMix64: a seeded generator, so a failing flood can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Hostile datagrams for the agent `target`.
struct Forge {
    rng: Rng,
    nonce: u64,
    /// One frame sealed with the cluster's key: accepted once, replayed after.
    captured: Vec<u8>,
}

impl Forge {
    fn new(seed: u64) -> Forge {
        let mut f = Forge { rng: Rng(seed), nonce: 0, captured: Vec::new() };
        f.captured = f.sealed(LABEL, KEY);
        f
    }

    fn sealed(&mut self, label: &str, key: [u8; 32]) -> Vec<u8> {
        let body = encode_to_vec(&Message::Ping { seq: self.rng.next() as u32, target: "m1" });
        self.nonce += 1;
        let mut nonce = [0u8; 12];
        nonce[..4].copy_from_slice(b"fld!");
        nonce[4..].copy_from_slice(&self.nonce.to_be_bytes());
        encode_frame(label.as_bytes(), Some((&Key::from_bytes(key), nonce)), &body).unwrap()
    }

    fn next(&mut self) -> Vec<u8> {
        match self.rng.below(8) {
            0 => {
                let len = 1 + self.rng.below(1400);
                self.rng.bytes(len)
            }
            1 => {
                // A captured frame with one byte changed: it fails authentication, or its
                // header already fails (magic, version, flags, label).
                let mut f = self.captured.clone();
                let i = self.rng.below(f.len());
                f[i] ^= 1 + self.rng.below(255) as u8;
                f
            }
            2 => {
                let mut f = self.captured.clone();
                f.truncate(self.rng.below(f.len()));
                f
            }
            3 => self.captured.clone(),
            4 => self.sealed(LABEL, OTHER_KEY),
            5 => self.sealed("other-cluster", KEY),
            6 => {
                let body = encode_to_vec(&Message::Ping { seq: 1, target: "m1" });
                encode_frame(LABEL.as_bytes(), None, &body).unwrap()
            }
            _ => {
                let mut f = self.sealed(LABEL, KEY);
                f[2] = 2 + self.rng.below(250) as u8;
                f
            }
        }
    }
}

/// One `rumor agent` process, killed when dropped.
struct Agent {
    name: &'static str,
    addr: SocketAddr,
    child: Child,
    log: PathBuf,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port(ip: Ipv4Addr) -> Option<u16> {
    for _ in 0..100 {
        let udp = UdpSocket::bind((ip, 0)).ok()?;
        let port = udp.local_addr().ok()?.port();
        if TcpListener::bind((ip, port)).is_ok() {
            return Some(port);
        }
    }
    None
}

fn start(rumor: &Path, dir: &Path, name: &'static str, ip: Ipv4Addr, seed: Option<SocketAddr>) -> Agent {
    let port = free_port(ip).unwrap_or_else(|| fail(&format!("no free port on {ip}")));
    let addr = SocketAddr::from((ip, port));
    let log = dir.join(format!("{name}.log"));
    let mut cmd = Command::new(rumor);
    cmd.args(["agent", "--name", name, "--preset", "local", "--label", LABEL]);
    cmd.args(["--bind", &addr.to_string(), "--http", &addr.to_string()]);
    cmd.args(["--keyring", &dir.join("keyring.json").display().to_string()]);
    if let Some(seed) = seed {
        cmd.args(["--join", &seed.to_string()]);
    }
    cmd.env("RUST_LOG", "info").env("NO_COLOR", "1");
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
    let child = cmd.spawn().unwrap_or_else(|e| fail(&format!("spawning {}: {e}", rumor.display())));
    let agent = Agent { name, addr, child, log };
    wait("the agent's /healthz", Duration::from_secs(20), || http_get(addr, "/healthz").map(|_| ()));
    agent
}

fn http_get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(|e| format!("{addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
    let mut raw = String::new();
    s.read_to_string(&mut raw).map_err(|e| e.to_string())?;
    let (head, body) = raw.split_once("\r\n\r\n").ok_or("no end of headers")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("GET {path}: {head}"));
    }
    // Chunked bodies (metrics, members) are read by looking past the chunk sizes: the lines
    // needed never straddle a chunk boundary in practice; members are parsed as JSON below.
    Ok(if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.into() })
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { break };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

fn wait<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(v) => return v,
            Err(e) if start.elapsed() > timeout => fail(&format!("timed out waiting for {what}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Each member's state in the view of the agent at `addr`.
fn states(addr: SocketAddr) -> Result<BTreeMap<String, String>, String> {
    let body = http_get(addr, "/v1/members")?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    let rows = v["members"].as_array().ok_or("no members")?;
    Ok(rows.iter().filter_map(|m| Some((m["name"].as_str()?.to_owned(), m["state"].as_str()?.to_owned()))).collect())
}

fn drops(addr: SocketAddr) -> BTreeMap<&'static str, u64> {
    let text = http_get(addr, "/metrics").unwrap_or_default();
    Dropped::ALL
        .iter()
        .map(|r| {
            let key = format!("rumor_dropped_packets_total{{reason=\"{r}\"}} ");
            let n = text.lines().find_map(|l| l.strip_prefix(&key)?.trim().parse::<f64>().ok()).unwrap_or(0.0);
            (r.as_str(), n as u64)
        })
        .collect()
}

fn received(addr: SocketAddr) -> u64 {
    counter(addr, "rumor_received_packets_total")
}

fn counter(addr: SocketAddr, name: &str) -> u64 {
    let text = http_get(addr, "/metrics").unwrap_or_default();
    let key = format!("{name} ");
    text.lines().find_map(|l| l.strip_prefix(&key)?.trim().parse::<f64>().ok()).unwrap_or(0.0) as u64
}

/// Failed probes and suspicions raised, summed over the agents.
fn probe_trouble(agents: &[Agent]) -> (u64, u64) {
    agents.iter().fold((0, 0), |(f, s), a| {
        (f + counter(a.addr, "rumor_probes_failed_total"), s + counter(a.addr, "rumor_suspicions_raised_total"))
    })
}

/// The kernel's drop count of the UDP socket bound to `addr` (last column of /proc/net/udp).
fn kernel_drops(addr: SocketAddr) -> u64 {
    let SocketAddr::V4(a) = addr else { return 0 };
    let ip = u32::from_le_bytes(a.ip().octets());
    let local = format!("{ip:08X}:{:04X}", a.port());
    let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    table
        .lines()
        .filter(|l| l.split_whitespace().nth(1) == Some(local.as_str()))
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn main() {
    let args = args();
    let ips = [Ipv4Addr::new(127, 0, 0, 11), Ipv4Addr::new(127, 0, 0, 12), Ipv4Addr::new(127, 0, 0, 13)];
    let second = Ipv4Addr::new(127, 0, 0, 99);
    if UdpSocket::bind((second, 0)).is_err() {
        println!("SKIPPED: flood — cannot bind {second} (loopback addresses beyond 127.0.0.1 need Linux)");
        std::process::exit(77);
    }
    let dir = std::env::temp_dir().join(format!("rumor-flood-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_text = Key::from_bytes(KEY).to_base64();
    std::fs::write(dir.join("keyring.json"), format!("[\"{key_text}\"]\n")).unwrap();

    let names = &NAMES[..args.members];
    let mut agents = vec![start(&args.rumor, &dir, NAMES[0], ips[0], None)];
    let seed = agents[0].addr;
    for (name, ip) in names.iter().zip(ips).skip(1) {
        agents.push(start(&args.rumor, &dir, name, ip, Some(seed)));
    }
    wait("the agents to see each other alive", Duration::from_secs(30), || {
        for a in &agents {
            let s = states(a.addr)?;
            if names.iter().any(|n| s.get(*n).map(String::as_str) != Some("alive")) {
                return Err(format!("{} sees {s:?}", a.name));
            }
        }
        Ok(())
    });
    let target = agents[0].addr;
    let pid = agents[0].child.id();
    std::thread::sleep(Duration::from_secs(2));
    let before = drops(target);
    let kernel_before = kernel_drops(target);
    let rss_before = rss_kib(pid);
    let trouble_before = probe_trouble(&agents);

    // The flood, from the second address and from m2's address, with a watcher polling every
    // agent's view.
    let from_second = UdpSocket::bind((second, 0)).unwrap();
    let from_member = UdpSocket::bind((ips[1], 0)).unwrap();
    let seed_value = 0xf100_d5ee_d000_0001_u64;
    let mut forge = Forge::new(seed_value);
    // Forged up front, so that sending is not slowed by sealing.
    let pool: Vec<Vec<u8>> = (0..4096).map(|_| forge.next()).collect();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = stop.clone();
        let views: Vec<(&'static str, SocketAddr)> = agents.iter().map(|a| (a.name, a.addr)).collect();
        std::thread::spawn(move || {
            let (mut polls, mut problems) = (0u64, Vec::new());
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (name, addr) in &views {
                    match states(*addr) {
                        Ok(s) => {
                            for (member, state) in &s {
                                if state != "alive" {
                                    problems.push(format!("{name} saw {member} {state}"));
                                }
                            }
                        }
                        Err(e) => problems.push(format!("{name} did not answer: {e}")),
                    }
                }
                polls += 1;
                std::thread::sleep(Duration::from_millis(200));
            }
            (polls, problems)
        })
    };
    let start_flood = Instant::now();
    let duration = Duration::from_secs(args.secs);
    let mut sent = [0u64; 2];
    let mut rss_mid = None;
    // Bursts every 10 ms, split between the two sources, keeping to `pps` on average.
    let mut k = 0usize;
    while start_flood.elapsed() < duration {
        let due = (start_flood.elapsed().as_secs_f64() * args.pps as f64) as u64;
        while sent[0] + sent[1] < due {
            let which = k % 2;
            let sock = if which == 0 { &from_second } else { &from_member };
            if sock.send_to(&pool[k % pool.len()], target).is_ok() {
                sent[which] += 1;
            }
            k += 1;
        }
        if rss_mid.is_none() && start_flood.elapsed() >= duration / 2 {
            rss_mid = Some(rss_kib(pid));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let flood_time = start_flood.elapsed();
    // Let the agent read what is queued, then a few more seconds of watching: a member
    // starved during the flood would be suspected and failed about now.
    let mut last = u64::MAX;
    wait("the flooded agent to drain its socket", Duration::from_secs(30), || {
        let now = received(target);
        let quiet = now.abs_diff(last) < 50;
        last = now;
        std::thread::sleep(Duration::from_millis(300));
        if quiet { Ok(()) } else { Err(format!("still receiving ({now})")) }
    });
    std::thread::sleep(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (polls, seen) = watcher.join().unwrap();

    let after = drops(target);
    let trouble = probe_trouble(&agents);
    let (probes_failed, suspicions) = (trouble.0 - trouble_before.0, trouble.1 - trouble_before.1);
    let kernel = kernel_drops(target) - kernel_before;
    let rss_mid = rss_mid.unwrap_or(rss_before);
    let rss_after = rss_kib(pid);
    let counted: BTreeMap<&str, u64> = after.iter().map(|(r, n)| (*r, n - before[r])).collect();
    let total_sent = sent[0] + sent[1];
    let total_counted: u64 = counted.values().sum();
    // Drops beyond what the flood sent are the members' own datagrams, refused (the rate
    // limit of a member whose address the flood spoofs).
    let honest_dropped = total_counted.saturating_sub(total_sent);
    println!(
        "figure: flood sent {total_sent} datagrams in {flood_time:.1?} ({} from {second}, {} from m2's address {}), \
         {:.0} a second",
        sent[0],
        sent[1],
        ips[1],
        total_sent as f64 / flood_time.as_secs_f64()
    );
    println!(
        "figure: the agent counted {total_counted} drops {counted:?}; the kernel dropped {kernel}; \
         members' own datagrams dropped: {honest_dropped}"
    );
    println!(
        "figure: during the flood the agents' probes failed {probes_failed} times and raised {suspicions} suspicions"
    );
    println!(
        "figure: RSS {rss_before} KiB before, {rss_mid} KiB half way ({:+}), {rss_after} KiB after ({:+})",
        rss_mid as i64 - rss_before as i64,
        rss_after as i64 - rss_mid as i64
    );
    println!(
        "figure: {} of {} member states polled were not alive{}",
        seen.len(),
        polls * (args.members * args.members) as u64,
        if seen.is_empty() { String::new() } else { format!(": {:?}", &seen[..seen.len().min(10)]) }
    );

    let mut problems = Vec::new();
    let mut running = agents.iter_mut().all(|a| matches!(a.child.try_wait(), Ok(None)));
    running &= http_get(target, "/healthz").is_ok();
    if !running {
        problems.push("an agent is no longer running".to_owned());
    }
    if !seen.is_empty() {
        problems.push(format!("members left `alive` in some view ({} times)", seen.len()));
    }
    if rss_after > rss_before + RSS_MARGIN_KIB || rss_after > rss_mid + RSS_FLAT_KIB {
        problems.push(format!("RSS grew: {rss_before} → {rss_mid} → {rss_after} KiB"));
    }
    // Every datagram is a drop (the captured frame's first copy at most is taken): counted by
    // the agent, or lost in the kernel, which may also have lost some of the members' own.
    if total_counted + kernel + 1 < total_sent {
        problems.push(format!("{total_sent} sent, {total_counted} counted as drops, {kernel} dropped by the kernel"));
    }
    if honest_dropped > 0 {
        problems.push(format!("{honest_dropped} of the members' own datagrams were dropped"));
    }
    for reason in ["decode", "version", "auth", "label", "rate_limit", "replay"] {
        if counted[reason] == 0 {
            problems.push(format!("nothing counted under `{reason}`"));
        }
    }
    if problems.is_empty() {
        println!("flood: every check holds");
        let _ = std::fs::remove_dir_all(&dir);
    } else {
        for a in &agents {
            let log = std::fs::read_to_string(&a.log).unwrap_or_default();
            let tail: Vec<&str> = log.lines().rev().take(15).collect();
            eprintln!("--- {} log (last lines) ---", a.name);
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
        fail(&format!("flood (seed {seed_value:#x}): {}", problems.join("; ")));
    }
}
