"""IMPORT INTO as the TiDB test double understands it: parse the statement
(target, column list, SET, `FROM 'location' [FORMAT ..]` or `FROM SELECT`,
`WITH` options) and validate the options in the order and with the error
codes TiDB's planner does (pkg/executor/importer/import.go initOptions), for
the TiDB version the double pretends to be.

Also the version parsing (`8.0.11-TiDB-v8.5.0`) and the SQLError type the
rest of the double raises.
"""

import re

import sqllex
from sqllex import IDENT, NUMBER, PUNCT, STRING


class SQLError(Exception):
    """A MySQL error to send to the client."""

    def __init__(self, code, message, sqlstate="HY000"):
        super().__init__(message)
        self.code = code
        self.message = message
        self.sqlstate = sqlstate


# TiDB error codes and messages (pkg/errno/errcode.go, errname.go).
ER_PARSE = 1064
ER_NO_DB = 1046
ER_UNKNOWN = 1105
ER_SERVER_SHUTDOWN = 1053
ER_UNSUPPORTED_FORMAT = 8157
ER_UNKNOWN_OPTION = 8163
ER_INVALID_OPTION_VAL = 8164
ER_DUPLICATE_OPTION = 8165
ER_UNSUPPORTED_OPTION = 8166
ER_JOB_NOT_FOUND = 8170
ER_INVALID_OPERATION = 8171
ER_PRECHECK_FAILED = 8173


def unknown_option(name):
    return SQLError(ER_UNKNOWN_OPTION, "Unknown option %s" % name)


def invalid_option(name):
    return SQLError(ER_INVALID_OPTION_VAL, "Invalid option value for %s" % name)


def duplicate_option(name):
    return SQLError(ER_DUPLICATE_OPTION, "Option %s specified more than once" % name)


def unsupported_option(name, why):
    return SQLError(ER_UNSUPPORTED_OPTION, "Unsupported option %s for %s" % (name, why))


def precheck_failed(msg):
    return SQLError(ER_PRECHECK_FAILED, "PreCheck failed: %s" % msg)


def syntax_error(sql, pos):
    near = sql[pos:] if pos < len(sql) else ""
    line = sql.count("\n", 0, pos) + 1
    col = pos - (sql.rfind("\n", 0, pos) + 1)
    return SQLError(ER_PARSE, "You have an error in your SQL syntax; check the manual that "
                    "corresponds to your TiDB version for the right syntax to use line %d "
                    "column %d near \"%s\" " % (line, col, near), "42000")


def parse_version(server_version):
    """(major, minor, patch) of '8.0.11-TiDB-v8.5.0'; (8, 5, 0) if unknown."""
    m = re.search(r"TiDB-v(\d+)\.(\d+)\.(\d+)", server_version)
    if not m:
        return (8, 5, 0)
    return tuple(int(x) for x in m.groups())


# Option name -> value kind: None (takes no value), "str" or "int".
_BASE_OPTIONS = {
    "character_set": "str", "fields_terminated_by": "str", "fields_enclosed_by": "str",
    "fields_escaped_by": "str", "fields_defined_null_by": "str",
    "lines_terminated_by": "str", "skip_rows": "int", "split_file": None,
    "disk_quota": "str", "thread": "int", "max_write_speed": "str",
    "checksum_table": "str", "record_errors": "int", "detached": None,
    "disable_tikv_import_mode": None, "__max_engine_size": "str",
}
_CSV_ONLY = ("character_set", "fields_terminated_by", "fields_enclosed_by",
             "fields_escaped_by", "fields_defined_null_by", "lines_terminated_by",
             "skip_rows", "split_file")
_QUERY_ALLOWED = ("thread", "disable_precheck")
_CHARSETS = ("binary", "utf8", "utf8mb4", "latin1", "ascii", "gbk", "gb18030")
_FORMATS = ("csv", "sql", "parquet")


