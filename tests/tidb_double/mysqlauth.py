"""Authentication arithmetic of mysql_native_password and caching_sha2_password,
both sides (the double verifies, the raw test client computes), and the RSA
key pair caching_sha2_password full authentication uses without TLS.

Owns: scramble generation, the two scramble formulas, RSA-OAEP(SHA-1)
encryption/decryption of (password + NUL) XOR scramble.
"""

import hashlib
import hmac
import os

NATIVE = "mysql_native_password"
CACHING_SHA2 = "caching_sha2_password"
PLUGINS = (NATIVE, CACHING_SHA2)

# caching_sha2_password AuthMoreData codes.
FAST_AUTH_OK = 0x03
PERFORM_FULL_AUTH = 0x04
REQUEST_PUBLIC_KEY = 0x02


def new_scramble():
    """20 random bytes, none NUL and none '$' (MySQL avoids both in salts)."""
    out = bytearray()
    while len(out) < 20:
        for b in os.urandom(20):
            b &= 0x7F
            if b not in (0, ord("$")) and len(out) < 20:
                out.append(b)
    return bytes(out)


def _xor(a, b):
    return bytes(x ^ y for x, y in zip(a, b))


def native_scramble(password, scramble):
    """Client side: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))."""
    if not password:
        return b""
    p = password.encode() if isinstance(password, str) else password
    h1 = hashlib.sha1(p).digest()
    h2 = hashlib.sha1(h1).digest()
    return _xor(h1, hashlib.sha1(scramble[:20] + h2).digest())


def native_verify(password, scramble, response):
    """Server side, from the stored SHA1(SHA1(pw)) as MySQL keeps it."""
    if not password:
        return response == b""
    if len(response) != 20:
        return False
    p = password.encode()
    stored = hashlib.sha1(hashlib.sha1(p).digest()).digest()
    candidate = _xor(response, hashlib.sha1(scramble[:20] + stored).digest())
    return hmac.compare_digest(hashlib.sha1(candidate).digest(), stored)


def sha2_scramble(password, scramble):
    """Client side: SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble)."""
    if not password:
        return b""
    p = password.encode() if isinstance(password, str) else password
    h1 = hashlib.sha256(p).digest()
    h2 = hashlib.sha256(h1).digest()
    return _xor(h1, hashlib.sha256(h2 + scramble[:20]).digest())


def sha2_verify(password, scramble, response):
    if not password:
        return response == b""
    return hmac.compare_digest(sha2_scramble(password, scramble), bytes(response))


def scramble_for(plugin, password, scramble):
    return native_scramble(password, scramble) if plugin == NATIVE else \
        sha2_scramble(password, scramble)


def verify_for(plugin, password, scramble, response):
    return native_verify(password, scramble, response) if plugin == NATIVE else \
        sha2_verify(password, scramble, response)


class RSAKeyPair:
    """The server's key for caching_sha2_password full auth over plain TCP."""

    def __init__(self, pem_path=None):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        if pem_path:
            with open(pem_path, "rb") as f:
                self._key = serialization.load_pem_private_key(f.read(), password=None)
        else:
            self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def decrypt_password(self, ciphertext, scramble):
        """RSA-OAEP(SHA-1) decrypt, XOR with the scramble, strip the NUL."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        plain = self._key.decrypt(bytes(ciphertext), padding.OAEP(
            mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
        pw = bytes(p ^ scramble[i % len(scramble)] for i, p in enumerate(plain))
        return pw.rstrip(b"\x00").decode(errors="replace")


def rsa_encrypt_password(public_pem, password, scramble):
    """Client side of the RSA exchange."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    key = serialization.load_pem_public_key(public_pem)
    plain = (password.encode() if isinstance(password, str) else password) + b"\x00"
    xored = bytes(p ^ scramble[i % len(scramble)] for i, p in enumerate(plain))
    return key.encrypt(xored, padding.OAEP(
        mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
