//! Logging: `RUST_LOG` picks the level (default `info`), `FLASHSALE_LOG_FORMAT=json` switches
//! to one JSON object per line.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; call once at the top of a binary.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    if std::env::var("FLASHSALE_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}
