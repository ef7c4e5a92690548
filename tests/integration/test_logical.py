"""Logical-import rewrite (sqlparse/logical.c, docs/LOGICAL_IMPORT.md) against a real server.

Until the gateway performs the rewrite, the rewrite is driven through the test executable
tests/unit/logical/logical_cli (IMPORT INTO on stdin -> LOAD DATA on stdout): each test
writes a CSV file, rewrites an IMPORT INTO of it, runs the LOAD DATA on the session MariaDB
(server-side INFILE when secure_file_priv allows it, else the same statement with LOCAL:
the harness's mariadbd has secure_file_priv NULL) and
compares the table with the rows an independent Python reader gives for the file under
IMPORT INTO's CSV rules (pkg/lightning/mydump/csv_parser.go). The end-to-end variant through
the gateway (rule `log_backup: logical`, a covering task in etcd, tidb_version v8.5.0) skips
itself while the gateway still answers a LOGICAL verdict with error 8173.

What MariaDB does differently from TiDB (so the data here avoids these cases):
- MariaDB has no FIELDS DEFINED NULL BY (a TiDB extension): logical_cli --mariadb drops the
  clause when it restates MariaDB's own rule (\\N is NULL with escape \\) and refuses
  otherwise; MariaDB also reads a bare unquoted NULL word as NULL when ENCLOSED BY is set,
  where IMPORT INTO (and the TiDB LOAD DATA produced) read the text "NULL".
- MariaDB reads INFILE from the server's disk; TiDB's LOAD DATA without LOCAL reads only
  remote storage (s3://, gcs://) and refuses a server path (ErrLoadDataFromServerDisk).
- A quoted "\\N" is NULL in TiDB (the \\N check comes before the quote check), text in MariaDB.
- IMPORT INTO skips empty and blank lines; LOAD DATA (TiDB and MariaDB) turns them into rows.
- IGNORE n LINES counts lines in MariaDB and records (CSV rows) in TiDB.
"""

import os
import subprocess

import pymysql
import pytest

from harness import mariadb as mariadb_mod
from policy_helpers import PRECHECK, etcd, state  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))


def cli_path():
    env = os.environ.get("IG_LOGICAL_CLI")
    if env:
        return env
    for build in ("build", "builddir"):
        p = os.path.join(REPO, build, "tests", "unit", "logical", "logical_cli")
        if os.access(p, os.X_OK):
            return p
    return None


@pytest.fixture(scope="module")
def cli():
    p = cli_path()
    if not p:
        pytest.skip("logical_cli not built (set IG_LOGICAL_CLI or build tests/unit/logical)")
    return p


def rewrite(cli, sql, mariadb=True, nbe=False):
    args = [cli] + (["--mariadb"] if mariadb else []) + (["--no-backslash-escapes"] if nbe else [])
    r = subprocess.run(args, input=sql.encode(), capture_output=True, timeout=30)
    assert r.returncode == 0, (sql, r.returncode, r.stderr.decode())
    return r.stdout.decode().rstrip("\n")


def refusal(cli, sql):
    r = subprocess.run([cli], input=sql.encode(), capture_output=True, timeout=30)
    assert r.returncode == 2, (sql, r.stdout)
    return r.stderr.decode()


def server_reads_files(mariadb):
    """secure_file_priv: '' = any file, a directory = files there, NULL = none (then the
    tests send the same file with LOCAL INFILE, which MariaDB parses the same way; LOCAL
    also turns duplicate-key errors into warnings, which no test here relies on)."""
    (priv,) = mariadb.admin_query("SELECT @@secure_file_priv")[0]
    return priv


@pytest.fixture(scope="module")
def filedir(mariadb, tmp_path_factory):
    priv = server_reads_files(mariadb)
    d = priv if priv else str(tmp_path_factory.mktemp("logical-files"))
    os.chmod(d, 0o755)
    return d


# ---------------------------------------------------------------- IMPORT INTO's CSV rules

ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


