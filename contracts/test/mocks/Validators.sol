// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ERC4337Utils} from "@openzeppelin/contracts/account/utils/ERC4337Utils.sol";
import {IERC7579Validator, MODULE_TYPE_VALIDATOR} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";

/// @notice Validator that approves every signature inside a fixed validity window (to exercise AA22).
contract MockTimeboundValidator is IERC7579Validator {
    /// @notice Start of the validity window.
    uint48 public immutable VALID_AFTER;
    /// @notice End of the validity window.
    uint48 public immutable VALID_UNTIL;

    /// @notice Sets the validity window.
    /// @param validAfter Start of the window.
    /// @param validUntil End of the window.
    constructor(uint48 validAfter, uint48 validUntil) {
        VALID_AFTER = validAfter;
        VALID_UNTIL = validUntil;
    }

    /// @notice No-op install.
    function onInstall(bytes calldata) external {}

    /// @notice No-op uninstall.
    function onUninstall(bytes calldata) external {}

    /// @notice A validator.
    /// @param moduleTypeId The module type id.
    /// @return True for the validator type.
    function isModuleType(uint256 moduleTypeId) external pure returns (bool) {
        return moduleTypeId == MODULE_TYPE_VALIDATOR;
    }

    /// @notice Approves with the fixed validity window.
    /// @return The packed validation data.
    function validateUserOp(PackedUserOperation calldata, bytes32) external view returns (uint256) {
        return ERC4337Utils.packValidationData(true, VALID_AFTER, VALID_UNTIL);
    }

    /// @notice Always invalid.
    /// @return `0xffffffff`.
    function isValidSignatureWithSender(address, bytes32, bytes calldata) external pure returns (bytes4) {
        return 0xffffffff;
    }
}

/// @notice Validator whose validation always reverts (to exercise AA23).
contract MockRevertingValidator is IERC7579Validator {
    /// @notice Always raised by {validateUserOp}.
    /// @param account The calling account.
    /// @param userOpHash The hash it was asked to validate.
    error MockValidationReverted(address account, bytes32 userOpHash);

    /// @notice No-op install.
    function onInstall(bytes calldata) external {}

    /// @notice No-op uninstall.
    function onUninstall(bytes calldata) external {}

    /// @notice A validator.
    /// @param moduleTypeId The module type id.
    /// @return True for the validator type.
    function isModuleType(uint256 moduleTypeId) external pure returns (bool) {
        return moduleTypeId == MODULE_TYPE_VALIDATOR;
    }

    /// @notice Always reverts.
    /// @param userOpHash The hash to validate.
    /// @return Never returns.
    function validateUserOp(PackedUserOperation calldata, bytes32 userOpHash) external view returns (uint256) {
        revert MockValidationReverted(msg.sender, userOpHash);
    }

    /// @notice Always invalid.
    /// @return `0xffffffff`.
    function isValidSignatureWithSender(address, bytes32, bytes calldata) external pure returns (bytes4) {
        return 0xffffffff;
    }
}
