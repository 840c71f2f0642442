//! Settings, read once from `FLASHSALE_*` environment variables into one typed value.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

use crate::actors::reservation::PoolConfig;

/// A setting that is present but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: String,
}

/// Everything the API process needs to know. Build it with [`Settings::from_env`] in a binary,
/// or fill it in directly in tests.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `FLASHSALE_HTTP_ADDR`, default `127.0.0.1:8080`. Port 0 picks a free port.
    pub http_addr: SocketAddr,
    /// `FLASHSALE_HTTP_WORKERS`, default: one per CPU.
    pub http_workers: usize,
    /// `FLASHSALE_REDIS_URL`, default `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `FLASHSALE_REDIS_POOL_SIZE`, default 16.
    pub redis_pool_size: u32,
    /// `FLASHSALE_REDIS_TIMEOUT_MS`, default 1000: connecting and each Redis call.
    pub redis_timeout: Duration,
    /// `FLASHSALE_ADMIN_TOKEN`: the bearer token of the admin API. Unset: admin calls get 401.
    pub admin_token: Option<SecretString>,
    /// `FLASHSALE_RESERVATION_ACTORS` (default 4), `FLASHSALE_RESERVATION_QUEUE` (requests one
    /// actor may hold, default 256), `FLASHSALE_RESERVATION_BATCH` (most reservations per script
    /// call, default 128), `FLASHSALE_RESERVE_TIMEOUT_MS` (default 3000).
    pub pool: PoolConfig,
    /// `FLASHSALE_SOLD_OUT_TTL_MS`, default 1000: how long this process answers `sold_out`
    /// from its local flag before asking Redis again.
    pub sold_out_ttl: Duration,
    /// `FLASHSALE_DEFAULT_SALE`, default `true`: make sure the `default` sale (100 units,
    /// limit 1) exists at start.
    pub ensure_default_sale: bool,
    /// `FLASHSALE_SHUTDOWN_TIMEOUT_MS`, default 10000: how long in-flight requests may take
    /// to finish after a stop signal.
    pub shutdown_timeout: Duration,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            http_addr: env.parse("FLASHSALE_HTTP_ADDR", "127.0.0.1:8080")?,
            http_workers: env.parse("FLASHSALE_HTTP_WORKERS", &cpus.to_string())?,
            redis_url: env.get("FLASHSALE_REDIS_URL", "redis://127.0.0.1:6379"),
            redis_pool_size: env.parse("FLASHSALE_REDIS_POOL_SIZE", "16")?,
            redis_timeout: env.millis("FLASHSALE_REDIS_TIMEOUT_MS", "1000")?,
            admin_token: (env.0)("FLASHSALE_ADMIN_TOKEN")
                .filter(|t| !t.is_empty())
                .map(SecretString::from),
            pool: PoolConfig {
                actors: env.parse("FLASHSALE_RESERVATION_ACTORS", "4")?,
                queue_per_actor: env.parse("FLASHSALE_RESERVATION_QUEUE", "256")?,
                max_batch: env.parse("FLASHSALE_RESERVATION_BATCH", "128")?,
                timeout: env.millis("FLASHSALE_RESERVE_TIMEOUT_MS", "3000")?,
            },
            sold_out_ttl: env.millis("FLASHSALE_SOLD_OUT_TTL_MS", "1000")?,
            ensure_default_sale: env.parse("FLASHSALE_DEFAULT_SALE", "true")?,
            shutdown_timeout: env.millis("FLASHSALE_SHUTDOWN_TIMEOUT_MS", "10000")?,
        })
    }
}

/// A variable source with typed reads.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn get(&self, name: &str, default: &str) -> String {
        (self.0)(name).unwrap_or_else(|| default.to_owned())
    }

    fn parse<T: FromStr>(&self, name: &'static str, default: &str) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.get(name, default);
        raw.trim().parse().map_err(|e: T::Err| ConfigError {
            name,
            problem: format!("cannot use {raw:?}: {e}"),
        })
    }

    fn millis(&self, name: &'static str, default: &str) -> Result<Duration, ConfigError> {
        self.parse::<u64>(name, default).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let settings = Settings::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(
            settings.http_addr,
            "127.0.0.1:8080".parse().expect("valid address")
        );
        assert_eq!(settings.redis_url, "redis://127.0.0.1:6379");
        assert!(settings.admin_token.is_none());
        assert!(settings.ensure_default_sale);
    }

    #[test]
    fn values_are_read_and_bad_ones_are_named() {
        let settings = Settings::from_lookup(|name| match name {
            "FLASHSALE_ADMIN_TOKEN" => Some("s3cret".into()),
            "FLASHSALE_DEFAULT_SALE" => Some("false".into()),
            "FLASHSALE_RESERVATION_ACTORS" => Some("2".into()),
            _ => None,
        })
        .expect("valid settings");
        assert_eq!(
            settings
                .admin_token
                .as_ref()
                .map(|t| t.expose_secret().to_owned()),
            Some("s3cret".into())
        );
        assert!(!settings.ensure_default_sale);
        assert_eq!(settings.pool.actors, 2);

        let error =
            Settings::from_lookup(|name| (name == "FLASHSALE_HTTP_ADDR").then(|| "nowhere".into()))
                .expect_err("an address without a port is refused");
        assert!(
            error.to_string().starts_with("FLASHSALE_HTTP_ADDR"),
            "{error}"
        );
    }

    #[test]
    fn the_admin_token_never_prints() {
        let settings = Settings::from_lookup(|name| {
            (name == "FLASHSALE_ADMIN_TOKEN").then(|| "s3cret".into())
        })
        .expect("valid settings");
        assert!(!format!("{settings:?}").contains("s3cret"));
    }
}
