// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Cases 22 and 20 (second half): malformed session signatures, and every byte of userOp.signature
///         rewritten by someone who does not hold the keys (a bundler, a mempool observer).
contract SignaturesAttackTest is AdversarialBase {
    uint256 private constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    // ------------------------------------------------------------------------------------------------------------
    // Case 22: signature shapes
    // ------------------------------------------------------------------------------------------------------------

    /// A granted session and an op whose session signature is replaced by `sessionSig`.
    function _opWithSessionSig(IEntryPoint entryPoint, address account, bytes memory sessionSig, bool signIt)
        internal
        returns (PackedUserOperation memory op)
    {
        SessionTypes.Permission memory permission = _permission(address(recorder), PING);
        SessionTypes.Session memory session = _grantSingle(entryPoint, account, permission);
        op = _op(entryPoint, account, _executeSingle(address(recorder), 0, _ping(1)));
        if (signIt) sessionSig = _sign(SESSION_KEY, _userOpHash(entryPoint, op));
        op.signature = SessionEncoding.useSignature(session, SessionEncoding.one(permission, _noProof()), sessionSig);
    }

    function test_validateUserOp_signatureError_whenSignatureIsHighS() public onEachEntryPoint {
        address account = address(currentEnv.account);
        PackedUserOperation memory op = _opWithSessionSig(currentEnv.entryPoint, account, "", true);
        bytes32 opHash = _userOpHash(currentEnv.entryPoint, op);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(SESSION_KEY, opHash);
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        assertEq(ecrecover(opHash, flippedV, r, highS), sessionSigner, "the malleable twin is a valid ecrecover");
        op = _opWithSessionSig(currentEnv.entryPoint, account, abi.encodePacked(r, highS, flippedV), false);
        _expectSignatureError(currentEnv.entryPoint, op);
        _assertRecorded(recorder, 0);
    }

    function test_validateUserOp_signatureError_whenSignatureHasWrongLength() public onEachEntryPoint {
        address account = address(currentEnv.account);
        PackedUserOperation memory op = _opWithSessionSig(currentEnv.entryPoint, account, "", true);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(SESSION_KEY, _userOpHash(currentEnv.entryPoint, op));
        // EIP-2098 compact form (64 bytes)
        bytes32 vs = bytes32(uint256(s) | (uint256(v - 27) << 255));
        op = _opWithSessionSig(currentEnv.entryPoint, account, abi.encodePacked(r, vs), false);
        _expectSignatureError(currentEnv.entryPoint, op);
        // 66 bytes
        op = _opWithSessionSig(currentEnv.entryPoint, account, abi.encodePacked(r, s, v, uint8(0)), false);
        _expectSignatureError(currentEnv.entryPoint, op);
        // empty
        op = _opWithSessionSig(currentEnv.entryPoint, account, "", false);
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    function test_validateUserOp_signatureError_whenSignatureRecoversToZero() public onEachEntryPoint {
        address account = address(currentEnv.account);
        PackedUserOperation memory op = _opWithSessionSig(currentEnv.entryPoint, account, "", true);
        bytes32 opHash = _userOpHash(currentEnv.entryPoint, op);
        bytes memory zeroSig = abi.encodePacked(bytes32(0), bytes32(uint256(1)), uint8(27)); // r = 0
        assertEq(ecrecover(opHash, 27, bytes32(0), bytes32(uint256(1))), address(0));
        op = _opWithSessionSig(currentEnv.entryPoint, account, zeroSig, false);
        _expectSignatureError(currentEnv.entryPoint, op);
        op = _opWithSessionSig(currentEnv.entryPoint, account, new bytes(65), false);
        _expectSignatureError(currentEnv.entryPoint, op);
        // v = 29 makes ecrecover return 0 as well
        (, bytes32 r, bytes32 s) = vm.sign(SESSION_KEY, opHash);
        op = _opWithSessionSig(currentEnv.entryPoint, account, abi.encodePacked(r, s, uint8(29)), false);
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    function test_validateUserOp_signatureError_whenSignedByOwnerInsteadOfSessionKey() public onEachEntryPoint {
        address account = address(currentEnv.account);
        PackedUserOperation memory op = _opWithSessionSig(currentEnv.entryPoint, account, "", true);
        op = _opWithSessionSig(
            currentEnv.entryPoint, account, _sign(OWNER_KEY, _userOpHash(currentEnv.entryPoint, op)), false
        );
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 20: rewriting the unsigned bytes of userOp.signature
    // ------------------------------------------------------------------------------------------------------------

    enum Expect {
        Exact, // this exact revert
        Rejected, // some EntryPoint rejection (parsing shifted: the exact error depends on the garbage)
        InScope // accepted: the byte is not bound by any signature and provably changes nothing
    }

    struct Fixture {
        IEntryPoint entryPoint;
        address account;
        SessionTypes.Session session;
        SessionTypes.Permission plain;
        SessionTypes.Permission limited;
        bytes32[][] proofs;
        PackedUserOperation op;
    }

    /// A two-call batch: recorder.ping(1) under a plain permission, recorder2.ping(2) under a rate-limited one.
    function _fixture(AccountEnv memory env, bool enable) internal returns (Fixture memory f) {
        f.entryPoint = env.entryPoint;
        f.account = address(env.account);
        f.plain = _permission(address(recorder), PING);
        f.plain.maxUses = 10;
        f.plain.rules = new SessionTypes.ArgRule[](1);
        f.plain.rules[0] = _rule(SessionTypes.RuleOperator.Lte, 0, bytes32(uint256(100)));
        f.limited = _permission(address(recorder2), PING);
        f.limited.validAfter = START;
        f.limited.rateLimitCount = 5;
        f.limited.rateLimitInterval = 1 hours;
        bytes32 root;
        (root, f.proofs) = _tree(_pair(f.plain, f.limited));
        f.session = _session(root);
        bytes memory callData = _executeBatch(
            _batch2(Execution(address(recorder), 0, _ping(1)), Execution(address(recorder2), 0, _ping(2)))
        );
        CallProof[] memory calls = _two(f.plain, f.proofs[0], f.limited, f.proofs[1]);
        if (enable) {
            f.op = _enableOp(
                f.entryPoint, f.account, callData, f.session, calls, _ownerEnableSignature(f.account, f.session)
            );
        } else {
            _grant(f.entryPoint, f.account, f.session);
            f.op = _useOpN(f.entryPoint, f.account, callData, f.session, calls);
        }
    }

    function _expectation(Fixture memory f, bytes memory sig, uint256 b, bool enable)
        internal
        pure
        returns (Expect kind, bytes memory exact)
    {
        uint256 ownerSigLength = enable
            ? 2
                + uint256(
                    uint16(
                        bytes2(
                            bytes.concat(
                                sig[1 + SessionEncoding.SESSION_LENGTH], sig[2 + SessionEncoding.SESSION_LENGTH]
                            )
                        )
                    )
                )
            : 0;
        uint256 callsStart = 1 + SessionEncoding.SESSION_LENGTH + ownerSigLength;
        if (b == 0) return (Expect.Rejected, "");
        if (b < 1 + SessionEncoding.SESSION_LENGTH) {
            if (enable) return (Expect.Rejected, ""); // owner's digest changes (AA24) or a session check fails
            bytes memory sessionData = new bytes(SessionEncoding.SESSION_LENGTH);
            for (uint256 k; k < SessionEncoding.SESSION_LENGTH; ++k) {
                sessionData[k] = sig[1 + k];
            }
            sessionData[b - 1] ^= 0x01;
            bytes32 id = keccak256(bytes.concat(SessionTypes.SESSION_TYPEHASH, sessionData));
            return (Expect.Exact, abi.encodeWithSelector(ISessionKeyValidator.SessionNotActive.selector, id));
        }
        if (b < 3 + SessionEncoding.SESSION_LENGTH && enable) return (Expect.Rejected, ""); // owner signature length
        if (b < callsStart) return (Expect.Exact, _failedOp(0, "AA24 signature error")); // owner signature
        if (b == callsStart) {
            return (Expect.Exact, abi.encodeWithSelector(ISessionKeyValidator.CallCountMismatch.selector, 2, 3));
        }
        uint256 cursor = callsStart + 1;
        SessionTypes.Permission[2] memory permissions = [f.plain, f.limited];
        for (uint256 i; i < 2; ++i) {
            bytes memory permissionData = abi.encode(permissions[i]);
            uint256 permissionStart = cursor + 2;
            uint256 proofLengthAt = permissionStart + permissionData.length;
            uint256 windowAt = proofLengthAt + 1 + 32;
            if (b < permissionStart) return (Expect.Rejected, ""); // permission length
            if (b < proofLengthAt) {
                permissionData[b - permissionStart] ^= 0x01;
                bytes32 leaf = keccak256(bytes.concat(keccak256(permissionData)));
                return
                    (
                        Expect.Exact,
                        abi.encodeWithSelector(ISessionKeyValidator.PermissionNotInSession.selector, i, leaf)
                    );
            }
            if (b < windowAt) {
                // proof length (1 -> 0: empty proof) or proof bytes
                return (
                    Expect.Exact,
                    abi.encodeWithSelector(
                        ISessionKeyValidator.PermissionNotInSession.selector, i, _leaf(permissions[i])
                    )
                );
            }
            if (b < windowAt + 4) {
                // the rate-limit window: ignored by a permission without rate limit; otherwise a window that has
                // not started yet, which the EntryPoint refuses (AA22)
                if (permissions[i].rateLimitCount == 0) return (Expect.InScope, "");
                return (Expect.Exact, _failedOp(0, "AA22 expired or not due"));
            }
            cursor = windowAt + 4;
        }
        return (Expect.Exact, _failedOp(0, "AA24 signature error")); // session signature r, s, v
    }

    function _sweep(bool enable) internal {
        Fixture memory f = _fixture(currentEnv, enable);
        bytes memory original = f.op.signature;
        // the unmodified op is accepted: record its effects to compare accepted mutations with
        uint256 snapshot = vm.snapshotState();
        _handleOp(f.entryPoint, f.op);
        (uint64 plainUses,,) = validator.usageOf(f.account, _sid(f.session), _leaf(f.plain));
        assertEq(plainUses, 1);
        vm.revertToState(snapshot);
        uint256 accepted;
        // every iteration's allocations are dropped at its end: the sweep runs in constant memory
        uint256 freeMemory;
        assembly ("memory-safe") {
            freeMemory := mload(0x40)
        }
        for (uint256 b; b < original.length; ++b) {
            bytes memory sig = bytes.concat(original);
            sig[b] ^= 0x01;
            (Expect kind, bytes memory exact) = _expectation(f, original, b, enable);
            f.op.signature = sig;
            snapshot = vm.snapshotState();
            uint256 before1 = recorder.recordedCount();
            uint256 before2 = recorder2.recordedCount();
            (bool ok, bytes memory reason) = _tryHandleOp(f.entryPoint, f.op);
            if (kind == Expect.InScope) {
                assertTrue(ok, "unbound byte: accepted");
                ++accepted;
                // exactly the signed calls ran, and the counters moved exactly as for the original
                assertEq(recorder.recordedCount(), before1 + 1);
                assertEq(recorder2.recordedCount(), before2 + 1);
                _assertRecordedCall(recorder, before1, f.account, 0, _ping(1));
                _assertRecordedCall(recorder2, before2, f.account, 0, _ping(2));
                (uint64 uses,,) = validator.usageOf(f.account, _sid(f.session), _leaf(f.plain));
                assertEq(uses, plainUses);
            } else {
                assertFalse(ok, string.concat("mutation accepted at byte ", vm.toString(b)));
                if (kind == Expect.Exact) {
                    if (bytes4(exact) == IEntryPoint.FailedOp.selector) assertEq(reason, exact, vm.toString(b));
                    else assertEq(reason, _failedOpWithRevert(0, "AA23 reverted", exact), vm.toString(b));
                } else {
                    bytes4 selector = bytes4(reason);
                    assertTrue(
                        selector == IEntryPoint.FailedOp.selector
                            || selector == IEntryPoint.FailedOpWithRevert.selector,
                        vm.toString(b)
                    );
                }
                assertEq(recorder.recordedCount(), before1);
                assertEq(recorder2.recordedCount(), before2);
            }
            vm.revertToState(snapshot);
            assembly ("memory-safe") {
                mstore(0x40, freeMemory)
            }
        }
        assertEq(accepted, 4, "only the plain permission's 4 window bytes are free");
    }

    function test_validateUserOp_rejectsOrStaysInScope_whenAnyUseSignatureByteIsFlipped() public onEachEntryPoint {
        _sweep(false);
    }

    function test_validateUserOp_rejectsOrStaysInScope_whenAnyEnableSignatureByteIsFlipped() public onEachEntryPoint {
        _sweep(true);
    }

    function test_validateUserOp_reverts_whenModeIsUnknown() public onEachEntryPoint {
        Fixture memory f = _fixture(currentEnv, false);
        f.op.signature[0] = 0x03;
        _expectScopeError(
            f.entryPoint, f.op, abi.encodeWithSelector(ISessionKeyValidator.UnknownSignatureMode.selector, 3)
        );
    }

    function test_validateUserOp_reverts_whenSignatureIsTruncated() public onEachEntryPoint {
        Fixture memory f = _fixture(currentEnv, false);
        bytes memory sig = f.op.signature;
        assembly ("memory-safe") {
            mstore(sig, 100) // keep only mode and part of the session
        }
        f.op.signature = sig;
        _expectScopeError(
            f.entryPoint,
            f.op,
            abi.encodeWithSelector(ISessionKeyValidator.SignatureTruncated.selector, 1, SessionEncoding.SESSION_LENGTH)
        );
    }
}
