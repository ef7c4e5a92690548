"""Cluster-state writers for tests: puts log backup tasks and TiCDC changefeeds
into a real etcd (the one PD embeds) in the exact encodings BR and TiCDC use,
and starts/stops/kills a real etcd server for fault tests.

Owns: the etcd v3 JSON gateway client used by tests (put/range/deleterange),
the hand-written protobuf encoding of backuppb.StreamBackupTaskInfo, the
TiCDC changefeed info/status JSON, and the `Etcd` process helper.

Facts used here (field numbers, key layouts, JSON names) are recorded with
their sources in FACTS.md next to this file.
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid

from portpick import free_port  # noqa: F401  (the tests' one port allocator; cs.free_port)

# ---------------------------------------------------------------------------
# etcd v3 JSON gateway (POST /v3/kv/...), keys and values base64.
# ---------------------------------------------------------------------------


def _b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def prefix_end(prefix):
    """etcd's range_end for a prefix scan: the prefix with its last byte + 1."""
    if isinstance(prefix, str):
        prefix = prefix.encode()
    b = bytearray(prefix)
    while b:
        if b[-1] < 0xFF:
            b[-1] += 1
            return bytes(b)
        b.pop()
    return b"\x00"  # whole keyspace


def _post(etcd, path, body, timeout=5.0, context=None):
    req = urllib.request.Request(
        etcd.rstrip("/") + path,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
        return json.loads(resp.read() or b"{}")


def put(etcd, key, value):
    """Put one key; value is bytes or str."""
    _post(etcd, "/v3/kv/put", {"key": _b64(key), "value": _b64(value)})


def delete_prefix(etcd, prefix):
    _post(etcd, "/v3/kv/deleterange",
          {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))})


def delete_key(etcd, key):
    _post(etcd, "/v3/kv/deleterange", {"key": _b64(key)})


def get_prefix(etcd, prefix):
    """Return [(key bytes, value bytes)] under prefix, sorted by key."""
    out = _post(etcd, "/v3/kv/range",
                {"key": _b64(prefix), "range_end": _b64(prefix_end(prefix))})
    return [(base64.b64decode(kv["key"]), base64.b64decode(kv.get("value", "")))
            for kv in out.get("kvs", [])]


def clear(etcd):
    """Remove everything TiDB/BR/TiCDC and importgate keep in etcd."""
    delete_prefix(etcd, "/tidb/")
    delete_prefix(etcd, "/keyspaces/")
    delete_prefix(etcd, "/importgate/")


# ---------------------------------------------------------------------------
# Protobuf (proto3) hand encoding: only what StreamBackupTaskInfo needs.
# ---------------------------------------------------------------------------


def pb_varint(n):
    if n < 0:
        n &= (1 << 64) - 1  # proto3 int64 negatives are 10-byte varints
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_key(field, wire_type):
    return pb_varint((field << 3) | wire_type)


def pb_uint(field, value):
    """Varint field; proto3 omits zero values, as gogoproto's Marshal does."""
    if not value:
        return b""
    return pb_key(field, 0) + pb_varint(value)


def pb_bytes(field, value, keep_empty=False):
    if isinstance(value, str):
        value = value.encode()
    if not value and not keep_empty:
        return b""
    return pb_key(field, 2) + pb_varint(len(value)) + value


def storage_backend(storage):
    """backuppb.StorageBackend for 's3://bucket/prefix?endpoint=..&region=..'
    or 'local:///path' (oneof: local = 2, s3 = 3; S3: endpoint 1, region 2,
    bucket 3, prefix 4; Local: path 1)."""
    if storage.startswith("local://"):
        return pb_bytes(2, pb_bytes(1, storage[len("local://"):]), keep_empty=True)
    if storage.startswith("s3://"):
        rest = storage[len("s3://"):]
        query = ""
        if "?" in rest:
            rest, query = rest.split("?", 1)
        bucket, _, prefix = rest.partition("/")
        params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        s3 = (pb_bytes(1, params.get("endpoint", "")) + pb_bytes(2, params.get("region", ""))
              + pb_bytes(3, bucket) + pb_bytes(4, prefix))
        return pb_bytes(3, s3, keep_empty=True)
    raise ValueError("unsupported storage %r (use s3:// or local://)" % storage)


