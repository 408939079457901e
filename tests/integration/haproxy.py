"""haproxy - a private HAProxy in front of the gateway, for the PROXY
protocol tests.

HAProxy(gw_port, send="send-proxy-v2") runs Debian's haproxy in the
foreground (``haproxy -db -f CONF``) with its configuration in a
temporary directory: one TCP frontend on 127.0.0.1:port (a free port)
and one server, the gateway's listener on 127.0.0.1:gw_port, with
``send`` on its server line (``send-proxy`` for v1, ``send-proxy-v2``
for v2).  HAProxy connects to the gateway from 127.0.0.1, and its PROXY
header carries the address the client connected to HAProxy from, so a
client bound to 127.0.0.2 shows whether the gateway used the header.
Started and stopped like the other peers (gwtest._spawn: own process
group, gone with the test).
"""

import os

import gwtest
from gwtest import TestFailure, TestSkip

HAPROXY = "/usr/sbin/haproxy"

CONF = """\
global
    maxconn 200

defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s

frontend smtp
    bind 127.0.0.1:{port}
    default_backend gateway

backend gateway
{servers}
"""

# several gateways: round robin, health checks (with the PROXY header, as
# a real check would send it), and a connection to a dead one retried on
# another (redispatch) instead of failing the client
BACKEND_OPTS = """\
    balance roundrobin
    option redispatch
    retries 3
"""


def servers(gw_port, send, check_ms):
    ports = gw_port if isinstance(gw_port, (list, tuple)) else [gw_port]
    chk = (" check check-send-proxy inter %d fall 1 rise 1" % check_ms
           if check_ms else "")
    out = BACKEND_OPTS if len(ports) > 1 else ""
    for i, p in enumerate(ports):
        out += "    server gw%d 127.0.0.1:%d %s%s\n" % (i, p, send, chk)
    return out.rstrip("\n")


class HAProxy:
    """A private HAProxy (see the module comment)."""

    def __init__(self, gw_port, send="send-proxy-v2", check_ms=0):
        """gw_port: one port, or a list of gateway ports balanced round
        robin; check_ms > 0 health-checks each every check_ms ms."""
        if not os.access(HAPROXY, os.X_OK):
            raise TestSkip("HAProxy missing (apt-get install haproxy)")
        self.dir = gwtest.newdir("haproxy")
        self.conf = os.path.join(self.dir, "haproxy.cfg")
        self.errlog = os.path.join(self.dir, "stderr.log")
        for _ in range(3):
            self.port = gwtest.free_port()
            with open(self.conf, "w", encoding="utf-8") as f:
                f.write(CONF.format(port=self.port,
                                    servers=servers(gw_port, send,
                                                    check_ms)))
            with open(self.errlog, "ab") as err:
                self.proc = gwtest._spawn([HAPROXY, "-db", "-f", self.conf],
                                          stdin=gwtest.subprocess.DEVNULL,
                                          stdout=err, stderr=err)
            if self._wait_ready():
                return
            gwtest._reap(self.proc, timeout=5)
        raise TestFailure("haproxy did not start: %s"
                          % gwtest._tail(self.errlog, 20))

    def _wait_ready(self):
        return gwtest.wait_serving(self.proc, self.port)

    def client(self, source=None):
        """A gwtest.Client connected through HAProxy."""
        return gwtest.Client(self.port, source=source)

    def stop(self):
        if self.proc.poll() is None:
            gwtest._reap(self.proc, timeout=10)
