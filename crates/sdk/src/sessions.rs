//! Listing an account's sessions from the `SessionKeyValidator`'s events, with the status of each
//! ([`crate::status`]) and what each was charged (`feesChargedOf`).
//!
//! The validator keeps no list of an account's sessions: [`Client::sessions_of`] reads its events
//! (`SessionGranted`, `SessionRevoked`, `PermissionRevoked`, and the epoch changes `AllSessionsRevoked`, `ValidatorInstalled`,
//! `ValidatorUninstalled`) in `eth_getLogs` requests of a bounded block range, and the account's `epochOf`, all at
//! one block. Each session's [`Status`] follows from them as the validator's `sessionStatus` computes it — revoked
//! when revoked in the current epoch, void when granted or revoked in an epoch that has ended — plus the validity
//! window against the block's time, with no call per session. [`Client::fees_charged_in`] then reads the charges of
//! the sessions a caller shows, at the same block.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use alloy::eips::BlockId;
use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider as _;
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent as _;
use keyscope_bindings::SessionKeyValidator;
use serde::Serialize;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::status::{Lifecycle, Status, Window};

/// Most session events (`SessionGranted`, `SessionRevoked`, epoch changes) one listing reads: past it,
/// [`Client::sessions_of`] stops with [`Error::TooManySessionEvents`] (list from a later block).
pub const MAX_SESSION_EVENTS: usize = 100_000;

/// Where an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventPlace {
    /// Its block.
    pub block_number: Option<u64>,
    /// Its transaction.
    pub transaction_hash: Option<B256>,
}

/// One session of an account, as the validator's events tell. Serialises in camelCase (`sessionId`, `validAfter`,
/// `grantedIn` …; `revokedIn` only when revoked, `revokedPermissions` only when some are).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionEntry {
    /// The session id.
    pub session_id: B256,
    /// The session key.
    pub signer: Address,
    /// Start of its window (unix seconds).
    pub valid_after: u64,
    /// End of its window (unix seconds, inclusive).
    pub valid_until: u64,
    /// The epoch it was (last) granted in.
    pub epoch: u64,
    /// Its status at the listing's block.
    pub status: Status,
    /// Its (last) grant.
    pub granted_in: EventPlace,
    /// Its revocation, if any (after its last grant).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_in: Option<EventPlace>,
    /// The Merkle leaves of its permissions the owner revoked one by one (`revokePermission`) in the current
    /// epoch, in the order they were revoked: operations using them fail, the others keep working.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revoked_permissions: Vec<B256>,
}

impl SessionEntry {
    /// Its validity window.
    pub fn window(&self) -> Window {
        Window {
            valid_after: self.valid_after,
            valid_until: self.valid_until,
        }
    }
}

/// The sessions of one account at one block ([`Client::sessions_of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSessions {
    /// The account.
    pub account: Address,
    /// The account's epoch at `block_number`.
    pub epoch: u64,
    /// The block the listing is at (the latest when it was read).
    pub block_number: u64,
    /// That block's timestamp: the time the statuses are at.
    pub now: u64,
    /// The sessions, in the order of their first grant.
    pub sessions: Vec<SessionEntry>,
}

/// A validator event about an account's sessions, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum SessionEvent {
    /// `SessionGranted`.
    Granted {
        session_id: B256,
        signer: Address,
        window: Window,
        epoch: u64,
        place: EventPlace,
    },
    /// `SessionRevoked`.
    Revoked { session_id: B256, place: EventPlace },
    /// `PermissionRevoked`.
    PermissionRevoked { session_id: B256, leaf: B256 },
    /// `AllSessionsRevoked`, `ValidatorInstalled`, `ValidatorUninstalled`: a new epoch.
    EpochChanged,
}

