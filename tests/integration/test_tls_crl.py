#!/usr/bin/python3
"""Revocation by CRL, through the relay against real TLS SMTP servers on
loopback: a revoked leaf and a revoked intermediate under each crl_check
mode, a missing CRL under crl_missing = ignore and fail, CRLs from a file
(PEM and DER) and from a directory, and a CRL that cannot be loaded; a CRL
issued by an intermediate that only the server presents (root-only
ca_file), and a forged one; and -t loading the files as start does."""

import os
import shutil
import signal
import subprocess
import sys

sys.dont_write_bytecode = True	# keep the source tree clean
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gwtest  # noqa: E402
from gwtest import (BIN, Gateway, Upstream, check, config_text,  # noqa: E402
                    free_port, newdir, pki)
from test_tls_trust import (expect_delivered, expect_log,  # noqa: E402
                            expect_tempfail)


def crl_conf(**kw):
    """Upstream keys: the trust store in which both intermediates' CRLs
    can be loaded, plus kw (crl_file, crl_path, crl_check, crl_missing)."""
    conf = {"ca_file": pki()["ca-chain-bundle"]}
    conf.update(kw)
    return conf


def crl_dir(*names):
    """A directory holding copies of the named CRL files."""
    d = newdir("crl")
    for n in names:
        shutil.copy(pki()[n] if n in pki() else pki()[n + ".pem"],
                    os.path.join(d, os.path.basename(n) + ".pem"))
    return d


def both_crls():
    return crl_dir("int-ca.crl", "root-ca.crl")


# ------------------------------------------------------------ revoked leaf

def test_revoked_leaf_leaf_mode():
    up = Upstream("starttls", cert="revoked")
    gw = Gateway(up, upstream_conf=crl_conf(
        crl_file=pki()["int-ca.crl"], crl_check="leaf"))
    expect_tempfail(up, gw, "cert-revoked")


def test_revoked_leaf_chain_mode():
    up = Upstream("starttls", cert="revoked")
    gw = Gateway(up, upstream_conf=crl_conf(crl_path=both_crls()))
    expect_tempfail(up, gw, "cert-revoked")


def test_revoked_leaf_chain_except_root():
    up = Upstream("starttls", cert="revoked")
    gw = Gateway(up, upstream_conf=crl_conf(
        crl_file=pki()["int-ca.crl"], crl_check="chain-except-root",
        crl_missing="fail"))
    expect_tempfail(up, gw, "cert-revoked")


def test_revoked_leaf_der_crl():
    up = Upstream("starttls", cert="revoked")
    gw = Gateway(up, upstream_conf=crl_conf(
        crl_file=pki()["int-ca.crl.der"], crl_check="leaf"))
    expect_tempfail(up, gw, "cert-revoked")


def test_revoked_leaf_not_accepted_by_any_exception():
    up = Upstream("starttls", cert="revoked")
    gw = Gateway(up, upstream_conf=crl_conf(
        crl_file=pki()["int-ca.crl"], crl_check="leaf",
        accept="untrusted-root, expired, self-signed, name-mismatch"))
    expect_tempfail(up, gw, "cert-revoked")


def test_good_leaf_chain_mode():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf=crl_conf(crl_path=both_crls(),
                                            crl_missing="fail"))
    expect_delivered(up, gw)
    expect_log(gw, r"verify=verified pin=none revocation=crl:good$",
               "crl good")


# ---------------------------------------------------- revoked intermediate

def test_revoked_intermediate_chain_mode():
    up = Upstream("starttls", cert="revint")
    gw = Gateway(up, upstream_conf=crl_conf(crl_path=both_crls()))
    expect_tempfail(up, gw, "cert-revoked")


def test_revoked_intermediate_chain_except_root():
    # The root's CRL is loaded, so it still applies: revoked.
    up = Upstream("starttls", cert="revint")
    gw = Gateway(up, upstream_conf=crl_conf(
        crl_path=both_crls(), crl_check="chain-except-root"))
    expect_tempfail(up, gw, "cert-revoked")


