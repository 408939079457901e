#!/usr/bin/python3
"""TLS trust policy towards the upstream, through the relay against real
TLS SMTP servers on loopback: narrow `accept` exceptions, public-key pins,
verify_chain = no, ca_path, TLS versions and algorithms, and client
certificates.  A refusal is a 4xx naming the failure class with nothing
delivered; an exception that lets a certificate through is delivered and
logged on the tls info line."""

import os
import shutil
import subprocess
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (Gateway, Upstream, check, check_reply,  # noqa: E402
                    newdir, pki, sample_message, transaction)

SENDER = "sender@example.test"
RCPT = "rcpt@example.test"


def expect_tempfail(up, gw, failclass):
    """The transaction fails with a 4xx naming failclass; nothing reaches
    the upstream (not even MAIL)."""
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("no"))
        bad = [r for r in replies if r.code >= 400]
        check(bad, "the transaction succeeded: %r", replies)
        check_reply(bad[0], "4", "4.7.", what="upstream failure")
        check("(%s)" % failclass in bad[0].text,
              "want failure class (%s) in the reply, got %r", failclass,
              bad[0])
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    check(not up.messages(), "a message was delivered: %r", up.messages())
    check(not up.events("MAIL"), "MAIL sent to a refused upstream")


def expect_delivered(up, gw, subject="ok"):
    """One message goes through; returns the stored Message."""
    msg = sample_message(subject)
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], msg)
        check_reply(replies[-1], 250, what="end of DATA")
        check_reply(c.cmd("QUIT"), 221, what="QUIT")
    m = up.wait_messages(1)
    check(len(m) == 1 and m[0].data == msg, "not delivered intact: %r", m)
    return m[0]


def expect_log(gw, pattern, what):
    check(gw.wait_log(pattern), "%s: no /%s/ in the log", what, pattern)


def spki_pin(certname):
    """base64 SHA-256 of the certificate's SubjectPublicKeyInfo, made with
    the openssl command line (independent of the gateway's code)."""
    cmd = ("openssl x509 -in '%s' -pubkey -noout | "
           "openssl pkey -pubin -outform DER | "
           "openssl dgst -sha256 -binary | base64" % pki()[certname])
    out = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True,
                         check=True, timeout=20).stdout.strip()
    check(len(out) == 44, "bad pin from openssl: %r", out)
    return out


def test_missing_intermediate():
    # A server that sends its leaf without the intermediate cannot be
    # chained to the trusted root: refused as untrusted.  The same server
    # passes once the gateway trusts the intermediate itself.
    p = pki()
    p["leafonly-chain"] = p["good"]
    p["leafonly.key"] = p["good.key"]
    up = Upstream("starttls", cert="leafonly")
    gw = Gateway(up)
    expect_tempfail(up, gw, "cert-untrusted")
    gw2 = Gateway(up, upstream_conf={"ca_file": p["ca-chain-bundle"]})
    expect_delivered(up, gw2)
    expect_log(gw2, r"tls upstream=\S+ .*verify=verified ", "verified")


# ------------------------------------------------------------- exceptions

def test_untrusted_refused_then_accepted_by_policy():
    up = Upstream("starttls", cert="untrusted")
    gw = Gateway(up)
    expect_tempfail(up, gw, "cert-untrusted")
    gw2 = Gateway(up, upstream_conf={"accept": "untrusted-root"})
    expect_delivered(up, gw2)
    expect_log(gw2, r"tls upstream=\S+ .*verify=accepted:untrusted-root ",
               "accepted exception")


def test_accept_untrusted_root_still_refuses_expired():
    up = Upstream("starttls", cert="expired")
    gw = Gateway(up, upstream_conf={"accept": "untrusted-root"})
    expect_tempfail(up, gw, "cert-expired")


def test_accept_untrusted_root_still_refuses_wrong_name():
    up = Upstream("starttls", cert="wrongname")
    gw = Gateway(up, upstream_conf={"accept": "untrusted-root, expired"})
    expect_tempfail(up, gw, "cert-name-mismatch")


