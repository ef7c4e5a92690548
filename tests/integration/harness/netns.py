"""netns.py - a second test host on this machine: a network namespace joined to ours by a
veth pair, made and removed by the test itself. Servers started with `prefix` run inside it
and are reached at `peer_ip`; the link between the hosts can be cut (packets lost silently in
both directions, as a partition or a dead host looks from here), narrowed to a
slow link that drops what overflows its small queue (real loss, real TCP retransmissions),
or given netem delay and loss where the kernel has sch_netem.

Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2; `available()` says why not."""

import os
import subprocess

_COUNTER = [0]


def _run(args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(args), (r.stderr or r.stdout).strip()))
    return r


class NetNS:
    """A namespace `name` with veth `host_if` (here, `host_ip`) <-> `peer_if` (there, `peer_ip`)."""

    def __init__(self, tag="t"):
        _COUNTER[0] += 1
        n = (os.getpid() * 8 + _COUNTER[0]) % 60000
        self.name = "ig%s-%d" % (tag, n)
        self.host_if = "igh%d" % n
        self.peer_if = "igp%d" % n
        # a /30 of 10.213.0.0/16 chosen from the pid, so parallel runs do not collide
        base = (n % 16000) * 4
        self.host_ip = "10.213.%d.%d" % (base // 256, base % 256 + 1)
        self.peer_ip = "10.213.%d.%d" % (base // 256, base % 256 + 2)
        self.created = False
        self.is_cut = False

    @property
    def prefix(self):
        """A command prefix that runs a program inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def create(self):
        _run(["ip", "netns", "add", self.name])
        self.created = True
        _run(["ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.peer_if])
        _run(["ip", "link", "set", self.peer_if, "netns", self.name])
        _run(["ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if])
        _run(["ip", "link", "set", self.host_if, "up"])
        _run(["ip", "-n", self.name, "addr", "add", self.peer_ip + "/30", "dev", self.peer_if])
        _run(["ip", "-n", self.name, "link", "set", self.peer_if, "up"])
        _run(["ip", "-n", self.name, "link", "set", "lo", "up"])
        return self

    def destroy(self):
        if not self.created:
            return
        _run(["ip", "link", "del", self.host_if], check=False)  # takes its peer with it
        _run(["ip", "netns", "del", self.name], check=False)
        self.created = False

    # ---- the link ----

    def _qdisc(self, spec):
        """Replaces the egress queue of both ends (spec: tc qdisc words, or None to restore)."""
        for pre, dev in (([], self.host_if), (["-n", self.name], self.peer_if)):
            if spec is None:
                _run(["tc"] + pre + ["qdisc", "del", "dev", dev, "root"], check=False)
            else:
                _run(["tc"] + pre + ["qdisc", "replace", "dev", dev, "root"] + spec)

    def cut(self):
        """The far end's interface goes down: what we send leaves our stack as sent and is
        lost on the wire, nothing comes back; no RST, no ICMP. (A drop in our own egress queue
        would not do: TCP takes a local drop for congestion and never counts its keepalive
        probes as lost.)"""
        _run(["ip", "-n", self.name, "link", "set", self.peer_if, "down"])
        self.is_cut = True

    def narrow(self, rate="2mbit", burst="4kb", limit="6kb"):
        """A slow link whose queue holds only `limit` bytes: bursts overflow and are dropped."""
        self._qdisc(["tbf", "rate", rate, "burst", burst, "limit", limit])

    def netem(self, *words):
        """netem on both ends, e.g. netem("delay", "50ms", "loss", "5%")."""
        self._qdisc(["netem"] + list(words))

    def heal(self):
        """The link is back: the far end's interface up, its queues restored, and both ends'
        neighbour caches flushed. While the link was cut, ARP for the far end failed; the
        kernel keeps that failure for a while and answers "host is unreachable" at once, so
        a connect right after the heal failed or not depending on how long the cut lasted
        (issue 14)."""
        if self.is_cut:
            _run(["ip", "-n", self.name, "link", "set", self.peer_if, "up"])
            self.is_cut = False
        self._qdisc(None)
        _run(["ip", "neigh", "flush", "dev", self.host_if], check=False)
        _run(["ip", "-n", self.name, "neigh", "flush", "dev", self.peer_if], check=False)


def _probe(kind_words):
    ns = NetNS("probe")
    try:
        ns.create()
        _run(["tc", "qdisc", "replace", "dev", ns.host_if, "root"] + kind_words)
        return None
    except (RuntimeError, OSError) as e:
        return str(e)
    finally:
        ns.destroy()


def available():
    """None when namespaces, veth and the drop/shape queues work here, else the reason."""
    if os.geteuid() != 0:
        return "needs root (ip netns, veth, tc)"
    return _probe(["tbf", "rate", "2mbit", "burst", "4kb", "limit", "6kb"])


def netem_available():
    """None when the kernel has sch_netem, else the reason."""
    return _probe(["netem", "delay", "1ms"])


def tcp_retransmits(prefix=()):
    """TcpRetransSegs of a namespace (ours, or the one `prefix` runs in), from /proc/net/snmp."""
    out = subprocess.run(list(prefix) + ["cat", "/proc/net/snmp"], capture_output=True,
                         text=True, check=True).stdout
    rows = [ln.split() for ln in out.splitlines() if ln.startswith("Tcp:")]
    return int(rows[1][rows[0].index("RetransSegs")])
