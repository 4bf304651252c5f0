// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Governed} from "./lib/Governed.sol";

/// @title Consortium registry: which companies belong to the consortium, under which addresses, in which state.
/// @notice PROTOCOLS.md §2.1 (EntDSM Alg. 1 and 2) with its fixes:
///   (a) no name hijack: a second address asks to join with its own transaction (its consent), an address of the
///       company endorses it (the company's will), and the binding stays Pending until the supervisor approves it;
///       all three only while the company is Audited (never while it awaits audit, is suspended or revoked);
///   (b) companies are keyed by companyId = keccak256(abi.encode(name, registrationNumber)) and only a hash of the
///       dossier is stored (the SDK normalizes the name and salts the dossier hash);
///   (c) every change is an event;
///   (d) ToAudit -> Audited <-> Suspended, and a terminal Revoked;
///   (e) each company publishes a compressed secp256k1 encryption key (ECIES recipients, §2.3).
/// Everything here is public to every node: never plaintext personal data.
/// Upgradeable (UUPS, Governed): membership is the state every other contract reads, so it must survive a fix of
/// the rules. Pausing stops registrations, joins and key changes; the supervisor's state changes and address
/// removals (incident response) go on.
/// Roles: SUPERVISOR_ROLE audits and approves joins; GOVERNOR_ROLE (the Governance contract) changes states after
/// a passed vote; MEMBER_ROLE is derived, never granted: an address holds it while bound to an Audited company.
contract ConsortiumRegistry is Governed {
    enum CompanyState {
        None,
        ToAudit,
        Audited,
        Suspended,
        Revoked
    }

    struct Company {
        bytes32 companyId;
        string name;
        string registrationNumber;
        bytes encPubKey;
        bytes32 dossierHash;
        CompanyState state;
        uint64 registeredAt;
        address[] addresses;
    }

    error SupervisorCannotRegister();
    error AddressAlreadyBound(address account, bytes32 companyId);
    error CompanyAlreadyRegistered(bytes32 companyId);
    error UnknownCompany(bytes32 companyId);
    error EmptyName();
    error InvalidEncryptionKey();
    error NotSupervisor(address caller);
    error NotCompanyMember(address caller, bytes32 companyId);
    error CompanyRevoked(bytes32 companyId);
    error NoJoinRequest(address account, bytes32 companyId);
    error AddressNotBound(address account, bytes32 companyId);
    error LastAddress(bytes32 companyId);
    error InvalidStateTransition(CompanyState from, CompanyState to);
    error CompanyNotAudited(bytes32 companyId, CompanyState state);
    error JoinNotEndorsed(address account, bytes32 companyId);
    error MembershipIsDerived();

    event CompanyRegistered(
        bytes32 indexed companyId,
        address indexed account,
        string name,
        string registrationNumber,
        bytes encPubKey,
        bytes32 dossierHash
    );
    event StateChanged(
        bytes32 indexed companyId, CompanyState oldState, CompanyState newState, bytes32 reasonHash
    );
    event AddressJoinRequested(bytes32 indexed companyId, address indexed account);
    event AddressBound(bytes32 indexed companyId, address indexed account, address indexed approvedBy);
    event AddressRemoved(bytes32 indexed companyId, address indexed account, address indexed removedBy);
    event EncryptionKeyChanged(bytes32 indexed companyId, bytes encPubKey);
    event JoinEndorsed(bytes32 indexed companyId, address indexed account, address indexed endorsedBy);

    /// @dev secp256k1 field prime, for the on-curve check of encryption keys.
    uint256 private constant P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F;

    bytes32 public constant GOVERNOR_ROLE = keccak256("GOVERNOR_ROLE");
    bytes32 public constant MEMBER_ROLE = keccak256("MEMBER_ROLE");

    /// @notice How many companies are Audited now: the electorate of governance votes (§2.5 "2/3 of all members").
    uint256 public memberCount;

    mapping(bytes32 => Company) private companies;
    mapping(address => bytes32) private boundTo;
    mapping(address => bytes32) private pendingJoin;
    /// @dev The company address that endorsed a pending join (zero until endorsed).
    mapping(address => address) private joinEndorsedBy;

    function initialize(address admin, address supervisor) external initializer {
        __Governed_init(admin, supervisor);
    }

    modifier onlySupervisor() {
        if (!hasRole(SUPERVISOR_ROLE, msg.sender)) revert NotSupervisor(msg.sender);
        _;
    }

    // ---------------------------------------------------------------- registration and membership

    /// @notice Registers a new company with the caller as its first address, in state ToAudit (Alg. 1, rules 1-3).
    /// Rule 4 of the source (a known name appends the caller) is the name-hijack flaw: a second address must use
    /// requestJoin and be approved.
    function register(
        string calldata name,
        string calldata registrationNumber,
        bytes calldata encPubKey,
        bytes32 dossierHash
    ) external whenNotPaused returns (bytes32 companyId) {
        if (hasRole(SUPERVISOR_ROLE, msg.sender)) revert SupervisorCannotRegister();
        if (boundTo[msg.sender] != bytes32(0)) revert AddressAlreadyBound(msg.sender, boundTo[msg.sender]);
        if (bytes(name).length == 0) revert EmptyName();
        _checkEncryptionKey(encPubKey);
        companyId = keccak256(abi.encode(name, registrationNumber));
        Company storage c = companies[companyId];
        if (c.state != CompanyState.None) revert CompanyAlreadyRegistered(companyId);

        c.companyId = companyId;
        c.name = name;
        c.registrationNumber = registrationNumber;
        c.encPubKey = encPubKey;
        c.dossierHash = dossierHash;
        c.state = CompanyState.ToAudit;
        c.registeredAt = uint64(block.timestamp);
        c.addresses.push(msg.sender);
        boundTo[msg.sender] = companyId;
        delete pendingJoin[msg.sender];

        emit CompanyRegistered(companyId, msg.sender, name, registrationNumber, encPubKey, dossierHash);
        emit StateChanged(companyId, CompanyState.None, CompanyState.ToAudit, bytes32(0));
        emit AddressBound(companyId, msg.sender, msg.sender);
    }

    /// @notice The caller asks to be bound to an existing, Audited company. Its own transaction is its consent; the
    /// binding stays Pending (and the address inactive) until the company endorses it and the supervisor approves.
    function requestJoin(bytes32 companyId) external whenNotPaused {
        if (hasRole(SUPERVISOR_ROLE, msg.sender)) revert SupervisorCannotRegister();
        if (boundTo[msg.sender] != bytes32(0)) revert AddressAlreadyBound(msg.sender, boundTo[msg.sender]);
        _audited(companyId);
        pendingJoin[msg.sender] = companyId;
        delete joinEndorsedBy[msg.sender];
        emit AddressJoinRequested(companyId, msg.sender);
    }

    /// @notice The company's side of a join (§2.1 (a): only an address of an Audited company may add one).
    function endorseJoin(bytes32 companyId, address account) external whenNotPaused {
        _audited(companyId);
        if (boundTo[msg.sender] != companyId) revert NotCompanyMember(msg.sender, companyId);
        if (pendingJoin[account] != companyId) revert NoJoinRequest(account, companyId);
        joinEndorsedBy[account] = msg.sender;
        emit JoinEndorsed(companyId, account, msg.sender);
    }

    /// @notice The supervisor's approval binds a join the address asked for and the company endorsed.
    function approveJoin(bytes32 companyId, address account) external onlySupervisor whenNotPaused {
        Company storage c = _audited(companyId);
        if (pendingJoin[account] != companyId) revert NoJoinRequest(account, companyId);
        if (joinEndorsedBy[account] == address(0)) revert JoinNotEndorsed(account, companyId);
        delete pendingJoin[account];
        delete joinEndorsedBy[account];
        boundTo[account] = companyId;
        c.addresses.push(account);
        emit AddressBound(companyId, account, msg.sender);
    }

    /// @notice Unbinds an address (e.g. a leaked key). Never the last one: a company always has an address.
    function removeAddress(bytes32 companyId, address account) external {
        Company storage c = _manageable(companyId);
        if (boundTo[account] != companyId) revert AddressNotBound(account, companyId);
        uint256 n = c.addresses.length;
        if (n == 1) revert LastAddress(companyId);
        for (uint256 i = 0; i < n; i++) {
            if (c.addresses[i] == account) {
                c.addresses[i] = c.addresses[n - 1];
                c.addresses.pop();
                break;
            }
        }
        delete boundTo[account];
        emit AddressRemoved(companyId, account, msg.sender);
    }

    /// @notice Publishes a new ECIES key for the caller's company.
    function setEncryptionKey(bytes calldata encPubKey) external whenNotPaused {
        bytes32 companyId = boundTo[msg.sender];
        if (companyId == bytes32(0)) revert NotCompanyMember(msg.sender, companyId);
        Company storage c = companies[companyId];
        if (c.state == CompanyState.Revoked) revert CompanyRevoked(companyId);
        _checkEncryptionKey(encPubKey);
        c.encPubKey = encPubKey;
        emit EncryptionKeyChanged(companyId, encPubKey);
    }

    // ---------------------------------------------------------------- supervision

    /// @notice Alg. 2 with the state machine of fix (d). reasonHash commits to the supervisor's off-chain reasons.
    /// The governor (a passed vote) may make the same changes.
    function setState(bytes32 companyId, CompanyState newState, bytes32 reasonHash) external {
        if (!hasRole(SUPERVISOR_ROLE, msg.sender) && !hasRole(GOVERNOR_ROLE, msg.sender)) revert NotSupervisor(msg.sender);
        Company storage c = companies[companyId];
        CompanyState old = c.state;
        if (old == CompanyState.None) revert UnknownCompany(companyId);
        if (!_allowed(old, newState)) revert InvalidStateTransition(old, newState);
        c.state = newState;
        if (old == CompanyState.Audited) memberCount -= 1;
        if (newState == CompanyState.Audited) memberCount += 1;
        emit StateChanged(companyId, old, newState, reasonHash);
    }

    // ---------------------------------------------------------------- views

    function getCompany(bytes32 companyId) external view returns (Company memory) {
        return companies[companyId];
    }

    function stateOf(bytes32 companyId) external view returns (CompanyState) {
        return companies[companyId].state;
    }

    /// @notice The company an address is bound to (zero id and None when unbound).
    function companyOf(address account) external view returns (bytes32 companyId, CompanyState state) {
        companyId = boundTo[account];
        state = companies[companyId].state;
    }

    /// @notice The company an address asked to join and is still waiting for (zero when none), and who of the
    /// company endorsed it (zero until endorsed).
    function pendingJoinOf(address account) external view returns (bytes32 companyId, address endorsedBy) {
        return (pendingJoin[account], joinEndorsedBy[account]);
    }

    /// @notice MEMBER_ROLE is held exactly by the active addresses; every other role as AccessControl keeps it.
    function hasRole(bytes32 role, address account) public view override returns (bool) {
        if (role == MEMBER_ROLE) return isActive(account);
        return super.hasRole(role, account);
    }

    /// @notice Bound to a company that is Audited: the only addresses allowed to take part in tasks.
    function isActive(address account) public view returns (bool) {
        bytes32 companyId = boundTo[account];
        return companyId != bytes32(0) && companies[companyId].state == CompanyState.Audited;
    }

    function companyIdOf(string calldata name, string calldata registrationNumber) external pure returns (bytes32) {
        return keccak256(abi.encode(name, registrationNumber));
    }

    // ---------------------------------------------------------------- internals

    /// @dev Membership follows company states; granting or revoking MEMBER_ROLE by hand would contradict them.
    function _grantRole(bytes32 role, address account) internal override returns (bool) {
        if (role == MEMBER_ROLE) revert MembershipIsDerived();
        return super._grantRole(role, account);
    }

    function _revokeRole(bytes32 role, address account) internal override returns (bool) {
        if (role == MEMBER_ROLE) revert MembershipIsDerived();
        return super._revokeRole(role, account);
    }

    function _manageable(bytes32 companyId) private view returns (Company storage c) {
        c = companies[companyId];
        if (c.state == CompanyState.None) revert UnknownCompany(companyId);
        if (c.state == CompanyState.Revoked) revert CompanyRevoked(companyId);
        if (!hasRole(SUPERVISOR_ROLE, msg.sender) && boundTo[msg.sender] != companyId) revert NotCompanyMember(msg.sender, companyId);
    }

    function _audited(bytes32 companyId) private view returns (Company storage c) {
        c = companies[companyId];
        if (c.state == CompanyState.None) revert UnknownCompany(companyId);
        if (c.state != CompanyState.Audited) revert CompanyNotAudited(companyId, c.state);
    }

    function _allowed(CompanyState from, CompanyState to) private pure returns (bool) {
        if (from == CompanyState.Revoked) return false;
        if (to == CompanyState.Revoked) return true;
        return (from == CompanyState.ToAudit && to == CompanyState.Audited)
            || (from == CompanyState.Audited && to == CompanyState.Suspended)
            || (from == CompanyState.Suspended && to == CompanyState.Audited);
    }

    /// @dev A compressed point (0x02|0x03 || x) is on secp256k1 iff x < p and x^3 + 7 is a square mod p
    /// (Euler's criterion through the modexp precompile), so a typo'd key is refused before anyone encrypts to it.
    function _checkEncryptionKey(bytes calldata key) private view {
        if (key.length != 33 || (key[0] != 0x02 && key[0] != 0x03)) revert InvalidEncryptionKey();
        uint256 x = uint256(bytes32(key[1:33]));
        if (x >= P) revert InvalidEncryptionKey();
        uint256 rhs = addmod(mulmod(mulmod(x, x, P), x, P), 7, P);
        (bool ok, bytes memory out) =
            address(0x05).staticcall(abi.encode(uint256(32), uint256(32), uint256(32), rhs, (P - 1) / 2, P));
        if (!ok || out.length != 32) revert InvalidEncryptionKey();
        uint256 legendre = abi.decode(out, (uint256));
        if (legendre != 1 && rhs != 0) revert InvalidEncryptionKey();
    }
}
