// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";
import {TestPaymaster} from "../mocks/Paymasters.sol";

/// @notice Paymaster policies: Any, None, Required, Exactly.
contract PaymasterTest is SessionLifecycleBase {
    uint128 internal constant PAYMASTER_VERIFICATION_GAS = 100_000;
    uint128 internal constant PAYMASTER_POST_OP_GAS = 50_000;

    /// Per EntryPoint version: the session's paymaster and another, both staked and funded.
    TestPaymaster[2] internal paymasters;
    TestPaymaster[2] internal otherPaymasters;

    function setUp() public virtual override {
        super.setUp();
        // setUp prepares both hosts (paymasters per EntryPoint), so it loops; tests run through onEachEntryPoint.
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            paymasters[i] = _deployPaymaster(envs[i].entryPoint);
            otherPaymasters[i] = _deployPaymaster(envs[i].entryPoint);
            token.mint(_account(envs[i]), 1000);
        }
    }

    /// The session's paymaster on the EntryPoint of the current {onEachEntryPoint} run.
    function _paymaster() internal view returns (TestPaymaster) {
        return paymasters[uint256(currentEnv.version)];
    }

    /// The other paymaster on the EntryPoint of the current {onEachEntryPoint} run.
    function _otherPaymaster() internal view returns (TestPaymaster) {
        return otherPaymasters[uint256(currentEnv.version)];
    }

    function _deployPaymaster(IEntryPoint entryPoint) internal returns (TestPaymaster paymaster) {
        paymaster = new TestPaymaster(entryPoint);
        vm.deal(address(this), address(this).balance + 11 ether);
        paymaster.fund{value: 11 ether}(1 ether);
        assertEq(entryPoint.balanceOf(address(paymaster)), 10 ether);
    }

    function _paymasterAndData(address paymaster) internal pure returns (bytes memory) {
        return abi.encodePacked(paymaster, PAYMASTER_VERIFICATION_GAS, PAYMASTER_POST_OP_GAS);
    }

    function _policySession(SessionTypes.PaymasterPolicy policy, address paymaster)
        internal
        view
        returns (SessionTypes.Session memory session)
    {
        session = _singleLeafSession(_transferPermission());
        session.paymasterPolicy = policy;
        session.paymaster = paymaster;
    }

    /// Grants `session` on `env`'s account by owner op.
    function _granted(AccountEnv memory env, SessionTypes.Session memory session)
        internal
        returns (SessionTypes.Session memory)
    {
        _grant(env.entryPoint, _account(env), session);
        return session;
    }

    /// Grants, on the current {onEachEntryPoint} run's account, the transfer session with `policy` and `paymaster`.
    function _grantPolicy(SessionTypes.PaymasterPolicy policy, address paymaster)
        internal
        returns (SessionTypes.Session memory)
    {
        return _granted(currentEnv, _policySession(policy, paymaster));
    }

    /// A use-mode transfer of 10 tokens with `paymasterAndData`, signed by the session key.
    function _op(AccountEnv memory env, SessionTypes.Session memory session, bytes memory paymasterAndData)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op = _sessionOp(env.entryPoint, _account(env), _transferCall(10), paymasterAndData);
        _signUse(env.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY);
    }

    function _notAllowed(SessionTypes.PaymasterPolicy policy, address paymaster) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.PaymasterNotAllowed.selector, uint8(policy), paymaster);
    }

    /// Sends `op` and checks that `payer` (and only it) paid, and that the transfer ran.
    function _handleOpPaidBy(AccountEnv memory env, PackedUserOperation memory op, address payer) internal {
        address account = _account(env);
        uint256 accountDeposit = env.entryPoint.balanceOf(account);
        uint256 payerDeposit = env.entryPoint.balanceOf(payer);
        uint256 balance = token.balanceOf(account);
        _handleOp(env.entryPoint, op);
        assertEq(token.balanceOf(account), balance - 10, "transfer executed");
        assertLt(env.entryPoint.balanceOf(payer), payerDeposit, "payer charged");
        if (payer != account) assertEq(env.entryPoint.balanceOf(account), accountDeposit, "account not charged");
    }

    /// Calls the validator directly from the account and expects `inner`.
    function _expectDirectRevert(AccountEnv memory env, PackedUserOperation memory op, bytes memory inner) internal {
        bytes32 userOpHash = _userOpHash(env.entryPoint, op);
        vm.prank(_account(env));
        vm.expectRevert(inner);
        validator.validateUserOp(op, userOpHash);
    }

    /// A paymasterAndData naming the zero address, under `policy` (None or Required): v0.8 refuses it before
    /// validation (AA98); v0.7 treats it as self-paid (charging the account), so the validator must refuse it. The
    /// validator refuses it on its own on both.
    function _expectZeroAddressPaymasterRefused(SessionTypes.PaymasterPolicy policy) internal {
        SessionTypes.Session memory session = _grantPolicy(policy, address(0));
        PackedUserOperation memory op = _op(currentEnv, session, _paymasterAndData(address(0)));
        bytes memory inner = _notAllowed(policy, address(0));
        if (_isV08(currentEnv)) {
            _handleOpExpectRevert(
                currentEnv.entryPoint, op, abi.encodeWithSignature("Error(string)", "AA98 invalid paymaster")
            );
        } else {
            _expectScopeError(currentEnv.entryPoint, op, inner);
        }
        _expectDirectRevert(currentEnv, op, inner);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Any
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_accepts_anyPolicy_withoutPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.Any, address(0));
        _handleOpPaidBy(currentEnv, _op(currentEnv, session, ""), _account(currentEnv));
    }

    function test_validateUserOp_accepts_anyPolicy_withPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.Any, address(0));
        address paymaster = address(_paymaster());
        _handleOpPaidBy(currentEnv, _op(currentEnv, session, _paymasterAndData(paymaster)), paymaster);
    }

    // ------------------------------------------------------------------------------------------------------------
    // None
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_accepts_nonePolicy_withoutPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.None, address(0));
        _handleOpPaidBy(currentEnv, _op(currentEnv, session, ""), _account(currentEnv));
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_nonePolicy_withPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.None, address(0));
        address paymaster = address(_paymaster());
        _expectScopeError(
            currentEnv.entryPoint,
            _op(currentEnv, session, _paymasterAndData(paymaster)),
            _notAllowed(SessionTypes.PaymasterPolicy.None, paymaster)
        );
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_nonePolicy_withZeroAddressPaymasterField()
        public
        onEachEntryPoint
    {
        _expectZeroAddressPaymasterRefused(SessionTypes.PaymasterPolicy.None);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Required
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_accepts_requiredPolicy_withPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.Required, address(0));
        address paymaster = address(_otherPaymaster());
        _handleOpPaidBy(currentEnv, _op(currentEnv, session, _paymasterAndData(paymaster)), paymaster);
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_requiredPolicy_withoutPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.Required, address(0));
        uint256 deposit = currentEnv.entryPoint.balanceOf(_account(currentEnv));
        _expectScopeError(
            currentEnv.entryPoint,
            _op(currentEnv, session, ""),
            _notAllowed(SessionTypes.PaymasterPolicy.Required, address(0))
        );
        assertEq(currentEnv.entryPoint.balanceOf(_account(currentEnv)), deposit, "account not charged");
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_requiredPolicy_withZeroAddressPaymaster()
        public
        onEachEntryPoint
    {
        _expectZeroAddressPaymasterRefused(SessionTypes.PaymasterPolicy.Required);
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_requiredPolicy_withShortPaymasterField()
        public
        onEachEntryPoint
    {
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.Required, address(0));
        // Shorter than an address: the EntryPoint refuses it (AA93); the validator reads no paymaster.
        PackedUserOperation memory op =
            _op(currentEnv, session, abi.encodePacked(bytes19(bytes20(address(_paymaster())))));
        _expectDirectRevert(currentEnv, op, _notAllowed(SessionTypes.PaymasterPolicy.Required, address(0)));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Exactly
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_accepts_exactlyPolicy_withThatPaymaster() public onEachEntryPoint {
        address paymaster = address(_paymaster());
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.Exactly, paymaster);
        _handleOpPaidBy(currentEnv, _op(currentEnv, session, _paymasterAndData(paymaster)), paymaster);
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_exactlyPolicy_withOtherPaymaster()
        public
        onEachEntryPoint
    {
        SessionTypes.Session memory session = _granted(
            currentEnv, _policySession(SessionTypes.PaymasterPolicy.Exactly, address(_paymaster()))
        );
        address other = address(_otherPaymaster());
        uint256 deposit = currentEnv.entryPoint.balanceOf(other);
        _expectScopeError(
            currentEnv.entryPoint,
            _op(currentEnv, session, _paymasterAndData(other)),
            _notAllowed(SessionTypes.PaymasterPolicy.Exactly, other)
        );
        assertEq(currentEnv.entryPoint.balanceOf(other), deposit, "other paymaster not charged");
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_exactlyPolicy_withoutPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.Exactly, address(_paymaster()));
        _expectScopeError(
            currentEnv.entryPoint,
            _op(currentEnv, session, ""),
            _notAllowed(SessionTypes.PaymasterPolicy.Exactly, address(0))
        );
    }

    function testFuzz_validateUserOp_exactlyPolicy_rejectsEveryOtherPaymaster(address other) public {
        AccountEnv memory env = _env(EntryPointVersion.V08);
        address paymaster = address(paymasters[1]);
        vm.assume(other != paymaster);
        SessionTypes.Session memory session = _policySession(SessionTypes.PaymasterPolicy.Exactly, paymaster);
        vm.prank(_account(env));
        validator.grantSession(session);
        _expectDirectRevert(
            env, _op(env, session, _paymasterAndData(other)), _notAllowed(SessionTypes.PaymasterPolicy.Exactly, other)
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Policy checks in enable mode and with a dummy signature
    // ------------------------------------------------------------------------------------------------------------

    function test_enable_accepts_exactlyPolicy_withThatPaymaster() public onEachEntryPoint {
        address account = _account(currentEnv);
        address paymaster = address(_paymaster());
        SessionTypes.Session memory session = _policySession(SessionTypes.PaymasterPolicy.Exactly, paymaster);
        PackedUserOperation memory op =
            _sessionOp(currentEnv.entryPoint, account, _transferCall(10), _paymasterAndData(paymaster));
        _signEnable(
            currentEnv.entryPoint,
            op,
            session,
            _ownerEnableSignature(account, session),
            SessionEncoding.one(_transferPermission(), _noProof()),
            SESSION_KEY
        );
        _handleOpPaidBy(currentEnv, op, paymaster);
        assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 1);
    }

    function test_enable_reverts_PaymasterNotAllowed_andGrantsNothing() public onEachEntryPoint {
        address account = _account(currentEnv);
        address other = address(_otherPaymaster());
        SessionTypes.Session memory session =
            _policySession(SessionTypes.PaymasterPolicy.Exactly, address(_paymaster()));
        PackedUserOperation memory op =
            _sessionOp(currentEnv.entryPoint, account, _transferCall(10), _paymasterAndData(other));
        _signEnable(
            currentEnv.entryPoint,
            op,
            session,
            _ownerEnableSignature(account, session),
            SessionEncoding.one(_transferPermission(), _noProof()),
            SESSION_KEY
        );
        _expectScopeError(currentEnv.entryPoint, op, _notAllowed(SessionTypes.PaymasterPolicy.Exactly, other));
        assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 0);
    }

    function test_validateUserOp_reportsPolicyViolation_withDummySignature() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantPolicy(SessionTypes.PaymasterPolicy.None, address(0));
        address paymaster = address(_paymaster());
        PackedUserOperation memory op =
            _sessionOp(currentEnv.entryPoint, _account(currentEnv), _transferCall(10), _paymasterAndData(paymaster));
        op.signature = SessionEncoding.useSignature(
            session, SessionEncoding.one(_transferPermission(), _noProof()), _sign(OTHER_KEY, keccak256("dummy"))
        );
        _expectScopeError(currentEnv.entryPoint, op, _notAllowed(SessionTypes.PaymasterPolicy.None, paymaster));
    }
}
