// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

/// @title did:ethr registry: the ERC-1056 "lightweight identity" interface (PROTOCOLS.md §2.6, DESIGN.md identity).
/// @notice Every Ethereum address is a DID (`did:ethr:<chainId>:<address>`) without any registration. This
/// contract records only what changes a DID document: a new controller (owner), delegates (keys that may sign
/// for the identity for a while) and attributes (public keys and services, such as the org's consent-signing,
/// TLS-client and encryption keys). Nothing is kept as state but the owner, the delegate validity, a per-identity
/// `changed` block and a nonce: the document is rebuilt from the events, walking back through `changed`, which
/// is how `ethr-did-resolver` reads any ERC-1056 deployment. Function names, argument orders, event shapes and
/// the signed-message layouts follow ERC-1056 so the maintained resolver and wallets work unchanged.
contract DidRegistry {
    /// @dev Owner of each identity that changed its owner; an identity owns itself otherwise.
    mapping(address => address) private owners;
    /// @dev identity => keccak256(delegateType) => delegate => valid until (unix seconds).
    mapping(address => mapping(bytes32 => mapping(address => uint256))) public delegates;
    /// @dev The block of the identity's last change: the head of its event chain (each event links the previous).
    mapping(address => uint256) public changed;
    /// @dev Replay protection of the signed variants, per signing owner.
    mapping(address => uint256) public nonce;

    event DIDOwnerChanged(address indexed identity, address owner, uint256 previousChange);
    event DIDDelegateChanged(address indexed identity, bytes32 delegateType, address delegate, uint256 validTo, uint256 previousChange);
    event DIDAttributeChanged(address indexed identity, bytes32 name, bytes value, uint256 validTo, uint256 previousChange);

    error NotOwner(address identity, address caller);
    error BadSignature(address identity, address signer);

    modifier onlyOwner(address identity, address actor) {
        if (actor != identityOwner(identity)) revert NotOwner(identity, actor);
        _;
    }

    /// @notice The address that controls `identity` (itself unless changed).
    function identityOwner(address identity) public view returns (address) {
        address owner = owners[identity];
        return owner == address(0) ? identity : owner;
    }

    /// @notice True while `delegate` is an unexpired delegate of `delegateType` for `identity`.
    function validDelegate(address identity, bytes32 delegateType, address delegate) external view returns (bool) {
        return delegates[identity][keccak256(abi.encode(delegateType))][delegate] > block.timestamp;
    }

    // ------------------------------------------------------------ owner

    function changeOwner(address identity, address newOwner) external {
        _changeOwner(identity, msg.sender, newOwner);
    }

    function changeOwnerSigned(address identity, uint8 sigV, bytes32 sigR, bytes32 sigS, address newOwner) external {
        bytes32 digest = _digest(identity, abi.encodePacked("changeOwner", newOwner));
        _changeOwner(identity, _signer(identity, digest, sigV, sigR, sigS), newOwner);
    }

    function _changeOwner(address identity, address actor, address newOwner) private onlyOwner(identity, actor) {
        owners[identity] = newOwner;
        emit DIDOwnerChanged(identity, newOwner, changed[identity]);
        changed[identity] = block.number;
    }

    // ------------------------------------------------------------ delegates

    function addDelegate(address identity, bytes32 delegateType, address delegate, uint256 validity) external {
        _addDelegate(identity, msg.sender, delegateType, delegate, validity);
    }

    function addDelegateSigned(address identity, uint8 sigV, bytes32 sigR, bytes32 sigS, bytes32 delegateType, address delegate, uint256 validity)
        external
    {
        bytes32 digest = _digest(identity, abi.encodePacked("addDelegate", delegateType, delegate, validity));
        _addDelegate(identity, _signer(identity, digest, sigV, sigR, sigS), delegateType, delegate, validity);
    }

    function _addDelegate(address identity, address actor, bytes32 delegateType, address delegate, uint256 validity)
        private
        onlyOwner(identity, actor)
    {
        uint256 validTo = block.timestamp + validity;
        delegates[identity][keccak256(abi.encode(delegateType))][delegate] = validTo;
        emit DIDDelegateChanged(identity, delegateType, delegate, validTo, changed[identity]);
        changed[identity] = block.number;
    }

    function revokeDelegate(address identity, bytes32 delegateType, address delegate) external {
        _revokeDelegate(identity, msg.sender, delegateType, delegate);
    }

    function revokeDelegateSigned(address identity, uint8 sigV, bytes32 sigR, bytes32 sigS, bytes32 delegateType, address delegate) external {
        bytes32 digest = _digest(identity, abi.encodePacked("revokeDelegate", delegateType, delegate));
        _revokeDelegate(identity, _signer(identity, digest, sigV, sigR, sigS), delegateType, delegate);
    }

    function _revokeDelegate(address identity, address actor, bytes32 delegateType, address delegate) private onlyOwner(identity, actor) {
        // Expired from this block on (`validDelegate` needs validTo > now). The event says validTo = 0, as a revoked
        // attribute does: resolvers compare validTo with their own clock, and a chain whose block time runs ahead
        // of it (anvil mining faster than a second per block) would keep a key announced as "valid until this
        // block's time" alive for a while after its revocation.
        delegates[identity][keccak256(abi.encode(delegateType))][delegate] = block.timestamp;
        emit DIDDelegateChanged(identity, delegateType, delegate, 0, changed[identity]);
        changed[identity] = block.number;
    }

    // ------------------------------------------------------------ attributes

    function setAttribute(address identity, bytes32 name, bytes calldata value, uint256 validity) external {
        _setAttribute(identity, msg.sender, name, value, validity);
    }

    function setAttributeSigned(address identity, uint8 sigV, bytes32 sigR, bytes32 sigS, bytes32 name, bytes calldata value, uint256 validity)
        external
    {
        bytes32 digest = _digest(identity, abi.encodePacked("setAttribute", name, value, validity));
        _setAttribute(identity, _signer(identity, digest, sigV, sigR, sigS), name, value, validity);
    }

    function _setAttribute(address identity, address actor, bytes32 name, bytes calldata value, uint256 validity)
        private
        onlyOwner(identity, actor)
    {
        emit DIDAttributeChanged(identity, name, value, block.timestamp + validity, changed[identity]);
        changed[identity] = block.number;
    }

    function revokeAttribute(address identity, bytes32 name, bytes calldata value) external {
        _revokeAttribute(identity, msg.sender, name, value);
    }

    function revokeAttributeSigned(address identity, uint8 sigV, bytes32 sigR, bytes32 sigS, bytes32 name, bytes calldata value) external {
        bytes32 digest = _digest(identity, abi.encodePacked("revokeAttribute", name, value));
        _revokeAttribute(identity, _signer(identity, digest, sigV, sigR, sigS), name, value);
    }

    function _revokeAttribute(address identity, address actor, bytes32 name, bytes calldata value) private onlyOwner(identity, actor) {
        // validTo = 0 marks a revocation (the resolver removes the matching key or service).
        emit DIDAttributeChanged(identity, name, value, 0, changed[identity]);
        changed[identity] = block.number;
    }

    // ------------------------------------------------------------ signed variants

    /// @dev ERC-1056's layout is EIP-191 version 0 ("data with intended validator", the validator being this
    /// registry): 0x19 0x00 ‖ this ‖ nonce[owner] ‖ identity ‖ call-specific bytes.
    function _digest(address identity, bytes memory call) private view returns (bytes32) {
        return MessageHashUtils.toDataWithIntendedValidatorHash(address(this), abi.encodePacked(nonce[identityOwner(identity)], identity, call));
    }

    /// @dev Recovers the signer, requires it to own `identity`, and spends its nonce. `tryRecover` (not `recover`)
    /// so that a malleable or unrecoverable signature reverts with this registry's own `BadSignature`, as a
    /// signature by a non-owner does: one error for callers to handle.
    function _signer(address identity, bytes32 digest, uint8 v, bytes32 r, bytes32 s) private returns (address) {
        (address signer, ECDSA.RecoverError failure,) = ECDSA.tryRecover(digest, v, r, s);
        if (failure != ECDSA.RecoverError.NoError || signer != identityOwner(identity)) {
            revert BadSignature(identity, signer);
        }
        nonce[signer]++;
        return signer;
    }
}
