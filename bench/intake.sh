#!/usr/bin/env bash
# SMTP intake against Postfix, side by side in one run, with Postfix's own load tool (smtp-source).
#
# Installs postfix from apt when smtp-source is missing (debconf "No configuration": the package's system instance
# has no main.cf and is never started), starts a private Postfix instance (its own config_directory and
# queue_directory in a scratch folder, smtpd on a free loopback port, every message to the discard transport, the
# queue fsync'd as Postfix always does) and our Release server on a scratch copy of appsettings.json (loopback, free
# ports, the DNS stub bench/dns-stub.py, alice with a known password), then for 1 KiB and 10 KiB, over 20 sessions
# and over 1 session, runs smtp-source against ours and then against Postfix and prints both rates and the ratio:
#   - cold: both servers freshly started before each pair (our runtime compiles as it goes);
#   - steady: after a warm-up that runs until the runtime stops compiling (dotnet-counters' JIT method count
#     grows by fewer than INTAKE_JIT_QUIET methods over a warm-up round), printed per round.
# smtp-source sends one message per connection (EHLO, MAIL, RCPT, DATA, QUIT), like most MX traffic.
# Our server stores every message for alice@example.test: encrypted, fsync'd before 250. Its CPU per message is
# read from /proc/PID/stat (user + system time of every thread) around each run.
# Then: remote delivery (messages queued while the destination refuses connections, then Postfix's smtp-sink
# listens and `mailserver queue retry --all` releases them; timed until smtp-sink has counted the last one) and
# submission (mailserver-bench submit: STARTTLS + AUTH PLAIN, 20 MailKit sessions, 1 KiB, rate of 250s).
#
# Usage: bench/intake.sh            environment: INTAKE_MESSAGES (2000 per 20-session run), INTAKE_SINGLE (500 per
#   1-session run), INTAKE_WARMUP (3000 per warm-up round), INTAKE_WARMUP_ROUNDS (at most 10), INTAKE_JIT_QUIET (50),
#   INTAKE_DELIVERY (5000), INTAKE_SUBMIT (5000), INTAKE_PERF=FILE (perf record -g of our server during the phase
#   INTAKE_PERF_PHASE: steady (default), delivery or submit; the runtime writes its perf map), INTAKE_SKIP=cold,steady,delivery,submit (phases to leave out).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
messages=${INTAKE_MESSAGES:-2000}
single=${INTAKE_SINGLE:-500}
warmup=${INTAKE_WARMUP:-3000}
warmup_rounds=${INTAKE_WARMUP_ROUNDS:-10}
jit_quiet=${INTAKE_JIT_QUIET:-50}
delivery_messages=${INTAKE_DELIVERY:-5000}
submit_messages=${INTAKE_SUBMIT:-5000}
skip=${INTAKE_SKIP:-}
skipped() { [[ ",$skip," == *",$1,"* ]]; }

# --- tools -----------------------------------------------------------------------------------------------------
if ! [ -x /usr/sbin/smtp-source ] || ! [ -x /usr/sbin/smtp-sink ]; then
  echo "# installing postfix (for smtp-source, smtp-sink and the reference server)"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
fi
tools=${DOTNET_TOOLS:-/opt/dotnet-tools}
counters=$tools/dotnet-counters
if ! [ -x "$counters" ]; then
  echo "# installing dotnet-counters into $tools"
  dotnet tool install --tool-path "$tools" dotnet-counters --version 10.0.750501 >/dev/null
fi

dotnet build Server/MailServer.Server.csproj -c Release -nologo -v q >/dev/null
dotnet build bench/MailServer.Bench.csproj -c Release -nologo -v q >/dev/null
scratch=$(mktemp -d /tmp/mailserver-intake.XXXXXX)
chmod 755 "$scratch"  # Postfix's daemons run as the postfix user
# Run copies of the builds, so a rebuild during a long run does not change the running server.
cp -a "$(dirname "$(ls Server/bin/Release/net*/mailserver.dll | head -1)")" "$scratch/server-bin"
cp -a "$(dirname "$(ls bench/bin/Release/net*/mailserver-bench.dll | head -1)")" "$scratch/bench-bin"
server_dll=$scratch/server-bin/mailserver.dll
bench_dll=$scratch/bench-bin/mailserver-bench.dll
server_pid=
dns_pid=
sink_pid=
counters_pid=
perf_pid=
postfix_up=
cleanup() {
  [ -n "$perf_pid" ] && { kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; }
  [ -n "$counters_pid" ] && { kill "$counters_pid" 2>/dev/null || true; wait "$counters_pid" 2>/dev/null || true; }
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  [ -n "$sink_pid" ] && { kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; }
  [ -n "$postfix_up" ] && { postfix -c "$scratch/postfix/etc" stop >/dev/null 2>&1 || true; }
  [ -n "$dns_pid" ] && { kill "$dns_pid" 2>/dev/null || true; }
  if [ -n "${INTAKE_KEEP:-}" ]; then echo "# kept $scratch"; else rm -rf "$scratch"; fi
}
trap cleanup EXIT

