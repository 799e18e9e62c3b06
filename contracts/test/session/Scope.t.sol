// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7579ModuleConfig, MODULE_TYPE_VALIDATOR} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {ArgTarget} from "../mocks/ArgTarget.sol";
import {ScopeTestBase} from "../utils/ScopeTestBase.sol";

/// @notice Targets, selectors, native transfers and per-call value: what one call may do.
contract ScopeTest is ScopeTestBase {
    address internal recipient = makeAddr("recipient");

    // ------------------------------------------------------------------------------------------------------------
    // Target
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_executes_whenTargetAndSelectorMatch() public onEachEntryPoint {
        PackedUserOperation memory op =
            _grantedOp1(currentEnv, _actPermission(), address(target), 0, _act(7, -7, recipient, bytes32(uint256(9))));
        _handleOp(currentEnv.entryPoint, op);
        assertEq(target.calls(), 1, "act executed");
        assertEq(target.lastA(), 7);
        assertEq(target.lastB(), -7);
        assertEq(target.lastC(), recipient);
    }

    function test_validateUserOp_reverts_whenTargetNotAllowed() public onEachEntryPoint {
        PackedUserOperation memory op =
            _grantedOp1(currentEnv, _actPermission(), address(otherTarget), 0, _act(1, 1, recipient, bytes32(0)));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.TargetNotAllowed.selector, 0, address(otherTarget), address(target)
            )
        );
        assertEq(otherTarget.calls(), 0);
    }

    function test_validateUserOp_reverts_whenTargetIsAnEoaOtherThanAllowed() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _permission(address(target), bytes4(0));
        permission.flags = SessionTypes.FLAG_NATIVE_TRANSFER;
        permission.valueLimit = 1 ether;
        PackedUserOperation memory op = _grantedOp1(env, permission, recipient, 1, "");
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.TargetNotAllowed.selector, 0, recipient, address(target))
        );
    }

    function test_validateUserOp_executes_whenAnyTargetCallsAnyContract() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _permission(address(0), ArgTarget.act.selector);
        permission.flags = SessionTypes.FLAG_ANY_TARGET;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        ArgTarget third = new ArgTarget();
        _grantOn(currentEnv, session);
        address[3] memory targets = [address(target), address(otherTarget), address(third)];
        for (uint256 t; t < targets.length; ++t) {
            PackedUserOperation memory op =
                _op1(currentEnv, session, permission, targets[t], 0, _act(t, 0, recipient, bytes32(0)));
            _handleOp(currentEnv.entryPoint, op);
        }
        assertEq(target.calls(), 1);
        assertEq(otherTarget.calls(), 1);
        assertEq(third.calls(), 1);
    }

    function test_validateUserOp_reverts_whenAnyTargetCallsTheAccount() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Permission memory permission = _permission(address(0), IERC7579ModuleConfig.installModule.selector);
        permission.flags = SessionTypes.FLAG_ANY_TARGET;
        bytes memory data = abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, recipient, ""));
        PackedUserOperation memory op = _grantedOp1(currentEnv, permission, account, 0, data);
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, account)
        );
    }

    /// OpenZeppelin's AccountERC7579 executes a call to target address(0) on the account itself.
    function test_validateUserOp_reverts_whenAnyTargetCallsZeroAddress() public onEachEntryPoint {
        SessionTypes.Permission memory permission = _permission(address(0), IERC7579ModuleConfig.installModule.selector);
        permission.flags = SessionTypes.FLAG_ANY_TARGET;
        bytes memory data = abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, recipient, ""));
        PackedUserOperation memory op = _grantedOp1(currentEnv, permission, address(0), 0, data);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, address(0))
        );
    }

    function test_validateUserOp_reverts_whenAnyTargetCallsTheValidator() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _permission(address(0), ISessionKeyValidator.grantSession.selector);
        permission.flags = SessionTypes.FLAG_ANY_TARGET;
        // The session key tries to grant itself a session with every permission.
        SessionTypes.Session memory escalated = _session(keccak256("everything"));
        bytes memory data = abi.encodeCall(ISessionKeyValidator.grantSession, (escalated));
        PackedUserOperation memory op = _grantedOp1(env, permission, address(validator), 0, data);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, address(validator))
        );
    }

    function test_validateUserOp_reverts_whenExactTargetIsTheAccount() public {
        AccountEnv memory env = _v08();
        address account = address(env.account);
        SessionTypes.Permission memory permission = _permission(account, IERC7579ModuleConfig.installModule.selector);
        bytes memory data = abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, recipient, ""));
        PackedUserOperation memory op = _grantedOp1(env, permission, account, 0, data);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, account)
        );
    }

    function test_validateUserOp_reverts_whenExactTargetIsTheValidator() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission =
            _permission(address(validator), ISessionKeyValidator.revokeAllSessions.selector);
        bytes memory data = abi.encodeCall(ISessionKeyValidator.revokeAllSessions, ());
        PackedUserOperation memory op = _grantedOp1(env, permission, address(validator), 0, data);
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, address(validator))
        );
    }

    function test_validateUserOp_reverts_whenExactTargetIsZeroAddress() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission =
            _permission(address(0), IERC7579ModuleConfig.uninstallModule.selector);
        bytes memory data =
            abi.encodeCall(IERC7579ModuleConfig.uninstallModule, (MODULE_TYPE_VALIDATOR, address(ownerValidator), ""));
        PackedUserOperation memory op = _grantedOp1(env, permission, address(0), 0, data);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, address(0))
        );
    }

    function test_validateUserOp_reverts_whenAnyTargetWithNonZeroTarget() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        permission.flags = SessionTypes.FLAG_ANY_TARGET;
        PackedUserOperation memory op =
            _grantedOp1(env, permission, address(target), 0, _act(1, 1, recipient, bytes32(0)));
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.InvalidPermissionFlags.selector, 0, SessionTypes.FLAG_ANY_TARGET
            )
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Flags
    // ------------------------------------------------------------------------------------------------------------

    /// 32 is FLAG_TYPED_DATA: a typed-data permission never authorises a call to its verifying contract.
    function test_validateUserOp_reverts_whenUnknownFlagBits() public {
        AccountEnv memory env = _v08();
        uint8[5] memory flags = [uint8(32), 33, 64, 128, 255];
        for (uint256 i; i < flags.length; ++i) {
            SessionTypes.Permission memory permission = _actPermission();
            permission.flags = flags[i];
            PackedUserOperation memory op =
                _grantedOp1(env, permission, address(target), 0, _act(1, 1, recipient, bytes32(0)));
            _expectScopeError(
                env.entryPoint,
                op,
                abi.encodeWithSelector(ISessionKeyValidator.InvalidPermissionFlags.selector, 0, flags[i])
            );
        }
    }

    /// Any flag byte with a bit outside ALL_FLAGS (FLAG_TYPED_DATA included) is rejected, whatever the other fields.
    function testFuzz_validateUserOp_reverts_whenUnknownFlagBits(uint8 flags) public {
        flags = uint8(bound(flags, 32, 255));
        address account = address(accountV08);
        SessionTypes.Permission memory permission = _actPermission();
        permission.flags = flags;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantDirect(account, session);
        (PackedUserOperation memory op, bytes32 hash) = _directOp(
            account,
            _executeSingle(address(target), 0, _act(1, 1, recipient, bytes32(0))),
            session,
            _oneCall(permission)
        );
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.InvalidPermissionFlags.selector, 0, flags));
        _validateAs(op, hash);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Selector
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenSelectorNotAllowed() public onEachEntryPoint {
        PackedUserOperation memory op =
            _grantedOp1(currentEnv, _actPermission(), address(target), 0, abi.encodeCall(ArgTarget.other, ()));
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.SelectorNotAllowed.selector, 0, ArgTarget.other.selector, ArgTarget.act.selector
            )
        );
    }

    function test_validateUserOp_reverts_whenCalldataShorterThanSelector() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        bytes memory act = abi.encodePacked(ArgTarget.act.selector);
        for (uint256 length; length < 4; ++length) {
            // The first `length` bytes of act's own selector: a prefix is not the selector.
            bytes memory data = new bytes(length);
            for (uint256 b; b < length; ++b) {
                data[b] = act[b];
            }
            PackedUserOperation memory op = _op1(env, session, permission, address(target), 0, data);
            _expectScopeError(
                env.entryPoint,
                op,
                abi.encodeWithSelector(
                    ISessionKeyValidator.SelectorNotAllowed.selector, 0, bytes4(0), ArgTarget.act.selector
                )
            );
        }
    }

    /// A zero selector permits calls whose calldata starts with four zero bytes, never empty calldata (receive).
    function test_validateUserOp_reverts_whenZeroSelectorPermissionGetsEmptyCalldata() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _permission(address(target), bytes4(0));
        permission.valueLimit = 1 ether;
        PackedUserOperation memory op = _grantedOp1(env, permission, address(target), 1, "");
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.SelectorNotAllowed.selector, 0, bytes4(0), bytes4(0))
        );
        assertEq(target.received(), 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Native transfers
    // ------------------------------------------------------------------------------------------------------------

    function _nativePermission(address to, uint256 valueLimit)
        internal
        pure
        returns (SessionTypes.Permission memory p)
    {
        p.target = to;
        p.flags = SessionTypes.FLAG_NATIVE_TRANSFER;
        p.valueLimit = valueLimit;
    }

    function test_validateUserOp_transfersEth_whenNativeTransferWithEmptyCalldata() public onEachEntryPoint {
        uint256 accountBalance = address(currentEnv.account).balance;
        PackedUserOperation memory op =
            _grantedOp1(currentEnv, _nativePermission(recipient, 1 ether), recipient, 0.25 ether, "");
        _handleOp(currentEnv.entryPoint, op);
        assertEq(recipient.balance, 0.25 ether, "recipient paid");
        assertEq(address(currentEnv.account).balance, accountBalance - 0.25 ether, "paid by the account");
    }

    function test_validateUserOp_transfersEth_whenAnyTargetNativeTransfer() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _nativePermission(address(0), 1 ether);
        permission.flags |= SessionTypes.FLAG_ANY_TARGET;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        _handleOp(env.entryPoint, _op1(env, session, permission, recipient, 1 ether, ""));
        _handleOp(env.entryPoint, _op1(env, session, permission, address(target), 0.5 ether, ""));
        assertEq(recipient.balance, 1 ether);
        assertEq(target.received(), 0.5 ether);

        // ...but never to the account, the validator or address(0).
        address[3] memory forbidden = [address(env.account), address(validator), address(0)];
        for (uint256 i; i < forbidden.length; ++i) {
            PackedUserOperation memory op = _op1(env, session, permission, forbidden[i], 1, "");
            _expectScopeError(
                env.entryPoint,
                op,
                abi.encodeWithSelector(ISessionKeyValidator.ForbiddenTarget.selector, 0, forbidden[i])
            );
        }
    }

    function test_validateUserOp_reverts_whenNativeTransferCarriesCalldata() public {
        AccountEnv memory env = _v08();
        token.mint(address(env.account), 1000);
        PackedUserOperation memory op = _grantedOp1(
            env,
            _nativePermission(address(token), 1 ether),
            address(token),
            0,
            abi.encodeCall(IERC20.transfer, (recipient, 1000))
        );
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.NativeTransferWithCalldata.selector, 0)
        );
        assertEq(token.balanceOf(recipient), 0);
    }

    function test_validateUserOp_reverts_whenNativeTransferCarriesOneByte() public {
        AccountEnv memory env = _v08();
        PackedUserOperation memory op =
            _grantedOp1(env, _nativePermission(address(target), 1 ether), address(target), 1, hex"00");
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.NativeTransferWithCalldata.selector, 0)
        );
    }

    function test_validateUserOp_reverts_whenNativeTransferHasSelector() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _nativePermission(recipient, 1 ether);
        permission.selector = IERC20.transfer.selector;
        PackedUserOperation memory op = _grantedOp1(env, permission, recipient, 1, "");
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.InvalidPermissionFlags.selector, 0, SessionTypes.FLAG_NATIVE_TRANSFER
            )
        );
    }

    function test_validateUserOp_reverts_whenNativeTransferWithErc20Total() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _nativePermission(recipient, 1 ether);
        permission.flags |= SessionTypes.FLAG_ERC20_TOTAL;
        permission.erc20TotalLimit = 1 ether;
        PackedUserOperation memory op = _grantedOp1(env, permission, recipient, 1, "");
        _expectScopeError(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.InvalidPermissionFlags.selector,
                0,
                SessionTypes.FLAG_NATIVE_TRANSFER | SessionTypes.FLAG_ERC20_TOTAL
            )
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Per-call value
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_passes_whenValueEqualsLimit() public onEachEntryPoint {
        PackedUserOperation memory op =
            _grantedOp1(currentEnv, _nativePermission(recipient, 1 ether), recipient, 1 ether, "");
        _handleOp(currentEnv.entryPoint, op);
        assertEq(recipient.balance, 1 ether);
    }

    function test_validateUserOp_reverts_whenValueExceedsLimitByOne() public onEachEntryPoint {
        PackedUserOperation memory op =
            _grantedOp1(currentEnv, _nativePermission(recipient, 1 ether), recipient, 1 ether + 1, "");
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(ISessionKeyValidator.ValueLimitExceeded.selector, 0, 1 ether + 1, 1 ether)
        );
        assertEq(recipient.balance, 0);
    }

    function test_validateUserOp_passes_whenPayableCallValueEqualsLimit() public {
        AccountEnv memory env = _v08();
        SessionTypes.Permission memory permission = _actPermission();
        permission.valueLimit = 100;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantOn(env, session);
        bytes memory data = _act(1, 1, recipient, bytes32(0));
        _handleOp(env.entryPoint, _op1(env, session, permission, address(target), 100, data));
        assertEq(target.received(), 100);

        PackedUserOperation memory op = _op1(env, session, permission, address(target), 101, data);
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ValueLimitExceeded.selector, 0, 101, 100)
        );
    }

    function test_validateUserOp_reverts_whenValueSentWithZeroLimit() public {
        AccountEnv memory env = _v08();
        PackedUserOperation memory op =
            _grantedOp1(env, _actPermission(), address(target), 1, _act(1, 1, recipient, bytes32(0)));
        _expectScopeError(
            env.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ValueLimitExceeded.selector, 0, 1, 0)
        );
    }

    function testFuzz_validateUserOp_enforcesValueLimit(uint256 limit, uint256 value) public {
        address account = address(accountV08);
        SessionTypes.Permission memory permission = _nativePermission(recipient, limit);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grantDirect(account, session);
        (PackedUserOperation memory op, bytes32 hash) =
            _directOp(account, _executeSingle(recipient, value, ""), session, _oneCall(permission));
        if (value > limit) {
            vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.ValueLimitExceeded.selector, 0, value, limit));
            _validateAs(op, hash);
        } else {
            (bool sigFailed, uint48 validUntil, uint48 validAfter) = _unpack(_validateAs(op, hash));
            assertFalse(sigFailed);
            assertEq(validUntil, session.validUntil);
            assertEq(validAfter, session.validAfter);
        }
    }
}
