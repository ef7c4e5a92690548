"""End-to-end policy tests for the forms an IMPORT INTO can take (README.md "Why", docs/ARCHITECTURE.md):
multi-statement batches (refused whole / rewritten in place), PREPARE ... FROM 'text' and
FROM @var (policy.opaque_prepare), COM_STMT_PREPARE, comments and case variations, the bypass
corpus (tests/corpus/import_positive.txt), unqualified tables resolved against the current
database (USE, COM_INIT_DB, the handshake database), and TiDB's option errors. Real etcd, the
TiDB double behind the gateway; each test checks the client's answer and the double's log."""

import os

import re

import pytest

from policy_helpers import (DB1, DB2, HERE, PRECHECK, Received, connect,  # noqa: F401
                            corpus_records, double, etcd, last_decision, policy_gw, query, raw,
                            rawclient, run, state)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

ADDED = " WITH DISABLE_PRECHECK"
CORPUS = os.path.join(HERE, "..", "corpus", "import_positive.txt")


def assert_rejected(out, *needles):
    assert out.code == PRECHECK, out
    assert out.message.startswith("PreCheck failed: importgate: "), out.message
    for n in needles:
        assert n in out.message, (n, out.message)


def import_row(result):
    assert result and len(result[0]) == 13, result
    return result[0]


# ------------------------------------------------------------------ multi-statement batches


def test_batch_with_covered_import_refused_whole(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "SELECT 1; IMPORT INTO orders FROM 's3://b/o.csv'; SELECT 2", multi=True)
    assert_rejected(out, 'shop.orders is covered by log backup task "pitr_shop"')
    assert out.results == []  # not even the SELECT before it was answered
    assert rx.sqls() == []    # the double received neither statement


def test_batch_with_uncovered_import_rewritten_in_place(policy_gw, double, state):
    state.task("pitr_stage", ["stage.*"])
    gw = policy_gw()
    imp = "IMPORT INTO orders FROM 's3://b/o.csv'"
    rx = Received(double)
    out = query(gw, "SELECT 1; %s; SELECT 'after'" % imp, multi=True)
    assert out.ok, out
    assert out.results[0] == ((1,),)
    assert import_row(out.results[1])[5] == "finished"
    assert out.results[2] == (("after",),)
    assert rx.sqls() == ["SELECT 1", imp + ADDED, "SELECT 'after'"]


