// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {KeyscopeAccountFactory} from "../../src/account/KeyscopeAccountFactory.sol";
import {StakedAccountFactory} from "../../src/account/StakedAccountFactory.sol";
import {SessionLifecycleBase} from "../utils/SessionLifecycleBase.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";

/// @notice The stakeable front: same accounts as the factory it fronts, usable in `initCode`, and a stake only its
/// owner manages.
contract StakedAccountFactoryTest is SessionLifecycleBase {
    /// Per EntryPoint version, the front of that version's factory.
    StakedAccountFactory[2] internal fronts;
    address internal stakeOwner;

    function setUp() public virtual override {
        super.setUp();
        stakeOwner = makeAddr("stakeOwner");
        fronts[0] = new StakedAccountFactory(factoryV07, stakeOwner);
        fronts[1] = new StakedAccountFactory(factoryV08, stakeOwner);
    }

    function _front() internal view returns (StakedAccountFactory) {
        return fronts[uint256(currentEnv.version)];
    }

    function _depositInfo(address entity) internal view returns (bool staked, uint112 stake, uint48 withdrawTime) {
        (bool ok, bytes memory info) =
            address(currentEnv.entryPoint).staticcall(abi.encodeWithSignature("getDepositInfo(address)", entity));
        assertTrue(ok);
        (, staked, stake,, withdrawTime) = abi.decode(info, (uint256, bool, uint112, uint32, uint48));
    }

    function test_constructor_bindsEntryPoint_ofFrontedFactory() public onEachEntryPoint {
        assertEq(address(_front().ENTRY_POINT()), address(currentEnv.entryPoint));
        assertEq(address(_front().ACCOUNT_FACTORY()), address(currentEnv.factory));
    }

    function test_constructor_reverts_StakedFactoryZeroAddress_zeroFactory() public {
        vm.expectRevert(abi.encodeWithSelector(StakedAccountFactory.StakedFactoryZeroAddress.selector, address(0)));
        new StakedAccountFactory(KeyscopeAccountFactory(address(0)), stakeOwner);
    }

    function testFuzz_getAddress_equalsFrontedFactory(address accountOwner, uint256 salt) public onEachEntryPoint {
        address[] memory none = new address[](0);
        bytes[] memory noData = new bytes[](0);
        assertEq(
            _front().getAddress(accountOwner, salt, none, noData),
            currentEnv.factory.getAddress(accountOwner, salt, none, noData)
        );
    }

    /// The first operation of an undeployed account, created through the front, enables a session and uses it.
    function test_handleOps_createsAccountAndEnablesSession_throughFront() public onEachEntryPoint {
        uint256 salt = 77;
        address account = _front().getAddress(owner, salt, _sessionValidator(), new bytes[](1));
        assertEq(account.code.length, 0);
        _fundAccount(currentEnv.entryPoint, account);
        token.mint(account, 100);

        SessionTypes.Session memory session = _singleLeafSession(_transferPermission());
        _handleOp(currentEnv.entryPoint, _frontEnableOp(account, salt, session));

        assertGt(account.code.length, 0, "account deployed");
        assertEq(token.balanceOf(recipient), 10, "transfer executed");
        assertEq(uint8(validator.sessionStatus(account, SessionEncoding.sessionId(session))), 1, "session enabled");
    }

    /// `[validator]`: the session-key validator as the one extra validator installed at creation.
    function _sessionValidator() internal view returns (address[] memory validators) {
        validators = new address[](1);
        validators[0] = address(validator);
    }

    /// An enable-mode transfer of 10 tokens from the undeployed `account`, created through the front in `initCode`.
    function _frontEnableOp(address account, uint256 salt, SessionTypes.Session memory session)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op = _sessionOp(currentEnv.entryPoint, account, _transferCall(10), "");
        op.initCode = abi.encodePacked(
            address(_front()),
            abi.encodeCall(StakedAccountFactory.createAccount, (owner, salt, _sessionValidator(), new bytes[](1)))
        );
        // The account will be at epoch 1 once its initCode installed the validator.
        bytes32 digest = _expectedEnableDigest(address(validator), block.chainid, account, 1, session);
        _signEnable(
            currentEnv.entryPoint,
            op,
            session,
            _ownerSignatureOf(digest),
            SessionEncoding.one(_transferPermission(), _noProof()),
            SESSION_KEY
        );
    }

    function test_addStake_unlockStake_withdrawStake_byOwner() public onEachEntryPoint {
        vm.deal(stakeOwner, 2 ether);
        vm.startPrank(stakeOwner);
        _front().addStake{value: 2 ether}(1 days);
        (bool staked, uint112 stake,) = _depositInfo(address(_front()));
        assertTrue(staked);
        assertEq(stake, 2 ether);

        _front().unlockStake();
        uint48 withdrawTime;
        (staked,, withdrawTime) = _depositInfo(address(_front()));
        assertFalse(staked);
        vm.warp(withdrawTime);
        address payable to = payable(makeAddr("treasury"));
        _front().withdrawStake(to);
        vm.stopPrank();
        assertEq(to.balance, 2 ether);
    }

    function test_addStake_reverts_OwnableUnauthorizedAccount_notOwner() public onEachEntryPoint {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        _front().addStake{value: 1 ether}(365 days);
    }

    function test_unlockStake_reverts_OwnableUnauthorizedAccount_notOwner() public onEachEntryPoint {
        vm.deal(stakeOwner, 1 ether);
        vm.prank(stakeOwner);
        _front().addStake{value: 1 ether}(1 days);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        _front().unlockStake();
    }

    function test_withdrawStake_reverts_OwnableUnauthorizedAccount_notOwner() public onEachEntryPoint {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        _front().withdrawStake(payable(address(this)));
    }
}
