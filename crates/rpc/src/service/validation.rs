//! Validating operations: `keyscope_validateSession` and `keyscope_handleOpsTransaction`, which set the SDK's
//! off-chain evaluation (`explain`) beside the chain's own verdict (`handleOps` in an `eth_call`).

use keyscope::alloy::primitives::{Address, B256};
use keyscope::alloy::rpc::types::PackedUserOperation as UserOperation;
use keyscope::bundler::from_rpc;
use keyscope::client::handle_ops_calldata;
use keyscope::signer::{PackedUserOperation, SessionSignature};
use keyscope::{PreparedOp, Rejection, Verdict, Version};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::Service;
use crate::account::{account_entry_point, parse_entry_point};
use crate::error::{Error, Result};
use crate::json::{from_value, hex_quantity, no_unknown, take};

/// Why an operation would be refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Failure {
    /// What named it: `"explain"` (the SDK's off-chain evaluation of the validator, which names the rule and its
    /// values) or `"simulation"` (`handleOps` in an `eth_call`, for what `explain` does not model: nonce,
    /// prefund, gas, factory, paymaster).
    pub source: &'static str,
    /// The failing rule: the validator's error name (`TargetNotAllowed`, `ArgumentRuleFailed` …), or the
    /// EntryPoint's code when no validator error is behind it (`AA22`, `AA24` …).
    pub rule: String,
    /// The EntryPoint's `AAxx` code, when the EntryPoint rejected the operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// The whole reason, with the error's parameters.
    pub message: String,
}

/// What [`Service::check_operation`] found.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// Why the operation would be refused (`None`: it would be accepted).
    pub failure: Option<Failure>,
    /// `explain`'s verdict (`{accepted, verdict, block, now}`).
    pub explain: Value,
    /// The simulation's (`{accepted, failure}`).
    pub simulation: Value,
}

impl Service {
    /// `keyscope_validateSession`: `{userOp, entryPoint?, chainId?}` or `[userOp, entryPoint]`.
    pub(crate) async fn validate_session(&self, mut params: Map<String, Value>) -> Result<Value> {
        self.check_chain(params.remove("chainId").as_ref(), "chainId", false)?;
        let user_op: UserOperation = take(&mut params, "userOp")?;
        let entry_point = params.remove("entryPoint");
        no_unknown(&params)?;
        let op = packed(&user_op)?;
        let version = match entry_point {
            Some(value) => {
                let text: String = from_value(value, "entryPoint")?;
                parse_entry_point(&text, &self.client, "entryPoint")?
            }
            None => self.account_version(op.sender).await?,
        };
        let user_op_hash = self.user_op_hash(version, &op)?;
        let mut answer = json!({
            "account": op.sender,
            "entryPoint": self.client.stack().version(version).entry_point,
            "userOpHash": user_op_hash,
        });
        if let Ok(signature) = SessionSignature::decode(&op.signature) {
            answer["sessionId"] = json!(signature.session_id());
            answer["signer"] = json!(signature.session.signer);
        }
        let checked = self.check_operation(version, &op, user_op_hash).await?;
        answer["valid"] = json!(checked.failure.is_none());
        if let Some(failure) = &checked.failure {
            answer["failure"] = json!(failure);
        }
        answer["explain"] = checked.explain;
        answer["simulation"] = checked.simulation;
        Ok(answer)
    }

    /// `explain` and the simulation of `op`, side by side: what `keyscope_validateSession` answers.
    pub(crate) async fn check_operation(
        &self,
        version: Version,
        op: &PackedUserOperation,
        user_op_hash: B256,
    ) -> Result<Checked> {
        // Off-chain evaluation (names the rule and its values) and the chain's own verdict, side by side.
        let (explanation, simulated) = tokio::join!(
            self.client.explain(op, version, None),
            self.simulate(version, op.clone(), user_op_hash)
        );
        let explanation = explanation?;
        let simulated = simulated?;
        let explained = explain_failure(&explanation.verdict);
        let failure = reported_failure(simulated.as_ref(), explained.as_ref()).cloned();
        Ok(Checked {
            failure,
            explain: json!({
                "accepted": explanation.verdict.is_accepted(),
                "verdict": explanation.verdict.to_string(),
                "block": explanation.block,
                "now": explanation.now,
            }),
            simulation: json!({ "accepted": simulated.is_none(), "failure": simulated }),
        })
    }

    /// The EntryPoint version of a deployed account (`-32602` on `entryPoint` when the account does not tell it;
    /// node failures are node errors).
    pub(crate) async fn account_version(&self, account: Address) -> Result<Version> {
        account_entry_point(&self.client, account)
            .await?
            .ok_or_else(|| {
                Error::invalid(
                    "entryPoint",
                    format!(
                    "required: {account} does not tell its EntryPoint (no code, or not v0.7/v0.8)"
                ),
                )
            })
    }

