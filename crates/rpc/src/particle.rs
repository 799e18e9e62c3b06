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
use keyscope::alloy::sol_types::SolValue;
use keyscope::permissions::{
    ArgRef, FeeScopeSpec, PaymasterSpec, PermissionSpec, RuleSpec, RuleValue, Scalar, SessionSpec,
};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::error::{join_path, Error, Result};
use crate::json::{from_value, Quantity};
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
        valid_after,
        valid_until,
        paymaster,
        fees,
        salt: Default::default(),
        permissions: vec![permission],
    })
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
}
