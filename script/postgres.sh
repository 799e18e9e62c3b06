#!/usr/bin/env bash
# A throw-away PostgreSQL server on loopback for keyscope-rpc's storage tests: installs Debian's `postgresql`
# package when it is missing (as root, non-interactive), creates a cluster in a temporary directory as the
# `postgres` user (or the current user when not root), starts it on 127.0.0.1 on a free port and creates the
# `keyscope` role (password auth) and database. Prints the variables to export on stdout, the rest on stderr:
#
#   eval "$(bash script/postgres.sh)"        # sets KEYSCOPE_TEST_POSTGRES_URL and KEYSCOPE_POSTGRES_DATA
#   bash script/postgres.sh stop             # stops the cluster of $KEYSCOPE_POSTGRES_DATA and removes it
set -euo pipefail
log() { echo "postgres.sh: $*" >&2; }

as_owner() { # runs "$@" as the cluster's owner
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

if [ "${1:-}" = stop ]; then
  data="${KEYSCOPE_POSTGRES_DATA:?KEYSCOPE_POSTGRES_DATA is not set}"
  if [ -f "$data/PG_VERSION" ]; then
    as_owner "$(bindir)/pg_ctl" -D "$data" -m fast -w stop >&2 || true
  fi
  rm -rf "$(dirname "$data")"
  exit 0
fi

if [ -z "$(bindir)" ]; then
  # The package's own cluster is not used, nor started.
  source "$(dirname "$0")/lib/debian-package.sh"
  install_debian_package postgresql PostgreSQL
fi
bin="$(bindir)"

# A free port on loopback (nothing answers on it).
port=""
for candidate in $(seq 55432 55532); do
  if ! (exec 3<>"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null; then
    port=$candidate
    break
  fi
done
[ -n "$port" ] || { log "no free port in 55432-55532"; exit 1; }

root="$(mktemp -d /tmp/keyscope-postgres.XXXXXX)"
data="$root/data"
password="keyscope-test"
printf '%s\n' "$password" >"$root/pwfile"
if [ "$(id -u)" = 0 ]; then chown -R postgres: "$root"; fi
as_owner "$bin/initdb" -D "$data" -U keyscope --pwfile="$root/pwfile" --auth-local=trust --auth-host=scram-sha-256 \
  -E UTF8 --no-locale >"$root/initdb.log" 2>&1 || { cat "$root/initdb.log" >&2; exit 1; }
as_owner "$bin/pg_ctl" -D "$data" -l "$root/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $root -c fsync=off -c max_connections=200" start >&2 \
  || { cat "$root/server.log" >&2; exit 1; }
as_owner "$bin/createdb" -h "$root" -p "$port" -U keyscope keyscope
log "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (data in $data)"
echo "export KEYSCOPE_TEST_POSTGRES_URL='postgres://keyscope:$password@127.0.0.1:$port/keyscope'"
echo "export KEYSCOPE_POSTGRES_DATA='$data'"
