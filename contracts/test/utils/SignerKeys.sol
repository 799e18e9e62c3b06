// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";
import {Base64} from "@openzeppelin/contracts/utils/Base64.sol";
import {WebAuthn} from "@openzeppelin/contracts/utils/cryptography/WebAuthn.sol";

/// @notice Test-side keys and session signatures of the P-256 and WebAuthn signer kinds (`SessionSigners`), made
///         with forge's P-256 cheatcodes, and their signer commitments.
library SignerKeys {
    Vm private constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice The P-256 group order.
    uint256 internal constant P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551;
    /// @notice Authenticator flags: user present and user verified.
    bytes1 internal constant FLAGS_UP_UV = 0x05;
    /// @notice The WebAuthn origin of the test assertions.
    string internal constant ORIGIN = "https://keyscope.example";

    /// @notice The key bytes of a P-256 (`kind` 0x01) or WebAuthn (0x02) signer: kind ‖ qx ‖ qy.
    function p256Key(uint256 privateKey, uint8 kind) internal pure returns (bytes memory key) {
        (uint256 x, uint256 y) = vm.publicKeyP256(privateKey);
        return abi.encodePacked(kind, x, y);
    }

    /// @notice The session signer committing to `key` (kind byte ‖ key material).
    function commitment(bytes memory key) internal pure returns (address) {
        return address(uint160(uint256(keccak256(key))));
    }

    /// @notice A low-s P-256 signature of `digest`.
    function p256Sign(uint256 privateKey, bytes32 digest) internal pure returns (bytes32 r, bytes32 s) {
        (r, s) = vm.signP256(privateKey, digest);
        if (uint256(s) > P256_N / 2) s = bytes32(P256_N - uint256(s));
    }

    /// @notice The P-256 session signature over `hash`: kind ‖ key ‖ r ‖ s.
    function p256Signature(uint256 privateKey, bytes32 hash) internal pure returns (bytes memory) {
        (bytes32 r, bytes32 s) = p256Sign(privateKey, hash);
        return bytes.concat(p256Key(privateKey, 0x01), r, s);
    }

    /// @notice A WebAuthn assertion over `challenge` as a browser builds it, signed by `privateKey`.
    function assertion(uint256 privateKey, bytes32 challenge, bytes1 flags)
        internal
        pure
        returns (WebAuthn.WebAuthnAuth memory auth)
    {
        auth.authenticatorData = abi.encodePacked(sha256("keyscope.example"), flags, uint32(1));
        auth.clientDataJSON = string.concat(
            '{"type":"webauthn.get","challenge":"',
            Base64.encodeURL(abi.encodePacked(challenge)),
            '","origin":"',
            ORIGIN,
            '","crossOrigin":false}'
        );
        auth.typeIndex = 1;
        auth.challengeIndex = 23;
        (auth.r, auth.s) =
            p256Sign(privateKey, sha256(abi.encodePacked(auth.authenticatorData, sha256(bytes(auth.clientDataJSON)))));
    }

    /// @notice The WebAuthn session signature: kind ‖ key ‖ the assertion's fields ABI-encoded (no outer offset word).
    function webAuthnSignature(uint256 privateKey, WebAuthn.WebAuthnAuth memory auth)
        internal
        pure
        returns (bytes memory)
    {
        bytes memory encoded = abi.encode(auth);
        bytes memory fields = new bytes(encoded.length - 32);
        for (uint256 i; i < fields.length; ++i) {
            fields[i] = encoded[i + 32];
        }
        return bytes.concat(p256Key(privateKey, 0x02), fields);
    }
}
