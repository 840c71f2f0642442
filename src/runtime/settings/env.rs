//! Typed reads of `FLASHSALE_*` variables, each falling back to its catalogue default, and the
//! error that names a variable whose value cannot be used.

use std::num::NonZeroU32;
use std::str::FromStr;
use std::time::Duration;

use super::catalogue::{DefaultValue, Setting};

/// A setting that is present but cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub(super) name: &'static str,
    pub(super) problem: String,
}

/// A variable source with typed reads; every default comes from the setting's catalogue entry.
pub(super) struct Env<F>(pub(super) F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The value, or `None` when unset or empty.
    pub(super) fn optional(&self, setting: &Setting) -> Option<String> {
        (self.0)(setting.name).filter(|value| !value.trim().is_empty())
    }

    pub(super) fn get(&self, setting: &Setting) -> String {
        match (self.optional(setting), setting.default) {
            (Some(value), _) => value,
            (None, DefaultValue::Value(default)) => default.to_owned(),
            (None, DefaultValue::Unset | DefaultValue::OnePerCpu) => String::new(),
        }
    }

    pub(super) fn parse<T: FromStr>(&self, setting: &Setting) -> Result<T, ConfigError>
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
    pub(super) fn parse_or<T: FromStr>(
        &self,
        setting: &Setting,
        computed: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(setting) {
            Some(_) => self.parse(setting),
            None => Ok(computed),
        }
    }

    /// A size that must be at least 1 (a pool of no connections cannot work).
    pub(super) fn size(&self, setting: &Setting) -> Result<NonZeroU32, ConfigError> {
        NonZeroU32::new(self.parse(setting)?).ok_or_else(|| ConfigError {
            name: setting.name,
            problem: "must be at least 1".into(),
        })
    }

    pub(super) fn millis(&self, setting: &Setting) -> Result<Duration, ConfigError> {
        self.parse::<u64>(setting).map(Duration::from_millis)
    }
}
