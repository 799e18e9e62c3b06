//! ERC-7677 paymaster web service for the stack's `SponsorPaymaster`: `pm_getPaymasterStubData` and
//! `pm_getPaymasterData`, under the sponsor's policy (an allowlist of senders, a gas cap, a validity window).
//!
//! The service holds the sponsor's key (`--sponsor-key-file`) and signs, for each operation its policy accepts, the
//! paymaster's EIP-712 `UserOperationRequest` hash ([`keyscope::signer::sponsorship`]). It never sends anything.

use std::collections::BTreeSet;

use keyscope::alloy::primitives::{Address, Bytes, U256};
use keyscope::alloy::providers::Provider;
use keyscope::signer::sponsorship::{
    sponsor_paymaster_and_data, sponsor_paymaster_data, sponsorship_hash,
    stub_sponsor_paymaster_data, SponsorshipWindow, MAX_UINT48,
};
use keyscope::signer::{PackedUserOperation, SessionKey};
use keyscope::{Account, Stack, Version};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::json::{hex_quantity, no_unknown, take, Quantity};
use crate::service::Service;

/// The default `paymasterVerificationGasLimit` of sponsored operations. `SponsorPaymaster`'s validation (an
/// EIP-712 hash of the operation and one `ecrecover`, no storage) was measured at about 20,600 gas on EntryPoint
/// v0.7 and 20,300 on v0.8, the EntryPoint's call into it included (`tests/sponsor.rs`,
/// `paymaster_validation_gas_is_within_the_default`, asserts a 2x margin): 60,000 leaves room for long `initCode`
/// and `callData` (hashed in validation) and for changes in gas schedules.
pub const DEFAULT_PAYMASTER_VERIFICATION_GAS: u64 = 60_000;
/// The default gas cap of one sponsored operation (all its gas limits and `preVerificationGas`).
pub const DEFAULT_SPONSOR_MAX_GAS: u64 = 2_000_000;
/// The default validity of a sponsorship, in seconds.
pub const DEFAULT_SPONSOR_VALIDITY_SECS: u64 = 600;
/// JSON-RPC error code of an operation the sponsor's policy refuses.
pub(crate) const SPONSORSHIP_REFUSED: i32 = -32050;
/// JSON-RPC error code of the `pm_` methods when the service has no sponsor key ("method not found").
pub(crate) const METHOD_NOT_FOUND: i32 = -32601;

/// The sponsorship side of the service (`--sponsor-*`). `Debug` shows the sponsor's address, never its key.
#[derive(Clone, Debug)]
pub struct SponsorOptions {
    /// The sponsor's key: its signatures make `SponsorPaymaster` pay.
    pub key: SessionKey,
    /// The paymasters' owner (a constructor argument, so part of their addresses); `None`: the sponsor itself.
    pub owner: Option<Address>,
    /// The senders sponsored; `None`: any.
    pub accounts: Option<BTreeSet<Address>>,
    /// Most gas of one operation: `verificationGasLimit + callGasLimit + preVerificationGas +
    /// paymasterVerificationGasLimit + paymasterPostOpGasLimit`.
    pub max_gas: u64,
    /// A sponsorship's validity: it ends this many seconds after it is signed.
    pub validity_secs: u64,
    /// The `paymasterVerificationGasLimit` the stub data answers (and the final data uses when the operation has
    /// none).
    pub verification_gas_limit: u64,
    /// The sponsor's name, shown by wallets (ERC-7677's `sponsor.name`).
    pub name: String,
}

impl SponsorOptions {
    /// The default policy for `key`: any sender, 2,000,000 gas, 600 seconds, 60,000 gas of paymaster validation.
    pub fn new(key: SessionKey) -> Self {
        Self {
            key,
            owner: None,
            accounts: None,
            max_gas: DEFAULT_SPONSOR_MAX_GAS,
            validity_secs: DEFAULT_SPONSOR_VALIDITY_SECS,
            verification_gas_limit: DEFAULT_PAYMASTER_VERIFICATION_GAS,
            name: "Keyscope".into(),
        }
    }

