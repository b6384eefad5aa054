//! Shared harness of the multi-process tests: spawns real `rumor agent` processes on loopback,
//! talks to their HTTP API with a tiny std-only client, waits on conditions with deadlines and,
//! when a test fails, prints every agent's members table and the tail of its log.
//!
//! Children are killed when their [`Agent`] is dropped, which also happens while a failing
//! test unwinds, so no agent outlives its test (short of the test process itself being
//! SIGKILLed).

// Each test binary uses a different subset of the helpers.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The `rumor` binary under test.
pub(crate) const RUMOR: &str = env!("CARGO_BIN_EXE_rumor");

/// How often conditions are re-checked.
const POLL: Duration = Duration::from_millis(100);

/// Deadlines are generous because CI runs on two cores shared with other work; set
/// `RUMOR_TEST_TIMEOUT_SCALE=3` on a very slow machine.
pub(crate) fn scaled(d: Duration) -> Duration {
    let scale = std::env::var("RUMOR_TEST_TIMEOUT_SCALE").ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(1.0);
    d.mul_f64(scale.max(0.1))
}

/// Polls `check` until it returns `Ok` or `timeout` passes; then panics with `what` and the
/// last reason `check` gave. Returns the value and how long it took.
pub(crate) fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> (T, Duration) {
    let timeout = scaled(timeout);
    let start = Instant::now();
    loop {
        let last = match check() {
            Ok(v) => return (v, start.elapsed()),
            Err(e) => e,
        };
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for {what}: {last}");
        }
        std::thread::sleep(POLL);
    }
}

// ---------------------------------------------------------------------------------------------
// Ports

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port that is free for both UDP and TCP right now and was not handed out before
/// in this process. The agent binds the same number twice: UDP for gossip, TCP for HTTP.
/// Another process may still take it before the agent binds it; [`Cluster::start`] retries.
pub(crate) fn free_port() -> u16 {
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed = handed.get_or_insert_with(HashSet::new);
    for _ in 0..1000 {
        let Ok(udp) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else { continue };
        let Ok(port) = udp.local_addr().map(|a| a.port()) else { continue };
        if handed.contains(&port) || TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_err() {
            continue;
        }
        handed.insert(port);
        return port;
    }
    panic!("no free loopback port found");
}

/// `127.0.0.1:port`.
pub(crate) fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

// ---------------------------------------------------------------------------------------------
// HTTP

/// A plain HTTP/1.1 GET (`Connection: close`); returns the status and the (de-chunked) body.
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    http_request(addr, "GET", path)
}

/// A plain HTTP/1.1 POST with an empty body; returns the status and the (de-chunked) body.
pub(crate) fn http_post(addr: SocketAddr, path: &str) -> Result<(u16, String), String> {
    http_request(addr, "POST", path)
}

/// A plain HTTP/1.1 request without a body (`Connection: close`); returns the status and the
/// (de-chunked) body.
fn http_request(addr: SocketAddr, method: &str, path: &str) -> Result<(u16, String), String> {
    http_json(addr, method, path, if method == "GET" { None } else { Some("") })
}

/// A plain HTTP/1.1 request with a JSON body (`None`: no body at all); returns the status and
/// the (de-chunked) body.
pub(crate) fn http_json(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String), String> {
    let err = |e: std::io::Error| format!("{method} http://{addr}{path}: {e}");
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(err)?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(err)?;
    stream.set_write_timeout(Some(Duration::from_secs(5))).map_err(err)?;
    let length = match body {
        None => String::new(),
        Some(b) => format!("Content-Type: application/json\r\nContent-Length: {}\r\n", b.len()),
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{length}Connection: close\r\n\r\n{}",
        body.unwrap_or("")
    )
    .map_err(err)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(err)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) =
        text.split_once("\r\n\r\n").ok_or_else(|| format!("{method} {path}: no end of headers in {text:?}"))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("{method} {path}: bad status line in {head:?}"))?;
    let chunked = head.lines().any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = if chunked {
        dechunk(body).ok_or_else(|| format!("{method} {path}: bad chunked body {body:?}"))?
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

/// One row of `GET /v1/members`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) addr: String,
    pub(crate) state: String,
    pub(crate) incarnation: u64,
    pub(crate) meta: BTreeMap<String, String>,
}

