// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title The incentive model of PROTOCOLS.md §9 in exact integer arithmetic: Shapley shares of the simple model
/// (Thm. 2, Eqs. 7.9-7.10) and of owners alone (Thm. 1, Eq. 7.8) from a coalition score table, and the mining
/// shares P_k under PoW, PoS and PBFT (Eqs. 7.13-7.16).
/// @notice Every share is a numerator over a common denominator, so sums are exact (Eq. 7.4 holds to the unit)
/// and nothing is rounded before the payout's single floor. With N players, the weight w(s) = (N-s-1)! s! / N!
/// has numerator W(s) = (N-s-1)! s! over N!, and the Thm. 2 shares are sums of W(.) F(H') over N! F(H).
library Incentives {
    /// @dev Bounds that keep every intermediate below 2^256: 2^10 coalitions (§9 "Cost": exact up to 10 owners),
    /// 8 miners, scores below 2^32 (an F1 in units of 1e-9 fits), 64 validators.
    uint256 internal constant MAX_OWNERS = 10;
    uint256 internal constant MAX_MINERS = 8;
    uint256 internal constant MAX_SCORE = 1 << 32;
    uint256 internal constant MAX_VALIDATORS = 64;

    error TooManyPlayers(uint256 owners, uint256 miners);
    error BadScoreTable(uint256 length, uint256 expected);
    error ScoreOutOfRange(uint256 coalition, uint256 score);
    error ZeroWorth();
    error NegativeOwnersTotal();
    error BadMiningEvidence();

    struct Shares {
        /// phi_H^i numerators, one per owner (after clamping, §9 "Negative contributions").
        uint256[] owners;
        /// phi_M numerator of each (symmetric) miner.
        uint256 miner;
        /// phi_T numerator of the third party.
        uint256 thirdParty;
        uint256 denominator;
        /// True when some owner's contribution was negative and clamped to 0 (the others renormalised).
        bool clamped;
    }

    function factorial(uint256 n) internal pure returns (uint256 f) {
        f = 1;
        for (uint256 i = 2; i <= n; i++) f *= i;
    }

    function binomial(uint256 n, uint256 k) internal pure returns (uint256) {
        return factorial(n) / (factorial(k) * factorial(n - k));
    }

    /// @notice Shares of the simple model (Thm. 2) with `miners` identical miners, or of owners alone (Thm. 1) when
    /// `miners` is 0. `scores[mask]` is F1 of the model trained on the owners in `mask` (bit i = owner i), in any
    /// fixed-point unit; scores[0] = 0.
    /// Negative owner contributions (F1 is not monotone) are clamped to 0 and the owners' group renormalised to
    /// keep its total: owner i gets max(0, n_i) * O / K with O = sum n_i and K = sum max(0, n_i); multiplying every
    /// numerator and the denominator by K keeps the whole split exact.
    function simpleModel(uint256 owners, uint256 miners, uint256[] memory scores) internal pure returns (Shares memory s) {
        if (owners == 0 || owners > MAX_OWNERS || miners > MAX_MINERS) revert TooManyPlayers(owners, miners);
        uint256 masks = 1 << owners;
        if (scores.length != masks || scores[0] != 0) revert BadScoreTable(scores.length, masks);
        for (uint256 m = 1; m < masks; m++) if (scores[m] >= MAX_SCORE) revert ScoreOutOfRange(m, scores[m]);
        uint256 full = scores[masks - 1];
        if (full == 0) revert ZeroWorth();

        uint256 n = owners + miners + (miners == 0 ? 0 : 1);
        // W[s] = (n-s-1)! s! for s = 0..n-1.
        uint256[] memory w = new uint256[](n);
        for (uint256 k = 0; k < n; k++) w[k] = factorial(n - k - 1) * factorial(k);
        // Per coalition size s of the others: an owner's weight cOwner[s], the third party's cThird[s].
        uint256[] memory cOwner = new uint256[](owners);
        uint256[] memory cThird = new uint256[](owners + 1);
        for (uint256 k = 0; k < owners; k++) {
            if (miners == 0) {
                cOwner[k] = w[k];
            } else {
                for (uint256 j = 1; j <= miners; j++) cOwner[k] += binomial(miners, j) * w[k + j + 1];
            }
        }
        if (miners > 0) {
            for (uint256 k = 1; k <= owners; k++) {
                for (uint256 j = 1; j <= miners; j++) cThird[k] += binomial(miners, j) * w[k + j];
            }
        }

        int256[] memory raw = new int256[](owners);
        for (uint256 m = 0; m < masks; m++) {
            uint256 size = _popcount(m);
            if (m != 0 && miners > 0) {
                s.miner += w[size + 1] * scores[m];
                s.thirdParty += cThird[size] * scores[m];
            }
            for (uint256 i = 0; i < owners; i++) {
                if (m & (1 << i) != 0) continue;
                raw[i] += int256(cOwner[size]) * (int256(scores[m | (1 << i)]) - int256(scores[m]));
            }
        }
        s.denominator = factorial(n) * full;

        int256 total;
        uint256 kept;
        for (uint256 i = 0; i < owners; i++) {
            total += raw[i];
            if (raw[i] > 0) kept += uint256(raw[i]);
            else if (raw[i] < 0) s.clamped = true;
        }
        s.owners = new uint256[](owners);
        if (!s.clamped) {
            for (uint256 i = 0; i < owners; i++) s.owners[i] = uint256(raw[i]);
            return s;
        }
        if (total <= 0 || kept == 0) revert NegativeOwnersTotal();
        for (uint256 i = 0; i < owners; i++) if (raw[i] > 0) s.owners[i] = uint256(raw[i]) * uint256(total);
        s.miner *= kept;
        s.thirdParty *= kept;
        s.denominator *= kept;
    }

    /// @notice P_k = weight_k / sum of weights: PoW hash rates (Eq. 7.13) or PoS stakes (Eq. 7.14, coin age grows
    /// alike for everyone, so it cancels).
    function proportional(uint256[] memory weights) internal pure returns (uint256[] memory numerators, uint256 denominator) {
        numerators = weights;
        for (uint256 k = 0; k < weights.length; k++) denominator += weights[k];
        if (denominator == 0) revert BadMiningEvidence();
    }

    /// @notice PBFT health shares (Eqs. 7.15/7.16): over `rounds` blocks, q_i = how many validators were healthy in
    /// round i, and P_k = (1/n) sum over k's healthy rounds of 1/q_i, exactly: numerators over n * lcm(q).
    /// `health[k * words + w]` holds bits 256w..256w+255 of validator k (bit i set = healthy in round i).
    function pbft(uint256 validators, uint256 rounds, uint256[] memory health)
        internal
        pure
        returns (uint256[] memory numerators, uint256 denominator)
    {
        uint256 words = (rounds + 255) / 256;
        if (validators == 0 || validators > MAX_VALIDATORS || rounds == 0 || health.length != validators * words) {
            revert BadMiningEvidence();
        }
        uint256[] memory q = new uint256[](rounds);
        uint256 l = 1;
        for (uint256 i = 0; i < rounds; i++) {
            for (uint256 k = 0; k < validators; k++) if (_healthy(health, words, k, i)) q[i] += 1;
            if (q[i] > 0) l = _lcm(l, q[i]);
        }
        numerators = new uint256[](validators);
        uint256 total;
        for (uint256 k = 0; k < validators; k++) {
            for (uint256 i = 0; i < rounds; i++) if (_healthy(health, words, k, i)) numerators[k] += l / q[i];
            total += numerators[k];
        }
        if (total == 0) revert BadMiningEvidence();
        denominator = rounds * l;
    }

    function _healthy(uint256[] memory health, uint256 words, uint256 k, uint256 i) private pure returns (bool) {
        return (health[k * words + i / 256] >> (i % 256)) & 1 == 1;
    }

    function _gcd(uint256 a, uint256 b) private pure returns (uint256) {
        while (b != 0) (a, b) = (b, a % b);
        return a;
    }

    function _lcm(uint256 a, uint256 b) private pure returns (uint256) {
        return a / _gcd(a, b) * b;
    }

    function _popcount(uint256 x) private pure returns (uint256 c) {
        for (; x != 0; x &= x - 1) c++;
    }
}
