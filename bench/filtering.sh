#!/usr/bin/env bash
# SMTP intake with content filtering off and on, side by side in one run, with Postfix's smtp-source as the load.
#
# Starts private engines like the tests do (redis-server, rspamd with contrib/rspamd/local.d and the offline overlay,
# clamd with a two-signature database; loopback ports, a scratch folder, rspamd's Hyperscan cache shared with the
# tests) and our Release server on a scratch copy of appsettings.json (loopback, free ports, the DNS stub
# bench/dns-stub.py). Then, after a warm-up, it alternates rounds with MailServer.ContentFiltering removed (off) and
# set (on: rspamd + clamd, FailMode Open) — the server re-reads its config within a second — each round 20 sessions of
# FILTER_MESSAGES 1 KiB messages (one per connection), and prints messages/s per round, the engines' mean latency per
# message from the server's ContentEngineLatency histogram (/metrics), and that latency's share of a message's
# time in the server (sessions / rate, Little's law). Both engines run at once, so the share uses the slower one.
#
# Usage: bench/filtering.sh     environment: FILTER_MESSAGES (1000 per round), FILTER_ROUNDS (2 pairs), FILTER_SESSIONS (20)
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
messages=${FILTER_MESSAGES:-1000}
rounds=${FILTER_ROUNDS:-2}
sessions=${FILTER_SESSIONS:-20}
for p in rspamd redis-server clamd; do command -v "$p" >/dev/null || { echo "$p is not installed (apt install rspamd redis-server clamav-daemon)" >&2; exit 1; }; done
[ -x /usr/sbin/smtp-source ] || { echo "smtp-source is missing (bench/intake.sh installs postfix)" >&2; exit 1; }

dotnet build Server/MailServer.Server.csproj -c Release -nologo -v q >/dev/null
scratch=$(mktemp -d /tmp/mailserver-filtering.XXXXXX)
cp -a "$(dirname "$(ls Server/bin/Release/net*/mailserver.dll | head -1)")" "$scratch/server-bin"
server_dll=$scratch/server-bin/mailserver.dll
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${FILTER_KEEP:-}" ]; then echo "# kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

