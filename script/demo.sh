#!/usr/bin/env bash
# Keyscope seed demo, end to end, in one command:
#   1. installs the pinned toolchain (npm ci) when node_modules is missing or older than package-lock.json;
#   2. starts anvil on a free loopback port (or uses --rpc-url URL);
#   3. deploys the stack (script/DeployKeyscope.s.sol) and runs the seed use cases (script/SeedDemo.s.sol);
#   4. moves the chain's clock past the sessions' hour and checks the session keys are refused (AA22);
#   5. prints a summary (userOp -> transaction, gas, outcome); stops anvil on exit.
# Exits non-zero if anything does not go as expected.
#
# Usage: script/demo.sh [--rpc-url URL] [--keep-anvil]
#   --rpc-url URL   use this node instead of starting anvil (PRIVATE_KEY must hold a funded key unless the node
#                   is chain 31337, where anvil's first default key is used)
#   --keep-anvil    leave the spawned anvil running after the demo (prints how to stop it)
# Environment: FOUNDRY_OUT / FOUNDRY_CACHE_PATH / FOUNDRY_BROADCAST are honoured by forge as usual.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RPC_URL=""
KEEP_ANVIL=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rpc-url) RPC_URL="${2:?--rpc-url needs a URL}"; shift 2 ;;
    --rpc-url=*) RPC_URL="${1#*=}"; shift ;;
    --keep-anvil) KEEP_ANVIL=1; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

say() { printf '\n\033[1m== %s ==\033[0m\n' "$*"; }
die() { echo "demo.sh: $*" >&2; exit 1; }
START_TIME=$(date +%s)

# ---------------------------------------------------------------------------------------------------------------
# 1. Toolchain
# ---------------------------------------------------------------------------------------------------------------
command -v npm >/dev/null || die "npm is required (Node.js 20+)"
source "$ROOT/script/toolchain.sh"
FORGE=forge
ANVIL=anvil
CAST=cast

# ---------------------------------------------------------------------------------------------------------------
# 2. Node
# ---------------------------------------------------------------------------------------------------------------
ANVIL_PID=""
cleanup() {
  if [ -n "$ANVIL_PID" ] && [ "$KEEP_ANVIL" = 0 ]; then
    kill "$ANVIL_PID" 2>/dev/null || true
    wait "$ANVIL_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$RPC_URL" ]; then
  PORT=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  RPC_URL="http://127.0.0.1:$PORT"
  mkdir -p .anvil
  ANVIL_LOG="$ROOT/.anvil/anvil-$PORT.log"
  say "Starting anvil on $RPC_URL (log: ${ANVIL_LOG#"$ROOT"/})"
  "$ANVIL" --host 127.0.0.1 --port "$PORT" >"$ANVIL_LOG" 2>&1 &
  ANVIL_PID=$!
  for _ in $(seq 1 100); do
    if "$CAST" chain-id --rpc-url "$RPC_URL" >/dev/null 2>&1; then break; fi
    kill -0 "$ANVIL_PID" 2>/dev/null || { cat "$ANVIL_LOG" >&2; die "anvil exited"; }
    sleep 0.1
  done
  "$CAST" chain-id --rpc-url "$RPC_URL" >/dev/null 2>&1 || die "anvil did not answer on $RPC_URL"
  [ "$KEEP_ANVIL" = 1 ] && echo "anvil pid $ANVIL_PID stays up after the demo (stop it with: kill $ANVIL_PID)"
else
  say "Using the node at $RPC_URL"
fi
CHAIN_ID=$("$CAST" chain-id --rpc-url "$RPC_URL") || die "no node answers at $RPC_URL"
echo "chain id $CHAIN_ID, block $("$CAST" block-number --rpc-url "$RPC_URL")"

# ---------------------------------------------------------------------------------------------------------------
# 3. Deploy and seed
# ---------------------------------------------------------------------------------------------------------------
# forge's own output is kept in .anvil/; its console logs (the demo's narrative) are shown.
LOGS="$ROOT/.anvil"
mkdir -p "$LOGS"
run_script() { # name, log file, forge script arguments...
  local name="$1" log="$2"
  shift 2
  if ! "$FORGE" script "$@" --rpc-url "$RPC_URL" >"$log" 2>&1; then
    cat "$log" >&2
    die "$name failed (full output above and in ${log#"$ROOT"/})"
  fi
  # The "== Logs ==" section, up to the next blank-line-separated section.
  awk '/^== Logs ==/{on=1; next} on && /^(## |==========|Script ran|SIMULATION|ONCHAIN|Chain [0-9])/{exit} on' "$log" \
    | sed -e 's/^  //' -e '/^$/N;/^\n$/D'
  if grep -q "Transaction Failure" "$log"; then
    cat "$log" >&2
    die "$name: a transaction failed on chain"
  fi
}

say "Compiling the scripts"
# One compilation for both scripts (faster than letting each forge script compile its own part).
"$FORGE" build script/DeployKeyscope.s.sol script/SeedDemo.s.sol >"$LOGS/build.log" 2>&1 \
  || { cat "$LOGS/build.log" >&2; die "compilation failed"; }
grep -E "^(Compiling|Solc|No files changed)" "$LOGS/build.log" || true

