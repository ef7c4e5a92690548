"""test_verdict_session_state.py - an unqualified IMPORT INTO is decided against the database
and user the SERVER has, whatever way the client changed them.

The gateway used to track the session's database and user by watching the traffic, and each
of these left it believing the old database while TiDB had switched (tests/tidb_double/
FACTS.md section 8 has TiDB's behaviour with sources):
- a USE inside a batch that only reads as a USE under NO_BACKSLASH_ESCAPES, the mode set in a
  way the gateway does not follow (inside an executable comment, or computed with CONCAT);
- COM_RESET_CONNECTION: TiDB opens a new session and re-runs `use` with the database of the
  handshake / last COM_INIT_DB / COM_CHANGE_USER (not the last USE statement);
- a database from the handshake or COM_INIT_DB with a backquote: TiDB runs
  "use `" + name + "`", so ``shop`#`` selects `shop`;
- COM_CHANGE_USER read differently: a plugin name of 64 bytes or more, a packet of 16 MiB and
  more, a client without CLIENT_SECURE_CONNECTION (TiDB reads a length byte anyway).
In every case the final `IMPORT INTO orders FROM 's3://b/x.csv'`, on the covered `shop`, must
be refused with 8173, and nothing import-like may reach the backend. Each has a positive
control (the same steps ending in the uncovered `stage`: the import passes with
DISABLE_PRECHECK added), so the tests can fail, and a check that the server really is in the
database the scenario claims (SELECT DATABASE() and the double's record of session commands).

Backends: the TiDB double for TiDB-only behaviour (useDB's quoting, COM_RESET_CONNECTION's
database, handleChangeUser's reading); MariaDB for the NO_BACKSLASH_ESCAPES batch, which it
reads as TiDB does. Clients: a raw-socket client (packets built here) for every shape no
library sends."""

import struct

import pymysql
import pytest

from harness import mariadb as mariadb_mod
from harness import rawproto
from harness.rawproto import lenenc
from policy_helpers import (PRECHECK, USERS, Received, double, etcd,  # noqa: F401
                            policy_gw, rule, state)
from mariadb_verdict import queries_since  # noqa: E402

pytestmark = [pytest.mark.gateway_only]

IMPORT = "IMPORT INTO orders FROM 's3://b/x.csv'"
ADDED = " WITH DISABLE_PRECHECK"
COVERED, UNCOVERED = "shop", "stage"
NATIVE = "mysql_native_password"

COM_INIT_DB, COM_QUERY, COM_CHANGE_USER, COM_RESET_CONNECTION = 0x02, 0x03, 0x11, 0x1f
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_PLUGIN_AUTH_LENENC = 1 << 21
BASE_CAPS = (rawproto.CLIENT_LONG_PASSWORD | rawproto.CLIENT_PROTOCOL_41 |
             rawproto.CLIENT_TRANSACTIONS | rawproto.CLIENT_SECURE_CONNECTION |
             rawproto.CLIENT_MULTI_RESULTS | rawproto.CLIENT_PLUGIN_AUTH | CLIENT_MULTI_STATEMENTS)
MORE_RESULTS = 0x0008
MAX_PAYLOAD = 0xFFFFFF


# ---------------------------------------------------------------- a raw client


