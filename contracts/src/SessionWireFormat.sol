// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ISessionKeyValidator, SessionTypes} from "./interfaces/ISessionKeyValidator.sol";

/// @title SessionWireFormat
/// @notice What the validator and its typed-data verifier read alike from a session signature: sessions and
///         permissions given as their ABI encodings, bounds-checked slices of the signature, and argument rules.
/// @dev Errors are `ISessionKeyValidator`'s.
abstract contract SessionWireFormat {
    /// @notice Most argument rules in one permission.
    uint256 public constant MAX_RULES = 32;
    /// @notice Most operands of a OneOf rule.
    uint256 public constant MAX_ONE_OF = 64;

    uint256 internal constant _SESSION_LENGTH = 288;
    uint256 internal constant _PERMISSION_HEAD_LENGTH = 0x20 + 12 * 0x20;

    /// One argument rule; a rule that would read past the calldata fails closed.
    function _checkRule(uint256 index, uint256 ruleIndex, bytes calldata data, SessionTypes.ArgRule calldata rule)
        internal
        pure
    {
        uint256 argIndex = rule.argIndex;
        uint256 start = 4 + argIndex * 0x20;
        if (data.length < start + 0x20) revert ISessionKeyValidator.ArgumentOutOfBounds(index, ruleIndex, argIndex);
        bytes32 arg = bytes32(data[start:start + 0x20]);
        bytes32[] calldata operands = rule.operands;
        // Read the operator word raw: a checked enum read would revert without data on an unknown operator.
        uint256 rawOperator;
        assembly ("memory-safe") {
            rawOperator := calldataload(rule)
        }
        if (rawOperator > uint256(type(SessionTypes.RuleOperator).max)) {
            revert ISessionKeyValidator.InvalidRule(index, ruleIndex);
        }
        SessionTypes.RuleOperator operator = SessionTypes.RuleOperator(rawOperator);
        bool passed;
        if (operator <= SessionTypes.RuleOperator.SignedGte) {
            if (operands.length != 1) revert ISessionKeyValidator.InvalidRule(index, ruleIndex);
            passed = _compare(operator, arg, operands[0]);
        } else if (operator == SessionTypes.RuleOperator.OneOf) {
            if (operands.length == 0 || operands.length > MAX_ONE_OF) {
                revert ISessionKeyValidator.InvalidRule(index, ruleIndex);
            }
            for (uint256 k; k < operands.length && !passed; ++k) {
                passed = arg == operands[k];
            }
        } else {
            if (operands.length != 2) revert ISessionKeyValidator.InvalidRule(index, ruleIndex);
            if (operator == SessionTypes.RuleOperator.InRange) {
                passed = uint256(arg) >= uint256(operands[0]) && uint256(arg) <= uint256(operands[1]);
            } else if (operator == SessionTypes.RuleOperator.SignedInRange) {
                passed = int256(uint256(arg)) >= int256(uint256(operands[0]))
                    && int256(uint256(arg)) <= int256(uint256(operands[1]));
            } else {
                passed = arg & operands[0] == operands[1];
            }
        }
        if (!passed) revert ISessionKeyValidator.ArgumentRuleFailed(index, ruleIndex, argIndex);
    }

    function _compare(SessionTypes.RuleOperator operator, bytes32 arg, bytes32 operand) internal pure returns (bool) {
        if (operator == SessionTypes.RuleOperator.Eq) return arg == operand;
        if (operator == SessionTypes.RuleOperator.Ne) return arg != operand;
        if (operator <= SessionTypes.RuleOperator.Gte) {
            uint256 a = uint256(arg);
            uint256 b = uint256(operand);
            if (operator == SessionTypes.RuleOperator.Lt) return a < b;
            if (operator == SessionTypes.RuleOperator.Lte) return a <= b;
            if (operator == SessionTypes.RuleOperator.Gt) return a > b;
            return a >= b;
        }
        int256 sa = int256(uint256(arg));
        int256 sb = int256(uint256(operand));
        if (operator == SessionTypes.RuleOperator.SignedLt) return sa < sb;
        if (operator == SessionTypes.RuleOperator.SignedLte) return sa <= sb;
        if (operator == SessionTypes.RuleOperator.SignedGt) return sa > sb;
        return sa >= sb;
    }

    /// EIP-712 struct hash of a session given as its 288-byte ABI encoding, hashed in unallocated memory.
    function _sessionIdOf(bytes calldata sessionData) internal pure returns (bytes32 sessionId) {
        bytes32 typehash = SessionTypes.SESSION_TYPEHASH;
        assembly ("memory-safe") {
            let buffer := mload(0x40)
            mstore(buffer, typehash)
            calldatacopy(add(buffer, 0x20), sessionData.offset, _SESSION_LENGTH)
            sessionId := keccak256(buffer, add(_SESSION_LENGTH, 0x20))
        }
    }

    /// The OpenZeppelin StandardMerkleTree leaf of a permission given as its ABI encoding.
    function _leafOf(bytes calldata permissionData) internal pure returns (bytes32 leaf) {
        assembly ("memory-safe") {
            let buffer := mload(0x40)
            calldatacopy(buffer, permissionData.offset, permissionData.length)
            mstore(0x00, keccak256(buffer, permissionData.length))
            leaf := keccak256(0x00, 0x20)
        }
    }

    /// `length` bytes of `data` at `cursor`, and the cursor after them.
    function _take(bytes calldata data, uint256 cursor, uint256 length)
        internal
        pure
        returns (bytes calldata slice, uint256 next)
    {
        if (data.length < cursor || data.length - cursor < length) {
            revert ISessionKeyValidator.SignatureTruncated(cursor, length);
        }
        assembly ("memory-safe") {
            next := add(cursor, length)
            slice.offset := add(data.offset, cursor)
            slice.length := length
        }
    }

    /// A big-endian unsigned integer of `size` (1 to 32) bytes at `cursor`.
    function _takeUint(bytes calldata data, uint256 cursor, uint256 size)
        internal
        pure
        returns (uint256 value, uint256 next)
    {
        if (data.length < cursor || data.length - cursor < size) {
            revert ISessionKeyValidator.SignatureTruncated(cursor, size);
        }
        assembly ("memory-safe") {
            next := add(cursor, size)
            value := shr(sub(256, shl(3, size)), calldataload(add(data.offset, cursor)))
        }
    }

    /// A byte string preceded by its length in `lengthSize` bytes.
    function _takeLengthPrefixed(bytes calldata data, uint256 cursor, uint256 lengthSize)
        internal
        pure
        returns (bytes calldata slice, uint256 next)
    {
        uint256 length;
        (length, cursor) = _takeUint(data, cursor, lengthSize);
        return _take(data, cursor, length);
    }

    function _sessionView(bytes calldata sessionData) internal pure returns (SessionTypes.Session calldata session) {
        assembly ("memory-safe") {
            session := sessionData.offset
        }
    }

    /// The leaf preimage seen as a calldata struct. Only called after the Merkle proof succeeded, so the bytes are
    /// exactly those the owner committed; the head is still checked so that no field is read out of bounds.
    function _permissionView(uint256 index, bytes calldata permissionData)
        internal
        pure
        returns (SessionTypes.Permission calldata permission)
    {
        if (permissionData.length < _PERMISSION_HEAD_LENGTH || uint256(bytes32(permissionData[0:32])) != 0x20) {
            revert ISessionKeyValidator.MalformedPermission(index);
        }
        uint256 rulesOffset = uint256(bytes32(permissionData[0x20 + 11 * 0x20:0x20 + 12 * 0x20]));
        if (rulesOffset > permissionData.length - 0x40) revert ISessionKeyValidator.MalformedPermission(index);
        assembly ("memory-safe") {
            permission := add(permissionData.offset, 0x20)
        }
    }

    /// The value-type field at `offset` of a calldata Permission, with the check Solidity's accessor makes: a value
    /// wider than its `bits` reverts without data.
    function _uintField(SessionTypes.Permission calldata permission, uint256 offset, uint256 bits)
        internal
        pure
        returns (uint256 value)
    {
        assembly ("memory-safe") {
            value := calldataload(add(permission, offset))
            if shr(bits, value) { revert(0, 0) }
        }
    }

    /// The permission's `selector`, with the check Solidity's accessor makes: low bytes that are not zero revert
    /// without data.
    function _selectorField(SessionTypes.Permission calldata permission) internal pure returns (bytes4 selector) {
        assembly ("memory-safe") {
            let word := calldataload(add(permission, 0x20))
            if shl(32, word) { revert(0, 0) }
            selector := word
        }
    }

    function _proofView(bytes calldata proofData) internal pure returns (bytes32[] calldata proof) {
        assembly ("memory-safe") {
            proof.offset := proofData.offset
            proof.length := shr(5, proofData.length)
        }
    }
}
