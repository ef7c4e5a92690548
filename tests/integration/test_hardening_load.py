"""test_hardening_load.py - issue 7, load: many concurrent client connections through one
gateway, each logging in and running its own queries (every answer checked), with the
gateway's RSS per connection reported; and connection churn (connects and disconnects at a
fixed rate) with the gateway's fd count and RSS compared before and after.

Sized for the suite (2 cores, ~90 s for all hardening tests). Long runs:
  IG_HARDENING_SCALE=10000       concurrent connections (suite: 2000)
  IG_CHURN_SECONDS=60            churn duration (suite: 10)
  IG_CHURN_RATE=1000             connects+disconnects per second (suite: 1000)
  IG_HARDENING_PROCESSES=2       gateway processes sharing the listen address (SO_REUSEPORT;
                                 suite: 1), for more sessions than one process's fd limit holds
Numbers are printed (run with -s) and written to $IG_HARDENING_REPORT when set; the last
results are in docs/RELIABILITY.md.

The clients are asyncio coroutines speaking the protocol themselves (harness/rawproto.py's
greeting and handshake encoders), so 10,000 connections need no 10,000 threads. The backend
is a MariaDB of this module's own with max_connections above the scale and a thread pool."""

import asyncio
import json
import os
import resource
import struct
import subprocess
import time

import pytest

from harness import gateway as gateway_mod
from harness import rawproto, timing
from harness.rawproto import lenenc
from harness.mariadb import NATIVE, MariaDB

pytestmark = pytest.mark.gateway_only

SCALE = int(os.environ.get("IG_HARDENING_SCALE", "2000"))
CHURN_SECONDS = float(os.environ.get("IG_CHURN_SECONDS", "10"))
CHURN_RATE = int(os.environ.get("IG_CHURN_RATE", "1000"))
PROCESSES = int(os.environ.get("IG_HARDENING_PROCESSES", "1"))
ROUNDS = 3
# Bound on the gateway's resident memory per open session (client + backend leg, buffers,
# no TLS). Measured ~12 KiB under ASan (small quarantine); the bound leaves room for noise.
RSS_PER_CONN_BOUND_KIB = 64


def rss_per_conn_bound_kib():
    """RSS_PER_CONN_BOUND_KIB, four times that for a ThreadSanitizer build: its shadow memory
    is several times the application's, and the TSan step opens only 300 sessions, so fixed
    costs weigh more per session (68 KiB measured there with two pytest workers, issue 14)."""
    with open(gateway_mod.binary_path(), "rb") as f:
        tsan = b"__tsan_init" in f.read()
    return RSS_PER_CONN_BOUND_KIB * (4 if tsan else 1)


