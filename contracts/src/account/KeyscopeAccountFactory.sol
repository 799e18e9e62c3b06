// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Clones} from "@openzeppelin/contracts/proxy/Clones.sol";
import {KeyscopeAccount} from "./KeyscopeAccount.sol";

/// @title KeyscopeAccountFactory
/// @notice Deterministically deploys {KeyscopeAccount}s as minimal clones (CREATE2) of one implementation, and installs
/// the owner validator (plus optional extra validators) in the same transaction. Usable from an ERC-4337 `initCode`:
/// {createAccount} returns the existing account when it is already deployed.
/// @dev The CREATE2 salt commits to the owner, the user salt and the extra validators with their init data, so nobody
/// can front-run a counterfactual address with different modules installed.
contract KeyscopeAccountFactory {
    /// @notice The account implementation every clone delegates to (bound to one EntryPoint).
    KeyscopeAccount public immutable ACCOUNT_IMPLEMENTATION;

    /// @notice The validator module installed first on every account, with `abi.encode(owner)` as its init data.
    address public immutable OWNER_VALIDATOR;

    /// @notice Emitted when a new account is deployed.
    /// @param account The address of the new account.
    /// @param owner The owner registered in the owner validator.
    /// @param salt The user-chosen salt.
    event AccountCreated(address indexed account, address indexed owner, uint256 salt);

    /// @notice A constructor argument is the zero address.
    /// @param implementation The implementation that was given.
    /// @param ownerValidator The owner validator that was given.
    error FactoryZeroAddress(address implementation, address ownerValidator);

    /// @notice Creates a factory for one account implementation and owner validator.
    /// @param implementation The {KeyscopeAccount} implementation to clone.
    /// @param ownerValidator The validator module installed with the owner on every account.
    constructor(KeyscopeAccount implementation, address ownerValidator) {
        if (address(implementation) == address(0) || ownerValidator == address(0)) {
            revert FactoryZeroAddress(address(implementation), ownerValidator);
        }
        ACCOUNT_IMPLEMENTATION = implementation;
        OWNER_VALIDATOR = ownerValidator;
    }

    /// @notice Deploys (or returns the already deployed) account of `owner` for `salt` and the given extra validators.
    /// @param owner The ECDSA owner registered in the owner validator.
    /// @param salt A user-chosen salt, to have several accounts per owner.
    /// @param extraValidators Further validator modules to install at creation (may be empty).
    /// @param extraInitData The `onInstall` data of each extra validator, in the same order.
    /// @return account The account at {getAddress} for the same arguments.
    function createAccount(
        address owner,
        uint256 salt,
        address[] calldata extraValidators,
        bytes[] calldata extraInitData
    ) external returns (KeyscopeAccount account) {
        bytes32 create2Salt = _create2Salt(owner, salt, extraValidators, extraInitData);
        address predicted = Clones.predictDeterministicAddress(address(ACCOUNT_IMPLEMENTATION), create2Salt);
        if (predicted.code.length != 0) return KeyscopeAccount(payable(predicted));

        account = KeyscopeAccount(payable(Clones.cloneDeterministic(address(ACCOUNT_IMPLEMENTATION), create2Salt)));
        account.initialize(OWNER_VALIDATOR, abi.encode(owner), extraValidators, extraInitData);
        emit AccountCreated(address(account), owner, salt);
    }

    /// @notice Predicts the address {createAccount} deploys to for the same arguments.
    /// @param owner The ECDSA owner registered in the owner validator.
    /// @param salt The user-chosen salt.
    /// @param extraValidators Further validator modules installed at creation.
    /// @param extraInitData The `onInstall` data of each extra validator.
    /// @return The counterfactual account address.
    function getAddress(address owner, uint256 salt, address[] calldata extraValidators, bytes[] calldata extraInitData)
        external
        view
        returns (address)
    {
        return Clones.predictDeterministicAddress(
            address(ACCOUNT_IMPLEMENTATION), _create2Salt(owner, salt, extraValidators, extraInitData)
        );
    }

    /// @dev The CREATE2 salt: a hash of every argument that shapes the account's initial state.
    function _create2Salt(
        address owner,
        uint256 salt,
        address[] calldata extraValidators,
        bytes[] calldata extraInitData
    ) internal pure returns (bytes32) {
        return keccak256(abi.encode(owner, salt, extraValidators, extraInitData));
    }
}
