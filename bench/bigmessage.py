#!/usr/bin/env python3
"""Big-message memory bench driver (bench/bigmessage.sh starts the server and calls this).

usage: bigmessage.py SERVER_PID SMTP_PORT IMAP_PORT USER PASSWORD [SIZE_MIB] [CONCURRENT_SMTP] [CONCURRENT_FETCH]

Phases, each printed with its time and the server's peak resident memory during it (VmRSS sampled every
20 ms from /proc/PID/status; VmHWM is printed at the end):
  1. one SIZE_MIB message over SMTP (MX listener, to USER);
  2. one IMAP FETCH BODY.PEEK[] of it, checked byte for byte against what was sent (SHA-256 of the fetched message
     below the server's own trace fields);
  3. a multipart/mixed message of SIZE_MIB: a short text part and an attachment of SIZE_MIB - 6 MiB (base64),
     then FETCH BODYSTRUCTURE, BODY.PEEK[1] (the text) and BODY.PEEK[2] (the attachment, checked byte for byte), each
     in a new session, CONCURRENT_FETCH BODY.PEEK[2] at once, then BINARY.PEEK[2] (the attachment decoded, checked
     against its base64 decoding) and CONCURRENT_FETCH of those at once; first of all (so earlier phases do not
     raise the figure), CONCURRENT_FETCH (at least 1) FETCH PREVIEW of it at once and as many UID SEARCH BODY at once
     (a word of its text part; each in a session of its own);
  4. CONCURRENT_SMTP messages of phase 1 sent at once, one per session (skipped when 0);
  5. CONCURRENT_FETCH whole-message FETCHes at once, one per session (skipped when 0).
"""
import base64, hashlib, imaplib, os, smtplib, ssl, sys, threading, time

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


def mime_message():
    """multipart/mixed: a short text/plain part, then an application/octet-stream attachment of size_mib - 6 MiB."""
    line = (hashlib.sha256(b"attachment").hexdigest() * 3)[:76].encode() + b"\r\n"
    attachment = line * (((size_mib - 6) * 1024 * 1024) // len(line))
    head = (f"From: bench@example.net\r\nTo: {user}\r\nSubject: big attachment\r\nMessage-ID: <mime@bench.example.net>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
            "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThe attachment follows.\r\n"
            "--b1\r\nContent-Type: application/octet-stream; name=\"big.bin\"\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n").encode()
    return head + attachment + b"\r\n--b1--\r\n", attachment


def fetch_item(uid, item):
    m = imap()
    try:
        typ, data = m.uid("FETCH", str(uid), f"({item})")
        assert typ == "OK", (typ, data)
        return data[0][1] if isinstance(data[0], tuple) else data[0]
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
mime, attachment = mime_message()


def send_mime(i):
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=600) as s:
        s.ehlo("bench.example.net")
        s.sendmail("bench@example.net", [user], mime)


phase("1 SMTP delivery, multipart with an attachment", send_mime, 1)
mime_uid = last_uid()


def search_body(i):
    m = imap()
    try:
        typ, data = m.uid("SEARCH", None, "BODY", "follows")
        assert typ == "OK", (typ, data)
        return data[0]
    finally:
        m.logout()


n_read = max(n_fetch, 1)
preview = phase(f"{n_read} IMAP FETCH PREVIEW at once", lambda i: fetch_item(mime_uid, "PREVIEW"), n_read)[0]
if preview is None or b"The attachment follows." not in preview:
    print(f"# PREVIEW without the text: {preview!r:.200}")
found = phase(f"{n_read} IMAP UID SEARCH BODY at once", search_body, n_read)[0]
if found is None or str(mime_uid).encode() not in found.split():
    print(f"# SEARCH BODY did not find the message: {found!r:.200}")

structure = phase("1 IMAP FETCH BODYSTRUCTURE", lambda i: fetch_item(mime_uid, "BODYSTRUCTURE"), 1)[0]
if structure is None or b'"big.bin"' not in structure:
    print(f"# BODYSTRUCTURE without the attachment: {structure!r:.200}")
phase("1 IMAP FETCH BODY.PEEK[1] (the text part)", lambda i: fetch_item(mime_uid, "BODY.PEEK[1]"), 1)
part = phase("1 IMAP FETCH BODY.PEEK[2] (the attachment)", lambda i: fetch_item(mime_uid, "BODY.PEEK[2]"), 1)[0]
if part != attachment:
    print(f"# MISMATCH: BODY[2] is {len(part or b'')} octets, the attachment {len(attachment)}")
if n_fetch > 0:
    phase(f"{n_fetch} IMAP FETCH BODY.PEEK[2] at once", lambda i: fetch_item(mime_uid, "BODY.PEEK[2]"), n_fetch)
decoded = base64.b64decode(attachment)
binary = phase("1 IMAP FETCH BINARY.PEEK[2] (the attachment decoded)", lambda i: fetch_item(mime_uid, "BINARY.PEEK[2]"), 1)[0]
if binary != decoded:
    print(f"# MISMATCH: BINARY[2] is {len(binary or b'')} octets, the decoded attachment {len(decoded)}")
if n_fetch > 0:
    phase(f"{n_fetch} IMAP FETCH BINARY.PEEK[2] at once", lambda i: fetch_item(mime_uid, "BINARY.PEEK[2]"), n_fetch)

if n_smtp > 0:
    phase(f"{n_smtp} SMTP deliveries at once", lambda i: send(f"many-{i}"), n_smtp)
if n_fetch > 0:
    uid = last_uid()
    phase(f"{n_fetch} IMAP FETCHes at once", lambda i: fetch(uid), n_fetch)
print(f"# server resident at end: {rss_kib() / 1024:.0f} MiB, peak (VmHWM): {rss_kib('VmHWM') / 1024:.0f} MiB")
