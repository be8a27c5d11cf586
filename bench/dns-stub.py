# A DNS server on loopback that answers NXDOMAIN at once (bench/*.sh): SPF/DKIM/DMARC lookups for the bench's
# sender domain must not wait on the machine's resolver, whose timeouts would hold a run to a few messages/s.
# Usage: python3 bench/dns-stub.py PORT
import socket
import sys

sock = socket.socket(type=socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    query, peer = sock.recvfrom(4096)
    if len(query) < 12:
        continue
    flags = 0x8000 | (int.from_bytes(query[2:4], "big") & 0x0100) | 0x0080 | 3  # QR, RD copied, RA, NXDOMAIN
    sock.sendto(query[:2] + flags.to_bytes(2, "big") + query[4:6] + b"\0\0\0\0\0\0" + query[12:], peer)
