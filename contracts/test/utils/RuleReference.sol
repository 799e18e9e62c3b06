// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";

/// @notice Reference implementation of the argument-rule operators.
library RuleRef {
    function holds(SessionTypes.RuleOperator operator, bytes32 arg, bytes32[] memory operands)
        internal
        pure
        returns (bool)
    {
        uint256 a = uint256(arg);
        int256 sa = int256(a);
        if (operator == SessionTypes.RuleOperator.OneOf) {
            for (uint256 i; i < operands.length; ++i) {
                if (operands[i] == arg) return true;
            }
            return false;
        }
        uint256 b = uint256(operands[0]);
        int256 sb = int256(b);
        if (operator == SessionTypes.RuleOperator.Eq) return a == b;
        if (operator == SessionTypes.RuleOperator.Ne) return a != b;
        if (operator == SessionTypes.RuleOperator.Lt) return a < b;
        if (operator == SessionTypes.RuleOperator.Lte) return a <= b;
        if (operator == SessionTypes.RuleOperator.Gt) return a > b;
        if (operator == SessionTypes.RuleOperator.Gte) return a >= b;
        if (operator == SessionTypes.RuleOperator.SignedLt) return sa < sb;
        if (operator == SessionTypes.RuleOperator.SignedLte) return sa <= sb;
        if (operator == SessionTypes.RuleOperator.SignedGt) return sa > sb;
        if (operator == SessionTypes.RuleOperator.SignedGte) return sa >= sb;
        uint256 c = uint256(operands[1]);
        if (operator == SessionTypes.RuleOperator.InRange) return b <= a && a <= c;
        if (operator == SessionTypes.RuleOperator.SignedInRange) return sb <= sa && sa <= int256(c);
        return a & b == c; // Bitmask
    }
}
