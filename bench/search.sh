#!/usr/bin/env bash
# Body search benchmark on a scratch server: bench/search.sh [N] [extra mailserver-bench search options]
# Builds Release, starts the server on a scratch copy of appsettings.json (loopback, free ports, a known password for
# alice), runs `mailserver-bench search` (fills the folder "Search Bench" with N messages by MULTIAPPEND, waits for the
# search index, times SEARCH BODY/TEXT), prints the server's index log lines and peak memory, and removes everything.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
shift || true
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if [ -z "${SEARCHBENCH_NO_BUILD:-}" ]; then   # SEARCHBENCH_NO_BUILD=1: use the Release builds already there
  dotnet build Server/MailServer.Server.csproj -c Release -nologo -v q >/dev/null
  dotnet build bench/MailServer.Bench.csproj -c Release -nologo -v q >/dev/null
fi
scratch=$(mktemp -d /tmp/mailserver-searchbench.XXXXXX)
cp -a "$(dirname "$(ls Server/bin/Release/net*/mailserver.dll | head -1)")" "$scratch/server-bin"
cp -a "$(dirname "$(ls bench/bin/Release/net*/mailserver-bench.dll | head -1)")" "$scratch/bench-bin"
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$scratch"
}
trap cleanup EXIT
read -r smtp submission submissions imap imaps admin https < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
password='Bench-Pass-2026'
hash=$(printf '%s\n' "$password" | dotnet "$scratch/server-bin/mailserver.dll" hash-password)
python3 - "$scratch/appsettings.json" "$hash" "$smtp" "$submission" "$submissions" "$imap" "$imaps" "$admin" "$https" <<'PY'
import re, sys
path, hash_, smtp, sub, subs, imap, imaps, admin, https = sys.argv[1:]
text = open("appsettings.json").read()
text = text.replace('"PasswordHash": null', f'"PasswordHash": "{hash_}"', 1)
text = text.replace('"BindAddress": "0.0.0.0"', '"BindAddress": "127.0.0.1"')
for key, port in (("Smtp", smtp), ("Submission", sub), ("Submissions", subs), ("Imap", imap), ("Imaps", imaps), ("Https", https)):
    text = re.sub(rf'"{key}": \d+', f'"{key}": {port}', text, count=1)
text = re.sub(r'"Admin": "[^"]*"', f'"Admin": "127.0.0.1:{admin}"', text)
open(path, "w").write(text)
PY
(cd "$scratch" && exec dotnet "$scratch/server-bin/mailserver.dll" run --config "$scratch/appsettings.json") >>"$scratch/server.log" 2>&1 </dev/null &
server_pid=$!
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$imap") 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$scratch/server.log"; exit 1; }
  sleep 0.1
done
echo "# $(date -u +%FT%TZ)  $(nproc) cores  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet "$scratch/bench-bin/mailserver-bench.dll" search --port "$imap" --user alice@example.test --password "$password" --messages "$N" "$@"
echo "# index log: $(grep -c 'Search index of folder' "$scratch/server.log" || true) line(s); last: $(grep -o 'Search index of folder.*' "$scratch/server.log" | tail -1)"
echo "# index on disk: $(du -sh "$scratch/data/search" 2>/dev/null | cut -f1), messages on disk: $(du -sh "$scratch/data/blobs" | cut -f1)"
echo "# server peak resident memory: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$server_pid/status")"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
problems=$(grep -E ' (warn|fail|crit): ' "$scratch/server.log" || true)
echo "# server log: $(printf '%s' "$problems" | grep -c . || true) warning/error line(s)"
printf '%s\n' "$problems" | head -5
