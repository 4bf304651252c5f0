// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

import {ConsortiumRegistry} from "../ConsortiumRegistry.sol";

/// @title Test fixture: a next version of the registry, as a real upgrade would add state (after the old
/// variables, so the storage-layout check passes) and a re-initializer the upgrade calls.
contract ConsortiumRegistryV2 is ConsortiumRegistry {
    uint256 public auditFee;

    function initializeV2(uint256 auditFee_) external reinitializer(2) {
        auditFee = auditFee_;
    }

    function version() external pure returns (uint256) {
        return 2;
    }
}