/// The body of `GET /v1/members`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct View {
    pub(crate) self_name: String,
    pub(crate) members: Vec<Member>,
}

impl View {
    pub(crate) fn parse(body: &str) -> Result<View, String> {
        let bad = |why: &str| format!("unexpected /v1/members body ({why}): {body}");
        let v: serde_json::Value = serde_json::from_str(body).map_err(|e| bad(&e.to_string()))?;
        let self_name = v.get("self").and_then(|s| s.as_str()).ok_or_else(|| bad("no string `self`"))?.to_owned();
        let rows = v.get("members").and_then(|m| m.as_array()).ok_or_else(|| bad("no array `members`"))?;
        let mut members = Vec::new();
        for row in rows {
            let field = |k: &str| {
                row.get(k)
                    .and_then(|s| s.as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| bad(&format!("member without string `{k}`")))
            };
            let meta = match row.get("meta") {
                None | Some(serde_json::Value::Null) => BTreeMap::new(),
                Some(serde_json::Value::Object(m)) => m
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_owned)))
                    .collect(),
                Some(_) => return Err(bad("`meta` is not an object")),
            };
            members.push(Member {
                name: field("name")?,
                addr: field("addr")?,
                state: field("state")?,
                incarnation: row
                    .get("incarnation")
                    .and_then(serde_json::Value::as_u64)
                    .ok_or_else(|| bad("member without integer `incarnation`"))?,
                meta,
            });
        }
        Ok(View { self_name, members })
    }

    pub(crate) fn member(&self, name: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.name == name)
    }

    pub(crate) fn state_of(&self, name: &str) -> Option<&str> {
        self.member(name).map(|m| m.state.as_str())
    }

    /// A fixed-width table for failure messages.
    pub(crate) fn table(&self) -> String {
        let mut out = format!("  view of {}:\n", self.self_name);
        for m in &self.members {
            let _ = writeln!(
                out,
                "    {:<14} {:<22} {:<8} inc={:<4} meta={:?}",
                m.name, m.addr, m.state, m.incarnation, m.meta
            );
        }
        out
    }
}

/// `GET /v1/members` of the agent serving HTTP at `http`.
pub(crate) fn members(http: SocketAddr) -> Result<View, String> {
    let (status, body) = http_get(http, "/v1/members")?;
    if status != 200 {
        return Err(format!("GET /v1/members at {http}: status {status}: {body}"));
    }
    View::parse(&body)
}

/// Prometheus text of the agent serving HTTP at `http`.
pub(crate) fn metrics(http: SocketAddr) -> Result<String, String> {
    let (status, body) = http_get(http, "/metrics")?;
    if status != 200 {
        return Err(format!("GET /metrics at {http}: status {status}"));
    }
    Ok(body)
}

/// The value of one sample: `name` is the metric name, optionally followed by its labels
/// exactly as printed, e.g. `rumor_dropped_packets_total{reason="auth"}`. A counter that
/// exporters append `_total` to is found under either spelling.
pub(crate) fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (key, value) = line.rsplit_once(' ')?;
        (key == name).then(|| value.trim().parse::<f64>().ok()).flatten()
    })
}

/// A drop counter by reason; a reason never incremented may be absent (then 0).
pub(crate) fn dropped(text: &str, reason: &str) -> f64 {
    metric(text, &format!("rumor_dropped_packets_total{{reason=\"{reason}\"}}")).unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------------
// Processes

/// Runs `rumor ARGS` to completion (killed after `timeout`), with extra environment.
pub(crate) fn run_rumor(args: &[&str], env: &[(&str, &str)], timeout: Duration) -> Output {
    let mut cmd = Command::new(RUMOR);
    cmd.args(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    clear_rumor_env(&mut cmd);
    cmd.env("RUST_LOG", "warn");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawning {RUMOR} {args:?}: {e}"));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let status = wait_exit(&mut child, scaled(timeout)).unwrap_or_else(|| {
        let _ = child.kill();
        let _ = child.wait();
        panic!("`rumor {}` did not finish within {timeout:?}", args.join(" "))
    });
    Output { status, stdout: out_reader.join().unwrap_or_default(), stderr: err_reader.join().unwrap_or_default() }
}

