"""A small authoritative DNS server on loopback for tests (dnslib).

Usage: dns_server.py PORT RECORDS_JSON, where RECORDS_JSON maps a lower-case name to a list
of TXT strings, or to an object {"TXT": [...], "MX": [[preference, host], ...], "A": [...],
"AAAA": [...]}. Answers over UDP and TCP; unknown names get NXDOMAIN. Prints "ready" once
listening, then serves until killed.
"""
import json
import sys
import time

from dnslib import AAAA, MX, QTYPE, RCODE, RR, TXT, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class Records(BaseResolver):
    def __init__(self, records):
        self.records = records

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        if name not in self.records:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        entry = self.records[name]
        if isinstance(entry, list):
            entry = {"TXT": entry}
        qtype = QTYPE[request.q.qtype]
        make = {
            # A TXT record's strings hold 255 bytes each: longer values (DKIM keys) are split.
            "TXT": lambda v: TXT([v[i : i + 255] for i in range(0, len(v), 255)] or [""]),
            "MX": lambda v: MX(v[1], v[0]),
            "A": lambda v: A(v),
            "AAAA": lambda v: AAAA(v),
        }
        for value in entry.get(qtype, []):
            reply.add_answer(RR(request.q.qname, getattr(QTYPE, qtype), rdata=make[qtype](value), ttl=60))
        return reply


def main():
    port = int(sys.argv[1])
    resolver = Records(json.loads(sys.argv[2]))
    # Quiet: stdout is the test's pipe, which it stops reading after "ready".
    quiet = DNSLogger(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)
    for tcp in (False, True):
        DNSServer(resolver, port=port, address="127.0.0.1", tcp=tcp, logger=quiet).start_thread()
    print("ready", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
