//! `rumor demo` (the README's "run it" command) starts a converging cluster and leaves cleanly.

use std::process::Command;

#[test]
fn demo_converges_and_leaves() {
    let out = Command::new(env!("CARGO_BIN_EXE_rumor"))
        .args(["demo", "--nodes", "5", "--duration", "6", "--ui", "127.0.0.1:0"])
        .output()
        .expect("rumor runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exit {:?}\n{stdout}\n{}", out.status, String::from_utf8_lossy(&out.stderr));
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