def unescape(s, esc):
    if not esc:
        return s
    out, i = [], 0
    while i < len(s):
        if s[i] == esc and i + 1 < len(s):
            out.append(ESCAPES.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def import_into_rows(data, sep=",", quote='"', esc="\\", null="\\N", term="\n", skip=0):
    """Records of `data` (str) as IMPORT INTO reads them: fields split at sep outside quotes,
    "" inside quotes is one quote, esc escapes the next char, <esc>N (raw) is NULL, empty
    lines are skipped, then `skip` records dropped."""
    recs, fields, cur, raw_quoted = [], [], [], False
    i, inq, line_has = 0, False, False

    def end_field():
        raw = "".join(cur)
        if esc and raw == esc + "N":
            fields.append(None)
        else:
            val = unescape(raw, esc)
            fields.append(None if (val == null and not (esc and val == esc + "N")) else val)
        cur.clear()

    while i < len(data):
        c = data[i]
        if inq:
            if esc and c == esc:
                cur.append(data[i:i + 2])
                i += 2
                continue
            if data.startswith(quote, i):
                if data.startswith(quote * 2, i):
                    cur.append(quote)
                    i += 2
                    continue
                inq = False
                i += 1
                continue
            cur.append(c)
            i += 1
            continue
        if data.startswith(term, i):
            if line_has or cur:
                end_field()
                recs.append(fields)
            fields, line_has = [], False
            i += len(term)
            continue
        line_has = True
        if data.startswith(sep, i):
            end_field()
            i += len(sep)
        elif quote and data.startswith(quote, i) and not cur:
            inq, raw_quoted = True, True
            i += 1
        elif esc and c == esc:
            cur.append(data[i:i + 2])
            i += 2
        else:
            cur.append(c)
            i += 1
    if line_has or cur:
        end_field()
        recs.append(fields)
    del raw_quoted
    return [tuple(r) for r in recs[skip:]]


# ---------------------------------------------------------------- helpers


def admin_exec(mariadb, sqls, sql_mode=None):
    c = mariadb.admin(database="igtest", local_infile=True)
    try:
        with c.cursor() as cur:
            if sql_mode is not None:
                cur.execute("SET SESSION sql_mode = %s", (sql_mode,))
            for s in sqls:
                cur.execute(s)
            return cur.fetchall()
    finally:
        c.close()


def table_rows(mariadb, table, cols):
    return [tuple(r) for r in mariadb.admin_query(
        "SELECT %s FROM igtest.%s ORDER BY id" % (", ".join(cols), table))]


def write(filedir, name, data):
    p = os.path.join(filedir, name)
    with open(p, "wb") as f:
        f.write(data.encode())
    os.chmod(p, 0o644)
    return p


def fresh(mariadb, table, coldefs):
    admin_exec(mariadb, ["DROP TABLE IF EXISTS %s" % table,
                         "CREATE TABLE %s (%s)" % (table, coldefs)])


def load(mariadb, cli, sql, sql_mode=None, nbe=False):
    text = rewrite(cli, sql, nbe=nbe)
    assert text.startswith("LOAD DATA INFILE "), text
    run = text
    if server_reads_files(mariadb) is None:
        run = "LOAD DATA LOCAL INFILE " + text[len("LOAD DATA INFILE "):]
    admin_exec(mariadb, [run], sql_mode=sql_mode)
    return text


# ---------------------------------------------------------------- tests

QUOTES = ('1,"a ""quoted"" word",plain\n'
          '2,"comma, inside","back\\\\slash"\n'
          '3,\\N,"tab\\tafter"\n'
          '4,"new\nline","esc\\"quote"\n'
          '5,,""\n')


def test_quotes_escapes_nulls(cli, mariadb, filedir):
    p = write(filedir, "quotes.csv", QUOTES)
    fresh(mariadb, "lq", "id INT PRIMARY KEY, a VARCHAR(64), b VARCHAR(64)")
    sql = "IMPORT INTO igtest.lq FROM '%s' WITH LINES_TERMINATED_BY='\\n'" % p
    text = load(mariadb, cli, sql)
    assert "ESCAPED BY X'5C'" in text and "ENCLOSED BY '\"'" in text
    want = [(int(r[0]), r[1], r[2]) for r in import_into_rows(QUOTES)]
    assert want[2][1] is None and want[0][1] == 'a "quoted" word' and want[3][1] == "new\nline"
    assert table_rows(mariadb, "lq", ["id", "a", "b"]) == want


def test_crlf_and_header_skipped(cli, mariadb, filedir):
    data = "id,name,score\r\n1,alpha,10\r\n2,\"be\r\nta\",20\r\n3,gamma,\\N\r\n"
    p = write(filedir, "crlf.csv", data)
    fresh(mariadb, "lc", "id INT PRIMARY KEY, name VARCHAR(64), score INT")
    sql = ("IMPORT INTO igtest.lc FROM '%s' WITH SKIP_ROWS=1, LINES_TERMINATED_BY='\\r\\n', "
           "CHECKSUM_TABLE='required'" % p)
    text = load(mariadb, cli, sql)
    assert "IGNORE 1 LINES" in text and "CHECKSUM" not in text
    want = [(int(a), b, None if c is None else int(c))
            for a, b, c in import_into_rows(data, term="\r\n", skip=1)]
    assert want == [(1, "alpha", 10), (2, "be\r\nta", 20), (3, "gamma", None)]
    assert table_rows(mariadb, "lc", ["id", "name", "score"]) == want


def test_columns_vars_and_set(cli, mariadb, filedir):
    data = "1|Ann|3\n2|bob|4\n3|\\N|5\n"
    p = write(filedir, "vars.csv", data)
    fresh(mariadb, "lv", "id INT PRIMARY KEY, name VARCHAR(64), upper_name VARCHAR(64), doubled INT")
    sql = ("IMPORT INTO `igtest`.`lv` (id, @n, @`d d`) SET name = @n, upper_name = UPPER(@n), "
           "doubled = @`d d` * 2 FROM '%s' WITH FIELDS_TERMINATED_BY='|', LINES_TERMINATED_BY='\\n'" % p)
    text = load(mariadb, cli, sql)
    assert text.endswith(" (id, @n, @`d d`) SET name = @n, upper_name = UPPER(@n), doubled = @`d d` * 2")
    want = []
    for i, n, d in import_into_rows(data, sep="|"):
        want.append((int(i), n, None if n is None else n.upper(), int(d) * 2))
    assert table_rows(mariadb, "lv", ["id", "name", "upper_name", "doubled"]) == want


def test_same_rows_in_both_backslash_modes(cli, mariadb, filedir):
    """The produced LOAD DATA means the same in both modes: run it under each sql_mode."""
    data = "1;x\\;y;'q'\n2;\\N;a\\\\b\n"
    p = write(filedir, "modes.csv", data)
    sql = ("IMPORT INTO igtest.lm FROM '%s' WITH FIELDS_TERMINATED_BY=';', "
           "FIELDS_ENCLOSED_BY='''', LINES_TERMINATED_BY=X'0A'" % p)
    want = [(int(a), b, c) for a, b, c in import_into_rows(data, sep=";", quote="'")]
    assert want == [(1, "x;y", "q"), (2, None, "a\\b")]
    for mode, nbe in (("", False), ("NO_BACKSLASH_ESCAPES", True)):
        fresh(mariadb, "lm", "id INT PRIMARY KEY, a VARCHAR(64), b VARCHAR(64)")
        load(mariadb, cli, sql, sql_mode=mode, nbe=nbe)
        assert table_rows(mariadb, "lm", ["id", "a", "b"]) == want, mode


def test_refusals_reach_no_server(cli):
    assert "LINES_TERMINATED_BY is not set" in refusal(cli, "IMPORT INTO t FROM 's3://b/x.csv'")
    assert "DETACHED" in refusal(cli, "IMPORT INTO t FROM 's3://b/x.csv' WITH DETACHED, "
                                      "LINES_TERMINATED_BY='\\n'")
    assert "FORMAT 'parquet'" in refusal(cli, "IMPORT INTO t FROM 's3://b/x.p' FORMAT 'parquet'")


# ---------------------------------------------------------------- through the gateway


@pytest.mark.gateway_only
def test_gateway_forwards_load_data(cli, mariadb, filedir, gateway_factory, etcd, state):  # noqa: F811
    state.task("pitr", ["igtest.*"])
    gw = gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000},
                          "backends": {"tidb_version": "v8.5.0"},
                          "policy": {"rules": [{"name": "logical", "log_backup": "logical"}]}})
    p = write(filedir, "gw.csv", "1,a\n2,b\n")
    fresh(mariadb, "lg", "id INT PRIMARY KEY, a VARCHAR(8)")
    sql = "IMPORT INTO lg FROM '%s' WITH LINES_TERMINATED_BY='\\n'" % p
    expected = rewrite(cli, sql, mariadb=False)
    user, password = mariadb_mod.ADMIN
    c = pymysql.connect(host=gw.host, port=gw.port, user=user, password=password, database="igtest",
                        autocommit=True, connect_timeout=10, read_timeout=30)
    off = mariadb.general_log_offset()
    try:
        with c.cursor() as cur:
            cur.execute(sql)
        err = None
    except pymysql.err.MySQLError as e:
        err = e.args
    finally:
        c.close()
    if err and err[0] == PRECHECK and "logical" in err[1]:
        pytest.skip("the gateway does not perform the logical rewrite yet: it answers the "
                    "LOGICAL verdict with 8173 (%s)" % err[1])
    log = mariadb.general_log_since(off)
    assert expected in log, (expected, log[-2000:])
    assert sql not in log
    # MariaDB cannot parse TiDB's FIELDS DEFINED NULL BY: a syntax error is its answer
    assert err is None or err[0] == 1064, err
