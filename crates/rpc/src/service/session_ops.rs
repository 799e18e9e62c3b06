//! Session operations for clients in any language: `keyscope_prepareSessionOperation` builds the operation (gas,
//! fee scope, proofs, the wire format's dummy signature) and the hash the session key signs;
//! `keyscope_sendSessionOperation` puts the session key's signature into the wire format, checks the operation and
//! sends it. The service never sees a key.

use keyscope::alloy::primitives::{Address, Bytes, B256, U256};
use keyscope::alloy::providers::Provider;
use keyscope::alloy::rpc::types::PackedUserOperation as UserOperation;
use keyscope::bundler::to_rpc;
use keyscope::client::handle_ops_calldata;
use keyscope::permissions::{
    CompiledSession, SessionSpec, SignerKey, FLAG_ANY_TARGET, FLAG_NATIVE_TRANSFER,
};
use keyscope::signer::signers::DummyShape;
use keyscope::{assemble_session_signature, Account, PreparedOp, SessionCall, SessionStatus};
use keyscope::{Submission, Version};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::validation::packed;
use super::Service;
use crate::account::parse_entry_point;
use crate::error::{join_path, Error, Result};
use crate::json::{check_len, from_value, hex_quantity, no_unknown, take, Quantity};
use crate::sessions::{self, permissions_error, Origin};
use crate::store::Stored;

/// Most calls in one session operation (the wire format's bound).
const MAX_CALLS: usize = keyscope::permissions::MAX_CALLS;

/// One call of `keyscope_prepareSessionOperation`: `{to, value?, data?, permission?}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CallInput {
    /// The callee (`target` also read).
    #[serde(alias = "target")]
    to: Address,
    /// Native value (default 0).
    #[serde(default)]
    value: Option<Quantity>,
    /// Calldata (default empty: a native transfer).
    #[serde(default)]
    data: Option<Bytes>,
    /// The index of the session's permission that covers the call; found when exactly one matches.
    #[serde(default)]
    permission: Option<Quantity>,
}

/// The permissions of `session` that a call to `to` with `data` may run under: same target (or any target), same
/// selector (or a native transfer for empty calldata).
fn matching_permissions(session: &CompiledSession, to: Address, data: &[u8]) -> Vec<usize> {
    session
        .permissions
        .iter()
        .enumerate()
        .filter(|(_, p)| p.flags & FLAG_ANY_TARGET != 0 || p.target == to)
        .filter(|(_, p)| {
            if p.flags & FLAG_NATIVE_TRANSFER != 0 {
                data.is_empty()
            } else {
                data.len() >= 4 && p.selector.as_slice() == &data[..4]
            }
        })
        .map(|(index, _)| index)
        .collect()
}

/// Reads `calls` against `session`: each call's permission, given or resolved. The session's own revocation
/// (`revokeSession(sessionId)` on `validator`, no value) needs none: it is the session key's kill switch.
fn session_calls(
    value: Value,
    session: &CompiledSession,
    validator: Address,
) -> Result<Vec<SessionCall>> {
    let Value::Array(list) = value else {
        return Err(Error::invalid("calls", "expected an array of calls"));
    };
    if list.is_empty() {
        return Err(Error::invalid("calls", "at least one call"));
    }
    check_len("calls", list.len(), MAX_CALLS, "calls")?;
    list.into_iter()
        .enumerate()
        .map(|(i, value)| {
            let field = format!("calls[{i}]");
            let call: CallInput = from_value(value, &field)?;
            let data = call.data.unwrap_or_default();
            let value = call.value.map(|q| q.0).unwrap_or(U256::ZERO);
            let own = SessionCall::revoke_own_session(validator, session.session_id());
            if call.to == own.target && value == own.value && data == own.data {
                return Ok(own);
            }
            let count = session.permissions.len();
            let permission = match call.permission {
                Some(index) => {
                    let at = join_path(&field, "permission");
                    let index = usize::try_from(index.to_u64(&at)?).unwrap_or(usize::MAX);
                    if index >= count {
                        return Err(Error::invalid(
                            at,
                            format!("{index}: the session has {count} permission(s)"),
                        ));
                    }
                    index
                }
                None => match matching_permissions(session, call.to, &data).as_slice() {
                    [index] => *index,
                    [] => {
                        return Err(Error::invalid(
                            field,
                            format!(
                                "no permission of the session covers a call to {} {}",
                                call.to,
                                selector_text(&data)
                            ),
                        ))
                    }
                    several => {
                        return Err(Error::invalid(
                            join_path(&field, "permission"),
                            format!(
                                "required: permissions {several:?} all cover a call to {} {}",
                                call.to,
                                selector_text(&data)
                            ),
                        ))
                    }
                },
            };
            Ok(SessionCall {
                target: call.to,
                value,
                data,
                permission,
            })
        })
        .collect()
}

