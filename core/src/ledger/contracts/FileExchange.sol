// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

interface IFilesRegistry {
    function isActive(address account) external view returns (bool);
    function hasRole(bytes32 role, address account) external view returns (bool);
}

/// @title Encrypted files on IPFS with upload and download fees (PROTOCOLS.md §2.6, §11 item 39).
/// @notice The source's flow charges for an upload (store the file in IPFS, link its CID to a name, keep the CID on
/// Ethereum) and for a download (return the CID "securely"). Ours: the file is encrypted by its uploader under a
/// data key before it reaches IPFS, so the CID on chain reveals nothing; a download request pays the uploader's
/// fee and asks for that key; the uploader's participant answers with the key encrypted (ECIES) to the
/// requester's published key, in `KeyDelivered`. No central server: each side signs its own transactions.
/// @dev Fees are in the consortium's points (the Settlement ERC-20), moved with `transferFrom` after the payer's
/// `approve`. The upload fee goes to the treasury and is a governance parameter (DEFAULT_ADMIN_ROLE is the
/// TimelockController, so it changes only through a passed vote); the download fee is the uploader's price.
/// @notice Disputes go to the supervisor (PROTOCOLS.md §8 step 5, §2.5): a requester who paid and got no key, or a
/// key or file that does not match what the chain records, disputes its request with a hashed evidence; the
/// supervisor (the registry's SUPERVISOR_ROLE) upholds — the file is withdrawn from sale, no one pays for it again —
/// or rejects. The fee itself is not escrowed, so an upheld dispute records the wrong but refunds nothing.
contract FileExchange is AccessControl {
    using SafeERC20 for IERC20;

    struct File {
        address uploader;
        /// keccak256 of the ciphertext the CID names: checked by the downloader before decrypting.
        bytes32 ctHash;
        /// keccak256 of the file's description (name, size, plaintext hash), kept off chain by the uploader.
        bytes32 metaHash;
        uint256 downloadFee;
        uint64 uploadedAt;
    }

    enum RequestStatus {
        None,
        Paid,
        Delivered
    }

    struct Request {
        bytes32 cidHash;
        address requester;
        RequestStatus status;
    }

    IFilesRegistry public immutable registry;
    IERC20 public immutable points;
    address public immutable treasury;
    uint256 public uploadFee;

    enum DisputeStatus {
        None,
        Open,
        Upheld,
        Rejected
    }

    mapping(bytes32 => File) private files;
    mapping(bytes32 => Request) private requests;
    uint256 private requestCount;
    mapping(bytes32 => DisputeStatus) private disputes;
    /// cidHash → withdrawn from sale by an upheld dispute.
    mapping(bytes32 => bool) public withdrawn;

    bytes32 private constant SUPERVISOR_ROLE = keccak256("SUPERVISOR_ROLE");

    error NotActiveMember(address account);
    error AlreadyUploaded(string cid);
    error UnknownFile(bytes32 cidHash);
    error UnknownRequest(bytes32 requestId);
    error NotUploader(bytes32 requestId, address caller);
    error AlreadyDelivered(bytes32 requestId);
    error EmptyKey();
    error NotRequester(bytes32 requestId, address caller);
    error AlreadyDisputed(bytes32 requestId);
    error NotDisputed(bytes32 requestId);
    error NotSupervisor(address caller);
    error Withdrawn(bytes32 cidHash);

    event FileUploaded(bytes32 indexed cidHash, string cid, address indexed uploader, bytes32 ctHash, bytes32 metaHash, uint256 uploadFee, uint256 downloadFee);
    /// @dev Indexed by uploader, whose participant answers, and by requester, who waits for the key.
    event DownloadRequested(bytes32 indexed requestId, bytes32 cidHash, address indexed requester, address indexed uploader, uint256 fee);
    /// @param wrappedKey the file's data key encrypted to the requester's key (ECIES): readable by the requester only.
    event KeyDelivered(bytes32 indexed requestId, address indexed requester, bytes wrappedKey);
    event UploadFeeChanged(uint256 fee);
    event DownloadDisputed(bytes32 indexed requestId, address indexed requester, address indexed uploader, bytes32 evidenceHash);
    event DisputeResolved(bytes32 indexed requestId, address indexed arbiter, bool upheld, bytes32 reasonHash);
    event FileWithdrawn(bytes32 indexed cidHash, bytes32 reasonHash);

    constructor(IFilesRegistry registry_, IERC20 points_, address treasury_, address admin, uint256 uploadFee_) {
        registry = registry_;
        points = points_;
        treasury = treasury_;
        uploadFee = uploadFee_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    modifier onlyMember() {
        if (!registry.isActive(msg.sender)) revert NotActiveMember(msg.sender);
        _;
    }

    function cidHashOf(string calldata cid) public pure returns (bytes32) {
        return keccak256(bytes(cid));
    }

    /// @notice Records an encrypted file by its CID and charges the upload fee to the treasury.
    function upload(string calldata cid, bytes32 ctHash, bytes32 metaHash, uint256 downloadFee) external onlyMember {
        bytes32 cidHash = cidHashOf(cid);
        if (files[cidHash].uploader != address(0)) revert AlreadyUploaded(cid);
        uint256 fee = uploadFee;
        files[cidHash] = File(msg.sender, ctHash, metaHash, downloadFee, uint64(block.timestamp));
        if (fee > 0) points.safeTransferFrom(msg.sender, treasury, fee);
        emit FileUploaded(cidHash, cid, msg.sender, ctHash, metaHash, fee, downloadFee);
    }

    /// @notice Pays the uploader's fee and asks for the file's key; the uploader answers with `deliverKey`.
    function requestDownload(bytes32 cidHash) external onlyMember returns (bytes32 requestId) {
        File storage f = files[cidHash];
        if (f.uploader == address(0)) revert UnknownFile(cidHash);
        if (withdrawn[cidHash]) revert Withdrawn(cidHash);
        requestId = keccak256(abi.encode(cidHash, msg.sender, ++requestCount));
        requests[requestId] = Request(cidHash, msg.sender, RequestStatus.Paid);
        if (f.downloadFee > 0) points.safeTransferFrom(msg.sender, f.uploader, f.downloadFee);
        emit DownloadRequested(requestId, cidHash, msg.sender, f.uploader, f.downloadFee);
    }

    /// @notice The uploader hands the paid-for key over, once per request.
    function deliverKey(bytes32 requestId, bytes calldata wrappedKey) external {
        Request storage r = requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (files[r.cidHash].uploader != msg.sender) revert NotUploader(requestId, msg.sender);
        if (r.status == RequestStatus.Delivered) revert AlreadyDelivered(requestId);
        if (wrappedKey.length == 0) revert EmptyKey();
        r.status = RequestStatus.Delivered;
        emit KeyDelivered(requestId, r.requester, wrappedKey);
    }

    /// @notice The requester contests its paid request (no key, or a key or file not matching the chain); once.
    function dispute(bytes32 requestId, bytes32 evidenceHash) external {
        Request storage r = requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (r.requester != msg.sender) revert NotRequester(requestId, msg.sender);
        if (disputes[requestId] != DisputeStatus.None) revert AlreadyDisputed(requestId);
        disputes[requestId] = DisputeStatus.Open;
        emit DownloadDisputed(requestId, msg.sender, files[r.cidHash].uploader, evidenceHash);
    }

    /// @notice The supervisor's arbitration: upheld withdraws the file from sale, rejected closes the dispute.
    function resolveDispute(bytes32 requestId, bool uphold, bytes32 reasonHash) external {
        if (!registry.hasRole(SUPERVISOR_ROLE, msg.sender)) revert NotSupervisor(msg.sender);
        if (disputes[requestId] != DisputeStatus.Open) revert NotDisputed(requestId);
        disputes[requestId] = uphold ? DisputeStatus.Upheld : DisputeStatus.Rejected;
        emit DisputeResolved(requestId, msg.sender, uphold, reasonHash);
        if (uphold) {
            bytes32 cidHash = requests[requestId].cidHash;
            withdrawn[cidHash] = true;
            emit FileWithdrawn(cidHash, reasonHash);
        }
    }

    function disputeOf(bytes32 requestId) external view returns (DisputeStatus) {
        return disputes[requestId];
    }

    function setUploadFee(uint256 fee) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uploadFee = fee;
        emit UploadFeeChanged(fee);
    }

    function getFile(bytes32 cidHash) external view returns (File memory) {
        return files[cidHash];
    }

    function getRequest(bytes32 requestId) external view returns (Request memory) {
        return requests[requestId];
    }
}
