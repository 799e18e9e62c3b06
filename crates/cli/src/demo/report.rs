//! The demo's steps: what each expected and what happened, who signed its user operation, the refusals it expects,
//! and their output (a line per step and its facts in text mode, as they come; one JSON document of the steps with
//! `--json`).

use alloy::primitives::U256;
use keyscope::bindings::session_key_validator::SessionKeyValidator::SessionKeyValidatorErrors;
use keyscope::signer::{SessionSigner, SignerKind};
use keyscope::{Client, Error, OpOutcome};
use serde::Serialize;
use serde_json::{json, Value};

use crate::output::{error_json, number, short};
use crate::Global;

/// What a step expected and what happened.
#[derive(Debug, Serialize)]
pub(super) struct Step {
    /// 1-based position.
    pub(super) step: usize,
    /// `setup`, `game`, `trading` or `expiry`.
    pub(super) use_case: &'static str,
    /// What the step does.
    pub(super) title: String,
    /// `ok`, or the refusal expected (`denied: AA23 TargetNotAllowed`).
    pub(super) expected: String,
    /// `ok`, `denied`, or `failed`.
    pub(super) outcome: &'static str,
    /// Whether the outcome is the expected one (and every check of the step held).
    pub(super) passed: bool,
    /// The kind of key that signed the step's user operation (`secp256k1`, `P-256`, `WebAuthn` or `multisig`):
    /// the owner's for a grant, the session's signer for a session operation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) signer_kind: Option<String>,
    /// Who signed it, in words (`the game's passkey (WebAuthn P-256, software authenticator, rp id game.example)`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) signed_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) user_op_hash: Option<alloy::primitives::B256>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) tx_hash: Option<alloy::primitives::B256>,
    /// Gas used by the `handleOps` transaction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) gas_used: Option<u64>,
    /// The user operation's `actualGasUsed` (`UserOperationEvent`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) actual_gas_used: Option<Value>,
    /// The refusal (or the unexpected error).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) error: Option<Value>,
    /// Addresses, ids and checks of the step, in the order they are shown.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "ordered_map")]
    pub(super) details: Details,
    /// Why the step failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) problem: Option<String>,
}

/// Named facts of a step, in order (a JSON object whose keys keep that order).
pub(super) type Details = Vec<(String, Value)>;

fn ordered_map<S: serde::Serializer>(details: &Details, serializer: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap as _;
    let mut map = serializer.serialize_map(Some(details.len()))?;
    for (key, value) in details {
        map.serialize_entry(key, value)?;
    }
    map.end()
}

/// Who signed a step's user operation: the kind of key, and in words.
pub(super) struct SignedBy {
    kind: SignerKind,
    text: String,
}

impl SignedBy {
    /// An account owner's secp256k1 key, through the owner ECDSA validator (a grant): `whose` (`the player's`).
    pub(super) fn owner(whose: &str) -> Self {
        Self {
            kind: SignerKind::Secp256k1,
            text: format!("{whose} key (secp256k1, through the owner ECDSA validator)"),
        }
    }

    /// A session's signer: `whose` (`the game's`) and what it is.
    pub(super) fn session(whose: &str, signer: &SessionSigner) -> Self {
        Self {
            kind: signer.kind(),
            text: format!("{whose} {}", describe_signer(signer)),
        }
    }

    fn apply(&self, step: &mut Step) {
        step.signer_kind = Some(self.kind.to_string());
        step.signed_by = Some(self.text.clone());
    }
}

/// A session signer in words: `passkey (WebAuthn P-256, software authenticator, rp id game.example)`.
pub(super) fn describe_signer(signer: &SessionSigner) -> String {
    match signer {
        SessionSigner::Secp256k1(_) => "session key (secp256k1)".into(),
        SessionSigner::P256(_) => "session key (P-256)".into(),
        SessionSigner::WebAuthn(authenticator) => format!(
            "passkey (WebAuthn P-256, software authenticator, rp id {})",
            authenticator.rp_id()
        ),
        SessionSigner::Multisig { threshold, members } => format!(
            "multisig (threshold {threshold}, {} members)",
            members.len()
        ),
    }
}

