//! How a process reaches the services both processes use: PostgreSQL and Kafka.

use std::time::Duration;

use super::catalogue::{
    DATABASE_URL, DB_POOL_SIZE, DB_TIMEOUT_MS, KAFKA_BATCH, KAFKA_BROKERS, KAFKA_DEBUG,
    KAFKA_LINGER_MS, KAFKA_MESSAGE_TIMEOUT_MS, KAFKA_PARTITIONS, KAFKA_REPLICATION, KAFKA_TOPIC,
};
use super::env::{ConfigError, Env};
use super::url::ServiceUrl;
use crate::runtime::broker::KafkaSettings;

/// How a process reaches PostgreSQL.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: ServiceUrl,
    pub pool_size: u32,
    /// Getting a connection and each lookup.
    pub timeout: Duration,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub(super) fn database(&self) -> Result<DatabaseSettings, ConfigError> {
        Ok(DatabaseSettings {
            url: self.get(&DATABASE_URL).into(),
            pool_size: self.size(&DB_POOL_SIZE)?.get(),
            timeout: self.millis(&DB_TIMEOUT_MS)?,
        })
    }

    pub(super) fn kafka(&self) -> Result<KafkaSettings, ConfigError> {
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
