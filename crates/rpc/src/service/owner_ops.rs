//! Building owner operations: the calls that grant sessions (or install the validator with them), as an unsigned
//! user operation with its gas estimated by the bundler when there is one.

use keyscope::alloy::primitives::{Bytes, B256, U256};
use keyscope::alloy::rpc::types::PackedUserOperation as UserOperation;
use keyscope::alloy::sol_types::{SolCall, SolValue};
use keyscope::bindings::{KeyscopeAccount, SessionKeyValidator};
use keyscope::bundler::to_rpc;
use keyscope::client::MODULE_TYPE_VALIDATOR;
use keyscope::error::redacted_error_chain;
use keyscope::permissions::{CompiledSession, SessionSpec};
use keyscope::{execute_batch, execute_single, nonce_key};
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
pub struct AccountOperation {
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
pub struct Grant {
    /// The account.
    pub resolved: ResolvedAccount,
    /// The session records, in request order.
    pub records: Vec<SessionRecord>,
    /// What the owner signs.
    pub operation: AccountOperation,
}

impl Service {
    /// The owner operation running `calls` (or `direct` call data on the account itself).
    pub async fn account_operation(
        &self,
        resolved: &ResolvedAccount,
        calls: Vec<Call>,
        direct: Option<Bytes>,
    ) -> Result<AccountOperation> {
        let call_data = match (direct, calls.as_slice()) {
            (Some(data), _) => data,
            (None, [call]) => execute_single(call.to, U256::ZERO, &call.data),
            (None, calls) => execute_batch(
                &calls
                    .iter()
                    .map(|c| (c.to, U256::ZERO, c.data.clone()))
                    .collect::<Vec<_>>(),
            ),
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
        let version = resolved.account.version;
        let key = nonce_key(self.client.stack().owner_validator, 0);
        let mut op = self
            .client
            .unsigned_op(&resolved.account, key, operation.call_data.clone())
            .await?;
        if let Some((factory, data)) = &resolved.init {
            op.initCode = [factory.as_slice(), data.as_ref()].concat().into();
        }
        if let Some(bundler) = &self.bundler {
            // The owner validator answers SIG_VALIDATION_FAILED to a dummy signature of the right length, so the
            // bundler can run validation and execution to estimate.
            op.signature = keyscope::signer::dummy_ecdsa_signature().to_vec().into();
            let entry_point = self.client.stack().version(version).entry_point;
            match bundler.estimate_user_operation_gas(&op, entry_point).await {
                Ok(estimate) => {
                    estimate.apply(&mut op)?;
                    operation.gas_estimated = true;
                }
                Err(error) => operation.gas_estimate_error = Some(redacted_error_chain(&error)),
            }
            op.signature = Bytes::new();
        }
        let hash = self
            .client
            .stack()
            .entry_point(version)
            .user_op_hash(&op, self.chain_id)
            .map_err(keyscope::Error::from)?;
        operation.user_op = Some(to_rpc(&op)?);
        operation.user_op_hash = Some(hash);
        Ok(operation)
    }

    /// Compiles `sessions` for `resolved`, remembers them and builds the operation that grants them all.
    pub async fn grant(
        &self,
        resolved: ResolvedAccount,
        sessions: Vec<(SessionSpec, CompiledSession, Origin)>,
    ) -> Result<Grant> {
        let validator = self.client.stack().session_key_validator;
        let account = resolved.account.address;
        let mut records = Vec::with_capacity(sessions.len());
        for (spec, compiled, _) in &sessions {
            records.push(SessionRecord::new(compiled, spec)?);
        }
        let (calls, direct) = if resolved.validator_installed {
            let calls = sessions
                .iter()
                .map(|(_, compiled, _)| {
                    let mut data = SessionKeyValidator::grantSessionCall::SELECTOR.to_vec();
                    data.extend_from_slice(&compiled.session.abi_encode());
                    Call::new(validator, data)
                })
                .collect();
            (calls, None)
        } else {
            // Install the validator with the sessions as its init data: one call the account makes on itself.
            let init: Vec<_> = sessions.iter().map(|(_, c, _)| c.session.clone()).collect();
            let data: Bytes = KeyscopeAccount::installModuleCall {
                moduleTypeId: U256::from(MODULE_TYPE_VALIDATOR),
                module: validator,
                initData: init.abi_encode().into(),
            }
            .abi_encode()
            .into();
            (vec![Call::new(account, data.clone())], Some(data))
        };
        let operation = self.account_operation(&resolved, calls, direct).await?;
        for (spec, compiled, origin) in sessions {
            self.remember(Stored {
                account,
                compiled,
                spec,
                origin,
            });
        }
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