def test_accept_untrusted_root_not_self_signed():
    up = Upstream("starttls", cert="selfsigned")
    gw = Gateway(up, upstream_conf={"accept": "untrusted-root"})
    expect_tempfail(up, gw, "cert-untrusted")


def test_accept_self_signed():
    up = Upstream("starttls", cert="selfsigned")
    gw = Gateway(up, upstream_conf={"accept": "self-signed"})
    expect_delivered(up, gw)
    expect_log(gw, r"verify=accepted:self-signed ", "self-signed")


def test_expired_accepted_by_policy():
    up = Upstream("starttls", cert="expired")
    gw = Gateway(up, upstream_conf={"accept": "expired"})
    expect_delivered(up, gw)
    expect_log(gw, r"not_after=2020-01-02T00:00:00Z verify=accepted:expired ",
               "expired")


def test_not_yet_valid_refused_then_accepted():
    up = Upstream("starttls", cert="notyet")
    gw = Gateway(up)
    expect_tempfail(up, gw, "cert-not-yet-valid")
    gw2 = Gateway(up, upstream_conf={"accept": "not-yet-valid"})
    expect_delivered(up, gw2)
    expect_log(gw2, r"verify=accepted:not-yet-valid ", "not yet valid")


def test_expired_does_not_cover_not_yet_valid():
    up = Upstream("starttls", cert="notyet")
    gw = Gateway(up, upstream_conf={"accept": "expired"})
    expect_tempfail(up, gw, "cert-not-yet-valid")


def test_accept_name_mismatch_still_refuses_expired():
    # wolfSSL reports one error per certificate: the name check's error
    # replaces the date error, so accepting the name must not hide expiry.
    up = Upstream("starttls", cert="expired")
    gw = Gateway(up, upstream_conf={"accept": "name-mismatch",
                                    "tls_name": "other.test"})
    expect_tempfail(up, gw, "cert-expired")


def test_untrusted_and_expired_need_both_exceptions():
    # The expired leaf's root is not trusted here: each exception alone
    # must not let the other problem through.
    up = Upstream("starttls", cert="expired")
    other = {"ca_file": pki()["untrusted-ca"]}
    gw = Gateway(up, upstream_conf=dict(other, accept="untrusted-root"))
    expect_tempfail(up, gw, "cert-expired")
    gw2 = Gateway(up, upstream_conf=dict(other, accept="expired"))
    expect_tempfail(up, gw2, "cert-untrusted")
    gw3 = Gateway(up, upstream_conf=dict(other,
                                         accept="expired, untrusted-root"))
    expect_delivered(up, gw3)
    expect_log(gw3, r"verify=accepted:untrusted-root,expired ", "both")


def test_name_mismatch_accepted_by_policy():
    up = Upstream("starttls", cert="wrongname")
    gw = Gateway(up, upstream_conf={"accept": "name-mismatch"})
    expect_delivered(up, gw)
    expect_log(gw, r"verify=accepted:name-mismatch ", "name mismatch")


def test_info_line_fields():
    up = Upstream("starttls")
    gw = Gateway(up)
    expect_delivered(up, gw)
    expect_log(gw, r"tls upstream=127\.0\.0\.1:\d+ version=TLSv1\.[23] "
               r"cipher=\S+ group=\S+ resumed=no subject=.*CN=localhost "
               r"issuer=.*intermediate CA serial=[0-9A-F]+ "
               r"sha256=[0-9A-F:]{95} not_after=\d{4}-\d\d-\d\dT\S+Z "
               r"verify=verified pin=none revocation=not-checked$",
               "info line")


# ------------------------------------------------------------------- pins

def test_pin_match():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={
        "pin_sha256": "%s, %s" % (spki_pin("untrusted"), spki_pin("good"))})
    expect_delivered(up, gw)
    expect_log(gw, r"verify=verified pin=ok ", "pin ok")


