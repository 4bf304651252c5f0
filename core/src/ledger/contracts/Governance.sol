// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts/proxy/utils/UUPSUpgradeable.sol";

interface IGovernedRegistry {
    function memberCount() external view returns (uint256);
    function companyOf(address account) external view returns (bytes32 companyId, uint8 state);
    function stateOf(bytes32 companyId) external view returns (uint8);
    function setState(bytes32 companyId, uint8 newState, bytes32 reasonHash) external;
}

/// @title Consortium votes (PROTOCOLS.md §2.5 "Governance", ours): admitting and expelling members and setting
/// consortium parameters. One vote per member company; a proposal passes with more than 2/3 of its electorate
/// (every Audited member when it was proposed, less the target of a removal, which may not vote on itself);
/// execution only after the deadline. A passed vote acts on the registry as its governor.
///
/// Upgrades and other privileged calls (§2.5 "upgrades go through a time-locked proxy"): a passed Upgrade or Call
/// proposal is queued on the consortium's OpenZeppelin TimelockController, whose only proposer and executor is
/// this contract, and runs only after the timelock's delay (`executeQueued`): members who disagree have that long
/// to leave or to object. The timelock holds the admin and upgrader roles of the upgradeable contracts, so nothing
/// else can upgrade them. Not upgradeable itself: the rules of change must not change by the mechanism they
/// govern; a new Governance is installed by a Call vote that grants it the timelock's roles.
contract Governance {
    enum ProposalKind {
        AddMember,
        RemoveMember,
        SetParam,
        /// upgradeToAndCall(implementation, data) on an upgradeable proxy, through the timelock.
        Upgrade,
        /// Any call through the timelock (a role change, a parameter of an upgradeable contract, the treasury).
        Call
    }

    enum ProposalState {
        None,
        Open,
        Executed,
        Failed,
        /// Passed and waiting out the timelock's delay.
        Queued
    }

    struct Proposal {
        ProposalKind kind;
        bytes32 target;
        bytes32 key;
        uint256 value;
        bytes32 payloadHash;
        address proposer;
        uint64 deadline;
        uint32 yes;
        uint32 no;
        uint32 electorate;
        ProposalState state;
    }

    /// @dev Registry states (ConsortiumRegistry.CompanyState).
    uint8 private constant TO_AUDIT = 1;
    uint8 private constant AUDITED = 2;
    uint8 private constant SUSPENDED = 3;
    uint8 private constant REVOKED = 4;

    error NotMember(address account);
    error InvalidTarget(bytes32 target, uint8 state);
    error InvalidDeadline();
    error UnknownProposal(uint256 id);
    error VotingClosed(uint256 id);
    error VotingOpen(uint256 id, uint64 deadline);
    error AlreadyVoted(uint256 id, bytes32 companyId);
    error CannotVoteOnOwnRemoval(uint256 id);
    error AlreadyDecided(uint256 id);
    error NotAContract(address account);
    error NotQueued(uint256 id, ProposalState state);
    error TimelockNotReady(uint256 id, uint256 readyAt);
    error UseProposeCall();

    event Proposed(
        uint256 indexed id,
        ProposalKind kind,
        bytes32 indexed target,
        bytes32 key,
        uint256 value,
        bytes32 payloadHash,
        address proposer,
        uint64 deadline,
        uint32 electorate
    );
    event Voted(uint256 indexed id, bytes32 indexed companyId, address voter, bool support);
    event Executed(uint256 indexed id, bool passed, uint32 yes, uint32 no, uint32 electorate);
    event ParamSet(bytes32 indexed key, uint256 value);
    event CallProposed(uint256 indexed id, address indexed target, bytes data);
    event Queued(uint256 indexed id, bytes32 indexed operationId, uint256 readyAt);
    event QueuedExecuted(uint256 indexed id, bytes32 indexed operationId);

    IGovernedRegistry public immutable registry;
    TimelockController public immutable timelock;
    uint256 public proposalCount;
    mapping(uint256 => Proposal) private proposals;
    mapping(uint256 => mapping(bytes32 => bool)) private voted;
    mapping(bytes32 => uint256) public params;
    /// @dev The call an Upgrade or Call proposal makes through the timelock (its hash is the proposal's payloadHash).
    mapping(uint256 => bytes) private calls;

    constructor(IGovernedRegistry registry_, TimelockController timelock_) {
        registry = registry_;
        timelock = timelock_;
    }

    /// @notice Membership and parameter proposals. Upgrade and Call proposals carry a call: proposeUpgrade, proposeCall.
    function propose(ProposalKind kind, bytes32 target, bytes32 key, uint256 value, bytes32 payloadHash, uint64 deadline)
        external
        returns (uint256 id)
    {
        if (kind == ProposalKind.Upgrade || kind == ProposalKind.Call) revert UseProposeCall();
        return _propose(kind, target, key, value, payloadHash, deadline);
    }

    /// @notice Proposes moving the upgradeable `proxy` to `implementation` (then calling it with `data`, if any).
    /// target = the proxy, key = the implementation, payloadHash = keccak256 of the call.
    function proposeUpgrade(address proxy, address implementation, bytes calldata data, uint64 deadline) external returns (uint256 id) {
        if (proxy.code.length == 0) revert NotAContract(proxy);
        if (implementation.code.length == 0) revert NotAContract(implementation);
        bytes memory call = abi.encodeCall(UUPSUpgradeable.upgradeToAndCall, (implementation, data));
        id = _propose(ProposalKind.Upgrade, _word(proxy), _word(implementation), 0, keccak256(call), deadline);
        calls[id] = call;
        emit CallProposed(id, proxy, call);
    }

    /// @notice Proposes any call the timelock will make as the consortium's admin.
    function proposeCall(address target, bytes calldata data, uint64 deadline) external returns (uint256 id) {
        if (target.code.length == 0) revert NotAContract(target);
        id = _propose(ProposalKind.Call, _word(target), bytes32(0), 0, keccak256(data), deadline);
        calls[id] = data;
        emit CallProposed(id, target, data);
    }

    function _propose(ProposalKind kind, bytes32 target, bytes32 key, uint256 value, bytes32 payloadHash, uint64 deadline)
        private
        returns (uint256 id)
    {
        _member(msg.sender);
        if (deadline <= block.timestamp) revert InvalidDeadline();
        uint256 electorate = registry.memberCount();
        if (kind == ProposalKind.AddMember) {
            uint8 s = registry.stateOf(target);
            if (s != TO_AUDIT) revert InvalidTarget(target, s);
        } else if (kind == ProposalKind.RemoveMember) {
            uint8 s = registry.stateOf(target);
            if (s != AUDITED && s != SUSPENDED) revert InvalidTarget(target, s);
            if (s == AUDITED) electorate -= 1;
        }
        id = proposalCount++;
        proposals[id] = Proposal(kind, target, key, value, payloadHash, msg.sender, deadline, 0, 0, uint32(electorate), ProposalState.Open);
        emit Proposed(id, kind, target, key, value, payloadHash, msg.sender, deadline, uint32(electorate));
    }

    function vote(uint256 id, bool support) external {
        bytes32 company = _member(msg.sender);
        Proposal storage p = _proposal(id);
        if (p.state != ProposalState.Open || block.timestamp > p.deadline) revert VotingClosed(id);
        if (p.kind == ProposalKind.RemoveMember && company == p.target) revert CannotVoteOnOwnRemoval(id);
        if (voted[id][company]) revert AlreadyVoted(id, company);
        voted[id][company] = true;
        if (support) p.yes += 1;
        else p.no += 1;
        emit Voted(id, company, msg.sender, support);
    }

    /// @notice Anyone may execute once the deadline has passed; passing needs yes > 2/3 of the electorate. A passed
    /// Upgrade or Call is queued on the timelock (state Queued) and runs with executeQueued after its delay.
    function execute(uint256 id) external {
        Proposal storage p = _proposal(id);
        if (p.state != ProposalState.Open) revert AlreadyDecided(id);
        if (block.timestamp <= p.deadline) revert VotingOpen(id, p.deadline);
        bool passed = uint256(p.yes) * 3 > uint256(p.electorate) * 2;
        p.state = passed ? ProposalState.Executed : ProposalState.Failed;
        if (passed) {
            if (p.kind == ProposalKind.AddMember) registry.setState(p.target, AUDITED, p.payloadHash);
            else if (p.kind == ProposalKind.RemoveMember) registry.setState(p.target, REVOKED, p.payloadHash);
            else if (p.kind == ProposalKind.SetParam) {
                params[p.key] = p.value;
                emit ParamSet(p.key, p.value);
            } else {
                p.state = ProposalState.Queued;
                uint256 delay = timelock.getMinDelay();
                timelock.schedule(_address(p.target), 0, calls[id], bytes32(0), bytes32(id), delay);
                emit Queued(id, operationId(id), block.timestamp + delay);
            }
        }
        emit Executed(id, passed, p.yes, p.no, p.electorate);
    }

    /// @notice Runs a queued Upgrade or Call once the timelock's delay has passed; anyone may call it.
    function executeQueued(uint256 id) external {
        Proposal storage p = _proposal(id);
        if (p.state != ProposalState.Queued) revert NotQueued(id, p.state);
        bytes32 op = operationId(id);
        if (!timelock.isOperationReady(op)) revert TimelockNotReady(id, timelock.getTimestamp(op));
        p.state = ProposalState.Executed;
        timelock.execute(_address(p.target), 0, calls[id], bytes32(0), bytes32(id));
        emit QueuedExecuted(id, op);
    }

    /// @notice The timelock's id of a proposal's operation (its salt is the proposal id).
    function operationId(uint256 id) public view returns (bytes32) {
        return timelock.hashOperation(_address(proposals[id].target), 0, calls[id], bytes32(0), bytes32(id));
    }

    function callOf(uint256 id) external view returns (bytes memory) {
        return calls[id];
    }

    function getProposal(uint256 id) external view returns (Proposal memory) {
        return proposals[id];
    }

    function hasVoted(uint256 id, bytes32 companyId) external view returns (bool) {
        return voted[id][companyId];
    }

    function _member(address account) private view returns (bytes32 company) {
        uint8 state;
        (company, state) = registry.companyOf(account);
        if (company == bytes32(0) || state != AUDITED) revert NotMember(account);
    }

    function _word(address a) private pure returns (bytes32) {
        return bytes32(uint256(uint160(a)));
    }

    function _address(bytes32 w) private pure returns (address) {
        return address(uint160(uint256(w)));
    }

    function _proposal(uint256 id) private view returns (Proposal storage p) {
        p = proposals[id];
        if (p.state == ProposalState.None) revert UnknownProposal(id);
    }
}
