//! The live relay (`GET /v1/relay`, docs/relay.md) and the `/ui/` directory, against real
//! `rumor agent` processes on 127.0.0.1: hello and snapshot, a crash streamed as suspect then
//! failed, the restart as alive again, a client that talks changing nothing, the connection
//! cap, `bye` on leave; `--ui-dir` serving files, and its absence explained.
//!
//! Every wait is on a message with a deadline; a failing test prints each agent's members table
//! and log (see `common`).
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// The tests mix the blocking helpers of `common` with one WebSocket client; a current-thread
/// runtime is enough (the agents are other processes, and the socket buffers what arrives while
/// a blocking helper runs).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

/// What the relay sent next.
#[derive(Debug)]
enum Frame {
    Json(Value),
    Close(Option<CloseFrame>),
    End,
}

/// A relay client that records the types it saw (for failure messages).
struct RelayClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    seen: Vec<String>,
}

impl RelayClient {
    async fn connect(http: SocketAddr) -> Result<RelayClient, tungstenite::Error> {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{http}/v1/relay")).await?;
        Ok(RelayClient { ws, seen: Vec::new() })
    }

    /// The next data frame as JSON (pings are answered by the library), a close, or the end.
    async fn frame(&mut self, within: Duration) -> Frame {
        let within = scaled(within);
        loop {
            let next = tokio::time::timeout(within, self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("the relay sent nothing for {within:?}; types so far: {:?}", self.seen));
            match next {
                Some(Ok(Message::Text(text))) => {
                    let v: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|e| panic!("relay message is not JSON ({e}): {text}"));
                    let kind = v["type"].as_str().unwrap_or_else(|| panic!("relay message without `type`: {text}"));
                    self.seen.push(kind.to_owned());
                    return Frame::Json(v);
                }
                Some(Ok(Message::Binary(b))) => {
                    panic!("the relay sends text frames only, got {} binary bytes", b.len())
                }
                Some(Ok(Message::Close(c))) => return Frame::Close(c),
                Some(Ok(_)) => {}
                Some(Err(e)) => panic!("relay connection failed: {e}; types so far: {:?}", self.seen),
                None => return Frame::End,
            }
        }
    }

    /// The next JSON message.
    async fn json(&mut self, within: Duration) -> Value {
        match self.frame(within).await {
            Frame::Json(v) => v,
            other => panic!("expected a message, got {other:?}; types so far: {:?}", self.seen),
        }
    }

    /// The first message matching `pred` within `within` (others are skipped).
    async fn until(&mut self, what: &str, within: Duration, mut pred: impl FnMut(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + scaled(within);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let next = tokio::time::timeout(left, self.frame(within)).await;
            match next {
                Ok(Frame::Json(v)) if pred(&v) => return v,
                Ok(Frame::Json(_)) => {}
                Ok(other) => panic!("waiting for {what}: got {other:?}; types so far: {:?}", self.seen),
                Err(_) => panic!("timed out after {within:?} waiting for {what}; types so far: {:?}", self.seen),
            }
        }
    }
}

/// `type` of a message.
fn kind(v: &Value) -> &str {
    v["type"].as_str().unwrap_or_default()
}

/// An event of `kind` about member `name`.
fn about(v: &Value, kind_: &str, name: &str) -> bool {
    kind(v) == kind_ && v["member"]["name"] == name
}

