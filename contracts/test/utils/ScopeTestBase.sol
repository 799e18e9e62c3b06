// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionTestBase} from "./SessionTestBase.sol";
import {CallProof, SessionEncoding} from "./SessionEncoding.sol";
import {ArgTarget} from "../mocks/ArgTarget.sol";

/// @notice Shared helpers of the permission-enforcement tests (Scope, Rules, Limits, Batch).
abstract contract ScopeTestBase is SessionTestBase {
    /// @notice Default call target.
    ArgTarget internal target;
    /// @notice A second contract, never allowed unless a test says so.
    ArgTarget internal otherTarget;

    function setUp() public virtual override {
        super.setUp();
        target = new ArgTarget();
        otherTarget = new ArgTarget();
        vm.label(address(target), "target");
        vm.label(address(otherTarget), "otherTarget");
    }

    /// @notice The EntryPoint v0.8 host.
    function _v08() internal view returns (AccountEnv memory) {
        return _env(EntryPointVersion.V08);
    }

    /// @notice The EntryPoint v0.7 host.
    function _v07() internal view returns (AccountEnv memory) {
        return _env(EntryPointVersion.V07);
    }

    /// @notice Calldata of `ArgTarget.act(a, b, c, d)`.
    function _act(uint256 a, int256 b, address c, bytes32 d) internal pure returns (bytes memory) {
        return abi.encodeCall(ArgTarget.act, (a, b, c, d));
    }

    /// @notice Calldata of `act` with four raw argument words.
    function _actWords(bytes32 w0, bytes32 w1, bytes32 w2, bytes32 w3) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ArgTarget.act.selector, w0, w1, w2, w3);
    }

    /// @notice A permission to call `act` on {target}.
    function _actPermission() internal view returns (SessionTypes.Permission memory) {
        return _permission(address(target), ArgTarget.act.selector);
    }

    /// @notice `_session(root)` with a salt, to tell sessions apart.
    function _saltedSession(bytes32 root, bytes32 salt) internal view returns (SessionTypes.Session memory session) {
        session = _session(root);
        session.salt = salt;
    }

    /// @notice Grants `session` on the env's account through an owner operation.
    function _grantOn(AccountEnv memory env, SessionTypes.Session memory session) internal {
        _grant(env.entryPoint, address(env.account), session);
    }

    /// @notice Grants the single-leaf session of `permission` and builds a use operation of one call under it.
    function _grantedOp1(
        AccountEnv memory env,
        SessionTypes.Permission memory permission,
        address callTarget,
        uint256 value,
        bytes memory data
    ) internal returns (PackedUserOperation memory op) {
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        op = _op1(env, session, permission, callTarget, value, data);
    }

    /// @notice A use operation of one call under the single-leaf `session`, naming rate-limit window `window`.
    function _op1Window(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        address callTarget,
        uint256 value,
        bytes memory data,
        uint32 window
    ) internal view returns (PackedUserOperation memory) {
        CallProof[] memory calls = SessionEncoding.one(permission, _noProof());
        calls[0].window = window;
        return _useOp(
            env.entryPoint, address(env.account), _executeSingle(callTarget, value, data), session, calls, SESSION_KEY
        );
    }

    /// @notice One call proof of a single-leaf session's `permission` (empty proof, window 0).
    function _oneCall(SessionTypes.Permission memory permission) internal pure returns (CallProof[] memory) {
        return SessionEncoding.one(permission, new bytes32[](0));
    }

    /// @notice Call proofs of `permissions` in `tree`, all with window 0.
    function _proofs(SessionTypes.Permission[] memory permissions, bytes32[] memory tree)
        internal
        pure
        returns (CallProof[] memory calls)
    {
        calls = new CallProof[](permissions.length);
        for (uint256 i; i < permissions.length; ++i) {
            calls[i].permission = permissions[i];
            calls[i].proof = SessionEncoding.proofOf(tree, SessionEncoding.leaf(permissions[i]));
        }
    }

    /// @notice The tree over the leaves of `permissions`.
    function _tree(SessionTypes.Permission[] memory permissions) internal pure returns (bytes32[] memory) {
        bytes32[] memory leaves = new bytes32[](permissions.length);
        for (uint256 i; i < permissions.length; ++i) {
            leaves[i] = SessionEncoding.leaf(permissions[i]);
        }
        return SessionEncoding.buildTree(leaves);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Direct validation (the validator called by the account, as the account does it), for fast fuzzing
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Grants `session` by calling the validator as `account` (what the owner's operation does).
    function _grantDirect(address account, SessionTypes.Session memory session) internal {
        vm.prank(account);
        validator.grantSession(session);
    }

    /// @notice An operation of `account` with `callData`, signed by the session key over a fixed hash.
    function _directOp(
        address account,
        bytes memory callData,
        SessionTypes.Session memory session,
        CallProof[] memory calls
    ) internal pure returns (PackedUserOperation memory op, bytes32 userOpHash) {
        userOpHash = keccak256(abi.encode("keyscope.direct", callData));
        op.sender = account;
        op.callData = callData;
        op.signature = SessionEncoding.useSignature(session, calls, _sign(SESSION_KEY, userOpHash));
    }

    /// @notice Calls `validator.validateUserOp(op, userOpHash)` as `op.sender`.
    function _validateAs(PackedUserOperation memory op, bytes32 userOpHash) internal returns (uint256) {
        vm.prank(op.sender);
        return validator.validateUserOp(op, userOpHash);
    }

    /// @notice Splits ERC-4337 validation data.
    function _unpack(uint256 validationData)
        internal
        pure
        returns (bool sigFailed, uint48 validUntil, uint48 validAfter)
    {
        uint160 aggregator;
        (aggregator, validUntil, validAfter) = _unpackValidationData(validationData);
        sigFailed = aggregator != 0;
    }
}
