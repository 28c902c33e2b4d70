"""A real LMTP server (aiosmtpd.lmtp.LMTP, RFC 2033) on loopback for tests.

Usage: lmtp_server.py PORT SCRIPT_JSON RECORD_FILE. SCRIPT_JSON maps a recipient address
(lower case) to {"rcpt": "reply line", "data": "reply line"}; either may be missing, and
then the reply is a 250. After the final dot the server answers one line per accepted
recipient, in RCPT order (the LMTP rule), from the "data" entries. Every transaction is
appended to RECORD_FILE as one JSON line: {"lhlo", "mail_from", "rcpt_tos", "data"}.
Prints "ready" once listening, then serves until killed.
"""
import asyncio
import json
import sys

from aiosmtpd.lmtp import LMTP


class Scripted:
    def __init__(self, script, record_file):
        self.script = script
        self.record_file = record_file

    def entry(self, address):
        return self.script.get(address.lower(), {})

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.entry(address).get("rcpt", "250 2.1.5 OK")
        if reply.startswith("2"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        with open(self.record_file, "a", encoding="utf-8") as out:
            record = {
                "lhlo": session.host_name,
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "data": envelope.content.decode("utf-8", "replace"),
            }
            out.write(json.dumps(record) + "\n")
        replies = [self.entry(r).get("data", "250 2.0.0 delivered") for r in envelope.rcpt_tos]
        # aiosmtpd sends what DATA returns as is: several CRLF-joined lines are the
        # per-recipient replies LMTP requires.
        return "\r\n".join(replies)


async def serve(port, handler):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: LMTP(handler, hostname="lmtp.test"), "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def main():
    port = int(sys.argv[1])
    handler = Scripted(json.loads(sys.argv[2]), sys.argv[3])
    asyncio.run(serve(port, handler))


if __name__ == "__main__":
    main()
