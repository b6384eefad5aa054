//! `rumor demo` (the README's "run it" command) starts a converging cluster and leaves cleanly,
//! and its demo console serves the visualizer and kills, restarts and makes nodes leave.
//!
//! Every wait is on a condition with a deadline; a failing test prints the demo's output.
// `common`'s cluster helpers index their agents.
#![allow(clippy::indexing_slicing)]

mod common;

use std::collections::HashSet;
use std::io::{BufRead as _, BufReader, Read as _};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{RUMOR, http_get, http_post, members, run_rumor, scaled, wait_exit, wait_until};

#[test]
fn demo_converges_and_leaves() {
    let out = Command::new(env!("CARGO_BIN_EXE_rumor"))
        .args(["demo", "--nodes", "5", "--duration", "6", "--ui", "127.0.0.1:0"])
        .output()
        .expect("rumor runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.lines().next().is_some_and(|l| l.starts_with("visualizer: http://127.0.0.1:")), "{stdout}");
    // Not a terminal: a new table is printed whenever the view changes; the last one must show
    // every node seeing all five alive.
    let last = stdout.rsplit("Rumor demo:").next().unwrap_or_default();
    let rows: Vec<&str> = last.lines().filter(|l| l.starts_with("node-") && l.contains("/v1/members")).collect();
    assert_eq!(rows.len(), 5, "{stdout}");
    for row in rows {
        let cols: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cols.get(2..6), Some(&["5", "0", "0", "0"][..]), "{row}\n{stdout}");
        assert!(cols.get(6).is_some_and(|u| u.starts_with("http://127.0.0.1:")), "{row}");
    }
    for i in 1..=5 {
        assert!(stdout.contains(&format!("node-{i} left")), "node-{i} did not leave:\n{stdout}");
    }
}

/// A `rumor demo` process with its console on a free port; killed when dropped (a failing test
/// prints what it wrote).
struct Demo {
    child: Option<Child>,
    /// The console's address, from the first line of stdout.
    console: SocketAddr,
    /// Everything written to stdout and stderr so far.
    output: Arc<Mutex<String>>,
    /// The threads copying stdout and stderr into `output`; they end with the process.
    readers: Vec<JoinHandle<()>>,
}

impl Demo {
    fn start(nodes: u16) -> Demo {
        let mut child = Command::new(RUMOR)
            // A backstop: the test ends it sooner with SIGINT.
            .args(["demo", "--nodes", &nodes.to_string(), "--ui", "127.0.0.1:0", "--duration", "300"])
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rumor runs");
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let (first_line, first) = mpsc::channel();
        let out = output.clone();
        let stdout_reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = first_line.send(line.clone());
                out.lock().unwrap_or_else(|e| e.into_inner()).push_str(&format!("{line}\n"));
            }
        });
        let out = output.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = BufReader::new(stderr).read_to_string(&mut text);
            out.lock().unwrap_or_else(|e| e.into_inner()).push_str(&format!("stderr:\n{text}"));
        });
        let line = first.recv_timeout(scaled(Duration::from_secs(20))).unwrap_or_else(|e| {
            let _ = child.kill();
            panic!("no first line from `rumor demo` ({e})")
        });
        let console = line
            .strip_prefix("visualizer: http://")
            .and_then(|rest| rest.strip_suffix("/ui/"))
            .and_then(|addr| addr.parse().ok())
            .unwrap_or_else(|| panic!("first line is not `visualizer: http://ADDR/ui/`: {line:?}"));
        Demo { child: Some(child), console, output, readers: vec![stdout_reader, stderr_reader] }
    }

    fn output(&self) -> String {
        self.output.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// `GET /v1/demo`: each node's name, gossip address, HTTP address and whether it runs.
    fn nodes(&self) -> Vec<(String, String, SocketAddr, bool)> {
        let (status, body) = http_get(self.console, "/v1/demo").expect("GET /v1/demo");
        assert_eq!(status, 200, "GET /v1/demo: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let nodes = v.get("nodes").and_then(|n| n.as_array()).unwrap_or_else(|| panic!("no `nodes`: {body}"));
        nodes
            .iter()
            .map(|n| {
                let field = |k: &str| {
                    n.get(k).and_then(|s| s.as_str()).unwrap_or_else(|| panic!("no string `{k}`: {body}")).to_owned()
                };
                let http = field("http").parse().unwrap_or_else(|e| panic!("`http` {e}: {body}"));
                let running = n.get("running").and_then(|r| r.as_bool()).unwrap_or_else(|| panic!("{body}"));
                (field("name"), field("gossip"), http, running)
            })
            .collect()
    }

    fn node(&self, name: &str) -> (String, String, SocketAddr, bool) {
        self.nodes().into_iter().find(|n| n.0 == name).unwrap_or_else(|| panic!("no {name} in /v1/demo"))
    }

    /// `POST /v1/demo/nodes/{name}/{op}`: the status and the body.
    fn control(&self, name: &str, op: &str) -> (u16, serde_json::Value) {
        let path = format!("/v1/demo/nodes/{name}/{op}");
        let (status, body) = http_post(self.console, &path).unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::from_str(&body).unwrap_or_else(|e| panic!("POST {path}: {e}: {body:?}"));
        (status, json)
    }

    /// Waits until the node serving HTTP at `observer` sees `name` in `state`.
    fn wait_state(&self, observer: SocketAddr, name: &str, state: &str) {
        wait_until(&format!("{observer} to see {name} {state}"), Duration::from_secs(20), || {
            let view = members(observer)?;
            match view.state_of(name) {
                Some(s) if s == state => Ok(()),
                other => Err(format!("{name} is {other:?}\n{}", view.table())),
            }
        });
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!("=== rumor demo output ===\n{}", self.output());
        }
    }
}

