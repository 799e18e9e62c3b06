// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Call target with static arguments of every kind, for scope and argument-rule tests.
contract ArgTarget {
    uint256 public calls;
    uint256 public lastA;
    int256 public lastB;
    address public lastC;
    bytes32 public lastD;
    uint256 public received;

    error Failed();

    function act(uint256 a, int256 b, address c, bytes32 d) external payable {
        ++calls;
        lastA = a;
        lastB = b;
        lastC = c;
        lastD = d;
        received += msg.value;
    }

    function other() external payable {
        ++calls;
        received += msg.value;
    }

    function fail() external pure {
        revert Failed();
    }

    receive() external payable {
        received += msg.value;
    }
}
