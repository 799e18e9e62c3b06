# Sourced by the scripts that install a Debian package for the tests (script/postgres.sh, script/chromium.sh).
#
# install_debian_package PACKAGE WHAT: installs PACKAGE with apt-get, non-interactive, without recommended packages,
# its output on stderr; fails with a message naming WHAT unless run as root. No service the package ships is
# started during the install (a policy-rc.d refuses them): the tests start their own.
install_debian_package() {
  local package="$1" what="$2"
  if [ "$(id -u)" != 0 ]; then
    echo "$what is not installed: run as root (or apt-get install $package)" >&2
    return 1
  fi
  echo "installing Debian's $package package" >&2
  local policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    policy=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy"
  fi
  local status=0
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package"; } >&2 || status=$?
  if [ -n "$policy" ]; then rm -f "$policy"; fi
  return "$status"
}
