//! What the chain does not keep: the permissions behind each session's Merkle root, remembered for the sessions
//! this service built so that listings can show them. Bounded in entries and in bytes; the oldest entries go first
//! when it is full. An entry is never replaced: the request that built a session first keeps it, so a caller who
//! submits the same (public) session again cannot change what listings say about it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use keyscope::alloy::primitives::{Address, B256};
use keyscope::permissions::{encode_permission, CompiledSession, SessionSpec};

use crate::sessions::Origin;

/// What an entry costs besides its contents (keys, the `Arc`, the maps' slots, the tree's fixed part), about.
const ENTRY_OVERHEAD: usize = 512;

/// A session this service built.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    /// The account it is for.
    pub account: Address,
    /// The compiled session.
    pub compiled: CompiledSession,
    /// Its spec.
    pub spec: SessionSpec,
    /// How it was asked for.
    pub origin: Origin,
}

impl Stored {
    /// The memory the entry holds, estimated from its serialised parts (twice the spec's JSON and the permissions'
    /// ABI encoding, to cover their in-memory form, plus the tree's nodes, the warnings and the origin).
    pub(crate) fn size(&self) -> usize {
        let spec = serde_json::to_vec(&self.spec).map_or(0, |json| json.len());
        let permissions: usize = self
            .compiled
            .permissions
            .iter()
            .map(|permission| encode_permission(permission).len())
            .sum();
        let tree = self.compiled.permissions.len() * 2 * 32;
        let warnings: usize = self
            .compiled
            .warnings
            .iter()
            .map(|warning| warning.to_string().len())
            .sum();
        ENTRY_OVERHEAD + 2 * (spec + permissions) + tree + warnings + self.origin.size()
    }
}

/// Sessions by (account, session id): at most `capacity` of them, of at most `max_bytes` in all
/// ([`Stored::size`]).
#[derive(Debug)]
pub(crate) struct Store {
    entries: HashMap<(Address, B256), (Arc<Stored>, usize)>,
    order: VecDeque<(Address, B256)>,
    capacity: usize,
    max_bytes: usize,
    bytes: usize,
}

impl Store {
    /// An empty store for at most `capacity` sessions (at least one) of at most `max_bytes` in all.
    pub(crate) fn new(capacity: usize, max_bytes: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            max_bytes,
            bytes: 0,
        }
    }

    /// Remembers a session, forgetting the oldest ones to make room. Does nothing, and returns `false`, when the
    /// session is remembered already (the first entry stays as it is) or when it alone is bigger than the budget.
    pub(crate) fn insert(&mut self, stored: Stored) -> bool {
        let key = (stored.account, stored.compiled.session_id());
        let size = stored.size();
        if self.entries.contains_key(&key) || size > self.max_bytes {
            return false;
        }
        while self.order.len() >= self.capacity || self.bytes + size > self.max_bytes {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, old_size)) = self.entries.remove(&old) {
                self.bytes -= old_size;
            }
        }
        self.entries.insert(key, (Arc::new(stored), size));
        self.order.push_back(key);
        self.bytes += size;
        true
    }

    /// The session `id` of `account`, if this service built it.
    pub(crate) fn get(&self, account: Address, id: B256) -> Option<Arc<Stored>> {
        self.entries
            .get(&(account, id))
            .map(|(stored, _)| stored.clone())
    }

    /// How many sessions are remembered.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }

    /// The bytes they hold ([`Stored::size`]).
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keyscope::alloy::primitives::U256;
    use keyscope::permissions::{PermissionSpec, Target};
    use serde_json::json;

    fn stored(salt: u8, origin: Origin) -> Stored {
        let spec = SessionSpec {
            signer: Address::repeat_byte(1),
            valid_after: 0,
            valid_until: 100,
            paymaster: Default::default(),
            fees: Default::default(),
            salt: B256::repeat_byte(salt),
            permissions: vec![PermissionSpec::native_transfer(Target::Any, U256::from(1))],
        };
        let compiled = spec.compile().unwrap_or_else(|e| unreachable!("{e}"));
        Stored {
            account: Address::repeat_byte(9),
            compiled,
            spec,
            origin,
        }
    }

    #[test]
    fn evicts_the_oldest() {
        let mut store = Store::new(2, usize::MAX);
        let (a, b, c) = (
            stored(1, Origin::Keyscope),
            stored(2, Origin::Keyscope),
            stored(3, Origin::Keyscope),
        );
        let ids = [
            a.compiled.session_id(),
            b.compiled.session_id(),
            c.compiled.session_id(),
        ];
        assert!(store.insert(a.clone()));
        assert!(store.insert(b));
        assert!(!store.insert(a)); // same session: no new slot
        assert_eq!(store.len(), 2);
        assert!(store.insert(c));
        assert_eq!(store.len(), 2);
        let account = Address::repeat_byte(9);
        assert!(store.get(account, ids[0]).is_none());
        assert!(store.get(account, ids[1]).is_some() && store.get(account, ids[2]).is_some());
    }

    #[test]
    fn never_replaces_an_entry() {
        let mut store = Store::new(10, usize::MAX);
        let first = stored(1, Origin::Erc7715(json!({ "to": "first" })));
        let id = first.compiled.session_id();
        assert!(store.insert(first));
        // The same session again, asked for in another shape: the first origin stays.
        assert!(!store.insert(stored(1, Origin::Particle)));
        let kept = store.get(Address::repeat_byte(9), id);
        assert_eq!(
            kept.map(|s| s.origin.clone()),
            Some(Origin::Erc7715(json!({ "to": "first" })))
        );
    }

    #[test]
    fn bounded_in_bytes() {
        let one = stored(1, Origin::Keyscope).size();
        assert!(one > ENTRY_OVERHEAD);
        // Room for two entries by bytes, though ten by count.
        let mut store = Store::new(10, 2 * one + one / 2);
        for salt in 1..=5 {
            assert!(store.insert(stored(salt, Origin::Keyscope)));
            assert!(store.bytes() <= 2 * one + one / 2, "{}", store.bytes());
        }
        assert_eq!(store.len(), 2);
        let account = Address::repeat_byte(9);
        let id = |salt| stored(salt, Origin::Keyscope).compiled.session_id();
        assert!(store.get(account, id(5)).is_some() && store.get(account, id(4)).is_some());
        assert!(store.get(account, id(3)).is_none());
        // An entry bigger than the whole budget is not kept (and evicts nothing).
        let big = stored(6, Origin::Erc7715(json!({ "pad": "x".repeat(4 * one) })));
        assert!(!store.insert(big));
        assert_eq!(store.len(), 2);
    }
}
