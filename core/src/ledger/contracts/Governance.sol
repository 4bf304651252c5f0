// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

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
contract Governance {
    enum ProposalKind {
        AddMember,
        RemoveMember,
        SetParam
    }

    enum ProposalState {
        None,
        Open,
        Executed,
        Failed
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

    IGovernedRegistry public immutable registry;
    uint256 public proposalCount;
    mapping(uint256 => Proposal) private proposals;
    mapping(uint256 => mapping(bytes32 => bool)) private voted;
    mapping(bytes32 => uint256) public params;

    constructor(IGovernedRegistry registry_) {
        registry = registry_;
    }

    function propose(ProposalKind kind, bytes32 target, bytes32 key, uint256 value, bytes32 payloadHash, uint64 deadline)
        external
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

    /// @notice Anyone may execute once the deadline has passed; passing needs yes > 2/3 of the electorate.
    function execute(uint256 id) external {
        Proposal storage p = _proposal(id);
        if (p.state != ProposalState.Open) revert AlreadyDecided(id);
        if (block.timestamp <= p.deadline) revert VotingOpen(id, p.deadline);
        bool passed = uint256(p.yes) * 3 > uint256(p.electorate) * 2;
        p.state = passed ? ProposalState.Executed : ProposalState.Failed;
        if (passed) {
            if (p.kind == ProposalKind.AddMember) registry.setState(p.target, AUDITED, p.payloadHash);
            else if (p.kind == ProposalKind.RemoveMember) registry.setState(p.target, REVOKED, p.payloadHash);
            else {
                params[p.key] = p.value;
                emit ParamSet(p.key, p.value);
            }
        }
        emit Executed(id, passed, p.yes, p.no, p.electorate);
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

    function _proposal(uint256 id) private view returns (Proposal storage p) {
        p = proposals[id];
        if (p.state == ProposalState.None) revert UnknownProposal(id);
    }
}
