//! `keyscope session`: new keys, grants, status, revocations.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use alloy::primitives::{Address, B256, U256};
use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use keyscope::fees::ether;
use keyscope::permissions::{
    values, CompiledSession, FeeBound, FeeScopeSpec, PaymasterSpec, PermissionSpec, SessionSpec,
    SummaryOptions, Target, Warning,
};
use keyscope::signer::keystore::{self, MemberFile};
use keyscope::signer::{
    Kdf, P256Key, SessionKey, SessionSigner, SignerKey, SignerKind, WebAuthnAuthenticator,
};
use keyscope::status::Status;
use keyscope::{
    Account, Client, Error, FeeUsage, PeriodAllowance, SessionReport, SessionStatus, Window,
};
use serde_json::{json, Value};

use crate::account::parse_address;
use crate::keys::{read_text, signer_file, OwnerKeyArgs, PasswordArgs};
use crate::node::{Node, NodeArgs, RpcArgs};
use crate::output::{self, outcome_json, outcome_text, short};
use crate::Global;

/// `keyscope session …`.
#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// Generate a session key and write it to an encrypted keystore (Web3 Secret Storage v3), with a session draft
    /// for it: the permissions file to complete (signer, window, paymaster policy none, and the fee scope: 0.01
    /// ether per operation and 0.1 ether in all unless --fee-per-op, --fee-budget or --unlimited-fees say
    /// otherwise). The password comes from --password-file or KEYSCOPE_PASSWORD and is never printed. --kind
    /// chooses the signer: a secp256k1 key (the default), a P-256 key, a passkey (WebAuthn P-256), or a k-of-n
    /// multisig of existing session key files (--member, --threshold: no new secret, no password).
    New(NewArgs),
    /// Grant a session on an account: the permissions file (JSON) is checked and compiled, then the owner signs a
    /// user operation calling SessionKeyValidator.grantSession. A session whose window has ended (at the chain's
    /// time) is refused unless --force, one ending within 10 minutes is warned about, and a session revoked in
    /// the account's current epoch is refused before anything is sent (a new salt makes a new session).
    Grant(GrantArgs),
    /// Show a session's status on an account: active, pending (its window has not started), expired, revoked,
    /// void (granted or revoked before the account's last revoke --all) or unknown (never granted), with its
    /// counters: fees charged (and left, with --permissions), uses of each permission, native value spent, and what
    /// each periodic allowance leaves in the current period.
    /// Needs no key.
    Show(ShowArgs),
    /// Revoke one session for good, one permission of it (--permission or --leaf: the others keep working), or
    /// every session of the account (--all: a new epoch), by owner operation. With --session-key-file the session
    /// key revokes its own session instead (its kill switch, a session operation: no owner key). A session
    /// already revoked is refused before anything is sent.
    Revoke(RevokeArgs),
    /// Sign once, as the owner, the enable of a session on several chains (multichain enable, signature mode 2):
    /// the owner signs EIP-712 EnableSessions(chainsRoot) over a tree of (chain id, account, epoch, session) entries,
    /// one per --chain, and the signed enable (root, owner signature, every chain's proof) is written to --out as
    /// JSON. Nothing is sent: the first `op send --multichain-enable FILE` on each chain enables the session there.
    /// Needs the reference account (whose ERC-1271 checks the digest as given) and the account's current epoch on
    /// each chain (read from the node for its own chain).
    EnableMultichain(EnableMultichainArgs),
}

/// Key-derivation cost of a new keystore.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KdfChoice {
    /// scrypt N = 2^18 (geth's standard: about 256 MiB and a second).
    Standard,
    /// scrypt N = 2^12 (geth's light: fast, for tests and throwaway keys).
    Light,
}

/// The kind of a new session signer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SignerKindChoice {
    /// A secp256k1 key (an Ethereum key; its keystore is a plain Web3 Secret Storage file).
    Secp256k1,
    /// A raw P-256 (secp256r1) key.
    P256,
    /// A WebAuthn P-256 credential (a passkey; here a software authenticator for --rp-id at --origin).
    Webauthn,
    /// A k-of-n weighted multisig of existing session key files (`--member FILE[:WEIGHT]` …, --threshold).
    Multisig,
}

/// `session new`.
#[derive(Debug, Args)]
pub struct NewArgs {
    /// The session signer's kind.
    #[arg(long, value_enum, default_value = "secp256k1")]
    kind: SignerKindChoice,
    /// A passkey's relying party id (--kind webauthn).
    #[arg(long, default_value = keyscope::signer::signers::DEFAULT_RP_ID, value_name = "ID")]
    rp_id: String,
    /// The origin a passkey's assertions name (--kind webauthn). Default: https:// and the relying party id.
    #[arg(long, value_name = "ORIGIN")]
    origin: Option<String>,
    /// A multisig member (--kind multisig): a session key file of another kind (a keystore of a secp256k1 key,
    /// a P-256 key or a passkey, which must state its public side), with its weight after a colon (default 1).
    /// Repeat for each member (1 to 16).
    #[arg(long = "member", value_name = "FILE[:WEIGHT]", value_parser = parse_member)]
    members: Vec<MemberFile>,
    /// The weight a multisig's signers must reach (--kind multisig). Default: every member's (n of n).
    #[arg(long, value_name = "WEIGHT")]
    threshold: Option<u16>,
    /// Where to write the keystore (the multisig file). Default: session-ADDRESS.json in the current directory.
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
    /// Where to write the session draft (the permissions file of the key, with an empty permission list to fill
    /// in before `session grant`). Default: the keystore's path with .permissions.json instead of .json.
    #[arg(long, value_name = "FILE")]
    permissions_out: Option<PathBuf>,
    /// How long the session lasts from now: "90m", "1d", "2w", or seconds.
    #[arg(long, default_value = "1d", value_parser = values::parse_duration, value_name = "DURATION")]
    valid_for: u64,
    /// Who may pay for the session's operations: none (self-paid only, the default), any, required (some
    /// paymaster must), or one paymaster's address.
    #[arg(long, default_value = "none", value_parser = parse_paymaster, value_name = "POLICY")]
    paymaster: PaymasterSpec,
    /// The fee scope.
    #[command(flatten)]
    fees: FeeArgs,
}

