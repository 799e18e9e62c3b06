#![doc = include_str!("../README.md")]

pub mod abi;
mod error;
pub mod function;
pub mod merkle;
pub mod signer_key;
pub mod spec;
pub mod summary;
pub mod typed_data;
pub mod values;

pub use abi::{
    decode_permission, decode_session, encode_permission, encode_session, leaf_hash, session_id,
    window_bounds, ArgRule, PaymasterPolicyKind, Permission, RuleOperator, Session, ALL_FLAGS,
    ENABLE_SESSIONS_TYPEHASH, FLAG_ANY_TARGET, FLAG_ERC20_TOTAL, FLAG_NATIVE_TOTAL,
    FLAG_NATIVE_TRANSFER, FLAG_PER_PERIOD, FLAG_TYPED_DATA, MAX_CALLS, MAX_ONE_OF, MAX_RULES,
    MODE_ENABLE, MODE_ENABLE_MULTICHAIN, MODE_USE, MULTICHAIN_DOMAIN_TYPEHASH, UNLIMITED_FEE,
};
pub use error::{Error, Result};
pub use function::FunctionSignature;
pub use merkle::{verify, MultiProof, PermissionTree};
pub use signer_key::{MultisigMember, SignerKey, SignerKind};
pub use spec::{
    ArgRef, CompiledSession, FeeBound, FeeScopeSpec, PaymasterSpec, PermissionSpec, RateLimitSpec,
    RuleSpec, RuleValue, Scalar, SessionSpec, Target, TypedDataRuleSpec, TypedDataSpec, Warning,
    DEFAULT_FEE_BUDGET, DEFAULT_MAX_OPERATION_FEE, MAX_PERMISSIONS,
};
pub use summary::{SummaryOptions, TokenInfo};
pub use typed_data::TypedDataType;

/// Re-exported primitives, so that callers need not depend on alloy to use this crate.
pub use alloy_primitives::{self as primitives, Address, FixedBytes, B256, U256};
