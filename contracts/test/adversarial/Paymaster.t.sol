// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";
import {SponsorPaymaster} from "../mocks/Paymasters.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Case 18: the session's paymaster policy.
contract PaymasterAttackTest is AdversarialBase {
    event UserOperationRevertReason(
        bytes32 indexed userOpHash, address indexed sender, uint256 nonce, bytes revertReason
    );

    SponsorPaymaster internal paymaster;
    SponsorPaymaster internal otherPaymaster;

    function setUp() public override {
        super.setUp();
        paymaster = new SponsorPaymaster();
        otherPaymaster = new SponsorPaymaster();
        vm.deal(address(this), 100 ether);
        entryPointV07.depositTo{value: 10 ether}(address(paymaster));
        entryPointV08.depositTo{value: 10 ether}(address(paymaster));
        entryPointV07.depositTo{value: 10 ether}(address(otherPaymaster));
        entryPointV08.depositTo{value: 10 ether}(address(otherPaymaster));
    }

    function _paymasterAndData(address pm) internal pure returns (bytes memory) {
        return abi.encodePacked(pm, uint128(200_000), uint128(0));
    }

    /// A session with `policy` (and `pm` for Exactly) over recorder.ping, granted on `account`.
    function _policySession(IEntryPoint entryPoint, address account, SessionTypes.PaymasterPolicy policy, address pm)
        internal
        returns (SessionTypes.Session memory session, SessionTypes.Permission memory permission)
    {
        permission = _permission(address(recorder), PING);
        session = _singleLeafSession(permission);
        session.paymasterPolicy = policy;
        session.paymaster = pm;
        _grant(entryPoint, account, session);
    }

    /// A signed use-mode op of recorder.ping(1) carrying `paymasterAndData`.
    function _opWith(
        IEntryPoint entryPoint,
        address account,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        bytes memory paymasterAndData
    ) internal view returns (PackedUserOperation memory op) {
        op = _op(entryPoint, account, _executeSingle(address(recorder), 0, _ping(1)));
        op.paymasterAndData = paymasterAndData;
        op = _signUse(entryPoint, op, session, SessionEncoding.one(permission, _noProof()), SESSION_KEY);
    }

    function _notAllowed(SessionTypes.PaymasterPolicy policy, address pm) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.PaymasterNotAllowed.selector, uint8(policy), pm);
    }

    function test_validateUserOp_reverts_whenPaymasterRequiredButAbsent() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = address(currentEnv.account);
        (SessionTypes.Session memory session, SessionTypes.Permission memory permission) =
            _policySession(entryPoint, account, SessionTypes.PaymasterPolicy.Required, address(0));
        PackedUserOperation memory op = _opWith(entryPoint, account, session, permission, "");
        _expectScopeError(entryPoint, op, _notAllowed(SessionTypes.PaymasterPolicy.Required, address(0)));
    }

    function test_validateUserOp_reverts_whenPaymasterRequiredButZeroAddress() public {
        // v0.7 asks the account first: the validator rejects; v0.8 rejects a zero paymaster itself (AA98)
        (SessionTypes.Session memory session, SessionTypes.Permission memory permission) =
            _policySession(entryPointV07, address(accountV07), SessionTypes.PaymasterPolicy.Required, address(0));
        PackedUserOperation memory op =
            _opWith(entryPointV07, address(accountV07), session, permission, _paymasterAndData(address(0)));
        _expectScopeError(entryPointV07, op, _notAllowed(SessionTypes.PaymasterPolicy.Required, address(0)));

        (session, permission) =
            _policySession(entryPointV08, address(accountV08), SessionTypes.PaymasterPolicy.Required, address(0));
        op = _opWith(entryPointV08, address(accountV08), session, permission, _paymasterAndData(address(0)));
        _handleOpExpectRevert(entryPointV08, op, abi.encodeWithSignature("Error(string)", "AA98 invalid paymaster"));
    }

    function test_validateUserOp_reverts_whenExactPaymasterIsAnother() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = address(currentEnv.account);
        (SessionTypes.Session memory session, SessionTypes.Permission memory permission) =
            _policySession(entryPoint, account, SessionTypes.PaymasterPolicy.Exactly, address(paymaster));
        PackedUserOperation memory op =
            _opWith(entryPoint, account, session, permission, _paymasterAndData(address(otherPaymaster)));
        _expectScopeError(entryPoint, op, _notAllowed(SessionTypes.PaymasterPolicy.Exactly, address(otherPaymaster)));
        op = _opWith(entryPoint, account, session, permission, "");
        _expectScopeError(entryPoint, op, _notAllowed(SessionTypes.PaymasterPolicy.Exactly, address(0)));
    }

    function test_validateUserOp_reverts_whenPolicyNoneButPaymasterPresent() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = address(currentEnv.account);
        (SessionTypes.Session memory session, SessionTypes.Permission memory permission) =
            _policySession(entryPoint, account, SessionTypes.PaymasterPolicy.None, address(0));
        PackedUserOperation memory op =
            _opWith(entryPoint, account, session, permission, _paymasterAndData(address(paymaster)));
        _expectScopeError(entryPoint, op, _notAllowed(SessionTypes.PaymasterPolicy.None, address(paymaster)));
        // self-paid is fine: one call recorded per EntryPoint (each run starts from the same state)
        _handleOp(entryPoint, _opWith(entryPoint, account, session, permission, ""));
        _assertRecorded(recorder, 1);
    }

    function test_validateUserOp_sponsored_whenPaymasterMatchesPolicy() public onEachEntryPoint {
        IEntryPoint entryPoint = currentEnv.entryPoint;
        address account = address(currentEnv.account);
        (SessionTypes.Session memory exact, SessionTypes.Permission memory permission) =
            _policySession(entryPoint, account, SessionTypes.PaymasterPolicy.Exactly, address(paymaster));
        (SessionTypes.Session memory required,) =
            _policySession(entryPoint, account, SessionTypes.PaymasterPolicy.Required, address(0));
        uint256 deposit = entryPoint.balanceOf(account); // after the owner's grants
        uint256 balance = account.balance;
        _handleOp(entryPoint, _opWith(entryPoint, account, exact, permission, _paymasterAndData(address(paymaster))));
        _handleOp(
            entryPoint, _opWith(entryPoint, account, required, permission, _paymasterAndData(address(otherPaymaster)))
        );
        assertEq(entryPoint.balanceOf(account), deposit, "the account's deposit paid nothing");
        assertEq(account.balance, balance, "the account's balance paid nothing");
        // two calls recorded per EntryPoint (each run starts from the same state)
        _assertRecorded(recorder, 2);
    }

    function test_grantSession_reverts_whenPaymasterFieldsContradictPolicy() public {
        address account = address(accountV08);
        SessionTypes.Session memory session = _session(bytes32(uint256(1)));
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.Exactly;
        _expectGrantReverts(
            account,
            session,
            abi.encodeWithSelector(
                ISessionKeyValidator.InvalidPaymasterPolicy.selector,
                uint8(SessionTypes.PaymasterPolicy.Exactly),
                address(0)
            )
        );
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.Required;
        session.paymaster = address(paymaster);
        _expectGrantReverts(
            account,
            session,
            abi.encodeWithSelector(
                ISessionKeyValidator.InvalidPaymasterPolicy.selector,
                uint8(SessionTypes.PaymasterPolicy.Required),
                address(paymaster)
            )
        );
    }

    function _expectGrantReverts(address account, SessionTypes.Session memory session, bytes memory inner) internal {
        PackedUserOperation memory op = _signUserOp(
            entryPointV08,
            _buildOwnerUserOp(
                entryPointV08,
                account,
                _executeSingle(address(validator), 0, abi.encodeCall(ISessionKeyValidator.grantSession, (session)))
            ),
            OWNER_KEY
        );
        vm.expectEmit(true, true, false, true, address(entryPointV08));
        emit UserOperationRevertReason(_userOpHash(entryPointV08, op), account, op.nonce, inner);
        _handleOp(entryPointV08, op);
    }
}
