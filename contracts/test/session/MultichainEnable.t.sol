// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";

/// @notice Multichain enable mode: the owner signs once over a tree of (chain, account, epoch, session) leaves, and
///         the first operation on each chain proves its own leaf. Chains are simulated with `vm.chainId`; the
///         end-to-end test on two anvils with different chain ids is in `tests/`.
contract MultichainEnableTest is SessionLifecycleBase {
    uint256 internal constant CHAIN_A = 31_337;
    uint256 internal constant CHAIN_B = 10;
    uint256 internal constant CHAIN_OTHER = 8453;

    /// The owner's tree: the v0.7 account on chain A, the v0.8 account on chain B, and a third entry elsewhere.
    struct Tree {
        SessionTypes.Session session;
        bytes32[] nodes;
        bytes32 leafA;
        bytes32 leafB;
        bytes ownerSignature;
    }

    function setUp() public override {
        super.setUp();
        vm.chainId(CHAIN_A);
    }

    function _calls() internal view returns (CallProof[] memory) {
        return SessionEncoding.one(_transferPermission(), _noProof());
    }

    function _tree(uint64 epoch) internal view returns (Tree memory t) {
        t.session = _singleLeafSession(_transferPermission());
        bytes32[] memory leaves = new bytes32[](3);
        t.leafA = SessionEncoding.multichainLeaf(CHAIN_A, address(accountV07), epoch, t.session);
        t.leafB = SessionEncoding.multichainLeaf(CHAIN_B, address(accountV08), epoch, t.session);
        leaves[0] = t.leafA;
        leaves[1] = t.leafB;
        leaves[2] = SessionEncoding.multichainLeaf(CHAIN_OTHER, address(0xBEEF), epoch, t.session);
        t.nodes = SessionEncoding.buildTree(leaves);
        t.ownerSignature = _ownerSignatureOf(SessionEncoding.multichainDigest(address(validator), t.nodes[0]));
    }

    /// A multichain enable op of `account` transferring 100 tokens, proving `leaf` of `t`.
    function _multichainOp(IEntryPoint entryPoint, address account, Tree memory t, bytes32 leaf)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        return _multichainOp(entryPoint, account, t.session, SessionEncoding.proofOf(t.nodes, leaf), t.ownerSignature);
    }

    function _multichainOp(
        IEntryPoint entryPoint,
        address account,
        SessionTypes.Session memory session,
        bytes32[] memory chainProof,
        bytes memory ownerSignature
    ) internal view returns (PackedUserOperation memory op) {
        op = _buildUserOp(entryPoint, account, _sessionNonceKey(1), _transferCall(100));
        op.signature = SessionEncoding.multichainEnableSignature(
            session, chainProof, ownerSignature, _calls(), _sign(SESSION_KEY, _userOpHash(entryPoint, op))
        );
    }

    function _status(address account, SessionTypes.Session memory session) internal view returns (uint8) {
        return uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session)));
    }

    function _fund() internal {
        token.mint(address(accountV07), 1000);
        token.mint(address(accountV08), 1000);
    }

    // ------------------------------------------------------------------------------------------------------------
    // One signature, several chains
    // ------------------------------------------------------------------------------------------------------------

    function test_enableMultichain_grantsAndExecutes_onEachChainOfTheTree() public {
        _fund();
        Tree memory t = _tree(1);
        bytes32 sessionId = SessionEncoding.sessionId(t.session);

        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.SessionGranted(
            address(accountV07), sessionId, sessionSigner, t.session.validAfter, t.session.validUntil, 1
        );
        _handleOp(entryPointV07, _multichainOp(entryPointV07, address(accountV07), t, t.leafA));
        assertEq(_status(address(accountV07), t.session), 1, "active on chain A");
        assertEq(token.balanceOf(address(accountV07)), 900);

        // the same owner signature, on chain B, for the account named there
        vm.chainId(CHAIN_B);
        assertEq(_status(address(accountV08), t.session), 0, "not yet on chain B");
        _handleOp(entryPointV08, _multichainOp(entryPointV08, address(accountV08), t, t.leafB));
        assertEq(_status(address(accountV08), t.session), 1, "active on chain B");
        assertEq(token.balanceOf(address(accountV08)), 900);

        // then use mode, as after any grant
        _handleOp(entryPointV08, _transferUseOp(entryPointV08, address(accountV08), t.session, 50));
        assertEq(token.balanceOf(address(accountV08)), 850);
    }

    /// A tree of one leaf: the root is the leaf and the proof is empty.
    function test_enableMultichain_grantsAndExecutes_withSingleLeafTree() public onEachEntryPoint {
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes32 root = SessionEncoding.multichainLeaf(block.chainid, account, 1, session);
        bytes memory ownerSignature = _ownerSignatureOf(SessionEncoding.multichainDigest(address(validator), root));
        _handleOp(
            currentEnv.entryPoint,
            _multichainOp(currentEnv.entryPoint, account, session, new bytes32[](0), ownerSignature)
        );
        assertEq(_status(account, session), 1);
        assertEq(token.balanceOf(account), 900);
    }

    // ------------------------------------------------------------------------------------------------------------
    // What one signature must not enable
    // ------------------------------------------------------------------------------------------------------------

    function test_enableMultichain_reverts_AA24_onChainNotInTree() public {
        _fund();
        Tree memory t = _tree(1);
        vm.chainId(CHAIN_OTHER + 1);
        _expectSignatureError(entryPointV07, _multichainOp(entryPointV07, address(accountV07), t, t.leafA));
        assertEq(_status(address(accountV07), t.session), 0);
        assertEq(token.balanceOf(address(accountV07)), 1000);
    }

    /// Chain A's proof replayed on chain B (for the same account, which the tree names only on chain A), and chain
    /// B's proof on chain A.
    function test_enableMultichain_reverts_AA24_whenProofOfAnotherChainsLeaf() public {
        _fund();
        Tree memory t = _tree(1);
        _expectSignatureError(entryPointV08, _multichainOp(entryPointV08, address(accountV08), t, t.leafA));
        _expectSignatureError(entryPointV07, _multichainOp(entryPointV07, address(accountV07), t, t.leafB));
        vm.chainId(CHAIN_B);
        _expectSignatureError(entryPointV07, _multichainOp(entryPointV07, address(accountV07), t, t.leafA));
        assertEq(_status(address(accountV07), t.session), 0);
        assertEq(_status(address(accountV08), t.session), 0);
    }

    /// A single-chain enable signature does not pass as a multichain one, nor the other way round.
    function test_enableMultichain_reverts_AA24_whenSignatureOfTheOtherMode() public onEachEntryPoint {
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        bytes memory single = _ownerEnableSignature(account, session);
        _expectSignatureError(
            currentEnv.entryPoint, _multichainOp(currentEnv.entryPoint, account, session, new bytes32[](0), single)
        );
        bytes32 root = SessionEncoding.multichainLeaf(block.chainid, account, 1, session);
        bytes memory multi = _ownerSignatureOf(SessionEncoding.multichainDigest(address(validator), root));
        _expectSignatureError(
            currentEnv.entryPoint,
            _enableOp(currentEnv.entryPoint, account, _transferCall(100), session, _calls(), multi)
        );
        assertEq(_status(account, session), 0);
    }

    /// Signed for the validator at another address: another domain, another digest.
    function test_enableMultichain_reverts_AA24_whenSignedForOtherValidator() public {
        _fund();
        Tree memory t = _tree(1);
        t.ownerSignature = _ownerSignatureOf(SessionEncoding.multichainDigest(address(0xCAFE), t.nodes[0]));
        _expectSignatureError(entryPointV07, _multichainOp(entryPointV07, address(accountV07), t, t.leafA));
    }

    /// Revoke-all starts a new epoch: leaves of the old one no longer match.
    function test_enableMultichain_reverts_AA24_afterRevokeAll() public {
        _fund();
        Tree memory t = _tree(1);
        _revokeAll(entryPointV07, address(accountV07));
        _expectSignatureError(entryPointV07, _multichainOp(entryPointV07, address(accountV07), t, t.leafA));
        assertEq(_status(address(accountV07), t.session), 0);
    }

    function test_enableMultichain_reverts_SessionIsRevoked_whenReplayedAfterRevokeSession() public {
        _fund();
        Tree memory t = _tree(1);
        bytes32 sessionId = SessionEncoding.sessionId(t.session);
        _handleOp(entryPointV07, _multichainOp(entryPointV07, address(accountV07), t, t.leafA));
        _revoke(entryPointV07, address(accountV07), sessionId);
        _expectScopeError(
            entryPointV07,
            _multichainOp(entryPointV07, address(accountV07), t, t.leafA),
            abi.encodeWithSelector(ISessionKeyValidator.SessionIsRevoked.selector, sessionId)
        );
        assertEq(token.balanceOf(address(accountV07)), 900);
    }

    /// Any flipped byte of the chain proof leads to another root: never a grant.
    function testFuzz_enableMultichain_neverGrants_whenChainProofAltered(uint256 position, uint8 flip) public {
        _fund();
        Tree memory t = _tree(1);
        bytes32[] memory proof = SessionEncoding.proofOf(t.nodes, t.leafA);
        position = bound(position, 0, proof.length * 32 - 1);
        bytes memory raw = abi.encodePacked(proof);
        raw[position] ^= bytes1(uint8(bound(flip, 1, 255)));
        for (uint256 i; i < proof.length; ++i) {
            proof[i] = bytes32(_slice32(raw, i * 32));
        }
        _expectSignatureError(
            entryPointV07, _multichainOp(entryPointV07, address(accountV07), t.session, proof, t.ownerSignature)
        );
        assertEq(_status(address(accountV07), t.session), 0);
    }

    function _slice32(bytes memory data, uint256 start) internal pure returns (bytes32 word) {
        assembly ("memory-safe") {
            word := mload(add(add(data, 0x20), start))
        }
    }
}
