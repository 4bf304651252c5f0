// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Signatures} from "./lib/Signatures.sol";

interface ICertRegistry {
    function isActive(address account) external view returns (bool);
}

/// @title Trusted e-data certificates (PROTOCOLS.md §7, ours): a document's salted hash, signed by its submitter,
/// with the block's timestamp and endorsements by other members. The document and its salt stay with the holder.
contract Certificates {
    struct Cert {
        bytes32 docHash;
        bytes32 metaHash;
        address submitter;
        uint64 claimedAt;
        uint64 timestamp;
        uint64 blockNumber;
        uint32 endorsements;
    }

    error InvalidSignature();
    error NotActiveMember(address account);
    error CertExists(bytes32 certId);
    error UnknownCert(bytes32 certId);
    error ClockSkew(uint64 claimedAt, uint256 blockTime);
    error AlreadyEndorsed(bytes32 certId, address endorser);
    error SelfEndorsement(bytes32 certId);

    event Certified(bytes32 indexed certId, bytes32 indexed docHash, address indexed submitter, bytes32 metaHash, uint64 claimedAt, bytes signature);
    event Endorsed(bytes32 indexed certId, address indexed endorser);

    uint256 private constant MAX_SKEW = 1 hours;

    ICertRegistry public immutable registry;
    mapping(bytes32 => Cert) private certs;
    mapping(bytes32 => mapping(address => bool)) private endorsedBy;

    constructor(ICertRegistry registry_) {
        registry = registry_;
    }

    /// @notice What the submitter signs (EIP-191 personal message of this 32-byte digest): Sig(docHash || metaHash || ts).
    function certDigest(bytes32 docHash, bytes32 metaHash, uint64 claimedAt) public pure returns (bytes32) {
        return keccak256(abi.encode("jointly.cert.v1", docHash, metaHash, claimedAt));
    }

    /// @notice Anyone may relay; the signature names the submitter, who must be an active member.
    function certify(bytes32 docHash, bytes32 metaHash, uint64 claimedAt, bytes calldata signature) external returns (bytes32 certId) {
        address submitter = _recover(
            keccak256(abi.encodePacked("\x19Ethereum Signed Message:\n32", certDigest(docHash, metaHash, claimedAt))), signature
        );
        if (!registry.isActive(submitter)) revert NotActiveMember(submitter);
        uint256 t = block.timestamp;
        if (claimedAt + MAX_SKEW < t || claimedAt > t + MAX_SKEW) revert ClockSkew(claimedAt, t);
        certId = keccak256(abi.encode(docHash, submitter));
        if (certs[certId].submitter != address(0)) revert CertExists(certId);
        certs[certId] = Cert(docHash, metaHash, submitter, claimedAt, uint64(t), uint64(block.number), 0);
        emit Certified(certId, docHash, submitter, metaHash, claimedAt, signature);
    }

    /// @notice Endorsement by another consortium member (§7 step 5).
    function endorse(bytes32 certId) external {
        Cert storage c = certs[certId];
        if (c.submitter == address(0)) revert UnknownCert(certId);
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        if (msg.sender == c.submitter) revert SelfEndorsement(certId);
        if (endorsedBy[certId][msg.sender]) revert AlreadyEndorsed(certId, msg.sender);
        endorsedBy[certId][msg.sender] = true;
        c.endorsements += 1;
        emit Endorsed(certId, msg.sender);
    }

    function getCert(bytes32 certId) external view returns (Cert memory) {
        return certs[certId];
    }

    function _recover(bytes32 digest, bytes calldata sig) private pure returns (address signer) {
        signer = Signatures.recover(digest, sig);
        if (signer == address(0)) revert InvalidSignature();
    }
}
