"""obl_chaos.py - pieces of the obligations chaos test (test_obligations_chaos.py, issue 20):
gateway replicas that can be SIGKILLed and restarted (also during start-up) with a log of
every process and every kill, who sent a statement to a TiDB double (the gateway process
owning the TCP connection, read from /proc), and the obligation store in etcd: its records
now, and its whole history (every put and delete under /importgate/<name>/, read back
with an etcd watch from a start revision), so properties can be checked after the run."""

import base64
import http.client
import json
import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request

from harness import gateway as gateway_mod

import clusterstate as cs

TERMINAL = ("done", "not-owed", "dismissed")


# ---------------------------------------------------------------- etcd: the store


def _post(url, path, body, timeout=5.0, tries=6):
    """A read of etcd (ranges only: idempotent), tried again when it times out or the
    connection fails: at load 30 a 5 s read of the store once timed out in the settle phase
    (seed 608), which is the test's own starvation, not a property of the gateways."""
    req = urllib.request.Request(url.rstrip("/") + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return json.loads(r.read() or b"{}")
        except (TimeoutError, ConnectionError, urllib.error.URLError):
            if attempt == tries - 1:
                raise
            time.sleep(1.0)


def _b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


class Store:
    """The obligation store of one cluster name in etcd (docs/OBLIGATIONS.md)."""

    def __init__(self, url, name):
        self.url = url
        self.prefix = "/importgate/%s/" % name
        self.obl = self.prefix + "obligations/"
        self.claims = self.prefix + "claims/"

    def revision(self):
        out = _post(self.url, "/v3/kv/range", {"key": _b64(self.prefix), "count_only": True,
                                               "range_end": _b64(cs.prefix_end(self.prefix))})
        return int(out["header"]["revision"])

    def _range(self, prefix):
        out = _post(self.url, "/v3/kv/range",
                    {"key": _b64(prefix), "range_end": _b64(cs.prefix_end(prefix))})
        return out.get("kvs", [])

    def records(self):
        """id -> record (dict), with the key's create_revision as `_create_rev`."""
        recs = {}
        for kv in self._range(self.obl):
            rec = json.loads(base64.b64decode(kv.get("value", "")))
            rec["_create_rev"] = int(kv.get("create_revision", 0))
            recs[base64.b64decode(kv["key"]).decode()[len(self.obl):]] = rec
        return recs

    def history(self, start_rev, timeout=30.0):
        """Every event under the prefix from start_rev up to now, in revision order:
        dicts {rev, type: put|delete, kind: obligation|claim, id, value, prev}."""
        end_rev = self.revision()
        host, port = self.url.split("//", 1)[1].rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        body = {"create_request": {"key": _b64(self.prefix),
                                   "range_end": _b64(cs.prefix_end(self.prefix)),
                                   "start_revision": start_rev, "prev_kv": True}}
        conn.request("POST", "/v3/watch", json.dumps(body), {"Content-Type": "application/json"})
        resp = conn.getresponse()
        events, last, deadline = [], start_rev - 1, time.monotonic() + timeout
        try:
            while last < end_rev and time.monotonic() < deadline:
                line = resp.readline()
                if not line:
                    break
                if not line.strip():
                    continue
                res = json.loads(line).get("result", {})
                for ev in res.get("events", []):
                    events.append(self._event(ev))
                    last = events[-1]["rev"]
                if not res.get("events") and not res.get("created"):
                    last = max(last, int(res.get("header", {}).get("revision", last)))
        finally:
            conn.close()
        if last < end_rev:
            raise AssertionError("etcd history: read up to revision %d of %d" % (last, end_rev))
        return events

    def _event(self, ev):
        kv = ev["kv"]
        key = base64.b64decode(kv["key"]).decode()
        kind, rid = ("obligation", key[len(self.obl):]) if key.startswith(self.obl) else \
            ("claim", key[len(self.claims):]) if key.startswith(self.claims) else ("other", key)

        def val(k):
            v = (k or {}).get("value")
            if not v:
                return None
            try:
                return json.loads(base64.b64decode(v))
            except ValueError:
                return None
        return {"rev": int(kv["mod_revision"]), "type": "delete" if ev.get("type") == "DELETE"
                else "put", "kind": kind, "id": rid, "value": val(kv), "prev": val(ev.get("prev_kv")),
                "create_rev": int(kv.get("create_revision", 0))}


def replica_pid(replica):
    """"host:pid:rand" (proxy/obligations.c) -> pid, or None."""
    try:
        return int(str(replica).split(":")[-2])
    except (IndexError, ValueError):
        return None


# ---------------------------------------------------------------- who sent a statement


def _tcp_inode(local_port, remote_port):
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                lines = f.readlines()[1:]
        except OSError:
            continue
        for ln in lines:
            p = ln.split()
            if len(p) < 10:
                continue
            if int(p[1].rsplit(":", 1)[1], 16) == local_port and \
                    int(p[2].rsplit(":", 1)[1], 16) == remote_port:
                return p[9]
    return None


def socket_owner(peer_port, server_port, pids):
    """The pid among `pids` holding the TCP connection from peer_port to server_port (a
    double's client connection, while it is open), or None."""
    inode = _tcp_inode(peer_port, server_port)
    if inode is None or inode == "0":
        return None
    want = "socket:[%s]" % inode
    for pid in pids:
        d = "/proc/%d/fd" % pid
        try:
            fds = os.listdir(d)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(os.path.join(d, fd)) == want:
                    return pid
            except OSError:
                continue
    return None


# ---------------------------------------------------------------- replicas


class Replica:
    """One gateway replica (a harness Gateway restarted in place: same config, port, audit
    log, admin port). `kill()` is SIGKILL; every process start and kill is logged in
    `events` (shared): (time, "start"|"kill", name, pid, store revision after, reason)."""

    def __init__(self, name, gw, store, events, lock):
        self.name = name
        self.gw = gw
        self.store = store
        self.events = events
        self.lock = lock           # shared: one kill/start at a time across replicas
        self.up_since = time.monotonic()
        self.pids = [gw.proc.pid]
        self.starting = False
        self.restarts = 0
        self._log("start", gw.proc.pid, "initial")

    def _log(self, what, pid, reason):
        try:
            rev = self.store.revision()
        except (OSError, KeyError, ValueError):
            rev = None
        self.events.append({"t": time.time(), "what": what, "replica": self.name, "pid": pid,
                            "rev": rev, "reason": reason})

    @property
    def pid(self):
        p = self.gw.proc
        return p.pid if p is not None and p.poll() is None else None

    def alive(self):
        return self.gw.proc is not None and self.gw.proc.poll() is None and not self.starting

    def kill(self, reason, pid=None):
        """SIGKILL the current process (only if it is `pid` when given). True if killed."""
        with self.lock:
            proc = self.gw.proc
            if self.starting or proc is None or proc.poll() is not None or (pid is not None and proc.pid != pid):
                return False
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            self._log("kill", proc.pid, reason)
            self._reap()
            return True

    def _reap(self):
        self.gw.proc = None
        if self.gw._stderr is not None:
            self.gw._stderr.close()
            self.gw._stderr = None
        # start() truncates stderr: keep every incarnation's for the sanitizer check
        self.restarts += 1
        try:
            shutil.copy(self.gw.stderr_path, "%s.%d" % (self.gw.stderr_path, self.restarts))
        except OSError:
            pass

    def restart(self, startup_kill=None):
        """Starts the replica again; startup_kill: seconds after the spawn at which that
        process is SIGKILLed (during its start-up, or just after), then it is started once
        more."""
        self.starting = True
        try:
            self._reap_if_ended()
            if startup_kill is not None:
                self._start_and_kill(startup_kill)
            self.gw.start()
            self.pids.append(self.gw.proc.pid)
            self._log("start", self.gw.proc.pid, "restart")
        finally:
            self.starting = False
            self.up_since = time.monotonic()

    def note_if_ended(self):
        """Called every moment by the test's watcher: a process that ended on its own is logged
        then (its exit status, at the time it is seen) and reaped, so the report knows from
        when it was gone and keeps its stderr."""
        if self.starting:
            return
        self._reap_if_ended()

    def _reap_if_ended(self):
        """A process that ended on its own (not killed by the test): its exit status is logged
        and its stderr kept before a start truncates the file. Seed 605 lost the stderr of two
        replicas that ended on their own to the final restart."""
        with self.lock:
            p = self.gw.proc
            if p is None or p.poll() is None:
                return
            self._log("exit", p.pid, "ended on its own: exit status %s" % p.returncode)
            self._reap()

    def exit_status(self, pid):
        """How process `pid` ended on its own, as logged, or None."""
        for e in self.events:
            if e["what"] == "exit" and e["pid"] == pid:
                return e["reason"]
        return None

    def _start_and_kill(self, delay):
        t = threading.Thread(target=self._start_quietly, daemon=True)
        t.start()
        end = time.monotonic() + 10
        while self.gw.proc is None and t.is_alive() and time.monotonic() < end:
            time.sleep(0.002)
        time.sleep(delay)
        p = self.gw.proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
            self._log("kill", p.pid, "during start-up (+%.2fs)" % delay)
        t.join()
        if p is not None:
            self.pids.append(p.pid)
            p.wait()
        with self.lock:
            self._reap()

    def _start_quietly(self):
        try:
            self.gw.start()
        except gateway_mod.GatewayError:
            pass  # killed before it listened: expected

    def sanitizer_reports(self):
        out = []
        for i in range(0, self.restarts + 1):
            path = self.gw.stderr_path if i == 0 else "%s.%d" % (self.gw.stderr_path, i)
            try:
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            for m in gateway_mod.SANITIZER_MARKERS:
                if m in text:
                    out.append("%s: %r in %s" % (self.name, m, path))
        return out

    # -- admin API (config admin.listen set to a fixed port) -------------------

    def admin_url(self):
        return "http://%s" % self.gw.config["admin"]["listen"]

    def status(self):
        with urllib.request.urlopen(self.admin_url() + "/api/v1/status", timeout=10) as r:
            return json.loads(r.read())

    def dismiss(self, rid):
        req = urllib.request.Request(self.admin_url() + "/api/v1/obligations/dismiss",
                                     data=json.dumps({"id": rid}).encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=45) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"{}")
        except OSError as e:  # the replica died (a sanitizer report) or hung (it waits 30 s at most)
            return None, {"error": str(e)}

    def audit_events(self):
        path = self.gw.config["audit"]["path"]
        out = []
        for p in sorted(f for f in os.listdir(os.path.dirname(path))
                        if f.startswith(os.path.basename(path))):
            with open(os.path.join(os.path.dirname(path), p), encoding="utf-8",
                      errors="replace") as f:
                for ln in f:
                    if ln.endswith("\n"):
                        try:
                            out.append(json.loads(ln))
                        except ValueError:
                            pass
        return out
