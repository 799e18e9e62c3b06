//! Sessions in requests (the Keyscope JSON spec, or the Particle Network shape) and in answers (session
//! records: the contract struct, leaves, root, proofs and id).

use keyscope::alloy::primitives::{Address, Bytes, B256, U256};
use keyscope::permissions::{
    self, encode_permission, CompiledSession, FeeScopeSpec, PaymasterSpec, Session, SessionSpec,
};
use keyscope::FeeUsage;
use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::error::{join_path, Error, Result};
use crate::json::{check_len, from_value, hex_quantity};
use crate::particle;

/// Where a session came from, kept with it so that listings can answer in the caller's terms.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Origin {
    /// `keyscope_createSessions` with Keyscope permissions.
    Keyscope,
    /// `keyscope_createSessions` in the Particle Network shape.
    Particle,
    /// `wallet_requestExecutionPermissions`: the request as this service read it (normalised: only the fields it
    /// uses, each bounded in size), which listings echo.
    Erc7715(Value),
}

/// Limits on what one request may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Sessions (or ERC-7715 permission requests) in one request.
    pub sessions_per_request: usize,
    /// Permissions in one session.
    pub permissions_per_session: usize,
    /// Session ids in one revocation.
    pub session_ids_per_request: usize,
    /// Sessions in one page of `keyscope_getSessions` (the most its `limit` may be).
    pub sessions_per_listing: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            sessions_per_request: 16,
            permissions_per_session: 64,
            session_ids_per_request: 64,
            sessions_per_listing: 100,
        }
    }
}

/// Maps the camelCase names of the RPC to the permissions crate's snake_case ones (`validUntil` → `valid_until`,
/// `sessionKey` → `signer`, `fees.perOperation` → `fees.per_operation`), leaving everything else for its own
/// checks.
fn keyscope_names(mut object: Map<String, Value>) -> Map<String, Value> {
    for (from, to) in [
        ("validAfter", "valid_after"),
        ("validUntil", "valid_until"),
        ("sessionKey", "signer"),
    ] {
        if let Some(value) = object.remove(from) {
            object.insert(to.to_owned(), value);
        }
    }
    if let Some(Value::Object(fees)) = object.get_mut("fees") {
        *fees = fee_names(std::mem::take(fees));
    }
    object
}

/// `perOperation` → `per_operation` in a fee scope object.
fn fee_names(mut fees: Map<String, Value>) -> Map<String, Value> {
    if let Some(value) = fees.remove("perOperation") {
        fees.insert("per_operation".to_owned(), value);
    }
    fees
}

/// Reads a fee scope given at `field` in the session JSON's format, `{"perOperation" (or "per_operation"),
/// "budget"}`, each `"0.01 ether"`, `"500000 gwei"`, wei, or `"unlimited"`; both members are required.
pub(crate) fn parse_fee_scope(value: Value, field: &str) -> Result<FeeScopeSpec> {
    let value = match value {
        Value::Object(fees) => Value::Object(fee_names(fees)),
        other => other,
    };
    from_value(value, field).map_err(|error| match error {
        // The member names the caller wrote.
        Error::InvalidParams { field, message } => {
            Error::invalid(field.replace("per_operation", "perOperation"), message)
        }
        other => other,
    })
}

/// Reads a paymaster policy given at `field` in the session JSON's format: `"none"`, `"any"`, `"required"` or
/// `{"exactly": "0x…"}`.
pub(crate) fn parse_paymaster(value: Value, field: &str) -> Result<PaymasterSpec> {
    from_value(value, field)
}

/// A fee scope in answers: both bounds in the session JSON's format (`"0.01 ether"` or `"unlimited"`).
pub(crate) fn fee_scope_json(scope: &FeeScopeSpec) -> Value {
    json!({
        "perOperation": scope.per_operation.to_string(),
        "budget": scope.budget.to_string(),
    })
}

