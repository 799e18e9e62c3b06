#![doc = include_str!("../README.md")]

pub mod account;
pub mod bundler;
pub mod client;
pub mod error;
pub mod explain;
pub mod fees;
pub mod multichain;
pub mod paymaster;
pub mod periods;
pub mod sessions;
pub mod stack;
pub mod status;

pub use account::{AccountKind, Execution, KeyscopeAccountKind, OwnerSigner};
/// The alloy the client is built on.
pub use alloy;
pub use bundler::{BundlerClient, BundlerOptions, GasEstimate, UserOperationReceipt};
pub use client::{
    assemble_session_signature, execute_batch, execute_single, nonce_key, session_lane,
    sign_typed_data_for_session, Account, Client, GasSettings, GasSource, GrantCalls, OpOutcome,
    PreparedOp, SessionCall, SessionStatus, Submission, UnsignedOwnerOp, UnsignedSessionOperation,
};
pub use error::{Error, Result, Revert};
pub use explain::{
    evaluate, state_keys, validate_user_op, ExplainInput, Explanation, FeeCheck, OperationCost,
    Rejection, SessionState, Usage, Validation, ValidatorRevert, Verdict,
};
pub use fees::{max_operation_cost, operation_gas, FeeLimit, FeeScopeExceeded, FeeUsage};
pub use keyscope_bindings as bindings;
pub use keyscope_permissions as permissions;
pub use keyscope_signer as signer;
pub use multichain::{sign_multichain_enable, MultichainChainProof, SignedMultichainEnable};
pub use paymaster::{PaymasterData, PaymasterService, PaymasterStub};
pub use periods::{periodic_limits, PeriodAllowance};
pub use sessions::{AccountSessions, EventPlace, SessionEntry, MAX_SESSION_EVENTS};
pub use stack::{Deployed, Stack, Version, VersionStack, CREATE2_DEPLOYER};
pub use status::{Lifecycle, SessionReport, Window};
