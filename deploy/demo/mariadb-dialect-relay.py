#!/usr/bin/python3
"""mariadb-dialect-relay.py - the quick start's one concession to MariaDB standing in for TiDB.

A logical import (docs/LOGICAL_IMPORT.md) is rewritten into TiDB's LOAD DATA, which always
says `FIELDS ... DEFINED NULL BY X'5C4E' OPTIONALLY ENCLOSED`: TiDB needs it (v7.0+) to read
the same NULLs IMPORT INTO reads. MariaDB has no DEFINED NULL BY and answers a syntax error.
With `ESCAPED BY X'5C'` the clause restates MariaDB's own rule (\\N is NULL), so this relay,
which sits between the gateway and the quick start's MariaDB, deletes exactly that clause
from a COM_QUERY that holds it, and relays every other byte unchanged. The one difference
left: a quoted "\\N" is NULL in TiDB and text in MariaDB (the sample CSV has none).

Against a real TiDB nothing sits between the gateway and TiDB.

usage: mariadb-dialect-relay.py LISTEN_PORT BACKEND_PORT   (both on 127.0.0.1)
"""

import socket
import sys
import threading

CLAUSE = b" DEFINED NULL BY X'5C4E' OPTIONALLY ENCLOSED"
COM_QUERY = 0x03
MAX_PAYLOAD = 0xFFFFFF


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def client_to_server(src, dst):
    """Packet by packet: a command (sequence id 0) that is a COM_QUERY holding LOAD DATA with
    the clause, in one packet, loses the clause; everything else is copied as it came."""
    while True:
        head = read_exact(src, 4)
        if head is None:
            return
        n = int.from_bytes(head[:3], "little")
        body = read_exact(src, n)
        if body is None:
            return
        if (head[3] == 0 and n < MAX_PAYLOAD and body[:1] == bytes([COM_QUERY])
                and b"LOAD DATA" in body and b"ESCAPED BY X'5C'" in body and CLAUSE in body):
            body = body.replace(CLAUSE, b"", 1)
            head = len(body).to_bytes(3, "little") + head[3:]
        dst.sendall(head + body)


def server_to_client(src, dst):
    while True:
        data = src.recv(65536)
        if not data:
            return
        dst.sendall(data)


def pump(fn, src, dst):
    try:
        fn(src, dst)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client, backend_port):
    try:
        server = socket.create_connection(("127.0.0.1", backend_port))
    except OSError:
        client.close()
        return
    threads = [threading.Thread(target=pump, args=(client_to_server, client, server), daemon=True),
               threading.Thread(target=pump, args=(server_to_client, server, client), daemon=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    client.close()
    server.close()


def main():
    listen_port, backend_port = int(sys.argv[1]), int(sys.argv[2])
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", listen_port))
    ls.listen(128)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, backend_port), daemon=True).start()


if __name__ == "__main__":
    main()