    /// `handleOps([op])` in an `eth_call`: `None` when the EntryPoint accepts it, else why not.
    pub(crate) async fn simulate(
        &self,
        version: Version,
        op: PackedUserOperation,
        user_op_hash: B256,
    ) -> Result<Option<Failure>> {
        let prepared = PreparedOp {
            version,
            op,
            user_op_hash,
        };
        match self.client.simulate(&prepared).await {
            Ok(()) => Ok(None),
            Err(error) => simulation_failure(error).map(Some),
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // keyscope_handleOpsTransaction
    // ---------------------------------------------------------------------------------------------------------

    /// `keyscope_handleOpsTransaction`: `{userOp, entryPoint?, beneficiary}` → the EOA transaction
    /// `EntryPoint.handleOps([userOp], beneficiary)`, after simulating it.
    pub(crate) async fn handle_ops_transaction(&self, params: Map<String, Value>) -> Result<Value> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Params {
            #[serde(default)]
            chain_id: Option<Value>,
            user_op: UserOperation,
            #[serde(default)]
            entry_point: Option<String>,
            beneficiary: Address,
        }
        let p: Params = from_value(Value::Object(params), "")?;
        self.check_chain(p.chain_id.as_ref(), "chainId", false)?;
        let op = packed(&p.user_op)?;
        let version = match &p.entry_point {
            Some(text) => parse_entry_point(text, &self.client, "entryPoint")?,
            None => match self.account_version(op.sender).await {
                Ok(version) => version,
                Err(Error::InvalidParams { .. }) if !op.initCode.is_empty() => {
                    return Err(Error::invalid(
                        "entryPoint",
                        "required for an account created by this operation",
                    ))
                }
                Err(error) => return Err(error),
            },
        };
        let entry_point = self.client.stack().version(version).entry_point;
        let user_op_hash = self.user_op_hash(version, &op)?;
        let data = handle_ops_calldata(std::slice::from_ref(&op), p.beneficiary);
        let failure = self.simulate(version, op, user_op_hash).await?;
        Ok(json!({
            "to": entry_point,
            "value": hex_quantity(0u64),
            "data": data,
            "userOpHash": user_op_hash,
            "accepted": failure.is_none(),
            "failure": failure,
        }))
    }
}

/// The failure to report when the simulation (the authority: it also runs what `explain` does not model — nonce,
/// prefund, gas, factory, paymaster) rejects: `explain`'s, which names the rule and its values, only when it
/// rejects for the same reason (the same `AAxx`, and the same validator error when the simulation decoded one);
/// the simulation's otherwise (an `initCode` operation that `explain` calls `ModuleNotInstalled` while the chain
/// says `AA1x`, …).
fn reported_failure<'a>(
    simulated: Option<&'a Failure>,
    explained: Option<&'a Failure>,
) -> Option<&'a Failure> {
    let simulated = simulated?;
    match explained {
        Some(explained)
            if explained.code.is_some()
                && explained.code == simulated.code
                && (explained.rule == simulated.rule
                    || simulated.code.as_deref() == Some(simulated.rule.as_str())) =>
        {
            Some(explained)
        }
        _ => Some(simulated),
    }
}

/// The rule `explain` finds failing, if it rejects the operation.
fn explain_failure(verdict: &Verdict) -> Option<Failure> {
    let Verdict::Rejected(rejection) = verdict else {
        return None;
    };
    let rule = match rejection {
        Rejection::Reverted(revert) => revert.name().to_owned(),
        Rejection::NotSessionValidator { .. } => "NotSessionValidator".to_owned(),
        Rejection::ModuleNotInstalled => "ModuleNotInstalled".to_owned(),
        Rejection::SignatureInvalid(_) => "SessionSignatureInvalid".to_owned(),
        Rejection::OutsideWindow { .. } => "OutsideWindow".to_owned(),
    };
    Some(Failure {
        source: "explain",
        rule,
        code: verdict.aa_code().map(str::to_owned),
        message: verdict.to_string(),
    })
}

/// A simulation error as a [`Failure`]; node failures stay errors.
fn simulation_failure(error: keyscope::Error) -> Result<Failure> {
    match &error {
        keyscope::Error::EntryPoint {
            code,
            message,
            revert,
            ..
        } => {
            let rule = revert
                .as_ref()
                .and_then(|r| r.name())
                .map(str::to_owned)
                .unwrap_or_else(|| {
                    if code.is_empty() {
                        message.clone()
                    } else {
                        code.clone()
                    }
                });
            Ok(Failure {
                source: "simulation",
                rule,
                code: (!code.is_empty()).then(|| code.clone()),
                message: error.to_string(),
            })
        }
        keyscope::Error::Reverted(revert) => Ok(Failure {
            source: "simulation",
            rule: revert.name().unwrap_or("Reverted").to_owned(),
            code: None,
            message: error.to_string(),
        }),
        _ => Err(Error::Node(error)),
    }
}

/// The packed form of an operation in the JSON-RPC shape; errors name the field (`userOp.callGasLimit`).
pub(super) fn packed(op: &UserOperation) -> Result<PackedUserOperation> {
    from_rpc(op).map_err(|error| match error {
        keyscope::Error::InvalidUserOperation { field, reason } => {
            Error::invalid(format!("userOp.{field}"), reason)
        }
        other => Error::Node(other),
    })
}
