//! The methods' logic, independent of the transport: parameters in (a JSON object), JSON answers out.

use std::collections::HashMap;
use std::sync::Arc;

use keyscope::alloy::primitives::{Address, B256, U256};
use keyscope::alloy::providers::{Provider, ProviderBuilder};
use keyscope::alloy::sol_types::SolCall;
use keyscope::bindings::SessionKeyValidator;
use keyscope::error::url_origin;
use keyscope::signer::PackedUserOperation;
use keyscope::{AccountSessions, BundlerClient, Client, SessionEntry, Stack, Submission, Version};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::account::{AccountInput, ResolvedAccount};
use crate::error::{Error, Result};
use crate::json::{check_len, from_value, hex_quantity, no_unknown, take, Quantity};
use crate::sessions::{self, Call, Limits, SessionRecord};
use crate::store::{redacted_database_url, Store, Stored};

mod multichain;
mod owner_ops;
mod session_ops;
mod validation;

use owner_ops::merge;

/// How the service is set up (the command line's options without the listening side).
#[derive(Clone)]
pub struct ServiceOptions {
    /// Bounds on requests.
    pub limits: Limits,
    /// Where the sessions this service builds are stored: `sqlite://PATH` (a file, created when missing),
    /// `sqlite::memory:` (gone at exit), or `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (shareable by several
    /// instances). Migrations run when the service starts. The default is `sqlite::memory:`, for embedding and
    /// tests; the binary's default is the file `keyscope-rpc.sqlite` in its working directory.
    pub database_url: String,
    /// Most connections to the database.
    pub database_connections: u32,
    /// Most sessions stored (in the database, for all the instances sharing it); a request whose new sessions
    /// do not fit fails (`-32005`), nothing is evicted.
    pub max_stored_sessions: usize,
    /// Most bytes the stored sessions may hold (their specs' and origins' JSON), likewise.
    pub max_stored_bytes: usize,
    /// First block searched for session events; a request's `fromBlock` is never below it.
    pub from_block: u64,
    /// Most blocks in one `eth_getLogs` request (a listing reads its range in chunks of this size).
    pub log_chunk_blocks: u64,
    /// The `handleOps` beneficiary (and `from`) of simulations.
    pub simulation_sender: Address,
    /// A bundler's JSON-RPC URL, checked to be on the node's chain.
    pub bundler_url: Option<String>,
    /// The sponsor of the ERC-7677 methods (`pm_getPaymasterStubData`, `pm_getPaymasterData`); `None`: they answer
    /// `-32601`.
    pub sponsor: Option<crate::sponsor::SponsorOptions>,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            database_url: "sqlite::memory:".into(),
            database_connections: 8,
            max_stored_sessions: 1_000_000,
            max_stored_bytes: 1024 * 1024 * 1024,
            from_block: 0,
            log_chunk_blocks: 10_000,
            // Any address with no code: simulations are eth_calls and pay no gas.
            simulation_sender: Address::repeat_byte(0x4b),
            bundler_url: None,
            sponsor: None,
        }
    }
}

/// Prints the bundler URL as `scheme://host:port` only: its path and query may carry an API key.
impl std::fmt::Debug for ServiceOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceOptions")
            .field("limits", &self.limits)
            .field("database_url", &redacted_database_url(&self.database_url))
            .field("database_connections", &self.database_connections)
            .field("max_stored_sessions", &self.max_stored_sessions)
            .field("max_stored_bytes", &self.max_stored_bytes)
            .field("from_block", &self.from_block)
            .field("log_chunk_blocks", &self.log_chunk_blocks)
            .field("simulation_sender", &self.simulation_sender)
            .field("bundler_url", &self.bundler_url.as_deref().map(url_origin))
            .field("sponsor", &self.sponsor)
            .finish()
    }
}

/// The service: a read-only client of the node, the stack, and the sessions it built.
pub(crate) struct Service {
    client: Client,
    /// `scheme://host:port` of the node (the rest of `--rpc-url` may carry an API key).
    rpc_origin: String,
    chain_id: u64,
    options: ServiceOptions,
    store: Store,
}

