//! The Particle Network session shape (`particle_aa_createSessions`: Biconomy session validation modules) mapped
//! onto Keyscope permissions.
//!
//! A Particle session is `{validUntil, validAfter, sessionValidationModule, sessionKeyDataInAbi}` (or
//! `sessionKeyData`, the ABI-encoded bytes). Only the modules whose rule is a Keyscope permission are accepted:
//!
//! | module | `sessionKeyDataInAbi` | Keyscope permission |
//! | --- | --- | --- |
//! | ERC-20 transfer SVM [`ERC20_SVM`] | `[["address","address","address","uint256"], [sessionKey, token, recipient, maxAmount]]` | on `token`, `transfer(address to,uint256 amount)` with `to` EQ `recipient` and `amount` LTE `maxAmount` (per call, as the SVM checks it) |
//!
//! Anything else is refused with `-32602` naming the field: another module (its rule is code Keyscope cannot
//! read), `validUntil` 0 (Particle's "no expiry": Keyscope sessions always end), or data of another shape.
//!
//! Particle's shape has no fee scope nor paymaster policy: the session gets Keyscope's safe defaults (at most
//! 0.01 ether per operation and 0.1 ether in all, self-paid only), or what the Keyscope extensions `fees`
//! (`{perOperation, budget}`) and `paymaster` (`"none"`, `"any"`, `"required"`, `{"exactly": "0x…"}`) say.

use keyscope::alloy::primitives::{address, Address, Bytes, U256};
use keyscope::alloy::rpc::types::PackedUserOperation as UserOperation;
use keyscope::alloy::sol_types::SolValue;
use keyscope::bundler::from_rpc;
use keyscope::permissions::{
    ArgRef, FeeScopeSpec, PaymasterSpec, PermissionSpec, RuleSpec, RuleValue, Scalar, SessionSpec,
};
use keyscope::{PreparedOp, SessionStatus, Submission};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::account::AccountInput;
use crate::error::{join_path, Error, Result};
use crate::json::{from_value, Quantity};
use crate::service::Service;
use crate::sessions::{parse_fee_scope, parse_paymaster};

/// Biconomy's ERC-20 session validation module (the address Particle's and Biconomy's SDKs use).
pub(crate) const ERC20_SVM: Address = address!("000000D50C68705bd6897B2d17c7de32FB519fDA");

/// The ABI types of the ERC-20 module's session key data.
const ERC20_TYPES: [&str; 4] = ["address", "address", "address", "uint256"];

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ParticleSession {
    valid_until: Quantity,
    #[serde(default)]
    valid_after: Quantity,
    session_validation_module: Address,
    #[serde(default)]
    session_key_data_in_abi: Option<(Vec<String>, Vec<Value>)>,
    #[serde(default)]
    session_key_data: Option<Bytes>,
    /// Keyscope extension: the fee scope (default: the safe default).
    #[serde(default)]
    fees: Option<Value>,
    /// Keyscope extension: the paymaster policy (default: none, self-paid only).
    #[serde(default)]
    paymaster: Option<Value>,
}

/// The ERC-20 module's data: session key, token, recipient, most per transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Erc20Data {
    session_key: Address,
    token: Address,
    recipient: Address,
    max_amount: U256,
}