def test_pin_mismatch():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"pin_sha256": spki_pin("untrusted")})
    expect_tempfail(up, gw, "pin-mismatch")
    expect_log(gw, r"its pin is %s" % spki_pin("good").replace("+", r"\+"),
               "the server's pin in the log")


def test_pin_with_verify_chain_no_untrusted_server():
    up = Upstream("starttls", cert="untrusted")
    gw = Gateway(up, upstream_conf={"verify_chain": "no",
                                    "pin_sha256": spki_pin("untrusted")})
    expect_delivered(up, gw)
    expect_log(gw, r"verify=chain-not-verified pin=ok ", "pinned")
    check("verify_chain=no without" not in gw.log(),
          "a warning although pins are set")


def test_pin_mismatch_with_verify_chain_no():
    up = Upstream("starttls", cert="untrusted")
    gw = Gateway(up, upstream_conf={"verify_chain": "no",
                                    "pin_sha256": spki_pin("good")})
    expect_tempfail(up, gw, "pin-mismatch")


def test_verify_chain_no_without_pins_warns():
    up = Upstream("starttls", cert="untrusted")
    gw = Gateway(up, upstream_conf={"verify_chain": "no"})
    expect_log(gw, r"warning: tls upstream=\S+ verify_chain=no without "
               r"pin_sha256", "warning at start")
    expect_delivered(up, gw)
    expect_log(gw, r"warning: [0-9a-f]{16} tls upstream=\S+ verify_chain=no",
               "warning per connection")


def test_verify_chain_no_still_checks_name():
    up = Upstream("starttls", cert="wrongname")
    gw = Gateway(up, upstream_conf={"verify_chain": "no"})
    expect_tempfail(up, gw, "cert-name-mismatch")


# --------------------------------------------------------------- ca_path

def test_ca_path_only():
    d = newdir("capath")
    shutil.copy(pki()["root-ca"], os.path.join(d, "root.pem"))
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"ca_file": "none", "ca_path": d})
    expect_delivered(up, gw)


def test_ca_path_adds_to_ca_file():
    d = newdir("capath")
    shutil.copy(pki()["untrusted-ca"], os.path.join(d, "other.pem"))
    up = Upstream("starttls", cert="untrusted")
    gw = Gateway(up, upstream_conf={"ca_path": d})
    expect_delivered(up, gw)


# ------------------------------------------------- versions and algorithms

def test_max_12_against_13_only_server():
    up = Upstream("starttls", extra=["--tls-min", "1.3"])
    gw = Gateway(up, upstream_conf={"tls_max_version": "1.2"})
    expect_tempfail(up, gw, "tls-protocol")


def test_min_13_against_12_only_server():
    up = Upstream("starttls", extra=["--tls-max", "1.2"])
    gw = Gateway(up, upstream_conf={"tls_min_version": "1.3"})
    expect_tempfail(up, gw, "tls-protocol")


def test_12_only_server_default_policy():
    up = Upstream("starttls", extra=["--tls-max", "1.2"])
    gw = Gateway(up)
    m = expect_delivered(up, gw)
    check(m.meta["tls_version"] == "TLSv1.2", "want TLS 1.2: %r", m.meta)


def test_13_only_server_min_13():
    up = Upstream("implicit", extra=["--tls-min", "1.3"])
    gw = Gateway(up, upstream_conf={"tls": "implicit",
                                    "tls_min_version": "1.3"})
    m = expect_delivered(up, gw)
    check(m.meta["tls_version"] == "TLSv1.3", "want TLS 1.3: %r", m.meta)


def test_max_12_negotiates_12():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={"tls_max_version": "1.2",
                                    "ciphers": "ECDHE-ECDSA-CHACHA20-POLY1305"})
    m = expect_delivered(up, gw)
    check(m.meta["tls_version"] == "TLSv1.2", "want TLS 1.2: %r", m.meta)
    check("CHACHA20" in (m.meta["tls_cipher"] or ""), "cipher: %r", m.meta)