#[test]
fn demo_console_kills_restarts_and_leaves_nodes() {
    let mut demo = Demo::start(5);

    let (status, page) = http_get(demo.console, "/ui/").expect("GET /ui/");
    assert_eq!(status, 200, "{page}");
    let lower = page.to_ascii_lowercase();
    assert!(lower.contains("<!doctype html") || lower.contains("<html"), "/ui/ is not HTML: {page}");
    let (status, _) = http_get(demo.console, "/").expect("GET /");
    assert!((300..400).contains(&status), "GET / answers {status}, not a redirect");

    let nodes = demo.nodes();
    let names: Vec<&str> = nodes.iter().map(|n| n.0.as_str()).collect();
    assert_eq!(names, ["node-1", "node-2", "node-3", "node-4", "node-5"]);
    assert!(nodes.iter().all(|n| n.3), "not all running: {nodes:?}");
    let https: HashSet<SocketAddr> = nodes.iter().map(|n| n.2).collect();
    assert_eq!(https.len(), 5, "HTTP addresses not distinct: {nodes:?}");
    let node1 = demo.node("node-1").2;
    let node4 = demo.node("node-4").2;
    wait_until("node-1 to see five alive", Duration::from_secs(20), || {
        let view = members(node1)?;
        let alive = view.members.iter().filter(|m| m.state == "alive").count();
        if alive == 5 { Ok(()) } else { Err(view.table()) }
    });

    // Kill: the others detect a failure (no leave was sent).
    let before = demo.node("node-3");
    let (status, body) = demo.control("node-3", "kill");
    assert_eq!((status, body.get("ok")), (200, Some(&serde_json::Value::Bool(true))), "{body}");
    assert!(!demo.node("node-3").3, "node-3 still running after the kill");
    assert!(http_get(before.2, "/healthz").is_err(), "node-3's HTTP still answers after the kill");
    demo.wait_state(node1, "node-3", "failed");
    let (status, body) = demo.control("node-3", "kill");
    assert_eq!(status, 409, "{body}");
    assert!(body.get("error").is_some_and(|e| e.is_string()), "{body}");

    // Restart: same ports, joins again, alive.
    let (status, body) = demo.control("node-3", "restart");
    assert_eq!(status, 200, "{body}");
    let after = demo.node("node-3");
    assert_eq!((after.1.as_str(), after.2, after.3), (before.1.as_str(), before.2, true), "{before:?} then {after:?}");
    demo.wait_state(node1, "node-3", "alive");
    demo.wait_state(after.2, "node-1", "alive");
    let (status, body) = demo.control("node-3", "restart");
    assert_eq!(status, 409, "{body}");

    // Leave: the others see `left`; the node stays stopped.
    let (status, body) = demo.control("node-2", "leave");
    assert_eq!(status, 200, "{body}");
    assert!(!demo.node("node-2").3, "node-2 still running after leaving");
    demo.wait_state(node1, "node-2", "left");
    demo.wait_state(node4, "node-2", "left");
    let (status, body) = demo.control("node-2", "leave");
    assert_eq!(status, 409, "{body}");

    for op in ["kill", "leave", "restart"] {
        let (status, body) = demo.control("node-9", op);
        assert_eq!(status, 404, "{op} node-9: {body}");
    }

    // Ctrl-C: every running node leaves (node-3 is the restarted one), node-2 is already gone.
    let mut child = demo.child.take().expect("demo runs");
    let sent = Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("running kill");
    assert!(sent.success(), "kill -INT failed");
    let status = wait_exit(&mut child, scaled(Duration::from_secs(20))).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("the demo did not exit after SIGINT")
    });
    for reader in demo.readers.drain(..) {
        let _ = reader.join();
    }
    let out = demo.output();
    assert!(status.success(), "exit {status}:\n{out}");
    for node in ["node-1", "node-3", "node-4", "node-5"] {
        assert!(out.contains(&format!("{node} left (")), "{node} did not leave:\n{out}");
    }
    assert!(!out.contains("node-2 left ("), "node-2 left twice:\n{out}");
}

#[test]
fn demo_refuses_a_busy_ui_port() {
    let busy = TcpListener::bind("127.0.0.1:0").expect("binding a port");
    let addr = busy.local_addr().expect("its address").to_string();
    let out = run_rumor(&["demo", "--ui", &addr, "--duration", "5"], &[], Duration::from_secs(20));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a busy --ui port was accepted:\n{stderr}");
    assert!(stderr.contains(&format!("--ui {addr}")), "the error does not name --ui {addr}: {stderr}");
    assert!(stderr.contains("--ui 127.0.0.1:0"), "the error does not suggest a free port: {stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("visualizer"), "a console was announced");
}
