#!/usr/bin/python3
"""TiDB test double: a small MySQL-protocol server that answers as TiDB v8.5
does for the statements importgate cares about, for end-to-end tests.

WHAT IT MODELS
- Handshake v10 with the configured server version (default
  8.0.11-TiDB-v8.5.0), a fresh 20-byte scramble per connection, TiDB-like
  capabilities (PROTOCOL_41, SECURE_CONNECTION, PLUGIN_AUTH,
  PLUGIN_AUTH_LENENC_CLIENT_DATA, CONNECT_WITH_DB, MULTI_STATEMENTS,
  MULTI_RESULTS, PS_MULTI_RESULTS, DEPRECATE_EOF, LOCAL_FILES, CONNECT_ATTRS,
  TRANSACTIONS, LONG_PASSWORD, LONG_FLAG, FOUND_ROWS, INTERACTIVE; SSL when a
  certificate is configured), default auth plugin configurable.
- Real authentication: mysql_native_password; caching_sha2_password fast
  auth (0x01 0x03 once a full auth cached the user) and full auth (0x01 0x04:
  clear password over TLS, or the RSA exchange without TLS: 0x02 -> PEM key,
  RSA-OAEP(SHA-1) of (password+NUL) XOR scramble); AuthSwitchRequest when
  the client's plugin is not the user's; COM_CHANGE_USER (an AuthSwitchRequest
  with the handshake's scramble only as TiDB's checkAuthPlugin sends one, see
  below); TLS upgrade after the SSLRequest; error 1045 on a bad
  password. `FLUSH PRIVILEGES` empties the caching_sha2 cache.
- COM_QUERY (multi-statements split on `;` outside quotes/comments, one
  result per statement with SERVER_MORE_RESULTS_EXISTS; as TiDB parses the whole
  text first, a malformed IMPORT INTO anywhere in it is the batch's only answer), COM_STMT_PREPARE /
  EXECUTE (binary protocol, parameters substituted as literals) / CLOSE /
  RESET / SEND_LONG_DATA, COM_INIT_DB, COM_PING, COM_QUIT,
  COM_RESET_CONNECTION, COM_SET_OPTION, COM_CHANGE_USER, COM_REFRESH (answered twice
  for REFRESH_GRANT, as TiDB's handleRefresh does), COM_STATISTICS. Result sets end with an OK packet
  (0xFE header) when CLIENT_DEPRECATE_EOF was negotiated, with EOF otherwise.
- Every statement it receives is appended, flushed at once, as one JSON line
  {"ts", "conn", "user", "db", "tls", "cmd": query|prepare|execute, "sql"} to
  --log (execute lines also carry "prepared_sql").
- IMPORT INTO [db.]tbl [(cols)] [SET ...] FROM 'loc' [FORMAT 'f'] [WITH ...]
  and IMPORT INTO tbl FROM SELECT ... (v8.0+): option errors 8163/8164/8165/
  8166/8157 exactly as TiDB's initOptions (DISABLE_PRECHECK unknown before
  v8.0, CLOUD_STORAGE_URI before v7.4); then TiDB's CheckRequirements in its
  order: active job on the same table (file source), empty source
  (location containing `empty`), target table not empty, then the CDC/PiTR
  precheck reading etcd (--etcd) unless DISABLE_PRECHECK: log backup tasks
  under /tidb/br-stream/info/ (paused ones too) and changefeeds under
  /tidb/cdc/ with TiDB's state rules and message texts (precheck.py).
  Success: TiDB's 13-column row (Job_ID .. Created_By); DETACHED returns it at
  once with Status `pending`; the job then goes running (Phase `importing`)
  after --job-delay seconds and finished (or failed) after twice that. A
  non-detached import waits for the end. FROM SELECT returns OK with
  `Records: N, ID: <uuid>`. Job ids count up from --first-job-id.
- SHOW IMPORT JOB n / SHOW IMPORT JOBS (8170 for an unknown id), CANCEL
  IMPORT JOB n (8171 unless pending/running).
- BACKUP TABLE/DATABASE ... TO 'uri': one row (Destination, Size, BackupTS,
  Queue Time, Execution Time) like TiDB's BRIE executor.
- SELECT without FROM of literals, NULL, VERSION(), DATABASE(), SCHEMA(),
  CONNECTION_ID(), USER(), CURRENT_USER(), HEX(x), CONCAT(...), @user
  variables (@v, @`v`, @'v', @"v"; unset: NULL), @@[session.|global.]
  sql_mode / character_set_client / version / ...; LIMIT is ignored. So the
  gateway's probe `SELECT /* ... */ HEX(DATABASE()), @@session.sql_mode,
  @@session.character_set_client, HEX(USER())[, HEX(@`v`) ...] LIMIT 1` is
  answered with one row, as TiDB answers it.
- Session state as TiDB keeps it (FACTS.md section 8): sql_mode (SET
  [SESSION|GLOBAL] sql_mode, @@[session.|global.]sql_mode, DEFAULT, CONCAT;
  a COM_QUERY is lexed whole with the mode of its start: NO_BACKSLASH_ESCAPES,
  ANSI_QUOTES); character_set_client (SET NAMES, CHARACTER SET, from the
  handshake's collation); user variables (SET @v = / := expr); USE. COM_INIT_DB
  and the handshake database run TiDB's useDB ("use `" + name + "`", first
  statement only: "shop`#" selects shop), and the name as sent is kept for
  COM_RESET_CONNECTION, which opens a fresh session (global sql_mode, no user
  variables, no prepared statements, the handshake's character set) and
  re-runs that database (not the last USE). COM_CHANGE_USER is read as
  handleChangeUser reads it (one auth length byte always; plugin name of any
  length; attributes ignored), switches auth only when a plugin name was read
  and differs, and opens a fresh session in the packet's database (none if
  empty). Session commands are recorded in `state.commands` ({"conn", "cmd":
  init_db|reset_connection|change_user, "arg", "db"[, "user"]}), not in the
  statement log.
- PROXY protocol as TiDB's [proxy-protocol] networks / fallbackable (proxy_networks,
  proxy_fallbackable; --proxy-protocol-networks): after the greeting, a connection from
  those networks must send a v1 or v2 header, whose source becomes the client's host (USER()
  says user@host, the statement log's `host`); `state.connections` records what each
  connection sent (proxyproto.py, FACTS.md section 10).
- EXPLAIN|DESC|DESCRIBE ANALYZE IMPORT INTO ...: the import runs as above (DETACHED returns
  once the job is submitted) and the answer is EXPLAIN ANALYZE's plan rows (id, estRows,
  actRows, ...), not the import's row.
- CREATE/DROP/TRUNCATE/INSERT (OK; they drive the "target table is not empty"
  model). Anything else: OK. It forwards nothing anywhere.

FAILURE INJECTION (for tests)
- IMPORT location containing `fail`: the job ends `failed` with
  Result_Message `injected failure for <location>`; non-detached imports get
  error 1105 with that message.
- IMPORT location containing `empty`: PreCheck failed: No file matched, ...
- `rows=N` in the location sets Imported_Rows (default 100).
- BACKUP uri containing `fail`: error 8124 `Backup failed: injected failure`.
- Slow work, for tests of work longer than a lease (Config only, not on the command
  line): `slow_backup` seconds, a BACKUP whose uri contains `slow` takes that long;
  `slow_import` seconds, an import whose location contains `slow` runs that long in
  total (pending half, running half). 0 (the default) turns either off.
- `on_statement(entry)` (Config only): called in the session's thread after a statement
  is logged and before it runs (a test can act at that moment, e.g. kill the client).
  Log entries carry the client's TCP port as `peer` and its host as `host`; `state.backups` keeps each BACKUP
  with its `start` and `end` times and whether it succeeded (`ok`).
- A table is non-empty after INSERT INTO it or a finished import into it;
  TRUNCATE/DROP/CREATE make it empty again (--no-empty-check disables).

WHAT IT DOES NOT MODEL
- Schemas, data, SQL semantics: any table and database exists; SELECT with
  FROM returns OK. A SET whose value it cannot evaluate (subqueries, most
  functions) is answered 1105 `tidb double: cannot evaluate ...`; useDB does
  not check that the statements after the first in "use `name`" parse.
- Privileges: every user sees and may cancel every job (SUPER).
- Compression: zlib (CLIENT_COMPRESS is not advertised although TiDB does); zstd only with
  zstd=True (--zstd), whole frames of at most 16 MiB - 1 (mysqlwire.ZstdSocket),
  CLIENT_QUERY_ATTRIBUTES, server-side cursors (COM_STMT_FETCH), LOAD DATA
  other than LOCAL (LOAD DATA LOCAL reads the file as TiDB does, under the session's
  max_allowed_packet, and keeps it in state.files), max_allowed_packet on command
  packets, TiDB's own auth plugins (tidb_sm3_password, ...).
- The global-sort privilege check, real file access, CSV parsing, the
  precheck's exact behaviour when etcd is unreachable (the double answers
  1105 `failed to read etcd ...`), non-detached cancellation errors.
- Go's random map order: a multi-namespace CDC message lists namespaces in
  etcd key order.
"""

import argparse
import datetime
import json
import os
import signal
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import importstmt  # noqa: E402
import mysqlauth  # noqa: E402
import mysqlwire as w  # noqa: E402
import precheck  # noqa: E402
import proxyproto  # noqa: E402
import sqllex  # noqa: E402
from importstmt import ER_SERVER_SHUTDOWN, SQLError  # noqa: E402

DEFAULT_VERSION = "8.0.11-TiDB-v8.5.0"
# TiDB's default (global) sql_mode.
DEFAULT_SQL_MODE = ("ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,NO_ZERO_DATE,"
                    "ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION")