def test_batch_two_imports_one_covered_refused_whole(policy_gw, double, state):
    state.task("pitr_shop", ["shop.orders"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO stage.t FROM 's3://b/a.csv'; IMPORT INTO orders FROM "
                    "'s3://b/o.csv'", multi=True)
    assert_rejected(out, "shop.orders is covered")
    assert rx.sqls() == []


# ------------------------------------------------------------------ PREPARE ... FROM


def test_prepare_text_no_state_passes_unchanged(policy_gw, double, state):
    gw = policy_gw()
    sql = "PREPARE s FROM 'IMPORT INTO orders FROM ''s3://b/o.csv'''"
    rx = Received(double)
    out = query(gw, sql)
    assert out.ok, out
    assert rx.sqls() == [sql]
    assert ": pass, rule (defaults)" in last_decision(gw)


def test_prepare_text_covered_refused(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "PREPARE s FROM 'IMPORT INTO orders FROM ''s3://b/o.csv'''")
    assert_rejected(out, 'shop.orders is covered by log backup task "pitr_shop"')
    assert rx.sqls() == []


def test_prepare_text_uncovered_with_task_elsewhere(policy_gw, double, state):
    # The gateway refuses a prepared import that would need DISABLE_PRECHECK (proxy/decision.c:
    # decided at PREPARE, executed later on a cluster state that may have changed).
    state.task("pitr_stage", ["stage.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "PREPARE s FROM 'IMPORT INTO orders FROM ''s3://b/o.csv'''")
    assert_rejected(out, "prepared IMPORT INTO into shop.orders would run without TiDB's "
                         "precheck")
    assert rx.sqls() == []


def test_prepare_double_quoted_inner_text_covered(policy_gw, double, state):
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, 'PREPARE s FROM "IMPORT INTO orders FROM \'s3://b/o.csv\'"')
    assert_rejected(out, "shop.orders is covered")
    assert rx.sqls() == []


@pytest.mark.parametrize("mode", ["allow", "reject"])
def test_prepare_from_variable(policy_gw, double, state, mode):
    # The gateway reads the variable from the server and decides the text in it, whatever
    # opaque_prepare says (that applies only when the value cannot be known).
    state.task("pitr_shop", ["shop.*"])
    gw = policy_gw({"opaque_prepare": mode})
    c = connect(gw)
    try:
        rx = Received(double)
        assert run(c, "SET @v = 'IMPORT INTO orders FROM ''s3://b/o.csv'''").ok
        out = run(c, "PREPARE s FROM @v")
        assert_rejected(out, 'shop.orders is covered by log backup task "pitr_shop"')
        assert rx.sqls() == ["SET @v = 'IMPORT INTO orders FROM ''s3://b/o.csv'''"]
        # the variable's reference exactly as the client wrote it (proxy/probe.c)
        assert any("LENGTH( @v )" in q for q in rx.probes()), rx.probes()
    finally:
        c.close()


# ------------------------------------------------------------------ COM_STMT_PREPARE


def test_com_stmt_prepare_no_state_forwarded(policy_gw, double, state):
    gw = policy_gw()
    sql = "IMPORT INTO orders FROM 's3://b/o.csv'"
    rx = Received(double)
    c = raw(gw)
    try:
        sid, cols, nparams = c.prepare(sql)
        assert nparams == 0 and len(cols) == 13
    finally:
        c.close()
    assert [(e["cmd"], e["sql"]) for e in rx.entries()] == [("prepare", sql)]


@pytest.mark.parametrize("filters,needle", [
    (["shop.*"], 'shop.orders is covered by log backup task "pitr"'),
    (["stage.*"], "would run without TiDB's precheck"),
], ids=["covered", "task-elsewhere"])
def test_com_stmt_prepare_with_task_refused(policy_gw, double, state, filters, needle):
    state.task("pitr", filters)
    gw = policy_gw()
    rx = Received(double)
    c = raw(gw)
    try:
        with pytest.raises(rawclient.ServerError) as ei:
            c.prepare("IMPORT INTO orders FROM 's3://b/o.csv'")
        assert ei.value.code == PRECHECK and needle in ei.value.message, ei.value
        assert c.ping()  # the session goes on
    finally:
        c.close()
    assert rx.entries() == []


# ------------------------------------------------------------------ comments, case


@pytest.mark.parametrize("sql", [
    "import into ORDERS from 's3://b/o.csv'",
    "/* lead */ ImPoRt /* mid */ InTo `orders` FROM 's3://b/o.csv' -- trailing",
    "# hash comment\nIMPORT\nINTO\tshop . orders FROM 's3://b/o.csv'",
    "/*!IMPORT INTO orders FROM 's3://b/o.csv'*/",
    "/*!80000 IMPORT INTO orders FROM 's3://b/o.csv' */",
    "/*T! IMPORT INTO orders FROM 's3://b/o.csv' */",
    "IMPORT /*!INTO*/ orders FROM 's3://b/o.csv'",
    "IMPORT INTO orders FROM 's3://b/o.csv' /*!WITH DISABLE_PRECHECK*/",
    "IMPORT INTO orders FROM 's3://b/o.csv' WITH /* c */ disable_precheck",
])
def test_comment_and_case_variants_covered_refused(policy_gw, double, state, sql):
    state.task("pitr_shop", ["shop.orders"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, sql)
    assert out.code == PRECHECK and out.message.startswith("PreCheck failed: importgate: "), out
    assert rx.sqls() == []


def test_comments_kept_byte_for_byte_when_rewritten(policy_gw, double, state):
    state.task("pitr_stage", ["stage.*"])
    gw = policy_gw()
    sql = "/* lead */ ImPoRt /* mid */ InTo `orders` FROM 's3://b/o.csv' -- trailing"
    rx = Received(double)
    out = query(gw, sql)
    assert out.ok and import_row(out.results[0])[2] == "`shop`.`orders`", out
    assert rx.sqls() == ["/* lead */ ImPoRt /* mid */ InTo `orders` FROM 's3://b/o.csv'"
                         " WITH DISABLE_PRECHECK -- trailing"]


# ------------------------------------------------------------------ the bypass corpus


def test_bypass_corpus_refused_with_covering_task(policy_gw, double, state):
    """Every positive record, sent as one COM_QUERY with a task covering every table and the
    default policy, is refused and nothing of it reaches TiDB; or, where the session's own
    sql_mode and character set (which the gateway asks the server for) read the text as no
    import at all, it is forwarded and TiDB (the double, lexing as TiDB does under that
    session state) starts no import job from it."""
    state.task("pitr_all", ["*.*"])
    gw = policy_gw()
    records = corpus_records(CORPUS)
    assert len(records) > 50
    c = connect(gw, multi=True)
    failures = []
    try:
        for db, table, sql in records:
            rx = Received(double)
            jobs_before = set(double.state.jobs.keys())
            try:
                out = run(c, sql)
            except Exception as e:  # a dropped connection is not a refusal
                failures.append((sql, "client exception %r" % e))
                c = connect(gw, multi=True)
                continue
            reached = rx.sqls()
            ran = double.state.jobs.keys() - jobs_before
            if ran or ((out.ok or reached) and not read_as_no_import(out, reached)):
                failures.append((sql, "answer %r, reached the double: %r, jobs %r" % (out, reached, ran)))
    finally:
        c.close()
    assert not failures, "\n".join("%r: %s" % f for f in failures)


def read_as_no_import(out, reached):
    """Forwarded, and the double's own reading of the batch (it lexes as TiDB under the
    session's sql_mode) holds no statement that starts an import."""
    return bool(reached) and not any(re.match(r"(?is)\s*(/\*.*?\*/\s*)*IMPORT\s+INTO", q) for q in reached)


# ------------------------------------------------------------------ current database


IMP_T = "IMPORT INTO t FROM 's3://b/t.csv'"


@pytest.fixture
def only_stage_t(state):
    state.task("pitr_stage_t", ["stage.t"])
    return state


@pytest.mark.parametrize("db,covered", [(DB2, True), (DB1, False)])
def test_handshake_database(policy_gw, double, only_stage_t, db, covered):
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, IMP_T, db=db)
    if covered:
        assert_rejected(out, 'stage.t is covered by log backup task "pitr_stage_t"')
        assert rx.sqls() == []
    else:
        assert out.ok and import_row(out.results[0])[2] == "`shop`.`t`", out
        assert rx.sqls() == [IMP_T + ADDED]


def test_use_statement(policy_gw, double, only_stage_t):
    gw = policy_gw()
    c = connect(gw, db=None)
    try:
        rx = Received(double)
        assert run(c, "USE stage").ok
        assert_rejected(run(c, IMP_T), "stage.t is covered")
        assert run(c, "USE `shop`").ok
        out = run(c, IMP_T)
        assert out.ok and import_row(out.results[0])[2] == "`shop`.`t`", out
        assert rx.sqls() == ["USE stage", "USE `shop`", IMP_T + ADDED]
    finally:
        c.close()


def test_com_init_db(policy_gw, double, only_stage_t):
    gw = policy_gw()
    c = connect(gw, db=DB1)
    try:
        c.select_db(DB2)  # COM_INIT_DB
        rx = Received(double)
        assert_rejected(run(c, IMP_T), "stage.t is covered")
        c.select_db(DB1)
        assert run(c, IMP_T).ok
        assert rx.sqls() == [IMP_T + ADDED]
    finally:
        c.close()


def test_use_then_import_in_one_batch(policy_gw, double, only_stage_t):
    """`USE stage; IMPORT INTO t` in one COM_QUERY imports into stage.t (TiDB runs the USE
    first): it must be decided for stage.t, whatever the session's database was."""
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "USE stage; " + IMP_T, db=DB1, multi=True)
    assert_rejected(out, "stage.t is covered")
    assert rx.sqls() == []


def test_use_other_then_import_in_one_batch(policy_gw, double, only_stage_t):
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "USE shop; " + IMP_T, db=DB2, multi=True)
    assert out.ok, out
    assert import_row(out.results[1])[2] == "`shop`.`t`"
    assert rx.sqls() == ["USE shop", IMP_T + ADDED]


