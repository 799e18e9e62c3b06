//! The Keyscope stack: where every contract lives, and deploying what is missing.
//!
//! Everything goes through the deterministic deployment proxy ([`CREATE2_DEPLOYER`]) with the salts of
//! `script/DeployKeyscope.s.sol` and the init code from `keyscope-bindings` (the same artifacts forge builds), so
//! the addresses are those of the forge deployment on every chain:
//!
//! | contract | salt | init code |
//! | --- | --- | --- |
//! | EntryPoint v0.7 | [`ENTRY_POINT_V07_SALT`] | npm `@account-abstraction/contracts@0.7.0` |
//! | EntryPoint v0.8 | [`ENTRY_POINT_V08_SALT`] | npm `@account-abstraction/contracts@0.8.0` |
//! | SessionKeyValidator | `keccak256("keyscope.deploy.SessionKeyValidator")` | creation code |
//! | OwnerECDSAValidator | `keccak256("keyscope.deploy.OwnerECDSAValidator")` | creation code |
//! | KeyscopeAccount (per EntryPoint) | `keccak256("keyscope.deploy.KeyscopeAccount")` | creation code ‖ `abi.encode(entryPoint)` |
//! | KeyscopeAccountFactory (per EntryPoint) | `keccak256("keyscope.deploy.KeyscopeAccountFactory")` | creation code ‖ `abi.encode(implementation, ownerValidator)` |
//!
//! Two more contracts belong to a provider rather than to the stack, so their addresses depend on who owns them;
//! they are deployed the same way, on demand:
//!
//! | contract | salt | init code |
//! | --- | --- | --- |
//! | StakedAccountFactory (per EntryPoint and stake owner) | `keccak256("keyscope.deploy.StakedAccountFactory")` | creation code ‖ `abi.encode(factory, owner)` |
//! | SponsorPaymaster (per EntryPoint, sponsor and owner) | `keccak256("keyscope.deploy.SponsorPaymaster")` | creation code ‖ `abi.encode(entryPoint, sponsor, owner)` |

use alloy::network::TransactionBuilder;
use alloy::primitives::U256;
use alloy::primitives::{address, b256, keccak256, Address, Bytes, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use keyscope_bindings::{
    entry_point_v07, entry_point_v08, KeyscopeAccount, KeyscopeAccountFactory, OwnerECDSAValidator,
    SessionKeyValidator, SponsorPaymaster, StakedAccountFactory,
};
use keyscope_signer::{ENTRY_POINT_V07, ENTRY_POINT_V08};

use crate::error::{Error, Result};

/// The deterministic deployment proxy (Arachnid), present on most chains and in anvil.
pub const CREATE2_DEPLOYER: Address = address!("4e59b44847b379578588920cA78FbF26c0B4956C");
/// CREATE2 salt of the canonical EntryPoint v0.7 deployment.
pub const ENTRY_POINT_V07_SALT: B256 =
    b256!("90d8084deab30c2a37c45e8d47f49f2f7965183cb6990a98943ef94940681de3");
/// CREATE2 salt of the canonical EntryPoint v0.8 deployment.
pub const ENTRY_POINT_V08_SALT: B256 =
    b256!("0a59dbff790c23c976a548690c27297883cc66b4c67024f9117b0238995e35e9");

/// `keccak256("keyscope.deploy.SessionKeyValidator")`.
pub fn session_key_validator_salt() -> B256 {
    keccak256("keyscope.deploy.SessionKeyValidator")
}
/// `keccak256("keyscope.deploy.OwnerECDSAValidator")`.
pub fn owner_validator_salt() -> B256 {
    keccak256("keyscope.deploy.OwnerECDSAValidator")
}
/// `keccak256("keyscope.deploy.KeyscopeAccount")` (the EntryPoint argument tells the implementations apart).
pub fn account_implementation_salt() -> B256 {
    keccak256("keyscope.deploy.KeyscopeAccount")
}
/// `keccak256("keyscope.deploy.KeyscopeAccountFactory")` (the implementation argument tells the factories apart).
pub fn account_factory_salt() -> B256 {
    keccak256("keyscope.deploy.KeyscopeAccountFactory")
}

/// `keccak256("keyscope.deploy.StakedAccountFactory")` (the factory and owner arguments tell the fronts apart).
pub fn staked_account_factory_salt() -> B256 {
    keccak256("keyscope.deploy.StakedAccountFactory")
}
/// `keccak256("keyscope.deploy.SponsorPaymaster")` (the EntryPoint, sponsor and owner arguments tell them apart).
pub fn sponsor_paymaster_salt() -> B256 {
    keccak256("keyscope.deploy.SponsorPaymaster")
}

/// An EntryPoint version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// EntryPoint v0.7.
    V07,
    /// EntryPoint v0.8.
    V08,
}

