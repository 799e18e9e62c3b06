// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7579ModuleConfig, MODULE_TYPE_VALIDATOR} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {SessionKeyValidator} from "../../src/SessionKeyValidator.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {AccountTestBase} from "./AccountTestBase.sol";
import {CallProof, SessionEncoding} from "./SessionEncoding.sol";

/// @notice Host with the SessionKeyValidator installed on both default accounts, and session helpers.
abstract contract SessionTestBase is AccountTestBase {
    /// @notice Private key of the default session key.
    uint256 internal constant SESSION_KEY = uint256(keccak256("keyscope.test.session"));

    /// @notice Default session start (a fixed, realistic time).
    uint48 internal constant START = 1_800_000_000;

    /// @notice The validator under test.
    SessionKeyValidator internal validator;

    /// @notice The default session key's address.
    address internal sessionSigner;

    /// @notice Deploys the validator and installs it on both default accounts by owner operations.
    function setUp() public virtual override {
        super.setUp();
        vm.warp(START + 1); // strictly after validAfter, as EntryPoint v0.8 requires
        validator = new SessionKeyValidator();
        vm.label(address(validator), "SessionKeyValidator");
        sessionSigner = vm.addr(SESSION_KEY);
        vm.label(sessionSigner, "sessionKey");
        _installValidator(entryPointV07, address(accountV07));
        _installValidator(entryPointV08, address(accountV08));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Owner actions
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Installs the validator on `account` through an owner operation.
    function _installValidator(IEntryPoint entryPoint, address account) internal {
        _installValidatorWith(entryPoint, account, "");
    }

    /// @notice Installs the validator with `initData` on `account` through an owner operation.
    function _installValidatorWith(IEntryPoint entryPoint, address account, bytes memory initData) internal {
        _sendOwnerOp(
            entryPoint,
            account,
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(validator), initData))
        );
    }

    /// @notice Uninstalls the validator from `account` through an owner operation.
    function _uninstallValidator(IEntryPoint entryPoint, address account) internal {
        _sendOwnerOp(
            entryPoint,
            account,
            abi.encodeCall(IERC7579ModuleConfig.uninstallModule, (MODULE_TYPE_VALIDATOR, address(validator), ""))
        );
    }

    /// @notice Grants `session` on `account` through an owner operation calling the validator.
    function _grant(IEntryPoint entryPoint, address account, SessionTypes.Session memory session) internal {
        _sendOwnerOp(entryPoint, account, _validatorCall(abi.encodeCall(ISessionKeyValidator.grantSession, (session))));
    }

    /// @notice Revokes `sessionId` on `account` through an owner operation.
    function _revoke(IEntryPoint entryPoint, address account, bytes32 sessionId) internal {
        _sendOwnerOp(
            entryPoint, account, _validatorCall(abi.encodeCall(ISessionKeyValidator.revokeSession, (sessionId)))
        );
    }

    /// @notice Revokes every session of `account` through an owner operation.
    function _revokeAll(IEntryPoint entryPoint, address account) internal {
        _sendOwnerOp(entryPoint, account, _validatorCall(abi.encodeCall(ISessionKeyValidator.revokeAllSessions, ())));
    }

    /// @notice Account calldata: a call of the validator by the account.
    function _validatorCall(bytes memory data) internal view returns (bytes memory) {
        return _executeSingle(address(validator), 0, data);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Sessions and permissions
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Default session `maxOperationFee`: above the default operation's prefund (4.1M gas at 2 gwei).
    uint128 internal constant DEFAULT_MAX_OPERATION_FEE = 0.05 ether;

    /// @notice Default session `feeBudget`.
    uint128 internal constant DEFAULT_FEE_BUDGET = 2 ether;

    /// @notice A session of the default key over `root`, valid for one day from START, any paymaster, with the
    ///         default fee scope.
    function _session(bytes32 root) internal view returns (SessionTypes.Session memory) {
        return SessionTypes.Session({
            signer: sessionSigner,
            validAfter: START,
            validUntil: START + 1 days,
            permissionsRoot: root,
            paymasterPolicy: SessionTypes.PaymasterPolicy.Any,
            paymaster: address(0),
            maxOperationFee: DEFAULT_MAX_OPERATION_FEE,
            feeBudget: DEFAULT_FEE_BUDGET,
            salt: bytes32(0)
        });
    }

    /// @notice A permission to call `selector` on `target` with no value, limits or rules.
    function _permission(address target, bytes4 selector) internal pure returns (SessionTypes.Permission memory p) {
        p.target = target;
        p.selector = selector;
    }

    /// @notice A rule with one operand.
    function _rule(SessionTypes.RuleOperator operator, uint16 argIndex, bytes32 operand)
        internal
        pure
        returns (SessionTypes.ArgRule memory rule)
    {
        rule.operator = operator;
        rule.argIndex = argIndex;
        rule.operands = new bytes32[](1);
        rule.operands[0] = operand;
    }

    /// @notice A rule with two operands.
    function _rule2(SessionTypes.RuleOperator operator, uint16 argIndex, bytes32 a, bytes32 b)
        internal
        pure
        returns (SessionTypes.ArgRule memory rule)
    {
        rule.operator = operator;
        rule.argIndex = argIndex;
        rule.operands = new bytes32[](2);
        rule.operands[0] = a;
        rule.operands[1] = b;
    }

    /// @notice A one-leaf tree: its root is the leaf, its proof is empty.
    function _singleLeafSession(SessionTypes.Permission memory permission)
        internal
        view
        returns (SessionTypes.Session memory)
    {
        return _session(SessionEncoding.leaf(permission));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Session operations
    // ------------------------------------------------------------------------------------------------------------

    /// @notice The nonce key of a session lane on the validator.
    function _sessionNonceKey(uint32 lane) internal view returns (uint192) {
        return _nonceKey(address(validator), lane);
    }

    /// @notice A use-mode operation signed by `key`.
    function _useOp(
        IEntryPoint entryPoint,
        address account,
        bytes memory callData,
        SessionTypes.Session memory session,
        CallProof[] memory calls,
        uint256 key
    ) internal view returns (PackedUserOperation memory op) {
        op = _buildUserOp(entryPoint, account, _sessionNonceKey(1), callData);
        op.signature = SessionEncoding.useSignature(session, calls, _sign(key, _userOpHash(entryPoint, op)));
    }

    /// @notice Signs `op` in use mode with `key` (call after every other field is final).
    function _signUse(
        IEntryPoint entryPoint,
        PackedUserOperation memory op,
        SessionTypes.Session memory session,
        CallProof[] memory calls,
        uint256 key
    ) internal view returns (PackedUserOperation memory) {
        op.signature = SessionEncoding.useSignature(session, calls, _sign(key, _userOpHash(entryPoint, op)));
        return op;
    }

    /// @notice A use-mode operation with a single call and its permission, signed by the default session key.
    function _useOp1(
        IEntryPoint entryPoint,
        address account,
        bytes memory callData,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        bytes32[] memory proof
    ) internal view returns (PackedUserOperation memory) {
        return _useOp(entryPoint, account, callData, session, SessionEncoding.one(permission, proof), SESSION_KEY);
    }

    /// @notice A use operation of `env`'s account: one call (`callTarget`, `value`, `data`) under the single-leaf
    /// `session` of `permission` (empty proof), signed by the default session key.
    function _op1(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        address callTarget,
        uint256 value,
        bytes memory data
    ) internal view returns (PackedUserOperation memory) {
        return _op1(env, session, permission, _noProof(), callTarget, value, data);
    }

    /// @notice A use operation of `env`'s account: one call (`callTarget`, `value`, `data`) under `permission` of
    /// `session` with its Merkle `proof`, signed by the default session key.
    function _op1(
        AccountEnv memory env,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        bytes32[] memory proof,
        address callTarget,
        uint256 value,
        bytes memory data
    ) internal view returns (PackedUserOperation memory) {
        return _useOp1(
            env.entryPoint, address(env.account), _executeSingle(callTarget, value, data), session, permission, proof
        );
    }

    /// @notice Revert data of `SessionNotActive(sessionId)`.
    function _notActive(bytes32 sessionId) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.SessionNotActive.selector, sessionId);
    }

    /// @notice The owner's enable signature for `session` on `account`, as the account's ERC-1271 expects it.
    function _ownerEnableSignature(address account, SessionTypes.Session memory session)
        internal
        view
        returns (bytes memory)
    {
        return _ownerSignatureOf(validator.enableDigest(account, session));
    }

    /// @notice The owner's ERC-1271 signature (owner-validator prefix) of `digest`.
    function _ownerSignatureOf(bytes32 digest) internal view returns (bytes memory) {
        return abi.encodePacked(address(ownerValidator), _sign(OWNER_KEY, digest));
    }

    /// @notice An enable-mode operation: owner enable signature plus the session key's signature.
    function _enableOp(
        IEntryPoint entryPoint,
        address account,
        bytes memory callData,
        SessionTypes.Session memory session,
        CallProof[] memory calls,
        bytes memory ownerSignature
    ) internal view returns (PackedUserOperation memory op) {
        op = _buildUserOp(entryPoint, account, _sessionNonceKey(1), callData);
        op.signature = SessionEncoding.enableSignature(
            session, ownerSignature, calls, _sign(SESSION_KEY, _userOpHash(entryPoint, op))
        );
    }

    /// @notice An empty proof.
    function _noProof() internal pure returns (bytes32[] memory) {
        return new bytes32[](0);
    }

    /// @notice Sends `op` and expects the validator's `inner` custom error wrapped in AA23.
    function _expectScopeError(IEntryPoint entryPoint, PackedUserOperation memory op, bytes memory inner) internal {
        _expectValidationReverted(entryPoint, op, inner);
    }

    /// @notice Splits ERC-4337 validation data into its fields.
    function _unpackValidationData(uint256 validationData)
        internal
        pure
        returns (uint160 aggregator, uint48 validUntil, uint48 validAfter)
    {
        aggregator = uint160(validationData);
        validUntil = uint48(validationData >> 160);
        validAfter = uint48(validationData >> 208);
    }
}