fn read_erc20_abi(types: &[String], values: &[Value], field: &str) -> Result<Erc20Data> {
    let types_field = join_path(field, "sessionKeyDataInAbi[0]");
    let canonical: Vec<String> = types
        .iter()
        .map(|t| match t.trim() {
            "uint" => "uint256".to_owned(),
            t => t.to_ascii_lowercase(),
        })
        .collect();
    if canonical != ERC20_TYPES {
        return Err(Error::invalid(
            types_field,
            format!("the ERC-20 transfer module takes {ERC20_TYPES:?} (sessionKey, token, recipient, maxAmount), got {types:?}"),
        ));
    }
    if values.len() != 4 {
        return Err(Error::invalid(
            join_path(field, "sessionKeyDataInAbi[1]"),
            format!(
                "4 values expected (sessionKey, token, recipient, maxAmount), got {}",
                values.len()
            ),
        ));
    }
    let address_at = |i: usize| -> Result<Address> {
        from_value(
            values[i].clone(),
            &join_path(field, &format!("sessionKeyDataInAbi[1][{i}]")),
        )
    };
    let amount: Quantity = from_value(
        values[3].clone(),
        &join_path(field, "sessionKeyDataInAbi[1][3]"),
    )?;
    Ok(Erc20Data {
        session_key: address_at(0)?,
        token: address_at(1)?,
        recipient: address_at(2)?,
        max_amount: amount.0,
    })
}

fn read_erc20_bytes(data: &[u8], field: &str) -> Result<Erc20Data> {
    let (session_key, token, recipient, max_amount) =
        <(Address, Address, Address, U256)>::abi_decode_params_validate(data).map_err(|e| {
            Error::invalid(
                join_path(field, "sessionKeyData"),
                format!("not abi.encode(address sessionKey, address token, address recipient, uint256 maxAmount): {e}"),
            )
        })?;
    Ok(Erc20Data {
        session_key,
        token,
        recipient,
        max_amount,
    })
}

/// The Keyscope session of one Particle session at `field` (`sessions[0]`).
pub(crate) fn to_spec(object: Map<String, Value>, field: &str) -> Result<SessionSpec> {
    let session: ParticleSession = from_value(Value::Object(object), field)?;
    let valid_until = session
        .valid_until
        .to_u64(&join_path(field, "validUntil"))?;
    if valid_until == 0 {
        return Err(Error::invalid(
            join_path(field, "validUntil"),
            "0 means \"no expiry\" in Particle's format; Keyscope sessions always end: give the last valid second",
        ));
    }
    let valid_after = session
        .valid_after
        .to_u64(&join_path(field, "validAfter"))?;
    if session.session_validation_module != ERC20_SVM {
        return Err(Error::invalid(
            join_path(field, "sessionValidationModule"),
            format!(
                "{} has no Keyscope equivalent: only the ERC-20 transfer module {ERC20_SVM} (sessionKey, token, recipient, maxAmount) maps onto a Keyscope permission; give Keyscope permissions instead",
                session.session_validation_module
            ),
        ));
    }
    let data = match (&session.session_key_data_in_abi, &session.session_key_data) {
        (Some((types, values)), None) => read_erc20_abi(types, values, field)?,
        (None, Some(bytes)) => read_erc20_bytes(bytes, field)?,
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                join_path(field, "sessionKeyData"),
                "give sessionKeyDataInAbi or sessionKeyData, not both",
            ))
        }
        (None, None) => {
            return Err(Error::invalid(
                join_path(field, "sessionKeyDataInAbi"),
                "required (or sessionKeyData)",
            ))
        }
    };
    let rule = |arg: &str, op: &str, value: String| RuleSpec {
        arg: ArgRef::Name(arg.to_owned()),
        op: op.to_owned(),
        value: Some(RuleValue::One(Scalar::Text(value))),
        mask: None,
        ty: None,
    };
    let mut permission = PermissionSpec::call(data.token, "transfer(address to,uint256 amount)");
    permission.rules = vec![
        rule("to", "eq", data.recipient.to_checksum(None)),
        rule("amount", "lte", data.max_amount.to_string()),
    ];
    let fees = match session.fees {
        Some(value) => parse_fee_scope(value, &join_path(field, "fees"))?,
        None => FeeScopeSpec::default(),
    };
    let paymaster = match session.paymaster {
        Some(value) => parse_paymaster(value, &join_path(field, "paymaster"))?,
        None => PaymasterSpec::default(),
    };
    Ok(SessionSpec {
        signer: data.session_key,
        signer_key: None,
        valid_after,
        valid_until,
        paymaster,
        fees,
        salt: Default::default(),
        permissions: vec![permission],
        typed_data: Vec::new(),
    })
}

