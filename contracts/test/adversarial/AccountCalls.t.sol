// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {
    Execution,
    IERC7579Execution,
    IERC7579ModuleConfig,
    MODULE_TYPE_EXECUTOR,
    MODULE_TYPE_VALIDATOR
} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {SessionKeyValidator} from "../../src/SessionKeyValidator.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Cases 1, 6, 7 and 26: what the account is asked to do, and which targets are out of reach; the empty
///         permission of a self-revocation reaches nothing but `revokeSession` of the signature's own session.
contract AccountCallsAttackTest is AdversarialBase {
    /// `executeUserOp(PackedUserOperation,bytes32)`: EntryPoint v0.7+ runs it instead of the raw callData.
    bytes4 private constant EXECUTE_USER_OP = 0x8dd7712f;
    /// `upgradeToAndCall(address,bytes)` (ERC-1967 / UUPS).
    bytes4 private constant UPGRADE_TO_AND_CALL = 0x4f1ef286;

    /// A session that lets its key call anything (wildcard target) with `selector`, and grants it.
    function _grantWildcard(IEntryPoint entryPoint, address account, bytes4 selector)
        internal
        returns (SessionTypes.Session memory session, SessionTypes.Permission memory permission)
    {
        permission = _permission(address(0), selector);
        permission.flags = SessionTypes.FLAG_ANY_TARGET;
        permission.valueLimit = 1 ether;
        session = _grantSingle(entryPoint, account, permission);
    }

    function _expectUnsupportedAccountCall(bytes memory callData, bytes4 selector) internal {
        address account = address(currentEnv.account);
        (SessionTypes.Session memory session, SessionTypes.Permission memory permission) =
            _grantWildcard(currentEnv.entryPoint, account, PING);
        PackedUserOperation memory op =
            _useOp1(currentEnv.entryPoint, account, callData, session, permission, _noProof());
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.UnsupportedAccountCall.selector, selector)
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 1: account functions other than execute
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenCallDataIsInstallModule() public onEachEntryPoint {
        _expectUnsupportedAccountCall(
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_EXECUTOR, address(recorder), "")),
            IERC7579ModuleConfig.installModule.selector
        );
    }

    function test_validateUserOp_reverts_whenCallDataIsUninstallModule() public onEachEntryPoint {
        _expectUnsupportedAccountCall(
            abi.encodeCall(IERC7579ModuleConfig.uninstallModule, (MODULE_TYPE_VALIDATOR, address(ownerValidator), "")),
            IERC7579ModuleConfig.uninstallModule.selector
        );
    }

    function test_validateUserOp_reverts_whenCallDataIsUpgradeToAndCall() public onEachEntryPoint {
        _expectUnsupportedAccountCall(
            abi.encodeWithSelector(UPGRADE_TO_AND_CALL, address(recorder), ""), UPGRADE_TO_AND_CALL
        );
    }

    function test_validateUserOp_reverts_whenCallDataIsExecuteFromExecutor() public onEachEntryPoint {
        bytes memory inner = abi.encodePacked(address(recorder), uint256(0), _ping(1));
        _expectUnsupportedAccountCall(
            abi.encodeCall(IERC7579Execution.executeFromExecutor, (bytes32(0), inner)),
            IERC7579Execution.executeFromExecutor.selector
        );
    }

    function test_validateUserOp_reverts_whenCallDataIsExecuteUserOp() public onEachEntryPoint {
        // the EntryPoint would call account.executeUserOp(userOp, userOpHash) with the op's own callData after it
        bytes memory callData = bytes.concat(EXECUTE_USER_OP, _executeSingle(address(recorder), 0, _ping(1)));
        _expectUnsupportedAccountCall(callData, EXECUTE_USER_OP);
    }

    function test_validateUserOp_reverts_whenCallDataIsShorterThanASelector() public onEachEntryPoint {
        _expectUnsupportedAccountCall(hex"e9ae5c", bytes4(0));
        _expectUnsupportedAccountCall("", bytes4(0));
    }

    function test_validateUserOp_reverts_whenCallDataIsAccountFallbackSelector() public onEachEntryPoint {
        _expectUnsupportedAccountCall(_ping(1), PING);
    }

    function testFuzz_validateUserOp_reverts_whenSelectorIsNotExecute(bytes4 selector, bytes memory rest) public {
        vm.assume(selector != IERC7579Execution.execute.selector);
        address account = address(accountV08);
        (SessionTypes.Session memory session, SessionTypes.Permission memory permission) =
            _grantWildcard(entryPointV08, account, PING);
        PackedUserOperation memory op =
            _useOp1(entryPointV08, account, bytes.concat(selector, rest), session, permission, _noProof());
        _expectScopeError(
            entryPointV08, op, abi.encodeWithSelector(ISessionKeyValidator.UnsupportedAccountCall.selector, selector)
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 6: wildcard targets never reach the account, the validator or address(0)
    // ------------------------------------------------------------------------------------------------------------

    function _expectForbidden(address target, bytes4 selector, bytes memory data) internal {
        address account = address(currentEnv.account);
        address callTarget = target == address(1) ? account : target; // 1 stands for "the account itself"
        (SessionTypes.Session memory session, SessionTypes.Permission memory permission) =
            _grantWildcard(currentEnv.entryPoint, account, selector);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, callTarget, 0, data);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, callTarget)
        );
    }

    function test_validateUserOp_reverts_whenWildcardTargetIsAccount() public onEachEntryPoint {
        _expectForbidden(
            address(1),
            IERC7579ModuleConfig.installModule.selector,
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_EXECUTOR, address(recorder), ""))
        );
    }

    function test_validateUserOp_reverts_whenWildcardTargetIsValidator() public onEachEntryPoint {
        _expectForbidden(
            address(validator),
            ISessionKeyValidator.revokeAllSessions.selector,
            abi.encodeCall(ISessionKeyValidator.revokeAllSessions, ())
        );
    }

    function test_validateUserOp_reverts_whenWildcardTargetIsZeroAddress() public onEachEntryPoint {
        // OpenZeppelin's ERC7579Utils executes target address(0) as the account itself
        _expectForbidden(
            address(0),
            IERC7579ModuleConfig.installModule.selector,
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_EXECUTOR, address(recorder), ""))
        );
    }

    function test_validateUserOp_reverts_whenExplicitPermissionTargetIsAccount() public onEachEntryPoint {
        // even an owner-committed leaf naming the account itself as target is never usable
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(account, IERC7579ModuleConfig.installModule.selector);
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        bytes memory data =
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_EXECUTOR, address(recorder), ""));
        PackedUserOperation memory op = _op1(currentEnv, session, permission, account, 0, data);
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, account)
        );
    }

    function test_validateUserOp_reverts_whenWildcardBatchHidesAccountCall() public onEachEntryPoint {
        address account = address(currentEnv.account);
        (SessionTypes.Session memory session, SessionTypes.Permission memory permission) =
            _grantWildcard(currentEnv.entryPoint, account, PING);
        bytes memory callData =
            _executeBatch(_batch2(Execution(address(recorder), 0, _ping(1)), Execution(address(0), 0, _ping(2))));
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, callData, session, _repeat(permission, _noProof(), 2));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 1, address(0))
        );
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_executes_whenWildcardTargetIsOrdinaryContract() public onEachEntryPoint {
        address account = address(currentEnv.account);
        (SessionTypes.Session memory session, SessionTypes.Permission memory permission) =
            _grantWildcard(currentEnv.entryPoint, account, PING);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder2), 0, _ping(7));
        _handleOp(currentEnv.entryPoint, op);
        _assertRecordedCall(recorder2, 0, account, 0, _ping(7));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 7: native transfers carry no calldata
    // ------------------------------------------------------------------------------------------------------------

    function _nativePermission(address target) internal pure returns (SessionTypes.Permission memory permission) {
        permission = _permission(target, bytes4(0));
        permission.flags = SessionTypes.FLAG_NATIVE_TRANSFER;
        permission.valueLimit = 1 ether;
    }

    function test_validateUserOp_reverts_whenNativeTransferCarriesErc20Transfer() public onEachEntryPoint {
        address account = address(currentEnv.account);
        token.mint(account, 1000);
        SessionTypes.Permission memory permission = _nativePermission(address(token));
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        bytes memory callData = _executeSingle(address(token), 0, abi.encodeCall(IERC20.transfer, (bundler, 1000)));
        PackedUserOperation memory op =
            _useOp1(currentEnv.entryPoint, account, callData, session, permission, _noProof());
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTransferWithCalldata.selector, 0)
        );
        assertEq(token.balanceOf(account), 1000);
    }

    function test_validateUserOp_reverts_whenNativeTransferCarriesOneByte() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _nativePermission(address(recorder));
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 1, hex"00");
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTransferWithCalldata.selector, 0)
        );
    }

    function test_validateUserOp_transfers_whenNativeTransferHasNoCalldata() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _nativePermission(address(recorder));
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 1 ether, "");
        _handleOp(currentEnv.entryPoint, op);
        _assertRecordedCall(recorder, 0, account, 1 ether, "");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 26: the empty permission (self-revocation) calls nothing but revokeSession(own session) on the validator
    // ------------------------------------------------------------------------------------------------------------

    /// Grants a ping session and a second session on the current run's account; returns both.
    function _grantTwoSessions()
        internal
        returns (SessionTypes.Session memory session, SessionTypes.Session memory other)
    {
        address account = address(currentEnv.account);
        session = _grantSingle(currentEnv.entryPoint, account, _permission(address(recorder), PING));
        other = _grantSingle(currentEnv.entryPoint, account, _permission(address(recorder2), PING));
    }

    /// Sends the empty-permission call and expects InvalidSelfRevocation; nothing of the validator's state moves.
    function _expectEmptyPermissionRejected(
        SessionTypes.Session memory session,
        SessionTypes.Session memory other,
        address target,
        uint256 value,
        bytes memory data
    ) internal {
        address account = address(currentEnv.account);
        PackedUserOperation memory op = _emptyPermissionOp(currentEnv, session, target, value, data);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidSelfRevocation.selector, 0, target)
        );
        assertEq(validator.epochOf(account), 1, "epoch");
        assertTrue(validator.isInitialized(account), "installed");
        assertEq(uint8(validator.sessionStatus(account, _sid(session))), 1, "session active");
        assertEq(uint8(validator.sessionStatus(account, _sid(other))), 1, "other session active");
        assertFalse(validator.hasRevokedPermissions(account, _sid(session)), "no permission revoked");
    }

    function test_validateUserOp_reverts_whenEmptyPermissionCallsOtherValidatorFunctions() public onEachEntryPoint {
        (SessionTypes.Session memory session, SessionTypes.Session memory other) = _grantTwoSessions();
        SessionTypes.Session memory wide = _singleLeafSession(_permission(address(0), PING));
        wide.maxOperationFee = SessionTypes.UNLIMITED_FEE;
        wide.feeBudget = SessionTypes.UNLIMITED_FEE;
        bytes[] memory calls = new bytes[](8);
        calls[0] = abi.encodeCall(ISessionKeyValidator.grantSession, (wide));
        calls[1] = abi.encodeCall(ISessionKeyValidator.revokeAllSessions, ());
        calls[2] = abi.encodeCall(
            ISessionKeyValidator.revokePermission, (_sid(other), _leaf(_permission(address(recorder2), PING)))
        );
        calls[3] = abi.encodeCall(
            ISessionKeyValidator.revokePermission, (_sid(session), _leaf(_permission(address(recorder), PING)))
        );
        calls[4] = abi.encodeWithSelector(validator.onUninstall.selector, "");
        calls[5] = abi.encodeWithSelector(validator.onInstall.selector, "");
        calls[6] = abi.encodeCall(ISessionKeyValidator.revokeSession, (_sid(other)));
        calls[7] = ""; // the fallback, if any
        for (uint256 i; i < calls.length; ++i) {
            _expectEmptyPermissionRejected(session, other, address(validator), 0, calls[i]);
        }
    }

    function test_validateUserOp_reverts_whenEmptyPermissionRevokesAnotherSession() public onEachEntryPoint {
        (SessionTypes.Session memory session, SessionTypes.Session memory other) = _grantTwoSessions();
        _expectEmptyPermissionRejected(session, other, address(validator), 0, SessionEncoding.selfRevocationCall(other));
    }

    function test_validateUserOp_reverts_whenEmptyPermissionTargetsAnotherValidatorDeployment()
        public
        onEachEntryPoint
    {
        (SessionTypes.Session memory session, SessionTypes.Session memory other) = _grantTwoSessions();
        SessionKeyValidator lookalike = new SessionKeyValidator();
        _expectEmptyPermissionRejected(
            session, other, address(lookalike), 0, SessionEncoding.selfRevocationCall(session)
        );
    }

    function test_validateUserOp_reverts_whenEmptyPermissionTargetsAccountOrRecorder() public onEachEntryPoint {
        (SessionTypes.Session memory session, SessionTypes.Session memory other) = _grantTwoSessions();
        _expectEmptyPermissionRejected(
            session, other, address(currentEnv.account), 0, SessionEncoding.selfRevocationCall(session)
        );
        _expectEmptyPermissionRejected(session, other, address(recorder), 0, _ping(1));
        _expectEmptyPermissionRejected(session, other, address(0), 0, SessionEncoding.selfRevocationCall(session));
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_reverts_whenEmptyPermissionSendsValue() public onEachEntryPoint {
        (SessionTypes.Session memory session, SessionTypes.Session memory other) = _grantTwoSessions();
        _expectEmptyPermissionRejected(
            session, other, address(validator), 1, SessionEncoding.selfRevocationCall(session)
        );
    }

    function testFuzz_validateUserOp_reverts_whenEmptyPermissionCallIsNotExactSelfRevocation(
        address target,
        uint256 value,
        bytes memory data,
        bool towardValidator
    ) public onEachEntryPoint {
        (SessionTypes.Session memory session, SessionTypes.Session memory other) = _grantTwoSessions();
        if (towardValidator) target = address(validator);
        if (data.length >= 4 && uint256(keccak256(data)) % 2 == 0) {
            // keep the revokeSession selector half of the time, with whatever arguments follow
            bytes4 selector = ISessionKeyValidator.revokeSession.selector;
            for (uint256 i; i < 4; ++i) {
                data[i] = selector[i];
            }
        }
        vm.assume(
            target != address(validator) || value != 0
                || keccak256(data) != keccak256(SessionEncoding.selfRevocationCall(session))
        );
        _expectEmptyPermissionRejected(session, other, target, value, data);
    }

    function test_validateUserOp_selfRevokes_whenEmptyPermissionCallIsExact() public onEachEntryPoint {
        // positive control: the one call the empty permission allows, and only its own session is touched
        (SessionTypes.Session memory session, SessionTypes.Session memory other) = _grantTwoSessions();
        address account = address(currentEnv.account);
        _handleOp(
            currentEnv.entryPoint,
            _emptyPermissionOp(currentEnv, session, address(validator), 0, SessionEncoding.selfRevocationCall(session))
        );
        assertEq(uint8(validator.sessionStatus(account, _sid(session))), 2, "own session revoked");
        assertEq(uint8(validator.sessionStatus(account, _sid(other))), 1, "other session untouched");
        assertEq(validator.epochOf(account), 1, "epoch");
    }

    function test_validateUserOp_reverts_whenWildcardPermissionCallsRevokeSession() public onEachEntryPoint {
        // a permission, even a wildcard one naming revokeSession, never reaches the validator: only the empty one does
        _expectForbidden(
            address(validator),
            ISessionKeyValidator.revokeSession.selector,
            abi.encodeCall(ISessionKeyValidator.revokeSession, (bytes32(0)))
        );
    }
}
