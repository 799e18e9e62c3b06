# Sourced by the project's scripts: installs the pinned toolchain from package-lock.json when node_modules is
# missing or older than the lock file, and puts forge, anvil and cast on PATH.
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ ! -x "$root/node_modules/@foundry-rs/forge-linux-amd64/bin/forge" ] \
  || [ "$root/package-lock.json" -nt "$root/node_modules/.package-lock.json" ]; then
  echo "==> npm ci (forge/anvil/cast 1.7.1, solc-js, Solidity libraries)"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
fi
for tool in forge anvil cast; do
  PATH="$root/node_modules/@foundry-rs/$tool-linux-amd64/bin:$PATH"
done
export PATH
