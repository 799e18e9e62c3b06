// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {TestPaymaster} from "../mocks/Paymasters.sol";

/// @notice The session's fee scope: the most one operation may cost and the budget of all its operations, each
///         charged the prefund the EntryPoint computes from the operation's own gas fields.
contract FeesTest is SessionLifecycleBase {
    uint128 internal constant PAYMASTER_VERIFICATION_GAS = 100_000;
    uint128 internal constant PAYMASTER_POST_OP_GAS = 50_000;

    function setUp() public virtual override {
        super.setUp();
        // setUp prepares both hosts, so it loops; tests run through onEachEntryPoint.
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            token.mint(_account(envs[i]), 1000);
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    /// The prefund EntryPoint v0.7/v0.8 require for `op`, from the ERC-4337 definition (gas values below 2^120).
    function _prefund(PackedUserOperation memory op) internal pure returns (uint256) {
        uint256 gas =
            (uint256(op.accountGasLimits) >> 128) + uint128(uint256(op.accountGasLimits)) + op.preVerificationGas;
        if (op.paymasterAndData.length >= 52) {
            bytes memory pm = op.paymasterAndData;
            uint256 paymasterGas;
            assembly ("memory-safe") {
                paymasterGas := mload(add(pm, 52)) // bytes 20..52 of the field
            }
            gas += (paymasterGas >> 128) + uint128(paymasterGas);
        }
        return gas * uint128(uint256(op.gasFees));
    }

    /// The default operation's prefund (no paymaster).
    function _defaultFee() internal view returns (uint256) {
        return (uint256(verificationGasLimit) + callGasLimit + preVerificationGas) * maxFeePerGas;
    }

    function _feeSession(uint256 limit, uint256 budget) internal view returns (SessionTypes.Session memory session) {
        session = _singleLeafSession(_transferPermission());
        session.maxOperationFee = uint128(limit);
        session.feeBudget = uint128(budget);
    }

    function _opFeeExceeded(uint256 fee, uint256 limit) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.OperationFeeExceeded.selector, fee, limit);
    }

    function _budgetExceeded(uint256 total, uint256 budget) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.FeeBudgetExceeded.selector, total, budget);
    }

    function _charged(address account, SessionTypes.Session memory session) internal view returns (uint256) {
        return validator.feesChargedOf(account, SessionEncoding.sessionId(session));
    }

    /// The account's ETH at stake: its balance and its EntryPoint deposit.
    function _funds(AccountEnv memory env) internal view returns (uint256) {
        address account = _account(env);
        return account.balance + env.entryPoint.balanceOf(account);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Per-operation bound
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_accepts_feeExactlyAtLimit() public onEachEntryPoint {
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _feeSession(_defaultFee(), _defaultFee() * 10);
        _grant(currentEnv.entryPoint, account, session);
        PackedUserOperation memory op = _transferUseOp(currentEnv.entryPoint, account, session, 10);
        assertEq(_prefund(op), _defaultFee(), "reference prefund");
        _handleOp(currentEnv.entryPoint, op);
        assertEq(token.balanceOf(recipient), 10, "transfer executed");
        assertEq(_charged(account, session), _defaultFee(), "charged the maximum cost");
    }

    function test_validateUserOp_reverts_OperationFeeExceeded_oneWeiOverLimit() public onEachEntryPoint {
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _feeSession(_defaultFee() - 1, type(uint128).max - 1);
        _grant(currentEnv.entryPoint, account, session);
        PackedUserOperation memory op = _transferUseOp(currentEnv.entryPoint, account, session, 10);
        _expectScopeError(currentEnv.entryPoint, op, _opFeeExceeded(_defaultFee(), _defaultFee() - 1));
        assertEq(_charged(account, session), 0, "nothing charged");
    }

    function test_validateUserOp_reverts_OperationFeeExceeded_forEachGasField() public {
        AccountEnv memory env = _env(EntryPointVersion.V07);
        address account = _account(env);
        SessionTypes.Session memory session = _feeSession(_defaultFee(), type(uint128).max - 1);
        _grant(env.entryPoint, account, session);
        for (uint256 field; field < 4; ++field) {
            PackedUserOperation memory op = _sessionOp(env.entryPoint, account, _transferCall(10), "");
            if (field == 0) op.accountGasLimits = _pack(verificationGasLimit + 1, callGasLimit);
            if (field == 1) op.accountGasLimits = _pack(verificationGasLimit, callGasLimit + 1);
            if (field == 2) op.preVerificationGas = preVerificationGas + 1;
            if (field == 3) op.gasFees = _pack(maxPriorityFeePerGas, maxFeePerGas + 1);
            _signUse(env.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY);
            _expectScopeError(env.entryPoint, op, _opFeeExceeded(_prefund(op), _defaultFee()));
        }
    }

    function test_validateUserOp_countsPaymasterGasLimits() public onEachEntryPoint {
        address account = _account(currentEnv);
        TestPaymaster paymaster = new TestPaymaster(currentEnv.entryPoint);
        vm.deal(address(this), address(this).balance + 11 ether);
        paymaster.fund{value: 11 ether}(1 ether);
        bytes memory paymasterAndData =
            abi.encodePacked(address(paymaster), PAYMASTER_VERIFICATION_GAS, PAYMASTER_POST_OP_GAS);
        uint256 fee = _defaultFee() + uint256(PAYMASTER_VERIFICATION_GAS + PAYMASTER_POST_OP_GAS) * maxFeePerGas;

        // one wei under the paymaster-inclusive cost: refused, although the account itself would pay nothing
        SessionTypes.Session memory tight = _feeSession(fee - 1, type(uint128).max - 1);
        tight.salt = bytes32(uint256(1));
        _grant(currentEnv.entryPoint, account, tight);
        PackedUserOperation memory op = _sessionOp(currentEnv.entryPoint, account, _transferCall(10), paymasterAndData);
        _signUse(currentEnv.entryPoint, op, tight, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY);
        assertEq(_prefund(op), fee, "reference prefund with paymaster gas");
        _expectScopeError(currentEnv.entryPoint, op, _opFeeExceeded(fee, fee - 1));

        // at the cost: accepted, paid by the paymaster, charged to the session's budget all the same
        SessionTypes.Session memory exact = _feeSession(fee, fee);
        _grant(currentEnv.entryPoint, account, exact);
        op = _sessionOp(currentEnv.entryPoint, account, _transferCall(10), paymasterAndData);
        _signUse(currentEnv.entryPoint, op, exact, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY);
        uint256 accountFunds = _funds(currentEnv);
        _handleOp(currentEnv.entryPoint, op);
        assertEq(_funds(currentEnv), accountFunds, "the paymaster paid");
        assertEq(_charged(account, exact), fee, "charged all the same");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Budget
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_FeeBudgetExceeded_afterBudgetSpentAcrossOperations() public onEachEntryPoint {
        address account = _account(currentEnv);
        uint256 fee = _defaultFee();
        SessionTypes.Session memory session = _feeSession(fee, 3 * fee);
        _grant(currentEnv.entryPoint, account, session);
        uint256 fundsBefore = _funds(currentEnv);
        for (uint256 n = 1; n <= 3; ++n) {
            _handleOp(currentEnv.entryPoint, _transferUseOp(currentEnv.entryPoint, account, session, 1));
            assertEq(_charged(account, session), n * fee, "charged per operation");
        }
        assertLe(fundsBefore - _funds(currentEnv), 3 * fee, "actual cost within the budget");
        PackedUserOperation memory op = _transferUseOp(currentEnv.entryPoint, account, session, 1);
        _expectScopeError(currentEnv.entryPoint, op, _budgetExceeded(4 * fee, 3 * fee));
        assertEq(_charged(account, session), 3 * fee, "a refused operation charges nothing");
    }

    function test_validateUserOp_accepts_lastOperationExactlyAtBudget_andRefusesOneWeiMore() public {
        AccountEnv memory env = _env(EntryPointVersion.V08);
        address account = _account(env);
        uint256 fee = _defaultFee();
        SessionTypes.Session memory session = _feeSession(type(uint128).max, 2 * fee + 1);
        _grant(env.entryPoint, account, session);
        _handleOp(env.entryPoint, _transferUseOp(env.entryPoint, account, session, 1));
        // the second operation costs one wei more than what is left: maxFeePerGas stays, preVerificationGas grows
        PackedUserOperation memory op = _sessionOp(env.entryPoint, account, _transferCall(1), "");
        op.preVerificationGas = preVerificationGas + 1;
        op.gasFees = _pack(1, 1);
        op.accountGasLimits = _pack(uint128(fee + 2 - preVerificationGas - callGasLimit - 1), callGasLimit);
        _signUse(env.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY);
        assertEq(_prefund(op), fee + 2, "one wei over what is left");
        _expectScopeError(env.entryPoint, op, _budgetExceeded(2 * fee + 2, 2 * fee + 1));
        op.accountGasLimits = _pack(uint128(fee + 1 - preVerificationGas - callGasLimit - 1), callGasLimit);
        _signUse(env.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY);
        assertEq(_prefund(op), fee + 1, "exactly what is left");
        _handleOp(env.entryPoint, op);
        assertEq(_charged(account, session), 2 * fee + 1, "budget used to the wei");
    }

    function test_validateUserOp_chargesBatchOnce() public onEachEntryPoint {
        address account = _account(currentEnv);
        uint256 fee = _defaultFee();
        SessionTypes.Session memory session = _feeSession(fee, 2 * fee);
        _grant(currentEnv.entryPoint, account, session);
        Execution[] memory executions = new Execution[](3);
        CallProof[] memory calls = new CallProof[](3);
        for (uint256 c; c < 3; ++c) {
            executions[c] = Execution(address(token), 0, abi.encodeCall(IERC20.transfer, (recipient, 1)));
            calls[c] = CallProof({permission: _transferPermission(), proof: _noProof(), window: 0});
        }
        bytes memory callData = _executeBatch(executions);
        _handleOp(currentEnv.entryPoint, _useOp(currentEnv.entryPoint, account, callData, session, calls, SESSION_KEY));
        assertEq(_charged(account, session), fee, "a batch is one operation");
        _handleOp(currentEnv.entryPoint, _useOp(currentEnv.entryPoint, account, callData, session, calls, SESSION_KEY));
        _expectScopeError(
            currentEnv.entryPoint,
            _useOp(currentEnv.entryPoint, account, callData, session, calls, SESSION_KEY),
            _budgetExceeded(3 * fee, 2 * fee)
        );
    }

    function test_validateUserOp_chargesNothing_whenFeesUnlimited() public onEachEntryPoint {
        address account = _account(currentEnv);
        SessionTypes.Session memory session = _feeSession(type(uint128).max, type(uint128).max);
        _grant(currentEnv.entryPoint, account, session);
        PackedUserOperation memory op = _sessionOp(currentEnv.entryPoint, account, _transferCall(1), "");
        op.preVerificationGas = 1_000_000_000; // 2 ETH at 2 gwei: the owner chose no bound
        _signUse(
            currentEnv.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY
        );
        _handleOp(currentEnv.entryPoint, op);
        assertEq(_charged(account, session), 0, "no counter without a budget");
    }

    function test_validateUserOp_chargesBudget_whenOnlyPerOperationUnlimited() public {
        AccountEnv memory env = _env(EntryPointVersion.V07);
        address account = _account(env);
        uint256 fee = _defaultFee();
        SessionTypes.Session memory session = _feeSession(type(uint128).max, 5 * fee - 1);
        _grant(env.entryPoint, account, session);
        PackedUserOperation memory op = _sessionOp(env.entryPoint, account, _transferCall(1), "");
        op.gasFees = _pack(maxPriorityFeePerGas, 4 * maxFeePerGas); // four times the default cost in one operation
        _signUse(env.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY);
        _handleOp(env.entryPoint, op);
        assertEq(_charged(account, session), 4 * fee);
        _expectScopeError(
            env.entryPoint, _transferUseOp(env.entryPoint, account, session, 1), _budgetExceeded(5 * fee, 5 * fee - 1)
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // The counter's lifetime
    // ------------------------------------------------------------------------------------------------------------

    function test_enable_keepsCounter_whenOwnerSignatureReplayed() public onEachEntryPoint {
        address account = _account(currentEnv);
        uint256 fee = _defaultFee();
        SessionTypes.Session memory session = _feeSession(fee, 2 * fee);
        bytes memory ownerSignature = _ownerEnableSignature(account, session);
        CallProof[] memory calls = SessionEncoding.one(_transferPermission(), _noProof());
        for (uint256 n = 1; n <= 2; ++n) {
            PackedUserOperation memory op = _sessionOp(currentEnv.entryPoint, account, _transferCall(1), "");
            _signEnable(currentEnv.entryPoint, op, session, ownerSignature, calls, SESSION_KEY);
            _handleOp(currentEnv.entryPoint, op);
            assertEq(_charged(account, session), n * fee, "the replayed enable does not refill");
        }
        PackedUserOperation memory third = _sessionOp(currentEnv.entryPoint, account, _transferCall(1), "");
        _signEnable(currentEnv.entryPoint, third, session, ownerSignature, calls, SESSION_KEY);
        _expectScopeError(currentEnv.entryPoint, third, _budgetExceeded(3 * fee, 2 * fee));
    }

    function test_grantSession_keepsCounter_whenGrantedAgain() public {
        AccountEnv memory env = _env(EntryPointVersion.V07);
        address account = _account(env);
        uint256 fee = _defaultFee();
        SessionTypes.Session memory session = _feeSession(fee, fee);
        _grant(env.entryPoint, account, session);
        _handleOp(env.entryPoint, _transferUseOp(env.entryPoint, account, session, 1));
        _grant(env.entryPoint, account, session);
        assertEq(_charged(account, session), fee, "kept");
        _expectScopeError(
            env.entryPoint, _transferUseOp(env.entryPoint, account, session, 1), _budgetExceeded(2 * fee, fee)
        );
    }

    function test_feesChargedOf_returnsZero_afterRevokeAllAndNewGrant() public {
        AccountEnv memory env = _env(EntryPointVersion.V08);
        address account = _account(env);
        uint256 fee = _defaultFee();
        SessionTypes.Session memory session = _feeSession(fee, fee);
        _grant(env.entryPoint, account, session);
        _handleOp(env.entryPoint, _transferUseOp(env.entryPoint, account, session, 1));
        _revokeAll(env.entryPoint, account);
        assertEq(_charged(account, session), 0, "old epoch's counter is void");
        _grant(env.entryPoint, account, session);
        _handleOp(env.entryPoint, _transferUseOp(env.entryPoint, account, session, 1));
        assertEq(_charged(account, session), fee, "a grant in the new epoch starts a new budget");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Estimation, malformed sessions, the view
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_returnsSigFailed_withDummySignatureWithinFeeScope() public onEachEntryPoint {
        address account = _account(currentEnv);
        // the direct call below charges the budget once: two operations' worth keeps the EntryPoint's within it
        SessionTypes.Session memory session = _feeSession(_defaultFee(), 2 * _defaultFee());
        _grant(currentEnv.entryPoint, account, session);
        PackedUserOperation memory op = _sessionOp(currentEnv.entryPoint, account, _transferCall(1), "");
        op.signature = SessionEncoding.useSignature(
            session, SessionEncoding.one(_transferPermission(), _noProof()), _sign(OTHER_KEY, keccak256("dummy"))
        );
        bytes32 userOpHash = _userOpHash(currentEnv.entryPoint, op);
        vm.prank(account);
        uint256 validationData = validator.validateUserOp(op, userOpHash);
        assertEq(validationData & 1, 1, "SIG_VALIDATION_FAILED, not a revert");
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    function test_validateUserOp_reverts_OperationFeeExceeded_withDummySignatureOverTheBound() public {
        AccountEnv memory env = _env(EntryPointVersion.V07);
        address account = _account(env);
        SessionTypes.Session memory session = _feeSession(_defaultFee() - 1, _defaultFee());
        _grant(env.entryPoint, account, session);
        PackedUserOperation memory op = _sessionOp(env.entryPoint, account, _transferCall(1), "");
        op.signature = SessionEncoding.useSignature(
            session, SessionEncoding.one(_transferPermission(), _noProof()), _sign(OTHER_KEY, keccak256("dummy"))
        );
        _expectScopeError(env.entryPoint, op, _opFeeExceeded(_defaultFee(), _defaultFee() - 1));
    }

    function test_validateUserOp_reverts_MalformedSession_whenFeeWordHasHighBits() public {
        AccountEnv memory env = _env(EntryPointVersion.V07);
        address account = _account(env);
        SessionTypes.Session memory session = _feeSession(_defaultFee(), _defaultFee());
        for (uint256 word = 6; word <= 7; ++word) {
            PackedUserOperation memory op = _sessionOp(env.entryPoint, account, _transferCall(1), "");
            _signEnable(
                env.entryPoint,
                op,
                session,
                _ownerEnableSignature(account, session),
                SessionEncoding.one(_transferPermission(), _noProof()),
                SESSION_KEY
            );
            op.signature[1 + 32 * word + 15] = 0x01; // the word's lowest byte above its uint128
            bytes32 userOpHash = _userOpHash(env.entryPoint, op);
            vm.prank(account);
            vm.expectRevert(ISessionKeyValidator.MalformedSession.selector);
            validator.validateUserOp(op, userOpHash);
        }
    }

    /// Fuzzed gas fields, fee and fee scope of one operation.
    struct FeeCase {
        uint128 verificationGas;
        uint128 callGas;
        uint256 preVerificationGas;
        uint128 maxFee;
        uint128 paymasterVerificationGas;
        uint128 postOpGas;
        bool withPaymaster;
        uint128 limit;
        uint128 budget;
    }

    /// Direct validation as the account: charged exactly the prefund, or refused with the exact error; gas values
    /// past what the EntryPoint accepts saturate the fee.
    function testFuzz_validateUserOp_chargesPrefundOrRefuses(FeeCase memory c) public {
        AccountEnv memory env = _env(EntryPointVersion.V07);
        address account = _account(env);
        SessionTypes.Session memory session = _feeSession(c.limit, c.budget);
        _grant(env.entryPoint, account, session);
        PackedUserOperation memory op = _sessionOp(env.entryPoint, account, _transferCall(1), "");
        if (c.withPaymaster) {
            op.paymasterAndData = abi.encodePacked(makeAddr("paymaster"), c.paymasterVerificationGas, c.postOpGas);
        }
        op.accountGasLimits = _pack(c.verificationGas, c.callGas);
        op.preVerificationGas = c.preVerificationGas;
        op.gasFees = _pack(0, c.maxFee);
        _signUse(env.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY);

        uint256 gas = uint256(c.verificationGas) + c.callGas
            + (c.withPaymaster ? uint256(c.paymasterVerificationGas) + c.postOpGas : 0);
        uint256 fee = c.preVerificationGas >= 2 ** 128 || gas + c.preVerificationGas >= 2 ** 128
            ? type(uint256).max
            : (gas + c.preVerificationGas) * c.maxFee;
        bytes32 userOpHash = _userOpHash(env.entryPoint, op);
        vm.prank(account);
        if (c.limit != type(uint128).max && fee > c.limit) {
            vm.expectRevert(_opFeeExceeded(fee, c.limit));
            validator.validateUserOp(op, userOpHash);
        } else if (c.budget != type(uint128).max && fee > c.budget) {
            vm.expectRevert(_budgetExceeded(fee, c.budget));
            validator.validateUserOp(op, userOpHash);
        } else {
            validator.validateUserOp(op, userOpHash);
            assertEq(_charged(account, session), c.budget == type(uint128).max ? 0 : fee, "charged the prefund");
        }
    }
}