def stream_backup_task_info(name, table_filter, start_ts, end_ts,
                            storage="s3://backup/log", compression_type=3):
    """Bytes of backuppb.StreamBackupTaskInfo, fields in ascending order as
    gogoproto marshals them: storage 1 (message), start_ts 2, end_ts 3
    (uint64), name 4 (string), table_filter 5 (repeated string),
    compression_type 6 (enum; ZSTD = 3)."""
    out = pb_bytes(1, storage_backend(storage), keep_empty=True)
    out += pb_uint(2, start_ts) + pb_uint(3, end_ts)
    out += pb_bytes(4, name)
    for f in table_filter:
        out += pb_bytes(5, f, keep_empty=True)
    out += pb_uint(6, compression_type)
    return out


# ---------------------------------------------------------------------------
# Log backup tasks (BR's streamhelper layout under /tidb/br-stream/).
# ---------------------------------------------------------------------------

BR_STREAM = "/tidb/br-stream"


def keyspace_ns(keyspace_id):
    """The etcd namespace a keyspace cluster's TiDB (and BR through its domain) puts before
    its keys: pkg/keyspace MakeKeyspaceEtcdNamespace, "" without a keyspace (FACTS.md)."""
    return "" if keyspace_id is None else "/keyspaces/tidb/%d" % keyspace_id


def _tso_now():
    """A TSO for 'now': physical ms << 18, as PD allocates them."""
    return int(time.time() * 1000) << 18


def put_log_backup_task(etcd, name, table_filter=("*.*",), paused=False,
                        start_ts=None, end_ts=(1 << 63) - 1,
                        storage="s3://backup/log", pause_v2=False,
                        checkpoint_ts=None, key_name=None, keyspace_id=None):
    """Write a log backup task as `br log start` does (task info protobuf,
    one range key, a global checkpoint) and, if paused, the pause key as
    `br log pause` does: an empty value (v8.5.0) or, with pause_v2=True, the
    PauseV2 JSON of later BR versions. key_name lets a test make the key
    differ from the protobuf name (readers must use the protobuf name). keyspace_id: the
    task of a keyspace cluster, every key under its namespace (br log start puts it through
    its domain's namespaced etcd client; FACTS.md)."""
    start_ts = _tso_now() if start_ts is None else start_ts
    key_name = name if key_name is None else key_name
    base = keyspace_ns(keyspace_id) + BR_STREAM
    info = stream_backup_task_info(name, list(table_filter), start_ts, end_ts, storage)
    put(etcd, "%s/info/%s" % (base, key_name), info)
    # BR keeps ranges and checkpoints beside the info; readers must skip them.
    put(etcd, ("%s/ranges/%s/" % (base, key_name)).encode() + b"t\x80", b"t\xff")
    cp = start_ts if checkpoint_ts is None else checkpoint_ts
    put(etcd, "%s/checkpoint/%s/central_global" % (base, key_name),
        cp.to_bytes(8, "big"))
    if paused:
        pause_log_backup_task(etcd, key_name, pause_v2, keyspace_id)
    return info


