// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {CallProof} from "../utils/SessionEncoding.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Case 4: batches. Every call of a batch is checked against its own permission; one bad call rejects
///         the whole operation; a proof is never "shared" between calls beyond proving the same leaf.
contract BatchesAttackTest is AdversarialBase {
    function _pingOnly(uint256 x) internal view returns (SessionTypes.Permission memory permission) {
        permission = _permission(address(recorder), PING);
        permission.rules = new SessionTypes.ArgRule[](1);
        permission.rules[0] = _rule(SessionTypes.RuleOperator.Eq, 0, bytes32(x));
    }

    function test_validateUserOp_reverts_whenBatchIsEmpty() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Session memory session =
            _grantSingle(currentEnv.entryPoint, account, _permission(address(recorder), PING));
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, _executeBatch(new Execution[](0)), session, new CallProof[](0));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidBatchSize.selector, 0, validator.MAX_CALLS())
        );
    }

    function test_validateUserOp_reverts_whenBatchIsAllowedThenForbiddenTarget() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        permission.maxUses = 5;
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        bytes memory callData = _executeBatch(
            _batch2(Execution(address(recorder), 0, _ping(1)), Execution(address(recorder2), 0, _ping(1)))
        );
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, callData, session, _repeat(permission, _noProof(), 2));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.TargetNotAllowed.selector, 1, address(recorder2), address(recorder)
            )
        );
        (uint64 uses,,) = validator.usageOf(account, _sid(session), _leaf(permission));
        assertEq(uses, 0, "the allowed half consumed nothing");
        _assertRecorded(recorder, 0);
        _assertRecorded(recorder2, 0);
    }

    function test_validateUserOp_reverts_whenBatchIsAllowedThenForbiddenSelector() public onEachEntryPoint {
        bytes4 other = bytes4(keccak256("drain()"));
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        bytes memory callData = _executeBatch(
            _batch2(Execution(address(recorder), 0, _ping(1)), Execution(address(recorder), 0, abi.encode(other)))
        );
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, callData, session, _repeat(permission, _noProof(), 2));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.SelectorNotAllowed.selector, 1, other, PING)
        );
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_reverts_whenSecondCallReusesProofOfDifferentCall() public onEachEntryPoint {
        // the proof of "ping(1)" presented again for "ping(2)": the second call must match that leaf on its own
        address account = address(currentEnv.account);
        SessionTypes.Permission memory one = _pingOnly(1);
        SessionTypes.Permission memory three = _pingOnly(3);
        (SessionTypes.Session memory session, bytes32[][] memory proofs) = _grantPair(one, three);
        bytes memory callData = _executeBatch(
            _batch2(Execution(address(recorder), 0, _ping(1)), Execution(address(recorder), 0, _ping(2)))
        );
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, callData, session, _two(one, proofs[0], one, proofs[0]));
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ArgumentRuleFailed.selector, 1, 0, 0)
        );
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_reverts_whenProofsAreSwapped() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory a = _permission(address(recorder), PING);
        SessionTypes.Permission memory b = _permission(address(recorder2), PING);
        (SessionTypes.Session memory session, bytes32[][] memory proofs) = _grantPair(a, b);
        bytes memory callData = _executeBatch(
            _batch2(Execution(address(recorder), 0, _ping(1)), Execution(address(recorder2), 0, _ping(2)))
        );
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, callData, session, _two(b, proofs[1], a, proofs[0]));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.TargetNotAllowed.selector, 0, address(recorder), address(recorder2)
            )
        );
        // in the right order the same batch is fine
        op = _useOpN(currentEnv.entryPoint, account, callData, session, _two(a, proofs[0], b, proofs[1]));
        _handleOp(currentEnv.entryPoint, op);
        _assertRecorded(recorder, 1);
        _assertRecorded(recorder2, 1);
    }

    function test_validateUserOp_countsEachCall_whenSameProofCoversIdenticalCalls() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _pingOnly(1);
        permission.maxUses = 2;
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        Execution memory call = Execution(address(recorder), 0, _ping(1));
        PackedUserOperation memory op = _useOpN(
            currentEnv.entryPoint,
            account,
            _executeBatch(_batch2(call, call)),
            session,
            _repeat(permission, _noProof(), 2)
        );
        _handleOp(currentEnv.entryPoint, op);
        (uint64 uses,,) = validator.usageOf(account, _sid(session), _leaf(permission));
        assertEq(uses, 2, "both calls counted");
        // a third call of a max-2 permission, even alone, is over the limit
        op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(1));
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.UsageLimitReached.selector, 0, 3, 2)
        );
        // and three identical calls in one batch of a fresh session are over it too
        session.salt = bytes32(uint256(1));
        _grant(currentEnv.entryPoint, account, session);
        Execution[] memory three = new Execution[](3);
        three[0] = call;
        three[1] = call;
        three[2] = call;
        op = _useOpN(currentEnv.entryPoint, account, _executeBatch(three), session, _repeat(permission, _noProof(), 3));
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.UsageLimitReached.selector, 2, 3, 2)
        );
        _assertRecorded(recorder, 2);
    }

    function test_validateUserOp_reverts_whenFewerProofsThanCalls() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        Execution memory call = Execution(address(recorder), 0, _ping(1));
        PackedUserOperation memory op = _useOpN(
            currentEnv.entryPoint,
            account,
            _executeBatch(_batch2(call, call)),
            session,
            _repeat(permission, _noProof(), 1)
        );
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.CallCountMismatch.selector, 2, 1)
        );
        op = _useOpN(
            currentEnv.entryPoint,
            account,
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            _repeat(permission, _noProof(), 2)
        );
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.CallCountMismatch.selector, 1, 2)
        );
    }
}
