"""fakeserver.py - the listener of the tests' own servers (a fake PD, backend, proxy, an
impostor on a socket): it accepts until close(), counts the connections and hands each to
the subclass's serve(conn), in a thread of its own (or in the accepting thread when
`serial`). A subclass sets its own state before calling FakeServer.__init__, which starts
accepting."""

import socket
import struct
import threading


class FakeServer:
    serial = False  # serve each connection in the accepting thread, one after the other

    def __init__(self, sock=None, backlog=16):
        if sock is None:
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", 0))
        self.sock = sock
        self.sock.listen(backlog)
        self.sock.settimeout(0.2)  # so that close() is seen within a moment
        self.port = sock.getsockname()[1] if sock.family != socket.AF_UNIX else None
        self.connections = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.connections += 1
            if self.serial:
                self.serve(c)
            else:
                threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, conn):
        raise NotImplementedError

    def close(self):
        self.stopping = True
        self.thread.join(5)
        self.sock.close()


class HttpAnswer(FakeServer):
    """Answers every HTTP request with one response (status, body: text), keeping what each
    connection sent (its head; what came before an error)."""

    serial = True

    def __init__(self, body, status=200):
        self.status, self.body = status, body.encode()
        self.received = []
        FakeServer.__init__(self, backlog=8)

    def serve(self, c):
        c.settimeout(2)
        data = b""
        try:
            while b"\r\n\r\n" not in data:
                chunk = c.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.received.append(data)
            c.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                      b"Connection: close\r\n\r\n%s" % (self.status, b"OK" if self.status == 200 else b"Error",
                                                    len(self.body), self.body))
        except OSError:
            self.received.append(data)
        finally:
            c.close()


def greeting(caps, conn_id, salt, charset=0x2d):
    """A fake TiDB's server greeting (protocol 10, mysql_native_password), as a packet with
    sequence id 0."""
    body = (b"\x0a8.0.11-TiDB-v8.5.0\x00" + struct.pack("<I", conn_id) + salt[:8] + b"\x00" +
            struct.pack("<H", caps & 0xffff) + bytes([charset]) + struct.pack("<H", 2) +
            struct.pack("<H", caps >> 16) + bytes([21]) + b"\x00" * 10 + salt[8:] + b"\x00" +
            b"mysql_native_password\x00")
    return struct.pack("<I", len(body))[:3] + b"\x00" + body


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        d = sock.recv(n - len(data))
        if not d:
            raise EOFError
        data += d
    return data


def read_packet(sock):
    """(sequence id, payload) of the next packet on sock; EOFError if it closes first."""
    head = _recv_exact(sock, 4)
    return head[3], _recv_exact(sock, head[0] | head[1] << 8 | head[2] << 16)