def _raise_nofile(n):
    """Clients, gateway and MariaDB each need an fd per connection (the gateway two).
    Children inherit the limit; root may raise the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(soft, n)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def listening(pid, port):
    """Process pid has a listening socket on port (ss -ltnp)."""
    out = subprocess.run(["ss", "-Hltnp", "sport = :%d" % port], capture_output=True,
                         text=True).stdout
    return "pid=%d," % pid in out


def report(name, values):
    print("\n[hardening] %s: %s" % (name, json.dumps(values, sort_keys=True)))
    path = os.environ.get("IG_HARDENING_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps({"test": name, **values}, sort_keys=True) + "\n")


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith(key + ":"):
                return int(ln.split()[1])
    raise KeyError(key)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class PooledMariaDB(MariaDB):
    """MariaDB with a thread pool (10,000 sessions without 10,000 threads) and fds enough."""

    def _server_args(self):
        return super()._server_args() + ["--thread-handling=pool-of-threads",
                                         "--open-files-limit=%d" % (self.max_connections * 2 + 1000),
                                         "--back-log=2000"]


@pytest.fixture(scope="module")
def bigdb(tmp_path_factory):
    _raise_nofile(SCALE * 3 + 2000)
    m = PooledMariaDB(str(tmp_path_factory.mktemp("mariadb_load")),
                      max_connections=SCALE + 200, connect_timeout=10)
    m.start()
    yield m
    m.stop()


# ---------------------------------------------------------------- asyncio protocol client


async def read_packet(reader):
    hdr = await reader.readexactly(4)
    n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
    return hdr[3], await reader.readexactly(n)


def write_packet(writer, payload, seq):
    writer.write(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xff]) + payload)


async def alogin(host, port, user, password, db=None):
    reader, writer = await asyncio.open_connection(host, port)
    _, g = await read_packet(reader)
    if g[:1] == b"\xff":
        writer.close()
        raise RuntimeError("error instead of greeting: %r" % g[:120])
    greet = rawproto.parse_greeting(g)
    write_packet(writer, rawproto.handshake_response(user, password, greet["salt"], db), 1)
    seq, p = await read_packet(reader)
    if p[:1] == b"\xfe" and len(p) > 1:
        end = p.index(b"\0", 1)
        write_packet(writer, rawproto.native_scramble(password, p[end + 1:].rstrip(b"\0")),
                     seq + 1)
        seq, p = await read_packet(reader)
    if p[:1] != b"\x00":
        writer.close()
        raise RuntimeError("login failed: %r" % p[:200])
    return reader, writer


async def aquery(reader, writer, sql):
    """COM_QUERY, text result without CLIENT_DEPRECATE_EOF -> list of rows (lists of str)."""
    write_packet(writer, b"\x03" + sql.encode(), 0)
    _, p = await read_packet(reader)
    if p[:1] == b"\xff":
        raise RuntimeError("error %d: %r" % (struct.unpack_from("<H", p, 1)[0], p[9:]))
    if p[:1] == b"\x00":
        return []
    ncols, _ = lenenc(p, 0)
    for _ in range(ncols):
        await read_packet(reader)
    _, p = await read_packet(reader)
    assert p[:1] == b"\xfe", p
    rows = []
    while True:
        _, p = await read_packet(reader)
        if p[:1] == b"\xfe" and len(p) < 9:
            return rows
        if p[:1] == b"\xff":
            raise RuntimeError("error mid-result: %r" % p)
        row, pos = [], 0
        while pos < len(p):
            n, pos = lenenc(p, pos)
            row.append(None if n is None else p[pos:pos + n].decode())
            pos += n or 0
        rows.append(row)


async def aquit(writer):
    write_packet(writer, b"\x01", 0)
    try:
        await writer.drain()
    except ConnectionError:
        pass
    writer.close()


# ---------------------------------------------------------------- concurrent connections


def small_quarantine(monkeypatch):
    """Under ASan freed memory sits in a 256 MiB quarantine, which looks like growth: keep
    it small so RSS means live memory (leak detection stays on)."""
    monkeypatch.setenv("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:quarantine_size_mb=1:"
                       "thread_local_quarantine_size_kb=64")


def test_many_concurrent_connections(gateway_factory, bigdb, monkeypatch):
    """SCALE clients connected at once, each running ROUNDS queries whose answers carry its
    own number and backend connection id; none fails; RSS per connection under a bound."""
    small_quarantine(monkeypatch)
    # The gateway needs two fds per session: a hard RLIMIT_NOFILE this process cannot raise
    # (no CAP_SYS_RESOURCE, e.g. 20000 in the CI container) caps the count; reported.
    # Several processes on one address (IG_HARDENING_PROCESSES) share the sessions.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    n = min(SCALE, PROCESSES * (hard - 200) // 2, hard - 200)  # the clients: one fd each
    over = {"log": {"level": "warn"}, "timeouts": {"handshake_ms": 60000}}
    gw = gateway_factory(over, backend=(bigdb.host, bigdb.port))
    gws = [gw]
    for _ in range(1, PROCESSES):
        g = gateway_factory(dict(over, listen=gw.config["listen"]), backend=(bigdb.host, bigdb.port))
        deadline = time.monotonic() + timing.bound(10)
        while not listening(g.proc.pid, gw.port) and g.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert g.alive() and listening(g.proc.pid, gw.port), g.stderr_text()[-2000:]
        gws.append(g)
    pids = [g.proc.pid for g in gws]
    base_rss = sum(proc_status(pid, "VmRSS") for pid in pids)
    failures = []
    conns = {}

    async def one(k, sem):
        async with sem:  # bounded handshakes in flight: the listen backlog is finite
            r, w = await alogin(gw.host, gw.port, *NATIVE, db="igtest")
            rows = await aquery(r, w, "SELECT CONNECTION_ID()")
            conns[k] = (r, w, rows[0][0])

    async def work(k):
        r, w, cid = conns[k]
        for rnd in range(ROUNDS):
            rows = await aquery(r, w, "SELECT %d, CONNECTION_ID(), %d" % (k, rnd))
            if rows != [[str(k), cid, str(rnd)]]:
                raise AssertionError("client %d round %d got %r" % (k, rnd, rows))

    async def main():
        sem = asyncio.Semaphore(200)
        t0 = time.monotonic()
        res = await asyncio.gather(*(one(k, sem) for k in range(n)), return_exceptions=True)
        connect_s = time.monotonic() - t0
        failures.extend("connect %d: %r" % (k, e) for k, e in enumerate(res) if e is not None)
        held_rss = sum(proc_status(pid, "VmRSS") for pid in pids)
        held_fds = sum(fd_count(pid) for pid in pids)
        t0 = time.monotonic()
        res = await asyncio.gather(*(work(k) for k in conns), return_exceptions=True)
        query_s = time.monotonic() - t0
        failures.extend("query: %r" % e for e in res if e is not None)
        all_rss = sum(proc_status(pid, "VmRSS") for pid in pids)
        for r, w, _ in conns.values():
            await aquit(w)
        return connect_s, query_s, held_rss, held_fds, all_rss

    connect_s, query_s, held_rss, held_fds, all_rss = asyncio.run(main())
    assert failures == [], "%d failures, first: %s" % (len(failures), failures[:5])
    assert len(conns) == n
    assert len({c[2] for c in conns.values()}) == n, "backend sessions shared"
    per_conn = (max(held_rss, all_rss) - base_rss) / n
    report("concurrent", {"connections": n, "requested": SCALE, "nofile_hard": hard,
                          "gateway_processes": PROCESSES,
                          "connect_s": round(connect_s, 2),
                          "queries": n * (ROUNDS + 1), "query_s": round(query_s, 2),
                          "rss_base_kib": base_rss, "rss_held_kib": held_rss,
                          "rss_after_queries_kib": all_rss, "gateway_fds_held": held_fds,
                          "rss_per_conn_kib": round(per_conn, 1)})
    # Two fds per session (client and backend leg) once they are all open.
    assert held_fds >= 2 * n, held_fds
    assert per_conn < rss_per_conn_bound_kib(), per_conn
    assert all(g.alive() for g in gws)


# ---------------------------------------------------------------- churn


def wait_fds(pid, target, timeout=10.0):
    """Waits (up to `timeout` s, scaled for sanitizer builds) for the fd count of `pid` to
    drop to `target`; returns the count."""
    deadline = time.monotonic() + timing.bound(timeout)
    n = fd_count(pid)
    while n > target and time.monotonic() < deadline:
        time.sleep(0.2)
        n = fd_count(pid)
    return n


def settled_fds(pid, quiet=1.0, timeout=10.0):
    """The fd count of `pid` once it has not changed for `quiet` seconds (at most `timeout`
    s, scaled): the idle count, taken after the workers' loops are up and a closed session's
    fds are gone (issue 14: a count taken 2 s after a login, whatever it was then, differed
    by one from the count after the run)."""
    deadline = time.monotonic() + timing.bound(timeout)
    n, since = fd_count(pid), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.1)
        m = fd_count(pid)
        if m != n:
            n, since = m, time.monotonic()
    return n


def test_connection_churn_leaks_nothing(gateway_factory, bigdb, monkeypatch):
    """CHURN_RATE connects/disconnects per second for CHURN_SECONDS: a third log in and quit
    (COM_QUIT), a third log in and drop the socket, a third read the greeting and drop it.
    No error; afterwards the gateway's fd count is back to its idle count and its RSS did not
    keep growing (second half of the run vs the end of a warm-up)."""
    small_quarantine(monkeypatch)
    # no health checks: their connections would come and go in both fd counts
    gw = gateway_factory({"log": {"level": "warn"}, "backends": {"health_interval_ms": 0}},
                         backend=(bigdb.host, bigdb.port))
    pid = gw.proc.pid
    # One login first so lazily created state (TLS contexts, caches) exists before counting.
    c, _ = rawproto.login(gw.host, gw.port, *NATIVE)
    c.close()
    fds_before = settled_fds(pid)
    failures, done = [], [0]
    samples = []

    async def one(k):
        try:
            if k % 3 == 2:
                reader, writer = await asyncio.open_connection(gw.host, gw.port)
                await read_packet(reader)
                writer.close()
            else:
                r, w = await alogin(gw.host, gw.port, *NATIVE)
                if k % 3 == 0:
                    await aquit(w)
                else:
                    w.close()
            done[0] += 1
        except Exception as e:  # counted and reported below
            failures.append("%d: %r" % (k, e))

    async def main():
        tasks = set()
        t0 = time.monotonic()
        k = 0
        next_sample = t0 + 1.0
        while time.monotonic() - t0 < CHURN_SECONDS:
            due = int((time.monotonic() - t0) * CHURN_RATE)
            while k < due and len(tasks) < 500:
                t = asyncio.ensure_future(one(k))
                tasks.add(t)
                t.add_done_callback(tasks.discard)
                k += 1
            if time.monotonic() >= next_sample:
                samples.append(proc_status(pid, "VmRSS"))
                next_sample += 1.0
            await asyncio.sleep(0.005)
        if tasks:
            await asyncio.gather(*tasks)
        return k, time.monotonic() - t0

    started, elapsed = asyncio.run(main())
    fds_after = wait_fds(pid, fds_before)
    rate = done[0] / elapsed
    warm = samples[min(2, len(samples) - 1)] if samples else 0
    end_rss = proc_status(pid, "VmRSS")
    report("churn", {"seconds": round(elapsed, 1), "target_rate": CHURN_RATE,
                     "started": started, "completed": done[0], "rate_per_s": round(rate),
                     "fds_before": fds_before, "fds_after": fds_after,
                     "rss_after_warmup_kib": warm, "rss_end_kib": end_rss,
                     "rss_samples_kib": samples})
    assert failures == [], "%d failures, first: %s" % (len(failures), failures[:5])
    assert fds_after == fds_before, "fd leak: %d before, %d after" % (fds_before, fds_after)
    # The gateway kept up with at least half the target rate (the client paces itself),
    # scaled for sanitizer builds: a floor against stalls, generous for a busy machine.
    assert rate >= CHURN_RATE * 0.5 / timing.scale(), rate
    # Memory: no growth proportional to the connections made (allow 16 MiB allocator slack).
    assert end_rss - warm < 16 * 1024, (warm, end_rss)
    c, _ = rawproto.login(gw.host, gw.port, *NATIVE)
    c.close()
    assert gw.alive()
