//! The comparison: each operation explained off-chain and run through `EntryPoint.handleOps` and
//! `SessionKeyValidator.validateUserOp` (`eth_call`); the verdicts must agree exactly.

use std::collections::BTreeMap;

use alloy::network::TransactionBuilder;
use alloy::primitives::{Bytes, B256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::{SolCall, SolValue};
use keyscope::bindings::session_key_validator::SessionKeyValidator;
use keyscope::explain::{validate_user_op, ExplainInput, OperationCost, Rejection, Verdict};
use keyscope::{Account, Error, PreparedOp, Revert};

use crate::generators::TestSession;
use crate::operations::{build, Env, Plan};

#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) compared: usize,
    pub(crate) sent: usize,
    pub(crate) by_outcome: BTreeMap<String, usize>,
    pub(crate) samples: BTreeMap<String, String>,
}

/// Revert data of an `eth_call` error (`None`: not a revert). A revert without data is only anvil's exact
/// "execution reverted" with no `data`: any other error (out of gas, a node error) must not pass for an empty
/// revert.
fn revert_data(error: &alloy::transports::TransportError) -> Option<Bytes> {
    let payload = error.as_error_resp()?;
    if let Some(data) = payload.as_revert_data() {
        return Some(data);
    }
    (payload.message == "execution reverted" && payload.data.is_none()).then(Bytes::new)
}

/// Explains `op`, runs it on chain both ways, and checks that everything agrees. Returns the verdict.
pub(crate) async fn compare(
    env: &Env,
    stats: &mut Stats,
    account: &Account,
    op: &PreparedOp,
    label: &str,
) -> Verdict {
    let client = &env.client;
    let explained = client.explain(&op.op, op.version, None).await.unwrap();
    assert_eq!(explained.user_op_hash, op.user_op_hash);
    let verdict = explained.verdict.clone();
    let context = || {
        format!(
            "[{label} on {:?}; gas limits {:?}, preVerificationGas {:#x}, fees {:?}, paymasterAndData {}] explain: \
             {verdict}",
            op.version,
            op.op.gas_limits(),
            op.op.preVerificationGas,
            op.op.gas_fees(),
            op.op.paymasterAndData,
        )
    };

    // The validator alone, called by the account.
    let validator = client.stack().session_key_validator;
    let call = SessionKeyValidator::validateUserOpCall {
        userOp: SessionKeyValidator::PackedUserOperation::abi_decode(&op.op.abi_encode()).unwrap(),
        userOpHash: op.user_op_hash,
    };
    let tx = TransactionRequest::default()
        .with_from(account.address)
        .with_to(validator)
        .with_input(call.abi_encode());
    let direct = client.provider().call(tx).await;
    let input = ExplainInput {
        op: &op.op,
        user_op_hash: op.user_op_hash,
        validator,
        version: op.version,
        now: explained.now,
        state: &explained.state,
    };
    let offline = validate_user_op(&input, account.address);
    match (&direct, &offline) {
        (Ok(returned), Ok(validation)) => {
            let returned = U256::abi_decode(returned).unwrap();
            assert_eq!(returned, validation.validation_data, "{}", context());
        }
        (Err(error), Err(revert)) => {
            let data = revert_data(error).unwrap_or_else(|| panic!("{}: {error}", context()));
            assert_eq!(
                data,
                revert.revert_data(),
                "{}: chain reverted with {data}",
                context()
            );
        }
        (direct, offline) => panic!(
            "{}: validateUserOp on chain {direct:?}, offline {offline:?}",
            context()
        ),
    }

    // The EntryPoint.
    let chain = client.simulate(op).await;
    let outcome = match (&verdict, &chain) {
        // The EntryPoint's own checks of the gas fields, before it calls the account: the validator's answer was
        // compared above through the direct call.
        (_, Err(error))
            if entry_point_require(error) == Some("AA94") && gas_values_overflow(&op.op) =>
        {
            "AA94 (gas values overflow)".to_owned()
        }
        (_, Err(error))
            if entry_point_require(error) == Some("AA93")
                && (1..52).contains(&op.op.paymasterAndData.len()) =>
        {
            "AA93 (short paymasterAndData)".to_owned()
        }
        (Verdict::Accepted(validation), Err(Error::EntryPoint { code, .. }))
            if code == "AA21" && op.op.paymasterAndData.is_empty() =>
        {
            // The validator accepts (an unlimited or loose fee scope); what the account holds bounds the rest.
            let funds = funds(env, account).await;
            assert_eq!(OperationCost::of(&op.op).fee, validation.fees.fee());
            assert!(
                validation.fees.fee() > funds,
                "{}: AA21 although the account holds {funds} wei",
                context()
            );
            "accepted by the validator, AA21 (prefund)".to_owned()
        }
        (Verdict::Accepted(validation), Err(Error::Reverted(Revert::Other(data))))
            if data.is_empty()
                && !op.op.paymasterAndData.is_empty()
                && validation.fees.fee().is_zero() =>
        {
            // The validator accepts; with nothing to prefund the EntryPoint skips AA31 and calls the paymaster,
            // which has no code: Solidity's extcodesize check reverts the whole bundle without data.
            "accepted by the validator, paymaster without code".to_owned()
        }
        (Verdict::Accepted(_), Ok(())) => "accepted".to_owned(),
        (Verdict::Accepted(_), Err(Error::EntryPoint { code, .. }))
            if !op.op.paymasterAndData.is_empty() && code.starts_with("AA3") =>
        {
            // The validator accepts; the (undeployed) paymaster is the EntryPoint's next step.
            format!("accepted by the validator, {code} (paymaster)")
        }
        (
            Verdict::Rejected(Rejection::Reverted(expected)),
            Err(Error::EntryPoint {
                code,
                revert: Some(revert),
                ..
            }),
        ) if code == "AA23" => {
            let data = match revert {
                Revert::Validator(error) => {
                    alloy::sol_types::SolInterface::abi_encode(error.as_ref()).into()
                }
                Revert::Other(data) => data.clone(),
            };
            assert_eq!(
                data,
                expected.revert_data(),
                "{}: chain {revert}",
                context()
            );
            format!("AA23 {}", expected.name())
        }
        (
            Verdict::Rejected(Rejection::SignatureInvalid(_) | Rejection::ModuleNotInstalled),
            Err(Error::EntryPoint { code, .. }),
        ) if code == "AA24" => "AA24".to_owned(),
        (
            Verdict::Rejected(Rejection::OutsideWindow { .. }),
            Err(Error::EntryPoint { code, .. }),
        ) if code == "AA22" => "AA22".to_owned(),
        (_, chain) => panic!("{}: the EntryPoint says {chain:?}", context()),
    };
    assert!(!verdict.to_string().is_empty());
    stats.compared += 1;
    *stats.by_outcome.entry(outcome.clone()).or_default() += 1;
    stats
        .samples
        .entry(outcome)
        .or_insert_with(|| format!("{label}: {verdict}"));
    verdict
}

