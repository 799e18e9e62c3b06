// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";

/// @notice One call's entry in a session signature: the permission it uses, its proof and rate-limit window.
struct CallProof {
    SessionTypes.Permission permission;
    bytes32[] proof;
    uint32 window;
}

/// @title SessionEncoding
/// @notice Test-side encoder of the SessionKeyValidator's signature wire format, leaves and Merkle trees
///         (OpenZeppelin StandardMerkleTree layout: leaves sorted by hash, sorted-pair hashing).
library SessionEncoding {
    /// @notice Length of abi.encode(SessionTypes.Session): nine words.
    uint256 internal constant SESSION_LENGTH = 288;

    /// @notice Selector of `revokeSession(bytes32)`, written out so that the encoder does not depend on the interface.
    bytes4 private constant _REVOKE_SESSION = bytes4(keccak256("revokeSession(bytes32)"));

    /// @notice The permission's Merkle leaf.
    function leaf(SessionTypes.Permission memory permission) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(permission))));
    }

    /// @notice The session's id (EIP-712 struct hash).
    function sessionId(SessionTypes.Session memory session) internal pure returns (bytes32) {
        return keccak256(abi.encode(SessionTypes.SESSION_TYPEHASH, session));
    }

    /// @notice userOp.signature in use mode, without the session-key signature's bytes (see `withSessionSignature`).
    function useSignature(SessionTypes.Session memory session, CallProof[] memory calls, bytes memory sessionSignature)
        internal
        pure
        returns (bytes memory)
    {
        return useSignature(session, calls, new bool[](calls.length), sessionSignature);
    }

    /// @notice userOp.signature in enable mode.
    function enableSignature(
        SessionTypes.Session memory session,
        bytes memory ownerSignature,
        CallProof[] memory calls,
        bytes memory sessionSignature
    ) internal pure returns (bytes memory) {
        return enableSignature(session, ownerSignature, calls, new bool[](calls.length), sessionSignature);
    }

    /// @notice userOp.signature in use mode where the calls flagged in `selfRevocations` are the session's own
    ///         revocation: their entry is the two bytes `permissionLength = 0` and nothing else (their `calls` entry
    ///         is ignored).
    function useSignature(
        SessionTypes.Session memory session,
        CallProof[] memory calls,
        bool[] memory selfRevocations,
        bytes memory sessionSignature
    ) internal pure returns (bytes memory) {
        bytes memory head = bytes.concat(bytes1(SessionTypes.MODE_USE), abi.encode(session));
        return bytes.concat(head, _calls(calls, selfRevocations), sessionSignature);
    }

    /// @notice userOp.signature in enable mode, with self-revocation entries for the calls flagged in
    ///         `selfRevocations` (see the use-mode overload).
    function enableSignature(
        SessionTypes.Session memory session,
        bytes memory ownerSignature,
        CallProof[] memory calls,
        bool[] memory selfRevocations,
        bytes memory sessionSignature
    ) internal pure returns (bytes memory) {
        return bytes.concat(
            bytes1(SessionTypes.MODE_ENABLE),
            abi.encode(session),
            bytes2(uint16(ownerSignature.length)),
            ownerSignature,
            _calls(calls, selfRevocations),
            sessionSignature
        );
    }

    /// @notice userOp.signature in multichain enable mode: the proof of this chain's leaf in the owner's tree, then
    ///         as in enable mode.
    function multichainEnableSignature(
        SessionTypes.Session memory session,
        bytes32[] memory chainProof,
        bytes memory ownerSignature,
        CallProof[] memory calls,
        bytes memory sessionSignature
    ) internal pure returns (bytes memory) {
        return bytes.concat(
            bytes1(SessionTypes.MODE_ENABLE_MULTICHAIN),
            abi.encode(session),
            bytes1(uint8(chainProof.length)),
            abi.encodePacked(chainProof),
            bytes2(uint16(ownerSignature.length)),
            ownerSignature,
            _calls(calls, new bool[](calls.length)),
            sessionSignature
        );
    }

    /// @notice A leaf of a multichain enable tree: `session` on `account` in `epoch` on chain `chainId`.
    function multichainLeaf(uint256 chainId, address account, uint64 epoch, SessionTypes.Session memory session)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(chainId, account, epoch, sessionId(session)))));
    }

    /// @notice The digest the owner signs once for the tree `chainsRoot`, in `validator`'s chain-less EIP-712 domain.
    function multichainDigest(address validator, bytes32 chainsRoot) internal pure returns (bytes32) {
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,address verifyingContract)"),
                keccak256("Keyscope SessionKeyValidator"),
                keccak256("1"),
                validator
            )
        );
        return keccak256(
            bytes.concat(
                "\x19\x01",
                domainSeparator,
                keccak256(abi.encode(keccak256("EnableSessions(bytes32 chainsRoot)"), chainsRoot))
            )
        );
    }

    /// @notice The call entry of the session's own revocation: `permissionLength = 0`, nothing else follows.
    function selfRevocationEntry() internal pure returns (bytes memory) {
        return hex"0000";
    }

    /// @notice The calldata of a session's own revocation: `revokeSession(sessionId)` on the validator.
    function selfRevocationCall(SessionTypes.Session memory session) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(_REVOKE_SESSION, sessionId(session));
    }

    /// @notice A self-revocation mask of `count` calls where only call `index` revokes the session.
    function selfRevocationAt(uint256 count, uint256 index) internal pure returns (bool[] memory mask) {
        mask = new bool[](count);
        mask[index] = true;
    }

    /// @notice `count` call proofs where only call `index` is the session's own revocation and the others use
    ///         `permission` with `proof` (the entry at `index` is a placeholder the encoder skips).
    function withSelfRevocationAt(
        SessionTypes.Permission memory permission,
        bytes32[] memory proof,
        uint256 count,
        uint256 index
    ) internal pure returns (CallProof[] memory calls, bool[] memory mask) {
        calls = new CallProof[](count);
        for (uint256 i; i < count; ++i) {
            calls[i] = CallProof({permission: permission, proof: proof, window: 0});
        }
        mask = selfRevocationAt(count, index);
    }

    /// @notice A single call proof with an empty rate-limit window.
    function one(SessionTypes.Permission memory permission, bytes32[] memory proof)
        internal
        pure
        returns (CallProof[] memory calls)
    {
        calls = new CallProof[](1);
        calls[0] = CallProof({permission: permission, proof: proof, window: 0});
    }

    function _calls(CallProof[] memory calls, bool[] memory selfRevocations)
        private
        pure
        returns (bytes memory encoded)
    {
        require(selfRevocations.length == calls.length, "one flag per call");
        encoded = abi.encodePacked(uint8(calls.length));
        for (uint256 i; i < calls.length; ++i) {
            if (selfRevocations[i]) {
                encoded = bytes.concat(encoded, selfRevocationEntry());
                continue;
            }
            bytes memory permission = abi.encode(calls[i].permission);
            encoded = bytes.concat(
                encoded,
                bytes2(uint16(permission.length)),
                permission,
                bytes1(uint8(calls[i].proof.length)),
                abi.encodePacked(calls[i].proof),
                bytes4(calls[i].window)
            );
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Merkle tree (StandardMerkleTree layout)
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Builds the tree of `leaves`: tree[0] is the root, leaves sorted by hash at the end of the array.
    function buildTree(bytes32[] memory leaves) internal pure returns (bytes32[] memory tree) {
        require(leaves.length > 0, "empty tree");
        bytes32[] memory sorted = _sorted(leaves);
        tree = new bytes32[](2 * sorted.length - 1);
        for (uint256 i; i < sorted.length; ++i) {
            tree[tree.length - 1 - i] = sorted[i];
        }
        for (uint256 i = tree.length - sorted.length; i > 0; --i) {
            tree[i - 1] = _hashPair(tree[2 * i - 1], tree[2 * i]);
        }
    }

    /// @notice The proof of `leafHash` in `tree`.
    function proofOf(bytes32[] memory tree, bytes32 leafHash) internal pure returns (bytes32[] memory proof) {
        uint256 index = type(uint256).max;
        uint256 leafCount = (tree.length + 1) / 2;
        for (uint256 i = tree.length - leafCount; i < tree.length; ++i) {
            if (tree[i] == leafHash) index = i;
        }
        require(index != type(uint256).max, "leaf not in tree");
        uint256 depth;
        for (uint256 i = index; i > 0; i = (i - 1) / 2) {
            ++depth;
        }
        proof = new bytes32[](depth);
        for (uint256 d; index > 0; ++d) {
            proof[d] = tree[index % 2 == 1 ? index + 1 : index - 1];
            index = (index - 1) / 2;
        }
    }

    function _hashPair(bytes32 a, bytes32 b) private pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function _sorted(bytes32[] memory leaves) private pure returns (bytes32[] memory sorted) {
        sorted = new bytes32[](leaves.length);
        for (uint256 i; i < leaves.length; ++i) {
            sorted[i] = leaves[i];
        }
        _quickSort(sorted, 0, int256(sorted.length) - 1);
    }

    function _quickSort(bytes32[] memory items, int256 low, int256 high) private pure {
        if (low >= high) return;
        bytes32 pivot = items[uint256(low + (high - low) / 2)];
        int256 i = low;
        int256 j = high;
        while (i <= j) {
            while (items[uint256(i)] < pivot) ++i;
            while (items[uint256(j)] > pivot) --j;
            if (i <= j) {
                (items[uint256(i)], items[uint256(j)]) = (items[uint256(j)], items[uint256(i)]);
                ++i;
                --j;
            }
        }
        _quickSort(items, low, j);
        _quickSort(items, i, high);
    }
}
