//! The crate's one error type.

use alloy_primitives::{Address, B256};

/// Every way building, parsing or checking a session can fail.
///
/// Variants that concern user input carry `path`, the JSON path of the offending field, such as
/// `permissions[3].rules[0].value`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A P-256 public key coordinate at or above the field prime `p` (`P256.isValidPublicKey` refuses it).
    #[error("P-256 public key: {coordinate} is not below the field prime")]
    P256CoordinateOutOfRange {
        /// `"x"` or `"y"`.
        coordinate: &'static str,
    },
    /// A P-256 public key that is not a point of the curve.
    #[error("P-256 public key is not a point of the curve")]
    P256NotOnCurve,
    /// A multisig signer of no members.
    #[error("a multisig signer needs at least one member")]
    EmptyMultisig,
    /// A multisig signer of more members than the validator accepts.
    #[error("{count} multisig members, at most {max}")]
    TooManyMembers {
        /// How many.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// Two multisig members of the same address (key commitment).
    #[error("multisig member {address} appears twice")]
    DuplicateMember {
        /// The repeated member's address.
        address: alloy_primitives::Address,
    },
    /// A multisig member of weight zero.
    #[error("multisig member {member} has weight 0")]
    ZeroWeight {
        /// The member's index, as given.
        member: usize,
    },
    /// A multisig threshold of zero.
    #[error("a multisig threshold must be at least 1")]
    ZeroThreshold,
    /// A multisig threshold its members' weights cannot reach.
    #[error("multisig threshold {threshold} is above the members' total weight {total}")]
    ThresholdAboveWeight {
        /// The threshold.
        threshold: u16,
        /// The sum of the weights.
        total: u32,
    },
    /// A multisig member that is itself a multisig.
    #[error("multisig member {member} is a multisig: multisig signers do not nest")]
    NestedMultisig {
        /// The member's index, as given.
        member: usize,
    },
    /// The JSON text is not well-formed, or a field has the wrong shape or an unparsable value.
    #[error("{path}: {message}")]
    Parse {
        /// Where the parser stopped (`.` when at the top level).
        path: String,
        /// What was wrong.
        message: String,
    },
    /// A field's value could not be read (a bad number, time, address, signature …).
    #[error("{path}: invalid value {value:?}: {reason}")]
    InvalidValue {
        /// The field.
        path: String,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A mixed-case address whose EIP-55 checksum is wrong.
    #[error("{path}: address {value} has a wrong EIP-55 checksum (expected {expected})")]
    BadChecksum {
        /// The field.
        path: String,
        /// The address as given.
        value: String,
        /// The correctly checksummed address.
        expected: String,
    },
    /// A value does not fit the type it is checked against (e.g. `uint8 = 300`, or a negative `uint`).
    #[error("{path}: value {value} is out of range for {ty}")]
    ValueOutOfRange {
        /// The field.
        path: String,
        /// The value as given.
        value: String,
        /// The Solidity type (or field type such as `uint48`).
        ty: String,
    },
    /// A time window whose end is before its start, or that can never be valid.
    #[error(
        "{path}: window is empty: valid_after {valid_after} is after valid_until {valid_until}"
    )]
    WindowOutOfOrder {
        /// The field (`valid_until` of the session or permission).
        path: String,
        /// The window's start.
        valid_after: u64,
        /// The window's end.
        valid_until: u64,
    },
    /// A required field is missing, or a field is zero where zero is not allowed.
    #[error("{path}: {reason}")]
    Missing {
        /// The field.
        path: String,
        /// What is needed.
        reason: String,
    },
    /// Two fields contradict each other.
    #[error("{path}: {reason}")]
    Conflict {
        /// The field.
        path: String,
        /// The contradiction.
        reason: String,
    },
    /// The same permission is listed twice (same Merkle leaf).
    #[error("{path}: duplicate of permissions[{first}]")]
    DuplicatePermission {
        /// The later permission.
        path: String,
        /// Index of the first one.
        first: usize,
    },
    /// A function signature could not be parsed.
    #[error("{path}: bad function signature {signature:?}: {reason}")]
    BadSignature {
        /// The field.
        path: String,
        /// The signature as given.
        signature: String,
        /// Why.
        reason: String,
    },
    /// The same typed-data permission is listed twice (same Merkle leaf).
    #[error("{path}: duplicate of typed_data[{first}]")]
    DuplicateTypedData {
        /// The later entry.
        path: String,
        /// Index of the first one.
        first: usize,
    },
    /// An EIP-712 type string that is not a well-formed `encodeType` (see [`crate::typed_data`]).
    #[error("{path}: bad EIP-712 type {type_string:?}: {reason}")]
    BadTypeString {
        /// The field.
        path: String,
        /// The type string as given.
        type_string: String,
        /// Why.
        reason: String,
    },
    /// A typed-data rule names a member (or a word) the primary type does not have.
    #[error("{path}: {type_name} has no member {member}")]
    UnknownMember {
        /// The field.
        path: String,
        /// The member (or word) as given.
        member: String,
        /// The primary type's name.
        type_name: String,
    },
    /// A typed-data rule on a member whose `encodeData` word is a hash (`string`, `bytes`, arrays, structs): only
    /// static members (`address`, `bool`, `uintN`, `intN`, `bytesN`) can be checked.
    #[error("{path}: member {member} has type {ty}: its word is a hash, rules can only check static members (address, bool, uintN, intN, bytesN)")]
    UnsupportedMember {
        /// The field.
        path: String,
        /// The member.
        member: String,
        /// Its type.
        ty: String,
    },
    /// A rule names an argument the function does not have, or a head word past the static head.
    #[error("{path}: unknown argument {arg}")]
    UnknownArgument {
        /// The field.
        path: String,
        /// The argument as given.
        arg: String,
    },
    /// A rule on a dynamic argument (`string`, `bytes`, arrays, dynamic tuples) or on a multi-word argument
    /// named as a whole; only static 32-byte head words can be checked.
    #[error(
        "{path}: argument {arg} has type {ty}: rules can only check static one-word arguments"
    )]
    UnsupportedArgument {
        /// The field.
        path: String,
        /// The argument.
        arg: String,
        /// Its type.
        ty: String,
    },
    /// An operator name that is not one of the contract's.
    #[error("{path}: unknown operator {name:?} (expected one of eq, ne, lt, lte, gt, gte, one_of, in_range, bitmask, or a signed_ variant)")]
    UnknownOperator {
        /// The field.
        path: String,
        /// The name as given.
        name: String,
    },
    /// A rule with the wrong number of operands for its operator.
    #[error("{path}: operator {operator} takes {expected} operand(s), got {got}")]
    OperandCount {
        /// The field.
        path: String,
        /// The operator.
        operator: String,
        /// How many it takes.
        expected: String,
        /// How many were given.
        got: usize,
    },
    /// More items than the contract (or the wire format) accepts.
    #[error("{path}: {count} {what}, at most {max} allowed")]
    TooMany {
        /// The field.
        path: String,
        /// What is counted.
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The maximum.
        max: usize,
    },
    /// An ERC-20 limit (`erc20_total_limit`, `erc20_period_limit`) on a function that is not transfer,
    /// transferFrom, approve or increaseAllowance.
    #[error("{path}: an ERC-20 limit needs transfer, transferFrom, approve or increaseAllowance, not selector {selector}")]
    Erc20LimitSelector {
        /// The field.
        path: String,
        /// The selector, as 0x hex.
        selector: String,
    },
    /// A permission without an ERC-20 limit that could move a token another permission limits.
    #[error(
        "{path}: can move token {token} without counting against the ERC-20 limit of {limited_by}"
    )]
    Erc20LimitBypass {
        /// The permission without a limit.
        path: String,
        /// The token (or `*`).
        token: String,
        /// The limited permission.
        limited_by: String,
    },
    /// Raw contract data that the JSON format cannot express (e.g. a limit without its flag).
    #[error("{path}: not canonical: {reason}")]
    NonCanonical {
        /// The field.
        path: String,
        /// Why.
        reason: String,
    },
    /// Bytes that are not the canonical ABI encoding of the expected type.
    #[error("malformed ABI encoding of {what}: {reason}")]
    MalformedAbi {
        /// The type.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// A Merkle tree with no leaves.
    #[error("a permission tree needs at least one leaf")]
    EmptyTree,
    /// A leaf index past the end of the tree.
    #[error("leaf index {index} out of range ({count} leaves)")]
    LeafIndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// How many leaves there are.
        count: usize,
    },
    /// The same leaf asked twice for a multiproof.
    #[error("leaf index {index} given twice")]
    DuplicateIndex {
        /// The index.
        index: usize,
    },
    /// A session's permissions root does not match its permissions.
    #[error("permissions root {actual} does not match the permissions (tree root {expected})")]
    RootMismatch {
        /// The root the permissions give.
        expected: B256,
        /// The root in the session.
        actual: B256,
    },
    /// A target that is never valid on chain.
    #[error("{path}: target {target} is never allowed")]
    ForbiddenTarget {
        /// The field.
        path: String,
        /// The target.
        target: Address,
    },
}

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl Error {
    pub(crate) fn invalid(
        path: impl Into<String>,
        value: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self::InvalidValue {
            path: path.into(),
            value: value.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn range(
        path: impl Into<String>,
        value: impl Into<String>,
        ty: impl Into<String>,
    ) -> Self {
        Self::ValueOutOfRange {
            path: path.into(),
            value: value.into(),
            ty: ty.into(),
        }
    }

    /// The JSON path of the field the error is about, if it concerns one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Self::Parse { path, .. }
            | Self::InvalidValue { path, .. }
            | Self::BadChecksum { path, .. }
            | Self::ValueOutOfRange { path, .. }
            | Self::WindowOutOfOrder { path, .. }
            | Self::Missing { path, .. }
            | Self::Conflict { path, .. }
            | Self::DuplicatePermission { path, .. }
            | Self::DuplicateTypedData { path, .. }
            | Self::BadTypeString { path, .. }
            | Self::UnknownMember { path, .. }
            | Self::UnsupportedMember { path, .. }
            | Self::BadSignature { path, .. }
            | Self::UnknownArgument { path, .. }
            | Self::UnsupportedArgument { path, .. }
            | Self::UnknownOperator { path, .. }
            | Self::OperandCount { path, .. }
            | Self::TooMany { path, .. }
            | Self::Erc20LimitSelector { path, .. }
            | Self::Erc20LimitBypass { path, .. }
            | Self::NonCanonical { path, .. }
            | Self::ForbiddenTarget { path, .. } => Some(path),
            Self::MalformedAbi { .. }
            | Self::EmptyTree
            | Self::LeafIndexOutOfRange { .. }
            | Self::DuplicateIndex { .. }
            | Self::RootMismatch { .. }
            | Self::P256CoordinateOutOfRange { .. }
            | Self::P256NotOnCurve
            | Self::EmptyMultisig
            | Self::TooManyMembers { .. }
            | Self::DuplicateMember { .. }
            | Self::ZeroWeight { .. }
            | Self::ZeroThreshold
            | Self::ThresholdAboveWeight { .. }
            | Self::NestedMultisig { .. } => None,
        }
    }
}
