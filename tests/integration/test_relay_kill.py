"""KILL through the gateway: the killer reads the server's OK only after the killed
connection has ended, as from MariaDB itself (which shuts the connection inside KILL).

Through a relay the OK travels one session and the close another, possibly another worker's;
MariaDB's mysql_client_test test_bug17512527 (KILL from a second connection, then a prepare on
the first, which libmariadb reconnects only when its write fails) failed about 1 run in 20
under load because the client could still write to the killed connection. Here a relay
between the gateway and MariaDB holds the server's close of each connection until the test
releases it: the gateway's session of the killed connection cannot end before then, which
makes the race certain instead of rare."""

import socket
import threading

import pymysql
import pytest

from harness import clients, timing
from harness.mariadb import NATIVE

pytestmark = pytest.mark.gateway_only


class CloseHoldingRelay:
    """Bytes pass both ways at once; when the server closes a connection, the close is passed
    on to the gateway only after release() (server_closed is set when the first one comes)."""

    def __init__(self, target):
        self.target = target
        self.server_closed = threading.Event()
        self.released = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))  # held from here on: no other process can take it
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                down, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(down,), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    return
                dst.sendall(data)
        except OSError:
            return

    def _serve(self, down):
        up = socket.create_connection(self.target)
        threading.Thread(target=lambda: (self._pump(down, up), _shut(up)), daemon=True).start()
        self._pump(up, down)
        self.server_closed.set()
        self.released.wait(600)
        _shut(down)
        up.close()

    def release(self):
        self.released.set()

    def close(self):
        self.release()
        self.sock.close()


def _shut(s):
    try:
        s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    s.close()


@pytest.fixture
def relay(mariadb):
    r = CloseHoldingRelay((mariadb.host, mariadb.port))
    yield r
    r.close()


def _gateway(gateway_factory, relay, hold_ms):
    return gateway_factory(overrides={"timeouts": {"kill_hold_ms": hold_ms}},
                           backend=("127.0.0.1", relay.port))


def _kill_in_thread(killer, how, victim_id):
    """Runs the KILL in a thread; returns the event set once its OK has been read."""
    done = threading.Event()

    def run():
        if how == "COM_PROCESS_KILL":
            killer.kill(victim_id)  # PyMySQL sends COM_PROCESS_KILL
        else:
            clients.query_all(killer, how % victim_id)
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done


def _at_eof(conn):
    """The connection's socket has the end of the stream waiting (not just no data)."""
    sock = conn._sock
    timeout = sock.gettimeout()
    sock.settimeout(0)  # a socket with a timeout waits for data even with MSG_DONTWAIT
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    finally:
        sock.settimeout(timeout)


@pytest.mark.parametrize("how", ["KILL %d", "kill connection %d;", "KILL HARD CONNECTION %d",
                                 "COM_PROCESS_KILL"])
def test_kill_ok_comes_after_the_killed_connection_ended(gateway_factory, relay, how):
    gw = _gateway(gateway_factory, relay, 60000)
    victim = clients.connect(gw, *NATIVE)
    killer = clients.connect(gw, *NATIVE)
    done = _kill_in_thread(killer, how, victim.thread_id())
    assert relay.server_closed.wait(timing.bound(30)), "MariaDB did not close the killed connection"
    # The server has answered; the gateway cannot have seen the killed connection's end (the
    # relay holds it), so the OK waits. (Checked for a second: a slow machine can only make
    # a broken gateway pass here, never a sound one fail.)
    assert not done.wait(1.0), "the KILL's OK reached the client while the killed connection was open"
    assert not _at_eof(victim)
    relay.release()
    assert done.wait(timing.bound(30)), "the KILL's OK never came after the killed connection ended"
    assert _at_eof(victim), "the OK came before the killed connection's end"
    with pytest.raises(pymysql.err.OperationalError):
        victim.ping(reconnect=False)
    assert clients.query_one(killer, "SELECT 'killer goes on'") == ("killer goes on",)
    assert "kill_hold_ms" not in gw.stderr_text()
    killer.close()


def test_kill_ok_is_held_no_longer_than_kill_hold_ms(gateway_factory, relay):
    """A session that does not close (here: its close held by the relay) costs the OK the
    bound, not a stall; the gateway says so."""
    gw = _gateway(gateway_factory, relay, 300)
    victim = clients.connect(gw, *NATIVE)
    killer = clients.connect(gw, *NATIVE)
    vid = victim.thread_id()
    done = _kill_in_thread(killer, "KILL %d", vid)
    assert done.wait(timing.bound(30)), "the KILL's OK was held past timeouts.kill_hold_ms"
    assert not relay.released.is_set()
    assert timing.wait_for(lambda: "KILL %d: the session of that connection is still open after 300 ms" % vid
                           in gw.stderr_text(), timing.bound(10))
    assert clients.query_one(killer, "SELECT 1") == (1,)
    killer.close()


def test_kill_query_and_failed_kills_are_not_held(gateway_factory, relay, mariadb):
    """Only a KILL that ends another session of the gateway's is held: KILL QUERY leaves the
    victim usable, a KILL the server refuses is an error at once, and a KILL of a connection
    that does not come through the gateway is answered at once (a 60 s hold would show)."""
    gw = _gateway(gateway_factory, relay, 60000)
    victim = clients.connect(gw, *NATIVE)
    killer = clients.connect(gw, *NATIVE)
    clients.query_all(killer, "KILL QUERY %d" % victim.thread_id())
    assert clients.query_one(victim, "SELECT 'still here'") == ("still here",)
    with pytest.raises(pymysql.err.OperationalError) as e:
        clients.query_all(killer, "KILL 4000000000")
    assert e.value.args[0] == 1094  # ER_NO_SUCH_THREAD
    outside = pymysql.connect(host=mariadb.host, port=mariadb.port, user=NATIVE[0], password=NATIVE[1])
    done = _kill_in_thread(killer, "KILL %d", outside.thread_id())
    assert done.wait(timing.bound(10)), "a KILL of a connection outside the gateway was held"
    assert clients.query_one(victim, "SELECT 'still here'") == ("still here",)
    victim.close()
    killer.close()
