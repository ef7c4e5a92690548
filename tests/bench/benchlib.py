"""benchlib.py - what the Python benchmarks (idle_rss.py, decision_latency.py) share: starting
MariaDB, HAProxy and importgate on loopback ports in a scratch directory, a minimal MySQL
client handshake (cheap enough to hold thousands of connections from one process), RSS
readings and percentiles. Every process started here is stopped by stop_all()."""

import hashlib
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEFAULT_IMPORTGATE = "/tmp/build-bench/proxy/importgate"

_procs = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def spawn(cmd, log_path, env=None, cwd=None):
    log = open(log_path, "ab")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env, cwd=cwd)
    log.close()
    _procs.append(proc)
    return proc


def stop_all():
    for p in reversed(_procs):
        if p.poll() is None:
            p.terminate()
    for p in reversed(_procs):
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    _procs.clear()


def workdir(prefix):
    return tempfile.mkdtemp(prefix=prefix)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def percentile(sorted_vals, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_vals:
        raise ValueError("no values")
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


# --- servers -------------------------------------------------------------------------------

class MariaDB:
    """A private mariadbd in dirpath on a free loopback port, with one mysql_native_password
    user (ALL PRIVILEGES) and no anonymous users."""

    def __init__(self, dirpath, user="bench", password="benchpw", max_connections=8000,
                 extra_args=()):
        self.dir = dirpath
        self.datadir = os.path.join(dirpath, "mariadb")
        self.sock = os.path.join(self.datadir, "sock")
        self.port = free_port()
        self.user, self.password = user, password
        self.max_connections = max_connections
        self.extra_args = list(extra_args)
        self.proc = None

    def start(self):
        os.makedirs(self.datadir, exist_ok=True)
        with open(os.path.join(self.dir, "install-db.log"), "wb") as log:
            subprocess.run(["mariadb-install-db", "--no-defaults", "--datadir=" + self.datadir,
                            "--auth-root-authentication-method=normal", "--user=root"],
                           stdout=log, stderr=subprocess.STDOUT, check=True)
        self.proc = spawn(["mariadbd", "--no-defaults", "--datadir=" + self.datadir,
                           "--port=%d" % self.port, "--bind-address=127.0.0.1",
                           "--socket=" + self.sock, "--user=root",
                           "--max-connections=%d" % self.max_connections,
                           "--skip-log-bin", "--log-error=" + os.path.join(self.dir, "mariadb.err")]
                          + self.extra_args, os.path.join(self.dir, "mariadbd.out"))
        if not wait_port(self.port, 60, self.proc):
            raise RuntimeError("MariaDB did not start; see %s/mariadb.err" % self.dir)
        self.sql("DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES; "
                 "CREATE USER '%s'@'%%' IDENTIFIED VIA mysql_native_password USING PASSWORD('%s'); "
                 "GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%';"
                 % (self.user, self.password, self.user))
        return self

    def sql(self, text):
        """Runs text as root over the socket; returns the output (tab-separated, no headers)."""
        r = subprocess.run(["mariadb", "--no-defaults", "-S", self.sock, "-uroot", "-N", "-B",
                            "-e", text], capture_output=True, text=True, check=True)
        return r.stdout

    def status(self, name):
        out = self.sql("SHOW GLOBAL STATUS LIKE '%s'" % name).split()
        return int(out[1])

    def version(self):
        return self.sql("SELECT VERSION()").strip()


class HAProxy:
    """HAProxy with tests/bench/haproxy.cfg in front of host:port."""

    def __init__(self, dirpath, backend):
        self.dir = dirpath
        self.backend = backend
        self.port = free_port()
        self.proc = None

    def start(self):
        env = dict(os.environ, HAP_LISTEN="127.0.0.1:%d" % self.port, HAP_BACKEND=self.backend,
                   HAP_THREADS=os.environ.get("HAP_THREADS", "2"))
        self.proc = spawn(["haproxy", "-db", "-f", os.path.join(HERE, "haproxy.cfg")],
                          os.path.join(self.dir, "haproxy.log"), env=env, cwd=self.dir)
        if not wait_port(self.port, 15, self.proc):
            raise RuntimeError("HAProxy did not start; see %s/haproxy.log" % self.dir)
        return self


class Gateway:
    """importgate -c FILE with a generated config; extra_yaml is appended verbatim (top-level
    keys not already written here)."""

    def __init__(self, dirpath, backend, binary=None, workers=2, pd=(), log_level="warn",
                 extra_yaml="", backends_extra=""):
        self.dir = dirpath
        self.binary = binary or os.environ.get("IMPORTGATE", DEFAULT_IMPORTGATE)
        self.port = free_port()
        self.stderr_path = os.path.join(dirpath, "importgate.log")
        pd_list = ", ".join(pd)
        self.config = (
            "listen: 127.0.0.1:%d\n"
            "workers: %d\n"
            "backends:\n  servers: [%s]\n%s"
            "cluster:\n  pd: [%s]\n"
            "audit:\n  path: %s\n"
            "obligations:\n  file: %s\n"
            "admin: {listen: 127.0.0.1:0}\n"
            "log: {level: %s}\n"
            % (self.port, workers, backend, backends_extra, pd_list, os.path.join(dirpath, "audit.jsonl"),
               os.path.join(dirpath, "obligations.log"), log_level)) + extra_yaml
        self.proc = None

    def start(self):
        if not os.access(self.binary, os.X_OK):
            raise RuntimeError("importgate not found at %s (set IMPORTGATE)" % self.binary)
        path = os.path.join(self.dir, "importgate.yaml")
        with open(path, "w") as f:
            f.write(self.config)
        self.proc = spawn([self.binary, "-c", path], self.stderr_path, cwd=self.dir)
        if not wait_port(self.port, 15, self.proc):
            raise RuntimeError("importgate did not start; see %s" % self.stderr_path)
        return self

    def log_text(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


def git_commit():
    """$IG_COMMIT (the commit the binary was built from), else this tree's HEAD."""
    if os.environ.get("IG_COMMIT"):
        return os.environ["IG_COMMIT"]
    r = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True)
    return r.stdout.strip() or "unknown"


# --- a minimal MySQL client ----------------------------------------------------------------

CLIENT_LONG_PASSWORD = 0x1
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_PLUGIN_AUTH = 0x80000
CLIENT_COMPRESS = 0x20
CLIENT_ZSTD_COMPRESSION_ALGORITHM = 1 << 26


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return bytes(buf)


def read_packet(sock):
    hdr = _recv_exact(sock, 4)
    n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
    return hdr[3], _recv_exact(sock, n)


def write_packet(sock, seq, payload):
    sock.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)


