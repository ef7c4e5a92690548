"""Relayed bytes wait for the end of the event-loop pass (proxy/conn.c, "sending at the end of a
pass"): they stay in the worker's read buffer while the pass's other reads land after them, and
every connection's go out after the last read. What that must never do, checked here from what
the clients and the server really get:

  - send bytes from a part of the buffer a later read has overwritten: another session's
    answer (or statement) inside this one's would be a leak between sessions. One worker
    serves many concurrent sessions whose pipelined statements get answers of every size
    (from a few bytes to several times the buffer, so that a pass fills it and the waiting
    bytes go early), and each answer must be exactly its own, byte for byte;
  - stall a session whose reading stopped on backpressure (limits.write_queue_bytes at its
    4096 minimum) when the bytes that stopped it leave at the end of the pass, with no
    asynchronous write to announce it;
  - lose a COM_QUIT relayed in the same pass as the client's close: the server must still
    log each session's Quit (else it counts an aborted connection).

The sizes are drawn with a seed printed on failure (IG_SEED to replay one)."""

import os
import random
import re
import socket
import threading

import pytest

from harness import rawproto, timing
from harness.mariadb import NATIVE

SIZES = [0, 1, 200, 4000, 70000, 300000, 700000]
SESSIONS = 16
ROUNDS = 8
PIPELINE = 3


def query_packet(sql):
    return rawproto.packet(b"\x03" + sql.encode())


def plain_session(gw, k):
    c, _ = rawproto.login(gw.host, gw.port, *NATIVE, timeout=timing.bound(60))
    return c, c.send_raw, "plain"


def run_sessions(gw, seed, open_session=plain_session, sizes=SIZES, pads=(0,), sessions=SESSIONS,
                 rounds=ROUNDS):
    """`sessions` concurrent sessions, each `rounds` times sending PIPELINE statements in one
    write (so they are relayed in one pass) whose answers are `sizes` bytes of the session's
    own letter, statements padded by a comment of `pads` bytes; every answer must be exactly
    its own. open_session(gw, k) -> (connection, send(bytes), what kind of session)."""
    failures = []
    lock = threading.Lock()
    barrier = threading.Barrier(sessions, timeout=60)

    def session(k):
        rnd = random.Random(seed * 1000 + k)
        fill = chr(ord("a") + k % 26)
        try:
            c, send, kind = open_session(gw, k)
            try:
                barrier.wait()
                for r in range(rounds):
                    want = [("s%dr%dq%d" % (k, r, i), rnd.choice(sizes), rnd.choice(pads)) for i in range(PIPELINE)]
                    send(b"".join(query_packet("SELECT '%s', REPEAT('%s', %d) /*%s*/" % (tag, fill, n, fill * pad))
                                  for tag, n, pad in want))
                    for tag, n, _ in want:
                        rows = rawproto.answer_rows(c)
                        assert rows == [[tag.encode(), fill.encode() * n]], \
                            "session %d (%s), %s: %r" % (k, kind, tag, [[v[:40] for v in row] for row in rows])
            finally:
                c.close()
        except Exception as e:  # reported below with the session and the seed
            with lock:
                failures.append("session %d: %r" % (k, e))
            barrier.abort()

    threads = [threading.Thread(target=session, args=(k,), daemon=True) for k in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timing.bound(180))
    assert not any(t.is_alive() for t in threads), "sessions still running (a stall), seed %d" % seed
    assert failures == [], "seed %d:\n%s" % (seed, "\n".join(failures[:8]))


@pytest.mark.gateway_only
@pytest.mark.parametrize("write_queue_bytes", [None, 4096])
def test_each_answer_is_its_own_whatever_shares_the_pass(gateway_factory, write_queue_bytes):
    cfg = {"workers": 1}  # every session's bytes share one worker's read buffer
    if write_queue_bytes:
        cfg["limits"] = {"write_queue_bytes": write_queue_bytes}
    gw = gateway_factory(cfg)
    seed = int(os.environ.get("IG_SEED") or random.randrange(1 << 30))
    print("IG_SEED=%d" % seed)
    run_sessions(gw, seed)
    assert gw.alive()


@pytest.mark.gateway_only
def test_quit_relayed_with_the_close_reaches_the_server(gateway_factory, mariadb):
    """A COM_QUIT that fills the gateway's read exactly (IG_RBUF_SIZE, 64 KiB with its header:
    the server ignores what follows the command byte) is followed by the FIN, so the gateway's
    next read in the same callback sees the end and closes the session while the quit still
    waits for the end of the pass; the close sends it."""
    gw = gateway_factory({"workers": 1})
    off = mariadb.general_log_offset()
    ids = []
    for _ in range(12):
        c, _ = rawproto.login(gw.host, gw.port, *NATIVE, timeout=timing.bound(30))
        c.send_raw(query_packet("SELECT CONNECTION_ID()"))
        ids.append(int(rawproto.answer_rows(c)[0][0]))
        payload = b"\x01" + b"q" * (65536 - 4 - 1)
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # packet and FIN together
        c.send_raw(rawproto.packet(payload))
        c.sock.shutdown(socket.SHUT_WR)
        c.close()

    def quits():
        return {int(m) for m in re.findall(r"(\d+) Quit\b", mariadb.general_log_since(off))}

    assert timing.wait_for(lambda: set(ids) <= quits(), 20), (ids, sorted(quits()))