/// A relay on one of three agents: hello, a snapshot with everyone alive, stats that count; a
/// client sending messages of all kinds changes nothing; a SIGKILLed member is streamed as
/// suspect then failed within 20 s, and once restarted as alive again.
#[test]
fn relay_streams_the_cluster_and_ignores_what_clients_send() {
    let mut c = Cluster::new("relay");
    c.start(AgentSpec::new("r1").label("viz"));
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("r2").label("viz").join(&[seed]).meta("role", "web"));
    c.start(AgentSpec::new("r3").label("viz").join(&[seed]));
    let names = ["r1", "r2", "r3"];
    let all: Vec<(&str, &str)> = names.iter().map(|n| (*n, "alive")).collect();
    c.wait_states("3 agents to converge", &names, &all, secs(30));
    let r1 = c.agent("r1").http;

    block_on(async {
        let mut relay = RelayClient::connect(r1).await.unwrap();
        let hello = relay.json(secs(5)).await;
        assert_eq!(kind(&hello), "hello", "first message: {hello}");
        assert_eq!(hello["relay"], 1, "relay version in {hello}");
        assert_eq!(hello["name"], "r1", "{hello}");
        assert_eq!(hello["addr"], c.agent("r1").addr.to_string(), "{hello}");
        assert_eq!(hello["label"], "viz", "{hello}");
        assert_eq!(hello["version"], env!("CARGO_PKG_VERSION"), "{hello}");

        let snapshot = relay.json(secs(5)).await;
        assert_eq!(kind(&snapshot), "snapshot", "second message: {snapshot}");
        assert_eq!(snapshot["missed"], 0, "{snapshot}");
        let members = snapshot["members"].as_array().unwrap();
        let listed: Vec<(&str, &str)> =
            members.iter().map(|m| (m["name"].as_str().unwrap(), m["state"].as_str().unwrap())).collect();
        assert_eq!(listed, all, "the snapshot lists every member alive, sorted by name: {snapshot}");
        // The same JSON as GET /v1/members writes for each member.
        let view = c.agent("r1").members().unwrap();
        let r2 = members.iter().find(|m| m["name"] == "r2").unwrap();
        assert_eq!(r2["addr"], view.member("r2").unwrap().addr, "{snapshot}");
        assert_eq!(r2["meta"]["role"], "web", "{snapshot}");
        assert!(r2["incarnation"].is_u64(), "{snapshot}");
        assert_eq!(snapshot["metrics"]["members"]["alive"], 3, "member counts in {snapshot}");
        assert!(snapshot["metrics"]["stats"]["packets_in"].as_u64().unwrap() > 0, "{snapshot}");
        assert!(snapshot["metrics"]["health_score"].is_u64(), "{snapshot}");

        // Read-only: commands in every shape the HTTP API knows, garbage, binary, a ping.
        for text in [
            r#"{"type":"leave"}"#,
            r#"{"op":"remove","key":"AAAA"}"#,
            r#"{"name":"deploy","payload":"v1"}"#,
            r#"{"role":"evil"}"#,
            "POST /v1/leave HTTP/1.1",
            "\u{0}not json",
        ] {
            relay.ws.send(Message::text(text)).await.unwrap();
        }
        relay.ws.send(Message::binary(vec![0xff; 100])).await.unwrap();
        relay.ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
        // Two stats messages a second apart: the relay loop has read those frames in between
        // and is still serving; the counters move.
        let first = relay.until("a stats message", secs(5), |v| kind(v) == "stats").await;
        let second = relay.until("another stats message", secs(5), |v| kind(v) == "stats").await;
        assert!(second["ms"].as_u64() > first["ms"].as_u64(), "stats `ms` grows: {first} then {second}");
        let packets = |v: &Value| v["metrics"]["stats"]["packets_in"].as_u64().unwrap();
        assert!(packets(&second) >= packets(&first), "packets_in never shrinks: {first} then {second}");
        assert!(
            !relay.seen.iter().any(|k| k == "user-event" || k == "member-updated" || k == "leave-complete"),
            "a client's messages caused events: {:?}",
            relay.seen
        );
        let after = c.agent("r1").members().unwrap();
        assert_eq!(after.members.len(), 3, "{}", after.table());
        assert!(after.members.iter().all(|m| m.state == "alive" && m.meta.get("role").is_none_or(|r| r == "web")));
        assert_eq!(http_get(r1, "/readyz").unwrap().0, 200, "r1 is still serving");

        // A crash, streamed as it is detected.
        c.agent_mut("r3").kill();
        let crash = tokio::time::Instant::now();
        relay.until("member-suspect for r3", secs(20), |v| about(v, "member-suspect", "r3")).await;
        let left = secs(20).saturating_sub(crash.elapsed());
        let failed = relay.until("member-failed for r3", left, |v| about(v, "member-failed", "r3")).await;
        assert_eq!(failed["member"]["state"], "failed", "{failed}");
        eprintln!("figure: the relay streamed r3's failure {:?} after the SIGKILL", crash.elapsed());

        let i = c.agents.iter().position(|a| a.name() == "r3").unwrap();
        c.restart(i);
        let back = relay
            .until("r3 back (member-joined or member-alive)", secs(30), |v| {
                (about(v, "member-joined", "r3") || about(v, "member-alive", "r3")) && v["member"]["state"] == "alive"
            })
            .await;
        assert_eq!(back["member"]["addr"], c.agent("r3").addr.to_string(), "{back}");
    });
}

