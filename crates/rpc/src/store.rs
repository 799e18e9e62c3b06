//! What the chain does not keep: the permissions behind each session's Merkle root, stored for the sessions this
//! service built so that listings can show them. One storage layer over two backends ([`sqlx`]): SQLite, a file
//! (the embedded default), and PostgreSQL, which several service instances can share. Versioned migrations
//! (`migrations/sqlite`, `migrations/postgres`) run when the store opens.
//!
//! Every write is one transaction: a request's sessions are all stored or none is. An entry is never replaced:
//! the request that built a session first keeps it, so a caller who submits the same (public) session again
//! cannot change what listings say about it, and the same request twice leaves one record. The store is bounded in
//! sessions and in bytes (the spec's and the origin's JSON); nothing is ever evicted: a request whose new sessions
//! do not fit fails with [`Error::StoreFull`] and stores nothing.

use std::borrow::Cow;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use keyscope::alloy::primitives::{Address, B256};
use keyscope::permissions::{CompiledSession, SessionSpec};
use serde_json::{json, Value};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection, Row};

use crate::error::{Error, Result};
use crate::sessions::Origin;

/// Where the binary stores sessions when `--database-url` is not given: a SQLite file in its working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://keyscope-rpc.sqlite";

/// Most ids in one `IN (…)` lookup.
const IDS_PER_QUERY: usize = 100;

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
    /// The name of the API key it was asked for with (`None` without API keys).
    pub api_key: Option<String>,
}

/// A [`Stored`] as a row: the spec's and the origin's JSON (the compiled session is recompiled from the spec:
/// [`SessionSpec::compile`] is deterministic).
struct Record {
    account: Vec<u8>,
    session_id: Vec<u8>,
    spec: String,
    origin: String,
    bytes: i64,
    api_key: Option<String>,
}

impl Stored {
    fn to_row(&self) -> Result<Record> {
        let spec = serde_json::to_string(&self.spec).map_err(|e| Error::Internal(e.to_string()))?;
        let origin = match &self.origin {
            Origin::Keyscope => json!("keyscope"),
            Origin::Particle => json!("particle"),
            Origin::Erc7715(request) => json!({ "erc7715": request }),
        }
        .to_string();
        let bytes = i64::try_from(spec.len() + origin.len()).unwrap_or(i64::MAX);
        Ok(Record {
            account: self.account.to_vec(),
            session_id: self.compiled.session_id().to_vec(),
            spec,
            origin,
            bytes,
            api_key: self.api_key.clone(),
        })
    }

    /// The entry of a row, its session recompiled and checked against the row's key.
    fn from_row(
        account: Address,
        id: B256,
        spec: &str,
        origin: &str,
        api_key: Option<String>,
    ) -> Result<Self> {
        let corrupt = |what: String| {
            Error::Internal(format!(
                "stored session {id} of {account} is unreadable: {what}"
            ))
        };
        let spec = SessionSpec::from_json(spec).map_err(|e| corrupt(e.to_string()))?;
        let compiled = spec.compile().map_err(|e| corrupt(e.to_string()))?;
        if compiled.session_id() != id {
            return Err(corrupt(format!(
                "its spec compiles to session {}",
                compiled.session_id()
            )));
        }
        let origin =
            match serde_json::from_str::<Value>(origin).map_err(|e| corrupt(e.to_string()))? {
                Value::String(kind) if kind == "keyscope" => Origin::Keyscope,
                Value::String(kind) if kind == "particle" => Origin::Particle,
                Value::Object(mut map) if map.len() == 1 && map.contains_key("erc7715") => {
                    Origin::Erc7715(map.remove("erc7715").unwrap_or(Value::Null))
                }
                other => return Err(corrupt(format!("unknown origin {other}"))),
            };
        Ok(Self {
            account,
            compiled,
            spec,
            origin,
            api_key,
        })
    }
}

/// The pool of one backend.
#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the backend's pool (the same SQL serves both: `$1` placeholders,
/// `ON CONFLICT … DO NOTHING`).
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match &$store.pool {
            Pool::Sqlite($pool) => $body,
            Pool::Postgres($pool) => $body,
        }
    };
}

/// How full the store is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Sessions stored.
    pub sessions: u64,
    /// Their bytes (the spec's and the origin's JSON).
    pub bytes: u64,
}