/// What a session's operations may cost. Each operation counts at its maximum: its gas limits × maxFeePerGas,
/// whoever pays.
#[derive(Debug, Clone, Args)]
pub struct FeeArgs {
    /// Most one operation may cost: "0.005 ether", "2000000 gwei", wei, or "unlimited". Default: 0.01 ether.
    #[arg(long, value_parser = parse_fee_bound, value_name = "AMOUNT", conflicts_with = "unlimited_fees")]
    fee_per_op: Option<FeeBound>,
    /// Most all the session's operations may cost together: "0.05 ether", wei, or "unlimited". Default: 0.1 ether.
    #[arg(long, value_parser = parse_fee_bound, value_name = "AMOUNT", conflicts_with = "unlimited_fees")]
    fee_budget: Option<FeeBound>,
    /// No fee bound at all: a leaked session key could then make the account pay any amount in gas fees (its
    /// whole balance and EntryPoint deposit). Only with this explicit flag, and with a warning.
    #[arg(long)]
    unlimited_fees: bool,
}

impl FeeArgs {
    /// The fee scope the flags ask for.
    pub fn scope(&self) -> FeeScopeSpec {
        if self.unlimited_fees {
            return FeeScopeSpec::UNLIMITED;
        }
        let default = FeeScopeSpec::default();
        FeeScopeSpec {
            per_operation: self.fee_per_op.unwrap_or(default.per_operation),
            budget: self.fee_budget.unwrap_or(default.budget),
        }
    }
}

/// Parses a fee bound: a native amount below 2^128 − 1 wei, or "unlimited".
pub fn parse_fee_bound(text: &str) -> Result<FeeBound, String> {
    if text.trim().eq_ignore_ascii_case("unlimited") {
        return Ok(FeeBound::Unlimited);
    }
    let wei = crate::account::parse_amount(text)?;
    match u128::try_from(wei) {
        Ok(wei) if wei != keyscope::permissions::UNLIMITED_FEE => Ok(FeeBound::Wei(wei)),
        _ => Err(
            "above the largest fee bound (2^128 - 2 wei): write \"unlimited\" for no bound".into(),
        ),
    }
}

/// Parses a paymaster policy: `none`, `any`, `required`, or an address (exactly that paymaster).
pub fn parse_paymaster(text: &str) -> Result<PaymasterSpec, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "none" => Ok(PaymasterSpec::None),
        "any" => Ok(PaymasterSpec::Any),
        "required" => Ok(PaymasterSpec::Required),
        _ => match keyscope::permissions::values::parse_address(text.trim()) {
            Ok(address) => Ok(PaymasterSpec::Exactly(address)),
            Err(Some(expected)) => Err(format!("wrong EIP-55 checksum (expected {expected})")),
            Err(None) => Err("expected none, any, required, or a paymaster's address".to_owned()),
        },
    }
}

/// What `keyscope-permissions` warns about a fee scope (unlimited bounds, a bound over the budget …). The scope
/// is checked on its own, with a stand-in permission: the draft's permissions are still to be written.
pub fn fee_warnings(spec: &SessionSpec) -> Vec<Warning> {
    let mut probe = spec.clone();
    probe.permissions = vec![PermissionSpec::native_transfer(Target::Any, U256::ZERO)];
    probe.valid_after = 0;
    probe.valid_until = probe.valid_until.max(1);
    probe.compile().map_or_else(
        |_| vec![],
        |compiled| {
            compiled
                .warnings
                .into_iter()
                .filter(|w| w.path == "fees" || w.path.starts_with("fees."))
                .collect()
        },
    )
}

/// A fee scope in one line: `at most 0.01 ether per operation, 0.1 ether in all`.
pub fn fee_scope_text(scope: &FeeScopeSpec) -> String {
    let bound = |bound: FeeBound| match bound {
        FeeBound::Wei(wei) => format!("at most {}", ether(U256::from(wei))),
        FeeBound::Unlimited => "NO LIMIT".to_owned(),
    };
    format!(
        "{} per operation, {} in all",
        bound(scope.per_operation),
        bound(scope.budget)
    )
}

/// A fee usage as JSON: wei as decimal strings, and the bounds in the permissions format.
pub fn fee_usage_json(usage: &FeeUsage) -> Value {
    json!({
        "per_operation": usage.scope.per_operation.to_string(),
        "budget": usage.scope.budget.to_string(),
        "charged": usage.charged.to_string(),
        "left": usage.left().map(|left| left.to_string()),
        "text": usage.to_string(),
    })
}

