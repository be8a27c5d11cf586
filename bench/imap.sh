#!/usr/bin/env bash
# IMAP benchmark on a scratch server: bench/imap.sh [N] [extra mailserver-bench imap options]
# Builds Release, starts the server on a scratch copy of appsettings.json (loopback, free ports, a known
# password for alice hashed with `mailserver hash-password`), fills alice's INBOX with N messages over SMTP
# (the bench's smtp mode, 20 sessions, 2 KiB bodies), restarts the server (so the first SELECT is the first after a
# start) and runs `mailserver-bench imap`; prints the server's peak resident memory (VmHWM) at the end.
# IMAPBENCH_SEED=DIR reuses a filled data folder: when DIR exists it is copied in instead of filling over SMTP; when
# it does not, the data folder is copied there after the fill (the server stopped), for the next run.
# IMAPBENCH_PERF=FILE records a CPU profile of the server during the bench run (perf record -g; the server writes a
# perf map of its JIT-compiled code so perf report can name .NET methods). With IMAPBENCH_NO_R2R=1 the server also
# skips its precompiled framework code, so framework methods get names too (at the cost of compiling them first).
# IMAPBENCH_GCDUMP=FILE takes a heap dump of the server at the end (dotnet-gcdump) and prints its largest types.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000}
shift || true
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

dotnet build Server/MailServer.Server.csproj -c Release -nologo -v q >/dev/null
dotnet build bench/MailServer.Bench.csproj -c Release -nologo -v q >/dev/null
scratch=$(mktemp -d /tmp/mailserver-imapbench.XXXXXX)
# Run copies of the builds, so a rebuild during a long run does not change the running server.
cp -a "$(dirname "$(ls Server/bin/Release/net*/mailserver.dll | head -1)")" "$scratch/server-bin"
cp -a "$(dirname "$(ls bench/bin/Release/net*/mailserver-bench.dll | head -1)")" "$scratch/bench-bin"
server_dll=$scratch/server-bin/mailserver.dll
bench_dll=$scratch/bench-bin/mailserver-bench.dll
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

start_server() {
  (cd "$scratch" && exec env ${IMAPBENCH_PERF:+DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0 ${IMAPBENCH_NO_R2R:+DOTNET_ReadyToRun=0}} dotnet "$server_dll" run --config "$scratch/appsettings.json") >>"$scratch/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$imap") 2>/dev/null && return
    kill -0 "$server_pid" 2>/dev/null || { cat "$scratch/server.log"; exit 1; }
    sleep 0.1
  done
}
stop_server() { kill "$server_pid"; wait "$server_pid" || true; server_pid=; }

seed=${IMAPBENCH_SEED:-}
if [ -n "$seed" ] && [ -d "$seed" ]; then
  echo "# reusing the filled data folder $seed"
  cp -a "$seed" "$scratch/data"
fi
start_server

echo "# $(date -u +%FT%TZ)  $(nproc) cores  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ -z "$seed" ] || [ ! -d "$seed" ]; then
  echo "# filling alice's INBOX with $N messages over SMTP"
  fill_started=$(date +%s.%N)
  dotnet "$bench_dll" smtp --port "$smtp" --messages "$N" --sessions 20 --size 2k
  echo "# fill took $(echo "$(date +%s.%N) - $fill_started" | bc) s"
  stop_server
  if [ -n "$seed" ]; then mkdir -p "$(dirname "$seed")" && cp -a "$scratch/data" "$seed"; fi
  start_server
fi
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
perf_pid=
if [ -n "${IMAPBENCH_PERF:-}" ]; then
  perf record -F 499 -g -p "$server_pid" -o "$IMAPBENCH_PERF" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 1
fi
server_cpu() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$server_pid/stat"; }
cpu_before=$(server_cpu)
# The bench client shares the machine's cores with the server: its CPU time is printed too.
if [ -x /usr/bin/time ]; then timer=(/usr/bin/time -f "# bench client CPU: %U s user, %S s system, %e s elapsed"); else timer=(); fi
"${timer[@]}" dotnet "$bench_dll" imap --port "$imap" --user alice@example.test --password "$password" "$@"
echo "# server CPU during the bench: $(echo "$(server_cpu) - $cpu_before" | bc) s"
if [ -n "$perf_pid" ]; then
  kill -INT "$perf_pid"; wait "$perf_pid" || true
  echo "# perf profile of the server in $IMAPBENCH_PERF; symbols in /tmp/perf-$server_pid.map (perf report -i $IMAPBENCH_PERF)"
fi
echo "# warm-up: $(grep -o 'Folder metadata cache warmed.*' "$scratch/server.log" | tail -1)"
if [ -n "${IMAPBENCH_GCDUMP:-}" ]; then
  gcdump=$(command -v dotnet-gcdump || echo "$HOME/.dotnet/tools/dotnet-gcdump")
  "$gcdump" collect -p "$server_pid" -o "$IMAPBENCH_GCDUMP" >/dev/null && "$gcdump" report "$IMAPBENCH_GCDUMP" | head -15
fi
echo "# server peak resident memory: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$server_pid/status"),"\
  "CPU since start: $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f s", ($14 + $15) / hz}' "/proc/$server_pid/stat")"
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg)"
problems=$(grep -E ' (warn|fail|crit): ' "$scratch/server.log" || true)
echo "# server log: $(printf '%s' "$problems" | grep -c . || true) warning/error line(s)"
printf '%s\n' "$problems" | head -5
