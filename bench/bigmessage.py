#!/usr/bin/env python3
"""Big-message memory bench driver (bench/bigmessage.sh starts the server and calls this).

usage: bigmessage.py SERVER_PID SMTP_PORT IMAP_PORT USER PASSWORD [SIZE_MIB] [CONCURRENT_SMTP] [CONCURRENT_FETCH]

Phases, each printed with its time and the server's peak resident memory during it (VmRSS sampled every
20 ms from /proc/PID/status; VmHWM is printed at the end):
  1. one SIZE_MIB message over SMTP (MX listener, to USER);
  2. one IMAP FETCH BODY.PEEK[] of it, checked byte for byte against what was sent (SHA-256 of the fetched message
     below the server's own trace fields);
  3. CONCURRENT_SMTP such messages sent at once, one per session;
  4. CONCURRENT_FETCH whole-message FETCHes at once, one per session.
"""
import hashlib, imaplib, os, smtplib, ssl, sys, threading, time

pid, smtp_port, imap_port, user, password = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
size_mib = int(sys.argv[6]) if len(sys.argv) > 6 else 36
n_smtp = int(sys.argv[7]) if len(sys.argv) > 7 else 8
n_fetch = int(sys.argv[8]) if len(sys.argv) > 8 else 8


def rss_kib(field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class Sampler:
    def __init__(self):
        self.peak = rss_kib()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib())
            time.sleep(0.02)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss_kib())


def message(tag):
    """A plain-text message of about size_mib MiB: 76-character base64-looking lines, CRLF."""
    line = (hashlib.sha256(tag.encode()).hexdigest() * 3)[:76].encode() + b"\r\n"
    head = (f"From: bench@example.net\r\nTo: {user}\r\nSubject: big {tag}\r\nMessage-ID: <{tag}@bench.example.net>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode()
    return head + line * ((size_mib * 1024 * 1024) // len(line))


sent_length = len(message("one"))  # the message phase 2 fetches


def send(tag):
    body = message(tag)
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=600) as s:
        s.ehlo("bench.example.net")
        s.sendmail("bench@example.net", [user], body)
    return hashlib.sha256(body).hexdigest()


def imap():
    m = imaplib.IMAP4("127.0.0.1", imap_port, timeout=600)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m.starttls(ctx)
    m.login(user, password)
    m.select("INBOX", readonly=True)
    return m


def fetch(uid):
    m = imap()
    try:
        typ, data = m.uid("FETCH", str(uid), "(BODY.PEEK[])")
        assert typ == "OK", (typ, data)
        body = data[0][1]
        # The stored message is the sent one below the server's trace fields (Received, Authentication-Results).
        return hashlib.sha256(body[len(body) - sent_length:]).hexdigest(), len(body)
    finally:
        m.logout()


def last_uid():
    m = imap()
    try:
        typ, data = m.uid("SEARCH", None, "ALL")
        return int(data[0].split()[-1])
    finally:
        m.logout()


def phase(name, work, count):
    errors = []
    results = [None] * count

    def one(i):
        try:
            results[i] = work(i)
        except Exception as e:  # reported, the bench goes on
            errors.append(repr(e))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    start = time.monotonic()
    with Sampler() as sampler:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    elapsed = time.monotonic() - start
    print(f"| {name} | {elapsed:.1f} s | {sampler.peak / 1024:.0f} MiB | {len(errors)} |", flush=True)
    for e in errors[:3]:
        print(f"#   error: {e}", flush=True)
    return results


print(f"# {size_mib} MiB messages; server resident at start: {rss_kib() / 1024:.0f} MiB")
print("| phase | time | server peak RSS during it | errors |")
print("| --- | --- | --- | --- |")
sent = phase("1 SMTP delivery", lambda i: send("one"), 1)[0]
uid = last_uid()
got = phase("1 IMAP FETCH BODY.PEEK[]", lambda i: fetch(uid), 1)[0]
if got is None or got[0] != sent:
    print(f"# MISMATCH: fetched {got} against sent sha256 {sent}")
phase(f"{n_smtp} SMTP deliveries at once", lambda i: send(f"many-{i}"), n_smtp)
uid = last_uid()
phase(f"{n_fetch} IMAP FETCHes at once", lambda i: fetch(uid), n_fetch)
print(f"# server resident at end: {rss_kib() / 1024:.0f} MiB, peak (VmHWM): {rss_kib('VmHWM') / 1024:.0f} MiB")
