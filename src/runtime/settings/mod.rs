//! Settings, read once from `FLASHSALE_*` environment variables into one typed value per
//! process. Each variable, its default and its meaning are in [`catalogue`]; docs/CONFIG.md is
//! generated from it.

pub mod catalogue;
mod url;

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use ipnet::IpNet;
use secrecy::SecretString;

use super::broker::KafkaSettings;
use catalogue::{DefaultValue, Setting};
pub use url::ServiceUrl;

/// A setting that is present but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: String,
}

/// How the pool of reservation actors is sized.
#[derive(Debug, Clone, Copy)]
pub struct PoolConfig {
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

/// The seed's sales: the four sales the seed's routes (`POST /purchase`, ...) sell from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedSettings {
    /// Whether the API creates them at start (unless they exist).
    pub create: bool,
    /// Their ids are `<prefix>-<strategy>`.
    pub prefix: String,
    /// Units of each at creation.
    pub stock: u64,
}

/// One rate limit: a key may send `burst` requests at once, and one more each `replenish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub replenish: Duration,
    pub burst: NonZeroU32,
}

/// The API's rate limits (`FLASHSALE_RATE_LIMIT_*`); `None`: that limit is off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSettings {
    pub per_client_address: Option<RateLimit>,
    pub per_user: Option<RateLimit>,
    /// Keys of each kind one process remembers at most.
    pub max_keys: usize,
    /// The reverse proxies whose `X-Forwarded-For` is believed; empty: none.
    pub trusted_proxies: Vec<IpNet>,
}

/// How a process reaches PostgreSQL.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: ServiceUrl,
    pub pool_size: u32,
    /// Getting a connection and each lookup.
    pub timeout: Duration,
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
    pub pool: PoolConfig,
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

/// Everything the worker process needs to know.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub http_addr: SocketAddr,
    pub database: DatabaseSettings,
    pub kafka: KafkaSettings,
    pub group_id: String,
    pub batch_size: usize,
    pub linger: Duration,
    /// How long a partition lease lasts without renewal.
    pub lease_ttl: Duration,
    pub shutdown_deadline: Duration,
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use catalogue::*;
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
            pool: PoolConfig {
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
            stream_heartbeat: env.millis(&STREAM_HEARTBEAT_MS)?,
            payment_secret: env.optional(&PAYMENT_SECRET).map(SecretString::from),
            token_secret: env.optional(&TOKEN_SECRET).map(SecretString::from),
            reaper: ReaperConfig {
                interval: env
                    .millis(&REAPER_INTERVAL_MS)?
                    .max(Duration::from_millis(1)),
                batch: env.parse::<usize>(&REAPER_BATCH)?.max(1),
            },
            rate_limits: RateLimitSettings {
                per_client_address: env
                    .rate_limit(&RATE_LIMIT_IP_PER_SECOND, &RATE_LIMIT_IP_BURST)?,
                per_user: env.rate_limit(&RATE_LIMIT_USER_PER_SECOND, &RATE_LIMIT_USER_BURST)?,
                max_keys: env.size(&RATE_LIMIT_MAX_KEYS)?.get() as usize,
                trusted_proxies: env.networks(&RATE_LIMIT_TRUSTED_PROXIES)?,
            },
        })
    }
}

impl WorkerSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use catalogue::*;
        let env = Env(lookup);
        Ok(Self {
            http_addr: env.parse(&WORKER_HTTP_ADDR)?,
            database: env.database()?,
            kafka: env.kafka()?,
            group_id: env.get(&WORKER_GROUP),
            batch_size: env.parse(&WORKER_BATCH)?,
            linger: env.millis(&WORKER_LINGER_MS)?,
            lease_ttl: env.millis(&WORKER_LEASE_TTL_MS)?,
            shutdown_deadline: env.millis(&WORKER_SHUTDOWN_MS)?,
        })
    }
}

