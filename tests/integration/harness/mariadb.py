"""mariadb.py - one real MariaDB server for the whole test session (Debian's mariadbd),
initialised into a temp dir, listening on a free loopback port with TLS enabled (optional for
clients), the general log on (tests check what the backend received), max_allowed_packet 1G,
local_infile on, and the test users and databases created at start."""

import os
import shutil
import subprocess
import time

import pymysql

from . import ports

# Users created at start. mysql_native_password everywhere: MariaDB 10.11 has no
# caching_sha2_password server plugin (the caching_sha2 tests use the TiDB double).
ADMIN = ("igadmin", "adminpw")      # ALL PRIVILEGES, used directly on the server by tests
NATIVE = ("ignative", "nativepw")   # mysql_native_password with a password
EMPTY = ("igempty", "")             # empty password
OTHER = ("igother", "otherpw")      # target of COM_CHANGE_USER
TLSONLY = ("igtls", "tlspw")        # REQUIRE SSL: only a TLS backend leg can log in
DATABASES = ("igtest", "igtest2")

_SETUP_SQL = """
CREATE DATABASE igtest;
CREATE DATABASE igtest2;
CREATE USER 'igadmin'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('adminpw');
GRANT ALL PRIVILEGES ON *.* TO 'igadmin'@'%' WITH GRANT OPTION;
CREATE USER 'ignative'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('nativepw');
GRANT ALL PRIVILEGES ON igtest.* TO 'ignative'@'%';
GRANT ALL PRIVILEGES ON igtest2.* TO 'ignative'@'%';
CREATE USER 'igempty'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('');
GRANT ALL PRIVILEGES ON igtest.* TO 'igempty'@'%';
CREATE USER 'igother'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('otherpw');
GRANT ALL PRIVILEGES ON igtest2.* TO 'igother'@'%';
CREATE USER 'igtls'@'%' IDENTIFIED VIA mysql_native_password USING PASSWORD('tlspw') REQUIRE SSL;
GRANT ALL PRIVILEGES ON igtest.* TO 'igtls'@'%';
CREATE TABLE igtest.seq (n INT PRIMARY KEY, s VARCHAR(64));
"""


class MariaDB:
    """A running mariadbd. Attributes: host, port, datadir, socket, general_log, err_log,
    certs (or None), tls (bool)."""

    def __init__(self, basedir, certs=None, max_connections=600, connect_timeout=3,
                 prefix=(), host="127.0.0.1", bind="127.0.0.1"):
        """prefix: a command prefix for mariadbd (e.g. a network namespace's); host: where
        tests reach it; bind: its --bind-address."""
        self.basedir = basedir
        self.datadir = os.path.join(basedir, "data")
        self.socket = os.path.join(basedir, "mysqld.sock")
        self.general_log = os.path.join(basedir, "general.log")
        self.err_log = os.path.join(basedir, "error.log")
        self.pid_file = os.path.join(basedir, "mysqld.pid")
        self.host = host
        self.bind = bind
        self.prefix = list(prefix)
        self.port = None
        self.certs = certs
        self.tls = certs is not None
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.proc = None

    # ---- lifecycle ----

    def start(self):
        for exe in ("mariadb-install-db", "mariadbd"):
            if shutil.which(exe) is None and not os.path.exists("/usr/sbin/" + exe):
                raise RuntimeError("%s not found: install Debian's mariadb-server" % exe)
        os.makedirs(self.basedir, exist_ok=True)
        self._install_db()
        self.port = ports.free_port()
        self.proc = subprocess.Popen(self.prefix + self._server_args(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        self._wait_ready(60)
        self._setup()

    def _install_db(self):
        # --tmpdir (passed on to the bootstrap mariadbd): its own, not /tmp. A mariadbd
        # starting with tmpdir /tmp deletes every #sql* file there, so two bootstraps at once
        # (two pytest workers, two runs on one machine) deleted each other's temporary tables
        # ("Unknown table 'mysql.tmp_user_sys'", issue 14).
        r = subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + self.datadir,
                            "--auth-root-authentication-method=normal", "--user=root",
                            "--skip-test-db", "--tmpdir=" + self.basedir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("mariadb-install-db failed:\n" + r.stdout + r.stderr)

    def _server_args(self):
        exe = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        args = [exe, "--no-defaults", "--user=root", "--datadir=" + self.datadir,
                "--port=%d" % self.port, "--bind-address=" + self.bind, "--socket=" + self.socket,
                "--pid-file=" + self.pid_file, "--log-error=" + self.err_log,
                "--general-log=1", "--general-log-file=" + self.general_log,
                "--max-allowed-packet=1G", "--local-infile=1", "--skip-name-resolve",
                "--max-connections=%d" % self.max_connections,
                "--connect-timeout=%d" % self.connect_timeout,
                "--innodb-buffer-pool-size=64M", "--skip-log-bin", "--tmpdir=" + self.basedir]
        if self.certs is not None:
            args += ["--ssl-ca=" + self.certs.ca, "--ssl-cert=" + self.certs.server_cert,
                     "--ssl-key=" + self.certs.server_key]
        return args

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("mariadbd exited with %s:\n%s" % (self.proc.returncode,
                                                                     self._err_tail()))
            try:
                c = pymysql.connect(unix_socket=self.socket, user="root", password="",
                                    connect_timeout=2)
                c.close()
                return
            except pymysql.MySQLError as e:
                last = e
                time.sleep(0.1)
        raise RuntimeError("mariadbd not ready after %ss (%s):\n%s" % (timeout, last,
                                                                        self._err_tail()))

    def _setup(self):
        c = pymysql.connect(unix_socket=self.socket, user="root", password="", autocommit=True)
        try:
            with c.cursor() as cur:
                for stmt in _SETUP_SQL.split(";"):
                    if stmt.strip():
                        cur.execute(stmt)
                cur.executemany("INSERT INTO igtest.seq VALUES (%s, %s)",
                                [(i, "row-%d" % i) for i in range(1, 101)])
        finally:
            c.close()

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def _err_tail(self, n=4000):
        try:
            with open(self.err_log, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return "(no error log)"

    # ---- helpers for tests ----

    def admin(self, **kw):
        """A PyMySQL connection straight to the server (not through the gateway) as igadmin."""
        kw.setdefault("autocommit", True)
        return pymysql.connect(host=self.host, port=self.port, user=ADMIN[0], password=ADMIN[1],
                               connect_timeout=10, **kw)

    def admin_query(self, sql, args=None):
        c = self.admin()
        try:
            with c.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall()
        finally:
            c.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def general_log_offset(self):
        try:
            return os.path.getsize(self.general_log)
        except OSError:
            return 0

    def general_log_since(self, offset):
        """The general log written after `offset` (from general_log_offset())."""
        with open(self.general_log, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")

    def thread_exists(self, thread_id):
        rows = self.admin_query("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID=%s",
                                (thread_id,))
        return rows[0][0] > 0

    def wait_thread_gone(self, thread_id, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.thread_exists(thread_id):
                return True
            time.sleep(0.1)
        return False

