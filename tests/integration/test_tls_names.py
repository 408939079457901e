#!/usr/bin/python3
"""What smtpgate checks itself on the upstream's certificates, through the
relay against real TLS SMTP servers on loopback: host names as RFC 6125
says (wildcards only as the whole left-most label and never right under a
top-level domain or a known two-label suffix, IP names only against
iPAddress entries, the CN only without any dNSName), RSA keys under 2048
bits and SHA-1 signatures refused unless their own accept word is given,
and pin_sha256 as RFC 7469 defines it for RSA, P-256 and Ed25519 keys,
made with openssl."""

import os
import re
import subprocess
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (BIN, Gateway, Upstream, check, config_text,  # noqa: E402
                    free_port, newdir, pki)
from test_tls_trust import (expect_delivered, expect_log,  # noqa: E402
                            expect_tempfail, spki_pin)


def name_case(cert, tls_name, ok, how=None):
    """A server with cert, reached as tls_name: delivered (ok) or refused
    as cert-name-mismatch."""
    up = Upstream("starttls", cert=cert)
    gw = Gateway(up, upstream_conf={"tls_name": tls_name},
                 gateway={"log_level": "debug"})
    if ok:
        expect_delivered(up, gw, "%s as %s" % (cert, tls_name))
        if how:
            expect_log(gw, r"name %s matched by %s" % (re.escape(tls_name),
                                                       how), how)
    else:
        expect_tempfail(up, gw, "cert-name-mismatch")
        expect_log(gw, r"certificate name does not match \(-322\) depth=0",
                   "the reason")
    gw.stop()
    up.stop()


# ------------------------------------------------------------- host names

def test_exact_and_ip_names():
    name_case("good", "mail.test", True, "a dNSName")
    name_case("good", "MAIL.Test", True, "a dNSName")
    name_case("good", "127.0.0.1", True, "an iPAddress")
    name_case("good", "other.test", False)


def test_wildcard_one_label():
    name_case("wild-ok", "a.mx.test", True, "a wildcard")
    name_case("wild-ok", "b.a.mx.test", False)
    name_case("wild-ok", "mx.test", False)


def test_wildcard_under_tld_refused():
    # wolfSSL accepted *.com for example.com
    name_case("wild-com", "example.com", False)


def test_wildcard_under_two_label_suffix_refused():
    name_case("wild-couk", "example.co.uk", False)


def test_bare_wildcard_refused():
    name_case("wild-bare", "mail.test", False)
    name_case("wild-bare", "localhost", False)


def test_wildcard_not_leftmost_refused():
    name_case("wild-mid", "a.b.mx.test", False)


def test_partial_wildcard_refused():
    name_case("wild-part", "foo.mx.test", False)


def test_dns_name_is_not_an_address():
    # a dNSName "127.0.0.1" does not name the address 127.0.0.1
    name_case("ipdns", "127.0.0.1", False)


def test_cn_of_an_address_refused():
    name_case("cn-ip", "127.0.0.1", False)


def test_cn_used_without_dns_names():
    name_case("cn-only", "mail.test", True, "the commonName")
    name_case("cn-only", "other.test", False)


def test_cn_not_used_beside_dns_names():
    # good has dNSNames, and CN=localhost is among them; wrongname's CN
    # is wrong.test and so is its only dNSName: the CN never adds a name
    name_case("wrongname", "wrong.test", True, "a dNSName")
    name_case("wrongname", "localhost", False)


def test_name_mismatch_accepted_by_word():
    up = Upstream("starttls", cert="wild-com")
    gw = Gateway(up, upstream_conf={"tls_name": "example.com",
                                    "accept": "name-mismatch"})
    expect_delivered(up, gw)
    expect_log(gw, r"verify=accepted:name-mismatch ", "accepted")


def test_verify_hostname_no():
    up = Upstream("starttls", cert="wild-bare")
    gw = Gateway(up, upstream_conf={"tls_name": "mail.test",
                                    "verify_hostname": "no"})
    expect_delivered(up, gw)
    expect_log(gw, r"verify=verified-chain-only ", "chain only")


