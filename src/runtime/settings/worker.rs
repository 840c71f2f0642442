//! The worker process's settings.

use std::net::SocketAddr;
use std::time::Duration;

use super::connections::DatabaseSettings;
use super::env::{ConfigError, Env};
use crate::runtime::broker::KafkaSettings;

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

impl WorkerSettings {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        use super::catalogue::*;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worker_defaults_are_valid() {
        WorkerSettings::from_lookup(|_| None).expect("worker defaults are valid");
    }
}