class Raw:
    """A client that builds every packet itself: handshake with any capabilities and a raw
    database name, COM_INIT_DB / COM_RESET_CONNECTION / COM_CHANGE_USER of any shape (split
    at 16 MiB like any packet), text queries (multi-statement, classic EOF)."""

    def __init__(self, gw, user="root", password=None, db=None, caps=BASE_CAPS):
        self.password = USERS[user] if password is None else password
        self.caps = caps | (rawproto.CLIENT_CONNECT_WITH_DB if db is not None else 0)
        self.c = rawproto.RawConn(gw.host, gw.port, timeout=30)
        _, g = self.c.read_greeting()
        self.salt = g["salt"]
        auth = rawproto.native_scramble(self.password, self.salt)
        body = struct.pack("<IIB23x", self.caps, 1 << 30, 45) + user.encode() + b"\0"
        if self.caps & rawproto.CLIENT_SECURE_CONNECTION:
            body += bytes([len(auth)]) + auth
        else:
            assert b"\0" not in auth
            body += auth + b"\0"
        if db is not None:
            body += (db.encode() if isinstance(db, str) else db) + b"\0"
        if self.caps & rawproto.CLIENT_PLUGIN_AUTH:
            body += NATIVE.encode() + b"\0"
        self.write(body, 1)
        self.answer = self.auth_loop()

    def close(self):
        try:
            self.write(b"\x01", 0)
        except OSError:
            pass
        self.c.close()

    def write(self, payload, seq):
        """One logical packet: 16 MiB - 1 chunks, then a shorter (maybe empty) one."""
        pos = 0
        while True:
            chunk = payload[pos:pos + MAX_PAYLOAD]
            self.c.send_packet(chunk, seq)
            seq += 1
            pos += len(chunk)
            if len(chunk) < MAX_PAYLOAD:
                return seq

    def read(self):
        seq, p = self.c.read_packet()
        self.seq = seq
        return p

    def auth_loop(self):
        """Until OK or ERR, answering AuthSwitchRequests with mysql_native_password."""
        while True:
            p = self.read()
            if p[:1] == b"\xfe" and len(p) > 1:
                end = p.index(b"\0", 1)
                assert p[1:end].decode() == NATIVE, p[:80]
                salt = p[end + 1:].rstrip(b"\0")
                self.c.send_packet(rawproto.native_scramble(self.password, salt), self.seq + 1)
                continue
            return outcome(p)

    def command(self, payload):
        self.write(payload, 0)
        return outcome(self.read())

    def init_db(self, name):
        return self.command(bytes([COM_INIT_DB]) + (name.encode() if isinstance(name, str) else name))

    def reset(self):
        return self.command(bytes([COM_RESET_CONNECTION]))

    def change_user(self, body, password=None):
        """Sends a COM_CHANGE_USER payload (command byte included); the answer after any
        auth switch."""
        if password is not None:
            self.password = password
        self.write(body, 0)
        return self.auth_loop()

    def query(self, sql):
        """Every result of a text query: ("ok",), ("rows", [[str|None]]) or ("error", code,
        message); stops at an error as the server does."""
        self.write(bytes([COM_QUERY]) + (sql.encode() if isinstance(sql, str) else sql), 0)
        results = []
        while True:
            p = self.read()
            if p[:1] in (b"\x00", b"\xff"):
                res = outcome(p)
                results.append(res)
                if res[0] == "error" or not ok_status(p) & MORE_RESULTS:
                    return results
                continue
            ncols = p[0]
            for _ in range(ncols):
                self.read()
            assert self.read()[:1] == b"\xfe"  # EOF after the column definitions
            rows = []
            while True:
                p = self.read()
                if p[:1] == b"\xfe" and len(p) < 9:
                    results.append(("rows", rows))
                    if not struct.unpack_from("<H", p, 3)[0] & MORE_RESULTS:
                        return results
                    break
                if p[:1] == b"\xff":
                    results.append(outcome(p))
                    return results
                rows.append(text_row(p))


def ok_status(p):
    _, pos = lenenc(p, 1)
    _, pos = lenenc(p, pos)
    return struct.unpack_from("<H", p, pos)[0]


def text_row(p):
    out, pos = [], 0
    while pos < len(p):
        if p[pos] == 0xfb:
            out.append(None)
            pos += 1
            continue
        n, pos = lenenc(p, pos)
        out.append(p[pos:pos + n].decode("utf-8", "replace"))
        pos += n
    return out


def outcome(p):
    if p[:1] == b"\x00":
        return ("ok",)
    if p[:1] == b"\xff":
        code = struct.unpack_from("<H", p, 1)[0]
        msg = p[3:]
        if msg[:1] == b"#":
            msg = msg[6:]
        return ("error", code, msg.decode("utf-8", "replace"))
    raise AssertionError("unexpected packet %r" % p[:40])


