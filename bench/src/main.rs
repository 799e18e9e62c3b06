//! `anvil-gas`: Keyscope's gas as a chain charges it. On a fresh anvil, with the stack deployed, one account per
//! EntryPoint sends the same ERC-20 transfer signed by its owner and by session keys of several scopes; each
//! measured operation is a real `handleOps` transaction in its own block, in steady state (its nonce lane, the
//! session's counters and both balances already written once; the account keeps an EntryPoint deposit, so no
//! prefund is transferred), with `preVerificationGas` 0 and the smallest `callGasLimit` under which its call
//! succeeds (found by bisection on snapshots of the chain, so the EntryPoint's penalty on unused execution gas is as
//! small as it gets: 10 % of the little left unused on v0.7, none on v0.8). Recorded: the receipt's `gasUsed`,
//! `UserOperationEvent.actualGasUsed`, the transaction's calldata bytes and the `callGasLimit`. Last (after the
//! peers), the session with both rules once more on each account for session signers of other kinds (a P-256 key,
//! a WebAuthn passkey, 2-of-3 multisigs of secp256k1 and of P-256 keys signed by 2): with the P-256 precompile
//! that anvil's default hardfork has.
//!
//! ```text
//! cargo run -p keyscope-bench --bin anvil-gas            # measures, writes bench/anvil-gas.json
//! cargo run -p keyscope-bench --bin anvil-gas -- --check # measures, fails unless bench/anvil-gas.json has it
//! ```
//!
//! `node script/gas-table.mjs` renders README's tables from the file. Every input is fixed (keys, salts, the
//! sessions' times, the chain's genesis time, fees), so the figures are the same on every run.

use alloy::node_bindings::{Anvil, AnvilInstance};
use alloy::primitives::{Address, Bytes, B256, U256};
use alloy::providers::Provider;
use anyhow::{bail, ensure, Context, Result};
use keyscope::bindings::DemoToken;
use keyscope::permissions::CompiledSession;
use keyscope::signer::signers::{DEFAULT_ORIGIN, DEFAULT_RP_ID};
use keyscope::signer::{P256Key, SessionKey, SessionSigner, SignsSessions, WebAuthnAuthenticator};
use keyscope::{
    Account, Client, Execution, GasSettings, OpOutcome, PreparedOp, SessionCall, Version,
};
use keyscope_e2e::{
    deploy_token, funded_account, mint_tokens, token_call, transfer, SessionJson, ETHER, GWEI,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// Where the figures are kept.
const RESULTS: &str = "bench/anvil-gas.json";
/// The recipient of every transfer (no zero byte, like most real addresses).
const RECIPIENT: Address = Address::repeat_byte(0x5e);
/// The amount of every transfer, in the token's units.
const AMOUNT: u64 = 7;
/// The recipient of the scope's probes that it does not allow.
const OTHER_RECIPIENT: Address = Address::repeat_byte(0x6f);
/// The scenario whose scope is probed (and compared with the peers').
const PROBED: &str = "session, 1-leaf tree, recipient eq and amount lte";
/// The sessions' last second: fixed (2100-01-01), so that the operations' bytes do not depend on the clock.
const VALID_UNTIL: u64 = 4_102_444_800;
/// The chain's genesis time: 1,800 s into an hour, so a run of less than half an hour stays in one hourly period.
const GENESIS_TIME: u64 = 4_000_001_400;
/// The bisection's range for `callGasLimit`: the transfer needs far less than the upper bound.
const CALL_GAS_RANGE: (u128, u128) = (1_000, 400_000);
/// The signature counter of the passkey before each assertion (so every assertion carries 1, whatever number of
/// operations the bisection signed before it).
const WEBAUTHN_COUNTER: u32 = 0;

/// One measured operation (Keyscope's, or a peer's, whose EntryPoint is its [`Peer`]'s).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Measurement {
    /// `v0.7` or `v0.8`; empty (and not written) in a peer's measurements.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    entry_point: String,
    /// What signs it, and under which scope.
    scenario: String,
    /// The `handleOps` transaction's receipt `gasUsed`.
    gas_used: u64,
    /// `UserOperationEvent.actualGasUsed`.
    actual_gas_used: u64,
    /// The transaction's calldata, in bytes.
    calldata_bytes: usize,
    /// The operation's `callGasLimit` (the smallest under which the call succeeds).
    call_gas_limit: u128,
}

