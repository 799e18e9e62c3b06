// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Cases 11, 12 and 28: a call is only ever checked against a permission the owner committed to, in the tree
///         of the session the operation names. Leaves are double-hashed, so no inner node can pose as a leaf. A leaf
///         is the hash of the permission's exact bytes, so a revoked permission presented in another encoding is
///         not in the tree.
contract ProofsAttackTest is AdversarialBase {
    SessionTypes.Permission internal committed;
    SessionTypes.Permission internal sibling;
    bytes32 internal root;
    bytes32[] internal committedProof;

    function setUp() public override {
        super.setUp();
        committed = _permission(address(recorder), PING);
        committed.valueLimit = 1;
        committed.maxUses = 3;
        committed.rules = new SessionTypes.ArgRule[](1);
        committed.rules[0] = _rule(SessionTypes.RuleOperator.Lte, 0, bytes32(uint256(10)));
        sibling = _permission(address(recorder2), PING);
        (bytes32 treeRoot, bytes32[][] memory proofs) = _tree(_pair(committed, sibling));
        root = treeRoot;
        committedProof = proofs[0];
    }

    function _notInSession(uint256 index, bytes32 leaf) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.PermissionNotInSession.selector, index, leaf);
    }

    /// Sends a call that `forged` would allow, with `forged` presented under the committed permission's proof.
    function _expectForgedRejected(
        SessionTypes.Permission memory forged,
        address target,
        uint256 value,
        bytes memory data
    ) internal {
        address account = address(currentEnv.account);
        SessionTypes.Session memory session = _session(root);
        _grant(currentEnv.entryPoint, account, session);
        PackedUserOperation memory op = _op1(currentEnv, session, forged, committedProof, target, value, data);
        _expectScopeError(currentEnv.entryPoint, op, _notInSession(0, _leaf(forged)));
        _assertRecorded(recorder, 0);
    }

    function _copy() internal view returns (SessionTypes.Permission memory p) {
        p = committed;
        // deep copy of the rules so mutations do not touch storage-loaded arrays shared by reference
        p.rules = new SessionTypes.ArgRule[](1);
        p.rules[0] = _rule(SessionTypes.RuleOperator.Lte, 0, bytes32(uint256(10)));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 11: every field of a committed leaf is bound by its proof
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenLeafTargetIsChanged() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.target = address(token);
        _expectForgedRejected(forged, address(token), 0, _ping(1));
    }

    function test_validateUserOp_reverts_whenLeafSelectorIsChanged() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.selector = PONG;
        _expectForgedRejected(forged, address(recorder), 0, abi.encodeWithSelector(PONG, uint256(1), int256(1)));
    }

    function test_validateUserOp_reverts_whenLeafFlagsAreChanged() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.target = address(0);
        forged.flags = SessionTypes.FLAG_ANY_TARGET;
        _expectForgedRejected(forged, address(recorder2), 0, _ping(1));
    }

    function test_validateUserOp_reverts_whenLeafValueLimitIsRaised() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.valueLimit = 1 ether;
        _expectForgedRejected(forged, address(recorder), 1 ether, _ping(1));
    }

    function test_validateUserOp_reverts_whenLeafTotalLimitsAreChanged() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.nativeTotalLimit = 5;
        _expectForgedRejected(forged, address(recorder), 0, _ping(1));
        forged = _copy();
        forged.erc20TotalLimit = 5;
        _expectForgedRejected(forged, address(recorder), 0, _ping(1));
    }

    function test_validateUserOp_reverts_whenLeafWindowIsChanged() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.validAfter = 1;
        _expectForgedRejected(forged, address(recorder), 0, _ping(1));
        forged = _copy();
        forged.validUntil = type(uint48).max;
        _expectForgedRejected(forged, address(recorder), 0, _ping(1));
    }

    function test_validateUserOp_reverts_whenLeafUsageLimitsAreChanged() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.maxUses = 0;
        _expectForgedRejected(forged, address(recorder), 0, _ping(1));
        forged = _copy();
        forged.rateLimitCount = 1000;
        forged.rateLimitInterval = 1;
        _expectForgedRejected(forged, address(recorder), 0, _ping(1));
    }

    function test_validateUserOp_reverts_whenLeafRulesAreRemoved() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.rules = new SessionTypes.ArgRule[](0);
        _expectForgedRejected(forged, address(recorder), 0, _ping(1000));
    }

    function test_validateUserOp_reverts_whenLeafRuleOperandIsChanged() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.rules[0].operands[0] = bytes32(uint256(1000));
        _expectForgedRejected(forged, address(recorder), 0, _ping(1000));
    }

    function test_validateUserOp_reverts_whenLeafRuleOperatorOrIndexIsChanged() public onEachEntryPoint {
        SessionTypes.Permission memory forged = _copy();
        forged.rules[0].operator = SessionTypes.RuleOperator.Gte;
        _expectForgedRejected(forged, address(recorder), 0, _ping(1000));
        forged = _copy();
        forged.rules[0] = _rule(SessionTypes.RuleOperator.Lte, 1, bytes32(uint256(10)));
        _expectForgedRejected(forged, address(recorder), 0, abi.encodeWithSelector(PING, uint256(1000), uint256(0)));
    }

    function testFuzz_validateUserOp_reverts_whenAnyPermissionByteIsFlipped(uint256 position, uint8 mask) public {
        vm.assume(mask != 0);
        bytes memory permissionData = abi.encode(committed);
        position = bound(position, 0, permissionData.length - 1);
        permissionData[position] ^= bytes1(mask);
        address account = address(accountV08);
        SessionTypes.Session memory session = _session(root);
        _grant(entryPointV08, account, session);
        PackedUserOperation memory op = _op(entryPointV08, account, _executeSingle(address(recorder), 0, _ping(1)));
        op = _signUseRaw(entryPointV08, op, session, 1, _rawCallEntry(permissionData, committedProof, 0));
        _expectScopeError(entryPointV08, op, _notInSession(0, keccak256(bytes.concat(keccak256(permissionData)))));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 12: proofs of another tree, inner nodes, empty proofs
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenProofIsFromAnotherSessionTree() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Session memory narrow = _session(root);
        _grant(currentEnv.entryPoint, account, narrow);
        // another session (same key, same account) whose tree allows recorder2 with any value
        SessionTypes.Permission memory wide = _permission(address(recorder2), PING);
        wide.valueLimit = 1 ether;
        SessionTypes.Permission memory other = _permission(address(token), PING);
        (bytes32 wideRoot, bytes32[][] memory wideProofs) = _tree(_pair(wide, other));
        SessionTypes.Session memory wideSession = _session(wideRoot);
        wideSession.salt = bytes32(uint256(1));
        _grant(currentEnv.entryPoint, account, wideSession);
        PackedUserOperation memory op =
            _op1(currentEnv, narrow, wide, wideProofs[0], address(recorder2), 1 ether, _ping(1));
        _expectScopeError(currentEnv.entryPoint, op, _notInSession(0, _leaf(wide)));
        _assertRecorded(recorder2, 0);
    }

    function test_validateUserOp_reverts_whenInnerNodePresentedAsLeaf() public onEachEntryPoint {
        // two-leaf tree: root = keccak256(sorted(leafA, leafB)). Presenting the 64-byte pair as "permission" with
        // an empty proof would make root == leaf under single hashing; the validator double-hashes leaves.
        bytes32 leafA = _leaf(committed);
        bytes32 leafB = _leaf(sibling);
        bytes memory pair = leafA < leafB ? abi.encode(leafA, leafB) : abi.encode(leafB, leafA);
        assertEq(keccak256(pair), root, "the pair is the root's preimage");
        bytes32 presented = keccak256(bytes.concat(keccak256(pair)));
        address account = address(currentEnv.account);
        SessionTypes.Session memory session = _session(root);
        _grant(currentEnv.entryPoint, account, session);
        PackedUserOperation memory op =
            _op(currentEnv.entryPoint, account, _executeSingle(address(recorder), 0, _ping(1)));
        op = _signUseRaw(currentEnv.entryPoint, op, session, 1, _rawCallEntry(pair, new bytes32[](0), 0));
        _expectScopeError(currentEnv.entryPoint, op, _notInSession(0, presented));
    }

    function test_validateUserOp_reverts_whenInnerNodeOfDeeperTreePresentedAsLeaf() public {
        // four leaves: the pair under one inner node, proven by the other inner node
        SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](4);
        for (uint256 k; k < 4; ++k) {
            permissions[k] = _permission(address(recorder), bytes4(uint32(k + 1)));
        }
        bytes32[] memory leaves = new bytes32[](4);
        for (uint256 k; k < 4; ++k) {
            leaves[k] = _leaf(permissions[k]);
        }
        (bytes32 deepRoot, bytes32[][] memory proofs) = _tree(permissions);
        // proofs[k] = [sibling leaf, other inner node]; rebuild the inner node over leaf 0 and its sibling
        bytes32 a = leaves[0];
        bytes32 b = proofs[0][0];
        bytes memory pair = a < b ? abi.encode(a, b) : abi.encode(b, a);
        bytes32[] memory innerProof = new bytes32[](1);
        innerProof[0] = proofs[0][1];
        bytes32 inner = keccak256(pair);
        assertEq(
            inner < innerProof[0]
                ? keccak256(abi.encode(inner, innerProof[0]))
                : keccak256(abi.encode(innerProof[0], inner)),
            deepRoot,
            "inner node + its proof reach the root"
        );
        address account = address(accountV08);
        SessionTypes.Session memory session = _session(deepRoot);
        _grant(entryPointV08, account, session);
        PackedUserOperation memory op = _op(entryPointV08, account, _executeSingle(address(recorder), 0, _ping(1)));
        op = _signUseRaw(entryPointV08, op, session, 1, _rawCallEntry(pair, innerProof, 0));
        _expectScopeError(entryPointV08, op, _notInSession(0, keccak256(bytes.concat(inner))));
    }

    function test_validateUserOp_reverts_whenProofIsEmptyInMultiLeafTree() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Session memory session = _session(root);
        _grant(currentEnv.entryPoint, account, session);
        PackedUserOperation memory op = _op1(currentEnv, session, committed, address(recorder), 0, _ping(1));
        _expectScopeError(currentEnv.entryPoint, op, _notInSession(0, _leaf(committed)));
    }

    function test_validateUserOp_reverts_whenProofHasExtraOrGarbageElements() public {
        address account = address(accountV08);
        SessionTypes.Session memory session = _session(root);
        _grant(entryPointV08, account, session);
        bytes32[] memory longer = new bytes32[](2);
        longer[0] = committedProof[0];
        longer[1] = bytes32(uint256(1));
        PackedUserOperation memory op =
            _useOp1(entryPointV08, account, _executeSingle(address(recorder), 0, _ping(1)), session, committed, longer);
        _expectScopeError(entryPointV08, op, _notInSession(0, _leaf(committed)));
        bytes32[] memory garbage = new bytes32[](255); // the longest proof the wire format can carry
        for (uint256 k; k < garbage.length; ++k) {
            garbage[k] = keccak256(abi.encode(k));
        }
        op = _useOp1(
            entryPointV08, account, _executeSingle(address(recorder), 0, _ping(1)), session, committed, garbage
        );
        _expectScopeError(entryPointV08, op, _notInSession(0, _leaf(committed)));
    }

    function test_validateUserOp_accepts_whenSingleLeafRootHasEmptyProof() public onEachEntryPoint {
        // a one-leaf session's root is the leaf: its proof is empty. The same leaf under a 2-leaf root is not.
        address account = address(currentEnv.account);
        SessionTypes.Session memory single = _singleLeafSession(committed);
        _grant(currentEnv.entryPoint, account, single);
        PackedUserOperation memory op = _op1(currentEnv, single, committed, address(recorder), 0, _ping(1));
        _handleOp(currentEnv.entryPoint, op);
        _assertRecorded(recorder, 1);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 28: a revoked permission in a non-canonical encoding is another leaf, not in the tree
    // ------------------------------------------------------------------------------------------------------------

    /// Grants the session of {committed, sibling}, has the owner revoke `committed`, and returns the session.
    function _grantAndRevokeCommitted() internal returns (SessionTypes.Session memory session) {
        session = _session(root);
        _grant(currentEnv.entryPoint, address(currentEnv.account), session);
        _sendOwnerOp(
            currentEnv.entryPoint,
            address(currentEnv.account),
            _validatorCall(abi.encodeCall(ISessionKeyValidator.revokePermission, (_sid(session), _leaf(committed))))
        );
    }

    /// Sends a ping the committed permission allows, presenting `permissionData` as its permission with the
    /// committed proof, and expects `inner`.
    function _expectEncodingRejected(
        SessionTypes.Session memory session,
        bytes memory permissionData,
        bytes memory inner
    ) internal {
        PackedUserOperation memory op = _op(
            currentEnv.entryPoint, address(currentEnv.account), _executeSingle(address(recorder), 0, _ping(5))
        );
        op = _signUseRaw(currentEnv.entryPoint, op, session, 1, _rawCallEntry(permissionData, committedProof, 0));
        _expectScopeError(currentEnv.entryPoint, op, inner);
        _assertRecorded(recorder, 0);
    }

    /// keccak256(keccak256(bytes)): the leaf the validator computes for presented bytes.
    function _leafOfBytes(bytes memory permissionData) internal pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(permissionData)));
    }

    function _expectNonCanonicalRejected(bytes memory permissionData) internal {
        SessionTypes.Session memory session = _grantAndRevokeCommitted();
        assertTrue(keccak256(permissionData) != keccak256(abi.encode(committed)), "a different encoding");
        // positive controls: the canonical bytes reach the revocation check, the sibling still works
        _expectEncodingRejected(
            session,
            abi.encode(committed),
            abi.encodeWithSelector(ISessionKeyValidator.PermissionIsRevoked.selector, 0, _leaf(committed))
        );
        _expectEncodingRejected(session, permissionData, _notInSession(0, _leafOfBytes(permissionData)));
        (, bytes32[][] memory proofs) = _tree(_pair(committed, sibling));
        _handleOp(currentEnv.entryPoint, _op1(currentEnv, session, sibling, proofs[1], address(recorder2), 0, _ping(5)));
        _assertRecorded(recorder2, 1);
    }

    function test_validateUserOp_reverts_whenRevokedPermissionHasTrailingBytes() public onEachEntryPoint {
        _expectNonCanonicalRejected(bytes.concat(abi.encode(committed), bytes32(0)));
    }

    function test_validateUserOp_reverts_whenRevokedPermissionRulesAreMoved() public onEachEntryPoint {
        // the rules offset (head word 11 of the struct) points one word further, past an inserted zero word: the
        // same struct for an ABI decoder, other bytes for the leaf
        bytes memory canonical = abi.encode(committed);
        uint256 head = 0x20 + 12 * 0x20; // outer offset word + the struct's 12 head words
        bytes memory moved =
            bytes.concat(_slice(canonical, 0, head), bytes32(0), _slice(canonical, head, canonical.length));
        uint256 offsetWord = 0x20 + 11 * 0x20;
        uint256 rulesOffset;
        assembly ("memory-safe") {
            rulesOffset := mload(add(add(moved, 0x20), offsetWord))
            mstore(add(add(moved, 0x20), offsetWord), add(rulesOffset, 0x20))
        }
        assertEq(rulesOffset, 12 * 0x20, "canonical rules offset");
        assertEq(
            keccak256(abi.encode(abi.decode(moved, (SessionTypes.Permission)))), keccak256(canonical), "same struct"
        );
        _expectNonCanonicalRejected(moved);
    }

    function test_validateUserOp_reverts_whenRevokedPermissionHasDirtyPadding() public onEachEntryPoint {
        // flags (uint8, head word 2) with a high bit set: a lenient decoder would read the same flags
        bytes memory dirty = abi.encode(committed);
        dirty[0x20 + 2 * 0x20] = 0x01;
        _expectNonCanonicalRejected(dirty);
    }

    function testFuzz_validateUserOp_reverts_whenRevokedPermissionHasAppendedBytes(bytes memory extra)
        public
        onEachEntryPoint
    {
        vm.assume(extra.length > 0 && extra.length < 512);
        _expectNonCanonicalRejected(bytes.concat(abi.encode(committed), extra));
    }

    function _slice(bytes memory data, uint256 start, uint256 end) internal pure returns (bytes memory out) {
        out = new bytes(end - start);
        for (uint256 i; i < out.length; ++i) {
            out[i] = data[start + i];
        }
    }
}
