#!/usr/bin/env bash
# All tests, from a fresh clone: installs the toolchain, then runs every forge and cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."
source script/toolchain.sh

# Every random input is seeded and the seeds are printed, so that a failure can be replayed exactly: forge's fuzz
# and invariant seed is in foundry.toml; proptest and the explain differential test take theirs from the
# environment (set one of these to explore other inputs, or to replay a CI log's run).
export PROPTEST_RNG_SEED="${PROPTEST_RNG_SEED:-7738725071202512997}"
export KEYSCOPE_EXPLAIN_SEED="${KEYSCOPE_EXPLAIN_SEED:-7738725071202512997}"
echo "==> seeds: forge fuzz $(sed -n 's/^seed = "\(.*\)"/\1/p' foundry.toml | head -1), PROPTEST_RNG_SEED=$PROPTEST_RNG_SEED, KEYSCOPE_EXPLAIN_SEED=$KEYSCOPE_EXPLAIN_SEED"

echo "==> [${SECONDS}s] forge test (profile ${FOUNDRY_PROFILE:=ci})"
export FOUNDRY_PROFILE
forge test

if [ -f Cargo.toml ]; then
  # keyscope-rpc's storage tests run on SQLite and on a real PostgreSQL: script/postgres.sh installs (as root) and
  # starts a throw-away server on loopback unless KEYSCOPE_TEST_POSTGRES_URL names one. Without a server those
  # tests skip PostgreSQL with a notice, unless KEYSCOPE_REQUIRE_POSTGRES=1 (CI), where they fail.
  if [ -z "${KEYSCOPE_TEST_POSTGRES_URL:-}" ]; then
    echo "==> [${SECONDS}s] PostgreSQL for the storage tests (script/postgres.sh)"
    if postgres_env="$(bash script/postgres.sh)"; then
      eval "$postgres_env"
      trap 'bash script/postgres.sh stop' EXIT
    elif [ "${KEYSCOPE_REQUIRE_POSTGRES:-}" = 1 ]; then
      echo "script/postgres.sh failed and KEYSCOPE_REQUIRE_POSTGRES=1"
      exit 1
    else
      echo "notice: no PostgreSQL: the storage tests run on SQLite only"
    fi
  fi
  # keyscope-rpc's browser test runs a page in headless Chromium: script/chromium.sh installs Debian's package (as
  # root) when none runs. Without it the test skips with a notice, unless KEYSCOPE_REQUIRE_BROWSER=1 (CI).
  echo "==> [${SECONDS}s] Chromium for the browser test (script/chromium.sh)"
  if chromium_env="$(bash script/chromium.sh)"; then
    eval "$chromium_env"
  elif [ "${KEYSCOPE_REQUIRE_BROWSER:-}" = 1 ]; then
    echo "script/chromium.sh failed and KEYSCOPE_REQUIRE_BROWSER=1"
    exit 1
  else
    echo "notice: no Chromium: the browser test is skipped"
  fi
  echo "==> [${SECONDS}s, $(df -h --output=avail . | tail -1 | tr -d ' ') free] cargo test --workspace"
  cargo test --workspace --locked
fi