    /// Reads the sponsor's key from a file holding its hex private key (`0x` optional, surrounding white space and
    /// `#` comment lines ignored). Errors never show the file's content.
    pub fn key_from_file(path: &std::path::Path) -> Result<SessionKey> {
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            Error::invalid("--sponsor-key-file", format!("{}: {e}", path.display()))
        })?);
        let line = text
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty() && !line.starts_with('#'))
            .unwrap_or_default();
        SessionKey::from_hex(line).map_err(|_| {
            Error::invalid(
                "--sponsor-key-file",
                format!(
                    "{}: not a secp256k1 private key (64 hex digits, 0x optional)",
                    path.display()
                ),
            )
        })
    }

    /// The paymasters' owner: [`Self::owner`], else the sponsor.
    pub fn paymaster_owner(&self) -> Address {
        self.owner.unwrap_or_else(|| self.key.address())
    }

    /// Where the `SponsorPaymaster` of `version` paying for this sponsor is (or will be) deployed.
    pub fn paymaster(&self, stack: &Stack, version: Version) -> Address {
        stack.sponsor_paymaster(version, self.key.address(), self.paymaster_owner())
    }

    /// `-32602` unless the options make sense.
    pub(crate) fn check(&self) -> Result<()> {
        if self.validity_secs == 0 || self.validity_secs > MAX_UINT48 {
            return Err(Error::invalid(
                "--sponsor-validity-secs",
                "between 1 second and 2^48 - 1",
            ));
        }
        if self.max_gas == 0 {
            return Err(Error::invalid("--sponsor-max-gas", "at least 1"));
        }
        if self.verification_gas_limit > self.max_gas {
            return Err(Error::invalid(
                "--sponsor-max-gas",
                format!(
                    "{} is below the paymaster's own verification gas {}",
                    self.max_gas, self.verification_gas_limit
                ),
            ));
        }
        Ok(())
    }
}

/// Why the policy refused an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The sender is not on `--sponsor-accounts`.
    Allowlist,
    /// The operation's gas is over `--sponsor-max-gas`.
    MaxGas,
    /// The paymaster has no code on the chain.
    NotDeployed,
    /// The paymaster's EntryPoint deposit does not cover the operation's most cost.
    Deposit,
}

impl Refusal {
    /// The rule's name in `data.rule`.
    pub fn label(self) -> &'static str {
        match self {
            Self::Allowlist => "allowlist",
            Self::MaxGas => "maxGas",
            Self::NotDeployed => "paymasterNotDeployed",
            Self::Deposit => "deposit",
        }
    }
}

/// A user operation in the unpacked v0.7/v0.8 JSON-RPC shape, as ERC-7677 sends it: unsigned (`signature` may be
/// missing), gas fields possibly zero (before estimation), paymaster fields missing or `null`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SponsorUserOp {
    sender: Address,
    nonce: Quantity,
    #[serde(default)]
    factory: Option<Address>,
    #[serde(default)]
    factory_data: Option<Bytes>,
    call_data: Bytes,
    #[serde(default)]
    call_gas_limit: Option<Quantity>,
    #[serde(default)]
    verification_gas_limit: Option<Quantity>,
    #[serde(default)]
    pre_verification_gas: Option<Quantity>,
    #[serde(default)]
    max_fee_per_gas: Option<Quantity>,
    #[serde(default)]
    max_priority_fee_per_gas: Option<Quantity>,
    #[serde(default)]
    paymaster: Option<Address>,
    #[serde(default)]
    paymaster_verification_gas_limit: Option<Quantity>,
    #[serde(default)]
    paymaster_post_op_gas_limit: Option<Quantity>,
    #[serde(default)]
    paymaster_data: Option<Bytes>,
    #[serde(default)]
    #[allow(dead_code)]
    signature: Option<Bytes>,
}

/// `value` as a gas field (at most 2^128 - 1, as the packed operation holds it).
fn gas(value: Option<Quantity>, field: &str) -> Result<u128> {
    let value = value.unwrap_or_default().0;
    u128::try_from(value).map_err(|_| {
        Error::invalid(
            format!("userOp.{field}"),
            format!("{value} does not fit in 128 bits"),
        )
    })
}