# The same rows as the gateway's policy/import_grammar.c (sources per row in
# docs/TIDB_VERSIONS.md, "IMPORT INTO options and grammar per version").
MASTER_LIKE = (9, 0, 0)


def supported_options(version):
    """Options TiDB `version` knows: CLOUD_STORAGE_URI from v7.4,
    DISABLE_PRECHECK from v8.0 (pingcap/tidb#51077), GROUP_KEY
    (pingcap/tidb#62369, merged after v8.5.0) and the test options
    __force_merge_step / __manual_recovery on master (the stored master
    import.go supportedOptions; the double gives them to v9.0 and later, the
    release that first has them is not pinned)."""
    opts = dict(_BASE_OPTIONS)
    if version >= (7, 4, 0):
        opts["cloud_storage_uri"] = "str"
    if version >= (8, 0, 0):
        opts["disable_precheck"] = None
    if version >= MASTER_LIKE:
        opts["group_key"] = "str"
        opts["__force_merge_step"] = None
        opts["__manual_recovery"] = None
        # pingcap/tidb#66701 (2026-03): error | capture, global sort only (8167 otherwise:
        # not modelled, the double only knows the option)
        opts["on_duplicate_key"] = "str"
    return opts


_COMPRESSION_SUFFIXES = (".gz", ".gzip", ".zstd", ".zst", ".snappy")


def effective_format(stmt, version):
    """The data format TiDB `version` imports: FORMAT when given; without it
    CSV, except on master (DataFormatAuto in the stored master import.go), which
    detects it from the file suffix (case-insensitive, after a compression
    suffix; anything else is CSV)."""
    if stmt.format is not None or stmt.from_query:
        return stmt.format
    if version < MASTER_LIKE:
        return "csv"
    name = stmt.location.lower()
    for suffix in _COMPRESSION_SUFFIXES:
        if name.endswith(suffix):
            name = name[:-len(suffix)]
            break
    for fmt in ("csv", "sql", "parquet"):
        if name.endswith("." + fmt):
            return fmt
    return "csv"


class Option:
    def __init__(self, name, value_tok, start, end):
        self.name = name          # lower case, as TiDB's parser stores it
        self.value_tok = value_tok  # Token or None
        self.start = start
        self.end = end

    @property
    def value(self):
        return None if self.value_tok is None else self.value_tok.value


class ImportStmt:
    def __init__(self):
        self.db = None
        self.table = None
        self.columns = []
        self.has_set = False
        self.location = None      # FROM 'location'
        self.format = None        # FORMAT 'csv' (lower case) or None = auto
        self.select_sql = None    # FROM SELECT ...
        self.options = []

    @property
    def from_query(self):
        return self.select_sql is not None

    def has_option(self, name):
        return any(o.name == name for o in self.options)

    def option(self, name):
        for o in self.options:
            if o.name == name:
                return o
        return None


class _Parser:
    def __init__(self, sql, modes=sqllex.STANDARD):
        self.sql = sql
        try:
            self.toks = sqllex.tokenize(sql, modes)
        except sqllex.LexError as e:
            raise syntax_error(sql, e.pos)
        self.i = 0

    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else None

    def fail(self):
        tok = self.peek()
        raise syntax_error(self.sql, tok.start if tok else len(self.sql))

    def next(self):
        tok = self.peek()
        if tok is None:
            self.fail()
        self.i += 1
        return tok

    def expect_kw(self, *words):
        tok = self.next()
        if not tok.is_kw(*words):
            self.i -= 1
            self.fail()
        return tok

    def accept_punct(self, p):
        tok = self.peek()
        if tok is not None and tok.kind == PUNCT and tok.value == p:
            self.i += 1
            return True
        return False

    def ident(self):
        tok = self.next()
        if tok.kind != IDENT:
            self.i -= 1
            self.fail()
        return tok.value

    def skip_balanced_until(self, stop_words):
        """Advance over tokens (keeping paren depth) until a depth-0 keyword."""
        depth = 0
        while self.peek() is not None:
            tok = self.peek()
            if depth == 0 and tok.is_kw(*stop_words):
                return
            if tok.kind == PUNCT and tok.value == "(":
                depth += 1
            elif tok.kind == PUNCT and tok.value == ")":
                depth -= 1
            self.i += 1

    def options(self, stmt):
        while True:
            start_tok = self.peek()
            name = self.ident().lower()
            value = None
            if self.accept_punct("="):
                neg = self.accept_punct("-")
                value = self.next()
                if value.kind not in (STRING, NUMBER, IDENT) or (neg and value.kind != NUMBER):
                    self.i -= 1
                    self.fail()
                if neg:
                    value = sqllex.Token(NUMBER, "-" + value.text, "-" + value.value,
                                         value.start, value.end)
            end = self.toks[self.i - 1].end
            stmt.options.append(Option(name, value, start_tok.start, end))
            if not self.accept_punct(","):
                break
        if self.peek() is not None:
            self.fail()


