// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Keeps every call any logging target receives, in global order.
contract CallLog {
    struct Entry {
        address target;
        address from;
        uint256 value;
        bytes data;
    }

    Entry[] private _entries;

    function record(address from, uint256 value, bytes calldata data) external {
        _entries.push(Entry({target: msg.sender, from: from, value: value, data: data}));
    }

    function count() external view returns (uint256) {
        return _entries.length;
    }

    function entry(uint256 i) external view returns (Entry memory) {
        return _entries[i];
    }
}

/// @notice A target that accepts any call (any selector, any value) and logs it in the shared {CallLog}.
contract LoggingTarget {
    CallLog private immutable _LOG;

    constructor(CallLog log) {
        _LOG = log;
    }

    fallback(bytes calldata data) external payable returns (bytes memory) {
        _LOG.record(msg.sender, msg.value, data);
        return abi.encode(true);
    }

    receive() external payable {
        _LOG.record(msg.sender, msg.value, "");
    }
}
