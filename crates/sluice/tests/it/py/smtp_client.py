"""Python smtplib (an independently written SMTP client) against Sluice.

Usage: smtp_client.py MODE PORT [ARGS...]
Prints one JSON object describing what the server answered; the Rust test
decides what is right. Replies are [code, text]. Exits non-zero only when
the client itself breaks (connection refused, timeout).
"""

import json
import smtplib
import ssl
import sys

TIMEOUT_S = 20


def reply(pair):
    code, text = pair
    return [code, text.decode("utf-8", "replace") if isinstance(text, bytes) else text]


def features(smtp):
    return {k: v for k, v in smtp.esmtp_features.items()}


def message(subject, body="hello from smtplib\r\n"):
    return (
        f"From: <sender@it.test>\r\nTo: <user@example.test>\r\n"
        f"Subject: {subject}\r\n\r\n{body}"
    ).encode("utf-8")


def send(smtp, sender, rcpts, msg, mail_options=(), rcpt_options=()):
    """sendmail() without the exceptions: every reply recorded."""
    out = {}
    out["mail"] = reply(smtp.mail(sender, list(mail_options)))
    if out["mail"][0] != 250:
        smtp.rset()
        return out
    out["rcpt"] = [reply(smtp.rcpt(r, list(rcpt_options))) for r in rcpts]
    if not any(code in (250, 251) for code, _ in out["rcpt"]):
        smtp.rset()
        return out
    try:
        out["data"] = reply(smtp.data(msg))
    except smtplib.SMTPResponseException as e:  # no 354, or refused at the end
        out["data"] = reply((e.smtp_code, e.smtp_error))
    return out


def connect(port):
    smtp = smtplib.SMTP("127.0.0.1", port, local_hostname="py.it.test", timeout=TIMEOUT_S)
    return smtp


def mode_ehlo(port, _args):
    with connect(port) as smtp:
        code, text = smtp.ehlo()
        return {"ehlo": [code, text.decode("utf-8", "replace")], "features": features(smtp)}


def mode_dsn(port, args):
    subject = args[0]
    with connect(port) as smtp:
        smtp.ehlo()
        return send(
            smtp,
            "sender@it.test",
            ["user@example.test"],
            message(subject),
            mail_options=["RET=HDRS", "ENVID=abc"],
            rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;user@example.test"],
        )


def mode_smtputf8(port, args):
    subject, sender, rcpt = args
    out = {}
    with connect(port) as smtp:
        smtp.ehlo()
        out["with"] = send(
            smtp,
            sender,
            [rcpt],
            message(subject, "utf-8 body: héllo wörld\r\n"),
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )
        # Without SMTPUTF8, smtplib would refuse to encode the address itself;
        # force UTF-8 on the wire so the server has to say no.
        smtp.command_encoding = "utf-8"
        out["without_mail"] = reply(smtp.mail(sender))
        smtp.rset()
        smtp.command_encoding = "utf-8"
        out["ascii_mail"] = reply(smtp.mail("sender@it.test"))
        out["without_rcpt"] = reply(smtp.rcpt(rcpt))
        smtp.rset()
    return out


