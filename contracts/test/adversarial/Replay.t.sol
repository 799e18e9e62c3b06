// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Account as OZAccount} from "@openzeppelin/contracts/account/Account.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7579ModuleConfig, MODULE_TYPE_VALIDATOR} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Cases 19, 20 (enable replay), 21 and 27: signatures are bound to the account, the chain and the
///         EntryPoint; owner enable signatures to the account's epoch; reinstalling never revives a session or a
///         counter, and replaying an enable signature never revives a permission the owner revoked.
contract ReplayAttackTest is AdversarialBase {
    /// The chain id kept in storage: a local copy of block.chainid would be re-read after vm.chainId.
    uint256 internal homeChainId;

    /// A second account of the same owner on `factory`'s EntryPoint, with the validator installed.
    function _secondAccount(AccountEnv memory env) internal returns (address account) {
        account = address(_createAccount(env.factory, owner, 1));
        _fundAccount(env.entryPoint, account);
        _installValidator(env.entryPoint, account);
    }

    function _pingPermission() internal view returns (SessionTypes.Permission memory permission) {
        permission = _permission(address(recorder), PING);
        permission.maxUses = 10;
        permission.flags = SessionTypes.FLAG_NATIVE_TOTAL;
        permission.valueLimit = 1 ether;
        permission.nativeTotalLimit = 5 ether;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 19: another account, chain, EntryPoint
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_signatureError_whenReplayedOnAnotherAccount() public onEachEntryPoint {
        address account = address(currentEnv.account);
        address other = _secondAccount(currentEnv);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        _grant(currentEnv.entryPoint, other, session); // the same session, same key, on both accounts
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(1));
        op.sender = other;
        _expectSignatureError(currentEnv.entryPoint, op);
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_signatureError_whenReplayedOnAnotherChain() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(1));
        homeChainId = block.chainid;
        vm.chainId(homeChainId + 1);
        _expectSignatureError(currentEnv.entryPoint, op);
        vm.chainId(homeChainId);
        _handleOp(currentEnv.entryPoint, op); // on its own chain it is fine
        _assertRecorded(recorder, 1);
    }

    function test_validateUserOp_reverts_whenV07OpReplayedOnV08EntryPoint() public {
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _grantSingle(entryPointV07, address(accountV07), permission);
        _grant(entryPointV08, address(accountV08), session);
        PackedUserOperation memory op =
            _op1(_env(EntryPointVersion.V07), session, permission, address(recorder), 0, _ping(1));
        // the v0.7 account only trusts the v0.7 EntryPoint
        vm.deal(address(this), 1 ether);
        entryPointV08.depositTo{value: 1 ether}(address(accountV07));
        _expectValidationReverted(
            entryPointV08, op, abi.encodeWithSelector(OZAccount.AccountUnauthorized.selector, address(entryPointV08))
        );
        // and a session signature over the v0.7 hash of an op for the v0.8 account does not hold on v0.8
        PackedUserOperation memory op08 =
            _op(entryPointV08, address(accountV08), _executeSingle(address(recorder), 0, _ping(1)));
        op08 = _signUse(entryPointV07, op08, session, SessionEncoding.one(permission, _noProof()), SESSION_KEY);
        assertTrue(_userOpHash(entryPointV07, op08) != _userOpHash(entryPointV08, op08));
        _expectSignatureError(entryPointV08, op08);
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_signatureError_whenEnableSignatureReplayedOnAnotherAccount() public onEachEntryPoint {
        address account = address(currentEnv.account);
        address other = _secondAccount(currentEnv);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        bytes memory ownerSig = _ownerEnableSignature(account, session); // same owner, but bound to `account`
        PackedUserOperation memory op = _enableOp(
            currentEnv.entryPoint,
            other,
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            SessionEncoding.one(permission, _noProof()),
            ownerSig
        );
        _expectSignatureError(currentEnv.entryPoint, op);
        assertEq(
            uint8(validator.sessionStatus(other, _sid(session))), uint8(ISessionKeyValidator.SessionStatus.Unknown)
        );
    }

    function test_validateUserOp_signatureError_whenEnableSignatureReplayedOnAnotherChain() public {
        address account = address(accountV08);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        bytes memory ownerSig = _ownerEnableSignature(account, session);
        homeChainId = block.chainid;
        vm.chainId(homeChainId + 1);
        PackedUserOperation memory op = _enableOp(
            entryPointV08,
            account,
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            SessionEncoding.one(permission, _noProof()),
            ownerSig
        ); // the session key signs for the new chain: only the owner's signature is replayed
        _expectSignatureError(entryPointV08, op);
        vm.chainId(homeChainId);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 20 (first half): enable signatures after revocation
    // ------------------------------------------------------------------------------------------------------------

    function _enable(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        bytes memory ownerSig
    ) internal view returns (PackedUserOperation memory) {
        return _enableOp(
            env.entryPoint,
            address(env.account),
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            SessionEncoding.one(permission, _noProof()),
            ownerSig
        );
    }

    function test_validateUserOp_reverts_whenEnableSignatureReplayedAfterRevoke() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        bytes memory ownerSig = _ownerEnableSignature(account, session);
        _handleOp(currentEnv.entryPoint, _enable(currentEnv, session, permission, ownerSig));
        _revoke(currentEnv.entryPoint, account, _sid(session));
        PackedUserOperation memory op = _enable(currentEnv, session, permission, ownerSig);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.SessionIsRevoked.selector, _sid(session))
        );
        _assertRecorded(recorder, 1);
    }

    function test_validateUserOp_reverts_whenEnableSignatureUsedAfterPreemptiveRevoke() public onEachEntryPoint {
        // the owner can kill a leaked enable signature before it is ever used
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        bytes memory ownerSig = _ownerEnableSignature(account, session);
        _revoke(currentEnv.entryPoint, account, _sid(session));
        PackedUserOperation memory op = _enable(currentEnv, session, permission, ownerSig);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.SessionIsRevoked.selector, _sid(session))
        );
    }

    function test_validateUserOp_signatureError_whenEnableSignatureReplayedAfterRevokeAll() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        bytes memory ownerSig = _ownerEnableSignature(account, session);
        _handleOp(currentEnv.entryPoint, _enable(currentEnv, session, permission, ownerSig));
        _revokeAll(currentEnv.entryPoint, account);
        // the enable digest names the old epoch
        _expectSignatureError(currentEnv.entryPoint, _enable(currentEnv, session, permission, ownerSig));
        // and using the old grant is over too
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(1));
        _expectScopeError(currentEnv.entryPoint, op, _notActive(_sid(session)));
    }

    function test_validateUserOp_reverts_whenRevokedSessionIsUsed() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        _revoke(currentEnv.entryPoint, account, _sid(session));
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(1));
        _expectScopeError(currentEnv.entryPoint, op, _notActive(_sid(session)));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 21: uninstall, reinstall, leftover state
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_rejects_afterUninstallAndReinstall() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        bytes32 id = _sid(session);
        _handleOp(currentEnv.entryPoint, _op1(currentEnv, session, permission, address(recorder), 1 ether, _ping(1)));
        assertEq(validator.spentOf(account, id, address(0)), 1 ether);
        uint64 epochBefore = validator.epochOf(account);

        _uninstallValidator(currentEnv.entryPoint, account);
        assertFalse(validator.isInitialized(account));
        // not installed: the account does not even ask the validator
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(2));
        _expectSignatureError(currentEnv.entryPoint, op);

        _installValidator(currentEnv.entryPoint, account);
        assertEq(validator.epochOf(account), epochBefore + 2);
        assertEq(uint8(validator.sessionStatus(account, id)), uint8(ISessionKeyValidator.SessionStatus.Unknown));
        assertEq(validator.spentOf(account, id, address(0)), 0, "no spending comes back");
        (uint64 uses,,) = validator.usageOf(account, id, _leaf(permission));
        assertEq(uses, 0, "no usage comes back");
        op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(2));
        _expectScopeError(currentEnv.entryPoint, op, _notActive(id));
        _assertRecorded(recorder, 1);
    }

    function test_onInstall_ignoresLeftoverState_afterReinstall() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        bytes32 id = _sid(session);
        _revoke(currentEnv.entryPoint, account, id); // a Revoked record is left behind
        _uninstallValidator(currentEnv.entryPoint, account);
        _installValidator(currentEnv.entryPoint, account);
        // the leftover Revoked record belongs to an old epoch: the owner may grant the session again
        _grant(currentEnv.entryPoint, account, session);
        assertEq(uint8(validator.sessionStatus(account, id)), uint8(ISessionKeyValidator.SessionStatus.Active));
        _handleOp(currentEnv.entryPoint, _op1(currentEnv, session, permission, address(recorder), 1 ether, _ping(1)));
        assertEq(validator.spentOf(account, id, address(0)), 1 ether, "fresh counters");
        // a second uninstall/reinstall cycle revives neither the grant nor the counters
        _uninstallValidator(currentEnv.entryPoint, account);
        _installValidator(currentEnv.entryPoint, account);
        assertEq(uint8(validator.sessionStatus(account, id)), uint8(ISessionKeyValidator.SessionStatus.Unknown));
        assertEq(validator.spentOf(account, id, address(0)), 0);
    }

    function test_onInstall_reverts_whenAlreadyInstalled() public {
        vm.prank(address(accountV08));
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.AlreadyInstalled.selector, address(accountV08)));
        validator.onInstall("");
        // through the account, the account refuses a second installation before the module is called
        bytes memory callData =
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(validator), ""));
        uint64 epoch = validator.epochOf(address(accountV08));
        _sendOwnerOp(entryPointV08, address(accountV08), callData);
        assertEq(validator.epochOf(address(accountV08)), epoch, "state untouched");
    }

    function test_validateUserOp_reverts_whenOldEpochEnableSignatureUsedAfterReinstall() public {
        address account = address(accountV08);
        SessionTypes.Permission memory permission = _pingPermission();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        bytes memory ownerSig = _ownerEnableSignature(account, session);
        _uninstallValidator(entryPointV08, account);
        _installValidator(entryPointV08, account);
        _expectSignatureError(entryPointV08, _enable(_env(EntryPointVersion.V08), session, permission, ownerSig));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 27: a revoked permission is not revived by replaying the owner's enable signature
    // ------------------------------------------------------------------------------------------------------------

    /// The session of the two-leaf tree {ping on recorder, ping on recorder2} and the proofs of both leaves.
    function _pairSession()
        internal
        view
        returns (
            SessionTypes.Session memory session,
            SessionTypes.Permission memory revoked,
            SessionTypes.Permission memory kept,
            bytes32[][] memory proofs
        )
    {
        revoked = _pingPermission();
        kept = _permission(address(recorder2), PING);
        bytes32 root;
        (root, proofs) = _tree(_pair(revoked, kept));
        session = _session(root);
    }

    /// An enable-mode ping of `target` under `permission` with `proof`, carrying the owner's `ownerSig`.
    function _enablePair(
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        bytes32[] memory proof,
        address target,
        bytes memory ownerSig
    ) internal view returns (PackedUserOperation memory) {
        return _enableOp(
            currentEnv.entryPoint,
            address(currentEnv.account),
            _executeSingle(target, 0, _ping(1)),
            session,
            SessionEncoding.one(permission, proof),
            ownerSig
        );
    }

    function _revokePermission(bytes32 sessionId, bytes32 leaf) internal {
        _sendOwnerOp(
            currentEnv.entryPoint,
            address(currentEnv.account),
            _validatorCall(abi.encodeCall(ISessionKeyValidator.revokePermission, (sessionId, leaf)))
        );
    }

    function _permissionIsRevoked(bytes32 leaf) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.PermissionIsRevoked.selector, 0, leaf);
    }

    function test_validateUserOp_reverts_whenEnableSignatureReplayedAfterPermissionRevoked() public onEachEntryPoint {
        (
            SessionTypes.Session memory session,
            SessionTypes.Permission memory revoked,
            SessionTypes.Permission memory kept,
            bytes32[][] memory proofs
        ) = _pairSession();
        bytes memory ownerSig = _ownerEnableSignature(address(currentEnv.account), session);
        _handleOp(currentEnv.entryPoint, _enablePair(session, revoked, proofs[0], address(recorder), ownerSig));
        _assertRecorded(recorder, 1);

        _revokePermission(_sid(session), _leaf(revoked));

        // the leaked key replays the owner's enable signature with the revoked permission
        PackedUserOperation memory op = _enablePair(session, revoked, proofs[0], address(recorder), ownerSig);
        _expectScopeError(currentEnv.entryPoint, op, _permissionIsRevoked(_leaf(revoked)));
        _assertRecorded(recorder, 1);
        // positive control: the other permission still works, in enable mode too
        _handleOp(currentEnv.entryPoint, _enablePair(session, kept, proofs[1], address(recorder2), ownerSig));
        _assertRecorded(recorder2, 1);
        _expectScopeError(
            currentEnv.entryPoint,
            _enablePair(session, revoked, proofs[0], address(recorder), ownerSig),
            _permissionIsRevoked(_leaf(revoked))
        );
    }

    function test_validateUserOp_reverts_whenEnableSignatureUsedAfterPreemptivePermissionRevoke()
        public
        onEachEntryPoint
    {
        // the owner revokes one permission of a session whose enable signature leaked, before it is ever used
        (
            SessionTypes.Session memory session,
            SessionTypes.Permission memory revoked,
            SessionTypes.Permission memory kept,
            bytes32[][] memory proofs
        ) = _pairSession();
        bytes memory ownerSig = _ownerEnableSignature(address(currentEnv.account), session);
        _revokePermission(_sid(session), _leaf(revoked));

        PackedUserOperation memory op = _enablePair(session, revoked, proofs[0], address(recorder), ownerSig);
        _expectScopeError(currentEnv.entryPoint, op, _permissionIsRevoked(_leaf(revoked)));
        _handleOp(currentEnv.entryPoint, _enablePair(session, kept, proofs[1], address(recorder2), ownerSig));
        op = _enablePair(session, revoked, proofs[0], address(recorder), ownerSig);
        _expectScopeError(currentEnv.entryPoint, op, _permissionIsRevoked(_leaf(revoked)));
        op = _op1(currentEnv, session, revoked, proofs[0], address(recorder), 0, _ping(1));
        _expectScopeError(currentEnv.entryPoint, op, _permissionIsRevoked(_leaf(revoked)));
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_reverts_whenRevokedPermissionOpSignedBeforeRevocationIsReplayed()
        public
        onEachEntryPoint
    {
        // an operation signed before the revocation and held back (mempool, relayer) is refused afterwards
        (SessionTypes.Session memory session, SessionTypes.Permission memory revoked,, bytes32[][] memory proofs) =
            _pairSession();
        _grant(currentEnv.entryPoint, address(currentEnv.account), session);
        PackedUserOperation memory held = _op1(currentEnv, session, revoked, proofs[0], address(recorder), 0, _ping(1));
        _revokePermission(_sid(session), _leaf(revoked));
        _expectScopeError(currentEnv.entryPoint, held, _permissionIsRevoked(_leaf(revoked)));
        _assertRecorded(recorder, 0);
    }
}
