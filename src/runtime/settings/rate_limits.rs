//! The API's rate limits (`FLASHSALE_RATE_LIMIT_*`): per client address, per user, and the
//! proxies whose `X-Forwarded-For` is believed.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use ipnet::IpNet;

use super::catalogue::{
    Setting, RATE_LIMIT_IP_BURST, RATE_LIMIT_IP_PER_SECOND, RATE_LIMIT_MAX_KEYS,
    RATE_LIMIT_TRUSTED_PROXIES, RATE_LIMIT_USER_BURST, RATE_LIMIT_USER_PER_SECOND,
};
use super::env::{ConfigError, Env};

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

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub(super) fn rate_limits(&self) -> Result<RateLimitSettings, ConfigError> {
        Ok(RateLimitSettings {
            per_client_address: self.rate_limit(&RATE_LIMIT_IP_PER_SECOND, &RATE_LIMIT_IP_BURST)?,
            per_user: self.rate_limit(&RATE_LIMIT_USER_PER_SECOND, &RATE_LIMIT_USER_BURST)?,
            max_keys: self.size(&RATE_LIMIT_MAX_KEYS)?.get() as usize,
            trusted_proxies: self.networks(&RATE_LIMIT_TRUSTED_PROXIES)?,
        })
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_are_off_unless_set_and_bad_ones_are_named() {
        let defaults = Env(|_: &str| None)
            .rate_limits()
            .expect("defaults are valid");
        assert_eq!(defaults.per_client_address, None);
        assert_eq!(defaults.per_user, None);
        assert!(defaults.trusted_proxies.is_empty());

        let limits = Env(|name: &str| match name {
            "FLASHSALE_RATE_LIMIT_IP_PER_SECOND" => Some(" 0.5 ".into()),
            "FLASHSALE_RATE_LIMIT_IP_BURST" => Some("3".into()),
            "FLASHSALE_RATE_LIMIT_USER_PER_SECOND" => Some("20".into()),
            "FLASHSALE_RATE_LIMIT_TRUSTED_PROXIES" => Some("10.0.0.7, fd00::/8,".into()),
            _ => None,
        })
        .rate_limits()
        .expect("valid settings");
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
            let error = Env(|name: &str| (name == variable).then(|| value.into()))
                .rate_limits()
                .expect_err("refused");
            assert!(error.to_string().starts_with(variable), "{value}: {error}");
        }
        for burst in [
            "FLASHSALE_RATE_LIMIT_IP_BURST",
            "FLASHSALE_RATE_LIMIT_USER_BURST",
        ] {
            let error = Env(|name: &str| match name {
                "FLASHSALE_RATE_LIMIT_IP_PER_SECOND" | "FLASHSALE_RATE_LIMIT_USER_PER_SECOND" => {
                    Some("1".into())
                }
                _ => (name == burst).then(|| "0".into()),
            })
            .rate_limits()
            .expect_err("a burst of 0 is refused");
            assert_eq!(error.to_string(), format!("{burst}: must be at least 1"));
        }
    }
}