impl Version {
    /// Every version, oldest first.
    pub const ALL: [Version; 2] = [Version::V07, Version::V08];

    /// `"v0.7"` / `"v0.8"` (also its [`Display`](core::fmt::Display) form).
    pub const fn label(self) -> &'static str {
        match self {
            Self::V07 => "v0.7",
            Self::V08 => "v0.8",
        }
    }
}

impl core::fmt::Display for Version {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.label())
    }
}

/// A text that names no EntryPoint version ([`Version`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown EntryPoint version {0:?} (v0.7 or v0.8)")]
pub struct ParseVersionError(pub String);

impl core::str::FromStr for Version {
    type Err = ParseVersionError;

    /// `"v0.7"`, `"0.7"`, `"0.7.0"`, `"07"` (an optional `v` or `V`, surrounding blanks ignored), and the same for
    /// v0.8.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().trim_start_matches(['v', 'V']) {
            "0.7" | "0.7.0" | "07" => Ok(Self::V07),
            "0.8" | "0.8.0" | "08" => Ok(Self::V08),
            _ => Err(ParseVersionError(text.to_owned())),
        }
    }
}

/// The contracts of one EntryPoint version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionStack {
    /// The EntryPoint (canonical address).
    pub entry_point: Address,
    /// The `KeyscopeAccount` implementation bound to it.
    pub account_implementation: Address,
    /// The `KeyscopeAccountFactory` cloning that implementation.
    pub account_factory: Address,
}

/// One contract of the stack and whether [`Stack::deploy_or_detect`] found it or deployed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// Which contract.
    pub name: String,
    /// Its address.
    pub address: Address,
    /// Whether it had code already.
    pub existed: bool,
}

/// Every Keyscope contract on a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// The `SessionKeyValidator`.
    pub session_key_validator: Address,
    /// The `OwnerECDSAValidator`.
    pub owner_validator: Address,
    /// EntryPoint v0.7 and its account implementation and factory.
    pub v07: VersionStack,
    /// EntryPoint v0.8 and its account implementation and factory.
    pub v08: VersionStack,
}

/// A contract to deploy: name, salt, init code.
struct Plan {
    name: String,
    salt: B256,
    init_code: Vec<u8>,
    address: Address,
}

impl Plan {
    fn new(name: impl Into<String>, salt: B256, init_code: Vec<u8>) -> Self {
        let address = CREATE2_DEPLOYER.create2_from_code(salt, &init_code);
        Self {
            name: name.into(),
            salt,
            init_code,
            address,
        }
    }
}

