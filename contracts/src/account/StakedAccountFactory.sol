// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IEntryPoint} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {KeyscopeAccount} from "./KeyscopeAccount.sol";
import {KeyscopeAccountFactory} from "./KeyscopeAccountFactory.sol";

/// @title StakedAccountFactory
/// @notice A stakeable front for one {KeyscopeAccountFactory}: the same {createAccount} and {getAddress} (so the same
/// accounts, at the same addresses), plus an EntryPoint stake managed by an owner. Put it in a user operation's
/// `initCode` instead of the factory it fronts, and the first operation of an undeployed account may touch the
/// account's associated storage in other contracts (the session-key validator's, when a session is granted at
/// creation or enabled in the same operation), which ERC-7562 allows only when the factory is staked (STO-022).
/// @dev The fronted factory stays ownerless and at the same address on every chain; each provider deploys its own front
/// (the owner is a constructor argument, so the front's CREATE2 address depends on it) and stakes it in the
/// EntryPoint the fronted factory's accounts trust. Only the owner may add stake: anybody else could raise the
/// unstake delay and lock the owner's stake for as long as they like.
contract StakedAccountFactory is Ownable {
    /// @notice The factory every account is created through.
    KeyscopeAccountFactory public immutable ACCOUNT_FACTORY;

    /// @notice The EntryPoint the stake is held in: the one the fronted factory's accounts trust.
    IEntryPoint public immutable ENTRY_POINT;

    /// @notice The fronted factory is the zero address.
    /// @param factory The factory that was given.
    error StakedFactoryZeroAddress(address factory);

    /// @notice Creates a front for `factory`, whose stake `owner` manages.
    /// @param factory The {KeyscopeAccountFactory} to front.
    /// @param owner The address that may add, unlock and withdraw the stake.
    constructor(KeyscopeAccountFactory factory, address owner) Ownable(owner) {
        if (address(factory) == address(0)) revert StakedFactoryZeroAddress(address(factory));
        ACCOUNT_FACTORY = factory;
        ENTRY_POINT = factory.ACCOUNT_IMPLEMENTATION().entryPoint();
    }

    /// @notice Deploys (or returns the already deployed) account, exactly as {KeyscopeAccountFactory-createAccount}.
    /// @param owner The ECDSA owner registered in the owner validator.
    /// @param salt A user-chosen salt, to have several accounts per owner.
    /// @param extraValidators Further validator modules to install at creation (may be empty).
    /// @param extraInitData The `onInstall` data of each extra validator, in the same order.
    /// @return The account at {getAddress} for the same arguments.
    function createAccount(
        address owner,
        uint256 salt,
        address[] calldata extraValidators,
        bytes[] calldata extraInitData
    ) external returns (KeyscopeAccount) {
        return ACCOUNT_FACTORY.createAccount(owner, salt, extraValidators, extraInitData);
    }

    /// @notice Predicts the address {createAccount} deploys to, exactly as {KeyscopeAccountFactory-getAddress}.
    /// @param owner The ECDSA owner registered in the owner validator.
    /// @param salt The user-chosen salt.
    /// @param extraValidators Further validator modules installed at creation.
    /// @param extraInitData The `onInstall` data of each extra validator.
    /// @return The counterfactual account address.
    function getAddress(address owner, uint256 salt, address[] calldata extraValidators, bytes[] calldata extraInitData)
        external
        view
        returns (address)
    {
        return ACCOUNT_FACTORY.getAddress(owner, salt, extraValidators, extraInitData);
    }

    /// @notice Adds `msg.value` to this front's stake in {ENTRY_POINT} and sets its unstake delay.
    /// @param unstakeDelaySec The unstake delay; the EntryPoint refuses one shorter than the current delay, and
    /// ERC-7562 bundlers require at least one day (and a minimum stake set by each chain's bundlers).
    function addStake(uint32 unstakeDelaySec) external payable onlyOwner {
        ENTRY_POINT.addStake{value: msg.value}(unstakeDelaySec);
    }

    /// @notice Starts the unstake delay; the front counts as unstaked from now on.
    function unlockStake() external onlyOwner {
        ENTRY_POINT.unlockStake();
    }

    /// @notice Withdraws the whole stake once the unstake delay has passed.
    /// @param to Where the stake goes.
    function withdrawStake(address payable to) external onlyOwner {
        ENTRY_POINT.withdrawStake(to);
    }
}
