//! A service URL that may carry a password (`postgres://user:secret@host/db`): it prints with
//! the password masked, so no `Debug` of the settings and no log line shows it.

/// A URL whose `Debug` and `Display` hide the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ServiceUrl(String);

impl ServiceUrl {
    /// The URL itself, to connect with. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with the password part of its user information replaced by `***`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return self.0.clone();
        };
        // The user information ends at the last '@' before the path.
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let Some(at) = rest[..authority_end].rfind('@') else {
            return self.0.clone();
        };
        let (user_info, host_and_path) = (&rest[..at], &rest[at..]);
        match user_info.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***{host_and_path}"),
            None => self.0.clone(),
        }
    }
}

impl From<String> for ServiceUrl {
    fn from(url: String) -> Self {
        Self(url)
    }
}

impl From<&str> for ServiceUrl {
    fn from(url: &str) -> Self {
        Self(url.to_owned())
    }
}

impl std::fmt::Debug for ServiceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", self.redacted())
    }
}

impl std::fmt::Display for ServiceUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_print() {
        let url = ServiceUrl::from("postgres://flashsale:s3cret@127.0.0.1:5432/flashsale");
        assert_eq!(
            url.redacted(),
            "postgres://flashsale:***@127.0.0.1:5432/flashsale"
        );
        assert!(!format!("{url:?} {url}").contains("s3cret"));
        assert_eq!(
            url.expose(),
            "postgres://flashsale:s3cret@127.0.0.1:5432/flashsale"
        );
        let redis = ServiceUrl::from("redis://:p@ss@127.0.0.1:6379/0");
        assert!(!redis.to_string().contains("ss@127"), "{redis}");
        for plain in [
            "redis://127.0.0.1:6379",
            "postgres://user@host/db",
            "not a url",
        ] {
            assert_eq!(ServiceUrl::from(plain).redacted(), plain);
        }
    }
}
