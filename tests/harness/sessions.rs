//! Sessions in Keyscope's JSON format, and the session calls the tests make.

use alloy::primitives::{Address, U256};
use alloy::sol_types::SolCall;
use keyscope::bindings::DemoToken;
use keyscope::permissions::{CompiledSession, SessionSpec};
use keyscope::signer::{SessionKey, SessionSignature};
use keyscope::{Client, PreparedOp, SessionCall};
use serde_json::{json, Value};

/// The ERC-20 `transfer`, as the session JSON format names a function.
pub const TRANSFER: &str = "transfer(address to,uint256 amount)";

/// A session in Keyscope's JSON format, built field by field and compiled by [`SessionSpec::compile_json`] (the
/// path a user-written session takes). Without [`SessionJson::fees`] it has the format's default fee scope
/// (0.01 ether per operation, 0.1 ether in all); without [`SessionJson::salt`], salt zero.
#[derive(Debug, Clone)]
pub struct SessionJson {
    spec: serde_json::Map<String, Value>,
    permissions: Vec<Value>,
}

impl SessionJson {
    /// A session of `key` with no permission yet, valid from `t - 1` (so at once, in the block at `t`) until
    /// `t + 3600`.
    pub fn new(key: &SessionKey, t: u64) -> Self {
        let mut spec = serde_json::Map::new();
        spec.insert("signer".into(), key.address().to_string().into());
        spec.insert("valid_after".into(), (t - 1).into());
        spec.insert("valid_until".into(), (t + 3600).into());
        Self {
            spec,
            permissions: vec![],
        }
    }

    /// Valid until `until` (unix seconds) instead.
    pub fn valid_until(mut self, until: u64) -> Self {
        self.spec.insert("valid_until".into(), until.into());
        self
    }

    /// The salt: a number, or a string (`0x` and 64 hex digits).
    pub fn salt(mut self, salt: impl Into<Value>) -> Self {
        self.spec.insert("salt".into(), salt.into());
        self
    }

    /// The paymaster policy: `"any"`, `"none"`, `"required"` or `{"exactly": "0x…"}`.
    pub fn paymaster(mut self, policy: Value) -> Self {
        self.spec.insert("paymaster".into(), policy);
        self
    }

    /// The fee scope, as JSON text (`{ "per_operation": "0.01 ether", "budget": "0.1 ether" }`).
    pub fn fees(mut self, fees: &str) -> Self {
        let fees: Value = serde_json::from_str(fees).unwrap();
        self.spec.insert("fees".into(), fees);
        self
    }

    /// One more permission (the format's permission object; its index is the number of permissions before it).
    pub fn permission(mut self, permission: Value) -> Self {
        self.permissions.push(permission);
        self
    }

    /// One more permission: [`TRANSFER`] on `token`, with no rule.
    pub fn transfer_of(self, token: Address) -> Self {
        self.permission(json!({ "target": token.to_string(), "function": TRANSFER }))
    }

    /// One more permission: [`TRANSFER`] on `token` of at most `max` per call (a rule on `amount`).
    pub fn transfer_of_at_most(self, token: Address, max: u64) -> Self {
        self.permission(json!({
            "target": token.to_string(),
            "function": TRANSFER,
            "rules": [{ "arg": "amount", "op": "lte", "value": max.to_string() }],
        }))
    }

    /// The session as JSON text.
    pub fn to_json(&self) -> String {
        let mut spec = self.spec.clone();
        spec.insert("permissions".into(), self.permissions.clone().into());
        Value::Object(spec).to_string()
    }

    /// The session, compiled (panics with the compiler's error when the JSON is refused).
    pub fn compile(&self) -> CompiledSession {
        let json = self.to_json();
        SessionSpec::compile_json(&json).unwrap_or_else(|e| panic!("{e}\n{json}"))
    }
}

/// The tests' plain session: `key` may call [`TRANSFER`] on `token`, at most 100 per call, from `t - 1` until
/// `t + 3600`, within the default fee scope.
pub fn transfer_session(key: &SessionKey, token: Address, t: u64) -> CompiledSession {
    SessionJson::new(key, t)
        .transfer_of_at_most(token, 100)
        .compile()
}

/// `call` on `token` under the session's first permission (index 0), with no value.
pub fn token_call(token: Address, call: impl SolCall) -> SessionCall {
    SessionCall::new(token, call.abi_encode(), 0)
}

/// `token.transfer(to, amount)` under the session's first permission (index 0).
pub fn transfer(token: Address, to: Address, amount: u64) -> SessionCall {
    let value = U256::from(amount);
    token_call(token, DemoToken::transferCall { to, value })
}

/// `token.mint(to, amount)` under the session's first permission (index 0).
pub fn mint_call(token: Address, to: Address, amount: u64) -> SessionCall {
    let amount = U256::from(amount);
    token_call(token, DemoToken::mintCall { to, amount })
}

/// Signs `prepared` again with `key` after its operation changed (fees, gas, `initCode`, the signature's mode):
/// computes its userOpHash anew and replaces the session key's signature in the session signature, which is
/// otherwise kept as it is. What a session key signs without the SDK's checks.
pub fn resign(client: &Client, prepared: &mut PreparedOp, key: &SessionKey) {
    let signature = SessionSignature::decode(&prepared.op.signature).unwrap();
    prepared.user_op_hash = client
        .stack()
        .entry_point(prepared.version)
        .user_op_hash(&prepared.op, client.chain_id())
        .unwrap();
    prepared.op.signature = signature
        .sign(key, &prepared.user_op_hash)
        .unwrap()
        .encode()
        .unwrap()
        .into();
}
