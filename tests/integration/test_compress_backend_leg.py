"""The compressed protocol on each leg on its own (issue 18): backends.compression makes the
gateway ask the backend for it, whatever the client's leg does. Every combination of a
plain or compressed client leg with a plain or zlib backend leg (MariaDB offers zlib only)
runs the protocol paths igclient drives - a big result set, LOAD DATA LOCAL INFILE (re-framed
in 1020-byte pieces), long data, a cursor, COM_CHANGE_USER, a 20 MB query and a relayed
COM_STMT_EXECUTE of 17 MB (its later packets numbered 0 by a compressed libmariadb) - and
prints what the same steps print directly; MariaDB's session status says which legs it
compressed, and its general log what it received. TLS on both legs with both compressed.
zstd on the backend leg: MariaDB does not offer it, so the leg falls back to plain, said once
(the framing itself is unit-tested: tests/unit/proxycore/test_zproto.c; the numbering with a
server that sends every packet id 0 is tests/integration/test_compress_backend_zstd.py)."""

import hashlib
import subprocess

import pytest

from harness import clients
from harness.mariadb import NATIVE

CLIENT = [False, True]
BACKEND = ["off", "zlib"]


def _overrides(backend, extra=None):
    o = {"backends": {"compression": backend} if backend != "off" else {}}  # off: the default
    for k, v in (extra or {}).items():
        if k == "backends":
            o["backends"].update(v)
        else:
            o[k] = v
    return o


def _cli(target, sql, compress, extra=()):
    args = ["mariadb", "-h", target.host, "-P", str(target.port), "-u", NATIVE[0], "-p" + NATIVE[1],
            "--batch", "--raw"] + list(extra) + ["-e", sql, "igtest"]
    if compress:
        args.insert(1, "--compress")
    r = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize("backend", BACKEND)