/// An operation read for sponsorship.
struct Request {
    paymaster: Address,
    /// The packed operation with this paymaster and its gas limits (paymaster data empty).
    op: PackedUserOperation,
    verification_gas: u128,
    post_op_gas: u128,
}

impl Service {
    fn sponsor(&self) -> Result<&SponsorOptions> {
        self.options().sponsor.as_ref().ok_or(Error::NotConfigured(
            "sponsorship is not configured: the service was started without --sponsor-key-file",
        ))
    }

    /// Reads `[userOp, entryPoint, chainId, context]`, checks the chain, the EntryPoint and the paymaster, and
    /// applies the policy; `stub`: the paymaster gas limits are the service's, else the operation's (the service's
    /// when it has none).
    async fn sponsorship_request(
        &self,
        mut params: Map<String, Value>,
        stub: bool,
    ) -> Result<Request> {
        let sponsor = self.sponsor()?;
        let user_op: SponsorUserOp = take(&mut params, "userOp")?;
        let entry_point: Address = take(&mut params, "entryPoint")?;
        let chain_id = params
            .remove("chainId")
            .ok_or_else(|| Error::invalid("chainId", "required"))?;
        if !chain_id.is_string() {
            return Err(Error::invalid("chainId", "expected a hex string (\"0x…\")"));
        }
        self.check_chain(Some(&chain_id), "chainId", true)?;
        // ERC-7677's context: this sponsor has no options (ignored, whatever it is).
        params.remove("context");
        no_unknown(&params)?;
        let stack = self.client().stack();
        let version = stack.version_of(entry_point).ok_or_else(|| {
            Error::invalid(
                "entryPoint",
                format!(
                    "{entry_point} is not an EntryPoint this sponsor serves (v0.7 {}, v0.8 {})",
                    stack.v07.entry_point, stack.v08.entry_point
                ),
            )
        })?;
        let paymaster = sponsor.paymaster(stack, version);
        if let Some(given) = user_op.paymaster {
            if given != paymaster {
                return Err(Error::invalid(
                    "userOp.paymaster",
                    format!("{given} is not this sponsor's paymaster {paymaster} (EntryPoint {version})"),
                ));
            }
        } else if user_op
            .paymaster_data
            .as_ref()
            .is_some_and(|data| !data.is_empty())
        {
            return Err(Error::invalid(
                "userOp.paymasterData",
                "paymaster data without a paymaster",
            ));
        }
        let default_verification = u128::from(sponsor.verification_gas_limit);
        let (verification_gas, post_op_gas) = if stub {
            (default_verification, 0)
        } else {
            match (
                user_op.paymaster_verification_gas_limit,
                user_op.paymaster_post_op_gas_limit,
            ) {
                (None, None) => (default_verification, 0),
                (verification, post_op) => (
                    gas(verification, "paymasterVerificationGasLimit")?,
                    gas(post_op, "paymasterPostOpGasLimit")?,
                ),
            }
        };
        let (factory, factory_data) = (user_op.factory, user_op.factory_data.unwrap_or_default());
        let init_code = match factory {
            Some(factory) => [factory.as_slice(), &factory_data[..]].concat().into(),
            None if factory_data.is_empty() => Bytes::new(),
            None => {
                return Err(Error::invalid(
                    "userOp.factoryData",
                    "factory data without a factory",
                ))
            }
        };
        let call_gas = gas(user_op.call_gas_limit, "callGasLimit")?;
        let account_verification_gas = gas(user_op.verification_gas_limit, "verificationGasLimit")?;
        let pre_verification_gas = gas(user_op.pre_verification_gas, "preVerificationGas")?;
        let max_fee = gas(user_op.max_fee_per_gas, "maxFeePerGas")?;
        let priority_fee = gas(user_op.max_priority_fee_per_gas, "maxPriorityFeePerGas")?;
        let mut op = PackedUserOperation {
            sender: user_op.sender,
            nonce: user_op.nonce.0,
            initCode: init_code,
            callData: user_op.call_data,
            preVerificationGas: U256::from(pre_verification_gas),
            paymasterAndData: sponsor_paymaster_and_data(
                paymaster,
                verification_gas,
                post_op_gas,
                &[],
            ),
            ..Default::default()
        };
        op.set_gas_limits(account_verification_gas, call_gas);
        op.set_gas_fees(priority_fee, max_fee);

        // The policy.
        if let Some(accounts) = &sponsor.accounts {
            if !accounts.contains(&op.sender) {
                return Err(Error::SponsorshipRefused {
                    rule: Refusal::Allowlist,
                    message: format!("sender {} is not on the sponsor's allowlist", op.sender),
                });
            }
        }
        let total = [
            account_verification_gas,
            call_gas,
            pre_verification_gas,
            verification_gas,
            post_op_gas,
        ]
        .iter()
        .fold(0u128, |sum, gas| sum.saturating_add(*gas));
        if total > u128::from(sponsor.max_gas) {
            return Err(Error::SponsorshipRefused {
                rule: Refusal::MaxGas,
                message: format!(
                    "gas {} over the sponsor's cap {} (verificationGasLimit + callGasLimit + preVerificationGas + \
                     paymasterVerificationGasLimit + paymasterPostOpGasLimit)",
                    thousands(total),
                    thousands(u128::from(sponsor.max_gas))
                ),
            });
        }
        let provider = self.client().provider();
        let (code, deposit) = tokio::try_join!(
            async { Ok::<_, Error>(provider.get_code_at(paymaster).await?) },
            async {
                Ok(self
                    .client()
                    .deposit_of(&Account {
                        address: paymaster,
                        version,
                    })
                    .await?)
            },
        )?;
        if code.is_empty() {
            return Err(Error::SponsorshipRefused {
                rule: Refusal::NotDeployed,
                message: format!(
                    "the sponsor's paymaster {paymaster} (EntryPoint {version}) is not deployed on this chain"
                ),
            });
        }
        let most_cost = U256::from(total).saturating_mul(U256::from(max_fee));
        if deposit < most_cost {
            return Err(Error::SponsorshipRefused {
                rule: Refusal::Deposit,
                message: format!(
                    "the paymaster's deposit of {deposit} wei does not cover the operation's most cost of {most_cost} wei"
                ),
            });
        }
        Ok(Request {
            paymaster,
            op,
            verification_gas,
            post_op_gas,
        })
    }