// -------------------------------------------------------------------------------------------------------------
// The `particle_aa_*` methods (Particle Network's `@particle-network/aa` SDK, pointed at this service)
// -------------------------------------------------------------------------------------------------------------

/// The `name` of the account config that designates a `KeyscopeAccount`.
pub(crate) const ACCOUNT_NAME: &str = "KEYSCOPE";

/// The positional parameters of a `particle_aa_*` call: a JSON array (Particle's SDK always sends one).
fn positional(raw: Option<&str>, shape: &str) -> Result<Vec<Value>> {
    let text = raw.unwrap_or("[]");
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(items)) => Ok(items),
        Ok(_) => Err(Error::invalid(
            "params",
            format!("expected the positional parameters {shape}"),
        )),
        Err(e) => Err(Error::invalid("params", e.to_string())),
    }
}

/// Particle's account config `{name, version, ownerAddress, biconomyApiKey?, options?}` at `field`, as the
/// account of a request: `name` must be `"KEYSCOPE"`, `version` is the EntryPoint version (`"0.7"` or `"0.8"`),
/// `biconomyApiKey` is ignored (there is no Biconomy backend here) and passkey `options` are refused.
fn account_config(value: Option<Value>, field: &str) -> Result<AccountInput> {
    let Some(Value::Object(mut config)) = value else {
        return Err(Error::invalid(
            field,
            "expected Particle's account config {name: \"KEYSCOPE\", version: \"0.7\" | \"0.8\", ownerAddress}",
        ));
    };
    config.remove("biconomyApiKey");
    match config.remove("options") {
        None | Some(Value::Null) => {}
        Some(Value::Object(options)) if options.is_empty() => {}
        Some(_) => {
            return Err(Error::invalid(
                join_path(field, "options"),
                "passkey owners are not served: a KeyscopeAccount's owner is an ECDSA key (ownerAddress)",
            ))
        }
    }
    match config.get("name") {
        Some(Value::String(name)) if name.eq_ignore_ascii_case(ACCOUNT_NAME) => {}
        Some(Value::String(name)) => {
            return Err(Error::invalid(
                join_path(field, "name"),
                format!("{name:?} accounts (Biconomy, SimpleAccount, …) are not served: this service builds KeyscopeAccounts; send name \"KEYSCOPE\" with version \"0.7\" or \"0.8\" (the EntryPoint)"),
            ))
        }
        _ => {
            return Err(Error::invalid(
                join_path(field, "name"),
                "required: \"KEYSCOPE\"",
            ))
        }
    }
    if !config.contains_key("version") {
        return Err(Error::invalid(
            join_path(field, "version"),
            "required: the EntryPoint version, \"0.7\" or \"0.8\"",
        ));
    }
    if !config.contains_key("ownerAddress") {
        return Err(Error::invalid(
            join_path(field, "ownerAddress"),
            "required: the account owner's address",
        ));
    }
    from_value(Value::Object(config), field)
}

/// A Particle session as Particle's service answers it: `{validUntil, validAfter, sessionValidationModule,
/// sessionKeyData}` with the data as ABI bytes (the SDK hashes sessions in this form).
fn session_key_json(object: &Map<String, Value>, field: &str) -> Result<Value> {
    let session: ParticleSession = from_value(Value::Object(object.clone()), field)?;
    let data = match (&session.session_key_data_in_abi, &session.session_key_data) {
        (Some((types, values)), None) => {
            let d = read_erc20_abi(types, values, field)?;
            Bytes::from((d.session_key, d.token, d.recipient, d.max_amount).abi_encode_params())
        }
        (_, Some(bytes)) => bytes.clone(),
        (None, None) => {
            return Err(Error::invalid(
                join_path(field, "sessionKeyDataInAbi"),
                "required (or sessionKeyData)",
            ))
        }
    };
    Ok(json!({
        "validUntil": session.valid_until.to_u64(&join_path(field, "validUntil"))?,
        "validAfter": session.valid_after.to_u64(&join_path(field, "validAfter"))?,
        "sessionValidationModule": session.session_validation_module,
        "sessionKeyData": data,
    }))
}

