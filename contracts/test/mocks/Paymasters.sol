// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, IPaymaster, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";

/// @notice A paymaster that sponsors everything (same interface on EntryPoint v0.7 and v0.8).
contract SponsorPaymaster {
    function validatePaymasterUserOp(PackedUserOperation calldata, bytes32, uint256)
        external
        pure
        returns (bytes memory context, uint256 validationData)
    {
        return ("", 0);
    }

    function postOp(uint8, bytes calldata, uint256, uint256) external pure {}
}

/// @notice A paymaster that pays for every operation the EntryPoint shows it.
contract TestPaymaster is IPaymaster {
    IEntryPoint public immutable ENTRY_POINT;

    constructor(IEntryPoint entryPoint) {
        ENTRY_POINT = entryPoint;
    }

    /// Stakes `stake` and deposits the rest of `msg.value` in the EntryPoint.
    function fund(uint256 stake) external payable {
        ENTRY_POINT.addStake{value: stake}(1 days);
        ENTRY_POINT.depositTo{value: msg.value - stake}(address(this));
    }

    function validatePaymasterUserOp(PackedUserOperation calldata, bytes32, uint256)
        external
        view
        returns (bytes memory context, uint256 validationData)
    {
        require(msg.sender == address(ENTRY_POINT), "TestPaymaster: not the EntryPoint");
        return ("", 0);
    }

    function postOp(PostOpMode, bytes calldata, uint256, uint256) external view {
        require(msg.sender == address(ENTRY_POINT), "TestPaymaster: not the EntryPoint");
    }
}
