#!/usr/bin/env bash
# Installs what the tests need and runs them. Ends with "Tests: N passed, N failed" on its own line.
set -uo pipefail
cd "$(dirname "$0")"

# Third-party peers the end-to-end tests drive (swaks sends mail like an admin would).
need=()
command -v swaks >/dev/null 2>&1 || need+=(swaks)
command -v mbsync >/dev/null 2>&1 || need+=(isync)   # mbsync: the end-to-end IMAP sync client
[ -x /usr/bin/pebble ] || need+=(pebble)   # Let's Encrypt's ACME test CA: the ACME tests obtain and renew certificates from it
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || need+=(python3-aiosmtpd)   # the remote SMTP receiver of the sending tests
/usr/bin/python3 -c 'import dkim' >/dev/null 2>&1 || need+=(python3-dkim)   # dkimpy: the independent DKIM signer/verifier
[ -x /usr/bin/aws ] || need+=(awscli)   # the AWS CLI that drives the WorkMail API (aws workmail --endpoint-url)
/usr/bin/python3 -c 'import boto3' >/dev/null 2>&1 || need+=(python3-boto3)   # boto3, the SDK WorkMail scripts use
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)   # the IMAP server the mailbox-import tests pull from
# The content filtering engines (spam and virus); the tests start private instances on loopback ports (no system service).
command -v rspamd >/dev/null 2>&1 || need+=(rspamd)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v clamd >/dev/null 2>&1 || need+=(clamav-daemon)
[ -e /usr/lib/softhsm/libsofthsm2.so ] || need+=(softhsm2)   # SoftHSM: the PKCS#11 token that holds a master key
command -v pkcs11-tool >/dev/null 2>&1 || need+=(opensc)   # pkcs11-tool: lists the token's objects like an admin would
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)   # systemd-analyze verify: the Debian package's unit
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)   # the store's second engine: its contract tests run on a private cluster
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# The engines are installed now: a content filtering test that cannot start them fails instead of skipping.
export MAILSERVER_TEST_ENGINES=required
dotnet build mailserver.sln -c Release -nologo -v q || { echo "Tests: 0 passed, 1 failed"; exit 1; }

# Daemons started once for the whole run, stopped at the end (whatever way the script ends).
cleanup=()
trap 'for c in "${cleanup[@]}"; do eval "$c"; done' EXIT

# One Dovecot for the whole run (the import tests' source server), on a free loopback port.
if [ -x /usr/sbin/dovecot ]; then
  DOVECOT_DIR=$(mktemp -d)
  if DOVECOT_IMAP_PORT=$(bash Tests/Support/dovecot.sh start "$DOVECOT_DIR"); then
    export DOVECOT_DIR DOVECOT_IMAP_PORT
    cleanup+=('bash Tests/Support/dovecot.sh stop "$DOVECOT_DIR"')
  fi
fi

# One private PostgreSQL cluster for the whole run (the store contract tests of the PostgreSQL engine): initdb into a
# temporary folder, a loopback port, fsync and synchronous_commit on. Each test makes its own database in it.
MAILSERVER_TEST_PG_DIR=$(mktemp -d)
if MAILSERVER_TEST_PG=$(bash Tests/Support/postgres.sh start "$MAILSERVER_TEST_PG_DIR"); then
  export MAILSERVER_TEST_PG MAILSERVER_TEST_PG_DIR
  cleanup+=('bash Tests/Support/postgres.sh stop "$MAILSERVER_TEST_PG_DIR"')
else
  echo "PostgreSQL did not start: the PostgreSQL store tests will fail" >&2
fi

results=$(mktemp -d)
: > "$results/out.txt"   # there before tail opens it
# Bounded, whatever a test does: a test running over 10 minutes ends the test host (blame names it), the whole run
# over 40 minutes is stopped. The output goes to a file, not a pipe: a daemon that a test leaked with the runner's
# output open cannot hold the run open by keeping a pipe's reader waiting.
timeout --kill-after=60s 40m dotnet test Tests/MailServer.Tests.csproj -c Release --no-build \
  --logger "trx;LogFileName=results.trx" --logger "console;verbosity=normal" \
  --blame-hang-timeout 10m --blame-hang-dump-type none \
  --results-directory "$results" "$@" > "$results/out.txt" 2>&1 < /dev/null &
runner=$!
tail -n +1 -f --pid="$runner" "$results/out.txt"
wait "$runner"
status=$?
# timeout leads its own process group: whatever the run left behind in it (a daemon a test did not stop) goes too.
kill -TERM -- -"$runner" 2>/dev/null
[ "$status" -eq 124 ] && echo "The test run was stopped after 40 minutes."

trx="$results/results.trx"
if [ -f "$trx" ]; then
  passed=$(grep -o 'passed="[0-9]*"' "$trx" | head -1 | tr -dc 0-9)
  failed=$(grep -o 'failed="[0-9]*"' "$trx" | head -1 | tr -dc 0-9)
else
  passed=0; failed=1
fi
# A run that ended without a verdict (stopped, or the test host ended by a hang) counts as failed.
if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
echo "Tests: ${passed:-0} passed, ${failed:-0} failed"
[ "$status" -eq 0 ] && [ "${failed:-0}" -eq 0 ]
