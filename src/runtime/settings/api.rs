//! The API process's settings: its HTTP edge, Redis, the reservation pool, the seed's sales,
//! the producer and the outbox relay, the stock streams, the secrets and the hold reaper.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;

use super::connections::DatabaseSettings;
use super::env::{ConfigError, Env};
use super::rate_limits::RateLimitSettings;
use super::url::ServiceUrl;
use crate::runtime::broker::KafkaSettings;

/// How the pool of reservation actors is sized.
#[derive(Debug, Clone, Copy)]
pub struct ReservationPoolConfig {
    /// Number of actors; each has at most one Redis call in flight.
    pub actors: usize,
    /// Requests one actor may hold (mailbox and batch queue together).
    pub queue_per_actor: usize,
    /// Most reservations carried by one script call.
    pub max_batch: usize,
    /// How long a caller waits for its answer, queueing included.
    pub timeout: Duration,
}

/// How the outbox relay paces itself.
#[derive(Debug, Clone, Copy)]
pub struct RelayConfig {
    /// Entries younger than this are left to the producer that is publishing them now.
    pub min_age: Duration,
    /// Time between scans.
    pub interval: Duration,
    /// Entries per page read from one sale's outbox.
    pub batch: usize,
}

/// The GoFlash-compatible sales (the seed, GoFlash, is what flashsale grew from): the four
/// sales its routes (`POST /purchase`, ...) sell from. Named after their variables,
/// `FLASHSALE_SEED_*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedSettings {
    /// Whether the API creates them at start (unless they exist).
    pub create: bool,
    /// Their ids are `<prefix>-<strategy>`.
    pub prefix: String,
    /// Units of each at creation.
    pub stock: u64,
}

/// Everything the API process needs to know. Build it with [`Settings::from_env`] in a binary,
/// or fill it in directly in tests. What each field means is in [`catalogue`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub http_addr: SocketAddr,
    pub http_workers: usize,
    pub http_backlog: u32,
    pub http_body_timeout: Duration,
    pub redis_url: ServiceUrl,
    pub redis_pool_size: u32,
    pub redis_timeout: Duration,
    pub admin_token: Option<SecretString>,
    /// The reservation actors' pool (the Redis and PostgreSQL pools are sized above and in
    /// `database`).
    pub pool: ReservationPoolConfig,
    pub sold_out_ttl: Duration,
    pub seed: SeedSettings,
    /// Origins allowed to call the API from a browser page (CORS); empty: none.
    pub cors_origins: Vec<String>,
    pub shutdown_timeout: Duration,
    pub database: DatabaseSettings,
    pub kafka: KafkaSettings,
    pub kafka_max_in_flight: usize,
    pub outbox_read_batch: usize,
    pub relay: RelayConfig,
    pub stream_max_clients: usize,
    /// Of `stream_max_clients`, the streams one client address may hold.
    pub stream_max_clients_per_address: usize,
    pub stream_heartbeat: Duration,
    /// The payment webhook's HMAC key; `None`: every payment is refused.
    pub payment_secret: Option<SecretString>,
    /// The purchase tokens' HMAC key; `None`: no sale may have a waiting room.
    pub token_secret: Option<SecretString>,
    pub reaper: ReaperConfig,
    pub rate_limits: RateLimitSettings,
}