impl SessionEvent {
    /// The event in `log`; `None` for a log that is none of the validator's session events, or does not decode.
    fn from_log(log: &Log) -> Option<Self> {
        let place = EventPlace {
            block_number: log.block_number,
            transaction_hash: log.transaction_hash,
        };
        match *log.topic0()? {
            SessionKeyValidator::SessionGranted::SIGNATURE_HASH => {
                let event = log
                    .log_decode::<SessionKeyValidator::SessionGranted>()
                    .ok()?
                    .inner
                    .data;
                Some(Self::Granted {
                    session_id: event.sessionId,
                    signer: event.signer,
                    window: Window {
                        valid_after: event.validAfter.to::<u64>(),
                        valid_until: event.validUntil.to::<u64>(),
                    },
                    epoch: event.epoch,
                    place,
                })
            }
            SessionKeyValidator::SessionRevoked::SIGNATURE_HASH => {
                let event = log
                    .log_decode::<SessionKeyValidator::SessionRevoked>()
                    .ok()?
                    .inner
                    .data;
                Some(Self::Revoked {
                    session_id: event.sessionId,
                    place,
                })
            }
            SessionKeyValidator::PermissionRevoked::SIGNATURE_HASH => {
                let event = log
                    .log_decode::<SessionKeyValidator::PermissionRevoked>()
                    .ok()?
                    .inner
                    .data;
                Some(Self::PermissionRevoked {
                    session_id: event.sessionId,
                    leaf: event.leaf,
                })
            }
            SessionKeyValidator::AllSessionsRevoked::SIGNATURE_HASH
            | SessionKeyValidator::ValidatorInstalled::SIGNATURE_HASH
            | SessionKeyValidator::ValidatorUninstalled::SIGNATURE_HASH => Some(Self::EpochChanged),
            _ => None,
        }
    }
}

/// The sessions that `events` (in chain order) tell of, newest grant per id, in the order of their first grant,
/// with their status for an account whose epoch is `epoch`, at time `now`.
fn entries(
    events: impl IntoIterator<Item = SessionEvent>,
    epoch: u64,
    now: u64,
) -> Vec<SessionEntry> {
    struct Tracked {
        signer: Address,
        window: Window,
        epoch: u64,
        granted_in: EventPlace,
        /// Where it was revoked, and the revocation's position among the events.
        revoked: Option<(EventPlace, usize)>,
    }
    let mut order: Vec<B256> = Vec::new();
    let mut tracked: HashMap<B256, Tracked> = HashMap::new();
    // Kept apart from the grants: the owner may revoke a permission before the session is granted.
    let mut revoked_permissions: HashMap<B256, Vec<(B256, usize)>> = HashMap::new();
    let mut last_epoch_change: Option<usize> = None;
    for (position, event) in events.into_iter().enumerate() {
        match event {
            SessionEvent::Granted {
                session_id,
                signer,
                window,
                epoch,
                place,
            } => {
                if !tracked.contains_key(&session_id) {
                    order.push(session_id);
                }
                // A grant after a revocation is in a later epoch: the revocation no longer counts.
                tracked.insert(
                    session_id,
                    Tracked {
                        signer,
                        window,
                        epoch,
                        granted_in: place,
                        revoked: None,
                    },
                );
            }
            SessionEvent::Revoked { session_id, place } => {
                if let Some(session) = tracked.get_mut(&session_id) {
                    session.revoked = Some((place, position));
                }
            }
            SessionEvent::PermissionRevoked { session_id, leaf } => revoked_permissions
                .entry(session_id)
                .or_default()
                .push((leaf, position)),
            SessionEvent::EpochChanged => last_epoch_change = Some(position),
        }
    }
    order
        .into_iter()
        .filter_map(|id| {
            let session = tracked.remove(&id)?;
            let lifecycle = match session.revoked {
                // Revoked in the current epoch, or in one that has ended since.
                Some((_, at)) => Lifecycle::Revoked {
                    in_current_epoch: last_epoch_change.is_none_or(|change| change <= at),
                },
                // Granted in the current epoch, or in one that has ended (revokeAllSessions, or a reinstall).
                None => Lifecycle::Granted {
                    in_current_epoch: session.epoch == epoch,
                },
            };
            Some(SessionEntry {
                session_id: id,
                signer: session.signer,
                valid_after: session.window.valid_after,
                valid_until: session.window.valid_until,
                epoch: session.epoch,
                status: Status::of(lifecycle, Some(session.window), now),
                granted_in: session.granted_in,
                revoked_in: session.revoked.map(|(place, _)| place),
                revoked_permissions: revoked_permissions
                    .remove(&id)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|(_, at)| last_epoch_change.is_none_or(|change| change < *at))
                    .fold(Vec::new(), |mut leaves, (leaf, _)| {
                        // Revoked twice in the epoch: listed once.
                        if !leaves.contains(&leaf) {
                            leaves.push(leaf);
                        }
                        leaves
                    }),
            })
        })
        .collect()
}

/// Runs `futures` concurrently on the caller's task (no runtime needed), their outputs in the same order.
async fn join_all<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(value) => *output = Some(value),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
}