def pause_log_backup_task(etcd, name, pause_v2=False, keyspace_id=None):
    value = b""
    if pause_v2:
        value = json.dumps({
            "severity": "REGULAR_OPERATION", "operation_hostname": socket.gethostname(),
            "operation_pid": os.getpid(),
            "operation_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "payload_type": "", "payload": None}).encode()
    put(etcd, "%s%s/pause/%s" % (keyspace_ns(keyspace_id), BR_STREAM, name), value)


def resume_log_backup_task(etcd, name):
    delete_key(etcd, "%s/pause/%s" % (BR_STREAM, name))


def delete_log_backup_task(etcd, name):
    """What `br log stop` removes."""
    delete_key(etcd, "%s/info/%s" % (BR_STREAM, name))
    delete_prefix(etcd, "%s/ranges/%s/" % (BR_STREAM, name))
    delete_prefix(etcd, "%s/checkpoint/%s/" % (BR_STREAM, name))
    delete_key(etcd, "%s/pause/%s" % (BR_STREAM, name))
    delete_prefix(etcd, "%s/last-error/%s/" % (BR_STREAM, name))


# ---------------------------------------------------------------------------
# TiCDC changefeeds.
# ---------------------------------------------------------------------------

CDC = "/tidb/cdc"


def changefeed_keys(cf_id, cluster="default", namespace="default", legacy_layout=False):
    """(info key, status key) as TiCDC >= v6.2 or <= v6.1 lays them out."""
    if legacy_layout:
        return ("%s/changefeed/info/%s" % (CDC, cf_id),
                "%s/changefeed/status/%s" % (CDC, cf_id))
    base = "%s/%s/%s" % (CDC, cluster, namespace)
    return base + "/changefeed/info/" + cf_id, base + "/changefeed/status/" + cf_id


def changefeed_info(cf_id, state="normal", rules=("*.*",), case_sensitive=False,
                    namespace="default", start_ts=None, sink_uri="blackhole://",
                    error=None, upstream_id=7300000000000000001):
    """ChangeFeedInfo JSON as TiCDC's owner writes it (field names from
    tiflow cdc/model/changefeed.go and pkg/config/replica_config.go)."""
    start_ts = _tso_now() if start_ts is None else start_ts
    err = None
    if error:
        err = {"time": "2025-01-01T00:00:00Z", "addr": "127.0.0.1:8300",
               "code": "CDC:ErrSinkURIInvalid", "message": error}
    return {
        "upstream-id": upstream_id,
        "namespace": namespace,
        "changefeed-id": cf_id,
        "sink-uri": sink_uri,
        "create-time": "2025-01-01T00:00:00.000000+00:00",
        "start-ts": start_ts,
        "target-ts": 0,
        "admin-job-type": 0,
        "sort-engine": "unified",
        "sort-dir": "",
        "config": {
            "memory-quota": 1073741824,
            "case-sensitive": case_sensitive,
            "force-replicate": False,
            "ignore-ineligible-table": False,
            "check-gc-safe-point": True,
            "enable-sync-point": False,
            "enable-table-monitor": False,
            "bdr-mode": False,
            "sync-point-interval": 600000000000,
            "sync-point-retention": 86400000000000,
            "filter": {"rules": list(rules), "ignore-txn-start-ts": None,
                       "event-filters": None},
            "mounter": {"worker-num": 16},
            "sink": {"protocol": "", "terminator": "\r\n", "date-separator": "none",
                     "enable-partition-separator": True},
            "consistent": {"level": "none", "max-log-size": 64, "flush-interval": 2000,
                           "storage": ""},
            "scheduler": {"enable-table-across-nodes": False, "region-threshold": 100000},
            "sql-mode": "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,"
                        "NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,"
                        "NO_ENGINE_SUBSTITUTION",
        },
        "state": state,
        "error": err,
        "warning": None,
        "creator-version": "v8.5.0",
        "epoch": 1,
    }


def put_changefeed(etcd, cf_id, state="normal", rules=("*.*",), case_sensitive=False,
                   cluster="default", namespace="default", legacy_layout=False,
                   start_ts=None, checkpoint_ts=None, write_status=True,
                   sink_uri="blackhole://", error=None, raw_info=None):
    """Write a changefeed's info JSON (and its status JSON, plus the capture,
    owner, upstream and task-position keys TiCDC keeps nearby, which readers
    must skip). raw_info, if given, is written verbatim as the info value."""
    info_key, status_key = changefeed_keys(cf_id, cluster, namespace, legacy_layout)
    info = changefeed_info(cf_id, state, rules, case_sensitive, namespace, start_ts,
                           sink_uri, error)
    value = raw_info if raw_info is not None else json.dumps(info, separators=(",", ":"))
    put(etcd, info_key, value)
    if write_status:
        cp = info["start-ts"] if checkpoint_ts is None else checkpoint_ts
        put(etcd, status_key, json.dumps(
            {"checkpoint-ts": cp, "min-table-barrier-ts": cp, "admin-job-type": 0},
            separators=(",", ":")))
    capture = str(uuid.uuid5(uuid.NAMESPACE_DNS, cluster))
    if legacy_layout:
        put(etcd, "%s/capture/%s" % (CDC, capture), b'{"id":"%s"}' % capture.encode())
        put(etcd, "%s/owner/223184ad80a88b0b" % CDC, capture)
        put(etcd, "%s/task/position/%s/%s" % (CDC, capture, cf_id), b"{}")
    else:
        meta = "%s/%s/__cdc_meta__" % (CDC, cluster)
        put(etcd, "%s/capture/%s" % (meta, capture), b'{"id":"%s"}' % capture.encode())
        put(etcd, "%s/owner/22318498f4dd6639" % meta, capture)
        put(etcd, "%s/meta/meta-version" % meta, b"1")
        put(etcd, "%s/%s/%s/upstream/7300000000000000001" % (CDC, cluster, namespace),
            b'{"id":7300000000000000001,"pd-endpoints":"http://127.0.0.1:2379"}')
        put(etcd, "%s/%s/%s/task/position/%s/%s" % (CDC, cluster, namespace, capture, cf_id),
            b"{}")
    return info


def delete_changefeed(etcd, cf_id, cluster="default", namespace="default",
                      legacy_layout=False):
    info_key, status_key = changefeed_keys(cf_id, cluster, namespace, legacy_layout)
    delete_key(etcd, info_key)
    delete_key(etcd, status_key)


def put_backup_changefeed(etcd, cf_id, state="normal"):
    """A changefeed under /tidb/cdc/__backup__/ (left by TiCDC's metadata
    migration); TiDB's precheck ignores it."""
    put(etcd, "%s/__backup__/changefeed/info/%s" % (CDC, cf_id),
        json.dumps(changefeed_info(cf_id, state)))


# ---------------------------------------------------------------------------
# A real etcd server for tests.
# ---------------------------------------------------------------------------


class Etcd:
    """Start Debian's etcd on free loopback ports; stop, kill -9, SIGSTOP it."""

    def __init__(self, binary="etcd", client_port=None, peer_port=None, data_dir=None,
                 log_path=None, host="127.0.0.1", prefix=()):
        """host: the address it listens on and is reached at; prefix: a command prefix for
        etcd (e.g. a network namespace's)."""
        self.binary = binary
        self.host = host
        self.prefix = list(prefix)
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="etcd-test-")
        self.log_path = log_path or os.path.join(self.data_dir, "etcd.log")
        self.proc = None
        self._log = None

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.client_port)

    def start(self, timeout=15.0):
        peer = "http://%s:%d" % (self.host, self.peer_port)
        cmd = [self.binary, "--data-dir", os.path.join(self.data_dir, "data"),
               "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
               "--name", "n1", "--initial-cluster", "n1=" + peer]
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.prefix + cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        self.wait_healthy(timeout)
        return self

    def healthy(self):
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=1.0) as resp:
                return json.loads(resp.read()).get("health") == "true"
        except (OSError, ValueError, urllib.error.URLError):
            return False

    def wait_healthy(self, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError("etcd exited with %s; see %s"
                                   % (self.proc.returncode, self.log_path))
            if self.healthy():
                return
            time.sleep(0.05)
        raise RuntimeError("etcd not healthy after %.1fs; see %s" % (timeout, self.log_path))

    def pause(self):
        """SIGSTOP: the port stays open but nothing answers (a hung PD)."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def restart(self, timeout=15.0):
        """Start again on the same ports and data (after stop or kill9)."""
        self.stop()
        return self.start(timeout)

    def cleanup(self):
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