/// What is left of a budget of `scope` after `charged` wei, as a `0x` quantity (`None`: unlimited).
pub(crate) fn fees_left(scope: &FeeScopeSpec, charged: U256) -> Option<String> {
    FeeUsage {
        scope: *scope,
        charged,
    }
    .left()
    .map(|left| format!("{left:#x}"))
}

/// Sets `feesCharged` on `object` (`charged` wei, a `0x` quantity) and, when the session's fee `scope` is known,
/// `feesLeft` ([`fees_left`]; `null` when the budget is unlimited).
pub(crate) fn set_fees(object: &mut Value, charged: U256, scope: Option<&FeeScopeSpec>) {
    object["feesCharged"] = json!(format!("{charged:#x}"));
    if let Some(scope) = scope {
        object["feesLeft"] = json!(fees_left(scope, charged));
    }
}

/// Reads one requested session at `field` (`sessions[0]`): the Particle shape when it has a
/// `sessionValidationModule`, else the Keyscope spec; checks the permission count before parsing.
pub(crate) fn parse_session(
    value: Value,
    field: &str,
    limits: &Limits,
) -> Result<(SessionSpec, Origin)> {
    let Value::Object(object) = value else {
        return Err(Error::invalid(field, "expected a session object"));
    };
    if object.contains_key("sessionValidationModule") {
        return Ok((particle::to_spec(object, field)?, Origin::Particle));
    }
    match object.get("permissions") {
        Some(Value::Array(list)) => check_len(
            &join_path(field, "permissions"),
            list.len(),
            limits.permissions_per_session,
            "permissions",
        )?,
        Some(_) => {
            return Err(Error::invalid(
                join_path(field, "permissions"),
                "expected an array of permissions",
            ))
        }
        None => return Err(Error::invalid(join_path(field, "permissions"), "required")),
    }
    let text = Value::Object(keyscope_names(object)).to_string();
    let spec = SessionSpec::from_json(&text).map_err(|e| permissions_error(e, field))?;
    Ok((spec, Origin::Keyscope))
}

/// Compiles a spec (every check of `keyscope-permissions`); errors name the field under `field`.
pub(crate) fn compile(spec: &SessionSpec, field: &str) -> Result<CompiledSession> {
    spec.compile().map_err(|e| permissions_error(e, field))
}

/// A `keyscope-permissions` error as invalid params at `field` + its own path, its message without the path.
pub(crate) fn permissions_error(error: permissions::Error, field: &str) -> Error {
    let path = error.path().unwrap_or(".").to_owned();
    let text = error.to_string();
    let message = text
        .strip_prefix(&format!("{path}: "))
        .map(str::to_owned)
        .unwrap_or(text);
    // The crate names session fields in snake_case; the RPC takes camelCase.
    let path = path
        .replace("valid_after", "validAfter")
        .replace("valid_until", "validUntil")
        .replace("per_operation", "perOperation");
    Error::invalid(join_path(field, &path), message)
}

/// The contract's `Session` struct in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionStruct {
    /// The session key.
    pub signer: Address,
    /// Start (unix seconds).
    pub valid_after: u64,
    /// End (unix seconds, inclusive).
    pub valid_until: u64,
    /// Merkle root of the permissions.
    pub permissions_root: B256,
    /// 0 any, 1 none, 2 required, 3 exactly `paymaster`.
    pub paymaster_policy: u8,
    /// The paymaster of policy 3.
    pub paymaster: Address,
    /// Most wei one operation may cost, as a `0x` quantity (`0xffffffffffffffffffffffffffffffff`, 2^128 − 1:
    /// unlimited).
    pub max_operation_fee: String,
    /// Most wei all the session's operations may cost together, as a `0x` quantity (2^128 − 1: unlimited).
    pub fee_budget: String,
    /// The salt.
    pub salt: B256,
}

