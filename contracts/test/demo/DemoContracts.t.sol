// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC721Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Execution} from "@openzeppelin/contracts/interfaces/draft-IERC7579.sol";

import {GameItems} from "../../src/demo/GameItems.sol";
import {NftMarketplace} from "../../src/demo/NftMarketplace.sol";
import {AccountTestBase} from "../utils/AccountTestBase.sol";

contract DemoContractsTest is AccountTestBase {
    GameItems internal items;
    NftMarketplace internal market;
    address internal seller = makeAddr("seller");
    address internal buyer = makeAddr("buyer");

    function setUp() public override {
        super.setUp();
        items = new GameItems();
        market = new NftMarketplace();
    }

    function _listAs(address who, uint256 price) internal returns (uint256 tokenId) {
        tokenId = items.mint(who);
        vm.startPrank(who);
        items.approve(address(market), tokenId);
        market.list(address(items), tokenId, price);
        vm.stopPrank();
    }

    function test_mint_returnsSequentialIds_anyCaller() public {
        assertEq(token.balanceOf(seller), 0);
        token.mint(seller, 5);
        assertEq(token.balanceOf(seller), 5);
        assertEq(items.mint(seller), 1);
        vm.prank(buyer);
        assertEq(items.mint(buyer), 2);
        assertEq(items.ownerOf(2), buyer);
    }

    function test_buy_transfersNftAndPaysSeller_exactPrice() public {
        uint256 tokenId = _listAs(seller, 1 ether);
        vm.deal(buyer, 1 ether);
        vm.expectEmit(address(market));
        emit NftMarketplace.Sold(address(items), tokenId, seller, buyer, 1 ether);
        vm.prank(buyer);
        market.buy{value: 1 ether}(address(items), tokenId);
        assertEq(items.ownerOf(tokenId), buyer);
        assertEq(seller.balance, 1 ether);
        assertEq(market.getListing(address(items), tokenId).seller, address(0));
    }

    function test_buy_reverts_wrongPayment() public {
        uint256 tokenId = _listAs(seller, 1 ether);
        vm.deal(buyer, 2 ether);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(NftMarketplace.WrongPayment.selector, 1 ether, 2 ether));
        market.buy{value: 2 ether}(address(items), tokenId);
    }

    function test_buy_reverts_notListed() public {
        vm.expectRevert(abi.encodeWithSelector(NftMarketplace.NotListed.selector, address(items), 1));
        market.buy(address(items), 1);
    }

    function test_buy_reverts_sellerNoLongerOwns() public {
        uint256 tokenId = _listAs(seller, 1 ether);
        vm.prank(seller);
        items.transferFrom(seller, buyer, tokenId);
        vm.deal(address(this), 1 ether);
        vm.expectRevert(
            abi.encodeWithSelector(IERC721Errors.ERC721InsufficientApproval.selector, address(market), tokenId)
        );
        market.buy{value: 1 ether}(address(items), tokenId);
    }

    function test_list_reverts_notOwner() public {
        uint256 tokenId = items.mint(seller);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(NftMarketplace.NotTokenOwner.selector, address(items), tokenId, buyer));
        market.list(address(items), tokenId, 1);
    }

    function test_list_reverts_notApproved() public {
        uint256 tokenId = items.mint(seller);
        vm.prank(seller);
        vm.expectRevert(abi.encodeWithSelector(NftMarketplace.MarketplaceNotApproved.selector, address(items), tokenId));
        market.list(address(items), tokenId, 1);
    }

    function test_list_reverts_zeroPrice() public {
        uint256 tokenId = items.mint(seller);
        vm.prank(seller);
        vm.expectRevert(abi.encodeWithSelector(NftMarketplace.ZeroPrice.selector, address(items), tokenId));
        market.list(address(items), tokenId, 0);
    }

    function test_cancel_removesListing_seller() public {
        uint256 tokenId = _listAs(seller, 1 ether);
        vm.prank(buyer);
        vm.expectRevert(abi.encodeWithSelector(NftMarketplace.NotSeller.selector, address(items), tokenId, buyer));
        market.cancel(address(items), tokenId);
        vm.prank(seller);
        market.cancel(address(items), tokenId);
        assertEq(market.getListing(address(items), tokenId).price, 0);
    }

    function test_buy_succeeds_accountOwnerOpV07() public {
        _checkAccountBuys(EntryPointVersion.V07);
    }

    function test_buy_succeeds_accountOwnerOpV08() public {
        _checkAccountBuys(EntryPointVersion.V08);
    }

    /// @dev A smart account mints an item (safe mint), then buys a listed one with ETH, all through owner ops.
    function _checkAccountBuys(EntryPointVersion version) internal {
        AccountEnv memory env = _env(version);
        address account = address(env.account);
        uint256 tokenId = _listAs(seller, 0.5 ether);

        Execution[] memory calls = new Execution[](2);
        calls[0] = Execution(address(items), 0, abi.encodeCall(items.mint, (account)));
        calls[1] = Execution(address(market), 0.5 ether, abi.encodeCall(market.buy, (address(items), tokenId)));
        _sendOwnerOp(env.entryPoint, account, _executeBatch(calls));

        assertEq(items.ownerOf(tokenId), account);
        assertEq(items.ownerOf(tokenId + 1), account);
        assertEq(seller.balance, 0.5 ether);
    }
}
