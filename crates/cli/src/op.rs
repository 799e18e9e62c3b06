//! `keyscope op`: session user operations, sent or explained.

use std::path::PathBuf;

use alloy::dyn_abi::{DynSolValue, JsonAbiExt as _, Specifier as _};
use alloy::json_abi::Function;
use alloy::primitives::{Address, Bytes, U256};
use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use keyscope::bundler::{self, BundlerClient};
use keyscope::permissions::{CompiledSession, SessionSpec, FLAG_ANY_TARGET, FLAG_NATIVE_TRANSFER};
use keyscope::signer::{PackedUserOperation, SessionSigner};
use keyscope::{
    Account, Client, Error, Explanation, FeeLimit, FeeScopeExceeded, PreparedOp, SessionCall,
    Version,
};
use serde_json::{json, Value};

use crate::account::{parse_address, parse_amount};
use crate::keys::{read_text, signer_file, PasswordArgs};
use crate::node::{self, parse_version, version_name, Node, NodeArgs, RpcArgs};
use crate::output::{self, outcome_json, outcome_text, short};
use crate::session::load_session;
use crate::terms;
use crate::Global;

/// `keyscope op …`.
#[derive(Debug, Subcommand)]
pub enum OpCommand {
    /// Build, sign and send a session operation: one call from the account under a permission of a granted
    /// session, signed by the session key. Sent to EntryPoint.handleOps by the paying key after a simulation (a
    /// refusal comes back with its AAxx code, the validator's error and an explanation, and nothing is sent), or
    /// through an ERC-4337 bundler with --bundler-url. The operation is kept within the session's fee scope
    /// before signing: its maxFeePerGas is lowered to fit when the chain allows, and otherwise nothing is signed
    /// (the refusal names the bound and the costs in ETH and gwei).
    Send(SendArgs),
    /// Explain what the EntryPoint and the SessionKeyValidator make of a session operation, without sending it:
    /// accepted (with its validity window), or the rule, limit, window or signature that rejects it. The
    /// operation is a JSON file (--user-op, the ERC-4337 v0.7 JSON shape bundlers take) or built from a call as
    /// `op send` builds it. The validator's state is read from the node. An operation built from a call that
    /// the session's fee scope refuses is not signed: the verdict says so (and which bound). Exits 0 whatever the
    /// verdict.
    Explain(ExplainArgs),
}

/// The call of a session operation and the session it runs under.
#[derive(Debug, Args)]
pub struct CallArgs {
    /// The session key: a keystore of any signer kind (decrypted with --password-file or KEYSCOPE_PASSWORD), a
    /// multisig file naming its members' keystores, or a hex secp256k1 key file.
    #[arg(long, value_name = "FILE")]
    session_key_file: Option<PathBuf>,
    /// The keystore's password.
    #[command(flatten)]
    password: PasswordArgs,
    /// The granted session's JSON file (the proofs come from it).
    #[arg(long, short, value_name = "FILE")]
    permissions: Option<PathBuf>,
    /// Index of the session's permission that covers the call. Default: the first whose target and selector (or
    /// native transfer) match.
    #[arg(long, value_name = "INDEX")]
    permission: Option<usize>,
    /// The contract (or recipient) the account calls.
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    to: Option<Address>,
    /// The call's calldata (0x hex). Default: empty (a plain transfer), or --sig with its arguments.
    #[arg(long, value_name = "HEX", conflicts_with = "sig")]
    data: Option<Bytes>,
    /// A function signature, e.g. "transfer(address,uint256)": its arguments (ARGS) are ABI-encoded into the
    /// calldata.
    #[arg(long, value_name = "SIGNATURE")]
    sig: Option<String>,
    /// The arguments of --sig, one per parameter ("0x…" addresses, decimal or 0x numbers, true/false, …).
    #[arg(value_name = "ARGS", requires = "sig", allow_negative_numbers = true)]
    args: Vec<String>,
    /// Native value sent with the call: "0.5 ether", "20 gwei", or wei.
    #[arg(long, value_parser = parse_amount, value_name = "AMOUNT")]
    value: Option<U256>,
}