/// Like [`run_rumor`], but panics unless the command succeeds; returns its stdout.
pub(crate) fn rumor_ok(args: &[&str]) -> String {
    let out = run_rumor(args, &[], Duration::from_secs(20));
    assert!(
        out.status.success(),
        "`rumor {}` failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits up to `timeout` for `child` to exit.
pub(crate) fn wait_exit(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if start.elapsed() < timeout => std::thread::sleep(Duration::from_millis(20)),
            _ => return None,
        }
    }
}

/// The test's environment must not leak into the agents (a developer may have `RUMOR_*` set).
fn clear_rumor_env(cmd: &mut Command) {
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("RUMOR_") {
            cmd.env_remove(k);
        }
    }
}

/// Sends SIGTERM (std only knows SIGKILL).
pub(crate) fn sigterm(pid: u32) {
    let status = Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("running kill");
    assert!(status.success(), "kill -TERM {pid} failed");
}

/// Resident set size of a process in KiB (`VmRSS` of /proc/PID/status).
pub(crate) fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/status: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

/// How to start one agent. Built with [`AgentSpec::new`] and the chainable setters; the ports
/// are filled in by [`Cluster::start`] unless set.
#[derive(Clone, Debug)]
pub(crate) struct AgentSpec {
    pub(crate) name: String,
    pub(crate) port: Option<u16>,
    pub(crate) join: Vec<SocketAddr>,
    pub(crate) keyring: Option<PathBuf>,
    pub(crate) label: Option<String>,
    pub(crate) meta: Vec<(String, String)>,
    pub(crate) preset: &'static str,
    /// Bind the wildcard address and `--advertise` the loopback one.
    pub(crate) wildcard: bool,
    /// Serve HTTP on the wildcard address (so it serves reads only) rather than loopback.
    pub(crate) wildcard_http: bool,
    /// The loopback address to bind (gossip and HTTP), 127.0.0.1 unless set.
    pub(crate) ip: Option<std::net::Ipv4Addr>,
    pub(crate) extra: Vec<String>,
}

impl AgentSpec {
    pub(crate) fn new(name: &str) -> Self {
        AgentSpec {
            name: name.to_owned(),
            port: None,
            join: Vec::new(),
            keyring: None,
            label: None,
            meta: Vec::new(),
            preset: "local",
            wildcard: false,
            wildcard_http: false,
            ip: None,
            extra: Vec::new(),
        }
    }

    /// Binds another loopback address (127.0.0.0/8 is all loopback on Linux).
    pub(crate) fn ip(mut self, ip: std::net::Ipv4Addr) -> Self {
        self.ip = Some(ip);
        self
    }

    /// Its gossip and HTTP address on `port`.
    fn addr(&self, port: u16) -> SocketAddr {
        self.ip.map_or_else(|| local(port), |ip| SocketAddr::from((ip, port)))
    }

    pub(crate) fn join(mut self, seeds: &[SocketAddr]) -> Self {
        self.join = seeds.to_vec();
        self
    }

    pub(crate) fn keyring(mut self, path: &Path) -> Self {
        self.keyring = Some(path.to_owned());
        self
    }

    pub(crate) fn label(mut self, label: &str) -> Self {
        self.label = Some(label.to_owned());
        self
    }

    pub(crate) fn meta(mut self, key: &str, value: &str) -> Self {
        self.meta.push((key.to_owned(), value.to_owned()));
        self
    }

    pub(crate) fn wildcard(mut self) -> Self {
        self.wildcard = true;
        self
    }

    pub(crate) fn wildcard_http(mut self) -> Self {
        self.wildcard_http = true;
        self
    }

    /// Extra arguments after the harness's own.
    pub(crate) fn args_after(mut self, extra: &[&str]) -> Self {
        self.extra.extend(extra.iter().map(|s| (*s).to_owned()));
        self
    }

