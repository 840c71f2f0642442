//! Identifiers and quantities: what a client names in a request.

use std::borrow::Borrow;

use serde::Serialize;

/// The largest stock a sale may hold, and so the largest quantity one purchase may ask for.
pub const MAX_STOCK: u64 = 10_000_000;

/// Why a value was refused; the text is shown to the client as is, so it names the field and
/// the rule and never echoes more than the client sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

pub(super) fn invalid(message: impl Into<String>) -> Invalid {
    Invalid(message.into())
}

/// A sale's id: `[a-z0-9][a-z0-9_-]{0,63}`. It becomes part of Redis keys, so it never holds
/// braces (hash tags), colons or spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct SaleId(String);

impl SaleId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let mut chars = raw.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        let rest_ok =
            chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if first_ok && rest_ok && raw.len() <= 64 {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid("sale_id must match [a-z0-9][a-z0-9_-]{0,63}"))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lets maps keyed by sale id be searched with a `&str`.
impl Borrow<str> for SaleId {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for SaleId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A buyer's id: 1 to 64 characters of `[A-Za-z0-9_.:-]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-');
        if (1..=64).contains(&raw.len()) && raw.chars().all(ok_char) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(invalid(
                "user_id must be 1 to 64 characters of [A-Za-z0-9_.:-]",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many units one purchase asks for: 1 to [`MAX_STOCK`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Quantity(u32);

impl Quantity {
    pub fn parse(raw: u64) -> Result<Self, Invalid> {
        match u32::try_from(raw) {
            Ok(q) if q >= 1 && u64::from(q) <= MAX_STOCK => Ok(Self(q)),
            _ => Err(invalid(format!(
                "quantity must be between 1 and {MAX_STOCK}"
            ))),
        }
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

/// A client-chosen key that makes a purchase safe to retry: 1 to 128 printable ASCII characters.
/// It is scoped to one sale and one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// Takes bytes, as a header value arrives.
    pub fn parse(raw: &[u8]) -> Result<Self, Invalid> {
        if (1..=128).contains(&raw.len()) && raw.iter().all(|b| (0x20..=0x7e).contains(b)) {
            Ok(Self(String::from_utf8_lossy(raw).into_owned()))
        } else {
            Err(invalid(
                "Idempotency-Key must be 1 to 128 printable ASCII characters",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sale_ids_follow_the_documented_pattern() {
        for ok in ["a", "0", "summer-2026_phones", &"a".repeat(64)] {
            assert!(SaleId::parse(ok).is_ok(), "{ok} should be accepted");
        }
        for bad in [
            "",
            "-a",
            "_a",
            "A",
            "a b",
            "a{b}",
            "a:b",
            "ü",
            &"a".repeat(65),
        ] {
            assert!(SaleId::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn user_ids_allow_only_the_documented_characters() {
        assert!(UserId::parse("user:42.a_b-c").is_ok());
        assert!(UserId::parse(&"u".repeat(64)).is_ok());
        for bad in ["", "a b", "a|b", "a\nb", "é", &"u".repeat(65)] {
            assert!(UserId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn quantity_is_between_one_and_max_stock() {
        assert!(Quantity::parse(0).is_err());
        assert_eq!(Quantity::parse(1).map(Quantity::get), Ok(1));
        assert!(Quantity::parse(MAX_STOCK).is_ok());
        assert!(Quantity::parse(MAX_STOCK + 1).is_err());
        assert!(Quantity::parse(u64::MAX).is_err());
    }

    #[test]
    fn idempotency_keys_are_printable_ascii() {
        assert!(IdempotencyKey::parse(b"retry 1: ~!").is_ok());
        assert!(IdempotencyKey::parse("k".repeat(128).as_bytes()).is_ok());
        for bad in ["", "tab\there", "é", &"k".repeat(129)] {
            assert!(
                IdempotencyKey::parse(bad.as_bytes()).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
