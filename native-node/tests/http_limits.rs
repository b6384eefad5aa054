//! The HTTP listener cannot be locked out (issue 20): with real `rumor agent` processes on
//! 127.0.0.1, half-sent requests and idle keep-alive connections are closed within the header
//! timeout, a request announcing a huge body is refused at once and a slow body is cut after
//! the body timeout, `/healthz` still answers with the connection cap full of such clients
//! (and with a low file-descriptor limit), and a client command facing an agent that never
//! answers gives up with a sentence.
//!
//! The agents run with short timeouts (1 s) from a config file so the test takes seconds; each
//! wait is bounded, and the figures are printed.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::*;

const HEADER_TIMEOUT: Duration = Duration::from_millis(1000);
const BODY_TIMEOUT: Duration = Duration::from_millis(1000);
/// Closing takes the timeout plus scheduling; more than this is a failure.
const SLACK: Duration = Duration::from_millis(1500);

fn limits_config(c: &Cluster, max_connections: usize) -> String {
    let path = c.path("limits.toml");
    std::fs::write(
        &path,
        format!(
            "http_max_connections = {max_connections}\nhttp_header_timeout_ms = {}\nhttp_body_timeout_ms = {}\n",
            HEADER_TIMEOUT.as_millis(),
            BODY_TIMEOUT.as_millis()
        ),
    )
    .unwrap();
    path.display().to_string()
}