    pub(crate) fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    fn args(&self, port: u16) -> Vec<String> {
        let mut args = vec!["agent".to_owned(), "--name".to_owned(), self.name.clone()];
        if self.wildcard {
            args.extend([
                "--bind".to_owned(),
                format!("0.0.0.0:{port}"),
                "--advertise".to_owned(),
                local(port).to_string(),
            ]);
        } else {
            args.extend(["--bind".to_owned(), self.addr(port).to_string()]);
        }
        let http = if self.wildcard_http { format!("0.0.0.0:{port}") } else { self.addr(port).to_string() };
        args.extend(["--http".to_owned(), http]);
        args.extend(["--preset".to_owned(), self.preset.to_owned()]);
        if !self.join.is_empty() {
            let seeds: Vec<String> = self.join.iter().map(ToString::to_string).collect();
            args.extend(["--join".to_owned(), seeds.join(",")]);
        }
        if let Some(k) = &self.keyring {
            args.extend(["--keyring".to_owned(), k.display().to_string()]);
        }
        if let Some(l) = &self.label {
            args.extend(["--label".to_owned(), l.clone()]);
        }
        for (k, v) in &self.meta {
            args.extend(["--meta".to_owned(), format!("{k}={v}")]);
        }
        args.extend(self.extra.iter().cloned());
        args
    }
}

/// One running (or stopped) agent process.
pub(crate) struct Agent {
    pub(crate) spec: AgentSpec,
    /// Gossip (UDP) address.
    pub(crate) addr: SocketAddr,
    /// HTTP address (same port, TCP).
    pub(crate) http: SocketAddr,
    /// Its stderr.
    pub(crate) log: PathBuf,
    child: Option<Child>,
}

impl Agent {
    /// Spawns `rumor ARGS` with stderr to `log` and waits until `/healthz` at `http` answers
    /// 200. On early exit returns the exit status and the log.
    pub(crate) fn spawn_raw(
        args: &[String],
        env: &[(String, String)],
        http: SocketAddr,
        log: &Path,
    ) -> Result<Child, String> {
        let log_file = std::fs::File::create(log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let mut cmd = Command::new(RUMOR);
        cmd.args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(log_file);
        clear_rumor_env(&mut cmd);
        cmd.env("RUST_LOG", std::env::var("RUMOR_TEST_LOG").unwrap_or_else(|_| "info".to_owned()));
        // The agent colours its log even into a file; keep the logs printed on failure legible.
        cmd.env("NO_COLOR", "1");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().map_err(|e| format!("spawning {RUMOR}: {e}"))?;
        let deadline = Instant::now() + scaled(Duration::from_secs(20));
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("agent exited during start-up ({status}); log:\n{}", tail(log, 30)));
            }
            if matches!(http_get(http, "/healthz"), Ok((200, _))) {
                return Ok(child);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "agent's /healthz at {http} did not answer 200 within 20 s; log:\n{}",
                    tail(log, 30)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn name(&self) -> &str {
        &self.spec.name
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("agent is running")
    }

    pub(crate) fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub(crate) fn members(&self) -> Result<View, String> {
        members(self.http)
    }

    pub(crate) fn metrics(&self) -> Result<String, String> {
        metrics(self.http)
    }

    /// SIGKILL: an ungraceful crash.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit (the agent leaves gracefully first).
    pub(crate) fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.take().expect("agent is running");
        sigterm(child.id());
        self.reap(child, timeout, "SIGTERM")
    }

    /// Waits for an exit that something else (e.g. `rumor leave`) caused.
    pub(crate) fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let child = self.child.take().expect("agent is running");
        self.reap(child, timeout, "exit")
    }

    fn reap(&mut self, mut child: Child, timeout: Duration, what: &str) -> ExitStatus {
        match wait_exit(&mut child, scaled(timeout)) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "agent {} did not exit within {timeout:?} after {what}; log:\n{}",
                    self.spec.name,
                    tail(&self.log, 30)
                );
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of a file.
pub(crate) fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()));
    let lines: Vec<&str> = text.lines().collect();
    lines.get(lines.len().saturating_sub(n)..).unwrap_or_default().join("\n")
}

/// The agents of one test, with a scratch directory for their logs and files. Dropping it
/// kills every agent; if the test is failing, it first prints each agent's members table and
/// log tail.
pub(crate) struct Cluster {
    pub(crate) dir: PathBuf,
    pub(crate) agents: Vec<Agent>,
    starts: usize,
}

