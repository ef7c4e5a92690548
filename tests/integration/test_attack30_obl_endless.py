"""The obligations' service connections read a bounded answer whatever the server sends
(a follow-up of attack30, which found the Lightning preflight's question unbounded): the
executor read `SHOW IMPORT JOB(S)` whole into memory (mysql_store_result), so a server whose
answer never ends held the executor thread and grew the gateway until it was killed, and the
obligation was never carried out. Now results are read row by row, only the first row of a
job's answer, and `SHOW IMPORT JOBS` up to a bound of rows and bytes (proxy/oblexec.c)."""

import json

import pytest

from policy_helpers import etcd, query, state  # noqa: F401  (fixtures)
from obligation_helpers import SNAP, doubles, obl_gw, wait_for  # noqa: F401  (fixtures)
from test_obligations import audit_events, backups, import_row, send_and_vanish

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def test_detached_job_followed_through_an_endless_answer(doubles, obl_gw, state):  # noqa: F811
    """Every SHOW IMPORT JOB is answered with its row and then that row again without end:
    the job is still followed to its end and the table backed up."""
    up, down = doubles(job_delay=0.3, endless_show_import=True)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    job, status = import_row(query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv' WITH DETACHED"))
    assert status == "pending"
    b = wait_for(lambda: backups(up), 30, "BACKUP TABLE after a detached job followed through endless answers")
    assert b[0]["sql"].startswith("BACKUP TABLE `shop`.`t`"), b
    shows = [e for e in up.statements if e["sql"] == "SHOW IMPORT JOB %s" % job]
    assert shows, up.statements
    assert gw.proc.poll() is None  # the gateway is still running


def test_lost_answer_search_bounded_by_an_endless_job_list(doubles, obl_gw, state):  # noqa: F811
    """The import's answer is lost, so the record looks for its job in SHOW IMPORT JOBS, which
    this server answers without end: the read stops at its bound with an error the audit log
    shows, instead of holding the executor and the gateway's memory."""
    up, down = doubles(job_delay=0.1, slow_import=3.0, endless_show_import=True)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    send_and_vanish(gw, up, "IMPORT INTO t FROM 's3://bucket/slow-mine.csv'", "slow-mine")

    def bounded():
        return [e for e in audit_events(gw) if "SHOW IMPORT JOBS answered 100000 rows" in json.dumps(e)]
    ev = wait_for(bounded, 60, "the job list's read stopped at its bound, in the audit log")
    assert ev, ev
    assert gw.proc.poll() is None
    assert query(gw, "SELECT 1") is not None  # and still relays
