// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC7579Validator} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";

/// @title Keyscope session types
/// @notice Data types shared by the SessionKeyValidator, its tests and the Rust crates.
/// @dev A session is identified by `sessionId = hashStruct(Session)` (EIP-712, see `SESSION_TYPEHASH`).
///      A permission is one leaf of the session's Merkle tree, in OpenZeppelin StandardMerkleTree format:
///      `leaf = keccak256(bytes.concat(keccak256(abi.encode(permission))))`, sorted-pair hashing.
library SessionTypes {
    /// @notice Who may pay for a session's user operations.
    enum PaymasterPolicy {
        /// Any paymaster, or none.
        Any,
        /// Only self-paid operations (empty `paymasterAndData`).
        None,
        /// Some non-zero paymaster must pay.
        Required,
        /// Exactly `Session.paymaster` must pay.
        Exactly
    }

    /// @notice How an argument rule compares a 32-byte argument word `arg` with its operands.
    enum RuleOperator {
        /// arg == operands[0]
        Eq,
        /// arg != operands[0]
        Ne,
        /// arg < operands[0], unsigned
        Lt,
        /// arg <= operands[0], unsigned
        Lte,
        /// arg > operands[0], unsigned
        Gt,
        /// arg >= operands[0], unsigned
        Gte,
        /// arg < operands[0], two's complement signed
        SignedLt,
        /// arg <= operands[0], signed
        SignedLte,
        /// arg > operands[0], signed
        SignedGt,
        /// arg >= operands[0], signed
        SignedGte,
        /// arg equals one of the operands (1 to 64 operands)
        OneOf,
        /// operands[0] <= arg <= operands[1], unsigned
        InRange,
        /// operands[0] <= arg <= operands[1], signed
        SignedInRange,
        /// (arg & operands[0]) == operands[1]
        Bitmask
    }

    /// @notice A session granted by an account's owner to a temporary signing key.
    /// @param signer The session signer: a secp256k1 key's address, or the commitment to a P-256 key, a WebAuthn
    ///        credential or a weighted k-of-n set of those (`SessionSigners`). Never zero.
    /// @param validAfter Start of the session, passed on to the EntryPoint as `validAfter`: v0.7 accepts operations
    ///        from this second on, v0.8 only strictly after it.
    /// @param validUntil Last second the session is valid (inclusive); non-zero and >= validAfter.
    /// @param permissionsRoot Merkle root of the session's permissions.
    /// @param paymasterPolicy Who may pay for the session's operations.
    /// @param paymaster The paymaster for `PaymasterPolicy.Exactly`; zero otherwise.
    /// @param maxOperationFee Most wei one operation may cost: its required prefund as the EntryPoint computes it,
    ///        (verificationGasLimit + callGasLimit + paymasterVerificationGasLimit + paymasterPostOpGasLimit +
    ///        preVerificationGas) * maxFeePerGas, whoever pays. `UNLIMITED_FEE` turns the bound off.
    /// @param feeBudget Most wei all the session's operations may cost together, each charged its maximum cost
    ///        as above (the validator cannot see the actual cost). `UNLIMITED_FEE` turns the budget off.
    /// @param salt Free value that tells apart sessions that are otherwise identical.
    struct Session {
        address signer;
        uint48 validAfter;
        uint48 validUntil;
        bytes32 permissionsRoot;
        PaymasterPolicy paymasterPolicy;
        address paymaster;
        uint128 maxOperationFee;
        uint128 feeBudget;
        bytes32 salt;
    }

    /// @notice A condition on one static argument of a call.
    /// @param operator The comparison.
    /// @param argIndex Index of the argument's 32-byte head word: the word at `4 + 32 * argIndex` of the calldata.
    /// @param operands The comparison's operands (their number depends on the operator).
    struct ArgRule {
        RuleOperator operator;
        uint16 argIndex;
        bytes32[] operands;
    }

    /// @notice One thing a session key may do: one Merkle leaf.
    /// @param target The contract called; ignored with `FLAG_ANY_TARGET` (must then be zero). The account itself,
    ///        the validator and address(0) are never valid targets.
    /// @param selector The function selector; must be zero with `FLAG_NATIVE_TRANSFER`.
    /// @param flags Bit set of `FLAG_*`.
    /// @param valueLimit Most native value one call may send.
    /// @param nativeTotalLimit With `FLAG_NATIVE_TOTAL`: most native value the session may send in all, summed
    ///        over every permission that carries the flag; with `FLAG_PER_PERIOD` too, in each period instead.
    /// @param erc20TotalLimit With `FLAG_ERC20_TOTAL`: most amount of the target token the session may move
    ///        through transfer, transferFrom, approve and increaseAllowance, summed per token over every
    ///        permission that carries the flag; with `FLAG_PER_PERIOD` too, in each period instead.
    /// @param validAfter Start of the permission (EntryPoint `validAfter` semantics); intersected with the session's.
    /// @param validUntil Last second the permission is valid (0: the session's).
    /// @param maxUses Most uses of this permission in the session (0: unlimited).
    /// @param rateLimitCount Most uses per period (0: no rate limit).
    /// @param rateLimitInterval Length of the permission's period in seconds, for its rate limit and, with
    ///        `FLAG_PER_PERIOD`, its amounts; period k spans [validAfter + k * interval, validAfter + (k + 1) *
    ///        interval - 1]. The operation names its period; validation narrows the operation's window to it.
    /// @param rules Conditions on static arguments; all must hold.
    struct Permission {
        address target;
        bytes4 selector;
        uint8 flags;
        uint256 valueLimit;
        uint256 nativeTotalLimit;
        uint256 erc20TotalLimit;
        uint48 validAfter;
        uint48 validUntil;
        uint32 maxUses;
        uint32 rateLimitCount;
        uint48 rateLimitInterval;
        ArgRule[] rules;
    }

    /// @notice The permission matches native transfers only: calls with empty calldata.
    uint8 internal constant FLAG_NATIVE_TRANSFER = 1;
    /// @notice The permission matches any target (but never the account, the validator or address(0)).
    uint8 internal constant FLAG_ANY_TARGET = 2;
    /// @notice The call's native value counts against `nativeTotalLimit`.
    uint8 internal constant FLAG_NATIVE_TOTAL = 4;
    /// @notice The call is an ERC-20 movement whose amount counts against `erc20TotalLimit`.
    uint8 internal constant FLAG_ERC20_TOTAL = 8;
    /// @notice The permission's `nativeTotalLimit` and `erc20TotalLimit` are allowances per period (see
    ///         `rateLimitInterval`) instead of lifetime totals; needs `FLAG_NATIVE_TOTAL` or `FLAG_ERC20_TOTAL` and a
    ///         non-zero interval. Spending is summed per (asset, interval, validAfter) over the session's
    ///         permissions that carry the flag; an unused allowance does not roll over.
    uint8 internal constant FLAG_PER_PERIOD = 16;
    /// @notice Every flag a call permission may carry.
    uint8 internal constant ALL_FLAGS = 31;
    /// @notice The permission lets the session key sign EIP-712 typed data for the account (ERC-1271 through
    ///         ERC-7739's nested TypedDataSign), never make a call: a user operation presenting it fails
    ///         (`InvalidPermissionFlags`). It carries no other flag; `target` is the app's verifying contract (never
    ///         the account, the validator or address(0)); argument k of its rules is word k of the contents'
    ///         `typeHash ‖ encodeData` (0 is the type hash, k >= 1 the k-th member), and rule 0 must pin the type:
    ///         `Eq` on argument 0. Its window applies; selector, value, totals, uses and rate limits must be zero
    ///         (a signature check cannot count).
    uint8 internal constant FLAG_TYPED_DATA = 32;

    /// @notice `Session.maxOperationFee` or `Session.feeBudget` value that turns that bound off: an explicit,
    ///         owner-chosen exception to the fee scope.
    uint128 internal constant UNLIMITED_FEE = type(uint128).max;

    /// @notice userOp.signature mode: use an already granted session.
    uint8 internal constant MODE_USE = 0;
    /// @notice userOp.signature mode: grant the session with the owner's signature, then use it.
    uint8 internal constant MODE_ENABLE = 1;
    /// @notice userOp.signature mode: grant the session with the owner's one signature for several chains (a root of
    ///         `MultichainEnable` leaves, one per chain), then use it.
    uint8 internal constant MODE_ENABLE_MULTICHAIN = 2;

    /// @notice EIP-712 type of a session; `sessionId` is its struct hash.
    bytes32 internal constant SESSION_TYPEHASH = keccak256(
        "Session(address signer,uint48 validAfter,uint48 validUntil,bytes32 permissionsRoot,uint8 paymasterPolicy,address paymaster,uint128 maxOperationFee,uint128 feeBudget,bytes32 salt)"
    );

    /// @notice EIP-712 type the owner signs to enable a session inside the first user operation.
    bytes32 internal constant ENABLE_SESSION_TYPEHASH = keccak256(
        "EnableSession(address account,uint64 epoch,Session session)Session(address signer,uint48 validAfter,uint48 validUntil,bytes32 permissionsRoot,uint8 paymasterPolicy,address paymaster,uint128 maxOperationFee,uint128 feeBudget,bytes32 salt)"
    );

    /// @notice EIP-712 type the owner signs once to enable sessions on several chains: `chainsRoot` is the root of a
    ///         sorted-pair Merkle tree whose leaves are keccak256(bytes.concat(keccak256(abi.encode(chainId, account,
    ///         epoch, sessionId)))), one per (chain, account) the owner enables.
    bytes32 internal constant ENABLE_SESSIONS_TYPEHASH = keccak256("EnableSessions(bytes32 chainsRoot)");

    /// @notice The EIP-712 domain type of the multichain digest: the validator's name, version and address, and no
    ///         chain id (the chain is in each leaf).
    bytes32 internal constant MULTICHAIN_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,address verifyingContract)");
}

