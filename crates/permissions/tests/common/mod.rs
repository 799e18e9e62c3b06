//! Session JSON fixtures shared by the format's tests.
#![allow(clippy::panic, dead_code, missing_docs)]

use alloy_primitives::{address, Address};
use keyscope_permissions::{CompiledSession, Error, SessionSpec};
use serde_json::{json, Value};

pub const SIGNER: &str = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed";
pub const TOKEN: &str = "0xfB6916095ca1df60bB79Ce92cE3Ea74c37c5d359";
pub const TOKEN_ADDR: Address = address!("fB6916095ca1df60bB79Ce92cE3Ea74c37c5d359");
pub const BOB: &str = "0xdbF03B407c01E7cD3CBea99509d93f8DDDC8C6FB";

pub fn session(permissions: Value) -> Value {
    json!({
        "signer": SIGNER,
        "valid_after": 1_767_225_600u64,
        "valid_until": "2026-12-01T12:00:00Z",
        "permissions": permissions,
    })
}

pub fn compile(v: &Value) -> Result<CompiledSession, Error> {
    SessionSpec::compile_json(&v.to_string())
}

pub fn err(v: Value) -> Error {
    match compile(&v) {
        Ok(_) => panic!("expected an error for {v}"),
        Err(e) => e,
    }
}

pub fn transfer_permission(rules: Value) -> Value {
    json!({"target": TOKEN, "function": "transfer(address to,uint256 amount)", "rules": rules})
}

pub fn transfer(rules: Value) -> Value {
    session(json!([transfer_permission(rules)]))
}