def parse_import(sql, version=(8, 5, 0), modes=sqllex.STANDARD):
    """Parse an IMPORT INTO statement (lexed under `modes`, the session's sql_mode);
    SQLError 1064 when it is malformed."""
    p = _Parser(sql, modes)
    stmt = ImportStmt()
    p.expect_kw("IMPORT")
    p.expect_kw("INTO")
    first = p.ident()
    if p.accept_punct("."):
        stmt.db, stmt.table = first, p.ident()
    else:
        stmt.table = first
    if p.accept_punct("("):
        if not p.accept_punct(")"):
            while True:
                tok = p.next()
                if tok.kind not in (IDENT, sqllex.VAR):
                    p.i -= 1
                    p.fail()
                stmt.columns.append(tok.value)
                if p.accept_punct(")"):
                    break
                if not p.accept_punct(","):
                    p.fail()
    if p.peek() is not None and p.peek().is_kw("SET"):
        stmt.has_set = True
        p.i += 1
        p.skip_balanced_until(("FROM",))
    p.expect_kw("FROM")
    tok = p.peek()
    if tok is None:
        p.fail()
    if tok.kind == STRING:
        p.i += 1
        stmt.location = tok.value
        if p.peek() is not None and p.peek().is_kw("FORMAT"):
            p.i += 1
            fmt = p.next()
            if fmt.kind != STRING:
                p.i -= 1
                p.fail()
            stmt.format = fmt.value.lower()
        if p.peek() is not None:
            p.expect_kw("WITH")
            p.options(stmt)
        return stmt
    if version < (8, 0, 0) or not (tok.is_kw("SELECT", "TABLE", "VALUES")
                                    or (tok.kind == PUNCT and tok.value == "(")):
        p.fail()  # IMPORT INTO ... FROM SELECT exists from v8.0
    sel_start = tok.start
    with_at = None
    depth = 0
    for j in range(p.i, len(p.toks)):
        t = p.toks[j]
        if t.kind == PUNCT and t.value in "()":
            depth += 1 if t.value == "(" else -1
        elif depth == 0 and t.is_kw("WITH"):
            nxt = p.toks[j + 1] if j + 1 < len(p.toks) else None
            if nxt is not None and nxt.kind == IDENT and not nxt.is_kw("ROLLUP"):
                with_at = j
    if with_at is None:
        stmt.select_sql = sql[sel_start:].strip()
        return stmt
    stmt.select_sql = sql[sel_start:p.toks[with_at].start].strip()
    p.i = with_at + 1
    p.options(stmt)
    return stmt


def _byte_size(text):
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmMgGtTpP]i?[bB]?|[bB])?\s*", text)
    if not m:
        return None
    mult = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40,
            "p": 1 << 50}[(m.group(2) or "")[:1].lower()]
    return float(m.group(1)) * mult


