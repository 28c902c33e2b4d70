"""A remote mail server for delivery tests: aiosmtpd on loopback with scripted replies.

Usage: mx_server.py PORT OUT_DIR [CERT KEY]. With CERT and KEY the server offers STARTTLS
but can only speak TLS 1.2 with a CBC cipher suite that modern clients refuse, so every
handshake fails: a server with broken TLS. The reply to RCPT TO depends on the local part's first
word: `fail...` 550 5.1.1, `later...` 451 4.3.0, `once...` 451 4.3.0 the first time that
address is tried and 250 afterwards, `throttle...` 451 4.7.500 (a receiving
server asking us to slow down), `busy...` 421 4.3.2 (a server closing the door for now), and
the refusals real servers give (REPLIES below: unknown user, full mailbox, blocklist, relay
denied, a new-IP throttling token); anything else 250. After the data, a message to
`big...`, `huge...`, `spam...` or `dmarc...` is refused as too big, spam or failing DMARC
(DATA_REPLIES); one to `slow...` is accepted only once the test creates OUT_DIR/release (so
the sender's connection stays busy exactly as long as the test needs), one to `hang...` is
never answered. Every RCPT is logged as one line
`<address> <code>` to OUT_DIR/rcpt.log; every accepted message is written to
OUT_DIR/msg-<n>.json with its envelope and the client's port. Prints "ready" once listening.
"""
import asyncio
import json
import logging
import os
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller

REPLIES = [
    ("fail", "550 5.1.1 The email account that you tried to reach does not exist"),
    ("later", "451 4.3.0 Mailbox temporarily unavailable, try again later"),
    ("throttle", "451 4.7.500 Server busy: too many messages from your IP, slow down"),
    ("busy", "421 4.3.2 System not accepting network messages, try again later"),
    # Postfix's wording; {address} is the recipient.
    ("unknown", "550 5.1.1 <{address}>: Recipient address rejected: User unknown"),
    ("full", "552 5.2.2 <{address}>: Mailbox full: quota exceeded"),
    ("listed", "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org"),
    ("relay", "554 5.7.1 <{address}>: Relay access denied"),
    ("probation", "451 4.7.501 Deferred: new sender over probation allowance from [127.0.0.1]. (AS501) Try again in 10 minutes"),
]

# Replies after the end of data, by the first recipient's local part.
DATA_REPLIES = [
    ("big", "552 5.3.4 Message size exceeds fixed maximum message size"),
    ("huge", "554 5.3.4 Message too big for system"),
    ("spam", "554 5.7.1 Message rejected as spam by content filtering"),
    ("dmarc", "550 5.7.1 Unauthenticated email from acme.sluice.test is not accepted due to domain's DMARC policy"),
]


class Scripted:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.lock = threading.Lock()
        self.count = 0
        self.tried_once = set()

    def log(self, address, reply):
        with self.lock, open(os.path.join(self.out_dir, "rcpt.log"), "a") as f:
            f.write(f"{address} {reply[:3]}\n")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        reply = next((r for prefix, r in REPLIES if local.startswith(prefix)), "250 2.1.5 OK")
        if local.startswith("once"):
            with self.lock:
                first = address.lower() not in self.tried_once
                self.tried_once.add(address.lower())
            reply = "451 4.3.0 Mailbox busy, try again in a moment" if first else "250 2.1.5 OK"
        reply = reply.replace("{address}", address)
        self.log(address, reply)
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        first = envelope.rcpt_tos[0].split("@", 1)[0].lower() if envelope.rcpt_tos else ""
        refusal = next((r for prefix, r in DATA_REPLIES if first.startswith(prefix)), None)
        if refusal:
            return refusal
        if any(r.lower().startswith("slow") for r in envelope.rcpt_tos):
            # A slow server: the sender's connection stays busy until the test says so.
            release = os.path.join(self.out_dir, "release")
            for _ in range(1200):
                if os.path.exists(release):
                    break
                await asyncio.sleep(0.05)
        if any(r.lower().startswith("hang") for r in envelope.rcpt_tos):
            # A server that never answers the end of data.
            await asyncio.sleep(3600)
        with self.lock:
            self.count += 1
            n = self.count
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.original_content.decode("utf-8", "replace"),
            # The client's port tells connections apart (connection reuse).
            "peer_port": session.peer[1],
        }
        path = os.path.join(self.out_dir, f"msg-{n}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 Ok: stored"


def main():
    port, out_dir = int(sys.argv[1]), sys.argv[2]
    tls = {}
    if len(sys.argv) == 5:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[3], sys.argv[4])
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("AES128-SHA")
        tls = {"tls_context": context, "require_starttls": False}
        # The failed handshakes are the point: keep their tracebacks out of the test output.
        logging.getLogger("mail.log").setLevel(logging.CRITICAL)
    controller = Controller(Scripted(out_dir), hostname="127.0.0.1", port=port, **tls)
    controller.start()
    print("ready", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
