#!/usr/bin/python3
"""smtpgate probe -c FILE UPSTREAM against real TLS SMTP servers on
loopback: it shows the dialogue, the TLS parameters, the chain and every
check, exits 0 only when a relay would go ahead, and never sends mail."""

import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (BIN, OcspResponder, StapleUpstream, Upstream,  # noqa: E402
                    check, config_text, free_port, newdir, pki)
from test_tls_trust import spki_pin  # noqa: E402


def probe(up, upstream_conf=None):
    """Run the probe against up; returns (exit status, stdout)."""
    d = newdir("probe")
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(config_text(free_port(), up.port, upstream=upstream_conf))
    r = subprocess.run([BIN, "probe", "-c", path, "up"], capture_output=True,
                       text=True, timeout=40, stdin=subprocess.DEVNULL)
    check("AddressSanitizer" not in r.stderr and
          "runtime error" not in r.stderr, "sanitizer: %s", r.stderr)
    # Nothing may ever be sent beyond the session set-up.
    check(not up.events("MAIL") and not up.events("RCPT")
          and not up.events("DATA"), "the probe sent mail: %r", up.events())
    return r.returncode, r.stdout


def want(out, *patterns):
    for p in patterns:
        check(re.search(p, out, re.M), "no /%s/ in the probe's output:\n%s",
              p, out)


def test_good_upstream():
    up = Upstream("starttls")
    rc, out = probe(up)
    check(rc == 0, "exit %d:\n%s", rc, out)
    want(out, r"^  S: 220 upstream\.test ESMTP",
         r"^  C: EHLO gw\.test\n(  S: 250.*\n)*  S: 250-STARTTLS",
         r"^  C: STARTTLS\n  S: 220 ",
         r"  C: STARTTLS(.*\n)*  C: EHLO gw\.test\n(  S: 250.*\n)*"
         r"  S: 250-AUTH LOGIN PLAIN",
         r"^tls +TLSv1\.3 cipher \S+ group \S+ resumed no",
         r"^certificate 0 +subject .*CN=localhost",
         r"^certificate 1 +subject .*intermediate CA",
         r"^ +issuer +.*root CA",
         r"^ +valid +\d{4}-\d\d-\d\dT\S+Z \.\. \d{4}",
         r"^check chain +ok", r"^check dates +ok", r"^check name +ok",
         r"^check crl +not checked",
         r"^check pins +none configured; the server's key: pin_sha256 = "
         + re.escape(spki_pin("good")),
         r"^auth +LOGIN PLAIN",
         r"^verdict +GO AHEAD")
    check(up.events("QUIT"), "no QUIT: %r", up.events())


def test_untrusted_refused_then_accepted():
    up = Upstream("starttls", cert="untrusted")
    rc, out = probe(up)
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^check chain +depth 0: .*\(20\): FAILED",
         r"^verdict +REFUSED \(cert-untrusted\)")
    rc, out = probe(up, {"accept": "untrusted-root"})
    check(rc == 0, "exit %d:\n%s", rc, out)
    want(out, r"let through by policy", r"verify +accepted:untrusted-root",
         r"^verdict +GO AHEAD")


def test_every_failed_check_shown():
    # An expired certificate for the wrong name: both checks are shown,
    # the verdict is the first the relay would refuse on.
    up = Upstream("starttls", cert="expired")
    rc, out = probe(up, {"tls_name": "other.test"})
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^check dates +depth 0: certificate has expired.*FAILED",
         r"^check name +depth 0: .*FAILED",
         r"^verdict +REFUSED \(cert-")


def test_revoked_by_crl():
    up = Upstream("starttls", cert="revoked")
    rc, out = probe(up, {"ca_file": pki()["ca-chain-bundle"],
                         "crl_file": pki()["int-ca.crl"],
                         "crl_check": "leaf"})
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^check crl +depth 0: .*revoked.*FAILED",
         r"^verdict +REFUSED \(cert-revoked\)")