impl Client {
    /// Every session granted to `account` since `from_block`, at the latest block: the validator's events, read
    /// in `eth_getLogs` requests of at most `chunk_blocks` blocks (at least 1) up to that block, newest grant per
    /// id, in the order of their first grant, each with its [`Status`] there (from the events, the account's
    /// `epochOf` and the block's time: no call per session). More than [`MAX_SESSION_EVENTS`] events is
    /// [`Error::TooManySessionEvents`].
    pub async fn sessions_of(
        &self,
        account: Address,
        from_block: u64,
        chunk_blocks: u64,
    ) -> Result<AccountSessions> {
        let provider = self.provider();
        let validator_address = self.stack().session_key_validator;
        let head = self.latest_header().await?;
        let (block_number, now) = (head.number, head.timestamp);
        let filter = Filter::new()
            .address(validator_address)
            .event_signature(vec![
                SessionKeyValidator::SessionGranted::SIGNATURE_HASH,
                SessionKeyValidator::SessionRevoked::SIGNATURE_HASH,
                SessionKeyValidator::PermissionRevoked::SIGNATURE_HASH,
                SessionKeyValidator::AllSessionsRevoked::SIGNATURE_HASH,
                SessionKeyValidator::ValidatorInstalled::SIGNATURE_HASH,
                SessionKeyValidator::ValidatorUninstalled::SIGNATURE_HASH,
            ])
            .topic1(account.into_word());
        let chunk = chunk_blocks.max(1);
        let mut logs = Vec::new();
        let mut start = from_block;
        while start <= block_number {
            let end = start.saturating_add(chunk - 1).min(block_number);
            let range = filter.clone().from_block(start).to_block(end);
            logs.extend(provider.get_logs(&range).await?);
            if logs.len() > MAX_SESSION_EVENTS {
                return Err(Error::TooManySessionEvents {
                    account,
                    from_block,
                    max: MAX_SESSION_EVENTS,
                });
            }
            match end.checked_add(1) {
                Some(next) => start = next,
                None => break,
            }
        }
        let epoch = SessionKeyValidator::new(validator_address, provider.clone())
            .epochOf(account)
            .block(BlockId::number(block_number))
            .call()
            .await?;
        Ok(AccountSessions {
            account,
            epoch,
            block_number,
            now,
            sessions: entries(logs.iter().filter_map(SessionEvent::from_log), epoch, now),
        })
    }