/// @title ISessionKeyValidator
/// @notice ERC-7579 validator module that lets an account's session keys send user operations within the scope
///         the owner granted: targets, selectors, native value, argument rules, time windows, usage and rate
///         limits, cumulative native and ERC-20 spend limits, a paymaster policy and a fee scope (most wei per
///         operation and a fee budget for the session's lifetime).
interface ISessionKeyValidator is IERC7579Validator {
    /// @notice Lifecycle of a session on one account.
    enum SessionStatus {
        /// Never granted in the account's current epoch.
        Unknown,
        /// Granted and usable within its window.
        Active,
        /// Revoked; it can never be granted again in this epoch.
        Revoked
    }

    /// @notice Emitted when the module is installed on `account`.
    /// @param account The account.
    /// @param epoch The account's epoch after install; sessions of earlier epochs are void.
    event ValidatorInstalled(address indexed account, uint64 epoch);

    /// @notice Emitted when the module is uninstalled from `account`; every session of the account is void.
    /// @param account The account.
    /// @param epoch The account's epoch after uninstall.
    event ValidatorUninstalled(address indexed account, uint64 epoch);

    /// @notice Emitted when a session is granted, by owner transaction or enable signature.
    /// @param account The account.
    /// @param sessionId The session's EIP-712 struct hash.
    /// @param signer The session key.
    /// @param validAfter Session start.
    /// @param validUntil Session end.
    /// @param epoch The account's epoch the session belongs to.
    event SessionGranted(
        address indexed account,
        bytes32 indexed sessionId,
        address indexed signer,
        uint48 validAfter,
        uint48 validUntil,
        uint64 epoch
    );

