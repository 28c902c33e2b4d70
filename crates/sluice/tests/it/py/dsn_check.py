"""Reads delivery status notifications the way a mail client and a list manager do.

Usage: dsn_check.py FILE... For each file prints one JSON line: the MIME structure
(content type, report type, part types), the per-recipient fields of the
message/delivery-status part (parsed with Python's `email` package), every defect the parser
noted in any part, the charset and decoded text of the human-readable part, and the addresses that flufl.bounce (the
bounce detector GNU Mailman uses) finds as permanent and temporary failures.
"""
import email
import email.policy
import json
import sys

from flufl.bounce import all_failures


def delivery_status(message):
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        # The parser gives the per-message block and each per-recipient block as messages; folded
        # values are unfolded so a test can compare them.
        blocks = part.get_payload()
        unfold = lambda block: {k: " ".join(v.split()) for k, v in block.items()}
        per_message = unfold(blocks[0]) if blocks else {}
        recipients = [unfold(b) for b in blocks[1:]]
        return per_message, recipients
    return {}, []


def main():
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            raw = f.read()
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        per_message, recipients = delivery_status(message)
        temporary, permanent = all_failures(message)
        defects = [f"{part.get_content_type()}: {type(d).__name__}" for part in message.walk() for d in part.defects]
        # The charsets of the human-readable part's text parts (the first part of the report).
        human = message.get_payload()[0] if message.is_multipart() else message
        text_charsets = [part.get_content_charset() for part in human.walk() if part.get_content_maintype() == "text"]
        plain = next((p for p in human.walk() if p.get_content_type() == "text/plain"), None)
        human_text = plain.get_payload(decode=True).decode(plain.get_content_charset() or "ascii", "replace") if plain else ""
        print(json.dumps({
            "file": path,
            "from": message.get("From"),
            "auto_submitted": message.get("Auto-Submitted"),
            "content_type": message.get_content_type(),
            "report_type": message.get_param("report-type"),
            "parts": [p.get_content_type() for p in message.get_payload()] if message.is_multipart() else [],
            "reporting_mta": per_message.get("Reporting-MTA"),
            "per_message": per_message,
            "defects": defects,
            "text_charsets": text_charsets,
            "human_text": human_text.replace("\r\n", "\n"),
            "recipients": recipients,
            "permanent": sorted(a.decode() if isinstance(a, bytes) else a for a in permanent),
            "temporary": sorted(a.decode() if isinstance(a, bytes) else a for a in temporary),
        }))


if __name__ == "__main__":
    main()
