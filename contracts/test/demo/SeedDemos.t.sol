// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IEntryPoint, PackedUserOperation} from "@openzeppelin/contracts/interfaces/IERC4337.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {DemoPolicies} from "../../src/demo/DemoPolicies.sol";
import {GameItems} from "../../src/demo/GameItems.sol";
import {NftMarketplace} from "../../src/demo/NftMarketplace.sol";
import {CallProof, SessionEncoding} from "../utils/SessionEncoding.sol";
import {SessionTestBase} from "../utils/SessionTestBase.sol";

/// @notice The two seed use cases (which `keyscope demo` also runs end to end on anvil), with their policies
/// ({DemoPolicies}), on both EntryPoint versions:
/// - game: a session key that may only call `GameItems.mint(address)` on one collection mints for one hour without
///   the owner, and can do nothing else;
/// - trading: the trading service's key may only call `NftMarketplace.buy` with at most the user's 1 ETH threshold.
contract SeedDemosTest is SessionTestBase {
    /// @notice The game's session key.
    uint256 internal constant GAME_SESSION_KEY = uint256(keccak256("keyscope.test.game-session"));
    /// @notice The trading service's session key.
    uint256 internal constant TRADING_SESSION_KEY = uint256(keccak256("keyscope.test.trading-service"));
    /// @notice Last valid second of the seed sessions (they start at START and last one hour).
    uint48 internal constant END = START + DemoPolicies.SESSION_DURATION;

    GameItems internal gameItems;
    NftMarketplace internal marketplace;
    address internal seller;

    function setUp() public override {
        super.setUp();
        gameItems = new GameItems();
        marketplace = new NftMarketplace();
        vm.label(address(gameItems), "GameItems");
        vm.label(address(marketplace), "NftMarketplace");
        seller = makeAddr("seller");
        vm.prank(seller);
        gameItems.setApprovalForAll(address(marketplace), true);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Game: mint-only key for one hour
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_mints_whenGameSessionKeySignsWithinTheHour() public onEachEntryPoint {
        vm.warp(START + 1);
        (IEntryPoint entryPoint, address account) = (currentEnv.entryPoint, address(currentEnv.account));
        SessionTypes.Session memory session = _grantGame(currentEnv);
        uint256 ownerNonce = _getNonce(entryPoint, account, address(ownerValidator), DEFAULT_LANE);
        uint256 firstItem = gameItems.nextTokenId();

        _handleOp(entryPoint, _gameOp(currentEnv, session, _mintCall(account), GAME_SESSION_KEY));
        vm.warp(END); // the last second of the hour
        _handleOp(entryPoint, _gameOp(currentEnv, session, _mintCall(account), GAME_SESSION_KEY));

        assertEq(gameItems.balanceOf(account), 2, "two items minted");
        assertEq(gameItems.ownerOf(firstItem), account, "first item");
        assertEq(gameItems.ownerOf(firstItem + 1), account, "second item");
        assertEq(
            _getNonce(entryPoint, account, address(ownerValidator), DEFAULT_LANE),
            ownerNonce,
            "no owner operation was needed"
        );
    }

    function test_validateUserOp_reverts_whenGameSessionCallsAnotherContract() public onEachEntryPoint {
        address account = address(currentEnv.account);
        token.mint(account, 100);
        SessionTypes.Session memory session = _grantGame(currentEnv);
        PackedUserOperation memory op = _gameOp(
            currentEnv,
            session,
            _executeSingle(address(token), 0, abi.encodeCall(IERC20.transfer, (bundler, 100))),
            GAME_SESSION_KEY
        );
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.TargetNotAllowed.selector, 0, address(token), address(gameItems)
            )
        );
        assertEq(token.balanceOf(account), 100, "no token moved");
    }

    function test_validateUserOp_reverts_whenGameSessionCallsAnotherGameFunction() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantGame(currentEnv);
        PackedUserOperation memory op = _gameOp(
            currentEnv,
            session,
            _executeSingle(address(gameItems), 0, abi.encodeCall(IERC721.setApprovalForAll, (makeAddr("thief"), true))),
            GAME_SESSION_KEY
        );
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.SelectorNotAllowed.selector,
                0,
                IERC721.setApprovalForAll.selector,
                GameItems.mint.selector
            )
        );
    }

    function test_validateUserOp_reverts_whenGameSessionSendsValue() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Session memory session = _grantGame(currentEnv);
        PackedUserOperation memory op = _gameOp(
            currentEnv,
            session,
            _executeSingle(address(gameItems), 1, abi.encodeCall(GameItems.mint, (account))),
            GAME_SESSION_KEY
        );
        _expectScopeError(
            currentEnv.entryPoint, op, abi.encodeWithSelector(ISessionKeyValidator.ValueLimitExceeded.selector, 0, 1, 0)
        );
    }

    function test_validateUserOp_reverts_whenGameSessionBatchesAnOutOfScopeCall() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Session memory session = _grantGame(currentEnv);
        Execution[] memory calls = new Execution[](2);
        calls[0] = Execution(address(gameItems), 0, abi.encodeCall(GameItems.mint, (account)));
        calls[1] = Execution(address(token), 0, abi.encodeCall(IERC20.transfer, (bundler, 1)));
        SessionTypes.Permission memory permission = DemoPolicies.gameMint(address(gameItems));
        CallProof[] memory proofs = new CallProof[](2);
        proofs[0] = CallProof(permission, _noProof(), 0);
        proofs[1] = CallProof(permission, _noProof(), 0);
        PackedUserOperation memory op =
            _useOp(currentEnv.entryPoint, account, _executeBatch(calls), session, proofs, GAME_SESSION_KEY);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.TargetNotAllowed.selector, 1, address(token), address(gameItems)
            )
        );
    }

    function test_validateUserOp_failsSignature_whenAnotherKeySignsTheGameSession() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantGame(currentEnv);
        PackedUserOperation memory op =
            _gameOp(currentEnv, session, _mintCall(address(currentEnv.account)), TRADING_SESSION_KEY);
        _expectSignatureError(currentEnv.entryPoint, op);
    }

    function test_validateUserOp_reverts_whenGameSessionHourIsOver() public onEachEntryPoint {
        vm.warp(START + 1);
        SessionTypes.Session memory session = _grantGame(currentEnv);
        vm.warp(END + 1);
        PackedUserOperation memory op =
            _gameOp(currentEnv, session, _mintCall(address(currentEnv.account)), GAME_SESSION_KEY);
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        assertEq(gameItems.balanceOf(address(currentEnv.account)), 0, "nothing minted");
    }

    // ------------------------------------------------------------------------------------------------------------
    // Trading: buy-only key, at most the user's threshold per purchase
    // ------------------------------------------------------------------------------------------------------------

    function test_validateUserOp_buys_whenPriceIsWithinThreshold() public onEachEntryPoint {
        address account = address(currentEnv.account);
        SessionTypes.Session memory session = _grantTrading(currentEnv);
        uint256 cheap = _list(0.5 ether);
        uint256 atThreshold = _list(DemoPolicies.TRADING_THRESHOLD);
        uint256 sellerBalance = seller.balance;

        _handleOp(currentEnv.entryPoint, _buyOp(currentEnv, session, cheap, 0.5 ether));
        _handleOp(currentEnv.entryPoint, _buyOp(currentEnv, session, atThreshold, DemoPolicies.TRADING_THRESHOLD));

        assertEq(gameItems.ownerOf(cheap), account, "cheap item bought");
        assertEq(gameItems.ownerOf(atThreshold), account, "item at the threshold bought");
        assertEq(seller.balance, sellerBalance + 1.5 ether, "seller paid");
    }

    function test_validateUserOp_reverts_whenPriceIsOverThreshold() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantTrading(currentEnv);
        uint256 pricey = _list(2 ether);
        PackedUserOperation memory op = _buyOp(currentEnv, session, pricey, 2 ether);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.ValueLimitExceeded.selector, 0, 2 ether, DemoPolicies.TRADING_THRESHOLD
            )
        );
        assertEq(gameItems.ownerOf(pricey), seller, "still the seller's");
        assertEq(marketplace.getListing(address(gameItems), pricey).price, 2 ether, "still listed");
    }

    function test_validateUserOp_reverts_whenTradingSessionCallsAnotherFunction() public onEachEntryPoint {
        SessionTypes.Session memory session = _grantTrading(currentEnv);
        uint256 item = _list(0.5 ether);
        bytes memory callData =
            _executeSingle(address(marketplace), 0, abi.encodeCall(NftMarketplace.cancel, (address(gameItems), item)));
        PackedUserOperation memory op = _tradingOp(currentEnv, session, callData);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.SelectorNotAllowed.selector,
                0,
                NftMarketplace.cancel.selector,
                NftMarketplace.buy.selector
            )
        );
    }

    function test_validateUserOp_reverts_whenTradingSessionBuysOnAnotherMarketplace() public onEachEntryPoint {
        NftMarketplace other = new NftMarketplace();
        SessionTypes.Session memory session = _grantTrading(currentEnv);
        bytes memory callData =
            _executeSingle(address(other), 0.5 ether, abi.encodeCall(NftMarketplace.buy, (address(gameItems), 1)));
        PackedUserOperation memory op = _tradingOp(currentEnv, session, callData);
        _expectScopeError(
            currentEnv.entryPoint,
            op,
            abi.encodeWithSelector(
                ISessionKeyValidator.TargetNotAllowed.selector, 0, address(other), address(marketplace)
            )
        );
    }

    function test_validateUserOp_reverts_whenTradingSessionHourIsOver() public onEachEntryPoint {
        vm.warp(START + 1);
        SessionTypes.Session memory session = _grantTrading(currentEnv);
        uint256 cheap = _list(0.5 ether);
        vm.warp(END + 1);
        PackedUserOperation memory op = _buyOp(currentEnv, session, cheap, 0.5 ether);
        _expectExpiredOrNotDue(currentEnv.entryPoint, op);
        assertEq(gameItems.ownerOf(cheap), seller, "not bought");
    }

    function testFuzz_validateUserOp_buysExactlyUpToThreshold(uint256 price) public onEachEntryPoint {
        price = bound(price, 1, 3 ether);
        SessionTypes.Session memory session = _grantTrading(currentEnv);
        uint256 item = _list(price);
        PackedUserOperation memory op = _buyOp(currentEnv, session, item, price);
        if (price <= DemoPolicies.TRADING_THRESHOLD) {
            _handleOp(currentEnv.entryPoint, op);
            assertEq(gameItems.ownerOf(item), address(currentEnv.account), "bought");
        } else {
            _expectScopeError(
                currentEnv.entryPoint,
                op,
                abi.encodeWithSelector(
                    ISessionKeyValidator.ValueLimitExceeded.selector, 0, price, DemoPolicies.TRADING_THRESHOLD
                )
            );
            assertEq(gameItems.ownerOf(item), seller, "not bought");
        }
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    /// @notice The one-hour session of `sessionKey` over a single permission, from START.
    function _demoSession(uint256 sessionKey, SessionTypes.Permission memory permission)
        internal
        pure
        returns (SessionTypes.Session memory session)
    {
        session.signer = vm.addr(sessionKey);
        session.validAfter = START;
        session.validUntil = END;
        session.permissionsRoot = SessionEncoding.leaf(permission);
        session.paymasterPolicy = SessionTypes.PaymasterPolicy.None;
        session.maxOperationFee = DEFAULT_MAX_OPERATION_FEE;
        session.feeBudget = DEFAULT_FEE_BUDGET;
    }

    function _grantGame(AccountEnv memory env) internal returns (SessionTypes.Session memory session) {
        session = _demoSession(GAME_SESSION_KEY, DemoPolicies.gameMint(address(gameItems)));
        _grant(env.entryPoint, address(env.account), session);
    }

    function _grantTrading(AccountEnv memory env) internal returns (SessionTypes.Session memory session) {
        session = _demoSession(
            TRADING_SESSION_KEY, DemoPolicies.marketplaceBuy(address(marketplace), DemoPolicies.TRADING_THRESHOLD)
        );
        _grant(env.entryPoint, address(env.account), session);
    }

    function _mintCall(address account) internal view returns (bytes memory) {
        return _executeSingle(address(gameItems), 0, abi.encodeCall(GameItems.mint, (account)));
    }

    function _gameOp(AccountEnv memory env, SessionTypes.Session memory session, bytes memory callData, uint256 key)
        internal
        view
        returns (PackedUserOperation memory)
    {
        return _useOp(
            env.entryPoint,
            address(env.account),
            callData,
            session,
            SessionEncoding.one(DemoPolicies.gameMint(address(gameItems)), _noProof()),
            key
        );
    }

    function _tradingOp(AccountEnv memory env, SessionTypes.Session memory session, bytes memory callData)
        internal
        view
        returns (PackedUserOperation memory)
    {
        SessionTypes.Permission memory permission =
            DemoPolicies.marketplaceBuy(address(marketplace), DemoPolicies.TRADING_THRESHOLD);
        return _useOp(
            env.entryPoint,
            address(env.account),
            callData,
            session,
            SessionEncoding.one(permission, _noProof()),
            TRADING_SESSION_KEY
        );
    }

    function _buyOp(AccountEnv memory env, SessionTypes.Session memory session, uint256 tokenId, uint256 price)
        internal
        view
        returns (PackedUserOperation memory)
    {
        return _tradingOp(
            env,
            session,
            _executeSingle(
                address(marketplace), price, abi.encodeCall(NftMarketplace.buy, (address(gameItems), tokenId))
            )
        );
    }

    /// @notice The seller mints a new item and lists it at `price`.
    function _list(uint256 price) internal returns (uint256 tokenId) {
        vm.startPrank(seller);
        tokenId = gameItems.mint(seller);
        marketplace.list(address(gameItems), tokenId, price);
        vm.stopPrank();
    }
}