    /// @notice Emitted when one session is revoked.
    /// @param account The account.
    /// @param sessionId The revoked session.
    event SessionRevoked(address indexed account, bytes32 indexed sessionId);

    /// @notice Emitted when one permission of a session is revoked; the session's other permissions keep working.
    /// @param account The account.
    /// @param sessionId The session.
    /// @param leaf The revoked permission's Merkle leaf.
    event PermissionRevoked(address indexed account, bytes32 indexed sessionId, bytes32 indexed leaf);

    /// @notice Emitted when all sessions of an account are revoked at once.
    /// @param account The account.
    /// @param epoch The new epoch; sessions of earlier epochs are void.
    event AllSessionsRevoked(address indexed account, uint64 epoch);

    /// @notice The module is not installed on `account`.
    /// @param account The account.
    error NotInstalled(address account);
    /// @notice The module is already installed on `account`.
    /// @param account The account.
    error AlreadyInstalled(address account);
    /// @notice The validator was asked to validate an operation whose sender is not the calling account.
    /// @param sender userOp.sender.
    /// @param caller The account that called the validator.
    error SenderMismatch(address sender, address caller);
    /// @notice A session's signer is address(0).
    error ZeroSessionSigner();
    /// @notice A session's window is empty or unbounded (`validUntil` is zero or before `validAfter`).
    /// @param validAfter The session's validAfter.
    /// @param validUntil The session's validUntil.
    error InvalidSessionWindow(uint48 validAfter, uint48 validUntil);
    /// @notice A session in userOp.signature is not canonically ABI-encoded.
    error MalformedSession();
    /// @notice A session's paymaster fields are inconsistent with its policy.
    /// @param policy The session's paymaster policy.
    /// @param paymaster The paymaster.
    error InvalidPaymasterPolicy(uint8 policy, address paymaster);
    /// @notice The session was revoked in the account's current epoch and cannot be used or granted again.
    /// @param sessionId The session.
    error SessionIsRevoked(bytes32 sessionId);
    /// @notice The session is not active on the account (never granted, revoked, or of an old epoch).
    /// @param sessionId The session.
    error SessionNotActive(bytes32 sessionId);
    /// @notice userOp.signature ends before the field at `offset` that needs `needed` bytes.
    /// @param offset Byte offset of the field.
    /// @param needed Bytes the field needs.
    error SignatureTruncated(uint256 offset, uint256 needed);
    /// @notice userOp.signature starts with an unknown mode byte.
    /// @param mode The ERC-7579 mode or signature mode.
    error UnknownSignatureMode(uint8 mode);
    /// @notice userOp.callData does not call the account's ERC-7579 `execute(bytes32,bytes)`.
    /// @param selector The call's selector (zero if the calldata is shorter than 4 bytes).
    error UnsupportedAccountCall(bytes4 selector);
    /// @notice The execution mode is not single or batch call with default or try exec type and zero payload.
    /// @param mode The ERC-7579 mode or signature mode.
    error UnsupportedExecutionMode(bytes32 mode);
    /// @notice The execute calldata is not canonically encoded; `offset` is where decoding stopped.
    /// @param offset Byte offset of the field.
    error MalformedExecutionCalldata(uint256 offset);
    /// @notice A batch has no calls, or more than the maximum.
    /// @param count The count found.
    /// @param max The maximum.
    error InvalidBatchSize(uint256 count, uint256 max);
    /// @notice The signature carries `permissions` permission proofs for `calls` decoded calls.
    /// @param calls Calls in the execution.
    /// @param permissions Permission entries in the signature.
    error CallCountMismatch(uint256 calls, uint256 permissions);
    /// @notice Call `callIndex`'s permission is not canonically ABI-encoded.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    error MalformedPermission(uint256 callIndex);
    /// @notice Call `callIndex`'s permission is not a leaf of the session's tree.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param leaf The permission's leaf.
    error PermissionNotInSession(uint256 callIndex, bytes32 leaf);
    /// @notice Call `callIndex`'s permission was revoked by the account's owner (`revokePermission`).
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param leaf The revoked permission's leaf.
    error PermissionIsRevoked(uint256 callIndex, bytes32 leaf);
    /// @notice Call `callIndex` comes with an empty permission, which stands for the session's own revocation, but
    ///         is not a call of `revokeSession(sessionId)` on this validator with no value.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param target The call target.
    error InvalidSelfRevocation(uint256 callIndex, address target);
    /// @notice Call `callIndex` targets the account, the validator or address(0).
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param target The call target.
    error ForbiddenTarget(uint256 callIndex, address target);
    /// @notice Call `callIndex` targets another contract than its permission allows.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param target The call target.
    /// @param allowed What the permission allows.
    error TargetNotAllowed(uint256 callIndex, address target, address allowed);
    /// @notice Call `callIndex` has another selector than its permission allows (or calldata shorter than 4 bytes).
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param selector The call's selector (zero if the calldata is shorter than 4 bytes).
    /// @param allowed What the permission allows.
    error SelectorNotAllowed(uint256 callIndex, bytes4 selector, bytes4 allowed);
    /// @notice Call `callIndex` carries calldata under a native-transfer permission.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    error NativeTransferWithCalldata(uint256 callIndex);
    /// @notice Call `callIndex` sends more native value than its permission allows per call.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param value The native value of the call.
    /// @param limit The permission's limit.
    error ValueLimitExceeded(uint256 callIndex, uint256 value, uint256 limit);
    /// @notice Call `callIndex`'s permission has an unknown flag, or flags that contradict its fields.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param flags The permission's flags.
    error InvalidPermissionFlags(uint256 callIndex, uint8 flags);
    /// @notice Call `callIndex`'s permission has more argument rules than the maximum.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param count The count found.
    /// @param max The maximum.
    error TooManyRules(uint256 callIndex, uint256 count, uint256 max);
    /// @notice Rule `ruleIndex` of call `callIndex` has an unknown operator or a wrong number of operands.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param ruleIndex Index of the rule in the permission.
    error InvalidRule(uint256 callIndex, uint256 ruleIndex);
    /// @notice Rule `ruleIndex` of call `callIndex` reads argument `argIndex`, past the end of the calldata.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param ruleIndex Index of the rule in the permission.
    /// @param argIndex Index of the argument word the rule reads.
    error ArgumentOutOfBounds(uint256 callIndex, uint256 ruleIndex, uint256 argIndex);
    /// @notice Argument `argIndex` of call `callIndex` fails rule `ruleIndex`.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param ruleIndex Index of the rule in the permission.
    /// @param argIndex Index of the argument word the rule reads.
    error ArgumentRuleFailed(uint256 callIndex, uint256 ruleIndex, uint256 argIndex);
    /// @notice Call `callIndex` would be use number `uses` of a permission allowed `maxUses` times.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param uses The use number this call would be.
    /// @param maxUses The permission's usage limit.
    error UsageLimitReached(uint256 callIndex, uint256 uses, uint256 maxUses);
    /// @notice Call `callIndex` would exceed the rate limit in rate-limit window `window`.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param window The rate-limit window index the signature names.
    /// @param maxPerWindow The permission's uses per window.
    error RateLimitReached(uint256 callIndex, uint256 window, uint256 maxPerWindow);
    /// @notice Call `callIndex` names rate-limit window `window`, before the permission's latest used window.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param window The rate-limit window index the signature names.
    /// @param latestWindow The latest window already used.
    error RateLimitWindowPassed(uint256 callIndex, uint256 window, uint256 latestWindow);
    /// @notice Call `callIndex` would bring the session's native spending to `total`, over `limit`.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param total The cumulative amount with this call.
    /// @param limit The permission's limit.
    error NativeTotalExceeded(uint256 callIndex, uint256 total, uint256 limit);
    /// @notice Call `callIndex` would bring the session's movements of `token` to `total`, over `limit`.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param token The ERC-20 token.
    /// @param total The cumulative amount with this call.
    /// @param limit The permission's limit.
    error Erc20TotalExceeded(uint256 callIndex, address token, uint256 total, uint256 limit);
    /// @notice Call `callIndex` would bring the session's spending of `asset` in period `period` to `total`, over the
    ///         permission's allowance per period, `limit` (a total of 2^224 or more always is).
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param asset The ERC-20 token, or address(0) for native value.
    /// @param period The period index the signature names.
    /// @param total The amount spent in the period with this call.
    /// @param limit The permission's allowance per period.
    error PeriodAllowanceExceeded(uint256 callIndex, address asset, uint256 period, uint256 total, uint256 limit);
    /// @notice Call `callIndex` names period `period` of its permission, before the latest period the session spent
    ///         `asset` in under the same period definition.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param asset The ERC-20 token, or address(0) for native value.
    /// @param period The period index the signature names.
    /// @param latestPeriod The latest period already spent in.
    error SpendingPeriodPassed(uint256 callIndex, address asset, uint256 period, uint256 latestPeriod);
    /// @notice Call `callIndex` is counted as an ERC-20 movement but is not transfer, transferFrom, approve or
    ///         increaseAllowance with its arguments.
    /// @param callIndex Index of the call in the execution (0 for a single call).
    /// @param selector The call's selector (zero if the calldata is shorter than 4 bytes).
    error NotAnErc20Movement(uint256 callIndex, bytes4 selector);
    /// @notice The operation may cost `fee` wei, over the session's per-operation limit.
    /// @param fee The operation's maximum cost: its gas limits (with the paymaster's) times its maxFeePerGas.
    /// @param limit The session's `maxOperationFee`.
    error OperationFeeExceeded(uint256 fee, uint256 limit);
    /// @notice The operation would bring the fees charged to the session to `total` wei, over its budget.
    /// @param total The session's charged fees with this operation's maximum cost.
    /// @param budget The session's `feeBudget`.
    error FeeBudgetExceeded(uint256 total, uint256 budget);
    /// @notice The operation's paymaster is not allowed by the session's paymaster policy.
    /// @param policy The session's paymaster policy.
    /// @param paymaster The paymaster.
    error PaymasterNotAllowed(uint8 policy, address paymaster);

