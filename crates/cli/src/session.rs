//! `keyscope session`: new keys, grants, status, revocations.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256};
use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use keyscope::permissions::{CompiledSession, SessionSpec, SummaryOptions};
use keyscope::signer::{keystore, Kdf, SessionKey};
use keyscope::{Account, Client, SessionStatus};
use serde_json::json;

use crate::keys::{read_text, OwnerKeyArgs, PasswordArgs};
use crate::node::{Node, NodeArgs};
use crate::output::{self, outcome_json, outcome_text};
use crate::Global;

/// `keyscope session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Generate a session key and write it to an encrypted keystore (Web3 Secret Storage v3). The password comes
    /// from --password-file or KEYSCOPE_PASSWORD and is never printed.
    New(NewArgs),
    /// Grant a session on an account: the permissions file (JSON) is checked and compiled, then the owner signs a
    /// user operation calling SessionKeyValidator.grantSession.
    Grant(GrantArgs),
    /// Show a session's status on an account (active, revoked, or unknown).
    Show(ShowArgs),
    /// Revoke one session for good, or every session of the account (--all: a new epoch).
    Revoke(RevokeArgs),
}

/// Key-derivation cost of a new keystore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KdfChoice {
    /// scrypt N = 2^18 (geth's standard: about 256 MiB and a second).
    Standard,
    /// scrypt N = 2^12 (geth's light: fast, for tests and throwaway keys).
    Light,
}

/// `session new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// Where to write the keystore. Default: session-ADDRESS.json in the current directory.
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Replace the file if it exists.
    #[arg(long)]
    force: bool,
    /// Key-derivation cost.
    #[arg(long, value_enum, default_value = "standard")]
    kdf: KdfChoice,
    /// Password source.
    #[command(flatten)]
    password: PasswordArgs,
}

/// The account an owner command works on.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// The smart account (a KeyscopeAccount; its EntryPoint version is read from it).
    #[arg(long, value_name = "ADDRESS")]
    pub account: Address,
    /// The node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// `session grant`.
#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The session as JSON (keyscope-permissions format: signer, valid_after, valid_until, paymaster, salt,
    /// permissions).
    #[arg(long, short, value_name = "FILE")]
    permissions: PathBuf,
    /// The account.
    #[command(flatten)]
    account: AccountArgs,
    /// The owner's key.
    #[command(flatten)]
    owner: OwnerKeyArgs,
}

/// Which session: by id or by its permissions file.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct SessionRef {
    /// The session id (0x + 64 hex digits).
    #[arg(long, value_name = "ID")]
    session_id: Option<B256>,
    /// The session's JSON file (its id is computed from it).
    #[arg(long, short, value_name = "FILE")]
    permissions: Option<PathBuf>,
}

impl SessionRef {
    fn resolve(&self) -> Result<(B256, Option<SessionSpec>)> {
        match (&self.session_id, &self.permissions) {
            (Some(id), _) => Ok((*id, None)),
            (None, Some(path)) => {
                let (spec, compiled) = load_session(path)?;
                Ok((compiled.session_id(), Some(spec)))
            }
            (None, None) => bail!("--session-id or --permissions is needed"),
        }
    }
}

/// `session show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Which session.
    #[command(flatten)]
    session: SessionRef,
    /// The account.
    #[command(flatten)]
    account: AccountArgs,
}

/// Which sessions to revoke.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct RevokeWhich {
    /// The session id (0x + 64 hex digits).
    #[arg(long, value_name = "ID")]
    session_id: Option<B256>,
    /// The session's JSON file (its id is computed from it).
    #[arg(long, short, value_name = "FILE")]
    permissions: Option<PathBuf>,
    /// Every session of the account (revokeAllSessions: starts a new epoch).
    #[arg(long)]
    all: bool,
}

/// `session revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// Which sessions.
    #[command(flatten)]
    which: RevokeWhich,
    /// The account.
    #[command(flatten)]
    account: AccountArgs,
    /// The owner's key.
    #[command(flatten)]
    owner: OwnerKeyArgs,
}

/// Reads and compiles a session JSON file; errors name the file and the offending field.
pub fn load_session(path: &Path) -> Result<(SessionSpec, CompiledSession)> {
    let text = read_text(path, "permissions file")?;
    let spec = SessionSpec::from_json(&text).with_context(|| path.display().to_string())?;
    let compiled = spec.compile().with_context(|| path.display().to_string())?;
    Ok((spec, compiled))
}

/// Connects, finds the stack and reads the account.
pub async fn connect(args: &AccountArgs) -> Result<(Node, Client, Account)> {
    let node = Node::connect(&args.node).await?;
    let client = node.client().await?;
    let account = node.account(&client, args.account).await?;
    Ok((node, client, account))
}