/// `op send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The call.
    #[command(flatten)]
    call: CallArgs,
    /// The smart account (a KeyscopeAccount; its EntryPoint version is read from it).
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    account: Address,
    /// Send through this ERC-4337 bundler (eth_estimateUserOperationGas, eth_sendUserOperation) instead of
    /// handleOps from the paying key, which is then not needed. http:// or https://; only its origin ever appears
    /// in messages.
    #[arg(
        long,
        env = "KEYSCOPE_BUNDLER_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    bundler_url: Option<String>,
    /// Enable the session with this operation, by the owner's multichain signature (the file `session
    /// enable-multichain` wrote, which must hold this chain and account): the session's first operation on this
    /// chain, no grant needed.
    #[arg(long, value_name = "FILE")]
    multichain_enable: Option<PathBuf>,
    /// The node.
    #[command(flatten)]
    node: NodeArgs,
}

/// `op explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The user operation as JSON (ERC-4337 v0.7 shape: sender, nonce, factory, factoryData, callData,
    /// callGasLimit, verificationGasLimit, preVerificationGas, maxFeePerGas, maxPriorityFeePerGas, paymaster…,
    /// signature). Without it, the operation is built from the call options.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["session_key_file", "permissions", "to", "sig", "data"])]
    user_op: Option<PathBuf>,
    /// The call, when no --user-op is given.
    #[command(flatten)]
    call: CallArgs,
    /// The smart account. Default with --user-op: its sender.
    #[arg(long, value_name = "ADDRESS", value_parser = parse_address)]
    account: Option<Address>,
    /// The EntryPoint version to explain for. Default: the account's.
    #[arg(long, value_parser = parse_version, value_name = "VERSION")]
    entry_point: Option<Version>,
    /// The time (unix seconds) to evaluate the validity window at. Default: the latest block's.
    #[arg(long, value_name = "SECONDS")]
    at: Option<u64>,
    /// The node.
    #[command(flatten)]
    node: RpcArgs,
}

/// ABI-encodes a call of `signature` with `args` (each read as its parameter's type).
pub fn encode_call(signature: &str, args: &[String]) -> Result<Bytes> {
    let function = Function::parse(signature)
        .map_err(|e| anyhow!("invalid function signature {signature:?}: {}", short(&e)))?;
    if function.inputs.len() != args.len() {
        bail!(
            "{} takes {} argument(s), {} given",
            function.signature(),
            function.inputs.len(),
            args.len()
        );
    }
    let values = function
        .inputs
        .iter()
        .zip(args)
        .enumerate()
        .map(|(i, (param, arg))| {
            let ty = param
                .resolve()
                .map_err(|e| anyhow!("parameter {i} ({}): {}", param.ty, short(&e)))?;
            ty.coerce_str(arg)
                .map_err(|_| anyhow!("argument {i} ({}): {arg:?} is not a valid {ty}", param.ty))
        })
        .collect::<Result<Vec<DynSolValue>>>()?;
    Ok(function
        .abi_encode_input(&values)
        .map_err(|e| anyhow!("encoding {}: {}", function.signature(), short(&e)))?
        .into())
}

/// The first permission of `session` whose target and selector (or native transfer) match the call.
pub fn matching_permission(session: &CompiledSession, to: Address, data: &[u8]) -> Option<usize> {
    session.permissions.iter().position(|p| {
        let target = p.has_flag(FLAG_ANY_TARGET) || p.target == to;
        let call = if p.has_flag(FLAG_NATIVE_TRANSFER) {
            data.is_empty()
        } else {
            data.len() >= 4 && p.selector.as_slice() == &data[..4]
        };
        target && call
    })
}

/// A call checked against its session, with the session key.
struct ResolvedCall {
    key: SessionSigner,
    /// The session as written (for explanations in its terms).
    spec: SessionSpec,
    session: CompiledSession,
    call: SessionCall,
}

impl CallArgs {
    /// Reads the session and the key and encodes the call; everything offline, before any node is contacted.
    fn resolve(&self) -> Result<ResolvedCall> {
        let permissions = self
            .permissions
            .as_ref()
            .ok_or_else(|| anyhow!("--permissions FILE (the granted session) is needed"))?;
        let key_path = self
            .session_key_file
            .as_ref()
            .ok_or_else(|| anyhow!("--session-key-file FILE is needed"))?;
        let to = self
            .to
            .ok_or_else(|| anyhow!("--to ADDRESS (the contract called) is needed"))?;
        let data = match (&self.data, &self.sig) {
            (Some(data), _) => data.clone(),
            (None, Some(sig)) => encode_call(sig, &self.args)?,
            (None, None) => Bytes::new(),
        };
        let (spec, session) = load_session(permissions)?;
        let permission = match self.permission {
            Some(index) if index < session.permissions.len() => index,
            Some(index) => bail!(
                "--permission {index}: the session has {} permission(s)",
                session.permissions.len()
            ),
            None => matching_permission(&session, to, &data).ok_or_else(|| {
                anyhow!(
                    "no permission of {} covers a call to {to} with selector {} (pass --permission N to build it \
                     anyway and see the validator refuse it)",
                    permissions.display(),
                    data.get(..4)
                        .map(|s| Bytes::copy_from_slice(s).to_string())
                        .unwrap_or_else(|| "none (plain transfer)".into())
                )
            })?,
        };
        let key = signer_file(key_path, &self.password)?;
        let address = key.address()?;
        if address != session.session.signer {
            bail!(
                "the session key ({} signer {address}) is not the session's signer {}",
                key.kind(),
                session.session.signer
            );
        }
        Ok(ResolvedCall {
            key,
            spec,
            session,
            call: SessionCall {
                target: to,
                value: self.value.unwrap_or_default(),
                data,
                permission,
            },
        })
    }
}

