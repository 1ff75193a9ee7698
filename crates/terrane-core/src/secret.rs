use std::fmt;

use sha2::{Digest, Sha256};

/// A sensitive string. Its `Debug` and `Display` never show the value; code that must hand
/// it to AWS calls [`SecretString::expose`], which is easy to find in review.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(s: impl Into<String>) -> Self {
        SecretString(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(***)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("(sensitive)")
    }
}

/// Turns a secret into a salted digest, so state can tell that a secret changed without
/// holding it. The salt is per stack and lives in the state store.
#[derive(Clone)]
pub struct SecretHasher {
    salt: String,
}

impl SecretHasher {
    pub fn new(salt: impl Into<String>) -> Self {
        SecretHasher { salt: salt.into() }
    }

    pub fn digest(&self, secret: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.salt.as_bytes());
        h.update([0u8]);
        h.update(secret.as_bytes());
        format!("sha256:{}", hex::encode(h.finalize()))
    }
}
