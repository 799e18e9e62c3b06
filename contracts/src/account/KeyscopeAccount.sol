// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {AccountERC7579} from "@openzeppelin/contracts/account/extensions/draft-AccountERC7579.sol";
import {IEntryPoint} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {MODULE_TYPE_VALIDATOR} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {ERC721Holder} from "@openzeppelin/contracts/token/ERC721/utils/ERC721Holder.sol";

/// @title KeyscopeAccount
/// @notice ERC-4337 / ERC-7579 modular smart account. All validation goes through installed validator modules: the
/// validator of a user operation is the top 20 bytes of its nonce (nonce key = validator address ‖ 4-byte lane), and
/// an ERC-1271 signature is `validator address ‖ inner signature`.
/// @dev Built on OpenZeppelin's {AccountERC7579}. One implementation is deployed per EntryPoint version (the EntryPoint
/// is an immutable), and accounts are clones of it created by {KeyscopeAccountFactory}, which calls {initialize} in
/// the same transaction. Receives ETH, ERC-721 (safe transfers) and ERC-1155 tokens. In an execution, the target
/// `address(0)` means the account itself (OpenZeppelin's `ERC7579Utils` convention). Its ERC-5267 EIP-712 domain
/// ("KeyscopeAccount", "1", the chain, the account's own address) is the one ERC-7739 nested signatures bind to.
contract KeyscopeAccount is AccountERC7579, EIP712, ERC721Holder, ERC1155Holder, Initializable {
    /// @notice The EntryPoint this account trusts.
    IEntryPoint private immutable _ENTRY_POINT;

    /// @notice The EntryPoint given to the constructor is the zero address.
    error EntryPointZeroAddress();

    /// @notice The extra validators and their init data do not have the same length.
    /// @param validators Number of extra validators given.
    /// @param initData Number of init data entries given.
    error ValidatorsLengthMismatch(uint256 validators, uint256 initData);

    /// @notice Deploys an implementation bound to one EntryPoint and locks its own initializer.
    /// @param entryPoint_ The EntryPoint (v0.7 or v0.8) that accounts using this implementation trust.
    constructor(IEntryPoint entryPoint_) EIP712("KeyscopeAccount", "1") {
        if (address(entryPoint_) == address(0)) revert EntryPointZeroAddress();
        _ENTRY_POINT = entryPoint_;
        _disableInitializers();
    }

    /// @notice Initializes a freshly created account by installing its validator modules. Callable once.
    /// @param ownerValidator The primary validator module (e.g. {OwnerECDSAValidator}).
    /// @param ownerInitData The data handed to `ownerValidator.onInstall`.
    /// @param extraValidators Further validator modules to install (may be empty).
    /// @param extraInitData The `onInstall` data of each extra validator, in the same order.
    function initialize(
        address ownerValidator,
        bytes calldata ownerInitData,
        address[] calldata extraValidators,
        bytes[] calldata extraInitData
    ) external initializer {
        if (extraValidators.length != extraInitData.length) {
            revert ValidatorsLengthMismatch(extraValidators.length, extraInitData.length);
        }
        _installModule(MODULE_TYPE_VALIDATOR, ownerValidator, ownerInitData);
        for (uint256 i = 0; i < extraValidators.length; ++i) {
            _installModule(MODULE_TYPE_VALIDATOR, extraValidators[i], extraInitData[i]);
        }
    }

    /// @notice The EntryPoint this account trusts (fixed per implementation).
    /// @return The EntryPoint given to the implementation's constructor.
    function entryPoint() public view override returns (IEntryPoint) {
        return _ENTRY_POINT;
    }

    /// @notice The ERC-7579 account implementation id.
    /// @return The id in the `vendorname.accountname.semver` format.
    function accountId() public pure override returns (string memory) {
        return "keyscope.KeyscopeAccount.v0.1.0";
    }
}
