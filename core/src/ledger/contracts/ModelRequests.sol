// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IModelRegistry {
    function isActive(address account) external view returns (bool);
    function companyOf(address account) external view returns (bytes32 companyId, uint8 state);
}

interface IModelCatalog {
    function stateOf(bytes32 datasetId) external view returns (uint8);
    function ownerOf(bytes32 datasetId) external view returns (address);
}

/// @title "Send the model to the data" (PROTOCOLS.md §2.3, ours): only digests and URIs of the ECIES payloads go
/// on chain; the encrypted, signed payloads live off chain. reqId = H(from || to || datasetId || nonce) binds the
/// answer to its request, so a replayed or swapped answer is refused.
/// @notice An owner whose policy asks a human leaves a request `Requested` until someone of its organisation (any
/// active account bound to the same company as the addressee: a data steward's wallet, never the addressee's
/// server key alone) `decide`s it; its participant serves only an `Approved` request. The decision is on chain, like
/// a grant's, so the regulator sees who let a model reach the data and when.
contract ModelRequests {
    enum RequestState {
        None,
        Requested,
        Answered,
        Refused,
        /// A human of the owner's organisation approved it; the owner's participant may now answer (appended last:
        /// earlier states keep their numbers).
        Approved
    }

    struct Request {
        bytes32 datasetId;
        address from;
        address to;
        bytes32 payloadHash;
        uint64 expiry;
        RequestState state;
        bytes32 resultHash;
    }

    error NotActiveMember(address account);
    error UnknownDataset(bytes32 datasetId);
    error NotDatasetOwner(bytes32 datasetId, address to);
    error RequestExists(bytes32 reqId);
    error UnknownRequest(bytes32 reqId);
    error NotAddressee(bytes32 reqId, address caller);
    error WrongState(bytes32 reqId, RequestState state);
    error RequestExpired(bytes32 reqId);
    error InvalidExpiry();
    error NotOwnerOrganisation(bytes32 reqId, address caller);

    event ModelRequest(
        bytes32 indexed reqId,
        address indexed from,
        address indexed to,
        bytes32 datasetId,
        bytes32 payloadHash,
        string payloadURI,
        uint64 expiry
    );
    event ModelResult(bytes32 indexed reqId, bytes32 resultHash, string resultURI);
    event ModelRefused(bytes32 indexed reqId, bytes32 reasonHash);
    event ModelDecided(bytes32 indexed reqId, address indexed by, bool approve, bytes32 reasonHash);

    IModelRegistry public immutable registry;
    IModelCatalog public immutable catalog;
    mapping(bytes32 => Request) private requests;

    constructor(IModelRegistry registry_, IModelCatalog catalog_) {
        registry = registry_;
        catalog = catalog_;
    }

    function requestIdOf(address from, address to, bytes32 datasetId, bytes32 nonce) public pure returns (bytes32) {
        return keccak256(abi.encode(from, to, datasetId, nonce));
    }

    function request(bytes32 datasetId, address to, bytes32 payloadHash, string calldata payloadURI, uint64 expiry, bytes32 nonce)
        external
        returns (bytes32 reqId)
    {
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        if (!registry.isActive(to)) revert NotActiveMember(to);
        if (catalog.stateOf(datasetId) != 1) revert UnknownDataset(datasetId);
        if (catalog.ownerOf(datasetId) != to) revert NotDatasetOwner(datasetId, to);
        if (expiry <= block.timestamp) revert InvalidExpiry();
        reqId = requestIdOf(msg.sender, to, datasetId, nonce);
        if (requests[reqId].state != RequestState.None) revert RequestExists(reqId);
        requests[reqId] = Request(datasetId, msg.sender, to, payloadHash, expiry, RequestState.Requested, bytes32(0));
        emit ModelRequest(reqId, msg.sender, to, datasetId, payloadHash, payloadURI, expiry);
    }

    /// @notice The owner's answer: the digest of the result encrypted to the requester.
    function respond(bytes32 reqId, bytes32 resultHash, string calldata resultURI) external {
        Request storage r = _addressed(reqId);
        if (block.timestamp > r.expiry) revert RequestExpired(reqId);
        r.state = RequestState.Answered;
        r.resultHash = resultHash;
        emit ModelResult(reqId, resultHash, resultURI);
    }

    /// @notice The owner's refusal (failed review, forged signature, policy), with a hash of its reason.
    function refuse(bytes32 reqId, bytes32 reasonHash) external {
        Request storage r = _addressed(reqId);
        r.state = RequestState.Refused;
        emit ModelRefused(reqId, reasonHash);
    }

    /// @notice A human of the owner's organisation approves or rejects a request still waiting (before its expiry);
    /// a rejection is a refusal, with the same event the participant's refusal emits.
    function decide(bytes32 reqId, bool approve, bytes32 reasonHash) external {
        Request storage r = requests[reqId];
        if (r.state == RequestState.None) revert UnknownRequest(reqId);
        if (!_sameOrganisation(msg.sender, r.to)) revert NotOwnerOrganisation(reqId, msg.sender);
        if (r.state != RequestState.Requested) revert WrongState(reqId, r.state);
        if (block.timestamp > r.expiry) revert RequestExpired(reqId);
        r.state = approve ? RequestState.Approved : RequestState.Refused;
        emit ModelDecided(reqId, msg.sender, approve, reasonHash);
        if (!approve) emit ModelRefused(reqId, reasonHash);
    }

    function getRequest(bytes32 reqId) external view returns (Request memory) {
        return requests[reqId];
    }

    function _addressed(bytes32 reqId) private view returns (Request storage r) {
        r = requests[reqId];
        if (r.state == RequestState.None) revert UnknownRequest(reqId);
        if (r.to != msg.sender) revert NotAddressee(reqId, msg.sender);
        if (r.state != RequestState.Requested && r.state != RequestState.Approved) revert WrongState(reqId, r.state);
    }

    /// @dev Active, and bound to the same company as `owner` (the registry's binding, not the caller's word).
    function _sameOrganisation(address caller, address owner) private view returns (bool) {
        if (!registry.isActive(caller)) return false;
        (bytes32 callerCompany,) = registry.companyOf(caller);
        (bytes32 ownerCompany,) = registry.companyOf(owner);
        return callerCompany != bytes32(0) && callerCompany == ownerCompany;
    }
}
