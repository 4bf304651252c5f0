// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title The one ECDSA recovery every contract uses for EIP-712 signatures made off chain.
library Signatures {
    /// secp256k1 order / 2: a larger s is the malleable twin of a valid signature (EIP-2), so it is refused.
    uint256 private constant HALF_N = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// The signer of `digest`, or address(0) for anything that is not a canonical 65-byte (r, s, v) signature;
    /// callers revert with their own error so it shows in their ABI.
    function recover(bytes32 digest, bytes calldata sig) internal pure returns (address) {
        if (sig.length != 65) return address(0);
        bytes32 r = bytes32(sig[0:32]);
        bytes32 s = bytes32(sig[32:64]);
        uint8 v = uint8(sig[64]);
        if (v < 27) v += 27;
        if ((v != 27 && v != 28) || uint256(s) > HALF_N) return address(0);
        return ecrecover(digest, v, r, s);
    }
}
