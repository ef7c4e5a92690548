#!/usr/bin/python3
"""lightning_double.py - a stand-in for tidb-lightning in tests (docs/LIGHTNING.md).

Reads the same task file (-config FILE, Go flag spelling: -config X, --config=X), and does
what the guarded run depends on, as TiDB Lightning v7.5-v8.5 does it (pingcap/tidb
lightning/pkg, br/pkg/lightning):
- [lightning] check-requirements (default true; the -check-requirements=false flag turns it
  off): with backend "local", CDCPITRCheckItem: any log backup task (/tidb/br-stream/info/) or
  changefeed info key (/tidb/cdc/.../changefeed/info/) stops it with Lightning's message
  ("found PiTR log streaming task(s): [...]," / "found CDC changefeed(s): ...") and exit 1.
- registers /tidb/brie/import/lightning/lightning-<uuid> with a leased, empty value after its
  prechecks (TTL 180 s, kept alive while it runs: br/pkg/utils/register.go RegisterTask) and
  revokes the lease as it ends, on success and on failure alike (lightning/pkg/importer/
  import.go importTables: `defer undo()`, undo = register.Close, which revokes the lease);
  a killed Lightning revokes nothing: its key stays until the lease's TTL runs out;
- finds tables by Dumpling's naming in mydumper.data-source-dir, applies [mydumper] filter
  (wildcards, "!", last match wins, case-insensitive) and [[routes]] (wildcards), creates the
  schema from the schema files and loads the CSV files into MariaDB ([tidb] host/port/user/
  password) with plain INSERTs.
Not a model of Lightning's engine: no KV encoding, no checkpoints, no other prechecks.

Command line as Lightning's (pkg/lightning/config/global.go): -config/-c (the last one wins),
-check-requirements, -d (overrides mydumper.data-source-dir).
A concurrent writer, for the check-then-run tests: LTN_DOUBLE_SWAP=SRC:DST[,SRC:DST...] copies
each SRC over its DST before the task file is read (the task file changed, or data files added,
between the preflight and Lightning).

LTN_DOUBLE_HOLD=FILE: once registered, waits (at most 120 s) until FILE exists before loading,
so a test can look at the running import (FILE.registered holds the key).
LTN_DOUBLE_HOLD_BEFORE=FILE: after the prechecks, before registering, writes FILE.started and
waits (at most 120 s) until FILE exists: a Lightning that runs but has not registered yet.
Failure injection: LTN_DOUBLE_FAIL=before-register (exit 1 before registering, as a failed
precheck), before-load (exit 1 after registering, nothing loaded; the key is revoked),
after-load (exit 1 after loading; revoked), killed (after registering, and after the hold,
ends at once without revoking: exit 137, the key stays until its TTL runs out).
LTN_DOUBLE_TTL=S: the lease's TTL (default 180, register.go defaultTaskRegisterTTL).
LTN_DOUBLE_STORE=HOST:PORT: where the rows are written (MariaDB standing in for TiKV: Lightning's
physical mode does not write rows through TiDB's SQL port); default [tidb] host and port.
LTN_DOUBLE_MARK=FILE: appends one JSON line per run
(flags seen, tables loaded, exit status) so a test can see whether and how it ran.
etcd is reached through its v3 JSON gateway at [tidb] pd-addr (http://host:port).
"""

import base64
import csv
import fnmatch
import json
import os
import re
import sys
import threading
import time
import tomllib
import urllib.request
import uuid

import pymysql

FILE_RULES = [  # router.go defaultFileRouteRules (the double's subset: what tests name)
    (re.compile(r"(?i).*(-schema-trigger|-schema-post)\.sql(?:\.(\w*?))?$"), "ignore"),
    (re.compile(r"(?i)^(?:[^/]*/)*([^/.]+)-schema-create\.sql(?:\.(\w*?))?$"), "db"),
    (re.compile(r"(?i)^(?:[^/]*/)*([^/.]+)\.(.*?)-schema\.sql(?:\.(\w*?))?$"), "schema"),
    (re.compile(r"(?i)^(?:[^/]*/)*([^/.]+)\.(.*?)(?:\.([0-9]+))?\.(sql|csv|parquet)(?:\.(\w+))?$"), "data"),
]
DEFAULT_FILTER = ["*.*", "!mysql.*", "!sys.*", "!INFORMATION_SCHEMA.*", "!PERFORMANCE_SCHEMA.*",
                  "!METRICS_SCHEMA.*", "!INSPECTION_SCHEMA.*"]


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def etcd(url, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read() or b"{}")