/// One probe of a scope: an operation just outside it, and whether the chain refused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Probe {
    /// What was tried.
    probe: String,
    /// Whether it was refused (validation failed, or the call reverted).
    refused: bool,
    /// Why: the validator's or the EntryPoint's error.
    reason: String,
}

/// A peer system's figures, as `bench/peers/<system>.mjs` prints them (same method).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Peer {
    /// The system and the package it is used through.
    system: String,
    /// `v0.7` or `v0.8`.
    entry_point: String,
    /// The scope the peer's key gets, in its own terms.
    scope: String,
    /// The owner's operation first, then the scoped key's.
    measurements: Vec<Measurement>,
    /// The scope's probes.
    probes: Vec<Probe>,
}

/// The file's content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Results {
    /// How the figures were made.
    method: String,
    /// The measurements, EntryPoint by EntryPoint, the owner's first.
    measurements: Vec<Measurement>,
    /// The scope of the session with both rules (EntryPoint v0.7), probed.
    probes: Vec<Probe>,
    /// The peers, measured the same way on the same node.
    peers: Vec<Peer>,
    /// The session with both rules ([`PROBED`]) again, its `signer` a key of another kind (P-256, WebAuthn, a
    /// multisig): measured last, on the same accounts, EntryPoint by EntryPoint.
    #[serde(rename = "signerKinds")]
    signer_kinds: Vec<Measurement>,
}

/// Who signs a scenario's operations.
enum Signer {
    Owner,
    /// The bench's secp256k1 session key.
    Session(Box<CompiledSession>),
    /// A session whose `signer` is a key of another kind.
    Kind(Box<CompiledSession>, Box<KindSigner>),
}

/// A session signer of another kind, signing deterministically: its signature depends on the userOpHash alone.
enum KindSigner {
    /// A P-256 key, or a multisig signed by all its members (RFC 6979 signatures).
    Signer(SessionSigner),
    /// A passkey: each assertion is made from the counter at [`WEBAUTHN_COUNTER`].
    Passkey(WebAuthnAuthenticator),
    /// A multisig signed by the members at these positions (of its members sorted by address).
    Multisig(SessionSigner, Vec<usize>),
}

impl SignsSessions for KindSigner {
    fn session_signature(&self, user_op_hash: &B256) -> keyscope::signer::Result<Vec<u8>> {
        match self {
            Self::Signer(signer) => signer.sign(user_op_hash),
            Self::Passkey(passkey) => {
                SessionSigner::from(passkey.clone().with_counter(WEBAUTHN_COUNTER))
                    .sign(user_op_hash)
            }
            Self::Multisig(signer, which) => signer.sign_with(user_op_hash, which),
        }
    }

    fn dummy_session_signature(&self) -> keyscope::signer::Result<Vec<u8>> {
        match self {
            Self::Signer(signer) => signer.dummy_signature(),
            Self::Passkey(passkey) => SessionSigner::from(passkey.clone()).dummy_signature(),
            Self::Multisig(signer, which) => signer.dummy_signature_with(which),
        }
    }
}

impl KindSigner {
    /// The session's `signer` address.
    fn address(&self) -> Result<Address> {
        Ok(match self {
            Self::Signer(signer) | Self::Multisig(signer, _) => signer.address()?,
            Self::Passkey(passkey) => SessionSigner::from(passkey.clone()).address()?,
        })
    }
}

