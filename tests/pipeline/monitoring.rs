//! The monitoring files ops/ ships, read as their tools read them: the Grafana dashboard
//! (every family the code exports is plotted, or left out on purpose with why) and the
//! Prometheus scrape config (run by the observability tests against real processes).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::helpers::{free_port, wait_until_listening, Process};

/// Families the dashboard leaves out on purpose, each with why. Every other family the code
/// can export (`telemetry::names`) must be plotted.
const NOT_PLOTTED: &[(&str, &str)] = &[];

#[test]
fn the_dashboard_plots_every_family_the_code_exports_but_those_left_out_on_purpose() {
    let exported = declared_families();
    let plotted = dashboard_metrics();
    let plotted_family = |family: &str| {
        plotted.iter().any(|metric| {
            metric == family
                || ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| metric.strip_suffix(suffix) == Some(family))
        })
    };
    for family in &exported {
        let left_out = NOT_PLOTTED.iter().any(|(name, _)| name == family);
        assert!(
            plotted_family(family) != left_out,
            "{family}: plotted {}, listed as not plotted {left_out}: plot it or list it with why",
            plotted_family(family)
        );
    }
    for (name, _) in NOT_PLOTTED {
        assert!(
            exported.iter().any(|family| family == name),
            "{name} is listed but not exported"
        );
    }
}

/// Every family the code can export: the constants of `telemetry::names`.
pub fn declared_families() -> Vec<String> {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime/telemetry.rs"),
    )
    .expect("src/runtime/telemetry.rs");
    let names = source
        .split_once("pub mod names {")
        .expect("the names module")
        .1;
    let declared: Vec<String> = names
        .lines()
        .take_while(|line| *line != "}")
        .filter_map(|line| line.trim().strip_prefix("pub const "))
        .filter_map(|line| line.split('"').nth(1))
        .map(str::to_owned)
        .collect();
    assert!(declared.len() >= 30, "names read: {declared:?}");
    declared
}

/// The `flashsale_*` names in the expressions of ops/grafana/flashsale.json.
pub fn dashboard_metrics() -> HashSet<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/grafana/flashsale.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("the dashboard")).expect("JSON");
    let mut metrics = HashSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expression");
            for (at, _) in expr.match_indices("flashsale_") {
                let name: String = expr[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                metrics.insert(name);
            }
        }
    }
    assert!(metrics.len() >= 10, "the dashboard plots {metrics:?}");
    metrics
}

/// A private Prometheus running ops/prometheus/prometheus.yml with its targets moved to the
/// test's ports; stopped and its data removed when dropped.
pub struct Prometheus {
    pub url: String,
    process: Option<Process>,
    data: PathBuf,
}

impl Prometheus {
    pub fn start(api_port: u16, worker_port: u16) -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let shipped = std::fs::read_to_string(root.join("ops/prometheus/prometheus.yml"))
            .expect("the shipped scrape config");
        assert!(shipped.contains("127.0.0.1:8080") && shipped.contains("127.0.0.1:9091"));
        let data = std::env::temp_dir().join(format!("fs-prometheus-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&data).expect("a data folder");
        let config = data.join("prometheus.yml");
        std::fs::write(
            &config,
            shipped
                .replace("127.0.0.1:8080", &format!("127.0.0.1:{api_port}"))
                .replace("127.0.0.1:9091", &format!("127.0.0.1:{worker_port}")),
        )
        .expect("the config is written");
        let port = free_port();
        let process = Process::spawn(
            Command::new("prometheus")
                .arg(format!("--config.file={}", config.display()))
                .arg(format!(
                    "--storage.tsdb.path={}",
                    data.join("tsdb").display()
                ))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        wait_until_listening(port, "prometheus (installed by ops/stack up)");
        Self {
            url: format!("http://127.0.0.1:{port}"),
            process: Some(process),
            data,
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        drop(self.process.take());
        let _ = std::fs::remove_dir_all(&self.data);
    }
}
