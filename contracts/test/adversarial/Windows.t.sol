// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Cases 16 and 17: time windows and the shape of validationData.
contract WindowsAttackTest is AdversarialBase {
    event UserOperationRevertReason(
        bytes32 indexed userOpHash, address indexed sender, uint256 nonce, bytes revertReason
    );

    uint256 private constant SIG_FAILED = 1;

    // ------------------------------------------------------------------------------------------------------------
    // Case 16: the session window
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_expiredOrNotDue_whenBeforeSessionValidAfter() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        session.validAfter = START + 100;
        _grant(currentEnv.entryPoint, account, session);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(1));
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_expiredOrNotDue_whenAfterSessionValidUntil() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grant(currentEnv.entryPoint, address(currentEnv.account), session);
        vm.warp(uint256(session.validUntil) + 1);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(recorder), 0, _ping(1));
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        _assertRecorded(recorder, 0);
    }

    /// Boundaries: validUntil is inclusive on both versions; validAfter is inclusive on v0.7, exclusive on v0.8.
    function test_validateUserOp_respectsBoundaries_atValidAfterAndValidUntil() public {
        AccountEnv[] memory envs = _envs();
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        session.validAfter = START + 50;
        session.validUntil = START + 60;
        // Compares the two EntryPoints at the same timestamp (v0.7 accepts at validAfter, v0.8 refuses), so both
        // accounts live in one run: loops over both hosts instead of onEachEntryPoint.
        for (uint256 i; i < envs.length; ++i) {
            _grant(envs[i].entryPoint, address(envs[i].account), session);
        }
        vm.warp(START + 50);
        PackedUserOperation memory op07 =
            _op1(_env(EntryPointVersion.V07), session, permission, address(recorder), 0, _ping(1));
        _handleOp(entryPointV07, op07);
        PackedUserOperation memory op08 =
            _op1(_env(EntryPointVersion.V08), session, permission, address(recorder), 0, _ping(1));
        _expectExpiredOrNotDue(entryPointV08, op08);
        vm.warp(START + 60);
        // at validUntil both accept
        for (uint256 i; i < envs.length; ++i) {
            _handleOp(envs[i].entryPoint, _op1(envs[i], session, permission, address(recorder), 0, _ping(2)));
        }
        _assertRecorded(recorder, 3);
    }

    function test_grantSession_reverts_whenValidAfterIsAfterValidUntil() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Session memory session = _session(bytes32(uint256(1)));
        session.validAfter = START + 2 days;
        session.validUntil = START + 1 days;
        PackedUserOperation memory op = _signUserOp(
            currentEnv.entryPoint,
            _buildOwnerUserOp(
                currentEnv.entryPoint,
                account,
                _executeSingle(address(validator), 0, abi.encodeCall(ISessionKeyValidator.grantSession, (session)))
            ),
            OWNER_KEY
        );
        bytes32 opHash = _userOpHash(currentEnv.entryPoint, op);
        vm.expectEmit(true, true, false, true, address(currentEnv.entryPoint));
        emit UserOperationRevertReason(
            opHash,
            account,
            op.nonce,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidSessionWindow.selector, START + 2 days, START + 1 days)
        );
        _handleOp(currentEnv.entryPoint, op);
        assertEq(
            uint8(validator.sessionStatus(account, _sid(session))), uint8(ISessionKeyValidator.SessionStatus.Unknown)
        );
    }

    function test_validateUserOp_reverts_whenEnabledSessionHasInvertedWindow() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        session.validAfter = START + 2 days;
        session.validUntil = START + 1 days;
        PackedUserOperation memory op = _enableOp(
            currentEnv.entryPoint,
            account,
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            SessionEncoding.one(permission, _noProof()),
            _ownerEnableSignature(account, session)
        );
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidSessionWindow.selector, START + 2 days, START + 1 days)
        );
    }

    function test_validateUserOp_expiredOrNotDue_whenOutsidePermissionWindow() public onEachEntryPoint {
        SessionTypes.Permission memory late = _permission(address(recorder), PING);
        late.validAfter = START + 1 hours;
        SessionTypes.Permission memory over = _permission(address(recorder2), PING);
        over.validUntil = START;
        (SessionTypes.Session memory session, bytes32[][] memory proofs) = _grantPair(late, over);
        PackedUserOperation memory op = _op1(currentEnv, session, late, proofs[0], address(recorder), 0, _ping(1));
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        op = _op1(currentEnv, session, over, proofs[1], address(recorder2), 0, _ping(1));
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
    }

    /// HOLE (fixed): a rate-limited permission with validAfter 0 and a 1-second interval has window 0 = [0, 0].
    /// Its end, 0, was returned as validUntil, which the EntryPoint reads as "no expiry": the session key could
    /// pick window 0 and use the permission after the session (and the permission) expired.
    function test_validateUserOp_expiredOrNotDue_whenRateLimitWindowEndsAtSecondZero() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        permission.rateLimitCount = 1;
        permission.rateLimitInterval = 1;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grant(currentEnv.entryPoint, address(currentEnv.account), session);
        vm.warp(uint256(session.validUntil) + 365 days); // the session is long over
        PackedUserOperation memory op = _useOpN(
            currentEnv.entryPoint,
            address(currentEnv.account),
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            _oneAt(permission, _noProof(), 0)
        );
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        _assertRecorded(recorder, 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 17: validationData (validator called directly, as the account)
    // ------------------------------------------------------------------------------------------------------------

    /// validationData of `op`, as the account would get it; the validator's state changes are rolled back.
    function _validate(IEntryPoint entryPoint, PackedUserOperation memory op) internal returns (uint256 data) {
        bytes32 opHash = _userOpHash(entryPoint, op);
        uint256 snapshot = vm.snapshotState();
        vm.prank(op.sender);
        data = validator.validateUserOp(op, opHash);
        vm.revertToState(snapshot);
    }

    function _pack(uint256 sigFailed, uint256 validAfter, uint256 validUntil) internal pure returns (uint256) {
        return sigFailed | (validUntil << 160) | (validAfter << 208);
    }

    function test_validateUserOp_returnsSigFailed_whenSessionSignatureIsWrong() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        PackedUserOperation memory op = _useOp(
            currentEnv.entryPoint,
            account,
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            SessionEncoding.one(permission, _noProof()),
            uint256(keccak256("not the session key"))
        );
        uint256 data = _validate(currentEnv.entryPoint, op);
        assertEq(data, _pack(SIG_FAILED, session.validAfter, session.validUntil));
        assertEq(data & ((uint256(1) << 160) - 1), SIG_FAILED, "aggregator field is exactly 1");
    }

    function test_validateUserOp_returnsSigFailed_whenOwnerEnableSignatureIsWrong() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        bytes memory badOwnerSig =
            abi.encodePacked(address(ownerValidator), _sign(SESSION_KEY, validator.enableDigest(account, session)));
        PackedUserOperation memory op = _enableOp(
            currentEnv.entryPoint,
            account,
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            SessionEncoding.one(permission, _noProof()),
            badOwnerSig
        );
        assertEq(_validate(currentEnv.entryPoint, op), _pack(SIG_FAILED, session.validAfter, session.validUntil));
        // through the EntryPoint the whole operation, including the session's activation, is rejected
        _expectSignatureError(currentEnv.entryPoint, op);
        assertEq(
            uint8(validator.sessionStatus(account, _sid(session))), uint8(ISessionKeyValidator.SessionStatus.Unknown)
        );
    }

    function test_validateUserOp_intersectsWindows_ofSessionAndEveryPermission() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory a = _permission(address(recorder), PING);
        a.validAfter = START + 10;
        a.validUntil = START + 500;
        SessionTypes.Permission memory b = _permission(address(recorder2), PING);
        b.validAfter = START + 20;
        b.validUntil = START + 900;
        (bytes32 root, bytes32[][] memory proofs) = _tree(_pair(a, b));
        SessionTypes.Session memory session = _session(root);
        session.validUntil = START + 400;
        _grant(currentEnv.entryPoint, account, session);
        bytes memory callData = _executeBatch(
            _batch2(Execution(address(recorder), 0, _ping(1)), Execution(address(recorder2), 0, _ping(2)))
        );
        PackedUserOperation memory op =
            _useOpN(currentEnv.entryPoint, account, callData, session, _two(a, proofs[0], b, proofs[1]));
        // validAfter = max(START, START + 10, START + 20); validUntil = min(START + 400, START + 500, START + 900)
        assertEq(_validate(currentEnv.entryPoint, op), _pack(0, START + 20, START + 400));
    }

    function test_validateUserOp_intersectsWindows_withRateLimitWindow() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        permission.validAfter = START - 1000;
        permission.rateLimitCount = 2;
        permission.rateLimitInterval = 600;
        SessionTypes.Session memory session = _grantSingle(currentEnv.entryPoint, account, permission);
        // window 1 = [START - 400, START + 199]; intersected with the session's [START, START + 1 day]
        PackedUserOperation memory op = _useOpN(
            currentEnv.entryPoint,
            account,
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            _oneAt(permission, _noProof(), 1)
        );
        assertEq(_validate(currentEnv.entryPoint, op), _pack(0, START, START + 199));
        // window 500 lies after the session: validAfter > validUntil, never valid
        op = _useOpN(
            currentEnv.entryPoint,
            account,
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            _oneAt(permission, _noProof(), 500)
        );
        uint256 data = _validate(currentEnv.entryPoint, op);
        assertGt(uint48(data >> 208), uint48(data >> 160), "empty window");
    }

    function testFuzz_validateUserOp_windowIsIntersection(
        uint48 sessionAfter,
        uint48 sessionUntil,
        uint48 permissionAfter,
        uint48 permissionUntil,
        bool badSignature
    ) public {
        sessionUntil = uint48(bound(sessionUntil, 1, type(uint48).max));
        sessionAfter = uint48(bound(sessionAfter, 0, sessionUntil));
        address account = address(accountV08);
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        permission.validAfter = permissionAfter;
        permission.validUntil = permissionUntil;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        session.validAfter = sessionAfter;
        session.validUntil = sessionUntil;
        _grant(entryPointV08, account, session);
        PackedUserOperation memory op = _useOp(
            entryPointV08,
            account,
            _executeSingle(address(recorder), 0, _ping(1)),
            session,
            SessionEncoding.one(permission, _noProof()),
            badSignature ? uint256(keccak256("wrong")) : SESSION_KEY
        );
        uint256 data = _validate(entryPointV08, op);
        uint256 expectedAfter = sessionAfter > permissionAfter ? sessionAfter : permissionAfter;
        uint256 permissionEnd = permissionUntil == 0 ? type(uint48).max : permissionUntil;
        uint256 expectedUntil = sessionUntil < permissionEnd ? sessionUntil : permissionEnd;
        assertEq(data, _pack(badSignature ? SIG_FAILED : 0, expectedAfter, expectedUntil));
        assertTrue(uint48(data >> 160) != 0, "validUntil never 0 (= no expiry)");
    }
}