def change_user_body(user, auth=b"", db=b"", charset=45, plugin=NATIVE.encode(), tail=b"",
                     secure=True):
    """A COM_CHANGE_USER payload. secure=False: the auth data NUL-terminated, as a client
    without CLIENT_SECURE_CONNECTION sends it (TiDB reads a length byte all the same)."""
    body = bytes([COM_CHANGE_USER]) + user.encode() + b"\0"
    body += (bytes([len(auth)]) + auth) if secure else (auth + b"\0")
    body += db + b"\0" + struct.pack("<H", charset) + plugin + b"\0" + tail
    return body


# ---------------------------------------------------------------- assertions


def database(r):
    res = r.query("SELECT DATABASE()")
    assert res[0][0] == "rows", res
    return res[0][1][0][0]


def assert_refused(r, rx, sql=IMPORT):
    res = r.query(sql)
    assert res[-1][0] == "error" and res[-1][1] == PRECHECK, res
    assert rx.imports() == [], "an import reached the backend: %r" % rx.imports()


def assert_passes(r, rx, sql=IMPORT):
    """The positive control: the import goes through, DISABLE_PRECHECK added by the gateway."""
    res = r.query(sql)
    assert res[-1][0] == "rows", res
    assert rx.imports() == [sql + ADDED], rx.imports()


def last_command(double, cmd):
    cmds = [c for c in double.state.commands if c["cmd"] == cmd]
    assert cmds, "the double saw no %s" % cmd
    return cmds[-1]


@pytest.fixture
def covered(state):
    state.task("pitr_shop", ["shop.*"])


# ---------------------------------------------------------------- NO_BACKSLASH_ESCAPES


# Ways to set the mode that a traffic watcher does not follow: computed, or inside an
# executable comment, or as one assignment among others.
NBE_SETS = [
    "/*!40101 SET @@session.sql_mode='NO_BACKSLASH_ESCAPES' */",
    "SET @@session.sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
    "SET @x = 1, sql_mode = 'NO_BACKSLASH_ESCAPES'",
]


def nbe_use(db):
    """A USE only under NO_BACKSLASH_ESCAPES; with escapes on it is one string literal."""
    return "SELECT 'x\\'; USE %s; -- '" % db


@pytest.mark.tidb_double
@pytest.mark.parametrize("mode_sql", NBE_SETS)
@pytest.mark.parametrize("together", [False, True], ids=["use-then-import", "one-batch"])
def test_use_under_no_backslash_escapes(policy_gw, double, covered, mode_sql, together):
    gw = policy_gw()
    r = Raw(gw, db=UNCOVERED)
    try:
        assert r.query(mode_sql)[-1] == ("ok",)
        rx = Received(double)
        if together:
            assert_refused(r, rx, "SELECT 'x\\'; USE shop; %s; -- '" % IMPORT)
        else:
            assert [x[0] for x in r.query(nbe_use(COVERED))] == ["rows", "ok"]
            assert database(r) == COVERED
            assert_refused(r, rx)
    finally:
        r.close()


@pytest.mark.tidb_double
def test_use_under_no_backslash_escapes_control(policy_gw, double, covered):
    gw = policy_gw()
    r = Raw(gw, db=COVERED)
    try:
        assert r.query(NBE_SETS[0])[-1] == ("ok",)
        assert [x[0] for x in r.query(nbe_use(UNCOVERED))] == ["rows", "ok"]
        assert database(r) == UNCOVERED
        assert_passes(r, Received(double))
    finally:
        r.close()


# MariaDB reads a USE under NO_BACKSLASH_ESCAPES as TiDB does: the same attack, real server.

@pytest.fixture
def mgw(gateway_factory, etcd):
    return gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                            "backends": {"tidb_version": "v8.5.0"}})