/// The account an owner command works on.
#[derive(Debug, Args)]
pub struct AccountArgs {
    /// The smart account (a KeyscopeAccount; its EntryPoint version is read from it).
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub account: Address,
    /// The node.
    #[command(flatten)]
    pub node: NodeArgs,
}

/// The account a read-only command looks at.
#[derive(Debug, Args)]
pub struct ReadAccountArgs {
    /// The smart account (a KeyscopeAccount; its EntryPoint version is read from it).
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    pub account: Address,
    /// The node.
    #[command(flatten)]
    pub node: RpcArgs,
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
    /// Grant even a session whose window has already ended (it can never be used).
    #[arg(long)]
    force: bool,
}

/// `session enable-multichain`.
#[derive(Debug, Args)]
pub struct EnableMultichainArgs {
    /// The session as JSON (as for `session grant`).
    #[arg(long, short, value_name = "FILE")]
    permissions: PathBuf,
    /// A chain and account to enable the session on (repeat for each): CHAIN_ID:ACCOUNT, or
    /// CHAIN_ID:ACCOUNT:EPOCH. The epoch (the account's epochOf there) is read from the node on the node's own
    /// chain, and must be given for the others (0 for an account that never revoked all its sessions).
    #[arg(long = "chain", value_name = "CHAIN_ID:ACCOUNT[:EPOCH]", value_parser = parse_chain_target, required = true)]
    chains: Vec<ChainTarget>,
    /// Where the signed enable goes (JSON).
    #[arg(long, short, value_name = "FILE")]
    out: PathBuf,
    /// Replace an existing --out file.
    #[arg(long)]
    force: bool,
    /// The owner's key.
    #[command(flatten)]
    owner: OwnerKeyArgs,
    /// The node (it says which validator signs, and the epochs on its chain).
    #[command(flatten)]
    node: RpcArgs,
}

/// One `--chain` of `session enable-multichain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainTarget {
    chain_id: u64,
    account: Address,
    epoch: Option<u64>,
}

/// `CHAIN_ID:ACCOUNT[:EPOCH]`.
fn parse_chain_target(text: &str) -> Result<ChainTarget> {
    let parts: Vec<&str> = text.split(':').collect();
    let (chain, account, epoch) = match parts[..] {
        [chain, account] => (chain, account, None),
        [chain, account, epoch] => (chain, account, Some(epoch)),
        _ => bail!("expected CHAIN_ID:ACCOUNT or CHAIN_ID:ACCOUNT:EPOCH, got {text:?}"),
    };
    let chain_id = chain
        .trim()
        .parse()
        .map_err(|_| anyhow!("chain id {chain:?} is not a number"))?;
    let account = parse_address(account.trim()).map_err(|e| anyhow!("{e}"))?;
    let epoch = epoch
        .map(|e| {
            e.trim()
                .parse()
                .map_err(|_| anyhow!("epoch {e:?} is not a number"))
        })
        .transpose()?;
    Ok(ChainTarget {
        chain_id,
        account,
        epoch,
    })
}

/// How close to its end a granted session gets a warning.
const ENDING_SOON: u64 = 600;

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
    account: ReadAccountArgs,
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
    /// Revoke only this permission of the session, by its index in the --permissions file: the session's other
    /// permissions keep working.
    #[arg(long, value_name = "INDEX", requires = "permissions", conflicts_with_all = ["leaf", "session_key_file"])]
    permission: Option<usize>,
    /// Revoke only the permission with this Merkle leaf (0x + 64 hex digits), of the session --session-id or
    /// --permissions names.
    #[arg(long, value_name = "LEAF", conflicts_with_all = ["all", "session_key_file"])]
    leaf: Option<B256>,
    /// The session key revokes its own session (the session of --permissions), in a session operation: its
    /// kill switch, which needs no owner key (a keystore is decrypted with --password-file or KEYSCOPE_PASSWORD).
    #[arg(
        long,
        value_name = "FILE",
        requires = "permissions",
        conflicts_with = "owner_key_file"
    )]
    session_key_file: Option<PathBuf>,
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

/// What the validator's `sessionStatus` answers, by name.
fn validator_status_name(status: SessionStatus) -> &'static str {
    match status {
        SessionStatus::Active => "active",
        SessionStatus::Revoked => "revoked",
        SessionStatus::Unknown => "unknown",
    }
}

/// An owner operation's error; an `AA24` (the account's owner validator refused the signature) says that the key
/// is not the account's owner.
fn owner_op_error(
    error: Error,
    owner: &SessionKey,
    account: &Account,
    what: &str,
) -> anyhow::Error {
    if error.aa_code() == Some("AA24") {
        anyhow!(
            "the owner key {} is not the owner of account {} (the account refused its signature: {})",
            owner.address(),
            account.address,
            short(&error)
        )
        .context(format!("{what}, nothing was sent"))
    } else {
        anyhow::Error::from(error).context(what.to_owned())
    }
}

/// The latest block's time.
async fn chain_time(client: &Client) -> Result<u64> {
    use alloy::providers::Provider as _;
    Ok(client
        .provider()
        .get_block_by_number(Default::default())
        .await?
        .map(|block| block.header.timestamp)
        .unwrap_or_default())
}

/// `keyscope session …`.
pub async fn run(command: SessionCommand, global: Global) -> Result<()> {
    match command {
        SessionCommand::New(args) => new(args, global),
        SessionCommand::Grant(args) => grant(args, global).await,
        SessionCommand::Show(args) => show(args, global).await,
        SessionCommand::Revoke(args) => revoke(args, global).await,
        SessionCommand::EnableMultichain(args) => enable_multichain(args, global).await,
    }
}

