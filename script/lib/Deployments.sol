// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";

/// @title Deployments
/// @notice The `deployments/<chainId>.json` file written by `script/DeployKeyscope.s.sol`, and the key it broadcasts
/// with.
/// @dev File layout (addresses are CREATE2-deterministic, so they are the same on every chain):
///
///     {
///       "chainId": 31337,
///       "create2Deployer": "0x4e59…",
///       "sessionKeyValidator": "0x…",
///       "ownerECDSAValidator": "0x…",
///       "v07": {"entryPoint": "0x0000000071727De22E5E9d8BAf0edAc6f37da032", "accountImplementation": "0x…",
///               "accountFactory": "0x…"},
///       "v08": {"entryPoint": "0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108", "accountImplementation": "0x…",
///               "accountFactory": "0x…"}
///     }
library Deployments {
    Vm private constant VM = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    /// @notice Anvil's first default account (the well-known, public test key), used on chain 31337 only.
    uint256 internal constant ANVIL_DEFAULT_KEY = 0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80;

    /// @notice Anvil's chain id.
    uint256 internal constant ANVIL_CHAIN_ID = 31_337;

    /// @notice The Keyscope contracts bound to one EntryPoint version.
    /// @param entryPoint The EntryPoint.
    /// @param accountImplementation The KeyscopeAccount implementation bound to it.
    /// @param accountFactory The KeyscopeAccountFactory cloning that implementation.
    struct Stack {
        address entryPoint;
        address accountImplementation;
        address accountFactory;
    }

    /// @notice Every Keyscope contract on one chain.
    /// @param chainId The chain.
    /// @param create2Deployer The deterministic deployment proxy everything was deployed through.
    /// @param sessionKeyValidator The SessionKeyValidator (shared by both EntryPoint versions).
    /// @param ownerECDSAValidator The OwnerECDSAValidator (shared by both EntryPoint versions).
    /// @param v07 The EntryPoint v0.7 stack.
    /// @param v08 The EntryPoint v0.8 stack.
    struct Deployment {
        uint256 chainId;
        address create2Deployer;
        address sessionKeyValidator;
        address ownerECDSAValidator;
        Stack v07;
        Stack v08;
    }

    /// @notice The key that broadcasts: `PRIVATE_KEY` from the environment, else anvil's first default key on
    /// chain 31337. Any other chain needs `PRIVATE_KEY`.
    /// @return key The private key.
    function broadcasterKey() internal view returns (uint256 key) {
        key = VM.envOr("PRIVATE_KEY", uint256(0));
        if (key == 0) {
            require(block.chainid == ANVIL_CHAIN_ID, "Deployments: set PRIVATE_KEY (only anvil has a default key)");
            key = ANVIL_DEFAULT_KEY;
        }
    }

    /// @notice Path of a chain's deployment file.
    /// @param chainId The chain.
    /// @param suffix The file name after the chain id, e.g. ".json".
    /// @return The absolute path.
    function path(uint256 chainId, string memory suffix) internal view returns (string memory) {
        return string.concat(VM.projectRoot(), "/deployments/", VM.toString(chainId), suffix);
    }

    /// @notice Writes `deployments/<chainId>.json`.
    /// @param deployment The deployment.
    /// @return file The path written.
    function write(Deployment memory deployment) internal returns (string memory file) {
        string memory root = "keyscope.deployment";
        VM.serializeUint(root, "chainId", deployment.chainId);
        VM.serializeAddress(root, "create2Deployer", deployment.create2Deployer);
        VM.serializeAddress(root, "sessionKeyValidator", deployment.sessionKeyValidator);
        VM.serializeAddress(root, "ownerECDSAValidator", deployment.ownerECDSAValidator);
        VM.serializeString(root, "v07", _stackJson("keyscope.deployment.v07", deployment.v07));
        string memory json = VM.serializeString(root, "v08", _stackJson("keyscope.deployment.v08", deployment.v08));
        VM.createDir(string.concat(VM.projectRoot(), "/deployments"), true);
        file = path(deployment.chainId, ".json");
        VM.writeJson(json, file);
    }

    function _stackJson(string memory key, Stack memory stack) private returns (string memory) {
        VM.serializeAddress(key, "entryPoint", stack.entryPoint);
        VM.serializeAddress(key, "accountImplementation", stack.accountImplementation);
        return VM.serializeAddress(key, "accountFactory", stack.accountFactory);
    }
}
