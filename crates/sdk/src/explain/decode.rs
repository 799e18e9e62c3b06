//! Calldata and wire decoding, as the validator reads them: Solidity's ABI calldata reads (the `validateUserOp`
//! calldata, the `Permission` calldata struct read field by field with the compiler's range, offset and length
//! checks, which revert without data), the cursor over `userOp.signature` (`_take`, `_takeUint`,
//! `_takeLengthPrefixed`) and the account's `execute` calldata (`_decodeExecute`, `_decodeSingle`,
//! `_batchLength`, `_decodeBatchElement`).

use alloy::primitives::{keccak256, Address, Bytes, FixedBytes, B256, I256, U256};
use alloy::sol_types::{SolCall, SolValue};
use keyscope_bindings::session_key_validator::SessionKeyValidator;
use keyscope_permissions::MAX_CALLS;
use keyscope_signer::wire;

use super::{ExplainInput, RevertKind, Step, ValidatorRevert};

/// `execute(bytes32,bytes)`.
const EXECUTE: [u8; 4] = [0xe9, 0xae, 0x5c, 0x53];
/// Where `data`'s bytes start in the calldata of `SessionTypedDataVerifier.check(address,bytes32,bytes)`: the
/// selector, three head words and the length word.
pub(super) const CHECK_DATA_OFFSET: usize = 4 + 4 * 0x20;
/// Largest `uint48`.
pub(super) const MAX_U48: u64 = (1 << 48) - 1;

// Offsets of the `Permission` calldata struct's head words.
pub(super) const P_TARGET: u64 = 0x00;
pub(super) const P_SELECTOR: u64 = 0x20;
pub(super) const P_FLAGS: u64 = 0x40;
pub(super) const P_VALUE_LIMIT: u64 = 0x60;
pub(super) const P_NATIVE_TOTAL_LIMIT: u64 = 0x80;
pub(super) const P_ERC20_TOTAL_LIMIT: u64 = 0xa0;
pub(super) const P_VALID_AFTER: u64 = 0xc0;
pub(super) const P_VALID_UNTIL: u64 = 0xe0;
pub(super) const P_MAX_USES: u64 = 0x100;
pub(super) const P_RATE_LIMIT_COUNT: u64 = 0x120;
pub(super) const P_RATE_LIMIT_INTERVAL: u64 = 0x140;
pub(super) const P_RULES: u64 = 0x160;

// ---------------------------------------------------------------------------------------------------------------
// Solidity's calldata reads
// ---------------------------------------------------------------------------------------------------------------

/// The `validateUserOp` calldata, for Solidity's calldata reads (`calldataload` reads zeros past the end).
pub(super) struct Calldata {
    pub(super) bytes: Vec<u8>,
}

impl Calldata {
    /// `validateUserOp(op, userOpHash)` as the account encodes it (canonically).
    pub(super) fn of(input: &ExplainInput<'_>) -> Self {
        let mut bytes = SessionKeyValidator::validateUserOpCall::SELECTOR.to_vec();
        bytes.extend_from_slice(&(input.op.clone(), input.user_op_hash).abi_encode_params());
        Self { bytes }
    }

    /// `SessionTypedDataVerifier.check(account, hash, data)` as the validator encodes it (canonically, `data`
    /// zero-padded): the calldata the verifier reads a message signature's permission from. `data`'s bytes start
    /// at [`CHECK_DATA_OFFSET`].
    pub(super) fn of_typed_data_check(account: Address, hash: B256, data: &[u8]) -> Self {
        let mut bytes = keccak256("check(address,bytes32,bytes)")[..4].to_vec();
        bytes.extend_from_slice(&(account, hash, Bytes::copy_from_slice(data)).abi_encode_params());
        Self { bytes }
    }

    pub(super) fn size(&self) -> U256 {
        U256::from(self.bytes.len())
    }

    pub(super) fn load(&self, position: U256) -> U256 {
        let Ok(start) = usize::try_from(position) else {
            return U256::ZERO;
        };
        let mut word = [0u8; 32];
        if let Some(rest) = self.bytes.get(start..) {
            let n = rest.len().min(32);
            word[..n].copy_from_slice(&rest[..n]);
        }
        U256::from_be_bytes(word)
    }

