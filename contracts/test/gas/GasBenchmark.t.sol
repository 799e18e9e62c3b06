// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC7579Validator} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {SessionTestBase} from "../utils/SessionTestBase.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {SignerKeys} from "../utils/SignerKeys.sol";

/// @notice Gas of an ERC-20 transfer through `handleOps`, owner-signed and session-signed, and of the account's
///         `validateUserOp` alone. Every touched address is cooled first, so the figures are those of a fresh
///         transaction. Recorded with `vm.snapshotGas*` in snapshots/GasBenchmark.json; `script/gas-table.sh`
///         turns them into the README table.
contract GasBenchmark is SessionTestBase {
    string private constant GROUP = "GasBenchmark";
    uint256 private constant TREE_SIZE = 1024;
    uint256 private constant AMOUNT = 100;

    /// The session's fee scope: the default (a per-operation bound and a budget, whose counter is written on every
    /// operation), the per-operation bound alone (no storage), or none at all.
    enum FeeScope {
        Budget,
        PerOperationOnly,
        Unlimited
    }

    address private recipient;

    function setUp() public override {
        super.setUp();
        recipient = makeAddr("recipient");
        token.mint(address(accountV07), 1_000_000);
        token.mint(address(accountV08), 1_000_000);
        token.mint(recipient, 1); // the transfer updates a non-zero balance, as most real transfers do
    }

    function test_gas_ownerTransfer_v07() public {
        _measureOwner(EntryPointVersion.V07, "v07_owner");
    }

    function test_gas_ownerTransfer_v08() public {
        _measureOwner(EntryPointVersion.V08, "v08_owner");
    }

    function test_gas_sessionTransfer_v07_oneLeaf() public {
        _measureSession(EntryPointVersion.V07, "v07_session_1leaf", _transferPermission(), 1, FeeScope.Budget);
    }

    function test_gas_sessionTransfer_v08_oneLeaf() public {
        _measureSession(EntryPointVersion.V08, "v08_session_1leaf", _transferPermission(), 1, FeeScope.Budget);
    }

    function test_gas_sessionTransfer_v07_oneLeaf_p256() public {
        _measureSignerKind(EntryPointVersion.V07, "v07_session_1leaf_p256", 0x01);
    }

    function test_gas_sessionTransfer_v08_oneLeaf_p256() public {
        _measureSignerKind(EntryPointVersion.V08, "v08_session_1leaf_p256", 0x01);
    }

    function test_gas_sessionTransfer_v07_oneLeaf_webAuthn() public {
        _measureSignerKind(EntryPointVersion.V07, "v07_session_1leaf_webAuthn", 0x02);
    }

    function test_gas_sessionTransfer_v08_oneLeaf_webAuthn() public {
        _measureSignerKind(EntryPointVersion.V08, "v08_session_1leaf_webAuthn", 0x02);
    }

    function test_gas_sessionTransfer_v07_1024Leaves() public {
        _measureSession(
            EntryPointVersion.V07, "v07_session_1024leaves", _transferPermission(), TREE_SIZE, FeeScope.Budget
        );
    }

    function test_gas_sessionTransfer_v08_1024Leaves() public {
        _measureSession(
            EntryPointVersion.V08, "v08_session_1024leaves", _transferPermission(), TREE_SIZE, FeeScope.Budget
        );
    }

    function test_gas_sessionTransfer_v07_twoRules() public {
        _measureSession(EntryPointVersion.V07, "v07_session_2rules", _twoRulePermission(), 1, FeeScope.Budget);
    }

    function test_gas_sessionTransfer_v08_twoRules() public {
        _measureSession(EntryPointVersion.V08, "v08_session_2rules", _twoRulePermission(), 1, FeeScope.Budget);
    }

    function test_gas_sessionTransfer_v07_oneLeaf_perOperationFeeOnly() public {
        _measureSession(
            EntryPointVersion.V07, "v07_session_1leaf_perOpFee", _transferPermission(), 1, FeeScope.PerOperationOnly
        );
    }

    function test_gas_sessionTransfer_v08_oneLeaf_perOperationFeeOnly() public {
        _measureSession(
            EntryPointVersion.V08, "v08_session_1leaf_perOpFee", _transferPermission(), 1, FeeScope.PerOperationOnly
        );
    }

    function test_gas_sessionTransfer_v07_oneLeaf_unlimitedFees() public {
        _measureSession(
            EntryPointVersion.V07, "v07_session_1leaf_noFeeScope", _transferPermission(), 1, FeeScope.Unlimited
        );
    }

    function test_gas_sessionTransfer_v08_oneLeaf_unlimitedFees() public {
        _measureSession(
            EntryPointVersion.V08, "v08_session_1leaf_noFeeScope", _transferPermission(), 1, FeeScope.Unlimited
        );
    }

    function test_gas_sessionTransfer_v07_oneLeaf_erc20Total() public {
        _measureSession(
            EntryPointVersion.V07, "v07_session_1leaf_erc20Total", _erc20TotalPermission(false), 1, FeeScope.Budget
        );
    }

    function test_gas_sessionTransfer_v08_oneLeaf_erc20Total() public {
        _measureSession(
            EntryPointVersion.V08, "v08_session_1leaf_erc20Total", _erc20TotalPermission(false), 1, FeeScope.Budget
        );
    }

    function test_gas_sessionTransfer_v07_oneLeaf_erc20PerPeriod() public {
        _measureSession(
            EntryPointVersion.V07, "v07_session_1leaf_erc20PerPeriod", _erc20TotalPermission(true), 1, FeeScope.Budget
        );
    }

    function test_gas_sessionTransfer_v08_oneLeaf_erc20PerPeriod() public {
        _measureSession(
            EntryPointVersion.V08, "v08_session_1leaf_erc20PerPeriod", _erc20TotalPermission(true), 1, FeeScope.Budget
        );
    }

    function test_gas_sessionEnable_v07_oneLeaf() public {
        _measureEnable(EntryPointVersion.V07, "v07_session_enable", false);
    }

    function test_gas_sessionEnable_v08_oneLeaf() public {
        _measureEnable(EntryPointVersion.V08, "v08_session_enable", false);
    }

    function test_gas_sessionEnable_v07_oneLeaf_multichain3() public {
        _measureEnable(EntryPointVersion.V07, "v07_session_enableMultichain3", true);
    }

    function test_gas_sessionEnable_v08_oneLeaf_multichain3() public {
        _measureEnable(EntryPointVersion.V08, "v08_session_enableMultichain3", true);
    }

    function test_gas_sessionTransfer_v07_twoLeaves_revokedSibling() public {
        _measureSession(
            EntryPointVersion.V07, "v07_session_2leaves_revokedSibling", _transferPermission(), 2, FeeScope.Budget, true
        );
    }

    function test_gas_sessionTransfer_v08_twoLeaves_revokedSibling() public {
        _measureSession(
            EntryPointVersion.V08, "v08_session_2leaves_revokedSibling", _transferPermission(), 2, FeeScope.Budget, true
        );
    }

    // ------------------------------------------------------------------------------------------------------------

    function _transferPermission() private view returns (SessionTypes.Permission memory) {
        return _permission(address(token), IERC20.transfer.selector);
    }

    /// The transfer permission with an ERC-20 limit: a lifetime total, or with `perPeriod` an allowance per hour
    /// from START (the measured operation names period 0).
    function _erc20TotalPermission(bool perPeriod) private view returns (SessionTypes.Permission memory permission) {
        permission = _transferPermission();
        permission.flags = SessionTypes.FLAG_ERC20_TOTAL;
        permission.erc20TotalLimit = 1_000_000;
        if (perPeriod) {
            permission.flags |= SessionTypes.FLAG_PER_PERIOD;
            permission.validAfter = START;
            permission.rateLimitInterval = 1 hours;
        }
    }

    function _twoRulePermission() private view returns (SessionTypes.Permission memory permission) {
        permission = _transferPermission();
        permission.rules = new SessionTypes.ArgRule[](2);
        permission.rules[0] = _rule(SessionTypes.RuleOperator.Eq, 0, bytes32(uint256(uint160(recipient))));
        permission.rules[1] = _rule(SessionTypes.RuleOperator.Lte, 1, bytes32(uint256(1000)));
    }

    function _transferCall() private view returns (bytes memory) {
        return _executeSingle(address(token), 0, abi.encodeCall(IERC20.transfer, (recipient, AMOUNT)));
    }

    /// A tree of `size` permissions: `permission` and others on distinct targets.
    function _tree(SessionTypes.Permission memory permission, uint256 size) private pure returns (bytes32[] memory) {
        bytes32[] memory leaves = new bytes32[](size);
        leaves[0] = SessionEncoding.leaf(permission);
        for (uint256 i = 1; i < size; ++i) {
            leaves[i] = SessionEncoding.leaf(_permission(address(uint160(0x10000 + i)), IERC20.transfer.selector));
        }
        return SessionEncoding.buildTree(leaves);
    }

    function _measureOwner(EntryPointVersion version, string memory name) private {
        AccountEnv memory env = _env(version);
        _sendOwnerOp(env.entryPoint, address(env.account), _transferCall()); // as many ops before as the session's
        PackedUserOperation memory op = _signedOwnerOp(env.entryPoint, address(env.account), _transferCall());
        _measure(env, name, op, address(ownerValidator));
    }

    function _measureSession(
        EntryPointVersion version,
        string memory name,
        SessionTypes.Permission memory permission,
        uint256 treeSize,
        FeeScope fees
    ) private {
        _measureSession(version, name, permission, treeSize, fees, false);
    }

    /// A 1-leaf session whose signer is a P-256 key (`kind` 0x01) or a WebAuthn credential (0x02), verified by
    /// OpenZeppelin's Solidity P-256 code (forge runs without the precompile; anvil-gas measures with it).
    function _measureSignerKind(EntryPointVersion version, string memory name, uint8 kind) private {
        AccountEnv memory env = _env(version);
        uint256 privateKey = uint256(keccak256("keyscope.gas.p256"));
        SessionTypes.Permission memory permission = _transferPermission();
        SessionTypes.Session memory session = _session(SessionEncoding.leaf(permission));
        session.signer = SignerKeys.commitment(SignerKeys.p256Key(privateKey, kind));
        _grant(env.entryPoint, address(env.account), session);
        CallProof[] memory calls = SessionEncoding.one(permission, new bytes32[](0));
        for (uint256 i; i < 2; ++i) {
            // the first operation opens the session's nonce lane; the second is measured
            PackedUserOperation memory op =
                _buildUserOp(env.entryPoint, address(env.account), _sessionNonceKey(1), _transferCall());
            bytes32 userOpHash = _userOpHash(env.entryPoint, op);
            op.signature = SessionEncoding.useSignature(
                session,
                calls,
                kind == 0x01
                    ? SignerKeys.p256Signature(privateKey, userOpHash)
                    : SignerKeys.webAuthnSignature(
                        privateKey, SignerKeys.assertion(privateKey, userOpHash, SignerKeys.FLAGS_UP_UV)
                    )
            );
            if (i == 0) _handleOp(env.entryPoint, op);
            else _measure(env, name, op, address(validator));
        }
    }

    /// With `revokeSibling`, the owner has revoked another permission of the session (`revokePermission`), so
    /// validation also reads the used permission's slot for its revoked flag.
    function _measureSession(
        EntryPointVersion version,
        string memory name,
        SessionTypes.Permission memory permission,
        uint256 treeSize,
        FeeScope fees,
        bool revokeSibling
    ) private {
        AccountEnv memory env = _env(version);
        bytes32[] memory tree = _tree(permission, treeSize);
        SessionTypes.Session memory session = _session(tree[0]);
        if (fees != FeeScope.Budget) session.feeBudget = SessionTypes.UNLIMITED_FEE;
        if (fees == FeeScope.Unlimited) session.maxOperationFee = SessionTypes.UNLIMITED_FEE;
        _grant(env.entryPoint, address(env.account), session);
        if (revokeSibling) {
            bytes32 sibling = SessionEncoding.leaf(_permission(address(uint160(0x10001)), IERC20.transfer.selector));
            _sendOwnerOp(
                env.entryPoint,
                address(env.account),
                _validatorCall(
                    abi.encodeCall(ISessionKeyValidator.revokePermission, (SessionEncoding.sessionId(session), sibling))
                )
            );
            assertTrue(validator.hasRevokedPermissions(address(env.account), SessionEncoding.sessionId(session)));
        }
        bytes32[] memory proof = SessionEncoding.proofOf(tree, SessionEncoding.leaf(permission));
        // A first session op opens the session's nonce lane (a one-off 20k SSTORE in the EntryPoint); the
        // measured op is the steady state, like the owner's.
        _handleOp(
            env.entryPoint, _useOp1(env.entryPoint, address(env.account), _transferCall(), session, permission, proof)
        );
        PackedUserOperation memory op =
            _useOp1(env.entryPoint, address(env.account), _transferCall(), session, permission, proof);
        _measure(env, name, op, address(validator));
    }

    /// The first operation of a session, in enable mode: the owner's signature for this chain, or with `multichain`
    /// one signature over a tree of three chains' leaves (a proof of two nodes). Another session's operation has
    /// opened the session nonce lane before, so only the enabling is measured on top of a session transfer.
    function _measureEnable(EntryPointVersion version, string memory name, bool multichain) private {
        AccountEnv memory env = _env(version);
        address account = address(env.account);
        SessionTypes.Permission memory permission = _transferPermission();
        SessionTypes.Session memory opener = _session(SessionEncoding.leaf(permission));
        opener.salt = keccak256("opener");
        _grant(env.entryPoint, account, opener);
        _handleOp(env.entryPoint, _useOp1(env.entryPoint, account, _transferCall(), opener, permission, _noProof()));

        SessionTypes.Session memory session = _session(SessionEncoding.leaf(permission));
        PackedUserOperation memory op = _buildUserOp(env.entryPoint, account, _sessionNonceKey(1), _transferCall());
        bytes memory sessionSignature = _sign(SESSION_KEY, _userOpHash(env.entryPoint, op));
        CallProof[] memory calls = SessionEncoding.one(permission, _noProof());
        if (multichain) {
            bytes32[] memory leaves = new bytes32[](3);
            leaves[0] = SessionEncoding.multichainLeaf(block.chainid, account, 1, session);
            leaves[1] = SessionEncoding.multichainLeaf(10, account, 1, session);
            leaves[2] = SessionEncoding.multichainLeaf(8453, account, 1, session);
            bytes32[] memory nodes = SessionEncoding.buildTree(leaves);
            op.signature = SessionEncoding.multichainEnableSignature(
                session,
                SessionEncoding.proofOf(nodes, leaves[0]),
                _ownerSignatureOf(SessionEncoding.multichainDigest(address(validator), nodes[0])),
                calls,
                sessionSignature
            );
        } else {
            op.signature = SessionEncoding.enableSignature(
                session, _ownerEnableSignature(account, session), calls, sessionSignature
            );
        }
        _measure(env, name, op, address(validator));
    }

    /// Records the module's and the account's `validateUserOp` alone (rolled back), then the full `handleOps`,
    /// each from a cold start.
    function _measure(AccountEnv memory env, string memory name, PackedUserOperation memory op, address module)
        private
    {
        bytes32 userOpHash = _userOpHash(env.entryPoint, op);
        uint256 before = token.balanceOf(recipient);

        uint256 snapshot = vm.snapshotState();
        _coolAll(env);
        vm.prank(address(env.account));
        uint256 moduleValidationData = IERC7579Validator(module).validateUserOp(op, userOpHash);
        vm.snapshotGasLastCall(GROUP, string.concat(name, "_moduleValidateUserOp"));
        assertEq(moduleValidationData & 1, 0, "module validation failed");
        vm.revertToState(snapshot);

        snapshot = vm.snapshotState();
        _coolAll(env);
        vm.prank(address(env.entryPoint));
        uint256 validationData = env.account.validateUserOp(op, userOpHash, 0);
        vm.snapshotGasLastCall(GROUP, string.concat(name, "_validateUserOp"));
        assertEq(validationData & 1, 0, "validation failed");
        vm.revertToState(snapshot);

        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        _coolAll(env);
        vm.prank(bundler, bundler);
        env.entryPoint.handleOps(ops, bundler);
        vm.snapshotGasLastCall(GROUP, string.concat(name, "_handleOps"));
        vm.snapshotValue(
            GROUP,
            string.concat(name, "_handleOps_calldata"),
            _calldataGas(abi.encodeCall(IEntryPoint.handleOps, (ops, bundler)))
        );
        assertEq(token.balanceOf(recipient), before + AMOUNT, "transfer not executed");
    }

    function _coolAll(AccountEnv memory env) private {
        vm.cool(address(env.entryPoint));
        vm.cool(address(env.account));
        vm.cool(address(env.implementation));
        vm.cool(address(ownerValidator));
        vm.cool(address(validator));
        vm.cool(address(token));
        vm.cool(recipient);
        vm.cool(bundler);
    }

    /// EIP-2028 calldata gas: 4 per zero byte, 16 per non-zero byte.
    function _calldataGas(bytes memory data) private pure returns (uint256 gas) {
        for (uint256 i; i < data.length; ++i) {
            gas += data[i] == 0 ? 4 : 16;
        }
    }
}
