// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {ScopeTestBase} from "../utils/ScopeTestBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {LegacyToken} from "../mocks/LegacyToken.sol";

/// @notice Allowances per period (FLAG_PER_PERIOD): native value and ERC-20 movements that refill every period, with
///         periods named by the operation and enforced by the EntryPoint through the narrowed validation window.
contract PeriodsTest is ScopeTestBase {
    uint48 internal constant HOUR = 1 hours;

    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    LegacyToken internal tokenA;
    LegacyToken internal tokenB;

    function setUp() public virtual override {
        super.setUp();
        tokenA = new LegacyToken();
        tokenB = new LegacyToken();
        vm.label(address(tokenA), "tokenA");
        vm.label(address(tokenB), "tokenB");
    }

    /// Native transfers to `to`, at most `allowance` per hour from START.
    function _nativePerHour(address to, uint256 allowance) internal pure returns (SessionTypes.Permission memory p) {
        p.target = to;
        p.flags = SessionTypes.FLAG_NATIVE_TRANSFER | SessionTypes.FLAG_NATIVE_TOTAL | SessionTypes.FLAG_PER_PERIOD;
        p.valueLimit = type(uint256).max;
        p.nativeTotalLimit = allowance;
        p.validAfter = START;
        p.rateLimitInterval = HOUR;
    }

    /// `selector` (an ERC-20 movement) on `token`, at most `allowance` per `interval` from START.
    function _erc20PerPeriod(address token, bytes4 selector, uint256 allowance, uint48 interval)
        internal
        pure
        returns (SessionTypes.Permission memory p)
    {
        p.target = token;
        p.selector = selector;
        p.flags = SessionTypes.FLAG_ERC20_TOTAL | SessionTypes.FLAG_PER_PERIOD;
        p.erc20TotalLimit = allowance;
        p.validAfter = START;
        p.rateLimitInterval = interval;
    }

    function _transfer(address to, uint256 amount) internal pure returns (bytes memory) {
        return abi.encodeCall(IERC20.transfer, (to, amount));
    }

    function _periodSpent(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        address asset,
        SessionTypes.Permission memory p
    ) internal view returns (uint32 period, uint256 spent) {
        return validator.periodSpentOf(
            address(env.account), SessionEncoding.sessionId(session), asset, p.rateLimitInterval, p.validAfter
        );
    }

    function _assertPeriodSpent(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        address asset,
        SessionTypes.Permission memory p,
        uint32 period,
        uint256 spent
    ) internal view {
        (uint32 latest, uint256 amount) = _periodSpent(env, session, asset, p);
        assertEq(latest, period, "latest period");
        assertEq(amount, spent, "spent in period");
    }

    /// A single-call use operation naming `proof` and `period`.
    function _opIn(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        CallProof memory proof,
        uint32 period,
        address callTarget,
        uint256 value,
        bytes memory data
    ) internal view returns (PackedUserOperation memory) {
        CallProof[] memory calls = new CallProof[](1);
        calls[0] = proof;
        calls[0].window = period;
        return _useOp(
            env.entryPoint, address(env.account), _executeSingle(callTarget, value, data), session, calls, SESSION_KEY
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Native value per period
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_refillsNativeAllowance_whenNextPeriod() public onEachEntryPoint {
        AccountEnv memory env = currentEnv;
        SessionTypes.Permission memory permission = _nativePerHour(alice, 1 ether);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);

        _handleOp(env.entryPoint, _op1Window(env, session, permission, alice, 0.6 ether, "", 0));
        _handleOp(env.entryPoint, _op1Window(env, session, permission, alice, 0.4 ether, "", 0));
        _assertPeriodSpent(env, session, address(0), permission, 0, 1 ether);
        PackedUserOperation memory over = _op1Window(env, session, permission, alice, 1, "", 0);
        _expectScopeError(
            env.entryPoint,
            over,
            abi.encodeWithSelector(
                ISessionKeyValidator.PeriodAllowanceExceeded.selector, 0, address(0), 0, 1 ether + 1, 1 ether
            )
        );

        // period 2 (period 1 unused): the whole allowance again, and no more
        vm.warp(START + 2 * HOUR + 1);
        _handleOp(env.entryPoint, _op1Window(env, session, permission, alice, 1 ether, "", 2));
        _assertPeriodSpent(env, session, address(0), permission, 2, 1 ether);
        over = _op1Window(env, session, permission, alice, 1, "", 2);
        _expectScopeError(
            env.entryPoint,
            over,
            abi.encodeWithSelector(
                ISessionKeyValidator.PeriodAllowanceExceeded.selector, 0, address(0), 2, 1 ether + 1, 1 ether
            )
        );
        assertEq(alice.balance, 2 ether);
        // lifetime totals are not touched by allowances per period
        assertEq(validator.spentOf(address(env.account), SessionEncoding.sessionId(session), address(0)), 0);
    }

    /// With FLAG_PER_PERIOD and no rate limit the validation window is still the named period.
    function test_validateUserOp_returnsPeriodBounds_whenPerPeriod() public {
        address account = address(accountV08);
        vm.deal(account, 10 ether);
        SessionTypes.Permission memory permission = _nativePerHour(alice, 1 ether);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantDirect(account, session);
        uint32[3] memory periods = [uint32(0), 5, 23];
        for (uint256 i; i < periods.length; ++i) {
            CallProof[] memory calls = _oneCall(permission);
            calls[0].window = periods[i];
            (PackedUserOperation memory op, bytes32 hash) =
                _directOp(account, _executeSingle(alice, 0.1 ether, ""), session, calls);
            (bool sigFailed, uint48 validUntil, uint48 validAfter) = _unpack(_validateAs(op, hash));
            assertFalse(sigFailed);
            assertEq(validAfter, START + periods[i] * HOUR, "period start");
            assertEq(validUntil, START + (periods[i] + 1) * HOUR - 1, "period end");
        }
    }

    /// An operation naming the current period is valid up to its last second; the next period's operation from the
    /// next second (v0.7) or the one after (v0.8, strictly after validAfter).
    function test_validateUserOp_followsPeriodBounds_atLastAndFirstSecond() public {
        SessionTypes.Permission memory permission = _nativePerHour(alice, 1 ether);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        AccountEnv memory v07 = _v07();
        AccountEnv memory v08 = _v08();
        _grantOn(v07, session);
        _grantOn(v08, session);

        vm.warp(START + HOUR - 1); // last second of period 0
        _handleOp(v07.entryPoint, _op1Window(v07, session, permission, alice, 1 ether, "", 0));
        _handleOp(v08.entryPoint, _op1Window(v08, session, permission, alice, 1 ether, "", 0));
        PackedUserOperation memory next07 = _op1Window(v07, session, permission, alice, 1 ether, "", 1);
        PackedUserOperation memory next08 = _op1Window(v08, session, permission, alice, 1 ether, "", 1);
        _expectExpiredOrNotDue(v07.entryPoint, next07);
        _expectExpiredOrNotDue(v08.entryPoint, next08);

        vm.warp(START + HOUR); // first second of period 1: period 0 has ended (a zero amount fits its allowance)
        _expectExpiredOrNotDue(v07.entryPoint, _op1Window(v07, session, permission, alice, 0, "", 0));
        _handleOp(v07.entryPoint, next07);
        _expectExpiredOrNotDue(v08.entryPoint, next08);
        vm.warp(START + HOUR + 1);
        _handleOp(v08.entryPoint, next08);
        assertEq(alice.balance, 4 ether);
        _assertPeriodSpent(v07, session, address(0), permission, 1, 1 ether);
        _assertPeriodSpent(v08, session, address(0), permission, 1, 1 ether);
    }

    /// Naming a future period does not give its allowance now: the EntryPoint refuses the operation (AA22).
    function test_validateUserOp_failsAA22_whenPeriodNotStarted() public onEachEntryPoint {
        AccountEnv memory env = currentEnv;
        SessionTypes.Permission memory permission = _nativePerHour(alice, 1 ether);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        _handleOp(env.entryPoint, _op1Window(env, session, permission, alice, 1 ether, "", 0));
        _expectExpiredOrNotDue(env.entryPoint, _op1Window(env, session, permission, alice, 1 ether, "", 1));
        _assertPeriodSpent(env, session, address(0), permission, 0, 1 ether);
        assertEq(alice.balance, 1 ether);
    }

    /// Once a later period was spent in, an earlier one is refused outright: its allowance cannot be reused.
    function test_validateUserOp_reverts_whenSpendingPeriodPassed() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _nativePerHour(alice, 1 ether);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        vm.warp(START + 3 * HOUR + 1);
        _handleOp(env.entryPoint, _op1Window(env, session, permission, alice, 0.5 ether, "", 3));
        for (uint32 p; p < 3; ++p) {
            PackedUserOperation memory op = _op1Window(env, session, permission, alice, 0.1 ether, "", p);
            _expectScopeError(
                env.entryPoint,
                op,
                abi.encodeWithSelector(ISessionKeyValidator.SpendingPeriodPassed.selector, 0, address(0), p, 3)
            );
        }
        _assertPeriodSpent(env, session, address(0), permission, 3, 0.5 ether);
    }

    function test_validateUserOp_reverts_whenPeriodAllowanceExceededInsideOneBatch() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _nativePerHour(alice, 1 ether);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(alice, 0.6 ether, "");
        executions[1] = Execution(alice, 0.6 ether, "");
        CallProof[] memory calls = new CallProof[](2);
        calls[0].permission = permission;
        calls[1].permission = permission;
        PackedUserOperation memory op =
            _useOp(env.entryPoint, address(env.account), _executeBatch(executions), session, calls, SESSION_KEY);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.PeriodAllowanceExceeded.selector, 1, address(0), 0, 1.2 ether, 1 ether
            )
        );
        _assertPeriodSpent(env, session, address(0), permission, 0, 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // ERC-20 movements per period
    // ------------------------------------------------------------------------------------------------------------

    /// transfer and approve of one token share one allowance per (token, interval, start); another token and another
    /// interval count separately; a batch spends each token's allowance.
    function test_validateUserOp_sharesErc20Allowance_perTokenAndPeriodDefinition() public onEachEntryPoint {
        AccountEnv memory env = currentEnv;
        tokenA.mint(address(env.account), 10_000);
        tokenB.mint(address(env.account), 10_000);
        SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](4);
        permissions[0] = _erc20PerPeriod(address(tokenA), IERC20.transfer.selector, 100, HOUR);
        permissions[1] = _erc20PerPeriod(address(tokenA), IERC20.approve.selector, 100, HOUR);
        permissions[2] = _erc20PerPeriod(address(tokenB), IERC20.transfer.selector, 50, HOUR);
        permissions[3] = _erc20PerPeriod(address(tokenA), IERC20.transfer.selector, 1000, 1 days);
        SessionTypes.Session memory session = _session(_tree(permissions)[0]);
        CallProof[] memory proofs = _proofs(permissions, _tree(permissions));
        _grantOn(env, session);

        _handleOp(env.entryPoint, _opIn(env, session, proofs[0], 0, address(tokenA), 0, _transfer(bob, 70)));
        _handleOp(
            env.entryPoint,
            _opIn(env, session, proofs[1], 0, address(tokenA), 0, abi.encodeCall(IERC20.approve, (bob, 30)))
        );
        _assertPeriodSpent(env, session, address(tokenA), permissions[0], 0, 100);
        PackedUserOperation memory op = _opIn(env, session, proofs[0], 0, address(tokenA), 0, _transfer(bob, 1));
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.PeriodAllowanceExceeded.selector, 0, address(tokenA), 0, 101, 100
            )
        );

        // the daily allowance of the same token is its own
        _handleOp(env.entryPoint, _opIn(env, session, proofs[3], 0, address(tokenA), 0, _transfer(bob, 900)));
        _assertPeriodSpent(env, session, address(tokenA), permissions[3], 0, 900);

        // next hour: a batch spends tokenA's hourly and tokenB's allowances, each up to its own
        vm.warp(START + HOUR + 1);
        _handleOp(env.entryPoint, _twoTokenBatch(env, session, proofs[0], proofs[2], 1));
        _assertPeriodSpent(env, session, address(tokenA), permissions[0], 1, 100);
        _assertPeriodSpent(env, session, address(tokenB), permissions[2], 1, 50);
        op = _opIn(env, session, proofs[2], 1, address(tokenB), 0, _transfer(alice, 1));
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.PeriodAllowanceExceeded.selector, 0, address(tokenB), 1, 51, 50)
        );
        assertEq(tokenA.balanceOf(bob), 970);
        assertEq(tokenA.balanceOf(alice), 100);
        assertEq(tokenB.balanceOf(alice), 50);
    }

    /// A batch in `period` of a transfer of 100 tokenA under `proofA` and 50 tokenB under `proofB`, both to alice.
    function _twoTokenBatch(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        CallProof memory proofA,
        CallProof memory proofB,
        uint32 period
    ) internal view returns (PackedUserOperation memory) {
        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(tokenA), 0, _transfer(alice, 100));
        executions[1] = Execution(address(tokenB), 0, _transfer(alice, 50));
        CallProof[] memory calls = new CallProof[](2);
        calls[0] = proofA;
        calls[0].window = period;
        calls[1] = proofB;
        calls[1].window = period;
        return _useOp(env.entryPoint, address(env.account), _executeBatch(executions), session, calls, SESSION_KEY);
    }

    /// An allowance is counted in 224 bits: a period total of 2^224 is refused even under an unlimited allowance.
    function test_validateUserOp_reverts_whenPeriodTotalReaches2To224() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission =
            _erc20PerPeriod(address(tokenA), IERC20.approve.selector, type(uint256).max, HOUR);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        uint256 cap = type(uint224).max;
        _handleOp(
            env.entryPoint,
            _op1Window(env, session, permission, address(tokenA), 0, abi.encodeCall(IERC20.approve, (bob, cap)), 0)
        );
        _assertPeriodSpent(env, session, address(tokenA), permission, 0, cap);
        PackedUserOperation memory op =
            _op1Window(env, session, permission, address(tokenA), 0, abi.encodeCall(IERC20.approve, (bob, 1)), 0);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.PeriodAllowanceExceeded.selector, 0, address(tokenA), 0, cap + 1, type(uint256).max
            )
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Malformed periodic permissions
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenPerPeriodWithoutTotalFlag() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        permission.flags = SessionTypes.FLAG_PER_PERIOD;
        permission.validAfter = START;
        permission.rateLimitInterval = HOUR;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        PackedUserOperation memory op =
            _op1Window(env, session, permission, address(target), 0, _act(1, 0, alice, bytes32(0)), 0);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.InvalidPermissionFlags.selector, 0, SessionTypes.FLAG_PER_PERIOD
            )
        );
    }

    function test_validateUserOp_reverts_whenPeriodIntervalZero() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _nativePerHour(alice, 1 ether);
        permission.rateLimitInterval = 0;
        PackedUserOperation memory op = _grantedOp1(env, permission, alice, 0.1 ether, "");
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.MalformedPermission.selector, 0)
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Against a model
    // ------------------------------------------------------------------------------------------------------------

    /// A sequence of spends, each naming a period at or after the previous one or before it: the validator accepts
    /// exactly those the model accepts, and never lets a period's spending exceed the allowance.
    function testFuzz_validateUserOp_neverExceedsAllowancePerPeriod(
        uint128 allowance,
        uint128[8] memory amounts,
        uint8[8] memory steps
    ) public {
        address account = address(accountV08);
        vm.deal(account, type(uint128).max);
        SessionTypes.Permission memory permission = _nativePerHour(alice, allowance);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantDirect(account, session);
        uint256 latest;
        uint256 spent;
        uint256 period;
        for (uint256 i; i < amounts.length; ++i) {
            // mostly stay or move forward; sometimes name an earlier period
            uint256 step = steps[i] % 4;
            if (step == 3) period = period == 0 ? 0 : period - 1;
            else period += step == 2 ? 1 : 0;
            uint256 amount = amounts[i] % (uint256(allowance) + 2);
            CallProof[] memory calls = _oneCall(permission);
            calls[0].window = uint32(period);
            (PackedUserOperation memory op, bytes32 hash) =
                _directOp(account, _executeSingle(alice, amount, ""), session, calls);

            uint256 before = period == latest ? spent : 0;
            if (period < latest) {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        ISessionKeyValidator.SpendingPeriodPassed.selector, 0, address(0), period, latest
                    )
                );
                _validateAs(op, hash);
            } else if (before + amount > allowance) {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        ISessionKeyValidator.PeriodAllowanceExceeded.selector,
                        0,
                        address(0),
                        period,
                        before + amount,
                        allowance
                    )
                );
                _validateAs(op, hash);
            } else {
                (bool sigFailed,,) = _unpack(_validateAs(op, hash));
                assertFalse(sigFailed);
                latest = period;
                spent = before + amount;
            }
            (uint32 onChainPeriod, uint256 onChainSpent) =
                validator.periodSpentOf(account, SessionEncoding.sessionId(session), address(0), HOUR, START);
            assertEq(onChainPeriod, latest, "latest period");
            assertEq(onChainSpent, spent, "spent");
            assertLe(onChainSpent, allowance, "spent within allowance");
        }
    }
}
