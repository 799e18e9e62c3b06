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
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            paymasters[i] = _deployPaymaster(envs[i].entryPoint);
            otherPaymasters[i] = _deployPaymaster(envs[i].entryPoint);
            token.mint(_account(envs[i]), 1000);
        }
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

    // ------------------------------------------------------------------------------------------------------------
    // Any
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_accepts_anyPolicy_withoutPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.Any, address(0)));
            _handleOpPaidBy(envs[i], _op(envs[i], session, ""), _account(envs[i]));
        }
    }

    function test_validateUserOp_accepts_anyPolicy_withPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.Any, address(0)));
            address paymaster = address(paymasters[i]);
            _handleOpPaidBy(envs[i], _op(envs[i], session, _paymasterAndData(paymaster)), paymaster);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // None
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_accepts_nonePolicy_withoutPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.None, address(0)));
            _handleOpPaidBy(envs[i], _op(envs[i], session, ""), _account(envs[i]));
        }
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_nonePolicy_withPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.None, address(0)));
            address paymaster = address(paymasters[i]);
            _expectScopeError(
                envs[i].entryPoint,
                _op(envs[i], session, _paymasterAndData(paymaster)),
                _notAllowed(SessionTypes.PaymasterPolicy.None, paymaster)
            );
        }
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_nonePolicy_withZeroAddressPaymasterField() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.None, address(0)));
            PackedUserOperation memory op = _op(envs[i], session, _paymasterAndData(address(0)));
            bytes memory inner = _notAllowed(SessionTypes.PaymasterPolicy.None, address(0));
            if (_isV08(envs[i])) {
                // v0.8 refuses a zero paymaster before validation; the validator refuses it on its own too.
                _handleOpExpectRevert(
                    envs[i].entryPoint, op, abi.encodeWithSignature("Error(string)", "AA98 invalid paymaster")
                );
            } else {
                // v0.7 treats it as self-paid, but the policy only allows an empty paymasterAndData.
                _expectScopeError(envs[i].entryPoint, op, inner);
            }
            _expectDirectRevert(envs[i], op, inner);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Required
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_accepts_requiredPolicy_withPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.Required, address(0)));
            address paymaster = address(otherPaymasters[i]);
            _handleOpPaidBy(envs[i], _op(envs[i], session, _paymasterAndData(paymaster)), paymaster);
        }
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_requiredPolicy_withoutPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.Required, address(0)));
            uint256 deposit = envs[i].entryPoint.balanceOf(_account(envs[i]));
            _expectScopeError(
                envs[i].entryPoint,
                _op(envs[i], session, ""),
                _notAllowed(SessionTypes.PaymasterPolicy.Required, address(0))
            );
            assertEq(envs[i].entryPoint.balanceOf(_account(envs[i])), deposit, "account not charged");
        }
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_requiredPolicy_withZeroAddressPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.Required, address(0)));
            PackedUserOperation memory op = _op(envs[i], session, _paymasterAndData(address(0)));
            bytes memory inner = _notAllowed(SessionTypes.PaymasterPolicy.Required, address(0));
            if (_isV08(envs[i])) {
                _handleOpExpectRevert(
                    envs[i].entryPoint, op, abi.encodeWithSignature("Error(string)", "AA98 invalid paymaster")
                );
            } else {
                // v0.7 would charge the account: the validator must refuse.
                _expectScopeError(envs[i].entryPoint, op, inner);
            }
            _expectDirectRevert(envs[i], op, inner);
        }
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_requiredPolicy_withShortPaymasterField() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.Required, address(0)));
            // Shorter than an address: the EntryPoint refuses it (AA93); the validator reads no paymaster.
            PackedUserOperation memory op =
                _op(envs[i], session, abi.encodePacked(bytes19(bytes20(address(paymasters[i])))));
            _expectDirectRevert(envs[i], op, _notAllowed(SessionTypes.PaymasterPolicy.Required, address(0)));
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Exactly
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_accepts_exactlyPolicy_withThatPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            address paymaster = address(paymasters[i]);
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.Exactly, paymaster));
            _handleOpPaidBy(envs[i], _op(envs[i], session, _paymasterAndData(paymaster)), paymaster);
        }
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_exactlyPolicy_withOtherPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.Exactly, address(paymasters[i])));
            address other = address(otherPaymasters[i]);
            uint256 deposit = envs[i].entryPoint.balanceOf(other);
            _expectScopeError(
                envs[i].entryPoint,
                _op(envs[i], session, _paymasterAndData(other)),
                _notAllowed(SessionTypes.PaymasterPolicy.Exactly, other)
            );
            assertEq(envs[i].entryPoint.balanceOf(other), deposit, "other paymaster not charged");
        }
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_exactlyPolicy_withoutPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.Exactly, address(paymasters[i])));
            _expectScopeError(
                envs[i].entryPoint,
                _op(envs[i], session, ""),
                _notAllowed(SessionTypes.PaymasterPolicy.Exactly, address(0))
            );
        }
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

    function test_enable_accepts_exactlyPolicy_withThatPaymaster() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            address account = _account(envs[i]);
            address paymaster = address(paymasters[i]);
            SessionTypes.Session memory session = _policySession(SessionTypes.PaymasterPolicy.Exactly, paymaster);
            PackedUserOperation memory op =
                _sessionOp(envs[i].entryPoint, account, _transferCall(10), _paymasterAndData(paymaster));
            _signEnable(
                envs[i].entryPoint,
                op,
                session,
                _ownerEnableSignature(account, session),
                SessionEncoding.one(_transferPermission(), _noProof()),
                SESSION_KEY
            );
            _handleOpPaidBy(envs[i], op, paymaster);
            assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 1);
        }
    }

    function test_enable_reverts_PaymasterNotAllowed_andGrantsNothing() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            address account = _account(envs[i]);
            address other = address(otherPaymasters[i]);
            SessionTypes.Session memory session =
                _policySession(SessionTypes.PaymasterPolicy.Exactly, address(paymasters[i]));
            PackedUserOperation memory op =
                _sessionOp(envs[i].entryPoint, account, _transferCall(10), _paymasterAndData(other));
            _signEnable(
                envs[i].entryPoint,
                op,
                session,
                _ownerEnableSignature(account, session),
                SessionEncoding.one(_transferPermission(), _noProof()),
                SESSION_KEY
            );
            _expectScopeError(envs[i].entryPoint, op, _notAllowed(SessionTypes.PaymasterPolicy.Exactly, other));
            assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 0);
        }
    }

    function test_validateUserOp_reportsPolicyViolation_withDummySignature() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            SessionTypes.Session memory session =
                _granted(envs[i], _policySession(SessionTypes.PaymasterPolicy.None, address(0)));
            address paymaster = address(paymasters[i]);
            PackedUserOperation memory op =
                _sessionOp(envs[i].entryPoint, _account(envs[i]), _transferCall(10), _paymasterAndData(paymaster));
            op.signature = SessionEncoding.useSignature(
                session, SessionEncoding.one(_transferPermission(), _noProof()), _sign(OTHER_KEY, keccak256("dummy"))
            );
            _expectScopeError(envs[i].entryPoint, op, _notAllowed(SessionTypes.PaymasterPolicy.None, paymaster));
        }
    }
}