# Collation ids a handshake may carry -> character_set_client of the session TiDB opens
# (OpenCtx -> SetCollation; an unknown id keeps the default utf8mb4).
COLLATION_CHARSETS = {8: "latin1", 47: "latin1", 11: "ascii", 65: "ascii", 33: "utf8", 83: "utf8",
                      45: "utf8mb4", 46: "utf8mb4", 224: "utf8mb4", 255: "utf8mb4", 63: "binary",
                      28: "gbk", 87: "gbk", 248: "gb18030", 249: "gb18030"}
VERSION_COMMENT = "TiDB Server (Apache License 2.0) Community Edition, MySQL 8.0 compatible"

SERVER_CAPS = (w.CLIENT_LONG_PASSWORD | w.CLIENT_FOUND_ROWS | w.CLIENT_LONG_FLAG
               | w.CLIENT_CONNECT_WITH_DB | w.CLIENT_LOCAL_FILES | w.CLIENT_PROTOCOL_41
               | w.CLIENT_INTERACTIVE | w.CLIENT_TRANSACTIONS | w.CLIENT_SECURE_CONNECTION
               | w.CLIENT_MULTI_STATEMENTS | w.CLIENT_MULTI_RESULTS
               | w.CLIENT_PS_MULTI_RESULTS | w.CLIENT_PLUGIN_AUTH | w.CLIENT_CONNECT_ATTRS
               | w.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | w.CLIENT_DEPRECATE_EOF)

# max_allowed_packet (FACTS.md 9): default 64 MiB, 1024 to 1 GiB, a multiple of 1024.
DEF_MAX_ALLOWED_PACKET = 67108864
MIN_MAX_ALLOWED_PACKET = 1024
MAX_MAX_ALLOWED_PACKET = 1073741824
ER_VARIABLE_IS_READONLY = 1621
ER_NOT_ALLOWED_COMMAND = 1148

# TiDB's SHOW IMPORT JOB(S) / IMPORT INTO result (v7.2 - v8.5).
IMPORT_COLUMNS = [
    w.Column("Job_ID", w.TYPE_LONGLONG, 21), w.Column("Data_Source", w.TYPE_STRING, 4096),
    w.Column("Target_Table", w.TYPE_STRING, 261), w.Column("Table_ID", w.TYPE_LONGLONG, 21),
    w.Column("Phase", w.TYPE_STRING, 64), w.Column("Status", w.TYPE_STRING, 64),
    w.Column("Source_File_Size", w.TYPE_STRING, 64),
    w.Column("Imported_Rows", w.TYPE_LONGLONG, 21),
    w.Column("Result_Message", w.TYPE_STRING, 4096),
    w.Column("Create_Time", w.TYPE_TIMESTAMP, 26, decimals=6),
    w.Column("Start_Time", w.TYPE_TIMESTAMP, 26, decimals=6),
    w.Column("End_Time", w.TYPE_TIMESTAMP, 26, decimals=6),
    w.Column("Created_By", w.TYPE_STRING, 300),
]
# EXPLAIN ANALYZE's result in the default (row) format (pkg/planner/core explain: the
# fieldNames of ExplainFormatROW with Analyze).
EXPLAIN_ANALYZE_COLUMNS = [w.Column(n, w.TYPE_VAR_STRING, 256) for n in (
    "id", "estRows", "actRows", "task", "access object", "execution info", "operator info",
    "memory", "disk")]
BACKUP_COLUMNS = [
    w.Column("Destination", w.TYPE_VAR_STRING, 255), w.Column("Size", w.TYPE_LONGLONG, 20),
    w.Column("BackupTS", w.TYPE_LONGLONG, 20), w.Column("Queue Time", w.TYPE_DATETIME, 19),
    w.Column("Execution Time", w.TYPE_DATETIME, 19),
]


def bytes_size(n):
    """go-units BytesSize: binary units, 4 significant digits ("37.25KiB")."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    size, i = float(n), 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024.0
        i += 1
    return "%.4g%s" % (size, units[i])


def _dt(ts):
    return None if ts is None else datetime.datetime.fromtimestamp(ts)


class Job:
    """One IMPORT INTO job; its status is a function of time (explicit
    phases: pending -> running -> finished|failed, or cancelled)."""

    def __init__(self, job_id, location, db, table, table_id, created_by, delay, rows,
                 fail_msg, now):
        self.id = job_id
        self.location = location
        self.db = db
        self.table = table
        self.table_id = table_id
        self.created_by = created_by
        self.rows = rows
        self.fail_msg = fail_msg
        self.created = now
        self.start_at = now + delay
        self.end_at = now + 2 * delay
        self.cancelled_at = None

    def status(self, now):
        if self.cancelled_at is not None:
            return "cancelled"
        if now < self.start_at:
            return "pending"
        if now < self.end_at:
            return "running"
        return "failed" if self.fail_msg else "finished"

    def row(self, now):
        st = self.status(now)
        phase, rows, msg, start, end = "", None, "", None, None
        if st == "running":
            phase, start = "importing", self.start_at
        elif st == "finished":
            rows, start, end = self.rows, self.start_at, self.end_at
        elif st == "failed":
            phase, rows, msg = "importing", 0, self.fail_msg
            start, end = self.start_at, self.end_at
        elif st == "cancelled":
            if self.cancelled_at >= self.start_at:
                phase, start = "importing", self.start_at
            end = self.cancelled_at
        return [self.id, self.location, "`%s`.`%s`" % (self.db, self.table), self.table_id,
                phase, st, bytes_size(self.rows * 37), rows, msg, _dt(self.created),
                _dt(start), _dt(end), self.created_by]


class Config:
    def __init__(self, port=0, host="127.0.0.1", version=DEFAULT_VERSION, etcd=None,
                 log=None, tls_cert=None, tls_key=None, users=None,
                 default_auth=mysqlauth.NATIVE, job_delay=0.3, first_job_id=1,
                 empty_check=True, rsa_key=None, select_rows=1, etcd_timeout=3.0,
                 etcd_ca=None, etcd_cert=None, etcd_key=None, sha2_mode="mysql",
                 slow_backup=0.0, slow_import=0.0, on_statement=None, proxy_networks="",
                 proxy_fallbackable=False, zstd=False, shutdown_stops=False, greeting=None,
                 release=None, nextgen=None, endless_show_import=False):
        # `version` is TiDB's mysql.ServerVersion: the greeting, @@version and VERSION()
        # all carry it, and TiDB's `server-version` setting replaces it. `release` is what
        # TIDB_VERSION() reports (printer.GetTiDBInfo's "Release Version", which that setting
        # does not change; default: the release in `version`). `greeting` is what a proxy
        # in between sends instead (TiProxy copies some backend's version or greets
        # "5.7.25-TiDB-None"); default: `version`. FACTS.md section 11.
        # Not TiDB: a server whose answer to SHOW IMPORT JOB(S) never ends (its rows, then the
        # last one again and again until the reader goes away), for the gateway's bounds on
        # what its service logins read (attack30 follow-up, test_attack30_obl_endless.py).
        self.endless_show_import = endless_show_import
        self.greeting = greeting if greeting is not None else version
        self.release = release
        # A next-gen (TiDB X) build whatever `version` says: master before v26.3 named its
        # release without a CLOUD marker and applied `server-version` on either kernel, so
        # only TIDB_VERSION()'s "Kernel Type" told (FACTS.md section 11); default: a
        # `version` with -CLOUD. in it.
        self.nextgen = nextgen
        # A COM_SHUTDOWN / SHUTDOWN that succeeds stops the double a second later, as TiDB's
        # executeShutdown signals its own process (Session.shutdown); off by default: a
        # module's double must outlive any one test.
        self.shutdown_stops = shutdown_stops
        self.zstd = zstd  # offer CLIENT_ZSTD_COMPRESSION_ALGORITHM (mysqlwire.ZstdSocket)
        self.port = port
        self.host = host
        self.version = version
        self.etcd = etcd
        self.log = log
        self.tls_cert = tls_cert
        self.tls_key = tls_key
        # name -> (password, plugin)
        self.users = dict(users) if users else {"root": ("", mysqlauth.NATIVE)}
        if default_auth not in mysqlauth.PLUGINS:
            raise ValueError("unsupported auth plugin %r" % default_auth)
        self.default_auth = default_auth
        self.job_delay = job_delay
        self.first_job_id = first_job_id
        self.empty_check = empty_check
        self.rsa_key = rsa_key
        self.select_rows = select_rows
        self.etcd_timeout = etcd_timeout
        self.etcd_ca, self.etcd_cert, self.etcd_key = etcd_ca, etcd_cert, etcd_key
        if sha2_mode not in ("mysql", "tidb"):
            raise ValueError("sha2_mode must be mysql or tidb")
        self.sha2_mode = sha2_mode
        self.slow_backup = slow_backup
        self.slow_import = slow_import
        self.on_statement = on_statement
        # TiDB's [proxy-protocol] networks / fallbackable (proxyproto.py, FACTS.md section 10)
        self.proxy_networks = proxy_networks
        self.proxy_fallbackable = proxy_fallbackable


def tidb_info(cfg, version):
    """TIDB_VERSION() as pingcap/tidb pkg/util/printer GetTiDBInfo writes it (the same
    lines in v7.5, v8.1 and v8.5; master adds "Kernel Type", Classic or Next Generation);
    TiDB X reports its release as TiDB-X-CLOUD.YYYYMM.P (FACTS.md section 11)."""
    nextgen = cfg.nextgen if cfg.nextgen is not None else "-CLOUD." in cfg.version
    if cfg.release:
        rel = cfg.release
    elif nextgen and "TiDB-" in cfg.version:
        rel = cfg.version[cfg.version.index("TiDB-"):]
    else:
        rel = "v%d.%d.%d" % version
    info = ("Release Version: %s\nEdition: Community\nGit Commit Hash: None\nGit Branch: None\n"
            "UTC Build Time: None\nGoVersion: go1.23.12\nRace Enabled: false\n"
            "Check Table Before Drop: false\nStore: tikv" % rel)
    if nextgen:
        info += "\nKernel Type: Next Generation"
    elif version >= (9, 0, 0):
        info += "\nKernel Type: Classic"
    return info


def parse_user(spec):
    """'name:password:plugin' (plugin optional) -> (name, (password, plugin))."""
    parts = spec.split(":")
    if len(parts) < 2 or len(parts) > 3 or not parts[0]:
        raise ValueError("bad user spec %r (want name:password[:plugin])" % spec)
    plugin = parts[2] if len(parts) == 3 and parts[2] else mysqlauth.NATIVE
    if plugin not in mysqlauth.PLUGINS:
        raise ValueError("unsupported plugin %r" % plugin)
    return parts[0], (parts[1], plugin)


class State:
    """Shared by all connections of one double."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.version = importstmt.parse_version(cfg.release or cfg.version)
        self.lock = threading.Lock()
        self.started = time.time()
        self.next_conn = 1
        self.next_job = cfg.first_job_id
        self.jobs = {}
        self.table_ids = {}
        self.nonempty = set()
        self.sha2_cache = set()  # (user, password) after a full auth
        self.statements = []
        self.commands = []  # session commands: init_db, reset_connection, change_user
        self.global_sql_mode = DEFAULT_SQL_MODE
        self.global_max_allowed_packet = DEF_MAX_ALLOWED_PACKET
        self.files = []  # LOCAL INFILE contents received, in order (bytes)
        self.stop_server = None  # DoubleServer.stop, for a SHUTDOWN (cfg.shutdown_stops)
        self.healthy = True  # False: a graceful shutdown has begun (COM_PING, FACTS 8)
        self.backups = []
        # one entry a connection once its PROXY header (if any) is read: {"conn", "tcp_host",
        # "host", "port", "proxy": 1 | 2 | None, "local"}
        self.connections = []
        self.proxy_nets = proxyproto.parse_networks(cfg.proxy_networks)
        self._rsa = None
        self._log = open(cfg.log, "a", encoding="utf-8") if cfg.log else None
        self.tls = None
        if cfg.tls_cert:
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.minimum_version = ssl.TLSVersion.TLSv1_2
            self.tls.load_cert_chain(cfg.tls_cert, cfg.tls_key)
        self.etcd = None
        if cfg.etcd:
            self.etcd = precheck.EtcdReader(cfg.etcd, cfg.etcd_timeout, cfg.etcd_ca,
                                            cfg.etcd_cert, cfg.etcd_key)

    def rsa(self):
        with self.lock:
            if self._rsa is None:
                self._rsa = mysqlauth.RSAKeyPair(self.cfg.rsa_key)
            return self._rsa

    def conn_id(self):
        with self.lock:
            cid = self.next_conn
            self.next_conn += 1
            return cid

    def record(self, entry):
        with self.lock:
            self.statements.append(entry)
            if self._log is not None:
                self._log.write(json.dumps(entry) + "\n")
                self._log.flush()

    def record_connection(self, entry):
        with self.lock:
            self.connections.append(entry)

    def record_command(self, entry):
        with self.lock:
            self.commands.append(entry)

    def table_id(self, db, table):
        key = (db.lower(), table.lower())
        with self.lock:
            if key not in self.table_ids:
                self.table_ids[key] = 100 + 2 * len(self.table_ids)
            return self.table_ids[key]

    def close(self):
        if self._log is not None:
            self._log.close()
            self._log = None


