//! The human JSON format of sessions, its checks, and its compilation into contract structs.
//!
//! - `json`: the format's types and how they are read and written;
//! - `compile`: from the format to contract structs, with every check and warning;
//! - `decompile`: from contract structs back to the format.

mod compile;
mod decompile;
mod json;

pub(crate) use compile::{resolve_arg, PermissionInfo, TypedDataInfo, ValueType};
pub use compile::{CompiledSession, Warning, MAX_PERMISSIONS};
pub use decompile::{KNOWN_FUNCTIONS, MAX_TIME};
pub use json::{
    ArgRef, FeeBound, FeeScopeSpec, PaymasterSpec, PermissionSpec, RateLimitSpec, RuleSpec,
    RuleValue, Scalar, SessionSpec, Target, TypedDataRuleSpec, TypedDataSpec, DEFAULT_FEE_BUDGET,
    DEFAULT_MAX_OPERATION_FEE,
};
