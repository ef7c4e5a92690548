"""The obligation store's list reads PD's etcd page by page (store/oblstore_etcd.c, 256
records a request, every page at the first page's revision): with more records than fit in
one answer's bound a scan still sees them all. Records end (done) are kept 7 days, so a busy
cluster's store holds thousands; one request for all of them once hit the answer size limit
(16 MiB) or cost a quadratic copy. 700 finished records are written straight into etcd, then
a gateway's /api/v1/status must list each of them."""

import base64
import json
import time
import urllib.request

import pytest

from policy_helpers import etcd  # noqa: F401
from harness import ports

pytestmark = [pytest.mark.gateway_only]

N = 700


def b64(s):
    return base64.b64encode(s.encode()).decode()


def put_many(url, prefix, recs):
    for rid, rec in recs:
        body = json.dumps({"key": b64(prefix + rid), "value": b64(json.dumps(rec))}).encode()
        req = urllib.request.Request(url + "/v3/kv/put", data=body, method="POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 200


def status(admin):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/v1/status" % admin, timeout=10) as r:
        return json.loads(r.read())["obligations"]


def test_scan_lists_every_record_across_pages(gateway_factory, etcd):  # noqa: F811
    now = int(time.time() * 1000)
    recs = []
    for i in range(N):
        rid = "%032x" % (0xabc000 + i)
        recs.append((rid, {"id": rid, "state": "done", "kinds": ["snapshot-after-import"],
                           "db": "shop", "table": "t%d" % i, "statement": "IMPORT INTO t FROM 's3://b/x'",
                           "created_ms": now, "updated_ms": now, "note": "x" * 200}))
    put_many(etcd.url, "/importgate/oblpages/obligations/", recs)
    admin = ports.free_port()
    gateway_factory({"cluster": {"pd": [etcd.url], "timeout_ms": 2000, "name": "oblpages"},
                     "obligations": {"poll_ms": 200}, "admin": {"listen": "127.0.0.1:%d" % admin}})
    end = time.monotonic() + 60
    seen = set()
    while time.monotonic() < end:
        seen = {r["id"] for r in status(admin).get("records", [])}
        if len(seen) >= N:
            break
        time.sleep(0.2)
    want = {rid for rid, _ in recs}
    assert want <= seen, "the scan listed %d of %d records (missing e.g. %s)" % (
        len(want & seen), N, sorted(want - seen)[:3])