/// `with selector 0x…`, or `without calldata`.
fn selector_text(data: &[u8]) -> String {
    match data.get(..4) {
        Some(selector) => format!("with selector {}", Bytes::copy_from_slice(selector)),
        None if data.is_empty() => "without calldata".to_owned(),
        None => format!("with {} byte(s) of calldata", data.len()),
    }
}

impl Service {
    /// The session given at `session`: a session id this service stored for `account`, or a session record as
    /// `keyscope_createSessions` answers it (`{sessionId?, spec, …}`: its spec is compiled, and must give
    /// `sessionId` when that is there); with its spec.
    pub(crate) async fn session_param(
        &self,
        account: Address,
        value: Value,
    ) -> Result<(SessionSpec, CompiledSession)> {
        let (id, spec) = match value {
            Value::String(_) => (Some(from_value::<B256>(value, "session")?), None),
            Value::Object(mut record) => {
                let id = match record.remove("sessionId") {
                    Some(value) => Some(from_value::<B256>(value, "session.sessionId")?),
                    None => None,
                };
                (id, record.remove("spec"))
            }
            _ => return Err(Error::invalid(
                "session",
                "expected a session id or a session record (as keyscope_createSessions answers it)",
            )),
        };
        match (id, spec) {
            (id, Some(spec)) => {
                let spec = SessionSpec::from_json(&spec.to_string())
                    .map_err(|e| permissions_error(e, "session.spec"))?;
                let compiled = sessions::compile(&spec, "session.spec")?;
                match id {
                    Some(id) if id != compiled.session_id() => Err(Error::invalid(
                        "session.sessionId",
                        format!(
                            "{id} is not the id of the record's spec ({})",
                            compiled.session_id()
                        ),
                    )),
                    _ => Ok((spec, compiled)),
                }
            }
            (Some(id), None) => {
                self.remembered(account, &[id])
                    .await?
                    .remove(&id)
                    .map(|stored| (stored.spec.clone(), stored.compiled.clone()))
                    .ok_or_else(|| {
                        Error::invalid(
                            "session",
                            format!(
                                "no session {id} of {account} is stored by this service: give the session record \
                                 (as keyscope_createSessions answered it)"
                            ),
                        )
                    })
            }
            (None, None) => Err(Error::invalid(
                "session.spec",
                "required: a session record has its spec",
            )),
        }
    }

