"""spec, check, discover, cleanup and error handling, end to end against a real PostgreSQL."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from harness import BINARY, PASSWORD, Cluster, configured_catalog, run_connector

cluster = None


def setUpModule():
    global cluster
    cluster = Cluster().start()
    cluster.create_capture_role()
    cluster.psql("CREATE ROLE norepl LOGIN PASSWORD '%s'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO norepl;" % PASSWORD)
    cluster.psql("""
        CREATE TABLE public.users (id bigint PRIMARY KEY, name text NOT NULL, email varchar(100));
        INSERT INTO public.users VALUES (1, 'ann', 'a@example.com');
        ALTER TABLE public.users OWNER TO capture;
    """)


def tearDownModule():
    cluster.stop()


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sp-test-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_cmd(self, args, **kw):
        return run_connector(args, self.tmp, **kw)

    def assertNoSecret(self, result):
        self.assertNotIn(PASSWORD, result.raw)
        self.assertNotIn(PASSWORD, result.stderr)

    def status(self, result):
        self.assertEqual(result.rc, 0, result.raw + result.stderr)
        cs = result.of_type("CONNECTION_STATUS")
        self.assertEqual(len(cs), 1, result.raw)
        self.assertEqual(result.messages[-1]["type"], "CONNECTION_STATUS")
        self.assertNoSecret(result)
        return cs[0]["connectionStatus"]


class SpecTest(Base):
    def test_spec_is_one_valid_message(self):
        r = self.run_cmd(["spec"])
        self.assertEqual(r.rc, 0)
        self.assertEqual(len(r.messages), 1)
        self.assertEqual(r.messages[0]["type"], "SPEC")
        props = r.messages[0]["spec"]["connectionSpecification"]["properties"]
        for f in ("host", "port", "database", "username", "password", "schemas", "ssl_mode",
                  "replication_method", "jdbc_url_params"):
            self.assertIn(f, props)
        self.assertTrue(props["password"]["airbyte_secret"])


class UsageTest(Base):
    def test_usage_errors_exit_2(self):
        for argv in ([BINARY], [BINARY, "bogus"], [BINARY, "check"], [BINARY, "read", "--config", "x"],
                     [BINARY, "check", "--config"], [BINARY, "discover", "--nope", "x"]):
            r = subprocess.run(argv, capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 2, argv)
            self.assertEqual(r.stdout, "", "usage errors print nothing on the protocol channel")
            self.assertIn("usage", r.stderr)

    def test_bad_config_files(self):
        cases = {
            "missing": None,
            "empty": "",
            "malformed": "{\"host\": ",
            "array": "[1,2]",
            "wrong type": json.dumps({"host": "h", "port": "5432", "database": "d", "username": "u"}),
            "missing field": json.dumps({"host": "h", "port": 5432, "username": "u"}),
        }
        for name, raw in cases.items():
            with self.subTest(name):
                if raw is None:
                    r = run_connector(["discover", "--config", os.path.join(self.tmp, "nope.json")], self.tmp)
                else:
                    r = self.run_cmd(["discover"], raw_config=raw)
                self.assertEqual(r.rc, 1, r.raw + r.stderr)
                errs = r.trace_errors()
                self.assertEqual(len(errs), 1, r.raw)
                self.assertEqual(errs[0]["failure_type"], "config_error")
                self.assertTrue(errs[0]["message"])
                self.assertNotIn("Segmentation", r.stderr)

    def test_bad_catalog_and_state_files(self):
        """A catalog or state path that is a directory or missing is named as such"""
        cfg = os.path.join(self.tmp, "cfg.json")
        with open(cfg, "w") as f:
            json.dump(cluster.config(cdc=False), f)
        cat = os.path.join(self.tmp, "cat.json")
        with open(cat, "w") as f:
            json.dump({"streams": []}, f)
        for argv, expect in (
                (["--catalog", self.tmp], "the catalog file \"%s\" is a directory" % self.tmp),
                (["--catalog", os.path.join(self.tmp, "nope.json")], "the catalog file"),
                (["--catalog", cat, "--state", self.tmp], "the state file \"%s\" is a directory" % self.tmp),
                (["--catalog", cat, "--state", os.path.join(self.tmp, "nope.json")], "does not exist")):
            with self.subTest(argv):
                r = run_connector(["read", "--config", cfg] + argv, self.tmp)
                self.assertEqual(r.rc, 1, r.raw + r.stderr)
                errs = r.trace_errors()
                self.assertEqual(len(errs), 1, r.raw)
                self.assertEqual(errs[0]["failure_type"], "config_error")
                self.assertIn(expect, errs[0]["message"])

    def test_connection_string_in_a_name_field_is_refused_unquoted(self):
        for field, value in (("host", "postgresql://capture:%s@127.0.0.1/postgres" % PASSWORD),
                             ("host", "host=127.0.0.1 password=%s" % PASSWORD),
                             ("database", "dbname=postgres password=%s" % PASSWORD),
                             ("username", "capture password=%s" % PASSWORD)):
            with self.subTest(field=field):
                r = self.run_cmd(["check"], config=dict(cluster.config(), **{field: value}))
                st = self.status(r)
                self.assertEqual(st["status"], "FAILED")
                self.assertIn("config field \"%s\" must be" % field, st["message"])
                self.assertNotIn(PASSWORD, r.raw + r.stderr)

    def test_bad_config_names_the_field(self):
        r = self.run_cmd(["discover"], raw_config=json.dumps({"host": "h", "port": "5432", "database": "d", "username": "u"}))
        self.assertIn("port", r.trace_errors()[0]["message"])
        r = self.run_cmd(["check"], raw_config=json.dumps({"host": "h", "port": 5432, "username": "u"}))
        st = self.status(r)
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("database", st["message"])


class CheckTest(Base):
    def test_check_succeeds_cdc(self):
        st = self.status(self.run_cmd(["check"], config=cluster.config()))
        self.assertEqual(st["status"], "SUCCEEDED", st)

    def test_check_succeeds_standard(self):
        st = self.status(self.run_cmd(["check"], config=cluster.config(cdc=False)))
        self.assertEqual(st["status"], "SUCCEEDED", st)

    def test_wrong_password(self):
        r = self.run_cmd(["check"], config=cluster.config(password="wrong-" + PASSWORD[::-1]))
        st = self.status(r)
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("password", st["message"])
        self.assertNotIn(PASSWORD[::-1], r.raw)

    def test_unreachable_host_fails_fast(self):
        # a port nobody listens on: refused at once
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = s.getsockname()[1]
        st = self.status(self.run_cmd(["check"], config=cluster.config(port=dead)))
        self.assertEqual(st["status"], "FAILED")
        self.assertIn(str(dead), st["message"])
        # an IPv6 address is named with brackets around it (nothing listens on ::1 here)
        st = self.status(self.run_cmd(["check"], config=cluster.config(host="::1", port=dead)))
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("could not connect to [::1]:%d" % dead, st["message"])
        # a host that takes the connection and never answers (a black hole, on loopback):
        # bounded by connect_timeout_seconds, not minutes
        with socket.socket() as hole:
            hole.bind(("127.0.0.1", 0))
            hole.listen(16)
            t0 = time.time()
            st = self.status(self.run_cmd(["check"], config=cluster.config(port=hole.getsockname()[1],
                                                                           connect_timeout_seconds=3)))
            elapsed = time.time() - t0
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("within 3 seconds", st["message"])
        self.assertLess(elapsed, 15)

    def test_stop_while_connecting(self):
        """SIGTERM while the connection waits on a server that never answers: the read stops at
        once (exit 0, no error), not after connect_timeout_seconds"""
        with socket.socket() as hole:
            hole.bind(("127.0.0.1", 0))
            hole.listen(16)
            cfg = cluster.config(port=hole.getsockname()[1], connect_timeout_seconds=60)
            cat = {"streams": [{"stream": {"name": "t", "namespace": "public", "json_schema": {"type": "object", "properties": {}},
                                           "supported_sync_modes": ["full_refresh"]},
                                "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}]}
            argv = [BINARY, "read"]
            for name, obj in (("config", cfg), ("catalog", cat)):
                path = os.path.join(self.tmp, name + ".json")
                with open(path, "w") as f:
                    json.dump(obj, f)
                argv += ["--" + name, path]
            p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            time.sleep(1.5)
            t0 = time.time()
            p.send_signal(15)
            out, err = p.communicate(timeout=60)
            elapsed = time.time() - t0
        self.assertEqual(p.returncode, 0, out.decode() + err.decode())
        self.assertLess(elapsed, 5)
        self.assertNotIn(b'"type":"ERROR"', out)

    def test_timeout_moves_on_to_the_next_host(self):
        """An address that never answers costs connect_timeout, then the next host is tried, as
        libpq does; and jdbc_url_params' connectTimeout is the timeout when given"""
        with socket.socket() as hole:
            hole.bind(("127.0.0.2", cluster.port))
            hole.listen(16)
            t0 = time.time()
            st = self.status(self.run_cmd(["check"], config=cluster.config(host="127.0.0.2,127.0.0.1",
                                                                       connect_timeout_seconds=2)))
            self.assertEqual(st["status"], "SUCCEEDED", st)
            self.assertLess(time.time() - t0, 20)
            t0 = time.time()
            st = self.status(self.run_cmd(["check"], config=cluster.config(host="127.0.0.2",
                                                                       jdbc_url_params="connectTimeout=2")))
            self.assertEqual(st["status"], "FAILED")
            self.assertIn("within 2 seconds", st["message"])
            self.assertLess(time.time() - t0, 8)

    def test_refused_logins_name_the_fix(self):
        cluster.psql("""
            DROP DATABASE IF EXISTS sp_closed; DROP DATABASE IF EXISTS sp_private;
            DROP ROLE IF EXISTS sp_nologin; CREATE ROLE sp_nologin NOLOGIN PASSWORD '%s';
            CREATE DATABASE sp_closed ALLOW_CONNECTIONS false; CREATE DATABASE sp_private;
            REVOKE CONNECT ON DATABASE sp_private FROM PUBLIC;""" % PASSWORD)
        cases = [
            (cluster.config(cdc=False, user="sp_nologin"), 'ALTER ROLE "sp_nologin" LOGIN'),
            (cluster.config(cdc=False, db="sp_closed"), 'ALTER DATABASE "sp_closed" ALLOW_CONNECTIONS true'),
            (cluster.config(cdc=False, db="sp_private"), 'GRANT CONNECT ON DATABASE "sp_private" TO "capture"'),
        ]
        for cfg, fix in cases:
            st = self.status(self.run_cmd(["check"], config=cfg))
            self.assertEqual(st["status"], "FAILED")
            self.assertIn(fix, st["message"])
            self.assertNotIn("check the host, the port", st["message"])
        # the server's DETAIL line is kept with the line it explains
        st = self.status(self.run_cmd(["check"], config=cluster.config(cdc=False, db="sp_private")))
        self.assertIn("permission denied for database", st["message"])
        self.assertIn("CONNECT privilege", st["message"])

    def test_role_without_replication(self):
        st = self.status(self.run_cmd(["check"], config=cluster.config(user="norepl")))
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("REPLICATION", st["message"])
        self.assertIn("ALTER ROLE", st["message"])

    def test_wal_level_replica(self):
        other = Cluster(wal_level="replica").start()
        try:
            other.create_capture_role()
            other.psql("CREATE TABLE t (id int primary key);")
            st = self.status(self.run_cmd(["check"], config=other.config()))
            self.assertEqual(st["status"], "FAILED")
            self.assertIn("wal_level", st["message"])
            self.assertIn("logical", st["message"])
            # a read says the same, as a config error
            other.psql("ALTER TABLE t OWNER TO capture;")
            cat = configured_catalog(self.run_cmd(["discover"], config=other.config()).of_type("CATALOG")[0],
                                     streams=["t"])
            r = self.run_cmd(["read"], config=other.config(), catalog=cat)
            self.assertEqual(r.rc, 1)
            err = r.trace_errors()[0]
            self.assertEqual(err["failure_type"], "config_error", err)
            self.assertIn("wal_level = logical", err["message"])
            # and leaves nothing behind: no publication, and no server warning on stderr
            self.assertEqual(other.query("SELECT count(*) FROM pg_publication"), [["0"]])
            self.assertNotIn("WARNING", r.stderr)
        finally:
            other.stop()

    def test_physical_slot_of_that_name(self):
        cluster.psql("SELECT pg_create_physical_replication_slot('phys_slot');")
        try:
            cfg = cluster.config()
            cfg["replication_method"]["replication_slot"] = "phys_slot"
            st = self.status(self.run_cmd(["check"], config=cfg))
            self.assertEqual(st["status"], "FAILED")
            self.assertIn("is a physical slot", st["message"])
            self.assertNotIn("pg_drop_replication_slot", st["message"])
        finally:
            cluster.psql("SELECT pg_drop_replication_slot('phys_slot');")

    def test_slot_with_wrong_plugin(self):
        cluster.psql("SELECT pg_create_logical_replication_slot('wrong_plugin', 'test_decoding');")
        try:
            cfg = cluster.config()
            cfg["replication_method"]["replication_slot"] = "wrong_plugin"
            st = self.status(self.run_cmd(["check"], config=cfg))
            self.assertEqual(st["status"], "FAILED")
            self.assertIn("pgoutput", st["message"])
            # a read fails the same way, and leaves the other tool's slot where it was
            before = cluster.query("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'wrong_plugin'")
            cluster.psql("CREATE TABLE IF NOT EXISTS wp (id int PRIMARY KEY); ALTER TABLE wp OWNER TO capture;"
                         "INSERT INTO wp VALUES (1);")
            cat = configured_catalog(self.run_cmd(["discover"], config=cfg).of_type("CATALOG")[0], streams=["wp"])
            r = self.run_cmd(["read"], config=cfg, catalog=cat)
            self.assertEqual(r.rc, 1)
            self.assertEqual(r.trace_errors()[0]["failure_type"], "config_error")
            self.assertIn("pgoutput", r.trace_errors()[0]["message"])
            self.assertEqual(cluster.query("SELECT confirmed_flush_lsn FROM pg_replication_slots "
                                           "WHERE slot_name = 'wrong_plugin'"), before)
        finally:
            cluster.psql("SELECT pg_drop_replication_slot('wrong_plugin');")

    def test_jdbc_url_params_options(self):
        """An Airbyte config's jdbc_url_params work unchanged: '+' is a space, as PgJDBC decodes it;
        a setting the server refuses is named as such, not as a network problem."""
        cfg = cluster.config(jdbc_url_params="options=-c+statement_timeout%3D5min")
        self.assertEqual(self.status(self.run_cmd(["check"], config=cfg))["status"], "SUCCEEDED")
        # however long the user's options, the connector's own session settings follow them whole
        long = "options=" + "+".join(["-c+application_name%%3Dx%d" % i for i in range(60)])
        self.assertGreater(len(long), 1500)
        self.assertEqual(self.status(self.run_cmd(["check"], config=cluster.config(jdbc_url_params=long)))["status"],
                         "SUCCEEDED")
        st = self.status(self.run_cmd(["check"], config=cluster.config(jdbc_url_params="options=-c+no_such_timeout%3D5")))
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("jdbc_url_params", st["message"])
        self.assertNotIn("network", st["message"])

    def test_publication_a_read_could_not_use(self):
        """check fails, as every read would, on a publication the role could not make (it owns
        none of the tables), or one made by hand that leaves changes out"""
        cluster.psql("CREATE SCHEMA pubchk; GRANT USAGE ON SCHEMA pubchk TO capture;"
                     "CREATE TABLE pubchk.notmine (id int PRIMARY KEY); GRANT SELECT ON pubchk.notmine TO capture;"
                     "CREATE TABLE pubchk.pt (id int, d date, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);"
                     "CREATE TABLE pubchk.pt1 PARTITION OF pubchk.pt FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');"
                     "GRANT SELECT ON pubchk.pt, pubchk.pt1 TO capture;")
        self.addCleanup(cluster.psql, "DROP SCHEMA pubchk CASCADE; DROP PUBLICATION IF EXISTS chk_pub;")
        cfg = cluster.config(schemas=["pubchk"])
        cfg["replication_method"]["publication"] = "chk_pub"

        def check(expect, status="FAILED"):
            r = self.run_cmd(["check"], config=cfg)
            st = self.status(r)
            self.assertEqual(st["status"], status, st)
            self.assertIn(expect, st.get("message", "") + " ".join(r.logs()))
        check("owns none of the 2")
        # a table a read of which would fail is warned about: check does not know what is read
        cluster.psql("CREATE PUBLICATION chk_pub FOR TABLE pubchk.notmine, pubchk.pt;")
        check("does not publish partitioned table pubchk.pt through its root", "SUCCEEDED")
        cluster.psql("DROP PUBLICATION chk_pub; CREATE PUBLICATION chk_pub FOR ALL TABLES;")
        check("does not publish partitioned table pubchk.pt through its root", "SUCCEEDED")
        cluster.psql("DROP PUBLICATION chk_pub; CREATE PUBLICATION chk_pub FOR TABLE pubchk.notmine "
                     "WITH (publish = 'insert', publish_via_partition_root = true);")
        check("does not publish every INSERT, UPDATE and DELETE")
        cluster.psql("DROP PUBLICATION chk_pub; CREATE PUBLICATION chk_pub WITH (publish_via_partition_root = true);")
        check("holds none of the 2 table(s)")
        cluster.psql("ALTER PUBLICATION chk_pub ADD TABLE pubchk.notmine;")
        check("", "SUCCEEDED")

    def test_no_readable_tables(self):
        cluster.psql("CREATE SCHEMA IF NOT EXISTS nothing_here; CREATE TABLE IF NOT EXISTS nothing_here.t (id int);")
        cfg = cluster.config(schemas=["nothing_here"])
        st = self.status(self.run_cmd(["check"], config=cfg))
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("GRANT", st["message"])

    def test_schema_that_does_not_exist(self):
        """A schema named wrong fails check, by name, even beside one that exists (its tables
        would silently never be read)"""
        for schemas, named in ((["Public"], '"Public",'), (["public", "typo", 'odd"one'], '"odd""one", typo,')):
            st = self.status(self.run_cmd(["check"], config=cluster.config(schemas=schemas)))
            self.assertEqual(st["status"], "FAILED", st)
            self.assertIn("schemas lists %s which database \"postgres\" does not have" % named, st["message"])


