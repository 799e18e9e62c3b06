//! `keyscope tree build`: a session's permission tree, root and proofs as JSON.

use std::io::{BufWriter, IsTerminal as _, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, Context as _, Result};
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keyscope::permissions::{CompiledSession, SessionSpec, B256};
use serde_json::{json, Value};

use crate::keys::read_text;
use crate::output;
use crate::Global;

/// Trees at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_FROM: usize = 1000;

/// `keyscope tree …`.
#[derive(Debug, Subcommand)]
pub enum TreeCommand {
    /// Build the permissions' Merkle tree (OpenZeppelin StandardMerkleTree layout): the root, each permission's
    /// leaf and proof, in the file's order, as JSON; or, with --format oz, StandardMerkleTree's dump format, which
    /// `StandardMerkleTree.load` of @openzeppelin/merkle-tree reads.
    Build(BuildArgs),
}

/// What `tree build` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TreeFormat {
    /// The root, session id, leaves and proofs (streamed: fit for millions of permissions).
    Keyscope,
    /// OpenZeppelin StandardMerkleTree's dump ({"format": "standard-v1", "leafEncoding", "tree", "values"}):
    /// each value is one permission, the ABI tuple the contract hashes into its leaf.
    Oz,
}

/// The leaf encoding of a permission: `ISessionKeyValidator.Permission` as one ABI tuple.
const PERMISSION_TUPLE: &str = concat!(
    "(address,bytes4,uint8,uint256,uint256,uint256,uint48,uint48,uint32,uint32,uint48,",
    "(uint8,uint16,bytes32[])[])"
);

/// `tree build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The session as JSON (keyscope-permissions format), with its permissions.
    #[arg(long, short, value_name = "FILE")]
    permissions: PathBuf,
    /// Write the tree's JSON here instead of stdout (stdout then gets a one-line summary, or a JSON one with
    /// --json).
    #[arg(long, short, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The output format.
    #[arg(long, value_enum, default_value = "keyscope")]
    format: TreeFormat,
}

/// `keyscope tree …`.
pub fn run(command: TreeCommand, global: Global) -> Result<()> {
    let TreeCommand::Build(args) = command;
    let show_progress = !global.json && !global.quiet && std::io::stderr().is_terminal();
    let spinner = |message: String| {
        if !show_progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message);
        bar.enable_steady_tick(Duration::from_millis(100));
        bar
    };

    let reading = spinner(format!("reading {}", args.permissions.display()));
    let text = read_text(&args.permissions, "permissions file")?;
    let spec =
        SessionSpec::from_json(&text).with_context(|| args.permissions.display().to_string())?;
    drop(text);
    reading.finish_and_clear();
    let count = spec.permissions.len();

    let compiling = if count >= PROGRESS_FROM {
        spinner(format!(
            "checking and hashing {count} permissions into the tree"
        ))
    } else {
        ProgressBar::hidden()
    };
    let compiled = spec
        .compile()
        .with_context(|| args.permissions.display().to_string())?;
    compiling.finish_and_clear();

    let writing = if show_progress && count >= PROGRESS_FROM {
        let bar = ProgressBar::with_draw_target(Some(count as u64), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "writing proofs {bar:40} {human_pos}/{human_len} ({eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar
    } else {
        ProgressBar::hidden()
    };
    match &args.out {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| anyhow!("cannot write {}: {e}", path.display()))?;
            write_format(args.format, BufWriter::new(file), &compiled, &writing)
                .with_context(|| format!("writing {}", path.display()))?;
            writing.finish_and_clear();
            if global.json {
                output::print_json(&json!({
                    "root": compiled.session.permissionsRoot,
                    "session_id": compiled.session_id(),
                    "permissions": count,
                    "out": path,
                }))?;
            } else {
                println!(
                    "root {} of {count} permission(s) (session {}); leaves and proofs in {}",
                    compiled.session.permissionsRoot,
                    compiled.session_id(),
                    path.display()
                );
            }
        }
        None => {
            write_format(
                args.format,
                BufWriter::new(std::io::stdout().lock()),
                &compiled,
                &writing,
            )
            .context("writing to stdout")?;
            writing.finish_and_clear();
        }
    }
    Ok(())
}

