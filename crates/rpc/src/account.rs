//! The account a request is about: an existing account by address, or a `KeyscopeAccount` by owner and salt
//! (deployed in the same operation when it has no code yet).

use keyscope::alloy::contract::Error as ContractError;
use keyscope::alloy::primitives::{Address, Bytes, U256};
use keyscope::alloy::providers::Provider;
use keyscope::alloy::sol_types::SolCall;
use keyscope::bindings::{KeyscopeAccount, KeyscopeAccountFactory};
use keyscope::client::MODULE_TYPE_VALIDATOR;
use keyscope::{Account, Client, Version};
use serde::Deserialize;

use crate::error::{join_path, Error, Result};
use crate::json::Quantity;

/// The account part of a request.
///
/// `{"address": "0x…"}` for an existing account (its EntryPoint is read from the account), or
/// `{"owner": "0x…", "salt": 0, "entryPoint": "v0.7"}` for the `KeyscopeAccount` of that owner and salt (created by
/// the returned operation if it has no code yet). The Particle Network form `{"name": "KEYSCOPE", "version":
/// "0.7", "ownerAddress": "0x…"}` is the same thing under other names.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct AccountInput {
    /// The account's address.
    #[serde(default)]
    pub address: Option<Address>,
    /// The owner of a `KeyscopeAccount` (Particle: `ownerAddress`).
    #[serde(default, alias = "ownerAddress")]
    pub owner: Option<Address>,
    /// The `KeyscopeAccountFactory` salt (default 0).
    #[serde(default)]
    pub salt: Option<Quantity>,
    /// `"v0.7"`, `"0.7"`, `"v0.8"`, `"0.8"` or a canonical EntryPoint address (Particle: `version`).
    #[serde(default, alias = "version")]
    pub entry_point: Option<String>,
    /// Particle's account implementation name: only `"KEYSCOPE"` is served.
    #[serde(default)]
    pub name: Option<String>,
}

/// An account resolved against the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResolvedAccount {
    /// Address and EntryPoint version.
    pub account: Account,
    /// Whether it has code.
    pub deployed: bool,
    /// Whether the `SessionKeyValidator` is installed (true for an account the factory will create: it installs
    /// it).
    pub validator_installed: bool,
    /// Whether it is a `KeyscopeAccount` with the `OwnerECDSAValidator`, so that this service can build the owner's
    /// user operation (for other ERC-7579 accounts it returns the calls only).
    pub owner_operation: bool,
    /// `factory` and `factoryData` when the account has no code yet.
    pub init: Option<(Address, Bytes)>,
}

/// Reads an EntryPoint version (`"v0.7"`, `"0.7"`, `"0.7.0"`, `"v0.8"` …: [`Version`]'s `FromStr`) or the address
/// of one of the stack's EntryPoints.
pub(crate) fn parse_entry_point(text: &str, client: &Client, field: &str) -> Result<Version> {
    if let Ok(version) = text.parse::<Version>() {
        return Ok(version);
    }
    if let Ok(address) = text.parse::<Address>() {
        return client.stack().version_of(address).ok_or_else(|| {
            Error::invalid(
                field,
                format!("{address} is not the EntryPoint v0.7 or v0.8 of this chain"),
            )
        });
    }
    Err(Error::invalid(
        field,
        format!("{text:?} is not an EntryPoint version (v0.7 or v0.8) or address"),
    ))
}

/// Whether a failed view call is the contract's own answer (it reverted, returned nothing, or returned something
/// that does not decode), which means "not this kind of account"; a failure of the node (transport, rate limit …)
/// is not an answer and must not be read as "no".
pub(crate) fn contract_refused(error: &ContractError) -> bool {
    match error {
        ContractError::ZeroData(..) | ContractError::AbiError(_) => true,
        ContractError::TransportError(error) => error.as_error_resp().is_some_and(|payload| {
            payload.as_revert_data().is_some()
                || payload.message.to_ascii_lowercase().contains("revert")
        }),
        _ => false,
    }
}