impl Plan {
    /// Deploys the contract through [`CREATE2_DEPLOYER`] from `from` unless its address has code already.
    async fn deploy_if_missing<P: Provider>(
        &self,
        provider: &P,
        from: Address,
    ) -> Result<Deployed> {
        let existed = !provider.get_code_at(self.address).await?.is_empty();
        if !existed {
            if provider.get_code_at(CREATE2_DEPLOYER).await?.is_empty() {
                return Err(Error::NoCreate2Deployer(CREATE2_DEPLOYER));
            }
            let mut input = self.salt.to_vec();
            input.extend_from_slice(&self.init_code);
            let tx = TransactionRequest::default()
                .with_from(from)
                .with_to(CREATE2_DEPLOYER)
                .with_input(input);
            let receipt = provider.send_transaction(tx).await?.get_receipt().await?;
            if !receipt.status() {
                return Err(Error::TransactionReverted {
                    what: format!("deploy {}", self.name),
                    tx_hash: receipt.transaction_hash,
                });
            }
            if provider.get_code_at(self.address).await?.is_empty() {
                return Err(Error::DeploymentFailed {
                    name: self.name.clone(),
                    address: self.address,
                });
            }
        }
        Ok(Deployed {
            name: self.name.clone(),
            address: self.address,
            existed,
        })
    }
}

fn with_args(creation: &Bytes, args: &[Address]) -> Vec<u8> {
    let mut code = creation.to_vec();
    for arg in args {
        code.extend_from_slice(arg.into_word().as_slice());
    }
    code
}

impl Stack {
    /// The addresses the stack has on every chain (computed offline from the salts and init code).
    pub fn predicted() -> Self {
        let plans = Self::plans();
        Self::from_addresses(&plans.iter().map(|p| p.address).collect::<Vec<_>>())
    }

    /// The stack for `version`.
    pub fn version(&self, version: Version) -> &VersionStack {
        match version {
            Version::V07 => &self.v07,
            Version::V08 => &self.v08,
        }
    }

    /// The version whose EntryPoint is at `entry_point`, if it is one of this stack's.
    pub fn version_of(&self, entry_point: Address) -> Option<Version> {
        Version::ALL
            .into_iter()
            .find(|version| self.version(*version).entry_point == entry_point)
    }

    /// The EntryPoint of `version`, as `keyscope-signer` hashes user operations for it.
    pub fn entry_point(&self, version: Version) -> keyscope_signer::EntryPoint {
        match version {
            Version::V07 => keyscope_signer::EntryPoint::V07(self.v07.entry_point),
            Version::V08 => keyscope_signer::EntryPoint::V08(self.v08.entry_point),
        }
    }

    fn from_addresses(a: &[Address]) -> Self {
        Self {
            session_key_validator: a[2],
            owner_validator: a[3],
            v07: VersionStack {
                entry_point: a[0],
                account_implementation: a[4],
                account_factory: a[5],
            },
            v08: VersionStack {
                entry_point: a[1],
                account_implementation: a[6],
                account_factory: a[7],
            },
        }
    }

    /// What `script/DeployKeyscope.s.sol` deploys, in its order.
    fn plans() -> Vec<Plan> {
        let ep07 = Plan::new(
            "EntryPoint v0.7",
            ENTRY_POINT_V07_SALT,
            entry_point_v07::EntryPoint::BYTECODE.to_vec(),
        );
        let ep08 = Plan::new(
            "EntryPoint v0.8",
            ENTRY_POINT_V08_SALT,
            entry_point_v08::EntryPoint::BYTECODE.to_vec(),
        );
        let skv = Plan::new(
            "SessionKeyValidator",
            session_key_validator_salt(),
            SessionKeyValidator::BYTECODE.to_vec(),
        );
        let owner = Plan::new(
            "OwnerECDSAValidator",
            owner_validator_salt(),
            OwnerECDSAValidator::BYTECODE.to_vec(),
        );
        let mut plans = vec![];
        let mut per_version = vec![];
        for (label, entry_point) in [("v0.7", ep07.address), ("v0.8", ep08.address)] {
            let implementation = Plan::new(
                format!("KeyscopeAccount implementation (EntryPoint {label})"),
                account_implementation_salt(),
                with_args(&KeyscopeAccount::BYTECODE, &[entry_point]),
            );
            let factory = Self::account_factory_plan(label, implementation.address, owner.address);
            per_version.push(implementation);
            per_version.push(factory);
        }
        plans.extend([ep07, ep08, skv, owner]);
        plans.extend(per_version);
        plans
    }

