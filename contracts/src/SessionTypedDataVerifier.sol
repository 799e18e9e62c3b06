// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {ERC7739Utils} from "@openzeppelin/contracts/utils/cryptography/draft-ERC7739Utils.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ISessionKeyValidator, SessionTypes} from "./interfaces/ISessionKeyValidator.sol";
import {SessionWireFormat} from "./SessionWireFormat.sol";

/// @title SessionTypedDataVerifier
/// @notice The stateless part of a session key's message signature, for the `SessionKeyValidator` that deploys it:
///         the ERC-7739 TypedDataSign envelope, the typed-data permission and its proof, the window, the app domain,
///         the contents and their rules, and the nested digest the session signer signs. The validator checks the
///         session's state and the signature itself. Wire format in `SessionKeyValidator`'s documentation.
/// @dev Reads block.timestamp and the account's ERC-5267 domain: a message signature has no EntryPoint to enforce
///      a window, and is never checked during ERC-4337 validation.
contract SessionTypedDataVerifier is SessionWireFormat {
    /// @notice The validator that deployed this verifier: never a verifying contract a session key signs for.
    address public immutable VALIDATOR;

    /// @notice Records the deploying validator.
    constructor() {
        VALIDATOR = msg.sender;
    }

    /// @notice Checks everything of a session key's ERC-7739 TypedDataSign signature for `account` but the session's
    ///         state and the session signature.
    /// @dev Reverts with `ISessionKeyValidator`'s errors when the scope refuses.
    /// @param account The account asked about `hash`.
    /// @param hash The digest the app asks about.
    /// @param data The ERC-7739 TypedDataSign signature.
    /// @return matched Whether `hash`, the app domain and the contents are those of the envelope (false: a signature
    ///         that does not match, answered invalid).
    /// @return leaf The typed-data permission's leaf.
    /// @return digest The nested TypedDataSign digest in the account's domain, which the session signer signs.
    /// @return signatureStart Where the session signature starts in `data`.
    /// @return signatureEnd Where the session signature (the ERC-7739 inner signature) ends in `data`.
    function check(address account, bytes32 hash, bytes calldata data)
        external
        view
        returns (bool matched, bytes32 leaf, bytes32 digest, uint256 signatureStart, uint256 signatureEnd)
    {
        (bytes calldata signature, bytes32 appSeparator, bytes32 contentsHash, string calldata contentsDescr) =
            ERC7739Utils.decodeTypedDataSig(data);
        (string calldata contentsName, string calldata contentsType) = ERC7739Utils.decodeContentsDescr(contentsDescr);
        if (bytes(contentsName).length == 0 || hash != MessageHashUtils.toTypedDataHash(appSeparator, contentsHash)) {
            return (false, bytes32(0), bytes32(0), 0, 0);
        }
        (matched, leaf, signatureStart) = _checkScope(account, signature, appSeparator, contentsHash);
        if (!matched) return (false, leaf, bytes32(0), 0, 0);
        digest = MessageHashUtils.toTypedDataHash(
            appSeparator,
            ERC7739Utils.typedDataSignStructHash(contentsName, contentsType, contentsHash, _accountDomainBytes(account))
        );
        return (matched, leaf, digest, signatureStart, signature.length);
    }

    /// The inner signature up to the session signature: the typed-data permission proven against the session's root,
    /// the window, the app domain and the contents with the permission's rules. Returns whether the app domain and
    /// contents hash to `appSeparator` and `contentsHash` (false as soon as one does not: the rest is then not
    /// checked), the leaf and the session signature's start.
    function _checkScope(address account, bytes calldata signature, bytes32 appSeparator, bytes32 contentsHash)
        private
        view
        returns (bool matched, bytes32 leaf, uint256 cursor)
    {
        bytes calldata sessionData;
        (sessionData, cursor) = _take(signature, 0, _SESSION_LENGTH);
        SessionTypes.Session calldata session = _sessionView(sessionData);
        bytes calldata permissionData;
        (permissionData, cursor) = _takeLengthPrefixed(signature, cursor, 2);
        uint256 proofLength;
        (proofLength, cursor) = _takeUint(signature, cursor, 1);
        bytes calldata proofData;
        (proofData, cursor) = _take(signature, cursor, proofLength * 0x20);
        leaf = _leafOf(permissionData);
        if (!MerkleProof.verifyCalldata(_proofView(proofData), session.permissionsRoot, leaf)) {
            revert ISessionKeyValidator.PermissionNotInSession(0, leaf);
        }
        SessionTypes.Permission calldata permission = _permissionView(0, permissionData);
        _checkTypedDataPermission(permission, leaf);
        _checkWindow(session, permission);

        // words that do not hash to the envelope's separator or contents hash are a signature mismatch, answered
        // invalid before any of them is checked against the scope
        address verifyingContract;
        (matched, verifyingContract, cursor) = _appDomain(signature, cursor, appSeparator);
        if (!matched) return (false, leaf, cursor);
        if (verifyingContract == account || verifyingContract == VALIDATOR || verifyingContract == address(0)) {
            revert ISessionKeyValidator.ForbiddenVerifyingContract(verifyingContract);
        }
        if (verifyingContract != permission.target) {
            revert ISessionKeyValidator.VerifyingContractNotAllowed(verifyingContract, permission.target);
        }

        // the contents as `typeHash ‖ encodeData`, after their 4-byte length: argument k of a rule is their word k
        uint256 contentsStart = cursor;
        bytes calldata contents;
        (contents, cursor) = _takeLengthPrefixed(signature, cursor, 4);
        if (keccak256(contents) != contentsHash) return (false, leaf, cursor);
        bytes calldata ruleData = signature[contentsStart:cursor];
        uint256 ruleCount = permission.rules.length;
        if (ruleCount > MAX_RULES) revert ISessionKeyValidator.TooManyRules(0, ruleCount, MAX_RULES);
        for (uint256 r; r < ruleCount; ++r) {
            _checkRule(0, r, ruleData, permission.rules[r]);
        }
    }

    /// A typed-data permission carries `FLAG_TYPED_DATA` alone, no call field, and pins the contents type in rule 0.
    function _checkTypedDataPermission(SessionTypes.Permission calldata permission, bytes32 leaf) private pure {
        uint8 flags = uint8(_uintField(permission, 0x40, 8));
        if (flags != SessionTypes.FLAG_TYPED_DATA) revert ISessionKeyValidator.InvalidPermissionFlags(0, flags);
        uint256 callFields;
        assembly ("memory-safe") {
            // selector, valueLimit, nativeTotalLimit, erc20TotalLimit, maxUses, rateLimitCount, rateLimitInterval
            callFields := or(
                or(calldataload(add(permission, 0x20)), calldataload(add(permission, 0x60))),
                or(
                    or(calldataload(add(permission, 0x80)), calldataload(add(permission, 0xa0))),
                    or(
                        calldataload(add(permission, 0x100)),
                        or(calldataload(add(permission, 0x120)), calldataload(add(permission, 0x140)))
                    )
                )
            )
        }
        if (callFields != 0 || permission.rules.length == 0) {
            revert ISessionKeyValidator.InvalidTypedDataPermission(leaf);
        }
        SessionTypes.ArgRule calldata typeRule = permission.rules[0];
        // the operator word read raw, as `_checkRule` reads it: an unknown operator is this error, not an empty revert
        uint256 rawOperator;
        assembly ("memory-safe") {
            rawOperator := calldataload(typeRule)
        }
        if (rawOperator != uint256(SessionTypes.RuleOperator.Eq) || typeRule.argIndex != 0) {
            revert ISessionKeyValidator.InvalidTypedDataPermission(leaf);
        }
    }

    /// The session's window intersected with the permission's, against the block's timestamp.
    function _checkWindow(SessionTypes.Session calldata session, SessionTypes.Permission calldata permission)
        private
        view
    {
        uint256 validAfter = session.validAfter;
        uint256 validUntil = session.validUntil;
        uint256 permissionAfter = _uintField(permission, 0xc0, 48);
        uint256 permissionUntil = _uintField(permission, 0xe0, 48);
        if (permissionAfter > validAfter) validAfter = permissionAfter;
        if (permissionUntil != 0 && permissionUntil < validUntil) validUntil = permissionUntil;
        if (block.timestamp < validAfter || block.timestamp > validUntil) {
            revert ISessionKeyValidator.SignatureOutsideWindow(block.timestamp, validAfter, validUntil);
        }
    }

    /// Reads the app's EIP-712 domain at `cursor` (ERC-5267 field bits, then the fields' encoded words) and returns
    /// whether its separator is `appSeparator`, its verifying contract and the cursor after it.
    function _appDomain(bytes calldata signature, uint256 cursor, bytes32 appSeparator)
        private
        pure
        returns (bool matched, address verifyingContract, uint256)
    {
        uint256 fields;
        (fields, cursor) = _takeUint(signature, cursor, 1);
        if (fields & 0x08 == 0 || fields > 0x1f) revert ISessionKeyValidator.UnsupportedAppDomain(uint8(fields));
        // words before the verifying contract's: name, version and chainId, when present
        uint256 before = (fields & 1) + ((fields >> 1) & 1) + ((fields >> 2) & 1);
        bytes calldata encoded;
        (encoded, cursor) = _take(signature, cursor, (before + 1 + ((fields >> 4) & 1)) * 0x20);
        uint256 word = uint256(bytes32(encoded[before * 0x20:before * 0x20 + 0x20]));
        if (word >> 160 != 0) revert ISessionKeyValidator.UnsupportedAppDomain(uint8(fields));
        bytes32 domainTypehash = keccak256(
            abi.encodePacked(
                "EIP712Domain(",
                fields & 0x01 != 0 ? "string name," : "",
                fields & 0x02 != 0 ? "string version," : "",
                fields & 0x04 != 0 ? "uint256 chainId," : "",
                "address verifyingContract",
                fields & 0x10 != 0 ? ",bytes32 salt" : "",
                ")"
            )
        );
        matched = keccak256(bytes.concat(domainTypehash, encoded)) == appSeparator;
        return (matched, address(uint160(word)), cursor);
    }

    /// The account's ERC-5267 domain as ERC-7739's TypedDataSign encodes it; it must be the account's own on this
    /// chain, so that a signature for one account never verifies for another.
    function _accountDomainBytes(address account) private view returns (bytes memory) {
        (, string memory name, string memory version, uint256 chainId, address verifyingContract, bytes32 salt,) =
            IERC5267(account).eip712Domain();
        if (verifyingContract != account || chainId != block.chainid) {
            revert ISessionKeyValidator.AccountDomainNotBound(account);
        }
        return abi.encode(keccak256(bytes(name)), keccak256(bytes(version)), chainId, verifyingContract, salt);
    }
}