    /// Solidity's `access_calldata_tail`: follows the offset at `pointer` from `base`; for dynamic arrays also
    /// reads the length (32-byte stride). `None` where Solidity reverts without data.
    pub(super) fn tail(
        &self,
        base: U256,
        pointer: U256,
        needed: u64,
        array: bool,
    ) -> Option<(U256, U256)> {
        let relative = self.load(pointer);
        let bound = self
            .size()
            .wrapping_sub(base)
            .wrapping_sub(U256::from(needed - 1));
        if I256::from_raw(relative) >= I256::from_raw(bound) {
            return None;
        }
        let address = base.wrapping_add(relative);
        if !array {
            return Some((address, U256::ZERO));
        }
        let length = self.load(address);
        if length > U256::from(u64::MAX) {
            return None;
        }
        let address = address.wrapping_add(U256::from(32));
        let end = self
            .size()
            .wrapping_sub(length.wrapping_mul(U256::from(32)));
        if I256::from_raw(address) > I256::from_raw(end) {
            return None;
        }
        Some((address, length))
    }
}

/// `_padded`: `length` rounded up to whole words.
pub(super) fn padded(length: usize) -> usize {
    length.div_ceil(32).saturating_mul(32)
}

/// The 32-byte word at `position` of `data`, zero-padded (callers check bounds first, as the contract does).
pub(super) fn word_at(data: &[u8], position: usize) -> U256 {
    let mut word = [0u8; 32];
    if let Some(rest) = data.get(position..) {
        let n = rest.len().min(32);
        word[..n].copy_from_slice(&rest[..n]);
    }
    U256::from_be_bytes(word)
}

/// The low `bits` bits of `value`.
pub(super) fn low_bits(value: U256, bits: usize) -> U256 {
    value & ((U256::from(1) << bits) - U256::from(1))
}

/// A word as a `u64`, saturated.
pub(super) fn to_u64(value: U256) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// A word as a `usize`, saturated.
pub(super) fn to_usize(value: U256) -> usize {
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The address in a word's low 20 bytes.
pub(super) fn address_of_word(value: U256) -> Address {
    Address::from_word(B256::from(value))
}

/// A `usize` as a word.
pub(super) fn u(value: usize) -> U256 {
    U256::from(value)
}

/// The revert without data of a Solidity calldata check on `field`.
pub(super) fn empty_revert(field: impl Into<String>) -> ValidatorRevert {
    ValidatorRevert {
        kind: RevertKind::Empty {
            field: field.into(),
        },
        call: None,
        rule: None,
        root: None,
        fee: None,
        message: None,
    }
}

/// A `Permission` calldata struct at `base` in the validator's calldata, read field by field with Solidity's
/// checks.
pub(super) struct PermissionView<'c> {
    pub(super) calldata: &'c Calldata,
    pub(super) base: U256,
}

impl PermissionView<'_> {
    pub(super) fn raw(&self, offset: u64) -> U256 {
        self.calldata
            .load(self.base.wrapping_add(U256::from(offset)))
    }

    /// A value-type field of `bits` bits (right-aligned), reverting when its high bits are set.
    pub(super) fn uint(&self, offset: u64, bits: usize, field: &str) -> Step<U256> {
        let value = self.raw(offset);
        if bits < 256 && value >> bits != U256::ZERO {
            return Err(empty_revert(field));
        }
        Ok(value)
    }

    pub(super) fn address(&self) -> Step<Address> {
        Ok(address_of_word(self.uint(P_TARGET, 160, "target")?))
    }

    /// `bytes4`: left-aligned, the low 28 bytes must be zero.
    pub(super) fn selector(&self) -> Step<FixedBytes<4>> {
        let value = self.raw(P_SELECTOR);
        if low_bits(value, 224) != U256::ZERO {
            return Err(empty_revert("selector"));
        }
        let bytes = value.to_be_bytes::<32>();
        Ok(FixedBytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
    }

    pub(super) fn flags(&self) -> Step<u8> {
        Ok(self.uint(P_FLAGS, 8, "flags")?.saturating_to::<u8>())
    }
}

// ---------------------------------------------------------------------------------------------------------------
// `userOp.signature`: the cursor
// ---------------------------------------------------------------------------------------------------------------

/// `_take`: `length` bytes at `cursor`; the cursor after them.
pub(super) fn take(data: &[u8], cursor: usize, length: usize) -> Step<usize> {
    truncated(wire::take(data, cursor, length))
}

/// `_takeUint`: a big-endian integer of `size` bytes (at most 4 here).
pub(super) fn take_uint(data: &[u8], cursor: usize, size: usize) -> Step<(usize, usize)> {
    let (value, next) = truncated(wire::take_uint(data, cursor, size))?;
    Ok((value as usize, next))
}

