"""attack6: the answer to an IMPORT INTO wrapped in another statement is not the import's.

EXPLAIN ANALYZE (DESC ANALYZE) runs the import it wraps (TiDB pkg/executor/explain.go,
executeAnalyzeExec: Next on the target executor until it returns no row) and answers with
the plan's rows; with WITH DETACHED the import's executor returns as soon as its job is
submitted (pkg/executor/import_into.go: the job goes on in a goroutine). The gateway read any
first row as the import's answer: a plan row has no Job_ID, which the obligations took for
"finished, no job to follow" (FROM SELECT's OK), so the snapshot-after-import BACKUP (or the
downstream re-import) ran at once, while the job was still importing, and the obligation was
done with the rows missing from the backup.

The import's answer has the import's shape (a row with a Job_ID for a file source, an OK for
FROM SELECT); anything else is an answer the gateway cannot read, and the record looks for
the job itself (SHOW IMPORT JOBS by source, table, creator and time), then follows it."""

import pytest

from policy_helpers import etcd, query, state  # noqa: F401
from obligation_helpers import REIMPORT, SNAP, doubles, obl_gw, wait_for  # noqa: F401
from test_obligations import audit_events, backups, settle, sqls

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def only_job(up, name):
    jobs = [j for j in up.state.jobs.values() if name in j.location]
    assert len(jobs) == 1, jobs
    return jobs[0]


@pytest.mark.parametrize("wrapper", ["EXPLAIN ANALYZE", "DESC ANALYZE", "explain /* x */ analyze"])
def test_detached_wrapped_import_backup_after_the_job(doubles, obl_gw, state, wrapper):
    up, down = doubles(job_delay=1.0)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    out = query(gw, "%s IMPORT INTO t FROM 's3://bucket/wrapped.csv' WITH DETACHED" % wrapper)
    assert out.ok, out
    assert out.results[0][0][0] == "ImportInto_1"  # the plan's row, not the import's
    job = only_job(up, "wrapped")
    wait_for(lambda: backups(up), 20, "BACKUP TABLE after the wrapped job")
    settle()
    b = backups(up)
    assert len(b) == 1, b
    assert b[0]["sql"] == "BACKUP TABLE `shop`.`t` TO 's3://backup/importgate/shop/t/%d'" % job.id, b
    # taken after the job ended, not when the plan's rows came back
    assert b[0]["ts"] >= job.end_at - 0.05, (b[0]["ts"], job.end_at)
    steps = [e.get("step") for e in audit_events(gw) if e["event"] == "obligation.step"]
    assert "job-found" in steps, steps


def test_detached_wrapped_import_reimport_after_the_job(doubles, obl_gw, state):
    up, down = doubles(job_delay=1.0)
    state.changefeed("cf", ["shop.*"])
    gw = obl_gw(up, down, REIMPORT)
    out = query(gw, "EXPLAIN ANALYZE IMPORT INTO t FROM 's3://bucket/wrapped-down.csv' WITH DETACHED")
    assert out.ok, out
    job = only_job(up, "wrapped-down")
    wait_for(lambda: sqls(down, "IMPORT"), 20, "the downstream re-import")
    settle()
    runs = sqls(down, "IMPORT")
    assert len(runs) == 1, runs
    assert runs[0]["ts"] >= job.end_at - 0.05, (runs[0]["ts"], job.end_at)


def test_wrapped_synchronous_import_backup_once(doubles, obl_gw, state):
    """Without DETACHED the import has ended when the plan's rows come: found finished, one BACKUP."""
    up, down = doubles(job_delay=0.1)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    out = query(gw, "EXPLAIN ANALYZE IMPORT INTO t FROM 's3://bucket/wrapped-sync.csv'")
    assert out.ok, out
    job = only_job(up, "wrapped-sync")
    wait_for(lambda: backups(up), 20, "BACKUP TABLE after the wrapped import")
    settle()
    b = backups(up)
    assert [e["sql"] for e in b] == ["BACKUP TABLE `shop`.`t` TO 's3://backup/importgate/shop/t/%d'"
                                     % job.id], b