/// The `chainId` query parameter of the HTTP request (Particle's SDK names the chain there, not in the body), put
/// in the request's extensions by [`QueryChainId`] for the `particle_aa_*` methods to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RequestedChain(pub String);

/// HTTP middleware: records a request's `?chainId=` as [`RequestedChain`] (nothing else of the URL is kept).
#[derive(Debug, Clone)]
pub(crate) struct QueryChainId<S> {
    /// The next service.
    pub inner: S,
}

impl<S, B> tower::Service<http::Request<B>> for QueryChainId<S>
where
    S: tower::Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::result::Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let chain = request.uri().query().and_then(|query| {
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("chainId="))
                .map(|value| RequestedChain(value.chars().take(32).collect()))
        });
        if let Some(chain) = chain {
            request.extensions_mut().insert(chain);
        }
        self.inner.call(request)
    }
}

/// Refuses a `particle_aa_*` request whose `?chainId=` is not the node's chain (`-32602`, field `chainId`).
pub(crate) fn check_requested_chain(
    service: &Service,
    extensions: &http::Extensions,
) -> Result<()> {
    let Some(RequestedChain(text)) = extensions.get::<RequestedChain>() else {
        return Ok(());
    };
    let value = match text.parse::<u64>() {
        Ok(n) => json!(n),
        Err(_) => json!(text),
    };
    service.check_chain(Some(&value), "chainId", false)
}

/// `particle_aa_getSmartAccount`: `[accountConfig, …]` → Particle's `Account` for each config (the SDK reads the
/// first), Keyscope's account record riding along under `keyscope`.
pub(crate) async fn get_smart_account(service: &Service, raw: Option<&str>) -> Result<Value> {
    let configs = positional(raw, "[accountConfig, …]")?;
    if configs.is_empty() {
        return Err(Error::invalid("params[0]", "required: the account config"));
    }
    service.check_session_count("params", configs.len(), "account config")?;
    let mut accounts = Vec::with_capacity(configs.len());
    for (i, config) in configs.into_iter().enumerate() {
        let field = format!("params[{i}]");
        let input = account_config(Some(config), &field)?;
        let resolved = input.resolve(service.client(), &field).await?;
        let stack = service.client().stack();
        let version = stack.version(resolved.account.version);
        let owner = input.owner.unwrap_or_default();
        let index = input.salt.unwrap_or_default().0;
        accounts.push(json!({
            "isDeployed": resolved.deployed,
            "chainId": service.chain_id(),
            "eoaAddress": owner,
            "owner": owner,
            "index": u64::try_from(index).unwrap_or(u64::MAX),
            "factoryAddress": version.account_factory,
            "entryPointAddress": version.entry_point,
            "smartAccountAddress": resolved.account.address,
            "implementationAddress": version.account_implementation,
            "implementationVersion": resolved.account.version.label(),
            "fallBackHandlerAddress": Address::ZERO,
            "version": resolved.account.version.label(),
            "name": ACCOUNT_NAME,
            "keyscope": service.account_json(&resolved),
        }));
    }
    Ok(Value::Array(accounts))
}

