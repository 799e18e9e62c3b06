#![doc = include_str!("../README.md")]

pub mod account;
pub mod erc7715;
pub mod error;
pub mod json;
pub mod particle;
pub mod server;
pub mod service;
pub mod sessions;
pub mod store;

pub use error::{Error, Result};
pub use server::{start, Config, Running, METHODS};
pub use service::{Service, ServiceOptions};
pub use sessions::Limits;
