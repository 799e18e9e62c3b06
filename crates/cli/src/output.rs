//! Printing: JSON documents, one-line error texts, and user-operation outcomes.

use std::io::Write as _;

use anyhow::{Context as _, Result};
use keyscope::alloy::primitives::U256;
use keyscope::{Error, OpOutcome};
use serde::Serialize;
use serde_json::{json, Value};

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl Serialize) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut stdout, value).context("writing JSON to stdout")?;
    writeln!(stdout).context("writing to stdout")?;
    Ok(())
}

/// `error`'s text on one line.
pub fn short(error: &impl std::fmt::Display) -> String {
    error
        .to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// A `U256` that fits as a JSON number when it can (gas figures), else its decimal string.
pub fn number(value: U256) -> Value {
    match u64::try_from(value) {
        Ok(n) => json!(n),
        Err(_) => json!(value.to_string()),
    }
}

/// A balance in ether, exactly (`9997.333388372530947019 ETH`).
pub fn ether_text(wei: U256) -> String {
    format!(
        "{} ETH",
        keyscope::permissions::values::format_decimal(wei, 18)
    )
}

/// An SDK error as JSON: the `AAxx` code and validator error name when there are some, and the whole text.
pub fn error_json(error: &Error) -> Value {
    json!({
        "code": error.aa_code(),
        "validator_error": validator_error_name(error),
        "message": short(error),
    })
}

/// The name of the validator error behind `error` (`"TargetNotAllowed"` …).
pub fn validator_error_name(error: &Error) -> Option<&'static str> {
    match error {
        Error::EntryPoint {
            revert: Some(revert),
            ..
        }
        | Error::Reverted(revert)
        | Error::OperationReverted {
            revert: Some(revert),
            ..
        } => revert.name(),
        _ => None,
    }
}

/// A sent operation as JSON.
pub fn outcome_json(outcome: &OpOutcome) -> Value {
    json!({
        "user_op_hash": outcome.user_op_hash,
        "tx_hash": outcome.tx_hash,
        "success": outcome.success,
        "gas_used": outcome.gas_used,
        "actual_gas_used": number(outcome.actual_gas_used),
        "actual_gas_cost": outcome.actual_gas_cost.to_string(),
        "revert": outcome.revert.as_ref().map(|r| r.to_string()),
    })
}

/// A sent operation for people: `userOp 0x… in tx 0x…: gas …`.
pub fn outcome_text(outcome: &OpOutcome) -> String {
    format!(
        "userOp {}\ntx {}: {}, tx gasUsed {}, userOp actualGasUsed {}{}",
        outcome.user_op_hash,
        outcome.tx_hash,
        if outcome.success {
            "success"
        } else {
            "REVERTED in execution"
        },
        outcome.gas_used,
        outcome.actual_gas_used,
        outcome
            .revert
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )
}
