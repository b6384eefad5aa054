//! The operator's first hour, with real `rumor agent` processes on 127.0.0.1: `/metrics` passes
//! `promtool check metrics` in both formats, a write on the read-only listener changes nothing,
//! the Serf-style commands (`members` filters, `info`, `join`, `force-leave`, `meta set|delete`
//! persisted, reaping), `rumor event` and `rumor monitor` saying what happened, completions
//! and the man page.
//!
//! Every wait is a poll with a deadline (`common::wait_until`); a failing test prints each
//! agent's members table and log.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

/// `rumor ARGS`, expected to fail: its stderr.
fn rumor_err(args: &[&str]) -> String {
    let out = run_rumor(args, &[], secs(20));
    assert!(!out.status.success(), "`rumor {}` should fail; stdout: {}", args.join(" "), text(&out.stdout));
    text(&out.stderr)
}

/// `GET /metrics` with an `Accept` header: the content type and the body.
fn scrape(http: std::net::SocketAddr, accept: &str) -> (String, String) {
    use std::io::{Read as _, Write as _};
    let mut s = std::net::TcpStream::connect(http).unwrap();
    s.set_read_timeout(Some(secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let ctype = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_owned()))
        .unwrap_or_default();
    (ctype, body.to_owned())
}

/// `promtool check metrics` on `text`; `None` (and a loud SKIPPED line) if promtool is missing.
fn promtool(text: &str) -> Option<Result<String, String>> {
    use std::io::Write as _;
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("SKIPPED: promtool check metrics — promtool not runnable ({e}); apt-get install prometheus");
            return None;
        }
    };
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!("{}{}", text_of(&out.stdout), text_of(&out.stderr));
    Some(if out.status.success() { Ok(said) } else { Err(said) })
}

