// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test, console} from "forge-std/Test.sol";
import {SessionTypes} from "../../../src/interfaces/ISessionKeyValidator.sol";
import {SessionEncoding} from "../../utils/SessionEncoding.sol";
import {SessionHandler} from "./SessionHandler.sol";

/// @notice Stateful fuzzing of "a leaked session key cannot escape its scope": the handler mixes owner actions
///         (grant, revoke, revoke one permission, revokeAll, uninstall/reinstall, enable signatures), time warps and
///         mutated session-key operations (self-revocations included) sent through the real EntryPoints v0.7 and
///         v0.8.
contract SessionInvariantsTest is Test {
    SessionHandler internal handler;

    function setUp() public {
        handler = new SessionHandler();
        handler.setUp();
        // the key acts more often than the owner
        bytes4[] memory selectors = new bytes4[](13);
        selectors[0] = SessionHandler.use.selector;
        selectors[1] = SessionHandler.use.selector;
        selectors[2] = SessionHandler.use.selector;
        selectors[3] = SessionHandler.use.selector;
        selectors[4] = SessionHandler.use.selector;
        selectors[5] = SessionHandler.grant.selector;
        selectors[6] = SessionHandler.grant.selector;
        selectors[7] = SessionHandler.revoke.selector;
        selectors[8] = SessionHandler.revokeAll.selector;
        selectors[9] = SessionHandler.reinstall.selector;
        selectors[10] = SessionHandler.ownerSignsEnable.selector;
        selectors[11] = SessionHandler.warp.selector;
        selectors[12] = SessionHandler.revokePermission.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
        targetContract(address(handler));
    }

    function _sid(uint256 s) internal view returns (bytes32) {
        return SessionEncoding.sessionId(handler.sessionOf(s));
    }

    function invariant_spentNeverExceedsLimit() public view {
        for (uint256 a; a < 2; ++a) {
            address account = handler.account(a);
            for (uint256 s; s < 3; ++s) {
                bytes32 id = _sid(s);
                assertLe(handler.sessionValidator().spentOf(account, id, address(0)), handler.NATIVE_LIMIT(), "native");
                assertLe(
                    handler.sessionValidator().spentOf(account, id, address(handler.targetB())),
                    handler.erc20Limit(s),
                    "erc20"
                );
                assertEq(
                    handler.sessionValidator().spentOf(account, id, address(handler.targetA())), 0, "unflagged token"
                );
                SessionTypes.Permission memory periodic = handler.catalog(s, 6);
                (, uint256 inPeriod) = handler.sessionValidator()
                    .periodSpentOf(
                        account, id, address(handler.targetB()), periodic.rateLimitInterval, periodic.validAfter
                    );
                assertLe(inPeriod, handler.PERIOD_ALLOWANCE(), "erc20 in period");
                bytes32 key = handler.ghostKey(a, s);
                assertLe(handler.ghostNative(key), handler.NATIVE_LIMIT(), "executed native");
                assertLe(handler.ghostErc20(key), handler.erc20Limit(s), "executed erc20");
                assertLe(handler.ghostErc20PeriodMax(key), handler.PERIOD_ALLOWANCE(), "executed erc20 in a period");
            }
        }
        assertEq(handler.violationCount(SessionHandler.Violation.Spend), 0, handler.lastViolation());
    }

    function invariant_usesNeverExceedMax() public view {
        for (uint256 a; a < 2; ++a) {
            address account = handler.account(a);
            for (uint256 s; s < 3; ++s) {
                bytes32 id = _sid(s);
                for (uint256 k; k < handler.PERMISSIONS(); ++k) {
                    bytes32 leaf = SessionEncoding.leaf(handler.catalog(s, k));
                    (uint64 uses,, uint32 windowUses) = handler.sessionValidator().usageOf(account, id, leaf);
                    uint256 max = handler.maxUses(s, k);
                    if (max != 0) assertLe(uses, max, "maxUses");
                    (uint256 perWindow,,) = handler.rateLimit(k);
                    if (perWindow != 0) assertLe(windowUses, perWindow, "rate limit");
                }
            }
        }
        assertEq(handler.violationCount(SessionHandler.Violation.Uses), 0, handler.lastViolation());
    }

    function invariant_acceptedCallsMatchCommittedLeaves() public view {
        assertEq(handler.violationCount(SessionHandler.Violation.Calls), 0, handler.lastViolation());
        // every call any target ever received was made by an accepted session operation and checked
        assertEq(handler.callLog().count(), handler.executedCalls(), "calls outside accepted operations");
    }

    /// The fees session operations cost the account never exceed the session's fee scope, and the validator's
    /// counter never falls below what was really paid.
    function invariant_feesNeverExceedFeeScope() public view {
        for (uint256 a; a < 2; ++a) {
            address account = handler.account(a);
            for (uint256 s; s < 3; ++s) {
                (, uint128 feeBudget) = handler.feeScope(s);
                assertLe(handler.sessionValidator().feesChargedOf(account, _sid(s)), feeBudget, "charged");
                assertLe(handler.ghostFees(handler.ghostKey(a, s)), feeBudget, "paid");
            }
        }
        assertEq(handler.violationCount(SessionHandler.Violation.Fees), 0, handler.lastViolation());
    }

    function invariant_revokedSessionNeverValidates() public view {
        assertEq(handler.violationCount(SessionHandler.Violation.Revoked), 0, handler.lastViolation());
    }

    /// An operation presenting a permission the owner revoked in the current epoch is never accepted, and the
    /// validator's views agree with the owner's revocations.
    function invariant_revokedPermissionNeverValidates() public view {
        for (uint256 a; a < 2; ++a) {
            address account = handler.account(a);
            for (uint256 s; s < 3; ++s) {
                bytes32 key = handler.ghostKey(a, s);
                for (uint256 k; k < 6; ++k) {
                    assertEq(
                        handler.sessionValidator()
                            .permissionRevoked(account, _sid(s), SessionEncoding.leaf(handler.catalog(s, k))),
                        handler.modelRevoked(key, k),
                        "permissionRevoked"
                    );
                }
            }
        }
        assertEq(handler.violationCount(SessionHandler.Violation.RevokedPermission), 0, handler.lastViolation());
    }

    function invariant_validationDataWellFormed() public view {
        assertEq(handler.violationCount(SessionHandler.Violation.ValidationData), 0, handler.lastViolation());
    }

    /// Not an invariant: fixed pseudo-random runs through the handler (20 runs of 20 actions, each from the initial
    /// state, like the campaign) proving that it reaches both accepted and rejected operations: a handler whose
    /// operations were all rejected would prove nothing.
    function test_handler_reachesAcceptedAndRejectedOperations() public {
        uint256 accepted;
        uint256 rejected;
        uint256 executed;
        uint256 revokedAttempts;
        uint256 selfRevoked;
        for (uint256 run; run < 20; ++run) {
            uint256 snapshot = vm.snapshotState();
            for (uint256 i; i < 20; ++i) {
                uint256 r = uint256(keccak256(abi.encode("walk", run, i)));
                uint256 action = r % 21;
                if (action < 12) handler.use(r >> 8, r >> 16, r >> 24);
                else if (action < 15) handler.grant(r >> 8, r >> 16);
                else if (action == 15) handler.revoke(r >> 8, r >> 16);
                else if (action == 20) handler.revokePermission(r >> 8, r >> 16, r >> 24);
                else if (action == 16) handler.ownerSignsEnable(r >> 8, r >> 16);
                else if (action == 17) handler.warp(r >> 8);
                else if (action == 18) handler.revokeAll(r >> 8);
                else handler.reinstall(r >> 8, (r >> 16) % 2 == 0);
            }
            for (uint256 k; k <= uint256(type(SessionHandler.Violation).max); ++k) {
                assertEq(handler.violationCount(SessionHandler.Violation(k)), 0, handler.lastViolation());
            }
            accepted += handler.acceptedOps();
            rejected += handler.rejectedOps();
            executed += handler.executedCalls();
            revokedAttempts += handler.revokedPermissionAttempts();
            selfRevoked += handler.selfRevocations();
            vm.revertToState(snapshot);
        }
        console.log("accepted", accepted, "rejected", rejected);
        console.log("executed calls", executed);
        console.log("revoked-permission attempts", revokedAttempts, "self-revocations", selfRevoked);
        assertGt(accepted, 40, "too few accepted operations");
        assertGt(rejected, 40, "too few rejected operations");
        assertGt(revokedAttempts, 0, "the key never tried a revoked permission");
        assertGt(selfRevoked, 0, "the key never revoked its session");
    }
}