    /// @notice A typed-data permission (`FLAG_TYPED_DATA`) carries another flag or a call field (selector, value,
    ///         totals, uses, rate limit), or its rule 0 is not `Eq` on argument 0 (the contents type hash).
    /// @param leaf The permission's leaf.
    error InvalidTypedDataPermission(bytes32 leaf);

    /// @notice A session key's message signature was checked outside the session's and permission's window.
    /// @param timestamp The block's timestamp.
    /// @param validAfter First second of the window.
    /// @param validUntil Last second of the window.
    error SignatureOutsideWindow(uint256 timestamp, uint256 validAfter, uint256 validUntil);

    /// @notice The typed data's verifying contract is the account, this validator or address(0): a session key never
    ///         signs for those (an owner-level message or a session enable digest).
    /// @param verifyingContract The app domain's verifying contract.
    error ForbiddenVerifyingContract(address verifyingContract);

    /// @notice The typed data's verifying contract is not the one the permission names.
    /// @param verifyingContract The app domain's verifying contract.
    /// @param allowed The permission's `target`.
    error VerifyingContractNotAllowed(address verifyingContract, address allowed);

    /// @notice The app domain in the signature does not name its verifying contract, or names unknown fields.
    /// @param fields The ERC-5267 field bits given.
    error UnsupportedAppDomain(uint8 fields);

