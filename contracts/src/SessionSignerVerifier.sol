// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SessionSigners} from "./SessionSigners.sol";

/// @title SessionSignerVerifier
/// @notice Stateless check of session signatures of every signer kind (`SessionSigners`): the SessionKeyValidator
///         deploys one in its constructor and calls it for signatures that are not secp256k1, which keeps the
///         validator within the EIP-170 code size and its secp256k1 path free of the P-256 code. It reads no storage,
///         so calling it from validation is within ERC-7562.
contract SessionSignerVerifier {
    /// @notice Whether `signature` is `signer`'s session signature over `hash`.
    /// @param hash The signed hash (the raw userOpHash).
    /// @param signer The session's signer: an address or a key commitment.
    /// @param signature The session signature, in `SessionSigners`' format.
    /// @return valid True when it is.
    function isValid(bytes32 hash, address signer, bytes calldata signature) external view returns (bool valid) {
        return SessionSigners.isValid(hash, signer, signature);
    }
}
