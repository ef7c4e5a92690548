"""Tests of the TiDB test double itself, with real clients (PyMySQL, the
mariadb CLI, and rawclient for what those two cannot do) and a real etcd
whose state is written by clusterstate.py.

Run: /usr/bin/python3 -m pytest tests/tidb_double -q
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pymysql
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import clusterstate as cs  # noqa: E402
import importstmt  # noqa: E402
import precheck  # noqa: E402
import rawclient  # noqa: E402
import tidb_double as td  # noqa: E402

NATIVE, SHA2 = "mysql_native_password", "caching_sha2_password"
USERS = {"root": ("", NATIVE), "bob": ("bobpw", NATIVE), "alice": ("alicepw", SHA2)}
IMPORT_COLS = ["Job_ID", "Data_Source", "Target_Table", "Table_ID", "Phase", "Status",
               "Source_File_Size", "Imported_Rows", "Result_Message", "Create_Time",
               "Start_Time", "End_Time", "Created_By"]

pytestmark = pytest.mark.skipif(shutil.which("etcd") is None, reason="etcd not installed")


# ---------------------------------------------------------------------------
# fixtures
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def etcd():
    e = cs.Etcd()
    e.start()
    yield e
    e.cleanup()


@pytest.fixture(autouse=True)
def clean_etcd(request):
    if "etcd" in request.fixturenames:
        cs.clear(request.getfixturevalue("etcd").url)
    yield


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    cert, key = str(d / "cert.pem"), str(d / "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


@pytest.fixture
def make_double(tmp_path, etcd, certs):
    started = []

    def make(**kw):
        kw.setdefault("users", USERS)
        kw.setdefault("etcd", etcd.url)
        kw.setdefault("log", str(tmp_path / ("stmts%d.jsonl" % len(started))))
        kw.setdefault("job_delay", 0.15)
        if kw.pop("tls", True):
            kw.setdefault("tls_cert", certs[0])
            kw.setdefault("tls_key", certs[1])
        srv = td.start(**kw)
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def double(make_double):
    return make_double()


def connect(srv, user="root", password="", db="db1", **kw):
    return pymysql.connect(host="127.0.0.1", port=srv.port, user=user, password=password,
                           database=db, autocommit=True, **kw)


def run(srv, sql, user="root", password="", db="db1"):
    """Execute one statement with PyMySQL; (column names, rows) or raises."""
    conn = connect(srv, user, password, db)
    try:
        cur = conn.cursor()
        cur.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()
    finally:
        conn.close()


def error_of(srv, sql, **kw):
    with pytest.raises(pymysql.MySQLError) as ei:
        run(srv, sql, **kw)
    return ei.value.args[0], ei.value.args[1]


def log_lines(srv):
    with open(srv.state.cfg.log, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def mariadb(srv, *args, user="root", password=None):
    cmd = ["mariadb", "-h127.0.0.1", "-P%d" % srv.port, "-u" + user, "--batch"]
    if password:
        cmd.append("-p" + password)
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)


# ---------------------------------------------------------------------------
# authentication
# ---------------------------------------------------------------------------


def test_native_password_plain_tls_and_wrong_password(double, certs):
    assert run(double, "SELECT CURRENT_USER()", "bob", "bobpw")[1] == (("bob@%",),)
    conn = connect(double, "bob", "bobpw", ssl_ca=certs[0], ssl_verify_cert=True)
    cur = conn.cursor()
    cur.execute("SELECT 1")
    assert cur.fetchall() == ((1,),)
    conn.close()
    code, msg = error_of(double, "SELECT 1", user="bob", password="nope")
    assert code == 1045
    assert msg == "Access denied for user 'bob'@'127.0.0.1' (using password: YES)"
    code, msg = error_of(double, "SELECT 1", user="nobody", password="")
    assert (code, msg) == (1045, "Access denied for user 'nobody'@'127.0.0.1' "
                                 "(using password: NO)")
    tls_flags = [(e["sql"], e["tls"]) for e in log_lines(double)]
    assert ("SELECT 1", True) in tls_flags and ("SELECT CURRENT_USER()", False) in tls_flags


def test_caching_sha2_full_auth_rsa_then_fast_auth(make_double):
    srv = make_double(default_auth=SHA2)
    c1 = rawclient.RawClient("127.0.0.1", srv.port, "alice", "alicepw", plugin=SHA2)
    assert c1.auth_events == [4, "pubkey"]  # perform_full_authentication, RSA exchange
    c1.close()
    c2 = rawclient.RawClient("127.0.0.1", srv.port, "alice", "alicepw", plugin=SHA2)
    assert c2.auth_events == [3]  # fast_auth_success from the cache
    c2.close()
    # PyMySQL (independent implementation): fast path, then RSA after a flush.
    assert run(srv, "SELECT 7", "alice", "alicepw")[1] == ((7,),)
    srv.flush_auth_cache()
    assert run(srv, "SELECT 8", "alice", "alicepw")[1] == ((8,),)
    with pytest.raises(rawclient.ServerError) as ei:
        rawclient.RawClient("127.0.0.1", srv.port, "alice", "wrong", plugin=SHA2)
    assert ei.value.code == 1045 and ei.value.sqlstate == "28000"


def test_caching_sha2_full_auth_over_tls_sends_clear_password(make_double, certs):
    srv = make_double(default_auth=SHA2)
    c = rawclient.RawClient("127.0.0.1", srv.port, "alice", "alicepw", plugin=SHA2, tls=True)
    assert c.auth_events == [4]
    assert c.query("SELECT 1")[0].rows == [["1"]]
    c.close()
    srv.flush_auth_cache()
    conn = connect(srv, "alice", "alicepw", ssl_ca=certs[0], ssl_verify_cert=True)
    conn.close()


def test_auth_switch_both_directions(make_double):
    srv = make_double(default_auth=SHA2)
    c = rawclient.RawClient("127.0.0.1", srv.port, "bob", "bobpw", plugin=SHA2)
    assert c.auth_events == ["switch:" + NATIVE]
    c.close()
    srv2 = make_double(default_auth=NATIVE)
    c = rawclient.RawClient("127.0.0.1", srv2.port, "alice", "alicepw", plugin=NATIVE)
    assert c.auth_events[0] == "switch:" + SHA2 and c.auth_events[1] == 4
    c.close()
    assert run(srv2, "SELECT 1", "alice", "alicepw")[1] == ((1,),)
    assert run(srv, "SELECT 1", "bob", "bobpw")[1] == ((1,),)


def test_sha2_tidb_mode_never_fast_auth(make_double):
    srv = make_double(default_auth=SHA2, sha2_mode="tidb")
    for _ in range(2):
        c = rawclient.RawClient("127.0.0.1", srv.port, "alice", "alicepw", plugin=SHA2,
                                tls=True)
        assert c.auth_events == [4]
        c.close()
    with pytest.raises(rawclient.ServerError):  # no RSA key exchange in TiDB
        rawclient.RawClient("127.0.0.1", srv.port, "alice", "alicepw", plugin=SHA2)


def test_mariadb_cli_both_plugins(make_double, certs):
    srv = make_double(default_auth=SHA2)
    out = mariadb(srv, "-e", "SELECT VERSION()", user="bob", password="bobpw")
    assert out.returncode == 0 and "8.0.11-TiDB-v8.5.0" in out.stdout
    out = mariadb(srv, "--ssl", "--ssl-ca=" + certs[0], "-e", "SELECT 5",
                  user="alice", password="alicepw")
    assert out.returncode == 0, out.stderr
    # Plain TCP to a TLS-capable server: libmariadb does the RSA exchange.
    srv.flush_auth_cache()
    out = mariadb(srv, "--skip-ssl", "-e", "SELECT 6", user="alice", password="alicepw")
    assert out.returncode == 0, out.stderr
    # A greeting without CLIENT_SSL: libmariadb sends the password in clear;
    # MySQL-mode rejects it (it expects RSA) ...
    plain = make_double(default_auth=SHA2, tls=False)
    out = mariadb(plain, "-e", "SELECT 6", user="alice", password="alicepw")
    assert out.returncode == 1 and "1045" in out.stderr
    # ... and TiDB's authSha (reads the password as sent) accepts it.
    tidb = make_double(default_auth=SHA2, sha2_mode="tidb", tls=False)
    out = mariadb(tidb, "-e", "SELECT 6", user="alice", password="alicepw")
    assert out.returncode == 0, out.stderr


# ---------------------------------------------------------------------------
# protocol
# ---------------------------------------------------------------------------


def test_deprecate_eof_and_classic_eof(double):
    new = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1", deprecate_eof=True)
    res = new.query("SELECT 1, 'a'; SELECT DATABASE()")
    assert [r.terminator for r in res] == ["ok", "ok"]
    assert res[0].status & 0x0008 and not res[1].status & 0x0008
    assert res[1].rows == [["db1"]]
    old = rawclient.RawClient("127.0.0.1", double.port, "root", deprecate_eof=False)
    res = old.query("SELECT 1; SET @a = 1; SELECT CONNECTION_ID()")
    assert [r.terminator for r in res] == ["eof", None, "eof"]
    assert res[2].rows == [[str(old.conn_id)]]
    assert new.ping() and old.ping()
    new.close()
    old.close()


def test_multi_statement_split_and_log(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "bob", "bobpw", db="db1")
    res = c.query("SELECT 'a;b' AS x; /* ; */ SELECT 2 -- ;\n; USE db2; SELECT DATABASE()")
    assert [r.rows for r in res] == [[["a;b"]], [["2"]], [], [["db2"]]]
    c.close()
    entries = [e for e in log_lines(double) if e["conn"] == c.conn_id]
    assert [e["sql"] for e in entries] == ["SELECT 'a;b' AS x", "/* ; */ SELECT 2 -- ;",
                                           "USE db2", "SELECT DATABASE()"]
    assert [e["db"] for e in entries] == ["db1", "db1", "db1", "db2"]
    assert all(e["user"] == "bob" and e["cmd"] == "query" for e in entries)


def test_error_stops_multi_statement(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1")
    with pytest.raises(rawclient.ServerError) as ei:
        c.query("SELECT 1; SHOW IMPORT JOB 999; SELECT 3")
    assert ei.value.code == 8170
    assert c.ping()
    c.close()
    sqls = [e["sql"] for e in log_lines(double)]
    assert "SHOW IMPORT JOB 999" in sqls and "SELECT 3" not in sqls


def test_prepared_import_and_select(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1")
    # TiDB's grammar takes a string literal after FROM: no '?' there.
    with pytest.raises(rawclient.ServerError) as ei:
        c.prepare("IMPORT INTO t_ps FROM ? WITH thread = 4")
    assert ei.value.code == 1064
    sid, cols, nparams = c.prepare("IMPORT INTO t_ps FROM 's3://bucket/ps.csv' WITH thread = 4")
    assert cols == IMPORT_COLS and nparams == 0
    res = c.execute(sid)
    assert [col.name for col in res.columns] == IMPORT_COLS
    assert res.rows[0][0] == 1 and res.rows[0][5] == "finished" and res.rows[0][7] == 100
    c.close_stmt(sid)
    sid, cols, nparams = c.prepare("SELECT 1, ? AS p")
    assert (cols, nparams) == (["1", "p"], 1)
    assert c.execute(sid, ["it's"]).rows == [[1, "it's"]]
    c.close()
    entries = log_lines(double)
    execs = [e for e in entries if e["cmd"] == "execute"]
    assert execs[0]["sql"] == "IMPORT INTO t_ps FROM 's3://bucket/ps.csv' WITH thread = 4"
    assert execs[1]["sql"] == "SELECT 1, 'it''s' AS p"
    assert execs[1]["prepared_sql"] == "SELECT 1, ? AS p"
    assert any(e["cmd"] == "prepare" and e["sql"] == "IMPORT INTO t_ps FROM ? WITH thread = 4"
               for e in entries)


def test_script_mode_prints_ready(tmp_path, etcd):
    log = tmp_path / "script.jsonl"
    proc = subprocess.Popen([sys.executable, os.path.join(HERE, "tidb_double.py"), "--port",
                             "0", "--version", "8.0.11-TiDB-v7.5.1", "--etcd", etcd.url,
                             "--log", str(log), "--user", "u1:p1:" + NATIVE],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.fullmatch(r"READY (\d+)\n", line)
        assert m, line
        port = int(m.group(1))
        out = subprocess.run(["mariadb", "-h127.0.0.1", "-P%d" % port, "-uu1", "-pp1",
                              "--batch", "-e", "SELECT VERSION()"],
                             capture_output=True, text=True, timeout=30)
        assert "8.0.11-TiDB-v7.5.1" in out.stdout
        assert json.loads(log.read_text().splitlines()[-1])["sql"] == "SELECT VERSION()"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# ---------------------------------------------------------------------------
# IMPORT INTO options
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sql,code,msg", [
    ("IMPORT INTO t FROM 's3://b/a.csv' WITH foo = 1", 8163, "Unknown option foo"),
    ("IMPORT INTO t FROM 's3://b/a.csv' WITH DISABLE_PRECHECK = 1", 8164,
     "Invalid option value for disable_precheck"),
    ("IMPORT INTO t FROM 's3://b/a.csv' WITH thread", 8164, "Invalid option value for thread"),
    ("IMPORT INTO t FROM 's3://b/a.csv' WITH thread = 'x'", 8164,
     "Invalid option value for thread"),
    ("IMPORT INTO t FROM 's3://b/a.csv' WITH detached, DeTaChEd", 8165,
     "Option detached specified more than once"),
    ("IMPORT INTO t FROM 's3://b/a.csv' WITH thread = 2, bogus, thread = 3", 8163,
     "Unknown option bogus"),
    ("IMPORT INTO t FROM 's3://b/a.parquet' FORMAT 'parquet' WITH skip_rows = 1", 8166,
     "Unsupported option skip_rows for non-CSV format"),
    ("IMPORT INTO t FROM SELECT * FROM src WITH detached", 8166,
     "Unsupported option detached for import from query"),
    ("IMPORT INTO t FROM 's3://b/a.csv' FORMAT 'xml'", 8157, "The FORMAT 'xml' is not supported"),
    ("IMPORT INTO t FROM 's3://b/a.csv' WITH split_file, skip_rows = 2,"
     " lines_terminated_by = '\\n'", 8164,
     "Invalid option value for skip_rows, should be <= 1 when split-file is enabled"),
])
def test_option_errors(double, etcd, sql, code, msg):
    cs.put_log_backup_task(etcd.url, "pitr1")  # option errors come before the precheck
    assert error_of(double, sql) == (code, msg)


def test_disable_precheck_unknown_on_v7(make_double, etcd):
    srv = make_double(version="8.0.11-TiDB-v7.5.1")
    assert error_of(srv, "IMPORT INTO t FROM 's3://b/a.csv' WITH DISABLE_PRECHECK") == \
        (8163, "Unknown option disable_precheck")
    code, msg = error_of(srv, "IMPORT INTO t FROM SELECT 1")
    assert code == 1064  # FROM SELECT exists from v8.0
    cs.put_log_backup_task(etcd.url, "pitr1")
    assert error_of(srv, "IMPORT INTO t FROM 's3://b/a.csv'")[0] == 8173


# The option matrix per version (the gateway's policy/import_grammar.c has the same rows):
# K known, - 8163 Unknown option; per version v7.3 v7.5 v8.1 v8.5 master-like v9.0.
OPTION_MATRIX = [
    ("thread=2", "KKKKK"),
    ("__max_engine_size='1GiB'", "KKKKK"),
    ("cloud_storage_uri='s3://b/sort'", "-KKKK"),
    ("disable_precheck", "--KKK"),
    ("group_key='g-1'", "----K"),
    ("__force_merge_step", "----K"),
    ("__manual_recovery", "----K"),
]
MATRIX_VERSIONS = ["v7.3.0", "v7.5.1", "v8.1.0", "v8.5.0", "v9.0.0-alpha"]


@pytest.mark.parametrize("option,want", OPTION_MATRIX)
def test_option_matrix_per_version(option, want):
    sql = "IMPORT INTO t FROM 's3://b/a.csv' WITH " + option
    name = option.split("=")[0]
    for v, w in zip(MATRIX_VERSIONS, want):
        version = importstmt.parse_version("8.0.11-TiDB-" + v)
        stmt = importstmt.parse_import(sql, version)
        if w == "K":
            importstmt.validate_options(stmt, version)
        else:
            with pytest.raises(importstmt.SQLError) as ei:
                importstmt.validate_options(stmt, version)
            assert (ei.value.code, ei.value.message) == (8163, "Unknown option " + name), v


def test_group_key_values_on_master_like():
    v = (9, 0, 0)
    for bad in ("''", "'a b'", "'" + "k" * 257 + "'", "1"):
        stmt = importstmt.parse_import("IMPORT INTO t FROM 's3://b/a.csv' WITH group_key=" + bad, v)
        with pytest.raises(importstmt.SQLError) as ei:
            importstmt.validate_options(stmt, v)
        assert (ei.value.code, ei.value.message) == (8164, "Invalid option value for group_key"), bad
    stmt = importstmt.parse_import("IMPORT INTO t FROM 's3://b/a.csv' WITH group_key='" + "k" * 256 + "'", v)
    importstmt.validate_options(stmt, v)


@pytest.mark.parametrize("location,before,master", [
    ("s3://b/a.csv", "csv", "csv"),
    ("s3://b/a.PARQUET", "csv", "parquet"),
    ("s3://b/a.sql.gz", "csv", "sql"),
    ("s3://b/a.parquet.snappy", "csv", "parquet"),
    ("s3://b/a.txt", "csv", "csv"),
    ("s3://b/*", "csv", "csv"),
])
def test_format_without_format_clause(location, before, master):
    # v8.5 and older: no FORMAT is CSV; master detects it from the suffix (DataFormatAuto)
    sql = "IMPORT INTO t FROM '%s'" % location
    for version, want in (((8, 5, 0), before), ((9, 0, 0), master)):
        stmt = importstmt.parse_import(sql, version)
        assert importstmt.validate_options(stmt, version)["format"] == want, version
    # a CSV-only option then fails on master only
    sql += " WITH skip_rows=1"
    importstmt.validate_options(importstmt.parse_import(sql, (8, 5, 0)), (8, 5, 0))
    stmt = importstmt.parse_import(sql, (9, 0, 0))
    if master == "csv":
        importstmt.validate_options(stmt, (9, 0, 0))
    else:
        with pytest.raises(importstmt.SQLError) as ei:
            importstmt.validate_options(stmt, (9, 0, 0))
        assert (ei.value.code, ei.value.message) == (
            8166, "Unsupported option skip_rows for non-CSV format")


def test_group_key_over_the_wire_per_version(make_double):
    # what the issue saw: a v8.5 TiDB answers 8163, a master-like one runs it
    sql = "IMPORT INTO test.t FROM 's3://b/a.csv' WITH group_key='g1'"
    assert error_of(make_double(version="8.0.11-TiDB-v8.5.0"), sql) == (8163, "Unknown option group_key")
    cols, rows = run(make_double(version="8.0.11-TiDB-v9.0.0-alpha"), sql)
    assert rows and rows[0][5] == "finished", rows


@pytest.mark.parametrize("version,fails", [("8.0.11-TiDB-v8.5.0", False), ("8.0.11-TiDB-v9.0.0", True)])
def test_ping_in_graceful_shutdown_per_version(make_double, version, fails):
    # pingcap/tidb#58008 (FACTS 8): once a shutdown begins, COM_PING gets 1053 while
    # queries are still served; earlier releases answer OK
    srv = make_double(version=version)
    conn = connect(srv)
    try:
        srv.state.healthy = False
        if fails:
            with pytest.raises(pymysql.err.OperationalError) as ei:
                conn.ping(reconnect=False)
            assert ei.value.args[0] == 1053, ei.value.args
        else:
            conn.ping(reconnect=False)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchall() == ((1,),)
    finally:
        conn.close()


def test_no_database_selected(double):
    assert error_of(double, "IMPORT INTO t FROM 's3://b/a.csv'", db=None) == \
        (1046, "No database selected")


# ---------------------------------------------------------------------------
# the CDC / PiTR precheck against a real etcd
# ---------------------------------------------------------------------------


def test_import_without_tasks_finishes(double):
    cols, rows = run(double, "IMPORT INTO db2.t1 (a, @b) SET c = @b FROM 's3://b/x.csv?rows=42' "
                             "FORMAT 'csv' WITH thread = 4, skip_rows = 1")
    assert cols == IMPORT_COLS
    (row,) = rows
    assert row[0] == 1 and row[1] == "s3://b/x.csv?rows=42" and row[2] == "`db2`.`t1`"
    assert row[4:8] == ("", "finished", "1.518KiB", 42)
    assert row[9] <= row[10] <= row[11] and row[12] == "root@%"


def test_pitr_tasks_block_with_protobuf_names(double, etcd):
    cs.put_log_backup_task(etcd.url, "pitr_b", ["db1.*"])
    cs.put_log_backup_task(etcd.url, "pitr_a", ["*.*"], paused=True)  # paused still counts
    cs.put_log_backup_task(etcd.url, "real_name", ["x.*"], key_name="zz_key")
    code, msg = error_of(double, "IMPORT INTO t FROM 's3://b/a.csv'")
    assert code == 8173
    assert msg == ("PreCheck failed: found PiTR log streaming task(s): "
                   "[pitr_a pitr_b real_name],")


def test_changefeed_blocks_namespaced_and_legacy(double, etcd):
    cs.put_changefeed(etcd.url, "cf-1", cluster="c-1", namespace="ns")
    assert error_of(double, "IMPORT INTO t FROM 's3://b/a.csv'") == (
        8173, "PreCheck failed: found CDC changefeed(s): cluster/namespace: c-1/ns "
              "changefeed(s): [cf-1], ")
    cs.clear(etcd.url)
    cs.put_changefeed(etcd.url, "old", legacy_layout=True, state="stopped")
    cs.put_changefeed(etcd.url, "old2", legacy_layout=True, write_status=False)
    assert error_of(double, "IMPORT INTO t FROM 's3://b/a.csv'") == (
        8173, "PreCheck failed: found CDC changefeed(s): cluster/namespace: <nil> "
              "changefeed(s): [old old2], ")


@pytest.mark.parametrize("state,blocks", [
    ("normal", True), ("stopped", True), ("error", True), ("failed", True),
    ("warning", True), ("running", True), ("finished", False), ("removed", False),
    ("pending", False), ("", False)])
def test_changefeed_states(double, etcd, state, blocks):
    cs.put_changefeed(etcd.url, "cf", state=state)
    if blocks:
        assert error_of(double, "IMPORT INTO t FROM 's3://b/a.csv'")[0] == 8173
    else:
        assert run(double, "IMPORT INTO t FROM 's3://b/a.csv'")[1][0][5] == "finished"


def test_ignored_cdc_keys(double, etcd):
    cs.put_backup_changefeed(etcd.url, "migrated")
    cs.put(etcd.url, "/tidb/cdc/5402613591834624000/changefeed/info/idonly",
           json.dumps({"state": "normal"}))
    cs.put(etcd.url, "/tidb/cdc/bad_cluster/default/changefeed/info/x",
           json.dumps({"state": "normal"}))
    cs.put(etcd.url, "/tidb/br-stream/last-error/t/1", b"x")
    assert run(double, "IMPORT INTO t FROM 's3://b/a.csv'")[1][0][5] == "finished"


def test_pitr_reported_before_cdc_and_disable_precheck(double, etcd):
    cs.put_changefeed(etcd.url, "cf")
    cs.put_log_backup_task(etcd.url, "task1")
    assert error_of(double, "IMPORT INTO t FROM 's3://b/a.csv'")[1].startswith(
        "PreCheck failed: found PiTR")
    rows = run(double, "IMPORT INTO t FROM 's3://b/a.csv' WITH DISABLE_PRECHECK")[1]
    assert rows[0][5] == "finished"
    assert error_of(double, "IMPORT INTO t2 FROM SELECT * FROM src")[0] == 8173
    conn = connect(double)
    cur = conn.cursor()
    assert cur.execute("IMPORT INTO t2 FROM SELECT * FROM src WITH disable_precheck") == 1
    assert re.fullmatch(r"Records: 1, ID: [0-9a-f-]{36}", conn._result.message.decode())
    conn.close()


def test_etcd_unreachable(make_double):
    srv = make_double(etcd="http://127.0.0.1:%d" % cs.free_port(), tls=False)
    code, msg = error_of(srv, "IMPORT INTO t FROM 's3://b/a.csv'")
    assert code == 1105 and msg.startswith("failed to read etcd")
    assert run(srv, "IMPORT INTO t FROM 's3://b/a.csv' WITH disable_precheck")[1]


def test_protobuf_encoding_decodes_like_tidb():
    info = cs.stream_backup_task_info("n1", ["a.*", "!a.b"], 5, 300, "local:///tmp/x")
    assert b"\x22\x02n1" in info and b"\x2a\x03a.*" in info and b"\x2a\x04!a.b" in info
    assert info.startswith(b"\x0a")  # field 1, storage, comes first
    assert precheck.task_name(info) == "n1"
    assert cs.pb_varint(300) == b"\xac\x02"


# ---------------------------------------------------------------------------
# jobs, detached progression, cancel, failures, table state
# ---------------------------------------------------------------------------


def test_detached_progression_and_show(make_double):
    srv = make_double(first_job_id=7, job_delay=0.3)
    cols, rows = run(srv, "IMPORT INTO t FROM 's3://b/d.csv' WITH DETACHED")
    assert cols == IMPORT_COLS and rows[0][0] == 7
    assert rows[0][4:8] == ("", "pending", rows[0][6], None) and rows[0][10] is None
    seen = []
    deadline = time.time() + 5
    while time.time() < deadline:
        row = run(srv, "SHOW IMPORT JOB 7")[1][0]
        if not seen or seen[-1][5] != row[5]:
            seen.append(row)
        if row[5] == "finished":
            break
        time.sleep(0.03)
    assert [r[5] for r in seen][-2:] == ["running", "finished"]
    assert seen[-2][4] == "importing" and seen[-2][7] is None
    assert seen[-1][4] == "" and seen[-1][7] == 100 and seen[-1][11] is not None
    run(srv, "IMPORT INTO t9 FROM 's3://b/e.csv' WITH DETACHED")
    assert [r[0] for r in run(srv, "SHOW IMPORT JOBS")[1]] == [7, 8]


def test_cancel(make_double):
    srv = make_double(job_delay=5)
    run(srv, "IMPORT INTO t FROM 's3://b/d.csv' WITH DETACHED")
    assert run(srv, "CANCEL IMPORT JOB 1") == ([], ())
    assert run(srv, "SHOW IMPORT JOB 1")[1][0][5] == "cancelled"
    assert error_of(srv, "CANCEL IMPORT JOB 1") == (
        8171, "The current job status cannot perform the operation. CANCEL")
    assert error_of(srv, "CANCEL IMPORT JOB 42") == (8170, "Job ID 42 doesn't exist")


def test_failure_injection(double):
    rows = run(double, "IMPORT INTO t FROM 's3://b/fail.csv' WITH detached")[1]
    time.sleep(0.4)
    row = run(double, "SHOW IMPORT JOB %d" % rows[0][0])[1][0]
    assert row[5] == "failed" and row[8] == "injected failure for s3://b/fail.csv"
    assert error_of(double, "IMPORT INTO t2 FROM 's3://b/fail2.csv'") == (
        1105, "injected failure for s3://b/fail2.csv")
    assert error_of(double, "IMPORT INTO t3 FROM 's3://b/empty/*.csv'") == (
        8173, "PreCheck failed: No file matched, or the file is empty. Please provide a "
              "valid file location.")


def test_target_table_must_be_empty_and_no_active_job(make_double):
    srv = make_double(job_delay=0.5)
    run(srv, "IMPORT INTO t FROM 's3://b/a.csv' WITH detached")
    assert error_of(srv, "IMPORT INTO t FROM 's3://b/a.csv'") == (
        8173, "PreCheck failed: there is active job on the target table already")
    run(srv, "INSERT INTO db1.full VALUES (1)")
    assert error_of(srv, "IMPORT INTO full FROM 's3://b/a.csv'") == (
        8173, "PreCheck failed: target table is not empty")
    run(srv, "TRUNCATE TABLE full")
    assert run(srv, "IMPORT INTO full FROM 's3://b/a.csv'")[1][0][5] == "finished"
    assert error_of(srv, "IMPORT INTO full FROM 's3://b/a.csv'")[1] == \
        "PreCheck failed: target table is not empty"


# ---------------------------------------------------------------------------
# BACKUP and misc statements
# ---------------------------------------------------------------------------


def test_backup_table(double):
    cols, rows = run(double, "BACKUP TABLE db1.t TO 's3://backup/db1/t/1'")
    assert cols == ["Destination", "Size", "BackupTS", "Queue Time", "Execution Time"]
    assert rows[0][0] == "s3://backup/db1/t/1" and rows[0][2] > 0
    assert double.state.backups[-1]["uri"] == "s3://backup/db1/t/1"
    assert error_of(double, "BACKUP TABLE db1.t TO 's3://fail/x'") == (
        8124, "Backup failed: injected failure")
    assert "BACKUP TABLE db1.t TO 's3://backup/db1/t/1'" in [e["sql"] for e in log_lines(double)]


def test_misc_statements_and_mariadb_cli(double):
    out = mariadb(double, "db1", "-e", "SET NAMES utf8mb4; CREATE TABLE x (a int); "
                  "SELECT @@version_comment; SHOW TABLES; USE db3; SELECT DATABASE()")
    assert out.returncode == 0, out.stderr
    assert "TiDB Server" in out.stdout and "db3" in out.stdout


# ---------------------------------------------------------------------------
# session state: the gateway's probe, sql_mode lexing, databases, resets (FACTS.md 8)
# ---------------------------------------------------------------------------

PROBE = ("SELECT /* importgate: session state for an import decision */ HEX(DATABASE()), "
         "@@session.sql_mode, @@session.character_set_client, HEX(USER()), HEX(@`v`), "
         "HEX(@`unset`) LIMIT 1")


def hexs(s):
    return s.encode().hex().upper()


def one_value(c, sql):
    return c.query(sql)[-1].rows[0][0]


def command(c, payload):
    """A session command; the answer packet's first byte and the packet."""
    c.io.reset()
    c.io.write(payload)
    pkt = c.io.read()
    return pkt