/// At most 64 relay connections: the 65th is answered 503; once one closes, a new one is served.
#[test]
fn relay_connections_are_capped() {
    let mut c = Cluster::new("relay-cap");
    c.start(AgentSpec::new("cap"));
    let http = c.agent("cap").http;
    block_on(async {
        let mut open = Vec::new();
        for _ in 0..64 {
            let mut r = RelayClient::connect(http).await.unwrap();
            assert_eq!(kind(&r.json(secs(5)).await), "hello");
            open.push(r);
        }
        match RelayClient::connect(http).await {
            Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 503, "the 65th connection"),
            Err(e) => panic!("the 65th connection should get 503, got {e}"),
            Ok(_) => panic!("the 65th connection was accepted"),
        }
        // HTTP itself is not affected.
        assert_eq!(http_get(http, "/healthz").unwrap().0, 200);

        // Close one cleanly and wait for the server's side of the close: its slot is free then
        // (give the server task a moment to drop it, retried within a deadline).
        let mut one = open.pop().unwrap();
        one.ws.close(None).await.unwrap();
        while !matches!(one.frame(secs(5)).await, Frame::End) {}
        let deadline = tokio::time::Instant::now() + scaled(secs(5));
        let mut again = loop {
            match RelayClient::connect(http).await {
                Ok(r) => break r,
                Err(tungstenite::Error::Http(resp)) if resp.status() == 503 => {
                    assert!(tokio::time::Instant::now() < deadline, "a slot was not freed after a close");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("reconnecting: {e}"),
            }
        };
        assert_eq!(kind(&again.json(secs(5)).await), "hello");
    });
}

/// An agent that leaves streams its leave-complete, then `bye` with the reason `left`, then
/// closes the connection (1001, going away); the process exits 0.
#[test]
fn relay_says_bye_when_the_agent_leaves() {
    let mut c = Cluster::new("relay-bye");
    c.start(AgentSpec::new("b1"));
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("b2").join(&[seed]));
    c.wait_states("2 agents to converge", &["b1", "b2"], &[("b1", "alive"), ("b2", "alive")], secs(30));
    let http = c.agent("b2").http;
    block_on(async {
        let mut relay = RelayClient::connect(http).await.unwrap();
        assert_eq!(kind(&relay.json(secs(5)).await), "hello");
        assert_eq!(kind(&relay.json(secs(5)).await), "snapshot");
        rumor_ok(&["leave", "--http", &http.to_string()]);
        let bye = relay.until("bye", secs(15), |v| kind(v) == "bye").await;
        assert_eq!(bye["reason"], "left", "{bye}");
        assert!(relay.seen.iter().any(|k| k == "leave-complete"), "leave-complete before bye: {:?}", relay.seen);
        match relay.frame(secs(5)).await {
            Frame::Close(Some(f)) => assert_eq!(u16::from(f.code), 1001, "close code: {f:?}"),
            other => panic!("after bye the relay closes, got {other:?}"),
        }
    });
    let status = c.agent_mut("b2").wait_exit(secs(15));
    assert!(status.success(), "b2 should exit 0 after leaving, got {status}");
}