/// Sessions by (account, session id) in a database: at most `max_sessions` of them, of at most `max_bytes`.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    pool: Pool,
    max_sessions: u64,
    max_bytes: u64,
}

/// The versioned migrations of a backend, embedded in the binary.
fn migrator(migrations: &[(i64, &'static str, &'static str)]) -> Migrator {
    Migrator {
        migrations: Cow::Owned(
            migrations
                .iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        *version,
                        Cow::Borrowed(*description),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect(),
        ),
        ..Migrator::DEFAULT
    }
}

const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "sessions",
        include_str!("../migrations/sqlite/0001_sessions.sql"),
    ),
    (
        2,
        "api key",
        include_str!("../migrations/sqlite/0002_api_key.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "sessions",
        include_str!("../migrations/postgres/0001_sessions.sql"),
    ),
    (
        2,
        "api key",
        include_str!("../migrations/postgres/0002_api_key.sql"),
    ),
];

/// `url` without its user, password or query for PostgreSQL (`postgres://host:port/database`); a SQLite URL
/// whole.
pub(crate) fn redacted_database_url(url: &str) -> String {
    use keyscope::alloy::transports::http::reqwest::Url;
    if url.starts_with("sqlite:") {
        return url.to_owned();
    }
    match Url::parse(url.trim()) {
        Ok(parsed) => format!(
            "{}://{}{}{}",
            parsed.scheme(),
            parsed.host_str().unwrap_or_default(),
            parsed
                .port()
                .map(|port| format!(":{port}"))
                .unwrap_or_default(),
            parsed.path()
        ),
        Err(_) => "<invalid URL>".to_owned(),
    }
}

fn database_error(error: sqlx::Error) -> Error {
    Error::Store(error.to_string())
}

