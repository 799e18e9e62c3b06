// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Paymaster} from "@openzeppelin/contracts/account/paymaster/Paymaster.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SponsorPaymaster} from "../../src/paymaster/SponsorPaymaster.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";

/// @notice Sponsored session operations through `handleOps`: the sponsor's signature pays, anything else is refused by
/// the EntryPoint (AA34 / AA32), and the session's `Exactly` paymaster policy pins the paymaster.
contract SponsorPaymasterTest is SessionLifecycleBase {
    uint128 internal constant PAYMASTER_VERIFICATION_GAS = 60_000;
    uint128 internal constant PAYMASTER_POST_OP_GAS = 0;
    uint256 internal constant SPONSOR_KEY = uint256(keccak256("keyscope.test.sponsor"));
    /// The sponsorship window: from the session's start (the tests run at START + 1) for an hour.
    uint48 internal constant WINDOW_START = START;
    uint48 internal constant WINDOW_END = START + 1 hours;

    /// Per EntryPoint version, the sponsor's paymaster, funded.
    SponsorPaymaster[2] internal paymasters;
    address internal paymasterOwner;

    function setUp() public virtual override {
        super.setUp();
        paymasterOwner = makeAddr("paymasterOwner");
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            paymasters[i] = new SponsorPaymaster(envs[i].entryPoint, vm.addr(SPONSOR_KEY), paymasterOwner);
            vm.deal(address(this), address(this).balance + 10 ether);
            paymasters[i].deposit{value: 10 ether}();
            token.mint(_account(envs[i]), 1000);
        }
    }

    function _paymaster() internal view returns (SponsorPaymaster) {
        return paymasters[uint256(currentEnv.version)];
    }

    /// A session that may only transfer tokens, and only with the sponsor's paymaster paying.
    function _sponsoredSession() internal returns (SessionTypes.Session memory session) {
        session = _singleLeafSession(_transferPermission());
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.Exactly;
        session.paymaster = address(_paymaster());
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
    }

    /// `paymasterAndData` with the sponsor's (or `signer`'s) signature over `op` and the window.
    function _sponsor(PackedUserOperation memory op, uint256 signer, uint48 validAfter, uint48 validUntil)
        internal
        view
    {
        op.paymasterAndData = abi.encodePacked(
            address(_paymaster()), PAYMASTER_VERIFICATION_GAS, PAYMASTER_POST_OP_GAS, validAfter, validUntil
        );
        bytes32 hash = _paymaster().sponsorshipHash(op, validAfter, validUntil);
        op.paymasterAndData = abi.encodePacked(op.paymasterAndData, _sign(signer, hash));
    }

    /// A 10-token transfer under `session`, sponsored by `signer` for the window, then signed by the session key.
    function _sponsoredOp(SessionTypes.Session memory session, uint256 signer, uint48 validAfter, uint48 validUntil)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op = _sessionOp(currentEnv.entryPoint, _account(currentEnv), _transferCall(10), "");
        _sponsor(op, signer, validAfter, validUntil);
        _signTransfer(op, session);
    }

    /// Signs `op` with the session key, presenting the transfer permission (kept apart from the callers' locals:
    /// the via-IR pipeline runs out of stack slots when it inlines the signature encoding into them).
    function _signTransfer(PackedUserOperation memory op, SessionTypes.Session memory session) internal view {
        _signUse(
            currentEnv.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY
        );
    }

    function test_handleOps_paysFromPaymasterDeposit_sponsoredSessionOp() public onEachEntryPoint {
        SessionTypes.Session memory session = _sponsoredSession();
        address account = _account(currentEnv);
        uint256 accountDeposit = currentEnv.entryPoint.balanceOf(account);
        uint256 accountBalance = account.balance;
        uint256 paymasterDeposit = currentEnv.entryPoint.balanceOf(address(_paymaster()));

        _handleOp(currentEnv.entryPoint, _sponsoredOp(session, SPONSOR_KEY, WINDOW_START, WINDOW_END));

        assertEq(token.balanceOf(recipient), 10, "transfer executed");
        assertEq(currentEnv.entryPoint.balanceOf(account), accountDeposit, "account deposit untouched");
        assertEq(account.balance, accountBalance, "account balance untouched");
        assertLt(currentEnv.entryPoint.balanceOf(address(_paymaster())), paymasterDeposit, "paymaster paid");
    }

    function test_handleOps_reverts_AA34_signedByOtherKey() public onEachEntryPoint {
        SessionTypes.Session memory session = _sponsoredSession();
        PackedUserOperation memory op = _sponsoredOp(session, OTHER_KEY, WINDOW_START, WINDOW_END);
        _handleOpExpectRevert(currentEnv.entryPoint, op, _failedOp(0, "AA34 signature error"));
    }

    function test_handleOps_reverts_AA34_operationChangedAfterSponsoring() public onEachEntryPoint {
        SessionTypes.Session memory session = _sponsoredSession();
        PackedUserOperation memory op = _sessionOp(currentEnv.entryPoint, _account(currentEnv), _transferCall(10), "");
        _sponsor(op, SPONSOR_KEY, WINDOW_START, WINDOW_END);
        op.callData = _transferCall(11);
        _signUse(
            currentEnv.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY
        );
        _handleOpExpectRevert(currentEnv.entryPoint, op, _failedOp(0, "AA34 signature error"));
    }

    function test_handleOps_reverts_AA34_truncatedSignature() public onEachEntryPoint {
        SessionTypes.Session memory session = _sponsoredSession();
        PackedUserOperation memory op = _sessionOp(currentEnv.entryPoint, _account(currentEnv), _transferCall(10), "");
        op.paymasterAndData = abi.encodePacked(
            address(_paymaster()), PAYMASTER_VERIFICATION_GAS, PAYMASTER_POST_OP_GAS, WINDOW_START, WINDOW_END, hex"01"
        );
        _signUse(
            currentEnv.entryPoint, op, session, SessionEncoding.one(_transferPermission(), _noProof()), SESSION_KEY
        );
        _handleOpExpectRevert(currentEnv.entryPoint, op, _failedOp(0, "AA34 signature error"));
    }

    function test_handleOps_reverts_AA32_sponsorshipExpired() public onEachEntryPoint {
        SessionTypes.Session memory session = _sponsoredSession();
        PackedUserOperation memory op = _sponsoredOp(session, SPONSOR_KEY, WINDOW_START, WINDOW_END);
        vm.warp(WINDOW_END + 1);
        _handleOpExpectRevert(currentEnv.entryPoint, op, _failedOp(0, "AA32 paymaster expired or not due"));
    }

    function test_handleOps_reverts_AA32_sponsorshipNotDue() public onEachEntryPoint {
        SessionTypes.Session memory session = _sponsoredSession();
        PackedUserOperation memory op = _sponsoredOp(session, SPONSOR_KEY, START + 2, WINDOW_END);
        _handleOpExpectRevert(currentEnv.entryPoint, op, _failedOp(0, "AA32 paymaster expired or not due"));
    }

    function test_validateUserOp_reverts_PaymasterNotAllowed_sessionPinnedToOtherPaymaster() public onEachEntryPoint {
        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.Exactly;
        session.paymaster = makeAddr("anotherPaymaster");
        _grant(currentEnv.entryPoint, _account(currentEnv), session);
        PackedUserOperation memory op = _sponsoredOp(session, SPONSOR_KEY, WINDOW_START, WINDOW_END);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.PaymasterNotAllowed.selector,
                uint8(SessionTypes.PaymasterPolicy.Exactly),
                address(_paymaster())
            )
        );
    }

    function test_validatePaymasterUserOp_reverts_PaymasterUnauthorized_notEntryPoint() public onEachEntryPoint {
        PackedUserOperation memory op = _sessionOp(currentEnv.entryPoint, _account(currentEnv), "", "");
        vm.expectRevert(abi.encodeWithSelector(Paymaster.PaymasterUnauthorized.selector, address(this)));
        _paymaster().validatePaymasterUserOp(op, bytes32(0), 0);
    }

    function test_withdraw_movesDeposit_byOwner() public onEachEntryPoint {
        address payable to = payable(makeAddr("treasury"));
        vm.prank(paymasterOwner);
        _paymaster().withdraw(to, 1 ether);
        assertEq(to.balance, 1 ether);
        assertEq(currentEnv.entryPoint.balanceOf(address(_paymaster())), 9 ether);
    }

    function test_withdraw_reverts_OwnableUnauthorizedAccount_notOwner() public onEachEntryPoint {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        _paymaster().withdraw(payable(address(this)), 1 ether);
    }

    function test_addStake_stakes_byOwner() public onEachEntryPoint {
        vm.deal(paymasterOwner, 1 ether);
        vm.prank(paymasterOwner);
        _paymaster().addStake{value: 1 ether}(1 days);
        (bool ok, bytes memory info) = address(currentEnv.entryPoint)
            .staticcall(abi.encodeWithSignature("getDepositInfo(address)", address(_paymaster())));
        assertTrue(ok);
        (, bool staked, uint112 stake, uint32 delay,) = abi.decode(info, (uint256, bool, uint112, uint32, uint48));
        assertTrue(staked);
        assertEq(stake, 1 ether);
        assertEq(delay, 1 days);
    }

    function test_addStake_reverts_OwnableUnauthorizedAccount_notOwner() public onEachEntryPoint {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        _paymaster().addStake{value: 1}(1 days);
    }

    function test_constructor_reverts_SponsorPaymasterZeroAddress_zeroSponsor() public {
        vm.expectRevert(
            abi.encodeWithSelector(
                SponsorPaymaster.SponsorPaymasterZeroAddress.selector, address(entryPointV07), address(0)
            )
        );
        new SponsorPaymaster(entryPointV07, address(0), paymasterOwner);
    }

    function testFuzz_handleOps_reverts_AA34_anyOtherSigner(uint256 signer) public {
        signer = bound(signer, 1, SECP256K1_N - 1);
        vm.assume(signer != SPONSOR_KEY);
        currentEnv = _env(EntryPointVersion.V08);
        SessionTypes.Session memory session = _sponsoredSession();
        PackedUserOperation memory op = _sponsoredOp(session, signer, WINDOW_START, WINDOW_END);
        _handleOpExpectRevert(currentEnv.entryPoint, op, _failedOp(0, "AA34 signature error"));
    }
}
