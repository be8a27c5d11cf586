#!/usr/bin/env bash
# SMTP intake on both store engines in one run, with Postfix's load tool (smtp-source, one message per connection):
# our Release server on LiteDB, then on PostgreSQL (one node), then two nodes on the same PostgreSQL database, each
# node taking half the sessions. PostgreSQL is a private cluster started here (Tests/Support/postgres.sh: loopback,
# fsync and synchronous_commit on). Every message is stored for alice@example.test, encrypted, committed before 250.
# Each run starts fresh servers and sends a warm-up first (the runtime compiles as it goes), then the measured batch.
# Prints messages per second for each and the ratios. Only ratios within one run mean anything on a shared machine.
#
# Usage: bench/engines.sh            environment: ENGINES_MESSAGES (2000), ENGINES_SESSIONS (20), ENGINES_SIZE (1024),
#   ENGINES_WARMUP (1000)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
messages=${ENGINES_MESSAGES:-2000}
sessions=${ENGINES_SESSIONS:-20}
size=${ENGINES_SIZE:-1024}
warmup=${ENGINES_WARMUP:-1000}

install() {
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; fi
}
if ! [ -x /usr/sbin/smtp-source ]; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
  install postfix
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || install postgresql

dotnet build Server/MailServer.Server.csproj -c Release -nologo -v q >/dev/null
scratch=$(mktemp -d /tmp/mailserver-engines.XXXXXX)
chmod 755 "$scratch"  # the cluster runs as the postgres user when this runs as root
cp -a "$(dirname "$(ls Server/bin/Release/net*/mailserver.dll | head -1)")" "$scratch/server-bin"
server_dll=$scratch/server-bin/mailserver.dll
pids=()
dns_pid=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  [ -n "$dns_pid" ] && { kill "$dns_pid" 2>/dev/null || true; }
  bash Tests/Support/postgres.sh stop "$scratch/pg" >/dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

