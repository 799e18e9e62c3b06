// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A target that records every call it receives (sender, value, calldata) and answers `true`, so it also
///         stands in for an ERC-20 whose movements always succeed.
contract Recorder {
    struct Call {
        address from;
        uint256 value;
        bytes data;
    }

    Call[] private _calls;

    /// @notice Number of calls recorded so far.
    function recordedCount() external view returns (uint256) {
        return _calls.length;
    }

    /// @notice Call `i` as recorded.
    function recorded(uint256 i) external view returns (address from, uint256 value, bytes memory data) {
        Call storage call = _calls[i];
        return (call.from, call.value, call.data);
    }

    fallback(bytes calldata data) external payable returns (bytes memory) {
        _calls.push(Call({from: msg.sender, value: msg.value, data: data}));
        return abi.encode(true);
    }

    receive() external payable {
        _calls.push(Call({from: msg.sender, value: msg.value, data: ""}));
    }
}
