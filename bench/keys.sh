#!/usr/bin/env bash
# Keys and backups benchmark: a Release server on a scratch copy of appsettings.json (free loopback ports) with
# USERS extra users (one message to a group of all of them creates their mailboxes) and MESSAGES messages of 10 KB
# for alice; then times `keys rotate` and `keys rotate --mailbox alice` while the server runs, a full and an incremental `backup`, `backup verify
# --all` and `restore` (with its reindex) into a fresh folder. Every verb prints its own figures.
# Usage: bench/keys.sh [USERS] [MESSAGES]      (defaults: 2000 users, 5000 messages)
set -euo pipefail
cd "$(dirname "$0")/.."
users=${1:-2000}
messages=${2:-5000}
dotnet build Server/MailServer.Server.csproj -c Release -nologo -v q >/dev/null
dotnet build bench/MailServer.Bench.csproj -c Release -nologo -v q >/dev/null
scratch=$(mktemp -d)
trap 'kill $(cat "$scratch/pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$scratch"' EXIT
python3 - "$scratch" "$users" <<'PY'
import json, re, socket, sys
scratch, users = sys.argv[1], int(sys.argv[2])
text = open("appsettings.json").read()
# Comments (whole-line and after a value, outside strings) are allowed in the sample.
config = json.loads(re.sub(r'("(?:\\.|[^"\\])*")|//[^\n]*', lambda m: m.group(1) or "", text))
def free():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p
ms = config["MailServer"]
ms["DataDirectory"] = scratch + "/data"
ms["Listeners"] = {"BindAddress": "127.0.0.1", "Smtp": free(), "Submission": free(), "Submissions": free(),
                   "Imap": free(), "Imaps": free(), "Https": free(), "Admin": "127.0.0.1:%d" % free()}
ms.setdefault("Dns", {})["TimeoutSeconds"] = 1
org = ms["Organizations"][0]
import base64, hashlib, os
salt = os.urandom(16)
b64 = lambda b: base64.b64encode(b).decode().rstrip("=")
phc = "$pbkdf2-sha256$i=1000,l=32$%s$%s" % (b64(salt), b64(hashlib.pbkdf2_hmac("sha256", b"bench password 1", salt, 1000, 32)))
for u in org["Users"]:
    u["PasswordHash"] = phc
extra = ["u%d@example.test" % i for i in range(users)]
org["Users"] += [{"Email": e, "DisplayName": e, "Aliases": [], "PasswordHash": phc, "Enabled": True, "MailboxQuotaMiB": 51200} for e in extra]
org["Groups"].append({"Email": "everyone@example.test", "Aliases": [], "Members": extra})
json.dump(config, open(scratch + "/appsettings.json", "w"), indent=1)
open(scratch + "/smtp-port", "w").write(str(ms["Listeners"]["Smtp"]))
PY
smtp=$(cat "$scratch/smtp-port")
cli() { dotnet Server/bin/Release/net10.0/mailserver.dll "$@" --config "$scratch/appsettings.json"; }
dotnet Server/bin/Release/net10.0/mailserver.dll run --config "$scratch/appsettings.json" > "$scratch/server.log" 2>&1 &
echo $! > "$scratch/pid"
for _ in $(seq 1 3000); do (echo > /dev/tcp/127.0.0.1/"$smtp") 2>/dev/null && break; sleep 0.1; done
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
dotnet bench/bin/Release/net10.0/mailserver-bench.dll smtp --port "$smtp" --to everyone@example.test --messages 1 --sessions 1 --size 1k
dotnet bench/bin/Release/net10.0/mailserver-bench.dll smtp --port "$smtp" --to alice@example.test --messages "$messages" --sessions 20 --size 10k
echo "stored: $(du -sm "$scratch/data" | cut -f1) MB"
echo "== keys rotate (server running)"; cli keys rotate --org example | tail -1
echo "== keys rotate --mailbox alice (server running)"; cli keys rotate --mailbox alice@example.test | head -1
echo "== backup (full)"; cli backup --to "$scratch/backup"
echo "== backup (incremental, after 500 more messages)"
dotnet bench/bin/Release/net10.0/mailserver-bench.dll smtp --port "$smtp" --to alice@example.test --messages 500 --sessions 20 --size 10k >/dev/null
cli backup --to "$scratch/backup"
echo "== backup verify --all"; cli backup verify "$scratch/backup" --all
kill "$(cat "$scratch/pid")"; while kill -0 "$(cat "$scratch/pid")" 2>/dev/null; do sleep 0.2; done
mkdir -p "$scratch/restored/keys" && cp -a "$scratch/data/keys/." "$scratch/restored/keys/"
echo "== restore (and reindex) into a fresh folder"; time cli restore --from "$scratch/backup" --data "$scratch/restored"
