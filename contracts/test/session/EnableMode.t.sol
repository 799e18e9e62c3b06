// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Vm} from "forge-std/Vm.sol";
import {SessionKeyValidator} from "../../src/SessionKeyValidator.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";

/// @notice Enable mode: the first user operation carries the session and the owner's EIP-712 signature.
contract EnableModeTest is SessionLifecycleBase {
    function _calls() internal view returns (CallProof[] memory) {
        return SessionEncoding.one(_transferPermission(), _noProof());
    }

    function _session() internal view returns (SessionTypes.Session memory) {
        return _singleLeafSession(_transferPermission());
    }

    /// An enable op of `session` transferring 100 tokens with the given owner signature.
    function _enableTransferOp(
        IEntryPoint entryPoint,
        address account,
        SessionTypes.Session memory session,
        bytes memory ownerSignature
    ) internal view returns (PackedUserOperation memory) {
        return _enableOp(entryPoint, account, _transferCall(100), session, _calls(), ownerSignature);
    }

    /// Sends an enable op whose owner signature is wrong and checks nothing was granted or executed.
    function _expectEnableRejected(
        IEntryPoint entryPoint,
        address account,
        SessionTypes.Session memory session,
        bytes memory ownerSignature
    ) internal {
        _expectSignatureError(entryPoint, _enableTransferOp(entryPoint, account, session, ownerSignature));
        assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 0, "not granted");
        assertEq(token.balanceOf(account), 1000, "nothing executed");
    }

    /// Enable op whose signature bytes are patched at `index` to `value` (session fields the encoder can't express).
    function _patchedEnableOp(IEntryPoint entryPoint, address account, uint256 index, bytes1 value)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        SessionTypes.Session memory session = _session();
        op = _enableTransferOp(entryPoint, account, session, _ownerEnableSignature(account, session));
        op.signature[index] = value;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Success paths
    // ------------------------------------------------------------------------------------------------------------

    function test_enable_grantsAndExecutes_withoutOwnerGrantTransaction() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        bytes32 sessionId = SessionEncoding.sessionId(session);
        assertEq(uint8(validator.sessionStatus(account, sessionId)), 0, "unknown before");

        PackedUserOperation memory op =
            _enableTransferOp(entryPoint, account, session, _ownerEnableSignature(account, session));
        vm.expectEmit(true, true, true, true, address(validator));
        emit ISessionKeyValidator.SessionGranted(
            account, sessionId, sessionSigner, session.validAfter, session.validUntil, 1
        );
        _handleOp(entryPoint, op);

        assertEq(uint8(validator.sessionStatus(account, sessionId)), 1, "active");
        assertEq(token.balanceOf(account), 900, "executed");
    }

    function test_enable_thenUseMode_executes() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        _handleOp(entryPoint, _enableTransferOp(entryPoint, account, session, _ownerEnableSignature(account, session)));
        _handleOp(entryPoint, _transferUseOp(entryPoint, account, session, 50));
        assertEq(token.balanceOf(account), 850);
    }

    function test_enable_grantsAndExecutes_inFirstOpOfCounterfactualAccount() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address[] memory validators = new address[](1);
        validators[0] = address(validator);
        bytes[] memory initData = new bytes[](1);
        address account = currentEnv.factory.getAddress(owner, 11, validators, initData);
        assertEq(account.code.length, 0);
        _fundAccount(entryPoint, account);
        token.mint(account, 1000);

        SessionTypes.Session memory session = _session();
        // The account will be at epoch 1 once its initCode installed the module.
        bytes32 digest = _expectedEnableDigest(address(validator), block.chainid, account, 1, session);
        PackedUserOperation memory op = _sessionOp(entryPoint, account, _transferCall(100), "");
        op.initCode = _initCode(currentEnv.factory, owner, 11, validators, initData);
        _signEnable(entryPoint, op, session, _ownerSignatureOf(digest), _calls(), SESSION_KEY);
        _handleOp(entryPoint, op);

        assertEq(token.balanceOf(account), 900, "executed");
        assertEq(validator.epochOf(account), 1);
        assertEq(validator.enableDigest(account, session), digest);
        assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 1);
    }

    function test_enable_executesAgain_whenSessionAlreadyActive_withoutNewGrantEvent() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        bytes memory ownerSignature = _ownerEnableSignature(account, session);
        _handleOp(entryPoint, _enableTransferOp(entryPoint, account, session, ownerSignature));

        PackedUserOperation memory op = _enableTransferOp(entryPoint, account, session, ownerSignature);
        vm.recordLogs();
        _handleOp(entryPoint, op);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 l; l < logs.length; ++l) {
            assertFalse(
                logs[l].emitter == address(validator)
                    && logs[l].topics[0] == ISessionKeyValidator.SessionGranted.selector,
                "no second grant"
            );
        }
        assertEq(token.balanceOf(account), 800);
    }

    function test_enable_succeedsInNewEpoch_withFreshOwnerSignature() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        _handleOp(entryPoint, _enableTransferOp(entryPoint, account, session, _ownerEnableSignature(account, session)));
        _revokeAll(entryPoint, account);
        _handleOp(entryPoint, _enableTransferOp(entryPoint, account, session, _ownerEnableSignature(account, session)));
        assertEq(token.balanceOf(account), 800);
        assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 1);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Owner signature failures: AA24, nothing granted
    // ------------------------------------------------------------------------------------------------------------

    function test_enable_reverts_AA24_whenOwnerSignatureByOtherKey() public onEachEntryPoint {
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        bytes32 digest = validator.enableDigest(account, session);
        bytes memory ownerSignature = abi.encodePacked(address(ownerValidator), _sign(OTHER_KEY, digest));
        _expectEnableRejected(currentEnv.entryPoint, account, session, ownerSignature);
    }

    function test_enable_reverts_AA24_whenSessionKeySignsInsteadOfOwner() public onEachEntryPoint {
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        bytes32 digest = validator.enableDigest(account, session);
        // Routed to the session validator itself, which never accepts ERC-1271 signatures.
        bytes memory ownerSignature = abi.encodePacked(address(validator), _sign(SESSION_KEY, digest));
        _expectEnableRejected(currentEnv.entryPoint, account, session, ownerSignature);
    }

    function test_enable_reverts_AA24_whenOwnerSignatureEmpty() public onEachEntryPoint {
        address account = _account(currentEnv);
        token.mint(account, 1000);
        _expectEnableRejected(currentEnv.entryPoint, account, _session(), "");
    }

    function test_enable_reverts_AA24_whenOwnerSignatureForOtherAccount() public onEachEntryPoint {
        address account = _account(currentEnv);
        address other = _account(_otherEnv());
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        assertEq(validator.epochOf(other), validator.epochOf(account), "same epoch, same owner");
        bytes32 digest = validator.enableDigest(other, session);
        _expectEnableRejected(currentEnv.entryPoint, account, session, _ownerSignatureOf(digest));
    }

    function test_enable_reverts_AA24_whenOwnerSignatureForOldEpoch() public onEachEntryPoint {
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        bytes memory ownerSignature = _ownerEnableSignature(account, session);
        _revokeAll(currentEnv.entryPoint, account);
        _expectEnableRejected(currentEnv.entryPoint, account, session, ownerSignature);
    }

    function test_enable_reverts_AA24_whenOwnerSignatureForOtherValidator() public onEachEntryPoint {
        SessionKeyValidator otherValidator = new SessionKeyValidator();
        address account = _account(currentEnv);
        token.mint(account, 1000);
        vm.prank(account);
        otherValidator.onInstall(""); // same epoch (1) on the other validator
        SessionTypes.Session memory session = _session();
        bytes32 digest = otherValidator.enableDigest(account, session);
        assertEq(digest, _expectedEnableDigest(address(otherValidator), block.chainid, account, 1, session));
        assertTrue(digest != validator.enableDigest(account, session));
        _expectEnableRejected(currentEnv.entryPoint, account, session, _ownerSignatureOf(digest));
    }

    /// Kept in storage: the optimizer may re-read `block.chainid` for a local after `vm.chainId`.
    uint256 internal savedChainId;

    function test_enable_reverts_AA24_whenOwnerSignatureForOtherChain() public onEachEntryPoint {
        savedChainId = block.chainid;
        uint256 chainId = savedChainId;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        vm.chainId(chainId + 1);
        bytes32 digest = validator.enableDigest(account, session);
        vm.chainId(savedChainId);
        assertEq(block.chainid, savedChainId);
        assertEq(digest, _expectedEnableDigest(address(validator), savedChainId + 1, account, 1, session));
        assertTrue(digest != validator.enableDigest(account, session));
        _expectEnableRejected(currentEnv.entryPoint, account, session, _ownerSignatureOf(digest));
    }

    function test_enable_reverts_AA24_whenOwnerSignatureForOtherSession() public onEachEntryPoint {
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        SessionTypes.Session memory signed = _session();
        signed.validUntil = session.validUntil + 1;
        _expectEnableRejected(currentEnv.entryPoint, account, session, _ownerEnableSignature(account, signed));
    }

    function test_enable_reverts_AA24_whenSessionKeySignatureBad() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        PackedUserOperation memory op = _sessionOp(entryPoint, account, _transferCall(100), "");
        _signEnable(entryPoint, op, session, _ownerEnableSignature(account, session), _calls(), OTHER_KEY);
        _expectSignatureError(entryPoint, op);
        assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 0, "not granted");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Revocation and replay
    // ------------------------------------------------------------------------------------------------------------

    function test_enable_reverts_SessionIsRevoked_whenReplayedAfterRevokeSession() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = _account(currentEnv);
        token.mint(account, 1000);
        SessionTypes.Session memory session = _session();
        bytes32 sessionId = SessionEncoding.sessionId(session);
        bytes memory ownerSignature = _ownerEnableSignature(account, session);
        _handleOp(entryPoint, _enableTransferOp(entryPoint, account, session, ownerSignature));
        _revoke(entryPoint, account, sessionId);

        _expectScopeError(
            entryPoint,
            _enableTransferOp(entryPoint, account, session, ownerSignature),
            abi.encodeWithSelector(ISessionKeyValidator.SessionIsRevoked.selector, sessionId)
        );
        _expectScopeError(entryPoint, _transferUseOp(entryPoint, account, session, 100), _notActive(sessionId));
        assertEq(token.balanceOf(account), 900);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Invalid session fields: the grant's errors
    // ------------------------------------------------------------------------------------------------------------

    function _expectEnableError(SessionTypes.Session memory session, bytes memory inner) internal {
        address account = _account(currentEnv);
        _expectScopeError(
            currentEnv.entryPoint,
            _enableTransferOp(currentEnv.entryPoint, account, session, _ownerEnableSignature(account, session)),
            inner
        );
    }

    function test_enable_reverts_ZeroSessionSigner() public onEachEntryPoint {
        SessionTypes.Session memory session = _session();
        session.signer = address(0);
        _expectEnableError(session, abi.encodeWithSelector(ISessionKeyValidator.ZeroSessionSigner.selector));
    }

    function test_enable_reverts_InvalidSessionWindow_whenValidAfterAfterValidUntil() public onEachEntryPoint {
        SessionTypes.Session memory session = _session();
        session.validAfter = START + 10;
        session.validUntil = START + 9;
        _expectEnableError(
            session, abi.encodeWithSelector(ISessionKeyValidator.InvalidSessionWindow.selector, START + 10, START + 9)
        );
    }

    function test_enable_reverts_InvalidSessionWindow_whenValidUntilZero() public onEachEntryPoint {
        SessionTypes.Session memory session = _session();
        session.validAfter = 0;
        session.validUntil = 0;
        _expectEnableError(session, abi.encodeWithSelector(ISessionKeyValidator.InvalidSessionWindow.selector, 0, 0));
    }

    function test_enable_reverts_InvalidPaymasterPolicy_whenExactlyWithoutPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _session();
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.Exactly;
        _expectEnableError(
            session, abi.encodeWithSelector(ISessionKeyValidator.InvalidPaymasterPolicy.selector, 3, address(0))
        );
    }

    function test_enable_reverts_InvalidPaymasterPolicy_whenOtherPolicyNamesPaymaster() public onEachEntryPoint {
        address paymaster = makeAddr("paymaster");
        for (uint8 policy; policy < 3; ++policy) {
            SessionTypes.Session memory session = _session();
            session.paymasterPolicy = SessionTypes.PaymasterPolicy(policy);
            session.paymaster = paymaster;
            _expectEnableError(
                session, abi.encodeWithSelector(ISessionKeyValidator.InvalidPaymasterPolicy.selector, policy, paymaster)
            );
        }
    }

    function test_enable_reverts_InvalidPaymasterPolicy_whenPolicyOutOfRange() public onEachEntryPoint {
        // Policy word (bytes 129..160 of the signature): low byte set to 4.
        PackedUserOperation memory op = _patchedEnableOp(currentEnv.entryPoint, _account(currentEnv), 160, 0x04);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidPaymasterPolicy.selector, 4, address(0))
        );
    }

    function test_enable_reverts_MalformedSession_whenAddressOrTimeWordHasDirtyBits() public onEachEntryPoint {
        // First byte of the signer, validAfter, validUntil and paymaster words.
        uint256[4] memory indexes = [uint256(1), 33, 65, 161];
        for (uint256 k; k < indexes.length; ++k) {
            PackedUserOperation memory op =
                _patchedEnableOp(currentEnv.entryPoint, _account(currentEnv), indexes[k], 0x01);
            _expectScopeError(
                currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.MalformedSession.selector)
            );
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // enableDigest
    // ------------------------------------------------------------------------------------------------------------

    function test_enableDigest_matchesIndependentEip712Digest() public view {
        SessionTypes.Session memory session = _session();
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.Exactly;
        session.paymaster = address(0xBEEF);
        session.salt = keccak256("salt");
        for (uint256 i; i < 2; ++i) {
            address account = i == 0 ? address(accountV07) : address(accountV08);
            assertEq(
                validator.enableDigest(account, session),
                _expectedEnableDigest(address(validator), block.chainid, account, validator.epochOf(account), session)
            );
        }
    }

    function testFuzz_enableDigest_matchesIndependentEip712Digest(
        address account,
        address signer,
        uint48 validAfter,
        uint48 validUntil,
        bytes32 root,
        uint8 policy,
        address paymaster,
        uint128 maxOperationFee,
        uint128 feeBudget,
        bytes32 salt,
        uint8 revokes
    ) public {
        vm.assume(account != address(0));
        SessionTypes.Session memory session = SessionTypes.Session({
            signer: signer,
            validAfter: validAfter,
            validUntil: validUntil,
            permissionsRoot: root,
            paymasterPolicy: SessionTypes.PaymasterPolicy(bound(policy, 0, 3)),
            paymaster: paymaster,
            maxOperationFee: maxOperationFee,
            feeBudget: feeBudget,
            salt: salt
        });
        revokes = uint8(bound(revokes, 0, 3));
        vm.startPrank(account);
        if (!validator.isInitialized(account)) validator.onInstall("");
        for (uint256 r; r < revokes; ++r) {
            validator.revokeAllSessions();
        }
        vm.stopPrank();
        uint64 epoch = validator.epochOf(account);
        assertEq(
            validator.enableDigest(account, session),
            _expectedEnableDigest(address(validator), block.chainid, account, epoch, session)
        );
    }

    function test_eip712Domain_namesKeyscopeValidator() public view {
        (, string memory name, string memory version, uint256 chainId, address verifyingContract,,) =
            validator.eip712Domain();
        assertEq(name, "Keyscope SessionKeyValidator");
        assertEq(version, "1");
        assertEq(chainId, block.chainid);
        assertEq(verifyingContract, address(validator));
    }
}
