#!/usr/bin/env bash
# A private PostgreSQL cluster for the store tests (Debian's postgresql): initdb into DIR, a unix socket in DIR and a
# free loopback port, fsync and synchronous_commit on (the durability the engine promises is the one tested), trust
# authentication on loopback only. As root (CI) the cluster runs as the postgres user, which cannot run as root.
#   postgres.sh start DIR   -> prints the connection string (user postgres, database postgres)
#   postgres.sh stop DIR
set -euo pipefail
cmd=$1; dir=$(readlink -f "$2")
bin=""
for candidate in /usr/lib/postgresql/*/bin; do
  [ -x "$candidate/initdb" ] && bin=$candidate
done
[ -n "$bin" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir" && chmod 700 "$dir"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 </dev/null >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
  cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
fsync = on
synchronous_commit = on
full_page_writes = on
max_connections = 200
shared_buffers = 64MB
CONF
  # pg_ctl -w waits for the server to accept connections, at most -t seconds; the server's stdio goes to its log.
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start </dev/null >/dev/null 2>&1 \
    || { echo "PostgreSQL did not start; log:" >&2; cat "$dir/server.log" >&2; exit 1; }
  echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
  ;;
stop)
  [ -f "$dir/data/postmaster.pid" ] || exit 0
  # Immediate: the cluster is thrown away, so no shutdown checkpoint is worth waiting for.
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop </dev/null >/dev/null 2>&1 \
    || { pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null) && kill -9 "$pid" 2>/dev/null; } || true
  rm -rf "$dir"
  ;;
esac
