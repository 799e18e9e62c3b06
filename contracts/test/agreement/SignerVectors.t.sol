// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {SessionSignerVerifier} from "../../src/SessionSignerVerifier.sol";
import {P256PrecompileStandIn} from "../mocks/P256PrecompileStandIn.sol";

/// @notice The validator's signer checks (`SessionSignerVerifier`, `SessionSigners`) agree with the Rust mirror (`keyscope_signer::verify_session_signature`)
///         on every vector of `contracts/test/vectors/signers.txt`: signatures of every signer kind, valid, dummy,
///         for another hash, mutated, below a multisig's threshold and edited WebAuthn assertions. None reverts.
/// @dev Regenerate the vectors with `cargo run -p keyscope-signer --example vectors`. forge runs at `evm_version`
///      cancun, without the P-256 precompile: OpenZeppelin's Solidity verification answers; a second run puts a
///      stand-in at 0x100.
contract SignerVectorsTest is Test {
    string internal constant VECTORS = "contracts/test/vectors/signers.txt";
    SessionSignerVerifier internal verifier;

    function setUp() public {
        verifier = new SessionSignerVerifier();
    }

    function _checkAll() internal returns (uint256 count, uint256 valid) {
        while (true) {
            string memory text = vm.readLine(VECTORS);
            if (bytes(text).length == 0) break;
            string[] memory fields = vm.split(text, " ");
            bytes32 hash = vm.parseBytes32(fields[0]);
            address signer = vm.parseAddress(fields[1]);
            bytes memory signature = vm.parseBytes(fields[2]);
            bool expected = vm.parseBool(fields[3]);
            try verifier.isValid{gas: 5_000_000}(hash, signer, signature) returns (bool verdict) {
                assertEq(verdict, expected, string.concat("vector ", vm.toString(count)));
            } catch {
                revert(string.concat("vector ", vm.toString(count), " reverted"));
            }
            if (expected) ++valid;
            ++count;
        }
        vm.closeFile(VECTORS);
    }

    function test_isValid_agreesWithRust_onEveryVector() public {
        (uint256 count, uint256 valid) = _checkAll();
        assertGt(count, 300, "vectors read");
        assertGt(valid, 30, "valid vectors among them");
        assertGt(count - valid, 250, "invalid vectors among them");
    }

    function test_isValid_agreesWithRust_onEveryVector_withThePrecompile() public {
        vm.etch(address(0x100), address(new P256PrecompileStandIn()).code);
        (uint256 count,) = _checkAll();
        assertGt(count, 300, "vectors read");
    }
}
