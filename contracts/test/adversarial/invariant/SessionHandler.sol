// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Vm} from "forge-std/Vm.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution, IERC7579Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {IERC7579ModuleConfig, MODULE_TYPE_VALIDATOR} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {SessionKeyValidator} from "../../../src/SessionKeyValidator.sol";
import {ISessionKeyValidator, SessionTypes} from "../../../src/interfaces/ISessionKeyValidator.sol";
import {CallProof, SessionEncoding} from "../../utils/SessionEncoding.sol";
import {CallLog, LoggingTarget} from "../../mocks/CallLog.sol";
import {AdversarialBase} from "../AdversarialBase.sol";

/// @title SessionHandler
/// @notice Stateful-fuzzing handler: an owner who grants, revokes sessions and single permissions, reinstalls and
///         signs enable messages, a clock, and a leaked session key that sends mutated operations (self-revocations
///         included) through the real EntryPoints. Every operation the EntryPoint accepts is checked against an
///         independent reference model of the session's committed permissions; violations are counted in ghost
///         variables that the invariants assert to be zero.
contract SessionHandler is AdversarialBase {
    uint256 internal constant ACCOUNTS = 2;
    uint256 internal constant SESSIONS = 3;
    uint256 public constant PERMISSIONS = 7;
    uint256 public constant NATIVE_LIMIT = 3 ether;
    /// Permission 6's ERC-20 allowance per hour (FLAG_PER_PERIOD), from START.
    uint256 public constant PERIOD_ALLOWANCE = 200;
    uint48 internal constant SESSION_END = START + 2 days;

    bytes4 internal constant TRANSFER = 0xa9059cbb;
    bytes4 internal constant APPROVE = 0x095ea7b3;

    enum Status {
        None,
        Active,
        Revoked
    }

    enum Violation {
        Calls, // an accepted call is not allowed by the permission its proof names, or decoded != executed
        Revoked, // an operation of a non-active session was accepted, or the model drifted from the validator
        ValidationData, // malformed validationData
        Spend, // executed value / ERC-20 amounts past a cumulative limit or an allowance per period
        Uses, // executed uses past maxUses or a rate limit
        Fees, // the account paid more fees than the session's fee scope allows
        RevokedPermission // an operation presenting a permission revoked in the current epoch was accepted
    }

    CallLog public callLog;
    LoggingTarget public targetA;
    LoggingTarget public targetB;
    LoggingTarget public targetC;
    address public alice;
    address public bob;

    // ---- model of the owner's actions ----
    bool[ACCOUNTS] public installed;
    uint256[ACCOUNTS] public modelEpoch;
    mapping(uint256 account => mapping(uint256 session => Status)) public status;
    mapping(uint256 account => mapping(uint256 session => bytes)) internal _enableSig;
    mapping(uint256 account => mapping(uint256 session => uint256)) internal _enableSigEpoch;
    /// Permissions the owner revoked, per account, session and epoch (the ghost key).
    mapping(bytes32 key => mapping(uint256 permission => bool)) public modelRevoked;

    // ---- ghosts: what was really executed, per account, session and epoch ----
    mapping(bytes32 key => uint256) public ghostNative;
    mapping(bytes32 key => uint256) public ghostErc20;
    /// ERC-20 amounts executed under permission 6, per period, and the most of any period.
    mapping(bytes32 key => mapping(uint256 period => uint256)) public ghostErc20InPeriod;
    mapping(bytes32 key => uint256) public ghostErc20PeriodMax;
    mapping(bytes32 key => mapping(uint256 permission => uint256)) public ghostUses;
    mapping(bytes32 key => mapping(uint256 permission => mapping(uint256 window => uint256))) public ghostWindowUses;
    /// Fees the account really paid for a session's operations (its balance and deposit, less the value sent).
    mapping(bytes32 key => uint256) public ghostFees;
    uint256[7] public violations;
    string public lastViolation;
    uint256 public acceptedOps;
    uint256 public rejectedOps;
    uint256 public executedCalls;
    uint256 public selfRevocations;
    uint256 public revokedPermissionAttempts;
    mapping(bytes32 => uint256) public calls;

    bytes32[SESSIONS] public roots;
    bytes32[SESSIONS] internal _ids;
    mapping(uint256 session => mapping(uint256 permission => bytes32)) internal _leaves;
    mapping(uint256 session => mapping(uint256 permission => bytes32[])) internal _proofs;

    /// Per-operation scratch (kept in storage to stay clear of stack limits).
    struct Plan {
        uint256 account;
        uint256 session;
        uint256 n;
        bool enable;
        bool tryMode;
        bool callDataMutated;
        bool signatureMutated;
        bool[3] selfRevoke;
        uint256[3] proofSession;
        uint256[3] permission;
        Execution[3] executions;
        uint32[3] windows;
    }

    Plan internal _plan;

    function setUp() public override {
        super.setUp();
        callLog = new CallLog();
        targetA = new LoggingTarget(callLog);
        targetB = new LoggingTarget(callLog);
        targetC = new LoggingTarget(callLog);
        alice = makeAddr("alice");
        bob = makeAddr("bob");
        for (uint256 a; a < ACCOUNTS; ++a) {
            installed[a] = true;
            vm.deal(_account(a), 1_000_000 ether);
        }
        for (uint256 s; s < SESSIONS; ++s) {
            SessionTypes.Permission[] memory permissions = new SessionTypes.Permission[](PERMISSIONS);
            for (uint256 k; k < PERMISSIONS; ++k) {
                permissions[k] = catalog(s, k);
            }
            (bytes32 root, bytes32[][] memory proofs) = _tree(permissions);
            roots[s] = root;
            for (uint256 k; k < PERMISSIONS; ++k) {
                _proofs[s][k] = proofs[k];
                _leaves[s][k] = _leaf(permissions[k]);
            }
            _ids[s] = _sid(sessionOf(s));
        }
        // the campaign starts with every session granted on both accounts
        for (uint256 a; a < ACCOUNTS; ++a) {
            for (uint256 s; s < SESSIONS; ++s) {
                _grant(_entryPoint(a), _account(a), sessionOf(s));
                status[a][s] = Status.Active;
            }
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Catalog
    // ------------------------------------------------------------------------------------------------------------

    function erc20Limit(uint256 s) public pure returns (uint256) {
        return 500 + 100 * s;
    }

    /// Session `s`'s fee scope: each default operation (4.1M gas at 2 gwei) costs at most 0.0082 ETH.
    function feeScope(uint256 s) public pure returns (uint128 maxOperationFee, uint128 feeBudget) {
        return (0.02 ether, uint128(0.04 ether + s * 0.02 ether));
    }

    function maxUses(uint256 s, uint256 k) public pure returns (uint256) {
        if (k == 0) return 4 + s;
        if (k == 5) return 3;
        return 0;
    }

    function rateLimit(uint256 k) public pure returns (uint256 count, uint256 interval, uint256 validAfter) {
        if (k == 4) return (2, 1 hours, START);
        if (k == 5) return (1, 1, 0); // window k = [k, k]: window 0 ends at second 0
        if (k == 6) return (0, 1 hours, START); // periods of the allowance, no rate limit
        return (0, 0, 0);
    }

    /// Permission `k` of session `s`: the leaves the owner commits to.
    function catalog(uint256 s, uint256 k) public view returns (SessionTypes.Permission memory p) {
        if (k == 0) {
            p = _permission(address(targetA), PING);
            p.flags = SessionTypes.FLAG_NATIVE_TOTAL;
            p.valueLimit = 1 ether;
            p.nativeTotalLimit = NATIVE_LIMIT;
            p.rules = new SessionTypes.ArgRule[](1);
            p.rules[0] = _rule(SessionTypes.RuleOperator.Lte, 0, bytes32(uint256(1000)));
        } else if (k == 1) {
            p = _permission(address(targetB), TRANSFER);
            p.flags = SessionTypes.FLAG_ERC20_TOTAL;
            p.rules = new SessionTypes.ArgRule[](1);
            p.rules[0].operator = SessionTypes.RuleOperator.OneOf;
            p.rules[0].operands = new bytes32[](2);
            p.rules[0].operands[0] = bytes32(uint256(uint160(alice)));
            p.rules[0].operands[1] = bytes32(uint256(uint160(bob)));
        } else if (k == 2) {
            p = _permission(address(targetB), APPROVE);
            p.flags = SessionTypes.FLAG_ERC20_TOTAL;
            p.rules = new SessionTypes.ArgRule[](1);
            p.rules[0] = _rule(SessionTypes.RuleOperator.Eq, 0, bytes32(uint256(uint160(alice))));
        } else if (k == 3) {
            p = _permission(address(targetA), bytes4(0));
            p.flags = SessionTypes.FLAG_NATIVE_TRANSFER | SessionTypes.FLAG_NATIVE_TOTAL;
            p.valueLimit = 0.5 ether;
            p.nativeTotalLimit = NATIVE_LIMIT;
        } else if (k == 4) {
            p = _permission(address(0), PONG);
            p.flags = SessionTypes.FLAG_ANY_TARGET;
            p.validUntil = uint48(START + 1 days + s * 1 hours);
            p.rules = new SessionTypes.ArgRule[](1);
            p.rules[0] = _rule2(
                SessionTypes.RuleOperator.SignedInRange, 1, bytes32(uint256(int256(-5))), bytes32(uint256(int256(5)))
            );
        } else if (k == 5) {
            p = _permission(address(targetA), PING);
            p.rules = new SessionTypes.ArgRule[](1);
            p.rules[0] = _rule(SessionTypes.RuleOperator.Eq, 0, bytes32(uint256(7)));
        } else {
            p = _permission(address(targetB), TRANSFER);
            p.flags = SessionTypes.FLAG_ERC20_TOTAL | SessionTypes.FLAG_PER_PERIOD;
            p.erc20TotalLimit = PERIOD_ALLOWANCE;
        }
        if (k == 1 || k == 2) p.erc20TotalLimit = erc20Limit(s);
        p.maxUses = uint32(maxUses(s, k));
        (uint256 count, uint256 interval, uint256 validAfter) = rateLimit(k);
        p.rateLimitCount = uint32(count);
        p.rateLimitInterval = uint48(interval);
        p.validAfter = uint48(validAfter);
    }

    function sessionOf(uint256 s) public view returns (SessionTypes.Session memory session) {
        session = _session(roots[s]);
        session.validUntil = SESSION_END;
        (session.maxOperationFee, session.feeBudget) = feeScope(s);
        session.salt = bytes32(s);
    }

    function sessionValidator() external view returns (SessionKeyValidator) {
        return validator;
    }

    function account(uint256 a) external view returns (address) {
        return _account(a);
    }

    function _account(uint256 a) internal view returns (address) {
        return a == 0 ? address(accountV07) : address(accountV08);
    }

    function _entryPoint(uint256 a) internal view returns (IEntryPoint) {
        return a == 0 ? entryPointV07 : entryPointV08;
    }

    function ghostKey(uint256 a, uint256 s) public view returns (bytes32) {
        return keccak256(abi.encode(a, s, modelEpoch[a]));
    }

    function _violate(Violation kind, string memory reason) internal {
        ++violations[uint256(kind)];
        lastViolation = reason;
    }

    function violationCount(Violation kind) external view returns (uint256) {
        return violations[uint256(kind)];
    }

    // ------------------------------------------------------------------------------------------------------------
    // Owner and clock actions
    // ------------------------------------------------------------------------------------------------------------

    function grant(uint256 accountSeed, uint256 sessionSeed) external {
        ++calls["grant"];
        (uint256 a, uint256 s) = (accountSeed % ACCOUNTS, sessionSeed % SESSIONS);
        _grant(_entryPoint(a), _account(a), sessionOf(s));
        if (installed[a] && status[a][s] != Status.Revoked) status[a][s] = Status.Active;
        _checkModel(a, s);
    }

    function revoke(uint256 accountSeed, uint256 sessionSeed) external {
        ++calls["revoke"];
        (uint256 a, uint256 s) = (accountSeed % ACCOUNTS, sessionSeed % SESSIONS);
        _revoke(_entryPoint(a), _account(a), _ids[s]);
        if (installed[a]) status[a][s] = Status.Revoked;
        _checkModel(a, s);
    }

    /// The owner revokes permission `k` of session `s`: for good in this epoch, whatever the session's status.
    function revokePermission(uint256 accountSeed, uint256 sessionSeed, uint256 permissionSeed) external {
        ++calls["revokePermission"];
        (uint256 a, uint256 s, uint256 k) =
            (accountSeed % ACCOUNTS, sessionSeed % SESSIONS, permissionSeed % PERMISSIONS);
        _sendOwnerOp(
            _entryPoint(a),
            _account(a),
            _validatorCall(abi.encodeCall(ISessionKeyValidator.revokePermission, (_ids[s], _leaves[s][k])))
        );
        if (installed[a]) modelRevoked[ghostKey(a, s)][k] = true;
        _checkModel(a, s);
    }

    function revokeAll(uint256 accountSeed) external {
        ++calls["revokeAll"];
        uint256 a = accountSeed % ACCOUNTS;
        _revokeAll(_entryPoint(a), _account(a));
        if (installed[a]) _newEpoch(a);
        _checkModel(a, 0);
    }

    function reinstall(uint256 accountSeed, bool both) external {
        ++calls["reinstall"];
        uint256 a = accountSeed % ACCOUNTS;
        if (installed[a]) {
            _uninstallValidator(_entryPoint(a), _account(a));
            installed[a] = false;
            _newEpoch(a);
        }
        if (both || !installed[a]) {
            _sendOwnerOp(
                _entryPoint(a),
                _account(a),
                abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(validator), ""))
            );
            installed[a] = true;
            _newEpoch(a);
        }
        _checkModel(a, 0);
    }

    function ownerSignsEnable(uint256 accountSeed, uint256 sessionSeed) external {
        ++calls["ownerSignsEnable"];
        (uint256 a, uint256 s) = (accountSeed % ACCOUNTS, sessionSeed % SESSIONS);
        _enableSig[a][s] = _ownerEnableSignature(_account(a), sessionOf(s));
        _enableSigEpoch[a][s] = modelEpoch[a];
    }

    function warp(uint256 seconds_) external {
        ++calls["warp"];
        uint256 dt = seconds_ % 8 == 0 ? bound(seconds_, 0, 1 days) : bound(seconds_, 0, 2 hours);
        vm.warp(block.timestamp + dt);
    }

    function _newEpoch(uint256 a) internal {
        ++modelEpoch[a];
        for (uint256 s; s < SESSIONS; ++s) {
            status[a][s] = Status.None;
        }
    }

    /// The owner model must agree with the validator's view.
    function _checkModel(uint256 a, uint256 s) internal {
        address acct = _account(a);
        if (validator.isInitialized(acct) != installed[a]) _violate(Violation.Revoked, "installed drift");
        for (uint256 t; t < SESSIONS; ++t) {
            ISessionKeyValidator.SessionStatus actual = validator.sessionStatus(acct, _ids[t]);
            if (uint8(actual) != uint8(status[a][t])) _violate(Violation.Revoked, "status drift");
            bytes32 key = ghostKey(a, t);
            bool any;
            for (uint256 k; k < PERMISSIONS; ++k) {
                bool revoked = modelRevoked[key][k];
                any = any || revoked;
                if (validator.permissionRevoked(acct, _ids[t], _leaves[t][k]) != revoked) {
                    _violate(Violation.RevokedPermission, "revoked permission drift");
                }
            }
            if (validator.hasRevokedPermissions(acct, _ids[t]) != any) {
                _violate(Violation.RevokedPermission, "revoked flag drift");
            }
        }
        s; // every session is checked
    }

    // ------------------------------------------------------------------------------------------------------------
    // The leaked key
    // ------------------------------------------------------------------------------------------------------------

    function _r(uint256 seed, uint256 salt) internal pure returns (uint256) {
        return uint256(keccak256(abi.encode(seed, salt)));
    }

    /// A call that permission `k` allows (mostly), with the window it needs.
    function _conforming(uint256 k, uint256 seed, bool clean)
        internal
        view
        returns (Execution memory e, uint32 window)
    {
        uint256 r = _r(seed, 1);
        if (k == 0) {
            e = Execution(address(targetA), r % (clean ? 1 ether : 1.1 ether), _ping((r >> 64) % (clean ? 1000 : 1100)));
        } else if (k == 1) {
            address to = (r >> 8) % 2 == 0 ? alice : bob;
            e = Execution(address(targetB), 0, abi.encodeWithSelector(TRANSFER, to, (r >> 16) % 350));
        } else if (k == 2) {
            e = Execution(address(targetB), 0, abi.encodeWithSelector(APPROVE, alice, (r >> 16) % 350));
        } else if (k == 3) {
            e = Execution(address(targetA), r % (clean ? 0.5 ether : 0.6 ether), "");
        } else if (k == 4) {
            address target =
                (r >> 8) % 3 == 0 ? address(targetA) : ((r >> 8) % 3 == 1 ? address(targetB) : address(targetC));
            int256 y = clean ? int256((r >> 16) % 11) - 5 : int256((r >> 16) % 13) - 6;
            e = Execution(target, 0, abi.encodeWithSelector(PONG, r >> 128, y));
        } else if (k == 5) {
            e = Execution(address(targetA), 0, _ping(!clean && (r >> 64) % 9 == 0 ? 8 : 7));
        } else {
            e = Execution(address(targetB), 0, abi.encodeWithSelector(TRANSFER, bob, (r >> 16) % 120));
        }
        (, uint256 interval, uint256 validAfter) = rateLimit(k);
        if (interval != 0 && block.timestamp >= validAfter) {
            window = uint32((block.timestamp - validAfter) / interval);
        }
        // sometimes another window: 0 (the zero-length trap), the next one, or any
        uint256 w = clean ? 15 : (r >> 200) % 16;
        if (w == 0) window = 0;
        else if (w == 1) window += 1;
        else if (w == 2) window = uint32(r >> 224);
    }

    /// Mutates a call's target, selector, value or arguments.
    function _mutate(Execution memory e, uint256 seed) internal view {
        uint256 r = _r(seed, 2);
        if (r % 8 == 0) {
            uint256 pick = (r >> 8) % 7;
            address[7] memory pool = [
                address(targetA),
                address(targetB),
                address(targetC),
                _account(_plan.account),
                address(validator),
                address(0),
                address(entryPointV08)
            ];
            e.target = pool[pick];
        }
        if ((r >> 16) % 8 == 0 && e.callData.length >= 4) {
            bytes4[4] memory selectors = [PING, PONG, TRANSFER, APPROVE];
            bytes4 selector = (r >> 24) % 5 == 4 ? bytes4(uint32(r >> 32)) : selectors[(r >> 24) % 5 % 4];
            for (uint256 i; i < 4; ++i) {
                e.callData[i] = selector[i];
            }
        }
        if ((r >> 64) % 8 == 0) e.value = (r >> 72) % 2 ether;
        if ((r >> 80) % 6 == 0 && e.callData.length >= 36) {
            uint256 word = 4 + 32 * (((r >> 88) % (e.callData.length - 4)) / 32);
            if (word + 32 <= e.callData.length) {
                bytes32 v = (r >> 96) % 2 == 0 ? bytes32(r) : bytes32(uint256(int256(-int256((r >> 100) % 10))));
                for (uint256 i; i < 32; ++i) {
                    e.callData[word + i] = v[i];
                }
            }
        }
        if ((r >> 160) % 16 == 0) {
            uint256 length = (r >> 168) % (e.callData.length + 1);
            bytes memory cut = new bytes(length);
            for (uint256 i; i < length; ++i) {
                cut[i] = e.callData[i];
            }
            e.callData = cut;
        }
        if ((r >> 176) % 16 == 0) e.callData = bytes.concat(e.callData, bytes1(uint8(r >> 184)));
    }

    /// The session's own revocation (call index irrelevant), or, when not `clean`, sometimes a near miss: another
    /// session, a value, another validator function, an extra byte, another target.
    function _selfRevocation(uint256 s, uint256 seed, bool clean) internal view returns (Execution memory e) {
        e = Execution(address(validator), 0, SessionEncoding.selfRevocationCall(sessionOf(s)));
        if (clean) return e;
        uint256 r = _r(seed, 3);
        uint256 pick = r % 8;
        if (pick == 0) e.callData = abi.encodeCall(ISessionKeyValidator.revokeSession, (_ids[(s + 1) % SESSIONS]));
        else if (pick == 1) e.value = 1 + (r >> 8) % 1 ether;
        else if (pick == 2) e.callData = abi.encodeCall(ISessionKeyValidator.revokeAllSessions, ());
        else if (pick == 3) e.callData = abi.encodeCall(ISessionKeyValidator.revokePermission, (_ids[s], _leaves[s][0]));
        else if (pick == 4) e.callData = bytes.concat(e.callData, bytes1(uint8(r >> 16)));
        else if (pick == 5) e.target = (r >> 16) % 2 == 0 ? address(targetA) : _account(_plan.account);
        // 6, 7: the exact call
    }

    function use(uint256 accountSeed, uint256 sessionSeed, uint256 seed) external {
        ++calls["use"];
        delete _plan;
        Plan storage plan = _plan;
        plan.account = accountSeed % ACCOUNTS;
        plan.session = sessionSeed % SESSIONS;
        uint256 shape = _r(seed, 0);
        plan.n = 1 + shape % 3;
        bool batch = plan.n > 1 || (shape >> 8) % 2 == 0;
        plan.tryMode = (shape >> 16) % 4 == 0;
        plan.enable = (shape >> 24) % 4 == 0 && _enableSig[plan.account][plan.session].length != 0;
        bool clean = (shape >> 100) % 2 == 0; // half of the operations are honest, the others are mutated

        Execution[] memory executions = new Execution[](plan.n);
        CallProof[] memory proofs = new CallProof[](plan.n);
        bool[] memory selfRevoking = new bool[](plan.n);
        for (uint256 i; i < plan.n; ++i) {
            uint256 callSeed = _r(seed, 10 + i);
            uint256 k = callSeed % PERMISSIONS;
            if ((callSeed >> 240) % 24 == 0) {
                // the key revokes its own session (the entry is the empty permission)
                Execution memory revocation = _selfRevocation(plan.session, callSeed, clean);
                executions[i] = revocation;
                proofs[i] =
                    CallProof({permission: catalog(plan.session, 0), proof: _proofs[plan.session][0], window: 0});
                selfRevoking[i] = true;
                plan.selfRevoke[i] = true;
                plan.proofSession[i] = plan.session;
                plan.executions[i] = revocation;
                continue;
            }
            uint256 proofSession = !clean && (callSeed >> 8) % 8 == 0 ? (plan.session + 1) % SESSIONS : plan.session;
            (Execution memory e, uint32 window) = _conforming(k, callSeed, clean);
            if (!clean) _mutate(e, callSeed);
            executions[i] = e;
            proofs[i] =
                CallProof({permission: catalog(proofSession, k), proof: _proofs[proofSession][k], window: window});
            plan.proofSession[i] = proofSession;
            plan.permission[i] = k;
            plan.executions[i] = e;
            plan.windows[i] = window;
        }

        bytes32 mode = bytes32((batch ? uint256(1) << 248 : 0) | (plan.tryMode ? uint256(1) << 240 : 0));
        bytes memory callData = abi.encodeCall(
            IERC7579Execution.execute,
            (
                mode,
                batch
                    ? abi.encode(executions)
                    : abi.encodePacked(executions[0].target, executions[0].value, executions[0].callData)
            )
        );
        if (!clean && (shape >> 32) % 8 == 0) {
            callData[(shape >> 40) % callData.length] ^= bytes1(uint8(1 + (shape >> 56) % 255));
            plan.callDataMutated = true;
        }

        IEntryPoint entryPoint = _entryPoint(plan.account);
        address acct = _account(plan.account);
        SessionTypes.Session memory session = sessionOf(plan.session);
        PackedUserOperation memory op = _buildUserOp(entryPoint, acct, _sessionNonceKey(1), callData);
        if (!clean && (shape >> 120) % 3 == 0) {
            // the leaked key inflates the fees it makes the account pay (to the bundler, possibly itself)
            uint128 fee = uint128(1 + (shape >> 128) % 50 gwei);
            op.preVerificationGas = (shape >> 160) % 10_000_000;
            op.gasFees = _pack(fee, fee);
        }
        op.signature = _signOp(entryPoint, op, session, proofs, selfRevoking);
        if (!clean && (shape >> 64) % 8 == 0) {
            op.signature[(shape >> 72) % op.signature.length] ^= bytes1(uint8(1 + (shape >> 88) % 255));
            plan.signatureMutated = true;
            plan.enable = op.signature[0] == bytes1(SessionTypes.MODE_ENABLE);
        }

        _checkValidationData(entryPoint, op);

        uint256 logBefore = callLog.count();
        uint256 fundsBefore = acct.balance + entryPoint.balanceOf(acct);
        bool presentsRevoked = _presentsRevokedPermission(op.signature);
        if (presentsRevoked) ++revokedPermissionAttempts;
        vm.recordLogs();
        (bool ok,) = _tryHandleOp(entryPoint, op);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        if (!ok) {
            ++rejectedOps;
            if (acct.balance + entryPoint.balanceOf(acct) != fundsBefore) _violate(Violation.Fees, "refused op paid");
            return;
        }
        ++acceptedOps;
        if (presentsRevoked) _violate(Violation.RevokedPermission, "operation with a revoked permission accepted");
        bool selfRevoked = _validatorEvents(logs);
        _tallyFees(entryPoint, fundsBefore, logBefore, selfRevoked);
        _checkAccepted(logBefore);
        if (selfRevoked) {
            ++selfRevocations;
            status[plan.account][plan.session] = Status.Revoked;
            _checkModel(plan.account, plan.session);
        }
    }

    /// The planned operation's signature: `op` signed by the session key, in the plan's mode.
    function _signOp(
        IEntryPoint entryPoint,
        PackedUserOperation memory op,
        SessionTypes.Session memory session,
        CallProof[] memory proofs,
        bool[] memory selfRevoking
    ) internal view returns (bytes memory) {
        bytes memory sessionSig = _sign(SESSION_KEY, _userOpHash(entryPoint, op));
        if (!_plan.enable) return SessionEncoding.useSignature(session, proofs, selfRevoking, sessionSig);
        return SessionEncoding.enableSignature(
            session, _enableSig[_plan.account][_plan.session], proofs, selfRevoking, sessionSig
        );
    }

    /// Whether some call entry of `signature` presents a permission of the operation's session that the owner
    /// revoked in the current epoch (the entries are parsed as the validator reads them, so a mutated signature
    /// is judged by what it really presents).
    function _presentsRevokedPermission(bytes memory signature) internal view returns (bool) {
        uint256 s = _plan.session;
        bytes32 key = ghostKey(_plan.account, s);
        uint256 cursor = 1 + SessionEncoding.SESSION_LENGTH;
        if (signature.length < cursor + 1) return false;
        if (uint8(signature[0]) == SessionTypes.MODE_ENABLE) {
            if (signature.length < cursor + 2) return false;
            cursor += 2 + (uint256(uint8(signature[cursor])) << 8 | uint8(signature[cursor + 1]));
        }
        if (signature.length < cursor + 1) return false;
        uint256 count = uint8(signature[cursor++]);
        for (uint256 i; i < count; ++i) {
            if (signature.length < cursor + 2) return false;
            uint256 length = uint256(uint8(signature[cursor])) << 8 | uint8(signature[cursor + 1]);
            cursor += 2;
            if (length == 0) continue; // a self-revocation entry
            if (signature.length < cursor + length + 1) return false;
            bytes32 inner;
            assembly ("memory-safe") {
                inner := keccak256(add(add(signature, 0x20), cursor), length)
            }
            bytes32 leaf = keccak256(bytes.concat(inner));
            for (uint256 k; k < PERMISSIONS; ++k) {
                if (leaf == _leaves[s][k] && modelRevoked[key][k]) return true;
            }
            cursor += length;
            cursor += 1 + 32 * uint256(uint8(signature[cursor])) + 4;
        }
        return false;
    }

    /// The validator's events of an accepted session operation: it may enable its own session (enable mode) and
    /// revoke its own session (self-revocation), nothing else. Returns whether it revoked its session.
    function _validatorEvents(Vm.Log[] memory logs) internal returns (bool selfRevoked) {
        address acct = _account(_plan.account);
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].emitter != address(validator)) continue;
            bytes32 topic = logs[i].topics[0];
            if (topic == ISessionKeyValidator.SessionRevoked.selector) {
                if (logs[i].topics[1] != bytes32(uint256(uint160(acct))) || logs[i].topics[2] != _ids[_plan.session]) {
                    _violate(Violation.Revoked, "a session key revoked another session");
                }
                bool exact;
                for (uint256 j; j < _plan.n; ++j) {
                    exact = exact || (_plan.selfRevoke[j] && _isExactSelfRevocation(_plan.executions[j]));
                }
                if (!exact && !_plan.callDataMutated && !_plan.signatureMutated) {
                    _violate(Violation.Revoked, "session revoked without its exact self-revocation");
                }
                selfRevoked = true;
            } else if (topic != ISessionKeyValidator.SessionGranted.selector || !_plan.enable) {
                _violate(Violation.Revoked, "a session operation changed other validator state");
            }
        }
    }

    /// Whether `e` is exactly `revokeSession` of the operation's own session on the validator, with no value.
    function _isExactSelfRevocation(Execution storage e) internal view returns (bool) {
        return e.target == address(validator) && e.value == 0
            && keccak256(e.callData) == keccak256(SessionEncoding.selfRevocationCall(sessionOf(_plan.session)));
    }

    /// What the accepted operation really cost the account in fees, against the session's fee scope.
    function _tallyFees(IEntryPoint entryPoint, uint256 fundsBefore, uint256 logBefore, bool selfRevoked) internal {
        address acct = _account(_plan.account);
        uint256 valueSent;
        for (uint256 e = logBefore; e < callLog.count(); ++e) {
            CallLog.Entry memory executed = callLog.entry(e);
            if (executed.from == acct) valueSent += executed.value;
        }
        uint256 fee = fundsBefore - valueSent - (acct.balance + entryPoint.balanceOf(acct));
        (uint128 maxOperationFee, uint128 feeBudget) = feeScope(_plan.session);
        bytes32 key = ghostKey(_plan.account, _plan.session);
        ghostFees[key] += fee;
        if (fee > maxOperationFee) _violate(Violation.Fees, "one operation cost more than maxOperationFee");
        if (ghostFees[key] > feeBudget) _violate(Violation.Fees, "fees paid past the budget");
        uint256 charged = validator.feesChargedOf(acct, _ids[_plan.session]);
        if (charged > feeBudget) _violate(Violation.Fees, "validator charged past the budget");
        // a revoked session's record keeps no fee counter (revokeSession zeroes it): it never validates again
        if (!selfRevoked && charged < ghostFees[key]) _violate(Violation.Fees, "validator charged less than was paid");
    }

    /// Carries validationData out of {probeValidation}, whose state changes its revert discards.
    error ValidationProbe(uint256 validationData);

    /// Runs the validator as the account would and always reverts, returning validationData in the revert data:
    /// cheaper than a state snapshot. Only for this handler's own use.
    function probeValidation(PackedUserOperation calldata op, bytes32 opHash) external {
        require(msg.sender == address(this), "internal");
        vm.prank(op.sender);
        uint256 data = validator.validateUserOp(op, opHash);
        revert ValidationProbe(data);
    }

    /// validationData as the account sees it, on a throw-away copy of the state.
    function _checkValidationData(IEntryPoint entryPoint, PackedUserOperation memory op) internal {
        bytes32 opHash = _userOpHash(entryPoint, op);
        uint256 data;
        try this.probeValidation(op, opHash) {}
        catch (bytes memory reason) {
            if (reason.length != 36 || bytes4(reason) != ValidationProbe.selector) return; // validation reverted
            assembly ("memory-safe") {
                data := mload(add(reason, 36))
            }
        }
        uint256 aggregator = data & type(uint160).max;
        uint256 validUntil = uint48(data >> 160);
        uint256 validAfter = uint48(data >> 208);
        if (aggregator > 1) _violate(Violation.ValidationData, "aggregator bits");
        if (validUntil == 0) _violate(Violation.ValidationData, "validUntil 0 = no expiry");
        if (_plan.signatureMutated) return; // the signature's fields may now parse differently
        SessionTypes.Session memory session = sessionOf(_plan.session);
        if (validUntil > session.validUntil) _violate(Violation.ValidationData, "validUntil past session");
        if (validAfter < session.validAfter) _violate(Violation.ValidationData, "validAfter before session");
        if (_plan.callDataMutated) return; // the call count may differ
        for (uint256 i; i < _plan.n; ++i) {
            if (_plan.selfRevoke[i]) continue; // no permission, no window
            SessionTypes.Permission memory p = catalog(_plan.proofSession[i], _plan.permission[i]);
            if (p.validUntil != 0 && validUntil > p.validUntil) {
                _violate(Violation.ValidationData, "validUntil past permission");
            }
            if (validAfter < p.validAfter) _violate(Violation.ValidationData, "validAfter before permission");
            if (p.rateLimitCount != 0 || p.flags & SessionTypes.FLAG_PER_PERIOD != 0) {
                uint256 start = uint256(p.validAfter) + uint256(_plan.windows[i]) * p.rateLimitInterval;
                if (validAfter < (start > type(uint48).max ? type(uint48).max : start)) {
                    _violate(Violation.ValidationData, "validAfter before rate-limit window");
                }
                if (validUntil > start + p.rateLimitInterval - 1 && start + p.rateLimitInterval - 1 != 0) {
                    _violate(Violation.ValidationData, "validUntil past rate-limit window");
                }
            }
        }
    }

    /// The operation was accepted and executed: compare the calls really made with the committed permissions.
    function _checkAccepted(uint256 logBefore) internal {
        Plan storage plan = _plan;
        uint256 a = plan.account;
        uint256 s = plan.session;
        address acct = _account(a);
        uint256 logAfter = callLog.count();
        executedCalls += logAfter - logBefore;

        // the session must be active (or legitimately enabled by this very operation)
        if (plan.enable) {
            if (!installed[a] || status[a][s] == Status.Revoked || _enableSigEpoch[a][s] != modelEpoch[a]) {
                _violate(Violation.Revoked, "stale or revoked enable signature accepted");
            }
            status[a][s] = Status.Active;
        } else if (!installed[a] || status[a][s] != Status.Active) {
            _violate(Violation.Revoked, "inactive session accepted");
        }

        // the time must be inside the session's window (EntryPoint v0.8 excludes validAfter itself)
        SessionTypes.Session memory session = sessionOf(s);
        if (block.timestamp > session.validUntil || block.timestamp < session.validAfter) {
            _violate(Violation.Calls, "accepted outside the session window");
        }

        bytes32 key = ghostKey(a, s);
        uint256 logged = logAfter - logBefore;
        if (plan.callDataMutated) {
            // the executed calls are whatever the mutated calldata encodes: each must still be allowed by a
            // committed permission of the session
            if (logged > plan.n) _violate(Violation.Calls, "more calls executed than proven");
            for (uint256 e; e < logged; ++e) {
                CallLog.Entry memory executed = callLog.entry(logBefore + e);
                if (executed.from != acct) _violate(Violation.Calls, "call not made by the account");
                bool covered;
                for (uint256 k; k < PERMISSIONS && !covered; ++k) {
                    covered = _allowed(acct, catalog(s, k), executed);
                }
                if (!covered) _violate(Violation.Calls, "executed call outside every committed permission");
            }
            _checkCounters(acct, s);
            return;
        }
        // every proven call must be allowed by the permission its proof names, whether or not it reached a logging
        // target (a call the validator let through to the account or the validator would not be logged)
        uint256 expected;
        bool unloggedCode;
        for (uint256 i; i < plan.n; ++i) {
            if (plan.proofSession[i] != s) _violate(Violation.Calls, "permission of another session's tree");
            Execution storage intended = plan.executions[i];
            if (plan.selfRevoke[i]) {
                // the empty permission allows exactly the session's own revocation
                if (!_isExactSelfRevocation(intended)) _violate(Violation.Calls, "near-miss self-revocation accepted");
                unloggedCode = true;
                continue;
            }
            CallLog.Entry memory asSigned = CallLog.Entry(intended.target, acct, intended.value, intended.callData);
            if (!_allowed(acct, catalog(s, plan.permission[i]), asSigned)) {
                _violate(Violation.Calls, "accepted call outside its permission");
            }
            if (_isLogging(intended.target)) ++expected;
            else if (intended.target.code.length != 0) unloggedCode = true;
        }
        // a call into other code (e.g. the EntryPoint under the wildcard permission) may revert: in default mode
        // that reverts the whole execution, in try mode only that call
        if (logged == 0 && unloggedCode && !plan.tryMode) {
            _checkCounters(acct, s);
            return;
        }
        if (logged != expected) {
            _violate(Violation.Calls, "executed call count differs from the proven calls");
            return;
        }
        uint256 j = logBefore;
        for (uint256 i; i < plan.n; ++i) {
            Execution storage intended = plan.executions[i];
            if (plan.selfRevoke[i] || !_isLogging(intended.target)) continue;
            CallLog.Entry memory executed = callLog.entry(j++);
            if (executed.from != acct) _violate(Violation.Calls, "call not made by the account");
            if (
                executed.target != intended.target || executed.value != intended.value
                    || keccak256(executed.data) != keccak256(intended.callData)
            ) _violate(Violation.Calls, "executed call differs from the signed calldata");
            uint256 k = plan.permission[i];
            SessionTypes.Permission memory p = catalog(s, k);
            if (!_allowed(acct, p, executed)) _violate(Violation.Calls, "executed call outside its permission");
            _tally(key, k, p, executed, plan.windows[i]);
        }
        _checkCounters(acct, s);
    }

    /// The validator's own counters, right after the operation (so that no transient excess goes unnoticed even
    /// when invariants are only evaluated at the end of a run).
    function _checkCounters(address acct, uint256 s) internal {
        bytes32 id = _ids[s];
        if (validator.spentOf(acct, id, address(0)) > NATIVE_LIMIT) _violate(Violation.Spend, "validator native");
        if (validator.spentOf(acct, id, address(targetB)) > erc20Limit(s)) {
            _violate(Violation.Spend, "validator erc20");
        }
        if (validator.spentOf(acct, id, address(targetA)) != 0) _violate(Violation.Spend, "unflagged token counted");
        (, uint256 inPeriod) = validator.periodSpentOf(acct, id, address(targetB), 1 hours, START);
        if (inPeriod > PERIOD_ALLOWANCE) _violate(Violation.Spend, "validator allowance per period");
        for (uint256 k; k < PERMISSIONS; ++k) {
            (uint64 uses,, uint32 windowUses) = validator.usageOf(acct, id, _leaves[s][k]);
            uint256 max = maxUses(s, k);
            (uint256 perWindow,,) = rateLimit(k);
            if (max != 0 && uses > max) _violate(Violation.Uses, "validator maxUses");
            if (perWindow != 0 && windowUses > perWindow) _violate(Violation.Uses, "validator rate limit");
        }
    }

    function _isLogging(address target) internal view returns (bool) {
        return target == address(targetA) || target == address(targetB) || target == address(targetC);
    }

    /// Reference model of target, selector, value and rule checks.
    function _allowed(address acct, SessionTypes.Permission memory p, CallLog.Entry memory c)
        internal
        view
        returns (bool)
    {
        if (c.target == acct || c.target == address(validator) || c.target == address(0)) return false;
        if (p.flags & SessionTypes.FLAG_ANY_TARGET == 0 && c.target != p.target) return false;
        if (p.flags & SessionTypes.FLAG_NATIVE_TRANSFER != 0) {
            if (c.data.length != 0) return false;
        } else if (c.data.length < 4 || bytes4(c.data) != p.selector) {
            return false;
        }
        if (c.value > p.valueLimit) return false;
        for (uint256 r; r < p.rules.length; ++r) {
            uint256 start = 4 + 32 * uint256(p.rules[r].argIndex);
            if (c.data.length < start + 32) return false;
            bytes32 word;
            bytes memory data = c.data;
            assembly ("memory-safe") {
                word := mload(add(add(data, 0x20), start))
            }
            SessionTypes.ArgRule memory rule = p.rules[r];
            if (rule.operator == SessionTypes.RuleOperator.Lte && uint256(word) > uint256(rule.operands[0])) {
                return false;
            }
            if (rule.operator == SessionTypes.RuleOperator.Eq && word != rule.operands[0]) return false;
            if (
                rule.operator == SessionTypes.RuleOperator.OneOf && word != rule.operands[0] && word != rule.operands[1]
            ) {
                return false;
            }
            if (
                rule.operator == SessionTypes.RuleOperator.SignedInRange
                    && (int256(uint256(word)) < int256(uint256(rule.operands[0]))
                        || int256(uint256(word)) > int256(uint256(rule.operands[1])))
            ) return false;
        }
        if (p.validUntil != 0 && block.timestamp > p.validUntil) return false;
        if (block.timestamp < p.validAfter) return false;
        return true;
    }

    /// Ghost accounting of executed spending and uses, checked against the limits right away.
    function _tally(
        bytes32 key,
        uint256 k,
        SessionTypes.Permission memory p,
        CallLog.Entry memory c,
        uint32 namedWindow
    ) internal {
        if (p.flags & SessionTypes.FLAG_NATIVE_TOTAL != 0) {
            ghostNative[key] += c.value;
            if (ghostNative[key] > p.nativeTotalLimit) _violate(Violation.Spend, "native total exceeded");
        }
        if (p.flags & SessionTypes.FLAG_ERC20_TOTAL != 0) {
            uint256 amount;
            bytes memory data = c.data;
            if (data.length < 68) _violate(Violation.Spend, "erc20 movement without an amount");
            assembly ("memory-safe") {
                amount := mload(add(data, 0x44)) // argument 1 of transfer / approve
            }
            if (p.flags & SessionTypes.FLAG_PER_PERIOD != 0) {
                uint256 period = (block.timestamp - p.validAfter) / p.rateLimitInterval;
                if (period != namedWindow) _violate(Violation.Spend, "spent outside the named period");
                uint256 total = ghostErc20InPeriod[key][period] += amount;
                if (total > ghostErc20PeriodMax[key]) ghostErc20PeriodMax[key] = total;
                if (total > p.erc20TotalLimit) _violate(Violation.Spend, "erc20 allowance per period exceeded");
            } else {
                ghostErc20[key] += amount;
                if (ghostErc20[key] > p.erc20TotalLimit) _violate(Violation.Spend, "erc20 total exceeded");
            }
        }
        uint256 uses = ++ghostUses[key][k];
        if (p.maxUses != 0 && uses > p.maxUses) _violate(Violation.Uses, "maxUses exceeded");
        if (p.rateLimitCount != 0) {
            uint256 window = (block.timestamp - p.validAfter) / p.rateLimitInterval;
            if (window != namedWindow) _violate(Violation.Uses, "executed outside the named rate-limit window");
            uint256 windowUses = ++ghostWindowUses[key][k][window];
            if (windowUses > p.rateLimitCount) _violate(Violation.Uses, "rate limit exceeded");
        }
    }
}