    /// Deploys what is missing of the stack through [`CREATE2_DEPLOYER`], sending from `from` (the provider must
    /// sign for it), and returns the stack with what was found and what was deployed. Idempotent: a contract with
    /// code at its predicted address is left alone. Fails with [`Error::AddressMismatch`] if the EntryPoint init
    /// code does not give the canonical address, and with [`Error::NoCreate2Deployer`] on a chain without the
    /// proxy.
    pub async fn deploy_or_detect<P: Provider>(
        provider: &P,
        from: Address,
    ) -> Result<(Self, Vec<Deployed>)> {
        let plans = Self::plans();
        for (plan, expected) in plans.iter().zip([ENTRY_POINT_V07, ENTRY_POINT_V08]) {
            if plan.address != expected {
                return Err(Error::AddressMismatch {
                    name: if expected == ENTRY_POINT_V07 {
                        "EntryPoint v0.7"
                    } else {
                        "EntryPoint v0.8"
                    },
                    expected,
                    computed: plan.address,
                });
            }
        }
        let mut report = Vec::with_capacity(plans.len());
        for plan in &plans {
            report.push(plan.deploy_if_missing(provider, from).await?);
        }
        Ok((
            Self::from_addresses(&plans.iter().map(|p| p.address).collect::<Vec<_>>()),
            report,
        ))
    }

    fn account_factory_plan(
        label: &str,
        implementation: Address,
        owner_validator: Address,
    ) -> Plan {
        Plan::new(
            format!("KeyscopeAccountFactory (EntryPoint {label})"),
            account_factory_salt(),
            with_args(
                &KeyscopeAccountFactory::BYTECODE,
                &[implementation, owner_validator],
            ),
        )
    }

    /// The front of the stack's own factory of `version` (derived from the implementation and the owner validator,
    /// so that it does not front a front after [`Stack::with_account_factory`]).
    fn staked_account_factory_plan(&self, version: Version, owner: Address) -> Plan {
        let factory = Self::account_factory_plan(
            version.label(),
            self.version(version).account_implementation,
            self.owner_validator,
        );
        Plan::new(
            format!("StakedAccountFactory (EntryPoint {version}, owner {owner})"),
            staked_account_factory_salt(),
            with_args(&StakedAccountFactory::BYTECODE, &[factory.address, owner]),
        )
    }

    fn sponsor_paymaster_plan(&self, version: Version, sponsor: Address, owner: Address) -> Plan {
        Plan::new(
            format!("SponsorPaymaster (EntryPoint {version}, sponsor {sponsor})"),
            sponsor_paymaster_salt(),
            with_args(
                &SponsorPaymaster::BYTECODE,
                &[self.version(version).entry_point, sponsor, owner],
            ),
        )
    }

    /// Where the `StakedAccountFactory` fronting `version`'s factory, with its stake managed by `owner`, is (or
    /// will be) deployed.
    pub fn staked_account_factory(&self, version: Version, owner: Address) -> Address {
        self.staked_account_factory_plan(version, owner).address
    }

    /// Where the `SponsorPaymaster` of `version`'s EntryPoint paying for what `sponsor` signs, owned by `owner`, is
    /// (or will be) deployed.
    pub fn sponsor_paymaster(&self, version: Version, sponsor: Address, owner: Address) -> Address {
        self.sponsor_paymaster_plan(version, sponsor, owner).address
    }

    /// Deploys (unless present) the `StakedAccountFactory` of [`Stack::staked_account_factory`], sending from
    /// `from`. It has no stake yet: see [`Stack::stake_account_factory`].
    pub async fn deploy_staked_account_factory<P: Provider>(
        &self,
        provider: &P,
        from: Address,
        version: Version,
        owner: Address,
    ) -> Result<Deployed> {
        self.staked_account_factory_plan(version, owner)
            .deploy_if_missing(provider, from)
            .await
    }