read -r smtp submission submissions imap imaps admin postfix_port sink_port dns < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(8)] + [socket.socket(type=socket.SOCK_DGRAM)]
for s in socks: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

# --- Postfix, private instance ---------------------------------------------------------------------------------
pf=$scratch/postfix
mkdir -p "$pf/etc" "$pf/queue" "$pf/data"
chown postfix "$pf/data"
cat > "$pf/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $pf/queue
data_directory = $pf/data
mail_owner = postfix
setgid_group = postdrop
myhostname = postfix-bench.localdomain
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
default_transport = discard
relay_transport = discard
local_transport = discard
maillog_file = $pf/maillog
maillog_file_prefixes = $scratch
biff = no
EOF
# No chroot (Debian's sample chroots smtpd), only the services this needs.
cat > "$pf/etc/master.cf" <<EOF
127.0.0.1:$postfix_port inet n - n - - smtpd
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
start_postfix() {
  postfix -c "$pf/etc" start >/dev/null 2>&1 || { cat "$pf/maillog" 2>/dev/null; echo "postfix did not start" >&2; exit 1; }
  postfix_up=1
  wait_port "$postfix_port"
}
stop_postfix() { postfix -c "$pf/etc" stop >/dev/null 2>&1 || true; postfix_up=; sleep 1; }

# --- our server ------------------------------------------------------------------------------------------------
python3 bench/dns-stub.py "$dns" &  # NXDOMAIN at once: sender checks must not wait on the machine's resolver
dns_pid=$!
password='Bench-Pass-2026'
hash=$(printf '%s\n' "$password" | dotnet "$server_dll" hash-password)
python3 - "$scratch/appsettings.json" "$hash" "$smtp" "$submission" "$submissions" "$imap" "$imaps" "$admin" "$dns" "$sink_port" <<'PY'
import re, sys
path, hash_, smtp, sub, subs, imap, imaps, admin, dns, sink = sys.argv[1:]
text = open("appsettings.json").read()
text = text.replace('"PasswordHash": null', f'"PasswordHash": "{hash_}"', 1)
text = text.replace('"BindAddress": "0.0.0.0"', '"BindAddress": "127.0.0.1"')
for key, port in (("Smtp", smtp), ("Submission", sub), ("Submissions", subs), ("Imap", imap), ("Imaps", imaps)):
    text = re.sub(rf'"{key}": \d+', f'"{key}": {port}', text, count=1)
text = re.sub(r'"Admin": "[^"]*"', f'"Admin": "127.0.0.1:{admin}"', text)
text = text.replace('"Dns": { "Servers": [], "Port": 53 }', f'"Dns": {{ "Servers": ["127.0.0.1"], "Port": {dns} }}')
# Remote delivery goes to smtp-sink; a refused connection is retried only when asked (queue retry --all).
text = text.replace('"RemotePort": 25', f'"RemotePort": {sink}, "RetryMinimumSeconds": 3600', 1)
text = text.replace('"ExternalRecipientsPerUserPerDay": 10000', '"ExternalRecipientsPerUserPerDay": 10000000')
assert f'"Port": {dns}' in text and f'"RemotePort": {sink}' in text and '10000000' in text
open(path, "w").write(text)
PY

wait_port() {
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    [ -n "$server_pid" ] && ! kill -0 "$server_pid" 2>/dev/null && { tail -50 "$scratch/server.log"; exit 1; }
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2; exit 1
}
start_server() {
  rm -rf "$scratch/data"
  (cd "$scratch" && exec env ${INTAKE_PERF:+DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0} ${INTAKE_SERVER_ENV:-} dotnet "$server_dll" run --config "$scratch/appsettings.json") >>"$scratch/server.log" 2>&1 &
  server_pid=$!
  wait_port "$smtp"
  wait_port "$submission"
}
stop_server() {
  [ -n "$counters_pid" ] && { kill "$counters_pid" 2>/dev/null || true; wait "$counters_pid" 2>/dev/null || true; counters_pid=; }
  kill "$server_pid"; wait "$server_pid" || true; server_pid=
}