# ------------------------------------------------- weak keys, SHA-1 chains

def test_rsa_1024_refused_then_accepted_by_word():
    up = Upstream("starttls", cert="rsa1024", extra=["--weak-cert"])
    gw = Gateway(up)
    expect_tempfail(up, gw, "cert-untrusted")
    expect_log(gw, r"RSA key shorter than 2048 bits \(-10501\) depth=0",
               "the reason")
    # other words do not cover it, not even verify_chain = no with a pin
    gw2 = Gateway(up, upstream_conf={
        "accept": "untrusted-root, sha1-signature", "verify_chain": "no",
        "pin_sha256": spki_pin("rsa1024")})
    expect_tempfail(up, gw2, "cert-untrusted")
    gw3 = Gateway(up, upstream_conf={"accept": "weak-rsa-key"})
    expect_delivered(up, gw3)
    expect_log(gw3, r"verify=accepted:weak-rsa-key ", "accepted")


def test_sha1_signature_refused_then_accepted_by_word():
    up = Upstream("starttls", cert="sha1", extra=["--weak-cert"])
    gw = Gateway(up)
    expect_tempfail(up, gw, "cert-untrusted")
    expect_log(gw, r"certificate signed with SHA-1 \(-10502\) depth=0",
               "the reason")
    gw2 = Gateway(up, upstream_conf={"accept": "weak-rsa-key"})
    expect_tempfail(up, gw2, "cert-untrusted")
    gw3 = Gateway(up, upstream_conf={"accept": "sha1-signature"})
    expect_delivered(up, gw3)
    expect_log(gw3, r"verify=accepted:sha1-signature ", "accepted")


def test_rsa_2048_and_ed25519_pass():
    for cert in ("rsa", "ed25519"):
        up = Upstream("starttls", cert=cert)
        gw = Gateway(up)
        expect_delivered(up, gw, cert)
        expect_log(gw, r"verify=verified pin=none ", cert)
        gw.stop()
        up.stop()


# ------------------------------------------------------------------- pins

def test_pins_of_every_key_type():
    """RFC 7469 pins made by openssl match for RSA (hashed as PKCS#1 by
    earlier versions), P-256 and Ed25519 keys; another key's pin is
    refused."""
    for cert in ("rsa", "good", "ed25519"):
        up = Upstream("starttls", cert=cert)
        gw = Gateway(up, upstream_conf={"pin_sha256": spki_pin(cert)})
        expect_delivered(up, gw, cert)
        expect_log(gw, r"verify=verified pin=ok ", cert)
        gw.stop()
        up.stop()
        other = "good" if cert != "good" else "rsa"
        up2 = Upstream("starttls", cert=cert)
        gw2 = Gateway(up2, upstream_conf={"pin_sha256": spki_pin(other)})
        expect_tempfail(up2, gw2, "pin-mismatch")
        expect_log(gw2, r"its pin is %s" % re.escape(spki_pin(cert)),
                   "the server's pin in the log")
        gw2.stop()
        up2.stop()


def test_probe_prints_the_openssl_pin():
    for cert in ("rsa", "good", "ed25519"):
        up = Upstream("starttls", cert=cert)
        d = newdir("probe")
        path = os.path.join(d, "smtpgate.ini")
        with open(path, "w", encoding="utf-8") as f:
            f.write(config_text(free_port(), up.port))
        r = subprocess.run([BIN, "probe", "-c", path, "up"],
                           capture_output=True, text=True, timeout=40,
                           stdin=subprocess.DEVNULL)
        check(r.returncode == 0, "%s: exit %d:\n%s", cert, r.returncode,
              r.stdout + r.stderr)
        check(re.search(r"^check pins +none configured; the server's key: "
                        r"pin_sha256 = " + re.escape(spki_pin(cert)) + "$",
                        r.stdout, re.M),
              "%s: the probe's pin is not openssl's %s:\n%s", cert,
              spki_pin(cert), r.stdout)
        up.stop()


if __name__ == "__main__":
    gwtest.main(globals())