def test_probe_answer(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "bob", "bobpw", db="db1")
    try:
        c.query("SET @v = 'IMPORT INTO t FROM ''x'''")
        res = c.query(PROBE)
        assert len(res) == 1 and len(res[0].rows) == 1
        assert res[0].rows[0] == [hexs("db1"), td.DEFAULT_SQL_MODE, "utf8mb4",
                                  hexs("bob@127.0.0.1"), hexs("IMPORT INTO t FROM 'x'"), None]
        # The import after the probe is accepted as ever.
        res = c.query("IMPORT INTO t FROM 's3://b/x.csv'")
        assert res[0].rows[0][2] == "`db1`.`t`"
    finally:
        c.close()


def test_user_variables_and_set_forms(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1")
    try:
        c.query("SET @a = 4, @`b c` := 'x', @'d' = NULL, @e = CONCAT('p', @a)")
        assert c.query("SELECT @a, @`b c`, @d, @E, HEX(@a)")[0].rows == [["4", "x", None, "p4", "4"]]
        c.query("SET NAMES gbk")
        assert one_value(c, "SELECT @@character_set_client") == "gbk"
        c.query("SET @@session.sql_mode = CONCAT(@@sql_mode, ',ansi_quotes')")
        assert one_value(c, "SELECT @@session.sql_mode").endswith(",ANSI_QUOTES")
        with pytest.raises(rawclient.ServerError) as ei:
            c.query("SET @x = (SELECT 1)")  # the double cannot evaluate it: an error
        assert ei.value.code == 1105
    finally:
        c.close()


def test_sql_mode_lexing_and_whole_batch_parse(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1")
    try:
        # Escapes on: one string literal.
        assert len(c.query("SELECT 'a\\'; SELECT 2; -- '")) == 1
        # ... and where the literal ends early, the rest is a syntax error, as in TiDB.
        with pytest.raises(rawclient.ServerError) as ei:
            c.query("SELECT 'a\\'; IMPORT INTO t FROM 's3://b/x.csv'; -- '")
        assert ei.value.code == 1064
        # Set in the same batch: the batch was parsed before the SET ran (TiDB).
        res = c.query("SET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; SELECT 2; -- '")
        assert len(res) == 2
        # From the next query on: two statements (the comment-only rest is none).
        res = c.query("SELECT 'a\\'; SELECT 2; -- '")
        assert [r.rows for r in res] == [[["a\\"]], [["2"]]]
        c.query("SET sql_mode='ANSI_QUOTES'")
        res = c.query('IMPORT INTO "db2"."t" FROM \'s3://b/x.csv\'')
        assert res[0].rows[0][2] == "`db2`.`t`"
    finally:
        c.close()


@pytest.mark.parametrize("name,want", [("db2`#", "db2"), ("db2` -- x", "db2"),
                                       ("db2`;use `db3", "db2"), ("a``b", "a`b"),
                                       ("db2`/* x */#", "db2")])
def test_init_db_and_handshake_db_as_use(double, name, want):
    c = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1")
    try:
        assert command(c, b"\x02" + name.encode())[:1] == b"\x00"
        assert one_value(c, "SELECT DATABASE()") == want
        assert double.state.commands[-1] == {"conn": c.conn_id, "cmd": "init_db", "arg": name,
                                             "db": want}
    finally:
        c.close()
    c = connect(double, db=name)
    try:
        cur = c.cursor()
        cur.execute("SELECT DATABASE()")
        assert cur.fetchone()[0] == want
    finally:
        c.close()


def test_init_db_unterminated_backquote_is_a_syntax_error(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1")
    try:
        pkt = command(c, b"\x02x`y")
        assert pkt[:1] == b"\xff" and struct_code(pkt) == 1064
        assert one_value(c, "SELECT DATABASE()") == "db1"
    finally:
        c.close()


def struct_code(pkt):
    return pkt[1] | pkt[2] << 8


def test_reset_connection_returns_to_last_init_db_and_clears_state(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1")
    try:
        assert command(c, b"\x02db2`#")[:1] == b"\x00"
        c.query("USE db3")
        c.query("SET @v = 1, sql_mode = 'ANSI_QUOTES', NAMES latin1")
        sid, _, _ = c.prepare("SELECT ?")
        assert command(c, b"\x1f")[:1] == b"\x00"
        assert c.query("SELECT DATABASE(), @v, @@sql_mode, @@character_set_client")[0].rows == \
            [["db2", None, td.DEFAULT_SQL_MODE, "utf8mb4"]]
        with pytest.raises(rawclient.ServerError) as ei:
            c.execute(sid, [1])
        assert ei.value.code == 1243
    finally:
        c.close()


def test_reset_connection_returns_to_handshake_db_not_use(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1")
    try:
        c.query("USE db3")
        assert command(c, b"\x1f")[:1] == b"\x00"
        assert one_value(c, "SELECT DATABASE()") == "db1"
    finally:
        c.close()
    c = rawclient.RawClient("127.0.0.1", double.port, "root")  # no database
    try:
        c.query("USE db3")
        assert command(c, b"\x1f")[:1] == b"\x00"
        assert one_value(c, "SELECT DATABASE()") is None
    finally:
        c.close()


def change_user(c, body, password=""):
    c.io.reset()
    c.io.write(body)
    c.password = password
    c._auth_loop("mysql_native_password", password)


def test_change_user_as_tidb_reads_it(double):
    c = rawclient.RawClient("127.0.0.1", double.port, "root", db="db1")
    try:
        c.query("SET @v = 1")
        # Length byte always: "\x05" then "stage" is the auth, "db2" the database, "st" the
        # charset, "age" the plugin (so TiDB switches auth, root's password is empty).
        change_user(c, b"\x11root\x00\x05stagedb2\x00stage\x00")
        assert c.query("SELECT DATABASE(), @v")[0].rows == [["db2", None]]
        assert double.state.commands[-1]["db"] == "db2"
        # A 300-byte plugin name; bob with his password against the handshake's scramble.
        auth = __import__("mysqlauth").scramble_for("mysql_native_password", "bobpw", c.scramble)
        change_user(c, b"\x11bob\x00" + bytes([len(auth)]) + auth + b"db3\x00\x2d\x00"
                    + b"p" * 300 + b"\x00", "bobpw")
        assert c.query("SELECT DATABASE(), USER()")[0].rows == [["db3", "bob@127.0.0.1"]]
        # No database: the new session has none (not the old one).
        change_user(c, b"\x11root\x00\x00\x00\x2d\x00mysql_native_password\x00")
        assert one_value(c, "SELECT DATABASE()") is None
        # Over 16 MiB (attributes TiDB ignores), in two packets.
        big = b"\xfe" + (0xFFFFFF + 10).to_bytes(8, "little") + b"a" * (0xFFFFFF + 10)
        change_user(c, b"\x11root\x00\x00db1\x00\x2d\x00mysql_native_password\x00" + big)
        assert one_value(c, "SELECT DATABASE()") == "db1"
        # Malformed (auth length past the end): an error, the session stays as it was.
        with pytest.raises(rawclient.ServerError) as ei:
            change_user(c, b"\x11root\x00\x7fabc")
        assert ei.value.code == 1835
        assert one_value(c, "SELECT DATABASE()") == "db1"
    finally:
        c.close()


def test_parse_change_user_shapes():
    P = td.Session.parse_change_user
    caps = 0x200 | 0x80000  # PROTOCOL_41 | PLUGIN_AUTH
    assert P(b"u\x00\x03abcdb\x00\x21\x00plug\x00", caps) == (b"u", b"abc", b"db", b"plug")
    assert P(b"u\x00\x05stage\x00shop\x00", caps) == (b"u", b"stage", b"", b"op")
    assert P(b"u\x00\x00shop\x00plug\x00", 0x80000) == (b"u", b"", b"shop", b"plug")
    assert P(b"u\x00\x00shop\x00\x21\x00plug\x00", 0x200) == (b"u", b"", b"shop", b"")
    assert P(b"\x02xy", caps) == (b"", b"xy", b"", b"")  # no NUL: empty user
    assert P(b"u\x00\x00shop", caps) == (b"u", b"", b"", b"")  # db without NUL: empty
    # Before v6.5 nothing after the database is read.
    assert P(b"u\x00\x00shop\x00\x21\x00plug\x00", caps, (6, 1, 0)) == (b"u", b"", b"shop", b"")
    for bad in (b"", b"u\x00", b"u\x00\x05abc", b"root"):
        with pytest.raises(td.SQLError):
            P(bad, caps)


# ---------------------------------------------------------------------------
# PROXY protocol (proxyproto.py, FACTS.md section 10)
# ---------------------------------------------------------------------------

V2SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def _pp_user(port, header):
    """USER() on a connection whose first bytes are `header`, then pymysql's login on the same
    socket (the double reads the header after its greeting, as TiDB's lazy listener does)."""
    import socket as sk
    s = sk.create_connection(("127.0.0.1", port))
    s.sendall(header)
    c = pymysql.connect(host="127.0.0.1", port=port, user="root", password="", connect_timeout=5,
                        defer_connect=True)
    c.connect(sock=s)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT USER()")
            return cur.fetchone()[0]
    finally:
        c.close()


def test_proxy_protocol_v1_v2_local_and_refusals(make_double):
    srv = make_double(tls=False, proxy_networks="127.0.0.1")
    v2 = V2SIG + bytes([0x21, 0x11, 0, 12, 203, 0, 113, 5, 127, 0, 0, 1, 0x9c, 0x41, 0x0f, 0xa0])
    assert _pp_user(srv.port, v2) == "root@203.0.113.5"
    assert _pp_user(srv.port, b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 4000\r\n") == "root@198.51.100.9"
    assert _pp_user(srv.port, V2SIG + bytes([0x20, 0, 0, 0])) == "root@127.0.0.1"      # LOCAL
    assert _pp_user(srv.port, b"PROXY UNKNOWN\r\n") == "root@127.0.0.1"
    assert [e["proxy"] for e in srv.state.connections] == [2, 1, 2, 1]
    assert srv.state.connections[0]["port"] == 40001
    # No header from an allowed address: refused; a bad v1 line: refused.
    with pytest.raises(pymysql.err.OperationalError):
        pymysql.connect(host="127.0.0.1", port=srv.port, user="root", password="", connect_timeout=5)
    with pytest.raises(pymysql.err.OperationalError):
        _pp_user(srv.port, b"PROXY TCP4 198.51.100.9 127.0.0.1 0 4000\r\n")
    assert [e.get("error") for e in srv.state.connections[4:]] == [
        "Invalid PROXY Protocol Header", "PROXY Protocol v1 header is invalid"]


def test_proxy_protocol_fallbackable_and_outside_networks(make_double):
    fb = make_double(tls=False, proxy_networks="127.0.0.0/8", proxy_fallbackable=True)
    c = pymysql.connect(host="127.0.0.1", port=fb.port, user="root", password="", connect_timeout=5)
    try:
        with c.cursor() as cur:
            cur.execute("SELECT USER()")
            assert cur.fetchone()[0] == "root@127.0.0.1"
    finally:
        c.close()
    other = make_double(tls=False, proxy_networks="10.0.0.0/8")
    # Not in networks: a header is not read as one (as MySQL, "PROX" announces a 5 MiB packet).
    import socket as sk
    s = sk.create_connection(("127.0.0.1", other.port), timeout=5)
    s.sendall(b"PROXY TCP4 198.51.100.9 127.0.0.1 5555 4000\r\n")
    s.recv(4096)  # the greeting
    s.close()
    deadline = time.monotonic() + 10
    while not other.state.connections and time.monotonic() < deadline:
        time.sleep(0.05)
    assert other.state.connections[0]["proxy"] is None
    assert other.state.connections[0]["host"] == "127.0.0.1"
