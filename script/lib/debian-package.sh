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
    # Removed however the install ends (an interrupted one would otherwise block service starts system-wide).
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT INT TERM
  fi
  local status=0
  # Waits up to 5 minutes for another apt (e.g. unattended upgrades) to release its lock.
  { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
        --no-install-recommends "$package"; } >&2 || status=$?
  if [ -n "$policy" ]; then
    rm -f "$policy"
    trap - EXIT INT TERM
  fi
  return "$status"
}