/// `particle_aa_createSessions`: `[accountConfig, sessions]` → Particle's fee-quotes answer: the owner's unsigned
/// operation granting the sessions under `verifyingPaymasterNative: {userOp, userOpHash}` (self-paid: this
/// service sponsors nothing here), `sessions` in Particle's form, and `keyscope_createSessions`' answer under
/// `keyscope`.
pub(crate) async fn create_sessions(service: &Service, raw: Option<&str>) -> Result<Value> {
    let mut items = positional(raw, "[accountConfig, sessions]")?.into_iter();
    let account = account_config(items.next(), "params[0]")?;
    let sessions = match items.next() {
        Some(Value::Array(list)) => list,
        _ => {
            return Err(Error::invalid(
                "params[1]",
                "required: the array of sessions ({validUntil, validAfter, sessionValidationModule, sessionKeyDataInAbi})",
            ))
        }
    };
    if items.next().is_some() {
        return Err(Error::invalid(
            "params",
            "expected [accountConfig, sessions]",
        ));
    }
    let mut particle = Vec::with_capacity(sessions.len());
    for (i, session) in sessions.iter().enumerate() {
        let field = format!("params[1][{i}]");
        let Value::Object(object) = session else {
            return Err(Error::invalid(field, "expected a session object"));
        };
        if !object.contains_key("sessionValidationModule") {
            return Err(Error::invalid(
                join_path(&field, "sessionValidationModule"),
                "required: Particle sessions name their module (Keyscope permission sessions go to keyscope_createSessions)",
            ));
        }
        particle.push(session_key_json(object, &field)?);
    }
    let mut params = Map::new();
    params.insert(
        "account".into(),
        serde_json::to_value(account_json_input(&account))
            .map_err(|e| Error::Internal(e.to_string()))?,
    );
    params.insert("sessions".into(), Value::Array(sessions));
    let answer = service.create_sessions(params).await?;
    let (user_op, user_op_hash) = match (answer.get("userOp"), answer.get("userOpHash")) {
        (Some(op), Some(hash)) if !op.is_null() && !hash.is_null() => (op.clone(), hash.clone()),
        _ => {
            return Err(Error::invalid(
                "params[0]",
                "the account is not a KeyscopeAccount with its owner validator, so no owner operation can be built: send its calls yourself (keyscope_createSessions answers them)",
            ))
        }
    };
    Ok(json!({
        "verifyingPaymasterNative": { "userOp": user_op, "userOpHash": user_op_hash },
        "sessions": particle,
        "transactions": answer.get("calls").cloned().unwrap_or(Value::Array(Vec::new())),
        "keyscope": answer,
    }))
}

/// The account part of a Keyscope request, from a parsed Particle config.
fn account_json_input(input: &AccountInput) -> Value {
    let mut map = Map::new();
    if let Some(owner) = input.owner {
        map.insert("owner".into(), json!(owner));
    }
    if let Some(address) = input.address {
        map.insert("address".into(), json!(address));
    }
    if let Some(salt) = input.salt {
        map.insert("salt".into(), json!(format!("{:#x}", salt.0)));
    }
    if let Some(entry_point) = &input.entry_point {
        map.insert("entryPoint".into(), json!(entry_point));
    }
    Value::Object(map)
}

/// `{sessions, targetSession}` (Particle's `SessionKeySignerParams`) at `field`: the target session's Keyscope
/// session id, after checking that the target is one of `sessions`.
fn target_session(value: Option<Value>, field: &str) -> Result<keyscope::alloy::primitives::B256> {
    let Some(Value::Object(mut params)) = value else {
        return Err(Error::invalid(
            field,
            "expected {sessions, targetSession} (the sessions particle_aa_createSessions answered)",
        ));
    };
    let target = match params.remove("targetSession") {
        Some(Value::Object(object)) => object,
        _ => {
            return Err(Error::invalid(
                join_path(field, "targetSession"),
                "required: one of the sessions particle_aa_createSessions answered",
            ))
        }
    };
    let target_field = join_path(field, "targetSession");
    let normalized = session_key_json(&target, &target_field)?;
    match params.remove("sessions") {
        Some(Value::Array(list)) => {
            let mut found = false;
            for (i, session) in list.iter().enumerate() {
                let Value::Object(object) = session else {
                    return Err(Error::invalid(
                        join_path(field, &format!("sessions[{i}]")),
                        "expected a session object",
                    ));
                };
                if session_key_json(object, &join_path(field, &format!("sessions[{i}]")))?
                    == normalized
                {
                    found = true;
                }
            }
            if !found {
                return Err(Error::invalid(
                    target_field,
                    "not one of sessions: send the sessions particle_aa_createSessions answered, and one of them as the target",
                ));
            }
        }
        None => {}
        Some(_) => {
            return Err(Error::invalid(
                join_path(field, "sessions"),
                "expected an array of sessions",
            ))
        }
    }
    let spec = to_spec(target, &target_field)?;
    let compiled = crate::sessions::compile(&spec, &target_field)?;
    Ok(compiled.session_id())
}

