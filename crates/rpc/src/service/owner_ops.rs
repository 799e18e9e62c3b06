//! Building owner operations: the calls that grant sessions (or install the validator with them), as an unsigned
//! user operation with its gas estimated by the bundler when there is one.

use keyscope::alloy::primitives::{Bytes, B256, U256};
use keyscope::alloy::rpc::types::PackedUserOperation as UserOperation;
use keyscope::bundler::to_rpc;
use keyscope::error::redacted_error_chain;
use keyscope::permissions::{CompiledSession, SessionSpec};
use keyscope::{Execution, GasSource};
use serde::Serialize;
use serde_json::{Map, Value};

use super::Service;
use crate::account::ResolvedAccount;
use crate::error::{Error, Result};
use crate::sessions::{Call, Origin, SessionRecord};
use crate::store::Stored;

/// What an owner must sign and send to change an account's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AccountOperation {
    /// The calls the account makes (ERC-5792 `wallet_sendCalls` shape).
    pub calls: Vec<Call>,
    /// `userOp.callData` running them (ERC-7579 `execute`, or `installModule` when the validator is missing).
    pub call_data: Bytes,
    /// The owner's user operation, unsigned (`KeyscopeAccount`s only; `null` for other accounts).
    pub user_op: Option<UserOperation>,
    /// Its userOpHash: the owner signs it raw (65-byte ECDSA, no EIP-191 prefix) into `userOp.signature`.
    pub user_op_hash: Option<B256>,
    /// Whether the bundler (`--bundler-url`) estimated the operation's gas; the defaults of the SDK's
    /// `GasSettings` otherwise.
    pub gas_estimated: bool,
    /// Why the bundler could not estimate it (the operation then has the default limits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gas_estimate_error: Option<String>,
}

/// Sessions compiled for one account, with the operation that grants them.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    /// The account.
    pub resolved: ResolvedAccount,
    /// The session records, in request order.
    pub records: Vec<SessionRecord>,
    /// What the owner signs.
    pub operation: AccountOperation,
}

impl Service {
    /// The owner operation running `calls` (or `call_data`, when given, as the operation's `callData`): built
    /// and, with a bundler, estimated by the SDK ([`keyscope::Client::unsigned_owner_op`]).
    pub(crate) async fn account_operation(
        &self,
        resolved: &ResolvedAccount,
        calls: Vec<Call>,
        call_data: Option<Bytes>,
    ) -> Result<AccountOperation> {
        let call_data = match call_data {
            Some(data) => data,
            None => {
                let executions: Vec<Execution> = calls
                    .iter()
                    .map(|call| Execution {
                        target: call.to,
                        value: U256::ZERO,
                        callData: call.data.clone(),
                    })
                    .collect();
                self.client.account_kind().execute(&executions)
            }
        };
        let mut operation = AccountOperation {
            calls,
            call_data,
            user_op: None,
            user_op_hash: None,
            gas_estimated: false,
            gas_estimate_error: None,
        };
        if !resolved.owner_operation {
            return Ok(operation);
        }
        let init_code = resolved
            .init
            .as_ref()
            .map(|(factory, data)| Bytes::from([factory.as_slice(), data.as_ref()].concat()));
        let unsigned = self
            .client
            .unsigned_owner_op(&resolved.account, operation.call_data.clone(), init_code)
            .await?;
        match unsigned.gas {
            GasSource::Settings => {}
            GasSource::Estimated => operation.gas_estimated = true,
            GasSource::EstimateFailed(error) => {
                operation.gas_estimate_error = Some(redacted_error_chain(&error));
            }
        }
        operation.user_op = Some(to_rpc(&unsigned.op)?);
        operation.user_op_hash = Some(unsigned.user_op_hash);
        Ok(operation)
    }

    /// Compiles `sessions` for `resolved`, remembers them and builds the operation that grants them all (installing
    /// the validator with them when the account lacks it: [`keyscope::Client::grant_calls`]).
    pub(crate) async fn grant(
        &self,
        resolved: ResolvedAccount,
        sessions: Vec<(SessionSpec, CompiledSession, Origin)>,
    ) -> Result<Grant> {
        let account = resolved.account.address;
        let mut records = Vec::with_capacity(sessions.len());
        for (spec, compiled, _) in &sessions {
            records.push(SessionRecord::new(compiled, spec)?);
        }
        let granted: Vec<_> = sessions.iter().map(|(_, c, _)| c.session.clone()).collect();
        let grant = self
            .client
            .grant_calls(account, &granted, resolved.validator_installed);
        let calls = grant
            .calls
            .into_iter()
            .map(|call| Call::new(call.target, call.callData))
            .collect();
        let operation = self
            .account_operation(&resolved, calls, Some(grant.call_data))
            .await?;
        // Stored before the answer leaves: a session the owner may grant always has its record.
        let stored: Vec<Stored> = sessions
            .into_iter()
            .map(|(spec, compiled, origin)| Stored {
                account,
                compiled,
                spec,
                origin,
                api_key: crate::gateway::caller_key().map(|key| key.to_string()),
            })
            .collect();
        self.remember(&stored).await?;
        Ok(Grant {
            resolved,
            records,
            operation,
        })
    }
}

/// Adds the fields of `operation` to `answer`.
pub(super) fn merge(answer: &mut Map<String, Value>, operation: &AccountOperation) -> Result<()> {
    match serde_json::to_value(operation).map_err(|e| Error::Internal(e.to_string()))? {
        Value::Object(fields) => {
            answer.extend(fields);
            Ok(())
        }
        _ => Err(Error::Internal(
            "an operation serialises to an object".into(),
        )),
    }
}