    /// @notice The account's ERC-5267 domain is not its own on this chain (verifyingContract and chainId), so a
    ///         nested signature would not be bound to it.
    /// @param account The account.
    error AccountDomainNotBound(address account);

    /// @notice Grants a session to the calling account (an owner transaction through the account).
    /// @param session The session.
    /// @return sessionId The session's id.
    function grantSession(SessionTypes.Session calldata session) external returns (bytes32 sessionId);

    /// @notice Revokes one session of the calling account, for good in this epoch. The session's own key may call
    ///         it too, through a session operation whose call comes with an empty permission.
    /// @param sessionId The session to revoke.
    function revokeSession(bytes32 sessionId) external;

    /// @notice Revokes one permission of a session of the calling account, for good in this epoch; the session's
    ///         other permissions keep working. Works before the session is granted too: enabling it later does not
    ///         bring the permission back. A session key cannot call this (only `revokeSession` of its own session).
    /// @param sessionId The session.
    /// @param leaf The permission's Merkle leaf.
    function revokePermission(bytes32 sessionId, bytes32 leaf) external;

    /// @notice Revokes every session of the calling account by starting a new epoch.
    /// @return epoch The new epoch.
    function revokeAllSessions() external returns (uint64 epoch);

    /// @notice A session's status on an account in the account's current epoch.
    /// @param account The account.
    /// @param sessionId The session.
    /// @return status Unknown, Active or Revoked.
    function sessionStatus(address account, bytes32 sessionId) external view returns (SessionStatus status);

