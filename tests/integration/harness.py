"""Test harness: a throwaway PostgreSQL cluster, the connector binary, and Airbyte protocol checks.

Every integration test starts its own cluster (initdb into a temp dir, wal_level=logical, a free
loopback port), run as the `postgres` user because PostgreSQL refuses root, and stops it afterwards.
"""
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

import jsonschema
import yaml

SOURCE_DIR = os.environ.get("SP_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BINARY = os.environ.get("SP_BINARY", os.path.join(SOURCE_DIR, "build", "source-postgres"))
PROTOCOL_YAML = os.path.join(SOURCE_DIR, "..", "shared", "airbyte", "airbyte_protocol.yaml")
PASSWORD = "Pw-9f3c1d7e-secret"


def pg_bindir():
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(cand, "initdb")):
            return cand
    raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(cmd):
    """Run cmd (a list) as the postgres OS user when we are root."""
    if os.geteuid() == 0:
        return [shutil.which("runuser") or "/usr/sbin/runuser", "-u", "postgres", "--"] + cmd
    return cmd


class Cluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1."""

    def __init__(self, wal_level="logical", settings=None, tls=False):
        self.bindir = pg_bindir()
        self.tls = tls  # TLS only: a self-signed certificate, and plaintext TCP rejected
        self.dir = tempfile.mkdtemp(prefix="sp-pg-")
        self.datadir = os.path.join(self.dir, "data")
        self.sockdir = self.dir
        self.port = free_port()
        self.host = "127.0.0.1"
        self.wal_level = wal_level
        self.settings = settings or {}
        self.started = False
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o755)

    def start(self):
        subprocess.run(_as_postgres([os.path.join(self.bindir, "initdb"), "-D", self.datadir, "-U", "postgres",
                                     "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                                     "--locale=C.UTF-8", "--no-sync"]),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "'%s'" % self.sockdir,
            "wal_level": self.wal_level,
            "max_replication_slots": "10",
            "max_wal_senders": "10",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "shared_buffers": "64MB",
            "wal_sender_timeout": "60s",
            "max_prepared_transactions": "4",
            "log_min_messages": "warning",
        }
        if self.tls:
            key, crt = os.path.join(self.datadir, "server.key"), os.path.join(self.datadir, "server.crt")
            subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=127.0.0.1",
                            "-keyout", key, "-out", crt], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.chmod(key, 0o600)
            if os.geteuid() == 0:
                pw = pwd.getpwnam("postgres")
                for path in (key, crt):
                    os.chown(path, pw.pw_uid, pw.pw_gid)
            conf["ssl"] = "on"
        conf.update(self.settings)
        with open(os.path.join(self.datadir, "postgresql.conf"), "a") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.datadir, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n")
            if self.tls:
                f.write("hostnossl all all 127.0.0.1/32 reject\n")
                f.write("hostnossl replication all 127.0.0.1/32 reject\n")
            f.write("host all all 127.0.0.1/32 scram-sha-256\n")
            f.write("host replication all 127.0.0.1/32 scram-sha-256\n")
        subprocess.run(_as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-l",
                                     os.path.join(self.dir, "log"), "-w", "-t", "60", "start"]),
                       check=True, stdout=subprocess.DEVNULL)
        self.started = True
        return self

    def stop(self):
        if self.started:
            subprocess.run(_as_postgres([os.path.join(self.bindir, "pg_ctl"), "-D", self.datadir, "-m",
                                         "immediate", "-w", "stop"]),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def psql(self, sql, db="postgres", user="postgres"):
        """Run SQL as superuser over the socket; returns stdout (unaligned, tuples only)."""
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.sockdir,
                            "-p", str(self.port), "-U", user, "-d", db],
                           input=sql, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("psql failed: %s\n%s" % (r.stderr, sql))
        return r.stdout

    def query(self, sql, db="postgres"):
        """Rows of a query as lists of strings (NULL as None), via psql's unaligned output."""
        out = self.psql("\\pset null '\\N'\n\\f '\\t'\n" + sql, db=db)
        rows = []
        for line in out.splitlines():
            if line == "":
                continue
            rows.append([None if v == "\\N" else v for v in line.split("\t")])
        return rows

    def config(self, db="postgres", user="capture", password=PASSWORD, cdc=True, **kw):
        cfg = {
            "host": self.host,
            "port": self.port,
            "database": db,
            "username": user,
            "password": password,
            "schemas": ["public"],
            "ssl_mode": {"mode": "disable"},
            "tunnel_method": {"tunnel_method": "NO_TUNNEL"},
        }
        if cdc:
            cfg["replication_method"] = {"method": "CDC", "replication_slot": "sp_slot", "publication": "sp_pub",
                                         "plugin": "pgoutput", "initial_waiting_seconds": 120}
        else:
            cfg["replication_method"] = {"method": "Standard"}
        cfg.update(kw)
        return cfg

    def create_capture_role(self, db="postgres", name="capture", replication=True, owner_of_public=True):
        self.psql("CREATE ROLE %s LOGIN PASSWORD '%s' %s;" % (name, PASSWORD, "REPLICATION" if replication else ""), db=db)
        self.psql("GRANT CREATE ON DATABASE %s TO %s;" % (db, name), db=db)
        if owner_of_public:
            self.psql("GRANT ALL ON SCHEMA public TO %s;" % name, db=db)


