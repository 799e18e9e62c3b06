// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
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

    /// @notice Offset of the chain proof's length byte in a multichain enable signature: mode, session.
    uint256 internal constant CHAIN_PROOF_OFFSET = 1 + SessionEncoding.SESSION_LENGTH;

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
    // Multichain enable
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Rust multichain leaves, root and digest are the formulas of the wire format, recomputed here: each
    ///         leaf keccak256(bytes.concat(keccak256(abi.encode(chainId, account, epoch, sessionId)))), each proof
    ///         leading to the root with OpenZeppelin's MerkleProof, the root the StandardMerkleTree root, and the
    ///         digest EIP-712 `EnableSessions(chainsRoot)` in the validator's domain without chain id.
    function test_multichain_leavesRootAndDigest_matchRust() public view {
        assertEq(SessionTypes.MODE_ENABLE_MULTICHAIN, 2, "mode");
        assertEq(SessionTypes.ENABLE_SESSIONS_TYPEHASH, keccak256("EnableSessions(bytes32 chainsRoot)"), "typehash");
        assertEq(
            SessionTypes.MULTICHAIN_DOMAIN_TYPEHASH,
            keccak256("EIP712Domain(string name,string version,address verifyingContract)"),
            "domain typehash"
        );
        for (uint256 v; v < 2; ++v) {
            (, address account, string memory path) = _handleOpsVector(v, "enableMultichain");
            bytes32 id = validator.sessionIdOf(_vectorSession(path));
            bytes32 root = vm.parseJsonBytes32(json, string.concat(path, ".root"));
            uint256 count = vm.parseJsonUint(json, string.concat(path, ".entryCount"));
            assertEq(count, 3, "entries");
            uint256 index = vm.parseJsonUint(json, string.concat(path, ".index"));
            bytes32[] memory leaves = new bytes32[](count);
            for (uint256 i; i < count; ++i) {
                string memory entry = _at(string.concat(path, ".entries"), i, "");
                uint256 chainId = vm.parseJsonUint(json, string.concat(entry, ".chainId"));
                uint64 epoch = uint64(vm.parseJsonUint(json, string.concat(entry, ".epoch")));
                assertEq(vm.parseJsonAddress(json, string.concat(entry, ".account")), account, "account");
                assertEq(vm.parseJsonBytes32(json, string.concat(entry, ".sessionId")), id, "session id");
                if (i == index) {
                    assertEq(chainId, block.chainid, "this chain");
                    assertEq(epoch, validator.epochOf(account), "epoch");
                } else {
                    assertTrue(chainId != block.chainid, "another chain");
                }
                leaves[i] = keccak256(bytes.concat(keccak256(abi.encode(chainId, account, epoch, id))));
                assertEq(leaves[i], vm.parseJsonBytes32(json, string.concat(entry, ".leaf")), "leaf");
                assertEq(MerkleProof.processProof(_entryProof(path, i), leaves[i]), root, "proof leads to the root");
            }
            assertEq(SessionEncoding.buildTree(leaves)[0], root, "StandardMerkleTree root");
            assertEq(_multichainDigest(root), vm.parseJsonBytes32(json, string.concat(path, ".digest")), "digest");
        }
    }

    /// @notice A Rust-signed multichain enable operation (the proof of this chain's entry, the owner's one
    ///         signature over the root) enables the session and runs, on both EntryPoints.
    function test_handleOps_accepts_rustMultichainEnableSignature() public {
        for (uint256 v; v < 2; ++v) {
            (IEntryPoint entryPoint, address account, string memory path) = _handleOpsVector(v, "enableMultichain");
            PackedUserOperation memory op = _op(string.concat(path, ".op"));
            assertEq(op.sender, account, "sender");
            assertEq(_userOpHash(entryPoint, op), vm.parseJsonBytes32(json, string.concat(path, ".hash")), "hash");
            assertEq(uint8(op.signature[0]), SessionTypes.MODE_ENABLE_MULTICHAIN, "multichain mode");
            bytes32[] memory proof = _entryProof(path, vm.parseJsonUint(json, string.concat(path, ".index")));
            assertEq(_withChainProof(op.signature, proof), op.signature, "this chain's proof in the signature");
            bytes32 id = validator.sessionIdOf(_vectorSession(path));
            assertEq(uint8(validator.sessionStatus(account, id)), uint8(ISessionKeyValidator.SessionStatus.Unknown));
            _expectTransfer(entryPoint, op);
            assertEq(
                uint8(validator.sessionStatus(account, id)), uint8(ISessionKeyValidator.SessionStatus.Active), "enabled"
            );
        }
    }

    /// @notice The Rust multichain operation with the proof of another chain's entry instead of this chain's: it
    ///         leads to another root, whose digest the owner did not sign (AA24).
    function test_handleOps_rejects_rustMultichainProofOfAnotherEntry() public {
        for (uint256 v; v < 2; ++v) {
            (IEntryPoint entryPoint,, string memory path) = _handleOpsVector(v, "enableMultichain");
            uint256 index = vm.parseJsonUint(json, string.concat(path, ".index"));
            uint256 count = vm.parseJsonUint(json, string.concat(path, ".entryCount"));
            for (uint256 i; i < count; ++i) {
                if (i == index) continue;
                PackedUserOperation memory op = _op(string.concat(path, ".op"));
                op.signature = _withChainProof(op.signature, _entryProof(path, i));
                _expectSignatureError(entryPoint, op);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    /// @notice The proof of entry `i` of the multichain vector at `path`.
    function _entryProof(string memory path, uint256 i) internal view returns (bytes32[] memory) {
        return vm.parseJsonBytes32Array(json, _at(string.concat(path, ".entries"), i, ".proof"));
    }

    /// @notice The multichain digest of `root`, from its definition: EIP-712 `EnableSessions(bytes32 chainsRoot)`
    ///         in the domain {name, version, verifyingContract} of the validator.
    function _multichainDigest(bytes32 root) internal view returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,address verifyingContract)"),
                keccak256("Keyscope SessionKeyValidator"),
                keccak256("1"),
                address(validator)
            )
        );
        return MessageHashUtils.toTypedDataHash(
            domainSeparator, keccak256(abi.encode(keccak256("EnableSessions(bytes32 chainsRoot)"), root))
        );
    }

    /// @notice A multichain enable signature with its chain proof replaced by `proof`.
    function _withChainProof(bytes memory signature, bytes32[] memory proof) internal pure returns (bytes memory) {
        uint256 restStart = CHAIN_PROOF_OFFSET + 1 + 32 * uint8(signature[CHAIN_PROOF_OFFSET]);
        return bytes.concat(
            _slice(signature, 0, CHAIN_PROOF_OFFSET),
            bytes1(uint8(proof.length)),
            abi.encodePacked(proof),
            _slice(signature, restStart, signature.length)
        );
    }

    /// @notice `data[start:end]`.
    function _slice(bytes memory data, uint256 start, uint256 end) internal pure returns (bytes memory out) {
        out = new bytes(end - start);
        for (uint256 i; i < out.length; ++i) {
            out[i] = data[start + i];
        }
    }

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
    ///         its entry an empty permission, followed at once by the 65-byte session signature, the rest.
    function _assertSelfRevocationEncoding(PackedUserOperation memory op, bytes32 id) internal view {
        uint256 at = 1 + SessionEncoding.SESSION_LENGTH;
        assertEq(uint8(op.signature[0]), SessionTypes.MODE_USE, "use mode");
        assertEq(uint8(op.signature[at]), 1, "one call");
        assertEq(uint8(op.signature[at + 1]), 0, "permission length, high byte");
        assertEq(uint8(op.signature[at + 2]), 0, "permission length, low byte");
        assertEq(op.signature.length, at + 3 + 65, "then the session signature and nothing else");
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
