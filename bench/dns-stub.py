# A DNS server on loopback that answers NXDOMAIN at once (bench/*.sh): SPF/DKIM/DMARC lookups for the bench's
# sender domain must not wait on the machine's resolver, whose timeouts would hold a run to a few messages/s.
# Like a real server's, each negative answer carries the zone's SOA record in its authority section (RFC 2308 §3,
# negative TTL 300 s), so a resolver may cache it as RFC 2308 §5 allows.
# Usage: python3 bench/dns-stub.py PORT
import socket
import struct
import sys


def name(text):
    return b"".join(bytes([len(label)]) + label.encode() for label in text.split(".")) + b"\0"


negative_ttl = 300
soa_data = name("ns.test") + name("hostmaster.test") + struct.pack(">5I", 1, 3600, 600, 86400, negative_ttl)
soa = name("test") + struct.pack(">HHIH", 6, 1, negative_ttl, len(soa_data)) + soa_data

sock = socket.socket(type=socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    query, peer = sock.recvfrom(4096)
    if len(query) < 12:
        continue
    # The question ends at the first zero label after the header, then type and class.
    end = query.index(b"\0", 12) + 5
    flags = 0x8000 | (int.from_bytes(query[2:4], "big") & 0x0100) | 0x0080 | 3  # QR, RD copied, RA, NXDOMAIN
    header = query[:2] + flags.to_bytes(2, "big") + query[4:6] + b"\0\0" + b"\0\1" + b"\0\0"
    sock.sendto(header + query[12:end] + soa, peer)
