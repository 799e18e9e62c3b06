//! Shared set-up for Keyscope's end-to-end tests:
//! - the node: the pinned anvil from `node_modules`, a funded provider, the deployed stack and a client, chain
//!   time ([`anvil`], [`client`], [`now`], [`advance_time`]);
//! - the pinned Alto bundler ([`alto`]);
//! - sessions in the JSON format ([`SessionJson`], [`transfer_session`]), the session calls the tests make
//!   ([`transfer`], [`mint_call`]) and operations signed again after a change ([`resign`]);
//! - accounts, tokens and grants ([`funded_account`], [`deploy_token`], [`mint_tokens`], [`balance`],
//!   [`grant`]);
//! - assertions on typed rejections ([`assert_validator_error`], [`assert_bundler_rejection`]).
// Test support: a failed set-up step is a failed test, so unwrapping (and panicking with the reason) is the point.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod accounts;
mod alto;
mod checks;
mod node;
mod sessions;

pub use accounts::{
    balance, deploy_token, fixed_fees, funded_account, grant, lane_key, mint_tokens, ETHER, GWEI,
};
pub use alto::{alto, alto_path, free_port, Alto};
pub use checks::{assert_bundler_rejection, assert_validator_error, ValidatorCheck};
pub use node::{
    advance_time, anvil, anvil_on_chain, anvil_path, client, funded_provider, now, repo_root,
};
pub use sessions::{
    mint_call, resign, token_call, transfer, transfer_session, SessionJson, TRANSFER,
};