    /// The sponsorship's window: from now (the later of this machine's clock and the latest block's time) for
    /// `--sponsor-validity-secs`; no start bound.
    async fn sponsorship_window(&self, sponsor: &SponsorOptions) -> Result<SponsorshipWindow> {
        let now = self.now().await?;
        Ok(SponsorshipWindow {
            valid_after: 0,
            valid_until: now.saturating_add(sponsor.validity_secs).min(MAX_UINT48),
        })
    }

    /// `pm_getPaymasterStubData`: `[userOp, entryPoint, chainId, context]` → `{paymaster, paymasterData,
    /// paymasterVerificationGasLimit, paymasterPostOpGasLimit, isFinal: false, sponsor: {name}}`: paymaster data of
    /// the final length for gas estimation (its signature is not the sponsor's).
    pub(crate) async fn paymaster_stub_data(&self, params: Map<String, Value>) -> Result<Value> {
        let request = self.sponsorship_request(params, true).await?;
        let sponsor = self.sponsor()?;
        let window = SponsorshipWindow {
            valid_after: 0,
            valid_until: 0,
        };
        Ok(json!({
            "paymaster": request.paymaster,
            "paymasterData": stub_sponsor_paymaster_data(window),
            "paymasterVerificationGasLimit": hex_quantity(u64::try_from(request.verification_gas).unwrap_or(u64::MAX)),
            "paymasterPostOpGasLimit": hex_quantity(u64::try_from(request.post_op_gas).unwrap_or(u64::MAX)),
            "isFinal": false,
            "sponsor": { "name": sponsor.name },
        }))
    }

