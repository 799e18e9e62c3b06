#!/usr/bin/env bash
# Spelling check of every tracked source and document (codespell, pinned; installed into .tools/ on first use from
# PyPI). Generated data (JSON vectors, lock files, contract artifacts) is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=.tools/codespell
version=2.4.3
if [ ! -x "$venv/bin/codespell" ] || [ "$("$venv/bin/codespell" --version)" != "$version" ]; then
  echo "==> installing codespell $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "codespell==$version"
fi
git ls-files -z \
  | while IFS= read -r -d '' file; do [ -f "$file" ] && printf '%s\0' "$file"; done \
  | grep -zvE '\.(json|lock)$|^crates/bindings/artifacts/|\.gas-snapshot$|\.proptest-regressions$' \
  | xargs -0 "$venv/bin/codespell"
echo "spelling: no typos"
