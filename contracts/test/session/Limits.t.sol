// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {ArgTarget} from "../mocks/ArgTarget.sol";
import {ScopeTestBase} from "../utils/ScopeTestBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {LegacyToken} from "../mocks/LegacyToken.sol";

/// @notice Usage limits, rate limits and cumulative native and ERC-20 spending limits.
contract LimitsTest is ScopeTestBase {
    uint48 internal constant HOUR = 1 hours;

    address internal alice = makeAddr("alice");
    address internal bob = makeAddr("bob");

    LegacyToken internal legacy;

    function setUp() public virtual override {
        super.setUp();
        legacy = new LegacyToken();
        vm.label(address(legacy), "LegacyToken");
    }

    function _actData(uint256 a) internal view returns (bytes memory) {
        return _act(a, 0, alice, bytes32(0));
    }

    function _usage(AccountEnv memory env, SessionTypes.Session memory session, SessionTypes.Permission memory p)
        internal
        view
        returns (uint64 uses, uint32 window, uint32 windowUses)
    {
        return validator.usageOf(address(env.account), SessionEncoding.sessionId(session), SessionEncoding.leaf(p));
    }

    function _spent(AccountEnv memory env, SessionTypes.Session memory session, address asset)
        internal
        view
        returns (uint256)
    {
        return validator.spentOf(address(env.account), SessionEncoding.sessionId(session), asset);
    }

    function _assertUsage(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory p,
        uint64 uses,
        uint32 window,
        uint32 windowUses
    ) internal view {
        (uint64 u, uint32 w, uint32 wu) = _usage(env, session, p);
        assertEq(u, uses, "uses");
        assertEq(w, window, "window");
        assertEq(wu, windowUses, "windowUses");
    }

    // ------------------------------------------------------------------------------------------------------------
    // maxUses
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenMaxUsesReached() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _actPermission();
        permission.maxUses = 3;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(currentEnv, session);
        _assertUsage(currentEnv, session, permission, 0, 0, 0);
        for (uint64 n = 1; n <= 3; ++n) {
            _handleOp(currentEnv.entryPoint, _op1(currentEnv, session, permission, address(target), 0, _actData(n)));
            _assertUsage(currentEnv, session, permission, n, 0, 0);
        }
        PackedUserOperation memory op = _op1(currentEnv, session, permission, address(target), 0, _actData(4));
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.UsageLimitReached.selector, 0, 4, 3)
        );
        _assertUsage(currentEnv, session, permission, 3, 0, 0);
        assertEq(target.calls(), 3);
    }

    function test_validateUserOp_reverts_whenMaxUsesReachedInsideOneBatch() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        permission.maxUses = 2;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        Execution[] memory executions = new Execution[](3);
        CallProof[] memory calls = new CallProof[](3);
        for (uint256 i; i < 3; ++i) {
            executions[i] = Execution(address(target), 0, _actData(i));
            calls[i].permission = permission;
        }
        PackedUserOperation memory op =
            _useOp(env.entryPoint, address(env.account), _executeBatch(executions), session, calls, SESSION_KEY);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.UsageLimitReached.selector, 2, 3, 2)
        );
        _assertUsage(env, session, permission, 0, 0, 0);
    }

    /// Without maxUses and rate limit nothing is counted.
    function test_usageOf_staysZero_whenPermissionUnlimited() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        _handleOp(env.entryPoint, _op1(env, session, permission, address(target), 0, _actData(1)));
        _handleOp(env.entryPoint, _op1(env, session, permission, address(target), 0, _actData(2)));
        _assertUsage(env, session, permission, 0, 0, 0);
        assertEq(target.calls(), 2);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Rate limits
    // ------------------------------------------------------------------------------------------------------------

    /// act, from START, at most 2 per hour.
    function _rateLimited() internal view returns (SessionTypes.Permission memory permission) {
        permission = _actPermission();
        permission.validAfter = START;
        permission.rateLimitCount = 2;
        permission.rateLimitInterval = HOUR;
    }

    function test_validateUserOp_returnsWindowBounds_whenRateLimited() public {
        address account = address(accountV08);
        SessionTypes.Permission memory permission = _rateLimited();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantDirect(account, session);
        uint32[3] memory windows = [uint32(0), 3, 23];
        for (uint256 i; i < windows.length; ++i) {
            CallProof[] memory calls = _oneCall(permission);
            calls[0].window = windows[i];
            (PackedUserOperation memory op, bytes32 hash) =
                _directOp(account, _executeSingle(address(target), 0, _actData(i)), session, calls);
            (bool sigFailed, uint48 validUntil, uint48 validAfter) = _unpack(_validateAs(op, hash));
            assertFalse(sigFailed);
            assertEq(validAfter, START + windows[i] * HOUR, "window start");
            assertEq(validUntil, START + (windows[i] + 1) * HOUR - 1, "window end");
        }
        // a window past the session's end keeps the session's end: validAfter > validUntil, never valid
        CallProof[] memory late = _oneCall(permission);
        late[0].window = 25;
        (PackedUserOperation memory lateOp, bytes32 lateHash) =
            _directOp(account, _executeSingle(address(target), 0, _actData(9)), session, late);
        (, uint48 lateUntil, uint48 lateAfter) = _unpack(_validateAs(lateOp, lateHash));
        assertEq(lateAfter, START + 25 * HOUR);
        assertEq(lateUntil, session.validUntil);
        assertGt(lateAfter, lateUntil);
    }

    function test_validateUserOp_reverts_whenRateLimitReachedInWindow() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _rateLimited();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(currentEnv, session);
        _handleOp(
            currentEnv.entryPoint, _op1Window(currentEnv, session, permission, address(target), 0, _actData(1), 0)
        );
        _assertUsage(currentEnv, session, permission, 1, 0, 1);
        _handleOp(
            currentEnv.entryPoint, _op1Window(currentEnv, session, permission, address(target), 0, _actData(2), 0)
        );
        _assertUsage(currentEnv, session, permission, 2, 0, 2);
        PackedUserOperation memory op = _op1Window(currentEnv, session, permission, address(target), 0, _actData(3), 0);
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.RateLimitReached.selector, 0, 0, 2)
        );
        _assertUsage(currentEnv, session, permission, 2, 0, 2);
    }

    function test_validateUserOp_failsAA22_whenWindowNotStarted() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _rateLimited();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(currentEnv, session);
        PackedUserOperation memory op = _op1Window(currentEnv, session, permission, address(target), 0, _actData(1), 1);
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        _assertUsage(currentEnv, session, permission, 0, 0, 0);
        // the same operation goes through once window 1 has started
        vm.warp(START + HOUR + 1);
        _handleOp(currentEnv.entryPoint, op);
        _assertUsage(currentEnv, session, permission, 1, 1, 1);
        assertEq(target.calls(), 1);
    }

    /// A window starts at validAfter + k * interval: v0.7 accepts from that second, v0.8 strictly after it.
    function test_validateUserOp_followsEntryPointValidAfter_atWindowStart() public {
        SessionTypes.Permission memory permission = _rateLimited();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        AccountEnv memory v07 = _v07();
        AccountEnv memory v08 = _v08();
        _grantOn(v07, session);
        _grantOn(v08, session);
        PackedUserOperation memory op07 = _op1Window(v07, session, permission, address(target), 0, _actData(1), 1);
        PackedUserOperation memory op08 = _op1Window(v08, session, permission, address(target), 0, _actData(1), 1);
        vm.warp(START + HOUR);
        _handleOp(v07.entryPoint, op07);
        _expectExpiredOrNotDue(v08.entryPoint, op08);
        vm.warp(START + HOUR + 1);
        _handleOp(v08.entryPoint, op08);
        assertEq(target.calls(), 2);
    }

    function test_validateUserOp_failsAA22_whenWindowEnded() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _rateLimited();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        vm.warp(START + HOUR); // first second of window 1: window 0 ended at START + HOUR - 1
        _expectExpiredOrNotDue(env.entryPoint, _op1Window(env, session, permission, address(target), 0, _actData(1), 0));
    }

    function test_validateUserOp_resetsCount_whenNewWindow() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _rateLimited();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(currentEnv, session);
        for (uint256 n; n < 2; ++n) {
            _handleOp(
                currentEnv.entryPoint, _op1Window(currentEnv, session, permission, address(target), 0, _actData(n), 0)
            );
        }
        _assertUsage(currentEnv, session, permission, 2, 0, 2);
        vm.warp(START + 2 * HOUR + 1); // window 2: window 1 was skipped
        for (uint256 n; n < 2; ++n) {
            _handleOp(
                currentEnv.entryPoint, _op1Window(currentEnv, session, permission, address(target), 0, _actData(n), 2)
            );
        }
        _assertUsage(currentEnv, session, permission, 4, 2, 2);
        PackedUserOperation memory op = _op1Window(currentEnv, session, permission, address(target), 0, _actData(9), 2);
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.RateLimitReached.selector, 0, 2, 2)
        );
        assertEq(target.calls(), 4);
    }

    function test_validateUserOp_reverts_whenWindowBeforeLatestUsed() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _rateLimited();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        vm.warp(START + 3 * HOUR + 1);
        _handleOp(env.entryPoint, _op1Window(env, session, permission, address(target), 0, _actData(1), 3));
        // an older window is refused outright (it would also have expired): the count cannot be reset by going back
        for (uint32 w; w < 3; ++w) {
            PackedUserOperation memory op = _op1Window(env, session, permission, address(target), 0, _actData(2), w);
            _expectScopeError(
                env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.RateLimitWindowPassed.selector, 0, w, 3)
            );
        }
        _assertUsage(env, session, permission, 1, 3, 1);
    }

    function test_validateUserOp_reverts_whenRateLimitIntervalZero() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        permission.rateLimitCount = 1;
        PackedUserOperation memory op = _grantedOp1(env, permission, address(target), 0, _actData(1));
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.MalformedPermission.selector, 0)
        );
    }

    /// Without validAfter the windows count from the Unix epoch.
    function test_validateUserOp_passes_whenWindowsCountFromEpoch() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        permission.rateLimitCount = 1;
        permission.rateLimitInterval = HOUR;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        uint32 window = uint32(block.timestamp / HOUR);
        _handleOp(env.entryPoint, _op1Window(env, session, permission, address(target), 0, _actData(1), window));
        _assertUsage(env, session, permission, 1, window, 1);
        PackedUserOperation memory op = _op1Window(env, session, permission, address(target), 0, _actData(2), window);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.RateLimitReached.selector, 0, window, 1)
        );
    }

    /// Window 0 of a one-second interval from time 0 is [0, 0]: its end must not become validUntil 0, which the
    /// EntryPoint reads as "no expiry" (that would also drop the session's own validUntil).
    function test_validateUserOp_failsAA22_whenRateLimitWindowEndsAtTimeZero() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _actPermission();
        permission.rateLimitCount = 1;
        permission.rateLimitInterval = 1;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(currentEnv, session);
        PackedUserOperation memory op = _op1Window(currentEnv, session, permission, address(target), 0, _actData(1), 0);
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        // not even after the session's end
        vm.warp(session.validUntil + 1 days);
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        assertEq(target.calls(), 0);
    }

    function test_validateUserOp_checksMaxUsesAcrossWindows() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _rateLimited();
        permission.maxUses = 3;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        _handleOp(env.entryPoint, _op1Window(env, session, permission, address(target), 0, _actData(1), 0));
        _handleOp(env.entryPoint, _op1Window(env, session, permission, address(target), 0, _actData(2), 0));
        vm.warp(START + HOUR + 1);
        _handleOp(env.entryPoint, _op1Window(env, session, permission, address(target), 0, _actData(3), 1));
        PackedUserOperation memory op = _op1Window(env, session, permission, address(target), 0, _actData(4), 1);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.UsageLimitReached.selector, 0, 4, 3)
        );
        _assertUsage(env, session, permission, 3, 1, 1);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Cumulative native value
    // ------------------------------------------------------------------------------------------------------------

    function _nativeTotal(address to, uint256 valueLimit, uint256 totalLimit)
        internal
        pure
        returns (SessionTypes.Permission memory p)
    {
        p.target = to;
        p.flags = SessionTypes.FLAG_NATIVE_TRANSFER | SessionTypes.FLAG_NATIVE_TOTAL;
        p.valueLimit = valueLimit;
        p.nativeTotalLimit = totalLimit;
    }

    function test_validateUserOp_reverts_whenNativeTotalExceededAcrossOps() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _nativeTotal(bob, 1 ether, 1.5 ether);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(currentEnv, session);
        _handleOp(currentEnv.entryPoint, _op1(currentEnv, session, permission, bob, 1 ether, ""));
        assertEq(_spent(currentEnv, session, address(0)), 1 ether);
        _handleOp(currentEnv.entryPoint, _op1(currentEnv, session, permission, bob, 0.5 ether, ""));
        assertEq(_spent(currentEnv, session, address(0)), 1.5 ether);
        PackedUserOperation memory op = _op1(currentEnv, session, permission, bob, 1, "");
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTotalExceeded.selector, 0, 1.5 ether + 1, 1.5 ether)
        );
        assertEq(_spent(currentEnv, session, address(0)), 1.5 ether);
        assertEq(bob.balance, 1.5 ether);
    }

    function test_validateUserOp_reverts_whenNativeTotalExceededInsideOneBatch() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _nativeTotal(bob, 0.4 ether, 1 ether);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);

        Execution[] memory executions = new Execution[](3);
        CallProof[] memory calls = new CallProof[](3);
        for (uint256 i; i < 3; ++i) {
            executions[i] = Execution(bob, 0.4 ether, "");
            calls[i].permission = permission;
        }
        PackedUserOperation memory op =
            _useOp(env.entryPoint, address(env.account), _executeBatch(executions), session, calls, SESSION_KEY);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTotalExceeded.selector, 2, 1.2 ether, 1 ether)
        );
        assertEq(_spent(env, session, address(0)), 0);

        // two of them fit, then only 0.2 ether is left
        Execution[] memory two = new Execution[](2);
        CallProof[] memory twoCalls = new CallProof[](2);
        for (uint256 i; i < 2; ++i) {
            two[i] = executions[i];
            twoCalls[i] = calls[i];
        }
        _handleOp(
            env.entryPoint,
            _useOp(env.entryPoint, address(env.account), _executeBatch(two), session, twoCalls, SESSION_KEY)
        );
        assertEq(_spent(env, session, address(0)), 0.8 ether);
        assertEq(bob.balance, 0.8 ether);
        _handleOp(env.entryPoint, _op1(env, session, permission, bob, 0.2 ether, ""));
        PackedUserOperation memory last = _op1(env, session, permission, bob, 1, "");
        _expectScopeError(
            env.entryPoint,
            last,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTotalExceeded.selector, 0, 1 ether + 1, 1 ether)
        );
    }

    /// The native total is one per session, shared by every permission with FLAG_NATIVE_TOTAL; each compares it
    /// with its own limit. Value sent under a permission without the flag is not counted.
    function test_validateUserOp_sharesNativeTotal_acrossPermissions() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](3);
        permissions[0] = _nativeTotal(bob, 1 ether, 2 ether);
        permissions[1] = _actPermission();
        permissions[1].flags = SessionTypes.FLAG_NATIVE_TOTAL;
        permissions[1].valueLimit = 1 ether;
        permissions[1].nativeTotalLimit = 1 ether;
        permissions[2] = _permission(alice, bytes4(0));
        permissions[2].flags = SessionTypes.FLAG_NATIVE_TRANSFER; // uncounted
        permissions[2].valueLimit = 1 ether;
        bytes32[] memory tree = _tree(permissions);
        SessionTypes.Session memory session = _session(tree[0]);
        _grantOn(env, session);
        CallProof[] memory proofs = _proofs(permissions, tree);

        _handleOp(env.entryPoint, _useOpOf(env, session, proofs[0], bob, 0.8 ether, ""));
        _handleOp(env.entryPoint, _useOpOf(env, session, proofs[2], alice, 1 ether, ""));
        assertEq(_spent(env, session, address(0)), 0.8 ether);
        PackedUserOperation memory op = _useOpOf(env, session, proofs[1], address(target), 0.3 ether, _actData(1));
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTotalExceeded.selector, 0, 1.1 ether, 1 ether)
        );
        _handleOp(env.entryPoint, _useOpOf(env, session, proofs[1], address(target), 0.2 ether, _actData(1)));
        assertEq(_spent(env, session, address(0)), 1 ether);
        _handleOp(env.entryPoint, _useOpOf(env, session, proofs[0], bob, 1 ether, ""));
        assertEq(_spent(env, session, address(0)), 2 ether);
        op = _useOpOf(env, session, proofs[0], bob, 1, "");
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NativeTotalExceeded.selector, 0, 2 ether + 1, 2 ether)
        );
        assertEq(bob.balance, 1.8 ether);
        assertEq(alice.balance, 1 ether);
        assertEq(target.received(), 0.2 ether);
    }

    /// A single-call use operation naming `proof`.
    function _useOpOf(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        CallProof memory proof,
        address callTarget,
        uint256 value,
        bytes memory data
    ) internal view returns (PackedUserOperation memory) {
        CallProof[] memory calls = new CallProof[](1);
        calls[0] = proof;
        return _useOp(
            env.entryPoint, address(env.account), _executeSingle(callTarget, value, data), session, calls, SESSION_KEY
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Cumulative ERC-20 movements
    // ------------------------------------------------------------------------------------------------------------

    function _erc20Total(address tokenAddress, bytes4 selector, uint256 limit)
        internal
        pure
        returns (SessionTypes.Permission memory p)
    {
        p.target = tokenAddress;
        p.selector = selector;
        p.flags = SessionTypes.FLAG_ERC20_TOTAL;
        p.erc20TotalLimit = limit;
    }

    /// transfer, approve, transferFrom and increaseAllowance of one token, each limited to `limit` in all.
    function _erc20Permissions(uint256 limit) internal view returns (SessionTypes.Permission[] memory permissions) {
        permissions = new SessionTypes.Permission[](4);
        permissions[0] = _erc20Total(address(legacy), IERC20.transfer.selector, limit);
        permissions[1] = _erc20Total(address(legacy), IERC20.approve.selector, limit);
        permissions[2] = _erc20Total(address(legacy), IERC20.transferFrom.selector, limit);
        permissions[3] = _erc20Total(address(legacy), LegacyToken.increaseAllowance.selector, limit);
    }

    function test_validateUserOp_sumsErc20Movements_acrossOpsBatchesAndPermissions() public onEachEntryPoint {
        SessionTypes.Permission[] memory permissions = _erc20Permissions(1000);
        bytes32[] memory tree = _tree(permissions);
        SessionTypes.Session memory session = _session(tree[0]);
        CallProof[] memory proofs = _proofs(permissions, tree);
        AccountEnv memory env = currentEnv;
        address account = address(env.account);
        legacy.mint(account, 1000);
        legacy.mint(alice, 1000);
        vm.prank(alice);
        legacy.approve(account, 1000);
        _grantOn(env, session);

        _handleOp(env.entryPoint, _useOpOf(env, session, proofs[0], address(legacy), 0, _transfer(bob, 300)));
        assertEq(_spent(env, session, address(legacy)), 300, "transfer");
        _handleOp(
            env.entryPoint,
            _useOpOf(env, session, proofs[1], address(legacy), 0, abi.encodeCall(IERC20.approve, (bob, 200)))
        );
        assertEq(_spent(env, session, address(legacy)), 500, "approve");

        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(legacy), 0, _transfer(bob, 100));
        executions[1] = Execution(address(legacy), 0, abi.encodeCall(IERC20.transferFrom, (alice, bob, 200)));
        CallProof[] memory calls = new CallProof[](2);
        calls[0] = proofs[0];
        calls[1] = proofs[2];
        _handleOp(
            env.entryPoint, _useOp(env.entryPoint, account, _executeBatch(executions), session, calls, SESSION_KEY)
        );
        assertEq(_spent(env, session, address(legacy)), 800, "batch");

        _handleOp(
            env.entryPoint,
            _useOpOf(
                env, session, proofs[3], address(legacy), 0, abi.encodeCall(LegacyToken.increaseAllowance, (bob, 200))
            )
        );
        assertEq(_spent(env, session, address(legacy)), 1000, "increaseAllowance");
        assertEq(legacy.allowance(account, bob), 400);

        // exactly at the limit: one more unit of any movement is refused
        bytes[4] memory more = [
            _transfer(bob, 1),
            abi.encodeCall(IERC20.approve, (bob, 1)),
            abi.encodeCall(IERC20.transferFrom, (alice, bob, 1)),
            abi.encodeCall(LegacyToken.increaseAllowance, (bob, 1))
        ];
        for (uint256 p; p < 4; ++p) {
            PackedUserOperation memory op = _useOpOf(env, session, proofs[p], address(legacy), 0, more[p]);
            _expectScopeError(
                env.entryPoint,
                op,
                abi.encodeWithSelector(ISessionKeyValidator.Erc20TotalExceeded.selector, 0, address(legacy), 1001, 1000)
            );
        }
        // a zero approval (revoking) still fits
        _handleOp(
            env.entryPoint,
            _useOpOf(env, session, proofs[1], address(legacy), 0, abi.encodeCall(IERC20.approve, (bob, 0)))
        );
        assertEq(_spent(env, session, address(legacy)), 1000);
        assertEq(legacy.allowance(account, bob), 0);
        assertEq(legacy.balanceOf(bob), 600);
    }

    function _transfer(address to, uint256 amount) internal pure returns (bytes memory) {
        return abi.encodeCall(IERC20.transfer, (to, amount));
    }

    function test_validateUserOp_reverts_whenErc20TotalExceededInsideOneBatch() public {
        AccountEnv memory env = _v08();
        address account = address(env.account);
        legacy.mint(account, 2000);
        SessionTypes.Permission memory permission = _erc20Total(address(legacy), IERC20.transfer.selector, 1000);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(legacy), 0, _transfer(bob, 600));
        executions[1] = Execution(address(legacy), 0, _transfer(alice, 600));
        CallProof[] memory calls = new CallProof[](2);
        calls[0].permission = permission;
        calls[1].permission = permission;
        PackedUserOperation memory op =
            _useOp(env.entryPoint, account, _executeBatch(executions), session, calls, SESSION_KEY);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.Erc20TotalExceeded.selector, 1, address(legacy), 1200, 1000)
        );
        assertEq(_spent(env, session, address(legacy)), 0);
        assertEq(legacy.balanceOf(bob), 0);
    }

    /// The total is shared per token; each permission compares it with its own limit.
    function test_validateUserOp_reverts_whenSmallerLimitOfAnotherPermissionOnSameToken() public {
        AccountEnv memory env = _v08();
        legacy.mint(address(env.account), 2000);
        SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](2);
        permissions[0] = _erc20Total(address(legacy), IERC20.transfer.selector, 1000);
        permissions[1] = _erc20Total(address(legacy), IERC20.approve.selector, 500);
        bytes32[] memory tree = _tree(permissions);
        SessionTypes.Session memory session = _session(tree[0]);
        _grantOn(env, session);
        CallProof[] memory proofs = _proofs(permissions, tree);

        _handleOp(env.entryPoint, _useOpOf(env, session, proofs[0], address(legacy), 0, _transfer(bob, 600)));
        PackedUserOperation memory op =
            _useOpOf(env, session, proofs[1], address(legacy), 0, abi.encodeCall(IERC20.approve, (bob, 1)));
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.Erc20TotalExceeded.selector, 0, address(legacy), 601, 500)
        );
        _handleOp(env.entryPoint, _useOpOf(env, session, proofs[0], address(legacy), 0, _transfer(bob, 400)));
        assertEq(_spent(env, session, address(legacy)), 1000);
    }

    /// With FLAG_ANY_TARGET the total is kept per token called.
    function test_validateUserOp_keepsErc20TotalPerToken() public {
        AccountEnv memory env = _v08();
        address account = address(env.account);
        legacy.mint(account, 2000);
        token.mint(account, 2000);
        SessionTypes.Permission memory permission = _erc20Total(address(0), IERC20.transfer.selector, 1000);
        permission.flags |= SessionTypes.FLAG_ANY_TARGET;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        _handleOp(env.entryPoint, _op1(env, session, permission, address(legacy), 0, _transfer(bob, 1000)));
        _handleOp(env.entryPoint, _op1(env, session, permission, address(token), 0, _transfer(bob, 700)));
        assertEq(_spent(env, session, address(legacy)), 1000);
        assertEq(_spent(env, session, address(token)), 700);
        assertEq(_spent(env, session, address(0)), 0);
        PackedUserOperation memory op = _op1(env, session, permission, address(token), 0, _transfer(bob, 301));
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.Erc20TotalExceeded.selector, 0, address(token), 1001, 1000)
        );
        assertEq(token.balanceOf(bob), 700);
        assertEq(legacy.balanceOf(bob), 1000);
    }

    function test_validateUserOp_reverts_whenErc20TotalOnOtherSelector() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _erc20Total(address(legacy), LegacyToken.mint.selector, 1000);
        PackedUserOperation memory op = _grantedOp1(
            env, permission, address(legacy), 0, abi.encodeCall(LegacyToken.mint, (address(env.account), 1))
        );
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NotAnErc20Movement.selector, 0, LegacyToken.mint.selector)
        );
    }

    function test_validateUserOp_reverts_whenErc20MovementHasNoAmount() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _erc20Total(address(legacy), IERC20.transfer.selector, 1000);
        // transfer(to) without the amount word: the amount cannot be read
        bytes memory data = abi.encodeWithSelector(IERC20.transfer.selector, bob);
        PackedUserOperation memory op = _grantedOp1(env, permission, address(legacy), 0, data);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NotAnErc20Movement.selector, 0, IERC20.transfer.selector)
        );
        // transferFrom reads its third word
        SessionTypes.Permission memory fromPermission = _erc20Total(address(legacy), IERC20.transferFrom.selector, 1000);
        data = abi.encodeWithSelector(IERC20.transferFrom.selector, alice, bob);
        op = _grantedOp1(env, fromPermission, address(legacy), 0, data);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.NotAnErc20Movement.selector, 0, IERC20.transferFrom.selector)
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Independence and atomicity of counters
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_keepsCountersPerSession() public {
        AccountEnv memory env = _v08();
        legacy.mint(address(env.account), 1000);
        SessionTypes.Permission memory permission = _erc20Total(address(legacy), IERC20.transfer.selector, 100);
        permission.maxUses = 1;
        bytes32 root = SessionEncoding.leaf(permission);
        SessionTypes.Session memory a = _saltedSession(root, "a");
        SessionTypes.Session memory b = _saltedSession(root, "b");
        _grantOn(env, a);
        _grantOn(env, b);

        _handleOp(env.entryPoint, _op1(env, a, permission, address(legacy), 0, _transfer(bob, 100)));
        _assertUsage(env, a, permission, 1, 0, 0);
        _assertUsage(env, b, permission, 0, 0, 0);
        assertEq(_spent(env, a, address(legacy)), 100);
        assertEq(_spent(env, b, address(legacy)), 0);

        PackedUserOperation memory op = _op1(env, a, permission, address(legacy), 0, _transfer(bob, 1));
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.UsageLimitReached.selector, 0, 2, 1)
        );
        _handleOp(env.entryPoint, _op1(env, b, permission, address(legacy), 0, _transfer(bob, 100)));
        _assertUsage(env, b, permission, 1, 0, 0);
        assertEq(_spent(env, b, address(legacy)), 100);
        assertEq(legacy.balanceOf(bob), 200);

        // and per account: the same session on the v0.7 account has its own counters
        AccountEnv memory v07 = _v07();
        legacy.mint(address(v07.account), 100);
        _grantOn(v07, a);
        _handleOp(v07.entryPoint, _op1(v07, a, permission, address(legacy), 0, _transfer(bob, 100)));
        _assertUsage(v07, a, permission, 1, 0, 0);
        assertEq(_spent(v07, a, address(legacy)), 100);
        _assertUsage(env, a, permission, 1, 0, 0);
    }

    function test_validateUserOp_leavesCountersUnchanged_whenOpFails() public {
        AccountEnv memory env = _v08();
        address account = address(env.account);
        legacy.mint(account, 1000);
        SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](2);
        permissions[0] = _erc20Total(address(legacy), IERC20.transfer.selector, 1000);
        permissions[0].maxUses = 5;
        permissions[0].validAfter = START;
        permissions[0].rateLimitCount = 5;
        permissions[0].rateLimitInterval = HOUR;
        permissions[1] = _nativeTotal(bob, 1 ether, 1 ether);
        bytes32[] memory tree = _tree(permissions);
        SessionTypes.Session memory session = _session(tree[0]);
        _grantOn(env, session);
        CallProof[] memory proofs = _proofs(permissions, tree);

        Execution[] memory executions = new Execution[](2);
        executions[0] = Execution(address(legacy), 0, _transfer(bob, 100));
        executions[1] = Execution(bob, 0.5 ether, "");
        bytes memory callData = _executeBatch(executions);

        // AA23: the second call breaks its scope (value over its per-call limit)
        executions[1].value = 2 ether;
        PackedUserOperation memory op =
            _useOp(env.entryPoint, account, _executeBatch(executions), session, proofs, SESSION_KEY);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ValueLimitExceeded.selector, 1, 2 ether, 1 ether)
        );
        _assertCountersUntouched(env, session, permissions[0]);

        // AA24: signed by another key, after every counter was updated during validation
        op = _useOp(env.entryPoint, account, callData, session, proofs, uint256(keccak256("stranger")));
        _expectSignatureError(env.entryPoint, op);
        _assertCountersUntouched(env, session, permissions[0]);

        // AA22: a future rate-limit window
        CallProof[] memory future = _proofs(permissions, tree);
        future[0].window = 1;
        op = _useOp(env.entryPoint, account, callData, session, future, SESSION_KEY);
        _expectExpiredOrNotDue(env.entryPoint, op);
        _assertCountersUntouched(env, session, permissions[0]);

        // and the valid operation then counts once
        _handleOp(env.entryPoint, _useOp(env.entryPoint, account, callData, session, proofs, SESSION_KEY));
        _assertUsage(env, session, permissions[0], 1, 0, 1);
        assertEq(_spent(env, session, address(legacy)), 100);
        assertEq(_spent(env, session, address(0)), 0.5 ether);
    }

    function _assertCountersUntouched(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission
    ) internal view {
        _assertUsage(env, session, permission, 0, 0, 0);
        assertEq(_spent(env, session, address(legacy)), 0);
        assertEq(_spent(env, session, address(0)), 0);
        assertEq(legacy.balanceOf(bob), 0);
    }

    /// Fuzz: across a sequence of transfers, the validator admits exactly the ones that keep the total in bounds.
    function testFuzz_validateUserOp_admitsTransfersWithinErc20Total(uint256 limit, uint256[5] memory amounts) public {
        limit = bound(limit, 0, type(uint128).max);
        address account = address(accountV08);
        SessionTypes.Permission memory permission = _erc20Total(address(legacy), IERC20.transfer.selector, limit);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantDirect(account, session);
        uint256 total;
        for (uint256 i; i < amounts.length; ++i) {
            uint256 amount = bound(amounts[i], 0, limit / 2 + 1);
            (PackedUserOperation memory op, bytes32 hash) = _directOp(
                account, _executeSingle(address(legacy), 0, _transfer(bob, amount)), session, _oneCall(permission)
            );
            if (total + amount > limit) {
                vm.expectRevert(
                    abi.encodeWithSelector(
                        ISessionKeyValidator.Erc20TotalExceeded.selector, 0, address(legacy), total + amount, limit
                    )
                );
                _validateAs(op, hash);
            } else {
                _validateAs(op, hash);
                total += amount;
            }
            assertEq(validator.spentOf(account, SessionEncoding.sessionId(session), address(legacy)), total);
        }
    }
}