/// The signer kinds measured, each with a fixed key: a label and the signer.
fn signer_kinds() -> Result<Vec<(&'static str, KindSigner)>> {
    let p256 = |byte: u8| P256Key::from_bytes(&[byte; 32]);
    let secp256k1 = |byte: u8| SessionKey::from_bytes(&[byte; 32]);
    let secp256k1_multisig = SessionSigner::multisig(
        2,
        vec![
            (1, secp256k1(0x11)?.into()),
            (1, secp256k1(0x12)?.into()),
            (1, secp256k1(0x13)?.into()),
        ],
    )?;
    let p256_multisig = SessionSigner::multisig(
        2,
        vec![
            (1, p256(0x21)?.into()),
            (1, p256(0x22)?.into()),
            (1, p256(0x23)?.into()),
        ],
    )?;
    Ok(vec![
        ("P-256 key", KindSigner::Signer(p256(0x0c)?.into())),
        (
            "WebAuthn passkey",
            KindSigner::Passkey(WebAuthnAuthenticator::new(
                p256(0x0d)?,
                DEFAULT_RP_ID,
                DEFAULT_ORIGIN,
            )),
        ),
        (
            "2-of-3 multisig of secp256k1 keys, 2 signing",
            KindSigner::Multisig(secp256k1_multisig, vec![0, 1]),
        ),
        (
            "2-of-3 multisig of P-256 keys, 2 signing",
            KindSigner::Multisig(p256_multisig, vec![0, 1]),
        ),
    ])
}

/// The scenarios: a label and who signs. The session ones all allow `transfer` on the token.
fn scenarios(key: &SessionKey, token: Address) -> Vec<(&'static str, Signer)> {
    let session = |permission: serde_json::Value| {
        Signer::Session(Box::new(
            SessionJson::new(key, 1)
                .valid_until(VALID_UNTIL)
                .permission(permission)
                .compile(),
        ))
    };
    let transfer = |extra: serde_json::Value| {
        let mut permission =
            json!({ "target": token.to_string(), "function": keyscope_e2e::TRANSFER });
        for (name, value) in extra.as_object().into_iter().flatten() {
            permission[name] = value.clone();
        }
        permission
    };
    let rules = json!([
        { "arg": "to", "op": "eq", "value": RECIPIENT.to_string() },
        { "arg": "amount", "op": "lte", "value": "100" }
    ]);
    vec![
        ("owner-signed", Signer::Owner),
        (
            "session, 1-leaf tree, no rule",
            session(transfer(json!({}))),
        ),
        (PROBED, session(transfer(json!({ "rules": rules })))),
        (
            "same, plus a lifetime ERC-20 limit",
            session(transfer(
                json!({ "rules": rules, "erc20_total_limit": "1000000" }),
            )),
        ),
        (
            "same, plus an ERC-20 allowance per hour instead",
            session(transfer(json!({
                "rules": rules, "period": "1h", "erc20_period_limit": "1000000"
            }))),
        ),
    ]
}

/// The gas settings of a measured operation: `preVerificationGas` 0, fixed fees, `callGasLimit` as given.
fn gas(call_gas_limit: u128) -> GasSettings {
    GasSettings {
        verification_gas_limit: 500_000,
        call_gas_limit,
        pre_verification_gas: 0,
        max_priority_fee_per_gas: Some(GWEI),
        max_fee_per_gas: Some(2 * GWEI),
        handle_ops_gas: 3_000_000,
    }
}

/// One EntryPoint's account, its owner, the session key and the token it transfers.
struct Bench {
    account: Account,
    owner: SessionKey,
    key: SessionKey,
    token: Address,
}

impl Bench {
    /// Prepares the transfer, signed as `signer` says, with `call_gas_limit`.
    async fn prepare(
        &self,
        client: &Client,
        signer: &Signer,
        call_gas_limit: u128,
    ) -> Result<PreparedOp> {
        let client = client.clone().with_gas(gas(call_gas_limit));
        let call = transfer(self.token, RECIPIENT, AMOUNT);
        Ok(match signer {
            Signer::Owner => {
                let execution = Execution {
                    target: call.target,
                    value: U256::ZERO,
                    callData: call.data,
                };
                let call_data = client.account_kind().execute(&[execution]);
                client
                    .prepare_owner_op(&self.account, &self.owner, call_data)
                    .await?
            }
            Signer::Session(session) => {
                client
                    .prepare_session_op(&self.account, &self.key, session, &[call])
                    .await?
            }
            Signer::Kind(session, signer) => {
                client
                    .prepare_session_op(&self.account, signer.as_ref(), session, &[call])
                    .await?
            }
        })
    }

    /// Sends the transfer for real; its outcome, checked to have succeeded.
    async fn send(
        &self,
        client: &Client,
        signer: &Signer,
        call_gas_limit: u128,
    ) -> Result<OpOutcome> {
        let prepared = self.prepare(client, signer, call_gas_limit).await?;
        let outcome = client.send(&prepared).await?;
        ensure!(outcome.success, "the operation's call failed: {outcome:?}");
        Ok(outcome)
    }

