//! Sponsored operations through any ERC-7677 paymaster web service.
//!
//! A [`PaymasterService`] speaks the two methods of [ERC-7677](https://eips.ethereum.org/EIPS/eip-7677):
//! `pm_getPaymasterStubData` (paymaster fields good enough to estimate gas with) and `pm_getPaymasterData` (the
//! final fields, once every other field of the operation is final). A [`Client`](crate::Client) given one with
//! [`Client::with_paymaster`](crate::Client::with_paymaster) fills `paymasterAndData` of every session operation it
//! prepares: stub data first, then the gas estimate (bundler or client settings), then the final data, and only
//! then the session key's signature, which covers `paymasterAndData`. A session whose paymaster policy is `Exactly`
//! that paymaster is valid only for operations the paymaster pays.
//!
//! `keyscope-rpc --sponsor-key-file` serves these methods for the stack's `SponsorPaymaster`; Pimlico, Alchemy,
//! Coinbase and others serve them for theirs.

use alloy::primitives::{Address, Bytes, U256};
use alloy::transports::http::reqwest::Url;
use keyscope_signer::userop::paymaster_and_data;
use keyscope_signer::PackedUserOperation;
use serde::Deserialize;

use crate::bundler::{to_rpc, BundlerClient, BundlerOptions};
use crate::error::{Error, Result};

/// `paymasterVerificationGasLimit` when the stub names none and no bundler estimates it: room for a signature
/// check and a few storage reads.
pub const DEFAULT_PAYMASTER_VERIFICATION_GAS: u128 = 100_000;

/// What `pm_getPaymasterStubData` answers (EntryPoint v0.7 and v0.8 shape).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymasterStub {
    /// The paymaster.
    pub paymaster: Address,
    /// Stub `paymasterData`, of the final length.
    pub paymaster_data: Bytes,
    /// `paymasterVerificationGasLimit` to use (a service may leave it to the bundler's estimate).
    #[serde(default)]
    pub paymaster_verification_gas_limit: Option<U256>,
    /// `paymasterPostOpGasLimit` to use.
    #[serde(default)]
    pub paymaster_post_op_gas_limit: Option<U256>,
    /// Whether the stub data is final already (no `pm_getPaymasterData` needed).
    #[serde(default)]
    pub is_final: bool,
}

/// What `pm_getPaymasterData` answers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymasterData {
    /// The paymaster (must be the stub's).
    pub paymaster: Address,
    /// The final `paymasterData`.
    pub paymaster_data: Bytes,
}

/// An ERC-7677 paymaster web service. Its URL's path and query (which often carry an API key) never appear in
/// errors or logs; transport failures are retried as [`BundlerOptions`] say.
#[derive(Debug, Clone)]
pub struct PaymasterService {
    rpc: BundlerClient,
    context: serde_json::Value,
}

impl PaymasterService {
    /// A client for the service at `url`, sending an empty `context`.
    pub fn new(url: Url) -> Result<Self> {
        Ok(Self {
            rpc: BundlerClient::with_options(url, BundlerOptions::default())?,
            context: serde_json::Value::Object(Default::default()),
        })
    }

    /// The same client sending `context` (the service-specific fourth parameter: a sponsorship policy id …).
    pub fn with_context(mut self, context: serde_json::Value) -> Self {
        self.context = context;
        self
    }

    /// The service's `scheme://host:port`.
    pub fn origin(&self) -> &str {
        self.rpc.origin()
    }

    /// `pm_getPaymasterStubData` for `op` on `entry_point` and `chain_id`.
    pub async fn stub_data(
        &self,
        op: &PackedUserOperation,
        entry_point: Address,
        chain_id: u64,
    ) -> Result<PaymasterStub> {
        self.request("pm_getPaymasterStubData", op, entry_point, chain_id)
            .await
    }

    /// `pm_getPaymasterData` for `op` (every field final but the paymaster data and the signature).
    pub async fn data(
        &self,
        op: &PackedUserOperation,
        entry_point: Address,
        chain_id: u64,
    ) -> Result<PaymasterData> {
        self.request("pm_getPaymasterData", op, entry_point, chain_id)
            .await
    }

    async fn request<R: alloy::rpc::json_rpc::RpcRecv>(
        &self,
        method: &'static str,
        op: &PackedUserOperation,
        entry_point: Address,
        chain_id: u64,
    ) -> Result<R> {
        let params = (
            to_rpc(op)?,
            entry_point,
            format!("{chain_id:#x}"),
            self.context.clone(),
        );
        self.rpc
            .request(method, params)
            .await
            .map_err(|error| match error {
                Error::Bundler { code, message, .. } => Error::Paymaster { code, message },
                other => other,
            })
    }

    /// Fills `op.paymasterAndData` from the stub: the paymaster, the stub's gas limits (else
    /// `default_verification_gas` and no postOp gas) and the stub data. Returns whether the data is final.
    pub(crate) async fn apply_stub(
        &self,
        op: &mut PackedUserOperation,
        entry_point: Address,
        chain_id: u64,
        default_verification_gas: u128,
    ) -> Result<bool> {
        // Asked without paymaster fields: the service chooses them.
        op.paymasterAndData = Bytes::new();
        let stub = self.stub_data(op, entry_point, chain_id).await?;
        let gas = |name: &'static str, value: Option<U256>, default: u128| match value {
            None => Ok(default),
            Some(value) => u128::try_from(value).map_err(|_| Error::PaymasterResponse {
                method: "pm_getPaymasterStubData",
                reason: format!("{name} {value} does not fit in 128 bits"),
            }),
        };
        let verification = gas(
            "paymasterVerificationGasLimit",
            stub.paymaster_verification_gas_limit,
            default_verification_gas,
        )?;
        let post_op = gas(
            "paymasterPostOpGasLimit",
            stub.paymaster_post_op_gas_limit,
            0,
        )?;
        op.paymasterAndData =
            paymaster_and_data(stub.paymaster, verification, post_op, &stub.paymaster_data);
        Ok(stub.is_final)
    }

    /// Replaces `op`'s paymaster data with the service's final data, keeping the gas limits. The paymaster must
    /// not change.
    pub(crate) async fn apply_final(
        &self,
        op: &mut PackedUserOperation,
        entry_point: Address,
        chain_id: u64,
    ) -> Result<()> {
        let expected = op.paymaster();
        let (verification, post_op) = op.paymaster_gas_limits().unwrap_or_default();
        let data = self.data(op, entry_point, chain_id).await?;
        if data.paymaster != expected {
            return Err(Error::PaymasterResponse {
                method: "pm_getPaymasterData",
                reason: format!("paymaster {} is not the stub's {expected}", data.paymaster),
            });
        }
        op.paymasterAndData =
            paymaster_and_data(data.paymaster, verification, post_op, &data.paymaster_data);
        Ok(())
    }
}