impl Store {
    /// Opens the database at `url` (`sqlite://PATH`, created when missing, `sqlite::memory:`, or
    /// `postgres://…`) with at most `connections` connections, and runs its pending migrations.
    pub(crate) async fn open(
        url: &str,
        connections: u32,
        max_sessions: u64,
        max_bytes: u64,
    ) -> Result<Self> {
        let shown = redacted_database_url(url);
        let failed = |what: &str, error: sqlx::Error| {
            Error::invalid("--database-url", format!("{shown}: {what}: {error}"))
        };
        let connections = connections.max(1);
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| failed("not a SQLite URL", e))?
                .create_if_missing(true)
                // Write-ahead log: readers do not wait for the writer. `NORMAL`: a commit is in the log before the
                // answer, so it survives the process's crash, `kill -9` and restarts; only a power loss or an OS
                // crash may roll back the last commits (never a half-written one). `FULL` (an fsync per commit)
                // cost up to 45 % of `keyscope_createSessions`' throughput; PostgreSQL is the durable-to-disk store.
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10));
            let in_memory = url.contains(":memory:") || url.contains("mode=memory");
            // An in-memory database lives as long as its connection: keep exactly one, forever.
            let pool_options = if in_memory {
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(connections)
            };
            let pool = pool_options
                .connect_with(options)
                .await
                .map_err(|e| failed("cannot open", e))?;
            migrator(SQLITE_MIGRATIONS)
                .run(&pool)
                .await
                .map_err(|e| failed("migration failed", e.into()))?;
            Pool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options =
                PgConnectOptions::from_str(url).map_err(|e| failed("not a PostgreSQL URL", e))?;
            // One attempt first, so that a wrong URL or password fails the start at once (a pool retries).
            options
                .connect()
                .await
                .map_err(|e| failed("cannot connect", e))?
                .close()
                .await
                .map_err(|e| failed("cannot connect", e))?;
            let pool = PgPoolOptions::new()
                .max_connections(connections)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(options)
                .await
                .map_err(|e| failed("cannot connect", e))?;
            // Instances starting together take turns (the migrator holds an advisory lock).
            migrator(POSTGRES_MIGRATIONS)
                .run(&pool)
                .await
                .map_err(|e| failed("migration failed", e.into()))?;
            Pool::Postgres(pool)
        } else {
            return Err(Error::invalid(
                "--database-url",
                format!("{shown}: expected sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE"),
            ));
        };
        Ok(Self {
            pool,
            max_sessions,
            max_bytes,
        })
    }

    /// `"sqlite"` or `"postgres"`.
    pub(crate) fn backend(&self) -> &'static str {
        match self.pool {
            Pool::Sqlite(_) => "sqlite",
            Pool::Postgres(_) => "postgres",
        }
    }

    /// Stores `entries` in one transaction, those not stored already (the first entry of a session stays as it
    /// is); the number of new ones. [`Error::StoreFull`], with nothing stored, when the new ones do not fit.
    pub(crate) async fn insert(&self, entries: &[Stored]) -> Result<usize> {
        let mut rows = entries
            .iter()
            .map(Stored::to_row)
            .collect::<Result<Vec<_>>>()?;
        // One order of locks for every writer (PostgreSQL: no deadlock between overlapping requests).
        rows.sort_by(|a, b| (&a.account, &a.session_id).cmp(&(&b.account, &b.session_id)));
        let created_at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let max_sessions = i64::try_from(self.max_sessions).unwrap_or(i64::MAX);
        let max_bytes = i64::try_from(self.max_bytes).unwrap_or(i64::MAX);
        let full = on_pool!(self, |pool| {
            let mut tx = pool.begin().await.map_err(database_error)?;
            let (mut sessions, mut bytes) = (0i64, 0i64);
            for row in &rows {
                let inserted = sqlx::query(
                    "INSERT INTO keyscope_sessions (account, session_id, spec, origin, bytes, created_at, api_key) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account, session_id) DO NOTHING",
                )
                .bind(&row.account)
                .bind(&row.session_id)
                .bind(&row.spec)
                .bind(&row.origin)
                .bind(row.bytes)
                .bind(created_at)
                .bind(&row.api_key)
                .execute(&mut *tx)
                .await
                .map_err(database_error)?
                .rows_affected();
                if inserted > 0 {
                    sessions += 1;
                    bytes = bytes.saturating_add(row.bytes);
                }
            }
            if sessions == 0 {
                tx.commit().await.map_err(database_error)?;
                return Ok(0);
            }
            let counted = sqlx::query(
                "UPDATE keyscope_store_usage SET sessions = sessions + $1, bytes = bytes + $2 \
                 WHERE id = 1 AND sessions + $1 <= $3 AND bytes + $2 <= $4",
            )
            .bind(sessions)
            .bind(bytes)
            .bind(max_sessions)
            .bind(max_bytes)
            .execute(&mut *tx)
            .await
            .map_err(database_error)?
            .rows_affected();
            if counted == 1 {
                tx.commit().await.map_err(database_error)?;
                return Ok(usize::try_from(sessions).unwrap_or(usize::MAX));
            }
            tx.rollback().await.map_err(database_error)?;
            (sessions, bytes)
        });
        let usage = self.usage().await?;
        Err(Error::StoreFull {
            new_sessions: u64::try_from(full.0).unwrap_or(0),
            new_bytes: u64::try_from(full.1).unwrap_or(0),
            sessions: usage.sessions,
            bytes: usage.bytes,
            max_sessions: self.max_sessions,
            max_bytes: self.max_bytes,
        })
    }

    /// The session `id` of `account`, if this service (or another sharing its database) built it.
    #[cfg(test)]
    pub(crate) async fn get(&self, account: Address, id: B256) -> Result<Option<Arc<Stored>>> {
        Ok(self.get_many(account, &[id]).await?.remove(&id))
    }

    /// The sessions among `ids` of `account` that are stored, by id.
    pub(crate) async fn get_many(
        &self,
        account: Address,
        ids: &[B256],
    ) -> Result<HashMap<B256, Arc<Stored>>> {
        let mut found = HashMap::new();
        for chunk in ids.chunks(IDS_PER_QUERY) {
            let placeholders: Vec<String> = (2..chunk.len() + 2).map(|i| format!("${i}")).collect();
            let sql = format!(
                "SELECT session_id, spec, origin, api_key FROM keyscope_sessions \
                 WHERE account = $1 AND session_id IN ({})",
                placeholders.join(", ")
            );
            #[allow(clippy::type_complexity)]
            let rows: Vec<(Vec<u8>, String, String, Option<String>)> = on_pool!(self, |pool| {
                let mut query = sqlx::query(&sql).bind(account.to_vec());
                for id in chunk {
                    query = query.bind(id.to_vec());
                }
                query
                    .fetch_all(pool)
                    .await
                    .map_err(database_error)?
                    .iter()
                    .map(|row| {
                        Ok((
                            row.try_get(0)?,
                            row.try_get(1)?,
                            row.try_get(2)?,
                            row.try_get(3)?,
                        ))
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(database_error)?
            });
            for (id, spec, origin, api_key) in rows {
                let id = B256::try_from(id.as_slice())
                    .map_err(|_| Error::Internal("a stored session id is not 32 bytes".into()))?;
                found.insert(
                    id,
                    Arc::new(Stored::from_row(account, id, &spec, &origin, api_key)?),
                );
            }
        }
        Ok(found)
    }

    /// The accounts of the sessions asked for with the API key named `api_key`, the most recently used first: at
    /// most `limit`.
    pub(crate) async fn accounts_of_key(
        &self,
        api_key: &str,
        limit: usize,
    ) -> Result<Vec<Address>> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let accounts: Vec<Vec<u8>> = on_pool!(self, |pool| {
            sqlx::query(
                "SELECT account FROM keyscope_sessions WHERE api_key = $1 \
                 GROUP BY account ORDER BY MAX(created_at) DESC, account LIMIT $2",
            )
            .bind(api_key)
            .bind(limit)
            .fetch_all(pool)
            .await
            .map_err(database_error)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(database_error)?
        });
        accounts
            .iter()
            .map(|account| {
                Address::try_from(account.as_slice())
                    .map_err(|_| Error::Internal("a stored account is not 20 bytes".into()))
            })
            .collect()
    }

    /// How full the store is.
    pub(crate) async fn usage(&self) -> Result<Usage> {
        let (sessions, bytes): (i64, i64) = on_pool!(self, |pool| {
            sqlx::query_as("SELECT sessions, bytes FROM keyscope_store_usage WHERE id = 1")
                .fetch_one(pool)
                .await
                .map_err(database_error)?
        });
        Ok(Usage {
            sessions: u64::try_from(sessions).unwrap_or(0),
            bytes: u64::try_from(bytes).unwrap_or(0),
        })
    }

    /// Closes the connections (waiting for those in use).
    pub(crate) async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

#[cfg(test)]
mod tests {
    //! The store's rules on both backends: a SQLite file in a temporary directory, and the PostgreSQL server of
    //! `KEYSCOPE_TEST_POSTGRES_URL` (`script/postgres.sh`), a fresh database per test.
    use super::*;
    use keyscope::alloy::primitives::U256;
    use keyscope::permissions::{PermissionSpec, Target};

    fn stored(salt: u8, origin: Origin) -> Stored {
        let spec = SessionSpec {
            signer: Address::repeat_byte(1),
            signer_key: None,
            valid_after: 0,
            valid_until: 100,
            paymaster: Default::default(),
            fees: Default::default(),
            salt: B256::repeat_byte(salt),
            permissions: vec![PermissionSpec::native_transfer(Target::Any, U256::from(1))],
            typed_data: Vec::new(),
        };
        let compiled = spec.compile().unwrap_or_else(|e| unreachable!("{e}"));
        Stored {
            account: Address::repeat_byte(9),
            compiled,
            spec,
            origin,
            api_key: None,
        }
    }

    fn id(salt: u8) -> B256 {
        stored(salt, Origin::Keyscope).compiled.session_id()
    }

    fn bytes_of(entry: &Stored) -> u64 {
        entry
            .to_row()
            .map_or(0, |row| u64::try_from(row.bytes).unwrap_or(0))
    }

    /// The databases of one test: a SQLite file (in `dir`) and, when there is a server, a fresh PostgreSQL
    /// database.
    async fn urls(dir: &std::path::Path) -> Vec<String> {
        let mut urls = vec![format!("sqlite://{}", dir.join("store.sqlite").display())];
        if let Some(url) = crate::test_postgres::fresh_database().await {
            urls.push(url);
        }
        urls
    }

    async fn open(url: &str, max_sessions: u64, max_bytes: u64) -> Store {
        Store::open(url, 4, max_sessions, max_bytes)
            .await
            .unwrap_or_else(|e| unreachable!("{url}: {e}"))
    }

    fn ok<T>(result: Result<T>) -> T {
        result.unwrap_or_else(|e| unreachable!("{e}"))
    }

    #[tokio::test]
    async fn never_replaces_an_entry() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        for url in urls(dir.path()).await {
            let store = open(&url, 10, u64::MAX / 2).await;
            let first = stored(1, Origin::Erc7715(json!({ "to": "first" })));
            let id = first.compiled.session_id();
            assert_eq!(
                ok(store.insert(std::slice::from_ref(&first)).await),
                1,
                "{url}"
            );
            // The same session again, asked for in another shape: the first origin stays, one record.
            assert_eq!(ok(store.insert(&[stored(1, Origin::Particle)]).await), 0);
            let kept = ok(store.get(Address::repeat_byte(9), id).await);
            assert_eq!(
                kept.map(|s| s.origin.clone()),
                Some(Origin::Erc7715(json!({ "to": "first" }))),
                "{url}"
            );
            assert_eq!(
                ok(store.usage().await),
                Usage {
                    sessions: 1,
                    bytes: bytes_of(&first)
                }
            );
            // Another account's session of the same id is another entry.
            let mut other = stored(1, Origin::Keyscope);
            other.account = Address::repeat_byte(8);
            assert_eq!(ok(store.insert(&[other]).await), 1);
            assert_eq!(ok(store.usage().await).sessions, 2);
            store.close().await;
        }
    }

    #[tokio::test]
    async fn sessions_by_api_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        for url in urls(dir.path()).await {
            let store = open(&url, 10, u64::MAX / 2).await;
            let with = |salt: u8, account: u8, key: Option<&str>| {
                let mut entry = stored(salt, Origin::Erc7715(json!({})));
                entry.account = Address::repeat_byte(account);
                entry.api_key = key.map(ToOwned::to_owned);
                entry
            };
            let entries = [
                with(1, 1, Some("alpha")),
                with(2, 2, Some("alpha")),
                with(3, 2, Some("alpha")),
                with(4, 3, Some("bravo")),
                with(5, 4, None),
            ];
            assert_eq!(ok(store.insert(&entries).await), 5, "{url}");
            let mut alpha = ok(store.accounts_of_key("alpha", 16).await);
            alpha.sort();
            assert_eq!(
                alpha,
                vec![Address::repeat_byte(1), Address::repeat_byte(2)],
                "{url}"
            );
            assert_eq!(ok(store.accounts_of_key("alpha", 1).await).len(), 1);
            assert_eq!(
                ok(store.accounts_of_key("bravo", 16).await),
                vec![Address::repeat_byte(3)]
            );
            assert!(ok(store.accounts_of_key("charlie", 16).await).is_empty());
            let read = ok(store
                .get(Address::repeat_byte(3), entries[3].compiled.session_id())
                .await);
            assert_eq!(
                read.and_then(|s| s.api_key.clone()).as_deref(),
                Some("bravo")
            );
            let read = ok(store
                .get(Address::repeat_byte(4), entries[4].compiled.session_id())
                .await);
            assert_eq!(read.map(|s| s.api_key.clone()), Some(None));
            store.close().await;
        }
    }

    #[tokio::test]
    async fn round_trips_and_survives_reopening() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        for url in urls(dir.path()).await {
            let store = open(&url, 10, u64::MAX / 2).await;
            let entries = [
                stored(1, Origin::Keyscope),
                stored(2, Origin::Particle),
                stored(3, Origin::Erc7715(json!({ "permission": { "type": "x" } }))),
            ];
            assert_eq!(ok(store.insert(&entries).await), 3);
            store.close().await;
            // A new store on the same database: the migrations are not run twice, the entries are there.
            let store = open(&url, 10, u64::MAX / 2).await;
            let ids: Vec<B256> = (1..=4).map(id).collect();
            let found = ok(store.get_many(Address::repeat_byte(9), &ids).await);
            assert_eq!(found.len(), 3, "{url}");
            for entry in &entries {
                let got = &found[&entry.compiled.session_id()];
                assert_eq!(got.origin, entry.origin);
                assert_eq!(got.spec, entry.spec);
                assert_eq!(got.compiled.permissions, entry.compiled.permissions);
                assert_eq!(got.account, entry.account);
            }
            assert!(ok(store.get(Address::repeat_byte(9), id(4)).await).is_none());
            assert!(ok(store.get(Address::repeat_byte(8), id(1)).await).is_none());
            store.close().await;
        }
    }

    #[tokio::test]
    async fn full_in_sessions_stores_nothing_and_evicts_nothing() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        for url in urls(dir.path()).await {
            let store = open(&url, 2, u64::MAX / 2).await;
            assert_eq!(
                ok(store
                    .insert(&[stored(1, Origin::Keyscope), stored(2, Origin::Keyscope)])
                    .await),
                2
            );
            // A request with one stored and one new session: all or nothing.
            let error = store
                .insert(&[stored(2, Origin::Keyscope), stored(3, Origin::Keyscope)])
                .await
                .err();
            assert!(
                matches!(
                    error,
                    Some(Error::StoreFull {
                        new_sessions: 1,
                        sessions: 2,
                        max_sessions: 2,
                        ..
                    })
                ),
                "{url}: {error:?}"
            );
            assert_eq!(ok(store.usage().await).sessions, 2);
            let account = Address::repeat_byte(9);
            assert!(ok(store.get(account, id(3)).await).is_none());
            assert!(ok(store.get(account, id(1)).await).is_some());
            // What is stored already is still "stored" (idempotent requests go through on a full store).
            assert_eq!(ok(store.insert(&[stored(1, Origin::Particle)]).await), 0);
            store.close().await;
        }
    }

    #[tokio::test]
    async fn bounded_in_bytes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        for url in urls(dir.path()).await {
            let one = bytes_of(&stored(1, Origin::Keyscope));
            assert!(one > 0);
            // Room for two entries by bytes, though ten by count.
            let store = open(&url, 10, 2 * one + one / 2).await;
            assert_eq!(ok(store.insert(&[stored(1, Origin::Keyscope)]).await), 1);
            assert_eq!(ok(store.insert(&[stored(2, Origin::Keyscope)]).await), 1);
            let error = store.insert(&[stored(3, Origin::Keyscope)]).await.err();
            assert!(matches!(error, Some(Error::StoreFull { .. })), "{error:?}");
            // An entry bigger than the whole budget is refused too (and evicts nothing).
            let big = stored(
                6,
                Origin::Erc7715(json!({ "pad": "x".repeat(4 * one as usize) })),
            );
            assert!(store.insert(&[big]).await.is_err());
            let usage = ok(store.usage().await);
            assert_eq!(usage.sessions, 2, "{url}");
            assert!(usage.bytes <= 2 * one + one / 2, "{usage:?}");
            let account = Address::repeat_byte(9);
            assert!(ok(store.get(account, id(1)).await).is_some());
            assert!(ok(store.get(account, id(2)).await).is_some());
            store.close().await;
        }
    }

    #[tokio::test]
    async fn concurrent_writers_keep_one_record_and_the_bound() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| unreachable!("{e}"));
        for url in urls(dir.path()).await {
            // Two stores (two service instances) on one database, racing.
            let (a, b) = (
                open(&url, 5, u64::MAX / 2).await,
                open(&url, 5, u64::MAX / 2).await,
            );
            let mut tasks = Vec::new();
            for round in 0..4u8 {
                for store in [&a, &b] {
                    let store = store.clone();
                    tasks.push(tokio::spawn(async move {
                        // Overlapping requests: salts round, round+1, round+2.
                        let entries: Vec<_> = (round..round + 3)
                            .map(|salt| stored(salt + 1, Origin::Keyscope))
                            .collect();
                        store.insert(&entries).await
                    }));
                }
            }
            let mut added = 0;
            for task in tasks {
                match task.await {
                    Ok(Ok(n)) => added += n,
                    Ok(Err(Error::StoreFull { .. })) => {}
                    other => unreachable!("{url}: {other:?}"),
                }
            }
            let usage = ok(a.usage().await);
            assert_eq!(usage.sessions, added as u64, "{url}");
            assert!(usage.sessions <= 5, "{url}: {usage:?}");
            let ids: Vec<B256> = (1..=6).map(id).collect();
            let found = ok(b.get_many(Address::repeat_byte(9), &ids).await);
            assert_eq!(found.len() as u64, usage.sessions, "{url}");
            a.close().await;
            b.close().await;
        }
    }

    #[tokio::test]
    async fn refuses_other_urls() {
        let error = Store::open("mysql://localhost/x", 1, 1, 1).await.err();
        assert_eq!(
            error.map(|e| e.field().map(str::to_owned)),
            Some(Some("--database-url".to_owned()))
        );
        assert_eq!(
            redacted_database_url("postgres://user:secret@db.example:5432/keyscope?password=x"),
            "postgres://db.example:5432/keyscope"
        );
        // A connection failure names the server, never the password.
        let error = Store::open("postgres://user:secret@127.0.0.1:1/keyscope", 1, 1, 1)
            .await
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            error.contains("postgres://127.0.0.1:1/keyscope") && !error.contains("secret"),
            "{error}"
        );
    }
}
