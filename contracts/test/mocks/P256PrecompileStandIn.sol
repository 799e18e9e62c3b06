// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {P256} from "@openzeppelin/contracts/utils/cryptography/P256.sol";

/// @notice Stands in for the EIP-7951 / RIP-7212 precompile at 0x100 on an EVM version without it: 32 bytes of 1
///         for a valid signature, nothing otherwise, as the precompile answers.
contract P256PrecompileStandIn {
    fallback(bytes calldata input) external returns (bytes memory) {
        (bytes32 h, bytes32 r, bytes32 s, bytes32 x, bytes32 y) =
            abi.decode(input, (bytes32, bytes32, bytes32, bytes32, bytes32));
        return P256.verifySolidity(h, r, s, x, y) ? abi.encode(uint256(1)) : bytes("");
    }
}
