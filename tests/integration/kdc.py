"""kdc - a private MIT Kerberos realm and a Dovecot submission server
that takes SASL GSSAPI, for the GSSAPI tests.

Kdc() makes realm GW.TEST in a temporary directory: krb5.conf and
kdc.conf there (KRB5_CONFIG and KRB5_KDC_PROFILE name them, for this
process and every child it starts after, smtpgate included), the
database (kdb5_util create -s), the service principal smtp/localhost
and the client principal smtpgate (kadmin.local addprinc -randkey), the
server keytab and two client keytabs: ``keytab`` (the current key) and
``stale_keytab`` (a key the KDC no longer has: ktadd randomizes the key,
so the first ktadd's key is stale after the second).  krb5kdc -n serves
it on a free loopback port (UDP and TCP).

Submission(kdc, relay_port) runs Debian's dovecot (dovecot-core,
dovecot-submissiond, dovecot-gssapi) as root in the foreground with its
submission service on 127.0.0.1 (STARTTLS with the test PKI's "good"
certificate), AUTH GSSAPI only (any principal of the server keytab:
auth_gssapi_hostname $ALL; by its own name Dovecot's submission service
would be submission/localhost, not smtp/localhost), relaying what it takes to 127.0.0.1:relay_port in
plaintext (an upstream.py in plain mode).  logins() lists the users of
the successful logins in its log.
"""

import os
import pwd
import re
import subprocess

import gwtest
from gwtest import TestFailure, TestSkip

REALM = "GW.TEST"
CLIENT = "smtpgate@" + REALM
SERVICE = "smtp/localhost@" + REALM
KDB5_UTIL = "/usr/sbin/kdb5_util"
KADMIN_LOCAL = "/usr/sbin/kadmin.local"
KRB5KDC = "/usr/sbin/krb5kdc"
DOVECOT = "/usr/sbin/dovecot"
DOVECOT_GSSAPI = "/usr/lib/dovecot/modules/auth/libmech_gssapi.so"
DOVECOT_SUBMISSION = "/usr/lib/dovecot/submission"

KRB5_CONF = """\
[libdefaults]
	default_realm = {realm}
	dns_lookup_kdc = false
	dns_lookup_realm = false
	dns_canonicalize_hostname = false
	rdns = false
	kdc_timesync = 0
[realms]
	{realm} = {{
		kdc = 127.0.0.1:{port}
	}}
[domain_realm]
	localhost = {realm}
"""

KDC_CONF = """\
[kdcdefaults]
	kdc_listen = 127.0.0.1:{port}
	kdc_tcp_listen = 127.0.0.1:{port}
[realms]
	{realm} = {{
		database_name = {d}/principal
		key_stash_file = {d}/stash
		acl_file = {d}/kadm5.acl
		max_life = 1h
		supported_enctypes = aes256-cts-hmac-sha1-96:normal
	}}
[logging]
	kdc = FILE:{d}/kdc.log
	admin_server = FILE:{d}/kadmin.log
	default = FILE:{d}/krb5lib.log
"""

SUBMISSION_CONF = """\
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
log_timestamp = "%s "
protocols = submission
listen = 127.0.0.1
hostname = localhost
shutdown_clients = yes
import_environment = TZ KRB5_CONFIG={krb5conf} KRB5RCACHETYPE=none
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = yes
auth_mechanisms = gssapi
auth_gssapi_hostname = "$ALL"
auth_krb5_keytab = {keytab}
auth_failure_delay = 0
auth_verbose = yes
auth_debug = yes
passdb {{
  driver = static
  args = nopassword=y
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home/%u allow_all_users=yes
}}
mail_location = maildir:{d}/home/%u/Maildir
first_valid_uid = {uid}
submission_relay_host = 127.0.0.1
submission_relay_port = {relay}
submission_relay_ssl = no
submission_relay_trusted = no
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
"""


def _need(paths, pkgs):
    for p in paths:
        if not os.access(p, os.X_OK if not p.endswith(".so") else os.R_OK):
            raise TestSkip("%s missing (apt-get install %s)" % (p, pkgs))


