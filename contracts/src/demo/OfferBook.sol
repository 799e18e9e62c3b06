// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

/// @title OfferBook
/// @notice Signed-offer ERC-721 marketplace used by the end-to-end demos, verifying like Seaport or Blur do: a buyer
/// signs an EIP-712 `Offer` off-chain (an EOA by ECDSA, a smart account through ERC-1271), and the token's owner
/// accepts it on-chain: the token goes to the buyer and the price, in an ERC-20 the buyer approved to this contract,
/// to the seller. Each offer's nonce is used once.
contract OfferBook is EIP712, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice An offer to buy one token.
    /// @param buyer Who pays and receives the token; the offer's signer (ERC-1271 for a contract).
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token.
    /// @param currency The ERC-20 paid.
    /// @param price The amount of `currency` paid.
    /// @param nonce Tells apart the buyer's offers; each is used at most once.
    /// @param deadline Last second the offer can be accepted.
    struct Offer {
        address buyer;
        address collection;
        uint256 tokenId;
        address currency;
        uint256 price;
        uint256 nonce;
        uint256 deadline;
    }

    /// @notice EIP-712 type of an offer.
    bytes32 public constant OFFER_TYPEHASH = keccak256(
        "Offer(address buyer,address collection,uint256 tokenId,address currency,uint256 price,uint256 nonce,uint256 deadline)"
    );

    /// @notice Whether a buyer's nonce was used (accepted or cancelled).
    mapping(address buyer => mapping(uint256 nonce => bool)) public nonceUsed;

    /// @notice Emitted when an offer is accepted.
    /// @param buyer The buyer, who received the token.
    /// @param seller The seller, who received the price.
    /// @param collection The ERC-721 contract.
    /// @param tokenId The token sold.
    /// @param price The amount of the offer's currency paid.
    event OfferAccepted(
        address indexed buyer, address indexed seller, address indexed collection, uint256 tokenId, uint256 price
    );

    /// @notice The offer's signature is not the buyer's.
    /// @param buyer The offer's buyer.
    error InvalidOfferSignature(address buyer);

    /// @notice The offer's nonce was used already.
    /// @param buyer The offer's buyer.
    /// @param nonce The nonce.
    error OfferNonceUsed(address buyer, uint256 nonce);

    /// @notice The offer's deadline has passed.
    /// @param deadline The offer's deadline.
    error OfferExpired(uint256 deadline);

    /// @notice Deploys the book with the EIP-712 domain ("Keyscope OfferBook", "1").
    constructor() EIP712("Keyscope OfferBook", "1") {}

    /// @notice The EIP-712 digest of `offer` the buyer signs.
    /// @param offer The offer.
    /// @return digest The typed-data digest in this book's domain.
    function offerDigest(Offer calldata offer) public view returns (bytes32 digest) {
        return _hashTypedDataV4(keccak256(abi.encode(OFFER_TYPEHASH, offer)));
    }

    /// @notice Accepts `offer` as the token's owner: checks the buyer's signature (ERC-1271 for a contract), uses the
    ///         nonce, moves the token to the buyer and the price to the caller.
    /// @dev The caller must own the token and have approved this contract for it.
    /// @param offer The signed offer.
    /// @param signature The buyer's signature over `offerDigest(offer)`.
    function accept(Offer calldata offer, bytes calldata signature) external nonReentrant {
        if (block.timestamp > offer.deadline) revert OfferExpired(offer.deadline);
        if (nonceUsed[offer.buyer][offer.nonce]) revert OfferNonceUsed(offer.buyer, offer.nonce);
        if (!SignatureChecker.isValidSignatureNow(offer.buyer, offerDigest(offer), signature)) {
            revert InvalidOfferSignature(offer.buyer);
        }
        nonceUsed[offer.buyer][offer.nonce] = true;
        emit OfferAccepted(offer.buyer, msg.sender, offer.collection, offer.tokenId, offer.price);
        IERC721(offer.collection).safeTransferFrom(msg.sender, offer.buyer, offer.tokenId);
        IERC20(offer.currency).safeTransferFrom(offer.buyer, msg.sender, offer.price);
    }
}
