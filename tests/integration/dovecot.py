"""dovecot - a private Dovecot POP3 server for the POP-before-SMTP tests.

Dovecot(users={"joe": "pw"}, apop=False, cert="good") runs Debian's
dovecot (dovecot-core + dovecot-pop3d) as root in the foreground
(``dovecot -F -c CONF``) with everything in a temporary directory: its
base_dir, state_dir, mail, passwd-file and log.  It listens on 127.0.0.1
only, on two free ports: ``port`` (POP3 with STLS; USER/PASS refused
before TLS: disable_plaintext_auth = yes) and ``port_tls`` (pop3s).  Its
certificate is one of the test PKI's (gwtest.pki()).  The passwd-file
holds plaintext-scheme entries, so that APOP can work; apop=True adds the
APOP mechanism, which makes the greeting carry an RFC 1939 timestamp.

logins(user) lists the epoch seconds of the successful POP3 logins
Dovecot logged for user from 127.0.0.1: exactly what a classic
pop-before-smtp log watcher reads (log_timestamp is "%s ", so each line
starts with its epoch second).
"""

import os
import pwd
import re

import gwtest
from gwtest import TestFailure, TestSkip

DOVECOT = "/usr/sbin/dovecot"
LOGIN_RE = r"^(\d+) pop3-login: Info: Login: user=<%s>.*rip=127\.0\.0\.1"

CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
log_timestamp = "%s "
protocols = pop3
listen = 127.0.0.1
shutdown_clients = yes
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = {mechs}
auth_failure_delay = 0
auth_verbose = yes
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
pop3_uidl_format = %08Xu%08Xv
service pop3-login {{
  inet_listener pop3 {{
    port = {port}
  }}
  inet_listener pop3s {{
    port = {port_tls}
    ssl = yes
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
"""


class Dovecot:
    """A private Dovecot POP3 server (see the module comment)."""

    def __init__(self, users, apop=False, cert="good"):
        if not os.access(DOVECOT, os.X_OK):
            raise TestSkip("Dovecot missing (apt-get install dovecot-core "
                           "dovecot-pop3d)")
        if os.geteuid() != 0:
            raise TestSkip("a private Dovecot needs root")
        try:
            dv = pwd.getpwnam("dovecot")
        except KeyError:
            raise TestSkip("no dovecot user (dovecot-core not set up)")
        # Dovecot's auth and mail processes run as the dovecot user: they
        # must reach the passwd-file and the mail directory.
        os.chmod(gwtest.tmpdir(), 0o711)
        self.dir = gwtest.newdir("dovecot")
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
            self.port_tls = gwtest.free_port()
            with open(self.conf, "w", encoding="utf-8") as f:
                f.write(CONF.format(
                    d=self.dir, cert=p[cert + "-chain"],
                    key=p[cert + ".key"], uid=dv.pw_uid, gid=dv.pw_gid,
                    mechs="plain apop" if apop else "plain",
                    port=self.port, port_tls=self.port_tls))
            with open(os.path.join(self.dir, "stderr.log"), "ab") as err:
                self.proc = gwtest._spawn([DOVECOT, "-F", "-c", self.conf],
                                          stdin=gwtest.subprocess.DEVNULL,
                                          stdout=err, stderr=err)
            if self._wait_ready():
                return
            gwtest._reap(self.proc, timeout=5)
        raise TestFailure("dovecot did not start: %s %s" % (
            gwtest._tail(os.path.join(self.dir, "stderr.log"), 20),
            gwtest._tail(self.log, 20)))

    def _wait_ready(self):
        return gwtest.wait_serving(self.proc, self.port, self.port_tls)

    def text(self):
        return gwtest.read_text(self.log)

    def logins(self, user):
        """Epoch seconds of the successful logins of user from 127.0.0.1."""
        rx = re.compile(LOGIN_RE % re.escape(user), re.M)
        return [int(m.group(1)) for m in rx.finditer(self.text())]

    def stop(self):
        if self.proc.poll() is None:
            gwtest._reap(self.proc, timeout=10)
