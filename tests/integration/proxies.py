"""proxies - private SOCKS5 and HTTP CONNECT proxies on loopback, for the
upstream proxy tests (the gateway's [upstream] proxy key).

Dante(ports, user=None) runs Debian's danted in the foreground
(``danted -f CONF -N 1``) with its configuration in a temporary
directory: SOCKS5 on 127.0.0.1:port (a free port), going out from
127.0.0.1, passing CONNECT only to 127.0.0.1 on the given ports (any
other destination gets reply 2, "not allowed by ruleset").  With user
(a name and a password) it asks for RFC 1929 username/password, which
Dante checks against the system's accounts: a system account of that
name is made for the proxy's life (no home, no shell, a random name
given by the caller) and removed by stop() or at exit.

TinyProxy(ports, user=None) runs Debian's tinyproxy in the foreground
(``tinyproxy -d -c CONF``): HTTP CONNECT on 127.0.0.1:port, allowed only
to the given ports (``ConnectPort``; others get 403), with ``BasicAuth``
when user is given (no credentials or wrong ones: 407).

Both are started and stopped like the other peers (gwtest._spawn: own
process group, gone with the test).  url() gives the gateway's proxy
value; log() what the proxy logged.
"""

import atexit
import os
import subprocess
import time

import gwtest
from gwtest import TestFailure, TestSkip

DANTED = "/usr/sbin/danted"
TINYPROXY = "/usr/bin/tinyproxy"

DANTE_CONF = """\
logoutput: {log}
debug: 0
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
clientmethod: none
socksmethod: {method}
user.privileged: root
user.unprivileged: nobody
client pass {{
    from: 127.0.0.0/8 to: 0.0.0.0/0
    log: error
}}
{rules}
socks block {{
    from: 0.0.0.0/0 to: 0.0.0.0/0
    log: connect error
}}
"""

DANTE_RULE = """\
socks pass {{
    from: 127.0.0.0/8 to: 127.0.0.1/32 port = {port}
    command: connect
    log: connect disconnect error
}}
"""

TINY_CONF = """\
Port {port}
Listen 127.0.0.1
Timeout 60
LogLevel Info
MaxClients 50
Allow 127.0.0.1
DisableViaHeader Yes
{ports}{auth}"""


def _wait_listening(proc, port, errlog, what):
    deadline = time.monotonic() + gwtest.START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if gwtest.tcp_listening(port):
            return True
        time.sleep(0.05)
    gwtest._reap(proc, timeout=5)
    return False


class _Proxy:
    scheme = ""

    def url(self, user=None):
        """The proxy value for the gateway; user overrides the login."""
        u = user if user is not None else (self.user[0] if self.user
                                           else None)
        return "%s://%s127.0.0.1:%d" % (self.scheme,
                                        u + "@" if u else "", self.port)

    def log(self):
        try:
            with open(self.errlog, encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            gwtest._reap(self.proc, timeout=10)


def _user_add(name, password):
    """A system account for Dante's username check; gone at exit."""
    if subprocess.run(["useradd", "--system", "--no-create-home",
                       "--shell", "/usr/sbin/nologin", name],
                      capture_output=True, timeout=30).returncode != 0:
        raise TestSkip("cannot add the system user %s (needs root)" % name)
    atexit.register(_user_del, name)
    subprocess.run(["chpasswd"], input=("%s:%s\n" % (name, password))
                   .encode(), check=True, capture_output=True, timeout=30)


def _user_del(name):
    subprocess.run(["userdel", name], capture_output=True, timeout=30)


class Dante(_Proxy):
    """A private danted (see the module comment)."""
    scheme = "socks5"

    def __init__(self, ports, user=None):
        if not os.access(DANTED, os.X_OK):
            raise TestSkip("danted missing (apt-get install dante-server)")
        self.user = user
        self.proc = None
        self.dir = gwtest.newdir("dante")
        self.conf = os.path.join(self.dir, "danted.conf")
        self.errlog = os.path.join(self.dir, "danted.log")
        if user:
            _user_add(user[0], user[1])
        rules = "".join(DANTE_RULE.format(port=p) for p in ports)
        for _ in range(3):
            self.port = gwtest.free_port()
            with open(self.conf, "w", encoding="utf-8") as f:
                f.write(DANTE_CONF.format(
                    log=self.errlog, port=self.port, rules=rules,
                    method="username" if user else "none"))
            self.proc = gwtest._spawn([DANTED, "-f", self.conf, "-N", "1"],
                                      stdin=subprocess.DEVNULL,
                                      stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            if _wait_listening(self.proc, self.port, self.errlog, "danted"):
                return
        raise TestFailure("danted did not start: %s"
                          % gwtest._tail(self.errlog, 20))

    def stop(self):
        _Proxy.stop(self)
        if self.user:
            _user_del(self.user[0])


class TinyProxy(_Proxy):
    """A private tinyproxy (see the module comment)."""
    scheme = "http"

    def __init__(self, ports, user=None):
        if not os.access(TINYPROXY, os.X_OK):
            raise TestSkip("tinyproxy missing (apt-get install tinyproxy)")
        self.user = user
        self.proc = None
        self.dir = gwtest.newdir("tinyproxy")
        self.conf = os.path.join(self.dir, "tinyproxy.conf")
        self.errlog = os.path.join(self.dir, "tinyproxy.log")
        cports = "".join("ConnectPort %d\n" % p for p in ports)
        auth = "BasicAuth %s %s\n" % tuple(user) if user else ""
        for _ in range(3):
            self.port = gwtest.free_port()
            with open(self.conf, "w", encoding="utf-8") as f:
                f.write(TINY_CONF.format(port=self.port, ports=cports,
                                         auth=auth))
            with open(self.errlog, "ab") as err:
                self.proc = gwtest._spawn([TINYPROXY, "-d", "-c", self.conf],
                                          stdin=subprocess.DEVNULL,
                                          stdout=err, stderr=err)
            if _wait_listening(self.proc, self.port, self.errlog,
                               "tinyproxy"):
                return
        raise TestFailure("tinyproxy did not start: %s"
                          % gwtest._tail(self.errlog, 20))