@pytest.mark.parametrize("client_compress", CLIENT, ids=["client-plain", "client-zlib"])
def test_each_leg_compressed_on_its_own(gateway_factory, backend, client_compress):
    """The server's Compression status is the backend leg's; the client's `status` line its
    own leg's."""
    gw = gateway_factory(_overrides(backend))
    got = _cli(gw, "SHOW SESSION STATUS LIKE 'Compression'", client_compress)
    assert got == "Variable_name\tValue\nCompression\t%s\n" % ("ON" if backend == "zlib" else "OFF")
    r = subprocess.run(["mariadb"] + (["--compress"] if client_compress else []) +
                       ["-h", gw.host, "-P", str(gw.port), "-u", NATIVE[0], "-p" + NATIVE[1], "-e", "status"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ("Protocol:\t\tCompressed" in r.stdout) == client_compress, r.stdout


@pytest.mark.parametrize("backend", BACKEND)
@pytest.mark.parametrize("client_compress", CLIENT, ids=["client-plain", "client-zlib"])
def test_big_result_set_matches_direct(gateway_factory, mariadb, backend, client_compress):
    """Results spanning many frames on either leg (over 1 MiB, single values of 3 MB)."""
    gw = gateway_factory(_overrides(backend))
    sql = ("SELECT seq, REPEAT(CHAR(65 + seq % 26), seq % 300), MD5(seq) FROM seq_1_to_20000; "
           "SELECT LENGTH(REPEAT('x', 3000000)), REPEAT('ab', 700000) LIKE 'abab%'")
    direct = _cli(mariadb, sql, False)
    assert len(direct) > 1 << 20
    assert _cli(gw, sql, client_compress) == direct


def _steps(tmp_path, table):
    data = tmp_path / "rows.csv"
    data.write_text("".join("%d,row %d\n" % (i, i) for i in range(1, 50001)))
    return ["query", "CREATE OR REPLACE TABLE igtest.%s (n INT, s VARCHAR(40))" % table,
            "query", "LOAD DATA LOCAL INFILE '%s' INTO TABLE igtest.%s FIELDS TERMINATED BY ','" % (data, table),
            "query", "SELECT COUNT(*), SUM(n), MD5(GROUP_CONCAT(s ORDER BY n)) FROM igtest.%s" % table,
            "query", "SELECT seq, REPEAT('r', seq % 700) FROM seq_1_to_30000",
            "stmt", "SELECT ? + 1, REPEAT(?, 1000)", "i:41", "s:ab",
            "cursor", "7", "SELECT seq FROM seq_1_to_50 WHERE seq > ?", "i:10",
            "stmt", "SELECT LENGTH(?)", "L:3000000:65536",
            "bigquery", "20000000",
            "query", "CREATE OR REPLACE TABLE igtest.%s_big (b LONGBLOB)" % table,
            "stmt", "INSERT INTO igtest.%s_big VALUES (?)" % table, "B:17000000",
            "query", "SELECT LENGTH(b), MD5(b) FROM igtest.%s_big" % table,
            "reset",
            "changeuser", "igother", "otherpw", "igtest2",
            "query", "SELECT CURRENT_USER(), DATABASE()"]


@pytest.mark.parametrize("backend", BACKEND)
@pytest.mark.parametrize("client_compress", CLIENT, ids=["client-plain", "client-zlib"])
def test_protocol_paths_on_every_leg_combination(gateway_factory, igclient_bin, mariadb, tmp_path, backend,
                                                 client_compress):
    """What igclient prints through the gateway is what it prints directly; the 17 MB
    COM_STMT_EXECUTE (three packets; a compressed libmariadb numbers the later ones 0) reached
    MariaDB once and whole."""
    gw = gateway_factory(_overrides(backend))
    table = "zl_%s_%s" % ("c" if client_compress else "p", backend)
    opts = ["--local-infile"] + (["--compress"] if client_compress else [])
    steps = _steps(tmp_path, table)
    direct = clients.igclient(igclient_bin, mariadb, *NATIVE, steps, db="igtest", opts=opts, timeout=600)
    assert direct.rc == 0, direct.out + direct.err
    off = mariadb.general_log_offset()
    through = clients.igclient(igclient_bin, gw, *NATIVE, steps, db="igtest", opts=opts, timeout=600)
    assert through.rc == 0, through.out + through.err + gw.stderr_text()[-3000:]
    strip = lambda r: [l for l in r.lines() if not l.startswith("connected ")]  # noqa: E731
    assert strip(through) == strip(direct)
    res = through.results()
    assert ["50000", "1250025000"] == res[0][0][:2]
    want_md5 = hashlib.md5(clients.pattern_bytes(17000000)).hexdigest()
    assert [["17000000", want_md5]] in res, res
    log = mariadb.general_log_since(off)
    assert log.count("Execute\tINSERT INTO igtest.%s_big VALUES" % table) == 1
    assert "Got packets out of order" not in log


@pytest.mark.parametrize("client_compress", CLIENT, ids=["client-plain", "client-zlib"])
def test_tls_on_both_legs_with_a_compressed_backend_leg(gateway_factory, igclient_bin, certs, tmp_path,
                                                       client_compress):
    """TLS below the frames on both legs: the same paths, LOCAL INFILE included."""
    extra = {"backends": {"tls": {"mode": "verify", "ca": certs.ca}},
             "client_tls": {"cert": certs.server_cert, "key": certs.server_key, "ca": certs.ca}}
    gw = gateway_factory(_overrides("zlib", extra))
    opts = ["--local-infile", "--ssl", "--ssl-ca", certs.ca] + (["--compress"] if client_compress else [])
    steps = _steps(tmp_path, "zl_tls_%s" % ("c" if client_compress else "p"))
    steps += ["query", "SHOW SESSION STATUS WHERE Variable_name IN ('Compression', 'Ssl_version')"]
    r = clients.igclient(igclient_bin, gw, *NATIVE, steps, db="igtest", opts=opts, timeout=600)
    assert r.rc == 0, r.out + r.err
    res = r.results()
    assert ["50000", "1250025000"] == res[0][0][:2]
    status = dict((row[0], row[1]) for row in res[-1])
    assert status["Compression"] == "ON"
    assert status["Ssl_version"].startswith("TLS"), status


def test_zstd_backend_leg_falls_back_when_mariadb_does_not_offer_it(gateway_factory, mariadb):
    """MariaDB offers CLIENT_COMPRESS only: backends.compression zstd leaves the leg plain,
    sessions work, and the gateway says so once, not per session."""
    gw = gateway_factory(_overrides("zstd"))
    for compress in (False, True):
        got = _cli(gw, "SHOW SESSION STATUS LIKE 'Compression'", compress)
        assert got == "Variable_name\tValue\nCompression\tOFF\n"
    assert _cli(gw, "SELECT 41 + 1", True) == "41 + 1\n42\n"
    assert gw.stderr_text().count("backends.compression: backend") == 1, gw.stderr_text()