/// A refusal the demo expects: the `AAxx` code and, for `AA23`, the validator error (checked with its
/// parameters).
pub(super) struct Denial<'a> {
    pub(super) code: &'static str,
    pub(super) validator_error: Option<(&'static str, &'a ErrorCheck<'a>)>,
}

/// Whether a validator error has the expected parameters.
pub(super) type ErrorCheck<'a> = dyn Fn(&SessionKeyValidatorErrors) -> bool + 'a;

impl Denial<'_> {
    fn describe(&self) -> String {
        match &self.validator_error {
            Some((name, _)) => format!("denied: {} {name}", self.code),
            None => format!("denied: {}", self.code),
        }
    }

    fn matches(&self, error: &Error) -> bool {
        if error.aa_code() != Some(self.code) {
            return false;
        }
        match (&self.validator_error, error.validator_error()) {
            (Some((_, check)), Some(inner)) => check(inner),
            (None, None) => true,
            _ => false,
        }
    }
}

/// The steps so far, printed as they come in text mode.
pub(super) struct Demo {
    pub(super) global: Global,
    pub(super) steps: Vec<Step>,
}

impl Demo {
    pub(super) fn push(&mut self, mut step: Step) {
        step.step = self.steps.len() + 1;
        if !self.global.json && !self.global.quiet {
            print_step(&step);
        }
        self.steps.push(step);
    }

    /// A step that succeeded with no user operation.
    pub(super) fn done(&mut self, use_case: &'static str, title: String, details: Details) {
        self.push(Step {
            details,
            ..step(use_case, title, "ok".into())
        });
    }

    /// A user operation that must be included and succeed; `checks` are extra facts read from the chain after it
    /// (name, held).
    pub(super) fn expect_success(
        &mut self,
        use_case: &'static str,
        title: String,
        signed_by: &SignedBy,
        outcome: &OpOutcome,
        mut details: Details,
        checks: &[(&str, bool)],
    ) {
        let mut step = step(use_case, title, "ok".into());
        signed_by.apply(&mut step);
        step.user_op_hash = Some(outcome.user_op_hash);
        step.tx_hash = Some(outcome.tx_hash);
        step.gas_used = Some(outcome.gas_used);
        step.actual_gas_used = Some(number(outcome.actual_gas_used));
        let mut problems = vec![];
        if !outcome.success {
            problems.push(format!(
                "the operation reverted in execution{}",
                outcome
                    .revert
                    .as_ref()
                    .map(|r| format!(": {r}"))
                    .unwrap_or_default()
            ));
        }
        for (check, held) in checks {
            details.push(((*check).to_owned(), json!(held)));
            if !held {
                problems.push(format!("check failed: {check}"));
            }
        }
        step.details = details;
        step.passed = problems.is_empty();
        step.outcome = if outcome.success { "ok" } else { "failed" };
        step.problem = (!problems.is_empty()).then(|| problems.join("; "));
        self.push(step);
    }

    /// Sends a session operation that must be refused as `denial`.
    pub(super) async fn expect_denied(
        &mut self,
        client: &Client,
        use_case: &'static str,
        title: String,
        signed_by: &SignedBy,
        op: keyscope::PreparedOp,
        denial: Denial<'_>,
    ) {
        self.expect_denied_with(
            client,
            use_case,
            title,
            signed_by,
            op,
            denial,
            Details::new(),
            &[],
        )
        .await;
    }

