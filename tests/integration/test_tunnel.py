"""SSH tunnels (tunnel_method SSH_KEY_AUTH and SSH_PASSWORD_AUTH), end to end: a throwaway sshd on
a loopback port is the jump server, and the connector reaches the throwaway PostgreSQL through it.

sshd logs every forward it opens (LogLevel DEBUG1: "server_request_direct_tcpip ... target HOST port
PORT"), which is how these tests know the connector's connections went through the tunnel and not
straight to the database. sshd needs root, as does the login user these tests create and remove.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BINARY, PASSWORD, Cluster, configured_catalog, free_port, run_connector

SSH_USER = "sp_tunnel_test"
SSH_PASSWORD = "Tun-4b8e2a91-secret"
cluster = None
jump = None


class Sshd:
    """A throwaway OpenSSH server on 127.0.0.1, logging at DEBUG1 to a file."""

    def __init__(self, tmp, extra=()):
        self.dir = tempfile.mkdtemp(prefix="sp-sshd-", dir=tmp)
        self.port = free_port()
        self.log = os.path.join(self.dir, "sshd.log")
        hostkey = os.path.join(self.dir, "hostkey")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", hostkey], check=True)
        conf = os.path.join(self.dir, "sshd_config")
        with open(conf, "w") as f:
            f.write("\n".join([
                "Port %d" % self.port, "ListenAddress 127.0.0.1", "HostKey " + hostkey,
                "PidFile " + os.path.join(self.dir, "sshd.pid"),
                "AuthorizedKeysFile " + os.path.join(tmp, "authorized_keys"),
                "StrictModes no", "UsePAM no", "PasswordAuthentication yes",
                "KbdInteractiveAuthentication no", "AllowTcpForwarding yes", "PermitTTY no",
                "LogLevel DEBUG1"] + list(extra)) + "\n")
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", conf], stdout=subprocess.DEVNULL,
                                         stderr=log)
        deadline = time.time() + 20
        while "Server listening" not in self.read_log():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("sshd did not start: " + self.read_log())
            time.sleep(0.05)

    def read_log(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def forwards_to(self, port):
        """How many forwards sshd has opened to 127.0.0.1:port."""
        return len(re.findall(r"server_request_direct_tcpip: originator [^\n]* target 127\.0\.0\.1 port %d\n" % port,
                              self.read_log()))

    def stop(self):
        if self.proc.poll() is None:
            # the listener and every session it forked
            subprocess.run(["pkill", "-TERM", "-f", "sshd.*%s" % re.escape(self.dir)], check=False)
            self.proc.terminate()
            self.proc.wait(timeout=20)
            subprocess.run(["pkill", "-KILL", "-f", "sshd: %s" % SSH_USER], check=False)


def setUpModule():
    global cluster, jump
    if os.geteuid() != 0:
        raise RuntimeError("the SSH tunnel tests run sshd and add a login user, which needs root")
    cluster = Cluster().start()
    cluster.create_capture_role()
    cluster.psql("""
        CREATE TABLE tun (id bigint PRIMARY KEY, t text);
        ALTER TABLE tun OWNER TO capture;
        INSERT INTO tun SELECT g, md5(g::text) FROM generate_series(1, 2000) g;""")
    subprocess.run(["userdel", SSH_USER], capture_output=True)
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    SSH_USER], check=True)
    subprocess.run(["chpasswd"], input="%s:%s\n" % (SSH_USER, SSH_PASSWORD), text=True, check=True)
    TunnelTest.keys = tempfile.mkdtemp(prefix="sp-tunnel-")
    os.chmod(TunnelTest.keys, 0o755)
    for name, fmt, phrase in (("rsa_pem", ["-t", "rsa", "-b", "2048", "-m", "PEM"], ""),
                              ("ed25519", ["-t", "ed25519"], ""), ("stranger", ["-t", "ed25519"], ""),
                              ("locked", ["-t", "ed25519"], "a passphrase")):
        subprocess.run(["ssh-keygen", "-q", "-N", phrase] + fmt + ["-f", os.path.join(TunnelTest.keys, name)],
                       check=True)
    with open(os.path.join(TunnelTest.keys, "authorized_keys"), "w") as f:
        for name in ("rsa_pem", "ed25519", "locked"):
            with open(os.path.join(TunnelTest.keys, name + ".pub")) as p:
                f.write(p.read())
    jump = Sshd(TunnelTest.keys)


def tearDownModule():
    if jump:
        jump.stop()
    if cluster:
        cluster.stop()
    subprocess.run(["userdel", SSH_USER], capture_output=True)
    shutil.rmtree(TunnelTest.keys, ignore_errors=True)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def ssh_clients(port=None):
    """The ssh client processes running to the sshd on port (the shared one by default)."""
    out = subprocess.run(["pgrep", "-a", "-x", "ssh"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if " -p %d " % (port or jump.port) in line]


class TunnelTest(unittest.TestCase):
    keys = None

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sp-tun-")
        # the connector's temporary files (the key, ssh's messages) go here, to be counted
        self.tmpdir = os.path.join(self.tmp, "t")
        os.mkdir(self.tmpdir)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def key(self, name):
        with open(os.path.join(self.keys, name)) as f:
            return f.read()

    def cfg(self, cdc=True, method="SSH_KEY_AUTH", **tunnel):
        c = cluster.config(cdc=cdc)
        if cdc:
            c["replication_method"].update({"replication_slot": "tun_slot", "publication": "tun_pub"})
        t = {"tunnel_method": method, "tunnel_host": "127.0.0.1", "tunnel_port": jump.port, "tunnel_user": SSH_USER}
        if method == "SSH_KEY_AUTH":
            t["ssh_key"] = self.key("rsa_pem")
        else:
            t["tunnel_user_password"] = SSH_PASSWORD
        t.update(tunnel)
        c["tunnel_method"] = t
        return c

    def connector(self, args, **kw):
        r = run_connector(args, self.tmp, env={"TMPDIR": self.tmpdir}, **kw)
        for secret in (PASSWORD, SSH_PASSWORD, self.key("rsa_pem").splitlines()[1], self.key("ed25519").splitlines()[1]):
            self.assertNotIn(secret, r.raw)
            self.assertNotIn(secret, r.stderr)
        self.assertEqual(os.listdir(self.tmpdir), [], "the key file and ssh's messages are removed at exit")
        self.assertEqual(ssh_clients(), [], "ssh ends with the connector")
        return r

    def status(self, cfg):
        r = self.connector(["check"], config=cfg)
        self.assertEqual(r.rc, 0, r.raw + r.stderr)
        return r.of_type("CONNECTION_STATUS")[0]["connectionStatus"]

    def test_check_discover_and_cdc_reads_go_through_the_tunnel(self):
        before = jump.forwards_to(cluster.port)
        self.assertEqual(self.status(self.cfg()), {"status": "SUCCEEDED"})
        self.assertGreaterEqual(jump.forwards_to(cluster.port), before + 2, "check's connections were forwarded")

        cfg = self.cfg()
        r = self.connector(["discover"], config=cfg)
        self.assertEqual(r.rc, 0, r.raw)
        cat = configured_catalog(r.of_type("CATALOG")[0], streams=["tun"])
        before = jump.forwards_to(cluster.port)
        r = self.connector(["read"], config=cfg, catalog=cat)
        self.assertEqual(r.rc, 0, r.raw[-2000:] + r.stderr)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records()), list(range(1, 2001)))
        self.assertGreaterEqual(jump.forwards_to(cluster.port), before + 2,
                                "the replication connection and the copy's went through sshd")
        self.assertTrue(any("SSH tunnel open" in m for m in r.logs()))

        # changes after the backfill stream through the tunnel too, from the state
        cluster.psql("INSERT INTO tun VALUES (5001, 'new'); UPDATE tun SET t = 'changed' WHERE id = 7;"
                     "DELETE FROM tun WHERE id = 8;")
        r2 = self.connector(["read"], config=cfg, catalog=cat, state=[r.states()[-1]])
        self.assertEqual(r2.rc, 0, r2.raw[-2000:] + r2.stderr)
        got = {(x["data"]["id"], x["data"].get("t"), x["data"].get("_ab_cdc_deleted_at") is not None)
               for x in r2.records()}
        self.assertEqual(got, {(5001, "new", False), (7, "changed", False), (8, None, True)})

    def test_key_formats_and_password(self):
        # an OpenSSH-format key pasted with Windows line ends and no final newline
        key = self.key("ed25519").rstrip("\n").replace("\n", "\r\n")
        self.assertEqual(self.status(self.cfg(ssh_key=key)), {"status": "SUCCEEDED"})
        # pasted with literal \n sequences, and a final real newline
        key = self.key("rsa_pem").rstrip("\n").replace("\n", "\\n") + "\n"
        self.assertEqual(self.status(self.cfg(ssh_key=key)), {"status": "SUCCEEDED"})
        # a key with a passphrase (the config has no field for one)
        st = self.status(self.cfg(ssh_key=self.key("locked")))
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("tunnel_method.ssh_key is protected by a passphrase", st["message"])
        # password authentication (through ssh's askpass: never on a command line)
        self.assertEqual(self.status(self.cfg(cdc=False, method="SSH_PASSWORD_AUTH")), {"status": "SUCCEEDED"})
        st = self.status(self.cfg(cdc=False, method="SSH_PASSWORD_AUTH", tunnel_user_password="wrong"))
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("could not log in to the SSH jump server 127.0.0.1:%d as \"%s\"" % (jump.port, SSH_USER),
                      st["message"])
        self.assertIn("tunnel_method.tunnel_user_password", st["message"])

    def test_failures_name_the_fix(self):
        def failed(cfg, *expect):
            st = self.status(cfg)
            self.assertEqual(st["status"], "FAILED", st)
            for e in expect:
                self.assertIn(e, st["message"])
            return st["message"]

        failed(self.cfg(ssh_key=self.key("stranger")), "could not log in to the SSH jump server",
               "tunnel_method.ssh_key")
        failed(self.cfg(ssh_key="-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n-----END OPENSSH PRIVATE KEY-----\n"),
               "tunnel_method.ssh_key is not a private key ssh can use")
        failed(self.cfg(tunnel_port=free_port()), "could not connect to the SSH jump server", "Connection refused",
               "tunnel_method.tunnel_port")
        failed(self.cfg(tunnel_host="no-such-host.invalid"), "could not resolve the SSH jump server's name",
               "tunnel_method.tunnel_host")
        # an IPv6 jump server (nothing listens there) is named in brackets
        failed(self.cfg(tunnel_host="[::1]", tunnel_port=free_port()), "could not connect to the SSH jump server [::1]:")
        # the jump server cannot reach the database's host and port
        cfg = self.cfg()
        cfg["port"] = free_port()
        failed(cfg, "as the SSH jump server sees them", "Connection refused")
        # a read reports the same, as a TRACE error, and exits 1
        r = self.connector(["read"], config=self.cfg(cdc=False, tunnel_port=free_port()),
                           catalog={"streams": []})
        self.assertEqual(r.rc, 1)
        self.assertIn("could not connect to the SSH jump server", r.trace_errors()[0]["message"])

    def test_the_database_s_own_refusal_is_reported(self):
        """A wrong database password through a jump server whose banner says "closed" and "refused":
        the error is the database's, not a line of the banner"""
        banner = os.path.join(self.tmp, "banner")
        with open(banner, "w") as f:
            f.write("Authorized use only. Idle sessions are closed. Connection refused to strangers.\n")
        talkative = Sshd(self.keys, extra=["Banner " + banner])
        try:
            cfg = self.cfg(cdc=False, tunnel_port=talkative.port)
            cfg["password"] = "wrong"
            st = self.status(cfg)
            cfg = self.cfg(cdc=False, tunnel_port=talkative.port)
            cfg["database"] = "nosuchdb"
            st2 = self.status(cfg)
        finally:
            talkative.stop()
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("check the username and password", st["message"])
        self.assertNotIn("Authorized", st["message"])
        # libpq's "connection to server at "127.0.0.1", port <the tunnel's> failed" is not repeated
        self.assertNotIn("connection to server at", st["message"])
        self.assertIn('database "nosuchdb" does not exist', st2["message"])
        self.assertNotIn("Authorized", st2["message"])

    def test_a_port_taken_while_ssh_logs_in_is_not_used(self):
        """Another local process listening on the tunnel's port before ssh does is not taken for
        the tunnel (it would be sent the database password): ssh cannot listen there, and the
        tunnel opens on another port"""
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        # an ssh that takes a second to log in, as a distant jump server does
        with open(os.path.join(bindir, "ssh"), "w") as f:
            f.write("#!/bin/sh\nsleep 1\nexec %s \"$@\"\n" % shutil.which("ssh"))
        os.chmod(os.path.join(bindir, "ssh"), 0o755)
        got = []
        stop = threading.Event()

        def squat():
            # listen on the port of the first tunnel the moment its ssh starts
            while not stop.is_set():
                for line in subprocess.run(["pgrep", "-a", "-f", "--", "-L 127.0.0.1:"], capture_output=True,
                                           text=True).stdout.splitlines():
                    m = re.search(r"-L 127\.0\.0\.1:(\d+):", line)
                    if not m:
                        continue
                    srv = socket.socket()
                    srv.bind(("127.0.0.1", int(m.group(1))))
                    srv.listen(5)
                    srv.settimeout(0.2)
                    while not stop.is_set():
                        try:
                            c, _ = srv.accept()
                        except socket.timeout:
                            continue
                        c.settimeout(2)
                        try:
                            got.append(c.recv(65536))
                        except OSError:
                            pass
                        c.close()
                    srv.close()
                    return
                time.sleep(0.01)

        t = threading.Thread(target=squat)
        t.start()
        try:
            r = run_connector(["check"], self.tmp, config=self.cfg(cdc=False),
                              env={"TMPDIR": self.tmpdir, "PATH": bindir + ":" + os.environ["PATH"]})
        finally:
            stop.set()
            t.join()
        self.assertEqual(r.of_type("CONNECTION_STATUS")[0]["connectionStatus"], {"status": "SUCCEEDED"},
                         r.raw)
        self.assertEqual(got, [], "nothing was sent to the process that took the port")
        self.assertEqual(len([m for m in r.logs() if m.startswith("opening an SSH tunnel")]), 2,
                         "the second try used another port")

    def test_a_jump_server_that_may_not_forward(self):
        closed = Sshd(self.keys, extra=["PermitOpen 127.0.0.1:1"])
        try:
            st = self.status(self.cfg(tunnel_port=closed.port))
        finally:
            closed.stop()
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("(the host and port as the SSH jump server sees them): the jump server 127.0.0.1:%d "
                      "refused to forward" % closed.port, st["message"])
        self.assertIn("AllowTcpForwarding", st["message"])

    def follow(self, argv, out_path):
        """Start a read (argv) writing to out_path, and return it once it has written a STATE."""
        with open(out_path, "wb") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL, env=dict(os.environ, TMPDIR=self.tmpdir))
        deadline = time.time() + 120
        while b'"STATE"' not in read_bytes(out_path):
            if p.poll() is not None or time.time() > deadline:
                p.kill()
                self.fail("the read ended or wrote no STATE within 120 s")
            time.sleep(0.1)
        return p

    def test_the_tunnel_closing_ends_a_read_with_an_error(self):
        """sshd goes away under a read that follows the stream: the read fails (no hang), saying
        the tunnel closed; a SIGTERM'd read ends its ssh too"""
        own = Sshd(self.keys)
        cfg = self.cfg(tunnel_port=own.port)
        cat = configured_catalog(self.connector(["discover"], config=cfg).of_type("CATALOG")[0], streams=["tun"])
        argv = [BINARY, "read", "--follow"]
        for name, obj in (("config", cfg), ("catalog", cat)):
            path = os.path.join(self.tmp, name + ".json")
            with open(path, "w") as f:
                json.dump(obj, f)
            argv += ["--" + name, path]
        out_path = os.path.join(self.tmp, "out")
        p = None
        try:
            p = self.follow(argv, out_path)
            own.stop()
            rc = p.wait(timeout=120)
        finally:
            own.stop()
            if p and p.poll() is None:
                p.kill()
        self.assertEqual(rc, 1)
        with open(out_path, encoding="utf-8") as f:
            msgs = [json.loads(line) for line in f]
        err = [m["trace"]["error"]["message"] for m in msgs if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
        self.assertEqual(len(err), 1, msgs[-3:])
        self.assertIn("SSH tunnel through 127.0.0.1:%d has closed" % own.port, err[0])
        self.assertEqual(ssh_clients(own.port), [])
        self.assertEqual(os.listdir(self.tmpdir), [])

        # ssh itself killed: the reason is its signal (not the host-key notice it printed at login)
        again = Sshd(self.keys)
        cfg = self.cfg(tunnel_port=again.port)
        with open(os.path.join(self.tmp, "config.json"), "w") as f:
            json.dump(cfg, f)
        p = None
        try:
            p = self.follow(argv, out_path)
            os.kill(int(ssh_clients(again.port)[0].split()[0]), signal.SIGKILL)
            rc = p.wait(timeout=120)
        finally:
            if p and p.poll() is None:
                p.kill()
            again.stop()
        self.assertEqual(rc, 1)
        with open(out_path, encoding="utf-8") as f:
            msgs = [json.loads(line) for line in f]
        err = [m["trace"]["error"] for m in msgs if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
        self.assertIn("SSH tunnel through 127.0.0.1:%d has closed (ssh was ended by signal 9)" % again.port,
                      err[0]["message"])
        self.assertEqual(err[0]["failure_type"], "transient_error", err[0])

        # SIGTERM: the read stops cleanly, and its ssh goes with it. Password authentication here:
        # once ssh has logged in, the password is in no file, and not in ssh's environment
        again = Sshd(self.keys)
        cfg = self.cfg(tunnel_port=again.port, method="SSH_PASSWORD_AUTH")
        with open(os.path.join(self.tmp, "config.json"), "w") as f:
            json.dump(cfg, f)
        p = None
        try:
            p = self.follow(argv, out_path)
            clients = ssh_clients(again.port)
            self.assertEqual(len(clients), 1, "one ssh for all the read's connections")
            with open("/proc/%s/environ" % clients[0].split()[0], "rb") as f:
                self.assertNotIn(SSH_PASSWORD.encode(), f.read())
            self.assertEqual(os.listdir(self.tmpdir), [], "no password, key or ssh output file while reading")
            p.send_signal(signal.SIGTERM)
            self.assertEqual(p.wait(timeout=60), 0)
        finally:
            if p and p.poll() is None:
                p.kill()
            again.stop()
        time.sleep(0.2)
        self.assertEqual(ssh_clients(again.port), [])
        self.assertEqual(os.listdir(self.tmpdir), [])


if __name__ == "__main__":
    unittest.main()
