//! The client: accounts, owner operations, session operations, and one submission seam ([`Submission`]) by
//! which they reach the EntryPoint: straight to `EntryPoint.handleOps`, or through an ERC-4337 bundler.

mod calldata;
mod messages;
mod owner_ops;
mod session_ops;
mod submit;

pub use crate::account::{
    execute_batch, execute_single, nonce_key, session_lane, Execution, MODULE_TYPE_VALIDATOR,
};
pub use calldata::handle_ops_calldata;
pub use messages::sign_typed_data_for_session;
pub use owner_ops::{GasSource, GrantCalls, UnsignedOwnerOp};
pub use session_ops::{assemble_session_signature, UnsignedSessionOperation};

use std::sync::Arc;

use alloy::network::TransactionBuilder;
use alloy::primitives::{aliases::U192, Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::SolCall;
use keyscope_bindings::entry_point_v07::EntryPoint as EntryPointContract;
use keyscope_bindings::session_key_validator::SessionKeyValidator;
use keyscope_bindings::KeyscopeAccountFactory;
use keyscope_signer::{PackedUserOperation, SessionSignature};

use crate::account::{AccountKind, KeyscopeAccountKind};
use crate::bundler::BundlerClient;
use crate::error::{Error, Result, Revert};
use crate::fees::FeeUsage;
use crate::paymaster::PaymasterService;
use crate::stack::{Stack, Version};

/// Gas values of the user operations this client builds, and the gas limit of its `handleOps` transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GasSettings {
    /// `verificationGasLimit`.
    pub verification_gas_limit: u128,
    /// `callGasLimit`.
    pub call_gas_limit: u128,
    /// `preVerificationGas`.
    pub pre_verification_gas: u64,
    /// `maxPriorityFeePerGas`; `None`: the provider's EIP-1559 estimate.
    pub max_priority_fee_per_gas: Option<u128>,
    /// `maxFeePerGas`; `None`: the provider's EIP-1559 estimate. A session operation may get a lower one, down to
    /// what the chain takes now, to fit its session's fee scope ([`Client::fit_fee_scope`]).
    pub max_fee_per_gas: Option<u128>,
    /// Gas limit of the `handleOps` transactions the client sends itself ([`Submission::HandleOps`]).
    pub handle_ops_gas: u64,
}

impl Default for GasSettings {
    /// The values `keyscope demo` uses (fees estimated).
    fn default() -> Self {
        Self {
            verification_gas_limit: 1_000_000,
            call_gas_limit: 500_000,
            pre_verification_gas: 60_000,
            max_priority_fee_per_gas: None,
            max_fee_per_gas: None,
            handle_ops_gas: 3_000_000,
        }
    }
}

/// A smart account and the EntryPoint version it is bound to (its kind is the client's [`AccountKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    /// The account.
    pub address: Address,
    /// Its EntryPoint version.
    pub version: Version,
}

/// A session's state on the validator (`ISessionKeyValidator.SessionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    /// Never granted in the account's current epoch (or all sessions were revoked since).
    Unknown,
    /// Granted and usable within its window.
    Active,
    /// Revoked.
    Revoked,
}

impl SessionStatus {
    /// The status of the contract's `uint8` value (anything unknown reads as `Unknown`).
    pub fn from_raw(status: u8) -> Self {
        match status {
            1 => Self::Active,
            2 => Self::Revoked,
            _ => Self::Unknown,
        }
    }
}

/// One call of a session operation: what to call and which of the session's permissions covers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCall {
    /// The contract (or recipient) called.
    pub target: Address,
    /// Native value sent.
    pub value: U256,
    /// The calldata.
    pub data: Bytes,
    /// Index of the permission in the compiled session; ignored for the session's own revocation (see
    /// [`SessionCall::revoke_own_session`]).
    pub permission: usize,
}

impl SessionCall {
    /// The session key's kill switch: `revokeSession(session_id)` on the validator, with no value. The validator
    /// accepts this one call from a session without any permission (the signature presents it with an empty
    /// permission entry, which the SDK does for every call of exactly this shape), and only for the session
    /// `session_id` the operation is signed under. Fees and the paymaster policy apply as to any session
    /// operation.
    pub fn revoke_own_session(validator: Address, session_id: B256) -> Self {
        Self {
            target: validator,
            value: U256::ZERO,
            data: SessionKeyValidator::revokeSessionCall {
                sessionId: session_id,
            }
            .abi_encode()
            .into(),
            permission: 0,
        }
    }

