//! The client: accounts, owner operations, session operations, all sent straight to `EntryPoint.handleOps`.

use std::sync::Arc;

use alloy::eips::BlockNumberOrTag;
use alloy::network::TransactionBuilder;
use alloy::primitives::{aliases::U192, Address, Bytes, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::sol_types::{SolCall, SolValue};
use keyscope_bindings::entry_point_v07::EntryPoint as EntryPointContract;
use keyscope_bindings::{KeyscopeAccount, KeyscopeAccountFactory, SessionKeyValidator};
use keyscope_permissions::{CompiledSession, Session};
use keyscope_signer::{
    enable_digest, owner_signature, CallProof, PackedUserOperation, SessionKey, SessionSignature,
};

use crate::error::{Error, Result, Revert};
use crate::fees::{self, FeeUsage};
use crate::stack::{Stack, Version};

alloy::sol! {
    /// ERC-7579 `Execution` (OpenZeppelin `ERC7579Utils`), for batch calls.
    struct Execution {
        address target;
        uint256 value;
        bytes callData;
    }
}

/// ERC-7579 module type of validators.
pub const MODULE_TYPE_VALIDATOR: u64 = 1;

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
    /// Gas limit of the bundler's `handleOps` transaction.
    pub handle_ops_gas: u64,
}

impl Default for GasSettings {
    /// The values of `script/SeedDemo.s.sol` (fees estimated).
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

/// A `KeyscopeAccount` and the EntryPoint version it is bound to.
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
    /// Index of the permission in the compiled session.
    pub permission: usize,
}

