// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {WebAuthn} from "@openzeppelin/contracts/utils/cryptography/WebAuthn.sol";
import {SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {P256PrecompileStandIn} from "../mocks/P256PrecompileStandIn.sol";
import {SignerKeys} from "../utils/SignerKeys.sol";

/// @notice Session signers of every kind (P-256, WebAuthn, weighted multisig) through `EntryPoint.handleOps` on both
///         EntryPoints, their failures (AA24, never a revert) and their dummy signatures for gas estimation.
contract SignerKindsTest is SessionLifecycleBase {
    uint256 internal constant P256_KEY = 0x5a1e5e550a7ec0def00d0000000000000000000000000000000000000001;
    uint256 internal constant P256_OTHER_KEY = 0x5a1e5e550a7ec0def00d0000000000000000000000000000000000000002;
    uint256 internal constant WEBAUTHN_KEY = 0x5a1e5e550a7ec0def00d0000000000000000000000000000000000000003;

    // ------------------------------------------------------------------------------------------------------------
    // Keys and signatures
    // ------------------------------------------------------------------------------------------------------------

    /// The three members of the test multisig, sorted by address: the ECDSA session key, a P-256 key and a
    /// WebAuthn credential, weight 1 each.
    function _members() internal view returns (address[3] memory members, uint8[3] memory kinds) {
        members = [
            sessionSigner,
            SignerKeys.commitment(SignerKeys.p256Key(P256_KEY, 0x01)),
            SignerKeys.commitment(SignerKeys.p256Key(WEBAUTHN_KEY, 0x02))
        ];
        kinds = [0, 1, 2];
        for (uint256 i; i < 3; ++i) {
            for (uint256 j = i + 1; j < 3; ++j) {
                if (members[j] < members[i]) {
                    (members[i], members[j]) = (members[j], members[i]);
                    (kinds[i], kinds[j]) = (kinds[j], kinds[i]);
                }
            }
        }
    }

    function _multisigKey(uint16 threshold, address[3] memory members) internal pure returns (bytes memory key) {
        key = abi.encodePacked(uint8(0x03), threshold, uint8(3));
        for (uint256 i; i < 3; ++i) {
            key = bytes.concat(key, abi.encodePacked(members[i], uint16(1)));
        }
    }

    function _memberSignature(uint8 kind, bytes32 hash) internal view returns (bytes memory) {
        if (kind == 0) return _sign(SESSION_KEY, hash);
        if (kind == 1) return SignerKeys.p256Signature(P256_KEY, hash);
        return _webAuthnSigned(hash, SignerKeys.FLAGS_UP_UV);
    }

    /// A multisig signature of the members at `signing` (ascending indices into the sorted members).
    function _multisigSignature(uint16 threshold, uint256[] memory signing, bytes32 hash)
        internal
        view
        returns (bytes memory signature)
    {
        (address[3] memory members, uint8[3] memory kinds) = _members();
        signature = bytes.concat(_multisigKey(threshold, members), bytes1(uint8(signing.length)));
        for (uint256 i; i < signing.length; ++i) {
            bytes memory sub = _memberSignature(kinds[signing[i]], hash);
            signature = bytes.concat(signature, abi.encodePacked(uint8(signing[i]), uint16(sub.length)), sub);
        }
    }

    function _indices(uint256 a, uint256 b) internal pure returns (uint256[] memory indices) {
        indices = new uint256[](2);
        (indices[0], indices[1]) = (a, b);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Sessions and operations
    // ------------------------------------------------------------------------------------------------------------

    function _grantedSessionOf(address signer) internal returns (SessionTypes.Session memory session) {
        session = _singleLeafSession(_transferPermission());
        session.signer = signer;
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        token.mint(_account(currentEnv), 1000);
    }

    function _calls() internal view returns (CallProof[] memory) {
        return SessionEncoding.one(_transferPermission(), _noProof());
    }

    /// A use-mode transfer of 100 and its userOpHash; its signature is set by the caller.
    function _transferOp() internal view returns (PackedUserOperation memory op, bytes32 userOpHash) {
        op = _sessionOp(currentEnv.entryPoint, _account(currentEnv), _transferCall(100), "");
        userOpHash = _userOpHash(currentEnv.entryPoint, op);
    }

    function _send(PackedUserOperation memory op, SessionTypes.Session memory session, bytes memory sessionSignature)
        internal
    {
        op.signature = SessionEncoding.useSignature(session, _calls(), sessionSignature);
        _handleOp(currentEnv.entryPoint, op);
        assertEq(token.balanceOf(recipient), 100, "transferred");
    }

    function _expectRefused(
        PackedUserOperation memory op,
        SessionTypes.Session memory session,
        bytes memory sessionSignature
    ) internal {
        op.signature = SessionEncoding.useSignature(session, _calls(), sessionSignature);
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    /// `validateUserOp` as the account calls it, and the gas it used.
    function _validate(PackedUserOperation memory op, bytes32 userOpHash)
        internal
        returns (uint256 validationData, uint256 gasUsed)
    {
        address account = _account(currentEnv);
        vm.prank(account);
        uint256 before = gasleft();
        validationData = validator.validateUserOp(op, userOpHash);
        gasUsed = before - gasleft();
    }

    function _webAuthnSession() internal returns (SessionTypes.Session memory) {
        return _grantedSessionOf(SignerKeys.commitment(SignerKeys.p256Key(WEBAUTHN_KEY, 0x02)));
    }

    /// The test credential's WebAuthn session signature over `hash` with authenticator `flags`.
    function _webAuthnSigned(bytes32 hash, bytes1 flags) internal pure returns (bytes memory) {
        return SignerKeys.webAuthnSignature(WEBAUTHN_KEY, SignerKeys.assertion(WEBAUTHN_KEY, hash, flags));
    }

    // ------------------------------------------------------------------------------------------------------------
    // P-256
    // ------------------------------------------------------------------------------------------------------------

    function test_handleOps_transfers_withP256Session() public onEachEntryPoint {
        SessionTypes.Session memory session =
            _grantedSessionOf(SignerKeys.commitment(SignerKeys.p256Key(P256_KEY, 0x01)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        _send(op, session, SignerKeys.p256Signature(P256_KEY, userOpHash));
    }

    function test_handleOps_transfers_withP256Session_throughThePrecompile() public onEachEntryPoint {
        vm.etch(address(0x100), address(new P256PrecompileStandIn()).code);
        SessionTypes.Session memory session =
            _grantedSessionOf(SignerKeys.commitment(SignerKeys.p256Key(P256_KEY, 0x01)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        _send(op, session, SignerKeys.p256Signature(P256_KEY, userOpHash));
    }

    function test_handleOps_reverts_AA24_whenP256KeyIsNotTheCommittedOne() public onEachEntryPoint {
        SessionTypes.Session memory session =
            _grantedSessionOf(SignerKeys.commitment(SignerKeys.p256Key(P256_KEY, 0x01)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        // a valid signature by another key, which carries its own key
        _expectRefused(op, session, SignerKeys.p256Signature(P256_OTHER_KEY, userOpHash));
        // the committed key with another key's signature
        bytes memory forged = SignerKeys.p256Signature(P256_OTHER_KEY, userOpHash);
        bytes memory key = SignerKeys.p256Key(P256_KEY, 0x01);
        for (uint256 i; i < 65; ++i) {
            forged[i] = key[i];
        }
        _expectRefused(op, session, forged);
    }

    function test_handleOps_reverts_AA24_whenP256SignatureHasHighS() public onEachEntryPoint {
        SessionTypes.Session memory session =
            _grantedSessionOf(SignerKeys.commitment(SignerKeys.p256Key(P256_KEY, 0x01)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        (bytes32 r, bytes32 s) = SignerKeys.p256Sign(P256_KEY, userOpHash);
        bytes32 highS = bytes32(SignerKeys.P256_N - uint256(s));
        (uint256 x, uint256 y) = vm.publicKeyP256(P256_KEY);
        assertTrue(P256.verifySolidity(userOpHash, r, highS, bytes32(x), bytes32(y)) == false, "OZ refuses high s");
        _expectRefused(op, session, bytes.concat(SignerKeys.p256Key(P256_KEY, 0x01), r, highS));
    }

    function test_handleOps_reverts_AA24_whenP256KeyIsOffTheCurve() public onEachEntryPoint {
        bytes memory key = abi.encodePacked(uint8(0x01), bytes32(uint256(1)), bytes32(uint256(2)));
        SessionTypes.Session memory session = _grantedSessionOf(SignerKeys.commitment(key));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        (bytes32 r, bytes32 s) = SignerKeys.p256Sign(P256_KEY, userOpHash);
        _expectRefused(op, session, bytes.concat(key, r, s));
    }

    function testFuzz_validateUserOp_returnsSigFailed_whenP256SignatureByteFlipped(uint256 index, uint8 flip) public {
        currentEnv = _env(EntryPointVersion.V07);
        SessionTypes.Session memory session =
            _grantedSessionOf(SignerKeys.commitment(SignerKeys.p256Key(P256_KEY, 0x01)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        bytes memory signature = SignerKeys.p256Signature(P256_KEY, userOpHash);
        signature[bound(index, 0, signature.length - 1)] ^= bytes1(uint8(bound(flip, 1, 255)));
        op.signature = SessionEncoding.useSignature(session, _calls(), signature);
        (uint256 validationData,) = _validate(op, userOpHash);
        assertEq(uint160(validationData), 1, "sig failed");
    }

    // ------------------------------------------------------------------------------------------------------------
    // WebAuthn
    // ------------------------------------------------------------------------------------------------------------

    function test_handleOps_transfers_withWebAuthnSession() public onEachEntryPoint {
        SessionTypes.Session memory session = _webAuthnSession();
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        _send(op, session, _webAuthnSigned(userOpHash, SignerKeys.FLAGS_UP_UV));
    }

    function test_handleOps_transfers_withWebAuthnSession_withoutUserVerification() public onEachEntryPoint {
        SessionTypes.Session memory session = _webAuthnSession();
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        _send(op, session, _webAuthnSigned(userOpHash, 0x01));
    }

    function test_handleOps_reverts_AA24_whenWebAuthnUserNotPresent() public onEachEntryPoint {
        SessionTypes.Session memory session = _webAuthnSession();
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        _expectRefused(op, session, _webAuthnSigned(userOpHash, 0x04));
    }

    function test_handleOps_reverts_AA24_whenWebAuthnChallengeIsAnotherHash() public onEachEntryPoint {
        SessionTypes.Session memory session = _webAuthnSession();
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        bytes32 other = keccak256(abi.encode(userOpHash));
        _expectRefused(op, session, _webAuthnSigned(other, SignerKeys.FLAGS_UP_UV));
    }

    function test_handleOps_reverts_AA24_whenWebAuthnTypeIsCreate() public onEachEntryPoint {
        SessionTypes.Session memory session = _webAuthnSession();
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        WebAuthn.WebAuthnAuth memory auth = SignerKeys.assertion(WEBAUTHN_KEY, userOpHash, SignerKeys.FLAGS_UP_UV);
        auth.typeIndex = 0; // `{"type":…` at 0 is not `"type":"webauthn.get"`
        _expectRefused(op, session, SignerKeys.webAuthnSignature(WEBAUTHN_KEY, auth));
        auth.typeIndex = type(uint256).max; // past the end: refused, not out of gas
        _expectRefused(op, session, SignerKeys.webAuthnSignature(WEBAUTHN_KEY, auth));
    }

    function testFuzz_validateUserOp_returnsSigFailed_whenWebAuthnSignatureByteFlipped(uint256 index, uint8 flip)
        public
    {
        currentEnv = _env(EntryPointVersion.V07);
        SessionTypes.Session memory session = _webAuthnSession();
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        bytes memory signature = _webAuthnSigned(userOpHash, SignerKeys.FLAGS_UP_UV);
        // any byte but the two offsets, which may point at the same bytes another way
        uint256 at = bound(index, 0, signature.length - 1);
        vm.assume(at < 65 + 128 || at >= 65 + 192);
        signature[at] ^= bytes1(uint8(bound(flip, 1, 255)));
        op.signature = SessionEncoding.useSignature(session, _calls(), signature);
        (uint256 validationData,) = _validate(op, userOpHash);
        // only a flip in the ABI padding after authenticatorData or clientDataJSON leaves the assertion valid
        if (uint160(validationData) == 0) {
            WebAuthn.WebAuthnAuth memory auth = SignerKeys.assertion(WEBAUTHN_KEY, userOpHash, SignerKeys.FLAGS_UP_UV);
            uint256 authStart = 65 + 192 + 32;
            uint256 authPadEnd = authStart + (auth.authenticatorData.length + 31) / 32 * 32;
            uint256 jsonEnd = authPadEnd + 32 + bytes(auth.clientDataJSON).length;
            assertTrue(
                (at >= authStart + auth.authenticatorData.length && at < authPadEnd) || at >= jsonEnd, "only padding"
            );
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Weighted multisig
    // ------------------------------------------------------------------------------------------------------------

    function test_handleOps_transfers_withTwoOfThreeMultisigSession() public onEachEntryPoint {
        (address[3] memory members,) = _members();
        SessionTypes.Session memory session = _grantedSessionOf(SignerKeys.commitment(_multisigKey(2, members)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        _send(op, session, _multisigSignature(2, _indices(0, 2), userOpHash));
    }

    function test_handleOps_reverts_AA24_whenMultisigBelowThreshold() public onEachEntryPoint {
        (address[3] memory members,) = _members();
        SessionTypes.Session memory session = _grantedSessionOf(SignerKeys.commitment(_multisigKey(3, members)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        _expectRefused(op, session, _multisigSignature(3, _indices(0, 1), userOpHash));
    }

    function test_handleOps_reverts_AA24_whenMultisigSignerRepeated() public onEachEntryPoint {
        (address[3] memory members,) = _members();
        SessionTypes.Session memory session = _grantedSessionOf(SignerKeys.commitment(_multisigKey(2, members)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        _expectRefused(op, session, _multisigSignature(2, _indices(1, 1), userOpHash));
    }

    function test_handleOps_reverts_AA24_whenMultisigMembersUnsorted() public onEachEntryPoint {
        (address[3] memory members,) = _members();
        (members[0], members[1]) = (members[1], members[0]);
        // the owner committed to the unsorted set: it never validates
        SessionTypes.Session memory session = _grantedSessionOf(SignerKeys.commitment(_multisigKey(1, members)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        (, uint8[3] memory kinds) = _members();
        bytes memory sub = _memberSignature(kinds[1], userOpHash);
        bytes memory signature = bytes.concat(
            _multisigKey(1, members), bytes1(uint8(1)), abi.encodePacked(uint8(0), uint16(sub.length)), sub
        );
        _expectRefused(op, session, signature);
    }

    function test_handleOps_reverts_AA24_whenMultisigThresholdAboveTotalWeight() public onEachEntryPoint {
        (address[3] memory members,) = _members();
        SessionTypes.Session memory session = _grantedSessionOf(SignerKeys.commitment(_multisigKey(4, members)));
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        uint256[] memory all = new uint256[](3);
        (all[0], all[1], all[2]) = (0, 1, 2);
        _expectRefused(op, session, _multisigSignature(4, all, userOpHash));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Dummy signatures: SIG_VALIDATION_FAILED with the window, at the real signature's gas
    // ------------------------------------------------------------------------------------------------------------

    /// The dummy fails without reverting, with the real signature's window, and costs what the real one does:
    /// exactly for secp256k1 sub-signatures, within 5% where OpenZeppelin's Solidity P-256 verification runs (its
    /// cost depends on the scalars' bits; the SDK's estimate adds that margin on chains without the precompile).
    function _assertDummyCostsAsReal(address signer, bytes memory real, bytes memory dummy) internal {
        SessionTypes.Session memory session = _grantedSessionOf(signer);
        (PackedUserOperation memory op, bytes32 userOpHash) = _transferOp();
        uint256 snapshot = vm.snapshotState();
        op.signature = SessionEncoding.useSignature(session, _calls(), real);
        (uint256 realData, uint256 realGas) = _validate(op, userOpHash);
        vm.revertToState(snapshot);
        op.signature = SessionEncoding.useSignature(session, _calls(), dummy);
        (uint256 dummyData, uint256 dummyGas) = _validate(op, userOpHash);
        assertEq(uint160(realData), 0, "real signature valid");
        assertEq(uint160(dummyData), 1, "dummy fails without reverting");
        assertEq(dummyData >> 160, realData >> 160, "same window");
        assertApproxEqRel(dummyGas, realGas, 0.05e18, "the dummy costs what the real signature does");
    }

    function test_validateUserOp_dummyCostsAsReal_forP256() public onEachEntryPoint {
        (, bytes32 userOpHash) = _transferOp();
        bytes memory real = SignerKeys.p256Signature(P256_KEY, userOpHash);
        bytes memory dummy = SignerKeys.p256Signature(P256_KEY, keccak256("dummy"));
        _assertDummyCostsAsReal(SignerKeys.commitment(SignerKeys.p256Key(P256_KEY, 0x01)), real, dummy);
    }

    function test_validateUserOp_dummyCostsAsReal_forWebAuthn() public onEachEntryPoint {
        (, bytes32 userOpHash) = _transferOp();
        bytes memory real = _webAuthnSigned(userOpHash, SignerKeys.FLAGS_UP_UV);
        // the SDK's dummy: an assertion over another challenge, so its checks fail before the P-256 one
        bytes memory dummy = _webAuthnSigned(keccak256("dummy"), SignerKeys.FLAGS_UP_UV);
        _assertDummyCostsAsReal(SignerKeys.commitment(SignerKeys.p256Key(WEBAUTHN_KEY, 0x02)), real, dummy);
    }

    function test_validateUserOp_dummyCostsAsReal_forMultisig() public onEachEntryPoint {
        (address[3] memory members,) = _members();
        (, bytes32 userOpHash) = _transferOp();
        bytes memory real = _multisigSignature(2, _indices(0, 2), userOpHash);
        bytes memory dummy = _multisigSignature(2, _indices(0, 2), keccak256("dummy"));
        _assertDummyCostsAsReal(SignerKeys.commitment(_multisigKey(2, members)), real, dummy);
    }
}
