// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface IGrantsRegistry {
    function isActive(address account) external view returns (bool);
}

interface IGrantsCatalog {
    function stateOf(bytes32 datasetId) external view returns (uint8);
    function ownerOf(bytes32 datasetId) external view returns (address);
}

/// @title Access grants: request -> owner review -> token -> use -> revocation (PROTOCOLS.md §2.4 "Our choice: a
/// grant registry", §2.5 "Token (ours)").
/// @notice A token is not a bearer secret: the owner's participant serves a task only while the initiator's token
/// is Approved, unexpired, unrevoked and not exhausted here, and logs every use with `consume`.
contract AccessGrants {
    enum GrantStatus {
        None,
        Requested,
        Approved,
        Rejected,
        Revoked
    }

    /// @dev Why `check` says no (Valid = 0).
    enum Validity {
        Valid,
        Unknown,
        NotApproved,
        Expired,
        Revoked,
        Exhausted,
        DatasetRetired
    }

    struct Grant {
        bytes32 datasetId;
        address requester;
        address owner;
        string purpose;
        bytes32 scopeHash;
        uint64 expiry;
        uint32 maxUses;
        uint32 uses;
        GrantStatus status;
        uint64 requestedAt;
    }

    error NotActiveMember(address account);
    error UnknownDataset(bytes32 datasetId);
    error DatasetNotAvailable(bytes32 datasetId);
    error OwnDataset(bytes32 datasetId);
    error InvalidTerms();
    error UnknownGrant(bytes32 tokenId);
    error NotOwner(bytes32 tokenId, address caller);
    error WrongStatus(bytes32 tokenId, GrantStatus status);
    error NotValid(bytes32 tokenId, Validity why);

    event GrantRequested(
        bytes32 indexed tokenId,
        bytes32 indexed datasetId,
        address indexed requester,
        address owner,
        string purpose,
        bytes32 scopeHash,
        uint64 expiry,
        uint32 maxUses
    );
    event GrantDecided(bytes32 indexed tokenId, bool approved, bytes32 reasonHash);
    event GrantRevoked(bytes32 indexed tokenId, bytes32 reasonHash);
    /// @notice The access log of §2.4 step 5: one event per task that used the grant.
    event GrantUsed(bytes32 indexed tokenId, bytes32 indexed datasetId, address indexed requester, bytes32 taskId, uint32 uses);

    IGrantsRegistry public immutable registry;
    IGrantsCatalog public immutable catalog;
    mapping(bytes32 => Grant) private grants;
    /// @notice The requester's most recent token for a dataset (what an owner's participant checks).
    mapping(bytes32 => mapping(address => bytes32)) public latestGrant;
    mapping(address => uint256) private nonces;

    constructor(IGrantsRegistry registry_, IGrantsCatalog catalog_) {
        registry = registry_;
        catalog = catalog_;
    }

    /// @param purpose comma-separated task kinds the grant covers (e.g. "statistics.horizontal"), "*" for any.
    function request(bytes32 datasetId, string calldata purpose, bytes32 scopeHash, uint64 expiry, uint32 maxUses)
        external
        returns (bytes32 tokenId)
    {
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        uint8 state = catalog.stateOf(datasetId);
        if (state == 0) revert UnknownDataset(datasetId);
        if (state != 1) revert DatasetNotAvailable(datasetId);
        address owner = catalog.ownerOf(datasetId);
        if (owner == msg.sender) revert OwnDataset(datasetId);
        if (expiry <= block.timestamp || maxUses == 0 || bytes(purpose).length == 0) revert InvalidTerms();
        tokenId = keccak256(abi.encode(datasetId, msg.sender, nonces[msg.sender]++));
        grants[tokenId] = Grant(datasetId, msg.sender, owner, purpose, scopeHash, expiry, maxUses, 0, GrantStatus.Requested, uint64(block.timestamp));
        latestGrant[datasetId][msg.sender] = tokenId;
        emit GrantRequested(tokenId, datasetId, msg.sender, owner, purpose, scopeHash, expiry, maxUses);
    }

    /// @notice The owner's review (by policy or by a human), §2.5 "Request".
    function decide(bytes32 tokenId, bool approve, bytes32 reasonHash) external {
        Grant storage g = _owned(tokenId);
        if (g.status != GrantStatus.Requested) revert WrongStatus(tokenId, g.status);
        g.status = approve ? GrantStatus.Approved : GrantStatus.Rejected;
        emit GrantDecided(tokenId, approve, reasonHash);
    }

    /// @notice Stops further use from the next task on (§2.4 step 4).
    function revoke(bytes32 tokenId, bytes32 reasonHash) external {
        Grant storage g = _owned(tokenId);
        if (g.status != GrantStatus.Approved) revert WrongStatus(tokenId, g.status);
        g.status = GrantStatus.Revoked;
        emit GrantRevoked(tokenId, reasonHash);
    }

    /// @notice Logs one use by a task; the owner's participant calls it when it accepts the task.
    function consume(bytes32 tokenId, bytes32 taskId) external {
        Grant storage g = _owned(tokenId);
        Validity why = check(tokenId);
        if (why != Validity.Valid) revert NotValid(tokenId, why);
        g.uses += 1;
        emit GrantUsed(tokenId, g.datasetId, g.requester, taskId, g.uses);
    }

    function check(bytes32 tokenId) public view returns (Validity) {
        Grant storage g = grants[tokenId];
        if (g.status == GrantStatus.None) return Validity.Unknown;
        if (g.status == GrantStatus.Revoked) return Validity.Revoked;
        if (g.status != GrantStatus.Approved) return Validity.NotApproved;
        if (catalog.stateOf(g.datasetId) != 1) return Validity.DatasetRetired;
        if (block.timestamp >= g.expiry) return Validity.Expired;
        if (g.uses >= g.maxUses) return Validity.Exhausted;
        return Validity.Valid;
    }

    function getGrant(bytes32 tokenId) external view returns (Grant memory) {
        return grants[tokenId];
    }

    function _owned(bytes32 tokenId) private view returns (Grant storage g) {
        g = grants[tokenId];
        if (g.status == GrantStatus.None) revert UnknownGrant(tokenId);
        if (g.owner != msg.sender) revert NotOwner(tokenId, msg.sender);
    }
}
