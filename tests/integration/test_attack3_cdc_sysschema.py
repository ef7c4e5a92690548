"""Attack 3 (coverage by system schema): the gateway treats a table as not covered by any
changefeed when TiCDC "never replicates" its schema (policy/clusterstate.c
ig_cdc_ignores_schema / tiflow_extra, since removed: only schemas every TiCDC release skips are skipped now). Two ways the gateway's reading differs from what
the running TiCDC does, both ending in an import into a table a `*.*` changefeed
replicates being forwarded WITH DISABLE_PRECHECK (TiDB v8.5 counts the changefeed):

1. Case. Before v26.3, tiflow pkg/filter/utils.go isSysSchema compares tidb_cdc and
   lightning_task_info case-sensitively (`switch db`, tags v7.5.1 .. v8.5.7), and the name it
   is given is the schema's stored name as created (cdc/entry/schema/snapshot.go,
   ShouldIgnoreTable(dbinfo.Name.O, ...), v8.1.0). TiDB resolves a statement's name
   case-insensitively. So with a schema created as `LIGHTNING_TASK_INFO`, TiCDC v8.5
   replicates it, while the statement `IMPORT INTO lightning_task_info.t` is compared by the
   gateway as written ("lightning_task_info" == "lightning_task_info") and judged skipped.
   The gateway cannot see the stored case, so the only safe reading of a case-sensitive
   skip is "covered".

2. TiCDC's version is not TiDB's. The skip lists are per *TiCDC* release, but decide.c feeds
   ig_cluster_covering_at the *TiDB* backend's version (greeting). TiCDC is a separate
   component, upgraded on its own (its place in a rolling upgrade's order was not verified
   from a source here) and deployable at another version:
   a v8.1 TiCDC (its changefeed written with creator-version v8.1.0, its capture saying
   v8.1.0) replicates lightning_task_info (isSysSchema at v8.1.0 has no
   LightningTaskInfoSchema case), yet behind a v8.5 TiDB the gateway says it is skipped.

Both run against the default v8.5 double; the positive control shows a covered table is
refused."""

import json

import pytest

from policy_helpers import (Received, double, etcd, policy_gw, query,  # noqa: F401
                            refused_by_gateway, state)

import clusterstate as cs  # noqa: E402 (tests/tidb_double, put on sys.path by policy_helpers)

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]


def test_positive_control_covered_tablerefused_by_gateway(policy_gw, double, state):
    state.changefeed("cf-all", ["*.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO shop.t FROM 's3://b/t.csv'")
    assert refused_by_gateway(out), out
    assert rx.sqls() == []


@pytest.mark.parametrize("target", ["lightning_task_info.t", "tidb_cdc.t"])
def test_cdc_case_sensitive_skip_is_not_a_skip(policy_gw, double, state, target):
    # TiDB holds the schema as LIGHTNING_TASK_INFO / TIDB_CDC (created so); the statement
    # names it in lower case; TiCDC v8.5 compares "LIGHTNING_TASK_INFO" with
    # "lightning_task_info" and replicates it.
    state.changefeed("cf-all", ["*.*"])
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO %s FROM 's3://b/t.csv'" % target)
    assert refused_by_gateway(out), (out, rx.sqls())
    assert rx.imports() == [], rx.imports()


def _old_cdc_changefeed(url, cf_id, version):
    info = cs.changefeed_info(cf_id, rules=("*.*",))
    info["creator-version"] = version
    cs.put_changefeed(url, cf_id, rules=("*.*",), raw_info=json.dumps(info))
    # the capture that runs it says its version too (tiflow cdc/model CaptureInfo)
    capture = "3b6d7a86-0000-4000-8000-00000000a001"
    cs.put(url, "%s/default/__cdc_meta__/capture/%s" % (cs.CDC, capture),
           json.dumps({"id": capture, "address": "127.0.0.1:8300", "version": version}))


def test_older_ticdc_replicates_lightning_task_info(policy_gw, double, etcd, state):
    _old_cdc_changefeed(etcd.url, "cf-old", "v8.1.0")
    gw = policy_gw()
    rx = Received(double)
    out = query(gw, "IMPORT INTO lightning_task_info.t FROM 's3://b/t.csv'")
    # covered by cf-old (TiCDC v8.1 replicates the schema): the default rule refuses it
    assert refused_by_gateway(out), (out, rx.sqls())
    assert rx.imports() == [], rx.imports()
