// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {Script, console2} from "forge-std/Script.sol";
import {Vm, VmSafe} from "forge-std/Vm.sol";
import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {IEntryPointExtra} from "@openzeppelin/contracts/account/utils/ERC4337Utils.sol";
import {
    ERC7579Utils,
    Mode,
    ModeSelector,
    ModePayload
} from "@openzeppelin/contracts/account/utils/draft-ERC7579Utils.sol";
import {
    IERC7579Execution,
    IERC7579ModuleConfig,
    MODULE_TYPE_VALIDATOR
} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {ISessionKeyValidator, SessionTypes} from "../contracts/src/interfaces/ISessionKeyValidator.sol";
import {KeyscopeAccountFactory} from "../contracts/src/account/KeyscopeAccountFactory.sol";
import {DemoPolicies} from "../contracts/src/demo/DemoPolicies.sol";
import {DemoToken} from "../contracts/src/demo/DemoToken.sol";
import {GameItems} from "../contracts/src/demo/GameItems.sol";
import {NftMarketplace} from "../contracts/src/demo/NftMarketplace.sol";
import {EntryPointDeployer} from "../contracts/test/utils/EntryPointDeployer.sol";
import {SessionEncoding} from "../contracts/test/utils/SessionEncoding.sol";
import {Deployments} from "./lib/Deployments.sol";