impl SessionCall {
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
/// [`Client::sign_session_op`] signs it once its gas fields are final.
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

/// `validator (20 bytes) ‖ lane (4 bytes)`: the nonce key by which a `KeyscopeAccount` picks the validator of a
/// user operation. Operations on different lanes have independent nonce sequences.
pub fn nonce_key(validator: Address, lane: u32) -> U192 {
    let mut bytes = [0u8; 24];
    bytes[..20].copy_from_slice(validator.as_slice());
    bytes[20..].copy_from_slice(&lane.to_be_bytes());
    U192::from_be_bytes(bytes)
}

/// The nonce lane of a session: the first 4 bytes of its id, so that sessions of one account don't queue behind
/// each other (and behind the owner, who uses lane 0 of the owner validator's key).
pub fn session_lane(session_id: B256) -> u32 {
    u32::from_be_bytes([session_id[0], session_id[1], session_id[2], session_id[3]])
}

/// `account.execute(mode, executionCalldata)` for one call (`CALLTYPE_SINGLE`, `EXECTYPE_DEFAULT`).
pub fn execute_single(target: Address, value: U256, data: &[u8]) -> Bytes {
    let mut execution = Vec::with_capacity(52 + data.len());
    execution.extend_from_slice(target.as_slice());
    execution.extend_from_slice(&value.to_be_bytes::<32>());
    execution.extend_from_slice(data);
    KeyscopeAccount::executeCall {
        mode: B256::ZERO,
        executionCalldata: execution.into(),
    }
    .abi_encode()
    .into()
}

/// `account.execute(mode, executionCalldata)` for a batch (`CALLTYPE_BATCH`, `EXECTYPE_DEFAULT`).
pub fn execute_batch(calls: &[(Address, U256, Bytes)]) -> Bytes {
    let executions: Vec<Execution> = calls
        .iter()
        .map(|(target, value, data)| Execution {
            target: *target,
            value: *value,
            callData: data.clone(),
        })
        .collect();
    let mut mode = B256::ZERO;
    mode.0[0] = 0x01;
    KeyscopeAccount::executeCall {
        mode,
        executionCalldata: executions.abi_encode().into(),
    }
    .abi_encode()
    .into()
}

/// Converts the permissions crate's `Session` to the bindings' (same ABI).
fn binding_session(
    session: &Session,
) -> Result<keyscope_bindings::session_key_validator::SessionTypes::Session> {
    keyscope_bindings::session_key_validator::SessionTypes::Session::abi_decode(
        &session.abi_encode(),
    )
    .map_err(|e| Error::Contract(Box::new(e.into())))
}

fn binding_op(op: &PackedUserOperation) -> EntryPointContract::PackedUserOperation {
    EntryPointContract::PackedUserOperation {
        sender: op.sender,
        nonce: op.nonce,
        initCode: op.initCode.clone(),
        callData: op.callData.clone(),
        accountGasLimits: op.accountGasLimits,
        preVerificationGas: op.preVerificationGas,
        gasFees: op.gasFees,
        paymasterAndData: op.paymasterAndData.clone(),
        signature: op.signature.clone(),
    }
}

/// The calldata of `EntryPoint.handleOps(ops, beneficiary)` (the same ABI on v0.7 and v0.8): what an EOA sends to
/// the EntryPoint to bundle `ops` itself.
pub fn handle_ops_calldata(ops: &[PackedUserOperation], beneficiary: Address) -> Bytes {
    EntryPointContract::handleOpsCall {
        ops: ops.iter().map(binding_op).collect(),
        beneficiary,
    }
    .abi_encode()
    .into()
}

/// A Keyscope client on an alloy provider that signs for the bundler address (e.g.
/// `ProviderBuilder::new().wallet(key).connect_http(url)`): it sends the `handleOps`, funding and factory
/// transactions itself, with no bundler service.
///
/// Clones share one submission lock, so concurrent sends from clones of a client (e.g. operations of several
/// sessions sent at once) get distinct bundler nonces whatever the provider's nonce manager.
#[derive(Debug, Clone)]
pub struct Client {
    provider: DynProvider,
    stack: Stack,
    chain_id: u64,
    bundler: Address,
    gas: GasSettings,
    /// Held from a transaction's nonce filling until the node accepted it.
    submit: Arc<tokio::sync::Mutex<()>>,
}

impl Client {
    /// A client for an existing `stack`; `bundler` sends the transactions (and is the `handleOps` beneficiary).
    pub async fn new<P: Provider + 'static>(
        provider: P,
        stack: Stack,
        bundler: Address,
    ) -> Result<Self> {
        let provider = provider.erased();
        let chain_id = provider.get_chain_id().await?;
        Ok(Self {
            provider,
            stack,
            chain_id,
            bundler,
            gas: GasSettings::default(),
            submit: Arc::default(),
        })
    }