/// Whether logs are written as JSON lines (`FLASHSALE_LOG_FORMAT=json`).
pub fn json_logs() -> bool {
    let env = Env(|name: &str| std::env::var(name).ok());
    env.get(&catalogue::LOG_FORMAT)
        .trim()
        .eq_ignore_ascii_case("json")
}

/// A variable source with typed reads; every default comes from the setting's catalogue entry.
struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The value, or `None` when unset or empty.
    fn optional(&self, setting: &Setting) -> Option<String> {
        (self.0)(setting.name).filter(|value| !value.trim().is_empty())
    }

    fn get(&self, setting: &Setting) -> String {
        match (self.optional(setting), setting.default) {
            (Some(value), _) => value,
            (None, DefaultValue::Value(default)) => default.to_owned(),
            (None, DefaultValue::Unset | DefaultValue::OnePerCpu) => String::new(),
        }
    }

    fn parse<T: FromStr>(&self, setting: &Setting) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self.get(setting);
        raw.trim().parse().map_err(|e: T::Err| ConfigError {
            name: setting.name,
            problem: format!("cannot use {raw:?}: {e}"),
        })
    }

    /// For a setting whose default is computed at start (`computed`).
    fn parse_or<T: FromStr>(&self, setting: &Setting, computed: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(setting) {
            Some(_) => self.parse(setting),
            None => Ok(computed),
        }
    }

    /// A size that must be at least 1 (a pool of no connections cannot work).
    fn size(&self, setting: &Setting) -> Result<NonZeroU32, ConfigError> {
        NonZeroU32::new(self.parse(setting)?).ok_or_else(|| ConfigError {
            name: setting.name,
            problem: "must be at least 1".into(),
        })
    }

    fn millis(&self, setting: &Setting) -> Result<Duration, ConfigError> {
        self.parse::<u64>(setting).map(Duration::from_millis)
    }

    /// A rate limit of `per_second` requests a second after a burst of `burst`; `None` when
    /// `per_second` is unset. A rate too small or too large to be a replenish interval of
    /// whole nanoseconds (over a year, under a nanosecond) is refused.
    fn rate_limit(
        &self,
        per_second: &Setting,
        burst: &Setting,
    ) -> Result<Option<RateLimit>, ConfigError> {
        let Some(raw) = self.optional(per_second) else {
            return Ok(None);
        };
        const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
        let replenish = raw
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|rate| rate.is_finite() && *rate > 0.0)
            .and_then(|rate| Duration::try_from_secs_f64(1.0 / rate).ok())
            .filter(|replenish| !replenish.is_zero() && *replenish <= YEAR)
            .ok_or_else(|| ConfigError {
                name: per_second.name,
                problem: format!(
                    "cannot use {raw:?}: must be a number of requests per second above 0 \
                     (such as 0.5 or 20), at most 1000000000 and at least one a year"
                ),
            })?;
        Ok(Some(RateLimit {
            replenish,
            burst: self.size(burst)?,
        }))
    }

    /// A comma-separated list of addresses (`10.0.0.7`) and networks (`10.0.0.0/8`).
    fn networks(&self, setting: &Setting) -> Result<Vec<IpNet>, ConfigError> {
        self.get(setting)
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ConfigError {
                        name: setting.name,
                        problem: format!(
                            "cannot use {entry:?}: not an IP address or network (such as \
                             10.0.0.7 or 10.0.0.0/8)"
                        ),
                    })
            })
            .collect()
    }

    fn database(&self) -> Result<DatabaseSettings, ConfigError> {
        use catalogue::*;
        Ok(DatabaseSettings {
            url: self.get(&DATABASE_URL).into(),
            pool_size: self.size(&DB_POOL_SIZE)?.get(),
            timeout: self.millis(&DB_TIMEOUT_MS)?,
        })
    }

    fn kafka(&self) -> Result<KafkaSettings, ConfigError> {
        use catalogue::*;
        Ok(KafkaSettings {
            brokers: self.get(&KAFKA_BROKERS),
            topic: self.get(&KAFKA_TOPIC),
            partitions: self.parse(&KAFKA_PARTITIONS)?,
            replication: self.parse(&KAFKA_REPLICATION)?,
            linger: self.millis(&KAFKA_LINGER_MS)?,
            batch_size: self.parse(&KAFKA_BATCH)?,
            message_timeout: self.millis(&KAFKA_MESSAGE_TIMEOUT_MS)?,
            debug: self.optional(&KAFKA_DEBUG),
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
        WorkerSettings::from_lookup(|_| None).expect("worker defaults are valid");
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
    fn rate_limits_are_off_unless_set_and_bad_ones_are_named() {
        let defaults = Settings::from_lookup(|_| None).expect("defaults are valid");
        assert_eq!(defaults.rate_limits.per_client_address, None);
        assert_eq!(defaults.rate_limits.per_user, None);
        assert!(defaults.rate_limits.trusted_proxies.is_empty());

        let settings = Settings::from_lookup(|name| match name {
            "FLASHSALE_RATE_LIMIT_IP_PER_SECOND" => Some(" 0.5 ".into()),
            "FLASHSALE_RATE_LIMIT_IP_BURST" => Some("3".into()),
            "FLASHSALE_RATE_LIMIT_USER_PER_SECOND" => Some("20".into()),
            "FLASHSALE_RATE_LIMIT_TRUSTED_PROXIES" => Some("10.0.0.7, fd00::/8,".into()),
            _ => None,
        })
        .expect("valid settings");
        let limits = settings.rate_limits;
        assert_eq!(
            limits.per_client_address,
            Some(RateLimit {
                replenish: Duration::from_secs(2),
                burst: NonZeroU32::new(3).expect("not zero"),
            })
        );
        assert_eq!(
            limits
                .per_user
                .map(|limit| (limit.replenish, limit.burst.get())),
            Some((Duration::from_millis(50), 5))
        );
        let proxies: Vec<String> = limits
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(proxies, ["10.0.0.7/32", "fd00::/8"]);

        let refused = [
            ("FLASHSALE_RATE_LIMIT_IP_PER_SECOND", "0"),
            ("FLASHSALE_RATE_LIMIT_IP_PER_SECOND", "-1"),
            ("FLASHSALE_RATE_LIMIT_IP_PER_SECOND", "fast"),
            ("FLASHSALE_RATE_LIMIT_IP_PER_SECOND", "NaN"),
            ("FLASHSALE_RATE_LIMIT_USER_PER_SECOND", "inf"),
            ("FLASHSALE_RATE_LIMIT_USER_PER_SECOND", "1e-12"),
            ("FLASHSALE_RATE_LIMIT_USER_PER_SECOND", "1e10"),
            ("FLASHSALE_RATE_LIMIT_MAX_KEYS", "0"),
            (
                "FLASHSALE_RATE_LIMIT_TRUSTED_PROXIES",
                "10.0.0.1, proxy.local",
            ),
            ("FLASHSALE_RATE_LIMIT_TRUSTED_PROXIES", "10.0.0.0/33"),
        ];
        for (variable, value) in refused {
            let error = Settings::from_lookup(|name| (name == variable).then(|| value.into()))
                .expect_err("refused");
            assert!(error.to_string().starts_with(variable), "{value}: {error}");
        }
        for burst in [
            "FLASHSALE_RATE_LIMIT_IP_BURST",
            "FLASHSALE_RATE_LIMIT_USER_BURST",
        ] {
            let error = Settings::from_lookup(|name| match name {
                "FLASHSALE_RATE_LIMIT_IP_PER_SECOND" | "FLASHSALE_RATE_LIMIT_USER_PER_SECOND" => {
                    Some("1".into())
                }
                _ => (name == burst).then(|| "0".into()),
            })
            .expect_err("a burst of 0 is refused");
            assert_eq!(error.to_string(), format!("{burst}: must be at least 1"));
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
            if path.ends_with("catalogue.rs") || path.extension().is_none_or(|e| e != "rs") {
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
