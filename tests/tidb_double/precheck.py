"""TiDB's CDC/PiTR precheck for IMPORT INTO, per TiDB version, reproduced for
the test double: it reads the same etcd keys TiDB reads (through etcd's v3 JSON
gateway instead of the gRPC client) and returns TiDB's message text.

Versions (docs/TIDB_VERSIONS.md, the gateway's policy/precheck_model.c):
- before v8.2 (v7.x, v8.0, v8.1): br/pkg/utils/cdc.go GetCDCChangefeedNameSet:
  every key under /tidb/cdc/ whose rest contains /changefeed/info/ (any cluster
  id, __backup__ too), value read in the same range; state normal, stopped or
  error counts; a value that is not {"state": string} JSON is skipped; the
  legacy /tidb/cdc/changefeed/info/<id> keys only when nothing else counted;
  message groups joined by ", ", then ",". cdc_cluster_ids="numeric" gives the
  pingcap/tidb#47322 variant (only numeric cluster ids). v8.0 and v8.1 are here:
  #53121 and #53482 (issue #53131) are first released in v8.2.0 (pingcap/docs
  releases/release-8.2.0.md), so failed, warning and running do not count.
- v8.2 and later (v8.5, master): the pkg/util/cdcutil/cdc.go code below.

Sources (see FACTS.md): pkg/executor/importer/precheck.go checkCDCPiTRTasks,
br/pkg/streamhelper (GetAllTasks: every key under /tidb/br-stream/info/,
protobuf StreamBackupTaskInfo, the name is field 4; a paused task counts),
pkg/util/cdcutil/cdc.go (GetRunningChangefeeds: keys under /tidb/cdc/
containing /changefeed/info/, cluster id must match ^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$,
state `finished` and unknown states (e.g. `removed`, `pending`) ignored;
`normal`, `stopped`, `error`, `failed`, `warning`, `running` count).
"""

import base64
import json
import re
import ssl
import urllib.request

PITR_PREFIX = b"/tidb/br-stream/info/"
CDC_PREFIX = b"/tidb/cdc/"
CHANGEFEED_PATH = b"/changefeed/info/"
_CLUSTER_RE = re.compile(rb"^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$")
_COUNTED_STATES = ("failed", "running", "warning", "normal", "stopped", "error")


class StateError(Exception):
    """etcd unreachable or a value TiDB itself could not decode."""


class EtcdReader:
    def __init__(self, endpoint, timeout=3.0, ca=None, cert=None, key=None):
        self.endpoint = endpoint.rstrip("/")
        self.timeout = timeout
        self.context = None
        if self.endpoint.startswith("https://"):
            self.context = ssl.create_default_context(cafile=ca)
            if cert:
                self.context.load_cert_chain(cert, key)

    def range(self, key, range_end=None, keys_only=False):
        body = {"key": base64.b64encode(key).decode()}
        if range_end is not None:
            body["range_end"] = base64.b64encode(range_end).decode()
        if keys_only:
            body["keys_only"] = True
        req = urllib.request.Request(self.endpoint + "/v3/kv/range",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout,
                                        context=self.context) as resp:
                out = json.loads(resp.read() or b"{}")
        except (OSError, ValueError) as e:
            raise StateError("failed to read etcd at %s: %s" % (self.endpoint, e))
        return [(base64.b64decode(kv["key"]), base64.b64decode(kv.get("value", "")))
                for kv in out.get("kvs", [])]

    def prefix(self, prefix, keys_only=False):
        end = bytearray(prefix)
        end[-1] += 1
        return self.range(prefix, bytes(end), keys_only)


