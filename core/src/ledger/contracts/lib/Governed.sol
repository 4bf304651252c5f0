// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {Initializable} from "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import {UUPSUpgradeable} from "@openzeppelin/contracts-upgradeable/proxy/utils/UUPSUpgradeable.sol";
import {AccessControlUpgradeable} from "@openzeppelin/contracts-upgradeable/access/AccessControlUpgradeable.sol";
import {PausableUpgradeable} from "@openzeppelin/contracts-upgradeable/utils/PausableUpgradeable.sol";
import {ERC1967Utils} from "@openzeppelin/contracts/proxy/ERC1967/ERC1967Utils.sol";

/// @title What every upgradeable Jointly contract shares: an implementation behind an ERC-1967 UUPS proxy, roles
/// and pausing, all from OpenZeppelin Contracts 5.
/// @notice Roles:
///   - DEFAULT_ADMIN_ROLE and UPGRADER_ROLE: the consortium's TimelockController once the deployment is handed
///     over (`handOver`), so role changes and upgrades take a passed vote and the timelock's delay;
///   - SUPERVISOR_ROLE: the regulator (PROTOCOLS.md §2.1, may be a multisig); PAUSER_ROLE: the supervisor too, to
///     stop new activity during an incident (what pausing stops is each contract's choice, stated there).
/// OpenZeppelin's bases keep their state in ERC-7201 namespaces, so a contract's own variables are the only ones
/// in its linear storage layout, which the build checks against the released one (StorageLayout.ts).
abstract contract Governed is Initializable, AccessControlUpgradeable, PausableUpgradeable, UUPSUpgradeable {
    bytes32 public constant SUPERVISOR_ROLE = keccak256("SUPERVISOR_ROLE");
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    bytes32 public constant UPGRADER_ROLE = keccak256("UPGRADER_ROLE");

    error ZeroAddress();

    event HandedOver(address indexed from, address indexed to);

    /// @custom:oz-upgrades-unsafe-allow constructor
    constructor() {
        // The implementation itself is never initialized: only proxies are.
        _disableInitializers();
    }

    /// @param admin the bootstrap admin (the deployer), who wires the deployment and then hands over to the timelock.
    function __Governed_init(address admin, address supervisor) internal onlyInitializing {
        if (admin == address(0) || supervisor == address(0)) revert ZeroAddress();
        __AccessControl_init();
        __Pausable_init();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(UPGRADER_ROLE, admin);
        _grantRole(SUPERVISOR_ROLE, supervisor);
        _grantRole(PAUSER_ROLE, supervisor);
    }

    /// @notice Gives the admin and upgrader roles to `to` (the timelock) and drops them from the caller, in one
    /// transaction, so there is no moment with two admins or none.
    function handOver(address to) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (to == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, to);
        _grantRole(UPGRADER_ROLE, to);
        _revokeRole(UPGRADER_ROLE, msg.sender);
        _revokeRole(DEFAULT_ADMIN_ROLE, msg.sender);
        emit HandedOver(msg.sender, to);
    }

    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice The implementation behind this proxy (ERC-1967 slot), for audits.
    function implementation() external view returns (address) {
        return ERC1967Utils.getImplementation();
    }

    /// @dev Only the upgrader (the timelock, i.e. a passed vote after its delay) moves the proxy.
    function _authorizeUpgrade(address) internal override onlyRole(UPGRADER_ROLE) {}
}