/// A client on the stack for `args`; the paying key is needed only when `pays`.
async fn client(args: &NodeArgs, pays: bool) -> Result<(Node, Client)> {
    let url = node::parse_url(&args.rpc_url)?;
    let node = Node::connect_with(url, args.private_key.as_deref(), pays).await?;
    let client = node.client().await?;
    Ok((node, client))
}

/// A read-only client on the stack.
async fn read_client(args: &RpcArgs) -> Result<(Node, Client)> {
    let node = Node::connect_read(args).await?;
    let client = node.client().await?;
    Ok((node, client))
}

/// `keyscope op …`.
pub async fn run(command: OpCommand, global: Global) -> Result<()> {
    match command {
        OpCommand::Send(args) => send(args, global).await,
        OpCommand::Explain(args) => explain(args, global).await,
    }
}

/// `op send`: with --json, a refusal is a JSON document on stdout too (`"sent": false` and the error), besides the
/// error line on stderr.
async fn send(args: SendArgs, global: Global) -> Result<()> {
    let result = send_op(args, global).await;
    if let (Err(error), true) = (&result, global.json) {
        if !error.is::<Included>() {
            let sdk_error = error
                .chain()
                .find_map(|cause| cause.downcast_ref::<Error>());
            output::print_json(&json!({
                "sent": false,
                "error": {
                    "code": sdk_error.and_then(Error::aa_code),
                    "validator_error": sdk_error.and_then(output::validator_error_name),
                    "message": keyscope::error::redacted_error_chain(error.as_ref()),
                },
            }))?;
        }
    }
    result
}

/// An operation included whose call reverted (already reported on stdout).
#[derive(Debug)]
struct Included(String);

