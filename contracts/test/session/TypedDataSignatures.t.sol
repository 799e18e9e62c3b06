// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {ISessionKeyValidator, SessionTypes} from "../../src/interfaces/ISessionKeyValidator.sol";
import {DemoToken} from "../../src/demo/DemoToken.sol";
import {GameItems} from "../../src/demo/GameItems.sol";
import {OfferBook} from "../../src/demo/OfferBook.sol";
import {SessionTestBase} from "../utils/SessionTestBase.sol";
import {SessionEncoding} from "../utils/SessionEncoding.sol";

/// @notice Message signatures by a session key (ERC-1271 through ERC-7739's nested TypedDataSign): an offer on a
///         marketplace that verifies like Seaport, checked through the account's `isValidSignature` and accepted
///         on-chain, and every refusal: other accounts, other types, rules, verifying contracts, windows, revocation,
///         PersonalSign. A typed-data permission presented for a call fails as a flag outside ALL_FLAGS (Scope.t.sol).
contract TypedDataSignaturesTest is SessionTestBase {
    bytes4 internal constant MAGIC = 0x1626ba7e;
    bytes4 internal constant INVALID = 0xffffffff;
    uint256 internal constant MAX_PRICE = 100 ether;
    /// Word k of `typeHash ‖ encodeData` of an Offer: its members in order from 1.
    uint16 internal constant WORD_COLLECTION = 2;
    uint16 internal constant WORD_PRICE = 5;
    string internal constant OFFER_TYPE =
        "Offer(address buyer,address collection,uint256 tokenId,address currency,uint256 price,uint256 nonce,uint256 deadline)";

    OfferBook internal book;
    GameItems internal items;
    DemoToken internal currency;
    address internal seller;

    SessionTypes.Permission internal offerPermission;
    SessionTypes.Session internal offerSession;

    function setUp() public virtual override {
        super.setUp();
        book = new OfferBook();
        items = new GameItems();
        currency = new DemoToken();
        seller = makeAddr("seller");
        offerPermission = _offerPermission(address(book), MAX_PRICE);
        offerSession = _singleLeafSession(offerPermission);
        _grant(entryPointV08, address(accountV08), offerSession);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Helpers
    // ------------------------------------------------------------------------------------------------------------

    /// A typed-data permission: Offers on `verifyingContract` of the demo collection at most `maxPrice`.
    function _offerPermission(address verifyingContract, uint256 maxPrice)
        internal
        view
        returns (SessionTypes.Permission memory permission)
    {
        permission.target = verifyingContract;
        permission.flags = SessionTypes.FLAG_TYPED_DATA;
        permission.rules = new SessionTypes.ArgRule[](3);
        permission.rules[0] = _rule(SessionTypes.RuleOperator.Eq, 0, book.OFFER_TYPEHASH());
        permission.rules[1] =
            _rule(SessionTypes.RuleOperator.Eq, WORD_COLLECTION, bytes32(uint256(uint160(address(items)))));
        permission.rules[2] = _rule(SessionTypes.RuleOperator.Lte, WORD_PRICE, bytes32(maxPrice));
    }

    function _offer(address buyer, uint256 price) internal view returns (OfferBook.Offer memory) {
        return OfferBook.Offer({
            buyer: buyer,
            collection: address(items),
            tokenId: 1,
            currency: address(currency),
            price: price,
            nonce: 7,
            deadline: block.timestamp + 1 hours
        });
    }

    /// `typeHash ‖ encodeData` of an offer.
    function _contents(OfferBook.Offer memory offer) internal view returns (bytes memory) {
        return abi.encode(book.OFFER_TYPEHASH(), offer);
    }

    /// The app domain as the signature carries it: ERC-5267 fields 0x0f (name, version, chainId, verifyingContract).
    function _bookDomain(address verifyingContract) internal view returns (bytes memory) {
        return abi.encodePacked(
            uint8(0x0f), abi.encode(keccak256("Keyscope OfferBook"), keccak256("1"), block.chainid, verifyingContract)
        );
    }

    function _bookSeparator() internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Keyscope OfferBook"),
                keccak256("1"),
                block.chainid,
                address(book)
            )
        );
    }

    /// The nested TypedDataSign digest the session key signs for `account` (its ERC-5267 domain).
    function _nestedDigest(address account, bytes32 appSeparator, bytes32 contentsHash)
        internal
        view
        returns (bytes32)
    {
        bytes32 typedDataSign = keccak256(
            abi.encodePacked(
                "TypedDataSign(Offer contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)",
                OFFER_TYPE
            )
        );
        bytes32 structHash = keccak256(
            abi.encode(
                typedDataSign,
                contentsHash,
                keccak256("KeyscopeAccount"),
                keccak256("1"),
                block.chainid,
                account,
                bytes32(0)
            )
        );
        return MessageHashUtils.toTypedDataHash(appSeparator, structHash);
    }

    /// The account's ERC-1271 signature (validator address, then the ERC-7739 envelope) of `contents` under the app
    /// domain `domain` (separator `appSeparator`), by `signerKey` for `account`.
    function _signature(
        address account,
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        bytes memory domain,
        bytes32 appSeparator,
        bytes memory contents,
        uint256 signerKey
    ) internal view returns (bytes memory) {
        bytes32 contentsHash = keccak256(contents);
        bytes memory inner = _innerSignature(session, permission, domain, contents);
        inner = bytes.concat(inner, _sign(signerKey, _nestedDigest(account, appSeparator, contentsHash)));
        return _envelope(inner, appSeparator, contentsHash);
    }

    /// The inner signature up to the session signature.
    function _innerSignature(
        SessionTypes.Session memory session,
        SessionTypes.Permission memory permission,
        bytes memory domain,
        bytes memory contents
    ) internal pure returns (bytes memory) {
        bytes memory permissionData = abi.encode(permission);
        return bytes.concat(
            abi.encode(session),
            abi.encodePacked(uint16(permissionData.length), permissionData, uint8(0)),
            domain,
            abi.encodePacked(uint32(contents.length), contents)
        );
    }

    /// The account's signature: the validator's address, then ERC-7739's TypedDataSign envelope of `inner`.
    function _envelope(bytes memory inner, bytes32 appSeparator, bytes32 contentsHash)
        internal
        view
        returns (bytes memory)
    {
        return abi.encodePacked(
            address(validator), inner, appSeparator, contentsHash, OFFER_TYPE, uint16(bytes(OFFER_TYPE).length)
        );
    }

    function _offerSignature(address account, OfferBook.Offer memory offer) internal view returns (bytes memory) {
        return _signature(
            account,
            offerSession,
            offerPermission,
            _bookDomain(address(book)),
            _bookSeparator(),
            _contents(offer),
            SESSION_KEY
        );
    }

    /// The validator's own answer for `account` (as the account would ask it), without the account's try/catch.
    function _askValidator(address account, bytes32 hash, bytes memory accountSignature) internal {
        bytes memory data = new bytes(accountSignature.length - 20);
        for (uint256 i; i < data.length; ++i) {
            data[i] = accountSignature[i + 20];
        }
        vm.prank(account);
        validator.isValidSignatureWithSender(address(book), hash, data);
    }

    // ------------------------------------------------------------------------------------------------------------
    // Accepted
    // ------------------------------------------------------------------------------------------------------------

    function test_isValidSignature_returnsMagic_forOfferWithinScope() public view {
        OfferBook.Offer memory offer = _offer(address(accountV08), MAX_PRICE);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        assertEq(accountV08.isValidSignature(book.offerDigest(offer), signature), MAGIC);
    }

    function test_accept_movesTokenAndPrice_forSessionSignedOffer() public {
        uint256 tokenId = items.mint(seller);
        currency.mint(address(accountV08), MAX_PRICE);
        vm.prank(address(accountV08));
        currency.approve(address(book), MAX_PRICE);
        OfferBook.Offer memory offer = _offer(address(accountV08), 60 ether);
        offer.tokenId = tokenId;
        bytes memory signature = _offerSignature(address(accountV08), offer);
        vm.startPrank(seller);
        items.approve(address(book), tokenId);
        book.accept(offer, signature);
        vm.stopPrank();
        assertEq(items.ownerOf(tokenId), address(accountV08));
        assertEq(currency.balanceOf(seller), 60 ether);
    }

    /// Gas of the account's `isValidSignature` for a session-signed offer from a cold start (account, validator,
    /// its verifier and the account's implementation cooled), recorded in snapshots/TypedData.json for the README.
    function test_isValidSignature_gas_forOfferWithinScope() public {
        OfferBook.Offer memory offer = _offer(address(accountV08), MAX_PRICE);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        bytes32 digest = book.offerDigest(offer);
        vm.cool(address(accountV08));
        vm.cool(address(implementationV08));
        vm.cool(address(validator));
        vm.cool(vm.computeCreateAddress(address(validator), 2));
        bytes4 magic = accountV08.isValidSignature(digest, signature);
        vm.snapshotGasLastCall("TypedData", "v08_session_offer_isValidSignature");
        assertEq(magic, MAGIC);
    }

    function test_isValidSignature_answersErc7739Support_forDetectionHash() public view {
        bytes32 detection = 0x7739773977397739773977397739773977397739773977397739773977397739;
        assertEq(accountV08.isValidSignature(detection, abi.encodePacked(address(validator))), bytes4(0x77390001));
    }

    // ------------------------------------------------------------------------------------------------------------
    // Refused
    // ------------------------------------------------------------------------------------------------------------

    function test_isValidSignature_returnsInvalid_onAnotherAccountOfTheSameOwner() public {
        _grant(entryPointV07, address(accountV07), offerSession);
        OfferBook.Offer memory offer = _offer(address(accountV08), MAX_PRICE);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        // the same session on another account: the nested digest names the account, so the signature does not match
        assertEq(accountV07.isValidSignature(book.offerDigest(offer), signature), INVALID);
    }

    function test_isValidSignature_returnsInvalid_forAnotherHash() public view {
        OfferBook.Offer memory offer = _offer(address(accountV08), MAX_PRICE);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        offer.nonce = 8;
        assertEq(accountV08.isValidSignature(book.offerDigest(offer), signature), INVALID);
    }

    function test_isValidSignature_returnsInvalid_forAnotherSigner() public view {
        OfferBook.Offer memory offer = _offer(address(accountV08), MAX_PRICE);
        bytes memory signature = _signature(
            address(accountV08),
            offerSession,
            offerPermission,
            _bookDomain(address(book)),
            _bookSeparator(),
            _contents(offer),
            OWNER_KEY
        );
        assertEq(accountV08.isValidSignature(book.offerDigest(offer), signature), INVALID);
    }

    function test_isValidSignature_reverts_priceAboveRule() public {
        OfferBook.Offer memory offer = _offer(address(accountV08), MAX_PRICE + 1);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        bytes32 digest = book.offerDigest(offer);
        assertEq(accountV08.isValidSignature(digest, signature), INVALID);
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.ArgumentRuleFailed.selector, 0, 2, WORD_PRICE));
        _askValidator(address(accountV08), digest, signature);
    }

    function test_isValidSignature_reverts_otherType() public {
        // contents of another type that hash to the envelope's contents hash: rule 0 (the type) refuses them
        bytes memory contents = abi.encode(keccak256("Cancel(uint256 nonce)"), uint256(7));
        bytes32 contentsHash = keccak256(contents);
        bytes memory signature = _signature(
            address(accountV08),
            offerSession,
            offerPermission,
            _bookDomain(address(book)),
            _bookSeparator(),
            contents,
            SESSION_KEY
        );
        bytes32 digest = MessageHashUtils.toTypedDataHash(_bookSeparator(), contentsHash);
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.ArgumentRuleFailed.selector, 0, 0, 0));
        _askValidator(address(accountV08), digest, signature);
    }

    function test_isValidSignature_reverts_otherVerifyingContract() public {
        OfferBook other = new OfferBook();
        OfferBook.Offer memory offer = _offer(address(accountV08), 1 ether);
        bytes32 separator = keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256("Keyscope OfferBook"),
                keccak256("1"),
                block.chainid,
                address(other)
            )
        );
        bytes memory signature = _signature(
            address(accountV08),
            offerSession,
            offerPermission,
            _bookDomain(address(other)),
            separator,
            _contents(offer),
            SESSION_KEY
        );
        bytes32 digest = other.offerDigest(offer);
        assertEq(accountV08.isValidSignature(digest, signature), INVALID);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISessionKeyValidator.VerifyingContractNotAllowed.selector, address(other), address(book)
            )
        );
        _askValidator(address(accountV08), digest, signature);
    }

    function test_isValidSignature_reverts_verifyingContractIsTheValidator() public {
        // a session that names the validator could otherwise answer for its enable digests: never
        _expectForbiddenVerifyingContract(address(validator));
    }

    function test_isValidSignature_reverts_verifyingContractIsTheAccount() public {
        _expectForbiddenVerifyingContract(address(accountV08));
    }

    /// A session granted a typed-data permission for `forbidden`, signing an offer in a domain that names only it
    /// (the separator matches): the validator refuses the verifying contract.
    function _expectForbiddenVerifyingContract(address forbidden) internal {
        SessionTypes.Permission memory permission = _offerPermission(forbidden, MAX_PRICE);
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grant(entryPointV08, address(accountV08), session);
        OfferBook.Offer memory offer = _offer(address(accountV08), 1 ether);
        bytes memory domain = abi.encodePacked(uint8(0x08), abi.encode(forbidden));
        bytes32 separator = keccak256(abi.encode(keccak256("EIP712Domain(address verifyingContract)"), forbidden));
        bytes memory signature =
            _signature(address(accountV08), session, permission, domain, separator, _contents(offer), SESSION_KEY);
        bytes32 digest = MessageHashUtils.toTypedDataHash(separator, keccak256(_contents(offer)));
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.ForbiddenVerifyingContract.selector, forbidden));
        _askValidator(address(accountV08), digest, signature);
    }

    function test_isValidSignature_reverts_afterTheWindow() public {
        OfferBook.Offer memory offer = _offer(address(accountV08), 1 ether);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        bytes32 digest = book.offerDigest(offer);
        vm.warp(uint256(offerSession.validUntil) + 1);
        assertEq(accountV08.isValidSignature(digest, signature), INVALID);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISessionKeyValidator.SignatureOutsideWindow.selector,
                uint256(offerSession.validUntil) + 1,
                offerSession.validAfter,
                offerSession.validUntil
            )
        );
        _askValidator(address(accountV08), digest, signature);
    }

    function test_isValidSignature_reverts_afterRevoke() public {
        OfferBook.Offer memory offer = _offer(address(accountV08), 1 ether);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        bytes32 digest = book.offerDigest(offer);
        bytes32 sessionId = SessionEncoding.sessionId(offerSession);
        _revoke(entryPointV08, address(accountV08), sessionId);
        assertEq(accountV08.isValidSignature(digest, signature), INVALID);
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.SessionNotActive.selector, sessionId));
        _askValidator(address(accountV08), digest, signature);
    }

    function test_isValidSignature_reverts_afterPermissionRevoked() public {
        OfferBook.Offer memory offer = _offer(address(accountV08), 1 ether);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        bytes32 digest = book.offerDigest(offer);
        bytes32 leaf = SessionEncoding.leaf(offerPermission);
        _sendOwnerOp(
            entryPointV08,
            address(accountV08),
            _validatorCall(
                abi.encodeCall(ISessionKeyValidator.revokePermission, (SessionEncoding.sessionId(offerSession), leaf))
            )
        );
        assertEq(accountV08.isValidSignature(digest, signature), INVALID);
        vm.expectRevert(abi.encodeWithSelector(ISessionKeyValidator.PermissionIsRevoked.selector, 0, leaf));
        _askValidator(address(accountV08), digest, signature);
    }

    function test_isValidSignature_returnsInvalid_afterUninstall() public {
        OfferBook.Offer memory offer = _offer(address(accountV08), 1 ether);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        _uninstallValidator(entryPointV08, address(accountV08));
        assertEq(accountV08.isValidSignature(book.offerDigest(offer), signature), INVALID);
    }

    function test_isValidSignature_reverts_typedDataPermissionWithCallFields() public {
        SessionTypes.Permission memory permission = _offerPermission(address(book), MAX_PRICE);
        permission.maxUses = 1;
        SessionTypes.Session memory session = _singleLeafSession(permission);
        _grant(entryPointV08, address(accountV08), session);
        OfferBook.Offer memory offer = _offer(address(accountV08), 1 ether);
        bytes memory signature = _signature(
            address(accountV08),
            session,
            permission,
            _bookDomain(address(book)),
            _bookSeparator(),
            _contents(offer),
            SESSION_KEY
        );
        bytes32 digest = book.offerDigest(offer);
        vm.expectRevert(
            abi.encodeWithSelector(
                ISessionKeyValidator.InvalidTypedDataPermission.selector, SessionEncoding.leaf(permission)
            )
        );
        _askValidator(address(accountV08), digest, signature);
    }

    function test_isValidSignature_returnsInvalid_forPersonalSign() public view {
        // ERC-7739 PersonalSign carries no envelope: the session key never signs EIP-191 messages for the account
        bytes32 hash = MessageHashUtils.toEthSignedMessageHash(bytes("hello"));
        bytes memory signature =
            abi.encodePacked(address(validator), abi.encode(offerSession), _sign(SESSION_KEY, hash));
        assertEq(accountV08.isValidSignature(hash, signature), INVALID);
    }

    function testFuzz_isValidSignature_neverMagic_whenAByteChanges(uint256 position, uint8 flip) public view {
        OfferBook.Offer memory offer = _offer(address(accountV08), MAX_PRICE);
        bytes memory signature = _offerSignature(address(accountV08), offer);
        // any byte after the validator address; a change that keeps the same meaning is impossible to make here
        position = bound(position, 20, signature.length - 1);
        flip = uint8(bound(flip, 1, 255));
        signature[position] = bytes1(uint8(signature[position]) ^ flip);
        bytes32 digest = book.offerDigest(offer);
        try accountV08.isValidSignature(digest, signature) returns (bytes4 magic) {
            assertEq(magic, INVALID);
        } catch {
            // the account answers every module failure with INVALID: a revert here is the account's own
            revert("account reverted");
        }
    }

    function test_isValidSignature_returnsInvalid_whereTheSessionIsNotGranted() public view {
        // the validator is installed on accountV07, but the session was granted on accountV08 only
        OfferBook.Offer memory offer = _offer(address(accountV07), MAX_PRICE);
        bytes memory signature = _offerSignature(address(accountV07), offer);
        assertEq(IERC1271(address(accountV07)).isValidSignature(book.offerDigest(offer), signature), INVALID);
    }
}