    /// The EntryPoint version of the request: `entryPoint` when given, else the account's own.
    async fn request_version(
        &self,
        entry_point: Option<Value>,
        account: Address,
    ) -> Result<Version> {
        match entry_point {
            Some(value) => {
                let text: String = from_value(value, "entryPoint")?;
                parse_entry_point(&text, &self.client, "entryPoint")
            }
            None => self.account_version(account).await,
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // keyscope_prepareSessionOperation
    // ---------------------------------------------------------------------------------------------------------

    /// `keyscope_prepareSessionOperation`: `{chainId?, account, session, calls, entryPoint?, multichainEnable?,
    /// signerKey?, signatureShape?}` (or positional `[account, session, calls]`) → the session operation with its
    /// gas final and within the session's fee scope (the SDK's [`keyscope::Client::prepare_unsigned_session_op_for`]),
    /// its signature the wire format's with a dummy session signature of the signer's kind and length (the signer
    /// key `signerKey`, else the session's recorded `signer_key`, else a secp256k1 key; `signatureShape` the
    /// WebAuthn `rpId`/`origin`/`flags` and the multisig's signing `members`), and `userOpHash`, which the session
    /// signer signs raw. With `multichainEnable` (the answer of
    /// `keyscope_prepareMultichainEnable` with the owner's `ownerSignature`), the operation is the session's first
    /// on this chain and grants it (signature mode 2).
    pub(crate) async fn prepare_session_operation(
        &self,
        mut params: Map<String, Value>,
    ) -> Result<Value> {
        self.check_chain(params.remove("chainId").as_ref(), "chainId", false)?;
        let account = self
            .account_address(params.remove("account"), "account")
            .await?;
        let session = params
            .remove("session")
            .ok_or_else(|| Error::invalid("session", "required"))?;
        let calls = params
            .remove("calls")
            .ok_or_else(|| Error::invalid("calls", "required"))?;
        let entry_point = params.remove("entryPoint");
        let multichain = params.remove("multichainEnable");
        let signer_key = match params.remove("signerKey") {
            Some(value) => Some(from_value::<SignerKey>(value, "signerKey")?),
            None => None,
        };
        let shape = match params.remove("signatureShape") {
            Some(value) => Some(from_value::<DummyShape>(value, "signatureShape")?),
            None => None,
        };
        no_unknown(&params)?;
        let (spec, session) = self.session_param(account, session).await?;
        // The signer whose dummy signature the gas is estimated with: given, recorded, or a secp256k1 key.
        let signer_key = match signer_key.or_else(|| spec.signer_key.clone()) {
            Some(key) => key,
            None if shape.is_some() => {
                return Err(Error::invalid(
                    "signatureShape",
                    "the session records no signer key: give signerKey (the P-256, WebAuthn or multisig key its \
                     signer commits to) with it",
                ))
            }
            None => SignerKey::Secp256k1 {
                address: session.session.signer,
            },
        };
        let shape = shape.unwrap_or_default();
        let shape_error = |error: keyscope::Error| match error {
            keyscope::Error::SignerKeyMismatch { .. } => {
                Error::invalid("signerKey", error.to_string())
            }
            keyscope::Error::Signer(
                keyscope::signer::Error::NotMultisig
                | keyscope::signer::Error::MemberIndexOutOfRange { .. }
                | keyscope::signer::Error::DuplicateMemberIndex { .. }
                | keyscope::signer::Error::NoMemberSelected,
            ) => Error::invalid("signatureShape.members", error.to_string()),
            keyscope::Error::Signer(keyscope::signer::Error::Permissions(_)) => {
                Error::invalid("signerKey", error.to_string())
            }
            other => Error::Node(other),
        };
        let calls = session_calls(calls, &session, self.client.stack().session_key_validator)?;
        if self
            .client
            .provider()
            .get_code_at(account)
            .await?
            .is_empty()
        {
            return Err(Error::invalid(
                "account",
                format!(
                    "{account} has no code: the owner creates it (and grants the session) first"
                ),
            ));
        }
        let version = self.request_version(entry_point, account).await?;
        let account = Account {
            address: account,
            version,
        };
        let session_id = session.session_id();
        let status = self.client.session_status(&account, session_id).await?;
        let enabling = match multichain {
            Some(value) => Some(
                self.multichain_enabling(value, account.address, &session)
                    .await?,
            ),
            None => None,
        };
        match (status, &enabling) {
            (SessionStatus::Active, None) | (SessionStatus::Unknown, Some(_)) => {}
            (SessionStatus::Active, Some(_)) => {
                return Err(Error::invalid(
                    "multichainEnable",
                    format!(
                    "session {session_id} is already active on {}: send the operation without it",
                    account.address
                ),
                ))
            }
            (status, _) => {
                let grant = if enabling.is_some() {
                    "a revoked session stays revoked"
                } else {
                    "the owner grants it first (or give multichainEnable)"
                };
                return Err(Error::invalid(
                    "session",
                    format!(
                        "session {session_id} is not active on {} (status {status:?}): {grant}",
                        account.address
                    ),
                ));
            }
        }
        let unsigned = match &enabling {
            Some(enabling) => self
                .client
                .prepare_unsigned_multichain_enable_op_for(
                    &account,
                    &session,
                    &enabling.chain_proof,
                    &enabling.owner_signature,
                    &calls,
                    &signer_key,
                    &shape,
                )
                .await
                .map_err(shape_error)?,
            None => self
                .client
                .prepare_unsigned_session_op_for(&account, &session, &calls, &signer_key, &shape)
                .await
                .map_err(shape_error)?,
        };
        if enabling.is_some() {
            // Its first operation here will grant the session: stored now (the owner's signature is checked), so
            // later operations may name it by id.
            self.remember(&[Stored {
                account: account.address,
                compiled: session.clone(),
                spec,
                origin: Origin::Keyscope,
                api_key: crate::gateway::caller_key().map(|key| key.to_string()),
            }])
            .await?;
        }
        let mut answer = json!({
            "chainId": hex_quantity(self.chain_id),
            "account": account.address,
            "entryPoint": self.client.stack().version(version).entry_point,
            "entryPointVersion": version.label(),
            "validator": self.client.stack().session_key_validator,
            "sessionId": session_id,
            "signer": unsigned.signer(),
            "calls": calls.iter().map(|call| {
                let validator = self.client.stack().session_key_validator;
                // The session's own revocation uses no permission.
                let permission = (!call.is_own_revocation(validator, session_id)).then_some(call.permission);
                json!({
                    "to": call.target,
                    "value": format!("{:#x}", call.value),
                    "data": call.data,
                    "permission": permission,
                })
            }).collect::<Vec<_>>(),
            "userOp": to_rpc(&unsigned.op)?,
            "userOpHash": unsigned.user_op_hash,
            "gasEstimated": matches!(self.client.submission(), Submission::Bundler(_)),
            "feeScope": sessions::fee_scope_json(&unsigned.usage.scope),
            "multichainEnable": enabling.is_some(),
        });
        sessions::set_fees(
            &mut answer,
            unsigned.usage.charged,
            Some(&unsigned.usage.scope),
        );
        Ok(answer)
    }

    // ---------------------------------------------------------------------------------------------------------
    // keyscope_sendSessionOperation
    // ---------------------------------------------------------------------------------------------------------

    /// `keyscope_sendSessionOperation`: `{chainId?, userOp, signature, entryPoint?, beneficiary?}` (or positional
    /// `[userOp, signature]`): `userOp` as `keyscope_prepareSessionOperation` answered it, `signature` the session
    /// signer's signature over its userOpHash (of the kind, and at most the length, of the dummy it carries). The wire-format signature is assembled (refused unless it is
    /// the session's signer's), the operation checked (`explain` and the simulation, `-32500` when either refuses
    /// it), then sent through the bundler (`--bundler-url`) and its receipt awaited, or, without a bundler,
    /// answered as the `handleOps` transaction for anyone to send.
    pub(crate) async fn send_session_operation(&self, params: Map<String, Value>) -> Result<Value> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Params {
            #[serde(default)]
            chain_id: Option<Value>,
            signature: Bytes,
            #[serde(default)]
            entry_point: Option<Value>,
            #[serde(default)]
            beneficiary: Option<Address>,
        }
        let mut params = params;
        let user_op: UserOperation = take(&mut params, "userOp")?;
        let p: Params = from_value(Value::Object(params), "")?;
        self.check_chain(p.chain_id.as_ref(), "chainId", false)?;
        let mut op = packed(&user_op)?;
        let version = self.request_version(p.entry_point, op.sender).await?;
        let user_op_hash = self.user_op_hash(version, &op)?;
        op.signature = assemble_session_signature(&op.signature, &user_op_hash, &p.signature)
            .map_err(|error| match error {
                keyscope::Error::SessionKeySignature { .. } => {
                    Error::invalid("signature", error.to_string())
                }
                keyscope::Error::Signer(_) => Error::invalid(
                    "userOp.signature",
                    format!(
                        "not a session signature ({error}): send the userOp as keyscope_prepareSessionOperation answered it"
                    ),
                ),
                other => Error::Node(other),
            })?;
        let bundled = matches!(self.client.submission(), Submission::Bundler(_));
        if !bundled && p.beneficiary.is_none() {
            return Err(Error::invalid(
                "beneficiary",
                "required: the service has no bundler, so it answers the handleOps transaction, which pays its beneficiary",
            ));
        }
        let checked = self.check_operation(version, &op, user_op_hash).await?;
        if let Some(failure) = checked.failure {
            return Err(Error::Rejected {
                by: failure.source,
                rule: failure.rule,
                code: failure.code,
                message: failure.message,
            });
        }
        let entry_point = self.client.stack().version(version).entry_point;
        let mut answer = json!({
            "account": op.sender,
            "entryPoint": entry_point,
            "userOpHash": user_op_hash,
            "userOp": to_rpc(&op)?,
        });
        match p.beneficiary.filter(|_| !bundled) {
            Some(beneficiary) => {
                answer["sent"] = json!(false);
                answer["transaction"] = json!({
                    "to": entry_point,
                    "value": hex_quantity(0u64),
                    "data": handle_ops_calldata(std::slice::from_ref(&op), beneficiary),
                });
            }
            None => {
                let prepared = PreparedOp {
                    version,
                    op,
                    user_op_hash,
                };
                let outcome = self.client.send(&prepared).await?;
                answer["sent"] = json!(true);
                answer["transactionHash"] = json!(outcome.tx_hash);
                answer["success"] = json!(outcome.success);
                answer["actualGasUsed"] = json!(format!("{:#x}", outcome.actual_gas_used));
                answer["actualGasCost"] = json!(format!("{:#x}", outcome.actual_gas_cost));
                if let Some(revert) = &outcome.revert {
                    answer["revert"] = json!(revert.to_string());
                }
            }
        }
        Ok(answer)
    }
}