/// Where the session draft of a keystore goes by default: `key.json` → `key.permissions.json`.
fn draft_path(keystore: &Path) -> PathBuf {
    let stem = keystore
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "session".into());
    keystore.with_file_name(format!("{stem}.permissions.json"))
}

/// Parses `FILE[:WEIGHT]`.
fn parse_member(text: &str) -> Result<MemberFile, String> {
    if let Some(path) = text.strip_suffix(':') {
        return Err(format!(
            "{path}: no weight after the colon (FILE or FILE:WEIGHT)"
        ));
    }
    let (path, weight) = match text.rsplit_once(':') {
        Some((path, weight)) if !path.is_empty() && weight.chars().all(|c| c.is_ascii_digit()) => {
            let weight = weight
                .parse::<u16>()
                .map_err(|_| format!("weight {weight:?}: expected 1 to 65535"))?;
            (path, weight)
        }
        _ => (text, 1),
    };
    if weight == 0 {
        return Err("a member's weight must be above zero".into());
    }
    Ok(MemberFile {
        weight,
        keystore: PathBuf::from(path),
    })
}

/// A new session signer, before anything is written: a secret to encrypt, or a multisig file naming the
/// (canonical) paths of its members' files.
enum NewSigner {
    Secret(SessionSigner),
    Multisig {
        json: String,
        key: SignerKey,
        members: Vec<PathBuf>,
    },
}

impl NewSigner {
    fn key(&self) -> SignerKey {
        match self {
            Self::Secret(signer) => signer.key(),
            Self::Multisig { key, .. } => key.clone(),
        }
    }
}

fn new_signer(args: &NewArgs, out: Option<&Path>) -> Result<NewSigner> {
    if args.kind != SignerKindChoice::Multisig
        && (!args.members.is_empty() || args.threshold.is_some())
    {
        bail!("--member and --threshold are for --kind multisig");
    }
    if args.kind != SignerKindChoice::Webauthn && args.origin.is_some() {
        bail!("--origin is for --kind webauthn");
    }
    Ok(NewSigner::Secret(match args.kind {
        SignerKindChoice::Secp256k1 => SessionSigner::from(SessionKey::generate()),
        SignerKindChoice::P256 => SessionSigner::from(P256Key::generate()),
        SignerKindChoice::Webauthn => {
            let origin = args
                .origin
                .clone()
                .unwrap_or_else(|| format!("https://{}", args.rp_id));
            SessionSigner::from(WebAuthnAuthenticator::new(
                P256Key::generate(),
                args.rp_id.clone(),
                origin,
            ))
        }
        SignerKindChoice::Multisig => return new_multisig(args, out),
    }))
}

/// A multisig file naming `args.members`, their paths relative to the directory of `out` (the file's own path,
/// else the current directory) where they can be, after checking every member's public side.
fn new_multisig(args: &NewArgs, out: Option<&Path>) -> Result<NewSigner> {
    if args.members.is_empty() {
        bail!("--kind multisig needs its members: --member FILE[:WEIGHT], once per member");
    }
    let base = out.map_or(Path::new("."), directory_of);
    let base = std::fs::canonicalize(base)
        .map_err(|e| anyhow!("cannot resolve the directory {}: {e}", base.display()))?;
    let mut members = Vec::with_capacity(args.members.len());
    let mut canonical = Vec::with_capacity(args.members.len());
    for member in &args.members {
        let path = std::fs::canonicalize(&member.keystore)
            .map_err(|e| anyhow!("member {}: {e}", member.keystore.display()))?;
        let keystore = path
            .strip_prefix(&base)
            .map_or_else(|_| path.clone(), Path::to_path_buf);
        members.push(MemberFile {
            weight: member.weight,
            keystore,
        });
        canonical.push(path);
    }
    let total: u32 = members.iter().map(|m| u32::from(m.weight)).sum();
    let threshold = match args.threshold {
        Some(threshold) => threshold,
        None => u16::try_from(total).map_err(|_| {
            anyhow!("the members' weights add up to {total}: give --threshold (at most 65535)")
        })?,
    };
    let json = keystore::multisig_file_json(threshold, &members)?;
    let key = keystore::signer_key(&json, &base).context("the multisig")?;
    Ok(NewSigner::Multisig {
        json,
        key,
        members: canonical,
    })
}