class DiscoverTest(Base):
    @classmethod
    def setUpClass(cls):
        cluster.psql("""
            CREATE SCHEMA "Odd Schema";
            GRANT USAGE ON SCHEMA "Odd Schema" TO capture;
            CREATE TABLE "Odd Schema"."Mixed Case ""Quoted"" Tablé" ("Id" int PRIMARY KEY, "Naïve col" text, "x""y" int);
            CREATE TABLE "Odd Schema".ukey (a int NOT NULL, b text NOT NULL, c int, UNIQUE (b, a));
            CREATE TABLE "Odd Schema".nokey (a int, b text);
            CREATE TABLE "Odd Schema".composite (k2 text, k1 int, v int, PRIMARY KEY (k1, k2));
            CREATE VIEW "Odd Schema".v AS SELECT 1 AS one;
            CREATE TABLE "Odd Schema".parted (id int, d date, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);
            CREATE TABLE "Odd Schema".parted_2024 PARTITION OF "Odd Schema".parted FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
            CREATE TABLE "Odd Schema".hidden (a int);
            GRANT SELECT ON ALL TABLES IN SCHEMA "Odd Schema" TO capture;
            REVOKE SELECT ON "Odd Schema".hidden FROM capture;
        """)

    def discover(self, **kw):
        r = self.run_cmd(["discover"], config=cluster.config(schemas=["Odd Schema"], **kw))
        self.assertEqual(r.rc, 0, r.raw + r.stderr)
        self.assertNoSecret(r)
        cats = r.of_type("CATALOG")
        self.assertEqual(len(cats), 1)
        return {s["name"]: s for s in cats[0]["catalog"]["streams"]}

    def test_streams_and_keys(self):
        s = self.discover()
        self.assertEqual(sorted(s), sorted(['Mixed Case "Quoted" Tablé', "composite", "nokey", "parted", "ukey", "v"]))
        odd = s['Mixed Case "Quoted" Tablé']
        self.assertEqual(odd["namespace"], "Odd Schema")
        self.assertEqual(list(odd["json_schema"]["properties"])[:3], ["Id", "Naïve col", 'x"y'])
        self.assertEqual(odd["source_defined_primary_key"], [["Id"]])
        self.assertEqual(s["composite"]["source_defined_primary_key"], [["k1"], ["k2"]])
        self.assertEqual(s["ukey"]["source_defined_primary_key"], [["b"], ["a"]])
        self.assertNotIn("source_defined_primary_key", s["nokey"])
        self.assertEqual(s["parted"]["source_defined_primary_key"], [["id"], ["d"]])

    def test_a_locked_table_holds_up_nothing(self):
        """A table another session holds under ACCESS EXCLUSIVE (a migration, VACUUM FULL), and
        a locked partition, do not hold up discover or check: listing tables takes no lock"""
        holder = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.sockdir,
                                   "-p", str(cluster.port), "-U", "postgres"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, text=True)
        self.addCleanup(lambda: (holder.kill(), holder.wait(), holder.stdin.close()))
        holder.stdin.write('BEGIN; LOCK TABLE "Odd Schema".nokey, "Odd Schema".parted_2024 IN ACCESS EXCLUSIVE MODE;\n')
        holder.stdin.flush()
        deadline = time.monotonic() + 30
        while cluster.query("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND locktype = 'relation' "
                            "AND relation IN ('\"Odd Schema\".nokey'::regclass, '\"Odd Schema\".parted_2024'::regclass)") != [["2"]]:
            self.assertLess(time.monotonic(), deadline, "the locks were never taken")
            time.sleep(0.05)
        self.assertIn("nokey", self.discover())
        cluster.psql('CREATE PUBLICATION lock_pub FOR TABLE "Odd Schema".composite WITH (publish_via_partition_root = true);')
        self.addCleanup(cluster.psql, "DROP PUBLICATION lock_pub;")
        for cdc in (False, True):
            cfg = cluster.config(schemas=["Odd Schema"], cdc=cdc)
            if cdc:
                cfg["replication_method"]["publication"] = "lock_pub"
            st = self.status(self.run_cmd(["check"], config=cfg))
            self.assertEqual(st["status"], "SUCCEEDED", st)

    def test_partition_whose_root_is_not_listed(self):
        """A partition is read through its root when the root is listed; when the root is out of
        the schemas, or the role may not read it, the partition is a stream of its own"""
        cluster.psql("CREATE SCHEMA proot; CREATE SCHEMA pleaf; GRANT USAGE ON SCHEMA proot, pleaf TO capture;"
                     "CREATE TABLE proot.r (id int PRIMARY KEY) PARTITION BY RANGE (id);"
                     "CREATE TABLE pleaf.l PARTITION OF proot.r FOR VALUES FROM (0) TO (10);"
                     "GRANT SELECT ON pleaf.l TO capture;")
        self.addCleanup(cluster.psql, "DROP SCHEMA proot, pleaf CASCADE;")

        def names(schemas):
            r = self.run_cmd(["discover"], config=cluster.config(schemas=schemas))
            self.assertEqual(r.rc, 0, r.raw + r.stderr)
            streams = r.of_type("CATALOG")[0]["catalog"]["streams"]
            for s in streams:
                if s["name"] == "l":
                    # its changes would come under the root's name: full refresh only
                    self.assertEqual(s["supported_sync_modes"], ["full_refresh"])
            return sorted((s["namespace"], s["name"]) for s in streams)
        self.assertEqual(names(["pleaf"]), [("pleaf", "l")])
        self.assertEqual(names(["proot", "pleaf"]), [("pleaf", "l")])
        cluster.psql("GRANT SELECT ON proot.r TO capture;")
        self.assertEqual(names(["proot", "pleaf"]), [("proot", "r")])
        self.assertEqual(names(["pleaf"]), [("pleaf", "l")])

    def test_schema_without_usage_is_left_out(self):
        """SELECT on a table is not enough to read it without USAGE on its schema: discover must
        not offer it (a read would fail on it)."""
        cluster.psql("CREATE SCHEMA nousage; CREATE TABLE nousage.t (id int PRIMARY KEY);"
                     "GRANT SELECT ON nousage.t TO capture;")
        self.addCleanup(cluster.psql, "DROP SCHEMA nousage CASCADE;")
        r = self.run_cmd(["discover"], config=cluster.config(schemas=["Odd Schema", "nousage"]))
        self.assertEqual(r.rc, 0, r.raw + r.stderr)
        names = [(s["namespace"], s["name"]) for s in r.of_type("CATALOG")[0]["catalog"]["streams"]]
        self.assertIn(("Odd Schema", "ukey"), names)
        self.assertNotIn(("nousage", "t"), names)
        cluster.psql("GRANT USAGE ON SCHEMA nousage TO capture;")
        r = self.run_cmd(["discover"], config=cluster.config(schemas=["nousage"]))
        self.assertEqual([s["name"] for s in r.of_type("CATALOG")[0]["catalog"]["streams"]], ["t"])

    def test_cdc_sync_modes(self):
        s = self.discover()
        odd = s['Mixed Case "Quoted" Tablé']
        self.assertEqual(odd["supported_sync_modes"], ["full_refresh", "incremental"])
        self.assertTrue(odd["source_defined_cursor"])
        self.assertEqual(odd["default_cursor_field"], ["_ab_cdc_lsn"])
        self.assertTrue(odd["is_resumable"])
        for meta in ("_ab_cdc_lsn", "_ab_cdc_updated_at", "_ab_cdc_deleted_at"):
            self.assertIn(meta, odd["json_schema"]["properties"])
        self.assertEqual(s["v"]["supported_sync_modes"], ["full_refresh"])
        # keyless without REPLICA IDENTITY FULL cannot be captured: full refresh only
        self.assertEqual(s["nokey"]["supported_sync_modes"], ["full_refresh"])
        # a unique index is a key, but not a replica identity under DEFAULT: adding the table to a
        # publication would make its UPDATEs and DELETEs fail, so it is full refresh only too
        self.assertEqual(s["ukey"]["supported_sync_modes"], ["full_refresh"])
        self.assertEqual(s["ukey"]["source_defined_primary_key"], [["b"], ["a"]])

    def test_standard_mode_has_no_cdc_columns(self):
        s = self.discover(replication_method={"method": "Standard"})
        odd = s['Mixed Case "Quoted" Tablé']
        self.assertNotIn("_ab_cdc_lsn", odd["json_schema"]["properties"])
        self.assertFalse(odd["source_defined_cursor"])

    def test_types(self):
        cluster.psql("""
            CREATE DOMAIN posint AS int CHECK (VALUE > 0);
            CREATE DOMAIN posint_arr AS posint[];
            CREATE TYPE mood AS ENUM ('sad', 'happy');
            CREATE TABLE public.alltypes (
              id serial PRIMARY KEY, i2 smallint, i4 int, i8 bigint, n numeric(38, 10), nn numeric,
              f4 real, f8 double precision, b bool, t text, vc varchar(5), c char(3), nm name,
              j json, jb jsonb, by bytea, d date, tm time, ttz timetz, ts timestamp, tstz timestamptz,
              iv interval, u uuid, ip inet, cidr_ cidr, mac macaddr, bits bit(3), vbits varbit,
              money_ money, x xml, tsv tsvector, pt point, bx box, r int4range, dom posint,
              arr int[], arr2 int[][], tarr text[], darr posint_arr, en mood, enarr mood[], o oid
            );
            GRANT SELECT ON public.alltypes TO capture;
        """)
        r = self.run_cmd(["discover"], config=cluster.config())
        st = {s["name"]: s for s in r.of_type("CATALOG")[0]["catalog"]["streams"]}["alltypes"]
        p = st["json_schema"]["properties"]
        def t(col):
            return p[col]["type"]
        for col in ("i2", "i4", "i8", "o", "dom"):
            self.assertEqual(t(col), ["null", "integer"], col)
        for col in ("n", "nn", "f4", "f8"):
            self.assertEqual(t(col), ["null", "number"], col)
        self.assertEqual(t("b"), ["null", "boolean"])
        for col in ("t", "vc", "c", "nm", "j", "jb", "iv", "u", "ip", "cidr_", "mac", "bits", "vbits",
                    "money_", "x", "tsv", "pt", "bx", "r", "en"):
            self.assertEqual(t(col), ["null", "string"], col)
        self.assertEqual(p["by"]["contentEncoding"], "base64")
        self.assertEqual(p["d"]["format"], "date")
        self.assertEqual(p["ts"]["airbyte_type"], "timestamp_without_timezone")
        self.assertEqual(p["tstz"]["airbyte_type"], "timestamp_with_timezone")
        self.assertEqual(p["tm"]["airbyte_type"], "time_without_timezone")
        self.assertEqual(p["ttz"]["airbyte_type"], "time_with_timezone")
        self.assertEqual(p["arr"]["items"]["type"], ["null", "integer"])
        self.assertEqual(p["arr2"]["items"]["items"]["type"], ["null", "integer"])
        self.assertEqual(p["tarr"]["items"]["type"], ["null", "string"])
        self.assertEqual(p["darr"]["items"]["type"], ["null", "integer"])
        self.assertEqual(p["enarr"]["items"]["type"], ["null", "string"])
        self.assertEqual(st["source_defined_primary_key"], [["id"]])


