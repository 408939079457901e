"""dovecot_sub - a private Dovecot submission server (dovecot-submissiond)
for the tests of the upstream SASL mechanisms Dovecot implements itself
(SCRAM-SHA-256, SCRAM-SHA-1, DIGEST-MD5, NTLM, PLAIN, LOGIN, CRAM-MD5).

DovecotSubmission(users={"joe": "pw"}, mechanisms=["scram-sha-256"],
relay_port=N) runs Debian's dovecot as root in the foreground
(``dovecot -F -c CONF``) with everything in a temporary directory.  It
listens on 127.0.0.1 ``port`` (SMTP submission with STARTTLS, the test
PKI's "good" certificate, so the gateway's default upstream section
verifies it as localhost) and relays every accepted message to
127.0.0.1:relay_port without logging in there (submission_relay_trusted):
point that at an Upstream("plain") and read its messages.

The passwd-file holds {PLAIN} entries: Dovecot derives what each
mechanism needs (the SCRAM keys, the NTLM hash, the DIGEST-MD5 hash)
from them.  auth_realms gives the DIGEST-MD5 realm(s) offered.
extra: more dovecot.conf lines (e.g. auth_gssapi_hostname for GSSAPI).

logins(user) lists the mechanisms of the successful logins Dovecot's
auth process logged for user (auth_verbose, auth_debug off).
"""

import os
import pwd
import re

import gwtest
from gwtest import TestFailure, TestSkip

DOVECOT = "/usr/sbin/dovecot"
SUBMISSION = "/usr/lib/dovecot/submission"

CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
protocols = submission
listen = 127.0.0.1
shutdown_clients = yes
hostname = localhost
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = {mechs}
auth_realms = {realms}
auth_failure_delay = 0
auth_verbose = yes
auth_verbose_passwords = no
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u
}}
mail_location = maildir:{d}/home/%u/Maildir
first_valid_uid = {uid}
submission_relay_host = 127.0.0.1
submission_relay_port = {relay}
submission_relay_trusted = yes
submission_relay_ssl = no
service submission-login {{
  inet_listener submission {{
    port = {port}
  }}
}}
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
{extra}
"""


class DovecotSubmission:
    """A private Dovecot submission server (see the module comment)."""

    def __init__(self, users, mechanisms, relay_port, realms=(),
                 extra=""):
        if not os.access(DOVECOT, os.X_OK):
            raise TestSkip("Dovecot missing (apt-get install dovecot-core)")
        if not os.access(SUBMISSION, os.X_OK):
            raise TestSkip("Dovecot's submission service missing (apt-get "
                           "install dovecot-submissiond)")
        if os.geteuid() != 0:
            raise TestSkip("a private Dovecot needs root")
        try:
            dv = pwd.getpwnam("dovecot")
        except KeyError:
            raise TestSkip("no dovecot user (dovecot-core not set up)")
        # the auth and submission processes run as the dovecot user
        os.chmod(gwtest.tmpdir(), 0o711)
        self.dir = gwtest.newdir("dovecot-sub")
        os.chmod(self.dir, 0o755)
        home = os.path.join(self.dir, "home")
        os.mkdir(home)
        os.chown(home, dv.pw_uid, dv.pw_gid)
        passwd = os.path.join(self.dir, "passwd")
        with open(passwd, "w", encoding="utf-8") as f:
            for user, pw in users.items():
                f.write("%s:{PLAIN}%s\n" % (user, pw))
        os.chmod(passwd, 0o640)
        os.chown(passwd, 0, dv.pw_gid)
        self.log = os.path.join(self.dir, "dovecot.log")
        p = gwtest.pki()
        self.conf = os.path.join(self.dir, "dovecot.conf")
        for _ in range(3):
            self.port = gwtest.free_port()
            with open(self.conf, "w", encoding="utf-8") as f:
                f.write(CONF.format(
                    d=self.dir, cert=p["good-chain"], key=p["good.key"],
                    uid=dv.pw_uid, gid=dv.pw_gid,
                    mechs=" ".join(m.lower() for m in mechanisms),
                    realms=" ".join(realms), relay=relay_port,
                    port=self.port, extra=extra))
            with open(os.path.join(self.dir, "stderr.log"), "ab") as err:
                self.proc = gwtest._spawn([DOVECOT, "-F", "-c", self.conf],
                                          stdin=gwtest.subprocess.DEVNULL,
                                          stdout=err, stderr=err)
            if self._wait_ready():
                return
            gwtest._reap(self.proc, timeout=5)
        raise TestFailure("dovecot (submission) did not start: %s %s" % (
            gwtest._tail(os.path.join(self.dir, "stderr.log"), 20),
            gwtest._tail(self.log, 20)))

    def _wait_ready(self):
        return gwtest.wait_serving(self.proc, self.port)

    def text(self):
        return gwtest.read_text(self.log)

    def logins(self, user):
        """Mechanisms of the successful submission logins of user."""
        rx = re.compile(r"submission-login: Info: Login: user=<%s>, "
                        r"method=([A-Z0-9-]+)" % re.escape(user))
        return rx.findall(self.text())

    def stop(self):
        if self.proc.poll() is None:
            gwtest._reap(self.proc, timeout=10)