/// `particle_aa_validateSession`: `[accountConfig, {sessions, targetSession}]` → `true` when the target session
/// is granted and active on the account now, `false` otherwise (not granted yet, revoked, or the account has no
/// code).
pub(crate) async fn validate_session(service: &Service, raw: Option<&str>) -> Result<Value> {
    let mut items = positional(raw, "[accountConfig, {sessions, targetSession}]")?.into_iter();
    let input = account_config(items.next(), "params[0]")?;
    let session_id = target_session(items.next(), "params[1]")?;
    let resolved = input.resolve(service.client(), "params[0]").await?;
    if !resolved.deployed {
        return Ok(json!(false));
    }
    let status = service
        .client()
        .session_status(&resolved.account, session_id)
        .await?;
    Ok(json!(status == SessionStatus::Active))
}

/// `particle_aa_sendUserOp`: `[accountConfig, userOp, signerParams?]` → the `handleOps` transaction hash, once
/// the bundler (`--bundler-url`) included the operation (as with Particle, a call that reverted inside an included
/// operation still answers its hash: the receipt tells).
///
/// Without `signerParams` the operation is the owner's (`userOp.signature` signed by the owner, raw or EIP-191).
/// With `{sessions, targetSession}` it is a session operation: `userOp` as `keyscope_prepareSessionOperation`
/// answered it, its `signature` the session key's 65-byte signature of `userOpHash` (raw, no EIP-191 prefix)
/// and `keyscopeSignature` the wire-format signature that answer carried; the two are assembled and sent as
/// `keyscope_sendSessionOperation` does.
pub(crate) async fn send_user_op(service: &Service, raw: Option<&str>) -> Result<Value> {
    let mut items = positional(raw, "[accountConfig, userOp, signerParams?]")?.into_iter();
    let input = account_config(items.next(), "params[0]")?;
    let Some(Value::Object(mut op_json)) = items.next() else {
        return Err(Error::invalid(
            "params[1]",
            "required: the signed user operation",
        ));
    };
    let signer_params = items.next().filter(|v| !v.is_null());
    if items.next().is_some() {
        return Err(Error::invalid(
            "params",
            "expected [accountConfig, userOp, signerParams?]",
        ));
    }
    if !matches!(service.client().submission(), Submission::Bundler(_)) {
        return Err(Error::NotConfigured(
            "particle_aa_sendUserOp needs a bundler: start keyscope-rpc with --bundler-url (or send the handleOps transaction keyscope_handleOpsTransaction answers)",
        ));
    }
    let resolved = input.resolve(service.client(), "params[0]").await?;
    let wire = op_json.remove("keyscopeSignature");
    match signer_params {
        Some(params) => {
            // Checked for shape and membership; the operation's own wire signature names the session the
            // validator enforces.
            target_session(Some(params), "params[2]")?;
            let Some(wire) = wire else {
                return Err(Error::invalid(
                    "params[1].keyscopeSignature",
                    "required for a session operation: the userOp.signature keyscope_prepareSessionOperation answered (the session key's own signature goes in signature)",
                ));
            };
            let session_signature = op_json
                .insert("signature".into(), wire)
                .unwrap_or(Value::Null);
            let user_op = account_op(op_json, resolved.account.address)?;
            let mut params = Map::new();
            params.insert("userOp".into(), json!(user_op));
            params.insert("signature".into(), session_signature);
            params.insert("entryPoint".into(), json!(resolved.account.version.label()));
            let answer = service.send_session_operation(params).await?;
            transaction_hash(&answer)
        }
        None => {
            if wire.is_some() {
                return Err(Error::invalid(
                    "params[2]",
                    "keyscopeSignature marks a session operation: send {sessions, targetSession} too",
                ));
            }
            let user_op = account_op(op_json, resolved.account.address)?;
            let op = from_rpc(&user_op).map_err(|error| match error {
                keyscope::Error::InvalidUserOperation { field, reason } => {
                    Error::invalid(format!("params[1].{field}"), reason)
                }
                other => Error::Node(other),
            })?;
            let version = resolved.account.version;
            let user_op_hash = service.user_op_hash(version, &op)?;
            let outcome = service
                .client()
                .send(&PreparedOp {
                    version,
                    op,
                    user_op_hash,
                })
                .await?;
            Ok(json!(outcome.tx_hash))
        }
    }
}

