#!/usr/bin/env bash
# Chromium for the browser test (crates/rpc/tests/examples_js.rs, examples/browser/run.mjs): installs Debian's
# `chromium` package when no Chromium runs (as root, non-interactive). Prints the variable to export on stdout, the
# rest on stderr:
#
#   eval "$(bash script/chromium.sh)"        # sets KEYSCOPE_CHROMIUM
set -euo pipefail
log() { echo "chromium.sh: $*" >&2; }

runs() { "$1" --version >/dev/null 2>&1; }

program="${KEYSCOPE_CHROMIUM:-chromium}"
if ! runs "$program"; then
  source "$(dirname "$0")/lib/debian-package.sh"
  install_debian_package chromium Chromium
  program=chromium
  runs "$program" || { log "chromium is installed but does not run"; exit 1; }
fi
log "$("$program" --version 2>/dev/null)"
echo "export KEYSCOPE_CHROMIUM='$(command -v "$program")'"