impl Cluster {
    /// An empty cluster whose files live in `$CARGO_TARGET_TMPDIR/<test>-<pid>`.
    pub(crate) fn new(test: &str) -> Self {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("creating {}: {e}", dir.display()));
        Cluster { dir, agents: Vec::new(), starts: 0 }
    }

    /// A path in the scratch directory.
    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Starts an agent and waits for its `/healthz`; returns its index. A port taken by
    /// another process between choosing and binding it is retried with a new port.
    pub(crate) fn start(&mut self, spec: AgentSpec) -> usize {
        let mut last = String::new();
        for _ in 0..5 {
            let port = spec.port.unwrap_or_else(free_port);
            self.starts += 1;
            let log = self.path(&format!("{}.{}.log", spec.name, self.starts));
            let addr = spec.addr(port);
            match Agent::spawn_raw(&spec.args(port), &[], addr, &log) {
                Ok(child) => {
                    let agent = Agent { spec: spec.clone(), addr, http: addr, log, child: Some(child) };
                    if let Some(i) = self.agents.iter().position(|a| a.spec.name == spec.name) {
                        self.agents[i] = agent;
                        return i;
                    }
                    self.agents.push(agent);
                    return self.agents.len() - 1;
                }
                Err(e) if spec.port.is_none() && e.to_ascii_lowercase().contains("in use") => last = e,
                Err(e) => panic!("starting agent {}: {e}", spec.name),
            }
        }
        panic!("starting agent {}: every port tried was taken: {last}", spec.name);
    }

    /// Starts an agent again with its earlier spec and address (after a kill or leave).
    pub(crate) fn restart(&mut self, i: usize) {
        let agent = &self.agents[i];
        let spec = agent.spec.clone().port(agent.addr.port());
        self.start(spec);
    }

    pub(crate) fn agent(&self, name: &str) -> &Agent {
        self.agents.iter().find(|a| a.spec.name == name).unwrap_or_else(|| panic!("no agent {name}"))
    }

    pub(crate) fn agent_mut(&mut self, name: &str) -> &mut Agent {
        self.agents.iter_mut().find(|a| a.spec.name == name).unwrap_or_else(|| panic!("no agent {name}"))
    }

    /// Waits until every running agent in `observers` reports each name in `expect` with the
    /// given state. Returns the time it took.
    pub(crate) fn wait_states(
        &self,
        what: &str,
        observers: &[&str],
        expect: &[(&str, &str)],
        timeout: Duration,
    ) -> Duration {
        let (_, took) = wait_until(what, timeout, || {
            for o in observers {
                let view = self.agent(o).members()?;
                for (name, state) in expect {
                    let got = view.state_of(name);
                    if got != Some(*state) {
                        return Err(format!("{o} sees {name} as {got:?}, want {state}\n{}", view.table()));
                    }
                }
            }
            Ok(())
        });
        took
    }

    /// Every agent's members table (or why it could not be read) and log tail.
    pub(crate) fn dump(&mut self) -> String {
        let mut out = format!("=== cluster state (files in {}) ===\n", self.dir.display());
        for a in &mut self.agents {
            let running = a.is_running();
            let _ = writeln!(out, "--- agent {} udp={} http={} running={running}", a.spec.name, a.addr, a.http);
            if running {
                match a.members() {
                    Ok(v) => out.push_str(&v.table()),
                    Err(e) => {
                        let _ = writeln!(out, "  (members unavailable: {e})");
                    }
                }
            }
            let _ = writeln!(out, "  log {} (last 25 lines):\n{}", a.log.display(), tail(&a.log, 25));
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.dump());
        }
        for a in &mut self.agents {
            a.kill();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Keys

/// A deterministic 32-byte test key.
pub(crate) fn key(byte: u8) -> [u8; 32] {
    let mut k = [0u8; 32];
    for (i, b) in k.iter_mut().enumerate() {
        *b = byte.wrapping_mul(31).wrapping_add(i as u8);
    }
    k
}

/// Standard base64 of a key, as keyring files and `rumor keys` take it.
pub(crate) fn b64(key: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(key)
}

/// Writes a keyring file (JSON array of base64 keys, primary first).
pub(crate) fn write_keyring(path: &Path, keys: &[[u8; 32]]) {
    let list: Vec<String> = keys.iter().map(|k| b64(k)).collect();
    let json = serde_json::to_string(&list).expect("serialising a keyring");
    std::fs::write(path, json).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
}

/// Reads a keyring file back as base64 strings.
pub(crate) fn read_keyring(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("keyring {} is not a JSON array of strings ({e}): {text}", path.display()))
}

/// A small deterministic PRNG (splitmix64) for garbage; the seed is printed by the tests.
pub(crate) struct SplitMix(pub(crate) u64);

impl SplitMix {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub(crate) fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
