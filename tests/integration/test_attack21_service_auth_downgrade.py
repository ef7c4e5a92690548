"""attack21: the obligations' service connections hand their password, readable, to whatever
answers at a server's address.

The executor (proxy/oblexec.c svc_connect) logs in with libmariadb as
obligations.service.user / obligations.downstream.user, the password read from its
password_file. libmariadb follows the server's AuthSwitchRequest to any client plugin it can
load, and Debian's libmariadb3 ships mysql_clear_password and dialog (plugin directory
libmariadb3/plugin/): both send the password as it is. caching_sha2_password's full
authentication over plain TCP asks the server for its RSA public key and encrypts the
password with whatever key comes back. With `tls.mode: off` (the default) or `insecure`,
the server is not authenticated: whoever answers at a downstream or backend address (a host
that took over the address, anything on the path) asks for one of these and reads the
service account's password, where mysql_native_password would have given it a one-time
scramble only. The gateway's own sessions are not concerned (it relays the client's
authentication, it has no password of its own there).

The downstream here is a small server of the test's own: a MySQL greeting, then an
AuthSwitchRequest to the plugin under test; it records what the client answered."""

import struct

import pytest

from policy_helpers import etcd, query, state  # noqa: F401
from obligation_helpers import DOWN_PW, REIMPORT, SNAP, doubles, obl_gw, wait_for  # noqa: F401

import mysqlauth  # tests/tidb_double (on the path through policy_helpers)
from harness.fakeserver import FakeServer, greeting, read_packet

pytestmark = [pytest.mark.gateway_only, pytest.mark.tidb_double]

CAPS = (0x1 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x80000 | 0x200000)


def packet(seq, payload):
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


class SwitchingServer(FakeServer):
    """Greets with mysql_native_password, then switches the client to `plugin` and keeps
    every packet the client sent after the switch; refuses the login in the end."""

    def __init__(self, plugin):
        self.plugin = plugin
        self.rsa = mysqlauth.RSAKeyPair() if plugin == "caching_sha2_password" else None
        self.after_switch = []   # the client's packets after the AuthSwitchRequest
        self.passwords = []      # what could be read of the password (clear or decrypted)
        self.client_caps = []    # the capability flags of each login's handshake response
        self.logins = 0
        FakeServer.__init__(self)

    def serve(self, c):
        c.settimeout(5)
        try:
            self._serve(c)
        except (OSError, EOFError, ValueError):
            pass
        finally:
            c.close()

    def _serve(self, c):
        scramble = mysqlauth.new_scramble()
        c.sendall(greeting(CAPS, 7, scramble, charset=0x21))
        seq, response = read_packet(c)
        self.client_caps.append(struct.unpack("<I", response[:4])[0])
        self.logins += 1
        scramble = mysqlauth.new_scramble()
        # dialog: the switch's data is the first question, type 4 = "a password" (the plugin
        # answers it with the password, asking nobody); the others: a scramble
        data = b"\x04Password: " if self.plugin == "dialog" else scramble + b"\x00"
        c.sendall(packet(seq + 1, b"\xfe" + self.plugin.encode() + b"\x00" + data))
        seq, body = read_packet(c)
        self.after_switch.append(body)
        if self.plugin == "mysql_clear_password":
            self.passwords.append(body.rstrip(b"\x00").decode(errors="replace"))
        elif self.plugin == "dialog":
            self.passwords.append(body.rstrip(b"\x00").decode(errors="replace"))
        elif self.plugin == "caching_sha2_password":
            c.sendall(packet(seq + 1, bytes([0x01, mysqlauth.PERFORM_FULL_AUTH])))
            seq, body = read_packet(c)
            self.after_switch.append(body)
            if body == bytes([mysqlauth.REQUEST_PUBLIC_KEY]):
                c.sendall(packet(seq + 1, b"\x01" + self.rsa.public_pem))
                seq, body = read_packet(c)
                self.after_switch.append(body)
                self.passwords.append(self.rsa.decrypt_password(body, scramble))
        c.sendall(packet(seq + 1, b"\xff" + struct.pack("<H", 1045) + b"#28000"
                         + b"Access denied for user (attack21 server)"))


@pytest.mark.parametrize("plugin", ["mysql_clear_password", "dialog", "caching_sha2_password"])
def test_downstream_cannot_read_the_service_password(doubles, obl_gw, state, plugin):  # noqa: F811
    up, down = doubles(job_delay=0.1)
    fake = SwitchingServer(plugin)
    try:
        state.changefeed("cf1", ["shop.*"])
        at = type("At", (), {"port": fake.port})  # obligations.downstream.servers: the fake
        gw = obl_gw(up, at, REIMPORT)
        out = query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv'")
        assert out.ok, out
        wait_for(lambda: fake.logins, 20, "the executor's login at the downstream")
        # a few tries, as the executor retries a failed step
        wait_for(lambda: fake.logins >= 2 or fake.after_switch, 10, "the answer to the switch")
        assert DOWN_PW not in fake.passwords, \
            "the downstream password was read by a server that switched to %s: %r" % (plugin, fake.passwords)
        assert not any(DOWN_PW.encode() in p for p in fake.after_switch)
    finally:
        fake.close()


def test_service_logins_offer_no_local_files(doubles, obl_gw, state):  # noqa: F811
    """The service statements read no local file, so a login does not offer
    CLIENT_LOCAL_FILES (0x80): a server at the address cannot ask the gateway's host for a
    file (libmariadb offers it unless MYSQL_OPT_LOCAL_INFILE is 0)."""
    up, down = doubles(job_delay=0.1)
    fake = SwitchingServer("mysql_native_password")
    try:
        state.changefeed("cf1", ["shop.*"])
        at = type("At", (), {"port": fake.port})
        gw = obl_gw(up, at, REIMPORT)
        assert query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv'").ok
        wait_for(lambda: fake.client_caps, 20, "the executor's login at the downstream")
        assert all(caps & 0x80 == 0 for caps in fake.client_caps), \
            "a service login offered LOCAL INFILE: %s" % [hex(c) for c in fake.client_caps]
    finally:
        fake.close()


def test_service_login_with_caching_sha2_greeting_and_native_account(doubles, obl_gw, state):  # noqa: F811
    """A TiDB whose default_authentication_plugin is caching_sha2_password announces it in its
    greeting (TiDB server/conn.go writeInitialHandshake), while the service account is
    mysql_native_password: TiDB switches the login to the account's plugin (conn.go
    checkAuthPlugin), and the login succeeds. libmariadb 3.3 checks the greeting's plugin
    against MARIADB_OPT_RESTRICTED_AUTH before sending anything (plugins/auth/my_auth.c
    run_plugin_auth, error 5010), so with the restriction alone the service login never
    reached the server and the backup obligation never ran."""
    up, down = doubles(job_delay=0.1, default_auth=mysqlauth.CACHING_SHA2)
    state.task("pitr", ["shop.*"])
    gw = obl_gw(up, down, SNAP)
    out = query(gw, "IMPORT INTO t FROM 's3://bucket/t.csv'")
    assert out.ok, out
    wait_for(lambda: [e for e in up.statements if e["sql"].upper().startswith("BACKUP")], 15,
             "BACKUP TABLE on the upstream (the service login against a caching_sha2 greeting)")
