"""mariadb_verdict.py - shared pieces of the verdict tests that run against the session
MariaDB (general log on): run a statement and keep its error, and read back which
statements the backend received, leaving out the gateway's own probes of the session's
state (docs/TROUBLESHOOTING.md)."""

import pymysql

from policy_helpers import is_probe


def execute(conn, sql):
    """Runs sql (every result); None, or the error's args (code, message)."""
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            while cur.nextset():
                pass
        return None
    except pymysql.err.MySQLError as e:
        return e.args


def queries_since(mariadb, off):
    """The Query lines of MariaDB's general log written since `off`, probes left out."""
    out = []
    for ln in mariadb.general_log_since(off).splitlines():
        parts = ln.split("\t")
        for i, p in enumerate(parts):
            if p.strip().endswith("Query") and i + 1 < len(parts):
                q = "\t".join(parts[i + 1:])
                if not is_probe(q):
                    out.append(q)
                break
    return out
