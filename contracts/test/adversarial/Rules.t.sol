// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Cases 8, 9 and 10: selectors of short calldata, rules that read past the calldata, signed rules.
contract RulesAttackTest is AdversarialBase {
    /// Grants a one-leaf session over `permission` on both accounts, sends `data` to `target` under it and expects
    /// `inner` on each.
    function _expect(SessionTypes.Permission memory permission, address target, bytes memory data, bytes memory inner)
        internal
    {
        address account = address(currentEnv.account);
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, target, 0, data);
        _expectScopeError(currentEnv.entryPoint, op, inner);
    }

    function _accept(SessionTypes.Permission memory permission, address target, bytes memory data) internal {
        address account = address(currentEnv.account);
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, target, 0, data);
        _handleOp(currentEnv.entryPoint, op);
    }

    function _withRule(SessionTypes.Permission memory permission, SessionTypes.ArgRule memory rule)
        internal
        pure
        returns (SessionTypes.Permission memory)
    {
        permission.rules = new SessionTypes.ArgRule[](1);
        permission.rules[0] = rule;
        return permission;
    }

    function _selectorError(bytes4 actual, bytes4 allowed) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.SelectorNotAllowed.selector, 0, actual, allowed);
    }

    function _ruleFailed(uint256 argIndex) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.ArgumentRuleFailed.selector, 0, 0, argIndex);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 8: a selector is matched only by at least 4 bytes of calldata
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenCalldataIsSelectorPrefix() public onEachEntryPoint {
        // 0x123456 zero-padded would read as selector 0x12345600
        SessionTypes.Permission memory permission = _permission(address(recorder), 0x12345600);
        _expect(permission, address(recorder), hex"123456", _selectorError(bytes4(0), 0x12345600));
    }

    function test_validateUserOp_reverts_whenZeroSelectorPermissionGetsShortCalldata() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _permission(address(recorder), bytes4(0));
        _expect(permission, address(recorder), "", _selectorError(bytes4(0), bytes4(0)));
        _expect(permission, address(recorder), hex"000000", _selectorError(bytes4(0), bytes4(0)));
        _assertRecorded(recorder, 0);
    }

    function testFuzz_validateUserOp_reverts_whenCalldataShorterThan4Bytes(bytes4 selector, uint8 length) public {
        uint256 n = bound(length, 0, 3);
        bytes memory data = new bytes(n);
        for (uint256 i; i < n; ++i) {
            data[i] = selector[i];
        }
        SessionTypes.Permission memory permission = _permission(address(recorder), selector);
        address account = address(accountV08);
        SessionTypes.Session memory session = _grantSingle(entryPointV08, account, permission);
        PackedUserOperation memory op = _useOp1(
            entryPointV08, account, _executeSingle(address(recorder), 0, data), session, permission, _noProof()
        );
        _expectScopeError(entryPointV08, op, _selectorError(bytes4(0), selector));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 9: rules never read past the calldata
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenRuleReadsMissingArgument() public onEachEntryPoint {
        SessionTypes.Permission memory permission =
            _withRule(_permission(address(recorder), PING), _rule(SessionTypes.RuleOperator.Eq, 1, bytes32(0)));
        // ping(x) has one argument: argument 1 would be whatever follows the calldata, zero if padded
        _expect(
            permission,
            address(recorder),
            _ping(0),
            abi.encodeWithSelector(ISessionKeyValidator.ArgumentOutOfBounds.selector, 0, 0, 1)
        );
    }

    function test_validateUserOp_reverts_whenRuleReadsPartialArgument() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _withRule(
            _permission(address(recorder), PING), _rule(SessionTypes.RuleOperator.Lte, 0, bytes32(uint256(100)))
        );
        // 4 + 31 bytes: a "small" argument if the last byte were padded with zero
        bytes memory data = abi.encodePacked(PING, bytes31(0));
        _expect(
            permission,
            address(recorder),
            data,
            abi.encodeWithSelector(ISessionKeyValidator.ArgumentOutOfBounds.selector, 0, 0, 0)
        );
    }

    function test_validateUserOp_reverts_whenRuleArgIndexIsMaximal() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _withRule(
            _permission(address(recorder), PING), _rule(SessionTypes.RuleOperator.Ne, type(uint16).max, bytes32(0))
        );
        _expect(
            permission,
            address(recorder),
            _ping(1),
            abi.encodeWithSelector(ISessionKeyValidator.ArgumentOutOfBounds.selector, 0, 0, type(uint16).max)
        );
    }

    function testFuzz_validateUserOp_reverts_whenRuleReadsPastCalldata(uint16 argIndex, uint8 extraBytes) public {
        // calldata holds `argIndex` full words after the selector and fewer than 32 further bytes
        argIndex = uint16(bound(argIndex, 0, 40));
        uint256 extra = bound(extraBytes, 0, 31);
        bytes memory data = bytes.concat(PING, new bytes(32 * uint256(argIndex) + extra));
        SessionTypes.Permission memory permission = _withRule(
            _permission(address(recorder), PING), _rule(SessionTypes.RuleOperator.Ne, argIndex, bytes32(uint256(1)))
        );
        address account = address(accountV08);
        SessionTypes.Session memory session = _grantSingle(entryPointV08, account, permission);
        PackedUserOperation memory op = _useOp1(
            entryPointV08, account, _executeSingle(address(recorder), 0, data), session, permission, _noProof()
        );
        _expectScopeError(
            entryPointV08,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ArgumentOutOfBounds.selector, 0, 0, uint256(argIndex))
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 10: signed rules compare in two's complement
    // ------------------------------------------------------------------------------------------------------------

    function _pong(int256 y) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PONG, uint256(0), y);
    }

    function _signed(int256 x) internal pure returns (bytes32) {
        return bytes32(uint256(x));
    }

    function test_validateUserOp_reverts_whenNegativeValuePassesOnlyUnsignedGte() public onEachEntryPoint {
        // "y >= 0": -1 is 2^256 - 1 unsigned, which an unsigned compare would accept
        SessionTypes.Permission memory permission =
            _withRule(_permission(address(recorder), PONG), _rule(SessionTypes.RuleOperator.SignedGte, 1, _signed(0)));
        _expect(permission, address(recorder), _pong(-1), _ruleFailed(1));
    }

    function test_validateUserOp_reverts_whenMinInt256PassesOnlyUnsignedGt() public onEachEntryPoint {
        SessionTypes.Permission memory permission =
            _withRule(_permission(address(recorder), PONG), _rule(SessionTypes.RuleOperator.SignedGt, 1, _signed(10)));
        _expect(permission, address(recorder), _pong(type(int256).min), _ruleFailed(1));
    }

    function test_validateUserOp_reverts_whenNegativeValueOutsideSignedRange() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _withRule(
            _permission(address(recorder), PONG),
            _rule2(SessionTypes.RuleOperator.SignedInRange, 1, _signed(-10), _signed(10))
        );
        _expect(permission, address(recorder), _pong(-11), _ruleFailed(1));
        _expect(permission, address(recorder), _pong(11), _ruleFailed(1));
        _expect(permission, address(recorder), _pong(type(int256).max), _ruleFailed(1));
        _accept(permission, address(recorder), _pong(-10));
        _accept(permission, address(recorder), _pong(10));
    }

    function test_validateUserOp_reverts_whenNegativeValueMeetsUnsignedLte() public onEachEntryPoint {
        // conversely an unsigned "<= 100" never lets -1 through as a small number
        SessionTypes.Permission memory permission = _withRule(
            _permission(address(recorder), PONG), _rule(SessionTypes.RuleOperator.Lte, 1, bytes32(uint256(100)))
        );
        _expect(permission, address(recorder), _pong(-1), _ruleFailed(1));
    }

    function test_validateUserOp_accepts_whenNegativeValueMeetsSignedLte() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _withRule(
            _permission(address(recorder), PONG), _rule(SessionTypes.RuleOperator.SignedLte, 1, _signed(100))
        );
        _accept(permission, address(recorder), _pong(-1));
        _assertRecorded(recorder, 1);
    }

    function testFuzz_validateUserOp_signedRulesMatchInt256(int256 value, int256 bound_, uint8 which) public {
        SessionTypes.RuleOperator operator = SessionTypes.RuleOperator(6 + which % 4); // SignedLt .. SignedGte
        bool expected;
        if (operator == SessionTypes.RuleOperator.SignedLt) expected = value < bound_;
        else if (operator == SessionTypes.RuleOperator.SignedLte) expected = value <= bound_;
        else if (operator == SessionTypes.RuleOperator.SignedGt) expected = value > bound_;
        else expected = value >= bound_;
        SessionTypes.Permission memory permission =
            _withRule(_permission(address(recorder), PONG), _rule(operator, 1, _signed(bound_)));
        address account = address(accountV08);
        SessionTypes.Session memory session = _grantSingle(entryPointV08, account, permission);
        PackedUserOperation memory op = _useOp1(
            entryPointV08, account, _executeSingle(address(recorder), 0, _pong(value)), session, permission, _noProof()
        );
        if (expected) {
            _handleOp(entryPointV08, op);
            _assertRecorded(recorder, 1);
        } else {
            _expectScopeError(entryPointV08, op, _ruleFailed(1));
        }
    }
}