@pytest.mark.parametrize("target,refused", [("igtest", True), ("igtest2", False)],
                         ids=["covered", "control"])
def test_use_under_no_backslash_escapes_mariadb(mgw, mariadb, state, target, refused):
    state.task("pitr_igtest", ["igtest.*"])
    start = "igtest2" if refused else "igtest"
    c = pymysql.connect(host=mgw.host, port=mgw.port, user=mariadb_mod.NATIVE[0],
                        password=mariadb_mod.NATIVE[1], database=start, autocommit=True,
                        client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS,
                        connect_timeout=10, read_timeout=30)
    try:
        with c.cursor() as cur:
            cur.execute(NBE_SETS[0])
            cur.execute(nbe_use(target))
            while cur.nextset():
                pass
            cur.execute("SELECT DATABASE()")
            assert cur.fetchone()[0] == target
        off = mariadb.general_log_offset()
        with pytest.raises(pymysql.err.MySQLError) as ei:
            with c.cursor() as cur:
                cur.execute("IMPORT INTO seq FROM 's3://b/x.csv'")
        reached = [q for q in queries_since(mariadb, off) if "IMPORT" in q.upper()]
        if refused:
            assert ei.value.args[0] == PRECHECK, ei.value.args
            assert reached == [], reached
        else:
            # MariaDB has no IMPORT INTO: it reached the server and failed there.
            assert ei.value.args[0] == 1064, ei.value.args
            assert reached == ["IMPORT INTO seq FROM 's3://b/x.csv'" + ADDED], reached
    finally:
        c.close()


# ---------------------------------------------------------------- COM_RESET_CONNECTION


