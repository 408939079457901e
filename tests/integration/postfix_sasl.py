"""postfix_sasl - a private Postfix smtpd with Cyrus SASL, for the SASL
mechanisms Dovecot does not offer here (NTLM: Debian 12's Dovecot is
built without it; Cyrus SASL's ntlm plugin checks NTLMv2 responses).

PostfixSasl(users={"user": "pw"}, mechanisms=["NTLM"], relay_port=N,
realm="EXAMPLE") runs Postfix's master as root in the foreground
(``master -d -c DIR``, its own session) with everything in a temporary
directory: main.cf, master.cf, the queue, the Cyrus configuration
(smtpd.conf: auxprop sasldb) and the sasldb2 file made by saslpasswd2.
Its one smtpd listens on 127.0.0.1 ``port`` with STARTTLS (the test
PKI's "good" certificate), requires AUTH to relay, and hands every
accepted transaction to 127.0.0.1:relay_port (smtpd_proxy_filter, so
nothing is queued): point that at an Upstream("plain").

logins() lists the "sasl_method=..., sasl_username=..." pairs of the
logged successful logins; failures() the "SASL ... authentication
failed" lines.
"""

import os
import pwd
import re
import socket
import subprocess
import time

import gwtest
from gwtest import TestFailure, TestSkip

MASTER = "/usr/lib/postfix/sbin/master"
SASLPASSWD = "/usr/sbin/saslpasswd2"
NTLM_PLUGIN = "/usr/lib/x86_64-linux-gnu/sasl2/libntlm.so"

MAIN = """\
compatibility_level = 3.6
queue_directory = {d}/q
data_directory = {d}/data
mail_owner = postfix
myhostname = localhost
mydestination =
mynetworks = 127.0.0.1/32
mynetworks_style = host
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
alias_maps =
alias_database =
local_recipient_maps =
smtpd_peername_lookup = no
smtpd_tls_security_level = may
smtpd_tls_chain_files = {key}, {chain}
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {d}/sasl
smtpd_sasl_security_options = noanonymous
smtpd_sasl_local_domain = {realm}
smtpd_relay_restrictions = permit_sasl_authenticated, reject
smtpd_recipient_restrictions =
smtpd_reject_unlisted_recipient = no
smtpd_proxy_filter = 127.0.0.1:{relay}
smtpd_error_sleep_time = 0
smtpd_client_connection_rate_limit = 0
"""

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
anvil     unix  -       -       n       -       1       anvil
proxymap  unix  -       -       n       -       -       proxymap
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class PostfixSasl:
    """A private Postfix smtpd with Cyrus SASL (see the module comment)."""

    def __init__(self, users, mechanisms, relay_port, realm="EXAMPLE"):
        for path, pkg in ((MASTER, "postfix"), (SASLPASSWD, "sasl2-bin"),
                          (NTLM_PLUGIN, "libsasl2-modules")):
            if not os.access(path, os.R_OK):
                raise TestSkip("%s missing (apt-get install %s)" %
                               (path, pkg))
        if os.geteuid() != 0:
            raise TestSkip("a private Postfix needs root")
        try:
            pf = pwd.getpwnam("postfix")
        except KeyError:
            raise TestSkip("no postfix user (postfix not set up)")
        os.chmod(gwtest.tmpdir(), 0o711)
        self.dir = d = gwtest.newdir("postfix-sasl")
        os.chmod(d, 0o755)
        for sub in ("q/pid", "q/private", "q/public", "data", "sasl"):
            os.makedirs(os.path.join(d, sub))
        for sub in ("q", "q/pid", "q/private", "q/public", "data"):
            os.chown(os.path.join(d, sub), pf.pw_uid, -1)
        os.chmod(os.path.join(d, "q/private"), 0o700)
        os.chmod(os.path.join(d, "q/public"), 0o710)
        db = os.path.join(d, "sasl", "sasldb2")
        for user, pw in users.items():
            r = subprocess.run([SASLPASSWD, "-f", db, "-c", "-p", "-u",
                                realm, user], input=pw.encode(),
                               capture_output=True, timeout=20)
            if r.returncode != 0:
                raise TestFailure("saslpasswd2: %s" % r.stderr.decode())
        os.chown(db, pf.pw_uid, -1)
        os.chmod(db, 0o600)
        with open(os.path.join(d, "sasl", "smtpd.conf"), "w") as f:
            f.write("pwcheck_method: auxprop\nauxprop_plugin: sasldb\n"
                    "sasldb_path: %s\nmech_list: %s\n" %
                    (db, " ".join(mechanisms)))
        p = gwtest.pki()
        # smtpd (user postfix) reads the key
        self.keycopy = os.path.join(d, "key.pem")
        with open(p["good.key"], "rb") as src, \
                open(self.keycopy, "wb") as dst:
            dst.write(src.read())
        os.chown(self.keycopy, pf.pw_uid, -1)
        os.chmod(self.keycopy, 0o600)
        self.log = os.path.join(d, "maillog")
        for _ in range(3):
            self.port = gwtest.free_port()
            with open(os.path.join(d, "main.cf"), "w") as f:
                f.write(MAIN.format(d=d, key=self.keycopy,
                                    chain=p["good-chain"], realm=realm,
                                    relay=relay_port))
            with open(os.path.join(d, "master.cf"), "w") as f:
                f.write(MASTER_CF.format(port=self.port))
            with open(os.path.join(d, "master.out"), "ab") as out:
                self.proc = gwtest._spawn([MASTER, "-d", "-c", d],
                                          stdin=subprocess.DEVNULL,
                                          stdout=out, stderr=out)
            if self._wait_ready():
                return
            gwtest._reap(self.proc, timeout=5)
        raise TestFailure("postfix did not start: %s %s" % (
            gwtest._tail(os.path.join(d, "master.out"), 20),
            gwtest._tail(self.log, 20)))

    def _wait_ready(self):
        """The port listens, and what answers there is this Postfix (its
        220 banner): a port that another test took between free_port and
        the master's bind listens too (seen once under ctest -j2: the
        gateway then found nothing at the port)."""
        if not gwtest.wait_serving(self.proc, self.port):
            return False
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", self.port),
                                              timeout=5) as s:
                    line = s.makefile("rb").readline(512)
                if line.startswith(b"220 ") and b"Postfix" in line:
                    return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def text(self):
        return gwtest.read_text(self.log)

    def logins(self):
        return re.findall(r"sasl_method=([A-Z0-9-]+), sasl_username=(\S+)",
                          self.text())

    def failures(self):
        return re.findall(r"SASL \S+ authentication failed.*", self.text())

    def stop(self):
        if self.proc.poll() is None:
            gwtest._reap(self.proc, timeout=10)
