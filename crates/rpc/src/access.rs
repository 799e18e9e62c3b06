//! Optional API keys (`--api-key-file`) and their per-key rate limit (`--rate-limit`, a token bucket per key).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Shortest key accepted: a guessable key is no key.
const MIN_KEY_LEN: usize = 16;

/// The API keys a request may carry (`Authorization: Bearer KEY` or `x-api-key: KEY`). Only the keys' SHA-256
/// digests are kept; `Debug` shows the keys' names only.
#[derive(Clone)]
pub struct ApiKeys {
    /// Key name by the SHA-256 digest of the key.
    by_digest: HashMap<[u8; 32], String>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<_> = self.by_digest.values().collect();
        names.sort();
        f.debug_struct("ApiKeys").field("names", &names).finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Reads the keys of an API key file ([`ApiKeys::parse`]). Errors name the file's lines, never a key.
    pub fn from_file(path: &std::path::Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid("--api-key-file", format!("{}: {e}", path.display())))?;
        Self::parse(&text)
    }

    /// The keys of an API key file: one per line, `KEY` or `NAME:KEY`; blank lines and lines starting with `#`
    /// are skipped. A key has at least 16 characters and no white space; a name has letters, digits, `_`, `-`
    /// and `.` only. A key without a name is named `key-` and the first 8 hex digits of its SHA-256 (what logs
    /// show). Names and keys are unique.
    pub fn parse(text: &str) -> Result<Self> {
        let mut by_digest = HashMap::new();
        let mut names = std::collections::HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let field = || format!("--api-key-file line {}", i + 1);
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, key) = match line.split_once(':') {
                Some((name, key)) => (Some(name.trim()), key.trim()),
                None => (None, line),
            };
            if key.len() < MIN_KEY_LEN || key.chars().any(char::is_whitespace) {
                return Err(Error::invalid(
                    field(),
                    format!("a key has at least {MIN_KEY_LEN} characters and no white space"),
                ));
            }
            let digest = digest(key);
            let name = match name {
                Some(name) => {
                    if name.is_empty()
                        || name.len() > 64
                        || !name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                    {
                        return Err(Error::invalid(
                            field(),
                            "a key's name has 1 to 64 letters, digits, '_', '-' or '.'",
                        ));
                    }
                    name.to_owned()
                }
                None => format!("key-{}", hex8(&digest)),
            };
            if !names.insert(name.clone()) {
                return Err(Error::invalid(field(), format!("the name {name} again")));
            }
            if by_digest.insert(digest, name).is_some() {
                return Err(Error::invalid(field(), "the same key again"));
            }
        }
        if by_digest.is_empty() {
            return Err(Error::invalid("--api-key-file", "no key in the file"));
        }
        Ok(Self { by_digest })
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether there is none (never, for parsed keys).
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }

    /// The name of `key`, when it is one of them.
    pub(crate) fn name_of(&self, key: &str) -> Option<&str> {
        self.by_digest.get(&digest(key)).map(String::as_str)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.by_digest.values().map(String::as_str)
    }
}

fn hex8(digest: &[u8; 32]) -> String {
    digest[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// A rate limit per API key: `per_second` requests on average, with bursts of up to `burst` (a token bucket
/// of `burst` tokens refilled at `per_second`). A JSON-RPC batch is one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Requests per second, on average.
    pub per_second: f64,
    /// Most requests at once (the bucket's size, at least 1).
    pub burst: u32,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A token bucket per key name.
#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    buckets: HashMap<String, Mutex<Bucket>>,
}

impl Limiter {
    pub(crate) fn new(limit: RateLimit, keys: &ApiKeys) -> Self {
        let now = Instant::now();
        let buckets = keys
            .names()
            .map(|name| {
                let bucket = Bucket {
                    tokens: f64::from(limit.burst.max(1)),
                    last: now,
                };
                (name.to_owned(), Mutex::new(bucket))
            })
            .collect();
        Self { limit, buckets }
    }

    /// Takes a token of `name`'s bucket: `Ok`, or `Err(seconds)` to wait for the next one (at least 1, for
    /// `retry-after`).
    pub(crate) fn take(&self, name: &str, now: Instant) -> Result<(), u64> {
        let Some(bucket) = self.buckets.get(name) else {
            return Ok(());
        };
        let mut bucket = bucket
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let size = f64::from(self.limit.burst.max(1));
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.limit.per_second).min(size);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) / self.limit.per_second;
            Err(Duration::from_secs_f64(wait.min(86_400.0)).as_secs() + 1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files() {
        let keys = ApiKeys::parse(
            "# operators\nalice:0123456789abcdef0123\n\n  fedcba9876543210fedc  \nbob : bob-key-0123456789\n",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(keys.len(), 3);
        assert_eq!(keys.name_of("0123456789abcdef0123"), Some("alice"));
        assert_eq!(keys.name_of("bob-key-0123456789"), Some("bob"));
        let unnamed = keys.name_of("fedcba9876543210fedc").unwrap_or_default();
        assert!(
            unnamed.starts_with("key-") && unnamed.len() == 12,
            "{unnamed}"
        );
        assert_eq!(keys.name_of("alice"), None);
        let debug = format!("{keys:?}");
        assert!(
            debug.contains("alice") && !debug.contains("0123456789abcdef"),
            "{debug}"
        );
        for bad in [
            "",
            "# only a comment",
            "short",
            "a:0123456789abcdef0123\na:1123456789abcdef0123",
            "0123456789abcdef0123\n0123456789abcdef0123",
            "bad name:0123456789abcdef0123",
            "x:0123456789 abcdef0123",
        ] {
            assert!(ApiKeys::parse(bad).is_err(), "{bad:?}");
        }
        // The error names the line, not the key.
        let error = ApiKeys::parse("ok:0123456789abcdef0123\nx:secret").map(|_| ());
        let text = crate::error::error_text(error);
        assert!(
            text.contains("line 2") && !text.contains("secret"),
            "{text}"
        );
    }

    #[test]
    fn token_buckets() {
        let keys = ApiKeys::parse("a:0123456789abcdef0123\nb:1123456789abcdef0123")
            .unwrap_or_else(|e| unreachable!("{e}"));
        let limiter = Limiter::new(
            RateLimit {
                per_second: 2.0,
                burst: 3,
            },
            &keys,
        );
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(limiter.take("a", t0), Ok(()));
        }
        assert_eq!(limiter.take("a", t0), Err(1));
        // Another key has its own bucket.
        assert_eq!(limiter.take("b", t0), Ok(()));
        // Half a second later, one token is back (2 per second).
        let later = t0 + Duration::from_millis(500);
        assert_eq!(limiter.take("a", later), Ok(()));
        assert_eq!(limiter.take("a", later), Err(1));
        // Never more than the burst.
        let much_later = t0 + Duration::from_secs(3600);
        for _ in 0..3 {
            assert_eq!(limiter.take("a", much_later), Ok(()));
        }
        assert!(limiter.take("a", much_later).is_err());
    }
}
