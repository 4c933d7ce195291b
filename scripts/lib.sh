# Shared helpers for scripts/test, scripts/demo and bench/run. Source it; do not run it.
#
# Everything here is idempotent: installing what is present is skipped, and a cluster helper
# called on a running cluster leaves it running.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGRX_VERSION=0.18.0
PG_MAJOR=15
APT_PACKAGES=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR postgresql-contrib
              postgresql-$PG_MAJOR-pgaudit libclang-dev clang sudo)

say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Run as root directly, otherwise through sudo.
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# PostgreSQL refuses to run as root: when we are root, server-side commands run as postgres.
# RUST_BACKTRACE is dropped so a developer's setting never puts backtraces in error details.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- env -u RUST_BACKTRACE "$@"; else env -u RUST_BACKTRACE "$@"; fi
}

ensure_apt_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing apt packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

ensure_cargo_pgrx() {
  if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    say "installing cargo-pgrx $PGRX_VERSION (takes about 5 minutes)"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
  fi
  local cfg="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
  if ! grep -q "^pg$PG_MAJOR" "$cfg" 2>/dev/null; then
    say "cargo pgrx init --pg$PG_MAJOR $(command -v pg_config)"
    cargo pgrx init --pg$PG_MAJOR "$(command -v pg_config)"
  fi
}

ensure_deps() {
  command -v cargo >/dev/null || die "cargo is not installed: install Rust with rustup first"
  ensure_apt_packages
  ensure_cargo_pgrx
}

PG_BINDIR="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/$PG_MAJOR/bin)"
PG_REGRESS="$(pg_config --pkglibdir 2>/dev/null)/pgxs/src/test/regress/pg_regress"

# Build and install the extension into the system PostgreSQL. $1: "release" or "dev".
install_extension() {
  local profile=${1:-dev} args=(--pg-config "$(command -v pg_config)")
  [ "$profile" = release ] && args+=(--release)
  [ "$(id -u)" = 0 ] || args+=(--sudo)
  say "building and installing pg_privacy ($profile)"
  (cd "$ROOT" && cargo pgrx install "${args[@]}" >/dev/null)
  # Install scripts of released versions, so a database can be created at an old version and
  # updated (tests/integration/tests/upgrade.rs). cargo pgrx installs the upgrade scripts.
  as_root install -m 644 "$ROOT"/sql/history/*.sql "$(pg_config --sharedir)/extension/"
}

# Write a fresh random root key file readable only by the server's user.
# $1: file, $2: key id
make_root_key() {
  local file=$1 id=$2
  umask 077
  printf '%s %s\n' "$id" "$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')" > "$file"
  [ "$(id -u)" = 0 ] && chown postgres: "$file"
  return 0
}

# Create a cluster. $1: directory, $2: port; further arguments are postgresql.conf lines.
# The unix socket lives in the cluster directory; nothing listens on TCP unless asked.
cluster_init() {
  local dir=$1 port=$2; shift 2
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  chmod 700 "$dir"
  as_pg "$PG_BINDIR/initdb" -D "$dir/data" -A trust -E UTF8 --locale=C.UTF-8 --no-sync -U postgres >/dev/null
  {
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "listen_addresses = ''"
    echo "shared_preload_libraries = 'pg_privacy'"
    echo "fsync = off"
    echo "log_line_prefix = '%m [%p] %q%u@%d '"
    echo "lc_messages = 'C'"
    for line in "$@"; do echo "$line"; done
  } | as_pg tee -a "$dir/data/postgresql.conf" >/dev/null
}

cluster_start() {
  local dir=$1
  as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 status >/dev/null 2>&1 && return 0
  as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || { tail -n 40 "$dir/server.log" >&2; die "the server in $dir did not start"; }
}

cluster_stop() {
  local dir=$1
  [ -d "$dir/data" ] || return 0
  as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -w -t 60 -m fast stop >/dev/null 2>&1 || true
}

# psql against a cluster as the postgres superuser. $1: directory; the rest goes to psql.
cluster_psql() {
  local dir=$1; shift
  local port; port=$(grep -E '^port = ' "$dir/data/postgresql.conf" | tail -n1 | awk '{print $3}')
  psql -h "$dir" -p "$port" -U postgres -X -v ON_ERROR_STOP=1 "$@"
}

cluster_log_tail() {
  local dir=$1 n=${2:-60}
  [ -f "$dir/server.log" ] && { echo "---- last $n lines of $dir/server.log ----" >&2; tail -n "$n" "$dir/server.log" >&2; }
  return 0
}
