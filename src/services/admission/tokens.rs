//! Purchase tokens: what the waiting room hands an admitted buyer, and what a purchase of a
//! `fifo` or `random` sale must carry (`Flashsale-Purchase-Token`).
//!
//! A token is `<sale_id>~<round>~<user_id>~<expires_at_ms>~<nonce>~<signature>`: the claims in
//! clear (none of the ids may hold a `~`), and the lowercase hex HMAC-SHA256 of
//! `v1~<the claims>` under `FLASHSALE_TOKEN_SECRET`. Every API process sharing the secret
//! makes the same token for the same admitted ticket (the nonce is the ticket id, the expiry
//! its admission time plus the sale's `token_seconds`), so any process can show it and any
//! can check it.
//!
//! The signature, the sale and the user are checked here, before the purchase reaches the
//! reservation actors, so a forgery costs no Redis call; the round, the expiry (by the Redis
//! clock) and single use are checked by the reservation script, which spends the nonce with
//! the stock it takes.

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use uuid::Uuid;

use crate::domain::{SaleId, TokenClaims, TokenRefusal, UserId};

/// The header a purchase carries its token in.
pub const TOKEN_HEADER: &str = "Flashsale-Purchase-Token";

/// The separator of a token's parts.
const SEPARATOR: char = '~';

/// Signs and checks purchase tokens with the service's secret.
pub struct TokenKey(SecretString);

impl TokenKey {
    pub fn new(secret: SecretString) -> Self {
        Self(secret)
    }

    /// The token for `claims`.
    pub fn sign(&self, claims: &TokenClaims) -> String {
        let body = claims_text(claims);
        let signature = hex::encode(self.mac(&body).finalize().into_bytes());
        format!("{body}{SEPARATOR}{signature}")
    }

    /// Checks `raw` was signed here for a purchase of `sale_id` by `user_id`; its round,
    /// expiry and use are for the reservation script.
    pub fn verify(
        &self,
        raw: &[u8],
        sale_id: &SaleId,
        user_id: &UserId,
    ) -> Result<TokenClaims, TokenRefusal> {
        let text = std::str::from_utf8(raw).map_err(|_| TokenRefusal::Invalid)?;
        let (body, signature) = text.rsplit_once(SEPARATOR).ok_or(TokenRefusal::Invalid)?;
        let signature = hex::decode(signature).map_err(|_| TokenRefusal::Invalid)?;
        // Constant time, so answer timing does not reveal how much of a forgery was right.
        self.mac(body)
            .verify_slice(&signature)
            .map_err(|_| TokenRefusal::Invalid)?;
        let claims = parse_claims(body).ok_or(TokenRefusal::Invalid)?;
        if claims.sale_id != *sale_id {
            return Err(TokenRefusal::Invalid);
        }
        if claims.user_id != *user_id {
            return Err(TokenRefusal::WrongUser);
        }
        Ok(claims)
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret().as_bytes())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        mac.update(b"v1~");
        mac.update(body.as_bytes());
        mac
    }
}

fn claims_text(claims: &TokenClaims) -> String {
    format!(
        "{}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{}{SEPARATOR}{}",
        claims.sale_id.as_str(),
        claims.round,
        claims.user_id.as_str(),
        claims.expires_at_ms,
        claims.nonce
    )
}

fn parse_claims(body: &str) -> Option<TokenClaims> {
    let mut parts = body.split(SEPARATOR);
    let claims = TokenClaims {
        sale_id: SaleId::parse(parts.next()?).ok()?,
        round: parts.next()?.parse().ok()?,
        user_id: UserId::parse(parts.next()?).ok()?,
        expires_at_ms: parts.next()?.parse().ok()?,
        nonce: Uuid::parse_str(parts.next()?).ok()?,
    };
    parts.next().is_none().then_some(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(user: &str) -> TokenClaims {
        TokenClaims {
            sale_id: SaleId::parse("phones").expect("valid id"),
            round: 3,
            user_id: UserId::parse(user).expect("valid user"),
            expires_at_ms: 1_764_000_000_000,
            nonce: Uuid::new_v4(),
        }
    }

    fn key(secret: &str) -> TokenKey {
        TokenKey::new(SecretString::from(secret))
    }

    #[test]
    fn a_token_verifies_for_its_sale_and_user_only() {
        let alice = claims("alice.a:1");
        let token = key("s3cret").sign(&alice);
        let sale = SaleId::parse("phones").expect("valid id");
        let other_sale = SaleId::parse("tvs").expect("valid id");
        let user = UserId::parse("alice.a:1").expect("valid user");
        let bob = UserId::parse("bob").expect("valid user");
        assert_eq!(
            key("s3cret").verify(token.as_bytes(), &sale, &user),
            Ok(alice)
        );
        assert_eq!(
            key("s3cret").verify(token.as_bytes(), &sale, &bob),
            Err(TokenRefusal::WrongUser)
        );
        assert_eq!(
            key("s3cret").verify(token.as_bytes(), &other_sale, &user),
            Err(TokenRefusal::Invalid)
        );
        assert_eq!(
            key("other").verify(token.as_bytes(), &sale, &user),
            Err(TokenRefusal::Invalid)
        );
    }

    #[test]
    fn a_changed_claim_or_a_malformed_token_is_invalid() {
        let token = key("s3cret").sign(&claims("alice"));
        let sale = SaleId::parse("phones").expect("valid id");
        let user = UserId::parse("alice").expect("valid user");
        let later = token.replacen("~1764000000000~", "~1764000099999~", 1);
        assert_ne!(later, token);
        for forged in [later, String::new(), "~".into(), "phones~3~alice".into()] {
            assert_eq!(
                key("s3cret").verify(forged.as_bytes(), &sale, &user),
                Err(TokenRefusal::Invalid),
                "{forged}"
            );
        }
        assert_eq!(
            key("s3cret").verify(&[0xff, b'~', b'0'], &sale, &user),
            Err(TokenRefusal::Invalid)
        );
    }
}
