"""certs.py - test PKI made with the openssl CLI at test time: a CA, a server certificate
(CN 127.0.0.1, SAN IP:127.0.0.1 and DNS:localhost) and a client certificate, plus a second,
unrelated CA for negative tests (a certificate it did not sign must fail verification)."""

import os
import subprocess
from dataclasses import dataclass


@dataclass
class Certs:
    dir: str
    ca: str           # CA certificate (PEM) that signed server and client certs
    ca_key: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str
    other_ca: str     # a CA that signed nothing here


def _run(args, cwd):
    r = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), r.stderr))


def _make_ca(d, name, cn):
    key, crt = os.path.join(d, name + ".key"), os.path.join(d, name + ".pem")
    _run(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
          "-days", "2", "-subj", "/CN=" + cn,
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
    return key, crt


def _make_leaf(d, name, cn, ca_key, ca_crt, ext):
    key, csr, crt = (os.path.join(d, name + s) for s in (".key", ".csr", ".pem"))
    extfile = os.path.join(d, name + ".ext")
    with open(extfile, "w") as f:
        f.write(ext)
    _run(["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
          "-subj", "/CN=" + cn], d)
    _run(["x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
          "-out", crt, "-days", "2", "-sha256", "-extfile", extfile], d)
    return key, crt


def make_certs(d):
    """Creates the test PKI in directory d (which must exist) and returns a Certs."""
    ca_key, ca = _make_ca(d, "ca", "importgate test CA")
    _, other_ca = _make_ca(d, "other-ca", "unrelated test CA")
    skey, scrt = _make_leaf(d, "server", "127.0.0.1", ca_key, ca,
                            "basicConstraints=CA:FALSE\n"
                            "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                            "extendedKeyUsage=serverAuth\n")
    ckey, ccrt = _make_leaf(d, "client", "igtest-client", ca_key, ca,
                            "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
    return Certs(d, ca, ca_key, scrt, skey, ccrt, ckey, other_ca)