    /// Deploys (unless present) the `SponsorPaymaster` of [`Stack::sponsor_paymaster`], sending from `from`. Its
    /// deposit is empty: anyone may fund it with `deposit()`.
    pub async fn deploy_sponsor_paymaster<P: Provider>(
        &self,
        provider: &P,
        from: Address,
        version: Version,
        sponsor: Address,
        owner: Address,
    ) -> Result<Deployed> {
        self.sponsor_paymaster_plan(version, sponsor, owner)
            .deploy_if_missing(provider, from)
            .await
    }

    /// Adds `value` wei to the stake of the `StakedAccountFactory` at `front` in its EntryPoint with
    /// `unstake_delay_secs`, sending from `owner` (the front's owner: nobody else may). ERC-7562 bundlers count an
    /// entity as staked from one day of unstake delay and a chain-specific minimum stake.
    pub async fn stake_account_factory<P: Provider>(
        provider: &P,
        owner: Address,
        front: Address,
        value: U256,
        unstake_delay_secs: u32,
    ) -> Result<()> {
        let receipt = StakedAccountFactory::new(front, provider)
            .addStake(unstake_delay_secs)
            .value(value)
            .from(owner)
            .send()
            .await?
            .get_receipt()
            .await?;
        if !receipt.status() {
            return Err(Error::TransactionReverted {
                what: format!("stake the account factory front {front}"),
                tx_hash: receipt.transaction_hash,
            });
        }
        Ok(())
    }

    /// This stack with `factory` (e.g. a [`Stack::staked_account_factory`] front) as `version`'s account factory:
    /// the one the client puts in `initCode` and asks for counterfactual addresses. It must create the same
    /// accounts as the stack's own factory.
    pub fn with_account_factory(mut self, version: Version, factory: Address) -> Self {
        match version {
            Version::V07 => self.v07.account_factory = factory,
            Version::V08 => self.v08.account_factory = factory,
        }
        self
    }

    /// Whether every contract of the stack has code on the provider's chain.
    pub async fn is_deployed(&self, provider: &DynProvider) -> Result<bool> {
        for address in [
            self.session_key_validator,
            self.owner_validator,
            self.v07.entry_point,
            self.v07.account_implementation,
            self.v07.account_factory,
            self.v08.entry_point,
            self.v08.account_implementation,
            self.v08.account_factory,
        ] {
            if provider.get_code_at(address).await?.is_empty() {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_points_land_at_canonical_addresses() {
        let stack = Stack::predicted();
        assert_eq!(stack.v07.entry_point, ENTRY_POINT_V07);
        assert_eq!(stack.v08.entry_point, ENTRY_POINT_V08);
        assert_ne!(
            stack.v07.account_implementation,
            stack.v08.account_implementation
        );
        assert_ne!(stack.v07.account_factory, stack.v08.account_factory);
    }

    #[test]
    fn versions_parse_print_and_resolve() {
        for text in ["v0.7", "0.7", "0.7.0", "07", " V0.7 "] {
            assert_eq!(text.parse::<Version>(), Ok(Version::V07), "{text}");
        }
        for text in ["v0.8", "0.8", "0.8.0", "08"] {
            assert_eq!(text.parse::<Version>(), Ok(Version::V08), "{text}");
        }
        for text in [
            "0.6",
            "v",
            "",
            "0.7.1",
            "0x0000000071727De22E5E9d8BAf0edAc6f37da032",
        ] {
            let error = text.parse::<Version>().err();
            assert_eq!(error, Some(ParseVersionError(text.to_owned())), "{text}");
        }
        assert_eq!(Version::V07.to_string(), "v0.7");
        assert_eq!(Version::V08.label(), "v0.8");
        for version in Version::ALL {
            assert_eq!(version.label().parse::<Version>(), Ok(version));
        }
        let stack = Stack::predicted();
        assert_eq!(stack.version_of(ENTRY_POINT_V08), Some(Version::V08));
        assert_eq!(stack.version_of(stack.v07.entry_point), Some(Version::V07));
        assert_eq!(stack.version_of(stack.session_key_validator), None);
    }
}