connection=$(bash Tests/Support/postgres.sh start "$scratch/pg")
pg_port=$(sed -E 's/.*Port=([0-9]+).*/\1/' <<< "$connection")
psql=$(ls -d /usr/lib/postgresql/*/bin | tail -1)/psql
free_ports() { python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])' "$1"; }
read -r dns < <(python3 -c 'import socket; s=socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 bench/dns-stub.py "$dns" &  # NXDOMAIN at once: sender checks must not wait on the machine's resolver
dns_pid=$!
mkdir -p "$scratch/keys"

# A node's config: the sample appsettings.json on its own ports and data folder; STORAGE is the Storage section's JSON
# (empty: LiteDB). The master key and the key ledgers are shared by every node (a folder of this scratch).
config() { # DIR STORAGE -> prints "smtp-port"
  local dir=$1 storage=$2
  mkdir -p "$dir"
  read -r smtp sub subs imap imaps admin https < <(free_ports 7)
  python3 - "$dir/appsettings.json" "$storage" "$smtp" "$sub" "$subs" "$imap" "$imaps" "$admin" "$https" "$dns" "$scratch/keys" <<'PY'
import re, sys, json
path, storage, smtp, sub, subs, imap, imaps, admin, https, dns, keys = sys.argv[1:]
text = open("appsettings.json").read()
text = text.replace('"BindAddress": "0.0.0.0"', '"BindAddress": "127.0.0.1"')
for key, port in (("Smtp", smtp), ("Submission", sub), ("Submissions", subs), ("Imap", imap), ("Imaps", imaps), ("Https", https)):
    text = re.sub(rf'"{key}": \d+', f'"{key}": {port}', text, count=1)
text = re.sub(r'"Admin": "[^"]*"', f'"Admin": "127.0.0.1:{admin}"', text)
text = text.replace('"Dns": { "Servers": [], "Port": 53 }', f'"Dns": {{ "Servers": ["127.0.0.1"], "Port": {dns} }}')
text = text.replace('"MasterKeyPath": "keys/example.key"', '"MasterKeyPath": ' + json.dumps(keys + "/example.key"))
if storage:
    text = text.replace('"DataDirectory": "data",', '"DataDirectory": "data",\n    "Storage": ' + storage + ',', 1)
assert f'"Port": {dns}' in text and keys in text
open(path, "w").write(text)
PY
  echo "$smtp"
}
wait_port() {
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.1
  done
  echo "nothing listens on port $1; server log:" >&2; tail -30 "$2" >&2; exit 1
}
start() { # DIR -> starts the node in DIR
  (cd "$1" && exec dotnet "$server_dll" run --config "$1/appsettings.json") >>"$1/server.log" 2>&1 &
  pids+=($!)
}
stop_all() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  pids=()
}
now() { date +%s.%N; }
# Sends COUNT messages over SESSIONS sessions to each of the given SMTP ports at once; prints the elapsed seconds.
send() { # COUNT SESSIONS PORT...
  local count=$1 per=$2; shift 2
  local start; start=$(now)
  local senders=()
  for port in "$@"; do
    /usr/sbin/smtp-source -s "$per" -m "$count" -l "$size" -f bench@bench.test -t alice@example.test "127.0.0.1:$port" &
    senders+=($!)
  done
  for pid in "${senders[@]}"; do wait "$pid"; done
  echo "$(now) - $start" | bc -l
}
rate() { echo "scale=0; $1 / $2" | bc -l; }
database() { "$psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qc "CREATE DATABASE $1" >/dev/null; echo "${connection/Database=postgres/Database=$1}"; }
pg_storage() { python3 -c 'import json, sys; print(json.dumps({"Engine": "PostgreSql", "ConnectionString": sys.argv[1], "KeyLedgerConnectionString": sys.argv[2]}))' "$1" "$2"; }

echo "# $messages messages of $size bytes over $sessions sessions, each run after $warmup warm-up messages; load average $(cut -d' ' -f1-3 /proc/loadavg)"

# 1. LiteDB, one process.
port=$(config "$scratch/litedb" ""); start "$scratch/litedb"; wait_port "$port" "$scratch/litedb/server.log"
send "$warmup" "$sessions" "$port" >/dev/null
lite=$(send "$messages" "$sessions" "$port"); stop_all
printf 'LiteDB, one node:            %6d msg/s\n' "$(rate "$messages" "$lite")"

# 2. PostgreSQL, one node.
one=$(database one); one_keys=$(database one_keys)
port=$(config "$scratch/pg-one" "$(pg_storage "$one" "$one_keys")"); start "$scratch/pg-one"; wait_port "$port" "$scratch/pg-one/server.log"
send "$warmup" "$sessions" "$port" >/dev/null
pg=$(send "$messages" "$sessions" "$port"); stop_all
printf 'PostgreSQL, one node:        %6d msg/s\n' "$(rate "$messages" "$pg")"

# 3. PostgreSQL, two nodes on one database, half the sessions and half the messages each.
two=$(database two); two_keys=$(database two_keys)
a=$(config "$scratch/pg-a" "$(pg_storage "$two" "$two_keys")"); start "$scratch/pg-a"; wait_port "$a" "$scratch/pg-a/server.log"
send 10 1 "$a" >/dev/null  # node A creates the key ledger and the mailbox before node B starts
b=$(config "$scratch/pg-b" "$(pg_storage "$two" "$two_keys")"); start "$scratch/pg-b"; wait_port "$b" "$scratch/pg-b/server.log"
send $((warmup / 2)) $((sessions / 2)) "$a" "$b" >/dev/null
pair=$(send $((messages / 2)) $((sessions / 2)) "$a" "$b"); stop_all
printf 'PostgreSQL, two nodes:       %6d msg/s\n' "$(rate "$messages" "$pair")"

printf 'PostgreSQL one node / LiteDB: %.2fx the time; two nodes / one node: %.2fx the time\n' \
  "$(echo "$pg / $lite" | bc -l)" "$(echo "$pair / $pg" | bc -l)"
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
