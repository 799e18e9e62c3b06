// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Cases 13, 14, 15 and 23: cumulative limits, ERC-20 movement accounting, usage and rate limits, and
///         the bounds on everything an operation can make the validator do.
contract LimitsAttackTest is AdversarialBase {
    bytes4 private constant INCREASE_ALLOWANCE = 0x39509351; // increaseAllowance(address,uint256)

    // ------------------------------------------------------------------------------------------------------------
    // Case 13: cumulative native limit across operations and within a batch
    // ------------------------------------------------------------------------------------------------------------

    function _nativeCapped(address target) internal pure returns (SessionTypes.Permission memory permission) {
        permission = _permission(target, bytes4(0));
        permission.flags = SessionTypes.FLAG_NATIVE_TRANSFER | SessionTypes.FLAG_NATIVE_TOTAL;
        permission.valueLimit = 1 ether;
        permission.nativeTotalLimit = 2.5 ether;
    }

    function test_validateUserOp_reverts_whenOpsUnderPerCallCapExceedNativeTotal() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _nativeCapped(address(recorder));
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        for (uint256 k; k < 2; ++k) {
            _handleOp(currentEnv.entryPoint, _op1(currentEnv, session, permission, address(recorder), 1 ether, ""));
        }
        assertEq(validator.spentOf(account, _sid(session), address(0)), 2 ether);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 1 ether, "");
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTotalExceeded.selector, 0, 3 ether, 2.5 ether)
        );
        // the remainder is still usable
        _handleOp(currentEnv.entryPoint, _op1(currentEnv, session, permission, address(recorder), 0.5 ether, ""));
        assertEq(validator.spentOf(account, _sid(session), address(0)), 2.5 ether);
    }

    function test_validateUserOp_reverts_whenBatchValuesSumPastNativeTotal() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _nativeCapped(address(recorder));
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        Execution[] memory executions = new Execution[](3);
        for (uint256 k; k < 3; ++k) {
            executions[k] = Execution(address(recorder), 1 ether, "");
        }
        PackedUserOperation memory op = _useOpN(
            currentEnv.entryPoint, account, _executeBatch(executions), session, _repeat(permission, _noProof(), 3)
        );
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTotalExceeded.selector, 2, 3 ether, 2.5 ether)
        );
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_reverts_whenNativeTotalIsSplitAcrossPermissions() public onEachEntryPoint {
        // the native total is per session, summed over every permission with the flag
        address account = address(currentEnv.account);
        SessionTypes.Permission memory a = _nativeCapped(address(recorder));
        SessionTypes.Permission memory b = _nativeCapped(address(recorder2));
        (SessionTypes.Session memory session, bytes32[][] memory proofs) = _grantPair(a, b);
        bytes memory callData = _executeBatch(
            _batch2(Execution(address(recorder), 1 ether, ""), Execution(address(recorder2), 1 ether, ""))
        );
        _handleOp(
            currentEnv.entryPoint,
            _useOpN(currentEnv.entryPoint, account, callData, session, _two(a, proofs[0], b, proofs[1]))
        );
        PackedUserOperation memory op = _op1(currentEnv, session, b, proofs[1], address(recorder2), 1 ether, "");
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTotalExceeded.selector, 0, 3 ether, 2.5 ether)
        );
    }

    function testFuzz_validateUserOp_neverSpendsPastNativeTotal(uint256[6] memory values) public {
        address account = address(accountV08);
        SessionTypes.Permission memory permission = _nativeCapped(address(recorder));
        SessionTypes.Session memory session = _grantSingle(entryPointV08, account, permission);
        uint256 spent;
        for (uint256 k; k < values.length; ++k) {
            uint256 value = bound(values[k], 0, 1 ether);
            PackedUserOperation memory op = _useOp1(
                entryPointV08, account, _executeSingle(address(recorder), value, ""), session, permission, _noProof()
            );
            (bool ok,) = _tryHandleOp(entryPointV08, op);
            assertEq(ok, spent + value <= 2.5 ether, "accepted iff within the total");
            if (ok) spent += value;
            assertEq(validator.spentOf(account, _sid(session), address(0)), spent);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 14: the ERC-20 total counts transfer, transferFrom, approve and increaseAllowance alike
    // ------------------------------------------------------------------------------------------------------------

    function _erc20(address target, bytes4 selector) internal pure returns (SessionTypes.Permission memory permission) {
        permission = _permission(target, selector);
        permission.flags = SessionTypes.FLAG_ERC20_TOTAL;
        permission.erc20TotalLimit = 100;
    }

    /// A session over transfer, approve, transferFrom and increaseAllowance of `target`, all sharing the total.
    function _erc20Session(address account, address target)
        internal
        returns (
            SessionTypes.Session memory session,
            SessionTypes.Permission[] memory permissions,
            bytes32[][] memory proofs
        )
    {
        permissions = new SessionTypes.Permission[](4);
        permissions[0] = _erc20(target, IERC20.transfer.selector);
        permissions[1] = _erc20(target, IERC20.approve.selector);
        permissions[2] = _erc20(target, IERC20.transferFrom.selector);
        permissions[3] = _erc20(target, INCREASE_ALLOWANCE);
        bytes32 root;
        (root, proofs) = _tree(permissions);
        session = _session(root);
        _grant(account == address(accountV07) ? entryPointV07 : entryPointV08, account, session);
    }

    /// An operation of the current run's account calling `data` on `target` under permission `k` of an
    /// {_erc20Session}.
    function _erc20Op(
        SessionTypes.Session memory session,
        SessionTypes.Permission[] memory p,
        bytes32[][] memory proofs,
        uint256 k,
        address target,
        bytes memory data
    ) internal view returns (PackedUserOperation memory) {
        return _op1(currentEnv, session, p[k], proofs[k], target, 0, data);
    }

    function _exceeded(address target, uint256 total) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.Erc20TotalExceeded.selector, 0, target, total, uint256(100));
    }

    function test_validateUserOp_reverts_whenErc20TotalBypassedThroughApprove() public onEachEntryPoint {
        address attacker = makeAddr("attacker");
        address account = address(currentEnv.account);
        token.mint(account, 1000);
        (SessionTypes.Session memory session, SessionTypes.Permission[] memory p, bytes32[][] memory proofs) =
            _erc20Session(account, address(token));
        _handleOp(
            currentEnv.entryPoint,
            _erc20Op(session, p, proofs, 0, address(token), abi.encodeCall(IERC20.transfer, (attacker, 60)))
        );
        // approving the attacker for the rest of the balance is a movement like any other
        PackedUserOperation memory op =
            _erc20Op(session, p, proofs, 1, address(token), abi.encodeCall(IERC20.approve, (attacker, 1000)));
        _expectScopeError(currentEnv.entryPoint, op, _exceeded(address(token), 1060));
        assertEq(token.allowance(account, attacker), 0);
        assertEq(token.balanceOf(attacker), 60);
    }

    function test_validateUserOp_reverts_whenErc20TotalBypassedThroughTransferFrom() public onEachEntryPoint {
        address victim = makeAddr("victim");
        address account = address(currentEnv.account);
        (SessionTypes.Session memory session, SessionTypes.Permission[] memory p, bytes32[][] memory proofs) =
            _erc20Session(account, address(recorder));
        _handleOp(
            currentEnv.entryPoint,
            _erc20Op(session, p, proofs, 0, address(recorder), abi.encodeCall(IERC20.transfer, (victim, 60)))
        );
        // the amount is argument 2 of transferFrom, not argument 1
        PackedUserOperation memory op = _erc20Op(
            session, p, proofs, 2, address(recorder), abi.encodeCall(IERC20.transferFrom, (account, victim, 50))
        );
        _expectScopeError(currentEnv.entryPoint, op, _exceeded(address(recorder), 110));
    }

    function test_validateUserOp_reverts_whenErc20TotalBypassedThroughIncreaseAllowance() public onEachEntryPoint {
        address spender = makeAddr("spender");
        address account = address(currentEnv.account);
        (SessionTypes.Session memory session, SessionTypes.Permission[] memory p, bytes32[][] memory proofs) =
            _erc20Session(account, address(recorder));
        bytes memory callData = _executeBatch(
            _batch2(
                Execution(address(recorder), 0, abi.encodeCall(IERC20.approve, (spender, 60))),
                Execution(address(recorder), 0, abi.encodeWithSelector(INCREASE_ALLOWANCE, spender, 41))
            )
        );
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, callData, session, _two(p[1], proofs[1], p[3], proofs[3]));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.Erc20TotalExceeded.selector, 1, address(recorder), 101, uint256(100)
            )
        );
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_reverts_whenErc20FlaggedPermissionIsNotAMovement() public onEachEntryPoint {
        bytes4 burn = bytes4(keccak256("burn(uint256)"));
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _erc20(address(recorder), burn);
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        PackedUserOperation memory op =
            _op1(currentEnv, session, permission, address(recorder), 0, abi.encodeWithSelector(burn, 1000));
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.NotAnErc20Movement.selector, 0, burn)
        );
    }

    function test_validateUserOp_reverts_whenErc20AmountArgumentIsMissing() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _erc20(address(recorder), IERC20.transferFrom.selector);
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        // transferFrom(from, to) without the amount: a lax reader would see amount 0
        bytes memory data = abi.encodeWithSelector(IERC20.transferFrom.selector, account, bundler);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, data);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NotAnErc20Movement.selector, 0, IERC20.transferFrom.selector)
        );
    }

    function test_validateUserOp_reverts_whenErc20TotalSaturatesOnHugeAmount() public onEachEntryPoint {
        address account = address(currentEnv.account);
        (SessionTypes.Session memory session, SessionTypes.Permission[] memory p, bytes32[][] memory proofs) =
            _erc20Session(account, address(recorder));
        _handleOp(
            currentEnv.entryPoint,
            _erc20Op(session, p, proofs, 0, address(recorder), abi.encodeCall(IERC20.transfer, (bundler, 1)))
        );
        // 1 + (2^256 - 1) would wrap to 0 without saturation
        PackedUserOperation memory op = _erc20Op(
            session, p, proofs, 1, address(recorder), abi.encodeCall(IERC20.approve, (bundler, type(uint256).max))
        );
        _expectScopeError(currentEnv.entryPoint, op, _exceeded(address(recorder), type(uint256).max));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 15: usage and rate limits
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenMaxUsesExceeded() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        permission.maxUses = 3;
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        for (uint256 k; k < 3; ++k) {
            _handleOp(currentEnv.entryPoint, _op1(currentEnv, session, permission, address(recorder), 0, _ping(k)));
        }
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(3));
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.UsageLimitReached.selector, 0, 4, 3)
        );
        _assertRecorded(recorder, 3);
    }

    function _rateLimited() internal pure returns (SessionTypes.Permission memory permission) {
        permission.target = address(0);
        permission.selector = PING;
        permission.flags = SessionTypes.FLAG_ANY_TARGET;
        permission.validAfter = START;
        permission.rateLimitCount = 1;
        permission.rateLimitInterval = 1 hours;
    }

    function test_validateUserOp_reverts_whenUsedTwiceInRateLimitWindow() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _rateLimited();
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        bytes memory callData = _executeSingle(address(recorder), 0, _ping(1));
        _handleOp(
            currentEnv.entryPoint,
            _useOpN(currentEnv.entryPoint, account, callData, session, _oneAt(permission, _noProof(), 0))
        );
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, callData, session, _oneAt(permission, _noProof(), 0));
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.RateLimitReached.selector, 0, 0, 1)
        );
        // naming the next window does not help before it starts
        op = _useOpN(currentEnv.entryPoint, account, callData, session, _oneAt(permission, _noProof(), 1));
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        // nor does a batch that uses the permission twice in window 0 of a fresh session
        session.salt = bytes32(uint256(7));
        _grant(currentEnv.entryPoint, account, session);
        Execution memory call = Execution(address(recorder), 0, _ping(1));
        CallProof[] memory calls = _repeat(permission, _noProof(), 2);
        op = _useOpN(currentEnv.entryPoint, account, _executeBatch(_batch2(call, call)), session, calls);
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.RateLimitReached.selector, 1, 0, 1)
        );
    }

    function test_validateUserOp_reverts_whenRateLimitWindowGoesBackwards() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _rateLimited();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        address account = address(currentEnv.account);
        _grant(currentEnv.entryPoint, account, session);
        vm.warp(START + 1 hours + 1); // window 1
        bytes memory callData = _executeSingle(address(recorder), 0, _ping(1));
        // window 0 is over
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, callData, session, _oneAt(permission, _noProof(), 0));
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        _handleOp(
            currentEnv.entryPoint,
            _useOpN(currentEnv.entryPoint, account, callData, session, _oneAt(permission, _noProof(), 1))
        );
        (, uint32 window, uint32 windowUses) = validator.usageOf(account, _sid(session), _leaf(permission));
        assertEq(window, 1);
        assertEq(windowUses, 1);
        op = _useOpN(currentEnv.entryPoint, account, callData, session, _oneAt(permission, _noProof(), 0));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.RateLimitWindowPassed.selector, 0, 0, 1)
        );
        vm.warp(START + 2 hours + 1); // window 2: one more use
        callData = _executeSingle(address(recorder), 0, _ping(2));
        _handleOp(
            currentEnv.entryPoint,
            _useOpN(currentEnv.entryPoint, account, callData, session, _oneAt(permission, _noProof(), 2))
        );
        _assertRecorded(recorder, 2);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 23: bounded work
    // ------------------------------------------------------------------------------------------------------------

    function _manyRules(uint256 n) internal pure returns (SessionTypes.ArgRule[] memory rules) {
        rules = new SessionTypes.ArgRule[](n);
        for (uint256 k; k < n; ++k) {
            rules[k].operator = SessionTypes.RuleOperator.Ne; // duplicates of a rule that always passes
            rules[k].argIndex = 0;
            rules[k].operands = new bytes32[](1);
            rules[k].operands[0] = bytes32(type(uint256).max);
        }
    }

    function test_validateUserOp_reverts_whenPermissionHasTooManyRules() public onEachEntryPoint {
        uint256 maxRules = validator.MAX_RULES();
        uint256[2] memory counts = [maxRules + 1, 300];
        for (uint256 c; c < counts.length; ++c) {
            address account = address(currentEnv.account);
            SessionTypes.Permission memory permission = _permission(address(recorder), PING);
            permission.rules = _manyRules(counts[c]);
            SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
            PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(1));
            _expectScopeError(
                currentEnv.entryPoint,
                op,
                abi.encodeWithSelector(ISessionKeyValidator.TooManyRules.selector, 0, counts[c], maxRules)
            );
        }
        // exactly MAX_RULES is fine
        SessionTypes.Permission memory atMax = _permission(address(recorder), PING);
        atMax.rules = _manyRules(maxRules);
        SessionTypes.Session memory okSession = _grantSingle(currentEnv.entryPoint, address(currentEnv.account), atMax);
        _handleOp(currentEnv.entryPoint, _op1(currentEnv, okSession, atMax, address(recorder), 0, _ping(1)));
    }

    function test_validateUserOp_reverts_whenOneOfHasTooManyOperands() public {
        address account = address(accountV08);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        permission.rules = new SessionTypes.ArgRule[](1);
        permission.rules[0].operator = SessionTypes.RuleOperator.OneOf;
        permission.rules[0].operands = new bytes32[](validator.MAX_ONE_OF() + 1);
        SessionTypes.Session memory session = _grantSingle(entryPointV08, account, permission);
        PackedUserOperation memory op = _useOp1(
            entryPointV08, account, _executeSingle(address(recorder), 0, _ping(0)), session, permission, _noProof()
        );
        _expectScopeError(entryPointV08, op, abi.encodeWithSelector(ISessionKeyValidator.InvalidRule.selector, 0, 0));
    }

    function test_validateUserOp_reverts_whenBatchExceedsMaxCalls() public onEachEntryPoint {
        uint256 maxCalls = validator.MAX_CALLS();
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        Execution[] memory executions = new Execution[](maxCalls + 1);
        for (uint256 k; k < executions.length; ++k) {
            executions[k] = Execution(address(recorder), 0, _ping(k));
        }
        PackedUserOperation memory op = _useOpN(
            currentEnv.entryPoint,
            account,
            _executeBatch(executions),
            session,
            _repeat(permission, _noProof(), maxCalls + 1)
        );
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidBatchSize.selector, maxCalls + 1, maxCalls)
        );
    }

    function test_grantSession_gasIsIndependentOfTreeSize() public {
        // only the root is stored: granting a 1-leaf, a 64-leaf or a 1024-leaf (all duplicates) tree costs the same
        address account = address(accountV08);
        uint256[3] memory sizes = [uint256(1), 64, 1024];
        uint256[3] memory gasUsed;
        vm.prank(account);
        validator.grantSession(_session(bytes32(uint256(0xdead)))); // warm the validator and the account's state
        for (uint256 s; s < sizes.length; ++s) {
            SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](sizes[s]);
            for (uint256 k; k < sizes[s]; ++k) {
                permissions[k] = _permission(address(recorder), PING);
                permissions[k].maxUses = uint32(k % 7); // thousands of near-duplicates are fine off-chain
            }
            bytes32[] memory leaves = new bytes32[](sizes[s]);
            for (uint256 k; k < sizes[s]; ++k) {
                leaves[k] = _leaf(permissions[k]);
            }
            SessionTypes.Session memory session = _session(SessionEncoding.buildTree(leaves)[0]);
            vm.prank(account);
            validator.grantSession(session);
            gasUsed[s] = vm.lastCallGas().gasTotalUsed; // the validator's frame only, not the test's memory
        }
        assertEq(gasUsed[0], gasUsed[1], "1 vs 64 leaves");
        assertEq(gasUsed[1], gasUsed[2], "64 vs 1024 leaves");
    }

    function test_validateUserOp_acceptsDeepProof_inLargeTree() public {
        // validation cost grows with log2(leaves): a leaf of a 1024-leaf tree carries a 10-element proof
        SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](1024);
        for (uint256 k; k < permissions.length; ++k) {
            permissions[k] = _permission(address(recorder), bytes4(uint32(k + 1)));
        }
        permissions[777].selector = PING;
        bytes32[] memory leaves = new bytes32[](permissions.length);
        for (uint256 k; k < permissions.length; ++k) {
            leaves[k] = _leaf(permissions[k]);
        }
        bytes32[] memory tree = SessionEncoding.buildTree(leaves);
        bytes32[] memory proof = SessionEncoding.proofOf(tree, leaves[777]);
        assertEq(proof.length, 10);
        SessionTypes.Session memory session = _session(tree[0]);
        _grant(entryPointV08, address(accountV08), session);
        _handleOp(
            entryPointV08,
            _op1(_env(EntryPointVersion.V08), session, permissions[777], proof, address(recorder), 0, _ping(1))
        );
        _assertRecorded(recorder, 1);
    }
}
