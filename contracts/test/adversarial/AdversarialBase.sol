// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionTestBase} from "../utils/SessionTestBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {Recorder} from "../mocks/Recorder.sol";

/// @notice Shared helpers of the adversarial suite: raw operations whose calldata and signature the test controls.
abstract contract AdversarialBase is SessionTestBase {
    /// @notice Selector of `ping(uint256)`, the recorder's "business" call in most cases.
    bytes4 internal constant PING = bytes4(keccak256("ping(uint256)"));
    /// @notice Selector of `pong(uint256,int256)`.
    bytes4 internal constant PONG = bytes4(keccak256("pong(uint256,int256)"));

    Recorder internal recorder;
    Recorder internal recorder2;

    function setUp() public virtual override {
        super.setUp();
        recorder = new Recorder();
        recorder2 = new Recorder();
        vm.label(address(recorder), "recorder");
        vm.label(address(recorder2), "recorder2");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Operations
    // ------------------------------------------------------------------------------------------------------------

    /// @notice An unsigned session operation (lane 1 of the validator) with raw `callData`.
    function _op(IEntryPoint entryPoint, address account, bytes memory callData)
        internal
        view
        returns (PackedUserOperation memory)
    {
        return _buildUserOp(entryPoint, account, _sessionNonceKey(1), callData);
    }

    /// @notice A use-mode operation of the default key with one call proof per entry of `calls`.
    function _useOpN(
        IEntryPoint entryPoint,
        address account,
        bytes memory callData,
        SessionTypes.Session memory session,
        CallProof[] memory calls
    ) internal view returns (PackedUserOperation memory) {
        return _useOp(entryPoint, account, callData, session, calls, SESSION_KEY);
    }

    /// @notice One call entry of the signature wire format from raw permission bytes (no struct encoding).
    function _rawCallEntry(bytes memory permissionData, bytes32[] memory proof, uint32 window)
        internal
        pure
        returns (bytes memory)
    {
        return bytes.concat(
            bytes2(uint16(permissionData.length)),
            permissionData,
            bytes1(uint8(proof.length)),
            abi.encodePacked(proof),
            bytes4(window)
        );
    }

    /// @notice Signs `op` in use mode with raw call entries (`count` of them, already encoded).
    function _signUseRaw(
        IEntryPoint entryPoint,
        PackedUserOperation memory op,
        SessionTypes.Session memory session,
        uint8 count,
        bytes memory entries
    ) internal view returns (PackedUserOperation memory) {
        bytes memory sig = _sign(SESSION_KEY, _userOpHash(entryPoint, op));
        op.signature = bytes.concat(bytes1(SessionTypes.MODE_USE), abi.encode(session), bytes1(count), entries, sig);
        return op;
    }

    /// @notice A use-mode operation of `env`'s account whose one call `target.call{value}(data)` comes with the empty
    ///         permission entry (`permissionLength = 0`, nothing after it) that stands for the session's own
    ///         revocation, signed by the default key.
    function _emptyPermissionOp(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        address target,
        uint256 value,
        bytes memory data
    ) internal view returns (PackedUserOperation memory) {
        PackedUserOperation memory op = _op(env.entryPoint, address(env.account), _executeSingle(target, value, data));
        return _signUseRaw(env.entryPoint, op, session, 1, SessionEncoding.selfRevocationEntry());
    }

    /// @notice Sends `op` and returns whether handleOps succeeded, with its revert data otherwise.
    function _tryHandleOp(IEntryPoint entryPoint, PackedUserOperation memory op)
        internal
        returns (bool ok, bytes memory reason)
    {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.prank(bundler, bundler);
        try entryPoint.handleOps(ops, bundler) {
            ok = true;
        } catch (bytes memory data) {
            reason = data;
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Sessions, permissions, proofs
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Grants a one-leaf session over `permission` on `account` and returns it.
    function _grantSingle(IEntryPoint entryPoint, address account, SessionTypes.Permission memory permission)
        internal
        returns (SessionTypes.Session memory session)
    {
        session = _singleLeafSession(permission);
        _grant(entryPoint, account, session);
    }

    /// @notice Grants, on the current {onEachEntryPoint} run's account, the session of the two-leaf tree of `a` and
    /// `b`, and returns it with the proofs of `a` and `b` (same order).
    function _grantPair(SessionTypes.Permission memory a, SessionTypes.Permission memory b)
        internal
        returns (SessionTypes.Session memory session, bytes32[][] memory proofs)
    {
        bytes32 root;
        (root, proofs) = _tree(_pair(a, b));
        session = _session(root);
        _grant(currentEnv.entryPoint, address(currentEnv.account), session);
    }

    /// @notice The tree of `permissions`: its root and each permission's proof (same order).
    function _tree(SessionTypes.Permission[] memory permissions)
        internal
        pure
        returns (bytes32 root, bytes32[][] memory proofs)
    {
        bytes32[] memory leaves = new bytes32[](permissions.length);
        for (uint256 i; i < permissions.length; ++i) {
            leaves[i] = SessionEncoding.leaf(permissions[i]);
        }
        bytes32[] memory tree = SessionEncoding.buildTree(leaves);
        root = tree[0];
        proofs = new bytes32[][](permissions.length);
        for (uint256 i; i < permissions.length; ++i) {
            proofs[i] = SessionEncoding.proofOf(tree, leaves[i]);
        }
    }

    /// @notice A two-permission array.
    function _pair(SessionTypes.Permission memory a, SessionTypes.Permission memory b)
        internal
        pure
        returns (SessionTypes.Permission[] memory permissions)
    {
        permissions = new SessionTypes.Permission[](2);
        permissions[0] = a;
        permissions[1] = b;
    }

    /// @notice Call proofs for two calls.
    function _two(
        SessionTypes.Permission memory a,
        bytes32[] memory proofA,
        SessionTypes.Permission memory b,
        bytes32[] memory proofB
    ) internal pure returns (CallProof[] memory calls) {
        calls = new CallProof[](2);
        calls[0] = CallProof({permission: a, proof: proofA, window: 0});
        calls[1] = CallProof({permission: b, proof: proofB, window: 0});
    }

    /// @notice `n` call proofs all naming `permission` with `proof`.
    function _repeat(SessionTypes.Permission memory permission, bytes32[] memory proof, uint256 n)
        internal
        pure
        returns (CallProof[] memory calls)
    {
        calls = new CallProof[](n);
        for (uint256 i; i < n; ++i) {
            calls[i] = CallProof({permission: permission, proof: proof, window: 0});
        }
    }

    /// @notice A one-call proof list with an explicit rate-limit window.
    function _oneAt(SessionTypes.Permission memory permission, bytes32[] memory proof, uint32 window)
        internal
        pure
        returns (CallProof[] memory calls)
    {
        calls = new CallProof[](1);
        calls[0] = CallProof({permission: permission, proof: proof, window: window});
    }

    /// @notice A two-call execution batch.
    function _batch2(Execution memory a, Execution memory b) internal pure returns (Execution[] memory executions) {
        executions = new Execution[](2);
        executions[0] = a;
        executions[1] = b;
    }

    /// @notice `ping(x)` calldata.
    function _ping(uint256 x) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(PING, x);
    }

    /// @notice The leaf of `permission`.
    function _leaf(SessionTypes.Permission memory permission) internal pure returns (bytes32) {
        return SessionEncoding.leaf(permission);
    }

    /// @notice The id of `session`.
    function _sid(SessionTypes.Session memory session) internal pure returns (bytes32) {
        return SessionEncoding.sessionId(session);
    }

    /// @notice Asserts that `recorder` received exactly `count` calls so far.
    function _assertRecorded(Recorder target, uint256 count) internal view {
        assertEq(target.recordedCount(), count, "recorded calls");
    }

    /// @notice Asserts that call `i` recorded by `target` is `(from, value, data)`.
    function _assertRecordedCall(Recorder target, uint256 i, address from, uint256 value, bytes memory data)
        internal
        view
    {
        (address actualFrom, uint256 actualValue, bytes memory actualData) = target.recorded(i);
        assertEq(actualFrom, from, "recorded sender");
        assertEq(actualValue, value, "recorded value");
        assertEq(actualData, data, "recorded calldata");
    }
}