def test_pin_mismatch():
    up = Upstream("starttls")
    rc, out = probe(up, {"pin_sha256": spki_pin("untrusted")})
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^check pins +FAILED",
         r"^verdict +REFUSED \(pin-mismatch\)")


def test_starttls_unavailable():
    up = Upstream("plain")
    rc, out = probe(up)
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^verdict +REFUSED \(starttls-unavailable\)")


def test_tls_version_refused():
    up = Upstream("starttls", extra=["--tls-max", "1.2"])
    rc, out = probe(up, {"tls_min_version": "1.3"})
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^verdict +REFUSED \(tls-protocol\)")


def test_client_cert_required():
    up = Upstream("starttls", extra=["--client-ca", pki()["root-ca"]])
    rc, out = probe(up)
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^verdict +REFUSED \(client-cert-rejected\)")
    rc, out = probe(up, {"client_cert": pki()["client-chain"],
                         "client_key": pki()["client.key"]})
    check(rc == 0, "exit %d:\n%s", rc, out)


def test_usage_errors():
    r = subprocess.run([BIN, "probe", "-c", "/nonexistent.ini"],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 2, "no upstream name: exit %d", r.returncode)
    up = Upstream("starttls")
    d = newdir("probe")
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(config_text(free_port(), up.port))
    r = subprocess.run([BIN, "probe", "-c", path, "nosuch"],
                       capture_output=True, text=True, timeout=20)
    check(r.returncode == 1 and "no [upstream nosuch]" in r.stderr,
          "unknown upstream: %d %r", r.returncode, r.stderr)


def test_ocsp_fetched_by_probe():
    # the probe's client fetches the answer like the relay's does
    rs = OcspResponder()
    up = Upstream("starttls", cert="ocsp-good")
    rc, out = probe(up, {"ocsp": "hard", "ocsp_url": rs.url})
    check(rc == 0, "exit %d:\n%s", rc, out)
    want(out, r"^check ocsp +good \(responder, ocsp = hard\)",
         r"^verify +.* revocation ocsp:good", r"^verdict +GO AHEAD")
    check(len(rs.requests()) == 1, "requests %r", rs.requests())
    up2 = Upstream("starttls", cert="ocsp-revoked")
    rc, out = probe(up2, {"ocsp": "soft", "ocsp_url": rs.url})
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^verdict +REFUSED \(cert-revoked\)")
    rs.stop()


def test_ocsp_responder_down_probe():
    # soft lets the gap through (GO AHEAD, status unknown); hard refuses
    rs = OcspResponder()
    rs.stop_responder()
    up = Upstream("starttls", cert="ocsp-good")
    rc, out = probe(up, {"ocsp": "soft", "ocsp_url": rs.url})
    check(rc == 0, "exit %d:\n%s", rc, out)
    want(out, r"^check ocsp +unknown \(responder, ocsp = soft\)",
         r"^verdict +GO AHEAD")
    rc, out = probe(up, {"ocsp": "hard", "ocsp_url": rs.url})
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^verdict +REFUSED \(revocation-unknown\)")
    rs.stop()


def test_ocsp_off_said():
    up = Upstream("starttls")
    rc, out = probe(up)
    want(out, r"^check ocsp +not checked \(ocsp = off, ocsp_stapling = off\)")


def test_stapling_probe():
    up = StapleUpstream(cert="ocsp-good", staple="ocsp-good")
    conf = {"tls": "implicit", "ocsp_stapling": "require"}
    rc, out = probe(up, conf)
    check(rc == 0, "exit %d:\n%s", rc, out)
    want(out, r"^check ocsp +good \(stapling = require\)",
         r"^verdict +GO AHEAD")
    check(not up.messages(), "the probe sent mail")
    up2 = StapleUpstream(cert="ocsp-good", staple=None)
    rc, out = probe(up2, conf)
    check(rc == 1, "exit %d:\n%s", rc, out)
    want(out, r"^verdict +REFUSED \(revocation-unknown\).*no OCSP staple")


if __name__ == "__main__":
    gwtest.main(globals())