def native_scramble(password, salt):
    if not password:
        return b""
    h1 = hashlib.sha1(password.encode()).digest()
    h2 = hashlib.sha1(h1).digest()
    h3 = hashlib.sha1(salt + h2).digest()
    return bytes(a ^ b for a, b in zip(h1, h3))


def parse_greeting(p):
    """(server version, 20-byte scramble, plugin name) from a HandshakeV10 payload."""
    if not p or p[0] != 10:
        raise ValueError("not a HandshakeV10 greeting: %r" % p[:16])
    end = p.index(b"\0", 1)
    version = p[1:end].decode("latin-1")
    i = end + 1 + 4
    salt = p[i:i + 8]
    i += 8 + 1
    caps = struct.unpack_from("<H", p, i)[0]
    i += 2 + 1 + 2
    caps |= struct.unpack_from("<H", p, i)[0] << 16
    i += 2
    auth_len = p[i]
    i += 1 + 10
    if caps & CLIENT_SECURE_CONNECTION:
        n2 = max(13, auth_len - 8)
        salt += p[i:i + n2].rstrip(b"\0")
        i += n2
    plugin = "mysql_native_password"
    if caps & CLIENT_PLUGIN_AUTH and i < len(p):
        plugin = p[i:p.index(b"\0", i) if b"\0" in p[i:] else len(p)].decode()
    return version, salt[:20], plugin


