"""DKIM and Authentication-Results for the sender authentication tests, with dkimpy (a
signer and verifier nobody here wrote) and Python's email package.

Usage:
  dkim_tool.py sign KEY_PEM SELECTOR DOMAIN < message > signed   (rsa-sha256, relaxed/relaxed)
  dkim_tool.py verify RECORDS_JSON < message                      prints pass or fail
  dkim_tool.py results AUTHSERV_ID < message                      the Authentication-Results
      headers under AUTHSERV_ID, as JSON: [{"method": "spf", "result": "pass", "props": {...}}]
"""
import email
import email.policy
import json
import sys

import dkim


def sign(key_path, selector, domain):
    message = sys.stdin.buffer.read()
    with open(key_path, "rb") as f:
        key = f.read()
    signature = dkim.sign(
        message,
        selector.encode(),
        domain.encode(),
        key,
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
        canonicalize=(b"relaxed", b"relaxed"),
    )
    sys.stdout.buffer.write(signature + message)


def verify(records_json):
    records = json.loads(records_json)
    message = sys.stdin.buffer.read()

    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        values = records.get(name.rstrip(".").lower(), [])
        return values[0].encode() if values else None

    print("pass" if dkim.verify(message, dnsfunc=dnsfunc) else "fail")


def results(authserv_id):
    message = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
    found = []
    for header in message.get_all("Authentication-Results") or []:
        text = " ".join(str(header).split())
        parts = [p.strip() for p in text.split(";")]
        if parts[0].split()[0].lower() != authserv_id.lower():
            continue
        for part in parts[1:]:
            # Drop comments: "dmarc=pass (p=reject) header.from=x" -> method, result, props.
            depth, plain = 0, ""
            for ch in part:
                if ch == "(":
                    depth += 1
                elif ch == ")":
                    depth -= 1
                elif depth == 0:
                    plain += ch
            words = plain.split()
            method, result = words[0].split("=", 1)
            props = dict(w.split("=", 1) for w in words[1:] if "=" in w)
            found.append({"method": method, "result": result, "props": props})
    print(json.dumps(found))


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "sign":
        sign(*sys.argv[2:5])
    elif command == "verify":
        verify(sys.argv[2])
    elif command == "results":
        results(sys.argv[2])
    else:
        sys.exit("unknown command " + command)