# CPU time of the server (all threads), in clock ticks.
ticks=$(getconf CLK_TCK)
server_cpu() { sed -e 's/^.*) //' "/proc/$server_pid/stat" | awk '{ print $12 + $13 }'; }

# Methods the runtime has compiled so far (JIT, every tier), from dotnet-counters' System.Runtime meter.
start_counters() {
  rm -f "$scratch/counters.csv"
  "$counters" collect --process-id "$server_pid" --counters System.Runtime --refresh-interval 1 --format csv \
    --output "$scratch/counters.csv" >/dev/null 2>&1 &
  counters_pid=$!
}
# The counter is a rate (methods compiled per refresh interval): the sum of its samples is the total.
jit_methods() {
  sleep 2  # one refresh after the run
  awk -F, '/dotnet.jit.compiled_methods/ { total += $NF } END { printf "%d", total }' "$scratch/counters.csv" 2>/dev/null || echo 0
}

now() { date +%s.%N; }

# INTAKE_PERF=FILE: a CPU profile of our server during the phase INTAKE_PERF_PHASE (steady, delivery or submit).
perf_start() {
  [ -n "${INTAKE_PERF:-}" ] && [ "${INTAKE_PERF_PHASE:-steady}" = "$1" ] || return 0
  perf record -g -F 999 -p "$server_pid" -o "$INTAKE_PERF" >/dev/null 2>&1 &
  perf_pid=$!
  sleep 1
}
perf_stop() {
  [ -n "$perf_pid" ] || return 0
  kill -INT "$perf_pid"; wait "$perf_pid" || true; perf_pid=
  cp "/tmp/perf-$server_pid.map" "$INTAKE_PERF.map" 2>/dev/null || true
  echo "# perf profile: $INTAKE_PERF (perf report -i $INTAKE_PERF; the runtime's perf map is /tmp/perf-$server_pid.map, copied to $INTAKE_PERF.map)"
}
# smtp-source against PORT: prints elapsed seconds. -l: payload size; one message per connection.
source_run() {  # PORT SESSIONS MESSAGES SIZE
  local started ended
  started=$(now)
  /usr/sbin/smtp-source -s "$2" -m "$3" -l "$4" -f bench@bench.test -t alice@example.test "127.0.0.1:$1"
  ended=$(now)
  python3 -c "print(f'{$ended - $started:.3f}')"
}

result_rows=()
# One pair: ours, then Postfix, same size and sessions. Prints both rates, the ratio, our CPU per message.
pair() {  # LABEL SESSIONS MESSAGES SIZE
  local label=$1 sessions=$2 n=$3 size=$4 before after ours theirs cpu
  before=$(server_cpu)
  ours=$(source_run "$smtp" "$sessions" "$n" "$size")
  after=$(server_cpu)
  theirs=$(source_run "$postfix_port" "$sessions" "$n" "$size")
  python3 - "$label" "$sessions" "$n" "$size" "$ours" "$theirs" "$before" "$after" "$ticks" "$(cut -d' ' -f1 /proc/loadavg)" <<'PY'
import sys
label, sessions, n, size, ours, theirs, before, after, ticks, load = sys.argv[1:]
n, ours, theirs = int(n), float(ours), float(theirs)
cpu = (int(after) - int(before)) * 1000 / int(ticks) / n
print(f"{label:7} {int(size)//1024:>3} KiB {sessions:>3} sessions {n:>6} msgs: ours {n/ours:7.1f} msg/s  postfix {n/theirs:7.1f} msg/s"
      f"  ratio {theirs/ours:5.2f}x  our CPU {cpu:5.2f} ms/msg  load {load}")
PY
}

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(postconf -d mail_version 2>/dev/null)"
runs() {  # LABEL
  pair "$1" 20 "$messages" 1024
  pair "$1" 20 "$messages" 10240
  pair "$1" 1 "$single" 1024
  pair "$1" 1 "$single" 10240
}

if ! skipped cold; then
  echo "# cold: both servers restarted before each pair"
  for spec in "20 $messages 1024" "20 $messages 10240" "1 $single 1024" "1 $single 10240"; do
    start_postfix; start_server
    # shellcheck disable=SC2086
    pair cold $spec
    stop_server; stop_postfix
  done
fi

