// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";

/// @notice userOp.signature handling: session-key signature checks, wire-format errors, ERC-1271.
contract SessionSignatureTest is SessionLifecycleBase {
    function _grantedSession(AccountEnv memory env) internal returns (SessionTypes.Session memory session) {
        session = _singleLeafSession(_transferPermission());
        _grant(env.entryPoint, _account(env), session);
        token.mint(_account(env), 1000);
    }

    function _calls() internal view returns (CallProof[] memory) {
        return SessionEncoding.one(_transferPermission(), _noProof());
    }

    /// A use-mode transfer op whose session signature is `sessionSignature`, verbatim.
    function _opWithSessionSignature(
        IEntryPoint entryPoint,
        address account,
        SessionTypes.Session memory session,
        bytes memory callData,
        bytes memory sessionSignature
    ) internal view returns (PackedUserOperation memory op) {
        op = _sessionOp(entryPoint, account, callData, "");
        op.signature = SessionEncoding.useSignature(session, _calls(), sessionSignature);
    }

    function _dummySignature() internal pure returns (bytes memory) {
        return _sign(OTHER_KEY, keccak256("dummy"));
    }

    function _truncated(bytes memory data, uint256 length) internal pure returns (bytes memory out) {
        out = new bytes(length);
        for (uint256 i; i < length; ++i) {
            out[i] = data[i];
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Session-key signature: AA24
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_AA24_whenSignedByOtherKey() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantedSession(currentEnv);
        PackedUserOperation memory op =
            _useOp(currentEnv.entryPoint, _account(currentEnv), _transferCall(100), session, _calls(), OTHER_KEY);
        _expectSignatureError(currentEnv.entryPoint, op);
        op = _useOp(currentEnv.entryPoint, _account(currentEnv), _transferCall(100), session, _calls(), OWNER_KEY);
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    function test_validateUserOp_reverts_AA24_whenHighS() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _grantedSession(currentEnv);
        PackedUserOperation memory op = _sessionOp(entryPoint, account, _transferCall(100), "");
        bytes32 userOpHash = _userOpHash(entryPoint, op);
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(SESSION_KEY, userOpHash);
        bytes32 highS = bytes32(SECP256K1_N - uint256(s));
        uint8 flippedV = v == 27 ? 28 : 27;
        assertEq(ecrecover(userOpHash, flippedV, r, highS), sessionSigner, "malleated signature recovers");
        op.signature = SessionEncoding.useSignature(session, _calls(), abi.encodePacked(r, highS, flippedV));
        _expectSignatureError(entryPoint, op);
    }

    function test_validateUserOp_reverts_AA24_whenSignatureIs64Bytes() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _grantedSession(currentEnv);
        PackedUserOperation memory op = _sessionOp(entryPoint, account, _transferCall(100), "");
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(SESSION_KEY, _userOpHash(entryPoint, op));
        // ERC-2098 compact form of a valid signature.
        bytes32 vs = bytes32(uint256(s) | (uint256(v - 27) << 255));
        op.signature = SessionEncoding.useSignature(session, _calls(), abi.encodePacked(r, vs));
        _expectSignatureError(entryPoint, op);
    }

    function test_validateUserOp_reverts_AA24_whenSignatureIs66Bytes() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _grantedSession(currentEnv);
        PackedUserOperation memory op = _sessionOp(entryPoint, account, _transferCall(100), "");
        bytes memory valid = _sign(SESSION_KEY, _userOpHash(entryPoint, op));
        op.signature = SessionEncoding.useSignature(session, _calls(), bytes.concat(valid, bytes1(0)));
        _expectSignatureError(entryPoint, op);
    }

    function test_validateUserOp_reverts_AA24_whenSignatureRecoversToZero() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantedSession(currentEnv);
        bytes memory zero = abi.encodePacked(bytes32(0), bytes32(0), uint8(27));
        PackedUserOperation memory op =
            _opWithSessionSignature(currentEnv.entryPoint, _account(currentEnv), session, _transferCall(100), zero);
        assertEq(ecrecover(_userOpHash(currentEnv.entryPoint, op), 27, bytes32(0), bytes32(0)), address(0));
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    function test_validateUserOp_reverts_AA24_whenSessionSignatureEmpty() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantedSession(currentEnv);
        PackedUserOperation memory op =
            _opWithSessionSignature(currentEnv.entryPoint, _account(currentEnv), session, _transferCall(100), "");
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    function test_validateUserOp_reverts_AA24_withDummySignatureAndValidScope() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantedSession(currentEnv);
        PackedUserOperation memory op = _opWithSessionSignature(
            currentEnv.entryPoint, _account(currentEnv), session, _transferCall(100), _dummySignature()
        );
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    function test_validateUserOp_revertsScopeError_withDummySignature() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantedSession(currentEnv);
        bytes memory approve = _executeSingle(address(token), 0, abi.encodeCall(IERC20.approve, (recipient, 1)));
        PackedUserOperation memory op =
            _opWithSessionSignature(currentEnv.entryPoint, _account(currentEnv), session, approve, _dummySignature());
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.SelectorNotAllowed.selector, 0, IERC20.approve.selector, IERC20.transfer.selector
            )
        );
    }

    function test_validateUserOp_returnsWindowWithSigFailed_forDummySignature() public {
        SessionTypes.Session memory session = _grantedSession(_env(EntryPointVersion.V07));
        PackedUserOperation memory op =
            _opWithSessionSignature(entryPointV07, address(accountV07), session, _transferCall(100), _dummySignature());
        bytes32 userOpHash = _userOpHash(entryPointV07, op);
        vm.prank(address(accountV07));
        uint256 validationData = validator.validateUserOp(op, userOpHash);
        (uint160 aggregator, uint48 validUntil, uint48 validAfter) = _unpackValidationData(validationData);
        assertEq(aggregator, 1);
        assertEq(validUntil, session.validUntil);
        assertEq(validAfter, session.validAfter);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Wire format
    // ------------------------------------------------------------------------------------------------------------

    function _expectWireError(bytes memory signature, bytes memory inner) internal {
        _grantedSession(currentEnv);
        PackedUserOperation memory op = _sessionOp(currentEnv.entryPoint, _account(currentEnv), _transferCall(100), "");
        op.signature = signature;
        _expectScopeError(currentEnv.entryPoint, op, inner);
    }

    function _validUseSignature() internal view returns (bytes memory) {
        return SessionEncoding.useSignature(
            _singleLeafSession(_transferPermission()), _calls(), _sign(SESSION_KEY, keccak256("any"))
        );
    }

    function _truncatedError(uint256 offset, uint256 needed) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.SignatureTruncated.selector, offset, needed);
    }

    function test_validateUserOp_reverts_SignatureTruncated_whenEmpty() public onEachEntryPoint {
        _expectWireError("", _truncatedError(1, SessionEncoding.SESSION_LENGTH));
    }

    function test_validateUserOp_reverts_SignatureTruncated_whenSessionIncomplete() public onEachEntryPoint {
        _expectWireError(_truncated(_validUseSignature(), 100), _truncatedError(1, SessionEncoding.SESSION_LENGTH));
    }

    function test_validateUserOp_reverts_SignatureTruncated_whenCallCountMissing() public onEachEntryPoint {
        _expectWireError(
            _truncated(_validUseSignature(), 1 + SessionEncoding.SESSION_LENGTH),
            _truncatedError(1 + SessionEncoding.SESSION_LENGTH, 1)
        );
    }

    function test_validateUserOp_reverts_SignatureTruncated_whenPermissionLengthOverruns() public onEachEntryPoint {
        bytes memory signature = _validUseSignature();
        signature[2 + SessionEncoding.SESSION_LENGTH] = 0xff;
        signature[3 + SessionEncoding.SESSION_LENGTH] = 0xff;
        _expectWireError(signature, _truncatedError(4 + SessionEncoding.SESSION_LENGTH, 0xffff));
    }

    /// The session signature is the rest of the signature: cut or missing, it is a bad signature (AA24).
    function test_validateUserOp_reverts_AA24_whenSessionSignatureCutOrMissing() public onEachEntryPoint {
        bytes memory signature = _validUseSignature();
        uint256 length = signature.length;
        uint256[2] memory cuts = [length - 1, length - 65];
        for (uint256 i; i < cuts.length; ++i) {
            _grantedSession(currentEnv);
            PackedUserOperation memory op =
                _sessionOp(currentEnv.entryPoint, _account(currentEnv), _transferCall(100), "");
            op.signature = _truncated(signature, cuts[i]);
            _expectSignatureError(currentEnv.entryPoint, op);
        }
    }

    function test_validateUserOp_reverts_SignatureTruncated_whenLastCallEntryCut() public onEachEntryPoint {
        bytes memory signature = _validUseSignature();
        uint256 length = signature.length;
        // the period field (4 bytes) before the 65-byte session signature, cut by one byte
        _expectWireError(_truncated(signature, length - 66), _truncatedError(length - 69, 4));
    }

    function test_validateUserOp_reverts_SignatureTruncated_whenOwnerSignatureLengthMissing() public onEachEntryPoint {
        bytes memory signature = _validUseSignature();
        signature[0] = bytes1(SessionTypes.MODE_ENABLE);
        _expectWireError(
            _truncated(signature, 2 + SessionEncoding.SESSION_LENGTH),
            _truncatedError(1 + SessionEncoding.SESSION_LENGTH, 2)
        );
    }

    function test_validateUserOp_reverts_SignatureTruncated_whenOwnerSignatureCut() public onEachEntryPoint {
        bytes memory signature = bytes.concat(
            bytes1(SessionTypes.MODE_ENABLE),
            abi.encode(_singleLeafSession(_transferPermission())),
            bytes2(uint16(65)),
            new bytes(10)
        );
        _expectWireError(signature, _truncatedError(3 + SessionEncoding.SESSION_LENGTH, 65));
    }

    function test_validateUserOp_reverts_UnknownSignatureMode() public onEachEntryPoint {
        uint8[2] memory modes = [3, 255];
        for (uint256 m; m < modes.length; ++m) {
            bytes memory signature = _validUseSignature();
            signature[0] = bytes1(modes[m]);
            _expectWireError(
                signature, abi.encodeWithSelector(ISessionKeyValidator.UnknownSignatureMode.selector, modes[m])
            );
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Direct calls
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_SenderMismatch_whenCallerIsNotSender() public {
        SessionTypes.Session memory session = _grantedSession(_env(EntryPointVersion.V08));
        PackedUserOperation memory op =
            _useOp(entryPointV08, address(accountV08), _transferCall(100), session, _calls(), SESSION_KEY);
        bytes32 userOpHash = _userOpHash(entryPointV08, op);
        vm.prank(address(accountV07));
        vm.expectRevert(
            abi.encodeWithSelector(
                ISessionKeyValidator.SenderMismatch.selector, address(accountV08), address(accountV07)
            )
        );
        validator.validateUserOp(op, userOpHash);
    }

    function test_validateUserOp_reverts_NotInstalled_whenCallerNotInstalled() public {
        address stranger = makeAddr("stranger");
        PackedUserOperation memory op;
        op.sender = stranger;
        op.signature = _validUseSignature();
        vm.prank(stranger);
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.NotInstalled.selector, stranger));
        validator.validateUserOp(op, keccak256("hash"));
    }

    // ------------------------------------------------------------------------------------------------------------
    // ERC-1271
    // ------------------------------------------------------------------------------------------------------------

    /// An account without the module never gets the magic value: ERC-7739 detection aside (empty data), it
    /// reverts NotInstalled. Message signatures of sessions are in TypedDataSignatures.t.sol.
    function testFuzz_isValidSignatureWithSender_neverMagic_withoutTheModule(
        address sender,
        bytes32 hash,
        bytes memory signature
    ) public {
        if (signature.length == 0) {
            assertNotEq(validator.isValidSignatureWithSender(sender, hash, signature), bytes4(0x1626ba7e));
            return;
        }
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.NotInstalled.selector, address(this)));
        validator.isValidSignatureWithSender(sender, hash, signature);
    }

    /// A session key's plain signature of a hash is no ERC-7739 signature: it does not even hold a session.
    function test_isValidSignatureWithSender_reverts_forPlainSessionKeySignature() public onEachEntryPoint {
        _grantedSession(currentEnv);
        bytes32 hash = keccak256("message");
        bytes memory sessionSignature = _sign(SESSION_KEY, hash);
        vm.prank(_account(currentEnv));
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.SignatureTruncated.selector, 0, 288));
        validator.isValidSignatureWithSender(address(this), hash, sessionSignature);
    }

    function test_isValidSignature_invalid_throughAccountWithValidatorPrefix() public onEachEntryPoint {
        _grantedSession(currentEnv);
        bytes32 hash = keccak256("message");
        assertEq(
            currentEnv.account.isValidSignature(hash, abi.encodePacked(address(validator), _sign(SESSION_KEY, hash))),
            bytes4(0xffffffff),
            "session key cannot sign for the account"
        );
        assertEq(
            currentEnv.account.isValidSignature(hash, abi.encodePacked(address(validator), _sign(OWNER_KEY, hash))),
            bytes4(0xffffffff),
            "not even the owner's signature through the session validator"
        );
        assertEq(
            currentEnv.account.isValidSignature(hash, _ownerSignatureOf(hash)),
            bytes4(0x1626ba7e),
            "control: the owner validator accepts"
        );
    }
}
