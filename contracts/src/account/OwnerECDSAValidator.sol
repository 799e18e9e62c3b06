// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {
    IERC7579Validator,
    MODULE_TYPE_VALIDATOR,
    VALIDATION_FAILED,
    VALIDATION_SUCCESS
} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title OwnerECDSAValidator
/// @notice Minimal ERC-7579 validator module (type 1): each account has exactly one ECDSA owner that signs the
/// ERC-4337 `userOpHash` either raw (the EntryPoint already domain-separates that hash) or as an EIP-191 personal
/// message (`personal_sign`, as wallets and SDKs such as Particle's sign it). The raw form is tried first, so a raw
/// signature pays for one recovery only.
/// @dev The EIP-191 form signs `keccak256("\x19Ethereum Signed Message:\n32" ‖ hash)`, a digest distinct from `hash`
/// itself and from any transaction digest, so accepting both forms opens no cross-protocol replay.
/// @dev State is ERC-7562 "associated storage": a single mapping keyed by the account address. The account calling
/// the module (`msg.sender`) is always the one whose owner is consulted, so one account can never validate with
/// another account's owner. Bad signatures never revert: they yield `VALIDATION_FAILED` (or `0xffffffff` for
/// ERC-1271), so that the EntryPoint reports `AA24 signature error` rather than `AA23 reverted`.
contract OwnerECDSAValidator is IERC7579Validator {
    /// @notice ERC-1271 magic value returned for a valid signature.
    bytes4 internal constant ERC1271_MAGIC_VALUE = 0x1626ba7e;

    /// @notice ERC-1271 value returned for an invalid signature.
    bytes4 internal constant ERC1271_INVALID = 0xffffffff;

    /// @notice The ECDSA owner of each account that installed this module (zero when not installed).
    mapping(address account => address owner) internal _owners;

    /// @notice Emitted when `account` installs the module with `owner`.
    /// @param account The smart account that installed the module.
    /// @param owner The ECDSA signer that now controls `account` through this module.
    event OwnerSet(address indexed account, address indexed owner);

    /// @notice Emitted when `account` uninstalls the module and its owner is forgotten.
    /// @param account The smart account that uninstalled the module.
    /// @param owner The owner that was removed.
    event OwnerRemoved(address indexed account, address indexed owner);

    /// @notice The install data did not decode to a non-zero owner address.
    /// @param account The account that tried to install the module.
    error OwnerZeroAddress(address account);

    /// @notice The install data is not exactly one ABI-encoded address.
    /// @param account The account that tried to install the module.
    /// @param length The length of the install data that was given.
    error InvalidInstallData(address account, uint256 length);

    /// @notice The module is already installed for the account.
    /// @param account The account that tried to install the module again.
    /// @param owner The owner already registered for `account`.
    error AlreadyInstalled(address account, address owner);

    /// @notice Installs the module for the calling account.
    /// @param data `abi.encode(owner)`: the ECDSA signer that will control the account.
    function onInstall(bytes calldata data) external {
        if (data.length != 32) revert InvalidInstallData(msg.sender, data.length);
        address current = _owners[msg.sender];
        if (current != address(0)) revert AlreadyInstalled(msg.sender, current);
        address owner = abi.decode(data, (address));
        if (owner == address(0)) revert OwnerZeroAddress(msg.sender);
        _owners[msg.sender] = owner;
        emit OwnerSet(msg.sender, owner);
    }

    /// @notice Uninstalls the module for the calling account, forgetting its owner.
    /// @dev Never reverts, so the module can never block its own removal.
    function onUninstall(bytes calldata) external {
        address owner = _owners[msg.sender];
        if (owner == address(0)) return;
        delete _owners[msg.sender];
        emit OwnerRemoved(msg.sender, owner);
    }

    /// @notice Tells whether this module is of the given ERC-7579 module type.
    /// @param moduleTypeId The ERC-7579 module type id.
    /// @return True only for `MODULE_TYPE_VALIDATOR` (1).
    function isModuleType(uint256 moduleTypeId) external pure returns (bool) {
        return moduleTypeId == MODULE_TYPE_VALIDATOR;
    }

    /// @notice Tells whether the module is installed for `smartAccount`.
    /// @param smartAccount The account to check.
    /// @return True when `smartAccount` has an owner registered.
    function isInitialized(address smartAccount) external view returns (bool) {
        return _owners[smartAccount] != address(0);
    }

    /// @notice Returns the ECDSA owner registered for `account`.
    /// @param account The account to look up.
    /// @return The owner, or the zero address when the module is not installed for `account`.
    function ownerOf(address account) external view returns (address) {
        return _owners[account];
    }

    /// @notice Validates a user operation of the calling account: the owner must have signed `userOpHash`, raw or
    /// as an EIP-191 personal message.
    /// @param userOpHash The EntryPoint's hash of the user operation.
    /// @return `VALIDATION_SUCCESS` (0) for a valid 65-byte low-s signature by the owner of `userOpHash` or of
    /// `toEthSignedMessageHash(userOpHash)`, otherwise
    /// `VALIDATION_FAILED` (1). Never reverts for a bad signature.
    function validateUserOp(PackedUserOperation calldata userOp, bytes32 userOpHash) external view returns (uint256) {
        return _isOwnerSignature(msg.sender, userOpHash, userOp.signature) ? VALIDATION_SUCCESS : VALIDATION_FAILED;
    }

    /// @notice ERC-1271 check forwarded by the calling account: the owner must have signed `hash`, raw or as an
    /// EIP-191 personal message.
    /// @param hash The hash that was signed.
    /// @param signature A 65-byte `r ‖ s ‖ v` ECDSA signature of `hash` or of `toEthSignedMessageHash(hash)`.
    /// @return `0x1626ba7e` when the account's owner signed `hash` in either form, otherwise `0xffffffff`.
    function isValidSignatureWithSender(address, bytes32 hash, bytes calldata signature)
        external
        view
        returns (bytes4)
    {
        return _isOwnerSignature(msg.sender, hash, signature) ? ERC1271_MAGIC_VALUE : ERC1271_INVALID;
    }

    /// @dev True when `signature` is a valid 65-byte, low-s ECDSA signature by the owner of `account` of `hash`
    /// (tried first) or of its EIP-191 form `toEthSignedMessageHash(hash)` (what `personal_sign(hash)` signs).
    /// Never reverts.
    function _isOwnerSignature(address account, bytes32 hash, bytes calldata signature) internal view returns (bool) {
        address owner = _owners[account];
        if (owner == address(0)) return false;
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        if (err == ECDSA.RecoverError.NoError && recovered == owner) return true;
        (recovered, err,) = ECDSA.tryRecover(MessageHashUtils.toEthSignedMessageHash(hash), signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner;
    }
}
