#!/usr/bin/env bash
# Keyscope seed demo, end to end, in one command (the README's main command):
#   1. installs the pinned toolchain (npm ci: anvil 1.7.1 among others) when node_modules is missing or stale;
#   2. builds `keyscope` (saying so, with cargo's progress, on stderr) and runs `keyscope demo` (crates/cli): it starts anvil on a free loopback port (or uses --rpc-url),
#      deploys the stack, creates an account per use case and runs the seed use cases on EntryPoint v0.7 (or
#      --entry-point v0.8): a game's passkey session (WebAuthn P-256) mints items with no owner signature and is refused an
#      out-of-scope call, and a mint the leaked passkey signs to drain the account through fees is
#      refused by the session's fee scope (OperationFeeExceeded); a trading service's key buys an item under the user's price threshold and is refused one
#      over it and any other function; after anvil's clock passes the sessions' hour both keys are refused (AA22).
# Every step is printed with its userOp hash, transaction and gas; exits non-zero if any outcome differs.
#
# Usage: script/demo.sh [keyscope demo options]   (see: script/demo.sh --help)
#   --rpc-url URL        use this node instead of starting anvil (KEYSCOPE_PRIVATE_KEY: a funded key, needed unless
#                        the node is chain 31337)
#   --entry-point v0.8   run the demo on EntryPoint v0.8
#   --json               one JSON document (the steps) instead of text
#   --keep-anvil         leave the spawned anvil running afterwards
# Environment: KEYSCOPE_PROFILE=release builds optimised. The default is cargo's dev profile: its cold build took
# 262 s against 385 s for release on the project's 2-core machine, it shares its artifacts with `cargo test`, and
# the demo itself runs in well under a second either way (anvil does most of the work).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

command -v npm >/dev/null || { echo "demo.sh: npm is required (Node.js 20+)" >&2; exit 1; }
command -v cargo >/dev/null || { echo "demo.sh: cargo is required (a Rust toolchain)" >&2; exit 1; }
# npm's progress goes to stderr, so that `--json` output stays a single JSON document on stdout.
source "$ROOT/script/toolchain.sh" >&2

case "${KEYSCOPE_PROFILE:-dev}" in
  release) PROFILE=(--release); PROFILE_DIR=release ;;
  dev) PROFILE=(); PROFILE_DIR=debug ;;
  *) echo "demo.sh: KEYSCOPE_PROFILE must be release or dev" >&2; exit 2 ;;
esac
# The build first, with cargo's progress on stderr (stdout stays the demo's): the first one takes about 4-5
# minutes on a 2-core machine (6-7 with KEYSCOPE_PROFILE=release), later ones a few seconds.
echo "demo.sh: building keyscope (${KEYSCOPE_PROFILE:-dev} profile): a first build takes about 4-5 minutes on 2 cores, later ones seconds" >&2
started=$SECONDS
cargo build --locked "${PROFILE[@]}" -p keyscope-cli --bin keyscope >&2
echo "demo.sh: keyscope built in $((SECONDS - started)) s; running the demo" >&2
exec "${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE_DIR/keyscope" demo "$@"
