// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";

interface ICertRegistry {
    function isActive(address account) external view returns (bool);
    function hasRole(bytes32 role, address account) external view returns (bool);
}

/// @title Trusted e-data certificates (PROTOCOLS.md §7, ours): a document's salted hash, signed by its submitter,
/// with the block's timestamp and endorsements by other members. The document and its salt stay with the holder.
/// @notice Issue, revoke and dispute (§11 item 42, §2.5 "issue, revocation and dispute arbitration ... recorded on
/// chain for regulators"): the submitter or the supervisor revokes with a hashed reason; another member disputes
/// with a hashed evidence, and the supervisor (the registry's SUPERVISOR_ROLE) upholds (the certificate is revoked)
/// or rejects (it stands). A disputed or revoked certificate takes no endorsements. Signatures are EIP-191
/// personal messages, recovered by OpenZeppelin's ECDSA (canonical s only). Not upgradeable: a certificate's
/// meaning must not change under its holder.
contract Certificates {
    enum CertStatus {
        None,
        Valid,
        Disputed,
        Revoked
    }

    struct Cert {
        bytes32 docHash;
        bytes32 metaHash;
        address submitter;
        uint64 claimedAt;
        uint64 timestamp;
        uint64 blockNumber;
        uint32 endorsements;
        CertStatus status;
        /// The revocation's reason, or the open dispute's evidence (zero otherwise).
        bytes32 reasonHash;
        address challenger;
    }

    error InvalidSignature();
    error NotActiveMember(address account);
    error CertExists(bytes32 certId);
    error UnknownCert(bytes32 certId);
    error ClockSkew(uint64 claimedAt, uint256 blockTime);
    error AlreadyEndorsed(bytes32 certId, address endorser);
    error SelfEndorsement(bytes32 certId);
    error NotValid(bytes32 certId, CertStatus status);
    error NotDisputed(bytes32 certId, CertStatus status);
    error NotSubmitterOrSupervisor(bytes32 certId, address caller);
    error NotSupervisor(address caller);
    error OwnCertificate(bytes32 certId);

    event Certified(bytes32 indexed certId, bytes32 indexed docHash, address indexed submitter, bytes32 metaHash, uint64 claimedAt, bytes signature);
    event Endorsed(bytes32 indexed certId, address indexed endorser);
    event CertRevoked(bytes32 indexed certId, address indexed by, bytes32 reasonHash);
    event CertDisputed(bytes32 indexed certId, address indexed challenger, bytes32 evidenceHash);
    event DisputeResolved(bytes32 indexed certId, address indexed arbiter, bool upheld, bytes32 reasonHash);

    uint256 private constant MAX_SKEW = 1 hours;
    bytes32 private constant SUPERVISOR_ROLE = keccak256("SUPERVISOR_ROLE");

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
        (address submitter, ECDSA.RecoverError failure,) =
            ECDSA.tryRecoverCalldata(MessageHashUtils.toEthSignedMessageHash(certDigest(docHash, metaHash, claimedAt)), signature);
        if (failure != ECDSA.RecoverError.NoError) revert InvalidSignature();
        if (!registry.isActive(submitter)) revert NotActiveMember(submitter);
        uint256 t = block.timestamp;
        if (claimedAt + MAX_SKEW < t || claimedAt > t + MAX_SKEW) revert ClockSkew(claimedAt, t);
        certId = keccak256(abi.encode(docHash, submitter));
        if (certs[certId].submitter != address(0)) revert CertExists(certId);
        certs[certId] = Cert(docHash, metaHash, submitter, claimedAt, uint64(t), uint64(block.number), 0, CertStatus.Valid, bytes32(0), address(0));
        emit Certified(certId, docHash, submitter, metaHash, claimedAt, signature);
    }

    /// @notice Endorsement by another consortium member (§7 step 5).
    function endorse(bytes32 certId) external {
        Cert storage c = _cert(certId);
        if (c.status != CertStatus.Valid) revert NotValid(certId, c.status);
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        if (msg.sender == c.submitter) revert SelfEndorsement(certId);
        if (endorsedBy[certId][msg.sender]) revert AlreadyEndorsed(certId, msg.sender);
        endorsedBy[certId][msg.sender] = true;
        c.endorsements += 1;
        emit Endorsed(certId, msg.sender);
    }

    /// @notice Withdraws a certificate for good: by its submitter (e.g. the document was superseded) or by the supervisor.
    function revoke(bytes32 certId, bytes32 reasonHash) external {
        Cert storage c = _cert(certId);
        if (msg.sender != c.submitter && !_supervisor(msg.sender)) revert NotSubmitterOrSupervisor(certId, msg.sender);
        if (c.status == CertStatus.Revoked) revert NotValid(certId, c.status);
        c.status = CertStatus.Revoked;
        c.reasonHash = reasonHash;
        emit CertRevoked(certId, msg.sender, reasonHash);
    }

    /// @notice Another member contests a valid certificate (forged document, wrong claim); the supervisor decides.
    function dispute(bytes32 certId, bytes32 evidenceHash) external {
        Cert storage c = _cert(certId);
        if (c.status != CertStatus.Valid) revert NotValid(certId, c.status);
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        if (msg.sender == c.submitter) revert OwnCertificate(certId);
        c.status = CertStatus.Disputed;
        c.reasonHash = evidenceHash;
        c.challenger = msg.sender;
        emit CertDisputed(certId, msg.sender, evidenceHash);
    }

    /// @notice The supervisor's arbitration: upheld revokes the certificate, rejected restores it.
    function resolve(bytes32 certId, bool uphold, bytes32 reasonHash) external {
        if (!_supervisor(msg.sender)) revert NotSupervisor(msg.sender);
        Cert storage c = _cert(certId);
        if (c.status != CertStatus.Disputed) revert NotDisputed(certId, c.status);
        emit DisputeResolved(certId, msg.sender, uphold, reasonHash);
        if (uphold) {
            c.status = CertStatus.Revoked;
            c.reasonHash = reasonHash;
            emit CertRevoked(certId, msg.sender, reasonHash);
        } else {
            c.status = CertStatus.Valid;
            c.reasonHash = bytes32(0);
            c.challenger = address(0);
        }
    }

    function getCert(bytes32 certId) external view returns (Cert memory) {
        return certs[certId];
    }

    function _cert(bytes32 certId) private view returns (Cert storage c) {
        c = certs[certId];
        if (c.submitter == address(0)) revert UnknownCert(certId);
    }

    function _supervisor(address account) private view returns (bool) {
        return registry.hasRole(SUPERVISOR_ROLE, account);
    }
}
