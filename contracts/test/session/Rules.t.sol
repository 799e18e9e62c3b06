// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {ArgTarget} from "../mocks/ArgTarget.sol";
import {ScopeTestBase} from "../utils/ScopeTestBase.sol";
import {CallProof} from "../utils/SessionEncoding.sol";
import {RuleRef} from "../utils/RuleReference.sol";

/// @notice Argument rules: every operator, boundaries, malformed rules and out-of-bounds reads.
/// @dev Calls go to `ArgTarget.act(uint256 a, int256 b, address c, bytes32 d)`: argument words 0 to 3.
contract RulesTest is ScopeTestBase {
    using RuleRef for SessionTypes.RuleOperator;

    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");
    address internal carol = makeAddr("carol");

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    function _w(uint256 value) internal pure returns (bytes32) {
        return bytes32(value);
    }

    function _s(int256 value) internal pure returns (bytes32) {
        return bytes32(uint256(value));
    }

    function _a(address value) internal pure returns (bytes32) {
        return bytes32(uint256(uint160(value)));
    }

    function _ruleN(SessionTypes.RuleOperator operator, uint16 argIndex, uint256 operandCount)
        internal
        pure
        returns (SessionTypes.ArgRule memory rule)
    {
        rule.operator = operator;
        rule.argIndex = argIndex;
        rule.operands = new bytes32[](operandCount);
        for (uint256 i; i < operandCount; ++i) {
            rule.operands[i] = bytes32(i + 1);
        }
    }

    function _rules1(SessionTypes.ArgRule memory rule) internal pure returns (SessionTypes.ArgRule[] memory rules) {
        rules = new SessionTypes.ArgRule[](1);
        rules[0] = rule;
    }

    function _rulePermission(SessionTypes.ArgRule[] memory rules)
        internal
        view
        returns (SessionTypes.Permission memory permission)
    {
        permission = _actPermission();
        permission.rules = rules;
    }

    /// Sends `act` calldata `data` on v0.8 under a permission with `rules`; expects it to run.
    function _expectPass(SessionTypes.ArgRule[] memory rules, bytes memory data) internal {
        AccountEnv memory env = _v08();
        PackedUserOperation memory op = _grantedOp1(env, _rulePermission(rules), address(target), 0, data);
        uint256 before = target.calls();
        _handleOp(env.entryPoint, op);
        assertEq(target.calls(), before + 1, "call executed");
    }

    /// Sends `act` calldata `data` on v0.8 under a permission with `rules`; expects exactly `inner` (AA23).
    function _expectFail(SessionTypes.ArgRule[] memory rules, bytes memory data, bytes memory inner) internal {
        AccountEnv memory env = _v08();
        PackedUserOperation memory op = _grantedOp1(env, _rulePermission(rules), address(target), 0, data);
        _expectScopeError(env.entryPoint, op, inner);
    }

    function _ruleFailed(uint256 ruleIndex, uint256 argIndex) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.ArgumentRuleFailed.selector, 0, ruleIndex, argIndex);
    }

    /// One rule on the word at `argIndex` of `act`; `arg` is placed there, other words are fixed.
    function _checkOne(SessionTypes.ArgRule memory rule, bytes32 arg, bool passes) internal {
        bytes32[4] memory words = [_w(1), _s(-1), _a(alice), bytes32(0)];
        words[rule.argIndex] = arg;
        bytes memory data = _actWords(words[0], words[1], words[2], words[3]);
        if (passes) _expectPass(_rules1(rule), data);
        else _expectFail(_rules1(rule), data, _ruleFailed(0, rule.argIndex));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Unsigned comparisons
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_enforcesRule_Eq() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.Eq, 0, _w(5));
        _checkOne(rule, _w(5), true);
        _checkOne(rule, _w(4), false);
        _checkOne(rule, _w(6), false);
        // on an address argument
        rule = _rule(SessionTypes.RuleOperator.Eq, 2, _a(bob));
        _checkOne(rule, _a(bob), true);
        _checkOne(rule, _a(carol), false);
    }

    function test_validateUserOp_enforcesRule_Ne() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.Ne, 2, _a(carol));
        _checkOne(rule, _a(bob), true);
        _checkOne(rule, _a(carol), false);
        rule = _rule(SessionTypes.RuleOperator.Ne, 0, _w(0));
        _checkOne(rule, _w(1), true);
        _checkOne(rule, _w(0), false);
    }

    function test_validateUserOp_enforcesRule_Lt() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.Lt, 0, _w(100));
        _checkOne(rule, _w(0), true);
        _checkOne(rule, _w(99), true);
        _checkOne(rule, _w(100), false);
        _checkOne(rule, _w(type(uint256).max), false);
        // Lt 0 never passes
        _checkOne(_rule(SessionTypes.RuleOperator.Lt, 0, _w(0)), _w(0), false);
    }

    function test_validateUserOp_enforcesRule_Lte() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.Lte, 0, _w(100));
        _checkOne(rule, _w(100), true);
        _checkOne(rule, _w(101), false);
        _checkOne(_rule(SessionTypes.RuleOperator.Lte, 0, _w(type(uint256).max)), _w(type(uint256).max), true);
    }

    function test_validateUserOp_enforcesRule_Gt() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.Gt, 0, _w(100));
        _checkOne(rule, _w(101), true);
        _checkOne(rule, _w(type(uint256).max), true);
        _checkOne(rule, _w(100), false);
        _checkOne(rule, _w(0), false);
    }

    function test_validateUserOp_enforcesRule_Gte() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.Gte, 0, _w(100));
        _checkOne(rule, _w(100), true);
        _checkOne(rule, _w(99), false);
        _checkOne(_rule(SessionTypes.RuleOperator.Gte, 0, _w(0)), _w(0), true);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Signed comparisons
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_enforcesRule_SignedLt() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.SignedLt, 1, _s(0));
        _checkOne(rule, _s(-1), true);
        _checkOne(rule, _s(type(int256).min), true);
        _checkOne(rule, _s(0), false);
        _checkOne(rule, _s(1), false);
        _checkOne(_rule(SessionTypes.RuleOperator.SignedLt, 1, _s(-10)), _s(-11), true);
        _checkOne(_rule(SessionTypes.RuleOperator.SignedLt, 1, _s(-10)), _s(-10), false);
    }

    function test_validateUserOp_enforcesRule_SignedLte() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.SignedLte, 1, _s(-5));
        _checkOne(rule, _s(-5), true);
        _checkOne(rule, _s(type(int256).min), true);
        _checkOne(rule, _s(-4), false);
        _checkOne(rule, _s(type(int256).max), false);
    }

    function test_validateUserOp_enforcesRule_SignedGt() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.SignedGt, 1, _s(-10));
        _checkOne(rule, _s(-9), true);
        _checkOne(rule, _s(type(int256).max), true);
        _checkOne(rule, _s(-10), false);
        _checkOne(rule, _s(type(int256).min), false);
    }

    function test_validateUserOp_enforcesRule_SignedGte() public {
        SessionTypes.ArgRule memory rule = _rule(SessionTypes.RuleOperator.SignedGte, 1, _s(-10));
        _checkOne(rule, _s(-10), true);
        _checkOne(rule, _s(0), true);
        _checkOne(rule, _s(-11), false);
        _checkOne(_rule(SessionTypes.RuleOperator.SignedGte, 1, _s(type(int256).min)), _s(type(int256).min), true);
    }

    /// A negative argument is a huge unsigned word: it passes `Gt 0` but must fail `SignedGt 0`.
    function test_validateUserOp_reverts_whenNegativeArgumentMeetsSignedLowerBound() public {
        _checkOne(_rule(SessionTypes.RuleOperator.Gt, 1, _s(0)), _s(-1), true);
        _checkOne(_rule(SessionTypes.RuleOperator.SignedGt, 1, _s(0)), _s(-1), false);
        _checkOne(_rule(SessionTypes.RuleOperator.SignedGte, 1, _s(0)), _s(-1), false);
        _checkOne(_rule(SessionTypes.RuleOperator.SignedGte, 1, _s(0)), _s(type(int256).min), false);
        // and the mirror: `Lt 100` rejects -1 as a huge number, `SignedLt 100` accepts it.
        _checkOne(_rule(SessionTypes.RuleOperator.Lt, 1, _s(100)), _s(-1), false);
        _checkOne(_rule(SessionTypes.RuleOperator.SignedLt, 1, _s(100)), _s(-1), true);
        // a signed range from 0 rejects what an unsigned range with the same words accepts
        _checkOne(_rule2(SessionTypes.RuleOperator.InRange, 1, _s(0), _s(-1)), _s(-7), true);
        _checkOne(_rule2(SessionTypes.RuleOperator.SignedInRange, 1, _s(0), _s(100)), _s(-7), false);
    }

    // ------------------------------------------------------------------------------------------------------------
    // OneOf, ranges, bitmask
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_enforcesRule_OneOf() public {
        SessionTypes.ArgRule memory rule = _rule2(SessionTypes.RuleOperator.OneOf, 2, _a(alice), _a(bob));
        _checkOne(rule, _a(alice), true);
        _checkOne(rule, _a(bob), true);
        _checkOne(rule, _a(carol), false);
        _checkOne(rule, bytes32(0), false);
        // a single operand is Eq
        _checkOne(_rule(SessionTypes.RuleOperator.OneOf, 0, _w(3)), _w(3), true);
        _checkOne(_rule(SessionTypes.RuleOperator.OneOf, 0, _w(3)), _w(4), false);
    }

    function test_validateUserOp_passes_whenOneOfMatchesLastOfSixtyFour() public {
        SessionTypes.ArgRule memory rule = _ruleN(SessionTypes.RuleOperator.OneOf, 0, 64); // operands 1..64
        _checkOne(rule, _w(64), true);
        _checkOne(rule, _w(1), true);
        _checkOne(rule, _w(65), false);
        _checkOne(rule, _w(0), false);
    }

    function test_validateUserOp_enforcesRule_InRange() public {
        SessionTypes.ArgRule memory rule = _rule2(SessionTypes.RuleOperator.InRange, 0, _w(10), _w(20));
        _checkOne(rule, _w(10), true);
        _checkOne(rule, _w(15), true);
        _checkOne(rule, _w(20), true);
        _checkOne(rule, _w(9), false);
        _checkOne(rule, _w(21), false);
        // an inverted range matches nothing; a one-point range matches its point
        _checkOne(_rule2(SessionTypes.RuleOperator.InRange, 0, _w(20), _w(10)), _w(15), false);
        _checkOne(_rule2(SessionTypes.RuleOperator.InRange, 0, _w(7), _w(7)), _w(7), true);
    }

    function test_validateUserOp_enforcesRule_SignedInRange() public {
        SessionTypes.ArgRule memory rule = _rule2(SessionTypes.RuleOperator.SignedInRange, 1, _s(-5), _s(5));
        _checkOne(rule, _s(-5), true);
        _checkOne(rule, _s(0), true);
        _checkOne(rule, _s(5), true);
        _checkOne(rule, _s(-6), false);
        _checkOne(rule, _s(6), false);
        _checkOne(rule, _s(type(int256).min), false);
        _checkOne(rule, _s(type(int256).max), false);
    }

    function test_validateUserOp_enforcesRule_Bitmask() public {
        // bit 0 must be set, bit 1 must be clear, the rest is free
        SessionTypes.ArgRule memory rule = _rule2(SessionTypes.RuleOperator.Bitmask, 3, _w(3), _w(1));
        _checkOne(rule, _w(1), true);
        _checkOne(rule, _w(0xf1), true);
        _checkOne(rule, _w(3), false);
        _checkOne(rule, _w(0), false);
        _checkOne(rule, _w(2), false);
        // high byte of the word
        rule = _rule2(SessionTypes.RuleOperator.Bitmask, 3, bytes32(bytes1(0xff)), bytes32(bytes1(0xab)));
        _checkOne(rule, bytes32(bytes2(0xabcd)), true);
        _checkOne(rule, bytes32(bytes2(0xaacd)), false);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Several rules
    // ------------------------------------------------------------------------------------------------------------

    function _fourRules() internal view returns (SessionTypes.ArgRule[] memory rules) {
        rules = new SessionTypes.ArgRule[](4);
        rules[0] = _rule2(SessionTypes.RuleOperator.InRange, 0, _w(10), _w(20));
        rules[1] = _rule(SessionTypes.RuleOperator.SignedLt, 1, _s(0));
        rules[2] = _rule2(SessionTypes.RuleOperator.OneOf, 2, _a(alice), _a(bob));
        rules[3] = _rule(SessionTypes.RuleOperator.Eq, 3, keccak256("d"));
    }

    function test_validateUserOp_passes_whenAllRulesHold() public onEachEntryPoint {
        PackedUserOperation memory op = _grantedOp1(
            currentEnv, _rulePermission(_fourRules()), address(target), 0, _act(15, -3, bob, keccak256("d"))
        );
        _handleOp(currentEnv.entryPoint, op);
        assertEq(target.lastA(), 15);
        assertEq(target.lastB(), -3);
        assertEq(target.calls(), 1);
    }

    function test_validateUserOp_reverts_whenAnyOneRuleFails() public {
        SessionTypes.ArgRule[] memory rules = _fourRules();
        _expectFail(rules, _act(21, -3, bob, keccak256("d")), _ruleFailed(0, 0));
        _expectFail(rules, _act(15, 0, bob, keccak256("d")), _ruleFailed(1, 1));
        _expectFail(rules, _act(15, -3, carol, keccak256("d")), _ruleFailed(2, 2));
        _expectFail(rules, _act(15, -3, bob, keccak256("e")), _ruleFailed(3, 3));
        // the first failing rule is named
        _expectFail(rules, _act(9, 1, carol, bytes32(0)), _ruleFailed(0, 0));
    }

    function test_validateUserOp_enforcesBothBounds_whenTwoRulesOnOneArgument() public {
        SessionTypes.ArgRule[] memory rules = new SessionTypes.ArgRule[](2);
        rules[0] = _rule(SessionTypes.RuleOperator.Gte, 0, _w(10));
        rules[1] = _rule(SessionTypes.RuleOperator.Lte, 0, _w(20));
        _expectPass(rules, _act(10, 0, alice, 0));
        _expectPass(rules, _act(20, 0, alice, 0));
        _expectFail(rules, _act(9, 0, alice, 0), _ruleFailed(0, 0));
        _expectFail(rules, _act(21, 0, alice, 0), _ruleFailed(1, 0));
    }

    function test_validateUserOp_passes_whenThirtyTwoRules() public {
        SessionTypes.ArgRule[] memory rules = new SessionTypes.ArgRule[](32);
        for (uint256 i; i < 32; ++i) {
            rules[i] = _rule(SessionTypes.RuleOperator.Gte, 0, _w(i));
        }
        _expectPass(rules, _act(31, 0, alice, 0));
        rules[31] = _rule(SessionTypes.RuleOperator.Gte, 0, _w(32));
        _expectFail(rules, _act(31, 0, alice, 0), _ruleFailed(31, 0));
    }

    function test_validateUserOp_reverts_whenMoreThanThirtyTwoRules() public {
        SessionTypes.ArgRule[] memory rules = new SessionTypes.ArgRule[](33);
        for (uint256 i; i < 33; ++i) {
            rules[i] = _rule(SessionTypes.RuleOperator.Gte, 0, _w(0));
        }
        _expectFail(
            rules,
            _act(1, 0, alice, 0),
            abi.encodeWithSelector(ISessionKeyValidator.TooManyRules.selector, 0, 33, validator.MAX_RULES())
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Malformed rules
    // ------------------------------------------------------------------------------------------------------------

    function _invalidRule(uint256 ruleIndex) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.InvalidRule.selector, 0, ruleIndex);
    }

    function test_validateUserOp_reverts_whenComparisonHasWrongOperandCount() public {
        bytes memory data = _act(1, 1, alice, bytes32(uint256(1)));
        for (uint8 op; op <= uint8(SessionTypes.RuleOperator.SignedGte); ++op) {
            _expectFail(_rules1(_ruleN(SessionTypes.RuleOperator(op), 0, 0)), data, _invalidRule(0));
            _expectFail(_rules1(_ruleN(SessionTypes.RuleOperator(op), 0, 2)), data, _invalidRule(0));
        }
    }

    function test_validateUserOp_reverts_whenRangeOrBitmaskHasWrongOperandCount() public {
        bytes memory data = _act(1, 1, alice, bytes32(uint256(1)));
        SessionTypes.RuleOperator[3] memory ops = [
            SessionTypes.RuleOperator.InRange,
            SessionTypes.RuleOperator.SignedInRange,
            SessionTypes.RuleOperator.Bitmask
        ];
        for (uint256 i; i < ops.length; ++i) {
            _expectFail(_rules1(_ruleN(ops[i], 0, 0)), data, _invalidRule(0));
            _expectFail(_rules1(_ruleN(ops[i], 0, 1)), data, _invalidRule(0));
            _expectFail(_rules1(_ruleN(ops[i], 0, 3)), data, _invalidRule(0));
        }
    }

    function test_validateUserOp_reverts_whenOneOfIsEmpty() public {
        _expectFail(
            _rules1(_ruleN(SessionTypes.RuleOperator.OneOf, 0, 0)), _act(1, 1, alice, bytes32(0)), _invalidRule(0)
        );
    }

    function test_validateUserOp_reverts_whenOneOfHasMoreThanSixtyFourOperands() public {
        // the argument is the first operand: too many operands fails even though the value would match
        _expectFail(
            _rules1(_ruleN(SessionTypes.RuleOperator.OneOf, 0, 65)), _act(1, 1, alice, bytes32(0)), _invalidRule(0)
        );
    }

    function test_validateUserOp_reverts_whenLaterRuleIsMalformed() public {
        SessionTypes.ArgRule[] memory rules = new SessionTypes.ArgRule[](3);
        rules[0] = _rule(SessionTypes.RuleOperator.Eq, 0, _w(1));
        rules[1] = _rule(SessionTypes.RuleOperator.Ne, 0, _w(2));
        rules[2] = _ruleN(SessionTypes.RuleOperator.Bitmask, 3, 1);
        _expectFail(rules, _act(1, 1, alice, bytes32(0)), _invalidRule(2));
    }

    /// An operator value past Bitmask cannot be ABI-encoded from Solidity: the leaf preimage is patched by hand.
    function test_validateUserOp_reverts_whenRuleOperatorUnknown() public {
        AccountEnv memory env = _v08();
        bytes memory encoded = _unknownOperatorPermission();
        SessionTypes.Session memory session = _session(keccak256(bytes.concat(keccak256(encoded))));
        _grantOn(env, session);

        bytes memory callData = _executeSingle(address(target), 0, _act(0, 0, alice, bytes32(0)));
        PackedUserOperation memory op =
            _buildUserOp(env.entryPoint, address(env.account), _sessionNonceKey(1), callData);
        op.signature = _rawUseSignature(session, encoded, _sign(SESSION_KEY, _userOpHash(env.entryPoint, op)));
        _expectScopeError(env.entryPoint, op, _invalidRule(0));
    }

    /// The ABI encoding of a one-rule permission whose rule operator is one past Bitmask.
    function _unknownOperatorPermission() internal view returns (bytes memory encoded) {
        encoded = abi.encode(_rulePermission(_rules1(_rule2(SessionTypes.RuleOperator.Bitmask, 0, _w(0), _w(0)))));
        // 0x20 (tuple offset) + 12 head words + rules length + rules[0] offset: rules[0].operator
        uint256 operatorWord = 0x20 + 12 * 0x20 + 0x20 + 0x20;
        assertEq(uint256(_wordAt(encoded, operatorWord)), uint256(SessionTypes.RuleOperator.Bitmask));
        encoded[operatorWord + 31] = bytes1(uint8(SessionTypes.RuleOperator.Bitmask) + 1);
    }

    function _wordAt(bytes memory data, uint256 offset) internal pure returns (bytes32 word) {
        assembly ("memory-safe") {
            word := mload(add(add(data, 0x20), offset))
        }
    }

    /// A use-mode signature of one call whose permission preimage is `permission` as given (single-leaf tree).
    function _rawUseSignature(SessionTypes.Session memory session, bytes memory permission, bytes memory sessionSig)
        internal
        pure
        returns (bytes memory)
    {
        return bytes.concat(
            bytes1(SessionTypes.MODE_USE),
            abi.encode(session),
            bytes1(uint8(1)),
            bytes2(uint16(permission.length)),
            permission,
            bytes1(0),
            bytes4(0),
            sessionSig
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Out-of-bounds arguments: fail closed
    // ------------------------------------------------------------------------------------------------------------

    function _outOfBounds(uint256 ruleIndex, uint256 argIndex) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.ArgumentOutOfBounds.selector, 0, ruleIndex, argIndex);
    }

    function test_validateUserOp_reverts_whenArgIndexPastCalldata() public {
        // act has 4 argument words; `Lte max` would pass on any word (or on zero padding)
        bytes memory data = _act(1, 1, alice, bytes32(0));
        _expectFail(_rules1(_rule(SessionTypes.RuleOperator.Lte, 4, _w(type(uint256).max))), data, _outOfBounds(0, 4));
        _expectFail(
            _rules1(_rule(SessionTypes.RuleOperator.Lte, type(uint16).max, _w(type(uint256).max))),
            data,
            _outOfBounds(0, type(uint16).max)
        );
        // the last word is in bounds
        _expectPass(_rules1(_rule(SessionTypes.RuleOperator.Lte, 3, _w(type(uint256).max))), data);
    }

    function test_validateUserOp_reverts_whenArgumentWordIsTruncated() public {
        bytes memory full = _act(1, 1, alice, bytes32(0));
        // drop the last byte: word 3 is no longer complete
        bytes memory truncated = new bytes(full.length - 1);
        for (uint256 i; i < truncated.length; ++i) {
            truncated[i] = full[i];
        }
        _expectFail(_rules1(_rule(SessionTypes.RuleOperator.Eq, 3, bytes32(0))), truncated, _outOfBounds(0, 3));
        // a selector alone has no argument 0
        _expectFail(
            _rules1(_rule(SessionTypes.RuleOperator.Eq, 0, bytes32(0))),
            abi.encodePacked(ArgTarget.act.selector),
            _outOfBounds(0, 0)
        );
    }

    function test_validateUserOp_reverts_whenLaterRuleReadsPastCalldata() public {
        SessionTypes.ArgRule[] memory rules = new SessionTypes.ArgRule[](2);
        rules[0] = _rule(SessionTypes.RuleOperator.Eq, 0, _w(1));
        rules[1] = _rule(SessionTypes.RuleOperator.Ne, 9, _w(1));
        _expectFail(rules, _act(1, 1, alice, bytes32(0)), _outOfBounds(1, 9));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Fuzz: the validator decides like the reference implementation
    // ------------------------------------------------------------------------------------------------------------

    /// Validates (directly, as the account) one `act` call whose word `argIndex` is `arg`, under one rule.
    function _fuzzRule(SessionTypes.RuleOperator operator, uint256 argIndex, bytes32 arg, bytes32[] memory operands)
        internal
    {
        argIndex = bound(argIndex, 0, 3);
        SessionTypes.ArgRule memory rule;
        rule.operator = operator;
        rule.argIndex = uint16(argIndex);
        rule.operands = operands;
        SessionTypes.Permission memory permission = _rulePermission(_rules1(rule));
        SessionTypes.Session memory session = _singleLeafSession(permission);
        address account = address(accountV08);
        _grantDirect(account, session);

        bytes32[4] memory words = [keccak256("w0"), keccak256("w1"), keccak256("w2"), keccak256("w3")];
        words[argIndex] = arg;
        bytes memory callData = _executeSingle(address(target), 0, _actWords(words[0], words[1], words[2], words[3]));
        CallProof[] memory calls = _oneCall(permission);
        (PackedUserOperation memory op, bytes32 hash) = _directOp(account, callData, session, calls);

        if (operator.holds(arg, operands)) {
            (bool sigFailed,,) = _unpack(_validateAs(op, hash));
            assertFalse(sigFailed, "valid call");
        } else {
            vm.expectRevert(_ruleFailed(0, argIndex));
            _validateAs(op, hash);
        }
    }

    /// An operand near `arg`: equal, one above, one below, or unrelated.
    function _near(bytes32 arg, bytes32 other, uint8 mode) internal pure returns (bytes32) {
        mode %= 4;
        unchecked {
            if (mode == 0) return arg;
            if (mode == 1) return bytes32(uint256(arg) + 1);
            if (mode == 2) return bytes32(uint256(arg) - 1);
        }
        return other;
    }

    function _ops1(bytes32 a) internal pure returns (bytes32[] memory operands) {
        operands = new bytes32[](1);
        operands[0] = a;
    }

    function _ops2(bytes32 a, bytes32 b) internal pure returns (bytes32[] memory operands) {
        operands = new bytes32[](2);
        operands[0] = a;
        operands[1] = b;
    }

    function testFuzz_validateUserOp_matchesReference_Eq(uint256 argIndex, bytes32 arg, bytes32 other, uint8 mode)
        public
    {
        _fuzzRule(SessionTypes.RuleOperator.Eq, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_Ne(uint256 argIndex, bytes32 arg, bytes32 other, uint8 mode)
        public
    {
        _fuzzRule(SessionTypes.RuleOperator.Ne, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_Lt(uint256 argIndex, bytes32 arg, bytes32 other, uint8 mode)
        public
    {
        _fuzzRule(SessionTypes.RuleOperator.Lt, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_Lte(uint256 argIndex, bytes32 arg, bytes32 other, uint8 mode)
        public
    {
        _fuzzRule(SessionTypes.RuleOperator.Lte, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_Gt(uint256 argIndex, bytes32 arg, bytes32 other, uint8 mode)
        public
    {
        _fuzzRule(SessionTypes.RuleOperator.Gt, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_Gte(uint256 argIndex, bytes32 arg, bytes32 other, uint8 mode)
        public
    {
        _fuzzRule(SessionTypes.RuleOperator.Gte, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_SignedLt(uint256 argIndex, bytes32 arg, bytes32 other, uint8 mode)
        public
    {
        _fuzzRule(SessionTypes.RuleOperator.SignedLt, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_SignedLte(
        uint256 argIndex,
        bytes32 arg,
        bytes32 other,
        uint8 mode
    ) public {
        _fuzzRule(SessionTypes.RuleOperator.SignedLte, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_SignedGt(uint256 argIndex, bytes32 arg, bytes32 other, uint8 mode)
        public
    {
        _fuzzRule(SessionTypes.RuleOperator.SignedGt, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_SignedGte(
        uint256 argIndex,
        bytes32 arg,
        bytes32 other,
        uint8 mode
    ) public {
        _fuzzRule(SessionTypes.RuleOperator.SignedGte, argIndex, arg, _ops1(_near(arg, other, mode)));
    }

    function testFuzz_validateUserOp_matchesReference_OneOf(
        uint256 argIndex,
        bytes32 arg,
        bytes32[] memory operands,
        uint256 hit
    ) public {
        vm.assume(operands.length > 0);
        if (operands.length > 64) {
            assembly ("memory-safe") {
                mstore(operands, 64)
            }
        }
        // half of the runs plant the argument at a random position
        if (hit % 2 == 0) operands[(hit / 2) % operands.length] = arg;
        _fuzzRule(SessionTypes.RuleOperator.OneOf, argIndex, arg, operands);
    }

    function testFuzz_validateUserOp_matchesReference_InRange(
        uint256 argIndex,
        bytes32 arg,
        bytes32 low,
        bytes32 high,
        uint8 modeLow,
        uint8 modeHigh
    ) public {
        _fuzzRule(
            SessionTypes.RuleOperator.InRange,
            argIndex,
            arg,
            _ops2(_near(arg, low, modeLow), _near(arg, high, modeHigh))
        );
    }

    function testFuzz_validateUserOp_matchesReference_SignedInRange(
        uint256 argIndex,
        bytes32 arg,
        bytes32 low,
        bytes32 high,
        uint8 modeLow,
        uint8 modeHigh
    ) public {
        _fuzzRule(
            SessionTypes.RuleOperator.SignedInRange,
            argIndex,
            arg,
            _ops2(_near(arg, low, modeLow), _near(arg, high, modeHigh))
        );
    }

    function testFuzz_validateUserOp_matchesReference_Bitmask(
        uint256 argIndex,
        bytes32 arg,
        bytes32 mask,
        bytes32 expected,
        bool matching
    ) public {
        // half of the runs expect exactly the masked bits of the argument
        if (matching) expected = arg & mask;
        _fuzzRule(SessionTypes.RuleOperator.Bitmask, argIndex, arg, _ops2(mask, expected));
    }

    /// Any rule with an argument index past the 4 words of `act` fails closed, whatever its operator.
    function testFuzz_validateUserOp_reverts_whenArgIndexOutOfBounds(uint16 argIndex, uint8 operator) public {
        argIndex = uint16(bound(argIndex, 4, type(uint16).max));
        SessionTypes.ArgRule memory rule = _ruleN(
            SessionTypes.RuleOperator(bound(operator, 0, uint8(SessionTypes.RuleOperator.Bitmask))), argIndex, 1
        );
        SessionTypes.Permission memory permission = _rulePermission(_rules1(rule));
        SessionTypes.Session memory session = _singleLeafSession(permission);
        address account = address(accountV08);
        _grantDirect(account, session);
        (PackedUserOperation memory op, bytes32 hash) = _directOp(
            account, _executeSingle(address(target), 0, _act(1, 1, alice, bytes32(0))), session, _oneCall(permission)
        );
        vm.expectRevert(_outOfBounds(0, argIndex));
        _validateAs(op, hash);
    }
}