    /// @notice The account's current epoch; every `revokeAllSessions`, install and uninstall starts a new one.
    /// @param account The account.
    /// @return epoch The epoch.
    function epochOf(address account) external view returns (uint64 epoch);

    /// @notice How often a permission of a session has been used on an account in the current epoch.
    /// @param account The account.
    /// @param sessionId The session.
    /// @param leaf The permission's Merkle leaf.
    /// @return uses Uses in all.
    /// @return window The latest rate-limit window used.
    /// @return windowUses Uses in that window.
    function usageOf(address account, bytes32 sessionId, bytes32 leaf)
        external
        view
        returns (uint64 uses, uint32 window, uint32 windowUses);

    /// @notice Whether the account's owner revoked one permission of a session in the current epoch.
    /// @param account The account.
    /// @param sessionId The session.
    /// @param leaf The permission's Merkle leaf.
    /// @return revoked True when revoked.
    function permissionRevoked(address account, bytes32 sessionId, bytes32 leaf) external view returns (bool revoked);

    /// @notice Whether the account's owner revoked some permission of a session in the current epoch: validation
    ///         then reads each call's permission slot.
    /// @param account The account.
    /// @param sessionId The session.
    /// @return revoked True when at least one permission is revoked.
    function hasRevokedPermissions(address account, bytes32 sessionId) external view returns (bool revoked);