    /// Whether this is the session `session_id`'s own revocation on `validator`, which needs no permission.
    pub fn is_own_revocation(&self, validator: Address, session_id: B256) -> bool {
        let own = Self::revoke_own_session(validator, session_id);
        self.target == own.target && self.value == own.value && self.data == own.data
    }

    /// A call without value under permission `permission`.
    pub fn new(target: Address, data: impl Into<Bytes>, permission: usize) -> Self {
        Self {
            target,
            value: U256::ZERO,
            data: data.into(),
            permission,
        }
    }
}

/// A session operation built but not signed: its signature is the dummy of the final one (same length), and
/// [`Client::prepare_unsigned_session_op`] makes it final (gas, fee scope, userOpHash).
#[derive(Debug, Clone)]
pub(crate) struct UnsignedSessionOp {
    /// The EntryPoint version.
    pub version: Version,
    /// The operation, with a dummy session signature.
    pub op: PackedUserOperation,
    /// The session signature to sign.
    pub unsigned: SessionSignature,
    /// The session's fee scope and what it was charged, read when the operation was built.
    pub usage: FeeUsage,
}

/// A signed user operation, ready for `handleOps`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedOp {
    /// The EntryPoint version it is signed for.
    pub version: Version,
    /// The operation.
    pub op: PackedUserOperation,
    /// Its userOpHash (what was signed).
    pub user_op_hash: B256,
}

/// What happened to a user operation sent in a `handleOps` transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpOutcome {
    /// The userOpHash.
    pub user_op_hash: B256,
    /// The `handleOps` transaction.
    pub tx_hash: B256,
    /// Gas used by the whole transaction.
    pub gas_used: u64,
    /// `UserOperationEvent.actualGasUsed`.
    pub actual_gas_used: U256,
    /// `UserOperationEvent.actualGasCost` (wei charged to the account or paymaster).
    pub actual_gas_cost: U256,
    /// `UserOperationEvent.success`: whether the account's call succeeded.
    pub success: bool,
    /// The call's revert (`UserOperationRevertReason`), when it failed.
    pub revert: Option<Revert>,
}
/// How a client's user operations reach the EntryPoint: the one submission seam behind [`Client::prepare_owner_op`],
/// [`Client::prepare_session_op`] and [`Client::send`].
#[derive(Debug, Clone, Default)]
pub enum Submission {
    /// The client's sender bundles them itself: `handleOps([op])` is simulated with `eth_call`, then sent as a
    /// transaction from the sender (the beneficiary); gas limits come from the client's [`GasSettings`].
    #[default]
    HandleOps,
    /// Through an ERC-4337 bundler: gas estimated with `eth_estimateUserOperationGas` (with dummy signatures of
    /// the final length), operations sent with `eth_sendUserOperation` and their receipts awaited.
    Bundler(BundlerClient),
}

/// A Keyscope client on an alloy provider that signs for the client's sender (e.g.
/// `ProviderBuilder::new().wallet(key).connect_http(url)`). The sender is an EOA: it sends the funding and factory
/// transactions, and the `handleOps` transactions when the client bundles its operations itself
/// ([`Submission::HandleOps`], the default); [`Client::with_bundler`] sends them through a bundler instead. What is
/// specific to the account implementation comes from its [`AccountKind`] ([`KeyscopeAccountKind`] by default).
///
/// Clones share one submission lock, so concurrent sends from clones of a client (e.g. operations of several
/// sessions sent at once) get distinct sender nonces whatever the provider's nonce manager.
#[derive(Debug, Clone)]
pub struct Client {
    provider: DynProvider,
    stack: Stack,
    chain_id: u64,
    sender: Address,
    gas: GasSettings,
    kind: Arc<dyn AccountKind>,
    submission: Submission,
    paymaster: Option<PaymasterService>,
    /// Held from a transaction's nonce filling until the node accepted it.
    submit: Arc<tokio::sync::Mutex<()>>,
}

