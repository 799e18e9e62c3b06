// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Script, console2} from "forge-std/Script.sol";
import {VmSafe} from "forge-std/Vm.sol";
import {IEntryPoint} from "@openzeppelin/contracts/interfaces/IERC4337.sol";

import {EntryPointDeployer} from "../contracts/test/utils/EntryPointDeployer.sol";
import {Deployments} from "./lib/Deployments.sol";

/// @title DeployKeyscope
/// @notice Deploys the Keyscope stack on any chain that has the deterministic deployment proxy
/// (0x4e59b44847b379578588920cA78FbF26c0B4956C), idempotently: EntryPoint v0.7 and v0.8 at their canonical addresses
/// (npm artifacts, canonical salts), then SessionKeyValidator, OwnerECDSAValidator, and one KeyscopeAccount
/// implementation and KeyscopeAccountFactory per EntryPoint, all through CREATE2 with fixed salts, so the addresses
/// are the same on every chain and every run. What is already deployed (code at the predicted address) is skipped.
/// The Keyscope init code is read from the committed artifacts of `crates/bindings/artifacts/` (the ones the SDK
/// deploys, kept current by `script/update-bindings.sh --check`), not from `type(C).creationCode`: the script shares
/// a compilation unit with the via-IR `SessionKeyValidator`, so its own copies of the other contracts would be
/// compiled via IR into other bytecode, at other addresses than `keyscope::Stack::predicted()`.
/// `contracts/test/deploy/DeployKeyscope.t.sol` checks the addresses against the SDK's.
/// Writes the addresses to `deployments/<chainId>.json` when broadcasting (see {Deployments}).
/// @dev `forge script script/DeployKeyscope.s.sol --rpc-url <url> --broadcast`; the broadcaster is `PRIVATE_KEY`
/// (anvil's first default key on chain 31337).
contract DeployKeyscope is Script, EntryPointDeployer {
    /// @notice CREATE2 salt of the SessionKeyValidator.
    bytes32 internal constant SESSION_KEY_VALIDATOR_SALT = keccak256("keyscope.deploy.SessionKeyValidator");
    /// @notice CREATE2 salt of the OwnerECDSAValidator.
    bytes32 internal constant OWNER_VALIDATOR_SALT = keccak256("keyscope.deploy.OwnerECDSAValidator");
    /// @notice CREATE2 salt of the account implementations (their EntryPoint argument tells them apart).
    bytes32 internal constant ACCOUNT_IMPLEMENTATION_SALT = keccak256("keyscope.deploy.KeyscopeAccount");
    /// @notice CREATE2 salt of the account factories (their implementation argument tells them apart).
    bytes32 internal constant ACCOUNT_FACTORY_SALT = keccak256("keyscope.deploy.KeyscopeAccountFactory");
    /// @notice Where the init code comes from: the artifacts `keyscope-bindings` embeds.
    string internal constant ARTIFACTS = "crates/bindings/artifacts/";

    /// @notice Deploys what is missing and writes `deployments/<chainId>.json`.
    /// @return deployment Every Keyscope contract on this chain.
    function run() external returns (Deployments.Deployment memory deployment) {
        uint256 key = Deployments.broadcasterKey();
        console2.log("Keyscope deployment on chain %s by %s", block.chainid, vm.addr(key));

        deployment.chainId = block.chainid;
        deployment.create2Deployer = CREATE2_DEPLOYER;

        vm.startBroadcast(key);
        deployment.v07.entryPoint = _entryPoint("EntryPoint v0.7", ENTRYPOINT_V07_ADDRESS, _deployEntryPointV07);
        deployment.v08.entryPoint = _entryPoint("EntryPoint v0.8", ENTRYPOINT_V08_ADDRESS, _deployEntryPointV08);
        deployment.sessionKeyValidator =
            _deploy("SessionKeyValidator", SESSION_KEY_VALIDATOR_SALT, _creationCode("SessionKeyValidator"));
        deployment.ownerECDSAValidator =
            _deploy("OwnerECDSAValidator", OWNER_VALIDATOR_SALT, _creationCode("OwnerECDSAValidator"));
        deployment.v07 = _stack("v0.7", deployment.v07.entryPoint, deployment.ownerECDSAValidator);
        deployment.v08 = _stack("v0.8", deployment.v08.entryPoint, deployment.ownerECDSAValidator);
        vm.stopBroadcast();

        if (vm.isContext(VmSafe.ForgeContext.ScriptBroadcast) || vm.isContext(VmSafe.ForgeContext.ScriptResume)) {
            console2.log("wrote %s", Deployments.write(deployment));
        } else {
            console2.log("dry run (no --broadcast): deployments file not written");
        }
    }

    /// @notice On a real chain a missing deployment proxy cannot be etched: fail instead.
    function _ensureCreate2Deployer() internal view override {
        require(
            CREATE2_DEPLOYER.code.length != 0,
            "DeployKeyscope: no deterministic deployment proxy at 0x4e59b44847b379578588920cA78FbF26c0B4956C"
        );
    }

    /// @notice The account implementation and factory for one EntryPoint.
    function _stack(string memory version, address entryPoint, address ownerValidator)
        internal
        returns (Deployments.Stack memory stack)
    {
        stack.entryPoint = entryPoint;
        stack.accountImplementation = _deploy(
            string.concat("KeyscopeAccount implementation (EntryPoint ", version, ")"),
            ACCOUNT_IMPLEMENTATION_SALT,
            abi.encodePacked(_creationCode("KeyscopeAccount"), abi.encode(entryPoint))
        );
        stack.accountFactory = _deploy(
            string.concat("KeyscopeAccountFactory (EntryPoint ", version, ")"),
            ACCOUNT_FACTORY_SALT,
            abi.encodePacked(
                _creationCode("KeyscopeAccountFactory"), abi.encode(stack.accountImplementation, ownerValidator)
            )
        );
    }

    /// @notice The creation code of `name` in the bindings' artifacts.
    function _creationCode(string memory name) internal view returns (bytes memory) {
        return
            vm.parseJsonBytes(vm.readFile(string.concat(vm.projectRoot(), "/", ARTIFACTS, name, ".json")), ".bytecode");
    }

    /// @notice Deploys an EntryPoint at its canonical address unless it is there, and logs which happened.
    function _entryPoint(string memory name, address expected, function() internal returns (IEntryPoint) deployFn)
        internal
        returns (address deployed)
    {
        bool existed = expected.code.length != 0;
        deployed = address(deployFn());
        _log(name, deployed, existed);
    }

    /// @notice CREATE2-deploys `initCode` with `salt` unless it is there, and logs which happened.
    function _deploy(string memory name, bytes32 salt, bytes memory initCode) internal returns (address deployed) {
        bool existed = vm.computeCreate2Address(salt, keccak256(initCode), CREATE2_DEPLOYER).code.length != 0;
        deployed = _deployCreate2(salt, initCode);
        vm.label(deployed, name);
        _log(name, deployed, existed);
    }

    function _log(string memory name, address deployed, bool existed) internal pure {
        console2.log("  %s %s: %s", existed ? "exists  " : "deployed", deployed, name);
    }
}