class CleanupTest(Base):
    def write_config(self, cfg):
        path = os.path.join(self.tmp, "config.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def test_cleanup_drops_only_its_own(self):
        cluster.psql("SELECT pg_create_logical_replication_slot('sp_slot', 'pgoutput');"
                     "SELECT pg_create_logical_replication_slot('other_slot', 'pgoutput');"
                     "SET ROLE capture; CREATE PUBLICATION sp_pub; RESET ROLE; CREATE PUBLICATION other_pub;")
        try:
            r = self.run_cmd(["cleanup"], config=cluster.config())
            self.assertEqual(r.rc, 0, r.raw)
            logs = " ".join(r.logs())
            self.assertIn("dropped replication slot \"sp_slot\"", logs)
            self.assertIn("dropped publication \"sp_pub\"", logs)
            slots = [x[0] for x in cluster.query("SELECT slot_name FROM pg_replication_slots ORDER BY 1")]
            pubs = [x[0] for x in cluster.query("SELECT pubname FROM pg_publication ORDER BY 1")]
            self.assertEqual(slots, ["other_slot"])
            self.assertEqual(pubs, ["other_pub"])
            # idempotent: a second cleanup says there was nothing
            r = self.run_cmd(["cleanup"], config=cluster.config())
            self.assertEqual(r.rc, 0)
            self.assertIn("did not exist", " ".join(r.logs()))
        finally:
            cluster.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = 'other_slot';"
                         "DROP PUBLICATION IF EXISTS other_pub;")

    def test_cleanup_waits_for_a_slot_still_in_use(self):
        """A slot held by a reader that stops a moment later (a run just killed, whose walsender
        has yet to notice) is waited for and dropped, not a system error"""
        cluster.psql("SELECT pg_create_logical_replication_slot('sp_slot', 'pgoutput');")
        holder = subprocess.Popen(["pg_recvlogical", "-h", cluster.sockdir, "-p", str(cluster.port), "-U", "postgres",
                                   "-d", "postgres", "--slot", "sp_slot", "--start", "-o", "proto_version=1",
                                   "-o", "publication_names=none", "-f", "/dev/null"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 20
            while cluster.query("SELECT active FROM pg_replication_slots WHERE slot_name = 'sp_slot'") != [["t"]]:
                self.assertLess(time.time(), deadline, "pg_recvlogical did not take the slot")
                time.sleep(0.05)
            cleanup = subprocess.Popen([BINARY, "cleanup", "--config", self.write_config(cluster.config())],
                                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            time.sleep(1.5)
            self.assertIsNone(cleanup.poll(), "cleanup waits while the slot is in use")
            holder.terminate()
            out, _ = cleanup.communicate(timeout=60)
        finally:
            if holder.poll() is None:
                holder.kill()
        self.assertEqual(cleanup.returncode, 0, out)
        self.assertIn('dropped replication slot \\"sp_slot\\"', out)
        self.assertEqual(cluster.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sp_slot'"), [["0"]])

    def test_cleanup_leaves_another_tools_slot_of_that_name(self):
        """A slot of the config's name that a read refuses as another tool's (a physical slot, or
        a logical one of another database: a standby's, another connector's) is not dropped"""
        for create in ("SELECT pg_create_physical_replication_slot('sp_slot');",
                       "CREATE DATABASE cleanup_other;"):
            cluster.psql(create)
            if "DATABASE" in create:
                cluster.psql("SELECT pg_create_logical_replication_slot('sp_slot', 'pgoutput');", db="cleanup_other")
            try:
                r = self.run_cmd(["cleanup"], config=cluster.config())
                self.assertEqual(r.rc, 0, r.raw)
                self.assertTrue(any("not dropping replication slot \"sp_slot\"" in m for m in r.logs()), r.logs())
                self.assertEqual(cluster.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name = 'sp_slot'"),
                                 [["1"]])
            finally:
                cluster.psql("SELECT pg_drop_replication_slot('sp_slot');")
                if "DATABASE" in create:
                    cluster.psql("DROP DATABASE cleanup_other;")


if __name__ == "__main__":
    unittest.main()
