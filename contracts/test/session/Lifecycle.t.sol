// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {
    IERC7579Module,
    IERC7579ModuleConfig,
    MODULE_TYPE_VALIDATOR
} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ERC7579Utils} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";

contract LifecycleTest is SessionLifecycleBase {
    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    /// A transfer permission with usage and ERC-20 total limits, so the session has counters.
    function _countedPermission() internal view returns (SessionTypes.Permission memory permission) {
        permission = _transferPermission();
        permission.flags = SessionTypes.FLAG_ERC20_TOTAL;
        permission.erc20TotalLimit = 150;
        permission.maxUses = 2;
    }

    function _countedUseOp(IEntryPoint entryPoint, address account, SessionTypes.Session memory session, uint256 amount)
        internal
        view
        returns (PackedUserOperation memory)
    {
        return _useOp1(entryPoint, account, _transferCall(amount), session, _countedPermission(), _noProof());
    }

    /// On the current {onEachEntryPoint} run: funds the account with 1000 tokens, grants the single-leaf session of
    /// the transfer `permission` and spends 100 tokens under it.
    function _sessionUsedOnce(SessionTypes.Permission memory permission)
        internal
        returns (IEntryPoint entryPoint, address account, SessionTypes.Session memory session, bytes32 sessionId)
    {
        entryPoint = currentEnv.entryPoint;
        account = _account(currentEnv);
        token.mint(account, 1000);
        session = _singleLeafSession(permission);
        sessionId = SessionEncoding.sessionId(session);
        _grantAndUse(entryPoint, account, session, permission);
    }

    /// Grants `session` (single leaf of the transfer `permission`) on `account` and spends 100 tokens under it.
    function _grantAndUse(
        IEntryPoint entryPoint,
        address account,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission
    ) internal {
        _grant(entryPoint, account, session);
        _handleOp(entryPoint, _useOp1(entryPoint, account, _transferCall(100), session, permission, _noProof()));
    }

    function _assertCounters(address account, bytes32 sessionId, uint64 uses, uint256 spent) internal view {
        (uint64 used,,) = validator.usageOf(account, sessionId, SessionEncoding.leaf(_countedPermission()));
        assertEq(used, uses, "uses");
        assertEq(validator.spentOf(account, sessionId, address(token)), spent, "spent");
    }

    function _status(address account, bytes32 sessionId) internal view returns (uint8) {
        return uint8(validator.sessionStatus(account, sessionId));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Existing flow
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_transfers_whenGrantedByOwner() public onEachEntryPoint {
        address account = address(currentEnv.account);
        token.mint(account, 1000);
        SessionTypes.Permission memory permission = _permission(address(token), IERC20.transfer.selector);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grant(currentEnv.entryPoint, account, session);
        bytes memory callData = _executeSingle(address(token), 0, abi.encodeCall(IERC20.transfer, (bundler, 100)));
        PackedUserOperation memory op =
            _useOp1(currentEnv.entryPoint, account, callData, session, permission, _noProof());
        _handleOp(currentEnv.entryPoint, op);
        assertEq(token.balanceOf(bundler), 100);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Module basics
    // ------------------------------------------------------------------------------------------------------------

    function test_isModuleType_returnsTrue_onlyForValidator() public view {
        assertTrue(validator.isModuleType(MODULE_TYPE_VALIDATOR));
        assertFalse(validator.isModuleType(0));
        assertFalse(validator.isModuleType(2));
        assertFalse(validator.isModuleType(3));
        assertFalse(validator.isModuleType(4));
    }

    function testFuzz_isModuleType_matchesValidatorType(uint256 moduleTypeId) public view {
        assertEq(validator.isModuleType(moduleTypeId), moduleTypeId == MODULE_TYPE_VALIDATOR);
    }

    function test_isInitialized_tracksInstallState() public onEachEntryPoint {
        address account = _account(currentEnv);
        assertTrue(validator.isInitialized(account), "installed in setUp");
        assertEq(validator.epochOf(account), 1, "epoch after install");
        _uninstallValidator(currentEnv.entryPoint, account);
        assertFalse(validator.isInitialized(account), "uninstalled");
        assertFalse(currentEnv.account.isModuleInstalled(MODULE_TYPE_VALIDATOR, address(validator), ""));
        assertFalse(validator.isInitialized(makeAddr("stranger")));
        assertEq(validator.epochOf(makeAddr("stranger")), 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Install
    // ------------------------------------------------------------------------------------------------------------

    function test_onInstall_emitsValidatorInstalled_andStartsEpochOne() public onEachEntryPoint {
        address account = _freshAccount(currentEnv, 1);
        assertFalse(validator.isInitialized(account));
        PackedUserOperation memory op = _signedOwnerOp(
            currentEnv.entryPoint,
            account,
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(validator), ""))
        );
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.ValidatorInstalled(account, 1);
        _handleOp(currentEnv.entryPoint, op);
        assertTrue(validator.isInitialized(account));
        assertEq(validator.epochOf(account), 1);
    }

    function test_installModule_reverts_ERC7579AlreadyInstalledModule_whenInstalledTwice() public onEachEntryPoint {
        address account = _account(currentEnv);
        _sendOwnerOpExpectExecutionRevert(
            currentEnv.entryPoint,
            account,
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(validator), "")),
            abi.encodeWithSelector(
                ERC7579Utils.ERC7579AlreadyInstalledModule.selector, MODULE_TYPE_VALIDATOR, address(validator)
            )
        );
        assertEq(validator.epochOf(account), 1, "epoch unchanged");
    }

    function test_onInstall_reverts_AlreadyInstalled_whenAccountCallsItAgain() public onEachEntryPoint {
        address account = _account(currentEnv);
        _sendOwnerOpExpectExecutionRevert(
            currentEnv.entryPoint,
            account,
            _validatorCall(abi.encodeCall(IERC7579Module.onInstall, (""))),
            abi.encodeWithSelector(ISessionKeyValidator.AlreadyInstalled.selector, account)
        );
        assertEq(validator.epochOf(account), 1, "epoch unchanged");
    }

    function test_onInstall_reverts_AlreadyInstalled_whenCalledTwiceDirectly() public {
        address caller = makeAddr("caller");
        vm.prank(caller);
        validator.onInstall("");
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.AlreadyInstalled.selector, caller));
        validator.onInstall("");
    }

    function test_onInstall_grantsSessions_fromInstallData() public onEachEntryPoint {
        address account = _freshAccount(currentEnv, 1);
        token.mint(account, 1000);
        SessionTypes.Session[] memory sessions = new SessionTypes.Session[](2);
        sessions[0] = _singleLeafSession(_transferPermission());
        sessions[1] = _singleLeafSession(_transferPermission());
        sessions[1].signer = vm.addr(OTHER_KEY);
        sessions[1].salt = bytes32(uint256(1));

        PackedUserOperation memory op = _signedOwnerOp(
            currentEnv.entryPoint,
            account,
            abi.encodeCall(
                IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(validator), abi.encode(sessions))
            )
        );
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.ValidatorInstalled(account, 1);
        for (uint256 s; s < 2; ++s) {
            vm.expectEmit(true, true, true, true, address(validator));
            emit ISessionKeyValidator.SessionGranted(
                account,
                SessionEncoding.sessionId(sessions[s]),
                sessions[s].signer,
                sessions[s].validAfter,
                sessions[s].validUntil,
                1
            );
        }
        _handleOp(currentEnv.entryPoint, op);

        for (uint256 s; s < 2; ++s) {
            assertEq(_status(account, SessionEncoding.sessionId(sessions[s])), 1, "active");
        }
        _handleOp(currentEnv.entryPoint, _transferUseOp(currentEnv.entryPoint, account, sessions[0], 100));
        _handleOp(
            currentEnv.entryPoint,
            _useOp(
                currentEnv.entryPoint,
                account,
                _transferCall(50),
                sessions[1],
                SessionEncoding.one(_transferPermission(), _noProof()),
                OTHER_KEY
            )
        );
        assertEq(token.balanceOf(account), 850, "both sessions used");
    }

    function test_onInstall_grantsSessions_whenAccountDeployedByInitCodeOfFirstSessionOp() public onEachEntryPoint {
        SessionTypes.Session[] memory sessions = new SessionTypes.Session[](1);
        sessions[0] = _singleLeafSession(_transferPermission());
        address[] memory validators = new address[](1);
        validators[0] = address(validator);
        bytes[] memory initData = new bytes[](1);
        initData[0] = abi.encode(sessions);

        address account = currentEnv.factory.getAddress(owner, 9, validators, initData);
        assertEq(account.code.length, 0, "counterfactual");
        _fundAccount(currentEnv.entryPoint, account);
        token.mint(account, 1000);

        PackedUserOperation memory op = _sessionOp(currentEnv.entryPoint, account, _transferCall(100), "");
        op.initCode = _initCode(currentEnv.factory, owner, 9, validators, initData);
        _signUse(
            currentEnv.entryPoint, op, sessions[0], SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY
        );
        _handleOp(currentEnv.entryPoint, op);

        assertGt(account.code.length, 0, "deployed");
        assertEq(token.balanceOf(recipient), 100, "session op executed");
        assertEq(_status(account, SessionEncoding.sessionId(sessions[0])), 1, "active");
    }

    function test_onInstall_reverts_ZeroSessionSigner_whenInstallDataHasInvalidSession() public onEachEntryPoint {
        address account = _freshAccount(currentEnv, 1);
        SessionTypes.Session[] memory sessions = new SessionTypes.Session[](2);
        sessions[0] = _singleLeafSession(_transferPermission());
        sessions[1] = _singleLeafSession(_transferPermission());
        sessions[1].signer = address(0);
        _sendOwnerOpExpectExecutionRevert(
            currentEnv.entryPoint,
            account,
            abi.encodeCall(
                IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(validator), abi.encode(sessions))
            ),
            abi.encodeWithSelector(ISessionKeyValidator.ZeroSessionSigner.selector)
        );
        assertFalse(validator.isInitialized(account), "install rolled back");
        assertEq(validator.epochOf(account), 0);
        assertEq(_status(account, SessionEncoding.sessionId(sessions[0])), 0, "first session rolled back");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Uninstall and reinstall
    // ------------------------------------------------------------------------------------------------------------

    function test_onUninstall_emitsValidatorUninstalled_andVoidsEverySession() public onEachEntryPoint {
        (IEntryPoint entryPoint, address account, SessionTypes.Session memory session, bytes32 sessionId) =
            _sessionUsedOnce(_transferPermission());

        PackedUserOperation memory op = _signedOwnerOp(
            entryPoint,
            account,
            abi.encodeCall(IERC7579ModuleConfig.uninstallModule, (MODULE_TYPE_VALIDATOR, address(validator), ""))
        );
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.ValidatorUninstalled(account, 2);
        _handleOp(entryPoint, op);

        assertFalse(validator.isInitialized(account));
        assertEq(validator.epochOf(account), 2);
        assertEq(_status(account, sessionId), 0, "unknown after uninstall");

        // The account no longer routes to the module: its fallback validation fails the signature.
        op = _transferUseOp(entryPoint, account, session, 100);
        _expectSignatureError(entryPoint, op);

        // The module itself refuses to validate for an account it is not installed on.
        bytes32 userOpHash = _userOpHash(entryPoint, op);
        vm.prank(account);
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.NotInstalled.selector, account));
        validator.validateUserOp(op, userOpHash);
    }

    function test_onUninstall_reverts_NotInstalled_whenNotInstalled() public {
        address caller = makeAddr("caller");
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.NotInstalled.selector, caller));
        validator.onUninstall("");
    }

    function test_reinstall_keepsOldSessionsInvalid_andRegrantStartsWithFreshCounters() public onEachEntryPoint {
        (IEntryPoint entryPoint, address account, SessionTypes.Session memory session, bytes32 sessionId) =
            _sessionUsedOnce(_countedPermission());
        _assertCounters(account, sessionId, 1, 100);

        _uninstallValidator(entryPoint, account);
        PackedUserOperation memory op = _signedOwnerOp(
            entryPoint,
            account,
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(validator), ""))
        );
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.ValidatorInstalled(account, 3);
        _handleOp(entryPoint, op);
        assertEq(validator.epochOf(account), 3);
        assertTrue(validator.isInitialized(account));

        // The old session does not come back with the module.
        assertEq(_status(account, sessionId), 0);
        _expectScopeError(entryPoint, _countedUseOp(entryPoint, account, session, 10), _notActive(sessionId));

        // Granting the identical session again starts from zero.
        _grant(entryPoint, account, session);
        assertEq(_status(account, sessionId), 1);
        _assertCounters(account, sessionId, 0, 0);
        _handleOp(entryPoint, _countedUseOp(entryPoint, account, session, 100));
        _assertCounters(account, sessionId, 1, 100);
        assertEq(token.balanceOf(account), 800, "two transfers of 100 in two epochs");

        // The fresh counters are real limits: 100 more would exceed the 150 total.
        _expectScopeError(
            entryPoint,
            _countedUseOp(entryPoint, account, session, 100),
            abi.encodeWithSelector(ISessionKeyValidator.Erc20TotalExceeded.selector, 0, address(token), 200, 150)
        );
    }

    function test_reinstall_withInstallData_grantsSessionRevokedInEarlierEpoch() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes32 sessionId = SessionEncoding.sessionId(session);
        _revoke(entryPoint, account, sessionId);
        assertEq(_status(account, sessionId), 2, "revoked");

        _uninstallValidator(entryPoint, account);
        SessionTypes.Session[] memory sessions = new SessionTypes.Session[](1);
        sessions[0] = session;
        _installValidatorWith(entryPoint, account, abi.encode(sessions));

        assertEq(_status(account, sessionId), 1, "granted again in the new epoch");
        _handleOp(entryPoint, _transferUseOp(entryPoint, account, session, 100));
        assertEq(token.balanceOf(account), 900);
    }

    // ------------------------------------------------------------------------------------------------------------
    // grantSession
    // ------------------------------------------------------------------------------------------------------------

    function test_grantSession_emitsSessionGranted_andActivates() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.validAfter = START + 10;
        session.validUntil = START + 20;
        bytes32 sessionId = SessionEncoding.sessionId(session);
        assertEq(_status(account, sessionId), 0, "unknown before");

        PackedUserOperation memory op = _signedOwnerOp(
            entryPoint, account, _validatorCall(abi.encodeCall(ISessionKeyValidator.grantSession, (session)))
        );
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.SessionGranted(account, sessionId, sessionSigner, START + 10, START + 20, 1);
        _handleOp(entryPoint, op);
        assertEq(_status(account, sessionId), 1, "active");
    }

    function test_grantSession_returnsSessionId() public {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.Exactly;
        session.paymaster = makeAddr("paymaster");
        session.salt = keccak256("salt");
        bytes32 expected = keccak256(
            abi.encode(
                keccak256(
                    "Session(address signer,uint48 validAfter,uint48 validUntil,bytes32 permissionsRoot,uint8 paymasterPolicy,address paymaster,uint128 maxOperationFee,uint128 feeBudget,bytes32 salt)"
                ),
                session.signer,
                session.validAfter,
                session.validUntil,
                session.permissionsRoot,
                uint8(3),
                session.paymaster,
                session.maxOperationFee,
                session.feeBudget,
                session.salt
            )
        );
        vm.prank(address(accountV07));
        bytes32 sessionId = validator.grantSession(session);
        assertEq(sessionId, expected);
        assertEq(validator.sessionIdOf(session), expected);
        assertEq(SessionEncoding.sessionId(session), expected);
    }

    function test_grantSession_succeeds_whenAlreadyActive() public onEachEntryPoint {
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        _grant(currentEnv.entryPoint, account, session);
        _grant(currentEnv.entryPoint, account, session);
        assertEq(_status(account, SessionEncoding.sessionId(session)), 1);
        _handleOp(currentEnv.entryPoint, _transferUseOp(currentEnv.entryPoint, account, session, 100));
        assertEq(token.balanceOf(account), 900);
    }

    function test_grantSession_accepts_singleSecondWindow() public {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.validAfter = START + 5;
        session.validUntil = START + 5;
        _grant(entryPointV07, address(accountV07), session);
        assertEq(_status(address(accountV07), SessionEncoding.sessionId(session)), 1);
    }

    function test_grantSession_reverts_ZeroSessionSigner() public onEachEntryPoint {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.signer = address(0);
        _grantExpectRevert(
            currentEnv.entryPoint,
            _account(currentEnv),
            session,
            abi.encodeWithSelector(ISessionKeyValidator.ZeroSessionSigner.selector)
        );
        assertEq(_status(_account(currentEnv), SessionEncoding.sessionId(session)), 0);
    }

    function test_grantSession_reverts_InvalidSessionWindow_whenValidAfterAfterValidUntil() public onEachEntryPoint {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.validAfter = START + 2;
        session.validUntil = START + 1;
        _grantExpectRevert(
            currentEnv.entryPoint,
            _account(currentEnv),
            session,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidSessionWindow.selector, START + 2, START + 1)
        );
    }

    function test_grantSession_reverts_InvalidSessionWindow_whenValidUntilZero() public onEachEntryPoint {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.validAfter = 0;
        session.validUntil = 0;
        _grantExpectRevert(
            currentEnv.entryPoint,
            _account(currentEnv),
            session,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidSessionWindow.selector, 0, 0)
        );
    }

    function test_grantSession_reverts_InvalidPaymasterPolicy_whenExactlyWithoutPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.Exactly;
        _grantExpectRevert(
            currentEnv.entryPoint,
            _account(currentEnv),
            session,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidPaymasterPolicy.selector, 3, address(0))
        );
    }

    function test_grantSession_reverts_InvalidPaymasterPolicy_whenOtherPolicyNamesPaymaster() public onEachEntryPoint {
        address paymaster = makeAddr("paymaster");
        for (uint8 policy; policy < 3; ++policy) {
            SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
            session.paymasterPolicy = SessionTypes.PaymasterPolicy(policy);
            session.paymaster = paymaster;
            _grantExpectRevert(
                currentEnv.entryPoint,
                _account(currentEnv),
                session,
                abi.encodeWithSelector(ISessionKeyValidator.InvalidPaymasterPolicy.selector, policy, paymaster)
            );
        }
    }

    function test_grantSession_reverts_NotInstalled_whenAccountHasNoModule() public onEachEntryPoint {
        address account = _freshAccount(currentEnv, 1);
        _grantExpectRevert(
            currentEnv.entryPoint,
            account,
            _singleLeafSession(_transferPermission()),
            abi.encodeWithSelector(ISessionKeyValidator.NotInstalled.selector, account)
        );
    }

    function test_ownerFunctions_revert_NotInstalled_whenCallerNotInstalled() public {
        address stranger = makeAddr("stranger");
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes memory notInstalled = abi.encodeWithSelector(ISessionKeyValidator.NotInstalled.selector, stranger);

        vm.prank(stranger);
        vm.expectRevert(notInstalled);
        validator.grantSession(session);

        vm.prank(stranger);
        vm.expectRevert(notInstalled);
        validator.revokeSession(SessionEncoding.sessionId(session));

        vm.prank(stranger);
        vm.expectRevert(notInstalled);
        validator.revokeAllSessions();
    }

    // ------------------------------------------------------------------------------------------------------------
    // revokeSession
    // ------------------------------------------------------------------------------------------------------------

    function test_revokeSession_emitsSessionRevoked_andBlocksUse() public onEachEntryPoint {
        (IEntryPoint entryPoint, address account, SessionTypes.Session memory session, bytes32 sessionId) =
            _sessionUsedOnce(_transferPermission());

        PackedUserOperation memory op = _signedOwnerOp(
            entryPoint, account, _validatorCall(abi.encodeCall(ISessionKeyValidator.revokeSession, (sessionId)))
        );
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.SessionRevoked(account, sessionId);
        _handleOp(entryPoint, op);

        assertEq(_status(account, sessionId), 2, "revoked");
        _expectScopeError(entryPoint, _transferUseOp(entryPoint, account, session, 100), _notActive(sessionId));
        assertEq(token.balanceOf(account), 900);
    }

    function test_grantSession_reverts_SessionIsRevoked_afterRevokeSessionInSameEpoch() public onEachEntryPoint {
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes32 sessionId = SessionEncoding.sessionId(session);
        _grant(currentEnv.entryPoint, account, session);
        _revoke(currentEnv.entryPoint, account, sessionId);
        _grantExpectRevert(
            currentEnv.entryPoint,
            account,
            session,
            abi.encodeWithSelector(ISessionKeyValidator.SessionIsRevoked.selector, sessionId)
        );
        assertEq(_status(account, sessionId), 2, "still revoked");
    }

    function test_revokeSession_preemptivelyBlocksEnableSignature() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes32 sessionId = SessionEncoding.sessionId(session);
        bytes memory ownerSignature = _ownerEnableSignature(account, session);

        _revoke(entryPoint, account, sessionId);
        assertEq(_status(account, sessionId), 2, "revoked before ever granted");

        PackedUserOperation memory op = _enableOp(
            entryPoint,
            account,
            _transferCall(100),
            session,
            SessionEncoding.one(_transferPermission(), _noProof()),
            ownerSignature
        );
        _expectScopeError(
            entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.SessionIsRevoked.selector, sessionId)
        );
        assertEq(token.balanceOf(account), 1000);
    }

    // ------------------------------------------------------------------------------------------------------------
    // revokeAllSessions
    // ------------------------------------------------------------------------------------------------------------

    function test_revokeAllSessions_emitsAllSessionsRevoked_andVoidsEverySession() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory first = _singleLeafSession(_transferPermission());
        SessionTypes.Session memory second = _singleLeafSession(_transferPermission());
        second.salt = bytes32(uint256(2));
        _grant(entryPoint, account, first);
        _grant(entryPoint, account, second);
        _handleOp(entryPoint, _transferUseOp(entryPoint, account, first, 100));
        _handleOp(entryPoint, _transferUseOp(entryPoint, account, second, 100));

        PackedUserOperation memory op = _signedOwnerOp(
            entryPoint, account, _validatorCall(abi.encodeCall(ISessionKeyValidator.revokeAllSessions, ()))
        );
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.AllSessionsRevoked(account, 2);
        _handleOp(entryPoint, op);
        assertEq(validator.epochOf(account), 2);
        assertTrue(validator.isInitialized(account), "still installed");

        bytes32 firstId = SessionEncoding.sessionId(first);
        bytes32 secondId = SessionEncoding.sessionId(second);
        assertEq(_status(account, firstId), 0);
        assertEq(_status(account, secondId), 0);
        _expectScopeError(entryPoint, _transferUseOp(entryPoint, account, first, 100), _notActive(firstId));
        _expectScopeError(entryPoint, _transferUseOp(entryPoint, account, second, 100), _notActive(secondId));
        assertEq(token.balanceOf(account), 800);
    }

    function test_revokeAllSessions_returnsNewEpoch() public {
        vm.prank(address(accountV07));
        assertEq(validator.revokeAllSessions(), 2);
        vm.prank(address(accountV07));
        assertEq(validator.revokeAllSessions(), 3);
        assertEq(validator.epochOf(address(accountV07)), 3);
        assertEq(validator.epochOf(address(accountV08)), 1, "other account untouched");
    }

    function test_revokeAllSessions_regrantStartsWithFreshCounters() public onEachEntryPoint {
        (IEntryPoint entryPoint, address account, SessionTypes.Session memory session, bytes32 sessionId) =
            _sessionUsedOnce(_countedPermission());
        _assertCounters(account, sessionId, 1, 100);

        _revokeAll(entryPoint, account);
        _assertCounters(account, sessionId, 0, 0);
        _expectScopeError(entryPoint, _countedUseOp(entryPoint, account, session, 100), _notActive(sessionId));

        _grantAndUse(entryPoint, account, session, _countedPermission());
        _assertCounters(account, sessionId, 1, 100);
        assertEq(token.balanceOf(account), 800);
    }

    function test_revokeAllSessions_allowsRegrantOfSessionRevokedBefore() public onEachEntryPoint {
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes32 sessionId = SessionEncoding.sessionId(session);
        _grant(currentEnv.entryPoint, account, session);
        _revoke(currentEnv.entryPoint, account, sessionId);
        _revokeAll(currentEnv.entryPoint, account);
        assertEq(_status(account, sessionId), 0, "revocation belongs to the old epoch");
        _grant(currentEnv.entryPoint, account, session);
        _handleOp(currentEnv.entryPoint, _transferUseOp(currentEnv.entryPoint, account, session, 100));
        assertEq(token.balanceOf(account), 900);
    }

    function test_revokeSession_onlyAffectsCallingAccount() public {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes32 sessionId = SessionEncoding.sessionId(session);
        _grant(entryPointV07, address(accountV07), session);
        _grant(entryPointV08, address(accountV08), session);
        _revoke(entryPointV07, address(accountV07), sessionId);
        assertEq(_status(address(accountV07), sessionId), 2);
        assertEq(_status(address(accountV08), sessionId), 1);
        token.mint(address(accountV08), 1000);
        _handleOp(entryPointV08, _transferUseOp(entryPointV08, address(accountV08), session, 100));
        assertEq(token.balanceOf(recipient), 100);
    }
}