read -r smtp submission submissions imap imaps admin https dns normal controller redis clamd < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)] + [socket.socket(type=socket.SOCK_DGRAM)] + [socket.socket() for _ in range(4)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')
wait_port() {
  for _ in $(seq 1 3000); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done
  echo "nothing listens on port $1" >&2; exit 1
}

# --- engines ---------------------------------------------------------------------------------------------------
redis-server --port "$redis" --bind 127.0.0.1 --save "" --appendonly no --dir "$scratch" --logfile "$scratch/redis.log" &
pids+=($!)
mkdir -p "$scratch/clamav"
eicar='X5O!P%@AP[4\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'
echo "$(printf '%s' "$eicar" | md5sum | cut -d' ' -f1):68:Eicar-Test-Signature" > "$scratch/clamav/test.hdb"
cat > "$scratch/clamd.conf" <<EOF
DatabaseDirectory $scratch/clamav
TCPSocket $clamd
TCPAddr 127.0.0.1
Foreground yes
LogFile $scratch/clamd.log
StreamMaxLength 50M
MaxThreads 20
EOF
clamd -c "$scratch/clamd.conf" &
pids+=($!)
conf=$scratch/rspamd
mkdir -p "$conf/local.d" "$conf/override.d" "$scratch/rspamd-run"
cp contrib/rspamd/local.d/* "$conf/local.d/"
cache=/tmp/mailserver-rspamd-hs-cache
mkdir -p "$cache"
printf 'bind_socket = "127.0.0.1:%s";\ncount = 2;\n' "$normal" > "$conf/override.d/worker-normal.inc"
printf 'bind_socket = "127.0.0.1:%s";\n' "$controller" > "$conf/override.d/worker-controller.inc"
printf 'enabled = false;\n' > "$conf/override.d/worker-proxy.inc"
printf 'servers = "127.0.0.1:%s";\n' "$redis" > "$conf/override.d/redis.conf"
printf 'hs_cache_dir = "%s/";\n' "$cache" > "$conf/override.d/options.inc"
for m in rbl spf dkim dmarc arc asn fuzzy_check emails phishing reputation neural hfilter mx_check dkim_signing rspamd_update url_redirector greylist history_redis whitelist; do
  printf 'enabled = false;\n' > "$conf/override.d/$m.conf"
done
insecure=; [ "$(id -u)" = 0 ] && insecure=-i
rspamd $insecure -f -c /etc/rspamd/rspamd.conf --var=LOCAL_CONFDIR="$conf" --var=DBDIR="$scratch/rspamd-run" \
  --var=RUNDIR="$scratch/rspamd-run" --var=LOGDIR="$scratch" &
pids+=($!)

# --- our server ------------------------------------------------------------------------------------------------
python3 bench/dns-stub.py "$dns" &
pids+=($!)
python3 - "$scratch/appsettings.json" "$smtp" "$submission" "$submissions" "$imap" "$imaps" "$admin" "$https" "$dns" <<'PY'
import re, sys
path, smtp, sub, subs, imap, imaps, admin, https, dns = sys.argv[1:]
text = open("appsettings.json").read()
text = text.replace('"BindAddress": "0.0.0.0"', '"BindAddress": "127.0.0.1"')
for key, port in (("Smtp", smtp), ("Submission", sub), ("Submissions", subs), ("Imap", imap), ("Imaps", imaps), ("Https", https)):
    text = re.sub(rf'"{key}": \d+', f'"{key}": {port}', text, count=1)
text = re.sub(r'"Admin": "[^"]*"', f'"Admin": "127.0.0.1:{admin}"', text)
text = text.replace('"Dns": { "Servers": [], "Port": 53 }', f'"Dns": {{ "Servers": ["127.0.0.1"], "Port": {dns} }}')
assert f'"Port": {dns}' in text
open(path + ".off", "w").write(text)
PY
on_config() {
  python3 - "$scratch/appsettings.json.off" "$scratch/appsettings.json.on" "$normal" "$clamd" <<'PY'
import sys
off, on, normal, clamd = sys.argv[1:]
text = open(off).read()
off_section = '"ContentFiltering": { "RspamdUrl": null, "ClamdAddress": null, "TimeoutSeconds": 15, "FailMode": "Open" }'
assert off_section in text
text = text.replace(off_section, f'"ContentFiltering": {{ "RspamdUrl": "http://127.0.0.1:{normal}", "ClamdAddress": "127.0.0.1:{clamd}", "TimeoutSeconds": 15, "FailMode": "Open" }}')
open(on, "w").write(text)
PY
}
on_config
cp "$scratch/appsettings.json.off" "$scratch/appsettings.json"
(cd "$scratch" && exec dotnet "$server_dll" run --config "$scratch/appsettings.json") >>"$scratch/server.log" 2>&1 &
server_pid=$!
pids+=($server_pid)
wait_port "$smtp"; wait_port "$admin"; wait_port "$clamd"; wait_port "$normal"

# A 1 KiB message a mail client would write (smtp-source's own has no Date, Message-ID or From: rspamd scores that
# past its greylist threshold, which would measure 451s). LF line ends: smtp-source sends each line with CRLF.
python3 - "$scratch/message.eml" <<'PY'
import sys
body = ("Hi Alice,\n\nThe quarterly figures are attached to the shared folder; the summary is below. Revenue grew\n"
        "in every region except the north, where the new office opened late. Costs stayed flat. Let me know\n"
        "what you think before Thursday's meeting, and whether we should invite the auditors.\n\n")
head = ("From: Bob Example <bob@partner.test>\nTo: Alice <alice@example.test>\nSubject: Quarterly figures\n"
        "Date: Sun, 06 Dec 2026 12:00:00 +0000\nMessage-ID: <bench-1@partner.test>\nMIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n\n")
text = head + body
while len(text) < 1024:
    text += body
open(sys.argv[1], "w", newline="").write(text[:1024].rsplit("\n", 1)[0] + "\n")
PY
source_args=(-s "$sessions" -m "$messages" -F "$scratch/message.eml" -f bob@partner.test -t alice@example.test "127.0.0.1:$smtp")
now() { date +%s.%N; }
# Sum and count of the ContentEngineLatency histogram for ENGINE, from /metrics.
latency() { curl -s "http://127.0.0.1:$admin/metrics" | awk -v e="engine=\"$1\"" '
  /^mailserver_contentenginelatency_sum/ && index($0, e) { s = $NF } /^mailserver_contentenginelatency_count/ && index($0, e) { c = $NF }
  END { printf "%s %s\n", (s == "" ? 0 : s), (c == "" ? 0 : c) }'; }
switch() {  # off|on
  cp "$scratch/appsettings.json.$1" "$scratch/appsettings.json.tmp" && mv "$scratch/appsettings.json.tmp" "$scratch/appsettings.json"
  sleep 3
}
round() {  # off|on
  switch "$1"
  read -r rs rc < <(latency rspamd); read -r cs cc < <(latency clamd)
  local started ended
  started=$(now)
  /usr/sbin/smtp-source "${source_args[@]}"
  ended=$(now)
  read -r rs2 rc2 < <(latency rspamd); read -r cs2 cc2 < <(latency clamd)
  python3 - "$1" "$messages" "$sessions" "$started" "$ended" "$rs" "$rc" "$rs2" "$rc2" "$cs" "$cc" "$cs2" "$cc2" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys
mode, n, sessions, t0, t1, rs, rc, rs2, rc2, cs, cc, cs2, cc2, load = sys.argv[1:]
n, sessions, elapsed = int(n), int(sessions), float(t1) - float(t0)
rate = n / elapsed
per_message_ms = sessions / rate * 1000  # Little's law: time a message spends in the server with SESSIONS in flight
def mean(s, c, s2, c2):
    dc = float(c2) - float(c)
    return (float(s2) - float(s)) / dc if dc > 0 else 0.0
r, c = mean(rs, rc, rs2, rc2), mean(cs, cc, cs2, cc2)
engines = f"rspamd {r:6.1f} ms  clamd {c:6.1f} ms  engines' share {max(r, c) / per_message_ms * 100:4.0f}%" if mode == "on" else ""
print(f"{mode:3} {sessions} sessions {n} x 1 KiB: {rate:7.1f} msg/s  {per_message_ms:6.1f} ms/msg in the server  {engines}  load {load}")
PY
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); rspamd $(rspamd --version 2>/dev/null | head -1 | awk '{print $NF}'), clamd $(clamd --version | cut -d/ -f1)"
echo "# warm-up: $messages messages with filtering on, then off"
switch on; /usr/sbin/smtp-source "${source_args[@]}"
switch off; /usr/sbin/smtp-source "${source_args[@]}"
for _ in $(seq 1 "$rounds"); do round off; round on; done
echo "# scanned: $(grep -c 'decision clean' "$scratch/server.log" || true) clean, $(grep -c 'decision deferred' "$scratch/server.log" || true) deferred, $(grep -c 'decision spam' "$scratch/server.log" || true) spam"