    /// [`Stack::deploy_or_detect`] from `bundler`, then a client for the stack.
    pub async fn deploy<P: Provider + 'static>(provider: P, bundler: Address) -> Result<Self> {
        let (stack, _) = Stack::deploy_or_detect(&provider, bundler).await?;
        Self::new(provider, stack, bundler).await
    }

    /// The same client with other gas settings.
    pub fn with_gas(mut self, gas: GasSettings) -> Self {
        self.gas = gas;
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

    /// The bundler (sender of every transaction).
    pub fn bundler(&self) -> Address {
        self.bundler
    }

    fn entry_point(&self, version: Version) -> EntryPointContract::EntryPointInstance<DynProvider> {
        // v0.7 and v0.8 share handleOps, getNonce, depositTo, balanceOf and the FailedOp errors.
        EntryPointContract::new(
            self.stack.version(version).entry_point,
            self.provider.clone(),
        )
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
                .send_transaction(tx.with_from(self.bundler))
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

    /// Creates (or finds) `owner`'s account through the factory, from the bundler; the `SessionKeyValidator` is
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

    /// Sends `amount` wei from the bundler to `to`; the transaction hash.
    pub async fn fund(&self, to: Address, amount: U256) -> Result<B256> {
        let tx = TransactionRequest::default().with_to(to).with_value(amount);
        Ok(self.send_tx(tx, "fund").await?.transaction_hash)
    }

    /// Adds `amount` wei to `account`'s EntryPoint deposit (`depositTo`), paid by the bundler.
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

    // ---------------------------------------------------------------------------------------------------------
    // Owner operations
    // ---------------------------------------------------------------------------------------------------------

    /// An unsigned user operation of `account` running `call_data`, with the EntryPoint nonce of `key`, this
    /// client's gas settings and fees (estimated when not set); `signature` is empty. For operations signed
    /// elsewhere (an owner's wallet): hash it with [`Stack::entry_point`]`(version).user_op_hash(&op, chain_id)`.
    pub async fn unsigned_op(
        &self,
        account: &Account,
        key: U192,
        call_data: Bytes,
    ) -> Result<PackedUserOperation> {
        // Every operation is signed over a hash that binds `self.chain_id`: never for another chain.
        self.ensure_chain().await?;
        let mut op = PackedUserOperation {
            sender: account.address,
            nonce: self.nonce(account, key).await?,
            callData: call_data,
            preVerificationGas: U256::from(self.gas.pre_verification_gas),
            ..Default::default()
        };
        op.set_gas_limits(self.gas.verification_gas_limit, self.gas.call_gas_limit);
        let (priority, max) = match (self.gas.max_priority_fee_per_gas, self.gas.max_fee_per_gas) {
            (Some(priority), Some(max)) => (priority, max),
            (priority, max) => {
                let estimate = self.provider.estimate_eip1559_fees().await?;
                (
                    priority.unwrap_or(estimate.max_priority_fee_per_gas),
                    max.unwrap_or(estimate.max_fee_per_gas),
                )
            }
        };
        op.set_gas_fees(priority, max);
        Ok(op)
    }

    /// An owner operation running `call_data` on the account, signed by `owner` over the raw userOpHash (nonce key
    /// = owner validator ‖ lane 0).
    pub async fn prepare_owner_op(
        &self,
        account: &Account,
        owner: &SessionKey,
        call_data: Bytes,
    ) -> Result<PreparedOp> {
        let key = nonce_key(self.stack.owner_validator, 0);
        let mut op = self.unsigned_op(account, key, call_data).await?;
        let user_op_hash = self
            .stack
            .entry_point(account.version)
            .user_op_hash(&op, self.chain_id)?;
        op.signature = owner.sign_hash_bytes(&user_op_hash)?.to_vec().into();
        Ok(PreparedOp {
            version: account.version,
            op,
            user_op_hash,
        })
    }

    /// Sends an owner operation that calls `target` from the account; fails with
    /// [`Error::OperationReverted`] when the call reverts.
    pub async fn owner_call(
        &self,
        account: &Account,
        owner: &SessionKey,
        target: Address,
        value: U256,
        data: &[u8],
    ) -> Result<OpOutcome> {
        self.send_owner_op_call(account, owner, execute_single(target, value, data))
            .await
    }

    /// Grants `session` (an owner operation calling `SessionKeyValidator.grantSession`).
    pub async fn grant_session(
        &self,
        account: &Account,
        owner: &SessionKey,
        session: &Session,
    ) -> Result<OpOutcome> {
        let call = SessionKeyValidator::grantSessionCall {
            session: binding_session(session)?,
        };
        self.owner_call(
            account,
            owner,
            self.stack.session_key_validator,
            U256::ZERO,
            &call.abi_encode(),
        )
        .await
    }

    /// Revokes one session (owner operation calling `revokeSession`).
    pub async fn revoke_session(
        &self,
        account: &Account,
        owner: &SessionKey,
        session_id: B256,
    ) -> Result<OpOutcome> {
        let call = SessionKeyValidator::revokeSessionCall {
            sessionId: session_id,
        };
        self.owner_call(
            account,
            owner,
            self.stack.session_key_validator,
            U256::ZERO,
            &call.abi_encode(),
        )
        .await
    }

    /// Revokes every session of the account (owner operation calling `revokeAllSessions`: a new epoch).
    pub async fn revoke_all_sessions(
        &self,
        account: &Account,
        owner: &SessionKey,
    ) -> Result<OpOutcome> {
        let call = SessionKeyValidator::revokeAllSessionsCall {};
        self.owner_call(
            account,
            owner,
            self.stack.session_key_validator,
            U256::ZERO,
            &call.abi_encode(),
        )
        .await
    }

    /// Uninstalls the `SessionKeyValidator` from the account (an owner operation calling the account's
    /// `uninstallModule`): every session of the account stops validating, and its counters never come back — the
    /// validator starts a new epoch.
    pub async fn uninstall_session_validator(
        &self,
        account: &Account,
        owner: &SessionKey,
    ) -> Result<OpOutcome> {
        let call = KeyscopeAccount::uninstallModuleCall {
            moduleTypeId: U256::from(MODULE_TYPE_VALIDATOR),
            module: self.stack.session_key_validator,
            deInitData: Bytes::new(),
        };
        self.send_owner_op_call(account, owner, call.abi_encode().into())
            .await
    }

    /// Installs the `SessionKeyValidator` on the account (an owner operation calling the account's
    /// `installModule`), granting no session; sessions granted before an uninstall stay void.
    pub async fn install_session_validator(
        &self,
        account: &Account,
        owner: &SessionKey,
    ) -> Result<OpOutcome> {
        let call = KeyscopeAccount::installModuleCall {
            moduleTypeId: U256::from(MODULE_TYPE_VALIDATOR),
            module: self.stack.session_key_validator,
            initData: Bytes::new(),
        };
        self.send_owner_op_call(account, owner, call.abi_encode().into())
            .await
    }

    /// Sends an owner operation whose callData is `call_data` (a call of the account's own function); fails with
    /// [`Error::OperationReverted`] when it reverts.
    async fn send_owner_op_call(
        &self,
        account: &Account,
        owner: &SessionKey,
        call_data: Bytes,
    ) -> Result<OpOutcome> {
        let op = self.prepare_owner_op(account, owner, call_data).await?;
        let outcome = self.send(&op).await?;
        if outcome.success {
            Ok(outcome)
        } else {
            Err(Error::OperationReverted {
                user_op_hash: outcome.user_op_hash,
                tx_hash: outcome.tx_hash,
                revert: outcome.revert,
            })
        }
    }

    /// The session's state on the validator.
    pub async fn session_status(
        &self,
        account: &Account,
        session_id: B256,
    ) -> Result<SessionStatus> {
        let validator =
            SessionKeyValidator::new(self.stack.session_key_validator, self.provider.clone());
        let status: u8 = validator
            .sessionStatus(account.address, session_id)
            .call()
            .await?;
        Ok(SessionStatus::from_raw(status))
    }

    /// `feesChargedOf(account, sessionId)`: what the session's operations were charged so far in the account's
    /// current epoch, each at its maximum cost (0 for a session never used, or granted in an earlier epoch).
    pub async fn fees_charged(&self, account: &Account, session_id: B256) -> Result<U256> {
        let validator =
            SessionKeyValidator::new(self.stack.session_key_validator, self.provider.clone());
        Ok(validator
            .feesChargedOf(account.address, session_id)
            .call()
            .await?)
    }

    /// `session`'s fee scope and what it was charged so far on `account` ([`FeeUsage::left`] is what is left of
    /// its budget).
    pub async fn fee_usage(&self, account: &Account, session: &Session) -> Result<FeeUsage> {
        let charged = self
            .fees_charged(account, keyscope_permissions::session_id(session))
            .await?;
        Ok(FeeUsage::new(session, charged))
    }

    /// The lowest `maxFeePerGas` the chain takes now for an operation whose `maxPriorityFeePerGas` is
    /// `max_priority_fee_per_gas`: the latest block's base fee plus that (the priority fee alone on a chain
    /// without base fee).
    pub async fn min_fee_per_gas(&self, max_priority_fee_per_gas: u128) -> Result<u128> {
        let base_fee = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .and_then(|block| block.header.base_fee_per_gas)
            .unwrap_or_default();
        Ok(u128::from(base_fee).saturating_add(max_priority_fee_per_gas))
    }

    /// Keeps `op` within the fee scope `usage` allows: an operation whose maximum cost
    /// ([`fees::max_operation_cost`]) is over the per-operation bound or what is left of the budget gets a lower
    /// `maxFeePerGas`, the most that fits, when that is at least [`Client::min_fee_per_gas`]; otherwise `op` is
    /// left as it is and the answer is [`Error::FeeScopeExceeded`]. Nothing is read from the chain when `op`
    /// fits already (or the scope is unlimited). Sign `op` afterwards: the fee is part of its hash.
    pub async fn fit_fee_scope(
        &self,
        op: &mut PackedUserOperation,
        usage: &FeeUsage,
    ) -> Result<()> {
        if usage.exceeded_by(fees::max_operation_cost(op)).is_none() {
            return Ok(());
        }
        let floor = self.min_fee_per_gas(op.gas_fees().0).await?;
        fees::fit(op, usage, floor).map_err(Error::FeeScopeExceeded)
    }

    /// [`Client::fit_fee_scope`] that never refuses: an operation that cannot fit gets the lowest fee the chain
    /// takes now (for an estimate, whose own gas limits are checked again before signing). Node failures are
    /// errors.
    pub(crate) async fn lower_fee_towards_scope(
        &self,
        op: &mut PackedUserOperation,
        usage: &FeeUsage,
    ) -> Result<()> {
        match self.fit_fee_scope(op, usage).await {
            Err(Error::FeeScopeExceeded(exceeded)) => {
                let (priority, max_fee) = op.gas_fees();
                if exceeded.min_fee_per_gas < max_fee {
                    op.set_gas_fees(
                        priority.min(exceeded.min_fee_per_gas),
                        exceeded.min_fee_per_gas,
                    );
                }
                Ok(())
            }
            other => other,
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Session operations
    // ---------------------------------------------------------------------------------------------------------

    /// Builds and signs a session operation: `calls` run through `execute` (single or batch), each under its
    /// permission of `session`; nonce key = `SessionKeyValidator` ‖ [`session_lane`]; signature in the
    /// validator's use mode (`keyscope-signer`'s wire encoder), signed by `key` over the raw userOpHash.
    ///
    /// Before signing, the operation is kept within the session's fee scope ([`Client::fit_fee_scope`]: its
    /// `maxFeePerGas` lowered to fit when the chain allows): an operation that would cost more than the
    /// per-operation bound or what is left of the budget (`feesChargedOf`) is [`Error::FeeScopeExceeded`], and
    /// nothing is signed. Operations of one session prepared at the same time each see the same charges: the
    /// validator refuses the one that takes the session past its budget (`FeeBudgetExceeded`).
    pub async fn prepare_session_op(
        &self,
        account: &Account,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<PreparedOp> {
        self.prepare_session_op_in(account, key, session, calls, None)
            .await
    }

    /// Builds and signs a session operation in enable mode: the operation grants `session` and uses it at once,
    /// with no earlier owner transaction. `owner` signs the validator's EIP-712
    /// `EnableSession(account, epoch, session)` digest (the account's current epoch, read from the validator),
    /// which the validator checks through the account's ERC-1271 `isValidSignature` (routed to the
    /// `OwnerECDSAValidator`); `key` signs the userOpHash as in [`Client::prepare_session_op`], once the operation
    /// is within the session's fee scope (a session enabled by the operation starts with nothing charged, unless
    /// it is active already: replaying an enable signature never refills its budget).
    pub async fn prepare_enable_session_op(
        &self,
        account: &Account,
        owner: &SessionKey,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<PreparedOp> {
        self.prepare_session_op_in(account, key, session, calls, Some(owner))
            .await
    }

    /// Use mode without `owner`, enable mode (signed by `owner`) with it.
    async fn prepare_session_op_in(
        &self,
        account: &Account,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
        owner: Option<&SessionKey>,
    ) -> Result<PreparedOp> {
        let mut built = self
            .build_session_op(account, session, calls, owner)
            .await?;
        self.fit_fee_scope(&mut built.op, &built.usage).await?;
        self.sign_session_op(built, key)
    }

    /// A session operation with a dummy signature of the final length (use mode without `owner`, enable mode
    /// signed by `owner` with it), its gas from the client's settings, and the session's fee usage; not yet
    /// within the fee scope.
    pub(crate) async fn build_session_op(
        &self,
        account: &Account,
        session: &CompiledSession,
        calls: &[SessionCall],
        owner: Option<&SessionKey>,
    ) -> Result<UnsignedSessionOp> {
        let call_data = match calls {
            [] => return Err(Error::NoCalls),
            [call] => execute_single(call.target, call.value, &call.data),
            calls => execute_batch(
                &calls
                    .iter()
                    .map(|c| (c.target, c.value, c.data.clone()))
                    .collect::<Vec<_>>(),
            ),
        };
        let now = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await?
            .map(|block| block.header.timestamp)
            .unwrap_or_default();
        let proofs = calls
            .iter()
            .map(|call| CallProof::from_compiled(session, call.permission, now))
            .collect::<keyscope_signer::Result<Vec<_>>>()?;
        let nonce_key = nonce_key(
            self.stack.session_key_validator,
            session_lane(session.session_id()),
        );
        let mut op = self.unsigned_op(account, nonce_key, call_data).await?;
        let unsigned = match owner {
            None => SessionSignature::use_session(session.session.clone(), proofs),
            Some(owner) => {
                let validator = self.stack.session_key_validator;
                let epoch = SessionKeyValidator::new(validator, self.provider.clone())
                    .epochOf(account.address)
                    .call()
                    .await?;
                let digest = enable_digest(
                    validator,
                    self.chain_id,
                    account.address,
                    epoch,
                    session.session_id(),
                );
                // The account routes ERC-1271 to the validator module named by the signature's first 20 bytes.
                let signature =
                    owner_signature(owner, self.stack.owner_validator.as_slice(), &digest)?;
                SessionSignature::enable_session(session.session.clone(), signature, proofs)
            }
        };
        // Same length as the final signature, although the hash does not cover it.
        op.signature = unsigned.to_dummy().encode()?.into();
        // The charges only count against a bounded budget (the validator keeps none otherwise).
        let usage = FeeUsage::new(&session.session, U256::ZERO);
        let usage = if usage.budget().is_some() {
            FeeUsage {
                charged: self.fees_charged(account, session.session_id()).await?,
                ..usage
            }
        } else {
            usage
        };
        Ok(UnsignedSessionOp {
            version: account.version,
            op,
            unsigned,
            usage,
        })
    }

    /// Signs a built session operation with `key` over its userOpHash (the owner's enable signature, which does
    /// not cover the gas fields, is kept).
    pub(crate) fn sign_session_op(
        &self,
        built: UnsignedSessionOp,
        key: &SessionKey,
    ) -> Result<PreparedOp> {
        let UnsignedSessionOp {
            version,
            mut op,
            unsigned,
            ..
        } = built;
        let user_op_hash = self
            .stack
            .entry_point(version)
            .user_op_hash(&op, self.chain_id)?;
        op.signature = unsigned.sign(key, &user_op_hash)?.encode()?.into();
        Ok(PreparedOp {
            version,
            op,
            user_op_hash,
        })
    }

    /// [`Client::prepare_session_op`] then [`Client::send`].
    pub async fn send_session_op(
        &self,
        account: &Account,
        key: &SessionKey,
        session: &CompiledSession,
        calls: &[SessionCall],
    ) -> Result<OpOutcome> {
        let op = self
            .prepare_session_op(account, key, session, calls)
            .await?;
        self.send(&op).await
    }

    /// Runs `handleOps([op])` in an `eth_call` from the bundler: `Ok` when the EntryPoint accepts the operation,
    /// the decoded rejection otherwise ([`Error::EntryPoint`] with the `AAxx` code and the validator's error).
    /// A chain id change or a missing stack is reported as such ([`Error::ChainChanged`],
    /// [`Error::StackNotDeployed`]).
    pub async fn simulate(&self, op: &PreparedOp) -> Result<()> {
        match self
            .entry_point(op.version)
            .handleOps(vec![binding_op(&op.op)], self.bundler)
            .from(self.bundler)
            .gas(self.gas.handle_ops_gas)
            .call()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => Err(self.diagnose(op.version, error.into()).await),
        }
    }

    /// Simulates `op` (a rejection is returned decoded, and nothing is sent), then sends `handleOps([op])` from the
    /// bundler and reads the outcome from the receipt's `UserOperationEvent`.
    pub async fn send(&self, op: &PreparedOp) -> Result<OpOutcome> {
        self.simulate(op).await?;
        let entry_point = self.entry_point(op.version);
        let pending = {
            let _submitting = self.submit.lock().await;
            entry_point
                .handleOps(vec![binding_op(&op.op)], self.bundler)
                .from(self.bundler)
                .gas(self.gas.handle_ops_gas)
                .send()
                .await?
        };
        let receipt = pending.get_receipt().await?;
        let tx_hash = receipt.transaction_hash;
        if !receipt.status() {
            return Err(Error::HandleOpsReverted { tx_hash });
        }
        let mut event = None;
        let mut revert = None;
        for log in receipt.logs() {
            if log.address() != *entry_point.address() {
                continue;
            }
            if let Ok(decoded) = log.log_decode::<EntryPointContract::UserOperationEvent>() {
                if decoded.inner.data.userOpHash == op.user_op_hash {
                    event = Some(decoded.inner.data);
                }
            } else if let Ok(decoded) =
                log.log_decode::<EntryPointContract::UserOperationRevertReason>()
            {
                if decoded.inner.data.userOpHash == op.user_op_hash {
                    revert = Some(Revert::decode(&decoded.inner.data.revertReason));
                }
            }
        }
        let event = event.ok_or(Error::MissingUserOperationEvent {
            user_op_hash: op.user_op_hash,
            tx_hash,
        })?;
        Ok(OpOutcome {
            user_op_hash: op.user_op_hash,
            tx_hash,
            gas_used: receipt.gas_used,
            actual_gas_used: event.actualGasUsed,
            actual_gas_cost: event.actualGasCost,
            success: event.success,
            revert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    #[test]
    fn nonce_key_is_validator_then_lane() {
        let validator = address!("1111111111111111111111111111111111111111");
        let key = nonce_key(validator, 0xdead_beef);
        let bytes = key.to_be_bytes::<24>();
        assert_eq!(&bytes[..20], validator.as_slice());
        assert_eq!(&bytes[20..], &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(session_lane(B256::repeat_byte(0xab)), 0xabab_abab);
    }

    #[test]
    fn execute_encodings() {
        let single = execute_single(Address::repeat_byte(1), U256::from(5), &[0xaa]);
        let decoded = KeyscopeAccount::executeCall::abi_decode(&single);
        assert!(
            matches!(decoded, Ok(c) if c.mode == B256::ZERO && c.executionCalldata.len() == 53)
        );
        let batch = execute_batch(&[(Address::repeat_byte(1), U256::ZERO, Bytes::new())]);
        let decoded = KeyscopeAccount::executeCall::abi_decode(&batch);
        assert!(matches!(decoded, Ok(c) if c.mode.0[0] == 1));
    }
}