def test_revoked_intermediate_leaf_mode_not_seen():
    # Leaf mode never looks at the intermediate; its issuer (revint-ca)
    # has no CRL: ignored by default, refused with crl_missing = fail.
    up = Upstream("starttls", cert="revint")
    gw = Gateway(up, upstream_conf=crl_conf(crl_path=both_crls(),
                                            crl_check="leaf"))
    expect_delivered(up, gw)
    expect_log(gw, r"revocation=crl:missing$", "crl missing")
    gw2 = Gateway(up, upstream_conf=crl_conf(
        crl_path=both_crls(), crl_check="leaf", crl_missing="fail"))
    with gw2.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<s@example.test>")
        check(r.code == 451 and "(revocation-unknown)" in r.text,
              "want revocation-unknown, got %r", r)
    check(len(up.messages()) == 1, "a second message was delivered")


# ----------------------------------------------------------- missing CRLs

def test_root_crl_missing_chain_mode():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf=crl_conf(crl_file=pki()["int-ca.crl"]))
    expect_delivered(up, gw)
    expect_log(gw, r"revocation=crl:missing$", "crl missing")


def test_root_crl_missing_chain_mode_fail():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf=crl_conf(crl_file=pki()["int-ca.crl"],
                                            crl_missing="fail"))
    expect_tempfail(up, gw, "revocation-unknown")


def test_root_crl_missing_chain_except_root_fail():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf=crl_conf(
        crl_file=pki()["int-ca.crl"], crl_check="chain-except-root",
        crl_missing="fail"))
    expect_delivered(up, gw)
    expect_log(gw, r"revocation=crl:good$", "crl good")


def test_leaf_mode_good():
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf=crl_conf(
        crl_file=pki()["int-ca.crl"], crl_check="leaf", crl_missing="fail"))
    expect_delivered(up, gw)
    expect_log(gw, r"revocation=crl:good$", "crl good")


def test_crl_applied_on_reload():
    # The CRL is read when the TLS context is built: at start and on HUP.
    up = Upstream("starttls", cert="revoked")
    gw = Gateway(up, upstream_conf=crl_conf())
    expect_delivered(up, gw, "before the CRL")
    gw.write_config(config_text(gw.port, up.port, upstream=crl_conf(
        crl_file=pki()["int-ca.crl"], crl_check="leaf")))
    gw.signal(signal.SIGHUP)
    expect_log(gw, r"reload: new configuration in use", "reload")
    with gw.client() as c:
        c.start()
        r = c.cmd("MAIL FROM:<s@example.test>")
        check(r.code == 451 and "(cert-revoked)" in r.text,
              "want cert-revoked after reload, got %r", r)
    check(len(up.messages()) == 1, "delivered after the CRL was loaded")


# ------------------------------------------------------ loading problems