say "Deploying Keyscope (script/DeployKeyscope.s.sol)"
run_script DeployKeyscope "$LOGS/deploy.log" script/DeployKeyscope.s.sol:DeployKeyscope --broadcast --slow

say "Seed demo, phase 1 (script/SeedDemo.s.sol: run)"
run_script "SeedDemo run" "$LOGS/seed.log" script/SeedDemo.s.sol:SeedDemo --broadcast --slow

say "Moving the chain's clock past the sessions' hour"
if "$CAST" rpc --rpc-url "$RPC_URL" evm_increaseTime 3601 >/dev/null 2>&1 \
  && "$CAST" rpc --rpc-url "$RPC_URL" evm_mine >/dev/null 2>&1; then
  echo "evm_increaseTime 3601 + evm_mine: block $("$CAST" block-number --rpc-url "$RPC_URL"), time $("$CAST" block latest --rpc-url "$RPC_URL" -f timestamp)"
else
  echo "this node cannot move its clock (no evm_increaseTime): phase 2 simulates the expiry instead"
fi

say "Seed demo, phase 2 (script/SeedDemo.s.sol: afterExpiry)"
run_script "SeedDemo afterExpiry" "$LOGS/expiry.log" script/SeedDemo.s.sol:SeedDemo --sig 'afterExpiry()'

# ---------------------------------------------------------------------------------------------------------------
# 4. Summary
# ---------------------------------------------------------------------------------------------------------------
say "Summary"
BROADCAST_DIR="${FOUNDRY_BROADCAST:-broadcast}"
case "$BROADCAST_DIR" in /*) ;; *) BROADCAST_DIR="$ROOT/$BROADCAST_DIR" ;; esac
node - "$ROOT/deployments/$CHAIN_ID.json" "$ROOT/deployments/$CHAIN_ID.demo.json" \
  "$BROADCAST_DIR/SeedDemo.s.sol/$CHAIN_ID/run-latest.json" "$LOGS/expiry.log" <<'EOF'
const fs = require('fs');
const [deploymentFile, demoFile, broadcastFile, expiryLog] = process.argv.slice(2);
const deployment = JSON.parse(fs.readFileSync(deploymentFile, 'utf8'));
const demo = JSON.parse(fs.readFileSync(demoFile, 'utf8'));
const broadcast = JSON.parse(fs.readFileSync(broadcastFile, 'utf8'));
const USER_OPERATION_EVENT = '0x49628fd1471006c1482da88028e9ce4dbb080b815c9b0344d39e5a8e6ec1419f';

console.log(`deployments/${deployment.chainId}.json`);
for (const [name, value] of Object.entries(deployment)) {
  if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) console.log(`  ${name}.${k.padEnd(22)} ${v}`);
  } else console.log(`  ${name.padEnd(26)} ${value}`);
}

// userOpHash -> the transaction that carried it
const mined = new Map();
let failed = 0;
for (const receipt of broadcast.receipts) {
  if (Number(receipt.status) !== 1) failed++;
  for (const log of receipt.logs) {
    if (log.topics[0] !== USER_OPERATION_EVENT) continue;
    const data = log.data.slice(2);
    const word = (i) => BigInt('0x' + data.slice(64 * i, 64 * (i + 1)));
    mined.set(log.topics[1], {
      tx: receipt.transactionHash,
      block: Number(receipt.blockNumber),
      txGas: Number(receipt.gasUsed),
      success: word(1) === 1n,
      opGas: Number(word(3)),
    });
  }
}
console.log(`\n${broadcast.transactions.length} transactions broadcast by SeedDemo, ${failed} failed`);

const steps = demo.stepLabels.map((label, i) => ({
  label, userOpHash: demo.stepUserOpHashes[i], outcome: demo.stepOutcomes[i],
}));
let problems = failed;
console.log('\nUser operations (phase 1; a userOp\'s actualGasUsed is what its account pays for, preVerificationGas included):');
for (const s of steps) {
  const m = mined.get(s.userOpHash);
  console.log(`- ${s.label}\n    userOp ${s.userOpHash}`);
  if (s.outcome === 'ok') {
    if (!m || !m.success) { problems++; console.log('    NOT MINED SUCCESSFULLY'); continue; }
    console.log(`    tx ${m.tx} (block ${m.block}): OK, tx gasUsed ${m.txGas}, userOp actualGasUsed ${m.opGas}`);
  } else {
    if (m) { problems++; console.log(`    UNEXPECTEDLY MINED in ${m.tx}`); continue; }
    console.log(`    not mined (simulated against the chain): ${s.outcome}`);
  }
}
console.log('\nAfter the session hour (phase 2):');
const lines = fs.readFileSync(expiryLog, 'utf8').split('\n');
let version = '';
for (let i = 0; i < lines.length; i++) {
  const v = lines[i].match(/==== EntryPoint (v0\.\d+)/);
  if (v) version = v[1];
  const m = lines[i].match(/^\s*(\[(?:game|trading)\] .*)$/);
  if (m && i + 1 < lines.length) console.log(`- EntryPoint ${version} ${m[1]}\n    ${lines[i + 1].trim()}`);
}
if (problems) { console.error(`\n${problems} problem(s) in the summary`); process.exit(1); }
EOF

echo
echo "Seed demo OK on chain $CHAIN_ID in $(( $(date +%s) - START_TIME ))s."
