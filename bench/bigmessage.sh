#!/usr/bin/env bash
# Big-message memory bench on a scratch server: bench/bigmessage.sh [SIZE_MIB] [CONCURRENT_SMTP] [CONCURRENT_FETCH]
# Builds Release, starts the server on a scratch copy of appsettings.json (loopback, free ports, a known password for
# alice), then bench/bigmessage.py sends one SIZE_MIB (36) message over SMTP, FETCHes it over IMAP (checked byte for
# byte), a multipart message with a big attachment (FETCH BODYSTRUCTURE, BODY[1], BODY[2], BINARY[2]), sends CONCURRENT_SMTP (8)
# at once and runs CONCURRENT_FETCH (8) whole-message FETCHes at once (0 skips either), printing the
# time of each phase and the server's peak resident memory during it (README "Performance", big messages).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${1:-36}
NSMTP=${2:-8}
NFETCH=${3:-8}
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

dotnet build Server/MailServer.Server.csproj -c Release -nologo -v q >/dev/null
scratch=$(mktemp -d /tmp/mailserver-bigbench.XXXXXX)
cp -a "$(dirname "$(ls Server/bin/Release/net*/mailserver.dll | head -1)")" "$scratch/server-bin"
server_dll=$scratch/server-bin/mailserver.dll
server_pid=
dns_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  kill "$dns_pid" 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT
read -r smtp submission submissions imap imaps admin dns < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(6)] + [socket.socket(type=socket.SOCK_DGRAM)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

# A DNS stub on loopback answering NXDOMAIN at once (bench/dns-stub.py).
python3 bench/dns-stub.py "$dns" &
dns_pid=$!

password='Bench-Pass-2026'
hash=$(printf '%s\n' "$password" | dotnet "$server_dll" hash-password)
# Alice gets the known hash (the first PasswordHash in the sample), bob keeps null (a first-start password).
python3 - "$scratch/appsettings.json" "$hash" "$smtp" "$submission" "$submissions" "$imap" "$imaps" "$admin" "$dns" <<'PY'
import re, sys
path, hash_, smtp, sub, subs, imap, imaps, admin, dns = sys.argv[1:]
text = open("appsettings.json").read()
text = text.replace('"PasswordHash": null', f'"PasswordHash": "{hash_}"', 1)
text = text.replace('"BindAddress": "0.0.0.0"', '"BindAddress": "127.0.0.1"')
for key, port in (("Smtp", smtp), ("Submission", sub), ("Submissions", subs), ("Imap", imap), ("Imaps", imaps)):
    text = re.sub(rf'"{key}": \d+', f'"{key}": {port}', text, count=1)
text = re.sub(r'"Admin": "[^"]*"', f'"Admin": "127.0.0.1:{admin}"', text)
text = text.replace('"Dns": { "Servers": [], "Port": 53 }', f'"Dns": {{ "Servers": ["127.0.0.1"], "Port": {dns} }}')
assert f'"Port": {dns}' in text
open(path, "w").write(text)
PY

(cd "$scratch" && exec dotnet "$server_dll" run --config "$scratch/appsettings.json") >>"$scratch/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
  (exec 3<>"/dev/tcp/127.0.0.1/$imap") 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$scratch/server.log"; exit 1; }
  sleep 0.1
done
sleep 2 # let the start-up work settle before the baseline is read

echo "# $(date -u +%FT%TZ)  $(nproc) cores  load average: $(cut -d' ' -f1-3 /proc/loadavg)  commit $(git rev-parse --short HEAD)"
kill -0 "$server_pid" 2>/dev/null || { echo "# the server exited:"; tail -20 "$scratch/server.log"; exit 1; }
python3 bench/bigmessage.py "$server_pid" "$smtp" "$imap" alice@example.test "$password" "$SIZE" "$NSMTP" "$NFETCH"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
problems=$(grep -E ' (warn|fail|crit): ' "$scratch/server.log" || true)
echo "# server log: $(printf '%s' "$problems" | grep -c . || true) warning/error line(s)"
printf '%s\n' "$problems" | head -5
