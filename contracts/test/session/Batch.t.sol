// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {
    CallType,
    ERC7579Utils,
    Mode,
    ModeSelector,
    ModePayload
} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {ArgTarget} from "../mocks/ArgTarget.sol";
import {ScopeTestBase} from "../utils/ScopeTestBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";

/// @notice Batches: one permission entry per call, per-call proofs from multi-leaf trees, batch size bounds.
contract BatchTest is ScopeTestBase {
    address internal bob = makeAddr("bob");

    /// P0 act on target, P1 other on otherTarget, P2 token.transfer, P3 native to bob, P4 fail on target.
    function _permissions() internal view returns (SessionTypes.Permission[] memory permissions) {
        permissions = new SessionTypes.Permission[](5);
        permissions[0] = _actPermission();
        permissions[1] = _permission(address(otherTarget), ArgTarget.other.selector);
        permissions[2] = _permission(address(token), IERC20.transfer.selector);
        permissions[3].target = bob;
        permissions[3].flags = SessionTypes.FLAG_NATIVE_TRANSFER;
        permissions[3].valueLimit = 1 ether;
        permissions[4] = _permission(address(target), ArgTarget.fail.selector);
    }

    struct Fixture {
        SessionTypes.Permission[] permissions;
        bytes32[] tree;
        SessionTypes.Session session;
        CallProof[] proofs;
    }

    function _fixture() internal view returns (Fixture memory f) {
        f.permissions = _permissions();
        f.tree = _tree(f.permissions);
        f.session = _session(f.tree[0]);
        f.proofs = _proofs(f.permissions, f.tree);
    }

    /// The fixture, with its session granted on `env`'s account.
    function _grantedFixture(AccountEnv memory env) internal returns (Fixture memory f) {
        f = _fixture();
        _grantOn(env, f.session);
    }

    function _pick(CallProof[] memory proofs, uint256[] memory indices) internal pure returns (CallProof[] memory c) {
        c = new CallProof[](indices.length);
        for (uint256 i; i < indices.length; ++i) {
            c[i] = proofs[indices[i]];
        }
    }

    function _idx(uint256 a, uint256 b) internal pure returns (uint256[] memory r) {
        r = new uint256[](2);
        r[0] = a;
        r[1] = b;
    }

    function _batchOp(AccountEnv memory env, Fixture memory f, Execution[] memory executions, CallProof[] memory calls)
        internal
        view
        returns (PackedUserOperation memory)
    {
        return _useOp(env.entryPoint, address(env.account), _executeBatch(executions), f.session, calls, SESSION_KEY);
    }

    function _actExec(address to, uint256 a) internal view returns (Execution memory) {
        return Execution(to, 0, _act(a, 0, bob, bytes32(0)));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Allowed batches
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_executesBatch_withProofsFromMultiLeafTree() public onEachEntryPoint {
        Fixture memory f = _fixture();
        token.mint(address(currentEnv.account), 100);
        _grantOn(currentEnv, f.session);
        Execution[] memory executions = new Execution[](4);
        executions[0] = _actExec(address(target), 42);
        executions[1] = Execution(address(token), 0, abi.encodeCall(IERC20.transfer, (bob, 100)));
        executions[2] = Execution(address(otherTarget), 0, abi.encodeCall(ArgTarget.other, ()));
        executions[3] = Execution(bob, 0.5 ether, "");
        CallProof[] memory calls = new CallProof[](4);
        calls[0] = f.proofs[0];
        calls[1] = f.proofs[2];
        calls[2] = f.proofs[1];
        calls[3] = f.proofs[3];
        assertGt(calls[0].proof.length, 1, "multi-level proofs");
        _handleOp(currentEnv.entryPoint, _batchOp(currentEnv, f, executions, calls));
        assertEq(target.calls(), 1);
        assertEq(target.lastA(), 42);
        assertEq(otherTarget.calls(), 1);
        assertEq(token.balanceOf(bob), 100);
        assertEq(bob.balance, 0.5 ether);
    }

    function test_validateUserOp_executesBatch_whenSamePermissionNamedPerCall() public {
        AccountEnv memory env = _v08();
        Fixture memory f = _grantedFixture(env);
        Execution[] memory executions = new Execution[](3);
        for (uint256 i; i < 3; ++i) {
            executions[i] = _actExec(address(target), i);
        }
        uint256[] memory indices = new uint256[](3);
        _handleOp(env.entryPoint, _batchOp(env, f, executions, _pick(f.proofs, indices)));
        assertEq(target.calls(), 3);
    }

    // ------------------------------------------------------------------------------------------------------------
    // One permission entry per call
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenFewerEntriesThanCalls() public {
        AccountEnv memory env = _v08();
        Fixture memory f = _grantedFixture(env);
        Execution[] memory executions = new Execution[](2);
        executions[0] = _actExec(address(target), 1);
        executions[1] = _actExec(address(target), 2);
        uint256[] memory one = new uint256[](1);
        PackedUserOperation memory op = _batchOp(env, f, executions, _pick(f.proofs, one));
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.CallCountMismatch.selector, 2, 1)
        );
    }

    function test_validateUserOp_reverts_whenMoreEntriesThanCalls() public {
        AccountEnv memory env = _v08();
        Fixture memory f = _grantedFixture(env);
        Execution[] memory executions = new Execution[](2);
        executions[0] = _actExec(address(target), 1);
        executions[1] = _actExec(address(target), 2);
        uint256[] memory three = new uint256[](3);
        PackedUserOperation memory op = _batchOp(env, f, executions, _pick(f.proofs, three));
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.CallCountMismatch.selector, 2, 3)
        );

        // a single call takes exactly one entry too
        bytes memory single = _executeSingle(address(target), 0, _act(1, 0, bob, bytes32(0)));
        uint256[] memory two = new uint256[](2);
        op = _useOp(env.entryPoint, address(env.account), single, f.session, _pick(f.proofs, two), SESSION_KEY);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.CallCountMismatch.selector, 1, 2)
        );
        op = _useOp(env.entryPoint, address(env.account), single, f.session, new CallProof[](0), SESSION_KEY);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.CallCountMismatch.selector, 1, 0)
        );
        assertEq(target.calls(), 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // The failing call is named
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenSecondCallTargetNotAllowed() public onEachEntryPoint {
        Fixture memory f = _grantedFixture(currentEnv);
        Execution[] memory executions = new Execution[](2);
        executions[0] = _actExec(address(target), 1);
        executions[1] = _actExec(address(otherTarget), 2); // under P0, which names `target`
        PackedUserOperation memory op = _batchOp(currentEnv, f, executions, _pick(f.proofs, _idx(0, 0)));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.TargetNotAllowed.selector, 1, address(otherTarget), address(target)
            )
        );
        assertEq(target.calls(), 0);
    }

    function test_validateUserOp_reverts_whenSecondCallBreaksItsScope() public {
        AccountEnv memory env = _v08();
        Fixture memory f = _grantedFixture(env);
        Execution[] memory executions = new Execution[](2);
        executions[0] = _actExec(address(target), 1);

        // wrong selector under P1
        executions[1] = Execution(address(otherTarget), 0, _act(1, 0, bob, bytes32(0)));
        PackedUserOperation memory op = _batchOp(env, f, executions, _pick(f.proofs, _idx(0, 1)));
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.SelectorNotAllowed.selector, 1, ArgTarget.act.selector, ArgTarget.other.selector
            )
        );

        // too much value under P3
        executions[1] = Execution(bob, 1 ether + 1, "");
        op = _batchOp(env, f, executions, _pick(f.proofs, _idx(0, 3)));
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ValueLimitExceeded.selector, 1, 1 ether + 1, 1 ether)
        );

        // the account itself
        executions[1] = Execution(address(env.account), 0, abi.encodeCall(ArgTarget.act, (1, 0, bob, bytes32(0))));
        op = _batchOp(env, f, executions, _pick(f.proofs, _idx(0, 0)));
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 1, address(env.account))
        );

        // forbidden call first: index 0
        executions[0] = Execution(address(0), 0, abi.encodeCall(ArgTarget.act, (1, 0, bob, bytes32(0))));
        executions[1] = _actExec(address(target), 1);
        op = _batchOp(env, f, executions, _pick(f.proofs, _idx(0, 0)));
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, address(0))
        );
        assertEq(target.calls(), 0);
    }

    function test_validateUserOp_reverts_whenSecondCallFailsArgumentRule() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        permission.rules = new SessionTypes.ArgRule[](1);
        permission.rules[0] = _rule(SessionTypes.RuleOperator.Lte, 0, bytes32(uint256(10)));
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        Execution[] memory executions = new Execution[](2);
        executions[0] = _actExec(address(target), 10);
        executions[1] = _actExec(address(target), 11);
        CallProof[] memory calls = new CallProof[](2);
        calls[0].permission = permission;
        calls[1].permission = permission;
        PackedUserOperation memory op =
            _useOp(env.entryPoint, address(env.account), _executeBatch(executions), session, calls, SESSION_KEY);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ArgumentRuleFailed.selector, 1, 0, 0)
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Execution types
    // ------------------------------------------------------------------------------------------------------------

    function _tryMode(bytes1 callType) internal pure returns (Mode) {
        return ERC7579Utils.encodeMode(
            CallType.wrap(callType), ERC7579Utils.EXECTYPE_TRY, ModeSelector.wrap(0), ModePayload.wrap(0)
        );
    }

    function test_validateUserOp_executesBatch_whenTryExecType() public onEachEntryPoint {
        Fixture memory f = _grantedFixture(currentEnv);
        Execution[] memory executions = new Execution[](3);
        executions[0] = _actExec(address(target), 1);
        executions[1] = Execution(address(target), 0, abi.encodeCall(ArgTarget.fail, ()));
        executions[2] = Execution(address(otherTarget), 0, abi.encodeCall(ArgTarget.other, ()));
        uint256[] memory indices = new uint256[](3);
        indices[1] = 4;
        indices[2] = 1;
        bytes memory callData = _executeCallData(_tryMode(0x01), ERC7579Utils.encodeBatch(executions));
        PackedUserOperation memory op = _useOp(
            currentEnv.entryPoint,
            address(currentEnv.account),
            callData,
            f.session,
            _pick(f.proofs, indices),
            SESSION_KEY
        );
        // the failing call does not undo the others
        vm.expectEmit(address(currentEnv.account));
        emit ERC7579Utils.ERC7579TryExecuteFail(1, abi.encodeWithSelector(ArgTarget.Failed.selector));
        _handleOp(currentEnv.entryPoint, op);
        assertEq(target.calls(), 1);
        assertEq(otherTarget.calls(), 1);
    }

    function test_validateUserOp_executesSingle_whenTryExecType() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        bytes memory callData =
            _executeCallData(_tryMode(0x00), abi.encodePacked(address(target), uint256(0), _act(5, 0, bob, 0)));
        _handleOp(
            env.entryPoint,
            _useOp(env.entryPoint, address(env.account), callData, session, _oneCall(permission), SESSION_KEY)
        );
        assertEq(target.lastA(), 5);

        // the scope is checked the same way in try mode
        callData =
            _executeCallData(_tryMode(0x00), abi.encodePacked(address(otherTarget), uint256(0), _act(5, 0, bob, 0)));
        PackedUserOperation memory op =
            _useOp(env.entryPoint, address(env.account), callData, session, _oneCall(permission), SESSION_KEY);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.TargetNotAllowed.selector, 0, address(otherTarget), address(target)
            )
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Batch size
    // ------------------------------------------------------------------------------------------------------------

    function _actBatch(AccountEnv memory env, SessionTypes.Session memory session, uint256 count)
        internal
        view
        returns (PackedUserOperation memory)
    {
        SessionTypes.Permission memory permission = _actPermission();
        Execution[] memory executions = new Execution[](count);
        CallProof[] memory calls = new CallProof[](count);
        for (uint256 i; i < count; ++i) {
            executions[i] = _actExec(address(target), i);
            calls[i].permission = permission;
        }
        return _useOp(env.entryPoint, address(env.account), _executeBatch(executions), session, calls, SESSION_KEY);
    }

    function test_validateUserOp_executesBatch_whenMaxCalls() public onEachEntryPoint {
        uint256 max = validator.MAX_CALLS();
        SessionTypes.Session memory session = _singleLeafSession(_actPermission());
        _grantOn(currentEnv, session);
        _handleOp(currentEnv.entryPoint, _actBatch(currentEnv, session, max));
        assertEq(target.calls(), max);
        assertEq(target.lastA(), max - 1);
    }

    function test_validateUserOp_reverts_whenMoreThanMaxCalls() public {
        uint256 max = validator.MAX_CALLS();
        AccountEnv memory env = _v08();
        SessionTypes.Session memory session = _singleLeafSession(_actPermission());
        _grantOn(env, session);
        PackedUserOperation memory op = _actBatch(env, session, max + 1);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.InvalidBatchSize.selector, max + 1, max)
        );
    }

    function test_validateUserOp_reverts_whenBatchEmpty() public {
        AccountEnv memory env = _v08();
        SessionTypes.Session memory session = _singleLeafSession(_actPermission());
        _grantOn(env, session);
        PackedUserOperation memory op = _actBatch(env, session, 0);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidBatchSize.selector, 0, validator.MAX_CALLS())
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Proofs
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenProofOfAnotherLeaf() public {
        AccountEnv memory env = _v08();
        Fixture memory f = _grantedFixture(env);
        Execution[] memory executions = new Execution[](2);
        executions[0] = _actExec(address(target), 1);
        executions[1] = _actExec(address(target), 2);
        CallProof[] memory calls = _pick(f.proofs, _idx(0, 0));
        calls[1] = CallProof({permission: f.permissions[0], proof: f.proofs[1].proof, window: 0});
        PackedUserOperation memory op = _batchOp(env, f, executions, calls);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.PermissionNotInSession.selector, 1, SessionEncoding.leaf(f.permissions[0])
            )
        );
    }

    function test_validateUserOp_reverts_whenPermissionNotInTree() public {
        AccountEnv memory env = _v08();
        Fixture memory f = _grantedFixture(env);
        // P0 with a value limit the owner never granted, presented with P0's real proof
        SessionTypes.Permission memory widened = _actPermission();
        widened.valueLimit = 100 ether;
        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(token), 0, abi.encodeCall(IERC20.transfer, (bob, 0)));
        executions[1] = Execution(address(target), 1 ether, _act(1, 0, bob, bytes32(0)));
        CallProof[] memory calls = _pick(f.proofs, _idx(2, 0));
        calls[1] = CallProof({permission: widened, proof: f.proofs[0].proof, window: 0});
        PackedUserOperation memory op = _batchOp(env, f, executions, calls);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.PermissionNotInSession.selector, 1, SessionEncoding.leaf(widened)
            )
        );

        // an empty proof only proves a leaf that is the root itself
        CallProof[] memory noProof = _pick(f.proofs, _idx(2, 0));
        noProof[1] = CallProof({permission: f.permissions[0], proof: new bytes32[](0), window: 0});
        op = _batchOp(env, f, executions, noProof);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.PermissionNotInSession.selector, 1, SessionEncoding.leaf(f.permissions[0])
            )
        );
    }

    function test_validateUserOp_executesBatch_withThousandLeafTree() public onEachEntryPoint {
        uint256 leafCount = 1024;
        SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](leafCount);
        for (uint256 i; i < leafCount; ++i) {
            permissions[i] = _actPermission();
            permissions[i].valueLimit = i; // distinct leaves
        }
        bytes32[] memory tree = _tree(permissions);
        SessionTypes.Session memory session = _session(tree[0]);
        uint256[3] memory used = [uint256(0), 511, 1023];

        Execution[] memory executions = new Execution[](3);
        CallProof[] memory calls = new CallProof[](3);
        for (uint256 i; i < 3; ++i) {
            executions[i] = Execution(address(target), used[i], _act(used[i], 0, bob, bytes32(0)));
            calls[i].permission = permissions[used[i]];
            calls[i].proof = SessionEncoding.proofOf(tree, SessionEncoding.leaf(permissions[used[i]]));
            assertEq(calls[i].proof.length, 10, "depth 10");
        }
        _grantOn(currentEnv, session);
        _handleOp(
            currentEnv.entryPoint,
            _useOp(
                currentEnv.entryPoint,
                address(currentEnv.account),
                _executeBatch(executions),
                session,
                calls,
                SESSION_KEY
            )
        );
        assertEq(target.calls(), 3);
        assertEq(target.received(), 511 + 1023);

        // leaf 511's value limit is 511: one more wei with its proof is out of scope
        executions[1].value = 512;
        PackedUserOperation memory op = _useOp(
            currentEnv.entryPoint, address(currentEnv.account), _executeBatch(executions), session, calls, SESSION_KEY
        );
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ValueLimitExceeded.selector, 1, 512, 511)
        );
    }
}
