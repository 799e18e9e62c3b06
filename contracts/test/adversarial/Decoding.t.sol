// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution, IERC7579Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {CallProof} from "../utils/SessionEncoding.sol";
import {Recorder} from "../mocks/Recorder.sol";
import {AdversarialBase} from "./AdversarialBase.sol";

/// @notice Cases 2, 3 and 5: the account's `execute` calldata. Validation must decode exactly the calls the account
///         executes; anything non-canonical is rejected before a single permission is looked at.
contract DecodingAttackTest is AdversarialBase {
    /// Where `executionData` starts in the account calldata: selector, mode, offset, length.
    uint256 private constant EXEC = 100;

    SessionTypes.Permission internal ping;
    SessionTypes.Session internal sessionV07;
    SessionTypes.Session internal sessionV08;

    function setUp() public override {
        super.setUp();
        ping = _permission(address(0), PING);
        ping.flags = SessionTypes.FLAG_ANY_TARGET;
        ping.valueLimit = 1 ether;
        sessionV07 = _grantSingle(entryPointV07, address(accountV07), ping);
        sessionV08 = _grantSingle(entryPointV08, address(accountV08), ping);
    }

    function _sessionOf(AccountEnv memory env) internal view returns (SessionTypes.Session memory) {
        return env.version == EntryPointVersion.V07 ? sessionV07 : sessionV08;
    }

    /// Sends `callData` signed by the session key with `proofs` wildcard-ping proofs and expects `inner`.
    function _expectRejected(bytes memory callData, uint256 proofs, bytes memory inner) internal {
        PackedUserOperation memory op = _useOpN(
            currentEnv.entryPoint,
            address(currentEnv.account),
            callData,
            _sessionOf(currentEnv),
            _repeat(ping, _noProof(), proofs)
        );
        _expectScopeError(currentEnv.entryPoint, op, inner);
    }

    function _malformed(uint256 offset) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.MalformedExecutionCalldata.selector, offset);
    }

    function _unsupportedMode(bytes32 mode) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(ISessionKeyValidator.UnsupportedExecutionMode.selector, mode);
    }

    /// Overwrites the 32-byte word at `position` of `data`.
    function _setWord(bytes memory data, uint256 position, uint256 word) internal pure {
        require(position + 32 <= data.length, "word out of range");
        assembly ("memory-safe") {
            mstore(add(add(data, 0x20), position), word)
        }
    }

    function _word(bytes memory data, uint256 position) internal pure returns (uint256 word) {
        assembly ("memory-safe") {
            word := mload(add(add(data, 0x20), position))
        }
    }

    function _single(address target, uint256 value, bytes memory data) internal pure returns (bytes memory) {
        return _executeSingle(target, value, data);
    }

    /// Canonical account calldata of a batch pinging recorder(x = 1) then recorder2(x = 2).
    function _twoPings() internal view returns (bytes memory) {
        return
            _executeBatch(
                _batch2(Execution(address(recorder), 0, _ping(1)), Execution(address(recorder2), 0, _ping(2)))
            );
    }

    // Batch layout of _twoPings (executionData coordinates): 0x00 array offset (0x20), 0x20 count (2),
    // 0x40 / 0x60 element offsets (0x40, 0x100, relative to 0x40), element 0 at 0x80, element 1 at 0x140;
    // an element is target, value, bytes offset (0x60), bytes length (36), 64 bytes of padded ping data.

    // ------------------------------------------------------------------------------------------------------------
    // Case 2: offsets and lengths outside the calldata, wrap-arounds, truncation
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenCallDataShorterThanExecuteHead() public onEachEntryPoint {
        bytes memory full = _single(address(recorder), 0, _ping(1));
        bytes memory truncated = new bytes(99);
        for (uint256 i; i < 99; ++i) {
            truncated[i] = full[i];
        }
        _expectRejected(truncated, 1, _malformed(99));
        _expectRejected(bytes.concat(IERC7579Execution.execute.selector), 1, _malformed(4));
    }

    function test_validateUserOp_reverts_whenExecutionDataOffsetIsNotCanonical() public onEachEntryPoint {
        bytes memory callData = _single(address(recorder), 0, _ping(1));
        // a second encoding of the same bytes one word further, the way a lax decoder would accept it
        bytes memory shifted = bytes.concat(callData, new bytes(32));
        _setWord(shifted, 36, 0x60);
        for (uint256 i = 68; i + 32 <= callData.length; i += 32) {
            _setWord(shifted, i + 32, _word(callData, i));
        }
        _setWord(shifted, 68, 0);
        _expectRejected(shifted, 1, _malformed(36));
    }

    function test_validateUserOp_reverts_whenExecutionDataOffsetPointsIntoSignature() public onEachEntryPoint {
        bytes memory callData = _single(address(recorder), 0, _ping(1));
        _setWord(callData, 36, callData.length + 0x200); // past the calldata: into paymasterAndData / signature
        _expectRejected(callData, 1, _malformed(36));
    }

    function test_validateUserOp_reverts_whenExecutionDataOffsetWrapsAround() public onEachEntryPoint {
        bytes memory callData = _single(address(recorder), 0, _ping(1));
        _setWord(callData, 36, type(uint256).max - 3); // 4 + offset wraps to 0: the selector
        _expectRejected(callData, 1, _malformed(36));
    }

    function test_validateUserOp_reverts_whenExecutionDataLengthPointsIntoSignature() public onEachEntryPoint {
        bytes memory callData = _single(address(recorder), 0, _ping(1));
        _setWord(callData, 68, _word(callData, 68) + 0x300); // the "call data" would run on into the signature
        _expectRejected(callData, 1, _malformed(68));
    }

    function test_validateUserOp_reverts_whenExecutionDataLengthIsHuge() public onEachEntryPoint {
        bytes memory callData = _single(address(recorder), 0, _ping(1));
        _setWord(callData, 68, type(uint256).max); // (length + 31) would wrap
        _expectRejected(callData, 1, _malformed(68));
        _setWord(callData, 68, type(uint256).max - 30);
        _expectRejected(callData, 1, _malformed(68));
    }

    function test_validateUserOp_reverts_whenExecuteCalldataHasTrailingBytes() public onEachEntryPoint {
        bytes memory callData = bytes.concat(_single(address(recorder), 0, _ping(1)), bytes32(uint256(1)));
        _expectRejected(callData, 1, _malformed(68));
    }

    function test_validateUserOp_reverts_whenExecutionDataShorterThanSingleHead() public onEachEntryPoint {
        // 51 bytes: a target and 31 bytes of value
        bytes memory callData = _executeCallData(_modeSingle(), abi.encodePacked(address(recorder), bytes31(0)));
        _expectRejected(callData, 1, _malformed(EXEC + 51));
    }

    function test_validateUserOp_reverts_whenBatchArrayOffsetPointsOutside() public onEachEntryPoint {
        bytes memory callData = _twoPings();
        _setWord(callData, EXEC, 0x10000);
        _expectRejected(callData, 2, _malformed(EXEC));
        _setWord(callData, EXEC, type(uint256).max);
        _expectRejected(callData, 2, _malformed(EXEC));
    }

    function test_validateUserOp_reverts_whenBatchCountIsHuge() public onEachEntryPoint {
        bytes memory callData = _twoPings();
        _setWord(callData, EXEC + 0x20, type(uint256).max);
        _expectRejected(
            callData,
            2,
            abi.encodeWithSelector(ISessionKeyValidator.InvalidBatchSize.selector, type(uint256).max, uint256(32))
        );
    }

    function test_validateUserOp_reverts_whenBatchOffsetTableIsTruncated() public onEachEntryPoint {
        // a one-word batch body claiming 32 calls: the offsets table would run past the execution data
        bytes memory callData = _executeCallData(_modeBatch(), abi.encode(uint256(0x20), uint256(32)));
        _expectRejected(callData, 32, _malformed(EXEC + 0x40));
    }

    function test_validateUserOp_reverts_whenBatchElementOffsetIsHuge() public onEachEntryPoint {
        bytes memory callData = _twoPings();
        _setWord(callData, EXEC + 0x60, type(uint256).max - 0x3f); // 0x40 + offset wraps to 0
        _expectRejected(callData, 2, _malformed(EXEC + 0x60));
    }

    function test_validateUserOp_reverts_whenBatchElementLengthPointsIntoSignature() public onEachEntryPoint {
        bytes memory callData = _twoPings();
        _setWord(callData, EXEC + 0x140 + 0x60, 36 + 0x400);
        _expectRejected(callData, 2, _malformed(EXEC + 0x140 + 0x60));
        _setWord(callData, EXEC + 0x140 + 0x60, type(uint256).max);
        _expectRejected(callData, 2, _malformed(EXEC + 0x140 + 0x60));
    }

    function test_validateUserOp_reverts_whenBatchElementIsTruncated() public onEachEntryPoint {
        bytes memory full = _twoPings();
        // cut the batch inside element 1's head (and fix the outer length to stay consistent)
        uint256 cut = 0x140 + 0x40;
        bytes memory executionData = new bytes(cut);
        for (uint256 i; i < cut; ++i) {
            executionData[i] = full[EXEC + i];
        }
        _expectRejected(_executeCallData(_modeBatch(), executionData), 2, _malformed(EXEC + 0x140));
    }

    function testFuzz_validateUserOp_reverts_whenHeadWordIsCorrupted(uint256 word, uint8 which) public {
        // any change to an offset word, or to the outer length, of a canonical batch is rejected
        // (an element's own length may change to another canonical encoding, which is then simply another batch)
        bytes memory callData = _twoPings();
        uint256[6] memory positions = [uint256(36), 68, EXEC, EXEC + 0x40, EXEC + 0x60, EXEC + 0x80 + 0x40];
        uint256 position = positions[which % 6];
        vm.assume(word != _word(callData, position));
        _setWord(callData, position, word);
        PackedUserOperation memory op =
            _useOpN(entryPointV08, address(accountV08), callData, sessionV08, _repeat(ping, _noProof(), 2));
        (bool ok, bytes memory reason) = _tryHandleOp(entryPointV08, op);
        assertFalse(ok, "corrupted head accepted");
        assertEq(bytes4(reason), IEntryPoint.FailedOpWithRevert.selector);
        _assertRecorded(recorder, 0);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 3: non-canonical batches that would make validation and execution see different calls
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_reverts_whenBatchArrayOffsetIsNotCanonical() public onEachEntryPoint {
        // array at 0x40 instead of 0x20, with a junk word in between: OpenZeppelin's decodeBatch accepts it
        bytes memory canonical = _twoPings();
        bytes memory executionData = new bytes(canonical.length - EXEC + 32);
        _setWord(executionData, 0, 0x40);
        for (uint256 i = 0x20; i + 32 <= canonical.length - EXEC; i += 32) {
            _setWord(executionData, i + 32, _word(canonical, EXEC + i));
        }
        bytes memory callData = _executeCallData(_modeBatch(), executionData);
        _expectRejected(callData, 2, _malformed(EXEC));
        // the account itself would run it: the encoding is not merely cosmetic
        _sendOwnerOp(currentEnv.entryPoint, address(currentEnv.account), callData);
        _assertRecorded(recorder, 1);
        _assertRecorded(recorder2, 1);
    }

    function test_validateUserOp_reverts_whenElementOffsetPointsToAnotherElement() public onEachEntryPoint {
        // both offsets name element 0: the account would run recorder.ping(1) twice, never recorder2.ping(2)
        bytes memory callData = _twoPings();
        _setWord(callData, EXEC + 0x60, 0x40);
        _expectRejected(callData, 2, _malformed(EXEC + 0x60));
        _sendOwnerOp(currentEnv.entryPoint, address(currentEnv.account), callData);
        _assertRecorded(recorder, 2);
        _assertRecorded(recorder2, 0);
    }

    function test_validateUserOp_reverts_whenElementsOverlap() public onEachEntryPoint {
        // element 1 starts 0x20 early, inside element 0's padding
        bytes memory callData = _twoPings();
        _setWord(callData, EXEC + 0x60, 0x100 - 0x20);
        _expectRejected(callData, 2, _malformed(EXEC + 0x60));
    }

    function test_validateUserOp_reverts_whenElementsAreOutOfOrder() public onEachEntryPoint {
        bytes memory callData = _twoPings();
        _setWord(callData, EXEC + 0x40, 0x100);
        _setWord(callData, EXEC + 0x60, 0x40);
        _expectRejected(callData, 2, _malformed(EXEC + 0x40));
    }

    function test_validateUserOp_reverts_whenBytesOffsetIsNot0x60() public onEachEntryPoint {
        // element 0's bytes offset moved to 0x80: a lax decoder would read different call data than the account
        Execution[] memory executions = new Execution[](1);
        executions[0] = Execution(address(recorder), 0, _ping(1));
        bytes memory canonical = _executeBatch(executions);
        bytes memory executionData = new bytes(canonical.length - EXEC + 32);
        for (uint256 i; i < 0x60 + 0x60; i += 32) {
            _setWord(executionData, i, _word(canonical, EXEC + i));
        }
        _setWord(executionData, 0x60 + 0x40, 0x80);
        // the word at element + 0x60 (a decoy length: 4 bytes = a bare selector) is what a naive decoder reads
        _setWord(executionData, 0x60 + 0x60, 4);
        for (uint256 i = 0x60 + 0x60; i + 32 <= canonical.length - EXEC; i += 32) {
            _setWord(executionData, i + 32, _word(canonical, EXEC + i));
        }
        bytes memory callData = _executeCallData(_modeBatch(), executionData);
        _expectRejected(callData, 1, _malformed(EXEC + 0x60 + 0x40));
        _sendOwnerOp(currentEnv.entryPoint, address(currentEnv.account), callData);
        _assertRecordedCall(recorder, 0, address(currentEnv.account), 0, _ping(1));
    }

    function test_validateUserOp_reverts_whenTargetHasDirtyHighBits() public onEachEntryPoint {
        bytes memory callData = _twoPings();
        _setWord(callData, EXEC + 0x140, uint256(uint160(address(recorder2))) | (uint256(1) << 200));
        _expectRejected(callData, 2, _malformed(EXEC + 0x140));
    }

    function test_validateUserOp_reverts_whenBatchHasTrailingBytes() public onEachEntryPoint {
        bytes memory canonical = _twoPings();
        bytes memory executionData = new bytes(canonical.length - EXEC + 32);
        for (uint256 i; i + 32 <= canonical.length - EXEC; i += 32) {
            _setWord(executionData, i, _word(canonical, EXEC + i));
        }
        _setWord(executionData, canonical.length - EXEC, uint256(keccak256("hidden")));
        // decoding stops after element 1, at 0x40 + 0x100 + 0xc0 of the execution data
        _expectRejected(_executeCallData(_modeBatch(), executionData), 2, _malformed(EXEC + 0x200));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 3, positive direction: canonical batches decode to exactly what the account executes
    // ------------------------------------------------------------------------------------------------------------

    function testFuzz_validateUserOp_decodesExactlyTheExecutedCalls(uint256 seed, uint8 count, bool tryMode) public {
        uint256 n = bound(count, 1, 6);
        address account = address(accountV08);
        Execution[] memory executions = new Execution[](n);
        SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](n);
        for (uint256 i; i < n; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            address target = r & 1 == 0 ? address(recorder) : address(recorder2);
            uint256 value = (r >> 8) % 1000;
            // unique first argument per call, arbitrary trailing bytes (any length, any padding)
            bytes memory data =
                bytes.concat(_ping(i), abi.encodePacked(keccak256(abi.encode(r))), new bytes((r >> 32) % 40));
            executions[i] = Execution(target, value, data);
            SessionTypes.Permission memory permission = _permission(target, PING);
            permission.valueLimit = value;
            permission.maxUses = 1;
            permission.rules = new SessionTypes.ArgRule[](1);
            permission.rules[0] = _rule(SessionTypes.RuleOperator.Eq, 0, bytes32(i));
            permissions[i] = permission;
        }
        (bytes32 root, bytes32[][] memory proofs) = _tree(permissions);
        SessionTypes.Session memory session = _session(root);
        _grant(entryPointV08, account, session);
        CallProof[] memory calls = new CallProof[](n);
        for (uint256 i; i < n; ++i) {
            calls[i] = CallProof({permission: permissions[i], proof: proofs[i], window: 0});
        }
        bytes memory executionData = abi.encode(executions);
        bytes32 mode = bytes32((uint256(1) << 248) | (tryMode ? uint256(1) << 240 : 0)); // batch, default or try
        bytes memory callData = abi.encodeCall(IERC7579Execution.execute, (mode, executionData));
        _handleOp(entryPointV08, _useOpN(entryPointV08, account, callData, session, calls));

        // every committed leaf was consumed exactly once (decoded), and the recorders saw exactly those calls
        uint256[2] memory seen;
        for (uint256 i; i < n; ++i) {
            (uint64 uses,,) = validator.usageOf(account, _sid(session), _leaf(permissions[i]));
            assertEq(uses, 1, "decoded once");
            Recorder target = Recorder(payable(executions[i].target));
            uint256 k = target == recorder ? 0 : 1;
            _assertRecordedCall(target, seen[k]++, account, executions[i].value, executions[i].callData);
        }
        _assertRecorded(recorder, seen[0]);
        _assertRecorded(recorder2, seen[1]);
    }

    function test_validateUserOp_executesExactBytes_whenPaddingIsDirty() public {
        // padding bytes after an element's data are neither executed nor checked: both sides ignore them
        bytes memory callData = _twoPings();
        _setWord(callData, EXEC + 0x80 + 0x80 + 0x20, uint256(0xdead) | (type(uint256).max >> 32 << 32));
        // restore the 4 data bytes that live in that word (ping's calldata is 36 bytes)
        bytes memory clean = _twoPings();
        for (uint256 i; i < 4; ++i) {
            callData[EXEC + 0x80 + 0x80 + 0x20 + i] = clean[EXEC + 0x80 + 0x80 + 0x20 + i];
        }
        PackedUserOperation memory op =
            _useOpN(entryPointV08, address(accountV08), callData, sessionV08, _repeat(ping, _noProof(), 2));
        _handleOp(entryPointV08, op);
        _assertRecordedCall(recorder, 0, address(accountV08), 0, _ping(1));
        _assertRecordedCall(recorder2, 0, address(accountV08), 0, _ping(2));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Case 5: execution modes
    // ------------------------------------------------------------------------------------------------------------

    function _modeCall(bytes32 mode, bytes memory executionData) internal pure returns (bytes memory) {
        return abi.encodeCall(IERC7579Execution.execute, (mode, executionData));
    }

    function test_validateUserOp_reverts_whenCallTypeIsDelegatecall() public onEachEntryPoint {
        bytes32 mode = bytes32(uint256(0xff) << 248);
        _expectRejected(_modeCall(mode, abi.encodePacked(address(recorder), _ping(1))), 1, _unsupportedMode(mode));
    }

    function test_validateUserOp_reverts_whenCallTypeIsStaticcall() public onEachEntryPoint {
        bytes32 mode = bytes32(uint256(0xfe) << 248);
        _expectRejected(
            _modeCall(mode, abi.encodePacked(address(recorder), uint256(0), _ping(1))), 1, _unsupportedMode(mode)
        );
    }

    function test_validateUserOp_reverts_whenCallTypeIsUnknown() public onEachEntryPoint {
        bytes32 mode = bytes32(uint256(0x02) << 248);
        _expectRejected(
            _modeCall(mode, abi.encodePacked(address(recorder), uint256(0), _ping(1))), 1, _unsupportedMode(mode)
        );
    }

    function test_validateUserOp_reverts_whenExecTypeIsUnsupported() public onEachEntryPoint {
        bytes32 mode = bytes32(uint256(0x02) << 240);
        _expectRejected(
            _modeCall(mode, abi.encodePacked(address(recorder), uint256(0), _ping(1))), 1, _unsupportedMode(mode)
        );
    }

    function test_validateUserOp_reverts_whenModeUnusedBytesAreSet() public onEachEntryPoint {
        bytes32 mode = bytes32(uint256(1) << 208); // byte 5: the unused bytes 2..5
        _expectRejected(
            _modeCall(mode, abi.encodePacked(address(recorder), uint256(0), _ping(1))), 1, _unsupportedMode(mode)
        );
    }

    function test_validateUserOp_reverts_whenModeSelectorIsSet() public onEachEntryPoint {
        bytes32 mode = bytes32(uint256(0x12345678) << 176); // bytes 6..9
        _expectRejected(
            _modeCall(mode, abi.encodePacked(address(recorder), uint256(0), _ping(1))), 1, _unsupportedMode(mode)
        );
    }

    function test_validateUserOp_reverts_whenModePayloadIsSet() public onEachEntryPoint {
        bytes32 mode = bytes32(uint256(1)); // last byte of the 22-byte payload
        _expectRejected(
            _modeCall(mode, abi.encodePacked(address(recorder), uint256(0), _ping(1))), 1, _unsupportedMode(mode)
        );
    }

    function testFuzz_validateUserOp_reverts_whenModeIsNotPlainSingleOrBatch(bytes32 mode) public {
        uint8 callType = uint8(mode[0]);
        uint8 execType = uint8(mode[1]);
        vm.assume(callType > 1 || execType > 1 || uint256(mode) << 16 != 0);
        PackedUserOperation memory op = _useOpN(
            entryPointV08,
            address(accountV08),
            _modeCall(mode, abi.encodePacked(address(recorder), uint256(0), _ping(1))),
            sessionV08,
            _repeat(ping, _noProof(), 1)
        );
        _expectScopeError(entryPointV08, op, _unsupportedMode(mode));
    }

    function test_validateUserOp_executes_whenExecTypeIsTry() public onEachEntryPoint {
        bytes32 mode = bytes32(uint256(0x01) << 240);
        PackedUserOperation memory op = _useOpN(
            currentEnv.entryPoint,
            address(currentEnv.account),
            _modeCall(mode, abi.encodePacked(address(recorder), uint256(0), _ping(1))),
            _sessionOf(currentEnv),
            _repeat(ping, _noProof(), 1)
        );
        _handleOp(currentEnv.entryPoint, op);
        _assertRecorded(recorder, 1);
    }
}
