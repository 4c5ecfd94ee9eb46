"""Run inside a lab namespace (standard library only): send N STUN Binding requests to
HOST PORT, 5 ms apart, and print how many distinct ones were answered."""

import os
import select
import socket
import struct
import sys
import time

host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
sent, answered = set(), set()


def drain(wait_s):
    while select.select([sock], [], [], wait_s)[0]:
        data = sock.recv(2048)
        if data[:2] == b"\x01\x01" and data[8:20] in sent:
            answered.add(data[8:20])
        wait_s = 0


for _ in range(count):
    txid = os.urandom(12)
    sent.add(txid)
    sock.sendto(struct.pack("!HHI", 0x0001, 0, 0x2112A442) + txid, (host, port))
    drain(0.005)
deadline = time.monotonic() + 0.5
while time.monotonic() < deadline:
    drain(0.05)
print(len(answered))
