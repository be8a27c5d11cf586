#!/usr/bin/env bash
# Held synchronous hook vs normal intake: DATA→250 latency (p50/p99) of N messages over one SMTP session, first from
# a sender no rule matches, then from one whose inbound rule is a synchronous hook (the message is held durably and
# the 250 does not wait for the hook). A Python hook on loopback answers DEFAULT. Ports are shifted by 1000.
# Usage: bench/held.sh [MESSAGES]      (default: 100)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-100}
dotnet build Server/MailServer.Server.csproj -c Release -nologo -v q >/dev/null
dotnet build bench/MailServer.Bench.csproj -c Release -nologo -v q >/dev/null
scratch=$(mktemp -d)
trap 'kill $(cat "$scratch/pid" "$scratch/hookpid" 2>/dev/null) 2>/dev/null || true; rm -rf "$scratch"' EXIT
hookport=13080
python3 - "$hookport" > "$scratch/hook.log" 2>&1 <<'PY' &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"actions":[{"action":{"type":"DEFAULT"},"allRecipients":true}]}'
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
echo $! > "$scratch/hookpid"
rule='{ "Name": "held-bench", "Action": "RunHook", "SenderPatterns": [ "held.bench" ], "RecipientPatterns": [ "*" ], "Hook": { "Url": "http://127.0.0.1:'$hookport'/", "Synchronous": true, "FallbackAction": "Default", "RuleTimeoutMinutes": 5 } }'
sed -e 's|"DataDirectory": "data"|"DataDirectory": "'"$scratch"'/data"|' \
    -e 's|"BindAddress": "0.0.0.0"|"BindAddress": "127.0.0.1"|' \
    -e 's|"Smtp": 2525|"Smtp": 3525|' -e 's|"Submission": 2587|"Submission": 3587|' -e 's|"Submissions": 2465|"Submissions": 3465|' \
    -e 's|"Imap": 2143|"Imap": 3143|' -e 's|"Imaps": 2993|"Imaps": 3993|' -e 's|"Https": 2443|"Https": 3443|' -e 's|127.0.0.1:8025|127.0.0.1:9025|' \
    -e 's|"FlowRules": { "Inbound": \[\], "Outbound": \[\] }|"FlowRules": { "Inbound": [ '"$rule"' ], "Outbound": [] }|' \
    appsettings.json > "$scratch/appsettings.json"
grep -q held-bench "$scratch/appsettings.json" || { echo "could not place the rule in the config" >&2; exit 1; }
dotnet Server/bin/Release/net10.0/mailserver.dll run --config "$scratch/appsettings.json" > "$scratch/server.log" 2>&1 &
echo $! > "$scratch/pid"
for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/3525) 2>/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
bench() { dotnet bench/bin/Release/net10.0/mailserver-bench.dll smtp --port 3525 --sessions 1 --size 1k --messages "$2" --from "$1"; }
bench bench@bench.test 50 >/dev/null   # warm-up
bench bench@held.bench 50 >/dev/null
for round in 1 2; do
  echo "normal: $(bench bench@bench.test "$messages")"
  echo "held:   $(bench bench@held.bench "$messages")"
done
sleep 2
echo "held messages decided: $(grep -c 'decided at attempt' "$scratch/server.log" || true)"
