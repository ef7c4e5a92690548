"""proxyproto.py - TiDB's PROXY protocol listener, as the double models it (FACTS.md section 10).

TiDB (`[proxy-protocol] networks`, `fallbackable`) wraps its listener with
github.com/blacktear23/go-proxyprotocol in lazy mode (since v6.3.0): the greeting is sent
first, and the header is parsed at the connection's first read. What that library does,
and so what this module does:
- A connection whose address is not in `networks` is not looked at: whatever it sends is
  read as MySQL (a header from there breaks its handshake).
- From an allowed address, the first read (up to 108 bytes) decides: at least 16 bytes
  starting with the v2 signature and version nibble 2 -> a v2 header of 16 + length bytes;
  else starting with "PROXY" -> a v1 line up to its LF (a CR must precede it); anything else
  is not a header: refused ("Invalid PROXY Protocol Header") unless `fallbackable`, when the
  bytes are read as MySQL.
- v2: command PROXY with family TCPv4 (0x11) or TCPv6 (0x21) gives the client's address and
  port; another family or the LOCAL command keeps the connection's own; another command is
  an error. v1: six space-separated parts (TCP4/TCP6, addresses, ports 1..65535), UNKNOWN
  keeps the connection's own address.
The double reads with MSG_PEEK where the library's single read would return what has
arrived, then takes exactly the header's bytes.
"""

import ipaddress
import socket
import struct

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
V1_MAX = 108


class HeaderError(Exception):
    pass


def parse_networks(spec):
    """TiDB's networks string: "*" or comma-separated IPs/CIDRs (a bare IP is a /32 or /128)."""
    spec = (spec or "").strip()
    if not spec:
        return None
    if spec == "*":
        return "*"
    nets = []
    for part in spec.split(","):
        part = part.strip()
        if "/" not in part:
            part += "/128" if ":" in part else "/32"
        nets.append(ipaddress.ip_network(part, strict=False))
    return nets


def allowed(nets, host):
    if nets is None:
        return False
    if nets == "*":
        return True
    addr = ipaddress.ip_address(host)
    return any(addr.version == n.version and addr in n for n in nets)


def _recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed in the PROXY header")
        buf += chunk
    return bytes(buf)


def read_header(sock, fallbackable):
    """Reads a header at the front of sock. Returns (version, (host, port) or None, local):
    version None when there was no header and fallbackable let the bytes through;
    (host, port) None when the header keeps the connection's own address."""
    first = sock.recv(V1_MAX, socket.MSG_PEEK)
    if not first:
        raise EOFError("closed before any byte")
    if len(first) >= 16 and first[:12] == V2_SIG and first[12] & 0xF0 == 0x20:
        total = 16 + struct.unpack(">H", first[14:16])[0]
        hdr = _recv_exact(sock, total)
        cmd, fam = hdr[12] & 0x0F, hdr[13]
        if cmd == 0x00:
            return 2, None, True
        if cmd != 0x01:
            raise HeaderError("PROXY Protocol v2 header is invalid")
        if fam == 0x11 and total >= 28:
            return 2, (str(ipaddress.IPv4Address(hdr[16:20])), struct.unpack(">H", hdr[24:26])[0]), False
        if fam == 0x21 and total >= 52:
            return 2, (str(ipaddress.IPv6Address(hdr[16:32])), struct.unpack(">H", hdr[48:50])[0]), False
        return 2, None, False
    if len(first) >= 5 and first[:5] == b"PROXY":
        lf = first.find(b"\n")
        if lf <= 0 or first[lf - 1:lf] != b"\r":
            raise HeaderError("PROXY Protocol v1 header is invalid")
        line = _recv_exact(sock, lf + 1).decode("ascii", errors="replace")
        parts = line.split(" ")
        if len(parts) != 6:
            if len(parts) > 1 and parts[1] == "UNKNOWN\r\n":
                return 1, None, True
            raise HeaderError("PROXY Protocol v1 header is invalid")
        proto, src, sport = parts[1], parts[2], parts[4]
        try:
            ipaddress.ip_address(src)
            port = int(sport)
        except ValueError:
            raise HeaderError("PROXY Protocol v1 header is invalid")
        if not 0 < port <= 65535:
            raise HeaderError("PROXY Protocol v1 header is invalid")
        if proto == "UNKNOWN":
            return 1, None, True
        if proto not in ("TCP4", "TCP6"):
            raise HeaderError("PROXY Protocol v1 header is invalid")
        return 1, (src, port), False
    if fallbackable:
        return None, None, False
    raise HeaderError("Invalid PROXY Protocol Header")