class Kdc:
    """A private realm on loopback (see the module comment)."""

    def __init__(self):
        _need([KDB5_UTIL, KADMIN_LOCAL, KRB5KDC],
              "krb5-kdc krb5-admin-server")
        self.dir = gwtest.newdir("kdc")
        os.chmod(self.dir, 0o755)
        self.krb5conf = os.path.join(self.dir, "krb5.conf")
        self.kdcconf = os.path.join(self.dir, "kdc.conf")
        self.log = os.path.join(self.dir, "kdc.log")
        with open(os.path.join(self.dir, "kadm5.acl"), "w") as f:
            f.write("")
        for _ in range(3):
            self.port = gwtest.free_port()
            self._write_conf()
            if not hasattr(self, "keytab"):
                self._make_realm()
            with open(os.path.join(self.dir, "stderr.log"), "ab") as err:
                self.proc = gwtest._spawn([KRB5KDC, "-n", "-r", REALM],
                                          stdin=subprocess.DEVNULL,
                                          stdout=err, stderr=err)
            if self._wait_ready():
                return
            gwtest._reap(self.proc, timeout=5)
        raise TestFailure("krb5kdc did not start: %s %s" % (
            gwtest._tail(os.path.join(self.dir, "stderr.log"), 20),
            gwtest._tail(self.log, 20)))

    def _write_conf(self):
        with open(self.krb5conf, "w") as f:
            f.write(KRB5_CONF.format(realm=REALM, port=self.port))
        with open(self.kdcconf, "w") as f:
            f.write(KDC_CONF.format(realm=REALM, port=self.port,
                                    d=self.dir))
        # this process and every child started from now on
        os.environ["KRB5_CONFIG"] = self.krb5conf
        os.environ["KRB5_KDC_PROFILE"] = self.kdcconf
        os.environ["KRB5RCACHETYPE"] = "none"

    def _run(self, argv):
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=60)
        if r.returncode != 0:
            raise TestFailure("%s: exit %d: %s %s" % (
                " ".join(argv), r.returncode, r.stdout.decode(
                    errors="replace"), r.stderr.decode(errors="replace")))
        return r.stdout.decode(errors="replace")

    def kadmin(self, query):
        return self._run([KADMIN_LOCAL, "-r", REALM, "-q", query])

    def _make_realm(self):
        self._run([KDB5_UTIL, "-r", REALM, "create", "-s", "-P",
                   "master-" + os.urandom(8).hex()])
        self.kadmin("addprinc -randkey " + SERVICE)
        self.kadmin("addprinc -randkey +requires_preauth " + CLIENT)
        self.server_keytab = self.ktadd(SERVICE, "server.keytab")
        self.stale_keytab = self.ktadd(CLIENT, "stale.keytab")
        self.keytab = self.ktadd(CLIENT, "client.keytab")

    def ktadd(self, princ, name):
        """A new random key for princ, written to keytab DIR/name."""
        path = os.path.join(self.dir, name)
        self.kadmin("ktadd -k %s %s" % (path, princ))
        os.chmod(path, 0o600)
        return path

    def _wait_ready(self):
        return gwtest.wait_serving(self.proc, self.port)

    def text(self):
        return gwtest.read_text(self.log)

    def stop(self):
        if self.proc.poll() is None:
            gwtest._reap(self.proc, timeout=10)


class Submission:
    """A private Dovecot submission server with GSSAPI (module comment)."""

    def __init__(self, kdc, relay_port):
        _need([DOVECOT, DOVECOT_SUBMISSION, DOVECOT_GSSAPI],
              "dovecot-core dovecot-submissiond dovecot-gssapi")
        if os.geteuid() != 0:
            raise TestSkip("a private Dovecot needs root")
        try:
            dv = pwd.getpwnam("dovecot")
        except KeyError:
            raise TestSkip("no dovecot user (dovecot-core not set up)")
        os.chmod(gwtest.tmpdir(), 0o711)
        self.dir = gwtest.newdir("submission")
        os.chmod(self.dir, 0o755)
        home = os.path.join(self.dir, "home")
        os.mkdir(home)
        os.chown(home, dv.pw_uid, dv.pw_gid)
        # the auth process runs as dovecot and reads the service key
        os.chown(kdc.server_keytab, dv.pw_uid, dv.pw_gid)
        os.chmod(kdc.dir, 0o755)
        self.log = os.path.join(self.dir, "dovecot.log")
        self.conf = os.path.join(self.dir, "dovecot.conf")
        p = gwtest.pki()
        for _ in range(3):
            self.port = gwtest.free_port()
            with open(self.conf, "w", encoding="utf-8") as f:
                f.write(SUBMISSION_CONF.format(
                    d=self.dir, cert=p["good-chain"], key=p["good.key"],
                    uid=dv.pw_uid, gid=dv.pw_gid, port=self.port,
                    relay=relay_port, keytab=kdc.server_keytab,
                    krb5conf=kdc.krb5conf))
            with open(os.path.join(self.dir, "stderr.log"), "ab") as err:
                self.proc = gwtest._spawn([DOVECOT, "-F", "-c", self.conf],
                                          stdin=subprocess.DEVNULL,
                                          stdout=err, stderr=err)
            if self._wait_ready():
                return
            gwtest._reap(self.proc, timeout=5)
        raise TestFailure("dovecot submission did not start: %s %s" % (
            gwtest._tail(os.path.join(self.dir, "stderr.log"), 20),
            gwtest._tail(self.log, 20)))

    def _wait_ready(self):
        return gwtest.wait_serving(self.proc, self.port)

    def text(self):
        return gwtest.read_text(self.log)

    def logins(self):
        """(user, method) of each successful login in the log."""
        return re.findall(r"submission-login: Info: Login: "
                          r"user=<([^>]*)>, method=(\w+)", self.text())

    def stop(self):
        if self.proc.poll() is None:
            gwtest._reap(self.proc, timeout=10)