def start_fails(upstream_conf, want):
    """smtpgate refuses to start with this upstream, saying want."""
    d = newdir("gw-bad")
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(config_text(free_port(), free_port(),
                            upstream=upstream_conf))
    r = subprocess.run([BIN, "-c", path], capture_output=True, text=True,
                       timeout=20, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    check(r.returncode != 0, "smtpgate started: %r", out)
    check(want in out, "want %r in the output, got %r", want, out)


def check_t(upstream_conf, ok, want=None):
    """smtpgate -t on a configuration with this upstream: passes (ok) or
    fails saying want; and start agrees (the -t promise)."""
    d = newdir("gw-t")
    path = os.path.join(d, "smtpgate.ini")
    with open(path, "w", encoding="utf-8") as f:
        f.write(config_text(free_port(), free_port(),
                            upstream=upstream_conf))
    r = subprocess.run([BIN, "-t", "-c", path], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    check((r.returncode == 0) == ok, "-t exit %d: %r", r.returncode, out)
    if want:
        check(want in out, "-t: want %r in the output, got %r", want, out)
    if not ok:
        start_fails(upstream_conf, want or "")


# ----------------------------------- a CRL of an intermediate not in ca_file

def root_only(**kw):
    """Only the root is trusted; the server presents the intermediate."""
    conf = {"ca_file": pki()["ca-bundle"]}
    conf.update(kw)
    return conf


def test_intermediate_crl_root_only_leaf_mode():
    # The usual corporate layout (stunnel and OpenSSL accept it): the
    # intermediate's CRL is checked against the intermediate the server
    # presents, once the chain has validated it.
    for crl in ("int-ca.crl", "int-ca.crl.der"):
        up = Upstream("starttls", cert="revoked")
        gw = Gateway(up, upstream_conf=root_only(
            crl_file=pki()[crl], crl_check="leaf", crl_missing="fail"))
        expect_tempfail(up, gw, "cert-revoked")
        expect_log(gw, r"its issuer is not in ca_file or ca_path; it will "
                   r"be checked against the intermediate", "deferred")
        gw.stop()
        up.stop()
        up = Upstream("starttls")
        gw = Gateway(up, upstream_conf=root_only(
            crl_file=pki()[crl], crl_check="leaf", crl_missing="fail"))
        expect_delivered(up, gw, crl)
        expect_log(gw, r"revocation=crl:good$", "crl good")
        gw.stop()
        up.stop()


def test_intermediate_crl_root_only_chain_mode():
    # the root's CRL loads as usual, the intermediate's is deferred
    up = Upstream("starttls", cert="revoked")
    gw = Gateway(up, upstream_conf=root_only(crl_path=both_crls(),
                                             crl_missing="fail"))
    expect_tempfail(up, gw, "cert-revoked")
    up2 = Upstream("starttls")
    gw2 = Gateway(up2, upstream_conf=root_only(crl_path=both_crls(),
                                               crl_missing="fail"))
    expect_delivered(up2, gw2)
    expect_log(gw2, r"verify=verified pin=none revocation=crl:good$",
               "crl good")
    up3 = Upstream("starttls", cert="revint")
    gw3 = Gateway(up3, upstream_conf=root_only(crl_path=both_crls()))
    expect_tempfail(up3, gw3, "cert-revoked")


def test_intermediate_crl_root_only_chain_mode_root_crl_missing():
    # No CRL from the root: the intermediate's missing CRL is let through
    # (crl_missing = ignore), and it must still count as the leaf's
    # issuer; wolfSSL alone leaves it out of the store and the leaf fails
    # "unable to get local issuer certificate".
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf=root_only(crl_file=pki()["int-ca.crl"]))
    expect_delivered(up, gw)
    expect_log(gw, r"verify=verified pin=none revocation=crl:missing$",
               "crl missing (the root's)")
    up2 = Upstream("starttls", cert="revoked")
    gw2 = Gateway(up2, upstream_conf=root_only(
        crl_file=pki()["int-ca.crl"]))
    expect_tempfail(up2, gw2, "cert-revoked")


def test_forged_intermediate_crl_does_not_count():
    # A CRL naming the intermediate as issuer but signed by another key:
    # its signature does not verify with the presented intermediate's
    # key, so the leaf has no CRL (refused under crl_missing = fail).
    up = Upstream("starttls")
    gw = Gateway(up, upstream_conf=root_only(
        crl_file=pki()["fake-int-ca.crl"], crl_check="leaf",
        crl_missing="fail"))
    expect_tempfail(up, gw, "revocation-unknown")
    up2 = Upstream("starttls", cert="revoked")
    gw2 = Gateway(up2, upstream_conf=root_only(
        crl_file=pki()["fake-int-ca.crl"], crl_check="leaf"))
    expect_delivered(up2, gw2)
    expect_log(gw2, r"revocation=crl:missing$", "crl missing")


# ------------------------------------------------ -t loads what start loads

def test_t_intermediate_crl_root_only_passes():
    check_t(root_only(crl_file=pki()["int-ca.crl"]), True,
            "configuration OK")


def test_t_empty_ca_file():
    d = newdir("ca-empty")
    empty = os.path.join(d, "empty.pem")
    open(empty, "w").close()
    check_t({"ca_file": empty}, False, "holds no certificate")
    junk = os.path.join(d, "junk.pem")
    with open(junk, "w") as f:
        f.write("# no certificate here\n")
    check_t({"ca_file": junk}, False, "holds no certificate")


def test_t_junk_crl_file():
    d = newdir("crl-junk")
    junk = os.path.join(d, "junk.crl")
    with open(junk, "w") as f:
        f.write("not a CRL\n")
    check_t(crl_conf(crl_file=junk), False, "junk.crl")


def test_crl_path_with_junk():
    d = crl_dir("int-ca.crl")
    with open(os.path.join(d, "junk.pem"), "w") as f:
        f.write("not a CRL\n")
    start_fails(crl_conf(crl_path=d), "junk.pem")


def test_ca_path_with_junk():
    d = newdir("capath")
    with open(os.path.join(d, "junk.pem"), "w") as f:
        f.write("not a certificate\n")
    start_fails({"ca_path": d}, "junk.pem")


if __name__ == "__main__":
    gwtest.main(globals())