/// Prints the node's and the bundler's URLs as `scheme://host:port` only.
impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("rpc", &self.rpc_origin)
            .field("bundler", &self.bundler().map(BundlerClient::origin))
            .field("chain_id", &self.chain_id)
            .field("store", &self.store.backend())
            .field("stack", self.client.stack())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Connects to the node at `rpc_url`, checks that the Keyscope stack is deployed there (and that the bundler,
    /// if any, is on the same chain).
    pub(crate) async fn connect(rpc_url: &str, options: ServiceOptions) -> Result<Self> {
        if let Some(sponsor) = &options.sponsor {
            sponsor.check()?;
        }
        // Errors name neither URL: their paths and queries may carry API keys.
        let url = rpc_url
            .parse()
            .map_err(|e| Error::invalid("--rpc-url", format!("not a URL: {e}")))?;
        let provider = ProviderBuilder::new().connect_http(url).erased();
        let store = Store::open(
            &options.database_url,
            options.database_connections,
            u64::try_from(options.max_stored_sessions).unwrap_or(u64::MAX),
            u64::try_from(options.max_stored_bytes).unwrap_or(u64::MAX),
        )
        .await?;
        let stack = Stack::predicted();
        if !stack.is_deployed(&provider).await? {
            return Err(Error::invalid(
                "--rpc-url",
                "the Keyscope stack is not deployed on this chain (script/DeployKeyscope.s.sol or Stack::deploy_or_detect)",
            ));
        }
        let client = Client::new(provider, stack, options.simulation_sender).await?;
        let chain_id = client.chain_id();
        let bundler = match &options.bundler_url {
            None => None,
            Some(text) => {
                let url = text
                    .parse()
                    .map_err(|e| Error::invalid("--bundler-url", format!("not a URL: {e}")))?;
                let bundler = BundlerClient::new(url)?;
                let bundler_chain = bundler.chain_id().await?;
                if bundler_chain != chain_id {
                    return Err(Error::ChainMismatch {
                        field: "--bundler-url".into(),
                        given: bundler_chain,
                        node: chain_id,
                    });
                }
                Some(bundler)
            }
        };
        // Owner operations are estimated through the bundler when there is one (the SDK's submission seam).
        let client = match bundler {
            Some(bundler) => client.with_bundler(bundler),
            None => client,
        };
        Ok(Self {
            client,
            rpc_origin: url_origin(rpc_url),
            chain_id,
            store,
            options,
        })
    }

    /// The bundler the service estimates owner operations with (`--bundler-url`).
    fn bundler(&self) -> Option<&BundlerClient> {
        match self.client.submission() {
            Submission::Bundler(bundler) => Some(bundler),
            Submission::HandleOps => None,
        }
    }

    /// The node's chain id.
    pub(crate) fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The client (read-only: it never sends a transaction).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Now, in unix seconds: the later of this machine's clock and the latest block's time (a node's clock may run
    /// ahead, as anvil's does after `evm_increaseTime`).
    pub(crate) async fn now(&self) -> Result<u64> {
        let clock = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let chain = self
            .client
            .provider()
            .get_block_by_number(keyscope::alloy::eips::BlockNumberOrTag::Latest)
            .await?
            .map(|block| block.header.timestamp)
            .unwrap_or_default();
        Ok(clock.max(chain))
    }

    /// The first block searched for session events.
    pub(crate) fn first_block(&self) -> u64 {
        self.options.from_block
    }

    /// The request limits.
    pub(crate) fn limits(&self) -> &Limits {
        &self.options.limits
    }

    /// Checks a request's chain id (a quantity at `field`) against the node's; `required` when it must be there.
    pub(crate) fn check_chain(
        &self,
        value: Option<&Value>,
        field: &str,
        required: bool,
    ) -> Result<()> {
        let Some(value) = value else {
            return if required {
                Err(Error::invalid(field, "required"))
            } else {
                Ok(())
            };
        };
        let given = from_value::<Quantity>(value.clone(), field)?.to_u64(field)?;
        if given == self.chain_id {
            Ok(())
        } else {
            Err(Error::ChainMismatch {
                field: field.to_owned(),
                given,
                node: self.chain_id,
            })
        }
    }

    /// `-32602` on `field` unless `len` sessions (or ERC-7715 requests: `what`, singular) are at least one and
    /// at most `--max-sessions`.
    pub(crate) fn check_session_count(&self, field: &str, len: usize, what: &str) -> Result<()> {
        if len == 0 {
            return Err(Error::invalid(field, format!("at least one {what}")));
        }
        check_len(
            field,
            len,
            self.limits().sessions_per_request,
            &format!("{what}s"),
        )
    }

    /// Stores the sessions this service built, all in one transaction: those stored already keep their first
    /// entry. The number of new ones; `-32005` ([`Error::StoreFull`]) with nothing stored when they do not fit.
    pub(crate) async fn remember(&self, entries: &[Stored]) -> Result<usize> {
        self.store.insert(entries).await
    }

    /// The stored sessions among `ids` of `account` (built by this service, or by another instance sharing its
    /// database).
    pub(crate) async fn remembered(
        &self,
        account: Address,
        ids: &[B256],
    ) -> Result<HashMap<B256, Arc<Stored>>> {
        self.store.get_many(account, ids).await
    }

    /// The accounts of the sessions asked for with the API key named `api_key`, the most recently used first (at
    /// most `limit`).
    pub(crate) async fn accounts_of_key(
        &self,
        api_key: &str,
        limit: usize,
    ) -> Result<Vec<Address>> {
        self.store.accounts_of_key(api_key, limit).await
    }

    /// The database, without credentials (`postgres://host:port/database`, or the SQLite URL).
    pub(crate) fn database(&self) -> String {
        redacted_database_url(&self.options.database_url)
    }

    /// How full the store is (one row read: also the store's health check).
    pub(crate) async fn store_usage(&self) -> Result<crate::store::Usage> {
        self.store.usage().await
    }

    /// The store's backend (`sqlite`, `postgres`).
    pub(crate) fn store_backend(&self) -> &'static str {
        self.store.backend()
    }

    /// The service's options.
    pub(crate) fn options(&self) -> &ServiceOptions {
        &self.options
    }

    /// Closes the database's connections.
    pub(crate) async fn close(&self) {
        self.store.close().await;
    }

    /// The userOpHash of `op` on the EntryPoint of `version`, on the node's chain.
    pub(crate) fn user_op_hash(&self, version: Version, op: &PackedUserOperation) -> Result<B256> {
        Ok(self
            .client
            .stack()
            .entry_point(version)
            .user_op_hash(op, self.chain_id)
            .map_err(keyscope::Error::from)?)
    }

    /// The common head of answers about an account.
    pub(crate) fn account_json(&self, resolved: &ResolvedAccount) -> Map<String, Value> {
        let stack = self.client.stack();
        let version = resolved.account.version;
        let mut map = Map::new();
        map.insert("chainId".into(), json!(hex_quantity(self.chain_id)));
        map.insert("account".into(), json!(resolved.account.address));
        map.insert(
            "entryPoint".into(),
            json!(stack.version(version).entry_point),
        );
        map.insert("entryPointVersion".into(), json!(version.label()));
        map.insert("validator".into(), json!(stack.session_key_validator));
        map.insert("deployed".into(), json!(resolved.deployed));
        map
    }

    // ---------------------------------------------------------------------------------------------------------
    // keyscope_createSessions
    // ---------------------------------------------------------------------------------------------------------

    /// `keyscope_createSessions`: `{chainId?, account, sessions}` (or Particle's positional `[account, sessions]`).
    pub(crate) async fn create_sessions(&self, mut params: Map<String, Value>) -> Result<Value> {
        self.check_chain(params.remove("chainId").as_ref(), "chainId", false)?;
        let account: AccountInput = take(&mut params, "account")?;
        let sessions = match params.remove("sessions") {
            Some(Value::Array(list)) => list,
            Some(_) => return Err(Error::invalid("sessions", "expected an array of sessions")),
            None => return Err(Error::invalid("sessions", "required")),
        };
        self.check_session_count("sessions", sessions.len(), "session")?;
        no_unknown(&params)?;
        let mut compiled = Vec::with_capacity(sessions.len());
        for (i, value) in sessions.into_iter().enumerate() {
            let field = format!("sessions[{i}]");
            let (spec, origin) = sessions::parse_session(value, &field, self.limits())?;
            let session = sessions::compile(&spec, &field)?;
            compiled.push((spec, session, origin));
        }
        let resolved = account.resolve(&self.client, "account").await?;
        let grant = self.grant(resolved, compiled).await?;
        let mut answer = self.account_json(&grant.resolved);
        answer.insert("sessions".into(), json!(grant.records));
        merge(&mut answer, &grant.operation)?;
        Ok(Value::Object(answer))
    }

    // ---------------------------------------------------------------------------------------------------------
    // keyscope_revokeSessions
    // ---------------------------------------------------------------------------------------------------------

    /// `keyscope_revokeSessions`: `{chainId?, account, sessionIds: [...]}`, `{…, permissions: [{sessionId,
    /// leaf}, ...]}` (single permissions: the sessions' other permissions keep working) or `{…, all: true}`.
    pub(crate) async fn revoke_sessions(&self, mut params: Map<String, Value>) -> Result<Value> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct PermissionRef {
            session_id: B256,
            leaf: B256,
        }
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Params {
            #[serde(default)]
            chain_id: Option<Value>,
            account: AccountInput,
            #[serde(default)]
            session_ids: Option<Vec<B256>>,
            #[serde(default)]
            permissions: Option<Vec<PermissionRef>>,
            #[serde(default)]
            all: bool,
        }
        for field in ["sessionIds", "permissions"] {
            if let Some(Value::Array(ids)) = params.get(field) {
                check_len(
                    field,
                    ids.len(),
                    self.limits().session_ids_per_request,
                    "entries",
                )?;
            }
        }
        let p: Params = from_value(Value::Object(std::mem::take(&mut params)), "")?;
        self.check_chain(p.chain_id.as_ref(), "chainId", false)?;
        let validator = self.client.stack().session_key_validator;
        if p.permissions.is_some() && (p.session_ids.is_some() || p.all) {
            return Err(Error::invalid(
                "permissions",
                "give sessionIds, permissions or all, one of them",
            ));
        }
        if p.permissions.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::invalid(
                "permissions",
                "at least one {sessionId, leaf} to revoke",
            ));
        }
        let permissions = p.permissions.unwrap_or_default();
        let revoked_permissions: Vec<Value> = permissions
            .iter()
            .map(|p| json!({ "sessionId": p.session_id, "leaf": p.leaf }))
            .collect();
        let (calls, ids) = match (p.session_ids, p.all) {
            (None, false) if !permissions.is_empty() => (
                permissions
                    .iter()
                    .map(|p| {
                        Call::new(
                            validator,
                            SessionKeyValidator::revokePermissionCall {
                                sessionId: p.session_id,
                                leaf: p.leaf,
                            }
                            .abi_encode(),
                        )
                    })
                    .collect::<Vec<_>>(),
                vec![],
            ),
            (Some(ids), false) if !ids.is_empty() => (
                ids.iter()
                    .map(|id| {
                        Call::new(
                            validator,
                            SessionKeyValidator::revokeSessionCall { sessionId: *id }.abi_encode(),
                        )
                    })
                    .collect::<Vec<_>>(),
                ids,
            ),
            (None, true) => (
                vec![Call::new(
                    validator,
                    SessionKeyValidator::revokeAllSessionsCall {}.abi_encode(),
                )],
                vec![],
            ),
            (Some(_), true) => {
                return Err(Error::invalid("all", "give sessionIds or all, not both"))
            }
            _ => {
                return Err(Error::invalid(
                    "sessionIds",
                    "required: the sessions to revoke (or permissions: [{sessionId, leaf}], or all: true)",
                ))
            }
        };
        let resolved = p.account.resolve(&self.client, "account").await?;
        if !resolved.deployed {
            return Err(Error::invalid(
                "account",
                "the account has no code, so it has no sessions to revoke",
            ));
        }
        if !resolved.validator_installed {
            return Err(Error::invalid(
                "account",
                "the SessionKeyValidator is not installed on this account",
            ));
        }
        let operation = self.account_operation(&resolved, calls, None).await?;
        let mut answer = self.account_json(&resolved);
        answer.insert("sessionIds".into(), json!(ids));
        if !revoked_permissions.is_empty() {
            answer.insert("permissions".into(), Value::Array(revoked_permissions));
        }
        answer.insert("all".into(), json!(p.all));
        merge(&mut answer, &operation)?;
        Ok(Value::Object(answer))
    }

    // ---------------------------------------------------------------------------------------------------------
    // keyscope_getSessions
    // ---------------------------------------------------------------------------------------------------------

    /// `keyscope_getSessions`: `{account, fromBlock?, offset?, limit?}` or `[account, fromBlock?]`: one page of the
    /// account's sessions (at most `limit`, itself at most [`Limits::sessions_per_listing`]), from the session
    /// at `offset` (in the order of their first grant); `nextOffset` when more follow. `fromBlock` is never below
    /// `--from-block`.
    pub(crate) async fn get_sessions(&self, mut params: Map<String, Value>) -> Result<Value> {
        self.check_chain(params.remove("chainId").as_ref(), "chainId", false)?;
        let account = self
            .account_address(params.remove("account"), "account")
            .await?;
        let from_block = match params.remove("fromBlock") {
            Some(value) => from_value::<Quantity>(value, "fromBlock")?
                .to_u64("fromBlock")?
                .max(self.options.from_block),
            None => self.options.from_block,
        };
        let count = |params: &mut Map<String, Value>, field: &str| -> Result<Option<usize>> {
            params
                .remove(field)
                .map(|value| {
                    let n = from_value::<Quantity>(value, field)?.to_u64(field)?;
                    usize::try_from(n).map_err(|_| Error::invalid(field, "too large"))
                })
                .transpose()
        };
        let offset = count(&mut params, "offset")?.unwrap_or(0);
        let max = self.limits().sessions_per_listing;
        let limit = match count(&mut params, "limit")? {
            None => max,
            Some(limit) if (1..=max).contains(&limit) => limit,
            Some(limit) => {
                return Err(Error::invalid(
                    "limit",
                    format!("{limit}: between 1 and {max}"),
                ))
            }
        };
        no_unknown(&params)?;
        let listing = self.sessions_of(account, from_block).await?;
        let total = listing.sessions.len();
        let page: Vec<&SessionEntry> = listing.sessions.iter().skip(offset).take(limit).collect();
        let charged = self.client.fees_charged_in(&listing, &page).await?;
        let ids: Vec<B256> = page.iter().map(|entry| entry.session_id).collect();
        let stored = self.remembered(account, &ids).await?;
        let sessions = page
            .iter()
            .zip(charged)
            .map(|(entry, charged)| {
                self.session_json(entry, charged, stored.get(&entry.session_id))
            })
            .collect::<Result<Vec<_>>>()?;
        let end = offset.saturating_add(sessions.len());
        let mut answer = json!({
            "chainId": hex_quantity(self.chain_id),
            "account": account,
            "validator": self.client.stack().session_key_validator,
            "epoch": listing.epoch,
            "fromBlock": from_block,
            "blockNumber": listing.block_number,
            "total": total,
            "offset": offset,
            "sessions": sessions,
        });
        if end < total {
            answer["nextOffset"] = json!(end);
        }
        Ok(answer)
    }

    /// A listed session in JSON: `feesCharged` (when read), and its record and `feesLeft` when this service
    /// built it (the fee scope is in the session, which the chain does not keep).
    fn session_json(
        &self,
        entry: &SessionEntry,
        charged: Option<U256>,
        stored: Option<&Arc<Stored>>,
    ) -> Result<Value> {
        let mut json = serde_json::to_value(entry).map_err(|e| Error::Internal(e.to_string()))?;
        if let Some(charged) = charged {
            sessions::set_fees(&mut json, charged, stored.map(|s| &s.spec.fees));
        }
        if let Some(stored) = stored {
            json["record"] = json!(SessionRecord::new(&stored.compiled, &stored.spec)?);
        }
        Ok(json)
    }

    /// An account given as an address, or as an account object (resolved).
    pub(crate) async fn account_address(
        &self,
        value: Option<Value>,
        field: &str,
    ) -> Result<Address> {
        match value {
            None => Err(Error::invalid(field, "required")),
            Some(Value::String(text)) => from_value::<Address>(Value::String(text), field),
            Some(object) => {
                let input: AccountInput = from_value(object, field)?;
                match (input.address, input.owner) {
                    (Some(address), None) => Ok(address),
                    _ => Ok(input.resolve(&self.client, field).await?.account.address),
                }
            }
        }
    }

    /// The SDK's listing of `account`'s sessions from `from_block` ([`Client::sessions_of`], in chunks of
    /// `--log-chunk-blocks`); too many events is `-32602` on `fromBlock`.
    pub(crate) async fn sessions_of(
        &self,
        account: Address,
        from_block: u64,
    ) -> Result<AccountSessions> {
        self.client
            .sessions_of(account, from_block, self.options.log_chunk_blocks)
            .await
            .map_err(|error| match error {
                keyscope::Error::TooManySessionEvents { .. } => {
                    Error::invalid("fromBlock", format!("{error}: give a later fromBlock"))
                }
                other => Error::Node(other),
            })
    }

    /// `keyscope_info`: chain, stack and limits.
    pub(crate) fn info(&self) -> Value {
        let stack = self.client.stack();
        json!({
            "chainId": hex_quantity(self.chain_id),
            "validator": stack.session_key_validator,
            "ownerValidator": stack.owner_validator,
            "entryPoints": {
                "v0.7": { "entryPoint": stack.v07.entry_point, "accountFactory": stack.v07.account_factory },
                "v0.8": { "entryPoint": stack.v08.entry_point, "accountFactory": stack.v08.account_factory },
            },
            "bundler": self.bundler().map(BundlerClient::origin),
            "limits": {
                "sessionsPerRequest": self.limits().sessions_per_request,
                "permissionsPerSession": self.limits().permissions_per_session,
                "sessionIdsPerRequest": self.limits().session_ids_per_request,
                "sessionsPerListing": self.limits().sessions_per_listing,
            },
            "fromBlock": self.options.from_block,
            // What sessions get when a request does not say.
            "defaults": {
                "fees": sessions::fee_scope_json(&keyscope::permissions::FeeScopeSpec::default()),
                "paymaster": keyscope::permissions::PaymasterSpec::default(),
            },
            "sponsorship": self.sponsor_info(),
        })
    }
}
