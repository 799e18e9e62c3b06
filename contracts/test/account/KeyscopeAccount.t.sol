// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {ERC7579Utils} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {
    Execution,
    IERC7579ModuleConfig,
    MODULE_TYPE_EXECUTOR,
    MODULE_TYPE_VALIDATOR,
    VALIDATION_FAILED,
    VALIDATION_SUCCESS
} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {Initializable} from "@openzeppelin/contracts/proxy/utils/Initializable.sol";
import {Account as OZAccount} from "@openzeppelin/contracts/account/Account.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

import {KeyscopeAccount} from "../../src/account/KeyscopeAccount.sol";
import {KeyscopeAccountFactory} from "../../src/account/KeyscopeAccountFactory.sol";
import {OwnerECDSAValidator} from "../../src/account/OwnerECDSAValidator.sol";
import {AccountTestBase} from "../utils/AccountTestBase.sol";
import {MockRevertingValidator, MockTimeboundValidator} from "../mocks/Validators.sol";

contract KeyscopeAccountTest is AccountTestBase {
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
    uint256 internal constant OTHER_KEY = uint256(keccak256("keyscope.test.other"));

    address internal recipient = makeAddr("recipient");

    // ---------------------------------------------------------------------------------------------------------------
    // Host sanity
    // ---------------------------------------------------------------------------------------------------------------

    function test_setUp_deploysEntryPoints_canonicalAddresses() public view {
        assertEq(address(entryPointV07), 0x0000000071727De22E5E9d8BAf0edAc6f37da032);
        assertEq(address(entryPointV08), 0x4337084D9E255Ff0702461CF8895CE9E3b5Ff108);
        assertGt(address(entryPointV07).code.length, 0);
        assertGt(address(entryPointV08).code.length, 0);
        // Only v0.8 is EIP-712 (getDomainSeparatorV4); proves the two artifacts really are different versions.
        (bool v07HasDomain,) = address(entryPointV07).staticcall(abi.encodeWithSignature("getDomainSeparatorV4()"));
        (bool v08HasDomain,) = address(entryPointV08).staticcall(abi.encodeWithSignature("getDomainSeparatorV4()"));
        assertFalse(v07HasDomain);
        assertTrue(v08HasDomain);
    }

    function test_entryPoint_returnsImmutable_perImplementation() public view {
        assertEq(address(accountV07.entryPoint()), address(entryPointV07));
        assertEq(address(accountV08.entryPoint()), address(entryPointV08));
        assertEq(address(implementationV07.entryPoint()), address(entryPointV07));
        assertEq(address(implementationV08.entryPoint()), address(entryPointV08));
    }

    function test_setUp_fundsAccounts_balanceAndDeposit() public view {
        assertEq(address(accountV07).balance, ACCOUNT_ETH);
        assertEq(address(accountV08).balance, ACCOUNT_ETH);
        assertEq(entryPointV07.balanceOf(address(accountV07)), ACCOUNT_DEPOSIT);
        assertEq(entryPointV08.balanceOf(address(accountV08)), ACCOUNT_DEPOSIT);
        assertEq(ownerValidator.ownerOf(address(accountV07)), owner);
        assertEq(ownerValidator.ownerOf(address(accountV08)), owner);
        assertTrue(accountV07.isModuleInstalled(MODULE_TYPE_VALIDATOR, address(ownerValidator), ""));
        assertTrue(accountV08.isModuleInstalled(MODULE_TYPE_VALIDATOR, address(ownerValidator), ""));
    }

    function test_receive_acceptsEth_plainTransfer() public {
        vm.deal(address(this), 1 ether);
        (bool ok,) = payable(address(accountV07)).call{value: 1 ether}("");
        assertTrue(ok);
        assertEq(address(accountV07).balance, ACCOUNT_ETH + 1 ether);
    }

    function test_initialize_reverts_implementation() public {
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        implementationV07.initialize(address(ownerValidator), abi.encode(owner), new address[](0), new bytes[](0));
    }

    function test_initialize_reverts_alreadyInitialized() public {
        vm.expectRevert(Initializable.InvalidInitialization.selector);
        accountV08.initialize(address(ownerValidator), abi.encode(owner), new address[](0), new bytes[](0));
    }

    function test_validateUserOp_reverts_callerNotEntryPoint() public {
        PackedUserOperation memory op = _buildOwnerUserOp(entryPointV07, address(accountV07), "");
        vm.expectRevert(abi.encodeWithSelector(OZAccount.AccountUnauthorized.selector, address(this)));
        accountV07.validateUserOp(op, bytes32(0), 0);
    }

    function test_execute_reverts_callerNotEntryPointOrSelf() public {
        vm.expectRevert(abi.encodeWithSelector(OZAccount.AccountUnauthorized.selector, address(this)));
        accountV07.execute(bytes32(0), abi.encodePacked(address(token), uint256(0), ""));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Owner-signed operations
    // ---------------------------------------------------------------------------------------------------------------

    function test_handleOps_succeeds_ownerSignedErc20TransferV07() public {
        _checkOwnerSignedTransfer(EntryPointVersion.V07);
    }

    function test_handleOps_succeeds_ownerSignedErc20TransferV08() public {
        _checkOwnerSignedTransfer(EntryPointVersion.V08);
    }

    function _checkOwnerSignedTransfer(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        address account = address(env.account);
        token.mint(account, 100 ether);
        uint256 depositBefore = env.entryPoint.balanceOf(account);

        _sendOwnerOp(
            env.entryPoint,
            account,
            _executeSingle(address(token), 0, abi.encodeCall(token.transfer, (recipient, 40 ether)))
        );

        assertEq(token.balanceOf(recipient), 40 ether);
        assertEq(token.balanceOf(account), 60 ether);
        assertEq(_getNonce(env.entryPoint, account, address(ownerValidator), DEFAULT_LANE) & type(uint64).max, 1);
        // The op was paid from the deposit, and the bundler (beneficiary) was compensated.
        assertLt(env.entryPoint.balanceOf(account), depositBefore);
        assertGt(bundler.balance, 0);
    }

    function test_handleOps_succeeds_ownerSignedBatchV07() public {
        _checkOwnerSignedBatch(EntryPointVersion.V07);
    }

    function test_handleOps_succeeds_ownerSignedBatchV08() public {
        _checkOwnerSignedBatch(EntryPointVersion.V08);
    }

    function _checkOwnerSignedBatch(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        address account = address(env.account);
        Execution[] memory calls = new Execution[](3);
        calls[0] = Execution(address(token), 0, abi.encodeCall(token.mint, (account, 5 ether)));
        calls[1] = Execution(address(token), 0, abi.encodeCall(token.transfer, (recipient, 2 ether)));
        calls[2] = Execution(recipient, 1 ether, "");

        _sendOwnerOp(env.entryPoint, account, _executeBatch(calls));

        assertEq(token.balanceOf(account), 3 ether);
        assertEq(token.balanceOf(recipient), 2 ether);
        assertEq(recipient.balance, 1 ether);
    }

    function test_handleOps_revertsAA24_wrongOwnerSignatureV07() public {
        _checkWrongOwnerSignature(EntryPointVersion.V07);
    }

    function test_handleOps_revertsAA24_wrongOwnerSignatureV08() public {
        _checkWrongOwnerSignature(EntryPointVersion.V08);
    }

    function _checkWrongOwnerSignature(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        token.mint(address(env.account), 1 ether);
        bytes memory callData = _executeSingle(address(token), 0, abi.encodeCall(token.transfer, (recipient, 1 ether)));
        PackedUserOperation memory op = _buildOwnerUserOp(env.entryPoint, address(env.account), callData);
        op = _signUserOp(env.entryPoint, op, OTHER_KEY);

        _expectSignatureError(env.entryPoint, op);
        assertEq(token.balanceOf(recipient), 0);
    }

    function test_handleOps_revertsAA24_signatureForOtherEntryPointV08() public {
        // The same op signed for v0.7's hash must not validate on v0.8 (the hashes are domain-separated).
        PackedUserOperation memory op = _buildOwnerUserOp(entryPointV08, address(accountV08), "");
        op.signature = _sign(OWNER_KEY, _userOpHash(entryPointV07, op));
        _expectSignatureError(entryPointV08, op);
    }

    function test_handleOps_revertsAA24_highSOwnerSignatureV07() public {
        _checkHighSThroughEntryPoint(EntryPointVersion.V07);
    }

    function test_handleOps_revertsAA24_highSOwnerSignatureV08() public {
        _checkHighSThroughEntryPoint(EntryPointVersion.V08);
    }

    function _checkHighSThroughEntryPoint(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        PackedUserOperation memory op = _buildOwnerUserOp(env.entryPoint, address(env.account), "");
        op.signature = _highS(OWNER_KEY, _userOpHash(env.entryPoint, op));
        _expectSignatureError(env.entryPoint, op);
    }

    function test_handleOps_succeeds_ownerEip191Signature() public onEachEntryPoint {
        // `personal_sign` over the userOpHash (as Particle's SDK signs it) validates like the raw form.
        address account = address(currentEnv.account);
        token.mint(account, 10 ether);
        bytes memory callData = _executeSingle(address(token), 0, abi.encodeCall(token.transfer, (recipient, 4 ether)));
        PackedUserOperation memory op = _buildOwnerUserOp(currentEnv.entryPoint, account, callData);
        op.signature = _signEip191(OWNER_KEY, _userOpHash(currentEnv.entryPoint, op));
        _handleOp(currentEnv.entryPoint, op);
        assertEq(token.balanceOf(recipient), 4 ether);
    }

    function test_handleOps_revertsAA24_eip191SignatureByOther() public onEachEntryPoint {
        address account = address(currentEnv.account);
        token.mint(account, 1 ether);
        bytes memory callData = _executeSingle(address(token), 0, abi.encodeCall(token.transfer, (recipient, 1 ether)));
        PackedUserOperation memory op = _buildOwnerUserOp(currentEnv.entryPoint, account, callData);
        op.signature = _signEip191(OTHER_KEY, _userOpHash(currentEnv.entryPoint, op));
        _expectSignatureError(currentEnv.entryPoint, op);
        assertEq(token.balanceOf(recipient), 0);
    }

    function test_handleOps_revertsAA24_eip191HighSOwnerSignature() public onEachEntryPoint {
        PackedUserOperation memory op = _buildOwnerUserOp(currentEnv.entryPoint, address(currentEnv.account), "");
        op.signature =
            _highS(OWNER_KEY, MessageHashUtils.toEthSignedMessageHash(_userOpHash(currentEnv.entryPoint, op)));
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    function test_handleOps_revertsAA24_doublePrefixedOwnerSignature() public onEachEntryPoint {
        // Only one EIP-191 layer is accepted: a personal_sign of the already-prefixed digest is refused.
        PackedUserOperation memory op = _buildOwnerUserOp(currentEnv.entryPoint, address(currentEnv.account), "");
        op.signature =
            _signEip191(OWNER_KEY, MessageHashUtils.toEthSignedMessageHash(_userOpHash(currentEnv.entryPoint, op)));
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    /// @notice A 65-byte signature of `toEthSignedMessageHash(hash)` (what `personal_sign(hash)` produces).
    function _signEip191(uint256 privateKey, bytes32 hash) internal pure returns (bytes memory) {
        return _sign(privateKey, MessageHashUtils.toEthSignedMessageHash(hash));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Factory
    // ---------------------------------------------------------------------------------------------------------------

    function test_getAddress_matchesCreateAccount_sameArgsV07() public {
        _checkFactoryPrediction(EntryPointVersion.V07);
    }

    function test_getAddress_matchesCreateAccount_sameArgsV08() public {
        _checkFactoryPrediction(EntryPointVersion.V08);
    }

    function _checkFactoryPrediction(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        address other = vm.addr(OTHER_KEY);
        assertEq(env.factory.getAddress(owner, ACCOUNT_SALT, new address[](0), new bytes[](0)), address(env.account));

        address predicted = env.factory.getAddress(other, 7, new address[](0), new bytes[](0));
        assertEq(predicted.code.length, 0);
        KeyscopeAccount created = _createAccount(env.factory, other, 7);
        assertEq(address(created), predicted);
        assertEq(ownerValidator.ownerOf(predicted), other);

        // With an extra validator: a different address, and the extra module is installed at creation.
        OwnerECDSAValidator extra = new OwnerECDSAValidator();
        address[] memory extraValidators = new address[](1);
        bytes[] memory extraInitData = new bytes[](1);
        extraValidators[0] = address(extra);
        extraInitData[0] = abi.encode(owner);
        address predictedExtra = env.factory.getAddress(other, 7, extraValidators, extraInitData);
        assertTrue(predictedExtra != predicted);
        KeyscopeAccount createdExtra = _createAccount(env.factory, other, 7, extraValidators, extraInitData);
        assertEq(address(createdExtra), predictedExtra);
        assertTrue(createdExtra.isModuleInstalled(MODULE_TYPE_VALIDATOR, address(extra), ""));
        assertEq(extra.ownerOf(predictedExtra), owner);
    }

    function test_createAccount_returnsExisting_alreadyDeployed() public {
        vm.recordLogs();
        KeyscopeAccount again = _createAccount(factoryV07, owner, ACCOUNT_SALT);
        assertEq(address(again), address(accountV07));
        assertEq(vm.getRecordedLogs().length, 0);
    }

    function test_initialize_reverts_lengthMismatch() public {
        vm.expectRevert(abi.encodeWithSelector(KeyscopeAccount.ValidatorsLengthMismatch.selector, 1, 0));
        factoryV07.createAccount(owner, 99, new address[](1), new bytes[](0));
    }

    function test_handleOps_createsAccount_initCodeInFirstOpV07() public {
        _checkInitCode(EntryPointVersion.V07);
    }

    function test_handleOps_createsAccount_initCodeInFirstOpV08() public {
        _checkInitCode(EntryPointVersion.V08);
    }

    function _checkInitCode(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        uint256 salt = 42;
        address predicted = env.factory.getAddress(owner, salt, new address[](0), new bytes[](0));
        assertEq(predicted.code.length, 0);
        _fundAccount(env.entryPoint, predicted);
        token.mint(predicted, 10 ether);

        bytes memory callData = _executeSingle(address(token), 0, abi.encodeCall(token.transfer, (recipient, 3 ether)));
        PackedUserOperation memory op = _buildOwnerUserOp(env.entryPoint, predicted, callData);
        op.initCode = _initCode(env.factory, owner, salt, new address[](0), new bytes[](0));
        op = _signUserOp(env.entryPoint, op, OWNER_KEY);
        _handleOp(env.entryPoint, op);

        assertGt(predicted.code.length, 0);
        assertEq(address(KeyscopeAccount(payable(predicted)).entryPoint()), address(env.entryPoint));
        assertEq(ownerValidator.ownerOf(predicted), owner);
        assertEq(token.balanceOf(recipient), 3 ether);
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Module management through owner operations
    // ---------------------------------------------------------------------------------------------------------------

    function test_handleOps_installsAndUninstallsValidator_ownerOpV07() public {
        _checkInstallUninstall(EntryPointVersion.V07);
    }

    function test_handleOps_installsAndUninstallsValidator_ownerOpV08() public {
        _checkInstallUninstall(EntryPointVersion.V08);
    }

    function _checkInstallUninstall(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        address account = address(env.account);
        address other = vm.addr(OTHER_KEY);
        OwnerECDSAValidator second = new OwnerECDSAValidator();
        token.mint(account, 10 ether);

        // Install `second` (owned by `other`) with a self-call; address(0) as target also means "self".
        vm.expectEmit(account);
        emit IERC7579ModuleConfig.ModuleInstalled(MODULE_TYPE_VALIDATOR, address(second));
        _sendOwnerOp(
            env.entryPoint,
            account,
            _executeSingle(
                address(0),
                0,
                abi.encodeCall(
                    IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(second), abi.encode(other))
                )
            )
        );
        assertTrue(env.account.isModuleInstalled(MODULE_TYPE_VALIDATOR, address(second), ""));
        assertEq(second.ownerOf(account), other);

        // `other` can now operate the account through `second` (nonce key selects the validator) ...
        bytes memory transfer = _executeSingle(address(token), 0, abi.encodeCall(token.transfer, (recipient, 1 ether)));
        PackedUserOperation memory op = _buildUserOp(env.entryPoint, account, _nonceKey(address(second), 7), transfer);
        _handleOp(env.entryPoint, _signUserOp(env.entryPoint, op, OTHER_KEY));
        assertEq(token.balanceOf(recipient), 1 ether);

        // ... but not through the owner validator.
        op = _buildOwnerUserOp(env.entryPoint, account, transfer);
        op = _signUserOp(env.entryPoint, op, OTHER_KEY);
        _expectSignatureError(env.entryPoint, op);

        // Uninstall `second` with an owner op.
        _sendOwnerOp(
            env.entryPoint,
            account,
            _executeSingle(
                account,
                0,
                abi.encodeCall(IERC7579ModuleConfig.uninstallModule, (MODULE_TYPE_VALIDATOR, address(second), ""))
            )
        );
        assertFalse(env.account.isModuleInstalled(MODULE_TYPE_VALIDATOR, address(second), ""));
        assertFalse(second.isInitialized(account));

        // An op selecting the uninstalled validator falls back to the account's raw validation, which rejects.
        op = _buildUserOp(env.entryPoint, account, _nonceKey(address(second), 7), transfer);
        op = _signUserOp(env.entryPoint, op, OTHER_KEY);
        _expectSignatureError(env.entryPoint, op);
        assertEq(token.balanceOf(recipient), 1 ether);
    }

    function test_handleOps_skipsInstall_moduleTypeMismatch() public {
        // Module type mismatch surfaces at execution, not validation: the op itself succeeds but the call fails.
        MockRevertingValidator notExecutor = new MockRevertingValidator();
        bytes memory callData = _executeSingle(
            address(0),
            0,
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_EXECUTOR, address(notExecutor), ""))
        );
        _sendOwnerOp(entryPointV07, address(accountV07), callData);
        assertFalse(accountV07.isModuleInstalled(MODULE_TYPE_EXECUTOR, address(notExecutor), ""));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Expected-revert helpers (AA22 / AA23) on both EntryPoints
    // ---------------------------------------------------------------------------------------------------------------

    function test_handleOps_revertsAA22_expiredValidationDataV07() public {
        _checkExpired(EntryPointVersion.V07);
    }

    function test_handleOps_revertsAA22_expiredValidationDataV08() public {
        _checkExpired(EntryPointVersion.V08);
    }

    function _checkExpired(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        vm.warp(1_000_000);
        MockTimeboundValidator expired = new MockTimeboundValidator(0, 999_999);
        _sendOwnerOp(
            env.entryPoint,
            address(env.account),
            _executeSingle(
                address(0),
                0,
                abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(expired), ""))
            )
        );
        PackedUserOperation memory op =
            _buildUserOp(env.entryPoint, address(env.account), _nonceKey(address(expired), 0), "");
        _expectExpiredOrNotDue(env.entryPoint, op);

        MockTimeboundValidator notDue = new MockTimeboundValidator(1_000_001, 2_000_000);
        _sendOwnerOp(
            env.entryPoint,
            address(env.account),
            _executeSingle(
                address(0),
                0,
                abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(notDue), ""))
            )
        );
        op = _buildUserOp(env.entryPoint, address(env.account), _nonceKey(address(notDue), 0), "");
        _expectExpiredOrNotDue(env.entryPoint, op);

        // Inside the window it passes.
        vm.warp(1_500_000);
        _handleOp(env.entryPoint, op);
    }

    function test_handleOps_revertsAA23_validatorRevertsV07() public {
        _checkValidationReverted(EntryPointVersion.V07);
    }

    function test_handleOps_revertsAA23_validatorRevertsV08() public {
        _checkValidationReverted(EntryPointVersion.V08);
    }

    function _checkValidationReverted(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        MockRevertingValidator reverting = new MockRevertingValidator();
        _sendOwnerOp(
            env.entryPoint,
            address(env.account),
            _executeSingle(
                address(0),
                0,
                abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(reverting), ""))
            )
        );
        PackedUserOperation memory op =
            _buildUserOp(env.entryPoint, address(env.account), _nonceKey(address(reverting), 0), "");
        bytes32 userOpHash = _userOpHash(env.entryPoint, op);
        _expectValidationReverted(
            env.entryPoint,
            op,
            abi.encodeWithSelector(
                MockRevertingValidator.MockValidationReverted.selector, address(env.account), userOpHash
            )
        );
    }

    // ---------------------------------------------------------------------------------------------------------------
    // OwnerECDSAValidator unit tests
    // ---------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_returnsSuccess_ownerSignature() public {
        bytes32 hash = keccak256("op");
        PackedUserOperation memory op;
        op.signature = _sign(OWNER_KEY, hash);
        vm.prank(address(accountV07));
        assertEq(ownerValidator.validateUserOp(op, hash), VALIDATION_SUCCESS);
    }

    function test_validateUserOp_returnsFailed_highS() public {
        bytes32 hash = keccak256("op");
        PackedUserOperation memory op;
        op.signature = _highS(OWNER_KEY, hash);
        // Sanity: the malleated signature really recovers the owner through the raw precompile.
        (bytes32 r, bytes32 s, uint8 v) = _split(op.signature);
        assertEq(ecrecover(hash, v, r, s), owner);
        vm.prank(address(accountV07));
        assertEq(ownerValidator.validateUserOp(op, hash), VALIDATION_FAILED);
    }

    function test_validateUserOp_returnsFailed_wrongLength() public {
        bytes32 hash = keccak256("op");
        bytes memory good = _sign(OWNER_KEY, hash);
        (bytes32 r, bytes32 s, uint8 v) = _split(good);
        bytes[] memory bad = new bytes[](5);
        bad[0] = "";
        bad[1] = abi.encodePacked(r, s); // 64 bytes
        bad[2] = abi.encodePacked(r, bytes32(uint256(v - 27) << 255 | uint256(s))); // ERC-2098 compact, 64 bytes
        bad[3] = abi.encodePacked(good, uint8(0)); // 66 bytes
        bad[4] = abi.encodePacked(r, s, uint256(v)); // 96 bytes
        PackedUserOperation memory op;
        for (uint256 i = 0; i < bad.length; ++i) {
            op.signature = bad[i];
            vm.prank(address(accountV07));
            assertEq(ownerValidator.validateUserOp(op, hash), VALIDATION_FAILED);
        }
    }

    function test_validateUserOp_returnsFailed_wrongSignerOrGarbage() public {
        bytes32 hash = keccak256("op");
        PackedUserOperation memory op;
        op.signature = _sign(OTHER_KEY, hash);
        vm.prank(address(accountV07));
        assertEq(ownerValidator.validateUserOp(op, hash), VALIDATION_FAILED);

        op.signature = abi.encodePacked(bytes32(uint256(1)), bytes32(uint256(2)), uint8(29)); // invalid v
        vm.prank(address(accountV07));
        assertEq(ownerValidator.validateUserOp(op, hash), VALIDATION_FAILED);

        op.signature = new bytes(65); // all zero: ecrecover yields address(0)
        vm.prank(address(accountV07));
        assertEq(ownerValidator.validateUserOp(op, hash), VALIDATION_FAILED);
    }

    function test_validateUserOp_returnsFailed_notInstalled() public view {
        bytes32 hash = keccak256("op");
        PackedUserOperation memory op;
        op.signature = _sign(OWNER_KEY, hash);
        // Called by an address that never installed the module (no owner): failure, not revert.
        assertEq(ownerValidator.validateUserOp(op, hash), VALIDATION_FAILED);
    }

    function test_isValidSignatureWithSender_returnsMagic_ownerSignature() public {
        bytes32 hash = keccak256("message");
        vm.startPrank(address(accountV08));
        assertEq(
            ownerValidator.isValidSignatureWithSender(address(this), hash, _sign(OWNER_KEY, hash)), bytes4(0x1626ba7e)
        );
        assertEq(
            ownerValidator.isValidSignatureWithSender(address(this), hash, _sign(OTHER_KEY, hash)), bytes4(0xffffffff)
        );
        assertEq(
            ownerValidator.isValidSignatureWithSender(address(this), hash, _highS(OWNER_KEY, hash)), bytes4(0xffffffff)
        );
        assertEq(ownerValidator.isValidSignatureWithSender(address(this), hash, ""), bytes4(0xffffffff));
        vm.stopPrank();
    }

    function test_isValidSignatureWithSender_returnsMagic_eip191OwnerSignature() public {
        bytes32 hash = keccak256("message");
        vm.startPrank(address(accountV07));
        assertEq(
            ownerValidator.isValidSignatureWithSender(address(this), hash, _signEip191(OWNER_KEY, hash)),
            bytes4(0x1626ba7e)
        );
        assertEq(
            ownerValidator.isValidSignatureWithSender(address(this), hash, _signEip191(OTHER_KEY, hash)),
            bytes4(0xffffffff)
        );
        vm.stopPrank();
    }

    function test_isValidSignature_returnsMagic_eip191OwnerSignatureOnEachEntryPoint() public view {
        bytes32 hash = keccak256("message");
        bytes memory sig = abi.encodePacked(address(ownerValidator), _signEip191(OWNER_KEY, hash));
        assertEq(accountV07.isValidSignature(hash, sig), bytes4(0x1626ba7e));
        assertEq(accountV08.isValidSignature(hash, sig), bytes4(0x1626ba7e));
    }

    function test_validateUserOp_returnsSuccess_eip191OwnerSignature() public {
        bytes32 hash = keccak256("op");
        PackedUserOperation memory op;
        op.signature = _signEip191(OWNER_KEY, hash);
        vm.prank(address(accountV07));
        assertEq(ownerValidator.validateUserOp(op, hash), VALIDATION_SUCCESS);
    }

    function test_isValidSignature_returnsMagic_ownerValidatorPrefix() public view {
        bytes32 hash = keccak256("message");
        bytes memory sig = abi.encodePacked(address(ownerValidator), _sign(OWNER_KEY, hash));
        assertEq(accountV07.isValidSignature(hash, sig), bytes4(0x1626ba7e));
        assertEq(accountV08.isValidSignature(hash, sig), bytes4(0x1626ba7e));
        bytes memory wrong = abi.encodePacked(address(ownerValidator), _sign(OTHER_KEY, hash));
        assertEq(accountV07.isValidSignature(hash, wrong), bytes4(0xffffffff));
    }

    function test_onInstall_reverts_zeroOwner() public {
        vm.expectRevert(abi.encodeWithSelector(OwnerECDSAValidator.OwnerZeroAddress.selector, address(this)));
        ownerValidator.onInstall(abi.encode(address(0)));
    }

    function test_onInstall_reverts_alreadyInstalled() public {
        vm.prank(address(accountV07));
        vm.expectRevert(
            abi.encodeWithSelector(OwnerECDSAValidator.AlreadyInstalled.selector, address(accountV07), owner)
        );
        ownerValidator.onInstall(abi.encode(recipient));
    }

    function test_onInstall_reverts_malformedData() public {
        vm.expectRevert(abi.encodeWithSelector(OwnerECDSAValidator.InvalidInstallData.selector, address(this), 20));
        ownerValidator.onInstall(abi.encodePacked(owner));
    }

    function test_onUninstall_deletesOwner_installed() public {
        vm.startPrank(address(accountV07));
        vm.expectEmit(address(ownerValidator));
        emit OwnerECDSAValidator.OwnerRemoved(address(accountV07), owner);
        ownerValidator.onUninstall("");
        assertFalse(ownerValidator.isInitialized(address(accountV07)));
        assertEq(ownerValidator.ownerOf(address(accountV07)), address(0));
        // Idempotent, never reverts.
        ownerValidator.onUninstall("");
        vm.stopPrank();
    }

    function test_isModuleType_returnsTrue_validatorOnly() public view {
        assertTrue(ownerValidator.isModuleType(MODULE_TYPE_VALIDATOR));
        assertFalse(ownerValidator.isModuleType(MODULE_TYPE_EXECUTOR));
    }

    // ---------------------------------------------------------------------------------------------------------------
    // Signature helpers
    // ---------------------------------------------------------------------------------------------------------------

    /// @dev The malleated (high-s) twin of a valid signature: s' = n - s, v' flipped. ecrecover still accepts it.
    function _highS(uint256 privateKey, bytes32 hash) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, hash);
        return abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
    }

    function _split(bytes memory sig) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        assembly ("memory-safe") {
            r := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
            v := byte(0, mload(add(sig, 0x60)))
        }
    }
}
