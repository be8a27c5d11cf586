#!/usr/bin/env bash
# SMTP intake benchmark: starts a Release server on a scratch copy of appsettings.json (fresh data folder),
# pushes N messages per size over M sessions with MailKit, prints messages/s and MB/s from 250 to stored.
# Usage: bench/smtp.sh [MESSAGES] [SESSIONS]      (defaults: 2000 messages, 20 sessions)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-2000}
sessions=${2:-20}
dotnet build Server/MailServer.Server.csproj -c Release -nologo -v q >/dev/null
dotnet build bench/MailServer.Bench.csproj -c Release -nologo -v q >/dev/null
scratch=$(mktemp -d)
dns=$(python3 -c 'import socket; s = socket.socket(type=socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 bench/dns-stub.py "$dns" &  # NXDOMAIN at once: sender checks must not wait on the machine's resolver
echo $! > "$scratch/dns-pid"
trap 'kill $(cat "$scratch/pid" 2>/dev/null) $(cat "$scratch/dns-pid") 2>/dev/null || true; rm -rf "$scratch"' EXIT
sed -e 's|"DataDirectory": "data"|"DataDirectory": "'"$scratch"'/data"|' \
    -e 's|"BindAddress": "0.0.0.0"|"BindAddress": "127.0.0.1"|' \
    -e 's|"Dns": { "Servers": \[\], "Port": 53 }|"Dns": { "Servers": ["127.0.0.1"], "Port": '"$dns"' }|' appsettings.json > "$scratch/appsettings.json"
grep -q '"Port": '"$dns" "$scratch/appsettings.json" || { echo "could not point Dns at the stub" >&2; exit 1; }
dotnet Server/bin/Release/net10.0/mailserver.dll run --config "$scratch/appsettings.json" > "$scratch/server.log" 2>&1 &
echo $! > "$scratch/pid"
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/2525) 2>/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet bench/bin/Release/net10.0/mailserver-bench.dll smtp --port 2525 --messages 200 --sessions "$sessions" --size 10k >/dev/null  # warm-up
for size in 1k 10k 100k 1m; do
  n=$messages
  [ "$size" = 1m ] && n=$(( messages / 4 ))
  dotnet bench/bin/Release/net10.0/mailserver-bench.dll smtp --port 2525 --messages "$n" --sessions "$sessions" --size "$size"
done
echo "stored: $(du -sh "$scratch/data" | cut -f1) in $scratch/data"