/// @title SeedDemo
/// @notice Runs Keyscope's two seed use cases on a deployed stack (`script/DeployKeyscope.s.sol`), on EntryPoint
/// v0.7 and v0.8, with real `EntryPoint.handleOps` transactions sent by a bundler key (`PRIVATE_KEY`, anvil's first
/// default key on chain 31337). Owner and session keys are fixed demo keys; every user operation is signed in the
/// script with `vm.sign`.
///
/// - Game: the player's account is created by an owner operation that also installs the SessionKeyValidator; a
///   second owner operation grants a one-hour session whose only permission is `GameItems.mint(address)`. The game's
///   session key then mints two items with no owner signature; its call to `DemoToken.transfer` is rejected.
/// - Trading: a seller lists items at 0.5 and 2 ETH. The trader grants the trading service a session that may only
///   call `NftMarketplace.buy` sending at most 1 ETH. The 0.5 ETH purchase goes through; the 2 ETH one and a call to
///   `NftMarketplace.list` are rejected.
///
/// `run()` broadcasts the operations that must succeed. Operations that must be rejected cannot be mined (their
/// `handleOps` reverts): they are sent to `handleOps` in the script's simulation of the chain, from the bundler, and
/// their exact revert is checked and decoded. `afterExpiry()` is the second phase: once the chain's time has passed
/// the sessions' end (`script/demo.sh` advances anvil by an hour), it checks what `run()` left on chain and that both
/// session keys are now refused with `AA22 expired or not due`. Any unexpected outcome reverts the script.
///
/// `run()` writes `deployments/<chainId>.demo.json` (accounts, session windows, steps with their userOp hashes) for
/// `afterExpiry()` and for the summary of `script/demo.sh`.
contract SeedDemo is Script, EntryPointDeployer {
    /// @notice The game player, owner of the game account.
    uint256 internal constant PLAYER_KEY = uint256(keccak256("keyscope.demo.player"));
    /// @notice The game's session key.
    uint256 internal constant GAME_SESSION_KEY = uint256(keccak256("keyscope.demo.game-session"));
    /// @notice The trader, owner of the trading account.
    uint256 internal constant TRADER_KEY = uint256(keccak256("keyscope.demo.trader"));
    /// @notice The trading service's session key.
    uint256 internal constant TRADING_SESSION_KEY = uint256(keccak256("keyscope.demo.trading-service"));
    /// @notice The marketplace seller (an EOA that sends its own transactions).
    uint256 internal constant SELLER_KEY = uint256(keccak256("keyscope.demo.seller"));

    /// @notice CREATE2 salts of the demo contracts.
    bytes32 internal constant GAME_ITEMS_SALT = keccak256("keyscope.demo.GameItems");
    bytes32 internal constant DEMO_TOKEN_SALT = keccak256("keyscope.demo.DemoToken");
    bytes32 internal constant MARKETPLACE_SALT = keccak256("keyscope.demo.NftMarketplace");

    /// @notice Listing prices: one under the trader's threshold, one over it.
    uint256 internal constant CHEAP_PRICE = 0.5 ether;
    uint256 internal constant PRICEY_PRICE = 2 ether;

    /// @notice ETH the bundler gives each new account (the trader's covers the purchases and the gas).
    uint256 internal constant GAME_ACCOUNT_FUNDS = 0.1 ether;
    uint256 internal constant TRADING_ACCOUNT_FUNDS = 2.5 ether;
    uint256 internal constant SELLER_GAS_FUNDS = 0.05 ether;

    /// @notice User operation gas values, and the gas limit of each `handleOps` transaction.
    uint128 internal constant VERIFICATION_GAS_LIMIT = 1_000_000;
    uint128 internal constant CALL_GAS_LIMIT = 500_000;
    uint256 internal constant PRE_VERIFICATION_GAS = 60_000;
    uint128 internal constant MAX_PRIORITY_FEE_PER_GAS = 1 gwei;
    uint128 internal constant MAX_FEE_PER_GAS = 2 gwei;
    uint256 internal constant HANDLE_OPS_GAS = 3_000_000;

    /// @notice Session lane of the nonce key (owner operations use lane 0 of the owner validator's key).
    uint32 internal constant SESSION_LANE = 1;

    bytes32 internal constant USER_OPERATION_EVENT =
        keccak256("UserOperationEvent(bytes32,address,address,uint256,bool,uint256,uint256)");
    bytes32 internal constant USER_OPERATION_REVERT_REASON =
        keccak256("UserOperationRevertReason(bytes32,address,uint256,bytes)");

    /// @notice One EntryPoint version's stack.
    struct Env {
        string name;
        string stateKey;
        IEntryPoint entryPoint;
        KeyscopeAccountFactory factory;
    }

    /// @notice What `run()` leaves for `afterExpiry()`, per EntryPoint version.
    struct EnvState {
        address gameAccount;
        address tradingAccount;
        uint48 validAfter;
        uint48 validUntil;
        uint256 spareListing;
    }

    Deployments.Deployment internal deployment;
    ISessionKeyValidator internal validator;
    uint256 internal bundlerKey;
    address payable internal bundler;
    GameItems internal gameItems;
    DemoToken internal token;
    NftMarketplace internal marketplace;

    string[] internal stepLabels;
    bytes32[] internal stepUserOpHashes;
    string[] internal stepOutcomes;
    uint256 internal stepCount;

    // ------------------------------------------------------------------------------------------------------------
    // Phase 1: everything up to the sessions' end
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Deploys the demo contracts (CREATE2, idempotent) and runs both use cases on both EntryPoints.
    function run() external {
        _load();
        vm.recordLogs();
        console2.log("== Keyscope seed demo, chain %s, bundler %s ==", block.chainid, bundler);

        vm.startBroadcast(bundlerKey);
        gameItems = GameItems(_deployCreate2(GAME_ITEMS_SALT, type(GameItems).creationCode));
        token = DemoToken(_deployCreate2(DEMO_TOKEN_SALT, type(DemoToken).creationCode));
        marketplace = NftMarketplace(_deployCreate2(MARKETPLACE_SALT, type(NftMarketplace).creationCode));
        vm.stopBroadcast();
        console2.log(
            "demo contracts: GameItems %s, DemoToken %s, NftMarketplace %s",
            address(gameItems),
            address(token),
            address(marketplace)
        );

        Env[2] memory envs = _envs();
        EnvState[2] memory states;
        for (uint256 i; i < envs.length; ++i) {
            console2.log("");
            console2.log("==== EntryPoint %s at %s ====", envs[i].name, address(envs[i].entryPoint));
            states[i].validAfter = uint48(block.timestamp) - 1; // EntryPoint v0.8: valid strictly after validAfter
            states[i].validUntil = states[i].validAfter + DemoPolicies.SESSION_DURATION;
            states[i].gameAccount = _game(envs[i], states[i]);
            (states[i].tradingAccount, states[i].spareListing) = _trading(envs[i], states[i]);
        }

        console2.log("");
        if (vm.isContext(VmSafe.ForgeContext.ScriptBroadcast) || vm.isContext(VmSafe.ForgeContext.ScriptResume)) {
            console2.log("wrote %s", _writeState(envs, states));
        } else {
            console2.log("dry run (no --broadcast): nothing was sent, demo state not written");
        }
        console2.log("all %s steps went as expected; successful ones are broadcast now", stepCount);
    }

    /// @notice Game: account creation, one-hour mint-only session, two mints without the owner, one refused call.
    function _game(Env memory env, EnvState memory state) internal returns (address account) {
        address player = vm.addr(PLAYER_KEY);
        uint256 salt;
        (account, salt) = _freshAccount(env.factory, player);
        console2.log("[game] player %s, account %s (salt %s)", player, account, salt);
        _fund(account, GAME_ACCOUNT_FUNDS);

        _createAccount(env, account, PLAYER_KEY, salt, "[game] owner op: create account + install SessionKeyValidator");

        SessionTypes.Permission memory permission = DemoPolicies.gameMint(address(gameItems));
        SessionTypes.Session memory session = _session(GAME_SESSION_KEY, state, permission);
        console2.log(
            "[game] session key %s may only call GameItems(%s).mint(address)", session.signer, address(gameItems)
        );
        console2.log(
            "       validAfter %s, validUntil %s (one hour, from the current block on)",
            uint256(session.validAfter),
            uint256(session.validUntil)
        );
        _grant(env, account, PLAYER_KEY, session, "[game] owner op: grant the session");

        for (uint256 n = 1; n <= 2; ++n) {
            uint256 tokenId = gameItems.nextTokenId();
            PackedUserOperation memory op = _sessionOp(
                env,
                account,
                _executeSingle(address(gameItems), 0, abi.encodeCall(GameItems.mint, (account))),
                session,
                permission,
                GAME_SESSION_KEY
            );
            _send(
                env, op, string.concat("[game] session op: mint item #", vm.toString(tokenId), " (no owner signature)")
            );
            require(gameItems.ownerOf(tokenId) == account, "game: item not minted to the account");
        }
        require(gameItems.balanceOf(account) == 2, "game: the account should hold 2 items");

        PackedUserOperation memory outOfScope = _sessionOp(
            env,
            account,
            _executeSingle(address(token), 0, abi.encodeCall(IERC20.transfer, (bundler, 1))),
            session,
            permission,
            GAME_SESSION_KEY
        );
        _expectRejected(
            env,
            outOfScope,
            _aa23(
                abi.encodeWithSelector(
                    ISessionKeyValidator.TargetNotAllowed.selector, 0, address(token), address(gameItems)
                )
            ),
            "[game] session op: DemoToken.transfer (out of scope)"
        );
    }

    /// @notice Trading: listings at 0.5 and 2 ETH, a buy-only session capped at 1 ETH per call.
    function _trading(Env memory env, EnvState memory state) internal returns (address account, uint256 spare) {
        address seller = vm.addr(SELLER_KEY);
        if (seller.balance < SELLER_GAS_FUNDS) _fund(seller, SELLER_GAS_FUNDS);
        vm.startBroadcast(SELLER_KEY);
        uint256 cheap = gameItems.mint(seller);
        uint256 pricey = gameItems.mint(seller);
        spare = gameItems.mint(seller);
        if (!gameItems.isApprovedForAll(seller, address(marketplace))) {
            gameItems.setApprovalForAll(address(marketplace), true);
        }
        marketplace.list(address(gameItems), cheap, CHEAP_PRICE);
        marketplace.list(address(gameItems), pricey, PRICEY_PRICE);
        marketplace.list(address(gameItems), spare, CHEAP_PRICE);
        vm.stopBroadcast();
        console2.log("[trading] seller %s listed item #%s at 0.5 ETH, item #%s at 2 ETH", seller, cheap, pricey);
        console2.log("          (and item #%s at 0.5 ETH, kept for after expiry)", spare);

        address trader = vm.addr(TRADER_KEY);
        uint256 salt;
        (account, salt) = _freshAccount(env.factory, trader);
        console2.log("[trading] trader %s, account %s (salt %s)", trader, account, salt);
        _fund(account, TRADING_ACCOUNT_FUNDS);
        _createAccount(
            env, account, TRADER_KEY, salt, "[trading] owner op: create account + install SessionKeyValidator"
        );

        SessionTypes.Permission memory permission =
            DemoPolicies.marketplaceBuy(address(marketplace), DemoPolicies.TRADING_THRESHOLD);
        SessionTypes.Session memory session = _session(TRADING_SESSION_KEY, state, permission);
        console2.log(
            "[trading] service key %s may only call NftMarketplace(%s).buy, value <= 1 ETH",
            session.signer,
            address(marketplace)
        );
        _grant(env, account, TRADER_KEY, session, "[trading] owner op: grant the session (threshold 1 ETH)");

        uint256 sellerBalance = seller.balance;
        _send(
            env,
            _buy(env, account, session, permission, cheap, CHEAP_PRICE),
            string.concat("[trading] session op: buy item #", vm.toString(cheap), " for 0.5 ETH")
        );
        require(gameItems.ownerOf(cheap) == account, "trading: the account should own the cheap item");
        require(seller.balance == sellerBalance + CHEAP_PRICE, "trading: the seller should be paid 0.5 ETH");

        _expectRejected(
            env,
            _buy(env, account, session, permission, pricey, PRICEY_PRICE),
            _aa23(
                abi.encodeWithSelector(
                    ISessionKeyValidator.ValueLimitExceeded.selector, 0, PRICEY_PRICE, DemoPolicies.TRADING_THRESHOLD
                )
            ),
            string.concat("[trading] session op: buy item #", vm.toString(pricey), " for 2 ETH (over threshold)")
        );

        PackedUserOperation memory relist = _sessionOp(
            env,
            account,
            _executeSingle(
                address(marketplace), 0, abi.encodeCall(NftMarketplace.list, (address(gameItems), cheap, 3 ether))
            ),
            session,
            permission,
            TRADING_SESSION_KEY
        );
        _expectRejected(
            env,
            relist,
            _aa23(
                abi.encodeWithSelector(
                    ISessionKeyValidator.SelectorNotAllowed.selector,
                    0,
                    NftMarketplace.list.selector,
                    NftMarketplace.buy.selector
                )
            ),
            "[trading] session op: NftMarketplace.list (other function)"
        );
    }

    // ------------------------------------------------------------------------------------------------------------
    // Phase 2: after the sessions' end
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Checks on chain what `run()` broadcast, then that both session keys are refused with AA22 now that
    /// their hour is over. When the chain's time is not past the sessions' end (a node whose clock cannot be moved),
    /// the check runs in the script's simulation at `validUntil + 1` instead, and says so.
    function afterExpiry() external {
        _load();
        string memory json = vm.readFile(Deployments.path(block.chainid, ".demo.json"));
        gameItems = GameItems(vm.parseJsonAddress(json, ".gameItems"));
        marketplace = NftMarketplace(vm.parseJsonAddress(json, ".marketplace"));
        console2.log("== Keyscope seed demo after expiry, chain %s, block time %s ==", block.chainid, block.timestamp);

        Env[2] memory envs = _envs();
        for (uint256 i; i < envs.length; ++i) {
            EnvState memory state = _readState(json, envs[i].stateKey);
            console2.log("");
            console2.log("==== EntryPoint %s ====", envs[i].name);
            require(gameItems.balanceOf(state.gameAccount) == 2, "on chain: the game account should hold 2 items");
            require(
                marketplace.getListing(address(gameItems), state.spareListing).price == CHEAP_PRICE,
                "on chain: the spare listing should still be there"
            );
            console2.log("[check] on chain: game account %s holds 2 items", state.gameAccount);

            if (block.timestamp <= state.validUntil) {
                console2.log(
                    "[note] chain time %s is not past the session end %s:", block.timestamp, uint256(state.validUntil)
                );
                console2.log("       simulating at validUntil + 1 (vm.warp, this script only)");
                vm.warp(uint256(state.validUntil) + 1);
            } else {
                console2.log(
                    "[time] chain time %s is past the session end %s", block.timestamp, uint256(state.validUntil)
                );
            }

            SessionTypes.Permission memory gamePermission = DemoPolicies.gameMint(address(gameItems));
            PackedUserOperation memory mint = _sessionOp(
                envs[i],
                state.gameAccount,
                _executeSingle(address(gameItems), 0, abi.encodeCall(GameItems.mint, (state.gameAccount))),
                _session(GAME_SESSION_KEY, state, gamePermission),
                gamePermission,
                GAME_SESSION_KEY
            );
            _expectRejected(
                envs[i], mint, _aa("AA22 expired or not due"), "[game] session op: mint after the session hour"
            );

            SessionTypes.Permission memory buyPermission =
                DemoPolicies.marketplaceBuy(address(marketplace), DemoPolicies.TRADING_THRESHOLD);
            _expectRejected(
                envs[i],
                _buy(
                    envs[i],
                    state.tradingAccount,
                    _session(TRADING_SESSION_KEY, state, buyPermission),
                    buyPermission,
                    state.spareListing,
                    CHEAP_PRICE
                ),
                _aa("AA22 expired or not due"),
                string.concat(
                    "[trading] session op: buy item #", vm.toString(state.spareListing), " for 0.5 ETH after expiry"
                )
            );
        }
        console2.log("");
        console2.log("all %s expiry checks went as expected", stepCount);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Set-up and state
    // ------------------------------------------------------------------------------------------------------------

    function _load() internal {
        deployment = Deployments.read(block.chainid);
        validator = ISessionKeyValidator(deployment.sessionKeyValidator);
        bundlerKey = Deployments.broadcasterKey();
        bundler = payable(vm.addr(bundlerKey));
    }

    function _envs() internal view returns (Env[2] memory envs) {
        envs[0] = Env({
            name: "v0.7",
            stateKey: "v07",
            entryPoint: IEntryPoint(deployment.v07.entryPoint),
            factory: KeyscopeAccountFactory(deployment.v07.accountFactory)
        });
        envs[1] = Env({
            name: "v0.8",
            stateKey: "v08",
            entryPoint: IEntryPoint(deployment.v08.entryPoint),
            factory: KeyscopeAccountFactory(deployment.v08.accountFactory)
        });
    }

    /// @notice The first account of `owner` that is not deployed yet, so that every run starts afresh.
    function _freshAccount(KeyscopeAccountFactory factory, address owner)
        internal
        view
        returns (address account, uint256 salt)
    {
        for (;; ++salt) {
            account = factory.getAddress(owner, salt, new address[](0), new bytes[](0));
            if (account.code.length == 0) return (account, salt);
        }
    }

    function _fund(address to, uint256 amount) internal {
        vm.startBroadcast(bundlerKey);
        (bool ok,) = payable(to).call{value: amount}("");
        vm.stopBroadcast();
        require(ok, "funding failed");
    }

    function _writeState(Env[2] memory envs, EnvState[2] memory states) internal returns (string memory file) {
        string memory root = "keyscope.demo";
        vm.serializeAddress(root, "gameItems", address(gameItems));
        vm.serializeAddress(root, "demoToken", address(token));
        vm.serializeAddress(root, "marketplace", address(marketplace));
        vm.serializeString(root, "stepLabels", stepLabels);
        vm.serializeBytes32(root, "stepUserOpHashes", stepUserOpHashes);
        vm.serializeString(root, "stepOutcomes", stepOutcomes);
        string memory json;
        for (uint256 i; i < envs.length; ++i) {
            string memory key = string.concat(root, ".", envs[i].stateKey);
            vm.serializeAddress(key, "gameAccount", states[i].gameAccount);
            vm.serializeAddress(key, "tradingAccount", states[i].tradingAccount);
            vm.serializeUint(key, "validAfter", states[i].validAfter);
            vm.serializeUint(key, "validUntil", states[i].validUntil);
            json = vm.serializeString(
                root, envs[i].stateKey, vm.serializeUint(key, "spareListing", states[i].spareListing)
            );
        }
        file = Deployments.path(block.chainid, ".demo.json");
        vm.writeJson(json, file);
    }

    function _readState(string memory json, string memory key) internal pure returns (EnvState memory state) {
        key = string.concat(".", key);
        state.gameAccount = vm.parseJsonAddress(json, string.concat(key, ".gameAccount"));
        state.tradingAccount = vm.parseJsonAddress(json, string.concat(key, ".tradingAccount"));
        state.validAfter = uint48(vm.parseJsonUint(json, string.concat(key, ".validAfter")));
        state.validUntil = uint48(vm.parseJsonUint(json, string.concat(key, ".validUntil")));
        state.spareListing = vm.parseJsonUint(json, string.concat(key, ".spareListing"));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Sessions and user operations
    // ------------------------------------------------------------------------------------------------------------

    function _session(uint256 sessionKey, EnvState memory state, SessionTypes.Permission memory permission)
        internal
        pure
        returns (SessionTypes.Session memory session)
    {
        session.signer = vm.addr(sessionKey);
        session.validAfter = state.validAfter;
        session.validUntil = state.validUntil;
        session.permissionsRoot = SessionEncoding.leaf(permission);
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.None;
        session.maxOperationFee = 0.05 ether;
        session.feeBudget = 1 ether;
    }

    /// @notice Owner operation that creates `account` through the factory (initCode) and installs the validator.
    function _createAccount(Env memory env, address account, uint256 ownerKey, uint256 salt, string memory label)
        internal
    {
        bytes memory initCode = abi.encodePacked(
            address(env.factory),
            abi.encodeCall(
                KeyscopeAccountFactory.createAccount, (vm.addr(ownerKey), salt, new address[](0), new bytes[](0))
            )
        );
        bytes memory callData =
            abi.encodeCall(IERC7579ModuleConfig.installModule, (MODULE_TYPE_VALIDATOR, address(validator), bytes("")));
        _send(env, _ownerOp(env, account, ownerKey, initCode, callData), label);
        require(account.code.length != 0, "account not created");
        require(
            IERC7579ModuleConfig(account).isModuleInstalled(MODULE_TYPE_VALIDATOR, address(validator), ""),
            "SessionKeyValidator not installed"
        );
    }

    /// @notice Owner operation granting `session` on the validator.
    function _grant(
        Env memory env,
        address account,
        uint256 ownerKey,
        SessionTypes.Session memory session,
        string memory label
    ) internal {
        bytes memory callData = _executeSingle(
            address(validator), 0, abi.encodeCall(ISessionKeyValidator.grantSession, (session))
        );
        _send(env, _ownerOp(env, account, ownerKey, "", callData), label);
        bytes32 sessionId = SessionEncoding.sessionId(session);
        require(
            validator.sessionStatus(account, sessionId) == ISessionKeyValidator.SessionStatus.Active,
            "session not granted"
        );
        console2.log("       session id %s", vm.toString(sessionId));
    }

    function _buy(
        Env memory env,
        address account,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        uint256 tokenId,
        uint256 price
    ) internal view returns (PackedUserOperation memory) {
        return _sessionOp(
            env,
            account,
            _executeSingle(
                address(marketplace), price, abi.encodeCall(NftMarketplace.buy, (address(gameItems), tokenId))
            ),
            session,
            permission,
            TRADING_SESSION_KEY
        );
    }

    function _ownerOp(Env memory env, address account, uint256 ownerKey, bytes memory initCode, bytes memory callData)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op = _userOp(env, account, _nonceKey(deployment.ownerECDSAValidator, 0), callData);
        op.initCode = initCode;
        op.signature = _sign(ownerKey, _userOpHash(env, op));
    }

    function _sessionOp(
        Env memory env,
        address account,
        bytes memory callData,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        uint256 sessionKey
    ) internal view returns (PackedUserOperation memory op) {
        op = _userOp(env, account, _nonceKey(address(validator), SESSION_LANE), callData);
        op.signature = SessionEncoding.useSignature(
            session, SessionEncoding.one(permission, new bytes32[](0)), _sign(sessionKey, _userOpHash(env, op))
        );
    }

    function _userOp(Env memory env, address account, uint192 nonceKey, bytes memory callData)
        internal
        view
        returns (PackedUserOperation memory op)
    {
        op.sender = account;
        op.nonce = env.entryPoint.getNonce(account, nonceKey);
        op.callData = callData;
        op.accountGasLimits = bytes32((uint256(VERIFICATION_GAS_LIMIT) << 128) | CALL_GAS_LIMIT);
        op.preVerificationGas = PRE_VERIFICATION_GAS;
        op.gasFees = bytes32((uint256(MAX_PRIORITY_FEE_PER_GAS) << 128) | MAX_FEE_PER_GAS);
    }

    /// @notice Nonce key selecting `validatorModule` on a KeyscopeAccount: validator (20 bytes) ‖ lane (4 bytes).
    function _nonceKey(address validatorModule, uint32 lane) internal pure returns (uint192) {
        return uint192(bytes24(bytes20(validatorModule))) | uint192(lane);
    }

    function _executeSingle(address target, uint256 value, bytes memory data) internal pure returns (bytes memory) {
        Mode mode = ERC7579Utils.encodeMode(
            ERC7579Utils.CALLTYPE_SINGLE, ERC7579Utils.EXECTYPE_DEFAULT, ModeSelector.wrap(0), ModePayload.wrap(0)
        );
        return abi.encodeCall(IERC7579Execution.execute, (Mode.unwrap(mode), abi.encodePacked(target, value, data)));
    }

    function _userOpHash(Env memory env, PackedUserOperation memory op) internal view returns (bytes32) {
        return IEntryPointExtra(address(env.entryPoint)).getUserOpHash(op);
    }

    function _sign(uint256 key, bytes32 hash) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, hash);
        return abi.encodePacked(r, s, v);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Sending and checking
    // ------------------------------------------------------------------------------------------------------------

    /// @notice Broadcasts `op` alone in a `handleOps` transaction from the bundler; the op must succeed.
    function _send(Env memory env, PackedUserOperation memory op, string memory label) internal {
        bytes32 userOpHash = _userOpHash(env, op);
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.getRecordedLogs(); // drop older logs
        vm.startBroadcast(bundlerKey);
        uint256 gasBefore = gasleft();
        env.entryPoint.handleOps{gas: HANDLE_OPS_GAS}(ops, bundler);
        uint256 gasUsed = gasBefore - gasleft();
        vm.stopBroadcast();

        (bool found, bool success, uint256 actualGasUsed, bytes memory revertReason) = _userOpOutcome(userOpHash);
        require(found, string.concat(label, ": no UserOperationEvent"));
        require(success, string.concat(label, ": the operation's execution reverted: ", vm.toString(revertReason)));
        console2.log(label);
        console2.log("       userOp %s: OK", vm.toString(userOpHash));
        console2.log("       gas: handleOps %s (simulated), userOp actualGasUsed %s", gasUsed, actualGasUsed);
        _step(env, label, userOpHash, "ok");
    }

    /// @notice Sends `op` to `handleOps` from the bundler in the script's simulation only (a rejected operation
    /// cannot be mined) and requires it to revert with exactly `expected`.
    function _expectRejected(Env memory env, PackedUserOperation memory op, bytes memory expected, string memory label)
        internal
    {
        bytes32 userOpHash = _userOpHash(env, op);
        PackedUserOperation[] memory ops = new PackedUserOperation[](1);
        ops[0] = op;
        vm.prank(bundler, bundler);
        try env.entryPoint.handleOps{gas: HANDLE_OPS_GAS}(ops, bundler) {
            revert(string.concat(label, ": expected a rejection, but the operation went through"));
        } catch (bytes memory reason) {
            require(
                keccak256(reason) == keccak256(expected),
                string.concat(label, ": rejected, but not as expected: ", _describe(reason))
            );
            string memory outcome = string.concat("rejected: ", _describe(reason));
            console2.log(label);
            console2.log("       userOp %s: %s", vm.toString(userOpHash), outcome);
            _step(env, label, userOpHash, outcome);
        }
    }

    function _step(Env memory env, string memory label, bytes32 userOpHash, string memory outcome) internal {
        stepLabels.push(string.concat("EntryPoint ", env.name, " ", label));
        stepUserOpHashes.push(userOpHash);
        stepOutcomes.push(outcome);
        ++stepCount;
    }

    /// @notice The UserOperationEvent (and revert reason, if any) of `userOpHash` among the recorded logs.
    function _userOpOutcome(bytes32 userOpHash)
        internal
        returns (bool found, bool success, uint256 actualGasUsed, bytes memory revertReason)
    {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i; i < logs.length; ++i) {
            if (logs[i].topics.length < 2 || logs[i].topics[1] != userOpHash) continue;
            if (logs[i].topics[0] == USER_OPERATION_EVENT) {
                found = true;
                (, success,, actualGasUsed) = abi.decode(logs[i].data, (uint256, bool, uint256, uint256));
            } else if (logs[i].topics[0] == USER_OPERATION_REVERT_REASON) {
                (, revertReason) = abi.decode(logs[i].data, (uint256, bytes));
            }
        }
    }

    function _aa(string memory reason) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IEntryPoint.FailedOp.selector, 0, reason);
    }

    function _aa23(bytes memory inner) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IEntryPoint.FailedOpWithRevert.selector, 0, "AA23 reverted", inner);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Decoding revert data for the log
    // ------------------------------------------------------------------------------------------------------------

    /// @notice A readable form of an EntryPoint revert, with the SessionKeyValidator errors the demo meets decoded.
    function _describe(bytes memory data) internal pure returns (string memory) {
        if (data.length < 4) return string.concat("revert ", vm.toString(data));
        bytes4 selector = bytes4(data);
        bytes memory args = _tail(data);
        if (selector == IEntryPoint.FailedOp.selector) {
            (uint256 opIndex, string memory reason) = abi.decode(args, (uint256, string));
            return string.concat("FailedOp(", vm.toString(opIndex), ', "', reason, '")');
        }
        if (selector == IEntryPoint.FailedOpWithRevert.selector) {
            (uint256 opIndex, string memory reason, bytes memory inner) = abi.decode(args, (uint256, string, bytes));
            return string.concat(
                "FailedOpWithRevert(", vm.toString(opIndex), ', "', reason, '", ', _describeValidatorError(inner), ")"
            );
        }
        return string.concat("revert ", vm.toString(data));
    }

    function _describeValidatorError(bytes memory data) internal pure returns (string memory) {
        if (data.length < 4) return vm.toString(data);
        bytes4 selector = bytes4(data);
        bytes memory args = _tail(data);
        if (selector == ISessionKeyValidator.TargetNotAllowed.selector) {
            (uint256 callIndex, address target, address allowed) = abi.decode(args, (uint256, address, address));
            return string.concat(
                "TargetNotAllowed(callIndex: ",
                vm.toString(callIndex),
                ", target: ",
                vm.toString(target),
                ", allowed: ",
                vm.toString(allowed),
                ")"
            );
        }
        if (selector == ISessionKeyValidator.SelectorNotAllowed.selector) {
            (uint256 callIndex, bytes4 called, bytes4 allowed) = abi.decode(args, (uint256, bytes4, bytes4));
            return string.concat(
                "SelectorNotAllowed(callIndex: ",
                vm.toString(callIndex),
                ", selector: ",
                vm.toString(abi.encodePacked(called)),
                ", allowed: ",
                vm.toString(abi.encodePacked(allowed)),
                ")"
            );
        }
        if (selector == ISessionKeyValidator.ValueLimitExceeded.selector) {
            (uint256 callIndex, uint256 value, uint256 limit) = abi.decode(args, (uint256, uint256, uint256));
            return string.concat(
                "ValueLimitExceeded(callIndex: ",
                vm.toString(callIndex),
                ", value: ",
                vm.toString(value),
                ", limit: ",
                vm.toString(limit),
                ")"
            );
        }
        return vm.toString(data);
    }

    function _tail(bytes memory data) internal pure returns (bytes memory tail) {
        tail = new bytes(data.length - 4);
        for (uint256 i; i < tail.length; ++i) {
            tail[i] = data[i + 4];
        }
    }
}
