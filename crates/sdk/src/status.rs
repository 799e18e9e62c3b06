//! One status model for a session on an account, shared by the CLI and keyscope-rpc: `active`, `pending`,
//! `expired`, `revoked`, `void` or `unknown`, from the session's life on the validator (granted or revoked, in the
//! account's current epoch or an ended one) and its validity window.
//!
//! The validator's own `sessionStatus` knows only the current epoch (`Unknown`, `Active`, `Revoked`): a session
//! granted before `revokeAllSessions` reads `Unknown` there, and an expired one `Active`. [`Client::session_report`]
//! adds what the `SessionGranted` events and the clock tell.

use alloy::primitives::{B256, U256};
use alloy::providers::Provider as _;
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent as _;
use keyscope_bindings::SessionKeyValidator;
use serde::Serialize;

use crate::client::{Account, Client, SessionStatus};
use crate::error::Result;

/// A session's status, as users see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Granted in the current epoch and within its window.
    Active,
    /// Granted in the current epoch; its window has not started.
    Pending,
    /// Granted in the current epoch; its window has ended.
    Expired,
    /// Revoked in the current epoch.
    Revoked,
    /// Granted or revoked in an epoch that has ended (`revokeAllSessions`, or the validator was reinstalled).
    Void,
    /// Never granted on the account, as far as can be told.
    Unknown,
}

/// Where a session is in its life on the validator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// Never granted.
    NeverGranted,
    /// Granted, and not revoked since.
    Granted {
        /// Whether the grant is in the account's current epoch.
        in_current_epoch: bool,
    },
    /// Revoked.
    Revoked {
        /// Whether the revocation is in the account's current epoch.
        in_current_epoch: bool,
    },
}

/// A session's validity window (unix seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Usable from this time.
    pub valid_after: u64,
    /// Usable until this time.
    pub valid_until: u64,
}

impl Status {
    /// The status of a session in `lifecycle` with `window` (when known) at time `now`.
    pub fn of(lifecycle: Lifecycle, window: Option<Window>, now: u64) -> Self {
        match lifecycle {
            Lifecycle::NeverGranted => Self::Unknown,
            Lifecycle::Granted {
                in_current_epoch: false,
            }
            | Lifecycle::Revoked {
                in_current_epoch: false,
            } => Self::Void,
            Lifecycle::Revoked { .. } => Self::Revoked,
            Lifecycle::Granted { .. } => match window {
                Some(window) if now > window.valid_until => Self::Expired,
                Some(window) if now < window.valid_after => Self::Pending,
                _ => Self::Active,
            },
        }
    }

    /// Its name: `active`, `pending`, `expired`, `revoked`, `void`, `unknown`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pending => "pending",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Void => "void",
            Self::Unknown => "unknown",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A session on an account, as the chain tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionReport {
    /// The status.
    pub state: Status,
    /// What the validator's `sessionStatus` answers (current epoch only).
    pub validator_status: SessionStatus,
    /// The window: the one given, else the latest `SessionGranted` event's.
    pub window: Option<Window>,
    /// The time the status is at: the latest block's.
    pub now: u64,
    /// `feesChargedOf`: the fees charged to the session in the current epoch.
    pub fees_charged: U256,
}

impl Client {
    /// The status of `session_id` on `account` at the latest block. `window` is the session's, when the caller
    /// has it (from the session's JSON); else it comes from the session's `SessionGranted` event. A session the
    /// validator reads `Unknown` is `void` when such an event exists (granted in an ended epoch), else `unknown`;
    /// when the node refuses the event query, the events count as absent.
    pub async fn session_report(
        &self,
        account: &Account,
        session_id: B256,
        window: Option<Window>,
    ) -> Result<SessionReport> {
        let validator_status = self.session_status(account, session_id).await?;
        let fees_charged = self.fees_charged(account, session_id).await?;
        let provider = self.provider();
        let now = provider
            .get_block_by_number(Default::default())
            .await?
            .map(|block| block.header.timestamp)
            .unwrap_or_default();
        let filter = Filter::new()
            .address(self.stack().session_key_validator)
            .event_signature(SessionKeyValidator::SessionGranted::SIGNATURE_HASH)
            .topic1(account.address.into_word())
            .topic2(session_id)
            .from_block(0);
        let granted = provider
            .get_logs(&filter)
            .await
            .ok()
            .and_then(|logs| {
                logs.iter()
                    .rev()
                    .find_map(|log| log.log_decode::<SessionKeyValidator::SessionGranted>().ok())
            })
            .map(|log| Window {
                valid_after: log.inner.data.validAfter.to::<u64>(),
                valid_until: log.inner.data.validUntil.to::<u64>(),
            });
        let lifecycle = match validator_status {
            SessionStatus::Active => Lifecycle::Granted {
                in_current_epoch: true,
            },
            SessionStatus::Revoked => Lifecycle::Revoked {
                in_current_epoch: true,
            },
            SessionStatus::Unknown if granted.is_some() => Lifecycle::Granted {
                in_current_epoch: false,
            },
            SessionStatus::Unknown => Lifecycle::NeverGranted,
        };
        let window = window.or(granted);
        Ok(SessionReport {
            state: Status::of(lifecycle, window, now),
            validator_status,
            window,
            now,
            fees_charged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Lifecycle, Status, Window};

    const WINDOW: Window = Window {
        valid_after: 100,
        valid_until: 200,
    };

    #[test]
    fn every_status_from_lifecycle_and_window() {
        let granted = Lifecycle::Granted {
            in_current_epoch: true,
        };
        assert_eq!(Status::of(granted, Some(WINDOW), 150), Status::Active);
        assert_eq!(Status::of(granted, Some(WINDOW), 99), Status::Pending);
        assert_eq!(Status::of(granted, Some(WINDOW), 201), Status::Expired);
        assert_eq!(Status::of(granted, None, 201), Status::Active);
        let revoked = Lifecycle::Revoked {
            in_current_epoch: true,
        };
        assert_eq!(Status::of(revoked, Some(WINDOW), 150), Status::Revoked);
        for ended in [
            Lifecycle::Granted {
                in_current_epoch: false,
            },
            Lifecycle::Revoked {
                in_current_epoch: false,
            },
        ] {
            assert_eq!(Status::of(ended, Some(WINDOW), 150), Status::Void);
        }
        assert_eq!(
            Status::of(Lifecycle::NeverGranted, None, 0),
            Status::Unknown
        );
        assert_eq!(Status::Void.to_string(), "void");
        assert_eq!(
            serde_json::to_value(Status::Expired).ok(),
            Some(serde_json::json!("expired"))
        );
    }
}