impl From<&Session> for SessionStruct {
    fn from(session: &Session) -> Self {
        Self {
            signer: session.signer,
            valid_after: session.validAfter.to::<u64>(),
            valid_until: session.validUntil.to::<u64>(),
            permissions_root: session.permissionsRoot,
            paymaster_policy: session.paymasterPolicy,
            paymaster: session.paymaster,
            max_operation_fee: format!("{:#x}", session.maxOperationFee),
            fee_budget: format!("{:#x}", session.feeBudget),
            salt: session.salt,
        }
    }
}

/// One permission of a session record.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PermissionRecord {
    /// Its index in the session (the tree's value order).
    pub index: usize,
    /// The Merkle leaf.
    pub leaf: B256,
    /// The proof of the leaf.
    pub proof: Vec<B256>,
    /// `abi.encode(permission)`: what the session signature carries for a call under this permission.
    pub encoded: Bytes,
    /// The permission in the Keyscope JSON spec.
    pub spec: Value,
}

/// A compiled session as answered: id, contract struct, root, leaves and proofs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SessionRecord {
    /// `sessionId` (EIP-712 struct hash of the session).
    pub session_id: B256,
    /// The contract struct.
    pub session: SessionStruct,
    /// What the session's operations may cost (`{perOperation, budget}`, each `"0.01 ether"` or `"unlimited"`):
    /// each operation counts at its maximum (its gas limits × `maxFeePerGas`), whoever pays.
    pub fee_scope: Value,
    /// The Merkle root (`session.permissionsRoot`).
    pub root: B256,
    /// The permissions with their leaves and proofs.
    pub permissions: Vec<PermissionRecord>,
    /// The session in the Keyscope JSON spec.
    pub spec: Value,
    /// What `keyscope-permissions` warns about.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl SessionRecord {
    /// The record of a compiled session.
    pub(crate) fn new(compiled: &CompiledSession, spec: &SessionSpec) -> Result<Self> {
        let permissions = compiled
            .permissions
            .iter()
            .enumerate()
            .map(|(index, permission)| {
                Ok(PermissionRecord {
                    index,
                    leaf: permission.leaf(),
                    proof: compiled
                        .proof(index)
                        .map_err(|e| Error::Internal(e.to_string()))?,
                    encoded: encode_permission(permission).into(),
                    spec: spec
                        .permissions
                        .get(index)
                        .and_then(|p| serde_json::to_value(p).ok())
                        .unwrap_or(Value::Null),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            session_id: compiled.session_id(),
            session: SessionStruct::from(&compiled.session),
            fee_scope: fee_scope_json(&FeeScopeSpec::from_contract(
                compiled.session.maxOperationFee,
                compiled.session.feeBudget,
            )),
            root: compiled.session.permissionsRoot,
            permissions,
            spec: serde_json::to_value(spec).map_err(|e| Error::Internal(e.to_string()))?,
            warnings: compiled.warnings.iter().map(ToString::to_string).collect(),
        })
    }
}

/// `{"to", "value", "data"}`: one call the account makes (ERC-5792 `wallet_sendCalls` shape).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Call {
    /// The callee.
    pub to: Address,
    /// Native value, `0x` hex.
    pub value: String,
    /// Calldata.
    pub data: Bytes,
}

