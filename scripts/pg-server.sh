#!/usr/bin/env bash
# A throwaway PostgreSQL server, for trying the PostgreSQL sink by hand.
#
#   eval "$(scripts/pg-server.sh start)"     # new server in a new mktemp -d folder
#   eval "$(scripts/pg-server.sh start DIR)" # ... in DIR (created; a DIR from an
#                                            # earlier start is started again)
#   psql -c 'select 1'                       # PG* variables point at it
#   scripts/pg-server.sh stop "$FLOWC_PG_DIR" # stops it and removes its folder
#
# `start` runs initdb in DIR/data (superuser `flowc`, trust authentication on
# the socket and 127.0.0.1, UTF8), starts the server on a free TCP port of
# 127.0.0.1 (socket in DIR, log in DIR/log) with durable settings (fsync and
# synchronous_commit on: a commit it confirms is on disk), creates the database
# `flowc`, and prints `export PGHOST=… PGPORT=… PGUSER=… PGDATABASE=…
# FLOWC_PG_DIR=…` for `eval`; everything else it says is a `#` comment or goes
# to stderr. Extra server settings: FLOWC_PG_OPTIONS='-c fsync=off' and so on.
# `stop DIR` (DIR defaults to $FLOWC_PG_DIR) stops the server (`pg_ctl stop -m
# fast`) and removes DIR.
#
# The programs (initdb, pg_ctl) come from PATH, else the newest
# /usr/lib/postgresql/*/bin (Debian: `apt-get install postgresql`).
# PostgreSQL refuses to run as root, so as root the server runs as the
# `postgres` OS user (FLOWC_PG_OS_USER names another) and DIR is given to it;
# otherwise it runs as the current user.
set -euo pipefail

name="pg-server.sh"
superuser="flowc"
database="flowc"
os_user="${FLOWC_PG_OS_USER:-postgres}"
marker=".flowc-pg-server" # in every folder `start` made: `stop` removes only those

die() {
  echo "$name: $*" >&2
  exit 1
}

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
  exit 2
}

# The folder holding initdb and pg_ctl: PATH first, else the newest version
# under /usr/lib/postgresql.
find_bin() {
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
    dirname "$(command -v pg_ctl)"
    return
  fi
  local newest
  newest="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -n "$newest" ] && [ -x "$newest/initdb" ] && [ -x "$newest/pg_ctl" ]; then
    echo "$newest"
    return
  fi
  die "PostgreSQL's server programs (initdb, pg_ctl) are not on PATH nor in /usr/lib/postgresql/*/bin; install them: apt-get install postgresql"
}

is_root() { [ "$(id -u)" -eq 0 ]; }

# Runs a server program: as the postgres OS user when we are root.
as_server() {
  if is_root; then
    local runuser
    runuser="$(PATH="$PATH:/usr/sbin:/sbin" command -v runuser || true)"
    if [ -n "$runuser" ]; then
      "$runuser" -u "$os_user" -- "$@"
    else
      # shellcheck disable=SC2016 # $0 and $@ are the inner shell's
      su -s /bin/sh -c 'exec "$0" "$@"' -- "$os_user" "$@"
    fi
  else
    "$@"
  fi
}

# A TCP port of 127.0.0.1 that nothing listens on now.
free_port() {
  if command -v python3 >/dev/null; then
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
    return
  fi
  local port tries
  for tries in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    # A refused connection means no one listens there.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "found no free TCP port on 127.0.0.1"
}

psql_bin() {
  if command -v psql >/dev/null; then command -v psql; else echo "$bin/psql"; fi
}

# When `start` fails after making its folder: stops the server, removes the folder.
made=""
running=""
clean_up() {
  if [ -n "$running" ]; then as_server "$bin/pg_ctl" -D "$made/data" stop -m immediate >/dev/null 2>&1 || true; fi
  if [ -n "$made" ]; then rm -rf "$made"; fi
}

