// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ERC20Upgradeable} from "@openzeppelin/contracts-upgradeable/token/ERC20/ERC20Upgradeable.sol";
import {EIP712Upgradeable} from "@openzeppelin/contracts-upgradeable/utils/cryptography/EIP712Upgradeable.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {Governed} from "./lib/Governed.sol";
import {Incentives} from "./lib/Incentives.sol";

interface ISettlementRegistry {
    function isActive(address account) external view returns (bool);
}

/// @title Points and Shapley settlements that close (PROTOCOLS.md §2.5 "Points", §9 "Weaknesses and our choice").
/// @notice Points are an ERC-20 (OpenZeppelin, 0 decimals: one unit is one point) minted by the supervisor.
/// A settlement runs:
///   1. commit: the payer T commits the test set's hash and the training recipe before any scoring (§9 "Gaming");
///   2. post: in a later block, T's EIP-712-signed Valuation (anyone may relay it) names every revenue stream of
///      the full cooperation model (Thm. 3): per service and third party, price x uses (Eq. 7.5), the owners
///      holding the data with their Shapley numerators, the per-miner and third-party numerators over one common
///      denominator (checked to add up exactly, Eq. 7.4), and the hash of the salted score table; plus the miners
///      and the evidence of their shares (PoW hash rates, PoS stakes or PBFT health, computed here, Eqs. 7.13-7.16).
///      The revenue moves into escrow;
///   3. dispute window: any member may challenge with an evidence hash (the supervisor arbitrates: uphold, which
///      overturns the valuation and refunds the payer, or reject, with reasons hashed), or reveal a stream's score
///      table, which this contract checks against the posted numerators by recomputing Thm. 1/2 exactly: a
///      mismatch overturns the valuation at once, without an arbiter;
///   4. finalize: after the window, anyone triggers the payout in integer points: each share floors, and the
///      remainder goes to the treasury, so nothing is created or lost.
/// Only hashes of score tables go on chain unless a dispute reveals one (§9 "Privacy").
/// Upgradeable (UUPS, Governed): it holds balances and escrow. Pausing stops minting, transfers, commitments,
/// posts and payouts; disputes and arbitration go on.
contract Settlement is Governed, ERC20Upgradeable, EIP712Upgradeable {
    enum Status {
        None,
        Committed,
        Posted,
        Disputed,
        Finalized,
        Overturned
    }

    enum MiningRule {
        None,
        PoW,
        PoS,
        PBFT
    }

    /// @notice One revenue stream of Thm. 3: service r sold by third party T_j, with the owners H_r holding data
    /// of type r. Shares are numerators over `denominator`: sum(ownerShares) + |M| * minerShare + thirdPartyShare
    /// must equal it.
    struct Stream {
        uint256 price;
        uint256 uses;
        address thirdParty;
        address[] owners;
        uint256[] ownerShares;
        uint256 minerShare;
        uint256 thirdPartyShare;
        uint256 denominator;
        /// keccak256(abi.encode(salt, scores)) of the stream's coalition score table (scores[mask], §9 "Privacy").
        bytes32 scoresHash;
    }

    /// @notice The miners (validators) who recorded the sharing, and the evidence their shares P_k come from.
    struct Miners {
        MiningRule rule;
        address[] accounts;
        /// PoW hash rates or PoS stakes, one per account (empty for PBFT).
        uint256[] weights;
        /// PBFT: the number of blocks n in the period.
        uint32 rounds;
        /// PBFT: accounts.length * ceil(rounds / 256) words; bit i of validator k's words = healthy in round i.
        uint256[] health;
    }

    /// @notice What T signs and posts: PROTOCOLS.md §9 `Settlement{period, v, phiH[], phiM, phiT, P[], testSetHash,
    /// modelHashes[]}`, refined into streams (Thm. 3) with v = sum of price x uses and P computed from `miners`.
    struct Valuation {
        bytes32 settlementId;
        uint64 period;
        Stream[] streams;
        Miners miners;
        bytes32 testSetHash;
        bytes32[] modelHashes;
    }

    struct Record {
        address payer;
        bytes32 testSetHash;
        bytes32 recipeHash;
        uint64 committedBlock;
        uint64 disputeDeadline;
        Status status;
        /// EIP-712 struct hash of the posted Valuation (it is in the Posted event; finalize takes it back as calldata).
        bytes32 valuationHash;
        uint256 revenue;
        address challenger;
        bytes32 evidenceHash;
    }

    error NotSupervisor(address caller);
    error NotActiveMember(address account);
    error AlreadyCommitted(bytes32 settlementId);
    error NotCommitted(bytes32 settlementId);
    error WrongStatus(bytes32 settlementId, Status status);
    error CommittedThisBlock(bytes32 settlementId);
    error NotPayer(bytes32 settlementId, address signer);
    error InvalidSignature();
    error TestSetMismatch(bytes32 committed, bytes32 posted);
    error EmptyValuation();
    error LengthMismatch(uint256 stream);
    error SharesDoNotAddUp(uint256 stream, uint256 total, uint256 denominator);
    error NoRecipient(uint256 stream);
    error BadMiners();
    error ValuationMismatch(bytes32 settlementId);
    error WindowClosed(bytes32 settlementId, uint64 deadline);
    error WindowOpen(bytes32 settlementId, uint64 deadline);
    error AlreadyDisputed(bytes32 settlementId, address member);
    error ScoresMismatch(bytes32 settlementId, uint256 stream);
    error ValuationMatchesScores(bytes32 settlementId, uint256 stream);

    event TestSetCommitted(bytes32 indexed settlementId, address indexed payer, bytes32 testSetHash, bytes32 recipeHash);
    event Posted(bytes32 indexed settlementId, address indexed payer, bytes32 valuationHash, uint256 revenue, uint64 disputeDeadline, Valuation valuation);
    event Disputed(bytes32 indexed settlementId, address indexed challenger, bytes32 evidenceHash);
    event Arbitrated(bytes32 indexed settlementId, address indexed arbiter, bool upheld, bytes32 reasonHash);
    /// @notice A revealed score table gave other shares than the posted ones (recomputed here, Thm. 1/2).
    event ScoresRefuted(bytes32 indexed settlementId, address indexed challenger, uint256 stream);
    event Overturned(bytes32 indexed settlementId, uint256 refunded);
    event Paid(bytes32 indexed settlementId, address indexed recipient, uint256 amount);
    event Settled(bytes32 indexed settlementId, address indexed payer, uint256 revenue, uint256 toTreasury);
    event DisputeWindowSet(uint64 seconds_);
    event TreasurySet(address indexed treasury);

    bytes32 private constant MINERS_TYPE = keccak256("Miners(uint8 rule,address[] accounts,uint256[] weights,uint32 rounds,uint256[] health)");
    bytes32 private constant STREAM_TYPE = keccak256(
        "Stream(uint256 price,uint256 uses,address thirdParty,address[] owners,uint256[] ownerShares,uint256 minerShare,uint256 thirdPartyShare,uint256 denominator,bytes32 scoresHash)"
    );
    bytes32 public constant VALUATION_TYPEHASH = keccak256(
        "Valuation(bytes32 settlementId,uint64 period,Stream[] streams,Miners miners,bytes32 testSetHash,bytes32[] modelHashes)"
        "Miners(uint8 rule,address[] accounts,uint256[] weights,uint32 rounds,uint256[] health)"
        "Stream(uint256 price,uint256 uses,address thirdParty,address[] owners,uint256[] ownerShares,uint256 minerShare,uint256 thirdPartyShare,uint256 denominator,bytes32 scoresHash)"
    );

    ISettlementRegistry public registry;
    /// @notice Where the remainders of the floors go (the consortium's timelock: spent by vote).
    address public treasury;
    uint64 public disputeWindow;
    mapping(bytes32 => Record) private records;
    mapping(bytes32 => mapping(address => bool)) private challenged;

    function initialize(ISettlementRegistry registry_, address admin, address supervisor, address treasury_, uint64 disputeWindow_)
        external
        initializer
    {
        if (address(registry_) == address(0) || treasury_ == address(0)) revert ZeroAddress();
        __Governed_init(admin, supervisor);
        __ERC20_init("Jointly Points", "JPT");
        __EIP712_init("Jointly Settlement", "1");
        registry = registry_;
        treasury = treasury_;
        disputeWindow = disputeWindow_;
        emit TreasurySet(treasury_);
        emit DisputeWindowSet(disputeWindow_);
    }

    /// @notice One unit is one point: payouts are whole points (§9 "integer token units").
    function decimals() public pure override returns (uint8) {
        return 0;
    }

    // ---------------------------------------------------------------- administration

    /// @notice Points enter the system through the supervisor (the platform's currency, §2.5).
    function mint(address to, uint256 amount) external {
        if (!hasRole(SUPERVISOR_ROLE, msg.sender)) revert NotSupervisor(msg.sender);
        _mint(to, amount);
    }

    function setDisputeWindow(uint64 seconds_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        disputeWindow = seconds_;
        emit DisputeWindowSet(seconds_);
    }

    function setTreasury(address treasury_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (treasury_ == address(0)) revert ZeroAddress();
        treasury = treasury_;
        emit TreasurySet(treasury_);
    }

    // ---------------------------------------------------------------- the settlement flow

    function commit(bytes32 settlementId, bytes32 testSetHash, bytes32 recipeHash) external whenNotPaused {
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        Record storage r = records[settlementId];
        if (r.status != Status.None) revert AlreadyCommitted(settlementId);
        r.payer = msg.sender;
        r.testSetHash = testSetHash;
        r.recipeHash = recipeHash;
        r.committedBlock = uint64(block.number);
        r.status = Status.Committed;
        emit TestSetCommitted(settlementId, msg.sender, testSetHash, recipeHash);
    }

    /// @notice Posts the payer's signed valuation and escrows its revenue; the dispute window starts. After an
    /// overturned valuation the payer may post a corrected one under the same commitment.
    function post(Valuation calldata v, bytes calldata signature) external whenNotPaused {
        bytes32 id = v.settlementId;
        Record storage r = records[id];
        if (r.status == Status.None) revert NotCommitted(id);
        if (r.status != Status.Committed && r.status != Status.Overturned) revert WrongStatus(id, r.status);
        if (block.number <= r.committedBlock) revert CommittedThisBlock(id);
        if (v.testSetHash != r.testSetHash) revert TestSetMismatch(r.testSetHash, v.testSetHash);
        bytes32 structHash = hashValuation(v);
        (address signer, ECDSA.RecoverError failure,) = ECDSA.tryRecoverCalldata(_hashTypedDataV4(structHash), signature);
        if (failure != ECDSA.RecoverError.NoError) revert InvalidSignature();
        if (signer != r.payer) revert NotPayer(id, signer);
        uint256 revenue = _check(v);

        r.status = Status.Posted;
        r.valuationHash = structHash;
        r.revenue = revenue;
        r.disputeDeadline = uint64(block.timestamp) + disputeWindow;
        r.challenger = address(0);
        r.evidenceHash = bytes32(0);
        _transfer(r.payer, address(this), revenue);
        emit Posted(id, r.payer, structHash, revenue, r.disputeDeadline, v);
    }

    /// @notice A member challenges a posted valuation within the window; the supervisor arbitrates. One challenge
    /// per member and settlement, so nobody can hold a payout hostage by disputing again and again.
    function dispute(bytes32 settlementId, bytes32 evidenceHash) external {
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        Record storage r = _posted(settlementId);
        if (challenged[settlementId][msg.sender]) revert AlreadyDisputed(settlementId, msg.sender);
        challenged[settlementId][msg.sender] = true;
        r.status = Status.Disputed;
        r.challenger = msg.sender;
        r.evidenceHash = evidenceHash;
        emit Disputed(settlementId, msg.sender, evidenceHash);
    }

    /// @notice The supervisor's decision on an open dispute. Upheld: the valuation is overturned and the escrow
    /// refunded (the payer may post a corrected one). Rejected: the valuation stands and pays out once the window
    /// has passed.
    function arbitrate(bytes32 settlementId, bool uphold, bytes32 reasonHash) external {
        if (!hasRole(SUPERVISOR_ROLE, msg.sender)) revert NotSupervisor(msg.sender);
        Record storage r = records[settlementId];
        if (r.status != Status.Disputed) revert WrongStatus(settlementId, r.status);
        emit Arbitrated(settlementId, msg.sender, uphold, reasonHash);
        if (uphold) _overturn(settlementId, r);
        else r.status = Status.Posted;
    }

    /// @notice Verifies a posted stream on chain: a member reveals its salted score table, this contract recomputes
    /// the Shapley numerators of Thm. 2 (Thm. 1 without miners) exactly and compares them, as fractions, with the
    /// posted ones. Any difference overturns the valuation at once; agreement reverts (nothing to dispute). The
    /// reveal makes the scores public: a member's choice, only when it doubts the valuation.
    function disputeWithScores(Valuation calldata v, uint256 stream, bytes32 salt, uint256[] calldata scores) external {
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        bytes32 id = v.settlementId;
        Record storage r = records[id];
        if (r.status != Status.Posted && r.status != Status.Disputed) revert WrongStatus(id, r.status);
        if (block.timestamp > r.disputeDeadline) revert WindowClosed(id, r.disputeDeadline);
        if (hashValuation(v) != r.valuationHash) revert ValuationMismatch(id);
        Stream calldata s = v.streams[stream];
        if (keccak256(abi.encode(salt, scores)) != s.scoresHash) revert ScoresMismatch(id, stream);
        Incentives.Shares memory expected = Incentives.simpleModel(s.owners.length, v.miners.accounts.length, scores);
        bool same = _sameFraction(s.minerShare, s.denominator, expected.miner, expected.denominator)
            && _sameFraction(s.thirdPartyShare, s.denominator, expected.thirdParty, expected.denominator);
        for (uint256 i = 0; same && i < s.owners.length; i++) {
            same = _sameFraction(s.ownerShares[i], s.denominator, expected.owners[i], expected.denominator);
        }
        if (same) revert ValuationMatchesScores(id, stream);
        emit ScoresRefuted(id, msg.sender, stream);
        _overturn(id, r);
    }

    /// @notice Pays a posted valuation after its dispute window: every share floors to whole points and the
    /// remainder goes to the treasury. Anyone may call it with the posted valuation (from the Posted event).
    function finalize(Valuation calldata v) external whenNotPaused {
        bytes32 id = v.settlementId;
        Record storage r = records[id];
        if (r.status != Status.Posted) revert WrongStatus(id, r.status);
        if (block.timestamp <= r.disputeDeadline) revert WindowOpen(id, r.disputeDeadline);
        if (hashValuation(v) != r.valuationHash) revert ValuationMismatch(id);
        r.status = Status.Finalized;
        (address[] memory to, uint256[] memory amounts, uint256 toTreasury) = payouts(v);
        for (uint256 i = 0; i < to.length; i++) {
            if (amounts[i] == 0) continue;
            _transfer(address(this), to[i], amounts[i]);
            emit Paid(id, to[i], amounts[i]);
        }
        if (toTreasury > 0) _transfer(address(this), treasury, toTreasury);
        emit Settled(id, r.payer, r.revenue, toTreasury);
    }

    // ---------------------------------------------------------------- the model, computed here

    /// @notice What a valuation pays, per recipient entry (owners, then miners, then the third party, stream by
    /// stream; a party in several streams appears several times) and the treasury's remainder.
    /// Owner i of a stream: floor(SP * ownerShare_i / D). Miners: the group's floor(SP * |M| * minerShare / D), then
    /// miner k gets floor(group * P_k). Third party: floor(SP * thirdPartyShare / D). SP = price * uses (Eq. 7.5).
    function payouts(Valuation calldata v) public pure returns (address[] memory to, uint256[] memory amounts, uint256 toTreasury) {
        uint256 m = v.miners.accounts.length;
        (uint256[] memory p, uint256 pDen) = miningShares(v.miners);
        uint256 entries;
        for (uint256 j = 0; j < v.streams.length; j++) entries += v.streams[j].owners.length + m + 1;
        to = new address[](entries);
        amounts = new uint256[](entries);
        uint256 e;
        uint256 paid;
        uint256 revenue;
        for (uint256 j = 0; j < v.streams.length; j++) {
            Stream calldata s = v.streams[j];
            uint256 sp = s.price * s.uses;
            revenue += sp;
            for (uint256 i = 0; i < s.owners.length; i++) {
                to[e] = s.owners[i];
                amounts[e] = Math.mulDiv(sp, s.ownerShares[i], s.denominator);
                paid += amounts[e++];
            }
            uint256 group = m == 0 ? 0 : Math.mulDiv(sp, m * s.minerShare, s.denominator);
            for (uint256 k = 0; k < m; k++) {
                to[e] = v.miners.accounts[k];
                amounts[e] = Math.mulDiv(group, p[k], pDen);
                paid += amounts[e++];
            }
            to[e] = s.thirdParty;
            amounts[e] = Math.mulDiv(sp, s.thirdPartyShare, s.denominator);
            paid += amounts[e++];
        }
        toTreasury = revenue - paid;
    }

    /// @notice P_k of every miner as numerators over one denominator, from the valuation's evidence.
    function miningShares(Miners calldata miners) public pure returns (uint256[] memory numerators, uint256 denominator) {
        uint256 m = miners.accounts.length;
        if (miners.rule == MiningRule.None) {
            if (m != 0) revert BadMiners();
            return (new uint256[](0), 1);
        }
        if (m == 0) revert BadMiners();
        if (miners.rule == MiningRule.PBFT) return Incentives.pbft(m, miners.rounds, miners.health);
        if (miners.weights.length != m) revert BadMiners();
        return Incentives.proportional(miners.weights);
    }

    /// @notice Thm. 2's (Thm. 1's without miners) exact shares from a coalition score table, for anyone to check a
    /// valuation off chain with an eth_call, without revealing the scores.
    function simpleModel(uint256 owners, uint256 miners, uint256[] calldata scores)
        external
        pure
        returns (uint256[] memory ownerShares, uint256 minerShare, uint256 thirdPartyShare, uint256 denominator, bool clamped)
    {
        Incentives.Shares memory s = Incentives.simpleModel(owners, miners, scores);
        return (s.owners, s.miner, s.thirdParty, s.denominator, s.clamped);
    }

    // ---------------------------------------------------------------- views

    function getRecord(bytes32 settlementId) external view returns (Record memory) {
        return records[settlementId];
    }

    /// @notice The EIP-712 digest the payer signs for `v`.
    function valuationDigest(Valuation calldata v) external view returns (bytes32) {
        return _hashTypedDataV4(hashValuation(v));
    }

    /// @notice EIP-712 hashStruct of a Valuation (arrays of values hash their 32-byte words; of structs, their hashes).
    function hashValuation(Valuation calldata v) public pure returns (bytes32) {
        bytes32[] memory streams = new bytes32[](v.streams.length);
        for (uint256 j = 0; j < v.streams.length; j++) streams[j] = _hashStream(v.streams[j]);
        Miners calldata mi = v.miners;
        bytes32 miners = keccak256(
            abi.encode(MINERS_TYPE, mi.rule, keccak256(abi.encodePacked(mi.accounts)), keccak256(abi.encodePacked(mi.weights)), mi.rounds, keccak256(abi.encodePacked(mi.health)))
        );
        return keccak256(
            abi.encode(VALUATION_TYPEHASH, v.settlementId, v.period, keccak256(abi.encodePacked(streams)), miners, v.testSetHash, keccak256(abi.encodePacked(v.modelHashes)))
        );
    }

    // ---------------------------------------------------------------- internals

    function _hashStream(Stream calldata s) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                STREAM_TYPE,
                s.price,
                s.uses,
                s.thirdParty,
                keccak256(abi.encodePacked(s.owners)),
                keccak256(abi.encodePacked(s.ownerShares)),
                s.minerShare,
                s.thirdPartyShare,
                s.denominator,
                s.scoresHash
            )
        );
    }

    /// @dev The revenue v(N) = sum of price x uses, after checking every stream adds up (Eq. 7.4) and the mining
    /// evidence yields shares.
    function _check(Valuation calldata v) private view returns (uint256 revenue) {
        if (v.streams.length == 0) revert EmptyValuation();
        uint256 m = v.miners.accounts.length;
        miningShares(v.miners);
        for (uint256 j = 0; j < v.streams.length; j++) {
            Stream calldata s = v.streams[j];
            if (s.owners.length == 0 || s.owners.length != s.ownerShares.length || s.denominator == 0) revert LengthMismatch(j);
            uint256 total = m * s.minerShare + s.thirdPartyShare;
            for (uint256 i = 0; i < s.owners.length; i++) {
                if (!registry.isActive(s.owners[i])) revert NotActiveMember(s.owners[i]);
                total += s.ownerShares[i];
            }
            if (total != s.denominator) revert SharesDoNotAddUp(j, total, s.denominator);
            if (s.thirdParty == address(0) && s.thirdPartyShare != 0) revert NoRecipient(j);
            revenue += s.price * s.uses;
        }
        if (revenue == 0) revert EmptyValuation();
    }

    function _posted(bytes32 settlementId) private view returns (Record storage r) {
        r = records[settlementId];
        if (r.status != Status.Posted) revert WrongStatus(settlementId, r.status);
        if (block.timestamp > r.disputeDeadline) revert WindowClosed(settlementId, r.disputeDeadline);
    }

    function _overturn(bytes32 settlementId, Record storage r) private {
        r.status = Status.Overturned;
        uint256 refund = r.revenue;
        r.revenue = 0;
        _transfer(address(this), r.payer, refund);
        emit Overturned(settlementId, refund);
    }

    /// @dev a/b == c/d without overflow: compares the 512-bit products a*d and c*b.
    function _sameFraction(uint256 a, uint256 b, uint256 c, uint256 d) private pure returns (bool) {
        (uint256 h1, uint256 l1) = Math.mul512(a, d);
        (uint256 h2, uint256 l2) = Math.mul512(c, b);
        return h1 == h2 && l1 == l2;
    }

    /// @dev Points do not move while paused (the escrow refunds of disputes excepted: a paused contract must still
    /// be able to undo a valuation found wrong).
    function _update(address from, address to, uint256 value) internal override {
        if (paused() && from != address(this)) revert EnforcedPause();
        super._update(from, to, value);
    }
}