_validator = None


def protocol_validator():
    global _validator
    if _validator is None:
        with open(PROTOCOL_YAML) as f:
            doc = yaml.safe_load(f)
        schema = {"$ref": "#/definitions/AirbyteMessage", "definitions": doc["definitions"]}
        _validator = jsonschema.Draft7Validator(schema)
    return _validator


class Result:
    def __init__(self, rc, messages, stderr, raw):
        self.rc = rc
        self.messages = messages
        self.stderr = stderr
        self.raw = raw

    def of_type(self, t):
        return [m for m in self.messages if m.get("type") == t]

    def records(self, stream=None):
        return [m["record"] for m in self.of_type("RECORD") if stream is None or m["record"]["stream"] == stream]

    def states(self):
        return [m["state"] for m in self.of_type("STATE")]

    def logs(self):
        return [m["log"]["message"] for m in self.of_type("LOG")]

    def trace_errors(self):
        return [m["trace"]["error"] for m in self.of_type("TRACE") if m["trace"]["type"] == "ERROR"]


def run_connector(args, tmpdir, config=None, catalog=None, state=None, timeout=300, env=None, validate=True,
                  raw_config=None):
    """Run the binary; write config/catalog/state to files in tmpdir; parse and validate stdout."""
    argv = [BINARY] + list(args)
    for name, obj, raw in (("config", config, raw_config), ("catalog", catalog, None), ("state", state, None)):
        if obj is None and raw is None:
            continue
        path = os.path.join(tmpdir, name + ".json")
        with open(path, "w") as f:
            f.write(raw if raw is not None else json.dumps(obj))
        argv += ["--" + name, path]
    r = subprocess.run(argv, capture_output=True, timeout=timeout, env=dict(os.environ, **(env or {})))
    out = r.stdout.decode("utf-8")
    messages = []
    lines = out.split("\n")  # the protocol's line break only (str.splitlines also breaks at U+2028)
    if lines[-1] == "":
        lines.pop()
    for line in lines:
        msg = json.loads(line)  # every stdout line must be JSON
        if validate:
            protocol_validator().validate(msg)
        messages.append(msg)
    return Result(r.returncode, messages, r.stderr.decode("utf-8", "replace"), out)


def configured_catalog(catalog_msg, streams=None, sync_mode="incremental", cursor=True):
    """A ConfiguredAirbyteCatalog selecting streams (names, or all) from a discover CATALOG message."""
    configured = []
    for s in catalog_msg["catalog"]["streams"]:
        if streams is not None and s["name"] not in streams:
            continue
        mode = sync_mode if sync_mode in s["supported_sync_modes"] else "full_refresh"
        c = {"stream": s, "sync_mode": mode,
             "destination_sync_mode": "append_dedup" if mode == "incremental" else "overwrite"}
        if mode == "incremental" and cursor:
            c["cursor_field"] = s.get("default_cursor_field", [])
        if s.get("source_defined_primary_key"):
            c["primary_key"] = s["source_defined_primary_key"]
        configured.append(c)
    return {"streams": configured}
