// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface ICatalogRegistry {
    function isActive(address account) external view returns (bool);
}

/// @title Data catalogue: descriptions of datasets that stay with their owners (PROTOCOLS.md §2.2, §2.5 "Release").
/// @notice The EntDSM 6-tuple (owner, domain, name, attributes, size, hash) plus location, default access policy,
/// version and timestamps, with the fixes of §2.2: (a) owner = msg.sender; (c) no on-chain search: every change is
/// an event and keyword search runs over an off-chain index rebuilt from them; (e) the hash is of a fixed snapshot,
/// and an update bumps the version. Only Audited members publish. Metadata only: never rows.
contract DataCatalog {
    enum AccessPolicy {
        Open,
        GrantRequired
    }

    enum EntryState {
        None,
        Active,
        Retired
    }

    /// @notice What an owner publishes: the 6-tuple of §2.2 (owner = msg.sender) plus location and access policy.
    struct Description {
        string domain;
        string name;
        /// @dev The schema (column names and types) as JSON; never values.
        string attrs;
        /// @dev Number of records.
        uint64 size;
        /// @dev Hash of the fixed snapshot (participant Dataset.contentHash).
        bytes32 contentHash;
        string location;
        AccessPolicy policy;
    }

    struct Entry {
        address owner;
        string domain;
        string name;
        string attrs;
        uint64 size;
        bytes32 contentHash;
        string location;
        AccessPolicy policy;
        uint32 version;
        uint64 createdAt;
        uint64 updatedAt;
        EntryState state;
    }

    error NotActiveMember(address account);
    error EmptyName();
    error UnknownDataset(bytes32 datasetId);
    error NotOwner(bytes32 datasetId, address caller);
    error Retired(bytes32 datasetId);

    event DatasetPublished(bytes32 indexed datasetId, address indexed owner, uint32 version, Description description);
    event DatasetRetired(bytes32 indexed datasetId, address indexed owner, uint32 version);

    ICatalogRegistry public immutable registry;
    mapping(bytes32 => Entry) private entries;

    constructor(ICatalogRegistry registry_) {
        registry = registry_;
    }

    /// @notice A dataset's id is fixed by its owner and name, so versions of one dataset share it (§2.5 naming:
    /// path "/provider/domain/name at version").
    function datasetIdOf(address owner, string calldata name) public pure returns (bytes32) {
        return keccak256(abi.encode(owner, name));
    }

    /// @notice Publishes a new dataset (version 1) or a new version of the caller's own dataset.
    function publish(Description calldata d) external returns (bytes32 datasetId) {
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        if (bytes(d.name).length == 0) revert EmptyName();
        datasetId = datasetIdOf(msg.sender, d.name);
        Entry storage e = entries[datasetId];
        if (e.state == EntryState.Retired) revert Retired(datasetId);
        if (e.state == EntryState.None) {
            e.owner = msg.sender;
            e.name = d.name;
            e.createdAt = uint64(block.timestamp);
            e.state = EntryState.Active;
        }
        e.domain = d.domain;
        e.attrs = d.attrs;
        e.size = d.size;
        e.contentHash = d.contentHash;
        e.location = d.location;
        e.policy = d.policy;
        e.version += 1;
        e.updatedAt = uint64(block.timestamp);
        emit DatasetPublished(datasetId, msg.sender, e.version, d);
    }

    /// @notice Withdraws a dataset for good: no new grants or model requests name it.
    function retire(bytes32 datasetId) external {
        Entry storage e = entries[datasetId];
        if (e.state == EntryState.None) revert UnknownDataset(datasetId);
        if (e.owner != msg.sender) revert NotOwner(datasetId, msg.sender);
        if (e.state == EntryState.Retired) revert Retired(datasetId);
        e.state = EntryState.Retired;
        e.updatedAt = uint64(block.timestamp);
        emit DatasetRetired(datasetId, msg.sender, e.version);
    }

    function getDataset(bytes32 datasetId) external view returns (Entry memory) {
        return entries[datasetId];
    }

    function stateOf(bytes32 datasetId) external view returns (EntryState) {
        return entries[datasetId].state;
    }

    function ownerOf(bytes32 datasetId) external view returns (address) {
        return entries[datasetId].owner;
    }

    function policyOf(bytes32 datasetId) external view returns (AccessPolicy) {
        return entries[datasetId].policy;
    }
}