start() {
  local dir="${1:-}"
  trap clean_up EXIT
  if [ -z "$dir" ]; then
    dir="$(mktemp -d "${TMPDIR:-/tmp}/flowc-pg.XXXXXX")"
    made="$dir"
    touch "$dir/$marker"
  elif [ -e "$dir/data/PG_VERSION" ]; then
    [ -e "$dir/$marker" ] || die "$dir holds a PostgreSQL data folder this script did not make"
    ! as_server "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1 || die "the server in $dir is running (stop it with: $0 stop $dir)"
  else
    if [ ! -e "$dir" ]; then
      mkdir -p "$dir"
      made="$dir"
    fi
    [ -z "$(ls -A "$dir")" ] || die "$dir is not empty"
    touch "$dir/$marker"
  fi
  dir="$(cd "$dir" && pwd -P)"
  if [ -n "$made" ]; then made="$dir"; fi
  case "$dir" in
    *[[:space:]\'\"\\]*) die "the folder's path must not hold spaces or quotes: $dir" ;;
  esac
  # The server's socket is DIR/.s.PGSQL.PORT; a Unix socket path holds at most 107 bytes.
  [ "${#dir}" -le 90 ] || die "the folder's path is too long for a Unix socket: $dir"
  if is_root; then
    id "$os_user" >/dev/null 2>&1 \
      || die "PostgreSQL does not run as root, and there is no '$os_user' OS user to run it (create one, or name another in FLOWC_PG_OS_USER)"
    chown "$os_user:" "$dir"
    as_server test -w "$dir" \
      || die "the '$os_user' OS user cannot write to $dir (is a folder above it closed to other users? set TMPDIR or pass another DIR)"
  fi
  cd "$dir" # the server programs run here: the postgres user may not enter the caller's folder

  if [ ! -e data/PG_VERSION ]; then
    echo "# initdb in $dir/data" >&2
    as_server "$bin/initdb" -D "$dir/data" --username="$superuser" --auth=trust \
      --encoding=UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; die "initdb failed (its output is above)"; }
  fi

  # Another server may take the port between our probe and the server's bind: try again.
  local port="" tries seen
  for tries in 1 2 3 4 5; do
    # A folder started before keeps its port if it can.
    if [ "$tries" -eq 1 ] && [ -s "$dir/port" ]; then port="$(cat "$dir/port")"; else port="$(free_port)"; fi
    seen=0 # the log of this try starts after this many lines
    if [ -e "$dir/log" ]; then seen="$(wc -l <"$dir/log")"; fi
    if as_server "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start \
      -o "-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on ${FLOWC_PG_OPTIONS:-}" \
      >"$dir/pg_ctl.log" 2>&1; then
      running=1
      break
    fi
    if ! tail -n "+$((seen + 1))" "$dir/log" | grep -q "could not bind\|could not create any TCP/IP sockets"; then
      cat "$dir/pg_ctl.log" "$dir/log" >&2
      die "the server did not start (its log is above)"
    fi
    echo "# port $port was taken; trying another" >&2
    port=""
  done
  [ -n "$port" ] || die "the server found no free port in 5 tries"
  echo "$port" >"$dir/port"

  local psql
  psql="$(psql_bin)"
  if [ -z "$("$psql" -X -A -t -q -h 127.0.0.1 -p "$port" -U "$superuser" -d postgres \
    -c "select 1 from pg_database where datname = '$database'")" ]; then
    "$psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$superuser" -d postgres \
      -c "create database $database" >&2
  fi

  local version
  version="$("$psql" -X -A -t -q -h 127.0.0.1 -p "$port" -U "$superuser" -d "$database" -c "show server_version")"
  cat <<EOF
# PostgreSQL $version in $dir (log: $dir/log)
# URL: postgres://$superuser@127.0.0.1:$port/$database
# stop it with: $0 stop $dir
export PGHOST=127.0.0.1 PGPORT=$port PGUSER=$superuser PGDATABASE=$database
export FLOWC_PG_DIR=$dir
EOF
  made=""
  running=""
}

stop() {
  local dir="${1:-${FLOWC_PG_DIR:-}}"
  [ -n "$dir" ] || die "stop needs the server's folder: $name stop DIR"
  [ -d "$dir" ] || die "$dir is not a folder"
  [ -e "$dir/$marker" ] || die "$dir was not made by '$name start'; not touching it"
  dir="$(cd "$dir" && pwd -P)"
  cd "$dir"
  if as_server "$bin/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
    as_server "$bin/pg_ctl" -D "$dir/data" -w -t 60 stop -m fast >&2 \
      || die "pg_ctl could not stop the server in $dir/data (its log: $dir/log)"
  fi
  cd /
  rm -rf "$dir"
  echo "# stopped; removed $dir" >&2
}

# A PG* variable from an earlier `eval` must not steer these programs.
# shellcheck disable=SC2046
unset $(compgen -e | grep '^PG' || true)

command="${1:-}"
if [ $# -gt 0 ]; then shift; fi
case "$command" in
  start)
    [ $# -le 1 ] || usage
    bin="$(find_bin)"
    start "$@"
    ;;
  stop)
    [ $# -le 1 ] || usage
    bin="$(find_bin)"
    stop "$@"
    ;;
  -h | --help | help) usage ;;
  *) usage ;;
esac
