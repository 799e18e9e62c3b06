// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Case 25: a leaked session key with no value rights tries to drain the account through gas fees, acting
///         as its own bundler and beneficiary: huge gas fields and fees, paid by the account to the attacker.
contract FeeDrainAttackTest is AdversarialBase {
    /// The gas fields the attacker signs.
    struct GasFields {
        uint128 verificationGas;
        uint128 callGas;
        uint256 preVerificationGas;
        uint128 fee;
    }

    /// The leaked key's holder, who runs the bundler: it submits the operations itself and is the beneficiary.
    address payable internal attacker;

    function setUp() public override {
        super.setUp();
        attacker = bundler;
        vm.fee(0); // gas price = min(maxFeePerGas, maxPriorityFeePerGas): the attacker sets both
    }

    /// A harmless permission: recorder.ping with no value.
    function _harmless() internal view returns (SessionTypes.Permission memory) {
        return _permission(address(recorder), PING);
    }

    /// The leaked key's operation: ping(1) with the attacker's gas fields.
    function _inflated(
        IEntryPoint entryPoint,
        address account,
        SessionTypes.Session memory session,
        GasFields memory gas
    ) internal view returns (PackedUserOperation memory op) {
        op = _op(entryPoint, account, _executeSingle(address(recorder), 0, _ping(1)));
        op.accountGasLimits = _pack(gas.verificationGas, gas.callGas);
        op.preVerificationGas = gas.preVerificationGas;
        op.gasFees = _pack(gas.fee, gas.fee);
        op = _signUse(entryPoint, op, session, SessionEncoding.one(_harmless(), _noProof()), SESSION_KEY);
    }

    /// handleOps' revert data for an operation of maximum cost `fee` over the default per-operation bound.
    function _feeRefusal(uint256 fee) internal pure returns (bytes memory) {
        bytes memory inner = abi.encodeWithSelector(
            ISessionKeyValidator.OperationFeeExceeded.selector, fee, uint256(DEFAULT_MAX_OPERATION_FEE)
        );
        return _failedOpWithRevert(0, "AA23 reverted", inner);
    }

    function _funds(IEntryPoint entryPoint, address account) internal view returns (uint256) {
        return account.balance + entryPoint.balanceOf(account);
    }

    /// The hole the fee scope closes, open only by the owner's explicit choice: with both bounds unlimited, one
    /// operation moves more than 10 ETH of the account's funds to the attacker.
    function test_handleOps_drainsAccount_whenOwnerChoseUnlimitedFees() public {
        for (uint256 i; i < 2; ++i) {
            (IEntryPoint entryPoint, address account) =
                i == 0 ? (entryPointV07, address(accountV07)) : (entryPointV08, address(accountV08));
            SessionTypes.Session memory session = _singleLeafSession(_harmless());
            session.maxOperationFee = SessionTypes.UNLIMITED_FEE;
            session.feeBudget = SessionTypes.UNLIMITED_FEE;
            _grant(entryPoint, account, session);
            uint256 attackerBefore = attacker.balance;
            uint256 fundsBefore = _funds(entryPoint, account);
            // 1e9 gas of preVerificationGas at 19 gwei: 19 ETH, within the account's 10 ETH balance + 10 ETH deposit
            (bool ok,) = _tryHandleOp(
                entryPoint, _inflated(entryPoint, account, session, GasFields(200_000, 100_000, 1_000_000_000, 19 gwei))
            );
            assertTrue(ok, "the operation is valid under an unlimited fee scope");
            assertGt(attacker.balance - attackerBefore, 10 ether, "the attacker collected the fees");
            assertGt(fundsBefore - _funds(entryPoint, account), 10 ether, "the account paid them");
        }
    }

    /// The same attack on a session with the default fee scope: refused during validation, nothing moves.
    function test_handleOps_reverts_OperationFeeExceeded_whenLeakedKeyInflatesFees() public {
        for (uint256 i; i < 2; ++i) {
            (IEntryPoint entryPoint, address account) =
                i == 0 ? (entryPointV07, address(accountV07)) : (entryPointV08, address(accountV08));
            SessionTypes.Session memory session = _grantSingle(entryPoint, account, _harmless());
            uint256 fundsBefore = _funds(entryPoint, account);
            uint256 attackerBefore = attacker.balance;
            PackedUserOperation memory op =
                _inflated(entryPoint, account, session, GasFields(200_000, 100_000, 1_000_000_000, 19 gwei));
            (bool ok, bytes memory reason) = _tryHandleOp(entryPoint, op);
            assertFalse(ok, "refused");
            assertEq(reason, _feeRefusal(uint256(1_000_300_000) * 19 gwei));
            assertEq(attacker.balance, attackerBefore, "the attacker got nothing");
            assertEq(_funds(entryPoint, account), fundsBefore, "the account paid nothing");
        }
    }

    /// Within the per-operation bound, operation after operation: the account never pays more than the budget.
    function test_handleOps_boundsLossByBudget_whenLeakedKeyRepeatsMaximalOperations() public {
        for (uint256 i; i < 2; ++i) {
            (IEntryPoint entryPoint, address account) =
                i == 0 ? (entryPointV07, address(accountV07)) : (entryPointV08, address(accountV08));
            SessionTypes.Session memory session = _singleLeafSession(_harmless());
            session.maxOperationFee = 0.05 ether;
            session.feeBudget = 0.2 ether;
            _grant(entryPoint, account, session);
            uint256 fundsBefore = _funds(entryPoint, account);
            uint256 attackerBefore = attacker.balance;
            uint256 accepted;
            for (uint256 n; n < 10; ++n) {
                // 0.05 ETH exactly: 2.5M gas at 20 gwei, almost all preVerificationGas (paid in full)
                (bool ok,) = _tryHandleOp(
                    entryPoint, _inflated(entryPoint, account, session, GasFields(150_000, 50_000, 2_300_000, 20 gwei))
                );
                if (ok) ++accepted;
            }
            assertEq(accepted, 4, "four maximal operations fit the budget");
            assertLe(fundsBefore - _funds(entryPoint, account), 0.2 ether, "loss within the budget");
            assertEq(
                attacker.balance - attackerBefore,
                fundsBefore - _funds(entryPoint, account),
                "every wei lost went to the attacker"
            );
        }
    }

    /// The fuzzed operation: the attacker's gas fields and priority fee, and with `shape >= 128` a paymaster field
    ///  the session's Any policy allows, whose gas limits count in the fee.
    function _fuzzedOp(SessionTypes.Session memory session, GasFields memory gas, uint128 priorityFee, uint8 shape)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op = _op(entryPointV07, address(accountV07), _executeSingle(address(recorder), 0, _ping(1)));
        op.accountGasLimits = _pack(gas.verificationGas, gas.callGas);
        op.preVerificationGas = gas.preVerificationGas;
        op.gasFees = _pack(priorityFee, gas.fee);
        if (shape >= 128) op.paymasterAndData = abi.encodePacked(address(recorder), gas.verificationGas, gas.callGas);
        op = _signUse(entryPointV07, op, session, SessionEncoding.one(_harmless(), _noProof()), SESSION_KEY);
    }

    /// Submits `op` on v0.7 as the attacker; returns whether it went through and what the account lost.
    function _attack(PackedUserOperation memory op) internal returns (bool ok, uint256 loss) {
        uint256 fundsBefore = _funds(entryPointV07, address(accountV07));
        (ok,) = _tryHandleOp(entryPointV07, op);
        loss = fundsBefore - _funds(entryPointV07, address(accountV07));
    }

    /// Every gas field and fee fuzzed, including values the EntryPoint refuses (AA94) and values that overflow naive
    /// arithmetic: whatever the attacker signs, the account loses at most the per-operation bound.
    function testFuzz_handleOps_neverChargesMoreThanFeeScope(GasFields memory gas, uint128 priorityFee, uint8 shape)
        public
    {
        // most runs near the bound, the others anywhere in each field's range
        if (shape % 4 != 0) gas.verificationGas = uint128(bound(gas.verificationGas, 60_000, 3_000_000));
        if (shape % 4 != 1) gas.callGas = uint128(bound(gas.callGas, 0, 3_000_000));
        if (shape % 4 != 2) gas.preVerificationGas = bound(gas.preVerificationGas, 0, 50_000_000);
        if (shape % 4 != 3) gas.fee = uint128(bound(gas.fee, 0, 100 gwei));
        SessionTypes.Session memory session = _grantSingle(entryPointV07, address(accountV07), _harmless());
        (bool ok, uint256 loss) = _attack(_fuzzedOp(session, gas, priorityFee, shape));
        assertLe(loss, DEFAULT_MAX_OPERATION_FEE, "loss within the per-operation bound");
        assertLe(validator.feesChargedOf(address(accountV07), _sid(session)), DEFAULT_MAX_OPERATION_FEE);
        if (!ok) assertEq(loss, 0, "a refused operation costs nothing");
    }
}