def _varint(data, pos):
    shift = result = 0
    while True:
        if pos >= len(data):
            raise StateError("truncated protobuf varint")
        b = data[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise StateError("protobuf varint too long")


def task_name(info):
    """Field 4 (name) of backuppb.StreamBackupTaskInfo; other fields skipped
    by wire type, as any protobuf decoder does."""
    pos, name = 0, ""
    while pos < len(info):
        key, pos = _varint(info, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            _, pos = _varint(info, pos)
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        elif wire == 2:
            n, pos = _varint(info, pos)
            if pos + n > len(info):
                raise StateError("truncated protobuf field %d" % field)
            if field == 4:
                name = info[pos:pos + n].decode(errors="replace")
            pos += n
        else:
            raise StateError("unsupported protobuf wire type %d" % wire)
    return name


def pitr_tasks(reader):
    return [task_name(v) for _, v in reader.prefix(PITR_PREFIX)]


def _changefeeds(reader):
    """[(group, id, info_key, status_key)] as cdcutil.loadChangefeeds finds them."""
    out = []
    for key, _ in reader.prefix(CDC_PREFIX, keys_only=True):
        k = key[len(CDC_PREFIX) - 1:]
        idx = k.find(CHANGEFEED_PATH)
        if idx < 0:
            continue
        cluster_ns, cf_id = k[:idx], k[idx + len(CHANGEFEED_PATH):]
        if not cluster_ns:
            out.append(("<nil>", cf_id.decode(), key,
                        b"/tidb/cdc/changefeed/status/" + cf_id))
            continue
        cluster, sep, namespace = cluster_ns[1:].partition(b"/")
        if not sep or not _CLUSTER_RE.match(cluster):
            continue  # __backup__ or a cluster-id-only layout
        status = b"/tidb/cdc/" + cluster + b"/" + namespace + b"/changefeed/status/" + cf_id
        out.append(((cluster + b"/" + namespace).decode(), cf_id.decode(), key, status))
    return out


def running_changefeeds(reader):
    """{group: [ids]} of changefeeds TiDB's precheck counts, in key order."""
    groups = {}
    for group, cf_id, info_key, _status_key in _changefeeds(reader):
        kvs = reader.range(info_key)
        if not kvs:
            continue
        try:
            state = json.loads(kvs[0][1]).get("state", "")
        except (ValueError, AttributeError) as e:
            raise StateError("failed to check changefeed %s: %s" % (cf_id, e))
        if state in _COUNTED_STATES:
            groups.setdefault(group, []).append(cf_id)
    return groups


_OLD_COUNTED = ("normal", "stopped", "error")
_NUMERIC_RE = re.compile(rb"^[0-9]+$")


def _old_active(value):
    try:
        state = json.loads(value).get("state", "")
    except (ValueError, AttributeError):
        return False  # "maybe a compatible issue, skip this key"
    return isinstance(state, str) and state in _OLD_COUNTED


def old_changefeeds(reader, cluster_ids="any"):
    """[(group, [ids])] as br/pkg/utils GetCDCChangefeedNameSet (before v8.2) finds them."""
    groups = {}
    for key, value in reader.prefix(CDC_PREFIX):
        k = key[len(CDC_PREFIX):]
        idx = k.find(CHANGEFEED_PATH)
        if idx < 0:
            continue
        group, cf_id = k[:idx], k[idx + len(CHANGEFEED_PATH):]
        if cluster_ids == "numeric":
            cluster, sep, _ = group.partition(b"/")
            if not sep or not _NUMERIC_RE.match(cluster):
                continue
        if _old_active(value):
            groups.setdefault(group.decode(), []).append(cf_id.decode())
    if not groups:
        legacy = CDC_PREFIX + b"changefeed/info/"
        for key, value in reader.prefix(legacy):
            cf_id = key[len(legacy):]
            if cf_id and _old_active(value):
                groups.setdefault("<nil>", []).append(cf_id.decode())
    return groups


def _old_message(groups):
    return "found CDC changefeed(s): " + ", ".join(
        "cluster/namespace: %s changefeed(s): %s" % (g, _go_list(ids))
        for g, ids in groups.items()) + ","


def _go_list(items):
    return "[" + " ".join(items) + "]"


def check(reader, version=(8, 5, 0), cdc_cluster_ids="any"):
    """None if the import may go on, else TiDB `version`'s message after 'PreCheck failed: '."""
    tasks = pitr_tasks(reader)
    if tasks:
        return "found PiTR log streaming task(s): %s," % _go_list(tasks)
    if version < (8, 2, 0):
        groups = old_changefeeds(reader, cdc_cluster_ids)
        return _old_message(groups) if groups else None
    groups = running_changefeeds(reader)
    if groups:
        msg = "found CDC changefeed(s): "
        for group, ids in groups.items():
            msg += "cluster/namespace: %s changefeed(s): %s, " % (group, _go_list(ids))
        return msg
    return None
