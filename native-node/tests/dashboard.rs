//! Keeps the monitoring files in `deploy/` honest: the Grafana dashboard and the Prometheus alert
//! rules may only query metrics that `rumor_node::metrics::render` actually produces, so renaming
//! a metric (or misspelling one in a panel) fails here instead of leaving an empty graph or an
//! alert that can never fire.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

const DASHBOARD: &str = "deploy/grafana/rumor-dashboard.json";
const ALERTS: &str = "deploy/prometheus/rumor-alerts.yml";

fn read_repo_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn dashboard() -> Value {
    serde_json::from_str(&read_repo_file(DASHBOARD)).unwrap_or_else(|e| panic!("{DASHBOARD} is not valid JSON: {e}"))
}

/// Metric names in the agent's exposition: the start of every sample line, up to its labels or
/// its value.
fn rendered_metrics() -> BTreeSet<String> {
    let text = rumor_node::metrics::render(
        "node-a",
        &rumor_node::NodeMetrics::default(),
        &rumor_node::metrics::Process::default(),
        rumor_node::metrics::Format::Text,
    );
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// Every `rumor_…` identifier in a PromQL expression.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = BTreeSet::new();
    for (start, _) in expr.match_indices("rumor_") {
        // `foo_rumor_x` is not a Rumor metric: the match must begin an identifier.
        if expr.get(..start).and_then(|before| before.chars().next_back()).is_some_and(is_ident) {
            continue;
        }
        let rest = expr.get(start..).unwrap_or_default();
        let end =
            rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(rest.len());
        names.insert(rest.get(..end).unwrap_or(rest).to_owned());
    }
    names
}

/// The metrics used by `exprs` that the agent does not produce, each with the first expression
/// using it.
fn unknown_metrics<'a>(exprs: &'a [String], known: &BTreeSet<String>) -> BTreeMap<String, &'a str> {
    let mut unknown = BTreeMap::new();
    for expr in exprs {
        for name in metric_names(expr) {
            if !known.contains(&name) {
                unknown.entry(name).or_insert(expr.as_str());
            }
        }
    }
    unknown
}

/// Every panel, those nested in collapsed rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for panel in list.as_array().into_iter().flatten() {
            out.push(panel);
            if let Some(nested) = panel.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(dashboard.get("panels").expect("dashboard has panels"), &mut out);
    out
}

