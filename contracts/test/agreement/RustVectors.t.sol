// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {console2} from "forge-std/console2.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";
import {SessionTestBase} from "../utils/SessionTestBase.sol";

/// @notice Proof of agreement between the Rust crates (keyscope-permissions, keyscope-signer) and the contracts:
///         `contracts/test/vectors/agreement.json`, written by `cargo run -q -p keyscope-signer --example vectors`,
///         is checked here against the validator, OpenZeppelin's MerkleProof and the real EntryPoints v0.7 and v0.8.
contract RustVectorsTest is SessionTestBase {
    /// @notice Offset of the permission in a use-mode signature: mode, session, callCount, permissionLength.
    uint256 internal constant USE_PERMISSION_OFFSET = 1 + SessionEncoding.SESSION_LENGTH + 1 + 2;

    /// @notice Offset of the last byte of `valueLimit` in `abi.encode(permission)` (head offset, target, selector,
    ///         flags, valueLimit).
    uint256 internal constant VALUE_LIMIT_LAST_BYTE = 4 * 32 + 31;

    /// @notice Offset of the session id in the self-revocation vector's callData: selector, mode, offset, length,
    ///         then target (20 bytes), value and `revokeSession`'s selector.
    uint256 internal constant SELF_REVOCATION_ID_OFFSET = 4 + 3 * 32 + 20 + 32 + 4;

    string internal json;

    function setUp() public override {
        super.setUp();
        json = vm.readFile(string.concat(vm.projectRoot(), "/contracts/test/vectors/agreement.json"));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Fixture
    // ------------------------------------------------------------------------------------------------------------

    /// @notice The generator hardcodes the addresses this setUp deploys: they must still match.
    function test_setUp_matchesGeneratorConstants() public view {
        console2.log("validator", address(validator));
        console2.log("ownerValidator", address(ownerValidator));
        console2.log("accountV07", address(accountV07));
        console2.log("accountV08", address(accountV08));
        console2.log("token", address(token));
        assertEq(vm.parseJsonAddress(json, ".validator"), address(validator), "validator");
        assertEq(vm.parseJsonAddress(json, ".ownerValidator"), address(ownerValidator), "ownerValidator");
        assertEq(vm.parseJsonAddress(json, ".accountV07"), address(accountV07), "accountV07");
        assertEq(vm.parseJsonAddress(json, ".accountV08"), address(accountV08), "accountV08");
        assertEq(vm.parseJsonAddress(json, ".token"), address(token), "token");
        assertEq(vm.parseJsonAddress(json, ".sessionSigner"), sessionSigner, "session signer");
        assertEq(vm.parseJsonUint(json, ".chainId"), block.chainid, "chain id");
        assertEq(vm.parseJsonUint(json, ".epoch"), validator.epochOf(address(accountV07)), "epoch v0.7 account");
        assertEq(vm.parseJsonUint(json, ".epoch"), validator.epochOf(address(accountV08)), "epoch v0.8 account");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Encodings, leaves, trees, ids, digests, hashes
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Each Rust permission encoding is the ABI encoding of the struct it decodes to, and its leaf is the
    ///         contract's.
    function test_leaf_matchesRust() public view {
        uint256 count = vm.parseJsonUint(json, ".permissionCount");
        assertGt(count, 0);
        for (uint256 i; i < count; ++i) {
            bytes memory encoding = vm.parseJsonBytes(json, _at(".permissions", i, ".encoding"));
            SessionTypes.Permission memory permission = abi.decode(encoding, (SessionTypes.Permission));
            assertEq(abi.encode(permission), encoding, "encoding");
            assertEq(
                SessionEncoding.leaf(permission), vm.parseJsonBytes32(json, _at(".permissions", i, ".leaf")), "leaf"
            );
        }
    }

    /// @notice Rust roots are the StandardMerkleTree roots, and every Rust proof verifies with OpenZeppelin's
    ///         MerkleProof and equals the Solidity helper's proof.
    function test_merkleTree_matchesRust() public view {
        uint256 trees = vm.parseJsonUint(json, ".treeCount");
        assertEq(trees, 5);
        for (uint256 t; t < trees; ++t) {
            uint256 size = vm.parseJsonUint(json, _at(".trees", t, ".size"));
            bytes32 root = vm.parseJsonBytes32(json, _at(".trees", t, ".root"));
            bytes32[] memory leaves = new bytes32[](size);
            for (uint256 i; i < size; ++i) {
                leaves[i] = vm.parseJsonBytes32(json, _at(".permissions", i, ".leaf"));
            }
            bytes32[] memory tree = SessionEncoding.buildTree(leaves);
            assertEq(tree[0], root, "root");
            for (uint256 i; i < size; ++i) {
                bytes32[] memory proof = vm.parseJsonBytes32Array(
                    json, string.concat(_at(".trees", t, ".proofs"), "[", vm.toString(i), "]")
                );
                assertTrue(MerkleProof.verify(proof, root, leaves[i]), "proof verifies");
                assertEq(proof, SessionEncoding.proofOf(tree, leaves[i]), "proof");
            }
        }
    }

    /// @notice Rust session ids and enable digests are the validator's.
    function test_sessionIdAndEnableDigest_matchRust() public view {
        uint256 sessions = vm.parseJsonUint(json, ".treeCount");
        for (uint256 s; s < sessions; ++s) {
            bytes memory encoding = vm.parseJsonBytes(json, _at(".sessions", s, ".encoding"));
            assertEq(encoding.length, SessionEncoding.SESSION_LENGTH, "session length");
            SessionTypes.Session memory session = abi.decode(encoding, (SessionTypes.Session));
            assertEq(abi.encode(session), encoding, "session encoding");
            assertEq(session.permissionsRoot, vm.parseJsonBytes32(json, _at(".trees", s, ".root")), "session root");
            bytes32 id = vm.parseJsonBytes32(json, _at(".sessions", s, ".id"));
            assertEq(validator.sessionIdOf(session), id, "sessionIdOf");
            assertEq(SessionEncoding.sessionId(session), id, "SessionEncoding.sessionId");
            assertEq(
                validator.enableDigest(address(accountV07), session),
                vm.parseJsonBytes32(json, _at(".sessions", s, ".enableDigestV07")),
                "enableDigest v0.7 account"
            );
            assertEq(
                validator.enableDigest(address(accountV08), session),
                vm.parseJsonBytes32(json, _at(".sessions", s, ".enableDigestV08")),
                "enableDigest v0.8 account"
            );
        }
    }

    /// @notice Rust userOpHashes of an operation with every field set are the EntryPoints'.
    function test_getUserOpHash_matchesRust() public view {
        PackedUserOperation memory op = _op(".anyOp.op");
        assertGt(op.initCode.length, 0);
        assertGt(op.paymasterAndData.length, 0);
        assertEq(_userOpHash(entryPointV07, op), vm.parseJsonBytes32(json, ".anyOp.hashV07"), "v0.7");
        assertEq(_userOpHash(entryPointV08, op), vm.parseJsonBytes32(json, ".anyOp.hashV08"), "v0.8");
    }

    // ------------------------------------------------------------------------------------------------------------
    // handleOps with Rust-built signatures
    // ------------------------------------------------------------------------------------------------------------

    /// @notice A Rust-signed use-mode operation passes validation and runs its call on both EntryPoints.
    function test_handleOps_accepts_rustUseSignature() public {
        for (uint256 v; v < 2; ++v) {
            (IEntryPoint entryPoint, address account, string memory path) = _handleOpsVector(v, "use");
            PackedUserOperation memory op = _op(string.concat(path, ".op"));
            assertEq(op.sender, account, "sender");
            assertEq(_userOpHash(entryPoint, op), vm.parseJsonBytes32(json, string.concat(path, ".hash")), "hash");
            _grant(entryPoint, account, _vectorSession(path));
            _expectTransfer(entryPoint, op);
        }
    }

    /// @notice A Rust-signed enable-mode operation (owner signature included) enables the session and runs.
    function test_handleOps_accepts_rustEnableSignature() public {
        for (uint256 v; v < 2; ++v) {
            (IEntryPoint entryPoint, address account, string memory path) = _handleOpsVector(v, "enable");
            PackedUserOperation memory op = _op(string.concat(path, ".op"));
            assertEq(op.sender, account, "sender");
            assertEq(_userOpHash(entryPoint, op), vm.parseJsonBytes32(json, string.concat(path, ".hash")), "hash");
            _expectTransfer(entryPoint, op);
        }
    }

    /// @notice A flipped byte in the Rust session signature: AA24.
    function test_handleOps_rejects_flippedSessionSignature() public {
        for (uint256 v; v < 2; ++v) {
            (IEntryPoint entryPoint, address account, string memory path) = _handleOpsVector(v, "use");
            PackedUserOperation memory op = _op(string.concat(path, ".op"));
            _grant(entryPoint, account, _vectorSession(path));
            // Last byte of r: still a valid signature shape, by another key.
            uint256 index = op.signature.length - 65 + 31;
            op.signature[index] = op.signature[index] ^ 0x01;
            _expectSignatureError(entryPoint, op);
        }
    }

    /// @notice A flipped byte in the Rust-encoded permission: its leaf is not in the session.
    function test_handleOps_rejects_flippedPermission() public {
        for (uint256 v; v < 2; ++v) {
            (IEntryPoint entryPoint, address account, string memory path) = _handleOpsVector(v, "use");
            PackedUserOperation memory op = _op(string.concat(path, ".op"));
            _grant(entryPoint, account, _vectorSession(path));
            bytes memory permission = vm.parseJsonBytes(json, string.concat(path, ".permission"));
            for (uint256 i; i < permission.length; ++i) {
                assertEq(op.signature[USE_PERMISSION_OFFSET + i], permission[i], "permission in signature");
            }
            // valueLimit + or - 1: still a well-formed permission allowing the call, but another leaf.
            permission[VALUE_LIMIT_LAST_BYTE] = permission[VALUE_LIMIT_LAST_BYTE] ^ 0x01;
            op.signature[USE_PERMISSION_OFFSET + VALUE_LIMIT_LAST_BYTE] = permission[VALUE_LIMIT_LAST_BYTE];
            bytes32 leaf = SessionEncoding.leaf(abi.decode(permission, (SessionTypes.Permission)));
            _expectScopeError(
                entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.PermissionNotInSession.selector, 0, leaf)
            );
        }
    }

    /// @notice A Rust-signed self-revocation: `revokeSession(sessionId)` on the validator, presented with an empty
    ///         permission entry (two zero length bytes, then at once the session signature), passes validation and
    ///         revokes the session, on both EntryPoints.
    function test_handleOps_accepts_rustSelfRevocation() public {
        for (uint256 v; v < 2; ++v) {
            (IEntryPoint entryPoint, address account, string memory path) = _handleOpsVector(v, "selfRevoke");
            PackedUserOperation memory op = _op(string.concat(path, ".op"));
            assertEq(op.sender, account, "sender");
            assertEq(_userOpHash(entryPoint, op), vm.parseJsonBytes32(json, string.concat(path, ".hash")), "hash");
            SessionTypes.Session memory session = _vectorSession(path);
            bytes32 id = validator.sessionIdOf(session);
            assertEq(id, vm.parseJsonBytes32(json, string.concat(path, ".sessionId")), "session id");
            _assertSelfRevocationEncoding(op, id);
            _grant(entryPoint, account, session);
            assertEq(uint8(validator.sessionStatus(account, id)), uint8(ISessionKeyValidator.SessionStatus.Active));
            _handleOp(entryPoint, op);
            assertEq(
                uint8(validator.sessionStatus(account, id)),
                uint8(ISessionKeyValidator.SessionStatus.Revoked),
                "revoked by its own key"
            );
        }
    }

    /// @notice A Rust-signed use-mode operation under a permission with an allowance per period (FLAG_PER_PERIOD): the
    ///         signature names the period Rust computes for the block's time, the operation runs on both
    ///         EntryPoints, and its value is counted in that period (`periodSpentOf`).
    function test_handleOps_accepts_rustPeriodicSignature() public {
        for (uint256 v; v < 2; ++v) {
            (IEntryPoint entryPoint, address account, string memory path) = _handleOpsVector(v, "periodic");
            PackedUserOperation memory op = _op(string.concat(path, ".op"));
            assertEq(op.sender, account, "sender");
            assertEq(_userOpHash(entryPoint, op), vm.parseJsonBytes32(json, string.concat(path, ".hash")), "hash");
            SessionTypes.Permission memory permission =
                abi.decode(vm.parseJsonBytes(json, string.concat(path, ".permission")), (SessionTypes.Permission));
            assertEq(permission.flags & SessionTypes.FLAG_PER_PERIOD, SessionTypes.FLAG_PER_PERIOD, "per period");
            uint48 length = uint48(vm.parseJsonUint(json, string.concat(path, ".periodLength")));
            uint48 start = uint48(vm.parseJsonUint(json, string.concat(path, ".periodStart")));
            assertEq(permission.rateLimitInterval, length, "period length");
            assertEq(permission.validAfter, start, "start of period 0");
            uint256 period = vm.parseJsonUint(json, string.concat(path, ".period"));
            assertGt(period, 0);
            assertEq(period, (block.timestamp - start) / length, "the period of the block's time");
            SessionTypes.Session memory session = _vectorSession(path);
            _grant(entryPoint, account, session);
            _expectTransfer(entryPoint, op);
            (uint32 latest, uint256 spent) =
                validator.periodSpentOf(account, validator.sessionIdOf(session), address(0), length, start);
            assertEq(latest, period, "period spent in");
            assertEq(spent, vm.parseJsonUint(json, ".sendValue"), "spent in the period");
        }
    }

    /// @notice The Rust self-revocation naming another session: InvalidSelfRevocation, before the signature check.
    function test_handleOps_rejects_rustSelfRevocationOfAnotherSession() public {
        for (uint256 v; v < 2; ++v) {
            (IEntryPoint entryPoint, address account, string memory path) = _handleOpsVector(v, "selfRevoke");
            PackedUserOperation memory op = _op(string.concat(path, ".op"));
            _grant(entryPoint, account, _vectorSession(path));
            op.callData[SELF_REVOCATION_ID_OFFSET + 31] = op.callData[SELF_REVOCATION_ID_OFFSET + 31] ^ 0x01;
            _expectScopeError(
                entryPoint,
                op,
                abi.encodeWithSelector(ISessionKeyValidator.InvalidSelfRevocation.selector, 0, address(validator))
            );
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    /// @notice `prefix[index]suffix`.
    function _at(string memory prefix, uint256 index, string memory suffix) internal pure returns (string memory) {
        return string.concat(prefix, "[", vm.toString(index), "]", suffix);
    }

    /// @notice The EntryPoint, account and JSON path of handleOps vector `mode` for version `v` (0: v0.7, 1: v0.8).
    function _handleOpsVector(uint256 v, string memory mode)
        internal
        view
        returns (IEntryPoint entryPoint, address account, string memory path)
    {
        if (v == 0) return (entryPointV07, address(accountV07), string.concat(".handleOps.v07.", mode));
        return (entryPointV08, address(accountV08), string.concat(".handleOps.v08.", mode));
    }

    /// @notice The session of a handleOps vector.
    function _vectorSession(string memory path) internal view returns (SessionTypes.Session memory) {
        return abi.decode(vm.parseJsonBytes(json, string.concat(path, ".session")), (SessionTypes.Session));
    }

    /// @notice The self-revocation vector's encoding: one call, `revokeSession(id)` on the validator with no value;
    ///         its entry an empty permission, followed at once by the 65-byte session signature.
    function _assertSelfRevocationEncoding(PackedUserOperation memory op, bytes32 id) internal view {
        uint256 at = 1 + SessionEncoding.SESSION_LENGTH;
        assertEq(uint8(op.signature[0]), SessionTypes.MODE_USE, "use mode");
        assertEq(uint8(op.signature[at]), 1, "one call");
        assertEq(uint8(op.signature[at + 1]), 0, "permission length, high byte");
        assertEq(uint8(op.signature[at + 2]), 0, "permission length, low byte");
        assertEq(uint8(op.signature[at + 3]), 65, "session signature length");
        assertEq(op.signature.length, at + 4 + 65, "nothing else");
        bytes memory data = abi.encodeCall(ISessionKeyValidator.revokeSession, (id));
        bytes memory expected = abi.encodeWithSignature(
            "execute(bytes32,bytes)", bytes32(0), abi.encodePacked(address(validator), uint256(0), data)
        );
        assertEq(op.callData, expected, "callData");
    }

    /// @notice Sends `op` and checks that its native transfer happened.
    function _expectTransfer(IEntryPoint entryPoint, PackedUserOperation memory op) internal {
        address recipient = vm.parseJsonAddress(json, ".recipient");
        uint256 value = vm.parseJsonUint(json, ".sendValue");
        uint256 before = recipient.balance;
        _handleOp(entryPoint, op);
        assertEq(recipient.balance, before + value, "transfer");
    }

    /// @notice A user operation from the JSON object at `path`.
    function _op(string memory path) internal view returns (PackedUserOperation memory op) {
        op.sender = vm.parseJsonAddress(json, string.concat(path, ".sender"));
        op.nonce = vm.parseJsonUint(json, string.concat(path, ".nonce"));
        op.initCode = vm.parseJsonBytes(json, string.concat(path, ".initCode"));
        op.callData = vm.parseJsonBytes(json, string.concat(path, ".callData"));
        op.accountGasLimits = vm.parseJsonBytes32(json, string.concat(path, ".accountGasLimits"));
        op.preVerificationGas = vm.parseJsonUint(json, string.concat(path, ".preVerificationGas"));
        op.gasFees = vm.parseJsonBytes32(json, string.concat(path, ".gasFees"));
        op.paymasterAndData = vm.parseJsonBytes(json, string.concat(path, ".paymasterAndData"));
        op.signature = vm.parseJsonBytes(json, string.concat(path, ".signature"));
    }
}