impl Client {
    /// A client for an existing `stack`; `sender` is the EOA that sends its transactions (and is the `handleOps`
    /// beneficiary).
    pub async fn new<P: Provider + 'static>(
        provider: P,
        stack: Stack,
        sender: Address,
    ) -> Result<Self> {
        let provider = provider.erased();
        let chain_id = provider.get_chain_id().await?;
        Ok(Self {
            provider,
            kind: Arc::new(KeyscopeAccountKind {
                owner_validator: stack.owner_validator,
            }),
            stack,
            chain_id,
            sender,
            gas: GasSettings::default(),
            submission: Submission::HandleOps,
            paymaster: None,
            submit: Arc::default(),
        })
    }

    /// [`Stack::deploy_or_detect`] from `sender`, then a client for the stack.
    pub async fn deploy<P: Provider + 'static>(provider: P, sender: Address) -> Result<Self> {
        let (stack, _) = Stack::deploy_or_detect(&provider, sender).await?;
        Self::new(provider, stack, sender).await
    }

    /// The same client with other gas settings.
    pub fn with_gas(mut self, gas: GasSettings) -> Self {
        self.gas = gas;
        self
    }

    /// The same client for accounts of another kind (the reference `KeyscopeAccount` by default).
    pub fn with_account_kind(mut self, kind: Arc<dyn AccountKind>) -> Self {
        self.kind = kind;
        self
    }

    /// The same client submitting through `bundler` ([`Submission::Bundler`]).
    pub fn with_bundler(self, bundler: BundlerClient) -> Self {
        self.with_submission(Submission::Bundler(bundler))
    }

    /// The same client with session operations sponsored through the ERC-7677 `paymaster` service
    /// ([`crate::paymaster`]): it fills their `paymasterAndData` before the session key signs.
    pub fn with_paymaster(mut self, paymaster: PaymasterService) -> Self {
        self.paymaster = Some(paymaster);
        self
    }

    /// The paymaster service sponsoring session operations, if any.
    pub fn paymaster(&self) -> Option<&PaymasterService> {
        self.paymaster.as_ref()
    }

    /// The same client with another submission path.
    pub fn with_submission(mut self, submission: Submission) -> Self {
        self.submission = submission;
        self
    }

    /// The stack.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The provider.
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The chain id.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The client's sender: the EOA that sends its transactions (and is the `handleOps` beneficiary).
    pub fn sender(&self) -> Address {
        self.sender
    }

    /// The client's gas settings.
    pub fn gas(&self) -> &GasSettings {
        &self.gas
    }

    /// The kind of the client's accounts.
    pub fn account_kind(&self) -> &dyn AccountKind {
        self.kind.as_ref()
    }

    /// How the client's operations reach the EntryPoint.
    pub fn submission(&self) -> &Submission {
        &self.submission
    }

    fn entry_point(&self, version: Version) -> EntryPointContract::EntryPointInstance<DynProvider> {
        // v0.7 and v0.8 share handleOps, getNonce, depositTo, balanceOf and the FailedOp errors.
        EntryPointContract::new(
            self.stack.version(version).entry_point,
            self.provider.clone(),
        )
    }

    /// The latest block's header (an error from a node that has none).
    pub(crate) async fn latest_header(&self) -> Result<alloy::rpc::types::Header> {
        let block = self
            .provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await?;
        block.map(|block| block.header).ok_or_else(|| {
            Error::Transport(alloy::transports::TransportErrorKind::custom_str(
                "the node has no latest block",
            ))
        })
    }

    /// Fails with [`Error::ChainChanged`] when the provider is no longer on the client's chain.
    async fn ensure_chain(&self) -> Result<()> {
        let actual = self.provider.get_chain_id().await?;
        if actual == self.chain_id {
            Ok(())
        } else {
            Err(Error::ChainChanged {
                expected: self.chain_id,
                actual,
            })
        }
    }

    /// Explains a failed call to the stack: [`Error::ChainChanged`] or [`Error::StackNotDeployed`] when that is
    /// the cause, else `error` itself. Only runs on failures, so it costs nothing on the happy path.
    async fn diagnose(&self, version: Version, error: Error) -> Error {
        if let Err(changed @ Error::ChainChanged { .. }) = self.ensure_chain().await {
            return changed;
        }
        let stack = self.stack.version(version);
        let (entry_point, factory) = match version {
            Version::V07 => (
                "EntryPoint v0.7",
                "KeyscopeAccountFactory (EntryPoint v0.7)",
            ),
            Version::V08 => (
                "EntryPoint v0.8",
                "KeyscopeAccountFactory (EntryPoint v0.8)",
            ),
        };
        for (name, address) in [
            (entry_point, stack.entry_point),
            ("SessionKeyValidator", self.stack.session_key_validator),
            ("OwnerECDSAValidator", self.stack.owner_validator),
            (factory, stack.account_factory),
        ] {
            if matches!(self.provider.get_code_at(address).await, Ok(code) if code.is_empty()) {
                return Error::StackNotDeployed { name, address };
            }
        }
        error
    }

    async fn send_tx(&self, tx: TransactionRequest, what: &str) -> Result<TransactionReceipt> {
        let pending = {
            let _submitting = self.submit.lock().await;
            self.provider
                .send_transaction(tx.with_from(self.sender))
                .await?
        };
        let receipt = pending.get_receipt().await?;
        if receipt.status() {
            Ok(receipt)
        } else {
            Err(Error::TransactionReverted {
                what: what.to_owned(),
                tx_hash: receipt.transaction_hash,
            })
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Accounts
    // ---------------------------------------------------------------------------------------------------------

    fn extra_validators(&self, install_session_validator: bool) -> (Vec<Address>, Vec<Bytes>) {
        if install_session_validator {
            (vec![self.stack.session_key_validator], vec![Bytes::new()])
        } else {
            (vec![], vec![])
        }
    }

    /// The address of `owner`'s account number `salt` (see [`Client::create_account_with`]).
    pub async fn account_address(
        &self,
        owner: Address,
        salt: U256,
        version: Version,
        install_session_validator: bool,
    ) -> Result<Address> {
        let factory = KeyscopeAccountFactory::new(
            self.stack.version(version).account_factory,
            self.provider.clone(),
        );
        let (validators, data) = self.extra_validators(install_session_validator);
        match factory
            .getAddress(owner, salt, validators, data)
            .call()
            .await
        {
            Ok(address) => Ok(address),
            Err(error) => Err(self.diagnose(version, error.into()).await),
        }
    }

    /// Creates (or finds) `owner`'s account number `salt` on EntryPoint `version`, with the owner's
    /// `OwnerECDSAValidator` and the `SessionKeyValidator` installed.
    pub async fn create_account(
        &self,
        owner: Address,
        salt: U256,
        version: Version,
    ) -> Result<Account> {
        self.create_account_with(owner, salt, version, true).await
    }

    /// Creates (or finds) `owner`'s `KeyscopeAccount` through the factory, from the sender; the `SessionKeyValidator` is
    /// installed at creation when `install_session_validator` (the address depends on it). Idempotent.
    pub async fn create_account_with(
        &self,
        owner: Address,
        salt: U256,
        version: Version,
        install_session_validator: bool,
    ) -> Result<Account> {
        let address = self
            .account_address(owner, salt, version, install_session_validator)
            .await?;
        if self.provider.get_code_at(address).await?.is_empty() {
            let (validators, data) = self.extra_validators(install_session_validator);
            let call = KeyscopeAccountFactory::createAccountCall {
                owner,
                salt,
                extraValidators: validators,
                extraInitData: data,
            };
            let tx = TransactionRequest::default()
                .with_to(self.stack.version(version).account_factory)
                .with_input(call.abi_encode());
            self.send_tx(tx, "createAccount").await?;
        }
        Ok(Account { address, version })
    }

    /// Sends `amount` wei from the sender to `to`; the transaction hash.
    pub async fn fund(&self, to: Address, amount: U256) -> Result<B256> {
        let tx = TransactionRequest::default().with_to(to).with_value(amount);
        Ok(self.send_tx(tx, "fund").await?.transaction_hash)
    }

    /// Adds `amount` wei to `account`'s EntryPoint deposit (`depositTo`), paid by the sender.
    pub async fn deposit(&self, account: &Account, amount: U256) -> Result<B256> {
        let call = EntryPointContract::depositToCall {
            account: account.address,
        };
        let tx = TransactionRequest::default()
            .with_to(self.stack.version(account.version).entry_point)
            .with_input(call.abi_encode())
            .with_value(amount);
        Ok(self.send_tx(tx, "depositTo").await?.transaction_hash)
    }

    /// `account`'s EntryPoint deposit.
    pub async fn deposit_of(&self, account: &Account) -> Result<U256> {
        Ok(self
            .entry_point(account.version)
            .balanceOf(account.address)
            .call()
            .await?)
    }

    /// The EntryPoint nonce of `account` for `key`.
    pub async fn nonce(&self, account: &Account, key: U192) -> Result<U256> {
        match self
            .entry_point(account.version)
            .getNonce(account.address, key)
            .call()
            .await
        {
            Ok(nonce) => Ok(nonce),
            Err(error) => Err(self.diagnose(account.version, error.into()).await),
        }
    }
}