def test_no_database_selected(policy_gw, double, only_stage_t):
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, IMP_T, db=None)
    assert (out.code, out.message) == (1046, "No database selected"), out
    assert rx.sqls() == []
    # TiDB answers the same.
    assert (query(double.port, IMP_T, db=None).code) == 1046


# ------------------------------------------------------------------ option errors


@pytest.mark.parametrize("with_task", [False, True], ids=["no-task", "covered"])
@pytest.mark.parametrize("opts,code,message", [
    ("WITH DISABLE_PRECHECK=1", 8164, "Invalid option value for disable_precheck"),
    ("WITH no_such_option='x'", 8163, "Unknown option no_such_option"),
    ("WITH thread=1, THREAD=2", 8165, "Option thread specified more than once"),
    ("WITH disable_precheck, DISABLE_PRECHECK", 8165,
     "Option disable_precheck specified more than once"),
])
def test_option_errors_as_tidb(policy_gw, double, state, with_task, opts, code, message):
    if with_task:
        state.task("pitr_all", ["*.*"])
    sql = "IMPORT INTO orders FROM 's3://b/o.csv' " + opts
    direct = query(double.port, sql)
    assert (direct.code, direct.message) == (code, message)  # what TiDB says
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, sql)
    assert (out.code, out.message) == (code, message), out
    # Either the gateway answered, or TiDB did with the unchanged text; never anything else.
    assert rx.sqls() in ([], [sql])