/// Opens a connection and writes `bytes`.
fn open(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(bytes).unwrap();
    s
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
fn until_closed(s: &mut TcpStream) -> (String, Instant) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return (String::from_utf8_lossy(&got).into_owned(), Instant::now()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// Half-sent requests and an idle keep-alive connection are closed within the header timeout;
/// a 1 GB `Content-Length` is refused with 413 at once, a slow body is cut after the body
/// timeout; meanwhile `/healthz` answers.
#[test]
fn slow_clients_are_cut_within_the_timeouts() {
    let mut c = Cluster::new("http-timeouts");
    let conf = limits_config(&c, 256);
    c.start(AgentSpec::new("h1").args_after(&["--config", &conf]));
    let http = c.agent("h1").http;

    let start = Instant::now();
    let mut half: Vec<TcpStream> =
        (0..100).map(|_| open(http, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")).collect();
    assert_eq!(http_get(http, "/healthz").unwrap().0, 200, "healthz answers beside 100 half-sent requests");
    let mut latest = start;
    for s in &mut half {
        let (_, at) = until_closed(s);
        latest = latest.max(at);
    }
    let took = latest - start;
    eprintln!(
        "figure: 100 half-sent requests all closed {took:?} after they were opened (header timeout {HEADER_TIMEOUT:?})"
    );
    assert!(took <= HEADER_TIMEOUT + SLACK, "half-sent requests held {took:?}");

    // A keep-alive connection that answered one request and then sits idle.
    let mut idle = open(http, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    let start = Instant::now();
    let (got, at) = until_closed(&mut idle);
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    let took = at - start;
    eprintln!("figure: an idle keep-alive connection closed after {took:?}");
    assert!(took <= HEADER_TIMEOUT + SLACK, "idle connection held {took:?}");

    // A body announced as 1 GB, 10 bytes sent: refused before it is read.
    let start = Instant::now();
    let mut huge = open(
        http,
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{\"name\":\"",
    );
    let (got, at) = until_closed(&mut huge);
    eprintln!("figure: a 1 GB Content-Length answered and closed after {:?}", at - start);
    assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    assert!(at - start <= SLACK, "held {:?}", at - start);

    // A body announced as 1000 bytes, 10 sent, then silence: cut after the body timeout.
    let start = Instant::now();
    let mut slow = open(
        http,
        b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"name\":\"",
    );
    let (got, at) = until_closed(&mut slow);
    let took = at - start;
    eprintln!("figure: a body stalled after 10 of 1000 bytes cut after {took:?}: {:?}", got.lines().next());
    assert!(took <= BODY_TIMEOUT + SLACK, "slow body held {took:?}");
    assert!(got.is_empty() || got.starts_with("HTTP/1.1 4"), "{got}");
    // The agent is unharmed and sent no event.
    assert_eq!(http_get(http, "/healthz").unwrap().0, 200);
    let m = c.agent("h1").metrics().unwrap();
    assert_eq!(metric(&m, "rumor_members{state=\"alive\"}"), Some(1.0));
}

/// With the connection cap (16) full of half-sent requests, `/healthz` waits in the backlog
/// and answers once the header timeout frees slots — not never. The admin listener, with a
/// cap of its own, answers at once.
#[test]
fn healthz_answers_with_the_connection_cap_full() {
    let mut c = Cluster::new("http-cap");
    let conf = limits_config(&c, 16);
    let admin = local(free_port());
    let admin_s = admin.to_string();
    c.start(AgentSpec::new("c1").wildcard_http().args_after(&["--config", &conf, "--admin", &admin_s]));
    let http = c.agent("c1").http;

    let _slow: Vec<TcpStream> = (0..64).map(|_| open(http, b"GET /metrics HTTP/1.1\r\nHost: x\r\n")).collect();
    std::thread::sleep(Duration::from_millis(100));
    let start = Instant::now();
    assert_eq!(http_get(admin, "/healthz").unwrap().0, 200, "the admin listener is not behind the flood");
    let admin_took = start.elapsed();
    let (status, _) = http_get(http, "/healthz").unwrap();
    let took = start.elapsed();
    eprintln!(
        "figure: /healthz with 64 half-sent connections against a cap of 16: {took:?} (admin listener: {admin_took:?})"
    );
    assert_eq!(status, 200);
    // Slots free within one header timeout; 64 of them over 16 slots take up to four rounds,
    // but new connections are served in the order they came, so ours waits its turn.
    assert!(took <= HEADER_TIMEOUT * 4 + SLACK, "healthz took {took:?}");
    assert!(admin_took < Duration::from_millis(500), "admin healthz took {admin_took:?}");
}

/// With 128 file descriptors the cap is lowered to fit (and said so in the log); 200 idle
/// connections then cannot exhaust the descriptors, and `/healthz` still answers.
#[test]
fn a_low_file_descriptor_limit_lowers_the_cap_and_healthz_answers() {
    let c = Cluster::new("http-fds");
    let conf = limits_config(&c, 256);
    let port = free_port();
    // `sh -c` to lower the limit for the agent alone.
    let http = local(port);
    let log = c.path("fds.log");
    let mut child = std::process::Command::new("sh")
        .args(["-c", &format!("ulimit -n 128 && exec {RUMOR} agent --name fd1 --bind {http} --http {http} --preset local --config {conf}")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .env("NO_COLOR", "1")
        .spawn()
        .unwrap();
    wait_until("the agent with 128 descriptors to answer /healthz", Duration::from_secs(20), || {
        http_get(http, "/healthz").map(|_| ())
    });
    let _idle: Vec<TcpStream> = (0..200).filter_map(|_| TcpStream::connect(http).ok()).collect();
    let start = Instant::now();
    let status = http_get(http, "/healthz").map(|(s, _)| s);
    let took = start.elapsed();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    eprintln!("figure: /healthz with 200 idle connections and 128 descriptors: {took:?}");
    assert_eq!(status, Ok(200), "log:\n{text}");
    assert!(took <= HEADER_TIMEOUT * 8 + SLACK, "healthz took {took:?}");
    assert!(text.contains("HTTP connection cap lowered"), "the log says the cap was lowered:\n{text}");
    assert!(!text.contains("Too many open files"), "{text}");
}

/// A client command facing a listener that accepts and never answers gives up after its
/// timeout with a sentence.
#[test]
fn a_client_gives_up_on_an_agent_that_never_answers() {
    let mute = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = mute.local_addr().unwrap().to_string();
    let start = Instant::now();
    let out = run_rumor(&["members", "--http", &addr, "--timeout", "1"], &[], Duration::from_secs(20));
    let took = start.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains(&format!("the agent at {addr} did not answer within 1 s")), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}");
    drop(mute);
}