    /// [`Demo::expect_denied`] with facts of the step and extra checks (name, held).
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn expect_denied_with(
        &mut self,
        client: &Client,
        use_case: &'static str,
        title: String,
        signed_by: &SignedBy,
        op: keyscope::PreparedOp,
        denial: Denial<'_>,
        mut details: Details,
        checks: &[(&str, bool)],
    ) {
        let mut step = step(use_case, title, denial.describe());
        signed_by.apply(&mut step);
        let mut problems = vec![];
        for (check, held) in checks {
            details.push(((*check).to_owned(), json!(held)));
            if !held {
                problems.push(format!("check failed: {check}"));
            }
        }
        step.details = details;
        step.user_op_hash = Some(op.user_op_hash);
        match client.send(&op).await {
            Ok(outcome) => {
                step.tx_hash = Some(outcome.tx_hash);
                step.gas_used = Some(outcome.gas_used);
                step.outcome = "failed";
                step.problem = Some(format!(
                    "the EntryPoint accepted the operation (transaction {})",
                    outcome.tx_hash
                ));
            }
            Err(error) => {
                step.passed = denial.matches(&error);
                step.outcome = if error.aa_code().is_some() {
                    "denied"
                } else {
                    "failed"
                };
                if !step.passed {
                    problems.insert(0, format!("not the expected refusal: {}", short(&error)));
                }
                step.error = Some(error_json(&error));
            }
        }
        if !problems.is_empty() {
            step.passed = false;
            step.problem = Some(problems.join("; "));
        }
        self.push(step);
    }

    /// Records the error that stopped the demo.
    pub(super) fn abort(&mut self, error: &anyhow::Error) {
        let mut step = step("setup", "the demo stopped".into(), "ok".into());
        step.outcome = "failed";
        step.passed = false;
        step.problem = Some(short(&format!("{error:#}")));
        self.push(step);
    }

    pub(super) fn failures(&self) -> usize {
        self.steps.iter().filter(|s| !s.passed).count()
    }
}

pub(super) fn step(use_case: &'static str, title: String, expected: String) -> Step {
    Step {
        step: 0,
        use_case,
        title,
        expected,
        outcome: "ok",
        passed: true,
        signer_kind: None,
        signed_by: None,
        user_op_hash: None,
        tx_hash: None,
        gas_used: None,
        actual_gas_used: None,
        error: None,
        details: Details::new(),
        problem: None,
    }
}

fn print_step(step: &Step) {
    let verdict = match (step.passed, step.outcome) {
        (true, "denied") => "DENIED as expected",
        (true, _) => "OK",
        (false, _) => "FAILED",
    };
    println!(
        "{:>2}. [{}] {}: {}",
        step.step, verdict, step.use_case, step.title
    );
    let indent = "      ";
    if let Some(signed_by) = &step.signed_by {
        println!("{indent}signed by: {signed_by}");
    }
    for (key, value) in &step.details {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Bool(true) => "yes".into(),
            Value::Bool(false) => "NO".into(),
            other => other.to_string(),
        };
        let mut lines = text.lines();
        println!(
            "{indent}{}: {}",
            key.replace('_', " "),
            lines.next().unwrap_or_default()
        );
        for line in lines {
            println!("{indent}  {line}");
        }
    }
    if let Some(hash) = step.user_op_hash {
        match (step.tx_hash, &step.error) {
            (Some(tx), _) => {
                println!("{indent}userOp {hash}");
                let actual = step
                    .actual_gas_used
                    .as_ref()
                    .map(|g| format!(", userOp actualGasUsed {g}"))
                    .unwrap_or_default();
                println!(
                    "{indent}tx {tx}: handleOps gasUsed {}{actual}",
                    step.gas_used.unwrap_or_default()
                );
            }
            (None, Some(error)) => {
                println!("{indent}userOp {hash}: not mined, refused in simulation");
                if let Some(message) = error.get("message").and_then(Value::as_str) {
                    println!("{indent}{message}");
                }
            }
            (None, None) => println!("{indent}userOp {hash}"),
        }
    } else if let Some(tx) = step.tx_hash {
        println!("{indent}tx {tx}");
    }
    if let Some(problem) = &step.problem {
        println!("{indent}PROBLEM: {problem}");
    }
}

pub(super) fn details(pairs: &[(&str, Value)]) -> Details {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

pub(super) fn ether(wei: u128) -> String {
    keyscope::permissions::values::format_native(U256::from(wei))
}
