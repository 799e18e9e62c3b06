// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {DeployKeyscope} from "../../../script/DeployKeyscope.s.sol";
import {Deployments} from "../../../script/lib/Deployments.sol";

/// @notice `script/DeployKeyscope.s.sol` deploys exactly the addresses the SDK predicts: the script runs in the test
///         EVM and its deployment is compared with `contracts/test/vectors/deployment.json`, which the Rust test
///         `crates/sdk/tests/deployment_vectors.rs` checks against `keyscope::Stack::predicted()` (CREATE2 addresses
///         from the bindings' init code). A contract change that moves an address fails one of the two tests until the
///         file is rewritten (`KEYSCOPE_WRITE_VECTORS=1 cargo test -p keyscope --test deployment_vectors`).
contract DeployKeyscopeTest is Test {
    string internal json;

    function setUp() public {
        json = vm.readFile(string.concat(vm.projectRoot(), "/contracts/test/vectors/deployment.json"));
    }

    function _predicted(string memory key) internal view returns (address) {
        return vm.parseJsonAddress(json, key);
    }

    function _assertStack(Deployments.Stack memory stack, string memory version) internal view {
        string memory key = string.concat(".", version);
        assertEq(stack.entryPoint, _predicted(string.concat(key, ".entryPoint")), string.concat(version, " EntryPoint"));
        assertEq(
            stack.accountImplementation,
            _predicted(string.concat(key, ".accountImplementation")),
            string.concat(version, " account implementation")
        );
        assertEq(
            stack.accountFactory,
            _predicted(string.concat(key, ".accountFactory")),
            string.concat(version, " account factory")
        );
        assertGt(stack.entryPoint.code.length, 0, "EntryPoint has code");
        assertGt(stack.accountImplementation.code.length, 0, "account implementation has code");
        assertGt(stack.accountFactory.code.length, 0, "account factory has code");
    }

    function _assertPredicted(Deployments.Deployment memory deployment) internal view {
        assertEq(deployment.chainId, block.chainid, "chain id");
        assertEq(deployment.create2Deployer, _predicted(".create2Deployer"), "CREATE2 deployer");
        assertEq(deployment.sessionKeyValidator, _predicted(".sessionKeyValidator"), "SessionKeyValidator");
        assertEq(deployment.ownerECDSAValidator, _predicted(".ownerECDSAValidator"), "OwnerECDSAValidator");
        assertGt(deployment.sessionKeyValidator.code.length, 0, "SessionKeyValidator has code");
        assertGt(deployment.ownerECDSAValidator.code.length, 0, "OwnerECDSAValidator has code");
        _assertStack(deployment.v07, "v07");
        _assertStack(deployment.v08, "v08");
    }

    function test_run_deploysThePredictedAddresses() public {
        _assertPredicted(new DeployKeyscope().run());
    }

    function test_run_isIdempotent_andFindsTheSameAddresses() public {
        Deployments.Deployment memory first = new DeployKeyscope().run();
        Deployments.Deployment memory second = new DeployKeyscope().run();
        assertEq(abi.encode(second), abi.encode(first), "second run finds the first run's deployment");
        _assertPredicted(second);
    }
}
