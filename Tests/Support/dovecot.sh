#!/usr/bin/env bash
# A private Dovecot (Debian's dovecot-imapd) for the import tests: its own config, state and mail in DIR, IMAP on a
# free loopback port, running as the current user; users in DIR/users (passwd-file, plain passwords; Dovecot re-reads
# it when it changes), the master user "importadmin" in DIR/masters (SASL PLAIN with an authorization identity).
#   dovecot.sh start DIR   -> prints the port
#   dovecot.sh stop DIR
set -euo pipefail
cmd=$1; dir=$(readlink -f "$2")
case "$cmd" in
start)
  mkdir -p "$dir/run" "$dir/state" "$dir/mail"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  touch "$dir/users"
  echo "importadmin:{PLAIN}import-admin-password" > "$dir/masters"
  user=$(id -un); group=$(id -gn)
  # Dovecot's login processes refuse to run as root: as root, they use the package's unprivileged users.
  # Nor does it give mail processes uid 0: as root, the mail belongs to nobody.
  login_user=$user; internal_user=$user; internal_group=$group
  if [ "$(id -u)" = 0 ]; then
    login_user=dovenull; internal_user=dovecot; internal_group=dovecot; user=nobody; group=nogroup
    chmod 755 "$dir" "$dir/run"; chown nobody:nogroup "$dir/mail"
  fi
  cat > "$dir/dovecot.conf" <<CONF
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
instance_name = mailserver-tests-$port
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_master_user_separator = *
default_login_user = $login_user
default_internal_user = $internal_user
default_internal_group = $internal_group
mail_location = maildir:$dir/mail/%u
mail_uid = $user
mail_gid = $group
mail_max_userip_connections = 100
passdb {
  driver = passwd-file
  args = scheme=PLAIN $dir/masters
  master = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN $dir/users
}
userdb {
  driver = static
  args = uid=$user gid=$group home=$dir/mail/%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox "Sent Messages" {
    special_use = \\Sent
  }
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Bulk {
    special_use = \\Junk
  }
  mailbox Archive {
    special_use = \\Archive
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
  }
}
CONF
  # Its own stdio closed: a caller reading our output (command substitution, a test) must not wait for the daemon.
  /usr/sbin/dovecot -c "$dir/dovecot.conf" </dev/null >/dev/null 2>&1
  for _ in $(seq 1 50); do
    (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && { echo "$port"; exit 0; }
    sleep 0.1
  done
  echo "dovecot did not open port $port; log:" >&2; cat "$dir/dovecot.log" >&2; exit 1
  ;;
stop)
  /usr/sbin/dovecot -c "$dir/dovecot.conf" stop 2>/dev/null || { [ -f "$dir/run/master.pid" ] && kill "$(cat "$dir/run/master.pid")"; } || true
  ;;
esac
