//! Building operations: what a test operation is made of ([`Plan`]: mode, calls, permission entries, gas,
//! paymaster, signature edits) and how it is encoded and signed.

use alloy::node_bindings::AnvilInstance;
use alloy::primitives::{Address, Bytes, B256, U256};
use keyscope::bindings::session_key_validator::SessionKeyValidator;
use keyscope::signer::{
    enable_digest, owner_signature, MultichainEnable, MultichainEntry, SessionKey,
};
use keyscope::{
    execute_batch, execute_single, nonce_key, session_lane, Account, Client, PreparedOp,
};

use crate::generators::TestSession;

#[derive(Clone)]
pub(crate) struct Entry {
    pub(crate) permission: usize,
    pub(crate) window: u32,
    pub(crate) bad_proof: bool,
    /// An empty permission: the call is presented as the session's own revocation (`permission` is ignored).
    pub(crate) self_revocation: bool,
}

impl Entry {
    pub(crate) fn new(permission: usize) -> Self {
        Self {
            permission,
            window: 0,
            bad_proof: false,
            self_revocation: false,
        }
    }

    /// The empty permission entry of the session's own revocation.
    pub(crate) fn self_revocation() -> Self {
        Self {
            self_revocation: true,
            ..Self::new(0)
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Use,
    /// Enable mode; `true`: a valid owner signature.
    Enable(bool),
    /// Multichain enable mode (2), the owner signing once for this chain and three others; `true`: the proof of
    /// this chain's entry, `false`: the proof of another chain's entry (another root: a bad owner signature).
    Multichain(bool),
    Raw(u8),
}

#[derive(Clone)]
pub(crate) enum SigEdit {
    None,
    Truncate(usize),
    Append(usize),
    Byte(usize, u8),
}

/// An operation's gas fields, set over the client's before the operation is hashed.
#[derive(Clone, Copy)]
pub(crate) struct Gas {
    pub(crate) verification: u128,
    pub(crate) call: u128,
    pub(crate) pre_verification: U256,
    pub(crate) priority: u128,
    pub(crate) max_fee: u128,
}

impl Gas {
    /// `verification + call + pre_verification` gas at `max_fee` wei (and priority fee) a gas.
    pub(crate) fn new(
        verification: u128,
        call: u128,
        pre_verification: u128,
        max_fee: u128,
    ) -> Self {
        Self {
            verification,
            call,
            pre_verification: U256::from(pre_verification),
            priority: max_fee,
            max_fee,
        }
    }

    /// Gas fields whose maximum cost is exactly `fee` wei at `max_fee` wei a gas (`max_fee` divides `fee`), with
    /// `extra` gas more in preVerificationGas; `paymaster_gas` is the paymaster's share of the total.
    pub(crate) fn costing(fee: u128, max_fee: u128, paymaster_gas: u128, extra: u128) -> Self {
        assert_eq!(fee % max_fee, 0);
        let total = fee / max_fee;
        let (verification, call) = (600_000, 300_000);
        Self::new(
            verification,
            call,
            total - verification - call - paymaster_gas + extra,
            max_fee,
        )
    }
}

#[derive(Clone)]
pub(crate) struct Plan {
    pub(crate) mode: Mode,
    pub(crate) call_data: Bytes,
    pub(crate) entries: Vec<Entry>,
    pub(crate) paymaster_and_data: Bytes,
    pub(crate) gas: Option<Gas>,
    pub(crate) wrong_key: bool,
    pub(crate) session_override: Option<Vec<u8>>,
    pub(crate) edit: SigEdit,
    pub(crate) label: &'static str,
}

impl Plan {
    pub(crate) fn new(label: &'static str, call_data: Bytes, entries: Vec<Entry>) -> Self {
        Self {
            mode: Mode::Use,
            call_data,
            entries,
            paymaster_and_data: Bytes::new(),
            gas: None,
            wrong_key: false,
            session_override: None,
            edit: SigEdit::None,
            label,
        }
    }

    pub(crate) fn single(
        label: &'static str,
        target: Address,
        value: U256,
        data: Bytes,
        permission: usize,
    ) -> Self {
        Self::new(
            label,
            execute_single(target, value, &data),
            vec![Entry::new(permission)],
        )
    }

    pub(crate) fn batch(label: &'static str, calls: &[(Address, U256, Bytes, usize)]) -> Self {
        let executions: Vec<_> = calls
            .iter()
            .map(|(t, v, d, _)| (*t, *v, d.clone()))
            .collect();
        let entries = calls.iter().map(|c| Entry::new(c.3)).collect();
        Self::new(label, execute_batch(&executions), entries)
    }
}

pub(crate) struct Env {
    pub(crate) _anvil: AnvilInstance,
    pub(crate) client: Client,
    pub(crate) owner: SessionKey,
    pub(crate) other_key: SessionKey,
}

/// The test's session signature encoder: raw permission bytes, any mode byte.
fn encode_signature(
    session: &TestSession,
    plan: &Plan,
    owner_signature: &[u8],
    chain_proof: &[B256],
    ecdsa: &[u8],
) -> Vec<u8> {
    let mut out = vec![match plan.mode {
        Mode::Use => 0,
        Mode::Enable(_) => 1,
        Mode::Multichain(_) => 2,
        Mode::Raw(byte) => byte,
    }];
    match &plan.session_override {
        Some(bytes) => out.extend_from_slice(bytes),
        None => out.extend_from_slice(&session.session.encode()),
    }
    if let Mode::Multichain(_) = plan.mode {
        out.push(chain_proof.len() as u8);
        for node in chain_proof {
            out.extend_from_slice(node.as_slice());
        }
    }
    if matches!(plan.mode, Mode::Enable(_) | Mode::Multichain(_)) {
        out.extend_from_slice(&(owner_signature.len() as u16).to_be_bytes());
        out.extend_from_slice(owner_signature);
    }
    out.push(plan.entries.len() as u8);
    for entry in &plan.entries {
        if entry.self_revocation {
            out.extend_from_slice(&0u16.to_be_bytes());
            continue;
        }
        let encoding = &session.encodings[entry.permission];
        out.extend_from_slice(&(encoding.len() as u16).to_be_bytes());
        out.extend_from_slice(encoding);
        let mut proof = session.tree.proof(entry.permission).unwrap();
        if entry.bad_proof {
            match proof.first_mut() {
                Some(node) => node.0[0] ^= 1,
                None => proof.push(B256::repeat_byte(1)),
            }
        }
        out.push(proof.len() as u8);
        for node in &proof {
            out.extend_from_slice(node.as_slice());
        }
        out.extend_from_slice(&entry.window.to_be_bytes());
    }
    // the session signature is the rest: no length prefix
    out.extend_from_slice(ecdsa);
    out
}

pub(crate) async fn build(
    env: &Env,
    account: &Account,
    session: &TestSession,
    plan: &Plan,
) -> PreparedOp {
    let client = &env.client;
    let validator = client.stack().session_key_validator;
    let key = nonce_key(validator, session_lane(session.id()));
    let mut op = client
        .unsigned_op(account, key, plan.call_data.clone())
        .await
        .unwrap();
    op.paymasterAndData = plan.paymaster_and_data.clone();
    if let Some(gas) = plan.gas {
        op.set_gas_limits(gas.verification, gas.call);
        op.preVerificationGas = gas.pre_verification;
        op.set_gas_fees(gas.priority, gas.max_fee);
    }
    let user_op_hash = client
        .stack()
        .entry_point(account.version)
        .user_op_hash(&op, client.chain_id())
        .unwrap();
    let mut chain_proof = vec![];
    let owner_sig = if let Mode::Multichain(own) = plan.mode {
        let epoch = SessionKeyValidator::new(validator, client.provider().clone())
            .epochOf(account.address)
            .call()
            .await
            .unwrap();
        let chain_id = client.chain_id();
        // four entries: every proof has two nodes
        let entries = [chain_id, chain_id + 1, chain_id + 2, chain_id + 3]
            .map(|chain| MultichainEntry::new(chain, account.address, epoch, session.id()));
        let tree = MultichainEnable::new(entries.to_vec()).unwrap();
        chain_proof = tree.proof(if own { 0 } else { 1 }).unwrap();
        let digest = tree.digest(validator);
        owner_signature(
            &env.owner,
            client.stack().owner_validator.as_slice(),
            &digest,
        )
        .unwrap()
    } else if let Mode::Enable(valid) = plan.mode {
        let epoch = SessionKeyValidator::new(validator, client.provider().clone())
            .epochOf(account.address)
            .call()
            .await
            .unwrap();
        let digest = enable_digest(
            validator,
            client.chain_id(),
            account.address,
            epoch,
            session.id(),
        );
        let signer = if valid { &env.owner } else { &env.other_key };
        owner_signature(signer, client.stack().owner_validator.as_slice(), &digest).unwrap()
    } else {
        vec![]
    };
    let signer = if plan.wrong_key {
        &env.other_key
    } else {
        &session.key
    };
    let ecdsa = signer.sign_hash_bytes(&user_op_hash).unwrap();
    let mut signature = encode_signature(session, plan, &owner_sig, &chain_proof, &ecdsa);
    match plan.edit {
        SigEdit::None => {}
        SigEdit::Truncate(len) => signature.truncate(len),
        SigEdit::Append(extra) => signature.extend(std::iter::repeat_n(0x5a, extra)),
        SigEdit::Byte(at, byte) => {
            let len = signature.len();
            signature[at % len] = byte;
        }
    }
    op.signature = signature.into();
    PreparedOp {
        version: account.version,
        op,
        user_op_hash,
    }
}
