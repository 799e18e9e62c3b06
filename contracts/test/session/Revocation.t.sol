// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";

/// @notice Revocation of one permission by the owner (`revokePermission`) and of the whole session by its own key
///         (a `revokeSession(sessionId)` call on the validator presented with an empty permission).
contract RevocationTest is SessionLifecycleBase {
    uint256 internal constant APPROVED = 5;

    /// The session of the two-leaf tree {transfer, approve} of the token, and the proofs of both leaves.
    SessionTypes.Session internal pairSession;
    bytes32[] internal transferProof;
    bytes32[] internal approveProof;

    function setUp() public virtual override {
        super.setUp();
        // setUp prepares both hosts, so it loops; tests run through onEachEntryPoint.
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            token.mint(_account(envs[i]), 1000);
        }
        bytes32[] memory leaves = new bytes32[](2);
        leaves[0] = _transferLeaf();
        leaves[1] = _approveLeaf();
        bytes32[] memory tree = SessionEncoding.buildTree(leaves);
        pairSession = _session(tree[0]);
        transferProof = SessionEncoding.proofOf(tree, leaves[0]);
        approveProof = SessionEncoding.proofOf(tree, leaves[1]);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    function _approvePermission() internal view returns (SessionTypes.Permission memory) {
        return _permission(address(token), IERC20.approve.selector);
    }

    function _transferLeaf() internal view returns (bytes32) {
        return SessionEncoding.leaf(_transferPermission());
    }

    function _approveLeaf() internal view returns (bytes32) {
        return SessionEncoding.leaf(_approvePermission());
    }

    function _pairId() internal view returns (bytes32) {
        return SessionEncoding.sessionId(pairSession);
    }

    function _approveCall() internal view returns (bytes memory) {
        return _executeSingle(address(token), 0, abi.encodeCall(IERC20.approve, (recipient, APPROVED)));
    }

    /// A use-mode transfer of `amount` under the pair session's transfer leaf.
    function _pairTransferOp(uint256 amount) internal view returns (PackedUserOperation memory) {
        return _useOp1(
            currentEnv.entryPoint,
            _account(currentEnv),
            _transferCall(amount),
            pairSession,
            _transferPermission(),
            transferProof
        );
    }

    /// A use-mode approval under the pair session's approve leaf.
    function _pairApproveOp() internal view returns (PackedUserOperation memory) {
        return _useOp1(
            currentEnv.entryPoint, _account(currentEnv), _approveCall(), pairSession, _approvePermission(), approveProof
        );
    }

    /// An enable-mode transfer of `amount` under the pair session's transfer leaf, with the owner's `ownerSig`.
    function _pairEnableTransferOp(uint256 amount, bytes memory ownerSig)
        internal
        view
        returns (PackedUserOperation memory)
    {
        return _enableOp(
            currentEnv.entryPoint,
            _account(currentEnv),
            _transferCall(amount),
            pairSession,
            SessionEncoding.one(_transferPermission(), transferProof),
            ownerSig
        );
    }

    /// An enable-mode approval under the pair session's approve leaf, with the owner's `ownerSig`.
    function _pairEnableApproveOp(bytes memory ownerSig) internal view returns (PackedUserOperation memory) {
        return _enableOp(
            currentEnv.entryPoint,
            _account(currentEnv),
            _approveCall(),
            pairSession,
            SessionEncoding.one(_approvePermission(), approveProof),
            ownerSig
        );
    }

    /// The owner revokes permission `leaf` of `sessionId` on the current run's account by an owner operation.
    function _revokePermission(bytes32 sessionId, bytes32 leaf) internal {
        _sendOwnerOp(
            currentEnv.entryPoint,
            _account(currentEnv),
            _validatorCall(abi.encodeCall(ISessionKeyValidator.revokePermission, (sessionId, leaf)))
        );
    }

    function _isRevoked(bytes32 leaf) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.PermissionIsRevoked.selector, 0, leaf);
    }

    function _isRevokedAt(uint256 index, bytes32 leaf) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.PermissionIsRevoked.selector, index, leaf);
    }

    function _invalidSelfRevocation(uint256 index, address target) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.InvalidSelfRevocation.selector, index, target);
    }

    function _status(bytes32 sessionId) internal view returns (uint8) {
        return uint8(validator.sessionStatus(_account(currentEnv), sessionId));
    }

    function _allowance() internal view returns (uint256) {
        return token.allowance(_account(currentEnv), recipient);
    }

    /// A use-mode operation of the current run's account running `callData`, whose calls are described by `calls`,
    /// the calls flagged in `selfRevocations` being the session's own revocation; signed by the default key.
    function _selfRevocationOp(
        bytes memory callData,
        SessionTypes.Session memory session,
        CallProof[] memory calls,
        bool[] memory selfRevocations
    ) internal view returns (PackedUserOperation memory op) {
        op = _sessionOp(currentEnv.entryPoint, _account(currentEnv), callData, "");
        op.signature = SessionEncoding.useSignature(
            session, calls, selfRevocations, _sign(SESSION_KEY, _userOpHash(currentEnv.entryPoint, op))
        );
    }

    /// A single-call operation `target.call{value}(data)` presented as the session's own revocation.
    function _singleSelfRevocationOp(
        SessionTypes.Session memory session,
        address target,
        uint256 value,
        bytes memory data
    ) internal view returns (PackedUserOperation memory) {
        (CallProof[] memory calls, bool[] memory mask) =
            SessionEncoding.withSelfRevocationAt(_transferPermission(), _noProof(), 1, 0);
        return _selfRevocationOp(_executeSingle(target, value, data), session, calls, mask);
    }

    /// The exact self-revocation of `session`, as one call.
    function _selfRevokeOp(SessionTypes.Session memory session) internal view returns (PackedUserOperation memory) {
        return _singleSelfRevocationOp(session, address(validator), 0, SessionEncoding.selfRevocationCall(session));
    }

    /// Grants the pair session on the current run's account.
    function _grantPair() internal {
        _grant(currentEnv.entryPoint, _account(currentEnv), pairSession);
    }

    // ------------------------------------------------------------------------------------------------------------
    // revokePermission: the revoked leaf fails, the others keep working
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_PermissionIsRevoked_whileOtherPermissionKeepsWorking()
        public
        onEachEntryPoint
    {
        address account = _account(currentEnv);
        _grantPair();
        _handleOp(currentEnv.entryPoint, _pairTransferOp(10));
        assertEq(token.balanceOf(recipient), 10, "transfer before revocation");

        _revokePermission(_pairId(), _transferLeaf());

        _expectScopeError(currentEnv.entryPoint, _pairTransferOp(10), _isRevoked(_transferLeaf()));
        assertEq(token.balanceOf(recipient), 10, "revoked transfer not executed");
        _handleOp(currentEnv.entryPoint, _pairApproveOp());
        assertEq(_allowance(), APPROVED, "sibling permission still works");
        assertEq(_status(_pairId()), 1, "session still active");
        assertEq(token.balanceOf(account), 990);
    }

    function test_validateUserOp_reverts_PermissionIsRevoked_forBatchWithOneRevokedCall_andRunsNothing()
        public
        onEachEntryPoint
    {
        address account = _account(currentEnv);
        _grantPair();
        _revokePermission(_pairId(), _transferLeaf());
        uint256 chargedBefore = validator.feesChargedOf(account, _pairId());

        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(token), 0, abi.encodeCall(IERC20.approve, (recipient, APPROVED)));
        executions[1] = Execution(address(token), 0, abi.encodeCall(IERC20.transfer, (recipient, 10)));
        CallProof[] memory calls = new CallProof[](2);
        calls[0] = CallProof({permission: _approvePermission(), proof: approveProof, window: 0});
        calls[1] = CallProof({permission: _transferPermission(), proof: transferProof, window: 0});
        PackedUserOperation memory op =
            _useOp(currentEnv.entryPoint, account, _executeBatch(executions), pairSession, calls, SESSION_KEY);

        _expectScopeError(currentEnv.entryPoint, op, _isRevokedAt(1, _transferLeaf()));
        assertEq(_allowance(), 0, "approval not executed");
        assertEq(token.balanceOf(recipient), 0, "transfer not executed");
        assertEq(validator.feesChargedOf(account, _pairId()), chargedBefore, "nothing charged");
    }

    function test_validateUserOp_reverts_PermissionIsRevoked_whenSignedBeforeRevocation() public onEachEntryPoint {
        _grantPair();
        // signed and waiting in a bundler's mempool while the owner revokes the permission
        PackedUserOperation memory pending = _pairTransferOp(10);
        _revokePermission(_pairId(), _transferLeaf());
        _expectScopeError(currentEnv.entryPoint, pending, _isRevoked(_transferLeaf()));
        assertEq(token.balanceOf(recipient), 0);
    }

    function test_revokePermission_keepsUsageCounters() public onEachEntryPoint {
        address account = _account(currentEnv);
        SessionTypes.Permission memory counted = _transferPermission();
        counted.maxUses = 3;
        SessionTypes.Session memory session = _singleLeafSession(counted);
        bytes32 sessionId = SessionEncoding.sessionId(session);
        _grant(currentEnv.entryPoint, account, session);
        _handleOp(
            currentEnv.entryPoint,
            _useOp1(currentEnv.entryPoint, account, _transferCall(10), session, counted, _noProof())
        );

        _revokePermission(sessionId, SessionEncoding.leaf(counted));

        (uint64 uses,,) = validator.usageOf(account, sessionId, SessionEncoding.leaf(counted));
        assertEq(uses, 1, "uses kept");
        assertTrue(validator.permissionRevoked(account, sessionId, SessionEncoding.leaf(counted)));
        PackedUserOperation memory op =
            _useOp1(currentEnv.entryPoint, account, _transferCall(10), session, counted, _noProof());
        _expectScopeError(currentEnv.entryPoint, op, _isRevoked(SessionEncoding.leaf(counted)));
    }

    // ------------------------------------------------------------------------------------------------------------
    // revokePermission before the session exists, and what it survives
    // ------------------------------------------------------------------------------------------------------------

    function test_revokePermission_survivesGrant_whenRevokedBeforeGrant() public onEachEntryPoint {
        address account = _account(currentEnv);
        _revokePermission(_pairId(), _transferLeaf());
        assertEq(_status(_pairId()), 0, "not granted yet");
        assertTrue(validator.hasRevokedPermissions(account, _pairId()), "flag before the grant");

        _grantPair();

        assertEq(_status(_pairId()), 1, "granted");
        assertTrue(validator.permissionRevoked(account, _pairId(), _transferLeaf()), "still revoked");
        _expectScopeError(currentEnv.entryPoint, _pairTransferOp(10), _isRevoked(_transferLeaf()));
        _handleOp(currentEnv.entryPoint, _pairApproveOp());
        assertEq(_allowance(), APPROVED);
    }

    function test_revokePermission_survivesGrantAgain_whenSessionActive() public onEachEntryPoint {
        _grantPair();
        _revokePermission(_pairId(), _transferLeaf());
        _grantPair(); // the owner grants the active session again: the permission stays revoked
        _expectScopeError(currentEnv.entryPoint, _pairTransferOp(10), _isRevoked(_transferLeaf()));
    }

    function test_revokePermission_survivesEnable_whenRevokedBeforeEnable() public onEachEntryPoint {
        address account = _account(currentEnv);
        bytes memory ownerSig = _ownerEnableSignature(account, pairSession);
        _revokePermission(_pairId(), _transferLeaf());

        // enabling through the revoked permission fails, enabling through the other works
        _expectScopeError(currentEnv.entryPoint, _pairEnableTransferOp(10, ownerSig), _isRevoked(_transferLeaf()));
        assertEq(_status(_pairId()), 0, "not enabled by the failed operation");
        _handleOp(currentEnv.entryPoint, _pairEnableApproveOp(ownerSig));
        assertEq(_status(_pairId()), 1, "enabled");
        assertEq(_allowance(), APPROVED);

        // replaying the owner's enable signature never brings the permission back
        _expectScopeError(currentEnv.entryPoint, _pairEnableTransferOp(10, ownerSig), _isRevoked(_transferLeaf()));
        _expectScopeError(currentEnv.entryPoint, _pairTransferOp(10), _isRevoked(_transferLeaf()));
        assertTrue(validator.permissionRevoked(account, _pairId(), _transferLeaf()));
        assertEq(token.balanceOf(recipient), 0);
    }

    function test_revokePermission_survivesEnableReplay_whenRevokedAfterEnable() public onEachEntryPoint {
        bytes memory ownerSig = _ownerEnableSignature(_account(currentEnv), pairSession);
        _handleOp(currentEnv.entryPoint, _pairEnableTransferOp(10, ownerSig));
        assertEq(token.balanceOf(recipient), 10);

        _revokePermission(_pairId(), _transferLeaf());

        _expectScopeError(currentEnv.entryPoint, _pairEnableTransferOp(10, ownerSig), _isRevoked(_transferLeaf()));
        assertEq(token.balanceOf(recipient), 10);
    }

    function test_revokeSession_keepsRevokedPermissions() public onEachEntryPoint {
        address account = _account(currentEnv);
        _grantPair();
        _revokePermission(_pairId(), _transferLeaf());
        _revoke(currentEnv.entryPoint, account, _pairId());
        assertEq(_status(_pairId()), 2, "revoked");
        assertTrue(validator.hasRevokedPermissions(account, _pairId()), "flag kept");
        assertTrue(validator.permissionRevoked(account, _pairId(), _transferLeaf()), "leaf kept");
    }

    function test_revokeAllSessions_voidsRevokedPermission_andRegrantMakesLeafUsable() public onEachEntryPoint {
        address account = _account(currentEnv);
        _grantPair();
        _revokePermission(_pairId(), _transferLeaf());

        _revokeAll(currentEnv.entryPoint, account);

        assertFalse(validator.hasRevokedPermissions(account, _pairId()), "flag of the old epoch");
        assertFalse(validator.permissionRevoked(account, _pairId(), _transferLeaf()), "leaf of the old epoch");
        _grantPair();
        _handleOp(currentEnv.entryPoint, _pairTransferOp(10));
        assertEq(token.balanceOf(recipient), 10, "usable in the new epoch");
    }

    function test_reinstall_voidsRevokedPermission() public onEachEntryPoint {
        address account = _account(currentEnv);
        _grantPair();
        _revokePermission(_pairId(), _transferLeaf());
        _uninstallValidator(currentEnv.entryPoint, account);
        _installValidator(currentEnv.entryPoint, account);

        assertFalse(validator.permissionRevoked(account, _pairId(), _transferLeaf()));
        _grantPair();
        _handleOp(currentEnv.entryPoint, _pairTransferOp(10));
        assertEq(token.balanceOf(recipient), 10);
    }

    // ------------------------------------------------------------------------------------------------------------
    // revokePermission: events, views, errors
    // ------------------------------------------------------------------------------------------------------------

    function test_revokePermission_emitsPermissionRevoked_andSetsViews() public onEachEntryPoint {
        address account = _account(currentEnv);
        _grantPair();
        assertFalse(validator.hasRevokedPermissions(account, _pairId()), "none revoked yet");
        assertFalse(validator.permissionRevoked(account, _pairId(), _transferLeaf()));

        PackedUserOperation memory op = _signedOwnerOp(
            currentEnv.entryPoint,
            account,
            _validatorCall(abi.encodeCall(ISessionKeyValidator.revokePermission, (_pairId(), _transferLeaf())))
        );
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.PermissionRevoked(account, _pairId(), _transferLeaf());
        _handleOp(currentEnv.entryPoint, op);

        assertTrue(validator.hasRevokedPermissions(account, _pairId()), "session flag");
        assertTrue(validator.permissionRevoked(account, _pairId(), _transferLeaf()), "revoked leaf");
        assertFalse(validator.permissionRevoked(account, _pairId(), _approveLeaf()), "other leaf");
        assertEq(_status(_pairId()), 1, "session still active");
        // the other account is untouched
        address other = _account(_otherEnv());
        assertFalse(validator.hasRevokedPermissions(other, _pairId()));
        assertFalse(validator.permissionRevoked(other, _pairId(), _transferLeaf()));
    }

    function test_revokePermission_succeeds_whenRevokedTwice() public onEachEntryPoint {
        _grantPair();
        _revokePermission(_pairId(), _transferLeaf());
        _revokePermission(_pairId(), _transferLeaf());
        assertTrue(validator.permissionRevoked(_account(currentEnv), _pairId(), _transferLeaf()));
        _handleOp(currentEnv.entryPoint, _pairApproveOp());
    }

    function test_revokePermission_reverts_NotInstalled_whenCallerNotInstalled() public {
        address stranger = makeAddr("stranger");
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.NotInstalled.selector, stranger));
        validator.revokePermission(SessionEncoding.sessionId(pairSession), SessionEncoding.leaf(_transferPermission()));
    }

    function test_revokePermission_reverts_NotInstalled_afterUninstall() public onEachEntryPoint {
        address account = _account(currentEnv);
        _uninstallValidator(currentEnv.entryPoint, account);
        _sendOwnerOpExpectExecutionRevert(
            currentEnv.entryPoint,
            account,
            _validatorCall(abi.encodeCall(ISessionKeyValidator.revokePermission, (_pairId(), _transferLeaf()))),
            abi.encodeWithSelector(ISessionKeyValidator.NotInstalled.selector, account)
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Self-revocation: the session key revokes its own session
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_selfRevokes_withEmptyPermission() public onEachEntryPoint {
        address account = _account(currentEnv);
        _grantPair();
        PackedUserOperation memory op = _selfRevokeOp(pairSession);
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.SessionRevoked(account, _pairId());
        _handleOp(currentEnv.entryPoint, op);

        assertEq(_status(_pairId()), 2, "revoked");
        _expectScopeError(currentEnv.entryPoint, _pairTransferOp(10), _notActive(_pairId()));
        _expectScopeError(currentEnv.entryPoint, _selfRevokeOp(pairSession), _notActive(_pairId()));
        assertEq(token.balanceOf(recipient), 0);
    }

    function test_validateUserOp_selfRevokes_inBatchWithOrdinaryCall() public onEachEntryPoint {
        address account = _account(currentEnv);
        _grantPair();
        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(token), 0, abi.encodeCall(IERC20.transfer, (recipient, 10)));
        executions[1] = Execution(address(validator), 0, SessionEncoding.selfRevocationCall(pairSession));
        (CallProof[] memory calls, bool[] memory mask) =
            SessionEncoding.withSelfRevocationAt(_transferPermission(), transferProof, 2, 1);
        PackedUserOperation memory op = _selfRevocationOp(_executeBatch(executions), pairSession, calls, mask);

        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.SessionRevoked(account, _pairId());
        _handleOp(currentEnv.entryPoint, op);

        assertEq(token.balanceOf(recipient), 10, "the ordinary call ran");
        assertEq(_status(_pairId()), 2, "revoked");
        _expectScopeError(currentEnv.entryPoint, _pairApproveOp(), _notActive(_pairId()));
    }

    function test_validateUserOp_selfRevokes_asFirstCallOfBatch_whenPermissionRevoked() public onEachEntryPoint {
        // the session key may still revoke a session whose owner revoked one of its permissions
        _grantPair();
        _revokePermission(_pairId(), _transferLeaf());
        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(validator), 0, SessionEncoding.selfRevocationCall(pairSession));
        executions[1] = Execution(address(token), 0, abi.encodeCall(IERC20.approve, (recipient, APPROVED)));
        (CallProof[] memory calls, bool[] memory mask) =
            SessionEncoding.withSelfRevocationAt(_approvePermission(), approveProof, 2, 0);
        _handleOp(currentEnv.entryPoint, _selfRevocationOp(_executeBatch(executions), pairSession, calls, mask));
        assertEq(_allowance(), APPROVED);
        assertEq(_status(_pairId()), 2);
        assertTrue(validator.hasRevokedPermissions(_account(currentEnv), _pairId()), "flag kept");
    }

    function test_validateUserOp_enablesAndSelfRevokes_inOneOperation() public onEachEntryPoint {
        address account = _account(currentEnv);
        bytes memory ownerSig = _ownerEnableSignature(account, pairSession);
        (CallProof[] memory calls, bool[] memory mask) =
            SessionEncoding.withSelfRevocationAt(_transferPermission(), _noProof(), 1, 0);
        PackedUserOperation memory op = _sessionOp(
            currentEnv.entryPoint,
            account,
            _executeSingle(address(validator), 0, SessionEncoding.selfRevocationCall(pairSession)),
            ""
        );
        op.signature = SessionEncoding.enableSignature(
            pairSession, ownerSig, calls, mask, _sign(SESSION_KEY, _userOpHash(currentEnv.entryPoint, op))
        );

        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.SessionGranted(
            account, _pairId(), sessionSigner, pairSession.validAfter, pairSession.validUntil, 1
        );
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.SessionRevoked(account, _pairId());
        _handleOp(currentEnv.entryPoint, op);

        assertEq(_status(_pairId()), 2, "revoked");
        // the owner's enable signature cannot bring it back
        _expectScopeError(
            currentEnv.entryPoint,
            _pairEnableApproveOp(ownerSig),
            abi.encodeWithSelector(ISessionKeyValidator.SessionIsRevoked.selector, _pairId())
        );
    }

    function test_validateUserOp_signatureError_whenSelfRevocationSignedByOtherKey() public onEachEntryPoint {
        _grantPair();
        (CallProof[] memory calls, bool[] memory mask) =
            SessionEncoding.withSelfRevocationAt(_transferPermission(), _noProof(), 1, 0);
        PackedUserOperation memory op = _sessionOp(
            currentEnv.entryPoint,
            _account(currentEnv),
            _executeSingle(address(validator), 0, SessionEncoding.selfRevocationCall(pairSession)),
            ""
        );
        op.signature = SessionEncoding.useSignature(
            pairSession, calls, mask, _sign(OTHER_KEY, _userOpHash(currentEnv.entryPoint, op))
        );
        _expectSignatureError(currentEnv.entryPoint, op);
        assertEq(_status(_pairId()), 1, "still active");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Self-revocation: exactly revokeSession(own id) on the validator, no value
    // ------------------------------------------------------------------------------------------------------------

    function _expectInvalidSelfRevocation(address target, uint256 value, bytes memory data) internal {
        _grantPair();
        PackedUserOperation memory op = _singleSelfRevocationOp(pairSession, target, value, data);
        _expectScopeError(currentEnv.entryPoint, op, _invalidSelfRevocation(0, target));
        assertEq(_status(_pairId()), 1, "still active");
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_whenSessionIdIsAnother() public onEachEntryPoint {
        SessionTypes.Session memory other = _singleLeafSession(_transferPermission());
        _grant(currentEnv.entryPoint, _account(currentEnv), other);
        _expectInvalidSelfRevocation(address(validator), 0, SessionEncoding.selfRevocationCall(other));
        assertEq(_status(SessionEncoding.sessionId(other)), 1, "other session still active");
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_whenValueIsNotZero() public onEachEntryPoint {
        _expectInvalidSelfRevocation(address(validator), 1, SessionEncoding.selfRevocationCall(pairSession));
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_whenTargetIsNotValidator() public onEachEntryPoint {
        _expectInvalidSelfRevocation(address(token), 0, SessionEncoding.selfRevocationCall(pairSession));
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_whenTargetIsAccount() public onEachEntryPoint {
        _expectInvalidSelfRevocation(_account(currentEnv), 0, SessionEncoding.selfRevocationCall(pairSession));
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_whenSelectorIsRevokePermission()
        public
        onEachEntryPoint
    {
        _expectInvalidSelfRevocation(
            address(validator), 0, abi.encodeCall(ISessionKeyValidator.revokePermission, (_pairId(), _transferLeaf()))
        );
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_whenSelectorIsGrantSession() public onEachEntryPoint {
        _expectInvalidSelfRevocation(
            address(validator), 0, abi.encodeCall(ISessionKeyValidator.grantSession, (pairSession))
        );
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_whenSelectorIsRevokeAllSessions()
        public
        onEachEntryPoint
    {
        _expectInvalidSelfRevocation(address(validator), 0, abi.encodeCall(ISessionKeyValidator.revokeAllSessions, ()));
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_whenCalldataHasExtraByte() public onEachEntryPoint {
        _expectInvalidSelfRevocation(
            address(validator), 0, bytes.concat(SessionEncoding.selfRevocationCall(pairSession), hex"00")
        );
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_whenCalldataIsTruncated() public onEachEntryPoint {
        bytes memory data = SessionEncoding.selfRevocationCall(pairSession);
        assembly ("memory-safe") {
            mstore(data, 35)
        }
        _expectInvalidSelfRevocation(address(validator), 0, data);
    }

    function test_validateUserOp_reverts_InvalidSelfRevocation_atItsIndexInBatch() public onEachEntryPoint {
        _grantPair();
        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(token), 0, abi.encodeCall(IERC20.transfer, (recipient, 10)));
        executions[1] = Execution(address(validator), 0, abi.encodeCall(ISessionKeyValidator.revokeAllSessions, ()));
        (CallProof[] memory calls, bool[] memory mask) =
            SessionEncoding.withSelfRevocationAt(_transferPermission(), transferProof, 2, 1);
        PackedUserOperation memory op = _selfRevocationOp(_executeBatch(executions), pairSession, calls, mask);
        _expectScopeError(currentEnv.entryPoint, op, _invalidSelfRevocation(1, address(validator)));
        assertEq(token.balanceOf(recipient), 0, "nothing ran");
        assertEq(validator.epochOf(_account(currentEnv)), 1, "epoch unchanged");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Self-revocation: fees and paymaster policy apply as to any session operation
    // ------------------------------------------------------------------------------------------------------------

    /// The default operation's prefund (no paymaster).
    function _defaultFee() internal view returns (uint256) {
        return (uint256(verificationGasLimit) + callGasLimit + preVerificationGas) * maxFeePerGas;
    }

    function test_validateUserOp_chargesFeeBudget_forSelfRevocation() public onEachEntryPoint {
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes32 sessionId = SessionEncoding.sessionId(session);
        _grant(currentEnv.entryPoint, account, session);
        uint256 depositBefore = currentEnv.entryPoint.balanceOf(account);
        _handleOp(currentEnv.entryPoint, _selfRevokeOp(session));
        assertEq(_status(sessionId), 2, "revoked");
        assertEq(validator.feesChargedOf(account, sessionId), _defaultFee(), "charged, and kept once revoked");
        assertLt(currentEnv.entryPoint.balanceOf(account), depositBefore, "the account paid for it");
    }

    function test_validateUserOp_selfRevokes_inValidation_whenExecutionReverts() public onEachEntryPoint {
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes32 sessionId = SessionEncoding.sessionId(session);
        _grant(currentEnv.entryPoint, account, session);
        // a self-revocation whose batch then fails (a transfer over the balance): the session is revoked by the
        // validation already, so a key cannot pay fees with self-revocations that never take effect
        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(validator), 0, SessionEncoding.selfRevocationCall(session));
        executions[1] = Execution(address(token), 0, abi.encodeCall(IERC20.transfer, (recipient, 10_000)));
        (CallProof[] memory calls, bool[] memory mask) =
            SessionEncoding.withSelfRevocationAt(_transferPermission(), _noProof(), 2, 0);
        PackedUserOperation memory op = _selfRevocationOp(_executeBatch(executions), session, calls, mask);
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.SessionRevoked(account, sessionId);
        _handleOp(currentEnv.entryPoint, op);
        assertEq(_status(sessionId), 2, "revoked in validation, whatever the execution did");
        assertEq(validator.feesChargedOf(account, sessionId), _defaultFee(), "charged once");
        assertEq(token.balanceOf(recipient), 0);
        _expectScopeError(currentEnv.entryPoint, _selfRevokeOp(session), _notActive(sessionId));
    }

    function test_handleOps_refusesNextOperationOfSession_afterSelfRevocationInSameBundle() public onEachEntryPoint {
        _grantPair();
        PackedUserOperation[] memory ops = new PackedUserOperation[](2);
        ops[0] = _selfRevokeOp(pairSession);
        // the session's next operation in the same bundle is validated after the first revoked the session
        (CallProof[] memory calls, bool[] memory mask) =
            SessionEncoding.withSelfRevocationAt(_transferPermission(), _noProof(), 1, 0);
        PackedUserOperation memory next = _sessionOp(
            currentEnv.entryPoint,
            _account(currentEnv),
            _executeSingle(address(validator), 0, SessionEncoding.selfRevocationCall(pairSession)),
            ""
        );
        next.nonce = ops[0].nonce + 1;
        next.signature = SessionEncoding.useSignature(
            pairSession, calls, mask, _sign(SESSION_KEY, _userOpHash(currentEnv.entryPoint, next))
        );
        ops[1] = next;
        vm.expectRevert(_failedOpWithRevert(1, "AA23 reverted", _notActive(_pairId())));
        vm.prank(bundler, bundler);
        currentEnv.entryPoint.handleOps(ops, bundler);
    }

    function test_validateUserOp_reverts_FeeBudgetExceeded_forSelfRevocation_whenBudgetSpent() public onEachEntryPoint {
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.maxOperationFee = uint128(_defaultFee());
        session.feeBudget = uint128(_defaultFee());
        _grant(currentEnv.entryPoint, account, session);
        _handleOp(currentEnv.entryPoint, _transferUseOp(currentEnv.entryPoint, account, session, 10));

        _expectScopeError(
            currentEnv.entryPoint,
            _selfRevokeOp(session),
            abi.encodeWithSelector(ISessionKeyValidator.FeeBudgetExceeded.selector, 2 * _defaultFee(), _defaultFee())
        );
        assertEq(_status(SessionEncoding.sessionId(session)), 1, "the owner has to revoke it");
    }

    function test_validateUserOp_reverts_OperationFeeExceeded_forSelfRevocation() public onEachEntryPoint {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.maxOperationFee = uint128(_defaultFee() - 1);
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        _expectScopeError(
            currentEnv.entryPoint,
            _selfRevokeOp(session),
            abi.encodeWithSelector(ISessionKeyValidator.OperationFeeExceeded.selector, _defaultFee(), _defaultFee() - 1)
        );
        assertEq(_status(SessionEncoding.sessionId(session)), 1);
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_forSelfRevocation_whenPolicyIsNone()
        public
        onEachEntryPoint
    {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.None;
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        address paymaster = makeAddr("paymaster");
        bytes memory paymasterAndData = abi.encodePacked(paymaster, uint128(100_000), uint128(50_000));
        (CallProof[] memory calls, bool[] memory mask) =
            SessionEncoding.withSelfRevocationAt(_transferPermission(), _noProof(), 1, 0);
        PackedUserOperation memory op = _sessionOp(
            currentEnv.entryPoint,
            _account(currentEnv),
            _executeSingle(address(validator), 0, SessionEncoding.selfRevocationCall(session)),
            paymasterAndData
        );
        op.signature = SessionEncoding.useSignature(
            session, calls, mask, _sign(SESSION_KEY, _userOpHash(currentEnv.entryPoint, op))
        );
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.PaymasterNotAllowed.selector, uint8(SessionTypes.PaymasterPolicy.None), paymaster
            )
        );
        assertEq(_status(SessionEncoding.sessionId(session)), 1);
    }
}
