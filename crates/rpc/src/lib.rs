#![doc = include_str!("../README.md")]
#![warn(unreachable_pub)]

mod access;
mod account;
mod erc7715;
mod error;
mod gateway;
mod json;
mod metrics;
mod particle;
mod server;
mod service;
mod sessions;
mod sponsor;
mod store;
#[cfg(test)]
mod test_postgres;

pub use access::{ApiKeys, RateLimit};
pub use error::{Error, Result};
pub use server::{start, Config, Running, METHODS};
pub use service::ServiceOptions;
pub use sessions::Limits;
pub use sponsor::{
    Refusal, SponsorOptions, DEFAULT_PAYMASTER_VERIFICATION_GAS, DEFAULT_SPONSOR_MAX_GAS,
    DEFAULT_SPONSOR_VALIDITY_SECS,
};
pub use store::DEFAULT_DATABASE_URL;