    /// `feesChargedOf(account, sessionId)` of each of `sessions` (entries of `listing`) at the listing's block,
    /// read concurrently, in the same order; `None` for void sessions (their charges belong to an epoch that has
    /// ended: the validator answers 0). With the session's fee scope, [`crate::FeeUsage`] tells what is left.
    pub async fn fees_charged_in(
        &self,
        listing: &AccountSessions,
        sessions: &[&SessionEntry],
    ) -> Result<Vec<Option<U256>>> {
        let validator =
            SessionKeyValidator::new(self.stack().session_key_validator, self.provider().clone());
        let at = BlockId::number(listing.block_number);
        let reads = sessions.iter().map(|entry| {
            let validator = &validator;
            async move {
                if entry.status == Status::Void {
                    return Ok(None);
                }
                let charged = validator
                    .feesChargedOf(listing.account, entry.session_id)
                    .block(at)
                    .call()
                    .await?;
                Ok(Some(charged))
            }
        });
        join_all(reads.collect()).await.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Window = Window {
        valid_after: 100,
        valid_until: 200,
    };

    fn place(block: u64) -> EventPlace {
        EventPlace {
            block_number: Some(block),
            transaction_hash: Some(B256::with_last_byte(block as u8)),
        }
    }

    fn granted(id: u8, epoch: u64, block: u64) -> SessionEvent {
        SessionEvent::Granted {
            session_id: B256::repeat_byte(id),
            signer: Address::repeat_byte(id),
            window: WINDOW,
            epoch,
            place: place(block),
        }
    }

    fn revoked(id: u8, block: u64) -> SessionEvent {
        SessionEvent::Revoked {
            session_id: B256::repeat_byte(id),
            place: place(block),
        }
    }

    fn statuses(entries: &[SessionEntry]) -> Vec<(u8, Status)> {
        entries
            .iter()
            .map(|entry| (entry.session_id[0], entry.status))
            .collect()
    }

    #[test]
    fn statuses_follow_the_events_the_epoch_and_the_clock() {
        let events = vec![granted(1, 1, 10), granted(2, 1, 11), revoked(1, 12)];
        let listed = entries(events.clone(), 1, 150);
        assert_eq!(
            statuses(&listed),
            [(1, Status::Revoked), (2, Status::Active)]
        );
        assert_eq!(listed[0].revoked_in, Some(place(12)));
        assert_eq!(listed[1].granted_in, place(11));
        assert_eq!(listed[1].revoked_in, None);
        assert_eq!(listed[1].window(), WINDOW);
        // The clock: before and after the window.
        assert_eq!(
            statuses(&entries(events.clone(), 1, 99))[1].1,
            Status::Pending
        );
        assert_eq!(
            statuses(&entries(events.clone(), 1, 201))[1].1,
            Status::Expired
        );

        // revokeAllSessions: a new epoch voids every session, the revoked one too.
        let mut after_all = events.clone();
        after_all.push(SessionEvent::EpochChanged);
        assert_eq!(
            statuses(&entries(after_all.clone(), 2, 150)),
            [(1, Status::Void), (2, Status::Void)]
        );
        // Granted again in the new epoch: active, in the order of its first grant, its revocation forgotten.
        after_all.push(granted(1, 2, 20));
        let listed = entries(after_all.clone(), 2, 150);
        assert_eq!(statuses(&listed), [(1, Status::Active), (2, Status::Void)]);
        assert_eq!(
            (listed[0].granted_in, listed[0].revoked_in),
            (place(20), None)
        );
        // Revoked after the epoch change: revoked in the current epoch.
        after_all.push(revoked(1, 21));
        assert_eq!(statuses(&entries(after_all, 2, 150))[0].1, Status::Revoked);
        // A revocation of a session never granted in the range is not listed.
        assert!(entries(vec![revoked(3, 1)], 0, 0).is_empty());
    }

    fn permission_revoked(id: u8, leaf: u8) -> SessionEvent {
        SessionEvent::PermissionRevoked {
            session_id: B256::repeat_byte(id),
            leaf: B256::repeat_byte(leaf),
        }
    }

    #[test]
    fn revoked_permissions_count_in_their_epoch_even_before_the_grant() {
        // Revoked before the grant (an enable signature still unused), then after it.
        let events = vec![
            permission_revoked(1, 0xa1),
            granted(1, 1, 10),
            permission_revoked(1, 0xa2),
            permission_revoked(1, 0xa1),
            permission_revoked(2, 0xb1),
        ];
        let listed = entries(events.clone(), 1, 150);
        assert_eq!(
            listed[0].revoked_permissions,
            [B256::repeat_byte(0xa1), B256::repeat_byte(0xa2)]
        );
        assert_eq!(listed[0].status, Status::Active, "the session still works");
        assert_eq!(listed.len(), 1, "session 2 was never granted");
        let json = serde_json::to_value(&listed[0]).unwrap_or_default();
        assert_eq!(
            json["revokedPermissions"][1],
            format!("{}", B256::repeat_byte(0xa2))
        );
        // A new epoch forgets them; a revocation after it counts.
        let mut later = events;
        later.push(SessionEvent::EpochChanged);
        later.push(granted(1, 2, 20));
        assert!(entries(later.clone(), 2, 150)[0]
            .revoked_permissions
            .is_empty());
        later.push(permission_revoked(1, 0xa3));
        later.push(permission_revoked(1, 0xa1));
        assert_eq!(
            entries(later, 2, 150)[0].revoked_permissions,
            [B256::repeat_byte(0xa3), B256::repeat_byte(0xa1)]
        );
    }

    #[test]
    fn entries_serialise_in_camel_case() {
        let listed = entries(vec![granted(1, 0, 5), revoked(1, 6)], 0, 150);
        let json = serde_json::to_value(&listed[0]).unwrap_or_default();
        assert_eq!(json["status"], "revoked");
        assert_eq!(json["validUntil"], 200);
        assert_eq!(json["grantedIn"]["blockNumber"], 5);
        assert!(json["revokedIn"]["transactionHash"].is_string(), "{json}");
        let active = entries(vec![granted(1, 0, 5)], 0, 150);
        let json = serde_json::to_value(&active[0]).unwrap_or_default();
        assert!(json.get("revokedIn").is_none(), "{json}");
        assert!(json.get("revokedPermissions").is_none(), "{json}");
    }

    #[tokio::test]
    async fn join_all_keeps_the_order() {
        let outputs = join_all(
            (0..5u64)
                .map(|i| async move {
                    // The first ones finish last.
                    tokio::time::sleep(std::time::Duration::from_millis(10 * (5 - i))).await;
                    i * 2
                })
                .collect(),
        )
        .await;
        assert_eq!(outputs, [0, 2, 4, 6, 8]);
    }
}
