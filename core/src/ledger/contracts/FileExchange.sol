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
/// or rejects.
/// @notice Escrow: a download's fee is held by this contract, not paid to the uploader. The uploader withdraws it
/// (pull) once the request's dispute window has passed since the key was delivered with no dispute, or once a
/// dispute is rejected; an upheld dispute lets the requester claim the fee back (pull) and the uploader never gets
/// it. The window counts from the delivery, not the payment: the requester can only check the key and the file
/// once the key is there, and an undelivered request is never payable to the uploader (its requester disputes it).
/// The window is the consortium's rule, not the seller's: a governance parameter (set at deployment, changed by
/// the timelock), copied into each request when it is paid, so a later change never alters a purchase's terms.
/// @dev Pull payments with checks-effects-interactions: every payout marks its request settled before the token
/// moves, and moves only that request's own escrowed amount, to the one party it belongs to.
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

    /// Where a request's escrowed fee went: still held, paid to the uploader, or refunded to the requester.
    enum Escrow {
        Held,
        Released,
        Refunded
    }

    struct Request {
        bytes32 cidHash;
        address requester;
        RequestStatus status;
        Escrow escrow;
        /// The dispute window this purchase was made under (the exchange's at payment time), in seconds.
        uint64 window;
        /// End of the dispute window: delivery time + window; 0 while no key was delivered.
        uint64 deadline;
        /// The fee paid and held here (the uploader's price at payment time).
        uint256 amount;
    }

    IFilesRegistry public immutable registry;
    IERC20 public immutable points;
    address public immutable treasury;
    uint256 public uploadFee;
    /// Seconds a requester may dispute a delivered request before its fee can go to the uploader.
    uint64 public disputeWindow;

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
    error WindowClosed(bytes32 requestId, uint64 deadline);
    error WindowOpen(bytes32 requestId, uint64 deadline);
    error NotDelivered(bytes32 requestId);
    error DisputeOpen(bytes32 requestId);
    error DisputeUpheld(bytes32 requestId);
    error NotUpheld(bytes32 requestId);
    error AlreadySettled(bytes32 requestId, Escrow escrow);

    event FileUploaded(bytes32 indexed cidHash, string cid, address indexed uploader, bytes32 ctHash, bytes32 metaHash, uint256 uploadFee, uint256 downloadFee);
    /// @dev Indexed by uploader, whose participant answers, and by requester, who waits for the key.
    event DownloadRequested(bytes32 indexed requestId, bytes32 cidHash, address indexed requester, address indexed uploader, uint256 fee);
    /// @param wrappedKey the file's data key encrypted to the requester's key (ECIES): readable by the requester only.
    event KeyDelivered(bytes32 indexed requestId, address indexed requester, bytes wrappedKey);
    event UploadFeeChanged(uint256 fee);
    event DownloadDisputed(bytes32 indexed requestId, address indexed requester, address indexed uploader, bytes32 evidenceHash);
    event DisputeResolved(bytes32 indexed requestId, address indexed arbiter, bool upheld, bytes32 reasonHash);
    event FileWithdrawn(bytes32 indexed cidHash, bytes32 reasonHash);
    /// @param deadline the end of the request's dispute window (delivery time + its window).
    event DisputeWindowStarted(bytes32 indexed requestId, uint64 deadline);
    event PaymentReleased(bytes32 indexed requestId, address indexed uploader, uint256 amount);
    event PaymentRefunded(bytes32 indexed requestId, address indexed requester, uint256 amount);
    event DisputeWindowSet(uint64 seconds_);

    constructor(IFilesRegistry registry_, IERC20 points_, address treasury_, address admin, uint256 uploadFee_, uint64 disputeWindow_) {
        registry = registry_;
        points = points_;
        treasury = treasury_;
        uploadFee = uploadFee_;
        disputeWindow = disputeWindow_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        emit DisputeWindowSet(disputeWindow_);
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

    /// @notice Pays the uploader's fee into escrow and asks for the file's key; the uploader answers with `deliverKey`.
    function requestDownload(bytes32 cidHash) external onlyMember returns (bytes32 requestId) {
        File storage f = files[cidHash];
        if (f.uploader == address(0)) revert UnknownFile(cidHash);
        if (withdrawn[cidHash]) revert Withdrawn(cidHash);
        requestId = keccak256(abi.encode(cidHash, msg.sender, ++requestCount));
        uint256 fee = f.downloadFee;
        requests[requestId] = Request(cidHash, msg.sender, RequestStatus.Paid, Escrow.Held, disputeWindow, 0, fee);
        // Into this contract, not to the uploader: the fee waits out the dispute window.
        if (fee > 0) points.safeTransferFrom(msg.sender, address(this), fee);
        emit DownloadRequested(requestId, cidHash, msg.sender, f.uploader, fee);
    }

    /// @notice The uploader hands the paid-for key over, once per request.
    function deliverKey(bytes32 requestId, bytes calldata wrappedKey) external {
        Request storage r = requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (files[r.cidHash].uploader != msg.sender) revert NotUploader(requestId, msg.sender);
        if (r.status == RequestStatus.Delivered) revert AlreadyDelivered(requestId);
        if (r.escrow != Escrow.Held) revert AlreadySettled(requestId, r.escrow);
        // Refunded, or about to be: the requester does not get the key for free.
        if (disputes[requestId] == DisputeStatus.Upheld) revert DisputeUpheld(requestId);
        if (wrappedKey.length == 0) revert EmptyKey();
        r.status = RequestStatus.Delivered;
        r.deadline = uint64(block.timestamp) + r.window;
        emit KeyDelivered(requestId, r.requester, wrappedKey);
        emit DisputeWindowStarted(requestId, r.deadline);
    }

    /// @notice The requester contests its paid request (no key, or a key or file not matching the chain); once.
    /// A request whose key was delivered is contested within its window; one without a key at any time.
    function dispute(bytes32 requestId, bytes32 evidenceHash) external {
        Request storage r = requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (r.requester != msg.sender) revert NotRequester(requestId, msg.sender);
        if (disputes[requestId] != DisputeStatus.None) revert AlreadyDisputed(requestId);
        if (r.escrow != Escrow.Held) revert AlreadySettled(requestId, r.escrow);
        if (r.status == RequestStatus.Delivered && block.timestamp > r.deadline) revert WindowClosed(requestId, r.deadline);
        disputes[requestId] = DisputeStatus.Open;
        emit DownloadDisputed(requestId, msg.sender, files[r.cidHash].uploader, evidenceHash);
    }

    /// @notice The supervisor's arbitration: upheld withdraws the file from sale and lets the requester claim its fee
    /// back (`claimRefund`); rejected closes the dispute and lets the uploader withdraw the fee once the key is delivered.
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

    /// @notice The uploader takes a request's escrowed fee: after its window passed with no dispute, or once its
    /// dispute was rejected. Never for an undelivered request, an open or upheld dispute, or twice.
    function withdrawPayment(bytes32 requestId) external {
        Request storage r = requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        address uploader = files[r.cidHash].uploader;
        if (uploader != msg.sender) revert NotUploader(requestId, msg.sender);
        if (r.escrow != Escrow.Held) revert AlreadySettled(requestId, r.escrow);
        DisputeStatus d = disputes[requestId];
        if (d == DisputeStatus.Open) revert DisputeOpen(requestId);
        if (d == DisputeStatus.Upheld) revert DisputeUpheld(requestId);
        if (r.status != RequestStatus.Delivered) revert NotDelivered(requestId);
        if (d == DisputeStatus.None && block.timestamp <= r.deadline) revert WindowOpen(requestId, r.deadline);
        uint256 amount = r.amount;
        r.escrow = Escrow.Released;
        emit PaymentReleased(requestId, uploader, amount);
        if (amount > 0) points.safeTransfer(uploader, amount);
    }

    /// @notice The requester takes its fee back after the supervisor upheld its dispute; once.
    function claimRefund(bytes32 requestId) external {
        Request storage r = requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (r.requester != msg.sender) revert NotRequester(requestId, msg.sender);
        if (r.escrow != Escrow.Held) revert AlreadySettled(requestId, r.escrow);
        if (disputes[requestId] != DisputeStatus.Upheld) revert NotUpheld(requestId);
        uint256 amount = r.amount;
        r.escrow = Escrow.Refunded;
        emit PaymentRefunded(requestId, msg.sender, amount);
        if (amount > 0) points.safeTransfer(msg.sender, amount);
    }

    function disputeOf(bytes32 requestId) external view returns (DisputeStatus) {
        return disputes[requestId];
    }

    function setUploadFee(uint256 fee) external onlyRole(DEFAULT_ADMIN_ROLE) {
        uploadFee = fee;
        emit UploadFeeChanged(fee);
    }

    /// @notice The dispute window of requests paid from now on (a passed vote: the timelock is the admin).
    function setDisputeWindow(uint64 seconds_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        disputeWindow = seconds_;
        emit DisputeWindowSet(seconds_);
    }

    function getFile(bytes32 cidHash) external view returns (File memory) {
        return files[cidHash];
    }

    function getRequest(bytes32 requestId) external view returns (Request memory) {
        return requests[requestId];
    }
}
