// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title NftMarketplace
/// @notice Fixed-price ERC-721 marketplace used by the end-to-end demos. A seller lists a token it owns at a price
/// in wei after approving this contract; a buyer pays exactly that price, receives the token and the seller is paid
/// in the same transaction. Listings are escrow-free: the token stays with the seller until sold.
contract NftMarketplace is ReentrancyGuard {
    /// @notice A fixed-price offer to sell one token.
    /// @param seller The address that listed the token and receives the payment.
    /// @param price The price in wei (never zero for an active listing).
    struct Listing {
        address seller;
        uint256 price;
    }

    /// @notice The active listing of each token (a zero seller means not listed).
    mapping(address collection => mapping(uint256 tokenId => Listing)) internal _listings;

    /// @notice Emitted when a token is listed (or relisted at a new price).
    /// @param collection The ERC-721 contract.
    /// @param tokenId The listed token.
    /// @param seller The seller.
    /// @param price The price in wei.
    event Listed(address indexed collection, uint256 indexed tokenId, address indexed seller, uint256 price);

    /// @notice Emitted when a seller withdraws a listing.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token that is no longer listed.
    /// @param seller The seller.
    event Cancelled(address indexed collection, uint256 indexed tokenId, address indexed seller);

    /// @notice Emitted when a listed token is bought.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token sold.
    /// @param seller The seller, who received `price`.
    /// @param buyer The buyer, who received the token.
    /// @param price The price paid in wei.
    event Sold(
        address indexed collection, uint256 indexed tokenId, address indexed seller, address buyer, uint256 price
    );

    /// @notice A listing's price must be greater than zero.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token.
    error ZeroPrice(address collection, uint256 tokenId);

    /// @notice The caller does not own the token it tries to list.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token.
    /// @param caller The caller.
    error NotTokenOwner(address collection, uint256 tokenId, address caller);

    /// @notice The marketplace is not approved to transfer the token.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token.
    error MarketplaceNotApproved(address collection, uint256 tokenId);

    /// @notice The token is not listed.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token.
    error NotListed(address collection, uint256 tokenId);

    /// @notice Only the seller may cancel a listing.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token.
    /// @param caller The caller.
    error NotSeller(address collection, uint256 tokenId, address caller);

    /// @notice The ETH sent is not the listed price.
    /// @param price The listed price in wei.
    /// @param paid The `msg.value` sent.
    error WrongPayment(uint256 price, uint256 paid);

    /// @notice Paying the seller failed.
    /// @param seller The seller that could not receive ETH.
    /// @param amount The amount in wei.
    error SellerPaymentFailed(address seller, uint256 amount);

    /// @notice Lists (or relists) a token the caller owns at `price` wei.
    /// @dev The caller must have approved this contract for the token (`approve` or `setApprovalForAll`).
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token to sell.
    /// @param price The price in wei; must be non-zero.
    function list(address collection, uint256 tokenId, uint256 price) external {
        if (price == 0) revert ZeroPrice(collection, tokenId);
        IERC721 nft = IERC721(collection);
        if (nft.ownerOf(tokenId) != msg.sender) revert NotTokenOwner(collection, tokenId, msg.sender);
        if (nft.getApproved(tokenId) != address(this) && !nft.isApprovedForAll(msg.sender, address(this))) {
            revert MarketplaceNotApproved(collection, tokenId);
        }
        _listings[collection][tokenId] = Listing({seller: msg.sender, price: price});
        emit Listed(collection, tokenId, msg.sender, price);
    }

    /// @notice Withdraws the caller's listing of a token.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The listed token.
    function cancel(address collection, uint256 tokenId) external {
        Listing memory listing = _listings[collection][tokenId];
        if (listing.seller == address(0)) revert NotListed(collection, tokenId);
        if (listing.seller != msg.sender) revert NotSeller(collection, tokenId, msg.sender);
        delete _listings[collection][tokenId];
        emit Cancelled(collection, tokenId, msg.sender);
    }

    /// @notice Buys a listed token: `msg.value` must equal the price; the token goes to the caller and the price to
    /// the seller.
    /// @dev The token is moved with `safeTransferFrom`, so a contract buyer must implement `onERC721Received`.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The listed token.
    function buy(address collection, uint256 tokenId) external payable nonReentrant {
        Listing memory listing = _listings[collection][tokenId];
        if (listing.seller == address(0)) revert NotListed(collection, tokenId);
        if (msg.value != listing.price) revert WrongPayment(listing.price, msg.value);
        delete _listings[collection][tokenId];

        IERC721(collection).safeTransferFrom(listing.seller, msg.sender, tokenId);
        (bool paid,) = payable(listing.seller).call{value: msg.value}("");
        if (!paid) revert SellerPaymentFailed(listing.seller, msg.value);
        emit Sold(collection, tokenId, listing.seller, msg.sender, msg.value);
    }

    /// @notice Returns the listing of a token.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token.
    /// @return The listing (zero seller and price when not listed).
    function getListing(address collection, uint256 tokenId) external view returns (Listing memory) {
        return _listings[collection][tokenId];
    }
}