/// Builds, compares, and sends the operation when it is accepted and `send` is set.
pub(crate) async fn check(
    env: &Env,
    stats: &mut Stats,
    account: &Account,
    session: &TestSession,
    plan: &Plan,
    send: bool,
) -> Verdict {
    let op = build(env, account, session, plan).await;
    let verdict = compare(env, stats, account, &op, plan.label).await;
    if send && verdict.is_accepted() {
        let outcome = env.client.send(&op).await.unwrap();
        assert!(outcome.success, "{}: {outcome:?}", plan.label);
        stats.sent += 1;
        // The fee counter moved as explained: by the operation's maximum cost, for a session with a budget.
        let validation = verdict.validation().unwrap();
        assert_eq!(
            fees_charged(env, account, validation.session_id).await,
            validation.fees.charged_after,
            "{}: {verdict}",
            plan.label
        );
    }
    verdict
}

/// The `AAxx` code of an EntryPoint rejection that is a `require` string of its own (`"AA94 gas values
/// overflow"`), or a `FailedOp`.
fn entry_point_require(error: &Error) -> Option<&'static str> {
    let reason = match error {
        Error::EntryPoint { code, .. } => code.clone(),
        Error::Reverted(Revert::Other(data)) => {
            <alloy::sol_types::Revert as alloy::sol_types::SolError>::abi_decode(data)
                .ok()?
                .reason
        }
        _ => return None,
    };
    ["AA93", "AA94"]
        .into_iter()
        .find(|code| reason.starts_with(code))
}

/// `feesChargedOf(account, sessionId)`.
pub(crate) async fn fees_charged(env: &Env, account: &Account, session_id: B256) -> U256 {
    let validator = env.client.stack().session_key_validator;
    SessionKeyValidator::new(validator, env.client.provider().clone())
        .feesChargedOf(account.address, session_id)
        .call()
        .await
        .unwrap()
}

/// What the account can pay a prefund with: its balance and its EntryPoint deposit.
async fn funds(env: &Env, account: &Account) -> U256 {
    let provider = env.client.provider();
    let entry_point = env.client.stack().entry_point(account.version).address();
    let deposit =
        keyscope::bindings::entry_point_v07::EntryPoint::new(entry_point, provider.clone())
            .balanceOf(account.address)
            .call()
            .await
            .unwrap();
    provider.get_balance(account.address).await.unwrap() + deposit
}

/// Whether the EntryPoint refuses the operation's gas values (`AA94`): any gas limit or fee above 2^120 − 1.
fn gas_values_overflow(op: &keyscope::signer::PackedUserOperation) -> bool {
    let (verification, call) = op.gas_limits();
    let (priority, max_fee) = op.gas_fees();
    let (paymaster_verification, post_op) = op.paymaster_gas_limits().unwrap_or_default();
    let max = (1u128 << 120) - 1;
    op.preVerificationGas > U256::from(max)
        || [
            verification,
            call,
            priority,
            max_fee,
            paymaster_verification,
            post_op,
        ]
        .iter()
        .any(|v| *v > max)
}

pub(crate) fn expect_error(verdict: &Verdict, name: &str) {
    let revert = verdict
        .revert()
        .unwrap_or_else(|| panic!("expected {name}, got {verdict}"));
    assert_eq!(revert.name(), name, "{verdict}");
}

pub(crate) async fn set_time(env: &Env, timestamp: u64) {
    let provider = env.client.provider();
    let _: serde_json::Value = provider
        .raw_request("anvil_setNextBlockTimestamp".into(), (timestamp,))
        .await
        .unwrap();
    let _: serde_json::Value = provider.raw_request("evm_mine".into(), ()).await.unwrap();
    assert_eq!(keyscope_e2e::now(provider).await, timestamp);
}