/// Writes the tree in `format`.
fn write_format(
    format: TreeFormat,
    out: impl Write,
    compiled: &CompiledSession,
    progress: &ProgressBar,
) -> Result<()> {
    match format {
        TreeFormat::Keyscope => write_tree(out, compiled, progress),
        TreeFormat::Oz => write_oz_dump(out, compiled),
    }
}

/// One permission as a StandardMerkleTree value: the fields of the `Permission` tuple, numbers as decimal
/// strings.
fn permission_value(permission: &keyscope::permissions::Permission) -> Value {
    let rules: Vec<Value> = permission
        .rules
        .iter()
        .map(|rule| {
            json!([
                rule.operator.to_string(),
                rule.argIndex.to_string(),
                rule.operands,
            ])
        })
        .collect();
    json!([
        permission.target.to_checksum(None),
        permission.selector,
        permission.flags.to_string(),
        permission.valueLimit.to_string(),
        permission.nativeTotalLimit.to_string(),
        permission.erc20TotalLimit.to_string(),
        permission.validAfter.to_string(),
        permission.validUntil.to_string(),
        permission.maxUses.to_string(),
        permission.rateLimitCount.to_string(),
        permission.rateLimitInterval.to_string(),
        rules,
    ])
}

/// Writes OpenZeppelin StandardMerkleTree's dump of the session's tree.
fn write_oz_dump(mut out: impl Write, compiled: &CompiledSession) -> Result<()> {
    let tree = &compiled.tree;
    let values = compiled
        .permissions
        .iter()
        .enumerate()
        .map(|(index, permission)| {
            Ok(json!({
                "value": [permission_value(permission)],
                "treeIndex": tree.position(index)?,
            }))
        })
        .collect::<Result<Vec<Value>>>()?;
    let dump = json!({
        "format": "standard-v1",
        "leafEncoding": [PERMISSION_TUPLE],
        "tree": tree.nodes(),
        "values": values,
    });
    serde_json::to_writer_pretty(&mut out, &dump)?;
    writeln!(out)?;
    out.flush()?;
    Ok(())
}

/// Streams the tree's JSON (the proofs of a million permissions are over a gigabyte: never held in memory).
fn write_tree(
    mut out: impl Write,
    compiled: &CompiledSession,
    progress: &ProgressBar,
) -> Result<()> {
    let tree = &compiled.tree;
    writeln!(out, "{{")?;
    writeln!(out, "  \"root\": \"{}\",", tree.root())?;
    writeln!(out, "  \"session_id\": \"{}\",", compiled.session_id())?;
    writeln!(out, "  \"permissions\": {},", tree.len())?;
    writeln!(out, "  \"leaves\": [")?;
    for index in 0..tree.len() {
        let comma = if index + 1 < tree.len() { "," } else { "" };
        writeln!(out, "    \"{}\"{comma}", tree.leaf(index)?)?;
    }
    writeln!(out, "  ],")?;
    writeln!(out, "  \"proofs\": [")?;
    let mut proof: Vec<B256> = Vec::with_capacity(32);
    for index in 0..tree.len() {
        tree.proof_into(index, &mut proof)?;
        write!(out, "    [")?;
        for (i, node) in proof.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(out, "{sep}\"{node}\"")?;
        }
        let comma = if index + 1 < tree.len() { "," } else { "" };
        writeln!(out, "]{comma}")?;
        if index % 4096 == 0 {
            progress.set_position(index as u64);
        }
    }
    writeln!(out, "  ]")?;
    writeln!(out, "}}")?;
    out.flush()?;
    progress.set_position(tree.len() as u64);
    Ok(())
}
