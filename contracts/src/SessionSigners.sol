// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";
import {WebAuthn} from "@openzeppelin/contracts/utils/cryptography/WebAuthn.sol";

/// @title SessionSigners
/// @notice Checks a session signature against the session's signer, for every signer kind a session may have.
/// @dev A session's `signer` is an address: a secp256k1 key's own address, or for the other kinds the commitment
///      `address(uint160(uint256(keccak256(key))))` to the key bytes the signature carries, which start with the
///      kind. The session signature (all integers big-endian, no padding) is:
///
///     secp256k1   exactly 65 bytes r ‖ s ‖ v over the hash (any 65-byte signature is read as this kind)
///     P-256       0x01 ‖ qx ‖ qy ‖ r ‖ s (129 bytes); key = the first 65 bytes. Low s, the key on the curve,
///                 the hash itself as the ECDSA message digest (OpenZeppelin `P256.verify`: the EIP-7951 /
///                 RIP-7212 precompile at 0x100 where the chain has it, Solidity otherwise)
///     WebAuthn    0x02 ‖ qx ‖ qy ‖ WebAuthnAuth's fields ABI-encoded (OpenZeppelin `WebAuthn.tryDecodeAuth`);
///                 key = the first 65 bytes. `WebAuthn.verify` with the hash as challenge, user presence required,
///                 user verification not
///     multisig    0x03 ‖ uint16 threshold ‖ uint8 n ‖ n × (address member ‖ uint16 weight) ‖ uint8 k ‖
///                 k × (uint8 memberIndex ‖ uint16 length ‖ bytes subSignature); key = everything before k.
///                 1 ≤ n ≤ 16 members in strictly ascending order, weights above zero, 1 ≤ threshold ≤ the total
///                 weight, member indices strictly ascending; each sub-signature is a secp256k1, P-256 or WebAuthn
///                 signature of its member over the same hash, and the signers' weights reach the threshold
///
/// Malformed bytes of any kind are a bad signature, never a revert. Every check runs whatever the others found, so
/// a well-formed dummy signature costs at least the gas of a real one: a failed WebAuthn assertion pays for one
/// more P-256 verification, and every sub-signature of a multisig is checked.
library SessionSigners {
    /// The first byte of a P-256 session signature.
    uint8 internal constant KIND_P256 = 0x01;
    /// The first byte of a WebAuthn session signature.
    uint8 internal constant KIND_WEBAUTHN = 0x02;
    /// The first byte of a multisig session signature.
    uint8 internal constant KIND_MULTISIG = 0x03;
    /// Most members of a multisig signer.
    uint256 internal constant MAX_MULTISIG_MEMBERS = 16;

    uint256 private constant _ECDSA_LENGTH = 65;
    /// kind ‖ qx ‖ qy
    uint256 private constant _P256_KEY_LENGTH = 65;
    uint256 private constant _P256_LENGTH = 129;
    /// address ‖ uint16 weight
    uint256 private constant _MEMBER_LENGTH = 22;

    /// @notice Whether `signature` is `signer`'s session signature over `hash`.
    /// @param hash The signed hash (the raw userOpHash).
    /// @param signer The session's signer: an address or a key commitment.
    /// @param signature The session signature, in the format of this library's documentation.
    /// @return valid True when it is.
    function isValid(bytes32 hash, address signer, bytes calldata signature) internal view returns (bool valid) {
        if (signature.length == _ECDSA_LENGTH) return _isValidEcdsa(hash, signer, signature);
        if (signature.length == 0) return false;
        if (uint8(signature[0]) == KIND_MULTISIG) return _isValidMultisig(hash, signer, signature);
        return _isValidSingleKey(hash, signer, signature);
    }

    /// A secp256k1, P-256 or WebAuthn signature.
    function _isValidSingleKey(bytes32 hash, address signer, bytes calldata signature) private view returns (bool) {
        if (signature.length == _ECDSA_LENGTH) return _isValidEcdsa(hash, signer, signature);
        if (signature.length < _P256_KEY_LENGTH) return false;
        uint8 kind = uint8(signature[0]);
        if (kind != KIND_P256 && kind != KIND_WEBAUTHN) return false;
        bool committed = _commitment(signature[0:_P256_KEY_LENGTH]) == signer;
        bytes32 qx = bytes32(signature[1:33]);
        bytes32 qy = bytes32(signature[33:65]);
        if (kind == KIND_P256) {
            if (signature.length != _P256_LENGTH) return false;
            return P256.verify(hash, bytes32(signature[65:97]), bytes32(signature[97:129]), qx, qy) && committed;
        }
        (bool decoded, WebAuthn.WebAuthnAuth calldata auth) = WebAuthn.tryDecodeAuth(signature[_P256_KEY_LENGTH:]);
        if (!decoded) return false;
        // OpenZeppelin reads memory at typeIndex whatever its value (out of gas, or wrapping past 2^256): bound it
        if (
            auth.typeIndex < bytes(auth.clientDataJSON).length
                && WebAuthn.verify(abi.encodePacked(hash), auth, qx, qy, false)
        ) return committed;
        // The assertion failed, maybe before its P-256 check: pay for one, so a dummy costs what a real one does.
        P256.verify(
            sha256(abi.encodePacked(auth.authenticatorData, sha256(bytes(auth.clientDataJSON)))), auth.r, auth.s, qx, qy
        );
        return false;
    }

    function _isValidEcdsa(bytes32 hash, address signer, bytes calldata signature) private pure returns (bool) {
        (address recovered, ECDSA.RecoverError recoverError,) = ECDSA.tryRecoverCalldata(hash, signature);
        return recoverError == ECDSA.RecoverError.NoError && recovered == signer;
    }

    function _isValidMultisig(bytes32 hash, address signer, bytes calldata signature) private view returns (bool) {
        if (signature.length < 4) return false;
        uint256 threshold = uint16(bytes2(signature[1:3]));
        uint256 members = uint8(signature[3]);
        uint256 keyEnd = 4 + members * _MEMBER_LENGTH;
        if (members == 0 || members > MAX_MULTISIG_MEMBERS || threshold == 0 || signature.length <= keyEnd) {
            return false;
        }
        bool valid = _commitment(signature[0:keyEnd]) == signer && _isWellFormedSet(signature, members, threshold);
        (bool complete, uint256 signedWeight) = _signedWeight(hash, signature, members, keyEnd);
        return valid && complete && signedWeight >= threshold;
    }

    /// Whether the members are in strictly ascending order with weights above zero that reach `threshold`.
    function _isWellFormedSet(bytes calldata signature, uint256 members, uint256 threshold)
        private
        pure
        returns (bool wellFormed)
    {
        wellFormed = true;
        uint256 totalWeight;
        address previous;
        for (uint256 i; i < members; ++i) {
            (address member, uint256 weight) = _member(signature, i);
            if ((i != 0 && member <= previous) || weight == 0) wellFormed = false;
            previous = member;
            totalWeight += weight;
        }
        if (threshold > totalWeight) wellFormed = false;
    }

    /// The total weight of the members whose sub-signatures (from `keyEnd` to the end) are valid; `complete` is
    /// false when the list is malformed or some sub-signature is invalid. Every sub-signature is checked.
    function _signedWeight(bytes32 hash, bytes calldata signature, uint256 members, uint256 keyEnd)
        private
        view
        returns (bool complete, uint256 signedWeight)
    {
        uint256 signers = uint8(signature[keyEnd]);
        if (signers == 0 || signers > members) return (false, 0);
        complete = true;
        uint256 cursor = keyEnd + 1;
        uint256 nextIndex;
        for (uint256 j; j < signers; ++j) {
            if (signature.length - cursor < 3) return (false, 0);
            uint256 index = uint8(signature[cursor]);
            uint256 length = uint16(bytes2(signature[cursor + 1:cursor + 3]));
            cursor += 3;
            if (signature.length - cursor < length || index < nextIndex || index >= members) return (false, 0);
            nextIndex = index + 1;
            (address member, uint256 weight) = _member(signature, index);
            // a nested multisig is not a single key: invalid
            if (_isValidSingleKey(hash, member, signature[cursor:cursor + length])) signedWeight += weight;
            else complete = false;
            cursor += length;
        }
        if (cursor != signature.length) complete = false;
    }

    /// Member `i` of a multisig signature's member list.
    function _member(bytes calldata signature, uint256 i) private pure returns (address member, uint256 weight) {
        uint256 at = 4 + i * _MEMBER_LENGTH;
        member = address(bytes20(signature[at:at + 20]));
        weight = uint16(bytes2(signature[at + 20:at + 22]));
    }

    /// The signer address committing to `key`.
    function _commitment(bytes calldata key) private pure returns (address) {
        return address(uint160(uint256(keccak256(key))));
    }
}