    /// @notice How much of an asset a session has spent on an account in the current epoch.
    /// @param account The account.
    /// @param sessionId The session.
    /// @param token The ERC-20 token, or address(0) for native value.
    /// @return spent The cumulative amount.
    function spentOf(address account, bytes32 sessionId, address token) external view returns (uint256 spent);

    /// @notice What a session spent of an asset in the latest period it spent in, under one period definition
    ///         (permissions with `FLAG_PER_PERIOD`), in the current epoch. A later period starts from zero.
    /// @param account The account.
    /// @param sessionId The session.
    /// @param token The ERC-20 token, or address(0) for native value.
    /// @param interval The period length in seconds (the permissions' `rateLimitInterval`).
    /// @param start The start of period 0 (the permissions' `validAfter`).
    /// @return period The latest period spent in (0 when none).
    /// @return spent The amount spent in that period.
    function periodSpentOf(address account, bytes32 sessionId, address token, uint48 interval, uint48 start)
        external
        view
        returns (uint32 period, uint256 spent);

    /// @notice The fees charged to a session's budget on an account in the current epoch: the sum of the maximum
    ///         cost of each operation the session validated (zero for a session without a budget). A revoked
    ///         session keeps what it was charged.
    /// @param account The account.
    /// @param sessionId The session.
    /// @return charged The charged fees in wei.
    function feesChargedOf(address account, bytes32 sessionId) external view returns (uint256 charged);

    /// @notice A session's id: its EIP-712 struct hash.
    /// @param session The session.
    /// @return sessionId The id.
    function sessionIdOf(SessionTypes.Session calldata session) external pure returns (bytes32 sessionId);

    /// @notice The EIP-712 digest the account's owner signs to enable `session` on `account` in its current
    ///         epoch, checked through the account's ERC-1271 `isValidSignature`.
    /// @param account The account.
    /// @param session The session.
    /// @return digest The digest.
    function enableDigest(address account, SessionTypes.Session calldata session) external view returns (bytes32 digest);
}
