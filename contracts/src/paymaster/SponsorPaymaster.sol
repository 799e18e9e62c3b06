// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {PaymasterSigner} from "@openzeppelin/contracts/account/paymaster/extensions/PaymasterSigner.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @title SponsorPaymaster
/// @notice Pays the gas of user operations that its sponsor signed: OpenZeppelin's {PaymasterSigner}, with an ECDSA
/// sponsor key fixed at deployment and an owner who manages the deposit and the stake. `paymasterData` is
/// `validAfter (6 bytes) ‖ validUntil (6 bytes) ‖ the sponsor's 65-byte signature` over the EIP-712
/// `UserOperationRequest` of the operation (every field but the signature and the paymaster data), so a sponsorship
/// is for one operation, within a time window the EntryPoint enforces.
/// @dev Validation reads no storage and keeps no context (no `postOp`), so an unstaked deployment passes ERC-7562
/// bundlers. The sponsor key is an immutable: rotating it means deploying another paymaster. One deployment per
/// EntryPoint version (the EntryPoint is a constructor argument).
contract SponsorPaymaster is PaymasterSigner, Ownable {
    /// @notice The EntryPoint this paymaster deposits in and answers to.
    IEntryPoint private immutable _ENTRY_POINT;

    /// @notice The address whose signatures sponsor operations.
    address public immutable SPONSOR;

    /// @notice A constructor argument is the zero address.
    /// @param entryPoint The EntryPoint that was given.
    /// @param sponsor The sponsor that was given.
    error SponsorPaymasterZeroAddress(address entryPoint, address sponsor);

    /// @notice Deploys a paymaster for `entryPoint_` that pays for what `sponsor` signs.
    /// @param entryPoint_ The EntryPoint (v0.7 or v0.8).
    /// @param sponsor The sponsor's address (its key signs the paymaster data, off chain).
    /// @param owner The address that may withdraw the deposit and manage the stake.
    constructor(IEntryPoint entryPoint_, address sponsor, address owner)
        EIP712("SponsorPaymaster", "1")
        Ownable(owner)
    {
        if (address(entryPoint_) == address(0) || sponsor == address(0)) {
            revert SponsorPaymasterZeroAddress(address(entryPoint_), sponsor);
        }
        _ENTRY_POINT = entryPoint_;
        SPONSOR = sponsor;
    }

    /// @notice The EntryPoint this paymaster deposits in and answers to.
    /// @return The EntryPoint given at deployment.
    function entryPoint() public view override returns (IEntryPoint) {
        return _ENTRY_POINT;
    }

    /// @notice The EIP-712 hash the sponsor signs for `userOp` and the window.
    /// @param userOp The operation, with its paymaster gas limits set (the paymaster data itself is not hashed).
    /// @param validAfter The sponsorship's start (seconds; 0 for none).
    /// @param validUntil The sponsorship's end (seconds; 0 for none).
    /// @return The digest for the sponsor's ECDSA signature.
    function sponsorshipHash(PackedUserOperation calldata userOp, uint48 validAfter, uint48 validUntil)
        external
        view
        returns (bytes32)
    {
        return _signableUserOpHash(userOp, validAfter, validUntil);
    }

    /// @notice Adds `msg.value` to this paymaster's deposit, which pays for the operations it sponsors. Anyone may.
    function deposit() external payable {
        _deposit(msg.value);
    }

    /// @notice Withdraws from the deposit.
    /// @param to Where the value goes.
    /// @param value How much (wei).
    function withdraw(address payable to, uint256 value) external onlyOwner {
        _withdraw(to, value);
    }

    /// @notice Adds `msg.value` to the stake and sets the unstake delay (a stake is optional: validation reads no
    /// storage).
    /// @param unstakeDelaySec The unstake delay.
    function addStake(uint32 unstakeDelaySec) external payable onlyOwner {
        _addStake(msg.value, unstakeDelaySec);
    }

    /// @notice Starts the unstake delay.
    function unlockStake() external onlyOwner {
        _unlockStake();
    }

    /// @notice Withdraws the stake after the unstake delay.
    /// @param to Where the stake goes.
    function withdrawStake(address payable to) external onlyOwner {
        _withdrawStake(to);
    }

    /// @dev The sponsor's ECDSA signature; a malformed one is a failed validation, never a revert.
    function _rawSignatureValidation(bytes32 hash, bytes calldata signature) internal view override returns (bool) {
        (address recovered, ECDSA.RecoverError error,) = ECDSA.tryRecoverCalldata(hash, signature);
        return error == ECDSA.RecoverError.NoError && recovered == SPONSOR;
    }
}