/// The PromQL in the dashboard: panel targets and template variable queries.
fn dashboard_exprs(dashboard: &Value) -> Vec<String> {
    fn walk(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v) {
                        ("expr" | "query" | "definition", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(dashboard, &mut out);
    out
}

/// The `expr:` of every rule. A line scan, not a YAML parser: expressions must stay on one line,
/// which [`alert_rules_name_only_produced_metrics`] enforces.
fn alert_exprs(yaml: &str) -> Vec<String> {
    yaml.lines()
        .filter_map(|line| line.trim_start().strip_prefix("expr:"))
        .map(|rest| {
            let rest = rest.trim();
            assert!(
                !rest.is_empty() && !rest.starts_with(['|', '>']),
                "{ALERTS}: keep each expr on one line (found a block scalar `expr: {rest}`)"
            );
            rest.trim_matches(|c| c == '"' || c == '\'').to_owned()
        })
        .collect()
}

#[test]
fn the_exposition_is_read_as_expected() {
    let known = rendered_metrics();
    for name in ["rumor_members", "rumor_dropped_packets_total", "rumor_probes_sent_total", "rumor_health_score"] {
        assert!(known.contains(name), "{name} not found in the rendered metrics: {known:?}");
    }
}

#[test]
fn dashboard_is_well_formed() {
    let dashboard = dashboard();
    let schema = dashboard.get("schemaVersion").and_then(Value::as_u64).expect("schemaVersion");
    assert!(schema >= 39, "schemaVersion {schema} < 39");
    assert!(dashboard.get("uid").and_then(Value::as_str).is_some_and(|u| !u.is_empty()), "dashboard uid");

    let variables: BTreeSet<&str> = dashboard
        .pointer("/templating/list")
        .and_then(Value::as_array)
        .expect("templating.list")
        .iter()
        .filter_map(|v| v.get("name").and_then(Value::as_str))
        .collect();
    for name in ["datasource", "job", "instance"] {
        assert!(variables.contains(name), "missing template variable {name:?}");
    }

    let mut ids = BTreeSet::new();
    let panels = panels(&dashboard);
    assert!(panels.len() > 10, "only {} panels", panels.len());
    for panel in panels {
        let title = panel.get("title").and_then(Value::as_str).unwrap_or_default();
        assert!(!title.is_empty(), "panel without a title: {panel}");
        let id = panel.get("id").and_then(Value::as_u64).unwrap_or_else(|| panic!("panel {title:?} has no id"));
        assert!(ids.insert(id), "panel id {id} is used twice (second time by {title:?})");
        assert!(panel.get("gridPos").is_some(), "panel {title:?} has no gridPos");
        if panel.get("type").and_then(Value::as_str) == Some("row") {
            continue;
        }
        let description = panel.get("description").and_then(Value::as_str).unwrap_or_default();
        assert!(!description.trim().is_empty(), "panel {title:?} has no description");
        let datasource = panel.pointer("/datasource/uid").and_then(Value::as_str);
        assert_eq!(datasource, Some("${datasource}"), "panel {title:?} must use the datasource variable");
        let targets = panel.get("targets").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
        assert!(!targets.is_empty(), "panel {title:?} has no queries");
        for target in targets {
            let expr = target.get("expr").and_then(Value::as_str).unwrap_or_default();
            assert!(expr.contains(r#"job=~"$job""#), "panel {title:?}: {expr} ignores the job variable");
            assert!(expr.contains(r#"instance=~"$instance""#), "panel {title:?}: {expr} ignores the instance variable");
        }
    }
}

#[test]
fn dashboard_names_only_produced_metrics() {
    let exprs = dashboard_exprs(&dashboard());
    let unknown = unknown_metrics(&exprs, &rendered_metrics());
    assert!(unknown.is_empty(), "{DASHBOARD} queries metrics the agent does not produce: {unknown:#?}");
}

#[test]
fn dashboard_shows_every_metric() {
    let used: BTreeSet<String> = dashboard_exprs(&dashboard()).iter().flat_map(|e| metric_names(e)).collect();
    let missing: Vec<String> = rendered_metrics().difference(&used).cloned().collect();
    assert!(missing.is_empty(), "metrics with no panel in {DASHBOARD}: {missing:?}");
}

#[test]
fn dashboard_counters_are_rated_over_the_rate_interval() {
    for expr in dashboard_exprs(&dashboard()) {
        let counters = metric_names(&expr).into_iter().filter(|n| n.ends_with("_total")).count();
        if counters == 0 {
            continue;
        }
        assert!(expr.matches("rate(").count() >= counters, "counter not wrapped in rate(): {expr}");
        for (at, _) in expr.match_indices('[') {
            assert!(
                expr.get(at..).is_some_and(|s| s.starts_with("[$__rate_interval]")),
                "use [$__rate_interval] for counters: {expr}"
            );
        }
    }
}

#[test]
fn alert_rules_name_only_produced_metrics() {
    let yaml = read_repo_file(ALERTS);
    let exprs = alert_exprs(&yaml);
    let alerts = yaml.lines().filter(|l| l.trim_start().starts_with("- alert:")).count();
    assert!(alerts > 0, "{ALERTS} has no alerts");
    assert_eq!(exprs.len(), alerts, "{ALERTS}: every alert needs exactly one one-line expr");
    assert!(exprs.iter().any(|e| !metric_names(e).is_empty()), "no Rumor metric found in {ALERTS}");
    let unknown = unknown_metrics(&exprs, &rendered_metrics());
    assert!(unknown.is_empty(), "{ALERTS} uses metrics the agent does not produce: {unknown:#?}");
}

#[test]
fn a_misspelled_metric_is_caught() {
    let exprs = vec![
        r#"rate(rumor_probes_sent_total{job=~"$job"}[$__rate_interval])"#.to_owned(),
        r#"rate(rumor_probes_snet_total{job=~"$job"}[$__rate_interval]) / other_rumor_x"#.to_owned(),
    ];
    let unknown = unknown_metrics(&exprs, &rendered_metrics());
    assert_eq!(unknown.keys().collect::<Vec<_>>(), ["rumor_probes_snet_total"]);
    assert_eq!(alert_exprs("  - alert: X\n    expr: 'rumor_membrs > 0'\n"), ["rumor_membrs > 0"]);
}
