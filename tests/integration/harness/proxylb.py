"""proxylb.py - a fake load balancer for the PROXY protocol tests: it accepts connections,
connects to the target from its own source address (127.0.0.2 by default: another loopback
address than the clients', so a gateway can trust it and not them), writes a PROXY protocol
header naming the client it pretends to front (v2 or v1, or `raw` bytes, or nothing), then
relays both ways until either side closes."""

import socket
import struct
import threading

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_header(src, sport, dst="127.0.0.1", dport=4000):
    """A v2 PROXY header, TCP over IPv4 (or IPv6 when src has a ':')."""
    fam = socket.AF_INET6 if ":" in src else socket.AF_INET
    body = (socket.inet_pton(fam, src) + socket.inet_pton(fam, dst if fam == socket.AF_INET else "::1")
            + struct.pack(">HH", sport, dport))
    return V2_SIG + bytes([0x21, 0x21 if fam == socket.AF_INET6 else 0x11]) + struct.pack(">H", len(body)) + body


def v1_header(src, sport, dst="127.0.0.1", dport=4000):
    return ("PROXY %s %s %s %d %d\r\n" % ("TCP6" if ":" in src else "TCP4", src, dst, sport, dport)).encode()


class FakeLB:
    """FakeLB(target_port, header=bytes or None, source="127.0.0.2").port: where clients
    connect. header=None sends no header (a plain TCP relay)."""

    def __init__(self, target_port, header, source="127.0.0.2", target_host="127.0.0.1"):
        self.target = (target_host, target_port)
        self.header = header
        self.source = source
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = False
        self._conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, client):
        up = socket.socket()
        try:
            up.bind((self.source, 0))
            up.connect(self.target)
            if self.header:
                up.sendall(self.header)
        except OSError:
            client.close()
            up.close()
            return
        self._conns += [client, up]
        threading.Thread(target=self._pipe, args=(up, client), daemon=True).start()
        self._pipe(client, up)

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self._stop = True
        self.sock.close()
        for s in self._conns:
            try:
                s.close()
            except OSError:
                pass