/// The directory of a file path (`.` for a bare file name).
fn directory_of(path: &Path) -> &Path {
    path.parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// The file a path names, whether or not it exists: its directory resolved, then its name.
fn file_identity(path: &Path) -> PathBuf {
    match (std::fs::canonicalize(directory_of(path)), path.file_name()) {
        (Ok(directory), Some(name)) => directory.join(name),
        _ => path.to_path_buf(),
    }
}

fn new(args: NewArgs, global: Global) -> Result<()> {
    let signer = new_signer(&args, args.out.as_deref())?;
    let key = signer.key();
    let address = key.address()?;
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("session-{address}.json")));
    let draft = args
        .permissions_out
        .clone()
        .unwrap_or_else(|| draft_path(&path));
    if file_identity(&draft) == file_identity(&path) {
        bail!(
            "--permissions-out {} is the keystore's path",
            draft.display()
        );
    }
    if let NewSigner::Multisig { members, .. } = &signer {
        for written in [&path, &draft] {
            if members.contains(&file_identity(written)) {
                bail!(
                    "{} is a member's key file: the multisig file and its draft go elsewhere",
                    written.display()
                );
            }
        }
    }
    // The password before any file is opened (a multisig file has no secret of its own).
    let password = match &signer {
        NewSigner::Secret(_) => Some(args.password.password()?),
        NewSigner::Multisig { .. } => None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let spec = SessionSpec {
        signer: address,
        signer_key: (key.kind() != SignerKind::Secp256k1).then(|| key.clone()),
        valid_after: 0,
        valid_until: now.saturating_add(args.valid_for),
        paymaster: args.paymaster,
        fees: args.fees.scope(),
        salt: B256::ZERO,
        permissions: vec![],
        typed_data: Vec::new(),
    };
    let warnings = fee_warnings(&spec);
    // Open first: an existing file is refused before the (slow) key derivation.
    let mut file = open_private(&path, args.force)?;
    let mut draft_file = match open_private(&draft, args.force) {
        Ok(file) => file,
        Err(error) => {
            drop(file);
            let _ = std::fs::remove_file(&path);
            return Err(error);
        }
    };
    let kdf = match args.kdf {
        KdfChoice::Standard => Kdf::STANDARD,
        KdfChoice::Light => Kdf::LIGHT,
    };
    let contents = match (&signer, &password) {
        (NewSigner::Secret(secret), Some(password)) => {
            keystore::encrypt_signer(secret, password, kdf).map_err(anyhow::Error::from)
        }
        (NewSigner::Multisig { json, .. }, _) => Ok(json.clone()),
        (NewSigner::Secret(_), None) => Err(anyhow!("a keystore needs a password")),
    };
    let encrypted = matches!(signer, NewSigner::Secret(_));
    let written = contents
        .and_then(|contents| {
            file.write_all(contents.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))
        })
        .and_then(|()| {
            draft_file
                .write_all(format!("{}\n", spec.to_json()).as_bytes())
                .and_then(|()| draft_file.sync_all())
                .map_err(|e| anyhow!("cannot write {}: {e}", draft.display()))
        });
    if let Err(error) = written {
        drop(file);
        drop(draft_file);
        let _ = std::fs::remove_file(&path);
        let _ = std::fs::remove_file(&draft);
        return Err(error);
    }
    let warnings: Vec<String> = warnings.iter().map(ToString::to_string).collect();
    let described = key.description();
    if global.json {
        output::print_json(&json!({
            "address": address,
            "signer": key,
            "keystore": path,
            "encrypted": encrypted,
            "permissions": draft,
            "valid_until": spec.valid_until,
            "paymaster": spec.paymaster,
            "fees": spec.fees,
            "warnings": warnings,
        }))
    } else {
        for warning in &warnings {
            eprintln!("warning: {warning}");
        }
        println!(
            "session signer {address} ({described}) written to {} ({})",
            path.display(),
            if encrypted {
                "encrypted keystore"
            } else {
                "multisig file: it names its members' keystores"
            }
        );
        println!(
            "session draft written to {}: add its permissions, then `keyscope session grant -p {}`",
            draft.display(),
            draft.display()
        );
        println!(
            "valid until {}; paymaster {}; fees: {}",
            values::format_human_time(spec.valid_until),
            paymaster_text(&spec.paymaster),
            fee_scope_text(&spec.fees)
        );
        Ok(())
    }
}

fn paymaster_text(policy: &PaymasterSpec) -> String {
    match policy {
        PaymasterSpec::None => "none (self-paid only)".into(),
        PaymasterSpec::Any => "any (or none)".into(),
        PaymasterSpec::Required => "required".into(),
        PaymasterSpec::Exactly(paymaster) => format!("exactly {paymaster}"),
    }
}

