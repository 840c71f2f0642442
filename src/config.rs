//! Settings, read once from `FLASHSALE_*` environment variables into one typed value.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::SecretString;

use crate::actors::relay::RelayConfig;
use crate::actors::reservation::PoolConfig;
use crate::kafka::KafkaSettings;

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
    /// to finish after a stop signal (and then, separately, the producer to flush).
    pub shutdown_timeout: Duration,
    /// `FLASHSALE_DATABASE_URL`, default `postgres://127.0.0.1:5432/flashsale`: where the
    /// worker persists orders and the API looks up whether a purchase is confirmed.
    pub database_url: String,
    /// `FLASHSALE_DB_POOL_SIZE`, default 4 (as for the worker).
    pub db_pool_size: u32,
    /// The broker and topics (see [`KafkaSettings`]).
    pub kafka: KafkaSettings,
    /// `FLASHSALE_KAFKA_MAX_IN_FLIGHT`, default 10000: events the API's producer holds
    /// unacknowledged at most; beyond that the outbox relay publishes them later.
    pub kafka_max_in_flight: usize,
    /// The outbox relay (see [`RelayConfig`]).
    pub relay: RelayConfig,
    /// `FLASHSALE_STREAM_MAX_CLIENTS`, default 10000: stock-stream clients this process serves
    /// at once; more get 503 `overloaded`.
    pub stream_max_clients: usize,
    /// `FLASHSALE_STREAM_HEARTBEAT_MS`, default 15000: time between heartbeats on a quiet
    /// stock stream; a client that left is noticed within two.
    pub stream_heartbeat: Duration,
}

/// Everything the worker process needs to know.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `FLASHSALE_WORKER_HTTP_ADDR`, default `127.0.0.1:8081`: healthz and readyz.
    pub http_addr: SocketAddr,
    /// `FLASHSALE_DATABASE_URL` (as for the API).
    pub database_url: String,
    /// `FLASHSALE_DB_POOL_SIZE`, default 4.
    pub db_pool_size: u32,
    pub kafka: KafkaSettings,
    /// `FLASHSALE_WORKER_GROUP`, default `flashsale-worker`: the consumer group.
    pub group_id: String,
    /// `FLASHSALE_WORKER_BATCH` (default 2000) and `FLASHSALE_WORKER_LINGER_MS` (default 20):
    /// the most events persisted in one statement, and how long the consumer waits to fill a
    /// batch once it holds at least one event.
    pub batch_size: usize,
    pub linger: Duration,
    /// `FLASHSALE_WORKER_INSTANCE_ID`, unset by default: a stable name for this worker in the
    /// group (Kafka static membership). A worker restarted under the same name takes its
    /// partitions back at once instead of waiting for the group to expel its old self. Two
    /// running workers must never share one.
    pub instance_id: Option<String>,
    /// `FLASHSALE_WORKER_SESSION_TIMEOUT_MS`, default 10000: how long the group waits for a
    /// worker that stopped answering (killed, hung) before giving its partitions to another.
    pub session_timeout: Duration,
    /// `FLASHSALE_WORKER_SHUTDOWN_MS`, default 10000: after SIGTERM, the time to persist and
    /// commit what was fetched and leave the group before the process exits anyway.
    pub shutdown_deadline: Duration,
}

impl WorkerSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(lookup);
        Ok(Self {
            http_addr: env.parse("FLASHSALE_WORKER_HTTP_ADDR", "127.0.0.1:8081")?,
            database_url: env.get("FLASHSALE_DATABASE_URL", DEFAULT_DATABASE_URL),
            db_pool_size: env.parse("FLASHSALE_DB_POOL_SIZE", "4")?,
            kafka: env.kafka()?,
            group_id: env.get("FLASHSALE_WORKER_GROUP", "flashsale-worker"),
            batch_size: env.parse("FLASHSALE_WORKER_BATCH", "2000")?,
            linger: env.millis("FLASHSALE_WORKER_LINGER_MS", "20")?,
            instance_id: (env.0)("FLASHSALE_WORKER_INSTANCE_ID").filter(|id| !id.is_empty()),
            session_timeout: env.millis("FLASHSALE_WORKER_SESSION_TIMEOUT_MS", "10000")?,
            shutdown_deadline: env.millis("FLASHSALE_WORKER_SHUTDOWN_MS", "10000")?,
        })
    }
}

const DEFAULT_DATABASE_URL: &str = "postgres://127.0.0.1:5432/flashsale";

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
            database_url: env.get("FLASHSALE_DATABASE_URL", DEFAULT_DATABASE_URL),
            db_pool_size: env.parse("FLASHSALE_DB_POOL_SIZE", "4")?,
            kafka: env.kafka()?,
            kafka_max_in_flight: env.parse("FLASHSALE_KAFKA_MAX_IN_FLIGHT", "10000")?,
            relay: RelayConfig {
                min_age: env.millis("FLASHSALE_OUTBOX_RELAY_AGE_MS", "5000")?,
                interval: env.millis("FLASHSALE_OUTBOX_RELAY_INTERVAL_MS", "1000")?,
                batch: env.parse("FLASHSALE_OUTBOX_RELAY_BATCH", "1000")?,
            },
            stream_max_clients: env.parse("FLASHSALE_STREAM_MAX_CLIENTS", "10000")?,
            stream_heartbeat: env.millis("FLASHSALE_STREAM_HEARTBEAT_MS", "15000")?,
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

    fn kafka(&self) -> Result<KafkaSettings, ConfigError> {
        Ok(KafkaSettings {
            brokers: self.get("FLASHSALE_KAFKA_BROKERS", "127.0.0.1:9092"),
            topic: self.get("FLASHSALE_KAFKA_TOPIC", "flashsale.purchases"),
            partitions: self.parse("FLASHSALE_KAFKA_PARTITIONS", "3")?,
            replication: self.parse("FLASHSALE_KAFKA_REPLICATION", "1")?,
            linger: self.millis("FLASHSALE_KAFKA_LINGER_MS", "5")?,
            batch_size: self.parse("FLASHSALE_KAFKA_BATCH", "1000")?,
            message_timeout: self.millis("FLASHSALE_KAFKA_MESSAGE_TIMEOUT_MS", "30000")?,
            debug: (self.0)("FLASHSALE_KAFKA_DEBUG").filter(|contexts| !contexts.trim().is_empty()),
        })
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
