// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";

/// @notice Time windows: the session's, each permission's, and their intersection in validationData.
contract WindowsTest is SessionLifecycleBase {
    /// A transfer permission valid over [validAfter, validUntil] (validUntil 0: the session's).
    function _windowPermission(uint48 validAfter, uint48 validUntil)
        internal
        view
        returns (SessionTypes.Permission memory permission)
    {
        permission = _transferPermission();
        permission.validAfter = validAfter;
        permission.validUntil = validUntil;
    }

    function _windowSession(SessionTypes.Permission memory permission, uint48 validAfter, uint48 validUntil)
        internal
        view
        returns (SessionTypes.Session memory session)
    {
        session = _singleLeafSession(permission);
        session.validAfter = validAfter;
        session.validUntil = validUntil;
    }

    function _op(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        uint256 key
    ) internal view returns (PackedUserOperation memory) {
        return _useOp(
            env.entryPoint, _account(env), _transferCall(10), session, SessionEncoding.one(permission, _noProof()), key
        );
    }

    /// Grants `session` to `env`'s account directly and returns the validator's validationData for a use op.
    function _validate(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        uint256 key
    ) internal returns (uint256 validationData) {
        address account = _account(env);
        vm.prank(account);
        validator.grantSession(session);
        PackedUserOperation memory op = _op(env, session, permission, key);
        bytes32 userOpHash = _userOpHash(env.entryPoint, op);
        vm.prank(account);
        validationData = validator.validateUserOp(op, userOpHash);
    }

    function _assertValidation(
        uint256 validationData,
        uint160 expectedAggregator,
        uint48 expectedValidUntil,
        uint48 expectedValidAfter
    ) internal pure {
        (uint160 aggregator, uint48 validUntil, uint48 validAfter) = _unpackValidationData(validationData);
        assertEq(aggregator, expectedAggregator, "aggregator / sigFailed");
        assertEq(validUntil, expectedValidUntil, "validUntil");
        assertEq(validAfter, expectedValidAfter, "validAfter");
    }

    /// Both hosts, each account holding 1000 tokens (for the test that compares the two EntryPoints; a helper loop).
    function _fundedEnvs() internal returns (AccountEnv[] memory envs) {
        envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            token.mint(_account(envs[i]), 1000);
        }
    }

    /// Gives the account of the current {onEachEntryPoint} run 1000 tokens.
    function _fundCurrentAccount() internal {
        token.mint(_account(currentEnv), 1000);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Session window through the EntryPoint
    // ------------------------------------------------------------------------------------------------------------

    function test_handleOps_reverts_AA22_beforeSessionValidAfter() public onEachEntryPoint {
        _fundCurrentAccount();
        SessionTypes.Permission memory permission = _transferPermission();
        SessionTypes.Session memory session = _windowSession(permission, START + 100, START + 1 days);
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        _expectExpiredOrNotDue(currentEnv.entryPoint, _op(currentEnv, session, permission, SESSION_KEY));
    }

    function test_handleOps_sessionValidAfter_inclusiveOnV07_exclusiveOnV08() public {
        AccountEnv[] memory envs = _fundedEnvs();
        SessionTypes.Permission memory permission = _transferPermission();
        SessionTypes.Session memory session = _windowSession(permission, START + 100, START + 1 days);
        // Compares the two EntryPoints at the same timestamp (v0.7 accepts, v0.8 refuses): no onEachEntryPoint.
        for (uint256 i; i < envs.length; ++i) {
            _grant(envs[i].entryPoint, _account(envs[i]), session);
        }
        vm.warp(START + 100);
        _handleOp(entryPointV07, _op(_env(EntryPointVersion.V07), session, permission, SESSION_KEY));
        assertEq(token.balanceOf(address(accountV07)), 990, "v0.7 accepts at validAfter");
        _expectExpiredOrNotDue(entryPointV08, _op(_env(EntryPointVersion.V08), session, permission, SESSION_KEY));

        vm.warp(START + 101);
        _handleOp(entryPointV08, _op(_env(EntryPointVersion.V08), session, permission, SESSION_KEY));
        assertEq(token.balanceOf(address(accountV08)), 990, "v0.8 accepts after validAfter");
    }

    function test_handleOps_accepts_atSessionValidUntil() public onEachEntryPoint {
        _fundCurrentAccount();
        SessionTypes.Permission memory permission = _transferPermission();
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        vm.warp(START + 1 days);
        _handleOp(currentEnv.entryPoint, _op(currentEnv, session, permission, SESSION_KEY));
        assertEq(token.balanceOf(_account(currentEnv)), 990);
    }

    function test_handleOps_reverts_AA22_afterSessionValidUntil() public onEachEntryPoint {
        _fundCurrentAccount();
        SessionTypes.Permission memory permission = _transferPermission();
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        vm.warp(START + 1 days + 1);
        _expectExpiredOrNotDue(currentEnv.entryPoint, _op(currentEnv, session, permission, SESSION_KEY));
    }

    function test_handleOps_reverts_AA22_whenEnablingSessionNotYetDue() public onEachEntryPoint {
        _fundCurrentAccount();
        address account = _account(currentEnv);
        SessionTypes.Permission memory permission = _transferPermission();
        SessionTypes.Session memory session = _windowSession(permission, START + 100, START + 1 days);
        PackedUserOperation memory op = _enableOp(
            currentEnv.entryPoint,
            account,
            _transferCall(10),
            session,
            SessionEncoding.one(permission, _noProof()),
            _ownerEnableSignature(account, session)
        );
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 0, "not granted");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Permission window through the EntryPoint
    // ------------------------------------------------------------------------------------------------------------

    function test_handleOps_reverts_AA22_afterPermissionValidUntil() public onEachEntryPoint {
        _fundCurrentAccount();
        SessionTypes.Permission memory permission = _windowPermission(0, START + 10);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        vm.warp(START + 10);
        _handleOp(currentEnv.entryPoint, _op(currentEnv, session, permission, SESSION_KEY));
        assertEq(token.balanceOf(_account(currentEnv)), 990, "valid at permission end");
        vm.warp(START + 11);
        _expectExpiredOrNotDue(currentEnv.entryPoint, _op(currentEnv, session, permission, SESSION_KEY));
    }

    function test_handleOps_reverts_AA22_beforePermissionValidAfter() public onEachEntryPoint {
        _fundCurrentAccount();
        SessionTypes.Permission memory permission = _windowPermission(START + 50, 0);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        _expectExpiredOrNotDue(currentEnv.entryPoint, _op(currentEnv, session, permission, SESSION_KEY));
        vm.warp(START + 51);
        _handleOp(currentEnv.entryPoint, _op(currentEnv, session, permission, SESSION_KEY));
        assertEq(token.balanceOf(_account(currentEnv)), 990);
    }

    function test_handleOps_reverts_AA22_whenPermissionAndSessionWindowsDisjoint() public onEachEntryPoint {
        _fundCurrentAccount();
        SessionTypes.Permission memory permission = _windowPermission(START + 2 days, START + 3 days);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        for (uint256 t; t < 3; ++t) {
            vm.warp(START + 1 + t * 1 days);
            _expectExpiredOrNotDue(currentEnv.entryPoint, _op(currentEnv, session, permission, SESSION_KEY));
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // validationData returned by the validator (direct calls from the account)
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_returnsSessionWindow_whenPermissionUnbounded() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _windowPermission(0, 0);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _assertValidation(_validate(currentEnv, session, permission, SESSION_KEY), 0, START + 1 days, START);
    }

    function test_validateUserOp_returnsPermissionWindow_whenInsideSession() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _windowPermission(START + 10, START + 20);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _assertValidation(_validate(currentEnv, session, permission, SESSION_KEY), 0, START + 20, START + 10);
    }

    function test_validateUserOp_returnsSessionWindow_whenPermissionWider() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _windowPermission(START - 100, START + 2 days);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _assertValidation(_validate(currentEnv, session, permission, SESSION_KEY), 0, START + 1 days, START);
    }

    function test_validateUserOp_returnsIntersection_whenWindowsOverlap() public onEachEntryPoint {
        SessionTypes.Permission memory early = _windowPermission(START - 100, START + 10);
        SessionTypes.Session memory session = _windowSession(early, START, START + 1 days);
        _assertValidation(_validate(currentEnv, session, early, SESSION_KEY), 0, START + 10, START);

        SessionTypes.Permission memory late = _windowPermission(START + 10, START + 2 days);
        session = _windowSession(late, START, START + 1 days);
        _assertValidation(_validate(currentEnv, session, late, SESSION_KEY), 0, START + 1 days, START + 10);
    }

    function test_validateUserOp_usesSessionValidUntil_whenPermissionValidUntilZero() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _windowPermission(START + 5, 0);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _assertValidation(_validate(currentEnv, session, permission, SESSION_KEY), 0, START + 1 days, START + 5);
    }

    function test_validateUserOp_returnsEmptyWindow_whenDisjoint() public {
        SessionTypes.Permission memory permission = _windowPermission(START + 2 days, START + 3 days);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _assertValidation(
            _validate(_env(EntryPointVersion.V07), session, permission, SESSION_KEY), 0, START + 1 days, START + 2 days
        );
    }

    function test_validateUserOp_setsSigFailed_withIntersectedWindow_whenBadSignature() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _windowPermission(START + 10, START + 20);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        _assertValidation(_validate(currentEnv, session, permission, OTHER_KEY), 1, START + 20, START + 10);
    }

    function test_validateUserOp_returnsSameWindow_regardlessOfBlockTime() public {
        SessionTypes.Permission memory permission = _windowPermission(START + 10, START + 20);
        SessionTypes.Session memory session = _windowSession(permission, START, START + 1 days);
        AccountEnv memory env = _env(EntryPointVersion.V08);
        vm.warp(START + 365 days);
        _assertValidation(_validate(env, session, permission, SESSION_KEY), 0, START + 20, START + 10);
        vm.warp(1);
        _assertValidation(_validate(env, session, permission, SESSION_KEY), 0, START + 20, START + 10);
    }

    function testFuzz_validateUserOp_returnsIntersectionOfWindows(
        uint48 sessionAfter,
        uint48 sessionUntil,
        uint48 permissionAfter,
        uint48 permissionUntil,
        bool badSignature
    ) public {
        sessionUntil = uint48(bound(sessionUntil, 1, type(uint48).max));
        sessionAfter = uint48(bound(sessionAfter, 0, sessionUntil));
        SessionTypes.Permission memory permission = _windowPermission(permissionAfter, permissionUntil);
        SessionTypes.Session memory session = _windowSession(permission, sessionAfter, sessionUntil);

        uint48 expectedAfter = permissionAfter > sessionAfter ? permissionAfter : sessionAfter;
        uint48 expectedUntil = permissionUntil != 0 && permissionUntil < sessionUntil ? permissionUntil : sessionUntil;
        _assertValidation(
            _validate(_env(EntryPointVersion.V07), session, permission, badSignature ? OTHER_KEY : SESSION_KEY),
            badSignature ? 1 : 0,
            expectedUntil,
            expectedAfter
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Rate-limit window edge: a window ending at timestamp 0 must not become "no expiry"
    // ------------------------------------------------------------------------------------------------------------

    function test_handleOps_reverts_AA22_whenRateLimitWindowEndsAtTimestampZero() public onEachEntryPoint {
        _fundCurrentAccount();
        SessionTypes.Permission memory permission = _transferPermission();
        permission.rateLimitCount = 1;
        permission.rateLimitInterval = 1; // window 0 spans [0, 0], long past
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        PackedUserOperation memory op = _op(currentEnv, session, permission, SESSION_KEY); // window 0
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        assertEq(token.balanceOf(_account(currentEnv)), 1000);
    }

    function test_validateUserOp_neverReturnsValidUntilZero_forRateLimitWindowEndingAtZero() public {
        SessionTypes.Permission memory permission = _transferPermission();
        permission.rateLimitCount = 1;
        permission.rateLimitInterval = 1;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        uint256 validationData = _validate(_env(EntryPointVersion.V07), session, permission, SESSION_KEY);
        (uint160 aggregator, uint48 validUntil, uint48 validAfter) = _unpackValidationData(validationData);
        assertEq(aggregator, 0);
        assertTrue(validUntil != 0, "validUntil 0 means no expiry to the EntryPoint");
        assertLt(validUntil, validAfter, "empty window");
    }
}