def mode_size(port, args):
    limit = int(args[0])
    out = {}
    with connect(port) as smtp:
        smtp.ehlo()
        out["size_param"] = reply(smtp.mail("sender@it.test", [f"SIZE={limit + 1000}"]))
        smtp.rset()
        big = message("too-big", "x" * 76 + "\r\n") + (("y" * 998 + "\r\n") * (limit // 1000 + 2)).encode()
        out["oversize_data"] = send(smtp, "sender@it.test", ["big@example.test"], big)
    return out


def mode_starttls(port, args):
    subject = args[0]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with connect(port) as smtp:
        smtp.ehlo()
        before = features(smtp)
        code, text = smtp.starttls(context=ctx)
        out = {"starttls": [code, text.decode("utf-8", "replace")], "before": before}
        smtp.ehlo()
        out["after"] = features(smtp)
        out["tls_version"] = smtp.sock.version()
        out["send"] = send(smtp, "sender@it.test", ["tls-py@example.test"], message(subject))
        return out


def mode_peercert(port, args):
    """STARTTLS and compare the server's certificate with a PEM file."""
    (cert_file,) = args
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with open(cert_file) as f:
        expected = ssl.PEM_cert_to_DER_cert(f.read())
    with connect(port) as smtp:
        smtp.ehlo()
        code, text = smtp.starttls(context=ctx)
        der = smtp.sock.getpeercert(binary_form=True)
        return {
            "starttls": [code, text.decode("utf-8", "replace")],
            "matches": der == expected,
            "tls_version": smtp.sock.version(),
        }


def mode_starttls_injection(port, _args):
    """CVE-2011-0411 style: plaintext pipelined after STARTTLS must not be
    executed inside the TLS session."""
    import socket

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sock = socket.create_connection(("127.0.0.1", port), TIMEOUT_S)
    f = sock.makefile("rb")
    out = {"banner": f.readline().decode()}
    sock.sendall(b"EHLO inject.it.test\r\n")
    while True:
        line = f.readline().decode()
        if line[3:4] != "-":
            break
    sock.sendall(b"STARTTLS\r\nNOOP injected\r\n")
    out["starttls"] = f.readline().decode().strip()
    if not out["starttls"].startswith("220"):
        return out
    try:
        tls = ctx.wrap_socket(sock)
    except (ssl.SSLError, OSError) as e:
        out["handshake"] = f"failed: {e}"
        return out
    tls.settimeout(TIMEOUT_S)
    tls.sendall(b"EHLO after.it.test\r\n")
    tf = tls.makefile("rb")
    try:
        out["first_tls_reply"] = tf.readline().decode().strip()
    except (ssl.SSLError, OSError) as e:
        out["first_tls_reply"] = f"<{e}>"
    return out


def connect_from(port, source_ip):
    return smtplib.SMTP(
        "127.0.0.1", port, local_hostname="py.it.test", timeout=TIMEOUT_S, source_address=(source_ip, 0)
    )


def mode_client_cert(port, args):
    """From SOURCE_IP: STARTTLS verifying the server against CA, presenting CERT/KEY, then
    MAIL and COUNT times RCPT TO RECIPIENT (stops at the first refusal), then DATA."""
    source_ip, ca, cert, key, count, recipient = args
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    with connect_from(port, source_ip) as smtp:
        smtp.ehlo()
        code, text = smtp.starttls(context=ctx)
        out = {"starttls": [code, text.decode("utf-8", "replace")], "tls_version": smtp.sock.version()}
        smtp.ehlo()
        out["mail"] = reply(smtp.mail("news@partner.test"))
        out["rcpt"] = []
        for _ in range(int(count)):
            out["rcpt"].append(reply(smtp.rcpt(recipient)))
            if out["rcpt"][-1][0] != 250:
                return out
        out["data"] = reply(smtp.data(message("client-cert")))
        return out


def mode_rcpt_utf8(port, args):
    """From SOURCE_IP with SMTPUTF8: MAIL, then one RCPT per RECIPIENT; every reply."""
    source_ip, *recipients = args
    with connect_from(port, source_ip) as smtp:
        smtp.ehlo()
        out = {"smtputf8": smtp.has_extn("smtputf8"), "rcpt": {}}
        out["mail"] = reply(smtp.mail("sénder@it.test", ["SMTPUTF8"]))
        for r in recipients:
            out["rcpt"][r] = reply(smtp.rcpt(r))
        return out


MODES = {
    "client_cert": mode_client_cert,
    "rcpt_utf8": mode_rcpt_utf8,
    "starttls_injection": mode_starttls_injection,
    "peercert": mode_peercert,
    "ehlo": mode_ehlo,
    "dsn": mode_dsn,
    "smtputf8": mode_smtputf8,
    "size": mode_size,
    "starttls": mode_starttls,
}

if __name__ == "__main__":
    mode, port, *rest = sys.argv[1:]
    print(json.dumps(MODES[mode](int(port), rest), ensure_ascii=False))