/// `_takeLengthPrefixed`: the byte range and the cursor after it.
pub(super) fn take_prefixed(
    data: &[u8],
    cursor: usize,
    size: usize,
) -> Step<(core::ops::Range<usize>, usize)> {
    truncated(wire::take_prefixed(data, cursor, size))
}

/// The signer's framing helpers' error as the validator's revert: `SignatureTruncated`.
fn truncated<T>(result: keyscope_signer::Result<T>) -> Step<T> {
    result.or_else(|error| {
        // The framing helpers fail with nothing but `Truncated`.
        let (offset, needed) = match error {
            keyscope_signer::Error::Truncated { offset, needed } => (offset, needed),
            _ => (0, 0),
        };
        fail!(SignatureTruncated {
            offset: u(offset),
            needed: u(needed)
        });
    })
}

// ---------------------------------------------------------------------------------------------------------------
// `userOp.callData`: the account's `execute`
// ---------------------------------------------------------------------------------------------------------------

/// `_decodeExecute`: whether it is a batch, and the execution data.
pub(super) fn decode_execute(call_data: &[u8]) -> Step<(bool, &[u8])> {
    if call_data.len() < 4 || call_data[..4] != EXECUTE {
        let selector = if call_data.len() < 4 {
            FixedBytes::ZERO
        } else {
            FixedBytes::<4>::from_slice(&call_data[..4])
        };
        fail!(UnsupportedAccountCall { selector: selector });
    }
    if call_data.len() < 100 {
        fail!(MalformedExecutionCalldata {
            offset: u(call_data.len())
        });
    }
    let mode = B256::from_slice(&call_data[4..36]);
    let call_type = mode[0];
    let exec_type = mode[1];
    if (call_type != 0 && call_type != 1)
        || (exec_type != 0 && exec_type != 1)
        || mode[2..].iter().any(|b| *b != 0)
    {
        fail!(UnsupportedExecutionMode { mode: mode });
    }
    if word_at(call_data, 36) != U256::from(0x40) {
        fail!(MalformedExecutionCalldata { offset: u(36) });
    }
    let length = word_at(call_data, 68);
    if length > u(call_data.len()) || call_data.len() != 100 + padded(to_usize(length)) {
        fail!(MalformedExecutionCalldata { offset: u(68) });
    }
    let length = to_usize(length);
    Ok((call_type == 1, &call_data[100..100 + length]))
}

/// `_decodeSingle`.
pub(super) fn decode_single(execution: &[u8]) -> Step<(Address, U256, &[u8])> {
    if execution.len() < 52 {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + execution.len())
        });
    }
    Ok((
        Address::from_slice(&execution[..20]),
        word_at(execution, 20),
        &execution[52..],
    ))
}

/// `_batchLength`.
pub(super) fn batch_length(execution: &[u8]) -> Step<usize> {
    if execution.len() < 0x40 || word_at(execution, 0) != U256::from(0x20) {
        fail!(MalformedExecutionCalldata { offset: u(100) });
    }
    let count = word_at(execution, 32);
    if count.is_zero() || count > u(MAX_CALLS) {
        fail!(InvalidBatchSize {
            count: count,
            max: u(MAX_CALLS)
        });
    }
    let count = to_usize(count);
    if execution.len() < 0x40 + count * 0x20 {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + 0x40)
        });
    }
    Ok(count)
}

/// `_decodeBatchElement`.
pub(super) fn decode_batch_element<'d>(
    execution: &'d [u8],
    index: usize,
    next_element: &mut usize,
) -> Step<(Address, U256, &'d [u8])> {
    let expected = *next_element;
    let head = 0x40 + index * 0x20;
    if word_at(execution, head) != u(expected) {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + head)
        });
    }
    let element = 0x40 + expected;
    if execution.len() < element + 0x80 {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + element)
        });
    }
    let target = word_at(execution, element);
    if target >> 160 != U256::ZERO {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + element)
        });
    }
    let value = word_at(execution, element + 0x20);
    if word_at(execution, element + 0x40) != U256::from(0x60) {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + element + 0x40)
        });
    }
    let length = word_at(execution, element + 0x60);
    let data_start = element + 0x80;
    if length > u(execution.len()) || execution.len() < data_start + padded(to_usize(length)) {
        fail!(MalformedExecutionCalldata {
            offset: u(100 + element + 0x60)
        });
    }
    let length = to_usize(length);
    *next_element = expected + 0x80 + padded(length);
    Ok((
        address_of_word(target),
        value,
        &execution[data_start..data_start + length],
    ))
}