class AuthFailed(Exception):
    pass


class Session:
    """One client connection: handshake, authentication, command loop."""

    def __init__(self, state, sock, peer):
        self.state = state
        self.cfg = state.cfg
        self.sock = sock
        self.peer = peer[0] if peer else "127.0.0.1"
        self.peer_port = peer[1] if peer and len(peer) > 1 else 0
        self.io = w.PacketIO(sock)
        self.id = state.conn_id()
        self.scramble = mysqlauth.new_scramble()
        self.caps = 0
        self.user = None
        self.db = None
        self.tls = False
        self.stmts = {}
        self.next_stmt = 1
        # TiDB's clientConn: the handshake's collation, the last database given by the
        # handshake, COM_INIT_DB or COM_CHANGE_USER as sent (cc.dbname, re-run by
        # COM_RESET_CONNECTION), the plugin of the last auth exchange (cc.authPlugin).
        self.collation = w.CHARSET_UTF8MB4_BIN
        self.cur_modes = sqllex.STANDARD  # sql_mode of the statement being parsed
        self.init_db = ""
        self.auth_plugin = self.cfg.default_auth
        self.new_session_vars()

    # -- the session TiDB opens (OpenCtx): fresh variables ------------------

    def new_session_vars(self):
        """A new TiDB session: sql_mode from the global value, character set from the
        handshake's collation, no user variables, no prepared statements, no database."""
        with self.state.lock:
            self.sql_mode = self.state.global_sql_mode
            # The session's copy of the global value, read-only for it (FACTS.md 9).
            self.max_allowed_packet = self.state.global_max_allowed_packet
        self.charset_client = COLLATION_CHARSETS.get(self.collation, "utf8mb4")
        self.user_vars = {}
        self.stmts = {}
        self.db = None
        self.last_ok = (0, "")  # the last statement's affected rows and message (set_option)

    def modes(self):
        return sqllex.Modes.of(self.sql_mode)

    def use_db(self, name):
        """TiDB's useDB: the name is pasted into "use `" + name + "`", parsed under the
        session's sql_mode, and only the first statement runs; cc.dbname keeps the name as
        sent. A backquote in the name ends the identifier early ("shop`#" selects shop)."""
        text = "use `" + name + "`"
        modes = self.modes()
        try:
            stmts = sqllex.split_statements(text, modes)
            toks = sqllex.tokenize(stmts[0], modes) if stmts else []
        except sqllex.LexError as e:
            raise importstmt.syntax_error(text, e.pos)
        if len(toks) != 2 or not toks[0].is_kw("USE") or toks[1].kind != sqllex.IDENT:
            raise importstmt.syntax_error(text, toks[2].start if len(toks) > 2 else len(text))
        self.db = toks[1].value
        self.init_db = name

    # -- helpers ----------------------------------------------------------

    @property
    def deprecate_eof(self):
        return bool(self.caps & w.CLIENT_DEPRECATE_EOF)

    def send_error(self, err):
        self.last_ok = (0, "")
        self.io.write(w.err_packet(err.code, err.message, err.sqlstate))

    def status(self, more=False):
        return w.SERVER_STATUS_AUTOCOMMIT | (w.SERVER_MORE_RESULTS_EXISTS if more else 0)

    # -- handshake and auth -------------------------------------------------

    def server_caps(self):
        return (SERVER_CAPS | (w.CLIENT_SSL if self.state.tls else 0)
                | (w.CLIENT_ZSTD_COMPRESSION_ALGORITHM if self.cfg.zstd else 0))

    def greeting(self):
        caps = self.server_caps()
        plugin = self.cfg.default_auth.encode()
        return (b"\x0a" + self.cfg.greeting.encode() + b"\x00" + struct.pack("<I", self.id)
                + self.scramble[:8] + b"\x00" + struct.pack("<H", caps & 0xFFFF)
                + bytes([w.CHARSET_UTF8MB4_BIN]) + struct.pack("<H", w.SERVER_STATUS_AUTOCOMMIT)
                + struct.pack("<H", caps >> 16) + bytes([21]) + b"\x00" * 10
                + self.scramble[8:] + b"\x00" + plugin + b"\x00")

    def proxy_header(self):
        """TiDB's lazy PROXY protocol listener: after the greeting, the first read of a
        connection from proxy-protocol.networks must be a header (or, fallbackable, is MySQL);
        its source becomes the client's host, as USER() and the audit see it."""
        entry = {"conn": self.id, "tcp_host": self.peer, "proxy": None, "local": False}
        if proxyproto.allowed(self.state.proxy_nets, self.peer):
            try:
                version, addr, local = proxyproto.read_header(self.sock, self.cfg.proxy_fallbackable)
            except proxyproto.HeaderError as e:
                entry["error"] = str(e)
                self.state.record_connection(entry)
                raise AuthFailed(str(e))
            entry.update(proxy=version, local=local)
            if addr:
                self.peer, self.peer_port = addr
        entry.update(host=self.peer, port=self.peer_port)
        self.state.record_connection(entry)

    def handshake(self):
        self.io.write(self.greeting())
        self.proxy_header()
        pkt = self.io.read()
        r = w.Reader(pkt)
        client_caps = r.uint(4)
        r.uint(4)  # max packet
        collation = r.u8()
        r.fixed(23)
        server_caps = self.server_caps()
        if client_caps & w.CLIENT_SSL and r.remaining() == 0:
            if not self.state.tls:
                raise AuthFailed("SSL requested but not configured")
            self.sock = self.state.tls.wrap_socket(self.sock, server_side=True)
            self.io.set_socket(self.sock)
            self.tls = True
            pkt = self.io.read()
            r = w.Reader(pkt)
            client_caps = r.uint(4)
            r.uint(4)
            collation = r.u8()
            r.fixed(23)
        self.caps = client_caps & server_caps
        user = r.nul_str().decode(errors="replace")
        if client_caps & w.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
            resp = r.lenenc_bytes() or b""
        elif client_caps & w.CLIENT_SECURE_CONNECTION:
            resp = r.fixed(r.u8())
        else:
            resp = r.nul_str()
        db = None
        if client_caps & w.CLIENT_CONNECT_WITH_DB and r.remaining():
            db = r.nul_str().decode(errors="replace") or None
        plugin = self.cfg.default_auth
        if client_caps & w.CLIENT_PLUGIN_AUTH and r.remaining():
            plugin = r.nul_str().decode(errors="replace") or plugin
        zstd_level = None
        if self.caps & w.CLIENT_ZSTD_COMPRESSION_ALGORITHM:
            # TiDB parse.go HandshakeResponseBody: the level is the byte after the attributes.
            if client_caps & w.CLIENT_CONNECT_ATTRS and r.remaining():
                r.lenenc_bytes()
            zstd_level = r.u8() if r.remaining() else None
        self.authenticate(user, plugin, resp)
        self.collation = collation
        self.new_session_vars()
        if db:
            try:
                self.use_db(db)
            except SQLError as e:
                self.send_error(e)
                raise AuthFailed(e.message)
        self.io.write(w.ok_packet(status=self.status()))
        if self.caps & w.CLIENT_ZSTD_COMPRESSION_ALGORITHM:
            # Compressed from after the OK on (TiDB conn.go handshake).
            self.zsock = w.ZstdSocket(self.sock, zstd_level or 3)
            self.io.set_socket(self.zsock)
            self.state.record_connection({"conn": self.id, "zstd_level": zstd_level, "zsock": self.zsock})

    def deny(self, user, used_password):
        err = SQLError(1045, "Access denied for user '%s'@'%s' (using password: %s)"
                       % (user, self.peer, "YES" if used_password else "NO"), "28000")
        self.send_error(err)
        raise AuthFailed(err.message)

    def authenticate(self, user, client_plugin, resp, force_switch=False):
        entry = self.cfg.users.get(user)
        if entry is None:
            self.deny(user, bool(resp))
        password, plugin = entry
        # TiDB server/conn.go checkAuthPlugin: a switch to the account's plugin when the
        # plugin of the greeting (cc.authPlugin) is not the account's, or the client's is not
        # the greeting's (a client that starts with native under a caching_sha2 greeting)
        if force_switch or client_plugin != plugin or self.auth_plugin != plugin:
            self.io.write(b"\xfe" + plugin.encode() + b"\x00" + self.scramble + b"\x00")
            resp = self.io.read()
            self.auth_plugin = plugin
        if plugin == mysqlauth.NATIVE:
            if not mysqlauth.native_verify(password, self.scramble, resp):
                self.deny(user, bool(resp))
        else:
            self.caching_sha2(user, password, resp)
        self.user = user

    def caching_sha2(self, user, password, resp):
        """MySQL 8's exchange (sha2_mode 'mysql'): fast auth when the user is
        cached and the scramble matches, else full auth (a failed fast auth
        also falls back to full auth, as MySQL does). sha2_mode 'tidb' is
        what TiDB's authSha does: never cached, full auth only, and the full
        password is read as-is (no RSA: only TLS works)."""
        if not password:
            if resp not in (b"", b"\x00"):
                self.deny(user, True)
            return
        if not resp:
            self.deny(user, False)
        mysql_mode = self.cfg.sha2_mode == "mysql"
        if mysql_mode and (user, password) in self.state.sha2_cache \
                and mysqlauth.sha2_verify(password, self.scramble, resp):
            self.io.write(b"\x01" + bytes([mysqlauth.FAST_AUTH_OK]))
            return
        self.io.write(b"\x01" + bytes([mysqlauth.PERFORM_FULL_AUTH]))
        pkt = self.io.read()
        if self.tls or not mysql_mode:
            given = pkt.strip(b"\x00").decode(errors="replace")
        else:
            if pkt == bytes([mysqlauth.REQUEST_PUBLIC_KEY]):
                self.io.write(b"\x01" + self.state.rsa().public_pem)
                pkt = self.io.read()
            try:
                given = self.state.rsa().decrypt_password(pkt, self.scramble)
            except ValueError:
                self.deny(user, True)
        if given != password:
            self.deny(user, True)
        with self.state.lock:
            self.state.sha2_cache.add((user, password))

    # -- command loop -----------------------------------------------------

    def run(self):
        try:
            self.handshake()
        except (AuthFailed, EOFError, OSError, w.ProtocolError, ssl.SSLError):
            return
        while True:
            self.io.reset()
            try:
                pkt = self.io.read()
            except (EOFError, OSError, ssl.SSLError):
                return
            if not pkt:
                continue
            try:
                if not self.dispatch(pkt[0], pkt[1:]):
                    return
            except SQLError as e:
                self.send_error(e)
            except AuthFailed:
                return
            except (EOFError, OSError, ssl.SSLError):
                return
            except w.ProtocolError as e:
                self.send_error(SQLError(1835, "Malformed communication packet: %s" % e))

    def dispatch(self, cmd, body):
        if cmd == w.COM_QUIT:
            return False
        if cmd == w.COM_PING:
            # pingcap/tidb#58008 (v9.0; FACTS 8): in a graceful shutdown's wait the ping fails
            # while every other command is still served
            if not self.state.healthy and self.state.version >= (9, 0, 0):
                raise SQLError(ER_SERVER_SHUTDOWN, "Server shutdown in progress", "08S01")
            self.io.write(w.ok_packet(status=self.status()))
        elif cmd == w.COM_INIT_DB:
            name = body.decode(errors="replace")
            self.use_db(name)
            self.state.record_command({"conn": self.id, "cmd": "init_db", "arg": name,
                                       "db": self.db})
            self.io.write(w.ok_packet(status=self.status()))
        elif cmd == w.COM_QUERY:
            self.com_query(body.decode("utf-8", errors="replace"))
        elif cmd == w.COM_STMT_PREPARE:
            self.com_prepare(body.decode("utf-8", errors="replace"))
        elif cmd == w.COM_STMT_EXECUTE:
            self.com_execute(body)
        elif cmd == w.COM_STMT_CLOSE:
            self.stmts.pop(struct.unpack("<I", body[:4])[0], None)
        elif cmd == w.COM_STMT_SEND_LONG_DATA:
            # TiDB's handleStmtSendLongData (pkg/server/conn_stmt.go, pingcap/tidb at 03ee920d)
            # answers nothing when it works but returns an error, which clientConn.Run writes,
            # for a body under 6 bytes (ErrMalformPacket) and an unknown statement (1243);
            # MySQL and MariaDB never answer (attack4, attack10 tests).
            if len(body) < 6:
                raise SQLError(1835, "Malformed communication packet.")
            sid = struct.unpack("<I", body[:4])[0]
            st = self.stmts.get(sid)
            if st is None:
                raise SQLError(1243, "Unknown prepared statement handler (%d) given to "
                                     "stmt_send_longdata" % sid)
            idx = struct.unpack("<H", body[4:6])[0]
            st["long"][idx] = st["long"].get(idx, b"") + body[6:]
        elif cmd == w.COM_STMT_RESET:
            st = self.stmts.get(struct.unpack("<I", body[:4])[0])
            if st is not None:
                st["long"] = {}
            self.io.write(w.ok_packet(status=self.status()))
        elif cmd == w.COM_RESET_CONNECTION:
            self.reset_connection()
        elif cmd == w.COM_SET_OPTION:
            self.set_option(body)
        elif cmd == w.COM_CHANGE_USER:
            self.change_user(body)
        elif cmd == w.COM_SLEEP:
            pass  # TiDB's dispatch returns nil for it and writes nothing (FACTS.md section 8)
        elif cmd == w.COM_REFRESH:
            self.refresh(body)
        elif cmd == w.COM_SHUTDOWN:
            self.shutdown()
        elif cmd == w.COM_STATISTICS:
            # TiDB's writeStats (pkg/server/conn.go at 000172f4): one packet of text, uptime
            # from the server's start, every other figure 0.
            up = int(time.time() - self.state.started)
            self.io.write(("Uptime: %d  Threads: 0  Questions: 0  Slow queries: 0  Opens: 0  Flush "
                           "tables: 0  Open tables: 0  Queries per second avg: 0.000" % up).encode())
        else:
            raise SQLError(1047, "Unknown command")
        return True

    def set_option(self, body):
        """TiDB's handleSetOption (pkg/server/conn_stmt.go, pingcap/tidb at 03ee920d): under 2
        bytes, or a value other than 0 (multi-statements on) / 1 (off), ErrMalformPacket; else
        the capability is switched and writeEOF answers. Under CLIENT_DEPRECATE_EOF writeEOF is
        writeOkWith(0xFE, ...) (pkg/server/conn.go at 000172f4; since pingcap/tidb#34753 and
        #36971, 2022, so in every release with IMPORT INTO): an OK with the 0xFE header that
        carries cc.ctx.AffectedRows(), LastInsertID() and LastMessage() - the statement context
        of the last statement, which no COM_SET_OPTION replaces - the message as a lenenc
        string. After a LOAD DATA ("Records: ...") it is 9 bytes or more."""
        if len(body) < 2:
            raise SQLError(1835, "Malformed communication packet.")
        value = struct.unpack("<H", body[:2])[0]
        if value not in (0, 1):
            raise SQLError(1835, "Malformed communication packet.")
        if value == 0:
            self.caps |= w.CLIENT_MULTI_STATEMENTS
        else:
            self.caps &= ~w.CLIENT_MULTI_STATEMENTS
        if not self.deprecate_eof:
            self.io.write(w.eof_packet(self.status()))
            return
        affected, info = self.last_ok
        info = info.encode() if isinstance(info, str) else info
        self.io.write(b"\xfe" + w.lenenc_int(affected) + w.lenenc_int(0)
                      + struct.pack("<HH", self.status(), 0)
                      + (w.lenenc_int(len(info)) + info if info else b""))

    def refresh(self, body):
        """TiDB's handleRefresh (pkg/server/conn.go, pingcap/tidb at 000172f4; the same in the
        older server/conn.go): sub-command 0x01 runs handleQuery("FLUSH PRIVILEGES"), which
        writes that statement's OK, and then, for every sub-command, writeOK: a successful
        REFRESH_GRANT is answered TWICE (ids 1 and 2). An empty body panics in TiDB
        (data[0]); the recovered panic is written as an ERR and the connection closed."""
        if not body:
            self.send_error(SQLError(1105, "runtime error: index out of range [0] with length 0"))
            raise EOFError("COM_REFRESH without a sub-command")
        if body[0] == 0x01:
            self.log("query", "FLUSH PRIVILEGES")
            self.send_result(self.execute("FLUSH PRIVILEGES"))  # an error: the only answer
        self.io.write(w.ok_packet(status=self.status()))

    def shutdown(self):
        """TiDB's COM_SHUTDOWN (dispatch, pkg/server/conn.go at 000172f4; the same in the older
        server/conn.go): handleQuery("SHUTDOWN"), then writeOK. The statement needs the
        SHUTDOWN privilege (here: root's alone; else 1227, the only answer); it runs
        executeShutdown (pkg/executor/simple.go), which returns at once and signals the
        process a second later (SIGTERM, then a graceful shutdown; older releases SIGKILL), so
        the statement's OK (handleFileTransInConn -> writeOkWith, id 1) and writeOK's (id 2)
        are both written: a COM_SHUTDOWN that succeeds is answered TWICE. With
        cfg.shutdown_stops the double then stops as that signal ends TiDB: listener and
        connections closed."""
        self.log("query", "SHUTDOWN")
        if self.user != "root":
            raise SQLError(1227, "Access denied; you need (at least one of) the SHUTDOWN "
                                 "privilege(s) for this operation", "42000")
        self.send_result(("ok", 0, ""))
        self.io.write(w.ok_packet(status=self.status()))
        if self.cfg.shutdown_stops and self.state.stop_server is not None:
            threading.Timer(1.0, self.state.stop_server).start()

    def reset_connection(self):
        """TiDB's handleResetConnection: a new session for the same user (sql_mode, user
        variables, prepared statements, character set all fresh), then useDB(cc.dbname):
        the database of the handshake / last COM_INIT_DB / COM_CHANGE_USER, NOT one chosen
        by a USE statement, re-parsed as "use `name`"."""
        self.new_session_vars()
        if self.init_db:
            self.use_db(self.init_db)
        self.state.record_command({"conn": self.id, "cmd": "reset_connection",
                                   "arg": self.init_db, "db": self.db})
        self.io.write(w.ok_packet(status=self.status()))

    @staticmethod
    def parse_change_user(body, caps, version=(8, 5, 0)):
        """COM_CHANGE_USER as TiDB's handleChangeUser reads it: user up to a NUL (none: empty,
        nothing consumed); ALWAYS a one-byte auth length, whatever the capabilities
        (ErrMalformPacket if it is missing or too long); database up to a NUL (none: empty);
        if bytes remain, 2 charset bytes skipped with CLIENT_PROTOCOL_41 (not applied), then
        with CLIENT_PLUGIN_AUTH the plugin up to a NUL (none: empty). Attributes ignored."""
        def nul_term(data):
            i = data.find(b"\x00")
            return (b"", data) if i < 0 else (data[:i], data[i + 1:])
        user, data = nul_term(body)
        if len(data) < 1 or data[0] > len(data) - 1:
            raise SQLError(1835, "Malformed communication packet.")  # ErrMalformPacket
        auth, data = data[1:1 + data[0]], data[1 + data[0]:]
        db, data = nul_term(data)
        plugin = b""
        # The charset and plugin came with pingcap/tidb#38830 (v6.5); before, nothing after
        # the database was read.
        if data and version >= (6, 5, 0):
            if caps & w.CLIENT_PROTOCOL_41 and len(data) >= 2:
                data = data[2:]
            if caps & w.CLIENT_PLUGIN_AUTH and data:
                plugin, _ = nul_term(data)
        return user, auth, db, plugin

    def change_user(self, body):
        """TiDB's handleChangeUser: a new session (as COM_RESET_CONNECTION), authenticated
        with the auth data against the handshake's scramble; an AuthSwitchRequest (same
        scramble) only when a plugin name was read and it or the last exchange's plugin
        differs from the user's; then useDB(db) when the packet named one (else no
        database). The charset bytes are skipped: the handshake's collation stays."""
        user, auth, db, plugin = self.parse_change_user(body, self.caps, self.state.version)
        user, db, plugin = (x.decode(errors="replace") for x in (user, db, plugin))
        entry = self.cfg.users.get(user)
        if entry is None:
            self.deny(user, bool(auth))
        user_plugin = entry[1]
        if plugin and (self.auth_plugin != user_plugin or plugin != user_plugin):
            self.authenticate(user, plugin, auth, force_switch=True)
        else:
            self.authenticate(user, user_plugin, auth)
        self.init_db = db
        self.new_session_vars()
        if db:
            self.use_db(db)
        self.state.record_command({"conn": self.id, "cmd": "change_user", "arg": db,
                                   "user": user, "db": self.db})
        self.io.write(w.ok_packet(status=self.status()))

    def log(self, cmd, sql, **extra):
        entry = {"ts": time.time(), "conn": self.id, "user": self.user, "db": self.db,
                 "tls": self.tls, "cmd": cmd, "sql": sql, "peer": self.peer_port, "host": self.peer}
        entry.update(extra)
        self.state.record(entry)
        if self.cfg.on_statement is not None:
            self.cfg.on_statement(entry)

    # -- results ----------------------------------------------------------

    def send_columns(self, cols, more):
        """A result set's head: the column count, the definitions, and the EOF before the rows
        unless CLIENT_DEPRECATE_EOF."""
        self.io.write(w.lenenc_int(len(cols)))
        for c in cols:
            self.io.write(c.packet())
        if not self.deprecate_eof:
            self.io.write(w.eof_packet(self.status(more)))

    def send_result(self, result, more=False, binary=False):
        kind = result[0]
        self.last_ok = (0, "")  # a result set: TiDB's statement context has neither
        if kind == "ok":
            _, affected, info = result
            self.last_ok = (affected, info)  # what a later writeOK / writeEOF repeats
            self.io.write(w.ok_packet(affected, 0, self.status(more), 0, info))
            return
        _, cols, rows = result
        self.send_columns(cols, more)
        for row in rows:
            self.io.write(w.binary_row(cols, row) if binary else w.text_row(row))
        if self.deprecate_eof:
            self.io.write(w.ok_packet(status=self.status(more), header=0xFE))
        else:
            self.io.write(w.eof_packet(self.status(more)))

    def send_endless(self, result):
        """result's columns and rows, then its last row again until the reader goes away
        (Config.endless_show_import); the connection ends with it."""
        _, cols, rows = result
        self.send_columns(cols, False)
        for row in rows:
            self.io.write(w.text_row(row))
        while True:
            self.io.write(w.text_row(rows[-1]))

    def com_query(self, text):
        # TiDB parses the whole query with the sql_mode of this moment, then runs it.
        self.cur_modes = self.modes()
        if self.caps & w.CLIENT_MULTI_STATEMENTS:
            try:
                stmts = sqllex.split_statements(text, self.cur_modes)
            except sqllex.LexError as e:
                self.log("query", text)
                raise importstmt.syntax_error(text, e.pos)
        else:
            stmts = [text.strip().rstrip(";").strip()]
        if not stmts:
            self.log("query", text)
            raise SQLError(1065, "Query was empty", "42000")
        # TiDB parses the whole text before it runs any of it (pkg/server/conn.go handleQuery,
        # v8.5.6: cc.ctx.Parse, then each statement): a syntax error anywhere is the batch's
        # only answer. Of the statements the double parses, IMPORT INTO is checked first.
        for sql in stmts:
            toks = self._tokens(sql)
            if toks and toks[0].is_kw("IMPORT"):
                try:
                    importstmt.parse_import(sql, self.state.version, self.cur_modes)
                except SQLError:
                    self.log("query", text)
                    raise
        for i, sql in enumerate(stmts):
            self.log("query", sql)
            try:
                result = self.execute(sql)
            except SQLError as e:
                self.send_error(e)
                return
            if (self.cfg.endless_show_import and result[0] == "rows" and result[2]
                    and sql.upper().startswith("SHOW IMPORT JOB")):
                self.send_endless(result)
                return
            self.send_result(result, more=i + 1 < len(stmts))

    # -- prepared statements ----------------------------------------------

    def com_prepare(self, sql):
        self.log("prepare", sql)
        self.cur_modes = self.modes()
        try:
            nparams = sqllex.count_placeholders(sql, self.cur_modes)
        except sqllex.LexError as e:
            raise importstmt.syntax_error(sql, e.pos)
        cols = self.result_columns(sql)
        sid = self.next_stmt
        self.next_stmt += 1
        self.stmts[sid] = {"sql": sql, "nparams": nparams, "types": None, "long": {},
                           "modes": self.cur_modes}
        self.io.write(b"\x00" + struct.pack("<IHHBH", sid, len(cols), nparams, 0, 0))
        if nparams:
            for i in range(nparams):
                self.io.write(w.Column("?", w.TYPE_VAR_STRING, 0).packet())
            if not self.deprecate_eof:
                self.io.write(w.eof_packet(self.status()))
        if cols:
            for c in cols:
                self.io.write(c.packet())
            if not self.deprecate_eof:
                self.io.write(w.eof_packet(self.status()))

    def result_columns(self, sql):
        """Columns a statement would return (COM_STMT_PREPARE metadata)."""
        toks = self._tokens(sql)
        if not toks:
            return []
        if toks[0].is_kw("IMPORT"):
            stmt = importstmt.parse_import(sql, self.state.version, self.cur_modes)
            return [] if stmt.from_query else IMPORT_COLUMNS
        if toks[0].is_kw("SHOW") and len(toks) > 1 and toks[1].is_kw("IMPORT"):
            return IMPORT_COLUMNS
        if toks[0].is_kw("BACKUP"):
            return BACKUP_COLUMNS
        if toks[0].is_kw("SELECT"):
            res = self.simple_select(sql, toks, placeholders_ok=True)
            return res[1] if res[0] == "rows" else []
        return []

    def com_execute(self, body):
        r = w.Reader(body)
        sid = r.uint(4)
        r.u8()  # flags (cursor types are not modelled)
        r.uint(4)  # iteration count
        st = self.stmts.get(sid)
        if st is None:
            raise SQLError(1243, "Unknown prepared statement handler (%d) given to "
                           "mysql_stmt_execute" % sid)
        params = []
        n = st["nparams"]
        if n:
            nulls = r.fixed((n + 7) // 8)
            if r.u8():
                types = []
                for _ in range(n):
                    t, flag = r.u8(), r.u8()
                    types.append((t, bool(flag & 0x80)))
                st["types"] = types
            types = st["types"] or [(w.TYPE_VAR_STRING, False)] * n
            for i in range(n):
                if nulls[i // 8] & (1 << (i % 8)):
                    params.append(None)
                elif i in st["long"]:
                    params.append(st["long"][i])
                else:
                    params.append(w.decode_binary_value(r, types[i][0], types[i][1]))
        st["long"] = {}
        self.cur_modes = st["modes"]
        sql = sqllex.substitute_placeholders(st["sql"], params, self.cur_modes)
        self.log("execute", sql, prepared_sql=st["sql"])
        self.send_result(self.execute(sql), binary=True)

    # -- statements -------------------------------------------------------

    def _tokens(self, sql):
        try:
            return sqllex.tokenize(sql, self.cur_modes)
        except sqllex.LexError as e:
            raise importstmt.syntax_error(sql, e.pos)

    def execute(self, sql):
        toks = self._tokens(sql)
        if not toks:
            return ("ok", 0, "")
        head = toks[0]
        if head.is_kw("IMPORT"):
            return self.do_import(sql)
        if (head.is_kw("EXPLAIN", "DESC", "DESCRIBE") and len(toks) > 2 and toks[1].is_kw("ANALYZE")
                and toks[2].is_kw("IMPORT")):
            return self.explain_analyze_import(sql[toks[2].start:])
        if head.is_kw("SHOW") and len(toks) >= 3 and toks[1].is_kw("IMPORT"):
            return self.do_show_import(sql, toks)
        if head.is_kw("CANCEL") and len(toks) >= 4 and toks[1].is_kw("IMPORT"):
            return self.do_cancel_import(sql, toks)
        if head.is_kw("BACKUP"):
            return self.do_backup(sql, toks)
        if head.is_kw("SELECT"):
            return self.simple_select(sql, toks)
        if head.is_kw("USE") and len(toks) >= 2:
            self.db = toks[1].value
            return ("ok", 0, "")
        if head.is_kw("SET") and len(toks) >= 2:
            return self.do_set(sql, toks)
        if head.is_kw("LOAD") and len(toks) >= 3 and toks[1].is_kw("DATA") and toks[2].is_kw("LOCAL"):
            return self.load_data_local(toks)
        if head.is_kw("FLUSH") and len(toks) >= 2 and toks[1].is_kw("PRIVILEGES"):
            with self.state.lock:
                self.state.sha2_cache.clear()
            return ("ok", 0, "")
        if head.is_kw("INSERT", "REPLACE", "TRUNCATE", "DROP", "CREATE"):
            return self.track_table(toks)
        return ("ok", 0, "")

    def set_max_allowed_packet(self, scope, expr):
        """SET [GLOBAL] max_allowed_packet: read-only for the session (a SET of it fails);
        a global value is clamped to 1024 .. 1 GiB and rounded down to a multiple of 1024,
        and only sessions opened after it see it."""
        if scope != "global":
            raise SQLError(ER_VARIABLE_IS_READONLY, "SESSION variable 'max_allowed_packet' is "
                           "read-only. Use SET GLOBAL to assign the value")
        v = int(self._eval(expr))
        v = min(max(v, MIN_MAX_ALLOWED_PACKET), MAX_MAX_ALLOWED_PACKET)
        with self.state.lock:
            self.state.global_max_allowed_packet = v - v % 1024

    def load_data_local(self, toks):
        """LOAD DATA LOCAL INFILE as TiDB's preprocessLoadDataLocal reads the file (FACTS.md
        9): the request (0xFB + name), then packets read by ReadPacket under the session's
        max_allowed_packet until an empty one; on a refused packet, a drain (ReadPacket until
        an empty packet or the next error) and the statement fails with the first error.
        The contents received are kept in state.files; nothing is loaded anywhere."""
        if not self.caps & w.CLIENT_LOCAL_FILES:
            raise SQLError(ER_NOT_ALLOWED_COMMAND, "The used command is not allowed with this TiDB version")
        name = next((t.value for t in toks if t.kind == sqllex.STRING), "")
        self.io.write(b"\xfb" + str(name).encode())
        data, err = bytearray(), None
        while True:
            try:
                pkt = self.io.read_limited(self.max_allowed_packet)
            except w.PacketRefused as e:
                err = e
                break
            if not pkt:
                break
            data += pkt
        if err is not None:
            while True:
                try:
                    if not self.io.read_limited(self.max_allowed_packet):
                        break
                except w.PacketRefused:
                    break
            raise SQLError(err.code, err.message)
        with self.state.lock:
            self.state.files.append(bytes(data))
        rows = data.count(b"\n")
        return ("ok", rows, "Records: %d  Deleted: 0  Skipped: 0  Warnings: 0" % rows)

    def _table_after(self, toks, i):
        """[db.]table starting at toks[i] -> (db, table) or None."""
        if i >= len(toks) or toks[i].kind != sqllex.IDENT:
            return None
        if i + 2 < len(toks) and toks[i + 1].value == "." and toks[i + 1].kind == sqllex.PUNCT:
            return toks[i].value, toks[i + 2].value
        return self.db, toks[i].value

    def track_table(self, toks):
        """Drive the "target table is not empty" model."""
        i = 1
        while i < len(toks) and toks[i].is_kw("INTO", "TABLE", "IGNORE", "LOW_PRIORITY",
                                                  "TEMPORARY", "IF", "NOT", "EXISTS"):
            i += 1
        while i < len(toks) and toks[i].is_kw("IF", "NOT", "EXISTS"):
            i += 1
        target = self._table_after(toks, i)
        if target is None or target[0] is None:
            return ("ok", 0, "")
        key = (target[0].lower(), target[1].lower())
        with self.state.lock:
            if toks[0].is_kw("INSERT", "REPLACE"):
                self.state.nonempty.add(key)
                return ("ok", 1, "")
            self.state.nonempty.discard(key)
        return ("ok", 0, "")

    def do_import(self, sql):
        state = self.state
        stmt = importstmt.parse_import(sql, state.version, self.cur_modes)
        db = stmt.db or self.db
        if not db:
            raise SQLError(1046, "No database selected", "3D000")
        eff = importstmt.validate_options(stmt, state.version)
        key = (db.lower(), stmt.table.lower())
        now = time.time()
        if not stmt.from_query:
            with state.lock:
                active = any((j.db.lower(), j.table.lower()) == key
                             and j.status(now) in ("pending", "running")
                             for j in state.jobs.values())
            if active:
                raise importstmt.precheck_failed("there is active job on the target table "
                                                 "already")
            if "empty" in stmt.location:
                raise importstmt.precheck_failed("No file matched, or the file is empty. "
                                                 "Please provide a valid file location.")
        if self.cfg.empty_check:
            with state.lock:
                if key in state.nonempty:
                    raise importstmt.precheck_failed("target table is not empty")
        if not eff["disable_precheck"] and state.etcd is not None:
            try:
                msg = precheck.check(state.etcd, state.version)
            except precheck.StateError as e:
                raise SQLError(importstmt.ER_UNKNOWN, str(e))
            if msg:
                raise importstmt.precheck_failed(msg)
        if stmt.from_query:
            n = self.cfg.select_rows
            if n:
                with state.lock:
                    state.nonempty.add(key)
            return ("ok", n, "Records: %d, ID: %s" % (n, uuid.uuid4()))
        return self.run_import_job(stmt, db, key, eff["detached"], now)

    def explain_analyze_import(self, sql):
        """EXPLAIN ANALYZE runs the import (pkg/executor/explain.go executeAnalyzeExec: Next
        on the target executor until it returns no row; a DETACHED ImportIntoExec returns
        once its job is submitted, the job running on) and answers with the plan's rows,
        not the import's: no Job_ID."""
        self.do_import(sql)
        return ("rows", EXPLAIN_ANALYZE_COLUMNS,
                [["ImportInto_1", "N/A", "1", "root", "", "time:1ms, loops:2", "N/A", "N/A", "N/A"]])

    def run_import_job(self, stmt, db, key, detached, now):
        state = self.state
        rows = 100
        for part in stmt.location.replace("?", "&").split("&"):
            if part.startswith("rows=") and part[5:].isdigit():
                rows = int(part[5:])
        fail = "injected failure for %s" % stmt.location if "fail" in stmt.location else ""
        table_id = state.table_id(db, stmt.table)
        delay = self.cfg.job_delay
        if self.cfg.slow_import and "slow" in stmt.location:
            delay = self.cfg.slow_import / 2.0
        with state.lock:
            job = Job(state.next_job, stmt.location, db, stmt.table, table_id,
                      "%s@%%" % self.user, delay, rows, fail, now)
            state.jobs[job.id] = job
            state.next_job += 1
        if not detached:
            while True:
                now = time.time()
                st = job.status(now)
                if st not in ("pending", "running"):
                    break
                time.sleep(min(0.01, max(0.0, job.end_at - now)))
            if st == "failed":
                raise SQLError(importstmt.ER_UNKNOWN, job.fail_msg)
            if st == "cancelled":
                raise SQLError(importstmt.ER_UNKNOWN, "import job %d cancelled" % job.id)
        if not fail:
            with state.lock:
                state.nonempty.add(key)
        with state.lock:
            return ("rows", IMPORT_COLUMNS, [job.row(time.time())])

    def _job_id(self, sql, tok):
        if tok.kind != sqllex.NUMBER or not tok.value.isdigit():
            raise importstmt.syntax_error(sql, tok.start)
        return int(tok.value)

    def do_show_import(self, sql, toks):
        now = time.time()
        if toks[2].is_kw("JOBS") and len(toks) == 3:
            with self.state.lock:
                rows = [j.row(now) for _, j in sorted(self.state.jobs.items())]
            return ("rows", IMPORT_COLUMNS, rows)
        if toks[2].is_kw("JOB") and len(toks) == 4:
            job_id = self._job_id(sql, toks[3])
            with self.state.lock:
                job = self.state.jobs.get(job_id)
                if job is None:
                    raise SQLError(importstmt.ER_JOB_NOT_FOUND,
                                   "Job ID %d doesn't exist" % job_id)
                return ("rows", IMPORT_COLUMNS, [job.row(now)])
        raise importstmt.syntax_error(sql, toks[2].start)

    def do_cancel_import(self, sql, toks):
        if not (toks[2].is_kw("JOB") and len(toks) == 4):
            raise importstmt.syntax_error(sql, toks[2].start)
        job_id = self._job_id(sql, toks[3])
        now = time.time()
        with self.state.lock:
            job = self.state.jobs.get(job_id)
            if job is None:
                raise SQLError(importstmt.ER_JOB_NOT_FOUND, "Job ID %d doesn't exist" % job_id)
            if job.status(now) not in ("pending", "running"):
                raise SQLError(importstmt.ER_INVALID_OPERATION,
                               "The current job status cannot perform the operation. CANCEL")
            job.cancelled_at = now
        return ("ok", 0, "")

    def do_backup(self, sql, toks):
        uri = None
        for i, t in enumerate(toks[:-1]):
            if t.is_kw("TO") and toks[i + 1].kind == sqllex.STRING:
                uri = toks[i + 1].value
        if uri is None or len(toks) < 3 or not toks[1].is_kw("TABLE", "DATABASE", "SCHEMA"):
            raise importstmt.syntax_error(sql, toks[1].start if len(toks) > 1 else len(sql))
        entry = {"sql": sql, "uri": uri, "conn": self.id, "peer": self.peer_port,
                 "start": time.time(), "end": None, "ok": False}
        with self.state.lock:
            self.state.backups.append(entry)
        if self.cfg.slow_backup and "slow" in uri:
            time.sleep(self.cfg.slow_backup)
        if "fail" in uri:
            entry["end"] = time.time()
            raise SQLError(8124, "Backup failed: injected failure")
        now = datetime.datetime.now().replace(microsecond=0)
        backup_ts = int(time.time() * 1000) << 18
        entry["end"], entry["ok"] = time.time(), True
        return ("rows", BACKUP_COLUMNS, [[uri, 1048576, backup_ts, now, now]])

    # -- expressions: what SELECT without FROM and SET need -------------------

    @staticmethod
    def _split_commas(toks):
        """Top-level comma-separated parts of a token list."""
        parts, cur, depth = [], [], 0
        for t in toks:
            if t.kind == sqllex.PUNCT and t.value in "()":
                depth += 1 if t.value == "(" else -1
            if depth == 0 and t.kind == sqllex.PUNCT and t.value == ",":
                parts.append(cur)
                cur = []
            else:
                cur.append(t)
        parts.append(cur)
        return parts

    @staticmethod
    def _user_var(item):
        """The (lower-case) name of a user variable reference @x, @`x`, @'x', @"x", or None."""
        if len(item) == 1 and item[0].kind == sqllex.VAR and not item[0].value.startswith("@@"):
            name = item[0].value[1:]
            if name.startswith("`") and name.endswith("`") and len(name) >= 2:
                name = name[1:-1].replace("``", "`")
            return name.lower()
        if (len(item) == 2 and item[0].kind == sqllex.PUNCT and item[0].value == "@"
                and item[1].kind in (sqllex.STRING, sqllex.IDENT) and item[0].end == item[1].start):
            return item[1].value.lower()
        return None

    def _sysvar(self, name):
        """@@[session.|global.|local.]name -> value; KeyError for one the double lacks."""
        var = name.lower()
        scope = "session"
        for prefix, sc in (("@@session.", "session"), ("@@local.", "session"),
                           ("@@global.", "global"), ("@@", "session")):
            if var.startswith(prefix):
                var, scope = var[len(prefix):], sc
                break
        if var == "max_allowed_packet":
            if scope == "global":
                with self.state.lock:
                    return self.state.global_max_allowed_packet
            return self.max_allowed_packet
        if var == "sql_mode":
            if scope == "global":
                with self.state.lock:
                    return self.state.global_sql_mode
            return self.sql_mode
        if var in ("character_set_client", "character_set_connection"):
            return self.charset_client
        sysvars = {"version": self.cfg.version, "version_comment": VERSION_COMMENT,
                   "tidb_version": tidb_info(self.cfg, self.state.version),
                   "autocommit": 1,
                   "auto_increment_increment": 1, "tx_isolation": "REPEATABLE-READ",
                   "transaction_isolation": "REPEATABLE-READ", "lower_case_table_names": 2,
                   "time_zone": "SYSTEM", "system_time_zone": "UTC"}
        if var not in sysvars:
            raise KeyError(name)
        return sysvars[var]

    def _call(self, name, args):
        if name == "HEX" and len(args) == 1:
            v = self._eval(args[0])
            if v is None:
                return None
            if isinstance(v, int):
                return "%X" % v if v >= 0 else "%X" % (v & 0xFFFFFFFFFFFFFFFF)
            if isinstance(v, float):
                return "%X" % int(round(v))
            raw = v if isinstance(v, bytes) else str(v).encode("utf-8")
            return raw.hex().upper()
        if name == "LENGTH" and len(args) == 1:
            v = self._eval(args[0])
            if v is None:
                return None
            return len(v if isinstance(v, bytes) else str(v).encode("utf-8"))
        if name == "LEFT" and len(args) == 2:
            v, n = self._eval(args[0]), self._eval(args[1])
            if v is None or n is None:
                return None
            return v[:max(int(n), 0)] if isinstance(v, (bytes, str)) else str(v)[:max(int(n), 0)]
        if name == "CHARSET" and len(args) == 1:
            # TiDB: a string's own charset (the connection's for literals and the user
            # variables set from them), binary for NULL, numbers and bytes.
            v = self._eval(args[0])
            return "utf8mb4" if isinstance(v, str) else "binary"
        if name == "CONCAT" and args:
            vals = [self._eval(a) for a in args]
            if any(v is None for v in vals):
                return None
            return "".join(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                           for v in vals)
        if name == "COALESCE" and args and args != [[]]:
            for a in args:
                v = self._eval(a)
                if v is not None:
                    return v
            return None
        if name == "SLEEP" and len(args) == 1:
            # TiDB's SLEEP(n): the statement waits n seconds and returns 0.
            v = self._eval(args[0])
            time.sleep(min(max(float(v or 0), 0.0), 30.0))
            return 0
        if args == [[]]:
            funcs = {"VERSION": self.cfg.version, "DATABASE": self.db, "SCHEMA": self.db,
                     "CONNECTION_ID": self.id, "USER": "%s@%s" % (self.user, self.peer),
                     "CURRENT_USER": "%s@%%" % self.user,
                     "TIDB_VERSION": tidb_info(self.cfg, self.state.version)}
            if name in funcs:
                return funcs[name]
        raise KeyError(name)

    def _eval(self, item):
        """Value of an expression made of tokens; KeyError for one the double cannot
        evaluate (literals, NULL, @user and @@system variables, DATABASE(), USER(), HEX(),
        CONCAT(), ...)."""
        if len(item) == 1 and item[0].kind == sqllex.NUMBER:
            v = item[0].value
            if v.lower().startswith("0x"):
                return bytes.fromhex(v[2:] if len(v) % 2 == 0 else "0" + v[2:])
            return int(v) if v.lstrip("-").isdigit() else float(v)
        if len(item) == 2 and item[0].value == "-" and item[1].kind == sqllex.NUMBER:
            v = self._eval(item[1:])
            return -v
        if len(item) == 1 and item[0].kind == sqllex.STRING:
            return item[0].value
        if len(item) == 1 and item[0].is_kw("NULL"):
            return None
        if len(item) == 1 and item[0].is_kw("CURRENT_USER"):
            return "%s@%%" % self.user
        name = self._user_var(item)
        if name is not None:
            return self.user_vars.get(name)
        if len(item) == 1 and item[0].kind == sqllex.VAR:
            return self._sysvar(item[0].value)
        if (len(item) >= 3 and item[0].kind == sqllex.IDENT and not item[0].quoted
                and item[1].kind == sqllex.PUNCT and item[1].value == "("
                and item[-1].kind == sqllex.PUNCT and item[-1].value == ")"):
            return self._call(item[0].value.upper(), self._split_commas(item[2:-1]))
        if len(item) == 1 and item[0].kind == sqllex.PUNCT and item[0].value == "?":
            return None
        raise KeyError(" ".join(t.value for t in item))

    def _select_value(self, item):
        return self._eval(item)

    # Words that may follow a string literal inside an expression.
    _AFTER_LITERAL = ("AND", "OR", "XOR", "IS", "NOT", "LIKE", "RLIKE", "REGEXP", "IN",
                      "BETWEEN", "DIV", "MOD", "COLLATE", "ELSE", "END", "THEN", "WHEN",
                      "ESCAPE", "SOUNDS", "MEMBER", "AS")

    def _misplaced_word(self, item):
        """A select item TiDB's parser rejects for a reason the double can see: a word right
        after a string literal that is neither an operator nor the item's alias (so
        `'a\\'; IMPORT ... FROM 's3://x'` read with escapes on is a syntax error, as in
        TiDB, not an OK). The token, or None."""
        for i in range(len(item) - 2):
            t, nxt = item[i], item[i + 1]
            if t.kind == sqllex.STRING and nxt.kind == sqllex.IDENT \
                    and not nxt.is_kw(*self._AFTER_LITERAL) \
                    and not (item[i + 2].kind == sqllex.PUNCT and item[i + 2].value == "("):
                return item[i + 2]
        return None

    def do_set(self, sql, toks):
        """SET of user variables, sql_mode, the client character set (NAMES, CHARACTER
        SET, character_set_client); other system variables are accepted and ignored. A
        value the double cannot evaluate is an error (1105), never a silent guess."""
        for part in self._split_commas(toks[1:]):
            if not part:
                raise importstmt.syntax_error(sql, len(sql))
            if part[0].is_kw("NAMES") and len(part) >= 2:
                self.charset_client = str(self._eval(part[1:2]) if part[1].kind == sqllex.STRING
                                          else part[1].value).lower()
                continue
            if part[0].is_kw("CHARSET") or (part[0].is_kw("CHARACTER") and len(part) >= 3
                                             and part[1].is_kw("SET")):
                val = part[-1]
                self.charset_client = (val.value if val.kind != sqllex.STRING else val.value).lower()
                continue
            eq = next((i for i, t in enumerate(part)
                       if t.kind == sqllex.PUNCT and t.value in ("=", ":=")), None)
            if eq is None or eq == 0 or eq == len(part) - 1:
                raise importstmt.syntax_error(sql, part[0].start)
            target, expr = part[:eq], part[eq + 1:]
            uvar = self._user_var(target)
            try:
                if uvar is not None:
                    self.user_vars[uvar] = self._eval(expr)
                    continue
                scope, name = "session", None
                if len(target) == 2 and target[0].is_kw("SESSION", "LOCAL", "GLOBAL"):
                    scope = "global" if target[0].is_kw("GLOBAL") else "session"
                    name = target[1].value.lower()
                elif len(target) == 1 and target[0].kind == sqllex.VAR:
                    v = target[0].value.lower()
                    scope = "global" if v.startswith("@@global.") else "session"
                    name = v.split(".", 1)[1] if "." in v else v[2:]
                elif len(target) == 1 and target[0].kind == sqllex.IDENT:
                    name = target[0].value.lower()
                if name is None:
                    raise importstmt.syntax_error(sql, target[0].start)
                if name == "sql_mode":
                    if len(expr) == 1 and expr[0].is_kw("DEFAULT"):
                        with self.state.lock:
                            value = self.state.global_sql_mode
                    else:
                        value = self._eval(expr)
                    mode = ",".join(p.strip().upper() for p in str(value or "").split(",")
                                    if p.strip())
                    if scope == "global":
                        with self.state.lock:
                            self.state.global_sql_mode = mode
                    else:
                        self.sql_mode = mode
                elif name == "max_allowed_packet":
                    self.set_max_allowed_packet(scope, expr)
                elif name == "character_set_client" and scope == "session":
                    self.charset_client = str(self._eval(expr)).lower()
            except KeyError as e:
                raise SQLError(importstmt.ER_UNKNOWN,
                               "tidb double: cannot evaluate %s in %r" % (e, sql))
        return ("ok", 0, "")

    def simple_select(self, sql, toks, placeholders_ok=False):
        """SELECT of a list of simple expressions without FROM."""
        body = toks[1:]
        for i, t in enumerate(body):
            if t.is_kw("FROM", "WHERE", "GROUP", "ORDER", "HAVING", "INTO", "FOR"):
                return ("ok", 0, "")
            if t.is_kw("LIMIT"):
                body = body[:i]
                break
        items, cur, depth = [], [], 0
        for t in body:
            if t.kind == sqllex.PUNCT and t.value in "()":
                depth += 1 if t.value == "(" else -1
            if depth == 0 and t.kind == sqllex.PUNCT and t.value == ",":
                items.append(cur)
                cur = []
            else:
                cur.append(t)
        if cur:
            items.append(cur)
        if not items:
            raise importstmt.syntax_error(sql, len(sql))
        cols, row = [], []
        for item in items:
            name = sql[item[0].start:item[-1].end]
            if len(item) >= 3 and item[-2].is_kw("AS"):
                name, item = item[-1].value, item[:-2]
            elif len(item) == 2 and item[1].kind in (sqllex.IDENT, sqllex.STRING) \
                    and item[0].kind != sqllex.IDENT and self._user_var(item) is None:
                name, item = item[1].value, item[:1]
            try:
                v = self._select_value(item)
            except KeyError:
                bad = self._misplaced_word(item)
                if bad is not None:
                    raise importstmt.syntax_error(sql, bad.start)
                return ("ok", 0, "")
            if isinstance(v, int):
                cols.append(w.Column(name, w.TYPE_LONGLONG, 21, charset=w.CHARSET_BINARY))
            elif isinstance(v, float):
                cols.append(w.Column(name, w.TYPE_DOUBLE, 22, charset=w.CHARSET_BINARY))
            else:
                cols.append(w.Column(name, w.TYPE_VAR_STRING, 255))
            row.append(v)
        return ("rows", cols, [row])


class _Handler(socketserver.BaseRequestHandler):
    def handle(self):
        self.server.track(self.request, True)
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sess = Session(self.server.state, self.request, self.client_address)
            sess.run()
            if sess.sock is not self.request:
                try:
                    sess.sock.close()
                except OSError:
                    pass
        finally:
            self.server.track(self.request, False)


class DoubleServer(socketserver.ThreadingTCPServer):
    """The double, listening; `port`, `stop()`, `state` (jobs, statements)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, cfg):
        self.state = State(cfg)
        self.state.stop_server = self.stop
        self._conns = set()
        self._conns_lock = threading.Lock()
        self._thread = None
        super().__init__((cfg.host, cfg.port), _Handler)

    @property
    def port(self):
        return self.server_address[1]

    @property
    def statements(self):
        with self.state.lock:
            return list(self.state.statements)

    def track(self, sock, add):
        with self._conns_lock:
            (self._conns.add if add else self._conns.discard)(sock)

    def flush_auth_cache(self):
        with self.state.lock:
            self.state.sha2_cache.clear()

    def start_thread(self):
        self._thread = threading.Thread(target=self.serve_forever, name="tidb-double",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self):
        self.shutdown()
        self.server_close()
        with self._conns_lock:
            for s in list(self._conns):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.state.close()


def start(port=0, **kwargs):
    """Start a double in a background thread; returns the DoubleServer.
    kwargs are Config's (version, etcd, log, tls_cert, tls_key, users,
    default_auth, job_delay, first_job_id, empty_check, ...); users is a
    dict name -> (password, plugin) or a list of 'name:password:plugin'."""
    users = kwargs.pop("users", None)
    if users is not None and not isinstance(users, dict):
        users = dict(parse_user(u) for u in users)
    return DoubleServer(Config(port=port, users=users, **kwargs)).start_thread()


def load_users(path):
    """A users file: one 'name:password[:plugin]' per line, '#' comments."""
    users = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                name, entry = parse_user(line)
                users[name] = entry
    return users


def main(argv=None):
    ap = argparse.ArgumentParser(description="TiDB behaviour test double (see module doc)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--version", default=DEFAULT_VERSION,
                    help="mysql.ServerVersion: greeting, @@version, VERSION()")
    ap.add_argument("--release", help="TIDB_VERSION()'s release (default: from --version)")
    ap.add_argument("--greeting", help="what a proxy in between greets with (default: --version)")
    ap.add_argument("--etcd", help="PD/etcd client URL read by the CDC/PiTR precheck")
    ap.add_argument("--etcd-ca")
    ap.add_argument("--etcd-cert")
    ap.add_argument("--etcd-key")
    ap.add_argument("--log", help="JSON-lines statement log")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--users", help="file of name:password[:plugin] lines")
    ap.add_argument("--user", action="append", default=[],
                    help="name:password[:plugin], repeatable")
    ap.add_argument("--default-auth", default=mysqlauth.NATIVE, choices=mysqlauth.PLUGINS)
    ap.add_argument("--job-delay", type=float, default=0.3,
                    help="seconds pending->running and running->finished")
    ap.add_argument("--first-job-id", type=int, default=1)
    ap.add_argument("--select-rows", type=int, default=1,
                    help="rows an IMPORT INTO ... FROM SELECT reports")
    ap.add_argument("--no-empty-check", action="store_true")
    ap.add_argument("--rsa-key", help="PEM private key for caching_sha2 RSA exchange")
    ap.add_argument("--proxy-protocol-networks", default="",
                    help="TiDB's proxy-protocol.networks: \"*\" or IPs/CIDRs, comma-separated")
    ap.add_argument("--proxy-protocol-fallbackable", action="store_true")
    ap.add_argument("--sha2-mode", default="mysql", choices=("mysql", "tidb"),
                    help="caching_sha2_password as MySQL 8 (fast auth cache, RSA) or "
                         "as TiDB's authSha (always full auth, TLS only)")
    args = ap.parse_args(argv)
    users = {}
    if args.users:
        users.update(load_users(args.users))
    for spec in args.user:
        name, entry = parse_user(spec)
        users[name] = entry
    cfg = Config(port=args.port, host=args.host, version=args.version, etcd=args.etcd,
                 log=args.log, tls_cert=args.tls_cert, tls_key=args.tls_key,
                 users=users or None, default_auth=args.default_auth,
                 job_delay=args.job_delay, first_job_id=args.first_job_id,
                 empty_check=not args.no_empty_check, rsa_key=args.rsa_key,
                 select_rows=args.select_rows, etcd_ca=args.etcd_ca,
                 etcd_cert=args.etcd_cert, etcd_key=args.etcd_key,
                 sha2_mode=args.sha2_mode, proxy_networks=args.proxy_protocol_networks,
                 proxy_fallbackable=args.proxy_protocol_fallbackable,
                 greeting=args.greeting, release=args.release)
    server = DoubleServer(cfg)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    print("READY %d" % server.port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.state.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