fn status_name(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Active => "active",
        SessionStatus::Revoked => "revoked",
        SessionStatus::Unknown => "unknown",
    }
}

/// `keyscope session …`.
pub async fn run(command: SessionCommand, global: Global) -> Result<()> {
    match command {
        SessionCommand::New(args) => new(args, global),
        SessionCommand::Grant(args) => grant(args, global).await,
        SessionCommand::Show(args) => show(args, global).await,
        SessionCommand::Revoke(args) => revoke(args, global).await,
    }
}

fn new(args: NewArgs, global: Global) -> Result<()> {
    let password = args.password.password()?;
    let key = SessionKey::generate();
    let path = args
        .out
        .unwrap_or_else(|| PathBuf::from(format!("session-{}.json", key.address())));
    let kdf = match args.kdf {
        KdfChoice::Standard => Kdf::STANDARD,
        KdfChoice::Light => Kdf::LIGHT,
    };
    // Open first: an existing file is refused before the (slow) key derivation.
    let mut file = open_private(&path, args.force)?;
    let written = keystore::encrypt(&key, &password, kdf)
        .map_err(anyhow::Error::from)
        .and_then(|json| {
            file.write_all(json.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
        });
    if let Err(error) = written {
        drop(file);
        let _ = std::fs::remove_file(&path);
        return Err(error);
    }
    if global.json {
        output::print_json(&json!({"address": key.address(), "keystore": path}))
    } else {
        println!(
            "session key {} written to {} (encrypted keystore)",
            key.address(),
            path.display()
        );
        Ok(())
    }
}

/// Opens a file for writing, readable by its owner only; refuses to replace one unless `force`.
fn open_private(path: &Path, force: bool) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    options.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            anyhow!("{} exists (pass --force to replace it)", path.display())
        } else {
            anyhow!("cannot write {}: {e}", path.display())
        }
    })
}

async fn grant(args: GrantArgs, global: Global) -> Result<()> {
    let (spec, compiled) = load_session(&args.permissions)?;
    let owner = args.owner.key()?;
    let (_, client, account) = connect(&args.account).await?;
    let outcome = client
        .grant_session(&account, &owner, &compiled.session)
        .await
        .context("grant failed")?;
    let warnings: Vec<String> = compiled.warnings.iter().map(ToString::to_string).collect();
    if global.json {
        output::print_json(&json!({
            "account": account.address,
            "session_id": compiled.session_id(),
            "signer": spec.signer,
            "permissions_root": compiled.session.permissionsRoot,
            "warnings": warnings,
            "op": outcome_json(&outcome),
        }))
    } else {
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
        println!(
            "granted session {} on account {}",
            compiled.session_id(),
            account.address
        );
        println!("{}", spec.summary(&SummaryOptions::default())?.trim_end());
        println!("{}", outcome_text(&outcome));
        Ok(())
    }
}

async fn show(args: ShowArgs, global: Global) -> Result<()> {
    let (session_id, spec) = args.session.resolve()?;
    let (_, client, account) = connect(&args.account).await?;
    let status = client.session_status(&account, session_id).await?;
    if global.json {
        output::print_json(&json!({
            "account": account.address,
            "session_id": session_id,
            "status": status_name(status),
        }))
    } else {
        println!(
            "session {session_id} on account {}: {}",
            account.address,
            status_name(status)
        );
        if let Some(spec) = spec {
            println!("{}", spec.summary(&SummaryOptions::default())?.trim_end());
        }
        Ok(())
    }
}

async fn revoke(args: RevokeArgs, global: Global) -> Result<()> {
    let which = &args.which;
    let session_id = match (&which.session_id, &which.permissions, which.all) {
        (_, _, true) => None,
        (Some(id), _, _) => Some(*id),
        (None, Some(path), _) => Some(load_session(path)?.1.session_id()),
        (None, None, false) => bail!("--session-id, --permissions or --all is needed"),
    };
    let owner = args.owner.key()?;
    let (_, client, account) = connect(&args.account).await?;
    let outcome = match session_id {
        Some(id) => client.revoke_session(&account, &owner, id).await,
        None => client.revoke_all_sessions(&account, &owner).await,
    }
    .context("revocation failed")?;
    if global.json {
        output::print_json(&json!({
            "account": account.address,
            "revoked": session_id.map_or_else(|| json!("all"), |id| json!(id)),
            "op": outcome_json(&outcome),
        }))
    } else {
        match session_id {
            Some(id) => println!("revoked session {id} on account {}", account.address),
            None => println!(
                "revoked every session of account {} (new epoch)",
                account.address
            ),
        }
        println!("{}", outcome_text(&outcome));
        Ok(())
    }
}