def prefix_keys(url, prefix):
    end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    out = etcd(url, "/v3/kv/range", {"key": b64(prefix), "range_end": b64(end), "keys_only": True})
    return [base64.b64decode(kv["key"]).decode() for kv in out.get("kvs", [])]


def cdc_pitr_check(url):
    tasks = [k.rsplit("/", 1)[1] for k in prefix_keys(url, "/tidb/br-stream/info/")]
    feeds = [k.rsplit("/", 1)[1] for k in prefix_keys(url, "/tidb/cdc/") if "/changefeed/info/" in k]
    msg = []
    if tasks:
        msg.append("found PiTR log streaming task(s): [%s]," % " ".join(tasks))
    if feeds:
        msg.append("found CDC changefeed(s): [%s]," % " ".join(feeds))
    return msg


def filter_match(rules, db, tbl):
    hit = False
    for r in rules:
        neg = r.startswith("!")
        pat = r[1:] if neg else r
        sp, _, tp = pat.partition(".")
        if fnmatch.fnmatchcase(db.lower(), sp.lower()) and fnmatch.fnmatchcase(tbl.lower(), tp.lower()):
            hit = not neg
    return hit


def route(routes, db, tbl):
    for r in routes:
        if not fnmatch.fnmatchcase(db.lower(), r["schema-pattern"].lower()):
            continue
        tp = r.get("table-pattern", "")
        if tp and not fnmatch.fnmatchcase(tbl.lower(), tp.lower()):
            continue
        return r["target-schema"], r.get("target-table") or tbl
    return db, tbl


def find_tables(task):
    my = task.get("mydumper", {})
    root = my["data-source-dir"].removeprefix("file://")
    rules = my.get("filter", DEFAULT_FILTER)
    tables = {}
    for dirpath, _, files in os.walk(root):
        for name in sorted(files):
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            for rx, kind in FILE_RULES:
                m = rx.match(rel)
                if not m:
                    continue
                if kind in ("data", "schema") and filter_match(rules, m.group(1), m.group(2)):
                    t = tables.setdefault(route(task.get("routes", []), m.group(1), m.group(2)),
                                          {"schema": None, "data": []})
                    if kind == "schema":
                        t["schema"] = os.path.join(root, rel)
                    else:
                        t["data"].append(os.path.join(root, rel))
                break
    return tables


def load(task, tables):
    tidb = task.get("tidb", {})
    host, port = tidb.get("host", "127.0.0.1"), int(tidb.get("port", 4000))
    if os.environ.get("LTN_DOUBLE_STORE"):
        host, _, p = os.environ["LTN_DOUBLE_STORE"].rpartition(":")
        port = int(p)
    conn = pymysql.connect(host=host, port=port,
                           user=tidb.get("user", "root"), password=tidb.get("password", ""),
                           autocommit=True)
    loaded = {}
    with conn.cursor() as c:
        for (db, tbl), t in sorted(tables.items()):
            c.execute("CREATE DATABASE IF NOT EXISTS `%s`" % db)
            c.execute("USE `%s`" % db)
            if t["schema"]:
                ddl = open(t["schema"], encoding="utf-8").read()
                ddl = re.sub(r"(?is)CREATE TABLE\s+`?[^`\s(]+`?", "CREATE TABLE IF NOT EXISTS `%s`" % tbl, ddl, 1)
                c.execute(ddl)
            n = 0
            for f in t["data"]:
                if f.lower().endswith(".csv"):
                    with open(f, newline="", encoding="utf-8") as fh:
                        rows = list(csv.reader(fh))
                    for row in rows:
                        c.execute("INSERT INTO `%s` VALUES (%s)" % (tbl, ",".join(["%s"] * len(row))), row)
                        n += 1
            loaded["%s.%s" % (db, tbl)] = n
    conn.close()
    return loaded


