// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Test} from "forge-std/Test.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IEntryPointExtra} from "@openzeppelin/contracts/account/utils/ERC4337Utils.sol";
import {
    ERC7579Utils,
    Mode,
    ModeSelector,
    ModePayload
} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {Execution, IERC7579Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";

import {KeyscopeAccount} from "../../src/account/KeyscopeAccount.sol";
import {KeyscopeAccountFactory} from "../../src/account/KeyscopeAccountFactory.sol";
import {OwnerECDSAValidator} from "../../src/account/OwnerECDSAValidator.sol";
import {DemoToken} from "../../src/demo/DemoToken.sol";
import {EntryPointDeployer} from "./EntryPointDeployer.sol";

/// @title AccountTestBase
/// @notice Forge test host for ERC-7579 validator modules on the REAL EntryPoint v0.7 and v0.8: deploys both
/// EntryPoints at their canonical addresses, the {OwnerECDSAValidator}, one {KeyscopeAccount} implementation and
/// {KeyscopeAccountFactory} per EntryPoint, a {DemoToken}, and one funded account per EntryPoint owned by
/// {OWNER_KEY}. Helpers build, sign and send `PackedUserOperation`s and expect the EntryPoint's exact reverts.
/// @dev Nonce key layout (OpenZeppelin `AccountERC7579`): `validator (20 bytes) ‖ lane (4 bytes)`; the validator
/// of a user operation is the top 20 bytes of its nonce. Build and sign operations BEFORE any `vm.expectRevert`:
/// the builders make external calls (`getNonce`, `getUserOpHash`) that would consume the expectation.
abstract contract AccountTestBase is EntryPointDeployer, Test {
    /// @notice The two EntryPoint versions the host runs on.
    enum EntryPointVersion {
        V07,
        V08
    }

    /// @notice Everything a test needs for one EntryPoint version.
    /// @param version The EntryPoint version.
    /// @param entryPoint The EntryPoint.
    /// @param implementation The account implementation bound to `entryPoint`.
    /// @param factory The account factory for `implementation`.
    /// @param account The default account of {owner} (salt {ACCOUNT_SALT}), funded and with an EntryPoint deposit.
    struct AccountEnv {
        EntryPointVersion version;
        IEntryPoint entryPoint;
        KeyscopeAccount implementation;
        KeyscopeAccountFactory factory;
        KeyscopeAccount account;
    }

    /// @notice Private key of the default account owner.
    uint256 internal constant OWNER_KEY = uint256(keccak256("keyscope.test.owner"));

    /// @notice Salt of the default accounts.
    uint256 internal constant ACCOUNT_SALT = 0;

    /// @notice ETH balance given to each new account.
    uint256 internal constant ACCOUNT_ETH = 10 ether;

    /// @notice ETH deposited for each new account in its EntryPoint.
    uint256 internal constant ACCOUNT_DEPOSIT = 10 ether;

    /// @notice Default nonce lane (the 4 low bytes of the nonce key).
    uint32 internal constant DEFAULT_LANE = 0;

    /// @notice Default `verificationGasLimit` (covers account creation through `initCode`).
    uint128 internal verificationGasLimit = 2_000_000;

    /// @notice Default `callGasLimit`.
    uint128 internal callGasLimit = 2_000_000;

    /// @notice Default `preVerificationGas`.
    uint256 internal preVerificationGas = 100_000;

    /// @notice Default `maxPriorityFeePerGas` (non-zero, so prefunds are really charged).
    uint128 internal maxPriorityFeePerGas = 1 gwei;

    /// @notice Default `maxFeePerGas`.
    uint128 internal maxFeePerGas = 2 gwei;

    /// @notice The default owner (`vm.addr(OWNER_KEY)`).
    address internal owner;

    /// @notice The EOA that sends `handleOps` (as `msg.sender` and `tx.origin`) and is the beneficiary.
    address payable internal bundler;

    /// @notice EntryPoint v0.7 at 0x0000000071727De22E5E9d8BAf0edAc6f37da032.
    IEntryPoint internal entryPointV07;

    /// @notice EntryPoint v0.8 at 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108.
    IEntryPoint internal entryPointV08;

    /// @notice The owner validator module, shared by every account.
    OwnerECDSAValidator internal ownerValidator;

    /// @notice The account implementation bound to EntryPoint v0.7.
    KeyscopeAccount internal implementationV07;

    /// @notice The account implementation bound to EntryPoint v0.8.
    KeyscopeAccount internal implementationV08;

    /// @notice The account factory for EntryPoint v0.7.
    KeyscopeAccountFactory internal factoryV07;

    /// @notice The account factory for EntryPoint v0.8.
    KeyscopeAccountFactory internal factoryV08;

    /// @notice The default account of {owner} on EntryPoint v0.7.
    KeyscopeAccount internal accountV07;

    /// @notice The default account of {owner} on EntryPoint v0.8.
    KeyscopeAccount internal accountV08;

    /// @notice A freely mintable ERC-20.
    DemoToken internal token;

    /// @notice Deploys the host. Override with `super.setUp()` first to extend it.
    function setUp() public virtual {
        owner = vm.addr(OWNER_KEY);
        vm.label(owner, "owner");
        bundler = payable(makeAddr("bundler"));

        entryPointV07 = _deployEntryPointV07();
        entryPointV08 = _deployEntryPointV08();
        assertEq(address(entryPointV07), ENTRYPOINT_V07_ADDRESS, "EntryPoint v0.7 address");
        assertEq(address(entryPointV08), ENTRYPOINT_V08_ADDRESS, "EntryPoint v0.8 address");

        ownerValidator = new OwnerECDSAValidator();
        vm.label(address(ownerValidator), "OwnerECDSAValidator");

        implementationV07 = new KeyscopeAccount(entryPointV07);
        implementationV08 = new KeyscopeAccount(entryPointV08);
        factoryV07 = new KeyscopeAccountFactory(implementationV07, address(ownerValidator));
        factoryV08 = new KeyscopeAccountFactory(implementationV08, address(ownerValidator));
        vm.label(address(implementationV07), "KeyscopeAccountImplV07");
        vm.label(address(implementationV08), "KeyscopeAccountImplV08");
        vm.label(address(factoryV07), "KeyscopeAccountFactoryV07");
        vm.label(address(factoryV08), "KeyscopeAccountFactoryV08");

        token = new DemoToken();
        vm.label(address(token), "DemoToken");

        accountV07 = _createAccount(factoryV07, owner, ACCOUNT_SALT);
        accountV08 = _createAccount(factoryV08, owner, ACCOUNT_SALT);
        vm.label(address(accountV07), "accountV07");
        vm.label(address(accountV08), "accountV08");
        _fundAccount(entryPointV07, address(accountV07));
        _fundAccount(entryPointV08, address(accountV08));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Environments
    // ---------------------------------------------------------------------------------------------------------------

    /// @notice Returns the deployed host for one EntryPoint version.
    /// @param version The EntryPoint version.
    /// @return env The EntryPoint, implementation, factory and default account of that version.
    function _env(EntryPointVersion version) internal view returns (AccountEnv memory env) {
        env.version = version;
        if (version == EntryPointVersion.V07) {
            env.entryPoint = entryPointV07;
            env.implementation = implementationV07;
            env.factory = factoryV07;
            env.account = accountV07;
        } else {
            env.entryPoint = entryPointV08;
            env.implementation = implementationV08;
            env.factory = factoryV08;
            env.account = accountV08;
        }
    }

    /// @notice Returns the hosts of both EntryPoint versions, v0.7 first.
    /// @dev Tests do not loop over this: they run on both versions through {onEachEntryPoint}. It is for helpers that
    /// prepare both hosts at once and for the few tests that compare the two versions against each other.
    /// @return envs `[_env(V07), _env(V08)]`.
    function _envs() internal view returns (AccountEnv[] memory envs) {
        envs = new AccountEnv[](2);
        envs[0] = _env(EntryPointVersion.V07);
        envs[1] = _env(EntryPointVersion.V08);
    }

    /// @notice The host of the other EntryPoint version than {currentEnv}'s (e.g. to replay an operation there).
    /// @return The host of V08 during the V07 run, and the reverse.
    function _otherEnv() internal view returns (AccountEnv memory) {
        return _env(currentEnv.version == EntryPointVersion.V07 ? EntryPointVersion.V08 : EntryPointVersion.V07);
    }

    /// @notice The host (EntryPoint, implementation, factory, default account) of the current run of an
    /// {onEachEntryPoint} test. Unset (all zero) outside such a test.
    AccountEnv internal currentEnv;

    /// @notice Runs the test body once per EntryPoint version, v0.7 first, each run from the same state.
    /// @dev Before each run the state is snapshotted and {currentEnv} set to that version's host; after the run the
    /// snapshot is restored, so nothing one run does (balances, nonces, granted sessions, `vm.warp`) is seen by the
    /// other. Assertions therefore state what ONE run does (`calls() == 1`, not `2` for both runs). A failing
    /// assertion fails the test; the trace's `currentEnv.version` tells which run it was. Works for fuzz tests too:
    /// each input runs on both versions. Do not use it in a test that compares the two versions with each other:
    /// loop over {_envs} there, and say why.
    modifier onEachEntryPoint() {
        AccountEnv[] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            uint256 snapshot = vm.snapshotState();
            currentEnv = envs[i];
            _;
            vm.revertToStateAndDelete(snapshot);
        }
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Accounts
    // ---------------------------------------------------------------------------------------------------------------

    /// @notice Creates (or returns) the account of `accountOwner` with only the owner validator installed.
    /// @param factory The factory (selects the EntryPoint version).
    /// @param accountOwner The ECDSA owner.
    /// @param salt The user salt.
    /// @return The account.
    function _createAccount(KeyscopeAccountFactory factory, address accountOwner, uint256 salt)
        internal
        returns (KeyscopeAccount)
    {
        return factory.createAccount(accountOwner, salt, new address[](0), new bytes[](0));
    }

    /// @notice Creates (or returns) the account of `accountOwner` with extra validators installed at creation.
    /// @param factory The factory (selects the EntryPoint version).
    /// @param accountOwner The ECDSA owner.
    /// @param salt The user salt.
    /// @param extraValidators Further validator modules to install.
    /// @param extraInitData Their `onInstall` data.
    /// @return The account.
    function _createAccount(
        KeyscopeAccountFactory factory,
        address accountOwner,
        uint256 salt,
        address[] memory extraValidators,
        bytes[] memory extraInitData
    ) internal returns (KeyscopeAccount) {
        return factory.createAccount(accountOwner, salt, extraValidators, extraInitData);
    }

    /// @notice Gives `account` {ACCOUNT_ETH} and deposits {ACCOUNT_DEPOSIT} for it in `entryPoint`.
    /// @param entryPoint The EntryPoint to deposit in.
    /// @param account The account (need not be deployed yet).
    function _fundAccount(IEntryPoint entryPoint, address account) internal {
        vm.deal(account, account.balance + ACCOUNT_ETH);
        vm.deal(address(this), address(this).balance + ACCOUNT_DEPOSIT);
        entryPoint.depositTo{value: ACCOUNT_DEPOSIT}(account);
    }

    /// @notice Builds the `initCode` that makes the EntryPoint create an account through `factory`.
    /// @param factory The factory.
    /// @param accountOwner The ECDSA owner.
    /// @param salt The user salt.
    /// @param extraValidators Further validator modules to install.
    /// @param extraInitData Their `onInstall` data.
    /// @return `factory ‖ abi.encodeCall(createAccount, ...)`.
    function _initCode(
        KeyscopeAccountFactory factory,
        address accountOwner,
        uint256 salt,
        address[] memory extraValidators,
        bytes[] memory extraInitData
    ) internal pure returns (bytes memory) {
        return abi.encodePacked(
            address(factory),
            abi.encodeCall(KeyscopeAccountFactory.createAccount, (accountOwner, salt, extraValidators, extraInitData))
        );
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Nonces
    // ---------------------------------------------------------------------------------------------------------------

    /// @notice The nonce key that selects `validator`: `validator (20 bytes) ‖ lane (4 bytes)`.
    /// @param validator The validator module.
    /// @param lane The 4-byte lane, for parallel nonce sequences of the same validator.
    /// @return The 192-bit nonce key.
    function _nonceKey(address validator, uint32 lane) internal pure returns (uint192) {
        return uint192(bytes24(bytes20(validator))) | uint192(lane);
    }

    /// @notice The next nonce of `account` for `validator` and `lane`, from the EntryPoint.
    /// @param entryPoint The EntryPoint.
    /// @param account The account.
    /// @param validator The validator module.
    /// @param lane The lane.
    /// @return The full 256-bit nonce (key ‖ sequence).
    function _getNonce(IEntryPoint entryPoint, address account, address validator, uint32 lane)
        internal
        view
        returns (uint256)
    {
        return entryPoint.getNonce(account, _nonceKey(validator, lane));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // ERC-7579 execution calldata
    // ---------------------------------------------------------------------------------------------------------------

    /// @notice The ERC-7579 mode for a single call that reverts on failure.
    /// @return The encoded mode.
    function _modeSingle() internal pure returns (Mode) {
        return ERC7579Utils.encodeMode(
            ERC7579Utils.CALLTYPE_SINGLE, ERC7579Utils.EXECTYPE_DEFAULT, ModeSelector.wrap(0), ModePayload.wrap(0)
        );
    }

    /// @notice The ERC-7579 mode for a batch of calls that reverts on any failure.
    /// @return The encoded mode.
    function _modeBatch() internal pure returns (Mode) {
        return ERC7579Utils.encodeMode(
            ERC7579Utils.CALLTYPE_BATCH, ERC7579Utils.EXECTYPE_DEFAULT, ModeSelector.wrap(0), ModePayload.wrap(0)
        );
    }

    /// @notice Account calldata `execute(mode, executionCalldata)`.
    /// @param mode The ERC-7579 mode.
    /// @param executionCalldata The mode's execution encoding.
    /// @return The calldata for the account.
    function _executeCallData(Mode mode, bytes memory executionCalldata) internal pure returns (bytes memory) {
        return abi.encodeCall(IERC7579Execution.execute, (Mode.unwrap(mode), executionCalldata));
    }

    /// @notice Account calldata executing one call.
    /// @dev The single encoding is `target ‖ value ‖ callData`, exactly `ERC7579Utils.encodeSingle` (which only
    /// takes calldata, hence the `abi.encodePacked` here). `target == address(0)` means the account itself.
    /// @param target The call target.
    /// @param value The ETH value.
    /// @param data The call data.
    /// @return The calldata for the account.
    function _executeSingle(address target, uint256 value, bytes memory data) internal pure returns (bytes memory) {
        return _executeCallData(_modeSingle(), abi.encodePacked(target, value, data));
    }

    /// @notice Account calldata executing a batch of calls (`ERC7579Utils.encodeBatch`).
    /// @param executions The calls.
    /// @return The calldata for the account.
    function _executeBatch(Execution[] memory executions) internal pure returns (bytes memory) {
        return _executeCallData(_modeBatch(), ERC7579Utils.encodeBatch(executions));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // User operations
    // ---------------------------------------------------------------------------------------------------------------

    /// @notice Packs two 128-bit values high ‖ low, as in `accountGasLimits` and `gasFees`.
    /// @param high The high 128 bits (`verificationGasLimit` / `maxPriorityFeePerGas`).
    /// @param low The low 128 bits (`callGasLimit` / `maxFeePerGas`).
    /// @return The packed word.
    function _pack(uint128 high, uint128 low) internal pure returns (bytes32) {
        return bytes32((uint256(high) << 128) | uint256(low));
    }

    /// @notice Builds an unsigned user operation with the default gas values, no `initCode` and no paymaster.
    /// @param entryPoint The EntryPoint (for the nonce).
    /// @param sender The account.
    /// @param nonceKey The nonce key (see {_nonceKey}).
    /// @param callData The account calldata (see {_executeSingle} / {_executeBatch}).
    /// @return op The user operation.
    function _buildUserOp(IEntryPoint entryPoint, address sender, uint192 nonceKey, bytes memory callData)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op.sender = sender;
        op.nonce = entryPoint.getNonce(sender, nonceKey);
        op.callData = callData;
        op.accountGasLimits = _pack(verificationGasLimit, callGasLimit);
        op.preVerificationGas = preVerificationGas;
        op.gasFees = _pack(maxPriorityFeePerGas, maxFeePerGas);
    }

    /// @notice Builds an unsigned user operation validated by the owner validator (lane {DEFAULT_LANE}).
    /// @param entryPoint The EntryPoint.
    /// @param sender The account.
    /// @param callData The account calldata.
    /// @return The user operation.
    function _buildOwnerUserOp(IEntryPoint entryPoint, address sender, bytes memory callData)
        internal
        view
        returns (PackedUserOperation memory)
    {
        return _buildUserOp(entryPoint, sender, _nonceKey(address(ownerValidator), DEFAULT_LANE), callData);
    }

    /// @notice The EntryPoint's hash of `op` (v0.7: keccak-based; v0.8: EIP-712).
    /// @param entryPoint The EntryPoint.
    /// @param op The user operation.
    /// @return The userOpHash.
    function _userOpHash(IEntryPoint entryPoint, PackedUserOperation memory op) internal view returns (bytes32) {
        return IEntryPointExtra(address(entryPoint)).getUserOpHash(op);
    }

    /// @notice A 65-byte `r ‖ s ‖ v` ECDSA signature of the raw `hash` (no prefix).
    /// @param privateKey The signer's key.
    /// @param hash The hash to sign.
    /// @return The signature.
    function _sign(uint256 privateKey, bytes32 hash) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, hash);
        return abi.encodePacked(r, s, v);
    }

    /// @notice Sets `op.signature` to the raw ECDSA signature of its userOpHash by `privateKey`.
    /// @param entryPoint The EntryPoint.
    /// @param op The user operation (modified in place).
    /// @param privateKey The signer's key.
    /// @return The same, now signed, user operation.
    function _signUserOp(IEntryPoint entryPoint, PackedUserOperation memory op, uint256 privateKey)
        internal
        view
        returns (PackedUserOperation memory)
    {
        op.signature = _sign(privateKey, _userOpHash(entryPoint, op));
        return op;
    }

    /// @notice Builds an owner-validated user operation and signs it with {OWNER_KEY}.
    /// @param entryPoint The EntryPoint.
    /// @param sender The account.
    /// @param callData The account calldata.
    /// @return The signed user operation.
    function _signedOwnerOp(IEntryPoint entryPoint, address sender, bytes memory callData)
        internal
        view
        returns (PackedUserOperation memory)
    {
        return _signUserOp(entryPoint, _buildOwnerUserOp(entryPoint, sender, callData), OWNER_KEY);
    }

    /// @notice Builds, signs with {OWNER_KEY} and sends an owner-validated user operation.
    /// @param entryPoint The EntryPoint.
    /// @param sender The account.
    /// @param callData The account calldata.
    /// @return op The operation that was sent.
    function _sendOwnerOp(IEntryPoint entryPoint, address sender, bytes memory callData)
        internal
        returns (PackedUserOperation memory op)
    {
        op = _signedOwnerOp(entryPoint, sender, callData);
        _handleOp(entryPoint, op);
    }

    /// @notice Sends `op` alone through `handleOps`, from {bundler} (also the beneficiary).
    /// @param entryPoint The EntryPoint.
    /// @param op The signed user operation.
    function _handleOp(IEntryPoint entryPoint, PackedUserOperation memory op) internal {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.prank(bundler, bundler);
        entryPoint.handleOps(ops, bundler);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Expected EntryPoint reverts
    // ---------------------------------------------------------------------------------------------------------------

    /// @notice Revert data of `FailedOp(opIndex, reason)`.
    /// @param opIndex The index of the failing operation.
    /// @param reason The `AAxx` reason string.
    /// @return The ABI-encoded error.
    function _failedOp(uint256 opIndex, string memory reason) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IEntryPoint.FailedOp.selector, opIndex, reason);
    }

    /// @notice Revert data of `FailedOpWithRevert(opIndex, reason, inner)`.
    /// @param opIndex The index of the failing operation.
    /// @param reason The `AAxx` reason string.
    /// @param inner The inner revert data (e.g. the module's custom error).
    /// @return The ABI-encoded error.
    function _failedOpWithRevert(uint256 opIndex, string memory reason, bytes memory inner)
        internal
        pure
        returns (bytes memory)
    {
        return abi.encodeWithSelector(IEntryPoint.FailedOpWithRevert.selector, opIndex, reason, inner);
    }

    /// @notice Sends `op` through `handleOps` and expects exactly `revertData`.
    /// @param entryPoint The EntryPoint.
    /// @param op The signed user operation.
    /// @param revertData The exact expected revert data.
    function _handleOpExpectRevert(IEntryPoint entryPoint, PackedUserOperation memory op, bytes memory revertData)
        internal
    {
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.expectRevert(revertData);
        vm.prank(bundler, bundler);
        entryPoint.handleOps(ops, bundler);
    }

    /// @notice Sends `op` and expects `FailedOp(0, "AA24 signature error")` (validation returned failure).
    /// @param entryPoint The EntryPoint.
    /// @param op The user operation.
    function _expectSignatureError(IEntryPoint entryPoint, PackedUserOperation memory op) internal {
        _handleOpExpectRevert(entryPoint, op, _failedOp(0, "AA24 signature error"));
    }

    /// @notice Sends `op` and expects `FailedOp(0, "AA22 expired or not due")` (validity window not met).
    /// @param entryPoint The EntryPoint.
    /// @param op The user operation.
    function _expectExpiredOrNotDue(IEntryPoint entryPoint, PackedUserOperation memory op) internal {
        _handleOpExpectRevert(entryPoint, op, _failedOp(0, "AA22 expired or not due"));
    }

    /// @notice Sends `op` and expects `FailedOpWithRevert(0, "AA23 reverted", inner)` (validation reverted).
    /// @param entryPoint The EntryPoint.
    /// @param op The user operation.
    /// @param inner The exact revert data of the account's validation (e.g. `abi.encodeWithSelector(...)`).
    function _expectValidationReverted(IEntryPoint entryPoint, PackedUserOperation memory op, bytes memory inner)
        internal
    {
        _handleOpExpectRevert(entryPoint, op, _failedOpWithRevert(0, "AA23 reverted", inner));
    }
}
