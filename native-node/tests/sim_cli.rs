//! `rumor sim` end to end: the built binary, small clusters, the JSON report and the errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, missing_docs)]

use std::process::{Command, Output};

use serde_json::Value;

fn rumor(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rumor")).args(args).output().expect("the rumor binary runs")
}

/// Runs `rumor sim ARGS --json` and returns the report; fails the test if the command fails.
fn sim(args: &[&str]) -> Value {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = rumor(&all);
    assert!(out.status.success(), "rumor {all:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object on one line: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

/// Runs `rumor sim ARGS`, expects it to fail, and returns its error output.
fn sim_error(args: &[&str]) -> String {
    let mut all = vec!["sim"];
    all.extend_from_slice(args);
    let out = rumor(&all);
    assert!(!out.status.success(), "rumor {all:?} should have failed");
    assert!(out.stdout.is_empty(), "nothing on stdout when failing");
    String::from_utf8(out.stderr).unwrap()
}

fn f(v: &Value, field: &str) -> f64 {
    v[field].as_f64().unwrap_or_else(|| panic!("{field} is a number in {v}"))
}

fn u(v: &Value, field: &str) -> u64 {
    v[field].as_u64().unwrap_or_else(|| panic!("{field} is an integer in {v}"))
}

/// The report without the fields that measure the machine rather than the run.
fn outcome(mut v: Value) -> Value {
    let o = v.as_object_mut().unwrap();
    assert!(o.remove("wall_s").is_some());
    assert!(o.remove("speedup").is_some());
    v
}

#[test]
fn a_crash_is_detected_everywhere_and_the_report_has_every_field() {
    let r = sim(&["--nodes", "24", "--kill", "2", "--settle", "5", "--duration", "40", "--broadcast", "--seed", "3"]);
    assert_eq!(u(&r, "nodes"), 24);
    assert_eq!(u(&r, "seed"), 3);
    assert_eq!(u(&r, "kill"), 2);
    assert_eq!(u(&r, "live_nodes"), 22);
    assert!(f(&r, "join_s") > 0.0);
    assert!(f(&r, "simulated_s") >= f(&r, "join_s") + 45.0);
    assert!(f(&r, "wall_s") >= 0.0);
    let (first, all) = (f(&r, "detect_first_s"), f(&r, "detect_all_s"));
    // Detection needs a failed probe and a suspicion timeout (≥ 2 s at this size, LAN preset).
    assert!(first > 2.0 && first <= all && all < 20.0, "first {first}, all {all}");
    assert_eq!(u(&r, "detected_by"), 22);
    assert_eq!(u(&r, "false_failed"), 0);
    assert_eq!(u(&r, "false_suspect"), 0);
    assert!(f(&r, "bytes_per_node_per_s") > 10.0);
    assert!(f(&r, "msgs_per_node_per_s") > 1.0);
    let max_packet = u(&r, "max_packet_bytes");
    assert!(max_packet > 0 && max_packet <= 1400, "{max_packet}");
    assert_eq!(r["converged"], Value::Bool(true));
    let stats = &r["node_stats"];
    assert!(u(stats, "probes_failed") > 0, "the dead nodes' probes failed: {stats}");
    assert!(u(stats, "syncs_started") > 0, "{stats}");
    assert_eq!(u(stats, "dropped_other"), 0, "{stats}");
    let d = &r["dissemination"];
    assert_eq!(u(d, "targets"), 24);
    assert_eq!(u(d, "reached"), 24);
    let (p50, p99, p9999) = (f(d, "p50_s"), f(d, "p99_s"), f(d, "p9999_s"));
    assert!(0.0 < p50 && p50 <= p99 && p99 <= p9999 && p9999 < 5.0, "{d}");
    let curve = d["curve"].as_array().unwrap();
    assert_eq!(curve.last().unwrap()[1].as_f64(), Some(1.0));
    assert!(curve.windows(2).all(|w| w[0][1].as_f64() <= w[1][1].as_f64()), "the curve never falls");
}

#[test]
fn the_same_seed_replays_the_same_run_and_another_seed_does_not() {
    // About 20 restarts expected in the window (4 with `--churn 0.2`, and seed 11 drew none
    // once probing under loss changed), so every seed has some; and two stalling nodes.
    let args = ["--nodes", "20", "--loss", "0.1", "--kill", "1", "--stall", "0.1", "--churn", "1", "--duration", "60"];
    let run = |seed: &str| {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--seed", seed]);
        outcome(sim(&a))
    };
    let first = run("11");
    assert_eq!(first, run("11"));
    assert_ne!(first, run("12"));
    assert!(u(&first, "restarts") > 0 && u(&first, "stalls") > 0, "{first}");
}

#[test]
fn a_bootstrapped_cluster_starts_formed_and_detects_like_a_joined_one() {
    let r = sim(&["--nodes", "40", "--bootstrap", "--kill", "1", "--settle", "0", "--duration", "30"]);
    assert_eq!(r["bootstrap"], Value::Bool(true));
    assert_eq!(r["join_s"], Value::Null);
    // No join phase: the window starts at once.
    assert!((f(&r, "simulated_s") - 30.0).abs() < 1e-6, "{r}");
    assert_eq!(u(&r, "detected_by"), 39);
    assert!(f(&r, "detect_all_s") < 20.0);
    assert_eq!(u(&r, "false_failed"), 0);
}

#[test]
fn a_fixed_suspicion_timeout_is_reported_and_used() {
    let args = ["--nodes", "100", "--bootstrap", "--kill", "1", "--settle", "0", "--duration", "30", "--kill-at", "5"];
    let dynamic = sim(&args);
    assert!(dynamic.get("suspicion_timeout_s").is_none(), "absent without the flag: {dynamic}");
    // foca's `new_lan(100)` timeout, 4 × log10 100 s: `suspicion_mult` 4 gives it exactly.
    let fixed = sim(&[&args[..], &["--suspicion-timeout", "8"]].concat());
    assert!((f(&fixed, "suspicion_timeout_s") - 8.0).abs() < 1e-9, "{fixed}");
    assert_eq!(u(&fixed, "detected_by"), 99);
    // The suspicion alone takes 8 s, plus the final check: later than Lifeguard's confirmed
    // minimum (4 s), which the dynamic run reaches.
    assert!(f(&fixed, "detect_first_s") >= 8.0, "{fixed}");
    assert!(f(&fixed, "detect_first_s") > f(&dynamic, "detect_first_s"), "{dynamic} {fixed}");
    // The nearest whole multiple: 9 s at N = 100 is 4.5 × 2 s, rounded to 5 × 2 s.
    assert!(
        (f(&sim(&[&args[..], &["--suspicion-timeout", "9.1"]].concat()), "suspicion_timeout_s") - 10.0).abs() < 1e-9
    );
}

#[test]
fn without_kill_there_is_no_detection() {
    let r = sim(&["--nodes", "10", "--settle", "0", "--duration", "10"]);
    assert_eq!(r["detect_first_s"], Value::Null);
    assert_eq!(r["detect_all_s"], Value::Null);
    assert_eq!(r["dissemination"], Value::Null);
}

#[test]
fn a_healed_partition_converges_and_its_failures_are_not_false() {
    let r = sim(&["--nodes", "20", "--partition-at", "5", "--heal-at", "40", "--duration", "100", "--seed", "2"]);
    // Each half declares the other failed while cut off.
    assert!(u(&r, "partition_failed") >= 100, "{r}");
    assert_eq!(u(&r, "false_failed"), 0);
    let heal = f(&r, "heal_converge_s");
    assert!(heal > 0.0 && heal < 60.0, "{heal}");
    assert_eq!(r["converged"], Value::Bool(true));
}

#[test]
fn lagging_nodes_cause_false_failures_that_lifeguard_prevents() {
    let run = |lifeguard: &str| {
        sim(&[
            "--nodes",
            "40",
            "--stall",
            "0.05",
            "--stall-mode",
            "lag",
            "--stall-lag",
            "6",
            "--stall-min",
            "10",
            "--stall-max",
            "20",
            "--duration",
            "300",
            "--lifeguard",
            lifeguard,
        ])
    };
    let (off, on) = (run("off"), run("on"));
    assert_eq!(u(&off, "stalls"), u(&on, "stalls"), "the same fault schedule");
    assert!(u(&off, "false_failed") > 10 * u(&on, "false_failed").max(1), "off {off}\non {on}");
}

#[test]
fn churn_restarts_nodes_and_the_cluster_settles() {
    let r = sim(&["--nodes", "30", "--churn", "0.2", "--duration", "120", "--converge-limit", "60", "--encrypt"]);
    assert!(u(&r, "restarts") >= 3, "{r}");
    assert_eq!(u(&r, "false_failed"), 0, "{r}");
    assert!(f(&r, "tail_converge_s") < 60.0, "{r}");
    assert_eq!(r["encrypt"], Value::Bool(true));
}

#[test]
fn the_human_summary_names_the_figures() {
    let out = rumor(&["sim", "--nodes", "12", "--kill", "1", "--duration", "30", "--settle", "0"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in ["12 nodes, lan preset", "detection: first live node", "false failed: 0", "traffic:", "converged"] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
}

#[test]
fn bad_flags_are_refused_naming_the_flag_and_value() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--loss", "1.5"], &["--loss", "1.5", "between 0 and 1"]),
        (&["--loss", "lots"], &["--loss", "lots", "not a number"]),
        (&["--stall", "-0.1"], &["--stall", "-0.1"]),
        (&["--nodes", "1"], &["--nodes", "1"]),
        (&["--nodes", "200000"], &["--nodes", "200000"]),
        (&["--lifeguard", "maybe"], &["--lifeguard", "maybe"]),
        (&["--preset", "moon"], &["--preset", "moon"]),
        (&["--duration", "0"], &["--duration", "0"]),
        (&["--duration", "inf"], &["--duration", "inf"]),
        (&["--churn", "11"], &["--churn", "11"]),
        (&["--nodes", "5", "--kill", "4"], &["--kill 4", "--nodes 5"]),
        (&["--kill", "1", "--duration", "10", "--kill-at", "10"], &["--kill-at 10", "--duration 10"]),
        (&["--partition-at", "20", "--heal-at", "10"], &["--partition-at 20", "--heal-at 10"]),
        (&["--partition-at", "5"], &["--heal-at"]),
        (&["--duration", "10", "--partition-at", "5", "--heal-at", "11"], &["--heal-at 11", "--duration 10"]),
        (&["--stall-min", "5", "--stall-max", "2"], &["--stall-min 5", "--stall-max 2"]),
        (&["--latency-min-ms", "5", "--latency-max-ms", "1"], &["--latency-min-ms 5"]),
        (&["--broadcast", "--broadcast-at", "60", "--duration", "60"], &["--broadcast-at 60"]),
        (&["--suspicion-timeout", "500"], &["--suspicion-timeout 500", "suspicion_mult"]),
    ];
    for (args, needles) in cases {
        let err = sim_error(args);
        for needle in *needles {
            assert!(err.contains(needle), "{args:?}: {needle:?} missing from: {err}");
        }
    }
}

#[test]
fn progress_goes_to_standard_error_and_leaves_the_report_alone() {
    let args = ["sim", "--nodes", "12", "--bootstrap", "--settle", "10", "--duration", "25", "--seed", "4", "--json"];
    let quiet = rumor(&args);
    let loud = rumor(&[&args[..], &["--progress"]].concat());
    assert!(quiet.status.success() && loud.status.success());
    assert!(quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));
    let parse = |o: &Output| outcome(serde_json::from_slice(&o.stdout).unwrap());
    assert_eq!(parse(&quiet), parse(&loud), "the same run, whether it reports progress or not");
    let stderr = String::from_utf8(loud.stderr).unwrap();
    let lines: Vec<&str> = stderr.lines().collect();
    // A line at the bootstrap (0 s), then one every 10 simulated seconds: the settling ends
    // at 10 s and the window at 35 s.
    assert!(lines.len() >= 4, "{stderr}");
    assert!(lines[0].starts_with("rumor sim: bootstrapped, 0.0 s simulated"), "{stderr}");
    assert!(lines.iter().any(|l| l.starts_with("rumor sim: settling, 10.0 s simulated")), "{stderr}");
    assert!(lines.iter().any(|l| l.starts_with("rumor sim: measuring, 30.0 s simulated")), "{stderr}");
    assert!(lines.iter().all(|l| l.ends_with(" s wall")), "{stderr}");
}
