// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {CommonBase} from "forge-std/Base.sol";
import {IEntryPoint} from "@openzeppelin/contracts/interfaces/IERC4337.sol";

/// @title EntryPointDeployer
/// @notice Deploys the REAL ERC-4337 EntryPoint v0.7 and v0.8 bytecode (the npm `@account-abstraction/contracts`
/// artifacts) through the deterministic CREATE2 deployer with the canonical salts, so that they land at their
/// canonical mainnet addresses. Use from forge tests (or scripts) by inheritance.
/// @dev Reading the artifacts needs `fs_permissions` read access to `./node_modules/@account-abstraction`.
/// Typed access uses OpenZeppelin's `IEntryPoint` (shared by both versions, same `PackedUserOperation` struct), plus
/// `IEntryPointExtra.getUserOpHash` from `ERC4337Utils`.
abstract contract EntryPointDeployer is CommonBase {
    /// @notice The deterministic deployment proxy (Arachnid), present on most chains and in forge's test EVM.
    address internal constant CREATE2_DEPLOYER = 0x4e59b44847b379578588920cA78FbF26c0B4956C;

    /// @notice Runtime code of the deterministic deployment proxy, etched when it is missing.
    bytes internal constant CREATE2_DEPLOYER_RUNTIME_CODE =
        hex"7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffe03601600081602082378035828234f58015156039578182fd5b8082525050506014600cf3";

    /// @notice Canonical EntryPoint v0.7 address.
    address internal constant ENTRYPOINT_V07_ADDRESS = 0x0000000071727De22E5E9d8BAf0edAc6f37da032;

    /// @notice Canonical EntryPoint v0.8 address.
    address internal constant ENTRYPOINT_V08_ADDRESS = 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108;

    /// @notice CREATE2 salt of the canonical EntryPoint v0.7 deployment.
    bytes32 internal constant ENTRYPOINT_V07_SALT = 0x90d8084deab30c2a37c45e8d47f49f2f7965183cb6990a98943ef94940681de3;

    /// @notice CREATE2 salt of the canonical EntryPoint v0.8 deployment.
    bytes32 internal constant ENTRYPOINT_V08_SALT = 0x0a59dbff790c23c976a548690c27297883cc66b4c67024f9117b0238995e35e9;

    /// @notice Hardhat artifact of EntryPoint v0.7 (`@account-abstraction/contracts@0.7.0`).
    string internal constant ENTRYPOINT_V07_ARTIFACT =
        "node_modules/@account-abstraction/contracts/artifacts/EntryPoint.json";

    /// @notice Hardhat artifact of EntryPoint v0.8 (`@account-abstraction/contracts@0.8.0`).
    string internal constant ENTRYPOINT_V08_ARTIFACT =
        "node_modules/@account-abstraction/contracts-v08/artifacts/EntryPoint.json";

    /// @notice The CREATE2 address of the artifact's init code is not the expected canonical address.
    /// @param expected The canonical address.
    /// @param computed The CREATE2 address computed from the artifact's init code and the salt.
    error EntryPointAddressMismatch(address expected, address computed);

    /// @notice The CREATE2 deployer call failed or returned another address.
    /// @param expected The CREATE2 address the deployment should have landed at.
    /// @param returnData What the deployer returned.
    error Create2DeploymentFailed(address expected, bytes returnData);

    /// @notice Deploys EntryPoint v0.7 at its canonical address (no-op when already there).
    /// @return The EntryPoint v0.7.
    function _deployEntryPointV07() internal returns (IEntryPoint) {
        return _deployEntryPoint(ENTRYPOINT_V07_ARTIFACT, ENTRYPOINT_V07_SALT, ENTRYPOINT_V07_ADDRESS, "EntryPointV07");
    }

    /// @notice Deploys EntryPoint v0.8 at its canonical address (no-op when already there).
    /// @return The EntryPoint v0.8.
    function _deployEntryPointV08() internal returns (IEntryPoint) {
        return _deployEntryPoint(ENTRYPOINT_V08_ARTIFACT, ENTRYPOINT_V08_SALT, ENTRYPOINT_V08_ADDRESS, "EntryPointV08");
    }

    /// @notice Deploys an artifact's init code through {CREATE2_DEPLOYER} and checks it lands at `expected`.
    /// @param artifact Path (from the project root) of a Hardhat artifact with a `bytecode` field.
    /// @param salt The CREATE2 salt.
    /// @param expected The address the deployment must land at.
    /// @param label A label for forge traces.
    /// @return The deployed EntryPoint.
    function _deployEntryPoint(string memory artifact, bytes32 salt, address expected, string memory label)
        internal
        returns (IEntryPoint)
    {
        vm.label(expected, label);
        if (expected.code.length != 0) return IEntryPoint(expected);

        bytes memory initCode = vm.parseJsonBytes(vm.readFile(artifact), ".bytecode");
        address computed = vm.computeCreate2Address(salt, keccak256(initCode), CREATE2_DEPLOYER);
        if (computed != expected) revert EntryPointAddressMismatch(expected, computed);
        return IEntryPoint(_deployCreate2(salt, initCode));
    }

    /// @notice Deploys `initCode` through {CREATE2_DEPLOYER} with `salt`, or returns the contract already there.
    /// @dev Idempotent: the address only depends on the salt and the init code, so an existing deployment is detected
    /// by its code. From a forge script inside `vm.startBroadcast`, the deployer call is broadcast as a transaction.
    /// @param salt The CREATE2 salt.
    /// @param initCode The creation code with its ABI-encoded constructor arguments.
    /// @return deployed The CREATE2 address, which now has code.
    function _deployCreate2(bytes32 salt, bytes memory initCode) internal returns (address deployed) {
        deployed = vm.computeCreate2Address(salt, keccak256(initCode), CREATE2_DEPLOYER);
        if (deployed.code.length != 0) return deployed;
        _ensureCreate2Deployer();

        (bool ok, bytes memory returnData) = CREATE2_DEPLOYER.call(abi.encodePacked(salt, initCode));
        if (!ok || returnData.length != 20 || address(bytes20(returnData)) != deployed || deployed.code.length == 0) {
            revert Create2DeploymentFailed(deployed, returnData);
        }
    }

    /// @notice Etches the deterministic deployment proxy when the chain does not have it.
    function _ensureCreate2Deployer() internal virtual {
        if (CREATE2_DEPLOYER.code.length == 0) vm.etch(CREATE2_DEPLOYER, CREATE2_DEPLOYER_RUNTIME_CODE);
    }
}