def mysql_connect(host, port, user, password, db=None, timeout=10.0, compress=None):
    """An authenticated connection (mysql_native_password, following an AuthSwitchRequest to
    it); returns the socket. Raises on any error packet. compress: None, "zlib" or "zstd" (the
    flag asked for; frames start after the OK, see compressed_query)."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        _, greet = read_packet(s)
        _, salt, _ = parse_greeting(greet)
        caps = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS
                | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH)
        if db:
            caps |= CLIENT_CONNECT_WITH_DB
        if compress:
            caps |= CLIENT_COMPRESS if compress == "zlib" else CLIENT_ZSTD_COMPRESSION_ALGORITHM
        auth = native_scramble(password, salt)
        payload = struct.pack("<IIB23x", caps, 1 << 24, 45) + user.encode() + b"\0"
        payload += bytes([len(auth)]) + auth
        if db:
            payload += db.encode() + b"\0"
        payload += b"mysql_native_password\0"
        if compress == "zstd":
            payload += bytes([3])  # the zstd level, the response's last byte
        write_packet(s, 1, payload)
        seq, p = read_packet(s)
        if p[:1] == b"\xfe":  # AuthSwitchRequest
            end = p.index(b"\0", 1)
            plugin = p[1:end].decode()
            if plugin != "mysql_native_password":
                raise ValueError("server wants %s" % plugin)
            write_packet(s, seq + 1, native_scramble(password, p[end + 1:end + 21]))
            seq, p = read_packet(s)
        if p[:1] != b"\x00":
            raise ConnectionError("authentication failed: %r" % p[:120])
        s.settimeout(None)
        return s
    except BaseException:
        s.close()
        raise


def _libzstd():
    import ctypes
    lib = ctypes.CDLL("libzstd.so.1")
    lib.ZSTD_compress.restype = ctypes.c_size_t
    lib.ZSTD_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
    lib.ZSTD_decompress.restype = ctypes.c_size_t
    lib.ZSTD_decompress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]
    lib.ZSTD_isError.restype = ctypes.c_uint
    lib.ZSTD_isError.argtypes = [ctypes.c_size_t]
    return lib


def _zpack(alg, data):
    if alg == "zlib":
        import zlib
        return zlib.compress(data)
    import ctypes
    lib = _libzstd()
    out = ctypes.create_string_buffer(len(data) + 1024)
    n = lib.ZSTD_compress(out, len(out), data, len(data), 3)
    assert not lib.ZSTD_isError(n)
    return out.raw[:n]


def _zunpack(alg, data, ulen):
    if alg == "zlib":
        import zlib
        return zlib.decompress(data)
    import ctypes
    lib = _libzstd()
    out = ctypes.create_string_buffer(ulen)
    n = lib.ZSTD_decompress(out, ulen, data, len(data))
    assert not lib.ZSTD_isError(n) and n == ulen
    return out.raw[:n]


def compressed_query(sock, alg, sql, packets):
    """Sends COM_QUERY sql in one compressed frame (compressed when over 50 bytes) on a
    connection from mysql_connect(compress=alg) and reads frames until `packets` packets of the
    answer have come; returns their payloads."""
    pkt = struct.pack("<I", len(sql) + 1)[:3] + b"\0" + b"\x03" + sql.encode()
    body = _zpack(alg, pkt)
    sock.sendall(struct.pack("<I", len(body))[:3] + b"\0" + struct.pack("<I", len(pkt))[:3] + body)
    stream, got = b"", []
    while len(got) < packets:
        hdr = _recv_exact(sock, 7)
        clen = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        ulen = hdr[4] | hdr[5] << 8 | hdr[6] << 16
        body = _recv_exact(sock, clen)
        stream += _zunpack(alg, body, ulen) if ulen else body
        while len(stream) >= 4 and len(got) < packets:
            n = stream[0] | stream[1] << 8 | stream[2] << 16
            if len(stream) < 4 + n:
                break
            got.append(stream[4:4 + n])
            stream = stream[4 + n:]
    return got


def cleanup_dir(path, keep):
    if not keep:
        shutil.rmtree(path, ignore_errors=True)