impl Call {
    /// A call without value.
    pub(crate) fn new(to: Address, data: impl Into<Bytes>) -> Self {
        Self {
            to,
            value: hex_quantity(0u64),
            data: data.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::error_text;
    use keyscope::permissions::FeeBound;
    use serde_json::json;

    const KEY: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
    const TOKEN: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";

    #[test]
    fn reads_the_keyscope_spec_in_camel_case() {
        let value = json!({
            "signer": KEY, "validAfter": 10, "validUntil": 2_000_000_000u64,
            "permissions": [{ "target": TOKEN, "function": "transfer(address to,uint256 amount)",
                              "rules": [{ "arg": "amount", "op": "lte", "value": "100" }] }]
        });
        let (spec, origin) = parse_session(value, "sessions[0]", &Limits::default())
            .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(origin, Origin::Keyscope);
        assert_eq!((spec.valid_after, spec.valid_until), (10, 2_000_000_000));
        let compiled = compile(&spec, "sessions[0]").unwrap_or_else(|e| unreachable!("{e}"));
        let record = SessionRecord::new(&compiled, &spec).unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(record.root, compiled.session.permissionsRoot);
        assert!(permissions::verify(
            record.root,
            record.permissions[0].leaf,
            &record.permissions[0].proof
        ));
        assert_eq!(record.session.valid_until, 2_000_000_000);
    }

    #[test]
    fn errors_name_nested_fields() {
        let value = json!({
            "signer": KEY, "validUntil": 2_000_000_000u64,
            "permissions": [{ "target": TOKEN, "function": "transfer(address to,uint256 amount)",
                              "rules": [{ "arg": "amount", "op": "lte", "value": "-1" }] }]
        });
        let error = error_text(
            parse_session(value, "sessions[1]", &Limits::default())
                .and_then(|(spec, _)| compile(&spec, "sessions[1]")),
        );
        assert!(
            error.starts_with("sessions[1].permissions[0].rules[0].value: "),
            "{error}"
        );

        let value = json!({ "signer": KEY, "validAfter": 20, "validUntil": 10,
                            "permissions": [{ "target": TOKEN, "native_transfer": true }] });
        let error = error_text(
            parse_session(value, "sessions[0]", &Limits::default())
                .and_then(|(spec, _)| compile(&spec, "sessions[0]")),
        );
        assert!(error.starts_with("sessions[0].validUntil: "), "{error}");
    }

    #[test]
    fn reads_fee_scopes_in_either_case() {
        let value = json!({
            "signer": KEY, "validUntil": 5,
            "fees": { "perOperation": "1 gwei", "budget": "unlimited" },
            "permissions": [{ "target": TOKEN, "native_transfer": true }]
        });
        let (spec, _) = parse_session(value, "sessions[0]", &Limits::default())
            .unwrap_or_else(|e| unreachable!("{e}"));
        let expected = FeeScopeSpec {
            per_operation: FeeBound::Wei(1_000_000_000),
            budget: FeeBound::Unlimited,
        };
        assert_eq!(spec.fees, expected);
        let snake = json!({ "per_operation": "1 gwei", "budget": "unlimited" });
        assert_eq!(parse_fee_scope(snake, "fees").ok(), Some(expected));
        assert_eq!(
            fee_scope_json(&expected),
            json!({ "perOperation": "1 gwei", "budget": "unlimited" })
        );
        let error = error_text(parse_fee_scope(json!({ "perOperation": 5 }), "[0].fees"));
        assert!(
            error.starts_with("[0].fees: missing field `budget`"),
            "{error}"
        );
        assert_eq!(
            fees_left(&expected, keyscope::alloy::primitives::U256::from(3)),
            None
        );
        assert_eq!(
            fees_left(
                &FeeScopeSpec::default(),
                keyscope::alloy::primitives::U256::from(1)
            ),
            Some("0x16345785d89ffff".to_owned())
        );
        assert_eq!(
            parse_paymaster(json!("any"), "paymaster").ok(),
            Some(PaymasterSpec::Any)
        );
    }

    #[test]
    fn bounds_permissions_per_session() {
        let permissions: Vec<Value> = (0..3)
            .map(|_| json!({ "target": TOKEN, "native_transfer": true }))
            .collect();
        let value = json!({ "signer": KEY, "validUntil": 5, "permissions": permissions });
        let limits = Limits {
            permissions_per_session: 2,
            ..Limits::default()
        };
        let error = error_text(parse_session(value, "sessions[0]", &limits));
        assert_eq!(
            error,
            "sessions[0].permissions: 3 permissions, at most 2 allowed"
        );
    }
}