    /// Whether the transfer's call succeeds with `call_gas_limit`: the operation is sent between `evm_snapshot`
    /// and `evm_revert`, so it leaves no trace on the chain. A client of its own sends it (`node`'s endpoint): the
    /// reverted transaction must not stay in the measuring client's nonce cache.
    async fn succeeds(
        &self,
        node: &AnvilInstance,
        signer: &Signer,
        call_gas_limit: u128,
    ) -> Result<bool> {
        let client = &keyscope_e2e::client(node).await;
        let provider = client.provider();
        let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await?;
        let outcome = match self.prepare(client, signer, call_gas_limit).await {
            Ok(prepared) => client.send(&prepared).await.map_err(anyhow::Error::from),
            Err(error) => Err(error),
        };
        let reverted: bool = provider
            .raw_request("evm_revert".into(), (snapshot,))
            .await?;
        ensure!(reverted, "evm_revert refused snapshot {snapshot}");
        // Only the call's failure (out of gas) says the limit is too small; any other error ends the measurement.
        Ok(outcome
            .with_context(|| format!("probing callGasLimit {call_gas_limit}"))?
            .success)
    }

    /// Sends `call` under `session` inside a snapshot, after moving the clock to `at` when given; whether the chain
    /// refused it, and why.
    async fn probe(
        &self,
        node: &AnvilInstance,
        session: &CompiledSession,
        what: &str,
        call: SessionCall,
        at: Option<u64>,
    ) -> Result<Probe> {
        let client = &keyscope_e2e::client(node)
            .await
            .with_gas(gas(CALL_GAS_RANGE.1));
        let provider = client.provider();
        let snapshot: U256 = provider.raw_request("evm_snapshot".into(), ()).await?;
        if let Some(at) = at {
            let _: serde_json::Value = provider
                .raw_request("evm_setNextBlockTimestamp".into(), (at,))
                .await?;
            let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await?;
        }
        let outcome = client
            .prepare_session_op(&self.account, &self.key, session, &[call])
            .await;
        let outcome = match outcome {
            Ok(prepared) => client.send(&prepared).await,
            Err(error) => Err(error),
        };
        let reverted: bool = provider
            .raw_request("evm_revert".into(), (snapshot,))
            .await?;
        ensure!(reverted, "evm_revert refused snapshot {snapshot}");
        let (refused, reason) = match outcome {
            Ok(outcome) if outcome.success => (false, "accepted".to_owned()),
            Ok(outcome) => (true, format!("the call reverted: {:?}", outcome.revert)),
            Err(error) => (true, refusal(&error)),
        };
        Ok(Probe {
            probe: what.to_owned(),
            refused,
            reason,
        })
    }

    /// The scope of `session` (the transfer to [`RECIPIENT`] of at most 100, until [`VALID_UNTIL`]) probed with an
    /// operation just outside it in each direction.
    async fn probe_scope(
        &self,
        node: &AnvilInstance,
        session: &CompiledSession,
    ) -> Result<Vec<Probe>> {
        let approve = token_call(
            self.token,
            DemoToken::approveCall {
                spender: RECIPIENT,
                value: U256::from(AMOUNT),
            },
        );
        Ok(vec![
            self.probe(
                node,
                session,
                "wrong recipient",
                transfer(self.token, OTHER_RECIPIENT, AMOUNT),
                None,
            )
            .await?,
            self.probe(
                node,
                session,
                "amount 101",
                transfer(self.token, RECIPIENT, 101),
                None,
            )
            .await?,
            self.probe(node, session, "another selector (approve)", approve, None)
                .await?,
            self.probe(
                node,
                session,
                "after the window",
                transfer(self.token, RECIPIENT, AMOUNT),
                Some(VALID_UNTIL + 1),
            )
            .await?,
        ])
    }