def test_ciphersuites_and_curves():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf={
        "ciphersuites": "TLS13-CHACHA20-POLY1305-SHA256",
        "curves": "P-384"})
    m = expect_delivered(up, gw)
    check(m.meta["tls_cipher"] == "TLS_CHACHA20_POLY1305_SHA256",
          "cipher: %r", m.meta)
    expect_log(gw, r"group=SECP384R1 ", "curve")


def test_default_order_follows_aes_hardware():
    # Debian's wolfSSL has no AES instructions: ChaCha20-Poly1305 first,
    # which a server picking by the client's order (Postfix's default)
    # takes; the start log says which order and why.
    up = Upstream("starttls", extra=["--client-order"])
    gw = Gateway(up)
    m = expect_delivered(up, gw)
    start = gw.wait_log(r"tls: default cipher order (\S+) first")
    check(start, "no start line for the cipher order")
    want = ("TLS_CHACHA20_POLY1305_SHA256"
            if start.group(1) == "ChaCha20-Poly1305" else
            "TLS_AES_128_GCM_SHA256")
    check(m.meta["tls_cipher"] == want, "cipher %r, want %r (%s)",
          m.meta["tls_cipher"], want, start.group(0))
    if os.environ.get("SMTPGATE_WOLFSSL_AESNI") != "1":
        check(start.group(1) == "ChaCha20-Poly1305", "Debian's wolfSSL "
              "has no AES-NI, yet: %s", start.group(0))


def test_unknown_cipher_name_refused_at_start():
    # wolfSSL would drop the unknown name silently; smtpgate refuses.
    d = newdir("gw-bad")
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(gwtest.config_text(gwtest.free_port(), gwtest.free_port(),
                upstream={"ciphers": "ECDHE-RSA-AES128-GCM-SHA256:"
                                     "ECDHE-FOO-BAR-SHA256"}))
    r = subprocess.run([gwtest.BIN, "-c", path], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    check(r.returncode != 0 and "ECDHE-FOO-BAR-SHA256: not a cipher" in
          r.stdout + r.stderr, "want a refusal, got %d %r", r.returncode,
          r.stdout + r.stderr)


# ------------------------------------------------------ client certificate

def test_client_cert_required_without_one():
    up = Upstream("starttls", extra=["--client-ca", pki()["root-ca"]])
    gw = Gateway(up)
    expect_tempfail(up, gw, "client-cert-rejected")


def test_client_cert_required_without_one_tls12():
    up = Upstream("starttls", extra=["--client-ca", pki()["root-ca"],
                                     "--tls-max", "1.2"])
    gw = Gateway(up)
    with gw.client() as c:
        c.start()
        replies = transaction(c, SENDER, [RCPT], sample_message("no"))
        bad = [r for r in replies if r.code >= 400]
        check(bad and "(client-cert-rejected)" in bad[0].text,
              "want client-cert-rejected, got %r", replies)
    check(not up.messages(), "delivered without a client certificate")


def test_client_cert_required_with_one():
    up = Upstream("starttls", extra=["--client-ca", pki()["root-ca"]])
    gw = Gateway(up, upstream_conf={"client_cert": pki()["client-chain"],
                                    "client_key": pki()["client.key"]})
    expect_delivered(up, gw)


def test_client_cert_encrypted_key():
    up = Upstream("starttls", extra=["--client-ca", pki()["root-ca"],
                                     "--tls-max", "1.2"])
    gw = Gateway(up, upstream_conf={
        "client_cert": pki()["client-chain"],
        "client_key": pki()["client-enc.key"],
        "client_key_password_file": pki()["client.pass"]})
    expect_delivered(up, gw)


def test_client_cert_refused_by_server_ca():
    # The server trusts only a CA that did not issue our certificate.
    up = Upstream("starttls", extra=["--client-ca", pki()["untrusted-ca"]])
    gw = Gateway(up, upstream_conf={"client_cert": pki()["client-chain"],
                                    "client_key": pki()["client.key"]})
    expect_tempfail(up, gw, "client-cert-rejected")


if __name__ == "__main__":
    gwtest.main(globals())