/// The transaction hash of a `keyscope_sendSessionOperation` answer (Particle answers the hash alone).
fn transaction_hash(answer: &Value) -> Result<Value> {
    answer
        .get("transactionHash")
        .cloned()
        .ok_or_else(|| Error::Internal("the bundler answered no transaction hash".into()))
}

/// The operation of `params[1]`, which must be the config's `account`'s.
fn account_op(op_json: Map<String, Value>, account: Address) -> Result<UserOperation> {
    let user_op: UserOperation = from_value(Value::Object(op_json), "params[1]")?;
    if user_op.sender != account {
        return Err(Error::invalid(
            "params[1].sender",
            format!(
                "{} is not the account of the config ({account})",
                user_op.sender
            ),
        ));
    }
    Ok(user_op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    const KEY: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    const TOKEN: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
    const TO: &str = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";

    #[test]
    fn erc20_module_maps_to_a_transfer_permission() {
        let spec = to_spec(
            object(json!({
                "validUntil": 2_000_000_000u64, "validAfter": 0,
                "sessionValidationModule": ERC20_SVM.to_string(),
                "sessionKeyDataInAbi": [["address", "address", "address", "uint256"], [KEY, TOKEN, TO, "1000"]]
            })),
            "sessions[0]",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let compiled = spec.compile().unwrap_or_else(|e| unreachable!("{e}"));
        let permission = &compiled.permissions[0];
        assert_eq!(permission.selector.0, [0xa9, 0x05, 0x9c, 0xbb]);
        assert_eq!(permission.rules.len(), 2);
        assert_eq!(spec.signer.to_string(), KEY);

        // The same data as ABI bytes gives the same session.
        let bytes = (
            KEY.parse::<Address>().unwrap_or_default(),
            TOKEN.parse::<Address>().unwrap_or_default(),
            TO.parse::<Address>().unwrap_or_default(),
            U256::from(1000),
        )
            .abi_encode_params();
        let again = to_spec(
            object(json!({
                "validUntil": 2_000_000_000u64, "validAfter": 0,
                "sessionValidationModule": ERC20_SVM.to_string(),
                "sessionKeyData": Bytes::from(bytes).to_string()
            })),
            "sessions[0]",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(again, spec);
    }

    #[test]
    fn refusals_name_the_field() {
        let base = |module: &str, until: u64, types: Value| {
            object(json!({
                "validUntil": until, "validAfter": 0, "sessionValidationModule": module,
                "sessionKeyDataInAbi": [types, [KEY, TOKEN, TO, 1]]
            }))
        };
        let field = |r: Result<SessionSpec>| match r {
            Err(Error::InvalidParams { field, .. }) => field,
            other => format!("{other:?}"),
        };
        let erc20 = ERC20_SVM.to_string();
        let types = json!(["address", "address", "address", "uint256"]);
        assert_eq!(
            field(to_spec(
                base(
                    "0x7Ba4a7338D7A90dfA465cF975Cc6691812C3772E",
                    5,
                    types.clone()
                ),
                "sessions[2]"
            )),
            "sessions[2].sessionValidationModule"
        );
        assert_eq!(
            field(to_spec(base(&erc20, 0, types), "sessions[0]")),
            "sessions[0].validUntil"
        );
        assert_eq!(
            field(to_spec(
                base(&erc20, 5, json!(["address", "uint256"])),
                "sessions[0]"
            )),
            "sessions[0].sessionKeyDataInAbi[0]"
        );
    }

    #[test]
    fn account_config_ignores_the_biconomy_key_and_refuses_other_accounts() {
        let config = |value: Value| account_config(Some(value), "params[0]");
        let input = config(json!({
            "name": "KEYSCOPE", "version": "0.7", "ownerAddress": KEY, "biconomyApiKey": "secret"
        }))
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(input.owner.map(|a| a.to_string()), Some(KEY.to_owned()));
        assert_eq!(input.entry_point.as_deref(), Some("0.7"));
        let field = |r: Result<AccountInput>| match r {
            Err(Error::InvalidParams { field, message }) => {
                assert!(!message.contains("secret"), "{message}");
                field
            }
            other => format!("{other:?}"),
        };
        assert_eq!(
            field(config(
                json!({"name": "BICONOMY", "version": "2.0.0", "ownerAddress": KEY, "biconomyApiKey": "secret"})
            )),
            "params[0].name"
        );
        assert_eq!(
            field(config(json!({"name": "KEYSCOPE", "ownerAddress": KEY}))),
            "params[0].version"
        );
        assert_eq!(
            field(config(json!({"name": "KEYSCOPE", "version": "0.7"}))),
            "params[0].ownerAddress"
        );
        assert_eq!(
            field(config(
                json!({"name": "KEYSCOPE", "version": "0.7", "ownerAddress": KEY, "options": {"passkeyOption": {"credentialId": "x"}}})
            )),
            "params[0].options"
        );
        assert_eq!(field(config(json!("KEYSCOPE"))), "params[0]");
        assert_eq!(field(account_config(None, "params[0]")), "params[0]");
    }

    #[test]
    fn sessions_answer_in_particles_form_and_targets_must_be_listed() {
        let session = json!({
            "validUntil": 2_000_000_000u64, "validAfter": 5,
            "sessionValidationModule": ERC20_SVM.to_string(),
            "sessionKeyDataInAbi": [["address", "address", "address", "uint256"], [KEY, TOKEN, TO, "1000"]]
        });
        let answered =
            session_key_json(&object(session.clone()), "s").unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(answered["validAfter"], 5);
        assert!(answered["sessionKeyData"]
            .as_str()
            .is_some_and(|d| d.len() == 2 + 4 * 64));
        // The answered form and the requested form name the same session.
        let id = target_session(
            Some(json!({"sessions": [answered.clone()], "targetSession": session})),
            "params[1]",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        let again = target_session(
            Some(json!({"sessions": [answered.clone()], "targetSession": answered.clone()})),
            "params[1]",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(id, again);
        let mut other = answered.clone();
        other["validAfter"] = json!(6);
        match target_session(
            Some(json!({"sessions": [answered], "targetSession": other})),
            "params[1]",
        ) {
            Err(Error::InvalidParams { field, .. }) => assert_eq!(field, "params[1].targetSession"),
            other => unreachable!("{other:?}"),
        }
        match positional(Some("{}"), "[accountConfig]") {
            Err(Error::InvalidParams { field, .. }) => assert_eq!(field, "params"),
            other => unreachable!("{other:?}"),
        }
    }
}