    /// Measures the transfer signed as `signer` says: once sent for the steady state, then sent again with the
    /// smallest `callGasLimit` under which its call succeeds, and recorded.
    async fn measure(
        &self,
        node: &AnvilInstance,
        client: &Client,
        version: Version,
        label: &str,
        signer: &Signer,
    ) -> Result<Measurement> {
        eprintln!("{} {label}: measuring", version.label());
        // Steady state: one operation first writes the lane's nonce, the session's counters and the balances.
        self.send(client, signer, CALL_GAS_RANGE.1).await?;
        let call_gas_limit = self.smallest_call_gas_limit(node, signer).await?;
        let outcome = self.send(client, signer, call_gas_limit).await?;
        let transaction = client
            .provider()
            .get_transaction_by_hash(outcome.tx_hash)
            .await?
            .context("the handleOps transaction is not found")?;
        let input: &Bytes = alloy::consensus::Transaction::input(transaction.inner.inner());
        Ok(Measurement {
            entry_point: version.label().to_owned(),
            scenario: label.to_owned(),
            gas_used: outcome.gas_used,
            actual_gas_used: u64::try_from(outcome.actual_gas_used)?,
            calldata_bytes: input.len(),
            call_gas_limit,
        })
    }

    /// The session with both rules ([`PROBED`]) once more for each signer kind, its `signer` that kind's key:
    /// granted, then measured as [`Self::measure`] does.
    async fn measure_signer_kinds(
        &self,
        node: &AnvilInstance,
        client: &Client,
        version: Version,
    ) -> Result<Vec<Measurement>> {
        let probed = match scenarios(&self.key, self.token)
            .into_iter()
            .find(|(label, _)| *label == PROBED)
        {
            Some((_, Signer::Session(session))) => session,
            _ => bail!("no session scenario {PROBED:?}"),
        };
        let mut measurements = Vec::new();
        for (label, kind) in signer_kinds()? {
            let mut session = probed.clone();
            session.session.signer = kind.address()?;
            let outcome = client
                .grant_session(&self.account, &self.owner, &session.session)
                .await?;
            ensure!(outcome.success, "granting failed: {outcome:?}");
            let signer = Signer::Kind(session, Box::new(kind));
            measurements.push(self.measure(node, client, version, label, &signer).await?);
        }
        Ok(measurements)
    }

    /// The smallest `callGasLimit` under which the transfer's call succeeds.
    async fn smallest_call_gas_limit(&self, node: &AnvilInstance, signer: &Signer) -> Result<u128> {
        let (mut low, mut high) = CALL_GAS_RANGE;
        ensure!(
            self.succeeds(node, signer, high).await?,
            "the call fails even with callGasLimit {high}"
        );
        // Invariant: `high` succeeds, `low` fails (or is the range's floor).
        while high - low > 1 {
            let middle = low + (high - low) / 2;
            if self.succeeds(node, signer, middle).await? {
                high = middle;
            } else {
                low = middle;
            }
        }
        Ok(high)
    }
}

/// The name of the error behind a refusal: the validator's error, else the EntryPoint's code, else the message.
fn refusal(error: &keyscope::Error) -> String {
    if let Some(validator) = error.validator_error() {
        let text = format!("{validator:?}");
        return text.split('(').next().unwrap_or(&text).to_owned();
    }
    match error.aa_code() {
        Some(code) => code.to_owned(),
        None => error.to_string(),
    }
}