@pytest.mark.tidb_double
def test_reset_connection_returns_to_init_db(policy_gw, double, covered):
    """Handshake `stage`, COM_INIT_DB `shop`, USE `stage`: the session is in stage, but
    COM_RESET_CONNECTION takes TiDB back to shop (the last COM_INIT_DB), not to stage."""
    gw = policy_gw()
    r = Raw(gw, db=UNCOVERED)
    try:
        assert r.init_db(COVERED) == ("ok",)
        assert r.query("USE stage") == [("ok",)]
        assert database(r) == UNCOVERED
        assert r.reset() == ("ok",)
        assert last_command(double, "reset_connection")["db"] == COVERED
        assert database(r) == COVERED
        assert_refused(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
def test_reset_connection_returns_to_handshake_db(policy_gw, double, covered):
    gw = policy_gw()
    r = Raw(gw, db=COVERED)
    try:
        assert r.query("USE stage") == [("ok",)]
        assert r.reset() == ("ok",)
        assert database(r) == COVERED
        assert_refused(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
def test_reset_connection_control(policy_gw, double, covered):
    gw = policy_gw()
    r = Raw(gw, db=COVERED)
    try:
        assert r.init_db(UNCOVERED) == ("ok",)
        assert r.query("USE shop") == [("ok",)]
        assert r.reset() == ("ok",)
        assert database(r) == UNCOVERED
        assert_passes(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
def test_reset_connection_clears_sql_mode(policy_gw, double, covered):
    """After the reset the session's sql_mode is the global one again: the same batch that
    was one string literal under NO_BACKSLASH_ESCAPES... is read with escapes on."""
    gw = policy_gw()
    r = Raw(gw, db=UNCOVERED)
    try:
        assert r.query(NBE_SETS[0])[-1] == ("ok",)
        assert r.reset() == ("ok",)
        res = r.query("SELECT @@session.sql_mode")
        assert "NO_BACKSLASH_ESCAPES" not in res[0][1][0][0]
        # With escapes on, this is one SELECT of one string: no USE, still stage.
        assert [x[0] for x in r.query(nbe_use(COVERED))] == ["rows"]
        assert database(r) == UNCOVERED
        assert_passes(r, Received(double))
    finally:
        r.close()


# ---------------------------------------------------------------- backquotes in a db name


BACKQUOTE_NAMES = ["shop`#", "shop` -- x", "shop`;use `stage", "shop`/* x */#"]


@pytest.mark.tidb_double
@pytest.mark.parametrize("name", BACKQUOTE_NAMES)
def test_handshake_db_with_backquote(policy_gw, double, covered, name):
    gw = policy_gw()
    r = Raw(gw, db=name)
    try:
        assert r.answer == ("ok",), r.answer
        assert database(r) == COVERED
        assert_refused(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
@pytest.mark.parametrize("name", BACKQUOTE_NAMES)
def test_init_db_with_backquote(policy_gw, double, covered, name):
    gw = policy_gw()
    r = Raw(gw, db=UNCOVERED)
    try:
        assert r.init_db(name) == ("ok",)
        assert last_command(double, "init_db")["db"] == COVERED
        assert database(r) == COVERED
        assert_refused(r, Received(double))
        # And a reset re-runs the same text: shop again.
        assert r.reset() == ("ok",)
        assert database(r) == COVERED
        assert_refused(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
def test_init_db_with_backquote_control(policy_gw, double, covered):
    gw = policy_gw()
    r = Raw(gw, db=COVERED)
    try:
        assert r.init_db("stage`#") == ("ok",)
        assert database(r) == UNCOVERED
        assert_passes(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
def test_init_db_doubled_backquote_is_one_name(policy_gw, double, covered):
    """``a``b`` is the name a`b (TiDB: "use `a``b`"): neither shop nor stage; the import
    is not decided for shop (the double has every database)."""
    gw = policy_gw()
    r = Raw(gw, db=COVERED)
    try:
        assert r.init_db("sh``op") == ("ok",)
        assert database(r) == "sh`op"
        rx = Received(double)
        res = r.query(IMPORT)
        assert res[-1][0] == "rows", res
        assert rx.imports() == [IMPORT + ADDED]
    finally:
        r.close()


# ---------------------------------------------------------------- COM_CHANGE_USER


def _long_plugin(n):
    return ("x" * n).encode()


CHANGE_USER_SHAPES = {
    # A plugin name of 64 bytes or more: TiDB reads any length (then switches to the
    # user's plugin).
    "plugin-64": lambda: dict(plugin=_long_plugin(64)),
    "plugin-300": lambda: dict(plugin=_long_plugin(300)),
    # Over 16 MiB, in two packets: connection attributes TiDB ignores.
    "16MiB-attrs": lambda: dict(tail=b"\xfe" + (MAX_PAYLOAD + 100).to_bytes(8, "little")
                                + b"a" * (MAX_PAYLOAD + 100)),
    # Over 16 MiB: the plugin name itself.
    "16MiB-plugin": lambda: dict(plugin=_long_plugin(MAX_PAYLOAD + 10)),
}


@pytest.mark.tidb_double
@pytest.mark.parametrize("shape", list(CHANGE_USER_SHAPES))
def test_change_user_shapes(policy_gw, double, covered, shape):
    gw = policy_gw()
    r = Raw(gw, db=UNCOVERED)
    try:
        ans = r.change_user(change_user_body("root", db=COVERED.encode(),
                                             **CHANGE_USER_SHAPES[shape]()))
        assert ans == ("ok",), ans
        assert last_command(double, "change_user")["db"] == COVERED
        assert database(r) == COVERED
        assert_refused(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
@pytest.mark.parametrize("shape", ["plugin-300", "16MiB-attrs"])
def test_change_user_shapes_control(policy_gw, double, covered, shape):
    gw = policy_gw()
    r = Raw(gw, db=COVERED)
    try:
        ans = r.change_user(change_user_body("root", db=UNCOVERED.encode(),
                                             **CHANGE_USER_SHAPES[shape]()))
        assert ans == ("ok",), ans
        assert database(r) == UNCOVERED
        assert_passes(r, Received(double))
    finally:
        r.close()


NO_SECURE = BASE_CAPS & ~rawproto.CLIENT_SECURE_CONNECTION


@pytest.mark.tidb_double
def test_change_user_without_secure_connection(policy_gw, double, covered):
    """A client without CLIENT_SECURE_CONNECTION. After the user: "\\x05stage" "shop\\0"
    "stage\\0". TiDB reads a length byte (5): auth "stage", database "shop", then "st" as the
    charset and "age" as the plugin (so it switches auth). Read up to a NUL the auth would be
    "\\x05stageshop" and the database "stage"."""
    gw = policy_gw()
    r = Raw(gw, db=UNCOVERED, caps=NO_SECURE)
    try:
        assert r.answer == ("ok",), r.answer
        body = bytes([COM_CHANGE_USER]) + b"root\0" + b"\x05stage" + b"shop\0" + b"stage\0"
        ans = r.change_user(body)
        assert ans == ("ok",), ans
        assert last_command(double, "change_user")["db"] == COVERED
        assert database(r) == COVERED
        assert_refused(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
def test_change_user_without_secure_connection_control(policy_gw, double, covered):
    """The mirror: TiDB's reading gives stage, the NUL reading would give shop."""
    gw = policy_gw()
    r = Raw(gw, db=COVERED, caps=NO_SECURE)
    try:
        body = bytes([COM_CHANGE_USER]) + b"root\0" + b"\x04shop" + b"stage\0" + b"shop\0"
        assert r.change_user(body) == ("ok",)
        assert database(r) == UNCOVERED
        assert_passes(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
def test_change_user_lenenc_client_data_flag(policy_gw, double, covered):
    """CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA changes nothing in TiDB's reading either: a
    0xfc-prefixed length is one length byte (252) for TiDB."""
    gw = policy_gw()
    r = Raw(gw, db=UNCOVERED, caps=BASE_CAPS | CLIENT_PLUGIN_AUTH_LENENC)
    try:
        # TiDB: 0xfc is a length (252): "\x00\x01" and the 250 "a" are the auth data, then
        # the database "shop", charset, plugin "zz". As lenenc, 0xfc 0x00 0x01 is 256 bytes.
        body = (bytes([COM_CHANGE_USER]) + b"root\0" + b"\xfc\x00\x01" + b"a" * 250
                + b"shop\0" + b"\x2d\x00" + b"zz\0")
        assert r.change_user(body) == ("ok",)
        assert database(r) == COVERED
        assert_refused(r, Received(double))
    finally:
        r.close()


# The user matters as much as the database: rules match users.

@pytest.mark.tidb_double
@pytest.mark.parametrize("shape", ["plugin-300", "16MiB-attrs"])
def test_change_user_to_user_without_rule(policy_gw, double, covered, shape):
    """etl_loader may import into shop (rule, not-needed); after a COM_CHANGE_USER to root
    that an old reading lost, the import is root's and no rule allows it."""
    gw = policy_gw({"rules": [rule("etl", users="etl_loader", log_backup="not-needed")]})
    r = Raw(gw, user="etl_loader", db=COVERED)
    try:
        ans = r.change_user(change_user_body("root", db=COVERED.encode(),
                                             **CHANGE_USER_SHAPES[shape]()), password="")
        assert ans == ("ok",), ans
        assert last_command(double, "change_user")["user"] == "root"
        assert_refused(r, Received(double))
    finally:
        r.close()


@pytest.mark.tidb_double
def test_change_user_to_user_with_rule_control(policy_gw, double, covered):
    gw = policy_gw({"rules": [rule("etl", users="etl_loader", log_backup="not-needed")]})
    r = Raw(gw, user="root", db=COVERED)
    try:
        password = USERS["etl_loader"]
        auth = rawproto.native_scramble(password, r.salt)
        ans = r.change_user(change_user_body("etl_loader", auth=auth, db=COVERED.encode(),
                                             plugin=_long_plugin(300)), password=password)
        assert ans == ("ok",), ans
        assert_passes(r, Received(double))
    finally:
        r.close()
