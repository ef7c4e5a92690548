"""Adversarial companion of test_relay_pass_end.py: relayed bytes that wait for the end of
the loop pass must be exactly their own session's even when they come out of a compressed
leg's frames sent as is (ig_zleg_read hands the payload over where it lies in the worker's
reads), from decompressed frames, or from a compressed backend leg (MariaDB sends small
packets as is). Sessions of each kind share one worker; statements carry padding of
varied sizes so that a statement spans several reads; each answer must be its own."""

import os
import random
import ssl
import struct

import pytest

from harness import rawproto, timing
from harness.mariadb import NATIVE
from test_relay_pass_end import run_sessions

SIZES = [0, 1, 200, 4000, 70000, 300000]
PADS = [0, 10, 3000, 70000, 200000]
SESSIONS = 12
ROUNDS = 6
PIPELINE = 3


def tls_login(gw):
    """A raw connection whose client leg is TLS (SSLRequest, then the handshake response)."""
    c = rawproto.RawConn(gw.host, gw.port, timing.bound(60))
    _, g = c.read_greeting()
    caps = rawproto.DEFAULT_CAPS | rawproto.CLIENT_SSL
    c.send_packet(struct.pack("<IIB23x", caps, 1 << 24, 45), 1)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    c.sock = ctx.wrap_socket(c.sock)
    c.send_packet(rawproto.handshake_response(NATIVE[0], NATIVE[1], g["salt"], caps=caps), 2)
    _, payload = c.read_packet()
    assert payload[:1] == b"\x00", payload[:200]
    return c


KINDS = ["plain", "zlib frames sent as is", "zlib frames compressed", "TLS"]


def mixed_sessions(kinds):
    """open_session for run_sessions: session k is of kind k % kinds (KINDS)."""
    def open_session(gw, k):
        kind = k % kinds
        if kind == 3:
            c = tls_login(gw)
        elif kind == 0:
            c, _ = rawproto.login(gw.host, gw.port, *NATIVE, timeout=timing.bound(60))
        else:
            c = rawproto.ZConn(gw.host, gw.port, *NATIVE, timeout=timing.bound(60))
        if kind in (0, 3):
            return c, c.send_raw, KINDS[kind]
        return c, lambda data: c.send_frames([rawproto.zframe(data, 0, compress=kind == 2)]), KINDS[kind]
    return open_session


def run(gw, seed, kinds=3):
    run_sessions(gw, seed, mixed_sessions(kinds), sizes=SIZES, pads=PADS, sessions=SESSIONS, rounds=ROUNDS)


@pytest.mark.gateway_only
@pytest.mark.parametrize("backend", ["off", "zlib"])
def test_mixed_legs_each_answer_is_its_own(gateway_factory, backend):
    cfg = {"workers": 1}
    if backend != "off":
        cfg["backends"] = {"compression": backend}
    gw = gateway_factory(cfg)
    seed = int(os.environ.get("IG_SEED") or random.randrange(1 << 30))
    print("IG_SEED=%d" % seed)
    run(gw, seed)
    assert gw.alive()


@pytest.mark.gateway_only
def test_tls_and_plain_clients_share_the_pass(gateway_factory, certs):
    """TLS plaintext (w->pbuf, right after w->reads in the worker) is relayed at once while
    plain sessions' bytes wait in w->reads: neither may take the other's."""
    gw = gateway_factory({"workers": 1, "client_tls": {"cert": certs.server_cert, "key": certs.server_key,
                                                      "ca": certs.ca}})
    seed = int(os.environ.get("IG_SEED") or random.randrange(1 << 30))
    print("IG_SEED=%d" % seed)
    run(gw, seed, kinds=4)
    assert gw.alive()