if ! skipped steady; then
  echo "# steady: warm-up rounds of $warmup messages (20 sessions, 1 and 10 KiB, then 1 session) until the runtime stops compiling"
  start_postfix; start_server; start_counters
  /usr/sbin/smtp-source -s 20 -m 500 -l 1024 -f bench@bench.test -t alice@example.test "127.0.0.1:$postfix_port"
  last=$(jit_methods)
  for round in $(seq 1 "$warmup_rounds"); do
    before=$(server_cpu)
    source_run "$smtp" 20 $(( warmup / 2 )) 1024 >/dev/null
    source_run "$smtp" 20 $(( warmup / 2 )) 10240 >/dev/null
    source_run "$smtp" 1 50 1024 >/dev/null
    after=$(server_cpu)
    methods=$(jit_methods)
    echo "warm-up round $round: JIT-compiled methods $last -> $methods (+$(( methods - last ))), CPU $(python3 -c "print(f'{($after - $before) * 1000 / $ticks / ($warmup + 50):.2f}')") ms/msg"
    grown=$(( methods - last ))
    last=$methods
    [ "$grown" -lt "$jit_quiet" ] && break
  done
  perf_start steady
  runs steady
  perf_stop
  echo "JIT-compiled methods after the steady runs: $(jit_methods) (after warm-up: $last)"
  stop_postfix
else
  start_server
fi

delivery_round() {  # LABEL
  dotnet "$bench_dll" submit --port "$submission" --password "$password" --messages "$delivery_messages" --sessions 20 \
    --size 1k --external-sink >/dev/null
  sleep 2
  (cd "$scratch" && exec /usr/sbin/smtp-sink $( [ "$(id -u)" = 0 ] && echo -u postfix ) -c "127.0.0.1:$sink_port" 1024) > "$scratch/sink.out" 2>&1 &
  sink_pid=$!
  wait_port "$sink_port"
  [ "$1" = steady ] && perf_start delivery
  before=$(server_cpu)
  started=$(now)
  dotnet "$server_dll" queue retry --all --config "$scratch/appsettings.json" >/dev/null
  received=0
  first=
  for _ in $(seq 1 6000); do
    # smtp-sink -c writes its counters after each message, ended by CR: "sess=0 quit=0 mesg=N".
    received=$(tail -c 200 "$scratch/sink.out" | tr '\r' '\n' | sed -n 's/.*mesg=\([0-9]*\).*/\1/p' | tail -1)
    received=${received:-0}
    [ -z "$first" ] && [ "$received" -gt 0 ] && first=$(now)
    [ "$received" -ge "$delivery_messages" ] && break
    sleep 0.05
  done
  ended=$(now)
  after=$(server_cpu)
  perf_stop
  kill "$sink_pid"; wait "$sink_pid" 2>/dev/null || true; sink_pid=
  python3 -c "print(f'delivery $1  1 KiB: {$received} messages to smtp-sink in {$ended - $started:.2f} s from queue retry --all: {$received / ($ended - $started):7.1f} msg/s; first to last received {$ended - ${first:-$started}:.2f} s: {$received / ($ended - ${first:-$started}):7.1f} msg/s; our CPU {($after - $before) * 1000 / $ticks / max($received, 1):.2f} ms/msg, load $(cut -d' ' -f1 /proc/loadavg)')"
}

if ! skipped delivery; then
  echo "# remote delivery: $delivery_messages x 1 KiB queued while the destination refuses connections (submitted over 20 sessions),"
  echo "# then released to smtp-sink with queue retry --all; twice: the first round runs the delivery code for the first time"
  delivery_round cold
  delivery_round steady
fi

if ! skipped submit; then
  (cd "$scratch" && exec /usr/sbin/smtp-sink $( [ "$(id -u)" = 0 ] && echo -u postfix ) -c "127.0.0.1:$sink_port" 1024) > "$scratch/sink.out" 2>&1 &
  sink_pid=$!
  wait_port "$sink_port"
  echo "# submission: STARTTLS + AUTH, 20 sessions, 1 KiB (delivered on to smtp-sink meanwhile)"
  perf_start submit
  before=$(server_cpu)
  dotnet "$bench_dll" submit --port "$submission" --password "$password" --messages "$submit_messages" --sessions 20 \
    --size 1k --external-sink
  after=$(server_cpu)
  perf_stop
  python3 -c "print(f'submit: our CPU {($after - $before) * 1000 / $ticks / $submit_messages:.2f} ms/msg (intake and delivery), load $(cut -d' ' -f1 /proc/loadavg)')"
fi
stop_server
