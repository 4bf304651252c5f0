// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {EIP712Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Governed} from "./lib/Governed.sol";

interface IConsortiumRegistry {
    function isActive(address account) external view returns (bool);
}

/// @dev The ERC-1056 registry of the members' DIDs (DidRegistry.sol): who may sign a consent for a member.
interface IDidRegistry {
    function validDelegate(address identity, bytes32 delegateType, address delegate) external view returns (bool);
}

/// @title Task ledger: the notarized lifecycle of privacy-computing tasks (PROTOCOLS.md §3, DESIGN.md §3).
/// @notice Coordinators write the lifecycle; participants' consents are EIP-712 signatures that anyone may relay.
/// Every write carries an eventId, unique per entry of the coordinator's durable outbox: a write whose eventId is
/// already recorded with the same content returns without effect or event, so the outbox can resend after a crash
/// (exactly once on chain). The same eventId with different content reverts (EventIdReused): an outbox bug or a
/// front-runner burning an id is loud, never a silent loss. The events alone rebuild a task's history.
/// The EIP-712 domain ("Jointly", "1", chain id, this proxy's address) is OpenZeppelin's, as is ECDSA recovery
/// (canonical s only, EIP-2); core/src/ledger/Eip712.ts signs in the same domain.
/// Upgradeable (UUPS, Governed): the ledger is the consortium's long-lived record; a fix must not lose it.
/// COORDINATOR_ROLE is granted by the supervisor. Pausing stops new work (task creation, consents, scheduling and
/// starting); tasks under way can still record their phases and results, and every task can still be stopped.
contract TaskLedger is Governed, EIP712Upgradeable {
    /// @dev Same names and order as core/src/task/Lifecycle.ts `Status`; a task exists iff its initiator is set.
    enum Status {
        Submitted,
        AwaitingConsent,
        Rejected,
        Scheduled,
        Running,
        Succeeded,
        Failed,
        Cancelled,
        TimedOut
    }

    enum ConsentState {
        NotParticipant,
        Pending,
        Approved,
        Rejected
    }

    struct Task {
        bytes32 specHash;
        string kind;
        address initiator;
        address coordinator;
        Status status;
        uint64 createdAt;
        uint32 approvals;
        uint32 rejections;
        bytes32 resultDigest;
        address[] participants;
    }

    error NotSupervisor(address caller);
    error NotCoordinator(address caller);
    error EventIdReused(bytes32 eventId);
    error ZeroEventId();
    error TaskAlreadyExists(bytes32 taskId);
    error UnknownTask(bytes32 taskId);
    error NoParticipants();
    error DuplicateParticipant(address participant);
    error InactiveAccount(address account);
    error IllegalTransition(Status from, Status to);
    error ConsentMissing(bytes32 taskId, uint32 approvals, uint256 required);
    error NotParticipant(bytes32 taskId, address account);
    error ConsentAlreadyRecorded(bytes32 taskId, address participant);
    error ConsentClosed(bytes32 taskId, Status status);
    error InvalidSignature();
    error WrongStatus(bytes32 taskId, Status status);
    error ResultAlreadyRecorded(bytes32 taskId);

    event CoordinatorSet(address indexed coordinator, bool enabled);
    event DidRegistrySet(address registry);
    event TaskCreated(
        bytes32 indexed taskId,
        bytes32 indexed eventId,
        bytes32 specHash,
        string kind,
        address initiator,
        address coordinator,
        address[] participants
    );
    event ConsentRecorded(
        bytes32 indexed taskId,
        bytes32 indexed eventId,
        address indexed participant,
        bool approve,
        bytes32 reasonHash,
        bytes signature
    );
    event TaskTransitioned(
        bytes32 indexed taskId, bytes32 indexed eventId, Status from, Status to, bytes32 reasonHash
    );
    event PhaseCommitted(bytes32 indexed taskId, bytes32 indexed eventId, bytes32 indexed phase, bytes32 root);
    event ResultRecorded(bytes32 indexed taskId, bytes32 indexed eventId, bytes32 resultDigest);

    bytes32 public constant CONSENT_TYPEHASH =
        keccak256("Consent(bytes32 taskId,bytes32 specHash,bool approve,bytes32 reasonHash)");
    /// @dev The participant's sign-in to a coordinator (checked off chain by the coordinator; the digest is here so
    /// auditors and tests can pin the domain both use).
    bytes32 public constant LOGIN_TYPEHASH =
        keccak256("Login(address account,bytes32 nonce,address coordinator,uint64 issuedAt)");
    bytes32 public constant COORDINATOR_ROLE = keccak256("COORDINATOR_ROLE");

    IConsortiumRegistry public registry;

    mapping(bytes32 => Task) private tasks;
    mapping(bytes32 => mapping(address => ConsentState)) private consents;
    mapping(bytes32 => mapping(bytes32 => bytes32)) private phaseRoots;
    /// @dev eventId => hash of the write it carried (zero when unused).
    mapping(bytes32 => bytes32) private writes;
    /// @dev The DID registry whose `veriKey` delegates may sign a member's consents (zero: only the account signs).
    /// Appended after the released layout (contracts/layouts/TaskLedger.json).
    IDidRegistry public didRegistry;

    /// @dev ERC-1056 delegate type of consent keys: `veriKey`, which ethr-did-resolver lists under assertionMethod.
    bytes32 public constant CONSENT_DELEGATE_TYPE = "veriKey";

    function initialize(IConsortiumRegistry registry_, address admin, address supervisor) external initializer {
        if (address(registry_) == address(0)) revert ZeroAddress();
        __Governed_init(admin, supervisor);
        __EIP712_init("Jointly", "1");
        // The supervisor decides who coordinates (setCoordinator or grantRole).
        _setRoleAdmin(COORDINATOR_ROLE, SUPERVISOR_ROLE);
        registry = registry_;
    }

    modifier onlyCoordinator() {
        if (!hasRole(COORDINATOR_ROLE, msg.sender)) revert NotCoordinator(msg.sender);
        _;
    }

    function setCoordinator(address coordinator, bool enabled) external {
        if (!hasRole(SUPERVISOR_ROLE, msg.sender)) revert NotSupervisor(msg.sender);
        if (coordinator == address(0)) revert ZeroAddress();
        if (enabled) _grantRole(COORDINATOR_ROLE, coordinator);
        else _revokeRole(COORDINATOR_ROLE, coordinator);
        emit CoordinatorSet(coordinator, enabled);
    }

    /// @notice Names the DID registry whose consent delegates are accepted (the deployment sets it before handing
    /// over; afterwards only a passed vote can change it).
    function setDidRegistry(IDidRegistry registry_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        didRegistry = registry_;
        emit DidRegistrySet(address(registry_));
    }

    function isCoordinator(address account) external view returns (bool) {
        return hasRole(COORDINATOR_ROLE, account);
    }

    // ---------------------------------------------------------------- writes

    /// @notice Records a submitted task and its role assignment (PROTOCOLS.md §1: roles recorded at creation).
    function createTask(
        bytes32 eventId,
        bytes32 taskId,
        bytes32 specHash,
        string calldata kind,
        address initiator,
        address[] calldata participants
    ) external onlyCoordinator whenNotPaused {
        if (_alreadyRecorded(eventId, keccak256(abi.encode(1, taskId, specHash, kind, initiator, participants)))) {
            return;
        }
        Task storage t = tasks[taskId];
        if (_exists(t)) revert TaskAlreadyExists(taskId);
        if (participants.length == 0) revert NoParticipants();
        if (!registry.isActive(initiator)) revert InactiveAccount(initiator);
        for (uint256 i = 0; i < participants.length; i++) {
            address p = participants[i];
            if (!registry.isActive(p)) revert InactiveAccount(p);
            if (consents[taskId][p] != ConsentState.NotParticipant) revert DuplicateParticipant(p);
            consents[taskId][p] = ConsentState.Pending;
        }
        t.specHash = specHash;
        t.kind = kind;
        t.initiator = initiator;
        t.coordinator = msg.sender;
        t.status = Status.Submitted;
        t.createdAt = uint64(block.timestamp);
        t.participants = participants;
        emit TaskCreated(taskId, eventId, specHash, kind, initiator, msg.sender, participants);
    }

    /// @notice A participant's signed approve/reject (DESIGN.md §3 "Consent"). Anyone may relay it; the EIP-712
    /// signature by the participant, or by a consent key (`veriKey` delegate) its DID names at this block, is what
    /// counts, and each named participant answers once.
    function recordConsent(
        bytes32 eventId,
        bytes32 taskId,
        address participant,
        bool approve,
        bytes32 reasonHash,
        bytes calldata signature
    ) external whenNotPaused {
        if (_alreadyRecorded(eventId, keccak256(abi.encode(2, taskId, participant, approve, reasonHash)))) return;
        Task storage t = tasks[taskId];
        if (!_exists(t)) revert UnknownTask(taskId);
        if (t.status != Status.Submitted && t.status != Status.AwaitingConsent) revert ConsentClosed(taskId, t.status);
        ConsentState c = consents[taskId][participant];
        if (c == ConsentState.NotParticipant) revert NotParticipant(taskId, participant);
        if (c != ConsentState.Pending) revert ConsentAlreadyRecorded(taskId, participant);
        bytes32 digest = consentDigest(taskId, t.specHash, approve, reasonHash);
        (address signer, ECDSA.RecoverError failure,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (failure != ECDSA.RecoverError.NoError) revert InvalidSignature();
        // The participant's own key, or a consent key its DID names now (unexpired, not revoked).
        if (signer != participant && !_consentDelegate(participant, signer)) revert InvalidSignature();
        if (approve) {
            consents[taskId][participant] = ConsentState.Approved;
            t.approvals += 1;
        } else {
            consents[taskId][participant] = ConsentState.Rejected;
            t.rejections += 1;
        }
        emit ConsentRecorded(taskId, eventId, participant, approve, reasonHash, signature);
    }

    /// @notice Moves a task along the lifecycle; the allowed-transition table is canTransition. Scheduling needs
    /// every participant's approval on chain: nothing runs before every required consent.
    function transition(bytes32 eventId, bytes32 taskId, Status newStatus, bytes32 reasonHash)
        external
        onlyCoordinator
    {
        if (_alreadyRecorded(eventId, keccak256(abi.encode(3, taskId, newStatus, reasonHash)))) return;
        Task storage t = tasks[taskId];
        if (!_exists(t)) revert UnknownTask(taskId);
        Status old = t.status;
        if (!canTransition(old, newStatus)) revert IllegalTransition(old, newStatus);
        if (newStatus == Status.Scheduled || newStatus == Status.Running) _requireNotPaused();
        if (old == Status.AwaitingConsent && newStatus == Status.Scheduled && t.approvals != t.participants.length) {
            revert ConsentMissing(taskId, t.approvals, t.participants.length);
        }
        t.status = newStatus;
        emit TaskTransitioned(taskId, eventId, old, newStatus, reasonHash);
    }

    /// @notice Commits the Merkle root of a phase's round results (DESIGN.md §3: one root per phase, so gas does
    /// not grow with rounds). A restarted task may commit a phase again; the latest root is kept.
    function commitPhase(bytes32 eventId, bytes32 taskId, bytes32 phase, bytes32 root) external onlyCoordinator {
        if (_alreadyRecorded(eventId, keccak256(abi.encode(4, taskId, phase, root)))) return;
        Task storage t = tasks[taskId];
        if (!_exists(t)) revert UnknownTask(taskId);
        if (t.status != Status.Running) revert WrongStatus(taskId, t.status);
        phaseRoots[taskId][phase] = root;
        emit PhaseCommitted(taskId, eventId, phase, root);
    }

    /// @notice The digest of the task's result, once, while Running or after Succeeded.
    function recordResult(bytes32 eventId, bytes32 taskId, bytes32 resultDigest) external onlyCoordinator {
        if (_alreadyRecorded(eventId, keccak256(abi.encode(5, taskId, resultDigest)))) return;
        Task storage t = tasks[taskId];
        if (!_exists(t)) revert UnknownTask(taskId);
        if (t.status != Status.Running && t.status != Status.Succeeded) revert WrongStatus(taskId, t.status);
        if (t.resultDigest != bytes32(0)) revert ResultAlreadyRecorded(taskId);
        t.resultDigest = resultDigest;
        emit ResultRecorded(taskId, eventId, resultDigest);
    }

    // ---------------------------------------------------------------- views

    function isRecorded(bytes32 eventId) external view returns (bool) {
        return writes[eventId] != bytes32(0);
    }

    function getTask(bytes32 taskId) external view returns (Task memory) {
        return tasks[taskId];
    }

    function consentOf(bytes32 taskId, address participant) external view returns (ConsentState) {
        return consents[taskId][participant];
    }

    function phaseRoot(bytes32 taskId, bytes32 phase) external view returns (bytes32) {
        return phaseRoots[taskId][phase];
    }

    function _consentDelegate(address participant, address signer) private view returns (bool) {
        return address(didRegistry) != address(0) && didRegistry.validDelegate(participant, CONSENT_DELEGATE_TYPE, signer);
    }

    function isFinal(Status s) public pure returns (bool) {
        return s == Status.Rejected || s == Status.Succeeded || s == Status.Failed || s == Status.Cancelled
            || s == Status.TimedOut;
    }

    /// @notice The lifecycle table of core/src/task/Lifecycle.ts (a test checks both agree): Submitted->
    /// AwaitingConsent|Cancelled; AwaitingConsent->Rejected|Scheduled|Cancelled|TimedOut; Scheduled->Running|
    /// Cancelled|TimedOut; Running->Succeeded|Cancelled|TimedOut|Scheduled (a restart reschedules); any non-final
    /// status->Failed.
    function canTransition(Status from, Status to) public pure returns (bool) {
        if (isFinal(from)) return false;
        if (to == Status.Failed) return true;
        if (from == Status.Submitted) return to == Status.AwaitingConsent || to == Status.Cancelled;
        if (from == Status.AwaitingConsent) {
            return to == Status.Rejected || to == Status.Scheduled || to == Status.Cancelled || to == Status.TimedOut;
        }
        if (from == Status.Scheduled) return to == Status.Running || to == Status.Cancelled || to == Status.TimedOut;
        // from == Running
        return to == Status.Succeeded || to == Status.Cancelled || to == Status.TimedOut || to == Status.Scheduled;
    }

    function domainSeparator() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    function consentDigest(bytes32 taskId, bytes32 specHash, bool approve, bytes32 reasonHash)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(CONSENT_TYPEHASH, taskId, specHash, approve, reasonHash)));
    }

    function loginDigest(address account, bytes32 nonce, address coordinator, uint64 issuedAt) external view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(LOGIN_TYPEHASH, account, nonce, coordinator, issuedAt)));
    }

    // ---------------------------------------------------------------- internals

    /// @dev True when eventId already carried this very write (idempotent no-op); marks it otherwise. Marking
    /// before the checks is safe: a revert below undoes the mark.
    function _alreadyRecorded(bytes32 eventId, bytes32 writeHash) private returns (bool) {
        if (eventId == bytes32(0)) revert ZeroEventId();
        bytes32 seen = writes[eventId];
        if (seen == writeHash) return true;
        if (seen != bytes32(0)) revert EventIdReused(eventId);
        writes[eventId] = writeHash;
        return false;
    }

    function _exists(Task storage t) private view returns (bool) {
        return t.initiator != address(0);
    }
}
