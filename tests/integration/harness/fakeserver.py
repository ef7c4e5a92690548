"""fakeserver.py - the listener of the tests' own servers (a fake PD, backend, proxy, an
impostor on a socket): it accepts until close(), counts the connections and hands each to
the subclass's serve(conn), in a thread of its own (or in the accepting thread when
`serial`). A subclass sets its own state before calling FakeServer.__init__, which starts
accepting."""

import socket
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