/// The version of the EntryPoint a deployed account names (`entryPoint()`): `None` when the account has no such
/// function or names another EntryPoint; node failures are errors.
pub(crate) async fn account_entry_point(
    client: &Client,
    account: Address,
) -> Result<Option<Version>> {
    match KeyscopeAccount::new(account, client.provider().clone())
        .entryPoint()
        .call()
        .await
    {
        Ok(entry_point) => Ok(client.stack().version_of(entry_point)),
        Err(error) if contract_refused(&error) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

impl AccountInput {
    /// Resolves the account on the chain; errors name fields under `field` (`account.owner`).
    pub(crate) async fn resolve(&self, client: &Client, field: &str) -> Result<ResolvedAccount> {
        let at = |name: &str| join_path(field, name);
        if let Some(name) = &self.name {
            if !name.eq_ignore_ascii_case("KEYSCOPE") {
                return Err(Error::invalid(
                    at("name"),
                    format!("{name:?} accounts are not served: this service grants Keyscope sessions on ERC-7579 accounts (name \"KEYSCOPE\")"),
                ));
            }
        }
        let requested = self
            .entry_point
            .as_deref()
            .map(|text| parse_entry_point(text, client, &at("entryPoint")))
            .transpose()?;
        let salt = self.salt.unwrap_or_default().0;
        let stack = client.stack();
        let provider = client.provider();

        let (address, deployed) = match (self.address, self.owner) {
            (None, None) => {
                return Err(Error::invalid(
                    field,
                    "give the account's address, or its owner (with salt and entryPoint)",
                ))
            }
            (Some(address), _) => (address, !provider.get_code_at(address).await?.is_empty()),
            (None, Some(owner)) => {
                let version = requested.ok_or_else(|| {
                    Error::invalid(at("entryPoint"), "required with owner: v0.7 or v0.8")
                })?;
                let address = client.account_address(owner, salt, version, true).await?;
                (address, !provider.get_code_at(address).await?.is_empty())
            }
        };

        let version = if deployed {
            match (account_entry_point(client, address).await?, requested) {
                (Some(actual), Some(requested)) if actual != requested => {
                    return Err(Error::invalid(
                        at("entryPoint"),
                        format!("the account uses EntryPoint {actual}, not {requested}"),
                    ))
                }
                (Some(actual), _) => actual,
                (None, Some(requested)) => requested,
                (None, None) => {
                    return Err(Error::invalid(
                        at("entryPoint"),
                        format!("required: the account {address} does not tell its EntryPoint (v0.7 or v0.8)"),
                    ))
                }
            }
        } else {
            requested.ok_or_else(|| {
                Error::invalid(at("entryPoint"), "required for an account without code")
            })?
        };
        let account = Account { address, version };

        if let Some(owner) = self.owner {
            let predicted = client.account_address(owner, salt, version, true).await?;
            if predicted != address {
                return Err(Error::invalid(
                    at("address"),
                    format!("{address} is not the account of owner {owner} and salt {salt} ({predicted})"),
                ));
            }
        }

        if !deployed {
            let owner = self.owner.ok_or_else(|| {
                Error::invalid(
                    at("address"),
                    format!("no account at {address}: give its owner (and salt) to create it in the same operation"),
                )
            })?;
            let factory_data = KeyscopeAccountFactory::createAccountCall {
                owner,
                salt,
                extraValidators: vec![stack.session_key_validator],
                extraInitData: vec![Bytes::new()],
            }
            .abi_encode();
            return Ok(ResolvedAccount {
                account,
                deployed,
                validator_installed: true,
                owner_operation: true,
                init: Some((stack.version(version).account_factory, factory_data.into())),
            });
        }

        let validator_installed = client.session_validator_installed(address).await?;
        let owner_operation = match KeyscopeAccount::new(address, provider.clone())
            .isModuleInstalled(
                U256::from(MODULE_TYPE_VALIDATOR),
                stack.owner_validator,
                Bytes::new(),
            )
            .call()
            .await
        {
            Ok(installed) => installed,
            // Not an ERC-7579 account the service can build owner operations for.
            Err(error) if contract_refused(&error) => false,
            Err(error) => return Err(error.into()),
        };
        Ok(ResolvedAccount {
            account,
            deployed,
            validator_installed,
            owner_operation,
            init: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyscope::alloy::rpc::json_rpc::ErrorPayload;
    use keyscope::alloy::transports::{RpcError, TransportErrorKind};

    fn answered(code: i64, message: &'static str, data: Option<&str>) -> ContractError {
        ContractError::TransportError(RpcError::ErrorResp(ErrorPayload {
            code,
            message: message.into(),
            data: data.and_then(|d| serde_json::value::RawValue::from_string(d.to_owned()).ok()),
        }))
    }

    #[test]
    fn only_the_contracts_answers_are_no() {
        // Reverts, with or without data: the contract's answer.
        assert!(contract_refused(&answered(
            3,
            "execution reverted",
            Some("\"0x\"")
        )));
        assert!(contract_refused(&answered(
            -32000,
            "execution reverted",
            None
        )));
        // The node failing is not a "no".
        assert!(!contract_refused(&answered(
            -32005,
            "rate limit exceeded",
            None
        )));
        assert!(!contract_refused(&answered(
            -32603,
            "internal error",
            Some("\"0x\"")
        )));
        assert!(!contract_refused(&ContractError::TransportError(
            RpcError::Transport(TransportErrorKind::BackendGone)
        )));
    }
}
