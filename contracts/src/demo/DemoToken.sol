// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title DemoToken
/// @notice Freely mintable ERC-20 used by the end-to-end demos. Not for production: anyone may mint.
contract DemoToken is ERC20 {
    /// @notice Deploys the token as "Keyscope Demo Token" (DEMO), 18 decimals, no initial supply.
    constructor() ERC20("Keyscope Demo Token", "DEMO") {}

    /// @notice Mints `amount` tokens to `to`. Anyone may call.
    /// @param to The recipient of the new tokens.
    /// @param amount The amount to mint, in the token's smallest unit.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