fn text_of(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `/metrics` of a two-agent cluster that has probed: the Prometheus text format passes
/// `promtool check metrics` (no lint problem either), OpenMetrics is served when asked for,
/// names are unit-last, and the probe round-trip histogram and process metrics are there.
#[test]
fn metrics_pass_promtool_in_both_formats() {
    let mut c = Cluster::new("promtool");
    c.start(AgentSpec::new("m1"));
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("m2").join(&[seed]));
    c.wait_states("2 agents to converge", &["m1", "m2"], &[("m1", "alive"), ("m2", "alive")], secs(20));
    let http = c.agent("m1").http;
    wait_until("m1 to time some probes", secs(20), || {
        let t = c.agent("m1").metrics()?;
        (metric(&t, "rumor_probe_rtt_seconds_count").unwrap_or(0.0) >= 3.0).then_some(()).ok_or(t)
    });

    let (ctype, body) = scrape(http, "text/plain");
    assert_eq!(ctype, "text/plain; version=0.0.4; charset=utf-8");
    assert!(!body.contains("# EOF") && !body.contains("# UNIT"), "0.0.4 text has no EOF or UNIT:\n{body}");
    for name in [
        "rumor_received_bytes_total",
        "rumor_sent_bytes_total",
        "rumor_received_packets_total",
        "process_start_time_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(metric(&body, name).is_some(), "{name} missing:\n{body}");
    }
    let rss = metric(&body, "process_resident_memory_bytes").unwrap();
    assert!(rss > 1e6, "RSS {rss} bytes is not plausible");
    let rtt_sum = metric(&body, "rumor_probe_rtt_seconds_sum").unwrap();
    let rtt_n = metric(&body, "rumor_probe_rtt_seconds_count").unwrap();
    assert!(rtt_sum > 0.0 && rtt_sum / rtt_n < 0.1, "loopback probe RTTs average {} s", rtt_sum / rtt_n);
    eprintln!("figure: mean probe RTT on loopback {:.3} ms over {rtt_n} probes", rtt_sum / rtt_n * 1e3);
    assert_eq!(metric(&body, "rumor_probe_rtt_seconds_bucket{le=\"+Inf\"}"), Some(rtt_n));
    match promtool(&body) {
        Some(Ok(said)) => assert!(said.trim().is_empty(), "promtool is silent on a clean exposition, said:\n{said}"),
        Some(Err(said)) => panic!("promtool check metrics failed:\n{said}\n--- exposition:\n{body}"),
        None => {}
    }

    // No Accept header is the text format too; Prometheus's own header gets OpenMetrics.
    let (ctype, _) = scrape(http, "*/*");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,\
                      text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
    let (ctype, om) = scrape(http, prometheus);
    assert_eq!(ctype, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    assert!(om.ends_with("# EOF\n"), "{om}");
    assert!(om.contains("# UNIT rumor_received_bytes bytes"), "{om}");
}

/// With `--http` on the wildcard address the HTTP listener serves reads only: every write
/// answers 403 and changes nothing (the node stays, its metadata, keyring and members are as
/// before, and the keys are not readable); the same writes on `--admin` work.
#[test]
fn a_write_without_the_admin_listener_changes_nothing() {
    let mut c = Cluster::new("admin");
    let keyring = c.path("a.keys");
    write_keyring(&keyring, &[key(1)]);
    let admin = local(free_port());
    let admin_s = admin.to_string();
    c.start(
        AgentSpec::new("a1").keyring(&keyring).meta("role", "db").wildcard_http().args_after(&["--admin", &admin_s]),
    );
    let b_keys = c.path("b.keys");
    write_keyring(&b_keys, &[key(1)]);
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("a2").keyring(&b_keys).join(&[seed]));
    c.wait_states("2 agents", &["a1", "a2"], &[("a1", "alive"), ("a2", "alive")], secs(20));
    let http = c.agent("a1").http;
    let before = c.agent("a1").members().unwrap();
    let keys_before = read_keyring(&keyring);

    let writes: [(&str, &str, Option<&str>); 9] = [
        ("POST", "/v1/leave", Some("")),
        ("PUT", "/v1/meta", Some(r#"{"role":"evil"}"#)),
        ("PATCH", "/v1/meta", Some(r#"{"set":{"role":"evil"}}"#)),
        ("POST", "/v1/keys", Some(&format!(r#"{{"op":"install","key":"{}"}}"#, b64(&key(9))))),
        ("GET", "/v1/keys", None),
        ("POST", "/v1/events", Some(r#"{"name":"x","payload":"y"}"#)),
        ("POST", "/v1/join", Some(r#"{"addrs":["127.0.0.1:9"]}"#)),
        ("POST", "/v1/force-leave", Some(r#"{"name":"a2"}"#)),
        ("DELETE", "/v1/leave", Some("")),
    ];
    for (method, path, body) in writes {
        let (status, answer) = http_json(http, method, path, body).unwrap();
        assert_eq!(status, 403, "{method} {path} on the read-only listener: {answer}");
        assert!(answer.contains("admin"), "the refusal says where writes go: {answer}");
        assert!(!answer.contains(&b64(&key(1))), "no key in the answer: {answer}");
    }
    let err = rumor_err(&["leave", "--http", &http.to_string()]);
    assert!(err.contains("403") && err.contains("--admin"), "{err}");
    // Nothing changed, on this node or the other.
    assert_eq!(http_get(http, "/healthz").unwrap().0, 200);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.agent("a1").members().unwrap(), before, "a1's view is unchanged");
    assert_eq!(c.agent("a2").members().unwrap().member("a1").unwrap().meta.get("role").unwrap(), "db");
    assert_eq!(read_keyring(&keyring), keys_before, "the keyring file is unchanged");

    // Reads are served; the admin listener takes the writes.
    assert_eq!(http_get(http, "/v1/members").unwrap().0, 200);
    assert_eq!(http_get(http, "/v1/info").unwrap().0, 200);
    let keys = rumor_ok(&["keys", "list", "--http", &http.to_string(), "--admin", &admin_s]);
    assert!(keys.contains(&b64(&key(1))), "{keys}");
    rumor_ok(&["meta", "set", "role=web", "--admin", &admin_s]);
    c.wait_states("a2 sees a1 alive", &["a2"], &[("a1", "alive")], secs(5));
    wait_until("a2 to see a1's new role", secs(10), || {
        let v = c.agent("a2").members()?;
        (v.member("a1").and_then(|m| m.meta.get("role")).map(String::as_str) == Some("web"))
            .then_some(())
            .ok_or(v.table())
    });
    let info: serde_json::Value =
        serde_json::from_str(&rumor_ok(&["info", "--json", "--http", &http.to_string()])).unwrap();
    assert_eq!(info["admin"], admin_s.as_str());
    assert_eq!(info["encrypted"], true);
    assert_eq!(info["keys"], 1);
}

/// `rumor members` filters by status, name and metadata (anchored regular expressions, all
/// must match), and a bad one is refused naming the filter.
#[test]
fn members_filters_return_the_right_members() {
    let mut c = Cluster::new("filters");
    c.start(AgentSpec::new("db-1").meta("role", "db").meta("zone", "eu-1"));
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("db-2").join(&[seed]).meta("role", "db").meta("zone", "us-1"));
    c.start(AgentSpec::new("web-1").join(&[seed]).meta("role", "web").meta("zone", "eu-2"));
    c.start(AgentSpec::new("web-2").join(&[seed]).meta("role", "web"));
    let all = ["db-1", "db-2", "web-1", "web-2"];
    let alive: Vec<(&str, &str)> = all.iter().map(|n| (*n, "alive")).collect();
    c.wait_states("4 agents", &all, &alive, secs(30));
    c.agent_mut("web-2").kill();
    c.wait_states("web-2 failed", &["db-1"], &[("web-2", "failed")], secs(30));

    let http = c.agent("db-1").http.to_string();
    let names = |filters: &[&str]| -> Vec<String> {
        let mut args = vec!["members", "--json", "--http", &http];
        args.extend_from_slice(filters);
        let body: serde_json::Value = serde_json::from_str(&rumor_ok(&args)).unwrap();
        body["members"].as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!(names(&[]), all);
    assert_eq!(names(&["--status", "failed"]), ["web-2"]);
    assert_eq!(names(&["--status", "alive"]), ["db-1", "db-2", "web-1"]);
    assert_eq!(names(&["--tag", "role=db"]), ["db-1", "db-2"]);
    assert_eq!(names(&["--tag", "role=web", "--status", "alive"]), ["web-1"]);
    assert_eq!(names(&["--tag", "zone=eu-.*"]), ["db-1", "web-1"]);
    assert_eq!(names(&["--tag", "zone=eu-.*", "--tag", "role=db"]), ["db-1"]);
    assert_eq!(names(&["--name", "web-.*"]), ["web-1", "web-2"]);
    assert_eq!(names(&["--name", "db"]), Vec::<String>::new(), "anchored");
    assert_eq!(names(&["--name", "db-[12]|web-2"]), ["db-1", "db-2", "web-2"]);
    // The table form filters the same way.
    let table = rumor_ok(&["members", "--http", &http, "--status", "failed"]);
    assert_eq!(table.lines().count(), 2, "header and web-2:\n{table}");
    assert!(table.lines().nth(1).unwrap().starts_with("web-2"), "{table}");

    let err = rumor_err(&["members", "--http", &http, "--name", "("]);
    assert!(err.contains("`name=(` is not a valid regular expression"), "{err}");
    let err = rumor_err(&["members", "--http", &http, "--tag", "role"]);
    assert!(err.contains("is not KEY=REGEX"), "{err}");
}

/// `rumor force-leave` turns a failed member into `left` on every member (not only the one
/// asked), refuses live and unknown members, and the tombstone is reaped after the configured
/// `protocol.tombstone_ttl_ms`.
#[test]
fn force_leave_turns_a_failed_member_left_everywhere_then_it_is_reaped() {
    let mut c = Cluster::new("force-leave");
    let config = c.path("reap.toml");
    // The shortest the local preset allows: tombstone_ttl ≥ gossip_to_the_dead (15 s).
    std::fs::write(&config, "[protocol]\nreconnect_timeout_ms = 15000\ntombstone_ttl_ms = 15000\n").unwrap();
    let conf = config.display().to_string();
    let spec = |n: &str| AgentSpec::new(n).args_after(&["--config", &conf]);
    c.start(spec("f1"));
    let seed = c.agents[0].addr;
    for n in ["f2", "f3", "f4"] {
        c.start(spec(n).join(&[seed]));
    }
    let names = ["f1", "f2", "f3", "f4"];
    let alive: Vec<(&str, &str)> = names.iter().map(|n| (*n, "alive")).collect();
    c.wait_states("4 agents", &names, &alive, secs(30));
    let info: serde_json::Value =
        serde_json::from_str(&rumor_ok(&["info", "--json", "--http", &c.agent("f1").http.to_string()])).unwrap();
    assert_eq!(info["protocol"]["tombstone_ttl_ms"], 15000, "{info}");

    let f1 = c.agent("f1").http.to_string();
    let err = rumor_err(&["force-leave", "f3", "--http", &f1]);
    assert!(err.contains("`f3` is alive; only a failed member can be forced to leave"), "{err}");
    let err = rumor_err(&["force-leave", "nobody", "--http", &f1]);
    assert!(err.contains("no member named `nobody`"), "{err}");

    c.agent_mut("f4").kill();
    let others = ["f1", "f2", "f3"];
    c.wait_states("f4 failed everywhere", &others, &[("f4", "failed")], secs(30));
    let out = rumor_ok(&["force-leave", "f4", "--http", &c.agent("f2").http.to_string()]);
    assert!(out.contains("f4 marked left"), "{out}");
    let forced = Instant::now();
    let took = c.wait_states("f4 left everywhere", &others, &[("f4", "left")], secs(10));
    eprintln!("figure: force-leave on f2 seen as left by all 3 members after {took:?}");
    let m = c.agent("f1").metrics().unwrap();
    assert_eq!(metric(&m, "rumor_members{state=\"failed\"}"), Some(0.0), "no failed member left to alert on");

    let (_, took) = wait_until("f4 to be forgotten (reaped) everywhere", secs(40), || {
        for o in others {
            let v = c.agent(o).members()?;
            if v.member("f4").is_some() {
                return Err(format!("{o} still lists f4:\n{}", v.table()));
            }
        }
        Ok(())
    });
    let since = forced.elapsed();
    eprintln!("figure: f4's tombstone reaped everywhere {since:?} after force-leave (ttl 15 s; waited {took:?})");
    assert!(since >= secs(14), "reaped before the ttl: {since:?}");
}

/// `rumor join` on a running agent joins another cluster's member and says so; an address
/// nobody answers from is an error that says what to check, and the agent stays ready.
#[test]
fn join_on_a_running_agent() {
    let mut c = Cluster::new("join");
    c.start(AgentSpec::new("j1"));
    c.start(AgentSpec::new("j2"));
    let (j1, j2) = (c.agent("j1").http.to_string(), c.agent("j2").addr.to_string());
    let out = rumor_ok(&["join", &j2, "--http", &j1]);
    assert!(out.contains(&format!("joined through {j2}")) && out.contains("2 members alive"), "{out}");
    c.wait_states("j1 and j2 together", &["j1", "j2"], &[("j1", "alive"), ("j2", "alive")], secs(10));

    let nobody = local(free_port()).to_string();
    let err = rumor_err(&["join", &nobody, "--http", &j1]);
    assert!(err.contains(&format!("no member answered from {nobody}")), "{err}");
    assert_eq!(http_get(c.agent("j1").http, "/readyz").unwrap().0, 200, "still ready");
    let err = rumor_err(&["join", "no-port", "--http", &j1]);
    assert!(err.contains("`no-port`"), "{err}");
}

/// `rumor meta set|delete` change the running node's metadata (the others see it) and write it
/// back to the agent's `--config` file, comments kept, so a restart keeps it; with `--meta` on
/// the command line the answer says why the file was not written.
#[test]
fn meta_set_and_delete_are_persisted_in_the_config_file() {
    let mut c = Cluster::new("meta");
    let config = c.path("agent.toml");
    std::fs::write(&config, "# my agent\nlabel = \"prod\"\n\n[meta]\nrole = \"db\" # the role\n").unwrap();
    let conf = config.display().to_string();
    c.start(AgentSpec::new("p1").label("prod").args_after(&["--config", &conf]));
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("p2").label("prod").join(&[seed]).meta("k", "v"));
    c.wait_states("2 agents", &["p1", "p2"], &[("p1", "alive"), ("p2", "alive")], secs(20));
    let p1 = c.agent("p1").http.to_string();

    let out = rumor_ok(&["meta", "set", "zone=eu-1", "tier=gold", "--http", &p1]);
    assert!(out.contains("metadata now: role=db,tier=gold,zone=eu-1"), "{out}");
    assert!(out.contains(&format!("written to {conf}")), "{out}");
    let out = rumor_ok(&["meta", "delete", "tier", "--http", &p1]);
    assert!(out.contains("metadata now: role=db,zone=eu-1"), "{out}");
    let file = std::fs::read_to_string(&config).unwrap();
    assert!(file.starts_with("# my agent\nlabel = \"prod\"\n"), "the rest of the file is kept:\n{file}");
    let parsed: toml::Table = toml::from_str(&file).unwrap();
    let meta = parsed["meta"].as_table().unwrap();
    assert_eq!((meta.len(), meta["role"].as_str(), meta["zone"].as_str()), (2, Some("db"), Some("eu-1")), "{file}");
    wait_until("p2 to see p1's metadata", secs(10), || {
        let v = c.agent("p2").members()?;
        let m = &v.member("p1").ok_or("no p1")?.meta;
        (m.get("zone").map(String::as_str) == Some("eu-1") && !m.contains_key("tier")).then_some(()).ok_or(v.table())
    });

    // A restart reads the file again.
    c.agent_mut("p1").terminate(secs(15));
    let i = c.agents.iter().position(|a| a.name() == "p1").unwrap();
    c.restart(i);
    let v = c.agent("p1").members().unwrap();
    assert_eq!(v.member("p1").unwrap().meta.get("zone").map(String::as_str), Some("eu-1"), "{}", v.table());

    // p2 has no config file: changed, but not persisted, and said so.
    let out = rumor_ok(&["meta", "set", "x=1", "--http", &c.agent("p2").http.to_string()]);
    assert!(out.contains("not written to a file: the agent has no configuration file"), "{out}");
    let err = rumor_err(&["meta", "set", "novalue", "--http", &p1]);
    assert!(err.contains("`novalue` is not KEY=VALUE"), "{err}");
}

/// `rumor event` says what it sent; the sender's own subscribers get the event too (as Serf
/// delivers its own); the documented limit is the code's, and a larger event is refused with
/// a sentence. `rumor monitor` ends with a clear line, status 0, when its agent leaves; a
/// client pointed at nothing says what to check.
#[test]
fn event_says_what_it_did_and_monitor_ends_cleanly() {
    let mut c = Cluster::new("event");
    c.start(AgentSpec::new("e1"));
    let seed = c.agents[0].addr;
    c.start(AgentSpec::new("e2").join(&[seed]));
    c.wait_states("2 agents", &["e1", "e2"], &[("e1", "alive"), ("e2", "alive")], secs(20));
    let e1 = c.agent("e1").http.to_string();

    let out_path = c.path("monitor.out");
    let err_path = c.path("monitor.err");
    let mut monitor = Command::new(RUMOR)
        .args(["monitor", "--json", "--http", &e1])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let (said, _) = wait_until("e1's own monitor to get e1's event", secs(20), || {
        let said = rumor_ok(&["event", "deploy", "v42", "--http", &e1]);
        let got = std::fs::read_to_string(&out_path).unwrap_or_default();
        got.lines().any(|l| l.contains("\"deploy\"") && l.contains("\"origin\":\"e1\"")).then_some(said).ok_or(got)
    });
    assert!(said.contains("sent user event `deploy` (10 bytes of"), "{said}");

    // The documented limit (docs/agent.md, "User events") is what the agent enforces.
    let info: serde_json::Value = serde_json::from_str(&rumor_ok(&["info", "--json", "--http", &e1])).unwrap();
    let max = info["max_event_bytes"].as_u64().unwrap() as usize;
    let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/agent.md")).unwrap();
    let documented = "at most 683 bytes minus the length of the sending node's name";
    assert!(docs.contains(documented), "docs/agent.md must state the limit: {documented}");
    assert_eq!(max, 683 - "e1".len(), "the documented limit for a node named e1");
    let fits = "x".repeat(max - "big".len() - 1);
    rumor_ok(&["event", "big", &fits, "--http", &e1]);
    let err = rumor_err(&["event", "big", &format!("{fits}x"), "--http", &e1]);
    assert!(err.contains(&format!("takes {} bytes", max + 1)) && err.contains(&format!("at most {max} fit")), "{err}");
    assert!(!err.contains('{'), "a sentence, not JSON: {err}");

    rumor_ok(&["leave", "--http", &e1]);
    let status = wait_exit(&mut monitor, scaled(secs(15))).unwrap_or_else(|| {
        let _ = monitor.kill();
        panic!("rumor monitor did not end after its agent left")
    });
    let stderr = std::fs::read_to_string(&err_path).unwrap();
    assert!(status.success(), "monitor exits 0 when its agent leaves: {status}; stderr: {stderr}");
    assert_eq!(stderr.trim(), "rumor: the agent left the cluster; no more events");
    let out = std::fs::read_to_string(&out_path).unwrap();
    assert!(out.lines().last().unwrap().contains("leave-complete"), "{out}");

    let err = rumor_err(&["members", "--http", &e1]);
    assert!(err.contains(&format!("connection refused at {e1}: is an agent running with --http {e1}?")), "{err}");
    let err = rumor_err(&["leave", "--admin", &e1]);
    assert!(err.contains(&format!("is an agent running with --admin {e1}?")), "{err}");
}

/// `rumor completions SHELL` and `rumor man` print what a package installs.
#[test]
fn completions_and_man_page() {
    for shell in ["bash", "zsh", "fish"] {
        let out = rumor_ok(&["completions", shell]);
        assert!(out.contains("force-leave") && out.contains("members"), "{shell} completions:\n{out}");
    }
    let man = rumor_ok(&["man"]);
    assert!(man.starts_with(".ie") || man.contains(".TH rumor"), "roff:\n{man}");
    assert!(man.contains("force\\-leave") || man.contains("force-leave"), "{man}");
    let err = rumor_err(&["completions", "tcsh"]);
    assert!(err.contains("tcsh"), "{err}");
}

/// The README's one-machine quickstart, run as written: its three `rumor agent` lines, then
/// every command of the block after them (the `&` one in the background), each exiting 0 and
/// doing what its comment says.
#[test]
fn readme_quickstart_works_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let section = readme.split("### Three agents on one machine").nth(1).unwrap().split("\n### ").next().unwrap();
    let blocks: Vec<&str> = section.split("```bash\n").skip(1).map(|b| b.split("```").next().unwrap()).collect();
    assert_eq!(blocks.len(), 2, "the section has the agents' block and the commands' block");
    let lines = |block: &str| -> Vec<String> {
        block.lines().map(|l| l.split(" # ").next().unwrap().trim().to_owned()).filter(|l| !l.is_empty()).collect()
    };
    let c = Cluster::new("quickstart");
    let mut agents = Children(Vec::new());
    for (i, line) in lines(blocks[0]).iter().enumerate() {
        let args: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(args[0], "rumor", "{line}");
        let http: std::net::SocketAddr = args[args.iter().position(|a| *a == "--http").unwrap() + 1].parse().unwrap();
        let log = c.path(&format!("agent{i}.log"));
        let args: Vec<String> = args[1..].iter().map(|s| (*s).to_owned()).collect();
        agents.0.push((http, Agent::spawn_raw(&args, &[], http, &log).unwrap_or_else(|e| panic!("`{line}`: {e}"))));
    }
    let first = agents.0[0].0;
    wait_until("the three quickstart agents to see each other", secs(20), || {
        let v = members(first)?;
        (v.members.iter().filter(|m| m.state == "alive").count() == 3).then_some(()).ok_or(v.table())
    });
    let mut background = Vec::new();
    for line in lines(blocks[1]) {
        let (line, bg) = match line.strip_suffix('&') {
            Some(l) => (l.trim().to_owned(), true),
            None => (line, false),
        };
        let args: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(args[0], "rumor", "{line}");
        if bg {
            let out = c.path(&format!("background{}.out", background.len()));
            let child = Command::new(RUMOR)
                .args(&args[1..])
                .stdout(std::fs::File::create(&out).unwrap())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            background.push((child, out));
            std::thread::sleep(Duration::from_millis(300));
            continue;
        }
        let out = rumor_ok(&args[1..]);
        match args[1] {
            "members" if line.contains("--tag role=db") => {
                assert_eq!(out.lines().count(), 2, "header and a:\n{out}");
                assert!(out.lines().nth(1).unwrap().starts_with("a "), "{out}");
            }
            "members" => assert_eq!(out.matches("alive").count(), 3, "{out}"),
            "event" => assert!(out.contains("sent user event `deploy`"), "{out}"),
            "meta" => {
                assert!(out.contains("metadata now: role=db"), "{out}");
                wait_until("b to see a's role", secs(10), || {
                    let v = members(agents.0[1].0)?;
                    (v.member("a").and_then(|m| m.meta.get("role")).map(String::as_str) == Some("db"))
                        .then_some(())
                        .ok_or(v.table())
                });
            }
            "leave" => {
                let status = wait_exit(&mut agents.0[2].1, scaled(secs(15))).expect("c exits after `rumor leave`");
                assert!(status.success());
                wait_until("a to see c left", secs(10), || {
                    let v = members(first)?;
                    (v.state_of("c") == Some("left")).then_some(()).ok_or(v.table())
                });
            }
            "info" => assert!(out.contains("name = a"), "{out}"),
            other => panic!("the quickstart runs `rumor {other}`, which this test does not check yet"),
        }
    }
    // b's monitor printed the event and c leaving.
    for (mut m, out) in background {
        wait_until("the background monitor to print the event and c leaving", secs(10), || {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            (text.contains("user-event deploy from c: v42") && text.contains("member-left c")).then_some(()).ok_or(text)
        });
        let _ = m.kill();
        let _ = m.wait();
    }
    drop(agents);
}

/// Agents outside a [`Cluster`], killed when dropped (also while a failing test unwinds).
struct Children(Vec<(std::net::SocketAddr, std::process::Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