/// Runs `node bench/peers/<script> NODE_URL` against `node` and reads the figures it prints.
fn peer(node: &AnvilInstance, script: &str) -> Result<Peer> {
    let root = keyscope_e2e::repo_root();
    let output =
        std::process::Command::new(std::env::var("NODE").unwrap_or_else(|_| "node".into()))
            .current_dir(&root)
            .arg(format!("bench/peers/{script}"))
            .arg(node.endpoint())
            .output()
            .with_context(|| {
                format!("node bench/peers/{script} does not start (script/toolchain.sh)")
            })?;
    ensure!(
        output.status.success(),
        "bench/peers/{script} failed ({}):\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .with_context(|| format!("bench/peers/{script} printed no figures"))
}

/// Measures every scenario on a fresh account of `version`; the account, for the signer kinds measured last.
async fn measure_entry_point(
    node: &AnvilInstance,
    client: &Client,
    version: Version,
    salt: u64,
) -> Result<(Vec<Measurement>, Vec<Probe>, Bench)> {
    let owner = SessionKey::from_bytes(&[0x0a; 32])?;
    let key = SessionKey::from_bytes(&[0x0b; 32])?;
    // The account keeps a deposit at the EntryPoint, as accounts that operate often do: no measured operation
    // transfers a prefund (one that does pays that transfer on top, owner and session alike).
    let account = funded_account(client, owner.address(), version, salt, Some(ETHER / 10)).await;
    let token = deploy_token(client).await;
    mint_tokens(client, token, account.address, 1_000_000).await;
    let scenarios = scenarios(&key, token);
    let bench = Bench {
        account,
        owner,
        key,
        token,
    };
    for (_, signer) in &scenarios {
        if let Signer::Session(session) = signer {
            let outcome = client
                .grant_session(&bench.account, &bench.owner, &session.session)
                .await?;
            ensure!(outcome.success, "granting failed: {outcome:?}");
        }
    }
    let mut measurements = Vec::with_capacity(scenarios.len());
    for (label, signer) in &scenarios {
        measurements.push(bench.measure(node, client, version, label, signer).await?);
    }
    let probes = match scenarios.iter().find(|(label, _)| *label == PROBED) {
        Some((_, Signer::Session(session))) => bench.probe_scope(node, session).await?,
        _ => bail!("no session scenario {PROBED:?} to probe"),
    };
    Ok((measurements, probes, bench))
}

#[tokio::main]
async fn main() -> Result<()> {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => bail!("unknown argument {other:?} (usage: anvil-gas [--check])"),
    };
    // The chain's clock starts at a fixed time, mid-hour: the hourly allowance's period index, which the operation
    // carries, is then the same on every run (its bytes change calldata gas).
    let anvil = Anvil::at(keyscope_e2e::anvil_path())
        .args(["--timestamp", &GENESIS_TIME.to_string()])
        .spawn();
    let client = keyscope_e2e::client(&anvil).await;
    let (mut measurements, probes, v07) =
        measure_entry_point(&anvil, &client, Version::V07, 1).await?;
    let (v08_measurements, _, v08) = measure_entry_point(&anvil, &client, Version::V08, 2).await?;
    measurements.extend(v08_measurements);
    // Then the peers: their scripts send from the same dev account, which the client's nonce cache does not see.
    let mut peers = Vec::new();
    for script in ["metamask.mjs", "biconomy.mjs"] {
        eprintln!("peer: measuring (bench/peers/{script})");
        peers.push(peer(&anvil, script)?);
    }
    // Last, so that nothing measured before moves: the signer kinds, on the same accounts, through a new client.
    let client = keyscope_e2e::client(&anvil).await;
    let mut signer_kinds = v07
        .measure_signer_kinds(&anvil, &client, Version::V07)
        .await?;
    signer_kinds.extend(
        v08.measure_signer_kinds(&anvil, &client, Version::V08)
            .await?,
    );
    for m in measurements.iter().chain(&signer_kinds) {
        println!(
            "{} {:<52} gasUsed {:>7}  actualGasUsed {:>7}  calldata {:>5} B  callGasLimit {:>6}",
            m.entry_point,
            m.scenario,
            m.gas_used,
            m.actual_gas_used,
            m.calldata_bytes,
            m.call_gas_limit
        );
    }
    for p in probes
        .iter()
        .chain(peers.iter().flat_map(|peer| &peer.probes))
    {
        println!(
            "probe {:<28} refused {:<5} {}",
            p.probe, p.refused, p.reason
        );
    }
    let results = Results {
        probes,
        peers,
        method: "anvil (the pinned @foundry-rs/anvil-linux-amd64), one handleOps transaction per block, steady state, \
                 preVerificationGas 0, the smallest callGasLimit that succeeds"
            .to_owned(),
        measurements,
        signer_kinds,
    };
    let path = keyscope_e2e::repo_root().join(RESULTS);
    let text = format!("{}\n", serde_json::to_string_pretty(&results)?);
    if check {
        let kept = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "{} is missing: run anvil-gas without --check",
                path.display()
            )
        })?;
        ensure!(
            kept == text,
            "{} is not current: run `cargo run -p keyscope-bench --bin anvil-gas` and commit",
            path.display()
        );
        println!("{RESULTS} is current");
    } else {
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        println!("wrote {RESULTS}");
    }
    Ok(())
}