def validate_options(stmt, version=(8, 5, 0)):
    """TiDB's initOptions: raise SQLError for the first problem, in TiDB's
    order; return a dict of the effective option values."""
    known = supported_options(version)
    seen = {}
    for opt in stmt.options:
        if opt.name not in known:
            raise unknown_option(opt.name)
        takes_value = known[opt.name] is not None
        if takes_value != (opt.value_tok is not None):
            raise invalid_option(opt.name)
        if opt.name in seen:
            raise duplicate_option(opt.name)
        seen[opt.name] = opt
    fmt = effective_format(stmt, version)
    if not stmt.from_query and fmt is not None and fmt != "csv":
        for name in _CSV_ONLY:
            if name in seen:
                raise unsupported_option(name, "non-CSV format")
    if stmt.from_query:
        for name in seen:
            if name not in _QUERY_ALLOWED:
                raise unsupported_option(name, "import from query")

    def as_str(name):
        tok = seen[name].value_tok
        if tok.kind != STRING:
            raise invalid_option(name)
        return tok.value

    def as_int(name):
        tok = seen[name].value_tok
        if tok.kind != NUMBER or not re.fullmatch(r"-?\d+", tok.value):
            raise invalid_option(name)
        return int(tok.value)

    eff = {"format": fmt,
           "detached": "detached" in seen, "disable_precheck": "disable_precheck" in seen,
           "split_file": "split_file" in seen, "skip_rows": 0, "lines_terminated_by": ""}
    if "character_set" in seen:
        v = as_str("character_set")
        if v.lower() not in _CHARSETS:
            raise invalid_option("character_set")
    for name in ("fields_terminated_by", "lines_terminated_by"):
        if name in seen:
            v = as_str(name)
            if v == "":
                raise invalid_option(name)
            eff[name] = v
    for name in ("fields_enclosed_by", "fields_escaped_by"):
        if name in seen and len(as_str(name)) > 1:
            raise invalid_option(name)
    if "fields_defined_null_by" in seen:
        as_str("fields_defined_null_by")
    if "skip_rows" in seen:
        v = as_int("skip_rows")
        if v < 0:
            raise invalid_option("skip_rows")
        eff["skip_rows"] = v
    if "disk_quota" in seen:
        size = _byte_size(as_str("disk_quota"))
        if size is None or size <= 0:
            raise invalid_option("disk_quota")
    if "thread" in seen:
        v = as_int("thread")
        if v <= 0:
            raise invalid_option("thread")
        eff["thread"] = v
    if "max_write_speed" in seen and _byte_size(as_str("max_write_speed")) is None:
        raise invalid_option("max_write_speed")
    if "checksum_table" in seen and as_str("checksum_table").lower() not in (
            "off", "false", "optional", "required", "true"):
        raise invalid_option("checksum_table")
    if "group_key" in seen:
        # non-empty, at most 256 of [A-Za-z0-9_-] (master: naming.CheckWithMaxLen)
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", as_str("group_key")):
            raise invalid_option("group_key")
    if "record_errors" in seen and as_int("record_errors") < -1:
        raise invalid_option("record_errors")
    if "cloud_storage_uri" in seen:
        v = as_str("cloud_storage_uri")
        if v and not re.match(r"(s3|gs|gcs)://", v):
            raise invalid_option("cloud_storage_uri")
    if "__max_engine_size" in seen and _byte_size(as_str("__max_engine_size")) is None:
        raise invalid_option("__max_engine_size")
    if eff["split_file"] and eff["skip_rows"] > 1:
        raise invalid_option("skip_rows, should be <= 1 when split-file is enabled")
    if eff["split_file"] and not eff["lines_terminated_by"]:
        raise invalid_option("lines_terminated_by, should not be empty when use split_file")
    if not stmt.from_query and fmt is not None and fmt not in _FORMATS:
        raise SQLError(ER_UNSUPPORTED_FORMAT, "The FORMAT '%s' is not supported" % fmt)
    return eff
