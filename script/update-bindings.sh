#!/usr/bin/env bash
# Regenerates the contract artifacts behind crates/bindings (alloy `sol!` reads them at compile time, so that
# `cargo build` needs no forge): `forge build`, then each artifact stripped to {contractName, abi, bytecode,
# deployedBytecode} in crates/bindings/artifacts. The EntryPoints come from the pinned @account-abstraction packages.
#
#   bash script/update-bindings.sh           rewrite crates/bindings/artifacts
#   bash script/update-bindings.sh --check   regenerate into a temporary directory; exit 1 if the committed
#                                            artifacts differ
#
# FORGE_OUT and FORGE_CACHE choose forge's build directories (default: foundry.toml's out and cache).
set -euo pipefail
cd "$(dirname "$0")/.."
source script/toolchain.sh

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

committed=crates/bindings/artifacts
out_dir="${FORGE_OUT:-out}"
build_args=()
[ -n "${FORGE_OUT:-}" ] && build_args+=(--out "$FORGE_OUT")
[ -n "${FORGE_CACHE:-}" ] && build_args+=(--cache-path "$FORGE_CACHE")
echo "==> forge build"
forge build "${build_args[@]}" >/dev/null

if $check; then
  dest="$(mktemp -d)"
  trap 'rm -rf "$dest"' EXIT
else
  dest="$committed"
  mkdir -p "$dest"
  rm -f "$dest"/*.json
fi

# strip NAME SOURCE_JSON: keep what the bindings need, hex bytecode as plain strings, stable formatting.
strip() {
  jq --sort-keys --arg name "$1" '{
      contractName: $name,
      abi: .abi,
      bytecode: (.bytecode | if type == "object" then .object else . end),
      deployedBytecode: (.deployedBytecode | if type == "object" then .object else . end)
    }' "$2" >"$dest/$3.json"
}

for contract in SessionKeyValidator:SessionKeyValidator account/KeyscopeAccount:KeyscopeAccount \
  account/KeyscopeAccountFactory:KeyscopeAccountFactory account/OwnerECDSAValidator:OwnerECDSAValidator \
  account/StakedAccountFactory:StakedAccountFactory paymaster/SponsorPaymaster:SponsorPaymaster \
  demo/DemoToken:DemoToken demo/GameItems:GameItems demo/NftMarketplace:NftMarketplace demo/OfferBook:OfferBook; do
  name="${contract#*:}"
  file="$(basename "${contract%%:*}").sol"
  strip "$name" "$out_dir/$file/$name.json" "$name"
done
strip EntryPoint node_modules/@account-abstraction/contracts/artifacts/EntryPoint.json EntryPointV07
strip EntryPoint node_modules/@account-abstraction/contracts-v08/artifacts/EntryPoint.json EntryPointV08

if $check; then
  if ! diff -r -q "$committed" "$dest"; then
    echo "crates/bindings/artifacts is stale: run bash script/update-bindings.sh and commit" >&2
    exit 1
  fi
  echo "crates/bindings/artifacts is current"
else
  echo "wrote $(ls "$dest" | wc -l) artifacts to $dest"
fi