/// How each API process's hold reaper paces itself.
#[derive(Debug, Clone, Copy)]
pub struct ReaperConfig {
    pub interval: Duration,
    pub batch: usize,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use super::catalogue::*;
        let env = Env(lookup);
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        Ok(Self {
            http_addr: env.parse(&HTTP_ADDR)?,
            http_workers: env.parse_or(&HTTP_WORKERS, cpus)?,
            http_backlog: env.size(&HTTP_BACKLOG)?.get(),
            http_body_timeout: env.millis(&HTTP_BODY_TIMEOUT_MS)?,
            redis_url: env.get(&REDIS_URL).into(),
            redis_pool_size: env.size(&REDIS_POOL_SIZE)?.get(),
            redis_timeout: env.millis(&REDIS_TIMEOUT_MS)?,
            admin_token: env.optional(&ADMIN_TOKEN).map(SecretString::from),
            pool: ReservationPoolConfig {
                actors: env.parse(&RESERVATION_ACTORS)?,
                queue_per_actor: env.parse(&RESERVATION_QUEUE)?,
                max_batch: env.parse(&RESERVATION_BATCH)?,
                timeout: env.millis(&RESERVE_TIMEOUT_MS)?,
            },
            sold_out_ttl: env.millis(&SOLD_OUT_TTL_MS)?,
            seed: SeedSettings {
                create: env.parse(&SEED_SALES)?,
                prefix: env.get(&SEED_SALE_PREFIX).trim().to_owned(),
                stock: env.parse(&SEED_STOCK)?,
            },
            cors_origins: env
                .get(&CORS_ORIGINS)
                .split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(str::to_owned)
                .collect(),
            shutdown_timeout: env.millis(&SHUTDOWN_TIMEOUT_MS)?,
            database: env.database()?,
            kafka: env.kafka()?,
            kafka_max_in_flight: env.parse(&KAFKA_MAX_IN_FLIGHT)?,
            outbox_read_batch: env.parse(&OUTBOX_READ_BATCH)?,
            relay: RelayConfig {
                min_age: env.millis(&OUTBOX_RELAY_AGE_MS)?,
                interval: env.millis(&OUTBOX_RELAY_INTERVAL_MS)?,
                batch: env.parse(&OUTBOX_RELAY_BATCH)?,
            },
            stream_max_clients: env.parse(&STREAM_MAX_CLIENTS)?,
            stream_max_clients_per_address: env.parse(&STREAM_MAX_CLIENTS_PER_ADDRESS)?,
            stream_heartbeat: env.millis(&STREAM_HEARTBEAT_MS)?,
            payment_secret: env.optional(&PAYMENT_SECRET).map(SecretString::from),
            token_secret: env.optional(&TOKEN_SECRET).map(SecretString::from),
            reaper: ReaperConfig {
                interval: env
                    .millis(&REAPER_INTERVAL_MS)?
                    .max(Duration::from_millis(1)),
                batch: env.parse::<usize>(&REAPER_BATCH)?.max(1),
            },
            rate_limits: env.rate_limits()?,
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
        assert_eq!(settings.redis_url.expose(), "redis://127.0.0.1:6379");
        assert!(settings.admin_token.is_none());
        assert!(settings.seed.create);
        assert_eq!(
            (settings.seed.prefix.as_str(), settings.seed.stock),
            ("seed", 100)
        );
        assert!(settings.cors_origins.is_empty());
        assert!(settings.http_workers >= 1);
    }

    #[test]
    fn the_database_pool_is_sized_by_its_own_settings() {
        let settings = Settings::from_lookup(|name| match name {
            "FLASHSALE_DB_POOL_SIZE" => Some("7".into()),
            "FLASHSALE_DB_TIMEOUT_MS" => Some("250".into()),
            "FLASHSALE_REDIS_POOL_SIZE" => Some("99".into()),
            _ => None,
        })
        .expect("valid settings");
        assert_eq!(settings.database.pool_size, 7);
        assert_eq!(settings.database.timeout, Duration::from_millis(250));
        assert_eq!(settings.redis_pool_size, 99);
    }

    #[test]
    fn values_are_read_and_bad_ones_are_named() {
        let settings = Settings::from_lookup(|name| match name {
            "FLASHSALE_ADMIN_TOKEN" => Some("s3cret".into()),
            "FLASHSALE_SEED_SALES" => Some("false".into()),
            "FLASHSALE_CORS_ORIGINS" => {
                Some(" http://localhost:5173, https://shop.example ,".into())
            }
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
        assert!(!settings.seed.create);
        assert_eq!(
            settings.cors_origins,
            ["http://localhost:5173", "https://shop.example"]
        );
        assert_eq!(settings.pool.actors, 2);

        let error =
            Settings::from_lookup(|name| (name == "FLASHSALE_HTTP_ADDR").then(|| "nowhere".into()))
                .expect_err("an address without a port is refused");
        assert!(
            error.to_string().starts_with("FLASHSALE_HTTP_ADDR"),
            "{error}"
        );
        for pool in ["FLASHSALE_REDIS_POOL_SIZE", "FLASHSALE_DB_POOL_SIZE"] {
            let error = Settings::from_lookup(|name| (name == pool).then(|| "0".into()))
                .expect_err("an empty pool is refused");
            assert_eq!(error.to_string(), format!("{pool}: must be at least 1"));
        }
    }

    #[test]
    fn secrets_never_print() {
        let settings = Settings::from_lookup(|name| match name {
            "FLASHSALE_ADMIN_TOKEN" => Some("s3cret".into()),
            "FLASHSALE_DATABASE_URL" => Some("postgres://fs:dbpass@127.0.0.1/fs".into()),
            "FLASHSALE_REDIS_URL" => Some("redis://:redispass@127.0.0.1:6379".into()),
            _ => None,
        })
        .expect("valid settings");
        let printed = format!("{settings:?}");
        for secret in ["s3cret", "dbpass", "redispass"] {
            assert!(!printed.contains(secret), "{secret} printed: {printed}");
        }
    }
}
