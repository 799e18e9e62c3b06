// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {KeyscopeAccount} from "../../src/account/KeyscopeAccount.sol";
import {SessionTestBase} from "./SessionTestBase.sol";
import {CallProof, SessionEncoding} from "./SessionEncoding.sol";

/// @notice Helpers shared by the session lifecycle, enable-mode, window and paymaster tests: owner operations whose
///         execution must revert with an exact reason, session operations with a paymaster, an independent EIP-712
///         enable digest, and validation-data decoding.
abstract contract SessionLifecycleBase is SessionTestBase {
    /// @notice EntryPoint (v0.7 and v0.8) event for an operation whose execution reverted.
    event UserOperationRevertReason(
        bytes32 indexed userOpHash, address indexed sender, uint256 nonce, bytes revertReason
    );

    /// @notice A key that is neither the owner nor the default session key.
    uint256 internal constant OTHER_KEY = uint256(keccak256("keyscope.test.other"));

    /// @notice secp256k1 group order.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    /// @notice Receiver of the test transfers.
    address internal recipient;

    function setUp() public virtual override {
        super.setUp();
        recipient = makeAddr("recipient");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Permissions and calls
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Permission to call `token.transfer` with no limits.
    function _transferPermission() internal view returns (SessionTypes.Permission memory) {
        return _permission(address(token), IERC20.transfer.selector);
    }

    /// @notice Account calldata: `token.transfer(recipient, amount)`.
    function _transferCall(uint256 amount) internal view returns (bytes memory) {
        return _executeSingle(address(token), 0, abi.encodeCall(IERC20.transfer, (recipient, amount)));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Owner operations
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Sends an owner operation whose execution must revert with exactly `reason` (the EntryPoint does not
    ///         revert: it emits `UserOperationRevertReason`).
    function _sendOwnerOpExpectExecutionRevert(
        IEntryPoint entryPoint,
        address account,
        bytes memory callData,
        bytes memory reason
    ) internal {
        PackedUserOperation memory op = _signedOwnerOp(entryPoint, account, callData);
        bytes32 userOpHash = _userOpHash(entryPoint, op);
        vm.expectEmit(true, true, true, true, address(entryPoint));
        emit UserOperationRevertReason(userOpHash, account, op.nonce, reason);
        _handleOp(entryPoint, op);
    }

    /// @notice Sends an owner `grantSession` that must revert with exactly `reason`.
    function _grantExpectRevert(
        IEntryPoint entryPoint,
        address account,
        SessionTypes.Session memory session,
        bytes memory reason
    ) internal {
        _sendOwnerOpExpectExecutionRevert(
            entryPoint, account, _validatorCall(abi.encodeCall(ISessionKeyValidator.grantSession, (session))), reason
        );
    }

    /// @notice A fresh, funded account of the owner (only the owner validator installed).
    function _freshAccount(AccountEnv memory env, uint256 salt) internal returns (address account) {
        account = address(_createAccount(env.factory, owner, salt));
        _fundAccount(env.entryPoint, account);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Session operations
    // ------------------------------------------------------------------------------------------------------------

    /// @notice An unsigned session-lane operation with `paymasterAndData`.
    function _sessionOp(IEntryPoint entryPoint, address account, bytes memory callData, bytes memory paymasterAndData)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op = _buildUserOp(entryPoint, account, _sessionNonceKey(1), callData);
        op.paymasterAndData = paymasterAndData;
    }

    /// @notice Signs `op` in enable mode with the session key `key`.
    function _signEnable(
        IEntryPoint entryPoint,
        PackedUserOperation memory op,
        SessionTypes.Session memory session,
        bytes memory ownerSignature,
        CallProof[] memory calls,
        uint256 key
    ) internal view returns (PackedUserOperation memory) {
        op.signature = SessionEncoding.enableSignature(
            session, ownerSignature, calls, _sign(key, _userOpHash(entryPoint, op))
        );
        return op;
    }

    /// @notice A use-mode operation transferring `amount` tokens under the one-leaf `session` of `_transferPermission`.
    function _transferUseOp(
        IEntryPoint entryPoint,
        address account,
        SessionTypes.Session memory session,
        uint256 amount
    ) internal view returns (PackedUserOperation memory) {
        return _useOp1(entryPoint, account, _transferCall(amount), session, _transferPermission(), _noProof());
    }

    // ------------------------------------------------------------------------------------------------------------
    // Independent references
    // ------------------------------------------------------------------------------------------------------------

    /// @notice The enable digest computed from the spec, without the validator's constants.
    function _expectedEnableDigest(
        address verifyingContract,
        uint256 chainId,
        address account,
        uint64 epoch,
        SessionTypes.Session memory session
    ) internal pure returns (bytes32) {
        bytes32 sessionTypehash = keccak256(
            "Session(address signer,uint48 validAfter,uint48 validUntil,bytes32 permissionsRoot,uint8 paymasterPolicy,address paymaster,uint128 maxOperationFee,uint128 feeBudget,bytes32 salt)"
        );
        bytes32 enableTypehash = keccak256(
            "EnableSession(address account,uint64 epoch,Session session)Session(address signer,uint48 validAfter,uint48 validUntil,bytes32 permissionsRoot,uint8 paymasterPolicy,address paymaster,uint128 maxOperationFee,uint128 feeBudget,bytes32 salt)"
        );
        bytes32 sessionHash = keccak256(
            abi.encode(
                sessionTypehash,
                session.signer,
                session.validAfter,
                session.validUntil,
                session.permissionsRoot,
                uint8(session.paymasterPolicy),
                session.paymaster,
                session.maxOperationFee,
                session.feeBudget,
                session.salt
            )
        );
        bytes32 domainSeparator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Keyscope SessionKeyValidator"),
                keccak256("1"),
                chainId,
                verifyingContract
            )
        );
        return keccak256(
            abi.encodePacked(
                "\x19\x01", domainSeparator, keccak256(abi.encode(enableTypehash, account, epoch, sessionHash))
            )
        );
    }

    /// @notice Whether `env` is the v0.8 host.
    function _isV08(AccountEnv memory env) internal pure returns (bool) {
        return env.version == EntryPointVersion.V08;
    }

    /// @notice The account of `env` as an address.
    function _account(AccountEnv memory env) internal pure returns (address) {
        return address(env.account);
    }

    /// @notice `account` typed as a KeyscopeAccount.
    function _asAccount(address account) internal pure returns (KeyscopeAccount) {
        return KeyscopeAccount(payable(account));
    }
}
