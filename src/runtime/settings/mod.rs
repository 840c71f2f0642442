//! Settings, read once from `FLASHSALE_*` environment variables into one typed value per
//! process. Each variable, its default and its meaning are in [`catalogue`]; docs/CONFIG.md is
//! generated from it.
//!
//! The API process's [`Settings`] are in `api.rs`, the worker's [`WorkerSettings`] in
//! `worker.rs`; what both use to reach PostgreSQL and Kafka in `connections.rs`; the rate
//! limits in `rate_limits.rs`; the typed reads every one of them goes through in `env.rs`.

mod api;
pub mod catalogue;
mod connections;
mod env;
mod rate_limits;
mod url;
mod worker;

pub use api::{ReaperConfig, RelayConfig, ReservationPoolConfig, SeedSettings, Settings};
pub use connections::DatabaseSettings;
pub use env::ConfigError;
pub use rate_limits::{RateLimit, RateLimitSettings};
pub use url::ServiceUrl;
pub use worker::WorkerSettings;

use env::Env;

/// Whether logs are written as JSON lines (`FLASHSALE_LOG_FORMAT=json`).
pub fn json_logs() -> bool {
    let env = Env(|name: &str| std::env::var(name).ok());
    env.get(&catalogue::LOG_FORMAT)
        .trim()
        .eq_ignore_ascii_case("json")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/CONFIG.md carries the catalogue's table between two markers; with `UPDATE_DOCS=1`
    /// this test writes it there instead of comparing.
    #[test]
    fn the_configuration_docs_match_the_catalogue() {
        const BEGIN: &str = "<!-- settings: generated from src/runtime/settings/catalogue.rs -->\n";
        const END: &str = "<!-- settings: end -->";
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/CONFIG.md");
        let docs = std::fs::read_to_string(path).expect("docs/CONFIG.md exists");
        let start = docs.find(BEGIN).expect("CONFIG.md has the begin marker") + BEGIN.len();
        let end = docs[start..]
            .find(END)
            .expect("CONFIG.md has the end marker")
            + start;
        let table = catalogue::markdown_table();
        if std::env::var("UPDATE_DOCS").is_ok() {
            let updated = format!("{}{table}{}", &docs[..start], &docs[end..]);
            std::fs::write(path, updated).expect("docs/CONFIG.md is writable");
            return;
        }
        assert_eq!(
            docs[start..end],
            table,
            "docs/CONFIG.md differs from the catalogue: run UPDATE_DOCS=1 cargo test --lib settings"
        );
    }

    /// The catalogue's own files are read too, so a setting declared there but left out of
    /// `ALL` (and so of the docs) fails here.
    #[test]
    fn every_variable_the_code_reads_is_in_the_catalogue() {
        let src = concat!(env!("CARGO_MANIFEST_DIR"), "/src");
        let mut stack = vec![std::path::PathBuf::from(src)];
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                let entries = std::fs::read_dir(&path).expect("src is readable");
                stack.extend(entries.map(|e| e.expect("a directory entry").path()));
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            for (at, _) in text.match_indices("\"FLASHSALE_") {
                let name: String = text[at + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                    .collect();
                let in_test = text[..at].contains("#[cfg(test)]");
                assert!(
                    in_test || catalogue::ALL.iter().any(|s| s.name == name),
                    "{} reads {name}, which the catalogue does not list",
                    path.display()
                );
            }
        }
    }
}
