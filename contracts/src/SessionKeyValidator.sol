// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {MODULE_TYPE_VALIDATOR} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ISessionKeyValidator, SessionTypes} from "./interfaces/ISessionKeyValidator.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {SessionSignerVerifier} from "./SessionSignerVerifier.sol";
import {SessionTypedDataVerifier} from "./SessionTypedDataVerifier.sol";
import {SessionWireFormat} from "./SessionWireFormat.sol";

/// @title SessionKeyValidator
/// @notice ERC-7579 validator module (type 1) enforcing session-key permissions during ERC-4337 validation.
/// @dev Wire format of `userOp.signature` (all integers big-endian, no padding):
///
///     uint8   mode                       0 = use a granted session, 1 = enable it first, 2 = enable it first
///                                        with a multichain owner signature
///     bytes   session[288]               abi.encode(SessionTypes.Session)
///     -- multichain enable mode only --
///     uint8   chainProofLength
///     bytes32 chainProof[chainProofLength] sorted-pair Merkle proof of this chain's leaf
///     -- both enable modes --
///     uint16  ownerSignatureLength
///     bytes   ownerSignature             given as-is to the account's ERC-1271 isValidSignature(digest, .):
///                                        enableDigest, or the multichain digest of the root the proof leads to
///     -- both modes --
///     uint8   callCount                  must equal the number of calls `execute` runs
///     callCount times:
///       uint16  permissionLength         0: the call is the session's own revocation, and nothing follows
///       bytes   permission               abi.encode(SessionTypes.Permission), the leaf's preimage
///       uint8   proofLength
///       bytes32 proof[proofLength]       sorted-pair Merkle proof of the leaf
///       uint32  period                   period index k for permissions counted per period (else 0)
///     bytes   sessionSignature           the rest: the session signer's signature over the raw userOpHash, of
///                                        its kind (`SessionSigners`): 65-byte r ‖ s ‖ v for a secp256k1 key,
///                                        checked here; other kinds by `SIGNER_VERIFIER`
///
/// Wire format of an ERC-1271 signature (`isValidSignatureWithSender`'s `data`): ERC-7739's TypedDataSign
///
///     bytes   inner                      below
///     bytes32 appSeparator               the app's EIP-712 domain separator
///     bytes32 contentsHash               hashStruct of the signed contents
///     bytes   contentsDescr              ERC-7739 contents description (the contents' type, its name implicit or
///                                        explicit)
///     uint16  contentsDescrLength
///
/// whose inner signature is
///
///     bytes   session[288]               abi.encode(SessionTypes.Session) of an active session
///     uint16  permissionLength
///     bytes   permission                 a FLAG_TYPED_DATA permission, abi.encode(SessionTypes.Permission)
///     uint8   proofLength
///     bytes32 proof[proofLength]         sorted-pair Merkle proof of the leaf
///     uint8   appDomainFields            the app domain's ERC-5267 field bits; 0x08 (verifyingContract) required
///     bytes32 appDomain[fields]          its fields' EIP-712 encoded words, in EIP712Domain order
///     uint32  contentsLength
///     bytes   contents                   typeHash ‖ encodeData of the contents (hashing to contentsHash)
///     bytes   sessionSignature           the rest: the session signer's signature, of its kind, over the nested
///                                        digest hashTypedData(appSeparator, TypedDataSign(contents, the account's
///                                        ERC-5267 domain fields))
///
/// The session signer signs the raw `userOpHash` (no EIP-191 prefix): the hash is already bound to the EntryPoint,
/// the chain and the account, and session keys are programmatic signers, not wallets showing messages. A signer is
/// a secp256k1 key, a P-256 key, a WebAuthn (passkey) credential or a weighted k-of-n set of those; `signer` is
/// then the commitment to the key the signature carries.
///
/// Fee scope: every operation is charged its maximum cost, the prefund the EntryPoint computes from the operation's
/// own gas limits and maxFeePerGas (v0.7 and v0.8 alike), whoever pays. It must not exceed the session's
/// `maxOperationFee`, and the sum over the session's operations must not exceed its `feeBudget`; the sum lives in
/// the session's record, the slot validation reads anyway. No block or price opcode is read.
///
/// Periods: a permission with a rate limit or FLAG_PER_PERIOD counts in periods of `rateLimitInterval` seconds from
/// its `validAfter`. The operation names its period and validation narrows the operation's window to it, so the
/// EntryPoint, not a clock read here, enforces that the period is the current one (AA22). Allowances per period
/// reset lazily: the slot keeps the latest period, and an operation naming a later one starts it from zero.
///
/// Multichain enable: the owner signs once, EIP-712 `EnableSessions(chainsRoot)` in this validator's domain without
/// chain id, over a tree of (chainId, account, epoch, sessionId) leaves; an operation on each chain proves its own
/// leaf (block.chainid, the sender, its current epoch, the session). The proof, not a stored root, yields the root:
/// a leaf the owner did not sign leads to another digest and fails as a bad owner signature (AA24). It needs an
/// account whose ERC-1271 checks the digest as given (a wrapper that binds the chain, like Kernel's, takes one
/// signature per chain), and the validator at the same address on every chain.
///
/// Revocation: the owner revokes a session (`revokeSession`), one permission of it (`revokePermission`, a flag in
/// the permission's usage slot, read only for sessions whose record says some permission is revoked) or all of
/// them (`revokeAllSessions`). A session key revokes its own session with a call of `revokeSession(sessionId)` on
/// this validator presented with an empty permission: the one call to the validator a session may make.
///
/// Storage is ERC-7562 associated with the account: every mapping's innermost key is the account.
contract SessionKeyValidator is ISessionKeyValidator, SessionWireFormat, EIP712 {
    /// @notice Most calls in one batch.
    uint256 public constant MAX_CALLS = 32;

    /// EIP-712 domain name and version, of both the per-chain and the multichain (chain-less) domain.
    string private constant _NAME = "Keyscope SessionKeyValidator";
    string private constant _VERSION = "1";
    /// paymaster address, then paymasterVerificationGasLimit and paymasterPostOpGasLimit (uint128 each)
    uint256 private constant _PAYMASTER_GAS_END = 52;
    uint256 private constant _SIG_VALIDATION_FAILED = 1;
    uint256 private constant _ECDSA_LENGTH = 65;
    /// SessionRecord.permissionsRevoked in the record's packed word (see `_store`).
    uint256 private constant _PERMISSIONS_REVOKED = 1 << 200;
    bytes4 private constant _ERC1271_MAGIC = 0x1626ba7e;
    bytes4 private constant _ERC1271_INVALID = 0xffffffff;
    /// ERC-7739 detection: this hash with an empty signature is answered with `_ERC7739_SUPPORTED`.
    bytes32 private constant _ERC7739_DETECTION_HASH =
        0x7739773977397739773977397739773977397739773977397739773977397739;
    bytes4 private constant _ERC7739_SUPPORTED = 0x77390001;
    bytes4 private constant _EXECUTE = 0xe9ae5c53; // execute(bytes32,bytes)
    bytes1 private constant _CALLTYPE_SINGLE = 0x00;
    bytes1 private constant _CALLTYPE_BATCH = 0x01;
    bytes4 private constant _TRANSFER = 0xa9059cbb;
    bytes4 private constant _TRANSFER_FROM = 0x23b872dd;
    bytes4 private constant _APPROVE = 0x095ea7b3;
    bytes4 private constant _INCREASE_ALLOWANCE = 0x39509351;

    struct AccountState {
        uint64 epoch;
        bool installed;
    }

    /// One slot: the fee counter and the revoked-permission flag share the slot every validation reads.
    struct SessionRecord {
        uint64 epoch;
        SessionStatus status;
        uint128 feesCharged;
        bool permissionsRevoked;
    }

    /// One slot per (account, session epoch, permission): its counters and whether the owner revoked it.
    struct Usage {
        uint64 uses;
        uint32 window;
        uint32 windowUses;
        bool revoked;
    }

    /// Running state of one validation.
    struct Context {
        address account;
        bytes32 scope;
        bytes32 root;
        uint256 validAfter;
        uint256 validUntil;
        // batch decoding: where the next element must start, relative to the offsets table
        uint256 nextElement;
        // the current call's permission leaf and the period its signature names
        bytes32 leaf;
        uint256 window;
        // whether the owner revoked some permission of the session: each call's usage slot is then read
        bool permissionsRevoked;
    }

    mapping(address account => AccountState) private _accounts;
    mapping(bytes32 sessionId => mapping(address account => SessionRecord)) private _sessions;
    mapping(bytes32 usageKey => mapping(address account => Usage)) private _usage;
    mapping(bytes32 spendKey => mapping(address account => uint256)) private _spent;
    /// Spending per period (FLAG_PER_PERIOD): the latest period index in the low 32 bits, its spending above them.
    mapping(bytes32 periodKey => mapping(address account => uint256)) private _periodSpent;

    /// @notice Checks session signatures that are not secp256k1 (P-256, WebAuthn, multisig); deployed with this
    ///         validator.
    SessionSignerVerifier public immutable SIGNER_VERIFIER;

    /// Checks the scope of session keys' message signatures (ERC-1271 through ERC-7739); deployed with this validator
    /// (the validator's second CREATE). No public getter: one more external function would lengthen the dispatch
    /// every user operation goes through.
    SessionTypedDataVerifier private immutable _TYPED_DATA_VERIFIER;

    /// The multichain EIP-712 domain: this validator's name, version and address, no chain id.
    bytes32 private immutable _MULTICHAIN_DOMAIN_SEPARATOR;

    constructor() EIP712(_NAME, _VERSION) {
        SIGNER_VERIFIER = new SessionSignerVerifier();
        _TYPED_DATA_VERIFIER = new SessionTypedDataVerifier();
        _MULTICHAIN_DOMAIN_SEPARATOR = keccak256(
            abi.encode(
                SessionTypes.MULTICHAIN_DOMAIN_TYPEHASH,
                keccak256(bytes(_NAME)),
                keccak256(bytes(_VERSION)),
                address(this)
            )
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // ERC-7579 module
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Installs the module on the calling account and starts a new epoch, so no state from an earlier
    ///         installation comes back.
    /// @param data Empty, or abi.encode(SessionTypes.Session[]) of sessions to grant at once.
    function onInstall(bytes calldata data) external {
        AccountState storage state = _accounts[msg.sender];
        if (state.installed) revert AlreadyInstalled(msg.sender);
        uint64 epoch = state.epoch + 1;
        state.epoch = epoch;
        state.installed = true;
        emit ValidatorInstalled(msg.sender, epoch);
        if (data.length != 0) {
            SessionTypes.Session[] memory sessions = abi.decode(data, (SessionTypes.Session[]));
            for (uint256 i; i < sessions.length; ++i) {
                _grant(msg.sender, epoch, sessions[i]);
            }
        }
    }

    /// @notice Uninstalls the module from the calling account; every session and counter becomes void.
    function onUninstall(bytes calldata) external {
        AccountState storage state = _accounts[msg.sender];
        if (!state.installed) revert NotInstalled(msg.sender);
        uint64 epoch = state.epoch + 1;
        state.epoch = epoch;
        state.installed = false;
        emit ValidatorUninstalled(msg.sender, epoch);
    }

    /// @notice Whether the module is installed on `account`.
    /// @param account The account.
    /// @return installed True when installed.
    function isInitialized(address account) external view returns (bool installed) {
        return _accounts[account].installed;
    }

    /// @notice Whether this module is of ERC-7579 type `moduleTypeId` (only validator, type 1).
    /// @param moduleTypeId The module type.
    /// @return matches True for type 1.
    function isModuleType(uint256 moduleTypeId) external pure returns (bool matches) {
        return moduleTypeId == MODULE_TYPE_VALIDATOR;
    }

    /// @notice ERC-1271 for the calling account, answered for a session key through ERC-7739's nested
    ///         TypedDataSign: `hash` must be the EIP-712 digest of typed data whose verifying contract and type one of
    ///         the session's `FLAG_TYPED_DATA` permissions names, with its rules holding on the contents, inside
    ///         the session's and permission's window, and the session signer's signature over the nested digest
    ///         bound to the account's ERC-5267 domain. PersonalSign (EIP-191 messages) is never accepted. Wire format
    ///         of `data` in this contract's documentation. An empty `data` with the ERC-7739 detection hash answers
    ///         0x77390001.
    /// @dev Reverts with the reason when the session or its scope refuses; answers 0xffffffff when the signature
    ///      does not match. Reads block.timestamp: never call it during ERC-4337 validation.
    /// @param hash The digest the app asks about.
    /// @param data The ERC-7739 TypedDataSign signature whose inner signature is the session's.
    /// @return magic 0x1626ba7e when the session key signed `hash` within its scope, else 0xffffffff.
    function isValidSignatureWithSender(address, bytes32 hash, bytes calldata data)
        external
        view
        returns (bytes4 magic)
    {
        if (data.length == 0) {
            return hash == _ERC7739_DETECTION_HASH ? _ERC7739_SUPPORTED : _ERC1271_INVALID;
        }
        AccountState memory state = _installedState(msg.sender);
        (bytes calldata sessionData,) = _take(data, 0, _SESSION_LENGTH);
        bytes32 sessionId = _sessionIdOf(sessionData);
        SessionRecord memory record = _sessions[sessionId][msg.sender];
        if (record.epoch != state.epoch || record.status != SessionStatus.Active) revert SessionNotActive(sessionId);
        (bool matched, bytes32 leaf, bytes32 digest, uint256 signatureStart, uint256 signatureEnd) =
            _TYPED_DATA_VERIFIER.check(msg.sender, hash, data);
        if (!matched) return _ERC1271_INVALID;
        if (record.permissionsRevoked && _usage[_usageKey(_scope(sessionId, state.epoch), leaf)][msg.sender].revoked) {
            revert PermissionIsRevoked(0, leaf);
        }
        return _signedBySessionKey(digest, sessionData, data[:signatureEnd], signatureStart)
            ? _ERC1271_MAGIC
            : _ERC1271_INVALID;
    }

    // ------------------------------------------------------------------------------------------------------------
    // Granting and revoking
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc ISessionKeyValidator
    function grantSession(SessionTypes.Session calldata session) external returns (bytes32 sessionId) {
        AccountState memory state = _installedState(msg.sender);
        return _grant(msg.sender, state.epoch, session);
    }

    /// @inheritdoc ISessionKeyValidator
    function revokeSession(bytes32 sessionId) external {
        AccountState memory state = _installedState(msg.sender);
        SessionRecord storage stored = _sessions[sessionId][msg.sender];
        SessionRecord memory record = stored;
        // What the session was charged and which of its permissions were revoked stay readable.
        if (record.epoch != state.epoch) record = SessionRecord(state.epoch, SessionStatus.Unknown, 0, false);
        record.status = SessionStatus.Revoked;
        _store(stored, record);
        emit SessionRevoked(msg.sender, sessionId);
    }

    /// @inheritdoc ISessionKeyValidator
    function revokePermission(bytes32 sessionId, bytes32 leaf) external {
        AccountState memory state = _installedState(msg.sender);
        SessionRecord storage stored = _sessions[sessionId][msg.sender];
        SessionRecord memory record = stored;
        if (record.epoch != state.epoch) {
            // A session not granted yet in this epoch: the revocation waits for its enable signature.
            record = SessionRecord({
                epoch: state.epoch, status: SessionStatus.Unknown, feesCharged: 0, permissionsRevoked: true
            });
        } else {
            record.permissionsRevoked = true;
        }
        _store(stored, record);
        _usage[_usageKey(_scope(sessionId, state.epoch), leaf)][msg.sender].revoked = true;
        emit PermissionRevoked(msg.sender, sessionId, leaf);
    }

    /// @inheritdoc ISessionKeyValidator
    function revokeAllSessions() external returns (uint64 epoch) {
        _installedState(msg.sender);
        epoch = ++_accounts[msg.sender].epoch;
        emit AllSessionsRevoked(msg.sender, epoch);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Views
    // ------------------------------------------------------------------------------------------------------------

    /// @inheritdoc ISessionKeyValidator
    function sessionStatus(address account, bytes32 sessionId) external view returns (SessionStatus status) {
        SessionRecord memory record = _sessions[sessionId][account];
        return record.epoch == _accounts[account].epoch ? record.status : SessionStatus.Unknown;
    }

    /// @inheritdoc ISessionKeyValidator
    function epochOf(address account) external view returns (uint64 epoch) {
        return _accounts[account].epoch;
    }

    /// @inheritdoc ISessionKeyValidator
    function usageOf(address account, bytes32 sessionId, bytes32 leaf)
        external
        view
        returns (uint64 uses, uint32 window, uint32 windowUses)
    {
        Usage memory usage = _usage[_usageKey(_scope(sessionId, _accounts[account].epoch), leaf)][account];
        return (usage.uses, usage.window, usage.windowUses);
    }

    /// @inheritdoc ISessionKeyValidator
    function permissionRevoked(address account, bytes32 sessionId, bytes32 leaf) external view returns (bool revoked) {
        return _usage[_usageKey(_scope(sessionId, _accounts[account].epoch), leaf)][account].revoked;
    }

    /// @inheritdoc ISessionKeyValidator
    function hasRevokedPermissions(address account, bytes32 sessionId) external view returns (bool revoked) {
        SessionRecord memory record = _sessions[sessionId][account];
        return record.epoch == _accounts[account].epoch && record.permissionsRevoked;
    }

    /// @inheritdoc ISessionKeyValidator
    function spentOf(address account, bytes32 sessionId, address token) external view returns (uint256 spent) {
        return _spent[_spendKey(_scope(sessionId, _accounts[account].epoch), token)][account];
    }

    /// @inheritdoc ISessionKeyValidator
    function periodSpentOf(address account, bytes32 sessionId, address token, uint48 interval, uint48 start)
        external
        view
        returns (uint32 period, uint256 spent)
    {
        bytes32 key = _periodKey(_scope(sessionId, _accounts[account].epoch), token, interval, start);
        uint256 word = _periodSpent[key][account];
        return (uint32(word), word >> 32);
    }

    /// @inheritdoc ISessionKeyValidator
    function feesChargedOf(address account, bytes32 sessionId) external view returns (uint256 charged) {
        SessionRecord memory record = _sessions[sessionId][account];
        return record.epoch == _accounts[account].epoch ? record.feesCharged : 0;
    }

    /// @inheritdoc ISessionKeyValidator
    function sessionIdOf(SessionTypes.Session calldata session) external pure returns (bytes32 sessionId) {
        return keccak256(abi.encode(SessionTypes.SESSION_TYPEHASH, session));
    }

    /// @inheritdoc ISessionKeyValidator
    function enableDigest(address account, SessionTypes.Session calldata session)
        external
        view
        returns (bytes32 digest)
    {
        bytes32 sessionId = keccak256(abi.encode(SessionTypes.SESSION_TYPEHASH, session));
        return _enableDigest(account, _accounts[account].epoch, sessionId);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Validation
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Validates a session-signed user operation of the calling account.
    /// @dev Scope violations, fees included, revert with this contract's custom errors (EntryPoint: AA23). A bad session or
    ///      owner signature returns SIG_VALIDATION_FAILED after every other check has run (EntryPoint: AA24), so
    ///      gas estimation with a dummy signature of the right shape works. The returned window is the
    ///      intersection of the session's, each permission's and each named period (EntryPoint: AA22).
    /// @param userOp The user operation; its signature has the format in this contract's documentation.
    /// @param userOpHash The hash the session key signed.
    /// @return validationData ERC-4337 validation data: sigFailed | validUntil << 160 | validAfter << 208.
    function validateUserOp(PackedUserOperation calldata userOp, bytes32 userOpHash)
        external
        returns (uint256 validationData)
    {
        if (userOp.sender != msg.sender) revert SenderMismatch(userOp.sender, msg.sender);
        AccountState memory state = _installedState(msg.sender);
        bytes calldata signature = userOp.signature;

        (bytes calldata sessionData, uint256 cursor) = _take(signature, 1, _SESSION_LENGTH);
        uint8 mode = uint8(signature[0]);
        bytes32 sessionId = _sessionIdOf(sessionData);
        SessionRecord storage stored = _sessions[sessionId][msg.sender];
        // The record as its packed word (see `_store`); its status read as Unknown when of another epoch.
        uint256 record;
        assembly ("memory-safe") {
            record := sload(stored.slot)
        }
        uint256 status = uint64(record) == state.epoch ? uint8(record >> 64) : uint256(SessionStatus.Unknown);
        bool signatureFailed;
        bool recordChanged;
        if (mode == SessionTypes.MODE_USE) {
            if (status != uint256(SessionStatus.Active)) revert SessionNotActive(sessionId);
        } else if (mode == SessionTypes.MODE_ENABLE || mode == SessionTypes.MODE_ENABLE_MULTICHAIN) {
            bytes32 digest;
            if (mode == SessionTypes.MODE_ENABLE) {
                digest = _enableDigest(msg.sender, state.epoch, sessionId);
            } else {
                (digest, cursor) = _multichainDigestOf(msg.sender, state.epoch, sessionId, signature, cursor);
            }
            bytes calldata ownerSignature;
            (ownerSignature, cursor) = _takeLengthPrefixed(signature, cursor, 2);
            signatureFailed = !_enable(msg.sender, state.epoch, sessionId, sessionData, digest, ownerSignature, status);
            if (status != uint256(SessionStatus.Active)) {
                // A permission revoked before the session was enabled stays revoked.
                record = uint256(state.epoch) | (uint256(SessionStatus.Active) << 64)
                    | (status == uint256(SessionStatus.Unknown) && uint64(record) == state.epoch
                            ? record & _PERMISSIONS_REVOKED
                            : 0);
                recordChanged = true;
            }
        } else {
            revert UnknownSignatureMode(mode);
        }

        bytes calldata paymasterAndData = userOp.paymasterAndData;
        _checkPaymaster(sessionData, paymasterAndData);
        (bool charged, uint256 chargedRecord) = _chargeFee(sessionData, userOp, paymasterAndData, record);
        if (charged || recordChanged) {
            assembly ("memory-safe") {
                sstore(stored.slot, chargedRecord)
            }
        }

        Context memory context = Context({
            account: msg.sender,
            scope: _scope(sessionId, state.epoch),
            root: bytes32(sessionData[96:128]),
            validAfter: uint48(uint256(bytes32(sessionData[32:64]))),
            validUntil: uint48(uint256(bytes32(sessionData[64:96]))),
            nextElement: 0,
            leaf: bytes32(0),
            window: 0,
            permissionsRevoked: record & _PERMISSIONS_REVOKED != 0
        });
        cursor = _checkCalls(context, userOp.callData, signature, cursor);

        if (!_signedBySessionKey(userOpHash, sessionData, signature, cursor)) signatureFailed = true;

        return
            (signatureFailed ? _SIG_VALIDATION_FAILED : 0) | (context.validUntil << 160) | (context.validAfter << 208);
    }

    /// Whether the session signature, the rest of the signature from `cursor` (never past its end), is the session
    /// signer's over `userOpHash`: a secp256k1 signature here, any other kind by `SIGNER_VERIFIER`.
    function _signedBySessionKey(
        bytes32 userOpHash,
        bytes calldata sessionData,
        bytes calldata signature,
        uint256 cursor
    ) private view returns (bool) {
        address signer = address(uint160(uint256(bytes32(sessionData[0:32]))));
        bytes calldata sessionSignature = signature[cursor:];
        if (sessionSignature.length != _ECDSA_LENGTH) {
            return SIGNER_VERIFIER.isValid(userOpHash, signer, sessionSignature);
        }
        (address recovered, ECDSA.RecoverError recoverError,) = ECDSA.tryRecoverCalldata(userOpHash, sessionSignature);
        return recoverError == ECDSA.RecoverError.NoError && recovered == signer;
    }

    /// The multichain enable digest of the root that the chain proof at `cursor` leads to from this chain's leaf of
    /// (account, epoch, sessionId). A proof of another chain's, account's, epoch's or session's leaf leads to another
    /// root, whose digest the owner did not sign.
    function _multichainDigestOf(
        address account,
        uint64 epoch,
        bytes32 sessionId,
        bytes calldata signature,
        uint256 cursor
    ) private view returns (bytes32 digest, uint256) {
        uint256 proofLength;
        (proofLength, cursor) = _takeUint(signature, cursor, 1);
        bytes calldata proofData;
        (proofData, cursor) = _take(signature, cursor, proofLength * 0x20);
        bytes32 root =
            MerkleProof.processProofCalldata(_proofView(proofData), _multichainLeaf(account, epoch, sessionId));
        return (_multichainDigest(root), cursor);
    }

    /// Checks a session given in enable mode and returns whether the owner's signature is valid; emits the grant
    /// when the session was not active. The caller marks it active either way: with a bad signature the
    /// EntryPoint reverts the whole operation (AA24). A session already active keeps its fee counter, so replaying
    /// the owner's signature never refills the budget.
    function _enable(
        address account,
        uint64 epoch,
        bytes32 sessionId,
        bytes calldata sessionData,
        bytes32 digest,
        bytes calldata ownerSignature,
        uint256 status
    ) private returns (bool ownerSigned) {
        SessionTypes.Session calldata session = _sessionView(sessionData);
        _checkSessionFields(session);
        if (status == uint256(SessionStatus.Revoked)) revert SessionIsRevoked(sessionId);
        try IERC1271(account).isValidSignature(digest, ownerSignature) returns (bytes4 magic) {
            ownerSigned = magic == _ERC1271_MAGIC;
        } catch {
            ownerSigned = false;
        }
        if (status != uint256(SessionStatus.Active)) {
            emit SessionGranted(account, sessionId, session.signer, session.validAfter, session.validUntil, epoch);
        }
    }

    /// The fee scope: charges the operation's maximum cost to the packed `record` when the session has a budget;
    /// returns whether it did, and the record.
    function _chargeFee(
        bytes calldata sessionData,
        PackedUserOperation calldata userOp,
        bytes calldata paymasterAndData,
        uint256 record
    ) private pure returns (bool charged, uint256) {
        uint256 limit;
        uint256 budget;
        assembly ("memory-safe") {
            // sessionData is exactly _SESSION_LENGTH bytes (see `_take`): words 6 and 7
            limit := calldataload(add(sessionData.offset, 192))
            budget := calldataload(add(sessionData.offset, 224))
        }
        if (limit == SessionTypes.UNLIMITED_FEE && budget == SessionTypes.UNLIMITED_FEE) return (false, record);
        uint256 fee = _maxOperationFee(userOp, paymasterAndData);
        if (limit != SessionTypes.UNLIMITED_FEE && fee > limit) revert OperationFeeExceeded(fee, limit);
        if (budget == SessionTypes.UNLIMITED_FEE) return (false, record);
        uint256 total;
        unchecked {
            // the record of an active session of the current epoch: its feesCharged field
            uint256 before = uint128(record >> 72);
            total = fee + before;
            if (total < fee) total = type(uint256).max;
        }
        if (total > budget) revert FeeBudgetExceeded(total, budget);
        // total <= budget < 2^128
        return (true, (record & ~(uint256(type(uint128).max) << 72)) | (total << 72));
    }

    /// The prefund EntryPoint v0.7 and v0.8 require for `userOp`: the sum of its gas limits times its maxFeePerGas,
    /// saturated at 2^256 - 1 when preVerificationGas or the sum reaches 2^128 (the EntryPoint refuses any gas value
    /// of 2^120 or more, AA94).
    function _maxOperationFee(PackedUserOperation calldata userOp, bytes calldata paymasterAndData)
        private
        pure
        returns (uint256 fee)
    {
        uint256 gasLimits;
        uint256 preVerificationGas;
        uint256 gasFees;
        assembly ("memory-safe") {
            // static fields of the calldata struct: accountGasLimits, preVerificationGas, gasFees
            gasLimits := calldataload(add(userOp, 0x80))
            preVerificationGas := calldataload(add(userOp, 0xa0))
            gasFees := calldataload(add(userOp, 0xc0))
        }
        if (preVerificationGas >> 128 != 0) return type(uint256).max;
        uint256 gas;
        unchecked {
            // each term < 2^128: the sum < 2^131
            gas = (gasLimits >> 128) + uint128(gasLimits) + preVerificationGas;
            if (paymasterAndData.length >= _PAYMASTER_GAS_END) {
                uint256 paymasterGas;
                assembly ("memory-safe") {
                    paymasterGas := calldataload(add(paymasterAndData.offset, 20))
                }
                gas += (paymasterGas >> 128) + uint128(paymasterGas);
            }
            if (gas >> 128 != 0) return type(uint256).max;
            fee = gas * uint128(gasFees); // < 2^256
        }
    }

    /// Decodes the account's `execute` call and checks each call against the permission the signature names.
    function _checkCalls(Context memory context, bytes calldata callData, bytes calldata signature, uint256 cursor)
        private
        returns (uint256)
    {
        (bytes1 callType, bytes calldata executionData) = _decodeExecute(callData);
        uint256 calls = callType == _CALLTYPE_SINGLE ? 1 : _batchLength(executionData);
        uint256 permissions;
        (permissions, cursor) = _takeUint(signature, cursor, 1);
        if (permissions != calls) revert CallCountMismatch(calls, permissions);

        context.nextElement = calls * 0x20; // a batch's first element starts right after its offsets table
        for (uint256 i; i < calls; ++i) {
            cursor = _checkNthCall(context, callType, executionData, i, signature, cursor);
        }
        if (callType == _CALLTYPE_BATCH && 0x40 + context.nextElement != executionData.length) {
            // in callData coordinates, like every other offset this error reports
            revert MalformedExecutionCalldata(100 + 0x40 + context.nextElement);
        }
        return cursor;
    }

    /// Decodes call `index` and enforces the permission the signature presents for it.
    function _checkNthCall(
        Context memory context,
        bytes1 callType,
        bytes calldata executionData,
        uint256 index,
        bytes calldata signature,
        uint256 cursor
    ) private returns (uint256) {
        address target;
        uint256 value;
        bytes calldata data;
        if (callType == _CALLTYPE_SINGLE) {
            (target, value, data) = _decodeSingle(executionData);
        } else {
            (target, value, data) = _decodeBatchElement(context, executionData, index);
        }
        bytes calldata permissionData;
        (permissionData, cursor) = _takeLengthPrefixed(signature, cursor, 2);
        if (permissionData.length == 0) {
            _selfRevoke(context.account, index, target, value, data, signature);
            return cursor;
        }
        SessionTypes.Permission calldata permission;
        (permission, cursor) = _provenPermission(context, index, permissionData, signature, cursor);
        if (context.permissionsRevoked) _checkNotRevoked(context, index);
        uint8 flags = _checkScope(context.account, index, target, value, data, permission);
        _narrowWindow(context, index, permission, flags);
        _count(context, index, permission);
        _spend(context, index, target, value, data, permission, flags);
        return cursor;
    }

    /// The call a session key may make without a permission: `revokeSession` of its own session on this validator,
    /// with no value. The session is the signature's, at bytes 1 to 289. The session is revoked here, in validation
    /// (its record, written by this validation already), not only when the call runs: no other operation of the
    /// session validates after this one, in the same bundle too, and an execution that fails (out of gas) cannot
    /// leave it active.
    function _selfRevoke(
        address account,
        uint256 index,
        address target,
        uint256 value,
        bytes calldata data,
        bytes calldata signature
    ) private {
        bytes32 sessionId = _sessionIdOf(signature[1:1 + _SESSION_LENGTH]);
        if (
            target != address(this) || value != 0 || data.length != 36
                || bytes4(data[0:4]) != ISessionKeyValidator.revokeSession.selector || bytes32(data[4:36]) != sessionId
        ) revert InvalidSelfRevocation(index, target);
        SessionRecord storage stored = _sessions[sessionId][account];
        uint256 record;
        assembly ("memory-safe") {
            record := sload(stored.slot)
        }
        // validation found the record active in the current epoch: only its status changes
        record = (record & ~(uint256(0xff) << 64)) | (uint256(SessionStatus.Revoked) << 64);
        assembly ("memory-safe") {
            sstore(stored.slot, record)
        }
        emit SessionRevoked(account, sessionId);
    }

    /// A permission the owner revoked (`revokePermission`) fails, whatever the call.
    function _checkNotRevoked(Context memory context, uint256 index) private view {
        if (_usage[_usageKey(context.scope, context.leaf)][context.account].revoked) {
            revert PermissionIsRevoked(index, context.leaf);
        }
    }

    /// Reads call `index`'s proof and period from the signature and checks the proof of its permission;
    /// sets `context.leaf` and `context.window`.
    function _provenPermission(
        Context memory context,
        uint256 index,
        bytes calldata permissionData,
        bytes calldata signature,
        uint256 cursor
    ) private pure returns (SessionTypes.Permission calldata permission, uint256) {
        uint256 proofLength;
        (proofLength, cursor) = _takeUint(signature, cursor, 1);
        bytes calldata proofData;
        (proofData, cursor) = _take(signature, cursor, proofLength * 0x20);
        (context.window, cursor) = _takeUint(signature, cursor, 4);

        bytes32 leaf = _leafOf(permissionData);
        if (!MerkleProof.verifyCalldata(_proofView(proofData), context.root, leaf)) {
            revert PermissionNotInSession(index, leaf);
        }
        context.leaf = leaf;
        return (_permissionView(index, permissionData), cursor);
    }

    /// Target, selector, value and argument rules: what the call may do. Returns the permission's flags.
    function _checkScope(
        address account,
        uint256 index,
        address target,
        uint256 value,
        bytes calldata data,
        SessionTypes.Permission calldata permission
    ) private view returns (uint8 flags) {
        flags = uint8(_uintField(permission, 0x40, 8));
        if (flags & ~SessionTypes.ALL_FLAGS != 0) revert InvalidPermissionFlags(index, flags);
        if (target == account || target == address(this) || target == address(0)) {
            revert ForbiddenTarget(index, target);
        }
        if (flags & SessionTypes.FLAG_ANY_TARGET != 0) {
            if (permission.target != address(0)) revert InvalidPermissionFlags(index, flags);
        } else {
            address allowed = address(uint160(_uintField(permission, 0x00, 160)));
            if (target != allowed) revert TargetNotAllowed(index, target, allowed);
        }
        if (flags & SessionTypes.FLAG_NATIVE_TRANSFER != 0) {
            if (permission.selector != bytes4(0) || flags & SessionTypes.FLAG_ERC20_TOTAL != 0) {
                revert InvalidPermissionFlags(index, flags);
            }
            if (data.length != 0) revert NativeTransferWithCalldata(index);
        } else {
            bytes4 selector = data.length < 4 ? bytes4(0) : bytes4(data[0:4]);
            bytes4 allowed = _selectorField(permission);
            if (data.length < 4 || selector != allowed) {
                revert SelectorNotAllowed(index, selector, allowed);
            }
        }
        uint256 valueLimit = _uintField(permission, 0x60, 256);
        if (value > valueLimit) revert ValueLimitExceeded(index, value, valueLimit);

        uint256 ruleCount = permission.rules.length;
        if (ruleCount > MAX_RULES) revert TooManyRules(index, ruleCount, MAX_RULES);
        for (uint256 r; r < ruleCount; ++r) {
            _checkRule(index, r, data, permission.rules[r]);
        }
    }

    /// Intersects the running window with the permission's and, if the permission counts per period (a rate limit
    /// or FLAG_PER_PERIOD), with the named period's.
    function _narrowWindow(
        Context memory context,
        uint256 index,
        SessionTypes.Permission calldata permission,
        uint8 flags
    ) private pure {
        uint256 window = context.window;
        uint256 validAfter = _uintField(permission, 0xc0, 48);
        uint256 validUntil = _uintField(permission, 0xe0, 48);
        if (validUntil == 0) validUntil = type(uint48).max;
        if ((_uintField(permission, 0x120, 32) | (flags & SessionTypes.FLAG_PER_PERIOD)) != 0) {
            uint256 interval = _uintField(permission, 0x140, 48);
            if (interval == 0) revert MalformedPermission(index);
            uint256 start;
            uint256 end;
            // validAfter < 2^48, window < 2^32 and 0 < interval < 2^48: no overflow
            unchecked {
                start = validAfter + window * interval;
                end = start + interval - 1;
            }
            if (start > validAfter) validAfter = start;
            // A window ending at second 0 must not become validUntil 0, which the EntryPoint reads as "no expiry".
            if (end < validUntil) validUntil = end == 0 ? 1 : end;
        }
        if (validAfter > context.validAfter) {
            context.validAfter = validAfter > type(uint48).max ? type(uint48).max : validAfter;
        }
        if (validUntil < context.validUntil) context.validUntil = validUntil;
    }

    /// Usage and rate limits: one storage slot per (account, session epoch, permission).
    function _count(Context memory context, uint256 index, SessionTypes.Permission calldata permission) private {
        uint256 window = context.window;
        uint256 maxUses = _uintField(permission, 0x100, 32);
        uint256 perWindow = _uintField(permission, 0x120, 32);
        if (maxUses == 0 && perWindow == 0) return;
        Usage storage usage = _usage[_usageKey(context.scope, context.leaf)][context.account];
        Usage memory current = usage;
        uint256 uses = uint256(current.uses) + 1;
        if (maxUses != 0 && uses > maxUses) revert UsageLimitReached(index, uses, maxUses);
        if (perWindow != 0) {
            if (window < current.window) revert RateLimitWindowPassed(index, window, current.window);
            uint256 windowUses = window == current.window ? uint256(current.windowUses) + 1 : 1;
            if (windowUses > perWindow) revert RateLimitReached(index, window, perWindow);
            usage.window = uint32(window);
            usage.windowUses = uint32(windowUses);
        }
        usage.uses = uint64(uses);
    }

    /// Native and ERC-20 limits: lifetime totals shared per (account, session epoch, asset) across permissions, or
    /// with FLAG_PER_PERIOD allowances per period, shared per (account, session epoch, asset, period definition).
    function _spend(
        Context memory context,
        uint256 index,
        address target,
        uint256 value,
        bytes calldata data,
        SessionTypes.Permission calldata permission,
        uint8 flags
    ) private {
        if (flags & (SessionTypes.FLAG_NATIVE_TOTAL | SessionTypes.FLAG_ERC20_TOTAL) == 0) {
            if (flags & SessionTypes.FLAG_PER_PERIOD != 0) revert InvalidPermissionFlags(index, flags);
            return;
        }
        bool perPeriod = flags & SessionTypes.FLAG_PER_PERIOD != 0;
        if (flags & SessionTypes.FLAG_NATIVE_TOTAL != 0) {
            if (perPeriod) {
                _spendInPeriod(context, index, address(0), value, permission.nativeTotalLimit, permission);
            } else {
                uint256 total = _addSpent(context, address(0), value);
                if (total > permission.nativeTotalLimit) {
                    revert NativeTotalExceeded(index, total, permission.nativeTotalLimit);
                }
            }
        }
        if (flags & SessionTypes.FLAG_ERC20_TOTAL != 0) {
            bytes4 selector = bytes4(data[0:4]);
            uint256 amountArg;
            if (selector == _TRANSFER || selector == _APPROVE || selector == _INCREASE_ALLOWANCE) amountArg = 1;
            else if (selector == _TRANSFER_FROM) amountArg = 2;
            else revert NotAnErc20Movement(index, selector);
            uint256 start = 4 + amountArg * 0x20;
            if (data.length < start + 0x20) revert NotAnErc20Movement(index, selector);
            uint256 amount = uint256(bytes32(data[start:start + 0x20]));
            if (perPeriod) {
                _spendInPeriod(context, index, target, amount, permission.erc20TotalLimit, permission);
            } else {
                uint256 total = _addSpent(context, target, amount);
                if (total > permission.erc20TotalLimit) {
                    revert Erc20TotalExceeded(index, target, total, permission.erc20TotalLimit);
                }
            }
        }
    }

    /// Adds `amount` to the session's spending of `asset` in the period the signature names (`context.window`) and
    /// checks it against `limit`. One slot per period definition holds the latest period and its spending; a later
    /// period starts from zero (lazy reset), an earlier one is refused.
    function _spendInPeriod(
        Context memory context,
        uint256 index,
        address asset,
        uint256 amount,
        uint256 limit,
        SessionTypes.Permission calldata permission
    ) private {
        uint256 period = context.window;
        mapping(address => uint256) storage spent = _periodSpent[
            _periodKey(context.scope, asset, _uintField(permission, 0x140, 48), _uintField(permission, 0xc0, 48))
        ];
        uint256 word = spent[context.account];
        uint256 latest = uint32(word);
        if (period < latest) revert SpendingPeriodPassed(index, asset, period, latest);
        uint256 total;
        unchecked {
            uint256 before = period == latest ? word >> 32 : 0;
            total = before + amount;
            if (total < before) total = type(uint256).max;
        }
        if (total > limit || total > type(uint224).max) {
            revert PeriodAllowanceExceeded(index, asset, period, total, limit);
        }
        spent[context.account] = (total << 32) | period;
    }

    /// Adds `amount` to the session's spending of `asset`, saturating, and returns the new total.
    function _addSpent(Context memory context, address asset, uint256 amount) private returns (uint256 total) {
        mapping(address => uint256) storage spent = _spent[_spendKey(context.scope, asset)];
        uint256 before = spent[context.account];
        unchecked {
            total = before + amount;
            if (total < before) total = type(uint256).max;
        }
        spent[context.account] = total;
    }

    function _checkPaymaster(bytes calldata sessionData, bytes calldata paymasterAndData) private pure {
        uint8 policy = uint8(uint256(bytes32(sessionData[128:160])));
        if (policy == uint8(SessionTypes.PaymasterPolicy.Any)) return;
        address paymaster = paymasterAndData.length >= 20 ? address(bytes20(paymasterAndData[0:20])) : address(0);
        bool allowed;
        if (policy == uint8(SessionTypes.PaymasterPolicy.None)) {
            allowed = paymasterAndData.length == 0;
        } else if (policy == uint8(SessionTypes.PaymasterPolicy.Required)) {
            allowed = paymaster != address(0);
        } else {
            allowed = paymaster != address(0) && paymaster == address(uint160(uint256(bytes32(sessionData[160:192]))));
        }
        if (!allowed) revert PaymasterNotAllowed(policy, paymaster);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Execute calldata decoding: strict and canonical, so the decoded calls are exactly those `execute` runs.
    // ------------------------------------------------------------------------------------------------------------

    /// Checks `execute(bytes32 mode, bytes executionData)` and returns its call type and execution data.
    function _decodeExecute(bytes calldata callData)
        private
        pure
        returns (bytes1 callType, bytes calldata executionData)
    {
        if (callData.length < 4 || bytes4(callData[0:4]) != _EXECUTE) {
            revert UnsupportedAccountCall(callData.length < 4 ? bytes4(0) : bytes4(callData[0:4]));
        }
        if (callData.length < 100) revert MalformedExecutionCalldata(callData.length);
        bytes32 mode = bytes32(callData[4:36]);
        callType = mode[0];
        bytes1 execType = mode[1];
        if (
            (callType != _CALLTYPE_SINGLE && callType != _CALLTYPE_BATCH) || (execType != 0x00 && execType != 0x01)
                || uint256(mode) << 16 != 0
        ) revert UnsupportedExecutionMode(mode);
        if (uint256(bytes32(callData[36:68])) != 0x40) revert MalformedExecutionCalldata(36);
        uint256 length = uint256(bytes32(callData[68:100]));
        if (length > callData.length || callData.length != 100 + _padded(length)) {
            revert MalformedExecutionCalldata(68);
        }
        executionData = callData[100:100 + length];
    }

    function _decodeSingle(bytes calldata executionData)
        private
        pure
        returns (address target, uint256 value, bytes calldata data)
    {
        if (executionData.length < 52) revert MalformedExecutionCalldata(100 + executionData.length);
        target = address(bytes20(executionData[0:20]));
        value = uint256(bytes32(executionData[20:52]));
        data = executionData[52:];
    }

    /// Number of calls in an abi.encode(Execution[]) batch, checking its head.
    function _batchLength(bytes calldata executionData) private pure returns (uint256 count) {
        if (executionData.length < 0x40 || uint256(bytes32(executionData[0:32])) != 0x20) {
            revert MalformedExecutionCalldata(100);
        }
        count = uint256(bytes32(executionData[32:64]));
        if (count == 0 || count > MAX_CALLS) revert InvalidBatchSize(count, MAX_CALLS);
        if (executionData.length < 0x40 + count * 0x20) revert MalformedExecutionCalldata(100 + 0x40);
    }

    /// Element `i` of a batch, which must start exactly at `context.nextElement` (relative to the offsets table);
    /// advances `context.nextElement` to where element `i + 1` must start.
    function _decodeBatchElement(Context memory context, bytes calldata executionData, uint256 i)
        private
        pure
        returns (address target, uint256 value, bytes calldata data)
    {
        uint256 expectedOffset = context.nextElement;
        uint256 headPosition = 0x40 + i * 0x20;
        if (uint256(bytes32(executionData[headPosition:headPosition + 0x20])) != expectedOffset) {
            revert MalformedExecutionCalldata(100 + headPosition);
        }
        uint256 element = 0x40 + expectedOffset;
        if (executionData.length < element + 0x80) revert MalformedExecutionCalldata(100 + element);
        uint256 targetWord = uint256(bytes32(executionData[element:element + 0x20]));
        if (targetWord >> 160 != 0) revert MalformedExecutionCalldata(100 + element);
        target = address(uint160(targetWord));
        value = uint256(bytes32(executionData[element + 0x20:element + 0x40]));
        if (uint256(bytes32(executionData[element + 0x40:element + 0x60])) != 0x60) {
            revert MalformedExecutionCalldata(100 + element + 0x40);
        }
        uint256 length = uint256(bytes32(executionData[element + 0x60:element + 0x80]));
        uint256 dataStart = element + 0x80;
        if (length > executionData.length || executionData.length < dataStart + _padded(length)) {
            revert MalformedExecutionCalldata(100 + element + 0x60);
        }
        data = executionData[dataStart:dataStart + length];
        context.nextElement = expectedOffset + 0x80 + _padded(length);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    function _grant(address account, uint64 epoch, SessionTypes.Session memory session)
        private
        returns (bytes32 sessionId)
    {
        if (session.signer == address(0)) revert ZeroSessionSigner();
        if (session.validUntil == 0 || session.validAfter > session.validUntil) {
            revert InvalidSessionWindow(session.validAfter, session.validUntil);
        }
        bool exact = session.paymasterPolicy == SessionTypes.PaymasterPolicy.Exactly;
        if (exact == (session.paymaster == address(0))) {
            revert InvalidPaymasterPolicy(uint8(session.paymasterPolicy), session.paymaster);
        }
        sessionId = keccak256(abi.encode(SessionTypes.SESSION_TYPEHASH, session));
        SessionRecord memory record = _sessions[sessionId][account];
        if (record.epoch == epoch && record.status == SessionStatus.Revoked) revert SessionIsRevoked(sessionId);
        // Granting an active session again keeps its fee counter: a budget is refilled only by a new session. A
        // permission revoked before the grant stays revoked.
        if (record.epoch != epoch || record.status != SessionStatus.Active) {
            _sessions[sessionId][account] = SessionRecord({
                epoch: epoch,
                status: SessionStatus.Active,
                feesCharged: 0,
                permissionsRevoked: record.epoch == epoch && record.permissionsRevoked
            });
        }
        emit SessionGranted(account, sessionId, session.signer, session.validAfter, session.validUntil, epoch);
    }

    /// The same checks as `_grant` on a session read from the signature, whose fields are raw words.
    function _checkSessionFields(SessionTypes.Session calldata session) private pure {
        bytes32[9] calldata words;
        assembly ("memory-safe") {
            words := session
        }
        if (
            uint256(words[0]) >> 160 != 0 || uint256(words[1]) >> 48 != 0 || uint256(words[2]) >> 48 != 0
                || uint256(words[5]) >> 160 != 0 || uint256(words[6]) >> 128 != 0 || uint256(words[7]) >> 128 != 0
        ) revert MalformedSession();
        address signer = address(uint160(uint256(words[0])));
        uint48 validAfter = uint48(uint256(words[1]));
        uint48 validUntil = uint48(uint256(words[2]));
        uint256 policy = uint256(words[4]);
        address paymaster = address(uint160(uint256(words[5])));
        if (signer == address(0)) revert ZeroSessionSigner();
        if (validUntil == 0 || validAfter > validUntil) revert InvalidSessionWindow(validAfter, validUntil);
        if (policy > uint8(SessionTypes.PaymasterPolicy.Exactly)) {
            revert InvalidPaymasterPolicy(uint8(policy), paymaster);
        }
        if ((policy == uint8(SessionTypes.PaymasterPolicy.Exactly)) == (paymaster == address(0))) {
            revert InvalidPaymasterPolicy(uint8(policy), paymaster);
        }
    }

    /// Writes `record` to `stored` in one SSTORE, in SessionRecord's storage layout (epoch in the low 64 bits, then
    /// status, feesCharged and permissionsRevoked), without reading the slot again.
    function _store(SessionRecord storage stored, SessionRecord memory record) private {
        uint256 packed = uint256(record.epoch) | (uint256(record.status) << 64) | (uint256(record.feesCharged) << 72)
            | (record.permissionsRevoked ? 1 << 200 : 0);
        assembly ("memory-safe") {
            sstore(stored.slot, packed)
        }
    }

    function _installedState(address account) private view returns (AccountState memory state) {
        state = _accounts[account];
        if (!state.installed) revert NotInstalled(account);
    }

    function _enableDigest(address account, uint64 epoch, bytes32 sessionId) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(SessionTypes.ENABLE_SESSION_TYPEHASH, account, epoch, sessionId)));
    }

    /// This chain's leaf of a multichain enable tree (double-hashed, as permission leaves are).
    function _multichainLeaf(address account, uint64 epoch, bytes32 sessionId) private view returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(block.chainid, account, epoch, sessionId))));
    }

    /// The EIP-712 digest of EnableSessions(chainsRoot) in the validator's domain without chain id.
    function _multichainDigest(bytes32 chainsRoot) private view returns (bytes32) {
        return MessageHashUtils.toTypedDataHash(
            _MULTICHAIN_DOMAIN_SEPARATOR, keccak256(abi.encode(SessionTypes.ENABLE_SESSIONS_TYPEHASH, chainsRoot))
        );
    }

    /// keccak256(abi.encode(a, b)) in scratch space.
    function _hash2(bytes32 a, bytes32 b) private pure returns (bytes32 hash) {
        assembly ("memory-safe") {
            mstore(0x00, a)
            mstore(0x20, b)
            hash := keccak256(0x00, 0x40)
        }
    }

    /// Counters of a session live under its scope, which changes with the account's epoch.
    function _scope(bytes32 sessionId, uint64 epoch) private pure returns (bytes32) {
        return _hash2(sessionId, bytes32(uint256(epoch)));
    }

    function _usageKey(bytes32 scope, bytes32 leaf) private pure returns (bytes32) {
        return _hash2(scope, leaf);
    }

    function _spendKey(bytes32 scope, address asset) private pure returns (bytes32) {
        return _hash2(scope, bytes32(uint256(uint160(asset))));
    }

    /// keccak256(abi.encode(scope, asset, interval, start)), hashed in unallocated memory.
    function _periodKey(bytes32 scope, address asset, uint256 interval, uint256 start)
        private
        pure
        returns (bytes32 key)
    {
        assembly ("memory-safe") {
            let buffer := mload(0x40)
            mstore(buffer, scope)
            mstore(add(buffer, 0x20), asset)
            mstore(add(buffer, 0x40), interval)
            mstore(add(buffer, 0x60), start)
            key := keccak256(buffer, 0x80)
        }
    }

    function _padded(uint256 length) private pure returns (uint256) {
        return (length + 31) & ~uint256(31);
    }
}