    /// `pm_getPaymasterData`: `[userOp, entryPoint, chainId, context]` → `{paymaster, paymasterData}`: the sponsor's
    /// signature over the operation as given (with its paymaster gas limits, the stub's when it has none), valid
    /// for `--sponsor-validity-secs`.
    pub(crate) async fn paymaster_data(&self, params: Map<String, Value>) -> Result<Value> {
        let request = self.sponsorship_request(params, false).await?;
        let sponsor = self.sponsor()?;
        let window = self.sponsorship_window(sponsor).await?;
        let hash = sponsorship_hash(&request.op, request.paymaster, self.chain_id(), window);
        let signature = sponsor
            .key
            .sign_hash_bytes(&hash)
            .map_err(|e| Error::Internal(format!("signing the sponsorship: {e}")))?;
        Ok(json!({
            "paymaster": request.paymaster,
            "paymasterData": sponsor_paymaster_data(window, &signature),
        }))
    }

    /// What `keyscope_info` shows of the sponsor: its address, paymasters and policy (`null` without one).
    pub(crate) fn sponsor_info(&self) -> Value {
        let Some(sponsor) = &self.options().sponsor else {
            return Value::Null;
        };
        let stack = self.client().stack();
        json!({
            "sponsor": sponsor.key.address(),
            "owner": sponsor.paymaster_owner(),
            "name": sponsor.name,
            "paymasters": {
                "v0.7": sponsor.paymaster(stack, Version::V07),
                "v0.8": sponsor.paymaster(stack, Version::V08),
            },
            "accounts": sponsor.accounts,
            "maxGas": sponsor.max_gas,
            "validitySecs": sponsor.validity_secs,
            "paymasterVerificationGasLimit": hex_quantity(sponsor.verification_gas_limit),
            "paymasterPostOpGasLimit": hex_quantity(0),
        })
    }
}

/// `n` with thousands separators (`3,000,000`).
fn thousands(n: u128) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `params` rewritten for the `pm_` methods' positional form: a lone object with `sender` is the operation.
pub(crate) fn user_op_first(map: Map<String, Value>) -> Map<String, Value> {
    if map.contains_key("sender") {
        std::iter::once(("userOp".to_owned(), Value::Object(map))).collect()
    } else {
        map
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::from_value;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(2_000_000), "2,000,000");
        assert_eq!(thousands(12_345), "12,345");
    }

    #[test]
    fn user_ops_are_lenient_but_strict_on_unknown_fields() {
        let op: SponsorUserOp = from_value(
            json!({ "sender": Address::ZERO, "nonce": "0x1", "callData": "0x", "paymaster": null,
                    "paymasterData": null, "callGasLimit": "0x0" }),
            "userOp",
        )
        .unwrap_or_else(|e| unreachable!("{e}"));
        assert_eq!(op.nonce.0, U256::from(1));
        let error = from_value::<SponsorUserOp>(
            json!({ "sender": Address::ZERO, "nonce": "0x1", "callData": "0x", "initCode": "0x" }),
            "userOp",
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(error.contains("initCode"), "{error}");
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let key = SessionKey::generate();
        let secret = keyscope::alloy::primitives::hex::encode(*key.secret_bytes());
        let text = format!("{:?}", SponsorOptions::new(key.clone()));
        assert!(!text.contains(&secret), "{text}");
        assert!(text.contains(&format!("{:?}", key.address())), "{text}");
    }

    #[test]
    fn key_files_never_show_the_key() {
        let dir = std::env::temp_dir().join(format!("keyscope-sponsor-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("bad.key");
        let _ = std::fs::write(&path, "0xdeadbeefSECRET\n");
        let error = SponsorOptions::key_from_file(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("not a secp256k1 private key"), "{error}");
        assert!(!error.contains("SECRET"), "{error}");
        let key = SessionKey::generate();
        let good = dir.join("good.key");
        let _ = std::fs::write(
            &good,
            format!(
                "# sponsor\n0x{}\n",
                keyscope::alloy::primitives::hex::encode(*key.secret_bytes())
            ),
        );
        let read = SponsorOptions::key_from_file(&good).map(|k| k.address());
        assert_eq!(read.ok(), Some(key.address()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