impl std::fmt::Display for Included {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Included {}

async fn send_op(args: SendArgs, global: Global) -> Result<()> {
    let resolved = args.call.resolve()?;
    let bundler = match &args.bundler_url {
        Some(url) => Some(bundler_client(url)?),
        None => None,
    };
    let (node, client) = client(&args.node, bundler.is_none()).await?;
    let account = node.account(&client, args.account).await?;
    let calls = [resolved.call.clone()];
    let origin = bundler.as_ref().map(|bundler| bundler.origin().to_owned());
    let client = match bundler {
        Some(bundler) => {
            bundler
                .check(&client, account.version)
                .await
                .with_context(|| bundler_refused(origin.as_deref()))?;
            client.with_bundler(bundler)
        }
        None => client,
    };
    let multichain = match &args.multichain_enable {
        Some(path) => {
            let text = read_text(path, "multichain enable file")?;
            let signed: keyscope::SignedMultichainEnable =
                serde_json::from_str(&text).with_context(|| path.display().to_string())?;
            if signed.validator != client.stack().session_key_validator {
                bail!(
                    "{} was signed for the validator {}, not this chain's {}",
                    path.display(),
                    signed.validator,
                    client.stack().session_key_validator
                );
            }
            signed
                .chain_proof(
                    client.chain_id(),
                    account.address,
                    resolved.session.session_id(),
                )
                .with_context(|| path.display().to_string())?;
            Some(signed)
        }
        None => None,
    };
    let prepared = match &multichain {
        Some(signed) => {
            let proof = signed.chain_proof(
                client.chain_id(),
                account.address,
                resolved.session.session_id(),
            )?;
            client
                .prepare_multichain_enable_op(
                    &account,
                    &resolved.key,
                    &resolved.session,
                    proof,
                    &signed.owner_signature,
                    &calls,
                )
                .await
        }
        None => {
            client
                .prepare_session_op(&account, &resolved.key, &resolved.session, &calls)
                .await
        }
    };
    let op = prepared.map_err(|error| match (error, &origin) {
        (error @ Error::FeeScopeExceeded(_), _) | (error, None) => not_signed(error),
        (error, Some(_)) => anyhow::Error::from(error).context(bundler_refused(origin.as_deref())),
    })?;
    let outcome = match (client.send(&op).await, &origin) {
        (Ok(outcome), _) => outcome,
        (Err(error), None) => return Err(explained(&client, &op, error, &resolved).await),
        (Err(error), Some(_)) => {
            return Err(anyhow::Error::from(error).context(bundler_refused(origin.as_deref())))
        }
    };
    let permission = resolved.call.permission;
    if global.json {
        output::print_json(&json!({
            "account": account.address,
            "session_id": resolved.session.session_id(),
            "permission": permission,
            "via": origin.as_ref().map_or("handleOps", |_| "bundler"),
            "op": outcome_json(&outcome),
        }))?;
    } else {
        println!(
            "session {} permission {permission}: {}",
            resolved.session.session_id(),
            outcome_text(&outcome)
        );
    }
    if !outcome.success {
        return Err(Included(format!(
            "user operation {} was included but its call reverted{}",
            outcome.user_op_hash,
            outcome
                .revert
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ))
        .into());
    }
    Ok(())
}

/// What a refusal through the bundler at `origin` is said to be.
fn bundler_refused(origin: Option<&str>) -> String {
    format!(
        "the bundler at {} refused the operation",
        origin.unwrap_or("?")
    )
}

/// A bundler client for `url` (which may carry an API key: it is never printed).
fn bundler_client(url: &str) -> Result<BundlerClient> {
    let parsed: alloy::transports::http::reqwest::Url = url
        .parse()
        .map_err(|_| anyhow!("--bundler-url is not a valid URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("--bundler-url: http:// or https:// is needed");
    }
    Ok(BundlerClient::new(parsed)?)
}

/// An error that stopped the SDK before signing: a fee-scope refusal says so (its text has the values in ETH
/// and gwei); others pass as they are.
fn not_signed(error: Error) -> anyhow::Error {
    match error {
        Error::FeeScopeExceeded(_) => anyhow!("{}", short(&error))
            .context("the operation was refused before signing, nothing was sent"),
        error => error.into(),
    }
}

/// A refusal of `op`, with the explanation of what refused it when the SDK's explainer can say more.
async fn explained(
    client: &Client,
    op: &PreparedOp,
    error: Error,
    resolved: &ResolvedCall,
) -> anyhow::Error {
    let note = if error.aa_code().is_some() {
        match client.explain(&op.op, op.version, None).await {
            Ok(explanation) if !explanation.verdict.is_accepted() => {
                let terms = explanation
                    .verdict
                    .revert()
                    .and_then(|revert| {
                        terms::refusal_in_file_terms(revert, &resolved.spec, &resolved.session)
                    })
                    .map(|terms| format!("; in the permission file's terms: {terms}"))
                    .unwrap_or_default();
                format!("; explanation: {}{terms}", explanation.verdict)
            }
            _ => String::new(),
        }
    } else {
        String::new()
    };
    anyhow::Error::from(error).context(format!("the operation was refused, nothing was sent{note}"))
}

async fn explain(args: ExplainArgs, global: Global) -> Result<()> {
    let (op, resolved_account, from_file) = match &args.user_op {
        Some(path) => {
            let text = read_text(path, "user operation file")?;
            let rpc: alloy::rpc::types::PackedUserOperation = serde_json::from_str(&text)
                .map_err(|e| anyhow!("{}: not a v0.7 user operation: {e}", path.display()))?;
            let op = bundler::from_rpc(&rpc).with_context(|| path.display().to_string())?;
            if let Some(account) = args.account {
                if account != op.sender {
                    bail!(
                        "--account {account} is not the operation's sender {}",
                        op.sender
                    );
                }
            }
            (Some(op), None, true)
        }
        None => (None, Some(args.call.resolve()?), false),
    };
    let (node, client) = read_client(&args.node).await?;
    let account_address = match (&op, args.account) {
        (Some(op), _) => op.sender,
        (None, Some(account)) => account,
        (None, None) => bail!("--account ADDRESS is needed (or --user-op FILE)"),
    };
    let account = match args.entry_point {
        Some(version) => Account {
            address: account_address,
            version,
        },
        None => node.account(&client, account_address).await?,
    };
    let session_terms = resolved_account
        .as_ref()
        .map(|resolved| (resolved.spec.clone(), resolved.session.clone()));
    let op: PackedUserOperation = match (op, resolved_account) {
        (Some(op), _) => op,
        (None, Some(resolved)) => {
            match client
                .prepare_session_op(
                    &account,
                    &resolved.key,
                    &resolved.session,
                    std::slice::from_ref(&resolved.call),
                )
                .await
            {
                Ok(prepared) => prepared.op,
                // The SDK refuses to sign it: that is the verdict (the chain would refuse it too).
                Err(Error::FeeScopeExceeded(exceeded)) => {
                    return fee_scope_verdict(&exceeded, &resolved.session, account.version, global)
                }
                Err(error) => return Err(error.into()),
            }
        }
        (None, None) => bail!("--user-op FILE or the call options are needed"),
    };
    let explanation = client.explain(&op, account.version, args.at).await?;
    let in_file_terms = match (&session_terms, explanation.verdict.revert()) {
        (Some((spec, compiled)), Some(revert)) => {
            terms::refusal_in_file_terms(revert, spec, compiled)
        }
        _ => None,
    };
    if global.json {
        let mut document = explanation_json(&explanation, account.version);
        document["in_file_terms"] = json!(in_file_terms);
        if !from_file {
            document["user_op"] = serde_json::to_value(bundler::to_rpc(&op)?)?;
        }
        output::print_json(&document)
    } else {
        println!(
            "user operation {} on EntryPoint {} at block {} (time {}, {}):",
            explanation.user_op_hash,
            version_name(account.version),
            explanation.block,
            explanation.now,
            terms::iso(explanation.now)
        );
        println!("{}", explanation.verdict);
        if let Some(validation) = explanation.verdict.validation() {
            println!("{}", terms::window_text(validation));
        }
        if let Some(terms) = in_file_terms {
            println!("in the permission file's terms: {terms}");
        }
        Ok(())
    }
}

/// `op explain`'s answer when the SDK refuses to build the operation: over the session's fee scope.
fn fee_scope_verdict(
    exceeded: &FeeScopeExceeded,
    session: &CompiledSession,
    version: Version,
    global: Global,
) -> Result<()> {
    let rule = match exceeded.limit_kind {
        FeeLimit::PerOperation => "OperationFeeExceeded",
        FeeLimit::Budget => "FeeBudgetExceeded",
    };
    let verdict = format!(
        "refused before signing: over the session's fee scope ({rule} on chain): {exceeded}"
    );
    if global.json {
        output::print_json(&json!({
            "accepted": false,
            "aa_code": null,
            "validator_error": null,
            "refused_before_signing": rule,
            "verdict": verdict,
            "entry_point": version_name(version),
            "session_id": session.session_id(),
            "fee_scope": {
                "limit": exceeded.limit.to_string(),
                "max_cost": exceeded.max_cost.to_string(),
                "min_cost": exceeded.min_cost().to_string(),
                "max_fee_per_gas": exceeded.max_fee_per_gas.to_string(),
                "min_fee_per_gas": exceeded.min_fee_per_gas.to_string(),
                "charged": exceeded.charged.to_string(),
            },
        }))
    } else {
        println!(
            "session {} operation on EntryPoint {}: not built",
            session.session_id(),
            version_name(version)
        );
        println!("{verdict}");
        Ok(())
    }
}

/// An explanation as JSON.
fn explanation_json(explanation: &Explanation, version: Version) -> Value {
    let verdict = &explanation.verdict;
    let validation = verdict.validation().map(|v| {
        json!({
            "valid_after": v.valid_after,
            "valid_until": v.valid_until,
            "valid_after_source": v.valid_after_source.to_string(),
            "valid_until_source": v.valid_until_source.to_string(),
            "signature_valid": v.session_signature.valid(),
        })
    });
    json!({
        "accepted": verdict.is_accepted(),
        "aa_code": verdict.aa_code(),
        "validator_error": verdict.revert().map(|r| r.name()),
        "verdict": verdict.to_string(),
        "entry_point": version_name(version),
        "user_op_hash": explanation.user_op_hash,
        "session_id": explanation.session_id,
        "block": explanation.block,
        "now": explanation.now,
        "session_status": format!("{:?}", explanation.state.status).to_lowercase(),
        "epoch": explanation.state.epoch,
        "validation": validation,
    })
}
