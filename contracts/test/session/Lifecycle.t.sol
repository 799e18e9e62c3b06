// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionTestBase} from "../utils/SessionTestBase.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";

contract LifecycleTest is SessionTestBase {
    function test_validateUserOp_transfers_whenGrantedByOwner() public {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            address account = address(envs[i].account);
            token.mint(account, 1000);
            SessionTypes.Permission memory permission = _permission(address(token), IERC20.transfer.selector);
            SessionTypes.Session memory session = _singleLeafSession(permission);
            _grant(envs[i].entryPoint, account, session);
            bytes memory callData = _executeSingle(address(token), 0, abi.encodeCall(IERC20.transfer, (bundler, 100)));
            PackedUserOperation memory op =
                _useOp1(envs[i].entryPoint, account, callData, session, permission, _noProof());
            _handleOp(envs[i].entryPoint, op);
            assertEq(token.balanceOf(bundler), 100 * (i + 1));
        }
    }
}
