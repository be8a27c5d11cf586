#!/usr/bin/env bash
# The store engines side by side in one run (mailserver-bench store): LiteDB in a scratch folder and PostgreSQL on a
# private cluster started here (Tests/Support/postgres.sh: loopback port, fsync and synchronous_commit on), stopped at
# the end. Installs postgresql from apt when missing. Only the ratio of one run means anything on a shared machine.
# Usage: bench/store.sh [SCALE]      (SCALE multiplies the message counts; default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
scale=${1:-1}
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; fi
fi
dotnet build bench/MailServer.Bench.csproj -c Release -nologo -v q >/dev/null
cluster=$(mktemp -d)
trap 'bash Tests/Support/postgres.sh stop "$cluster" >/dev/null 2>&1 || true; rm -rf "$cluster"' EXIT
connection=$(bash Tests/Support/postgres.sh start "$cluster")
port=$(sed -E 's/.*Port=([0-9]+).*/\1/' <<< "$connection")
psql=$(ls -d /usr/lib/postgresql/*/bin | tail -1)/psql
"$psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE bench" >/dev/null   # trust on loopback
"$psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qc "CREATE DATABASE bench_keys" >/dev/null
bench=bench/bin/Release/net10.0/mailserver-bench
"$bench" store --engine LiteDb --scale "$scale"
"$bench" store --engine PostgreSql --connection "${connection/Database=postgres/Database=bench}" \
    --key-ledger "${connection/Database=postgres/Database=bench_keys}" --scale "$scale"
