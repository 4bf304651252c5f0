// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

interface ISettlementRegistry {
    function isActive(address account) external view returns (bool);
}

/// @title Points and Shapley settlements (PROTOCOLS.md §2.5 "Points", §9 "Weaknesses and our choice").
/// @notice Gaming: the payer commits the test set's hash and the training recipe before any scoring, in an earlier
/// block than its settlement. Settlement: integer points only; the payouts plus the treasury's remainder must add
/// up to the revenue exactly, so nothing is created or lost by rounding.
contract Settlement {
    struct Commitment {
        address payer;
        bytes32 testSetHash;
        bytes32 recipeHash;
        uint64 committedAt;
        uint64 blockNumber;
        bool settled;
    }

    error NotSupervisor(address caller);
    error NotActiveMember(address account);
    error AlreadyCommitted(bytes32 settlementId);
    error NotCommitted(bytes32 settlementId);
    error NotPayer(bytes32 settlementId, address caller);
    error AlreadySettled(bytes32 settlementId);
    error CommittedThisBlock(bytes32 settlementId);
    error LengthMismatch();
    error SumMismatch(uint256 total, uint256 revenue);
    error InsufficientPoints(address account, uint256 balance, uint256 needed);

    event Minted(address indexed to, uint256 amount);
    event TestSetCommitted(bytes32 indexed settlementId, address indexed payer, bytes32 testSetHash, bytes32 recipeHash);
    event Settled(bytes32 indexed settlementId, address indexed payer, uint256 revenue, uint256 toTreasury, bytes32 scoresHash);
    event Paid(bytes32 indexed settlementId, address indexed recipient, uint256 amount);

    ISettlementRegistry public immutable registry;
    address public immutable supervisor;
    mapping(address => uint256) public balanceOf;
    uint256 public treasury;
    mapping(bytes32 => Commitment) private commitments;

    constructor(ISettlementRegistry registry_, address supervisor_) {
        registry = registry_;
        supervisor = supervisor_;
    }

    /// @notice Points enter the system through the supervisor (the platform's currency, §2.5).
    function mint(address to, uint256 amount) external {
        if (msg.sender != supervisor) revert NotSupervisor(msg.sender);
        balanceOf[to] += amount;
        emit Minted(to, amount);
    }

    function commit(bytes32 settlementId, bytes32 testSetHash, bytes32 recipeHash) external {
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        if (commitments[settlementId].payer != address(0)) revert AlreadyCommitted(settlementId);
        commitments[settlementId] = Commitment(msg.sender, testSetHash, recipeHash, uint64(block.timestamp), uint64(block.number), false);
        emit TestSetCommitted(settlementId, msg.sender, testSetHash, recipeHash);
    }

    /// @param scoresHash hash of the per-coalition score table and the phi values (§9: publish hashes, not scores).
    function settle(
        bytes32 settlementId,
        uint256 revenue,
        address[] calldata recipients,
        uint256[] calldata amounts,
        uint256 toTreasury,
        bytes32 scoresHash
    ) external {
        Commitment storage c = commitments[settlementId];
        if (c.payer == address(0)) revert NotCommitted(settlementId);
        if (c.payer != msg.sender) revert NotPayer(settlementId, msg.sender);
        if (c.settled) revert AlreadySettled(settlementId);
        if (block.number <= c.blockNumber) revert CommittedThisBlock(settlementId);
        if (recipients.length != amounts.length) revert LengthMismatch();
        uint256 total = toTreasury;
        for (uint256 i = 0; i < amounts.length; i++) total += amounts[i];
        if (total != revenue) revert SumMismatch(total, revenue);
        if (balanceOf[msg.sender] < revenue) revert InsufficientPoints(msg.sender, balanceOf[msg.sender], revenue);
        c.settled = true;
        balanceOf[msg.sender] -= revenue;
        for (uint256 i = 0; i < recipients.length; i++) {
            balanceOf[recipients[i]] += amounts[i];
            emit Paid(settlementId, recipients[i], amounts[i]);
        }
        treasury += toTreasury;
        emit Settled(settlementId, msg.sender, revenue, toTreasury, scoresHash);
    }

    function getCommitment(bytes32 settlementId) external view returns (Commitment memory) {
        return commitments[settlementId];
    }
}
