//! Reading parameters: JSON values into typed structs with errors that name the field, and lenient quantities.

use keyscope::alloy::primitives::U256;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::error::{join_path, Error, Result};

/// Deserializes `value` into `T`; a failure is an [`Error::InvalidParams`] naming the field as `base` + the path
/// inside `value` (`sessions[0]` + `permissions[2].target`).
pub(crate) fn from_value<T: DeserializeOwned>(value: Value, base: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let field = join_path(base, &error.path().to_string());
        let field = if field.is_empty() {
            "params".to_owned()
        } else {
            field
        };
        Error::invalid(field, error.into_inner().to_string())
    })
}

/// The parameters of a call as one JSON object: `{…}` as given (by name), `[{…}]` (one positional object), or
/// nothing (`{}`); anything else is an error naming `params`. `positional` names the members of a longer
/// positional form (`["account", "sessions"]` reads `[a, s]` as `{"account": a, "sessions": s}`).
pub(crate) fn object_params(
    raw: Option<&str>,
    positional: &[&str],
) -> Result<serde_json::Map<String, Value>> {
    let value: Value = match raw {
        None => return Ok(serde_json::Map::new()),
        Some(text) => {
            serde_json::from_str(text).map_err(|e| Error::invalid("params", e.to_string()))?
        }
    };
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(serde_json::Map::new()),
        Value::Array(items) => match items.as_slice() {
            [] => Ok(serde_json::Map::new()),
            [Value::Object(map)] => Ok(map.clone()),
            _ if !positional.is_empty() && items.len() <= positional.len() => Ok(positional
                .iter()
                .zip(items)
                .map(|(name, item)| ((*name).to_owned(), item))
                .collect()),
            _ => Err(Error::invalid(
                "params",
                match positional {
                    [] => "expected one object, by name or as the only positional parameter"
                        .to_owned(),
                    names => format!(
                        "expected one object, or the positional parameters [{}]",
                        names.join(", ")
                    ),
                },
            )),
        },
        other => Err(Error::invalid(
            "params",
            format!("expected an object or an array, got {other}"),
        )),
    }
}

/// Takes the required member `field` out of `params`, deserialised (errors name the field).
pub(crate) fn take<T: DeserializeOwned>(params: &mut Map<String, Value>, field: &str) -> Result<T> {
    let value = params
        .remove(field)
        .ok_or_else(|| Error::invalid(field, "required"))?;
    from_value(value, field)
}

/// `-32602` on the first member left in `params` (the method took out all it knows).
pub(crate) fn no_unknown(params: &Map<String, Value>) -> Result<()> {
    match params.keys().next() {
        Some(unknown) => Err(Error::invalid(unknown.as_str(), "unknown parameter")),
        None => Ok(()),
    }
}

/// Checks that a list is at most `max` long: `field: N items, at most MAX`.
pub(crate) fn check_len(field: &str, len: usize, max: usize, what: &str) -> Result<()> {
    if len > max {
        Err(Error::invalid(
            field,
            format!("{len} {what}, at most {max} allowed"),
        ))
    } else {
        Ok(())
    }
}

/// An unsigned integer written as a JSON number, a `0x` hex string or a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Quantity(pub U256);

impl Quantity {
    /// The value as `u64`, or an error naming `field`.
    pub(crate) fn to_u64(self, field: &str) -> Result<u64> {
        u64::try_from(self.0)
            .map_err(|_| Error::invalid(field, format!("{} does not fit in 64 bits", self.0)))
    }
}

impl<'de> Deserialize<'de> for Quantity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> core::result::Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::Number(n) => n.as_u64().map(|n| Self(U256::from(n))).ok_or_else(|| {
                de::Error::custom(format!(
                    "{n} is not an unsigned integer (write large values as strings)"
                ))
            }),
            Value::String(s) => {
                let parsed = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
                    Some(hex) if !hex.is_empty() && hex.len() <= 64 => {
                        U256::from_str_radix(hex, 16).ok()
                    }
                    Some(_) => None,
                    None if !s.is_empty() && s.len() <= 78 => U256::from_str_radix(&s, 10).ok(),
                    None => None,
                };
                parsed.map(Self).ok_or_else(|| {
                    de::Error::custom(format!("{s:?} is not a quantity (0x hex or decimal)"))
                })
            }
            other => Err(de::Error::custom(format!(
                "expected a quantity (number or string), got {other}"
            ))),
        }
    }
}

impl Serialize for Quantity {
    fn serialize<S: Serializer>(&self, s: S) -> core::result::Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{:#x}", self.0))
    }
}

/// `n` as a `0x` hex quantity.
pub(crate) fn hex_quantity(n: u64) -> String {
    format!("{n:#x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::error_text;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        n: Quantity,
    }

    #[test]
    fn quantities() {
        let q: Vec<Quantity> = serde_json::from_value(json!([1, "0x10", "17"])).unwrap_or_default();
        assert_eq!(
            q,
            vec![
                Quantity(U256::from(1)),
                Quantity(U256::from(16)),
                Quantity(U256::from(17))
            ]
        );
        assert!(serde_json::from_value::<Quantity>(json!(-1)).is_err());
        assert!(serde_json::from_value::<Quantity>(json!("0x")).is_err());
        assert!(serde_json::from_value::<Quantity>(json!("ten")).is_err());
        assert!(Quantity(U256::MAX).to_u64("x").is_err());
    }

    #[test]
    fn errors_name_the_nested_field() {
        let error = error_text(from_value::<Vec<Inner>>(
            json!([{ "n": 1 }, { "n": "x" }]),
            "items",
        ));
        assert!(error.starts_with("items[1].n: "), "{error}");
        let error = error_text(from_value::<Inner>(json!({ "n": 1, "m": 2 }), ""));
        assert!(error.contains("unknown field `m`"), "{error}");
    }

    #[test]
    fn params_shapes() {
        let by_name = object_params(Some(r#"{"a":1}"#), &[]).unwrap_or_default();
        assert_eq!(by_name["a"], 1);
        let one = object_params(Some(r#"[{"a":1}]"#), &[]).unwrap_or_default();
        assert_eq!(one["a"], 1);
        let positional =
            object_params(Some(r#"[{"x":1},[2]]"#), &["account", "sessions"]).unwrap_or_default();
        assert_eq!(positional["sessions"], json!([2]));
        assert!(object_params(Some("[1,2]"), &[]).is_err());
        assert!(object_params(Some("7"), &[]).is_err());
        assert!(object_params(None, &[]).is_ok_and(|m| m.is_empty()));
    }
}
