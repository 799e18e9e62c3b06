//! Refusals and validity windows in the permission file's terms: the permission by its number in the grant summary
//! and its function as written, the failed rule by its argument's name and the operand as written, native values
//! in ETH, and times as ISO dates. The SDK's explanation speaks the validator's terms (call and rule indices,
//! selectors, wei); these lines follow it when the session's JSON file is known.

use alloy::json_abi::Function;
use alloy::primitives::{Address, B256, I256, U256};
use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors as E;
use keyscope::explain::RevertKind;
use keyscope::permissions::{values, ArgRef, CompiledSession, RuleValue, SessionSpec, Target};
use keyscope::{Validation, ValidatorRevert};

/// A unix time as an ISO date (`2026-12-01T12:00:00Z`), or the number when it has none.
pub fn iso(seconds: u64) -> String {
    values::format_rfc3339(seconds).unwrap_or_else(|| seconds.to_string())
}

/// An accepted operation's window as ISO dates.
pub fn window_text(validation: &Validation) -> String {
    format!(
        "valid from {} until {}",
        iso(validation.valid_after),
        iso(validation.valid_until)
    )
}

/// What `revert` means in the terms of `spec` (compiled as `compiled`): `None` when the revert is not about one of
/// its permissions.
pub fn refusal_in_file_terms(
    revert: &ValidatorRevert,
    spec: &SessionSpec,
    compiled: &CompiledSession,
) -> Option<String> {
    let call = revert.call.as_deref()?;
    let leaf = call.leaf?;
    let index = compiled.permissions.iter().position(|p| p.leaf() == leaf)?;
    let permission = spec.permissions.get(index)?;
    let target = match permission.target {
        Target::Any => "any contract".to_owned(),
        Target::Address(address) => address.to_checksum(None),
    };
    let function = match (&permission.function, permission.selector) {
        _ if permission.native_transfer => "native transfers".to_owned(),
        (Some(function), _) => function.clone(),
        (None, Some(selector)) => format!("selector {selector}"),
        (None, None) => "any call".to_owned(),
    };
    let mut text = format!(
        "call {} is under permission {} of the grant summary ({function} on {target})",
        call.index,
        index + 1
    );
    let RevertKind::Error(error) = &revert.kind else {
        return Some(text);
    };
    match &**error {
        E::ValueLimitExceeded(e) => text.push_str(&format!(
            ": it sends {}, over its value_limit of {}",
            values::format_native(e.value),
            values::format_native(e.limit)
        )),
        E::NativeTotalExceeded(e) => text.push_str(&format!(
            ": the session's native spending would reach {}, over its native_total_limit of {}",
            values::format_native(e.total),
            values::format_native(e.limit)
        )),
        E::PeriodAllowanceExceeded(e) => {
            let amount = |value: U256| {
                if e.asset == Address::ZERO {
                    values::format_native(value)
                } else {
                    value.to_string()
                }
            };
            let (asset, field) = if e.asset == Address::ZERO {
                ("native".to_owned(), "native_period_limit")
            } else {
                (format!("{} token", e.asset.to_checksum(None)), "erc20_period_limit")
            };
            text.push_str(&format!(
                ": the session's {asset} spending in period {} would reach {}, over its {field} of {} (the allowance is whole again when the next period starts)",
                e.period,
                amount(e.total),
                amount(e.limit)
            ));
        }
        E::SpendingPeriodPassed(e) => text.push_str(&format!(
            ": it names period {}, but the session already spent in period {} (sign again for the current period)",
            e.period, e.latestPeriod
        )),
        E::UsageLimitReached(e) => text.push_str(&format!(
            ": it would be use {} of max_uses {}",
            e.uses, e.maxUses
        )),
        _ => {}
    }
    if let Some(detail) = revert.rule.as_deref() {
        if let Some(rule) = permission.rules.get(detail.rule_index) {
            let (name, ty) = match &rule.arg {
                ArgRef::Name(name) => (
                    format!("`{name}`"),
                    permission
                        .function
                        .as_deref()
                        .and_then(|f| argument_type(f, name)),
                ),
                ArgRef::Index(i) => (format!("argument {i}"), None),
            };
            let operand = match &rule.value {
                Some(RuleValue::One(value)) => format!(" {value}"),
                Some(RuleValue::Many(list)) => format!(
                    " [{}]",
                    list.iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None => String::new(),
            };
            let actual = match detail.arg {
                Some(word) => format!(
                    "{name} is {}",
                    word_text(word, ty.as_deref().or(rule.ty.as_deref()))
                ),
                None => format!("{name} is past the end of the calldata"),
            };
            text.push_str(&format!(
                "; rule {} of that permission ({name} {}{operand}) fails: {actual}",
                detail.rule_index + 1,
                rule.op
            ));
        }
    }
    Some(text)
}

/// The type of the top-level argument `name` of `function` (`"transfer(address to,uint256 amount)"`).
fn argument_type(function: &str, name: &str) -> Option<String> {
    let function = Function::parse(function).ok()?;
    function
        .inputs
        .iter()
        .find(|input| input.name == name)
        .map(|input| input.ty.clone())
}

/// An argument word read as `ty`: addresses checksummed, integers in decimal, other words in hex.
fn word_text(word: B256, ty: Option<&str>) -> String {
    match ty {
        Some("address") => Address::from_word(word).to_checksum(None),
        Some("bool") => (word != B256::ZERO).to_string(),
        Some(ty) if ty.starts_with("uint") => U256::from_be_bytes(word.0).to_string(),
        Some(ty) if ty.starts_with("int") => {
            I256::from_raw(U256::from_be_bytes(word.0)).to_string()
        }
        _ => word.to_string(),
    }
}
