// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {Vm} from "forge-std/Vm.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Case 24: ERC-7562 validation rules, on the plain path, with a permission the owner revoked and with a
///         session key revoking its own session. Every storage slot validation touches is associated with the
///         account (slot = keccak256(account ‖ x) + n, n < 128, or the account's own storage), the only contracts
///         it calls are the validator, the account (and its implementation, through the clone's delegatecall), the
///         account's owner validator and the ecrecover precompile,
///         and the result does not depend on any environment value a bundler cannot pin (TIMESTAMP, NUMBER,
///         BASEFEE, PREVRANDAO, COINBASE, GASPRICE, ORIGIN, BLOCKHASH, BLOBBASEFEE). The opcode-level check (debug_traceCall on
///         anvil) is part of the Rust end-to-end tests.
contract Erc7562AttackTest is AdversarialBase {
    address private constant ECRECOVER = address(1);

    struct Fixture {
        IEntryPoint entryPoint;
        address account;
        SessionTypes.Session session;
        SessionTypes.Permission[] permissions;
        PackedUserOperation op;
        bytes32 opHash;
    }

    /// The paths checked: a plain session; a session whose owner revoked a third permission (validation then reads
    /// the usage slot of each call's permission for its revoked flag); a batch that also revokes its own session
    /// (a self-revocation call with the empty permission); the plain batch with allowances per period (each
    /// period's spending in its own slot, keyed by the period definition).
    enum Variant {
        Plain,
        RevokedSibling,
        SelfRevocation,
        Periodic,
        MultichainEnable
    }

    /// A batch touching every kind of validator state: session record, usage + rate limit, native and ERC-20 totals.
    function _fixture(AccountEnv memory env, bool enable) internal returns (Fixture memory f) {
        return _fixture(env, enable, Variant.Plain);
    }

    /// The batch of `_fixture(env, enable)` along the path `variant`.
    function _fixture(AccountEnv memory env, bool enable, Variant variant) internal returns (Fixture memory f) {
        f.entryPoint = env.entryPoint;
        f.account = address(env.account);
        f.permissions = _fixturePermissions(variant);
        (bytes32 root, bytes32[][] memory proofs) = _tree(f.permissions);
        f.session = _session(root);
        token.mint(f.account, 100);
        Execution[] memory executions = new Execution[](variant == Variant.SelfRevocation ? 3 : 2);
        executions[0] = Execution(address(recorder), 1 ether, _ping(1));
        executions[1] = Execution(address(token), 0, abi.encodeCall(IERC20.transfer, (bundler, 10)));
        CallProof[] memory calls = new CallProof[](executions.length);
        calls[0] = CallProof({permission: f.permissions[0], proof: proofs[0], window: 0});
        calls[1] = CallProof({permission: f.permissions[1], proof: proofs[1], window: 0});
        bool[] memory selfRevocations = new bool[](executions.length);
        if (variant == Variant.SelfRevocation) {
            executions[2] = Execution(address(validator), 0, SessionEncoding.selfRevocationCall(f.session));
            calls[2] = calls[0]; // skipped by the encoder: the entry is the empty permission
            selfRevocations[2] = true;
        }
        if (variant == Variant.RevokedSibling) {
            // revoked before the grant or the enable signature's first use: it stays revoked either way
            _sendOwnerOp(
                f.entryPoint,
                f.account,
                _validatorCall(
                    abi.encodeCall(ISessionKeyValidator.revokePermission, (_sid(f.session), _leaf(f.permissions[2])))
                )
            );
        }
        bytes memory callData = _executeBatch(executions);
        if (!enable) _grant(f.entryPoint, f.account, f.session);
        f.op = _op(f.entryPoint, f.account, callData);
        bytes memory sessionSig = _sign(SESSION_KEY, _userOpHash(f.entryPoint, f.op));
        f.op.signature = _signatureOf(f, enable, variant, calls, selfRevocations, sessionSig);
        f.opHash = _userOpHash(f.entryPoint, f.op);
    }

    /// The fixture operation's signature: use mode, enable mode, or multichain enable mode (a one-leaf tree for
    /// this chain, so an empty proof) for the MultichainEnable variant.
    function _signatureOf(
        Fixture memory f,
        bool enable,
        Variant variant,
        CallProof[] memory calls,
        bool[] memory selfRevocations,
        bytes memory sessionSig
    ) internal view returns (bytes memory) {
        if (!enable) {
            return SessionEncoding.useSignature(f.session, calls, selfRevocations, sessionSig);
        }
        if (variant != Variant.MultichainEnable) {
            return SessionEncoding.enableSignature(
                f.session, _ownerEnableSignature(f.account, f.session), calls, selfRevocations, sessionSig
            );
        }
        bytes32 root = SessionEncoding.multichainLeaf(block.chainid, f.account, validator.epochOf(f.account), f.session);
        return SessionEncoding.multichainEnableSignature(
            f.session,
            new bytes32[](0),
            _ownerSignatureOf(SessionEncoding.multichainDigest(address(validator), root)),
            calls,
            sessionSig
        );
    }

    /// The fixture's permissions: a native total with usage and rate limits, an ERC-20 total, and for the revocation
    /// variants a third permission.
    function _fixturePermissions(Variant variant) internal view returns (SessionTypes.Permission[] memory permissions) {
        permissions = new SessionTypes
            .Permission[](variant == Variant.RevokedSibling || variant == Variant.SelfRevocation ? 3 : 2);
        SessionTypes.Permission memory counted = _permission(address(recorder), PING);
        counted.flags = SessionTypes.FLAG_NATIVE_TOTAL;
        counted.valueLimit = 1 ether;
        counted.nativeTotalLimit = 2 ether;
        counted.maxUses = 5;
        counted.validAfter = START;
        counted.rateLimitCount = 3;
        counted.rateLimitInterval = 1 hours;
        SessionTypes.Permission memory erc20 = _permission(address(token), IERC20.transfer.selector);
        erc20.flags = SessionTypes.FLAG_ERC20_TOTAL;
        erc20.erc20TotalLimit = 100;
        if (variant == Variant.Periodic) _countPerPeriod(counted, erc20);
        permissions[0] = counted;
        permissions[1] = erc20;
        if (permissions.length == 3) permissions[2] = _permission(address(recorder2), PING);
    }

    /// Turns the fixture's native and ERC-20 limits into allowances per hour from START (period 0 is current).
    function _countPerPeriod(SessionTypes.Permission memory counted, SessionTypes.Permission memory erc20)
        internal
        pure
    {
        counted.flags |= SessionTypes.FLAG_PER_PERIOD;
        erc20.flags |= SessionTypes.FLAG_PER_PERIOD;
        erc20.validAfter = START;
        erc20.rateLimitInterval = 1 hours;
    }

    /// Every x such that keccak256(abi.encode(account, x)) is a slot the validator may legitimately use: its first
    /// ten base slots and every mapping key derived from the session (ids, scopes, usage, spend and period keys).
    function _associatedKeys(Fixture memory f) internal view returns (bytes32[] memory keys) {
        bytes32 id = _sid(f.session);
        bytes32 scope = keccak256(abi.encode(id, uint256(validator.epochOf(f.account))));
        bytes32[] memory inner = new bytes32[](5 + f.permissions.length);
        inner[0] = id;
        inner[1] = keccak256(abi.encode(scope, address(0)));
        inner[2] = keccak256(abi.encode(scope, address(token)));
        inner[3] = keccak256(abi.encode(scope, address(0), uint256(1 hours), uint256(START)));
        inner[4] = keccak256(abi.encode(scope, address(token), uint256(1 hours), uint256(START)));
        for (uint256 p; p < f.permissions.length; ++p) {
            inner[5 + p] = keccak256(abi.encode(scope, _leaf(f.permissions[p])));
        }
        keys = new bytes32[](10 + inner.length * 10);
        for (uint256 base; base < 10; ++base) {
            keys[base] = bytes32(base);
            for (uint256 k; k < inner.length; ++k) {
                keys[10 + k * 10 + base] = keccak256(abi.encode(inner[k], base));
            }
        }
    }

    /// Whether `slot` == keccak256(abi.encode(account, x)) + n for a key x of `keys` and n < 128.
    function _isAssociated(address account, bytes32 slot, bytes32[] memory keys) internal pure returns (bool) {
        for (uint256 k; k < keys.length; ++k) {
            uint256 start = uint256(keccak256(abi.encode(account, keys[k])));
            if (uint256(slot) >= start && uint256(slot) - start < 128) return true;
        }
        return false;
    }

    function _checkStorageAndCalls(bool enable) internal {
        _checkStorageAndCalls(enable, Variant.Plain);
    }

    function _checkStorageAndCalls(bool enable, Variant variant) internal {
        Fixture memory f = _checkedFixture(enable, variant);
        if (variant == Variant.Periodic) {
            // the allowances per period were spent, in their own slots
            (uint32 period, uint256 spent) =
                validator.periodSpentOf(f.account, _sid(f.session), address(token), 1 hours, START);
            assertEq(period, 0);
            assertEq(spent, 10, "erc20 spent in period");
            (, spent) = validator.periodSpentOf(f.account, _sid(f.session), address(0), 1 hours, START);
            assertEq(spent, 1 ether, "native spent in period");
            assertEq(validator.spentOf(f.account, _sid(f.session), address(token)), 0, "no lifetime total");
        }
    }

    /// Validates the fixture's operation once, checking every slot and contract it touches.
    function _checkedFixture(bool enable, Variant variant) internal returns (Fixture memory f) {
        f = _fixture(currentEnv, enable, variant);
        bytes32[] memory keys = _associatedKeys(f);
        vm.record();
        vm.startStateDiffRecording();
        vm.prank(f.account, bundler);
        uint256 validationData = validator.validateUserOp(f.op, f.opHash);
        Vm.AccountAccess[] memory accesses = vm.stopAndReturnStateDiff();
        (bytes32[] memory reads, bytes32[] memory writes) = vm.accesses(address(validator));
        assertEq(validationData & 1, 0, "valid op");

        assertGt(reads.length, 0);
        assertGt(writes.length, 0);
        for (uint256 k; k < reads.length; ++k) {
            assertTrue(_isAssociated(f.account, reads[k], keys), "validator read outside account storage");
        }
        for (uint256 k; k < writes.length; ++k) {
            assertTrue(_isAssociated(f.account, writes[k], keys), "validator write outside account storage");
        }
        bool calledOwnerValidator = _checkAccesses(f.account, accesses, keys);
        assertEq(calledOwnerValidator, enable, "the owner validator is only asked in enable mode");
    }

    /// Checks every contract and storage slot `accesses` touched during the validation of `account`'s operation;
    /// returns whether the owner validator was called.
    function _checkAccesses(address account, Vm.AccountAccess[] memory accesses, bytes32[] memory keys)
        internal
        view
        returns (bool calledOwnerValidator)
    {
        bytes32[] memory ownerKeys = new bytes32[](1); // OwnerECDSAValidator: mapping(account => owner) at 0
        address implementation = address(currentEnv.implementation);
        for (uint256 a; a < accesses.length; ++a) {
            address touched = accesses[a].account;
            if (touched == address(vm)) continue; // the recording cheatcodes themselves
            assertTrue(
                touched == address(validator) || touched == account || touched == implementation
                    || touched == address(ownerValidator) || touched == ECRECOVER,
                string.concat("unexpected contract touched: ", vm.toString(touched))
            );
            if (touched == address(ownerValidator)) calledOwnerValidator = true;
            Vm.StorageAccess[] memory slots = accesses[a].storageAccesses;
            for (uint256 s; s < slots.length; ++s) {
                if (slots[s].account == account) continue; // the sender's own storage
                if (slots[s].account == address(ownerValidator)) {
                    assertTrue(_isAssociated(account, slots[s].slot, ownerKeys), "owner validator storage");
                    continue;
                }
                assertEq(slots[s].account, address(validator), "storage of another contract");
                assertTrue(_isAssociated(account, slots[s].slot, keys), "validator storage");
            }
        }
    }

    function test_validateUserOp_touchesOnlyAccountAssociatedStorage_inUseMode() public onEachEntryPoint {
        _checkStorageAndCalls(false);
    }

    function test_validateUserOp_touchesOnlyAccountAssociatedStorage_inEnableMode() public onEachEntryPoint {
        _checkStorageAndCalls(true);
    }

    function test_validateUserOp_touchesOnlyAccountAssociatedStorage_withRevokedPermission() public onEachEntryPoint {
        _checkStorageAndCalls(false, Variant.RevokedSibling);
    }

    function test_validateUserOp_touchesOnlyAccountAssociatedStorage_inEnableModeWithRevokedPermission()
        public
        onEachEntryPoint
    {
        _checkStorageAndCalls(true, Variant.RevokedSibling);
    }

    function test_validateUserOp_touchesOnlyAccountAssociatedStorage_withAllowancesPerPeriod() public onEachEntryPoint {
        _checkStorageAndCalls(false, Variant.Periodic);
    }

    function test_validateUserOp_touchesOnlyAccountAssociatedStorage_inEnableModeWithAllowancesPerPeriod()
        public
        onEachEntryPoint
    {
        _checkStorageAndCalls(true, Variant.Periodic);
    }

    function test_validateUserOp_touchesOnlyAccountAssociatedStorage_inMultichainEnableMode() public onEachEntryPoint {
        _checkStorageAndCalls(true, Variant.MultichainEnable);
    }

    function test_validateUserOp_touchesOnlyAccountAssociatedStorage_withSelfRevocation() public onEachEntryPoint {
        _checkStorageAndCalls(false, Variant.SelfRevocation);
    }

    function test_validateUserOp_touchesOnlyAccountAssociatedStorage_inEnableModeWithSelfRevocation()
        public
        onEachEntryPoint
    {
        _checkStorageAndCalls(true, Variant.SelfRevocation);
    }

    /// validationData and the validator's writes under one environment.
    function _run(Fixture memory f, address origin)
        internal
        returns (uint256 validationData, bytes32[] memory written)
    {
        uint256 snapshot = vm.snapshotState();
        vm.startStateDiffRecording();
        vm.prank(f.account, origin);
        validationData = validator.validateUserOp(f.op, f.opHash);
        Vm.AccountAccess[] memory accesses = vm.stopAndReturnStateDiff();
        uint256 count;
        for (uint256 a; a < accesses.length; ++a) {
            count += accesses[a].storageAccesses.length;
        }
        written = new bytes32[](count * 3);
        uint256 w;
        for (uint256 a; a < accesses.length; ++a) {
            Vm.StorageAccess[] memory slots = accesses[a].storageAccesses;
            for (uint256 s; s < slots.length; ++s) {
                if (!slots[s].isWrite) continue;
                written[w++] = bytes32(uint256(uint160(slots[s].account)));
                written[w++] = slots[s].slot;
                written[w++] = slots[s].newValue;
            }
        }
        assembly ("memory-safe") {
            mstore(written, w)
        }
        vm.revertToState(snapshot);
    }

    function testFuzz_validateUserOp_ignoresBlockEnvironment(
        uint64 timestamp,
        uint64 number,
        uint64 basefee,
        uint256 prevrandao,
        address coinbase,
        uint64 gasPrice,
        address origin,
        uint64 blobBaseFee,
        bool enable,
        uint8 variant
    ) public {
        Fixture memory f = _fixture(_env(EntryPointVersion.V08), enable, Variant(variant % 5));
        (uint256 expectedData, bytes32[] memory expectedWrites) = _run(f, bundler);
        assertEq(expectedData & 1, 0);

        vm.warp(timestamp);
        vm.roll(number);
        vm.fee(basefee);
        vm.prevrandao(prevrandao);
        vm.coinbase(coinbase);
        vm.txGasPrice(gasPrice);
        // forge 1.7's vm.blobBaseFee stores its argument as the excess blob gas and prices it with EIP-4844's
        // fake_exponential, which runs for ages on large inputs: keep the excess within a few update fractions.
        vm.blobBaseFee(bound(blobBaseFee, 0, 10_000_000));
        vm.setBlockhash(number > 0 ? number - 1 : 0, keccak256(abi.encode(prevrandao)));
        (uint256 data, bytes32[] memory writes) = _run(f, origin);
        assertEq(data, expectedData, "validationData depends on the environment");
        assertEq(writes, expectedWrites, "storage effects depend on the environment");
    }
}