def main(argv):
    cfg_path, check_flag, data_dir = None, None, None
    i = 0
    while i < len(argv):
        a = argv[i].lstrip("-")
        if a.startswith("config=") or a.startswith("c="):
            cfg_path = a.split("=", 1)[1]
        elif a in ("config", "c"):
            i += 1
            cfg_path = argv[i]
        elif a.startswith("d="):
            data_dir = a.split("=", 1)[1]
        elif a == "d":
            i += 1
            data_dir = argv[i]
        elif a.startswith("check-requirements="):
            check_flag = a.split("=", 1)[1].lower() in ("true", "1", "t")
        i += 1
    mark = {"argv": argv, "loaded": None}
    swap = os.environ.get("LTN_DOUBLE_SWAP")
    for pair in (swap.split(",") if swap else []):
        src, dst = pair.split(":", 1)
        with open(src, "rb") as fs, open(dst, "wb") as fd:
            fd.write(fs.read())
    rc = run(cfg_path, check_flag, mark, data_dir)
    mark["exit"] = rc
    if os.environ.get("LTN_DOUBLE_MARK"):
        with open(os.environ["LTN_DOUBLE_MARK"], "a") as f:
            f.write(json.dumps(mark) + "\n")
    return rc


def run(cfg_path, check_flag, mark, data_dir=None):
    if not cfg_path:
        print("lightning double: -config is required", file=sys.stderr)
        return 2
    with open(cfg_path, "rb") as f:
        task = tomllib.load(f)
    if data_dir:
        task.setdefault("mydumper", {})["data-source-dir"] = data_dir
    backend = task.get("tikv-importer", {}).get("backend", "")
    pd = task.get("tidb", {}).get("pd-addr", "http://127.0.0.1:2379")
    check = task.get("lightning", {}).get("check-requirements", True) if check_flag is None else check_flag
    mark["check_requirements"] = check
    if backend == "local" and check:
        msg = cdc_pitr_check(pd)
        if msg:
            print("tidb lightning encountered error: [Lightning:PreCheck:ErrCheckPrecheckFailed]"
                  "check precheck failed: %s local backend is not compatible with them. Please switch "
                  "to tidb backend then try again." % " ".join(msg), file=sys.stderr)
            return 1
    fail = os.environ.get("LTN_DOUBLE_FAIL", "")
    hold_before = os.environ.get("LTN_DOUBLE_HOLD_BEFORE")
    if hold_before:
        with open(hold_before + ".started", "w") as f:
            f.write(str(os.getpid()))
        wait_file(hold_before)
    if fail == "before-register":
        print("lightning double: injected failure before registering", file=sys.stderr)
        return 1
    lease = None
    key = "/tidb/brie/import/lightning/lightning-%s" % uuid.uuid4()
    stop = threading.Event()
    if backend == "local":
        ttl = int(os.environ.get("LTN_DOUBLE_TTL", "180"))
        lease = int(etcd(pd, "/v3/lease/grant", {"TTL": ttl})["ID"])
        etcd(pd, "/v3/kv/put", {"key": b64(key), "value": "", "lease": str(lease)})
        threading.Thread(target=keepalive, args=(pd, lease, ttl, stop), daemon=True).start()
    mark["registered"] = key if lease else None
    try:
        hold = os.environ.get("LTN_DOUBLE_HOLD")
        if hold:
            with open(hold + ".registered", "w") as f:
                f.write(key if lease else "")
            wait_file(hold)
        if fail == "killed":
            print("lightning double: ending at once, as killed (the key stays)", file=sys.stderr)
            sys.stderr.flush()
            os._exit(137)
        if fail == "before-load":
            print("lightning double: injected failure before loading", file=sys.stderr)
            return 1
        mark["loaded"] = load(task, find_tables(task))
        if fail == "after-load":
            print("lightning double: injected failure after loading", file=sys.stderr)
            return 1
        return 0
    finally:
        stop.set()
        if lease:
            etcd(pd, "/v3/lease/revoke", {"ID": str(lease)})


def wait_file(path):
    deadline = time.monotonic() + 120
    while not os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.05)


def keepalive(pd, lease, ttl, stop):
    """As the registration's keepalive stream: the lease lives while the process does."""
    while not stop.wait(max(ttl / 3.0, 0.2)):
        try:
            etcd(pd, "/v3/lease/keepalive", {"ID": str(lease)})
        except OSError:
            pass


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