/// The status and `Location` of a redirect.
/// `GET path`: the status, the head (lowercase) and the body's bytes.
fn http_get_bytes(addr: SocketAddr, path: &str) -> (u16, String, Vec<u8>) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of headers");
    let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
    assert!(!head.contains("transfer-encoding: chunked"), "GET {path}: expected a plain body");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head, raw[end + 4..].to_vec())
}

fn redirect(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(secs(5))).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let location = text
        .lines()
        .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
        .unwrap_or_else(|| panic!("GET {path}: no location in {text:?}"));
    (status, location.trim().to_owned())
}

/// `--ui-dir` serves a directory at /ui/ (and /ui redirects there); without it /ui/ is the
/// built-in visualizer, byte for byte `bindings-wasm/ui/`; a directory that does not exist is a
/// config error naming `ui_dir`.
#[test]
fn ui_is_served_at_ui() {
    let mut c = Cluster::new("relay-ui");
    let dir = c.path("ui");
    std::fs::create_dir_all(dir.join("js")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>rumor live</h1>").unwrap();
    std::fs::write(dir.join("js/app.js"), "console.log('relay')").unwrap();
    let mut spec = AgentSpec::new("ui");
    spec.extra = vec!["--ui-dir".to_owned(), dir.display().to_string()];
    c.start(spec);
    c.start(AgentSpec::new("plain"));
    let (ui, plain) = (c.agent("ui").http, c.agent("plain").http);

    assert_eq!(redirect(ui, "/ui"), (308, "/ui/".to_owned()), "/ui redirects to /ui/");
    assert_eq!(redirect(ui, "/ui/js"), (307, "/ui/js/".to_owned()), "a directory redirects to itself with a slash");
    let (status, body) = http_get(ui, "/ui/").unwrap();
    assert_eq!((status, body.as_str()), (200, "<h1>rumor live</h1>"), "/ui/ is index.html");
    let (status, body) = http_get(ui, "/ui/js/app.js").unwrap();
    assert_eq!((status, body.as_str()), (200, "console.log('relay')"));
    assert_eq!(http_get(ui, "/ui/missing.js").unwrap().0, 404);
    for escape in ["/ui/../Cargo.toml", "/ui/..%2f..%2fCargo.toml", "/ui/%2e%2e/ui.1.log"] {
        let (status, body) = http_get(ui, escape).unwrap();
        assert_ne!(status, 200, "{escape} must not leave the directory: {body}");
    }
    // The API beside it is unchanged.
    assert_eq!(c.agent("ui").members().unwrap().self_name, "ui");

    let page = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bindings-wasm/ui");
    assert_eq!(redirect(plain, "/ui"), (308, "/ui/".to_owned()), "/ui redirects to /ui/");
    for (path, file, mime) in [
        ("/ui/", "index.html", "text/html"),
        ("/ui/app.js", "app.js", "text/javascript"),
        ("/ui/pkg/rumor_wasm_bg.wasm", "pkg/rumor_wasm_bg.wasm", "application/wasm"),
    ] {
        let (status, head, body) = http_get_bytes(plain, path);
        assert_eq!(status, 200, "GET {path}");
        assert_eq!(body, std::fs::read(page.join(file)).unwrap(), "GET {path} is {file}");
        assert!(head.contains(&format!("content-type: {mime}")), "GET {path}: {head}");
    }
    let (status, body) = http_get(plain, "/ui/missing.js").unwrap();
    assert_eq!(status, 404, "{body}");
    assert_eq!(http_get(plain, "/ui/../Cargo.toml").unwrap().0, 404);

    let missing = c.path("no-such-dir").display().to_string();
    let out = run_rumor(&["agent", "--http", "off", "--ui-dir", &missing], &[], secs(10));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "a missing --ui-dir is a config error: {stderr}");
    assert!(stderr.contains("`ui_dir`") && stderr.contains("is not a directory"), "{stderr}");
}
