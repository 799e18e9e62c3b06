//! Keys and passwords: keystore passwords from a file or the environment, owner keys from a keystore, a hex file or
//! the environment, session keys from keystores. Nothing secret is ever printed.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use keyscope::signer::{keystore, SessionKey};

/// Environment variable holding the keystore password.
pub const PASSWORD_ENV: &str = "KEYSCOPE_PASSWORD";
/// Environment variable holding the owner's private key (hex).
pub const OWNER_KEY_ENV: &str = "KEYSCOPE_OWNER_KEY";

/// Where the keystore password comes from.
#[derive(Debug, Clone, Args)]
pub struct PasswordArgs {
    /// File holding the keystore password (its first line). Default: the KEYSCOPE_PASSWORD environment
    /// variable.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

impl PasswordArgs {
    /// The password: the file's first line, else `$KEYSCOPE_PASSWORD`; never empty.
    pub fn password(&self) -> Result<String> {
        let password = match &self.password_file {
            Some(path) => {
                let text = read_text(path, "password file")?;
                text.lines().next().unwrap_or_default().to_owned()
            }
            None => std::env::var(PASSWORD_ENV).map_err(|_| {
                anyhow!("a keystore password is needed: --password-file FILE or {PASSWORD_ENV}")
            })?,
        };
        if password.is_empty() {
            bail!("the keystore password is empty");
        }
        Ok(password)
    }
}

/// Where the account owner's key comes from.
#[derive(Debug, Clone, Args)]
pub struct OwnerKeyArgs {
    /// The account owner's key: a Web3 Secret Storage keystore (decrypted with --password-file or
    /// KEYSCOPE_PASSWORD) or a file holding the private key in hex. Default: the KEYSCOPE_OWNER_KEY environment
    /// variable (hex).
    #[arg(long, value_name = "FILE")]
    pub owner_key_file: Option<PathBuf>,
    /// Password of an owner keystore.
    #[command(flatten)]
    pub password: PasswordArgs,
}

impl OwnerKeyArgs {
    /// The owner's key.
    pub fn key(&self) -> Result<SessionKey> {
        match &self.owner_key_file {
            Some(path) => key_file(path, &self.password),
            None => {
                let hex = std::env::var(OWNER_KEY_ENV).map_err(|_| {
                    anyhow!("the owner's key is needed: --owner-key-file FILE or {OWNER_KEY_ENV}")
                })?;
                SessionKey::from_hex(&hex).map_err(|_| {
                    anyhow!("{OWNER_KEY_ENV} is not a valid secp256k1 private key (64 hex digits)")
                })
            }
        }
    }
}

/// A key file: a keystore (JSON) or a hex private key.
pub fn key_file(path: &Path, password: &PasswordArgs) -> Result<SessionKey> {
    let text = read_text(path, "key file")?;
    if text.trim_start().starts_with('{') {
        keystore::decrypt(&text, &password.password()?)
            .with_context(|| format!("keystore {}", path.display()))
    } else {
        SessionKey::from_hex(text.trim()).map_err(|_| {
            anyhow!(
                "{}: neither a keystore nor a hex private key (64 hex digits)",
                path.display()
            )
        })
    }
}

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read {what} {}: {e}", path.display()))
}
