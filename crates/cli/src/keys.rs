//! Keys and passwords: keystore passwords from a file or the environment, owner keys from a keystore, a hex file or
//! the environment, session keys from keystores. Nothing secret is ever printed.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::Args;
use keyscope::signer::{keystore, SessionKey, SessionSigner};

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

/// A session signer file of any kind: a keystore of a secp256k1 key (or its hex private key), of a P-256 key or of
/// a passkey, or a multisig file naming its members' keystores (all decrypted with the same password).
pub fn signer_file(path: &Path, password: &PasswordArgs) -> Result<SessionSigner> {
    let text = read_text(path, "session key file")?;
    if !text.trim_start().starts_with('{') {
        return key_file(path, password).map(SessionSigner::from);
    }
    keystore::read_signer_file(path, &password.password()?)
        .with_context(|| format!("session key file {}", path.display()))
}

/// Reads a text file, naming it in the error.
pub fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| anyhow!("cannot read {what} {}: {e}", path.display()))
}

/// `keyscope key …`.
#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Generate a private key for an account owner (or any signer) and write it to an encrypted keystore (Web3
    /// Secret Storage v3; the password from --password-file or KEYSCOPE_PASSWORD), or with --hex to a plain hex
    /// file; readable by its owner only. Prints the address (for `account create --owner`); the key is never
    /// printed. `--owner-key-file FILE` reads either form.
    New(KeyNewArgs),
}

/// `key new`.
#[derive(Debug, Args)]
pub struct KeyNewArgs {
    /// Where to write the key. Default: key-ADDRESS.json (key-ADDRESS.hex with --hex) in the current directory.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
    /// Write the private key as hex, unencrypted (for tests and throwaway keys).
    #[arg(long)]
    hex: bool,
    /// Key-derivation cost of the keystore.
    #[arg(long, value_enum, default_value = "standard")]
    kdf: crate::session::KdfChoice,
    /// Password source of the keystore.
    #[command(flatten)]
    password: PasswordArgs,
}

/// `keyscope key …`.
pub fn run(command: KeyCommand, global: crate::Global) -> Result<()> {
    use std::io::Write as _;
    let KeyCommand::New(args) = command;
    let key = SessionKey::generate();
    let extension = if args.hex { "hex" } else { "json" };
    let path = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("key-{}.{extension}", key.address())));
    let text = if args.hex {
        format!(
            "0x{}\n",
            keyscope::alloy::primitives::hex::encode(*key.secret_bytes())
        )
    } else {
        let kdf = match args.kdf {
            crate::session::KdfChoice::Standard => keyscope::signer::Kdf::STANDARD,
            crate::session::KdfChoice::Light => keyscope::signer::Kdf::LIGHT,
        };
        keystore::encrypt(&key, &args.password.password()?, kdf)?
    };
    let mut file = crate::session::open_private(&path, args.force)?;
    if let Err(error) = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
    {
        drop(file);
        let _ = std::fs::remove_file(&path);
        bail!("cannot write {}: {error}", path.display());
    }
    if global.json {
        crate::output::print_json(&serde_json::json!({
            "address": key.address(),
            "file": path,
            "encrypted": !args.hex,
        }))
    } else {
        println!(
            "key {} written to {} ({})",
            key.address(),
            path.display(),
            if args.hex {
                "hex, unencrypted"
            } else {
                "encrypted keystore"
            }
        );
        println!(
            "create its account: keyscope account create --owner {}",
            key.address()
        );
        Ok(())
    }
}