/// Opens a file for writing, readable by its owner only; refuses to replace one unless `force`.
pub(crate) fn open_private(path: &Path, force: bool) -> Result<std::fs::File> {
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

async fn enable_multichain(args: EnableMultichainArgs, global: Global) -> Result<()> {
    let (_, compiled) = load_session(&args.permissions)?;
    let owner = args.owner.key()?;
    let node = Node::connect_read(&args.node).await?;
    let client = node.client().await?;
    let mut entries = Vec::with_capacity(args.chains.len());
    for target in &args.chains {
        let entry = match target.epoch {
            Some(epoch) => keyscope::signer::MultichainEntry::new(
                target.chain_id,
                target.account,
                epoch,
                compiled.session_id(),
            ),
            None if target.chain_id == client.chain_id() => {
                client.multichain_entry(target.account, &compiled).await?
            }
            None => bail!(
                "--chain {}:{}: the account's epoch on chain {} is needed ({}:{}:EPOCH; the node is on chain {})",
                target.chain_id,
                target.account,
                target.chain_id,
                target.chain_id,
                target.account,
                client.chain_id()
            ),
        };
        entries.push(entry);
    }
    let signed = client
        .sign_multichain_enable(&owner, entries)
        .await
        .context("multichain enable not signed")?;
    let mut file = open_private(&args.out, args.force)?;
    file.write_all(format!("{}\n", serde_json::to_string_pretty(&signed)?).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| anyhow!("cannot write {}: {e}", args.out.display()))?;
    if global.json {
        output::print_json(&json!({
            "session_id": signed.session_id,
            "chains_root": signed.chains_root,
            "digest": signed.digest,
            "out": args.out,
            "chains": signed
                .chains
                .iter()
                .map(|c| json!({ "chain_id": c.chain_id, "account": c.account, "epoch": c.epoch }))
                .collect::<Vec<_>>(),
        }))
    } else {
        println!(
            "owner {} signed session {} for {} chain(s) (root {}) into {}",
            owner.address(),
            signed.session_id,
            signed.chains.len(),
            signed.chains_root,
            args.out.display()
        );
        for chain in &signed.chains {
            println!(
                "  chain {}: account {} at epoch {}",
                chain.chain_id, chain.account, chain.epoch
            );
        }
        Ok(())
    }
}

async fn grant(args: GrantArgs, global: Global) -> Result<()> {
    let (spec, compiled) = load_session(&args.permissions)?;
    let owner = args.owner.key()?;
    let (_, client, account) = connect(&args.account).await?;
    let session_id = compiled.session_id();
    // What the chain would make of the grant, before the owner signs anything.
    let now = chain_time(&client).await?;
    let mut warnings: Vec<String> = compiled.warnings.iter().map(ToString::to_string).collect();
    if spec.valid_until < now {
        if !args.force {
            bail!(
                "the session ended at {} (the chain's time is {}): granting it would spend gas on a session that \
                 can never be used; set a later valid_until (`keyscope session new --valid-for 1d` drafts one a day \
                 from now), or pass --force",
                values::format_human_time(spec.valid_until),
                values::format_human_time(now)
            );
        }
        warnings.push(format!(
            "the session ended at {}: it can never be used",
            values::format_human_time(spec.valid_until)
        ));
    } else if spec.valid_until - now < ENDING_SOON {
        warnings.push(format!(
            "the session ends in {} (at {})",
            values::format_duration(spec.valid_until - now),
            values::format_human_time(spec.valid_until)
        ));
    }
    if client.session_status(&account, session_id).await? == SessionStatus::Revoked {
        bail!(
            "session {session_id} was revoked on account {}: a revoked session can never be granted again; change \
             its \"salt\" to grant the same permissions as a new session",
            account.address
        );
    }
    let outcome = client
        .grant_session(&account, &owner, &compiled.session)
        .await
        .map_err(|error| owner_op_error(error, &owner, &account, "grant failed"))?;
    if global.json {
        output::print_json(&json!({
            "account": account.address,
            "session_id": compiled.session_id(),
            "signer": spec.signer,
            "permissions_root": compiled.session.permissionsRoot,
            "paymaster": spec.paymaster,
            "fees": spec.fees,
            "summary": spec.summary(&SummaryOptions::default())?,
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
    let node = Node::connect_read(&args.account.node).await?;
    let client = node.client().await?;
    let account = node.account(&client, args.account.account).await?;
    let window = spec.as_ref().map(|spec| Window {
        valid_after: spec.valid_after,
        valid_until: spec.valid_until,
    });
    let report = client.session_report(&account, session_id, window).await?;
    let counters = match &spec {
        Some(spec) => Some(counters(&client, &account, session_id, spec, report.now).await?),
        None => None,
    };
    // The scope is in the session itself, which the chain does not keep: known with --permissions only.
    let usage = spec.as_ref().map(|spec| FeeUsage {
        scope: spec.fees,
        charged: report.fees_charged,
    });
    if global.json {
        let fees = match &usage {
            Some(usage) => fee_usage_json(usage),
            None => json!({ "charged": report.fees_charged.to_string() }),
        };
        output::print_json(&json!({
            "account": account.address,
            "session_id": session_id,
            "status": report.state,
            "validator_status": validator_status_name(report.validator_status),
            "valid_after": report.window.map(|w| w.valid_after),
            "valid_until": report.window.map(|w| w.valid_until),
            "chain_time": report.now,
            "fees": fees,
            "uses": counters.as_ref().map(|c| &c.uses),
            "native_spent": counters.as_ref().map(|c| c.native_spent.to_string()),
            "period_allowances": counters.as_ref().map(|c| {
                c.periods
                    .iter()
                    .map(|(index, allowance)| period_allowance_json(*index, allowance))
                    .collect::<Vec<_>>()
            }),
        }))
    } else {
        println!(
            "session {session_id} on account {}: {}",
            account.address,
            status_text(&report)
        );
        match &usage {
            Some(usage) => println!("fees: {usage}"),
            None => println!(
                "fees: {} charged so far (pass --permissions FILE for the session's fee scope and what is left)",
                ether(report.fees_charged)
            ),
        }
        if let Some(counters) = &counters {
            let uses: Vec<String> = counters
                .uses
                .iter()
                .enumerate()
                .map(|(index, uses)| match uses {
                    Some(uses) => format!("{}. {uses}", index + 1),
                    None => format!("{}. not counted (no usage limit)", index + 1),
                })
                .collect();
            println!("uses per permission: {}", uses.join(", "));
            println!("native value spent: {}", ether(counters.native_spent));
            for (index, allowance) in &counters.periods {
                println!("{}", period_allowance_text(*index, allowance));
            }
        }
        if let Some(spec) = spec {
            println!("{}", spec.summary(&SummaryOptions::default())?.trim_end());
        }
        Ok(())
    }
}

/// A status for people: `expired (ended 2026-12-01 00:00:00 UTC)`.
fn status_text(report: &SessionReport) -> String {
    let window = report.window;
    let detail = match (report.state, window) {
        (Status::Active, Some(w)) => {
            format!(" (until {})", values::format_human_time(w.valid_until))
        }
        (Status::Pending, Some(w)) => {
            format!(" (from {})", values::format_human_time(w.valid_after))
        }
        (Status::Expired, Some(w)) => {
            format!(" (ended {})", values::format_human_time(w.valid_until))
        }
        (Status::Void, _) => {
            " (every session of the account was revoked since its grant)".to_owned()
        }
        (Status::Unknown, _) => " (never granted on this account)".to_owned(),
        _ => String::new(),
    };
    format!("{}{detail}", report.state)
}

/// A session's counters on an account.
struct Counters {
    /// Uses of each permission, in the file's order (`usageOf`): `None` for a permission without a usage or rate
    /// limit, which the validator does not count.
    uses: Vec<Option<u64>>,
    /// Native value spent (`spentOf(…, address(0))`): lifetime totals only, periodic allowances count apart.
    native_spent: U256,
    /// The periodic allowances (`FLAG_PER_PERIOD`) in the period current at the chain's time, with the index of
    /// their permission in the file's order (`periodSpentOf`).
    periods: Vec<(usize, PeriodAllowance)>,
}

/// An amount of a periodic allowance: ETH for native value, raw units for a token.
fn period_amount(allowance: &PeriodAllowance, amount: U256) -> String {
    if allowance.is_native() {
        values::format_native(amount)
    } else {
        amount.to_string()
    }
}

/// `permission 2: 100 of token 0x… per 1d period: 30 spent, 70 left in period 5 (since …); next period from …`.
fn period_allowance_text(index: usize, allowance: &PeriodAllowance) -> String {
    let asset = if allowance.is_native() {
        "native value".to_owned()
    } else {
        format!("token {}", allowance.asset.to_checksum(None))
    };
    format!(
        "permission {}: {} of {asset} per {} period: {} spent, {} left in period {} (since {}); next period from {}",
        index + 1,
        period_amount(allowance, allowance.limit),
        values::format_duration(allowance.interval),
        period_amount(allowance, allowance.spent),
        period_amount(allowance, allowance.left),
        allowance.period,
        values::format_human_time(allowance.period_start),
        values::format_human_time(allowance.next_period_start),
    )
}

/// A periodic allowance as JSON (amounts as decimal strings in wei or the token's raw units).
fn period_allowance_json(index: usize, allowance: &PeriodAllowance) -> Value {
    json!({
        "permission_index": index,
        "asset": if allowance.is_native() { json!("native") } else { json!(allowance.asset) },
        "period_seconds": allowance.interval,
        "limit": allowance.limit.to_string(),
        "period": allowance.period,
        "period_start": allowance.period_start,
        "next_period_start": allowance.next_period_start,
        "spent": allowance.spent.to_string(),
        "left": allowance.left.to_string(),
    })
}

async fn counters(
    client: &Client,
    account: &Account,
    session_id: B256,
    spec: &SessionSpec,
    now: u64,
) -> Result<Counters> {
    let compiled = spec.compile()?;
    let validator = keyscope::bindings::SessionKeyValidator::new(
        client.stack().session_key_validator,
        client.provider(),
    );
    let mut uses = Vec::with_capacity(compiled.permissions.len());
    for (index, permission) in compiled.permissions.iter().enumerate() {
        if permission.maxUses == 0 && permission.rateLimitCount == 0 {
            uses.push(None);
            continue;
        }
        let leaf = compiled.tree.leaf(index)?;
        let usage = validator
            .usageOf(account.address, session_id, leaf)
            .call()
            .await?;
        uses.push(Some(usage.uses));
    }
    let native_spent = validator
        .spentOf(account.address, session_id, Address::ZERO)
        .call()
        .await?;
    let mut periods = Vec::new();
    for (index, permission) in compiled.permissions.iter().enumerate() {
        for allowance in client
            .period_allowances(account, session_id, permission, now)
            .await?
        {
            periods.push((index, allowance));
        }
    }
    Ok(Counters {
        uses,
        native_spent,
        periods,
    })
}

async fn revoke(args: RevokeArgs, global: Global) -> Result<()> {
    if args.session_key_file.is_some() {
        return revoke_own(args, global).await;
    }
    if args.permission.is_some() || args.leaf.is_some() {
        return revoke_permission(args, global).await;
    }
    let which = &args.which;
    let session_id = match (&which.session_id, &which.permissions, which.all) {
        (_, _, true) => None,
        (Some(id), _, _) => Some(*id),
        (None, Some(path), _) => Some(load_session(path)?.1.session_id()),
        (None, None, false) => bail!("--session-id, --permissions or --all is needed"),
    };
    let owner = args.owner.key()?;
    let (_, client, account) = connect(&args.account).await?;
    if let Some(id) = session_id {
        if client.session_status(&account, id).await? == SessionStatus::Revoked {
            bail!(
                "session {id} is already revoked on account {}: nothing was sent",
                account.address
            );
        }
    }
    let outcome = match session_id {
        Some(id) => client.revoke_session(&account, &owner, id).await,
        None => client.revoke_all_sessions(&account, &owner).await,
    }
    .map_err(|error| owner_op_error(error, &owner, &account, "revocation failed"))?;
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

/// `session revoke --session-key-file`: the session key's kill switch.
async fn revoke_own(args: RevokeArgs, global: Global) -> Result<()> {
    let (Some(key_path), Some(path)) = (&args.session_key_file, &args.which.permissions) else {
        bail!("--session-key-file needs the session's --permissions file");
    };
    let (_, session) = load_session(path)?;
    let key = signer_file(key_path, &args.owner.password)?;
    let address = key.address()?;
    if address != session.session.signer {
        bail!(
            "the {} signer in {} is {address}, not the session's signer {}",
            key.kind(),
            key_path.display(),
            session.session.signer
        );
    }
    let (_, client, account) = connect(&args.account).await?;
    let session_id = session.session_id();
    let status = client.session_status(&account, session_id).await?;
    if status != SessionStatus::Active {
        bail!(
            "session {session_id} is {} on account {}: nothing was sent",
            validator_status_name(status),
            account.address
        );
    }
    let outcome = client
        .revoke_own_session(&account, &key, &session)
        .await
        .with_context(|| format!("session {session_id} could not revoke itself"))?;
    // The validator revokes the session while validating the operation: even a call that reverted in execution
    // leaves it revoked. The chain says.
    let status = client.session_status(&account, session_id).await?;
    if status != SessionStatus::Revoked {
        bail!(
            "session {session_id} is still {} on account {} after the operation: {}",
            validator_status_name(status),
            account.address,
            outcome_text(&outcome)
        );
    }
    if global.json {
        output::print_json(&json!({
            "account": account.address,
            "revoked": session_id,
            "by": "session key",
            "op": outcome_json(&outcome),
        }))
    } else {
        println!(
            "session {session_id} revoked itself on account {}",
            account.address
        );
        println!("{}", outcome_text(&outcome));
        Ok(())
    }
}

/// `session revoke --permission` / `--leaf`: one permission, by owner operation.
async fn revoke_permission(args: RevokeArgs, global: Global) -> Result<()> {
    let which = &args.which;
    let (session_id, leaf) = match (
        &which.session_id,
        &which.permissions,
        args.permission,
        args.leaf,
    ) {
        (Some(id), _, _, Some(leaf)) => (*id, leaf),
        (None, Some(path), index, leaf) => {
            let (_, session) = load_session(path)?;
            let leaf = match (index, leaf) {
                (_, Some(leaf)) => {
                    let in_tree = (0..session.permissions.len())
                        .any(|i| session.tree.leaf(i).is_ok_and(|l| l == leaf));
                    if !in_tree {
                        bail!(
                            "--leaf {leaf} is none of the permissions of {}: nothing was sent",
                            path.display()
                        );
                    }
                    leaf
                }
                (Some(index), None) => session
                    .tree
                    .leaf(index)
                    .with_context(|| format!("--permission {index} of {}", path.display()))?,
                (None, None) => bail!("--permission INDEX or --leaf LEAF is needed"),
            };
            (session.session_id(), leaf)
        }
        _ => bail!("--leaf needs --session-id, or --permission/--leaf needs --permissions FILE"),
    };
    let owner = args.owner.key()?;
    let (_, client, account) = connect(&args.account).await?;
    if client.session_status(&account, session_id).await? == SessionStatus::Revoked {
        bail!(
            "session {session_id} is already revoked on account {}: nothing was sent",
            account.address
        );
    }
    let outcome = client
        .revoke_permission(&account, &owner, session_id, leaf)
        .await
        .map_err(|error| owner_op_error(error, &owner, &account, "revocation failed"))?;
    if !outcome.success {
        bail!(
            "the revocation of permission {leaf} reverted in execution: {}",
            outcome_text(&outcome)
        );
    }
    if global.json {
        output::print_json(&json!({
            "account": account.address,
            "revoked": { "sessionId": session_id, "leaf": leaf },
            "op": outcome_json(&outcome),
        }))
    } else {
        println!(
            "revoked permission {leaf} of session {session_id} on account {}",
            account.address
        );
        println!("{}", outcome_text(&outcome));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowance(asset: Address) -> PeriodAllowance {
        PeriodAllowance {
            asset,
            interval: 86_400,
            start: 0,
            period: 20_429,
            period_start: 20_429 * 86_400,
            next_period_start: 20_430 * 86_400,
            limit: U256::from(2_000_000_000_000_000u64),
            spent: U256::from(500_000_000_000_000u64),
            left: U256::from(1_500_000_000_000_000u64),
            latest_period: 20_429,
        }
    }

    #[test]
    fn periodic_allowances_read_in_the_files_terms() {
        let native = allowance(Address::ZERO);
        assert_eq!(
            period_allowance_text(1, &native),
            "permission 2: 0.002 ether of native value per 1d period: 500000 gwei spent, 0.0015 ether left in \
             period 20429 (since 2025-12-07 00:00 UTC); next period from 2025-12-08 00:00 UTC"
        );
        let token = allowance(Address::repeat_byte(0x11));
        assert!(period_allowance_text(0, &token).starts_with(
            "permission 1: 2000000000000000 of token 0x1111111111111111111111111111111111111111 per 1d period: \
             500000000000000 spent, 1500000000000000 left"
        ));
        assert_eq!(
            period_allowance_json(0, &native),
            json!({
                "permission_index": 0,
                "asset": "native",
                "period_seconds": 86_400,
                "limit": "2000000000000000",
                "period": 20_429,
                "period_start": 20_429 * 86_400,
                "next_period_start": 20_430 * 86_400,
                "spent": "500000000000000",
                "left": "1500000000000000",
            })
        );
    }
}
