"""read: full refresh and CDC against a real PostgreSQL, replayed into a deduplicating destination."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from destination import Destination, source_rows
from harness import BINARY, PASSWORD, Cluster, configured_catalog, run_connector

cluster = None


def setUpModule():
    global cluster
    cluster = Cluster().start()
    cluster.create_capture_role()


def pg_lsn(text):
    """An LSN ("16/B374D848") as a number"""
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def tearDownModule():
    cluster.stop()


# a value stored out of line (TOAST): incompressible enough not to fit in the row
TOASTED = "".join(chr(ord("a") + (i * 7919) % 26) for i in range(300000))


class ReadBase(unittest.TestCase):
    slot = "sp_slot"
    pub = "sp_pub"

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="sp-read-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def cfg(self, **cdc):
        c = cluster.config()
        c["replication_method"].update({"replication_slot": self.slot, "publication": self.pub})
        c["replication_method"].update(cdc)
        return c

    def discover(self, cfg=None):
        r = run_connector(["discover"], self.tmp, config=cfg or self.cfg())
        self.assertEqual(r.rc, 0, r.raw)
        return r.of_type("CATALOG")[0]

    def read(self, catalog, state=None, cfg=None, expect_rc=0, timeout=300):
        t0 = time.time()
        r = run_connector(["read"], self.tmp, config=cfg or self.cfg(), catalog=catalog,
                          state=[state] if state else None, timeout=timeout)
        r.seconds = time.time() - t0
        self.assertEqual(r.rc, expect_rc, r.raw[-3000:] + r.stderr)
        if expect_rc == 0:
            self.check_record_schemas(r, catalog)
            self.assertTrue(r.states(), "a read ends with a STATE")
        return r

    def check_record_schemas(self, r, catalog):
        import jsonschema
        schemas = {(s["stream"].get("namespace", "public"), s["stream"]["name"]): s["stream"]["json_schema"] for s in catalog["streams"]}
        validators = {k: jsonschema.Draft7Validator(v) for k, v in schemas.items()}
        for rec in r.records():
            validators[(rec["namespace"], rec["stream"])].validate(rec["data"])

    def full_refresh(self, tables):
        """The source's rows, through a full-refresh read (the same value conversion)."""
        cfg = cluster.config(cdc=False)
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        fr = configured_catalog(cat, streams=tables, sync_mode="full_refresh")
        r = run_connector(["read"], self.tmp, config=cfg, catalog=fr)
        self.assertEqual(r.rc, 0, r.raw[-2000:])
        return {t: source_rows(r.records(), t) for t in tables}

    def drop_slot(self):
        cluster.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '%s';"
                     "DROP PUBLICATION IF EXISTS %s;" % (self.slot, self.pub))

    def standard_catalog(self, table, cursor):
        """A catalog of table read Standard by cursor, and its config"""
        cfg = cluster.config(cdc=False)
        cat = configured_catalog(self.discover(cfg), streams=[table])
        cat["streams"][0]["cursor_field"] = [cursor]
        return cat, cfg

    def read_argv(self, catalog, cfg=None, state=None):
        """argv of a read of catalog with cfg (and state, when given), its files written to tmp:
        for a run the test starts, watches and stops itself"""
        argv = [BINARY, "read"]
        for name, obj in (("config", cfg or self.cfg()), ("catalog", catalog), ("state", state and [state])):
            if obj is not None:
                path = os.path.join(self.tmp, name + ".json")
                with open(path, "w") as f:
                    json.dump(obj, f)
                argv += ["--" + name, path]
        return argv

    def start(self, argv, out_path=None):
        """Start argv with stdout to out_path (discarded when None); killed at cleanup if still
        running"""
        if out_path is None:
            p = subprocess.Popen(argv, stdout=subprocess.DEVNULL)
        else:
            with open(out_path, "wb") as out:
                p = subprocess.Popen(argv, stdout=out)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        return p

    def wait_slot_taken(self, p):
        """Wait until the run p (a --follow read) holds this test's slot, failing if it exits first"""
        deadline = time.monotonic() + 60
        while cluster.query("SELECT active FROM pg_replication_slots WHERE slot_name = '%s'" % self.slot) != [["t"]]:
            self.assertIsNone(p.poll(), "the --follow run exited")
            self.assertLess(time.monotonic(), deadline, "the --follow run never took the slot")
            time.sleep(0.05)

    def sigterm(self, p):
        """Stop a run with SIGTERM: it exits 0"""
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=30), 0)

    def messages(self, path):
        """The complete lines of an output file, parsed (a line still being written is left out)"""
        with open(path, "rb") as f:
            return [json.loads(l) for l in f.read().decode().split("\n")[:-1] if l]


class FullRefreshTest(ReadBase):
    def test_full_refresh_standard_mode(self):
        cluster.psql("""CREATE TABLE fr (id int PRIMARY KEY, v text); ALTER TABLE fr OWNER TO capture;
                        INSERT INTO fr SELECT g, 'v' || g FROM generate_series(1, 2500) g;
                        CREATE VIEW frv AS SELECT id, v FROM fr WHERE id <= 10; GRANT SELECT ON frv TO capture;""")
        cfg = cluster.config(cdc=False)
        cat = self.discover(cfg)
        configured = configured_catalog(cat, streams=["fr", "frv"], sync_mode="full_refresh")
        r = self.read(configured, cfg=cfg)
        self.assertEqual(len(r.records("fr")), 2500)
        self.assertEqual(len(r.records("frv")), 10)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records("fr")), list(range(1, 2501)))
        statuses = [(m["trace"]["stream_status"]["stream_descriptor"]["name"], m["trace"]["stream_status"]["status"])
                    for m in r.of_type("TRACE") if m["trace"]["type"] == "STREAM_STATUS"]
        for s in ("fr", "frv"):
            self.assertEqual([st for n, st in statuses if n == s], ["STARTED", "RUNNING", "COMPLETE"])
        self.assertTrue([m for m in r.of_type("TRACE") if m["trace"]["type"] == "ESTIMATE"])
        self.assertTrue(r.states())
        # only the configured columns
        cat2 = json.loads(json.dumps(configured))
        for s in cat2["streams"]:
            if s["stream"]["name"] == "fr":
                del s["stream"]["json_schema"]["properties"]["v"]
        r = self.read(cat2, cfg=cfg)
        self.assertEqual(set(r.records("fr")[0]["data"]), {"id"})
        # a stream listed twice would be read (and its state kept) twice
        cat2["streams"].append(cat2["streams"][0])
        r = self.read(cat2, cfg=cfg, expect_rc=1)
        self.assertEqual(r.trace_errors()[0]["failure_type"], "config_error")
        self.assertIn("twice", r.trace_errors()[0]["message"])
        self.assertEqual(r.records(), [])

    def test_full_refresh_of_partitioned_and_row_secured_tables(self):
        # a plain table is copied by name, the rest through a query: both must give every row the
        # role may see, and row-level security must hold either way
        cluster.psql("""
            CREATE TABLE frp (id int, d date, v text, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);
            CREATE TABLE frp_1 PARTITION OF frp FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
            CREATE TABLE frp_2 PARTITION OF frp FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            INSERT INTO frp SELECT g, '2024-01-01'::date + g, 'p' || g FROM generate_series(1, 600) g;
            GRANT SELECT ON frp TO capture;
            CREATE TABLE frs (id int PRIMARY KEY, owner text, v text);
            INSERT INTO frs SELECT g, CASE WHEN g % 3 = 0 THEN 'capture' ELSE 'other' END, 's' || g
              FROM generate_series(1, 300) g;
            ALTER TABLE frs OWNER TO capture;
            ALTER TABLE frs ENABLE ROW LEVEL SECURITY; ALTER TABLE frs FORCE ROW LEVEL SECURITY;
            CREATE POLICY mine ON frs FOR SELECT USING (owner = current_user);""")
        cfg = cluster.config(cdc=False)
        configured = configured_catalog(self.discover(cfg), streams=["frp", "frs"], sync_mode="full_refresh")
        r = self.read(configured, cfg=cfg)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records("frp")), list(range(1, 601)))
        self.assertEqual(r.records("frp")[0]["data"]["v"], "p%d" % r.records("frp")[0]["data"]["id"])
        self.assertEqual(sorted(x["data"]["id"] for x in r.records("frs")), list(range(3, 301, 3)))


class CdcTest(ReadBase):
    def setUp(self):
        super().setUp()
        self.drop_slot()

    def test_several_reads_converge(self):
        cluster.psql("""
            DROP TABLE IF EXISTS orders, items, keyless;
            CREATE TABLE orders (id bigint PRIMARY KEY, customer text, amount numeric(12,2), placed timestamptz, note text);
            CREATE TABLE items (order_id bigint, line int, sku text, qty int, PRIMARY KEY (order_id, line));
            CREATE TABLE keyless (a int, b text); ALTER TABLE keyless REPLICA IDENTITY FULL;
            ALTER TABLE orders OWNER TO capture; ALTER TABLE items OWNER TO capture; ALTER TABLE keyless OWNER TO capture;
            INSERT INTO orders SELECT g, 'c' || (g % 17), g * 1.25, '2024-01-01'::timestamptz + g * interval '1 minute', NULL FROM generate_series(1, 3000) g;
            INSERT INTO items SELECT g / 3 + 1, g % 3, 'sku' || g, g % 5 FROM generate_series(0, 2999) g;
            INSERT INTO keyless VALUES (1, 'one'), (2, 'two'), (3, 'three');
        """)
        tables = ["orders", "items", "keyless"]
        cat = configured_catalog(self.discover(), streams=tables)
        self.assertEqual({s["sync_mode"] for s in cat["streams"]}, {"incremental"})
        dest = Destination({"orders": ["id"], "items": ["order_id", "line"], "keyless": None})
        cfg = self.cfg(backfill_chunk_size=700)
        r = self.read(cat, cfg=cfg)
        self.assertGreaterEqual(len(r.states()), 5, "a state after every chunk")
        state = dest.apply_until_last_state(r.messages)
        changes = [
            """INSERT INTO orders VALUES (5001, 'new', 1.00, now(), 'n');
               UPDATE orders SET amount = amount + 1 WHERE id % 10 = 0;
               DELETE FROM orders WHERE id BETWEEN 100 AND 150;
               INSERT INTO items VALUES (5001, 0, 'x', 1);""",
            """BEGIN; UPDATE orders SET customer = 'moved' WHERE id < 50; DELETE FROM items WHERE order_id < 20;
               INSERT INTO orders SELECT g, 'bulk', g, now(), repeat('big', 5000) FROM generate_series(6000, 6999) g; COMMIT;
               UPDATE keyless SET b = 'TWO' WHERE a = 2; DELETE FROM keyless WHERE a = 3; INSERT INTO keyless VALUES (4, 'four');""",
            """UPDATE orders SET id = id + 100000 WHERE id BETWEEN 200 AND 210;
               UPDATE orders SET customer = 'toast-untouched' WHERE id BETWEEN 6000 AND 6010;
               BEGIN; INSERT INTO orders VALUES (7000, 'tx', 1, now(), NULL); UPDATE orders SET note = 'same tx' WHERE id = 7000; DELETE FROM orders WHERE id = 7000; COMMIT;""",
            "",  # nothing new: a quick, nearly empty read
        ]
        for sql in changes:
            if sql:
                cluster.psql(sql)
            started_with = state
            r = self.read(cat, state=state, cfg=cfg)
            state = dest.apply_until_last_state(r.messages)
            if not sql:
                self.assertEqual(r.records(), [])
                self.assertLess(r.seconds, 5)
        src = self.full_refresh(tables)
        for t in tables:
            self.assertEqual(dest.table(t), src[t], t)
        # the slot confirmed the state the last read started with, never beyond
        confirmed = cluster.query("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '%s'" % self.slot)[0][0]
        self.assertEqual(confirmed, started_with["global"]["shared_state"]["lsn"])

    def test_toast_unchanged_is_never_a_placeholder(self):
        cluster.psql("""
            DROP TABLE IF EXISTS docs, docs_full;
            CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
            CREATE TABLE docs_full (id int PRIMARY KEY, title text, body text); ALTER TABLE docs_full REPLICA IDENTITY FULL;
            ALTER TABLE docs OWNER TO capture; ALTER TABLE docs_full OWNER TO capture;
        """)
        cat = configured_catalog(self.discover(), streams=["docs", "docs_full"])
        r = self.read(cat)
        state = r.states()[-1]
        big = TOASTED
        cluster.psql("INSERT INTO docs VALUES (1, 't', '%s'); INSERT INTO docs_full VALUES (1, 't', '%s');" % (big, big))
        cluster.psql("UPDATE docs SET title = 't2' WHERE id = 1; UPDATE docs_full SET title = 't2' WHERE id = 1;")
        r = self.read(cat, state=state)
        for t in ("docs", "docs_full"):
            recs = r.records(t)
            self.assertEqual([x["data"]["title"] for x in recs], ["t", "t2"])
            for x in recs:
                self.assertEqual(x["data"]["body"], big, t)
                self.assertNotIn("meta", x)

    def test_toast_reread_is_of_the_changed_table_only(self):
        """An unchanged TOASTed value is re-read from the table the change is of: ONLY it (an
        inheritance child holding the same key is not it), and by its OID (renamed while
        streaming, it is still found, and a table that took its name is not read)."""
        cluster.psql("""
            DROP TABLE IF EXISTS tdoc_child, tdoc, tdoc_other, tdoc_moved;
            CREATE TABLE tdoc (id int PRIMARY KEY, title text, body text); ALTER TABLE tdoc OWNER TO capture;
            CREATE TABLE tdoc_other (id int PRIMARY KEY, title text, body text); ALTER TABLE tdoc_other OWNER TO capture;
        """)
        cat = configured_catalog(self.discover(), streams=["tdoc"])
        state = self.read(cat).states()[-1]
        big = TOASTED
        cluster.psql("""
            INSERT INTO tdoc VALUES (1, 't', '%s'), (2, 't', '%s');
            CREATE TABLE tdoc_child () INHERITS (tdoc); INSERT INTO tdoc_child VALUES (1, 'child', 'CHILD');
            INSERT INTO tdoc_other VALUES (2, 'other', 'OTHER');
            UPDATE ONLY tdoc SET title = 't2' WHERE id = 1;
        """ % (big, big))
        r = self.read(cat, state=state)
        self.assertEqual([(x["data"]["title"], x["data"]["body"], "meta" in x) for x in r.records("tdoc")],
                         [("t", big, False), ("t", big, False), ("t2", big, False)])
        state = r.states()[-1]
        out_path = os.path.join(self.tmp, "out")
        p = self.start(self.read_argv(cat, state=state) + ["--follow"], out_path)
        self.wait_slot_taken(p)
        # the change is re-read after the swap: tdoc is the other table by then
        cluster.psql("BEGIN; UPDATE ONLY tdoc SET title = 't3' WHERE id = 2;"
                     "ALTER TABLE tdoc RENAME TO tdoc_moved; ALTER TABLE tdoc_other RENAME TO tdoc; COMMIT;")
        deadline = time.monotonic() + 60
        while not [m for m in self.messages(out_path) if m["type"] == "RECORD"]:
            self.assertIsNone(p.poll(), "the --follow run exited: %s" % self.messages(out_path)[-3:])
            self.assertLess(time.monotonic(), deadline, "the change never came")
            time.sleep(0.1)
        self.sigterm(p)
        recs = [m["record"]["data"] for m in self.messages(out_path) if m["type"] == "RECORD"]
        self.assertEqual([(x["id"], x["title"], x["body"]) for x in recs], [(2, "t3", big)])

    def test_changes_before_a_column_is_renamed_or_dropped_keep_it(self):
        """Changes made before a column was renamed or dropped carry its configured name: they are
        read with it, not silently without it. A TOASTed value of such a column that the change did
        not send cannot be re-read by that name: null, and the record says so. A change whose
        column's type was dropped since is read with the column's type now."""
        cluster.psql("DROP TABLE IF EXISTS rc; DROP DOMAIN IF EXISTS posint; CREATE DOMAIN posint AS int CHECK (VALUE > 0);"
                     "CREATE TABLE rc (id int PRIMARY KEY, a text, b text, body text, n int, ssn text, q posint);"
                     "ALTER TABLE rc OWNER TO capture;"
                     "INSERT INTO rc SELECT g, 'a' || g, 'b' || g, NULL, g, 'secret', g FROM generate_series(1, 4) g;")
        cat = configured_catalog(self.discover(), streams=["rc"])
        state = self.read(cat).states()[-1]
        big = TOASTED
        cluster.psql("UPDATE rc SET body = '%s' WHERE id = 4;" % big)
        cluster.psql("UPDATE rc SET a = 'a before the rename', b = 'b before the drop' WHERE id = 1;"
                     "UPDATE rc SET n = 40 WHERE id = 4;"
                     "ALTER TABLE rc RENAME COLUMN a TO a2; ALTER TABLE rc RENAME COLUMN body TO body2;"
                     "ALTER TABLE rc DROP COLUMN b;"
                     "UPDATE rc SET a2 = 'a2 after the rename' WHERE id = 2;"
                     # the type of a change's column dropped since: read as a string, not a read
                     # that fails at that change every time
                     "UPDATE rc SET q = 33 WHERE id = 3; ALTER TABLE rc ALTER COLUMN q TYPE int; DROP DOMAIN posint;"
                     # a column the role may no longer read is not one that is gone
                     "REVOKE SELECT ON rc FROM capture; GRANT SELECT (id, a2, body2, n, q) ON rc TO capture;")
        r = self.read(cat, state=state)
        self.assertNotIn("secret", r.raw)
        self.assertFalse(any("column ssn" in l for l in r.logs()), r.logs())
        recs = {(x["data"]["id"], x["data"]["n"]): x for x in r.records("rc")}
        data = {k: {c: v for c, v in x["data"].items() if not c.startswith("_ab_")} for k, x in recs.items()}
        self.assertEqual(data[(4, 4)], {"id": 4, "a": "a4", "b": "b4", "body": big, "n": 4, "q": 4})
        self.assertEqual(data[(1, 1)], {"id": 1, "a": "a before the rename", "b": "b before the drop",
                                        "body": None, "n": 1, "q": 1})
        self.assertEqual(data[(3, 3)], {"id": 3, "n": 3, "q": 33})
        self.assertTrue(any("column q in changes before it was changed no longer exists" in l for l in r.logs()))
        self.assertNotIn("meta", recs[(1, 1)])
        # the TOASTed body was not sent with the change to n, and the table no longer has it
        self.assertEqual(data[(4, 40)], {"id": 4, "a": "a4", "b": "b4", "body": None, "n": 40, "q": 4})
        self.assertEqual([c["field"] for c in recs[(4, 40)]["meta"]["changes"]], ["body"])
        # after the rename the column is a2, which the configured catalog does not have
        self.assertEqual(data[(2, 2)], {"id": 2, "n": 2, "q": 2})
        self.assertEqual(len(recs), 5)
        for col in ("a", "b", "body"):
            self.assertTrue(any("column %s of the configured catalog is no longer in the table" % col in l
                                for l in r.logs()), r.logs())

    def test_changes_before_the_key_column_is_renamed_keep_their_key(self):
        """A key column renamed since a change was made has its old name in the change: an update
        that moved the key still deletes the old identity, and an unchanged TOASTed value is
        still re-read by key, not made null."""
        cluster.psql("DROP TABLE IF EXISTS kr; CREATE TABLE kr (id int PRIMARY KEY, title text, body text);"
                     "ALTER TABLE kr OWNER TO capture; INSERT INTO kr VALUES (1, 'one', NULL), (2, 'two', NULL);")
        cat = configured_catalog(self.discover(), streams=["kr"])
        dest = Destination({"kr": ["id"]})
        state = dest.apply_until_last_state(self.read(cat).messages)
        big = TOASTED
        cluster.psql("UPDATE kr SET body = '%s' WHERE id = 2;" % big)
        cluster.psql("UPDATE kr SET id = 10 WHERE id = 1; UPDATE kr SET title = 'two, again' WHERE id = 2;"
                     "ALTER TABLE kr RENAME COLUMN id TO ident;")
        r = self.read(cat, state=state)
        dest.apply_until_last_state(r.messages)
        self.assertEqual(dest.table("kr"), sorted(json.dumps(x, sort_keys=True) for x in (
            {"id": 10, "title": "one", "body": None}, {"id": 2, "title": "two, again", "body": big})))
        self.assertEqual(sorted(x["data"]["id"] for x in r.records("kr")), [1, 2, 2, 10])
        self.assertFalse(any("meta" in x for x in r.records("kr")))

    def test_tables_cdc_cannot_read_as_they_are(self):
        """An UNLOGGED table's changes are not in the WAL: discover offers it as full refresh
        only, and a catalog asking for CDC gets a config error naming the fix, not a stream that
        misses its deletes. A column named like a CDC metadata field is not sent twice under one
        name. A unique index under another collation than its column's nondeterministic one is
        no key (pages in the column's collation would skip rows)."""
        cluster.psql("DROP TABLE IF EXISTS ul, meta, nd; DROP COLLATION IF EXISTS ci;"
                     "CREATE UNLOGGED TABLE ul (id int PRIMARY KEY); ALTER TABLE ul OWNER TO capture;"
                     "CREATE TABLE meta (id int PRIMARY KEY, _ab_cdc_deleted_at timestamptz, _ab_cdc_lsn text);"
                     "ALTER TABLE meta OWNER TO capture;"
                     "INSERT INTO meta VALUES (1, '2024-05-01 00:00:00+00', 'from upstream');"
                     "CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);"
                     "CREATE TABLE nd (name text COLLATE ci NOT NULL, v int); CREATE UNIQUE INDEX ON nd (name COLLATE \"C\");"
                     "ALTER TABLE nd REPLICA IDENTITY FULL; ALTER TABLE nd OWNER TO capture;"
                     "INSERT INTO nd VALUES ('a', 1), ('A', 2), ('b', 3), ('B', 4);")
        disc = self.discover()
        streams = {s["name"]: s for s in disc["catalog"]["streams"]}
        self.assertEqual(streams["ul"]["supported_sync_modes"], ["full_refresh"])
        self.assertNotIn("source_defined_primary_key", streams["nd"])
        cat = configured_catalog(disc, streams=["ul"])
        cat["streams"][0]["sync_mode"] = "incremental"
        err = self.read(cat, expect_rc=1).trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("UNLOGGED", err["message"])
        self.assertIn("SET LOGGED", err["message"])
        # a foreign partition's changes are not in this server's WAL either
        cluster.psql("CREATE EXTENSION IF NOT EXISTS file_fdw; DROP SERVER IF EXISTS files CASCADE;"
                     "CREATE SERVER files FOREIGN DATA WRAPPER file_fdw; DROP TABLE IF EXISTS fp;"
                     "CREATE TABLE fp (id int, v text) PARTITION BY RANGE (id); ALTER TABLE fp REPLICA IDENTITY FULL;"
                     "CREATE TABLE fp1 PARTITION OF fp FOR VALUES FROM (0) TO (10); ALTER TABLE fp1 REPLICA IDENTITY FULL;"
                     "CREATE FOREIGN TABLE fp2 PARTITION OF fp FOR VALUES FROM (10) TO (20) SERVER files "
                     "OPTIONS (filename '/dev/null');"
                     "ALTER TABLE fp OWNER TO capture; ALTER TABLE fp1 OWNER TO capture; ALTER TABLE fp2 OWNER TO capture;")
        self.addCleanup(cluster.psql, "DROP TABLE IF EXISTS fp; DROP SERVER IF EXISTS files CASCADE;")
        disc = self.discover()
        self.assertEqual({s["name"]: s for s in disc["catalog"]["streams"]}["fp"]["supported_sync_modes"], ["full_refresh"])
        r = self.read(configured_catalog(disc, streams=["meta", "nd"]), cfg=self.cfg(backfill_chunk_size=1))
        self.assertTrue(any("has the name of a CDC metadata field" in l for l in r.logs()), r.logs())
        for line in r.raw.splitlines():
            if '"RECORD"' in line and '"meta"' in line:
                self.assertEqual(line.count('"_ab_cdc_lsn"'), 1, line)
                self.assertEqual(line.count('"_ab_cdc_deleted_at"'), 1, line)
        self.assertEqual([x["data"]["_ab_cdc_deleted_at"] for x in r.records("meta")], [None])
        self.assertEqual(sorted(x["data"]["name"] for x in r.records("nd")), ["A", "B", "a", "b"])
        self.drop_slot()

    def test_slow_reader_of_stdout_does_not_time_out_the_walsender(self):
        """A reader of stdout that pauses holds the stream up (nothing is read meanwhile), but the
        walsender hears from the read: it does not drop the connection after wal_sender_timeout.
        (The read answers every second while held up: 3 s leaves room for an ASan build on a
        loaded CI machine, where 2 s once ran out; the pause stays well past it.)"""
        cluster.psql("ALTER SYSTEM SET wal_sender_timeout = '3s'; SELECT pg_reload_conf();")
        self.addCleanup(cluster.psql, "ALTER SYSTEM RESET wal_sender_timeout; SELECT pg_reload_conf();")
        cluster.psql("DROP TABLE IF EXISTS slow; CREATE TABLE slow (id int PRIMARY KEY, v text); ALTER TABLE slow OWNER TO capture;")
        cat = configured_catalog(self.discover(), streams=["slow"])
        state = self.read(cat).states()[-1]
        for i in range(20):
            cluster.psql("INSERT INTO slow SELECT g, repeat('x', 100) FROM generate_series(%d, %d) g;"
                         % (i * 10000 + 1, (i + 1) * 10000))
        p = subprocess.Popen(self.read_argv(cat, state=state), stdout=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        head = p.stdout.read(1 << 16)
        time.sleep(8)
        out = head + p.stdout.read()
        self.assertEqual(p.wait(timeout=60), 0, out[-2000:])
        recs = [m for m in map(json.loads, out.decode().splitlines()) if m["type"] == "RECORD"]
        self.assertEqual(len(recs), 200000)

    def test_publication_that_leaves_changes_out_is_refused(self):
        """A publication made by hand with a column list, a row filter, or only some actions would
        leave changes out silently: a config error names it and the fix."""
        cluster.psql("DROP TABLE IF EXISTS pf; DROP PUBLICATION IF EXISTS sp_pub_f;"
                     "CREATE TABLE pf (id int PRIMARY KEY, a text, b text); ALTER TABLE pf OWNER TO capture;"
                     "CREATE PUBLICATION sp_pub_f FOR TABLE pf (id, a);")
        self.addCleanup(cluster.psql, "DROP PUBLICATION IF EXISTS sp_pub_f;")
        self.addCleanup(lambda: cluster.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sp_slot_f'") and
                        cluster.psql("SELECT pg_drop_replication_slot('sp_slot_f')"))
        cfg = self.cfg(publication="sp_pub_f", replication_slot="sp_slot_f")
        cat = configured_catalog(self.discover(cfg), streams=["pf"])
        for alter, says in (("", "column list"), ("SET TABLE pf WHERE (id < 100)", "row filter"),
                            ("SET TABLE pf; ALTER PUBLICATION sp_pub_f SET (publish = 'insert, update')",
                             "does not publish every INSERT, UPDATE and DELETE")):
            if alter:
                cluster.psql("ALTER PUBLICATION sp_pub_f " + alter)
            err = self.read(cat, cfg=cfg, expect_rc=1).trace_errors()[0]
            self.assertEqual(err["failure_type"], "config_error")
            self.assertIn(says, err["message"])
            self.assertEqual(cluster.query("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'sp_slot_f'"), [])
        cluster.psql("ALTER PUBLICATION sp_pub_f SET (publish = 'insert, update, delete')")
        r = self.read(cat, cfg=cfg)
        self.assertTrue(any("does not publish TRUNCATE" in l for l in r.logs()), r.logs())

    def test_heartbeat_action_query(self):
        """The heartbeat runs with the default search_path (Airbyte documents an unqualified
        INSERT INTO airbyte_heartbeat); one that fails is a config error naming it."""
        cluster.psql("DROP TABLE IF EXISTS airbyte_heartbeat, hbt; CREATE TABLE airbyte_heartbeat (id int PRIMARY KEY, n int);"
                     "ALTER TABLE airbyte_heartbeat OWNER TO capture; CREATE TABLE hbt (id int PRIMARY KEY);"
                     "ALTER TABLE hbt OWNER TO capture;")
        cat = configured_catalog(self.discover(), streams=["hbt"])
        cfg = self.cfg(heartbeat_action_query="INSERT INTO airbyte_heartbeat VALUES (1, 1) "
                                              "ON CONFLICT (id) DO UPDATE SET n = airbyte_heartbeat.n + 1")
        self.read(cat, cfg=cfg)
        self.read(cat, cfg=cfg)
        self.assertEqual(cluster.query("SELECT n FROM airbyte_heartbeat"), [["2"]])
        r = self.read(cat, cfg=self.cfg(heartbeat_action_query="UPDATE no_such_table SET n = 1"), expect_rc=1)
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("heartbeat_action_query", err["message"])
        self.assertIn("no_such_table", err["message"])
        # check says so first, and runs a good one without keeping its effect
        r = run_connector(["check"], self.tmp, config=self.cfg(heartbeat_action_query="UPDATE no_such_table SET n = 1"))
        st = r.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("heartbeat_action_query", st["message"])
        r = run_connector(["check"], self.tmp, config=cfg)
        self.assertEqual(r.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"], "SUCCEEDED", r.raw)
        self.assertEqual(cluster.query("SELECT n FROM airbyte_heartbeat"), [["2"]])

    def test_idle_read_is_quick_and_advances(self):
        cluster.psql("DROP TABLE IF EXISTS idle; CREATE TABLE idle (id int PRIMARY KEY); ALTER TABLE idle OWNER TO capture;"
                     "DROP TABLE IF EXISTS other; CREATE TABLE other (id int);")
        cat = configured_catalog(self.discover(), streams=["idle"])
        r = self.read(cat)
        state = r.states()[-1]
        lsn0 = state["global"]["shared_state"]["lsn"]
        # unrelated WAL: another table, not captured
        cluster.psql("INSERT INTO other SELECT generate_series(1, 20000);")
        r = self.read(cat, state=state)
        self.assertLess(r.seconds, 5)
        self.assertEqual(r.records(), [])
        lsn1 = r.states()[-1]["global"]["shared_state"]["lsn"]
        def num(l):
            hi, lo = l.split("/")
            return (int(hi, 16) << 32) + int(lo, 16)
        self.assertGreater(num(lsn1), num(lsn0) + 20000 * 20, "state moves past unrelated WAL")
        # the next read confirms it, so the slot does not pin that WAL
        r = self.read(cat, state=r.states()[-1])
        confirmed = cluster.query("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '%s'" % self.slot)[0][0]
        self.assertEqual(num(confirmed), num(lsn1))

    def test_resume_from_older_state_repeats_without_loss(self):
        cluster.psql("DROP TABLE IF EXISTS ev; CREATE TABLE ev (id int PRIMARY KEY, v int); ALTER TABLE ev OWNER TO capture;")
        cat = configured_catalog(self.discover(), streams=["ev"])
        s0 = self.read(cat).states()[-1]
        cluster.psql("INSERT INTO ev SELECT g, g FROM generate_series(1, 100) g;")
        r1 = self.read(cat, state=s0)
        self.assertEqual(len(r1.records()), 100)
        # the platform lost r1's state: the next read starts from s0 again and must repeat everything
        cluster.psql("INSERT INTO ev SELECT g, g FROM generate_series(101, 150) g;")
        r2 = self.read(cat, state=s0)
        self.assertEqual(sorted(x["data"]["id"] for x in r2.records()), list(range(1, 151)))
        # a state older than what the slot confirmed cannot be served: a clear error
        r3 = self.read(cat, state=r2.states()[-1])
        r4 = self.read(cat, state=s0, expect_rc=1)
        err = r4.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("Re-sync data", err["message"])
        # and with "Re-sync data" it re-syncs the stream
        r5 = self.read(cat, state=s0, cfg=self.cfg(invalid_cdc_cursor_position_behavior="Re-sync data"))
        self.assertEqual(sorted(x["data"]["id"] for x in r5.records()), list(range(1, 151)))

    def test_key_collation_changed_mid_backfill_starts_it_again(self):
        """A text key whose collation changes between two reads of its backfill orders its rows
        anew: 'Z' came after the saved cursor under ICU's order and comes before it under "C", so
        continuing after the cursor would never copy it. The saved key names its collation, and
        the backfill starts again."""
        cluster.psql("""
            DROP TABLE IF EXISTS coll;
            CREATE TABLE coll (k text COLLATE "und-x-icu" PRIMARY KEY, v text); ALTER TABLE coll OWNER TO capture;
            INSERT INTO coll VALUES ('a', '1'), ('Z', '2');
            INSERT INTO coll SELECT 'b' || lpad(g::text, 5, '0'), 'x' FROM generate_series(1, 3000) g;""")
        cat = configured_catalog(self.discover(), streams=["coll"])
        dest = Destination({"coll": ["k"]})
        out_path = os.path.join(self.tmp, "out1")
        p = self.start(self.read_argv(cat, cfg=self.cfg(backfill_chunk_size=1)), out_path)
        deadline = time.time() + 60
        while not any(m["type"] == "STATE" and m["state"]["global"]["stream_states"][0]["stream_state"].get("cursor")
                      for m in self.messages(out_path)):
            self.assertIsNone(p.poll(), "the read ended before its first backfill chunk")
            self.assertLess(time.time(), deadline)
            time.sleep(0.01)
        self.sigterm(p)
        state = dest.apply_until_last_state(self.messages(out_path))
        ss = state["global"]["stream_states"][0]["stream_state"]
        self.assertEqual(ss["phase"], "backfill")
        self.assertEqual(ss["cursor_key"], '"k" text COLLATE pg_catalog."und-x-icu"')
        self.assertNotIn("Z", [d["data"]["k"] for d in [m["record"] for m in self.messages(out_path) if m["type"] == "RECORD"]])
        cluster.psql('ALTER TABLE coll ALTER COLUMN k TYPE text COLLATE "C";')
        r = self.read(cat, state=state, cfg=self.cfg(backfill_chunk_size=500))
        self.assertTrue(any("backfilling it again from the start" in m["log"]["message"] for m in r.messages if m["type"] == "LOG"))
        dest.apply_until_last_state(r.messages)
        self.assertEqual(dest.table("coll"), self.full_refresh(["coll"])["coll"])

    def test_large_transaction_streams_in_bounded_memory(self):
        cluster.psql("DROP TABLE IF EXISTS bulk; CREATE TABLE bulk (id int PRIMARY KEY, pad text); ALTER TABLE bulk OWNER TO capture;")
        cat = configured_catalog(self.discover(), streams=["bulk"])
        state = self.read(cat).states()[-1]
        cluster.psql("INSERT INTO bulk SELECT g, repeat('p', 200) FROM generate_series(1, 200000) g;")
        r = run_connector(["read"], self.tmp, config=self.cfg(), catalog=cat, state=[state],
                          env={"SP_REPORT_RSS": "1"})
        self.assertEqual(r.rc, 0)
        self.assertEqual(len(r.records()), 200000)
        ids = [x["data"]["id"] for x in r.records()]
        self.assertEqual(len(set(ids)), 200000)


class CatalogChangesTest(ReadBase):
    slot = "sp_slot_cc"
    pub = "sp_pub_cc"

    def setUp(self):
        super().setUp()
        self.drop_slot()
        cluster.psql("""
            DROP TABLE IF EXISTS cc_a, cc_b;
            CREATE TABLE cc_a (id int PRIMARY KEY, v text); CREATE TABLE cc_b (id int PRIMARY KEY, v text);
            ALTER TABLE cc_a OWNER TO capture; ALTER TABLE cc_b OWNER TO capture;
            INSERT INTO cc_a SELECT g, 'a' || g FROM generate_series(1, 300) g;
            INSERT INTO cc_b SELECT g, 'b' || g FROM generate_series(1, 400) g;
        """)

    def test_table_out_of_the_publication_for_a_while(self):
        """A table taken out of the publication and put back between reads: its changes in
        between were never decoded, so the next read backfills it again (a state stays put by a
        table that stayed in)."""
        cat = configured_catalog(self.discover(), streams=["cc_a", "cc_b"])
        dest = Destination({"cc_a": ["id"], "cc_b": ["id"]})
        r = self.read(cat)
        state = dest.apply_until_last_state(r.messages)
        cluster.psql("ALTER PUBLICATION %s DROP TABLE cc_a;"
                     "UPDATE cc_a SET v = 'while out' WHERE id <= 5; INSERT INTO cc_a VALUES (1000, 'inserted while out');"
                     "ALTER PUBLICATION %s ADD TABLE cc_a;"
                     "UPDATE cc_b SET v = 'b changed' WHERE id = 1;" % (self.pub, self.pub))
        r = self.read(cat, state=state)
        self.assertTrue(any("left publication" in l for l in r.logs()), r.logs())
        self.assertEqual(len(r.records("cc_a")), 301)
        self.assertEqual([x["data"]["id"] for x in r.records("cc_b")], [1])
        state = dest.apply_until_last_state(r.messages)
        src = self.full_refresh(["cc_a", "cc_b"])
        for t in ("cc_a", "cc_b"):
            self.assertEqual(dest.table(t), src[t], t)
        # nothing changed since: nothing read again
        r = self.read(cat, state=state)
        self.assertEqual(r.records(), [])

    def test_table_added_later_and_removed(self):
        disc = self.discover()
        only_a = configured_catalog(disc, streams=["cc_a"])
        both = configured_catalog(disc, streams=["cc_a", "cc_b"])
        dest = Destination({"cc_a": ["id"], "cc_b": ["id"]})
        cfg = self.cfg(backfill_chunk_size=100)
        r = self.read(only_a, cfg=cfg)
        state = dest.apply_until_last_state(r.messages)
        self.assertEqual(len(r.records("cc_b")), 0)
        cluster.psql("UPDATE cc_a SET v = 'changed' WHERE id <= 10; UPDATE cc_b SET v = 'changed' WHERE id <= 10;")
        # cc_b joins: it is backfilled, cc_a keeps its position and streams its changes
        r = self.read(both, state=state, cfg=cfg)
        self.assertEqual(len(r.records("cc_b")), 400)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records("cc_a")), list(range(1, 11)))
        pubs = cluster.query("SELECT tablename FROM pg_publication_tables WHERE pubname = '%s' ORDER BY 1" % self.pub)
        self.assertEqual([p[0] for p in pubs], ["cc_a", "cc_b"])
        state = dest.apply_until_last_state(r.messages)
        cluster.psql("DELETE FROM cc_a WHERE id = 1; DELETE FROM cc_b WHERE id = 1;")
        r = self.read(both, state=state, cfg=cfg)
        state = dest.apply_until_last_state(r.messages)
        src = self.full_refresh(["cc_a", "cc_b"])
        self.assertEqual(dest.table("cc_a"), src["cc_a"])
        self.assertEqual(dest.table("cc_b"), src["cc_b"])
        # cc_a removed from the catalog: no longer read, and gone from the state
        cluster.psql("UPDATE cc_a SET v = 'after removal'; UPDATE cc_b SET v = 'x' WHERE id = 2;")
        only_b = configured_catalog(disc, streams=["cc_b"])
        r = self.read(only_b, state=state, cfg=cfg)
        self.assertEqual(r.records("cc_a"), [])
        self.assertEqual([x["data"]["id"] for x in r.records("cc_b")], [2])
        names = [s["stream_descriptor"]["name"] for s in r.states()[-1]["global"]["stream_states"]]
        self.assertEqual(names, ["cc_b"])


    def test_odd_relations_in_the_catalog(self):
        """Relations discover must describe or leave out with care, and catalogs that name them
        oddly: each read either validates against the discovered schema or fails naming the fix"""
        self.drop_slot()
        cluster.psql("""
            DROP TABLE IF EXISTS cc_none, cc_dropped, cc_gen, cc_meta, cc_dims, other.cc_a CASCADE;
            DROP MATERIALIZED VIEW IF EXISTS cc_mv_nodata, cc_mv; DROP DOMAIN IF EXISTS cc_matrix;
            CREATE SCHEMA IF NOT EXISTS other; GRANT USAGE ON SCHEMA other TO capture;
            CREATE TABLE other.cc_a (id int PRIMARY KEY); ALTER TABLE other.cc_a OWNER TO capture;
            CREATE TABLE cc_none (); CREATE TABLE cc_dropped (a int); ALTER TABLE cc_dropped DROP COLUMN a;
            CREATE TABLE cc_gen (a int, b int GENERATED ALWAYS AS (a * 2) STORED);
            GRANT SELECT (b) ON cc_gen TO capture; ALTER TABLE cc_gen REPLICA IDENTITY FULL;
            INSERT INTO cc_none DEFAULT VALUES; INSERT INTO cc_dropped DEFAULT VALUES; INSERT INTO cc_gen VALUES (1);
            CREATE TABLE cc_meta (id int PRIMARY KEY, "_ab_cdc_lsn" text, v text);
            INSERT INTO cc_meta VALUES (1, 'abc', 'x');
            CREATE DOMAIN cc_matrix AS int[][];
            CREATE TABLE cc_dims (id int PRIMARY KEY, m cc_matrix, a2 int[][]);
            INSERT INTO cc_dims VALUES (1, '{{1,2},{3,4}}', '{{5,6},{7,8}}');
            CREATE MATERIALIZED VIEW cc_mv_nodata AS SELECT 1 AS x WITH NO DATA;
            CREATE MATERIALIZED VIEW cc_mv AS SELECT 1 AS x; GRANT SELECT ON cc_mv TO capture;
            ALTER TABLE cc_none OWNER TO capture; ALTER TABLE cc_dropped OWNER TO capture;
            ALTER TABLE cc_meta OWNER TO capture; ALTER TABLE cc_dims OWNER TO capture;
            ALTER MATERIALIZED VIEW cc_mv_nodata OWNER TO capture;
        """)
        self.addCleanup(cluster.psql, "DROP TABLE cc_none, cc_dropped, cc_gen, cc_meta, cc_dims, other.cc_a;"
                        "DROP MATERIALIZED VIEW cc_mv_nodata, cc_mv; DROP DOMAIN cc_matrix;")
        cfg = self.cfg()
        disc = self.discover(cfg)
        names = [s["name"] for s in disc["catalog"]["streams"]]
        # no column to read (in CDC, generated columns are left out): no stream
        for gone in ("cc_none", "cc_dropped", "cc_gen"):
            self.assertNotIn(gone, names)
        dims = [s for s in disc["catalog"]["streams"] if s["name"] == "cc_dims"][0]["json_schema"]["properties"]
        for col in ("m", "a2"):
            self.assertEqual(dims[col]["items"]["type"], ["null", "array"], col)
        # a catalog naming them anyway: they are skipped with a warning
        cat = configured_catalog(disc, streams=["cc_meta", "cc_dims"], sync_mode="full_refresh")
        extra = json.loads(json.dumps(cat["streams"][0]))
        extra["stream"]["name"] = "cc_none"
        cat["streams"].append(extra)
        r = self.read(cat, cfg=cfg)    # validates each record against its discovered schema
        self.assertTrue(any("cc_none has no column" in l for l in r.logs()), r.logs())
        self.assertEqual([x["data"] for x in r.records("cc_meta")], [{"id": 1, "v": "x"}])
        self.assertTrue(any("_ab_cdc_lsn has the name of a CDC metadata field" in l for l in r.logs()))
        self.assertEqual(r.records("cc_dims")[0]["data"]["m"], [[1, 2], [3, 4]])
        # the same tables by CDC validate too
        cdc = configured_catalog(disc, streams=["cc_meta", "cc_dims"])
        self.read(cdc, cfg=cfg)
        self.drop_slot()
        # a materialized view never refreshed, and one by CDC: errors naming the fix
        for streams, mode, says in ((["cc_mv_nodata"], "full_refresh", "REFRESH MATERIALIZED VIEW"),
                                    (["cc_mv"], "incremental", "it is a materialized view")):
            c = configured_catalog(disc, streams=streams, sync_mode="full_refresh")
            c["streams"][0]["sync_mode"] = mode
            err = self.read(c, cfg=cfg, expect_rc=1).trace_errors()[0]
            self.assertEqual(err["failure_type"], "config_error", err)
            self.assertIn(says, err["message"])
        # no namespace: the name must say which table
        c = configured_catalog(disc, streams=["cc_meta"], sync_mode="full_refresh")
        del c["streams"][0]["stream"]["namespace"]
        self.assertEqual(len(self.read(c, cfg=cfg).records("cc_meta")), 1)
        two = self.cfg()
        two["schemas"] = ["other", "public"]
        c = configured_catalog(self.discover(two), streams=["cc_a"], sync_mode="full_refresh")
        del c["streams"][0]["stream"]["namespace"]
        err = self.read(c, cfg=two, expect_rc=1).trace_errors()[0]
        self.assertIn("give the stream its namespace", err["message"])
        # a misspelt schema beside a good one is named
        typo = self.cfg()
        typo["schemas"] = ["public", "pubilc"]
        r = run_connector(["discover"], self.tmp, config=typo)
        self.assertTrue(any('schema "pubilc"' in l for l in r.logs()), r.logs())
        # a cursor_field that is a path into a column (Standard)
        std = cluster.config(cdc=False)
        c = configured_catalog(self.discover(std), streams=["cc_meta"])
        c["streams"][0]["cursor_field"] = ["v", "x"]
        err = self.read(c, cfg=std, expect_rc=1).trace_errors()[0]
        self.assertIn("a path into a column", err["message"])
        # a cursor of a type without an ordering is named as the cursor
        cluster.psql("ALTER TABLE cc_meta ADD COLUMN j json;")
        c = configured_catalog(self.discover(std), streams=["cc_meta"])
        c["streams"][0]["cursor_field"] = ["j"]
        err = self.read(c, cfg=std, expect_rc=1).trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error", err)
        self.assertIn("ordering by the cursor field j (choose a cursor column whose type has an ordering)",
                      err["message"])


    def test_infinity_in_a_key_keeps_rows_apart(self):
        """A key column's ±infinity (valid_to in a temporal table) goes out as PostgreSQL prints
        it, in full refresh (binary COPY), CDC backfill and the stream, so a destination
        deduplicating on the key keeps every row; a column outside the key is nulled as usual"""
        self.drop_slot()
        cluster.psql("""
            DROP TABLE IF EXISTS cc_hist;
            CREATE TABLE cc_hist (id int, valid_to timestamptz, d date, ts timestamp, at timestamptz,
                                  v text, PRIMARY KEY (id, valid_to, d, ts));
            ALTER TABLE cc_hist OWNER TO capture;
            INSERT INTO cc_hist VALUES (1, 'infinity', 'infinity', '-infinity', 'infinity', 'current'),
                                       (1, '-infinity', '-infinity', 'infinity', '-infinity', 'ancient'),
                                       (1, '2020-01-01 00:00+00', '2020-01-01', '2020-01-01', now(), 'old');
        """)
        self.addCleanup(cluster.psql, "DROP TABLE cc_hist;")
        want = [("-infinity", "-infinity", "infinity", "ancient"),
                ("2020-01-01T00:00:00Z", "2020-01-01", "2020-01-01T00:00:00", "old"),
                ("infinity", "infinity", "-infinity", "current")]

        def rows(records):
            for x in records:
                nulled = [c["field"] for c in x.get("meta", {}).get("changes", [])]
                self.assertEqual(nulled, ["at"] if x["data"]["at"] is None else [], x)
            return sorted((x["data"]["valid_to"], x["data"]["d"], x["data"]["ts"], x["data"]["v"])
                          for x in records)
        std = cluster.config(cdc=False)
        fr = configured_catalog(self.discover(std), streams=["cc_hist"], sync_mode="full_refresh")
        self.assertEqual(rows(self.read(fr, cfg=std).records("cc_hist")), want)
        cat = configured_catalog(self.discover(), streams=["cc_hist"])
        dest = Destination({"cc_hist": ["id", "valid_to", "d", "ts"]})
        r = self.read(cat)
        self.assertEqual(rows(r.records("cc_hist")), want)
        state = dest.apply_until_last_state(r.messages)
        cluster.psql("UPDATE cc_hist SET v = v || '!'; DELETE FROM cc_hist WHERE v = 'ancient!';")
        r = self.read(cat, state=state)
        changed = [x for x in r.records("cc_hist") if x["data"]["_ab_cdc_deleted_at"] is None]
        self.assertEqual(rows(changed), [(a, b, c, v + "!") for a, b, c, v in want])
        deleted = [x["data"] for x in r.records("cc_hist") if x["data"]["_ab_cdc_deleted_at"]]
        self.assertEqual([(x["valid_to"], x["d"], x["ts"]) for x in deleted], [want[0][:3]])
        dest.apply_until_last_state(r.messages)
        self.assertEqual(len(dest.table("cc_hist")), 2)
        self.drop_slot()

    def test_key_values_json_cannot_carry(self):
        """A key the user configured (a keyless table: temporal tables often have an exclusion
        constraint instead) keeps ±infinity too; a numeric or float key's NaN or Infinity is
        nulled with a meta change and a warning, a line of its own after the record"""
        self.drop_slot()
        cluster.psql("""
            DROP TABLE IF EXISTS cc_temporal, cc_nan;
            CREATE TABLE cc_temporal (id int NOT NULL, valid_to timestamptz NOT NULL, v text);
            INSERT INTO cc_temporal VALUES (1, 'infinity', 'cur'), (1, '-infinity', 'old');
            CREATE TABLE cc_nan (n numeric PRIMARY KEY, f float8);
            INSERT INTO cc_nan VALUES ('NaN', 'Infinity'), (1, 1);
            ALTER TABLE cc_temporal OWNER TO capture; ALTER TABLE cc_nan OWNER TO capture;
        """)
        self.addCleanup(cluster.psql, "DROP TABLE cc_temporal, cc_nan;")
        std = cluster.config(cdc=False)
        cat = configured_catalog(self.discover(std), streams=["cc_temporal", "cc_nan"], sync_mode="full_refresh")
        for c in cat["streams"]:
            if c["stream"]["name"] == "cc_temporal":
                c["primary_key"] = [["id"], ["valid_to"]]
        r = self.read(cat, cfg=std)     # every stdout line is parsed: a log inside a record fails
        self.assertEqual(sorted(x["data"]["valid_to"] for x in r.records("cc_temporal")), ["-infinity", "infinity"])
        self.assertEqual(sorted(json.dumps([x["data"]["n"], x["data"]["f"]]) for x in r.records("cc_nan")),
                         ["[1, 1]", "[null, null]"])
        warned = [l for l in r.logs() if "key column n holds a value JSON cannot carry" in l]
        self.assertEqual(len(warned), 1, r.logs())
        # the same in a CDC backfill and stream
        cat = configured_catalog(self.discover(), streams=["cc_nan"])
        r = self.read(cat)
        self.assertEqual(len(r.records("cc_nan")), 2)
        cluster.psql("UPDATE cc_nan SET f = 2;")
        r = self.read(cat, state=r.states()[-1])
        self.assertEqual(sorted(x["data"]["f"] for x in r.records("cc_nan")), [2, 2])
        self.assertTrue(any("key column n holds" in l for l in r.logs()), r.logs())
        self.drop_slot()


class LostPositionTest(ReadBase):
    slot = "sp_slot_lost"
    pub = "sp_pub_lost"

    def fails_then_resyncs(self, table, lose_sql, says, rows, transform=None, **cdc):
        """A table of 50 rows read once; then lose_sql (which may add rows) makes the state's
        position unusable (or transform, applied to the state): the read fails with a config error
        that says so (says) and names the fix, and with "Re-sync data" it re-syncs the stream (rows
        records). cdc: more replication_method settings. Returns that read."""
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS {t}; CREATE TABLE {t} (id int PRIMARY KEY); ALTER TABLE {t} OWNER TO capture;"
                     "INSERT INTO {t} SELECT generate_series(1, 50);".format(t=table))
        cat = configured_catalog(self.discover(), streams=[table])
        state = self.read(cat, cfg=self.cfg(**cdc)).states()[-1]
        cluster.psql(lose_sql)
        if transform:
            state = transform(state)
        r = self.read(cat, state=state, expect_rc=1, cfg=self.cfg(**cdc))
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn(says, err["message"])
        self.assertIn("Re-sync data", err["message"])
        r = self.read(cat, state=state, cfg=self.cfg(invalid_cdc_cursor_position_behavior="Re-sync data", **cdc))
        self.assertEqual(len(r.records(table)), rows)
        self.assertTrue(any("re-syncing" in l for l in r.logs()))
        return cat, r

    def test_dropped_slot_fails_or_resyncs(self):
        self.fails_then_resyncs("lp", "SELECT pg_drop_replication_slot('%s');" % self.slot, "no longer exists", 50)

    def test_dropped_publication_fails_or_resyncs(self):
        """A publication dropped since the state was saved: the changes since cannot be decoded
        (the server reads the publication as of each change, before it existed again), so the
        read fails clearly, or re-syncs when told to; never a read that fails every time."""
        cat, r = self.fails_then_resyncs("lq", "DROP PUBLICATION %s; INSERT INTO lq VALUES (51);" % self.pub,
                                         "publication", 51)
        cluster.psql("INSERT INTO lq VALUES (52);")
        r = self.read(cat, state=r.states()[-1])
        self.assertEqual([rec["data"]["id"] for rec in r.records("lq")], [52])
        # created again by hand after the failure: the changes before are still undecodable
        cluster.psql("DROP PUBLICATION %s; INSERT INTO lq VALUES (53); CREATE PUBLICATION %s FOR TABLE lq;"
                     % (self.pub, self.pub))
        r = self.read(cat, state=r.states()[-1], expect_rc=1)
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("created again", err["message"])

    def test_state_ahead_of_the_server_fails_or_resyncs(self):
        """A state from another server, or saved before this one was restored from a backup, is
        ahead of its WAL: resuming would move the slot past changes the server has yet to write,
        and wait for them. The read fails clearly (or re-syncs), and the slot stays where it was."""
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS la; CREATE TABLE la (id int PRIMARY KEY); ALTER TABLE la OWNER TO capture;"
                     "INSERT INTO la SELECT generate_series(1, 50);")
        cat = configured_catalog(self.discover(), streams=["la"])
        state = self.read(cat).states()[-1]
        ahead = json.loads(json.dumps(state))
        hi, lo = state["global"]["shared_state"]["lsn"].split("/")
        ahead["global"]["shared_state"]["lsn"] = "%X/%s" % (int(hi, 16) + 1, lo)
        slot_sql = "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '%s'" % self.slot
        before = cluster.query(slot_sql)
        r = self.read(cat, state=ahead, expect_rc=1)
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("ahead of the server's WAL", err["message"])
        self.assertEqual(cluster.query(slot_sql), before)
        cluster.psql("INSERT INTO la VALUES (51);")
        r = self.read(cat, state=ahead, cfg=self.cfg(invalid_cdc_cursor_position_behavior="Re-sync data"))
        self.assertEqual(len(r.records("la")), 51, [(x["data"]["id"], x["data"]["_ab_cdc_lsn"]) for x in r.records("la")][-3:])
        self.assertEqual(cluster.query("SELECT '%s'::pg_lsn <= pg_current_wal_lsn()"
                                       % r.states()[-1]["global"]["shared_state"]["lsn"]), [["t"]])
        cluster.psql("INSERT INTO la VALUES (52);")
        self.assertEqual([x["data"]["id"] for x in self.read(cat, state=r.states()[-1]).records("la")], [52])


    def test_while_reading_data_behind_the_slot_fails_or_resyncs(self):
        """Under "While reading Data" the slot confirms each state as it is emitted, so a state
        the platform kept from before (a failed sync), or one from before the slot was made again,
        is behind it: the changes in between are gone. That fails clearly, or re-syncs; it used
        to resume from the slot's position with a warning, skipping them."""
        while_reading = {"lsn_commit_behaviour": "While reading Data"}
        cat, r = self.fails_then_resyncs(
            "lw", "INSERT INTO lw SELECT generate_series(100, 104);"
                  "SELECT pg_drop_replication_slot('%s'); SELECT pg_create_logical_replication_slot('%s', 'pgoutput');"
                  "INSERT INTO lw VALUES (200);" % (self.slot, self.slot),
            "While reading Data", 56, **while_reading)

    def test_state_of_another_server_fails_or_resyncs(self):
        """A state saved on another server means nothing here even where its LSN falls inside
        this server's WAL (after a migration or failover the new server's WAL soon passes it):
        the state carries the server's system identifier, and a different one fails clearly or
        re-syncs"""
        def other(state):
            o = json.loads(json.dumps(state))
            sysid = o["global"]["shared_state"]["system_identifier"]
            self.assertEqual(sysid, cluster.query("SELECT system_identifier FROM pg_control_system()")[0][0])
            o["global"]["shared_state"]["system_identifier"] = str(int(sysid) ^ 1)
            return o
        self.fails_then_resyncs("lo", "INSERT INTO lo VALUES (51);", "saved on another server", 51,
                                transform=other)

    def test_reset_streams_on_a_slot_that_lost_its_wal(self):
        """The slot lost its WAL (max_slot_wal_keep_size): a read with the state fails clearly
        (or re-syncs), and a read without one, after the streams are reset as that error advises,
        drops the slot and makes it again instead of failing on it every time"""
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS ll; CREATE TABLE ll (id int PRIMARY KEY); ALTER TABLE ll OWNER TO capture;"
                     "INSERT INTO ll SELECT generate_series(1, 50);")
        cat = configured_catalog(self.discover(), streams=["ll"])
        state = self.read(cat).states()[-1]
        cluster.psql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf();")
        try:
            for _ in range(40):
                if cluster.query("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '%s'"
                                 % self.slot) == [["lost"]]:
                    break
                cluster.psql("INSERT INTO ll SELECT generate_series(1000, 1100); DELETE FROM ll WHERE id >= 1000;"
                             "SELECT pg_switch_wal(); CHECKPOINT;")
            self.assertEqual(cluster.query("SELECT wal_status FROM pg_replication_slots WHERE slot_name = '%s'"
                                           % self.slot), [["lost"]])
        finally:
            cluster.psql("ALTER SYSTEM RESET max_slot_wal_keep_size; SELECT pg_reload_conf();")
        r = self.read(cat, state=state, expect_rc=1)
        self.assertIn("wal_status = lost", r.trace_errors()[0]["message"])
        r = self.read(cat)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records("ll")), list(range(1, 51)))
        self.assertTrue(any("lost WAL" in l for l in r.logs()))
        cluster.psql("INSERT INTO ll VALUES (51);")
        self.assertEqual([x["data"]["id"] for x in self.read(cat, state=r.states()[-1]).records("ll")], [51])

    def test_slot_invalidated_under_a_follow_read(self):
        """The slot outgrows max_slot_wal_keep_size while a --follow read runs (the default
        lsn_commit_behaviour keeps it where the read began): the server ends the read's walsender
        to invalidate it, and the read says so, as a config error no retry gets past"""
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS lf; CREATE TABLE lf (id int PRIMARY KEY); ALTER TABLE lf OWNER TO capture;"
                     "INSERT INTO lf SELECT generate_series(1, 10);")
        cat = configured_catalog(self.discover(), streams=["lf"])
        out_path = os.path.join(self.tmp, "follow.out")
        p = self.start(self.read_argv(cat, cfg=self.cfg(checkpoint_interval_seconds=1)) + ["--follow"], out_path)
        deadline = time.time() + 60
        while not any(m["type"] == "STATE" for m in self.messages(out_path)):
            self.assertIsNone(p.poll(), "the read ended early")
            self.assertLess(time.time(), deadline)
            time.sleep(0.1)
        cluster.psql("ALTER SYSTEM SET max_slot_wal_keep_size = '1MB'; SELECT pg_reload_conf();")
        try:
            for _ in range(40):
                if p.poll() is not None:
                    break
                cluster.psql("INSERT INTO lf SELECT generate_series(1000, 1100); DELETE FROM lf WHERE id >= 1000;"
                             "SELECT pg_switch_wal(); CHECKPOINT;")
                time.sleep(0.2)
            rc = p.wait(timeout=60)
        finally:
            cluster.psql("ALTER SYSTEM RESET max_slot_wal_keep_size; SELECT pg_reload_conf();")
        self.assertEqual(rc, 1)
        err = [m["trace"]["error"] for m in self.messages(out_path)
               if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"][0]
        self.assertEqual(err["failure_type"], "config_error", err)
        self.assertIn("lost WAL it needs while this read ran", err["message"])

    def test_heartbeat_that_leaves_a_transaction_open(self):
        """A heartbeat query of several statements that leaves a transaction open would wrap the
        read's own work in it: it is rolled back, and the read fails saying why"""
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS lh; CREATE TABLE lh (id int PRIMARY KEY, v text); ALTER TABLE lh OWNER TO capture;"
                     "INSERT INTO lh VALUES (1, 'a');")
        cat = configured_catalog(self.discover(), streams=["lh"])
        state = self.read(cat).states()[-1]
        r = self.read(cat, state=state, expect_rc=1,
                      cfg=self.cfg(heartbeat_action_query="BEGIN; UPDATE lh SET v = 'hb' WHERE id = 1"))
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("left a transaction open", err["message"])
        self.assertEqual(cluster.query("SELECT v FROM lh"), [["a"]], "the heartbeat's change was rolled back")


class FollowTest(ReadBase):
    slot = "sp_slot_follow"
    pub = "sp_pub_follow"

    def test_follow_streams_until_sigterm(self):
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS fol; CREATE TABLE fol (id int PRIMARY KEY); ALTER TABLE fol OWNER TO capture;")
        cat = configured_catalog(self.discover(), streams=["fol"])
        out_path = os.path.join(self.tmp, "out")
        p = self.start(self.read_argv(cat, cfg=self.cfg(checkpoint_interval_seconds=1)) + ["--follow"], out_path)
        time.sleep(1.5)
        cluster.psql("INSERT INTO fol SELECT generate_series(1, 10);")
        time.sleep(2.5)
        self.assertIsNone(p.poll(), "--follow keeps streaming")
        self.sigterm(p)
        msgs = self.messages(out_path)
        recs = [m for m in msgs if m["type"] == "RECORD"]
        self.assertEqual(sorted(m["record"]["data"]["id"] for m in recs), list(range(1, 11)))
        self.assertEqual(msgs[-1]["type"], "TRACE")
        states = [m for m in msgs if m["type"] == "STATE"]
        self.assertTrue(states)
        last_record = max(i for i, m in enumerate(msgs) if m["type"] == "RECORD")
        self.assertTrue(any(m["type"] == "STATE" for m in msgs[last_record:]), "a final STATE covers the records")


    def test_follow_checkpoints_a_quiet_stream_at_once(self):
        """A change on a quiet database reaches the output with a STATE after it as soon as the
        stream is caught up, not when checkpoint_interval_seconds (here an hour) comes round: a
        destination commits records only at a STATE."""
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS quiet; CREATE TABLE quiet (id int PRIMARY KEY, v text); "
                     "ALTER TABLE quiet OWNER TO capture;")
        cat = configured_catalog(self.discover(), streams=["quiet"])
        out_path = os.path.join(self.tmp, "out")

        def wait_for(cond, what):
            deadline = time.monotonic() + 60
            while not cond(self.messages(out_path)):
                self.assertIsNone(p.poll(), "--follow exited while waiting for " + what)
                self.assertLess(time.monotonic(), deadline, "timed out waiting for " + what)
                time.sleep(0.05)

        def streaming(msgs):
            return any(m["type"] == "STATE" and all(s["stream_state"]["phase"] == "streaming"
                                                   for s in m["state"]["global"]["stream_states"]) for m in msgs)

        def checkpointed(v):
            def cond(msgs):
                at = [i for i, m in enumerate(msgs) if m["type"] == "RECORD" and m["record"]["data"].get("v") == v]
                return bool(at) and any(m["type"] == "STATE" for m in msgs[at[-1]:])
            return cond

        p = self.start(self.read_argv(cat, cfg=self.cfg(checkpoint_interval_seconds=3600)) + ["--follow"], out_path)
        wait_for(streaming, "the backfill's state")
        for k in range(3):
            cluster.psql("INSERT INTO quiet VALUES (%d, 'quiet-%d');" % (k, k))
            wait_for(checkpointed("quiet-%d" % k), "a STATE after the record of transaction %d" % k)
        self.sigterm(p)
        recs = [m["record"]["data"] for m in self.messages(out_path) if m["type"] == "RECORD"]
        self.assertEqual(sorted(r["id"] for r in recs), [0, 1, 2])


class SlotBusyTest(ReadBase):
    slot = "sp_slot_busy"
    pub = "sp_pub_busy"

    def start_holder(self):
        """A state for table busy, 20 rows inserted after it, and a --follow run of that state
        holding the slot (which is what a killed run's walsender looks like until it exits).
        Returns (argv of a read of that state, the holder's Popen)."""
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS busy; CREATE TABLE busy (id int PRIMARY KEY); ALTER TABLE busy OWNER TO capture;")
        cat = configured_catalog(self.discover(), streams=["busy"])
        state = self.read(cat).states()[-1]
        cluster.psql("INSERT INTO busy SELECT generate_series(1, 20);")
        argv = self.read_argv(cat, state=state)
        holder = self.start(argv + ["--follow"])
        self.wait_slot_taken(holder)
        return argv, holder

    def start_waiter(self, argv):
        """A read of argv that has said it is waiting for the slot; returns (Popen, output path)."""
        out_path = os.path.join(self.tmp, "waiter.out")
        waiter = self.start(argv, out_path)
        deadline = time.monotonic() + 60
        while True:
            with open(out_path, "rb") as f:
                if b"is in use by process" in f.read():
                    return waiter, out_path
            self.assertIsNone(waiter.poll(), "the second read did not wait for the slot")
            self.assertLess(time.monotonic(), deadline, "the second read never said it was waiting")
            time.sleep(0.05)

    def test_read_waits_for_a_slot_still_held(self):
        """A read that finds its slot still held waits for it to be released instead of failing
        with 'replication slot is active'."""
        argv, holder = self.start_holder()
        waiter, out_path = self.start_waiter(argv)
        self.sigterm(holder)
        if waiter.wait(timeout=120) != 0:
            with open(out_path) as f:
                self.fail("the waiting read failed: " + f.read()[-3000:])
        msgs = self.messages(out_path)
        self.assertTrue(any(m["type"] == "LOG" and "was released" in m["log"]["message"] for m in msgs))
        ids = sorted(m["record"]["data"]["id"] for m in msgs if m["type"] == "RECORD")
        self.assertEqual(ids, list(range(1, 21)))
        last_record = max(i for i, m in enumerate(msgs) if m["type"] == "RECORD")
        self.assertTrue(any(m["type"] == "STATE" for m in msgs[last_record:]), "a STATE covers the records")

    def test_stopped_while_waiting_for_the_slot(self):
        """SIGTERM while waiting for the slot ends the read cleanly: no error, and no STATE, since
        nothing was read."""
        argv, holder = self.start_holder()
        waiter, out_path = self.start_waiter(argv)
        self.sigterm(waiter)
        msgs = self.messages(out_path)
        self.assertEqual([m for m in msgs if m["type"] in ("STATE", "RECORD")], [])
        self.assertEqual([m for m in msgs if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"], [])
        self.sigterm(holder)

class IdentityTest(ReadBase):
    """A CDC stream's key must be in the table's replica identity, or its DELETEs and key updates
    would come without it and the old rows would stay in a deduplicating destination."""
    slot = "sp_slot_ident"
    pub = "sp_pub_ident"

    def setUp(self):
        super().setUp()
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS ident;"
                     "CREATE TABLE ident (id int PRIMARY KEY, u int NOT NULL UNIQUE, v text);"
                     "ALTER TABLE ident OWNER TO capture;"
                     "INSERT INTO ident VALUES (1, 100, 'a'), (2, 200, 'b'), (3, 300, 'c');")
        self.addCleanup(self.drop_slot)

    def test_identity_changed_while_streaming(self):
        cat = configured_catalog(self.discover(), streams=["ident"])
        state = self.read(cat).states()[-1]
        out_path = os.path.join(self.tmp, "out")
        p = self.start(self.read_argv(cat, state=state) + ["--follow"], out_path)
        self.wait_slot_taken(p)
        cluster.psql("ALTER TABLE ident REPLICA IDENTITY USING INDEX ident_u_key;"
                     "INSERT INTO ident VALUES (4, 400, 'd'); DELETE FROM ident WHERE id = 2;")
        # the change comes, and the warning says what it lacks and what to do
        deadline = time.monotonic() + 60
        while not any(m["type"] == "LOG" and "did not hold its key column id" in m["log"]["message"]
                      for m in self.messages(out_path)):
            self.assertIsNone(p.poll(), "the --follow run exited: %s" % self.messages(out_path)[-3:])
            self.assertLess(time.monotonic(), deadline, "no warning came")
            time.sleep(0.1)
        self.sigterm(p)
        # the next read, with the identity still lacking the key, says what to fix before reading
        r = self.read(cat, state=state, expect_rc=1)
        self.assertIn("REPLICA IDENTITY is an index that is not its key", r.trace_errors()[0]["message"])
        self.assertEqual(r.records(), [])
        # fixed, the read gets past those changes (they stay in the WAL: no error on them)
        cluster.psql("ALTER TABLE ident REPLICA IDENTITY DEFAULT;")
        r = self.read(cat, state=state)
        self.assertEqual([x["data"]["id"] for x in r.records()], [4])

    def test_key_rebuilt_with_inserts_in_between(self):
        """A primary key dropped and added again around a bulk load: the INSERTs made without it
        are read, on every read (they need no old key)"""
        cat = configured_catalog(self.discover(), streams=["ident"])
        state = self.read(cat).states()[-1]
        cluster.psql("ALTER TABLE ident DROP CONSTRAINT ident_pkey; INSERT INTO ident VALUES (5, 500, 'e');"
                     "ALTER TABLE ident ADD PRIMARY KEY (id); UPDATE ident SET v = 'a2' WHERE id = 1;")
        r = self.read(cat, state=state)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records()), [1, 5])
        self.assertFalse(any("did not hold its key" in l for l in r.logs()), r.logs())

    def test_key_changed_between_reads(self):
        cat = configured_catalog(self.discover(), streams=["ident"])
        state = self.read(cat).states()[-1]
        cluster.psql("ALTER TABLE ident DROP CONSTRAINT ident_pkey; ALTER TABLE ident ADD PRIMARY KEY (u);"
                     "DELETE FROM ident WHERE id = 2;")
        r = self.read(cat, state=state, expect_rc=1)
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("primary key column id is not in the table's replica identity (u)", err["message"])
        self.assertEqual(r.records(), [])

    def test_identity_nothing_names_it(self):
        cat = configured_catalog(self.discover(), streams=["ident"])
        cluster.psql("ALTER TABLE ident REPLICA IDENTITY NOTHING;")
        r = self.read(cat, expect_rc=1)
        self.assertIn("REPLICA IDENTITY is NOTHING", r.trace_errors()[0]["message"])
        self.assertIn("REPLICA IDENTITY DEFAULT (its primary key) or FULL", r.trace_errors()[0]["message"])


class SlotLimitTest(ReadBase):
    def test_no_free_slot_names_the_fix(self):
        """Every replication slot taken: the first read's error is a config error naming
        max_replication_slots, as check's is"""
        other = Cluster(settings={"max_replication_slots": "1"}).start()
        try:
            other.create_capture_role()
            other.psql("CREATE TABLE sl (id int PRIMARY KEY); ALTER TABLE sl OWNER TO capture;"
                       "SELECT pg_create_logical_replication_slot('taken', 'pgoutput');")
            cfg = other.config()
            cat = configured_catalog(run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0], streams=["sl"])
            r = self.read(cat, cfg=cfg, expect_rc=1)
            err = r.trace_errors()[0]
            self.assertEqual(err["failure_type"], "config_error", err)
            self.assertIn("max_replication_slots", err["message"])
        finally:
            other.stop()


class LockWaitTest(ReadBase):
    """Statements that wait for another session's lock (the publication's DDL, a copy's LOCK
    TABLE): SIGTERM cancels the wait and the read stops cleanly at once, instead of failing when
    lock_timeout (10 s) runs out; and a lock timeout is a transient error that says what held it
    up, not a missing privilege."""
    slot = "sp_slot_lock"
    pub = "sp_pub_lock"

    def setUp(self):
        super().setUp()
        self.drop_slot()
        cluster.psql("DROP TABLE IF EXISTS lk_a, lk_b;"
                     "CREATE TABLE lk_a (id int PRIMARY KEY, v int); ALTER TABLE lk_a OWNER TO capture;"
                     "CREATE TABLE lk_b (id int PRIMARY KEY, v int); ALTER TABLE lk_b OWNER TO capture;"
                     "INSERT INTO lk_a SELECT g, 0 FROM generate_series(1, 100) g;"
                     "INSERT INTO lk_b SELECT g, 0 FROM generate_series(1, 100) g;")
        self.addCleanup(self.drop_slot)

    def hold_lock(self, table):
        """Another session holding an ACCESS EXCLUSIVE lock on table until the test ends"""
        locker = subprocess.Popen(["psql", "-X", "-q", "-h", cluster.sockdir, "-p", str(cluster.port), "-U",
                                   "postgres", "-d", "postgres"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  text=True, user="postgres" if os.geteuid() == 0 else None,
                                  env=dict(os.environ, PGAPPNAME="sp_locker"))
        locker.stdin.write("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300);\n" % table)
        locker.stdin.flush()

        def release():
            # its backend sleeps on, holding the lock, after its psql is gone: end it first
            cluster.psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'sp_locker'")
            locker.kill()
            locker.wait()
            locker.stdin.close()
        self.addCleanup(lambda: locker.poll() is None and release())
        deadline = time.monotonic() + 30
        while cluster.query("SELECT count(*) FROM pg_locks WHERE relation = '%s'::regclass AND mode = "
                            "'AccessExclusiveLock' AND granted" % table) != [["1"]]:
            self.assertLess(time.monotonic(), deadline, "the locker never took its lock")
            time.sleep(0.05)
        return release

    def wait_for_blocked(self, p, query_prefix):
        deadline = time.monotonic() + 60
        while not cluster.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND "
                                "query LIKE '%s%%'" % query_prefix):
            self.assertIsNone(p.poll(), "the read ended before it waited for the lock")
            self.assertLess(time.monotonic(), deadline, "the read never waited for the lock")
            time.sleep(0.05)

    def stop_promptly(self, p, out_path):
        t0 = time.monotonic()
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=60)
        took = time.monotonic() - t0
        msgs = self.messages(out_path)
        self.assertEqual(rc, 0, msgs[-3:])
        self.assertLess(took, 5, "the stop waited for lock_timeout")
        self.assertEqual([m for m in msgs if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"], [])
        return msgs

    def test_sigterm_while_creating_the_publication(self):
        cat = configured_catalog(self.discover(), streams=["lk_a", "lk_b"])
        release = self.hold_lock("lk_b")
        out_path = os.path.join(self.tmp, "out")
        p = self.start(self.read_argv(cat) + ["--follow"], out_path)
        self.wait_for_blocked(p, "CREATE PUBLICATION")
        msgs = self.stop_promptly(p, out_path)
        self.assertEqual([m for m in msgs if m["type"] in ("STATE", "RECORD")], [])
        release()
        # nothing half made: the next read starts from scratch and copies both tables
        r = self.read(cat)
        self.assertEqual(len(r.records()), 200)

    def test_sigterm_while_adding_a_table(self):
        cat = configured_catalog(self.discover(), streams=["lk_a"])
        state = self.read(cat).states()[-1]
        cat = configured_catalog(self.discover(), streams=["lk_a", "lk_b"])
        self.hold_lock("lk_b")
        out_path = os.path.join(self.tmp, "out")
        p = self.start(self.read_argv(cat, state=state) + ["--follow"], out_path)
        self.wait_for_blocked(p, "ALTER PUBLICATION")
        self.stop_promptly(p, out_path)

    def test_sigterm_while_a_full_refresh_waits_to_lock(self):
        cfg = cluster.config(cdc=False)
        cat = configured_catalog(self.discover(cfg), streams=["lk_b"], sync_mode="full_refresh")
        self.hold_lock("lk_b")
        out_path = os.path.join(self.tmp, "out")
        p = self.start(self.read_argv(cat, cfg=cfg), out_path)
        self.wait_for_blocked(p, "BEGIN")
        msgs = self.stop_promptly(p, out_path)
        self.assertEqual([m["trace"]["stream_status"]["status"] for m in msgs if m["type"] == "TRACE"
                          and m["trace"]["type"] == "STREAM_STATUS"], ["STARTED", "INCOMPLETE"])

    def open_transaction(self, seconds):
        """Another session's transaction, holding an xid, open for seconds (then committed)"""
        t = threading.Thread(target=cluster.psql, args=(
            "BEGIN; INSERT INTO lk_a VALUES (1000, 0); SELECT pg_sleep(%d); COMMIT;" % seconds,))
        t.start()
        self.addCleanup(t.join)
        deadline = time.monotonic() + 30
        while not cluster.query("SELECT 1 FROM pg_stat_activity WHERE backend_xid IS NOT NULL AND query LIKE '%pg_sleep%'"):
            self.assertLess(time.monotonic(), deadline, "the transaction never started")
            time.sleep(0.05)

    def test_first_read_waits_for_a_long_transaction(self):
        """Creating the slot waits for every open transaction to end: past lock_timeout (10 s),
        rather than failing the first read whenever a long transaction runs"""
        cat = configured_catalog(self.discover(), streams=["lk_a", "lk_b"])
        self.open_transaction(13)
        r = self.read(cat)
        self.assertGreater(r.seconds, 10)
        self.assertEqual(len(r.records()), 201)

    def test_first_read_names_a_prepared_transaction(self):
        """A prepared transaction holds the slot's creation until it is committed or rolled back
        (one forgotten, for ever): the read fails at once naming it, instead of waiting"""
        cat = configured_catalog(self.discover(), streams=["lk_a"])
        cluster.psql("BEGIN; INSERT INTO lk_b VALUES (1000, 0); PREPARE TRANSACTION 'sp_forgotten';")
        self.addCleanup(lambda: cluster.psql("ROLLBACK PREPARED 'sp_forgotten';"))
        r = self.read(cat, expect_rc=1, timeout=60)
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "transient_error")
        self.assertIn("sp_forgotten", err["message"])
        self.assertIn("ROLLBACK PREPARED", err["message"])
        self.assertLess(r.seconds, 20)

    def test_sigterm_while_creating_the_slot(self):
        cat = configured_catalog(self.discover(), streams=["lk_a"])
        self.open_transaction(30)
        out_path = os.path.join(self.tmp, "out")
        p = self.start(self.read_argv(cat) + ["--follow"], out_path)
        self.wait_for_blocked(p, "CREATE_REPLICATION_SLOT")
        msgs = self.stop_promptly(p, out_path)
        self.assertEqual([m for m in msgs if m["type"] in ("STATE", "RECORD")], [])
        self.assertEqual(cluster.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'" % self.slot),
                         [["0"]])

    def test_lock_timeout_adding_a_table_is_transient(self):
        cat = configured_catalog(self.discover(), streams=["lk_a"])
        state = self.read(cat).states()[-1]
        cat = configured_catalog(self.discover(), streams=["lk_a", "lk_b"])
        self.hold_lock("lk_b")
        r = self.read(cat, state=state, expect_rc=1)
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "transient_error", err)
        self.assertIn("another session held a lock", err["message"])
        self.assertNotIn("ownership", err["message"])


class KeylessRewriteTest(ReadBase):
    """A keyless table is backfilled by ctid block ranges. A rewrite (VACUUM FULL here) moves every
    row to a new ctid: a backfill that went on from its block number would skip the rows moved
    below it. The relfilenode in the state and the check after each chunk catch the rewrite and
    copy the table again."""
    slot = "sp_slot_rw"
    pub = "sp_pub_rw"

    def setUp(self):
        super().setUp()
        self.drop_slot()

    def make_table(self, rows):
        # about 60 rows per 8 kB block
        cluster.psql("DROP TABLE IF EXISTS kl; CREATE TABLE kl (a int, pad text); ALTER TABLE kl REPLICA IDENTITY FULL;"
                     "ALTER TABLE kl OWNER TO capture;"
                     "INSERT INTO kl SELECT g, repeat('x', 100) FROM generate_series(1, %d) g;" % rows)
        return configured_catalog(self.discover(), streams=["kl"])

    @staticmethod
    def kl_state(msg):
        for ss in msg["state"]["global"]["stream_states"]:
            if ss["stream_descriptor"]["name"] == "kl":
                return ss["stream_state"]

    def mid_backfill(self, messages):
        """Index of the first STATE of messages that has kl part-way through its backfill."""
        for i, m in enumerate(messages):
            if m["type"] == "STATE":
                st = self.kl_state(m)
                if st["phase"] == "backfill" and st.get("ctid_block", 0) > 0:
                    return i
        self.fail("no STATE part-way through the backfill")

    def session(self):
        """A psql session of its own: say(sql) runs sql in it and waits for it; and the process"""
        session = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", cluster.sockdir,
                                    "-p", str(cluster.port), "-U", "postgres"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: session.poll() is None and (session.kill(), session.wait()))

        def say(sql):
            session.stdin.write(sql + "\nSELECT 'done';\n")
            session.stdin.flush()
            self.assertEqual(session.stdout.readline().strip(), "done")
        return say, session

    def test_rewrite_between_reads_copies_again(self):
        cat = self.make_table(3000)
        cfg = self.cfg(backfill_chunk_size=100)
        r = self.read(cat, cfg=cfg)
        cut = self.mid_backfill(r.messages)
        st = self.kl_state(r.messages[cut])
        filenode = cluster.query("SELECT pg_relation_filenode('kl')")[0][0]
        self.assertEqual(st["relation_filenode"], int(filenode))
        # the platform kept the records up to a STATE part-way through; then the table is rewritten,
        # its remaining rows packed into the first blocks, below the saved block
        dest = Destination({"kl": None})
        state = dest.apply_until_last_state(r.messages[:cut + 1])
        cluster.psql("DELETE FROM kl WHERE a <= 2500; VACUUM FULL kl;")
        r = self.read(cat, state=state, cfg=cfg)
        self.assertTrue(any("rewritten" in l for l in r.logs()), r.logs())
        dest.apply_until_last_state(r.messages)
        self.assertEqual(len(dest.table("kl")), 500)
        self.assertEqual(dest.table("kl"), self.full_refresh(["kl"])["kl"])
        # a resumed read of a table not rewritten goes on from its block
        dest = Destination({"kl": None})
        self.drop_slot()
        r = self.read(cat, cfg=cfg)
        cut = self.mid_backfill(r.messages)
        state = dest.apply_until_last_state(r.messages[:cut + 1])
        r = self.read(cat, state=state, cfg=cfg)
        self.assertFalse(any("rewritten" in l for l in r.logs()), r.logs())
        self.assertLess(len(r.records("kl")), 500)
        dest.apply_until_last_state(r.messages)
        self.assertEqual(dest.table("kl"), self.full_refresh(["kl"])["kl"])
        # a saved block without a relfilenode (a state from an older version) cannot be checked:
        # the copy starts again from the start
        del self.kl_state({"state": state})["relation_filenode"]
        r = self.read(cat, state=state, cfg=cfg)
        self.assertTrue(any("no relfilenode" in l for l in r.logs()), r.logs())
        self.assertEqual(len(r.records("kl")), 500)

    def test_rewrite_during_the_backfill_copies_again(self):
        """The rewrite commits while the connector waits to read the relfilenode after a chunk:
        the check must see the new relfilenode, not pair the old one with the new file's size."""
        cat = self.make_table(60000)
        argv = self.read_argv(cat, cfg=self.cfg(backfill_chunk_size=100))
        p = subprocess.Popen(argv, stdout=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        lines = []
        past = threading.Event()

        def drain():
            with p.stdout:
                for line in p.stdout:
                    lines.append(line)
                    if b'"type":"STATE"' in line and self.kl_state(json.loads(line)).get("ctid_block", 0) >= 60:
                        past.set()
        drainer = threading.Thread(target=drain)
        drainer.start()
        self.assertTrue(past.wait(60), "the backfill did not reach block 60 within a minute")
        # Hold the table locked until the connector waits for it in its check after a chunk (when
        # it waits in a chunk's COPY instead, let it go and try again), then delete most rows and
        # rewrite the table in the same transaction: the survivors land in the first 20 blocks,
        # below the saved block.
        say, session = self.session()
        deadline = time.monotonic() + 60
        while True:
            self.assertIsNone(p.poll(), "the backfill ended before the connector waited in its check")
            self.assertLess(time.monotonic(), deadline, "the connector never waited in its check")
            say("BEGIN; LOCK TABLE kl IN ACCESS EXCLUSIVE MODE;")
            waiting = []
            while not waiting and p.poll() is None and time.monotonic() < deadline:
                waiting = cluster.query("SELECT query FROM pg_stat_activity WHERE application_name = 'source-postgres' "
                                        "AND wait_event_type = 'Lock'")
                time.sleep(0.005)
            if waiting and "pg_relation_filenode" in waiting[0][0]:
                break
            say("ROLLBACK;")
        say("DELETE FROM kl WHERE a <= 59000; ALTER TABLE kl ALTER COLUMN pad TYPE text USING pad || ''; COMMIT;")
        session.stdin.close()
        session.wait()
        session.stdout.close()
        self.assertEqual(p.wait(timeout=120), 0)
        drainer.join()
        msgs = [json.loads(l) for l in lines if l.strip()]
        logs = [m["log"]["message"] for m in msgs if m["type"] == "LOG"]
        self.assertTrue(any("rewritten" in l for l in logs), logs)
        dest = Destination({"kl": None})
        state = dest.apply_until_last_state(msgs)
        # the read's batch ended where it began: the next one streams the deletes
        r = self.read(cat, state=state, cfg=self.cfg(backfill_chunk_size=100))
        self.assertEqual(len(r.records("kl")), 59000)
        dest.apply_until_last_state(r.messages)
        self.assertEqual(len(dest.table("kl")), 1000)
        self.assertEqual(dest.table("kl"), self.full_refresh(["kl"])["kl"])


    def first_read_with_a_change_before_the_copy(self, sql, column_privileges=False, joining=False):
        """A first read of kl (100 rows) held up once the slot is made, before kl's copy, while
        sql commits; then a read from its state. Returns the messages of both. What holds it up
        is the copy of kl_gate, a keyless table before kl whose row-level security policy waits
        for an advisory lock. With column_privileges the read's role may read kl's columns but
        not lock it, and so copies it locking it with a SELECT. When joining, the read is not
        the first: it resumes one of another table, and kl (with kl_gate) joins it."""
        cat = self.make_table(100)
        cluster.psql("DROP TABLE IF EXISTS kl_gate; CREATE TABLE kl_gate (g int); INSERT INTO kl_gate VALUES (1);"
                     "ALTER TABLE kl_gate REPLICA IDENTITY FULL; ALTER TABLE kl_gate OWNER TO capture;"
                     "ALTER TABLE kl_gate ENABLE ROW LEVEL SECURITY; ALTER TABLE kl_gate FORCE ROW LEVEL SECURITY;"
                     "CREATE POLICY gate ON kl_gate USING (pg_advisory_xact_lock_shared(4242)::text IS NOT NULL);")
        self.addCleanup(lambda: cluster.psql("DROP TABLE IF EXISTS kl_gate;"))
        state, before = None, []
        if joining:
            cluster.psql("DROP TABLE IF EXISTS kl_first; CREATE TABLE kl_first (id int PRIMARY KEY);"
                         "ALTER TABLE kl_first OWNER TO capture; INSERT INTO kl_first VALUES (1);")
            self.addCleanup(lambda: cluster.psql("DROP TABLE IF EXISTS kl_first;"))
            before = configured_catalog(self.discover(), streams=["kl_first"])["streams"]
            state = self.read({"streams": before}).states()[-1]
        else:
            cluster.psql("CREATE PUBLICATION %s FOR TABLE kl_gate, kl;" % self.pub)
        if column_privileges:
            cluster.psql("ALTER TABLE kl OWNER TO postgres; GRANT SELECT (a, pad, ctid) ON kl TO capture;")
        gate = configured_catalog(self.discover(), streams=["kl_gate"])["streams"]
        say, session = self.session()
        say("DO $$ BEGIN PERFORM pg_advisory_lock(4242); END $$;")
        out = os.path.join(self.tmp, "out.jsonl")
        p = self.start(self.read_argv({"streams": before + gate + cat["streams"]}, state=state), out)
        deadline = time.monotonic() + 60
        while not cluster.query("SELECT 1 FROM pg_stat_activity WHERE application_name = "
                                "'source-postgres' AND wait_event = 'advisory'"):
            self.assertIsNone(p.poll(), "the read ended without waiting for the lock")
            self.assertLess(time.monotonic(), deadline, "the read never waited for the lock")
            time.sleep(0.005)
        self.assertEqual(cluster.query("SELECT count(*) FROM pg_replication_slots WHERE slot_name = '%s'" % self.slot), [["1"]])
        say("BEGIN; " + sql + " COMMIT; DO $$ BEGIN PERFORM pg_advisory_unlock(4242); END $$;")
        session.stdin.close()
        session.wait()
        session.stdout.close()
        self.assertEqual(p.wait(timeout=120), 0)
        msgs = self.messages(out)
        return msgs + self.read(cat, state=[m for m in msgs if m["type"] == "STATE"][-1]["state"]).messages

    def test_first_read_copies_in_the_slots_snapshot(self):
        """On a first read a keyless table is copied as of the slot's start: a row inserted or
        updated after the slot was made, before the copy, is streamed and not also copied (no
        key could tell the two apart in the destination). An index made meanwhile changes no
        row: the snapshot still holds (with the lock taken by a SELECT, which locks indexes too)."""
        for column_privileges in (False, True):
            with self.subTest(column_privileges=column_privileges):
                self.drop_slot()
                self.copied_once_in_the_slots_snapshot(column_privileges)

    def test_joining_table_copied_in_one_snapshot(self):
        """A keyless table joining a read that resumes is copied in one snapshot taken as it
        joins (once the writers on it have ended), and its changes are those of the
        transactions that snapshot does not see: a row inserted or updated after it, before the
        table's copy, comes once"""
        self.copied_once_in_the_slots_snapshot(False, joining=True)

    def copied_once_in_the_slots_snapshot(self, column_privileges, joining=False):
        msgs = self.first_read_with_a_change_before_the_copy(
            "CREATE INDEX kl_a ON kl (a); INSERT INTO kl VALUES (1000, 'new'); UPDATE kl SET pad = 'changed' WHERE a = 1;",
            column_privileges, joining)
        logs = [m["log"]["message"] for m in msgs if m["type"] == "LOG"]
        self.assertFalse([l for l in logs if "rewritten" in l or "could not export" in l], logs)
        self.assertEqual(any("may not LOCK the table" in l for l in logs), column_privileges, logs)
        recs = [(m["record"]["data"]["a"], m["record"]["data"]["pad"], m["record"]["data"]["_ab_cdc_deleted_at"] is not None)
                for m in msgs if m["type"] == "RECORD" and m["record"]["stream"] == "kl"]
        self.assertEqual(len(recs), len(set(recs)), "a record twice")
        # the copy as of the slot's start, then the update (the old row's delete, the new row)
        # and the insert
        self.assertEqual(sorted(recs), sorted([(a, "x" * 100, False) for a in range(1, 101)] +
                                              [(1, "x" * 100, True), (1, "changed", False), (1000, "new", False)]))

    def test_first_read_table_rewritten_after_the_slot_is_copied_as_it_is(self):
        """Rewritten after the slot was made (ADD COLUMN with a volatile default), the table's
        rows are the rewriting transaction's, which the slot's snapshot cannot see: the copy
        reads it as it is, warning, rather than copy nothing"""
        msgs = self.first_read_with_a_change_before_the_copy(
            "ALTER TABLE kl ADD COLUMN extra float8 DEFAULT random(); INSERT INTO kl (a, pad) VALUES (1000, 'new');")
        logs = [m["log"]["message"] for m in msgs if m["type"] == "LOG"]
        self.assertTrue(any("rewritten or truncated since the snapshot its copy reads in" in l for l in logs), logs)
        got = {m["record"]["data"]["a"] for m in msgs if m["type"] == "RECORD" and m["record"]["stream"] == "kl"}
        self.assertEqual(got, set(range(1, 101)) | {1000})

class ChangedTableTest(ReadBase):
    """A saved position is only used for the table, and the key, it was saved for."""
    slot = "sp_slot_ct"
    pub = "sp_pub_ct"

    def setUp(self):
        super().setUp()
        self.drop_slot()

    def test_replaced_table_is_backfilled_again(self):
        cluster.psql("DROP TABLE IF EXISTS rt, rt_new, rt_old; CREATE TABLE rt (id int PRIMARY KEY, v text);"
                     "ALTER TABLE rt OWNER TO capture; INSERT INTO rt SELECT g, 'old' FROM generate_series(1, 10) g;")
        cat = configured_catalog(self.discover(), streams=["rt"])
        dest = Destination({"rt": ["id"]})
        state = dest.apply_until_last_state(self.read(cat).messages)
        # an online schema change swaps in a rebuilt table under the same name; the old table's
        # last change, streamed after the copy of the new one, must not land on it
        cluster.psql("UPDATE rt SET v = 'old, updated' WHERE id = 3;")
        cluster.psql("CREATE TABLE rt_new (id int PRIMARY KEY, v text); ALTER TABLE rt_new OWNER TO capture;"
                     "INSERT INTO rt_new SELECT g, 'new' FROM generate_series(1, 20) g;"
                     "BEGIN; ALTER TABLE rt RENAME TO rt_old; ALTER TABLE rt_new RENAME TO rt; COMMIT;")
        r = self.read(cat, state=state)
        self.assertTrue(any("dropped and created again" in l for l in r.logs()), r.logs())
        self.assertEqual(len(r.records("rt")), 20)
        state = dest.apply_until_last_state(r.messages)
        self.assertEqual(dest.table("rt"), self.full_refresh(["rt"])["rt"])
        # taken out of the publication for a while: its changes meanwhile were not decoded, and
        # the one before, streamed after the copy, must not bring back its older value
        cluster.psql("UPDATE rt SET v = 'before the gap' WHERE id <= 7;")
        cluster.psql("ALTER PUBLICATION %s DROP TABLE rt; UPDATE rt SET v = 'unseen' WHERE id <= 5;" % self.pub)
        r = self.read(cat, state=state)
        self.assertTrue(any("was not in publication" in l for l in r.logs()), r.logs())
        # the decision is in a STATE before anything is copied: a retry does not resume as before
        first = next(m for m in r.messages if m["type"] in ("STATE", "RECORD"))
        self.assertEqual(first["type"], "STATE")
        st = first["state"]["global"]["stream_states"][0]["stream_state"]
        self.assertEqual((st["phase"], st["cursor"]), ("backfill", None))
        self.assertIn("changes_from", st)
        dest.apply_until_last_state(r.messages)
        self.assertEqual(dest.table("rt"), self.full_refresh(["rt"])["rt"])
        retried = Destination({"rt": ["id"]})
        retried.apply_until_last_state(self.read(cat, state=first["state"]).messages)
        self.assertEqual(retried.table("rt"), self.full_refresh(["rt"])["rt"])

    def hold_a_commit_in_the_gap(self, table, row=1, prepared=False):
        """Update a row of table (row 1 unless told) in a transaction that writes its commit record but stays unseen
        by others, waiting for a synchronous standby that never comes; returns its psql. Prepared: the
        transaction is prepared first, and its COMMIT PREPARED waits."""
        if prepared:
            cluster.psql("BEGIN; UPDATE %s SET v = 'in the gap' WHERE id = %d; PREPARE TRANSACTION 'gap';" % (table, row))
            self.addCleanup(lambda: cluster.query("SELECT 1 FROM pg_prepared_xacts WHERE gid = 'gap'") and
                            cluster.psql("ROLLBACK PREPARED 'gap'"))
        cluster.psql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'; SELECT pg_reload_conf();")
        self.addCleanup(cluster.psql, "ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();")
        return self.psql_until(["SET synchronous_commit = on", "COMMIT PREPARED 'gap'" if prepared else
                                "UPDATE %s SET v = 'in the gap' WHERE id = %d" % (table, row)],
                               "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
                               "the commit never waited for the standby")

    def psql_until(self, sql, ready_sql, never):
        """Start psql running sql (a string, or statements run one after another in one session) in
        the background (killed at cleanup if still running); return it once ready_sql gives a row,
        failing with never after 30 s."""
        argv = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.sockdir, "-p", str(cluster.port), "-U", "postgres"]
        for statement in [sql] if isinstance(sql, str) else sql:
            argv += ["-c", statement]
        p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        deadline = time.monotonic() + 30
        while not cluster.query(ready_sql):
            self.assertLess(time.monotonic(), deadline, never)
            time.sleep(0.02)
        return p

    def start_until_waiting(self, cat, state, name, cfg=None):
        """Start a read; return once it says it waits for a transaction, ends, or a minute passes."""
        out_path = os.path.join(self.tmp, name)
        p = self.start(self.read_argv(cat, cfg=cfg, state=state), out_path)
        deadline = time.monotonic() + 60
        while p.poll() is None and time.monotonic() < deadline:
            with open(out_path, "rb") as f:
                if b"waiting for 1 transaction" in f.read():
                    break
            time.sleep(0.05)
        return p, out_path

    def release_and_check(self, writer, p, out_path):
        """Let the held commit through; the read must have waited for it and copied its row."""
        cluster.psql("ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();")
        self.assertEqual(writer.wait(timeout=30), 0)
        self.assertEqual(p.wait(timeout=60), 0)
        msgs = self.messages(out_path)
        recs = {m["record"]["data"]["id"]: m["record"]["data"]["v"] for m in msgs if m["type"] == "RECORD"}
        self.assertEqual(recs[1], "in the gap")
        self.assertTrue(any(m["type"] == "LOG" and "waiting for 1 transaction" in m["log"]["message"] for m in msgs))

    def test_fresh_start_waits_for_a_commit_not_yet_visible(self):
        """A fresh start on an existing slot moves the slot to now and copies the tables. A
        transaction whose commit record is already written but which others cannot see yet (here
        it waits for a synchronous standby that never comes) is before the slot's new position,
        so the copy must wait until it can see it."""
        cluster.psql("DROP TABLE IF EXISTS gap; CREATE TABLE gap (id int PRIMARY KEY, v text); ALTER TABLE gap OWNER TO capture;"
                     "INSERT INTO gap SELECT g, 'before' FROM generate_series(1, 10) g;")
        cat = configured_catalog(self.discover(), streams=["gap"])
        self.read(cat)
        writer = self.hold_a_commit_in_the_gap("gap")
        # no state: every stream is copied again and the slot moves to now, past that commit
        p, out_path = self.start_until_waiting(cat, None, "fresh.out")
        self.release_and_check(writer, p, out_path)

    def test_toast_reread_waits_until_its_commit_is_visible(self):
        """An unchanged TOASTed value is re-read by key. A commit not yet visible (waiting for a
        synchronous standby) must be waited for first, or the re-read gives the value from before
        it: a row that never existed, as the last word."""
        big = "(SELECT string_agg(md5((g + %d)::text), '') FROM generate_series(1, 10000) g)"
        cluster.psql("DROP TABLE IF EXISTS tdoc; CREATE TABLE tdoc (id int PRIMARY KEY, title text, body text);"
                     "ALTER TABLE tdoc OWNER TO capture; INSERT INTO tdoc VALUES (1, 't1', %s);" % (big % 0))
        cat = configured_catalog(self.discover(), streams=["tdoc"])
        state = self.read(cat).states()[-1]
        cluster.psql("ALTER SYSTEM SET synchronous_standby_names = 'nobody'; SELECT pg_reload_conf();")
        self.addCleanup(cluster.psql, "ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();")
        writer = self.psql_until(["SET synchronous_commit = on",
                                  "BEGIN; UPDATE tdoc SET body = %s WHERE id = 1; "
                                  "UPDATE tdoc SET title = 't2' WHERE id = 1; COMMIT;" % (big % 1000000)],
                                 "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'SyncRep'",
                                 "the commit never waited for the standby")
        p, out_path = self.start_until_waiting(cat, state, "toast.out")
        self.assertIsNone(p.poll(), "the read did not wait for the commit")
        # stopped while it waits: it ends before that transaction, with no made-up row
        self.sigterm(p)
        msgs = self.messages(out_path)
        self.assertEqual([m["record"]["data"]["title"] for m in msgs if m["type"] == "RECORD"], ["t1"])
        cluster.psql("ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();")
        self.assertEqual(writer.wait(timeout=30), 0)
        # the next read gets the transaction again, whole
        r = self.read(cat, state=[m for m in msgs if m["type"] == "STATE"][-1]["state"])
        recs = [x["data"] for x in r.records("tdoc")]
        self.assertEqual([x["title"] for x in recs], ["t1", "t2"])
        self.assertEqual(recs[-1]["body"], cluster.query("SELECT body FROM tdoc")[0][0])

    def test_retry_of_a_read_stopped_while_waiting_waits_too(self):
        """A table back in the publication is copied again once the transactions running then
        have ended. A read stopped during that wait has already emitted the STATE saying so; a
        read resuming from it must wait as well, or a commit not yet visible is in neither the
        copy nor the stream (which drops the table's changes from before the copy)."""
        cluster.psql("DROP TABLE IF EXISTS rw; CREATE TABLE rw (id int PRIMARY KEY, v text); ALTER TABLE rw OWNER TO capture;"
                     "INSERT INTO rw SELECT g, 'before' FROM generate_series(1, 10) g;")
        cat = configured_catalog(self.discover(), streams=["rw"])
        state = self.read(cat).states()[-1]
        cluster.psql("ALTER PUBLICATION %s DROP TABLE rw;" % self.pub)
        writer = self.hold_a_commit_in_the_gap("rw")
        p, out_path = self.start_until_waiting(cat, state, "first.out")
        self.sigterm(p)
        early = [m["state"] for m in self.messages(out_path) if m["type"] == "STATE"]
        self.assertEqual(len(early), 1, "the stopped read emitted the STATE that says rw is copied again")
        self.assertIn("changes_from", early[0]["global"]["stream_states"][0]["stream_state"])
        p, out_path = self.start_until_waiting(cat, early[0], "retry.out")
        self.release_and_check(writer, p, out_path)

    def test_watermark_chunk_waits_for_a_commit_not_yet_visible(self):
        """A table joining while another streams is copied in watermark chunks. Added to the
        publication by the read, its changes before are not decoded: a commit written before but
        not yet visible (it waits for a synchronous standby) must be waited for by its copy."""
        cluster.psql("DROP TABLE IF EXISTS wa, wb; CREATE TABLE wa (id int PRIMARY KEY, v text);"
                     "CREATE TABLE wb (id int PRIMARY KEY, v text); ALTER TABLE wa OWNER TO capture;"
                     "ALTER TABLE wb OWNER TO capture; INSERT INTO wb SELECT g, 'before' FROM generate_series(1, 10) g;")
        state = self.read(configured_catalog(self.discover(), streams=["wa"])).states()[-1]
        writer = self.hold_a_commit_in_the_gap("wb")
        p, out_path = self.start_until_waiting(configured_catalog(self.discover(), streams=["wa", "wb"]), state, "wm.out")
        self.release_and_check(writer, p, out_path)
        msgs = self.messages(out_path)
        hi, lo = state["global"]["shared_state"]["lsn"].split("/")
        start = (int(hi, 16) << 32) | int(lo, 16)
        copied = [m["record"]["data"] for m in msgs if m["type"] == "RECORD" and m["record"]["data"]["id"] > 1]
        self.assertEqual(len(copied), 9)
        # a watermark chunk's rows carry its high watermark, not the start position a backfill
        # before the stream would give them
        self.assertTrue(all(int(r["_ab_cdc_lsn"]) > start for r in copied), (start, copied))
        dest = Destination({"wa": ["id"], "wb": ["id"]})
        dest.apply_until_last_state(msgs)
        self.assertEqual(dest.table("wb"), self.full_refresh(["wb"])["wb"])

    def joining_table_with_a_commit_in_the_gap(self, name, row, prepared=False):
        """Tables <name>a (streamed) and <name>b (10 rows, 'before', in the publication); a
        destination and a state in which <name>b is part way through its backfill in watermark
        chunks of 3 rows (rows 1 to 3 copied); then a commit updating row of <name>b to 'in the
        gap' that is written but not visible (it waits for a synchronous standby; a COMMIT
        PREPARED when prepared). Returns (state, destination, the catalog of both tables, the
        config, the writer)."""
        a, b = name + "a", name + "b"
        cluster.psql("DROP TABLE IF EXISTS {a}, {b}; CREATE TABLE {a} (id int PRIMARY KEY, v text);"
                     "CREATE TABLE {b} (id int PRIMARY KEY, v text); ALTER TABLE {a} OWNER TO capture;"
                     "ALTER TABLE {b} OWNER TO capture; INSERT INTO {b} SELECT g, 'before' FROM generate_series(1, 10) g;"
                     .format(a=a, b=b))
        state = self.read(configured_catalog(self.discover(), streams=[a])).states()[-1]
        cluster.psql("ALTER PUBLICATION %s ADD TABLE %s;" % (self.pub, b))
        cat, cfg = configured_catalog(self.discover(), streams=[a, b]), self.cfg(backfill_chunk_size=3)
        msgs = self.read(cat, state=state, cfg=cfg).messages
        cut = next(i for i, m in enumerate(msgs) if m["type"] == "STATE" and any(
            ss["stream_descriptor"]["name"] == b and ss["stream_state"].get("cursor") == ["3"]
            for ss in m["state"]["global"]["stream_states"]))
        dest = Destination({a: ["id"], b: ["id"]})
        state = dest.apply_until_last_state(msgs[:cut + 1])
        writer = self.hold_a_commit_in_the_gap(b, row, prepared)
        return state, dest, cat, cfg, writer

    def release_the_commit(self, writer, p, out_path, dest, table):
        """Let the held commit through; the read must end, and the destination match the table."""
        cluster.psql("ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();")
        self.assertEqual(writer.wait(timeout=30), 0)
        self.assertEqual(p.wait(timeout=60), 0, self.messages(out_path)[-3:])
        dest.apply_until_last_state(self.messages(out_path))
        self.assertEqual(dest.table(table), self.full_refresh([table])[table])

    def test_watermark_chunk_after_a_commit_it_cannot_see(self):
        """A commit the stream delivers while the backfill of a table goes on in chunks, which
        the next chunk's copy cannot see yet: either the chunk waits until it can, or (delivered
        after the copy began) its change wins over the copy's older row."""
        state, dest, cat, cfg, writer = self.joining_table_with_a_commit_in_the_gap("wn", 4)
        p, out_path = self.start_until_waiting(cat, state, "wn.out", cfg=cfg)
        self.release_the_commit(writer, p, out_path, dest, "wnb")
        self.assertIn('{"id": 4, "v": "in the gap"}', dest.table("wnb"))

    def test_later_watermark_chunk_waits_for_a_commit_the_stream_sent(self):
        """The same commit, streamed before a later chunk that holds its row and still cannot see
        it: that chunk waits until it can."""
        state, dest, cat, cfg, writer = self.joining_table_with_a_commit_in_the_gap("wl", 9)
        p, out_path = self.start_until_waiting(cat, state, "wl.out", cfg=cfg)
        self.assertIsNone(p.poll(), "the read did not wait for the commit")
        self.release_the_commit(writer, p, out_path, dest, "wlb")
        self.assertIn('{"id": 9, "v": "in the gap"}', dest.table("wlb"))

    def check_commit_streamed_by_an_earlier_read(self, name, prepared):
        """Such a commit, streamed by a read that stops while its chunk waits for it: the state
        must not pass it, or the next read (which would not receive it again) copies the older
        row past it."""
        state, dest, cat, cfg, writer = self.joining_table_with_a_commit_in_the_gap(name, 9, prepared)
        p, out_path = self.start_until_waiting(cat, state, name + "1.out", cfg=cfg)
        self.assertIsNone(p.poll(), "the read did not wait for the commit")
        self.sigterm(p)
        msgs = self.messages(out_path)
        start = pg_lsn(state["global"]["shared_state"]["lsn"])
        self.assertTrue(all(pg_lsn(m["state"]["global"]["shared_state"]["lsn"]) >= start
                            for m in msgs if m["type"] == "STATE"), "a state went back")
        state = dest.apply_until_last_state(msgs)
        p, out_path = self.start_until_waiting(cat, state, name + "2.out", cfg=cfg)
        self.assertIsNone(p.poll(), "the next read did not wait for the commit")
        self.release_the_commit(writer, p, out_path, dest, name + "b")
        self.assertIn('{"id": 9, "v": "in the gap"}', dest.table(name + "b"))

    def test_state_waits_for_a_commit_it_cannot_see(self):
        self.check_commit_streamed_by_an_earlier_read("we", False)

    def test_state_waits_for_a_commit_prepared_it_cannot_see(self):
        self.check_commit_streamed_by_an_earlier_read("wp", True)

    def test_long_wait_of_a_chunk_keeps_the_stream_alive(self):
        """While a chunk waits for such a commit, and then for a lock on its table, the streaming
        loop reads nothing: it must still send status updates, or the walsender drops the
        connection after wal_sender_timeout."""
        cluster.psql("ALTER SYSTEM SET wal_sender_timeout = '3s'; SELECT pg_reload_conf();")
        self.addCleanup(cluster.psql, "ALTER SYSTEM RESET wal_sender_timeout; SELECT pg_reload_conf();")
        state, dest, cat, cfg, writer = self.joining_table_with_a_commit_in_the_gap("wk", 9)
        p, out_path = self.start_until_waiting(cat, state, "wk.out", cfg=cfg)
        time.sleep(7)
        self.assertIsNone(p.poll(), "the read stopped while it waited")
        # queued behind the held commit, this lock is taken as it ends, and the chunk then waits
        # for it (7 s, within the 10 s lock timeout)
        locker = self.psql_until("BEGIN; LOCK TABLE wkb IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(7); COMMIT;",
                                 "SELECT 1 FROM pg_locks WHERE relation = 'wkb'::regclass AND mode = 'AccessExclusiveLock'",
                                 "the LOCK never queued")
        cluster.psql("ALTER SYSTEM RESET synchronous_standby_names; SELECT pg_reload_conf();")
        self.assertEqual(writer.wait(timeout=30), 0)
        self.assertEqual(locker.wait(timeout=30), 0)
        self.assertEqual(p.wait(timeout=60), 0, self.messages(out_path)[-3:])
        dest.apply_until_last_state(self.messages(out_path))
        self.assertEqual(dest.table("wkb"), self.full_refresh(["wkb"])["wkb"])

    def test_table_out_of_the_publication_backfilled_again_in_chunks(self):
        """A table that was out of the publication for a while is backfilled again, here in
        chunks while another table streams. Its changes from before it was back are not
        streamed (changes_from): they are in its copy, and must not take its rows out of it."""
        cluster.psql("DROP TABLE IF EXISTS oa, ob; CREATE TABLE oa (id int PRIMARY KEY, v text);"
                     "CREATE TABLE ob (id int PRIMARY KEY, v text); ALTER TABLE oa OWNER TO capture;"
                     "ALTER TABLE ob OWNER TO capture; INSERT INTO ob SELECT g, 'old' FROM generate_series(1, 10) g;")
        cat = configured_catalog(self.discover(), streams=["oa", "ob"])
        dest = Destination({"oa": ["id"], "ob": ["id"]})
        state = dest.apply_until_last_state(self.read(cat).messages)
        cluster.psql("UPDATE ob SET v = 'before the gap' WHERE id <= 7;")
        cluster.psql("ALTER PUBLICATION %s DROP TABLE ob; UPDATE ob SET v = 'unseen' WHERE id <= 5;" % self.pub)
        r = self.read(cat, state=state)
        self.assertTrue(any("was not in publication" in l for l in r.logs()), r.logs())
        self.assertEqual(sorted(x["data"]["id"] for x in r.records("ob")), list(range(1, 11)))
        dest.apply_until_last_state(r.messages)
        self.assertEqual(dest.table("ob"), self.full_refresh(["ob"])["ob"])

    def test_joining_copy_waits_for_a_commit_not_yet_visible(self):
        """A keyless table joining is copied before the stream starts, from the saved position.
        Added to the publication by the read, its changes before are not decoded: a commit
        that waits for a synchronous standby is in neither the copy nor the stream, unless the
        copy waits for it."""
        cluster.psql("DROP TABLE IF EXISTS ja, jb; CREATE TABLE ja (id int PRIMARY KEY, v text);"
                     "CREATE TABLE jb (id int, v text); ALTER TABLE jb REPLICA IDENTITY FULL;"
                     "ALTER TABLE ja OWNER TO capture; ALTER TABLE jb OWNER TO capture;"
                     "INSERT INTO jb SELECT g, 'before' FROM generate_series(1, 10) g;")
        cat_a = configured_catalog(self.discover(), streams=["ja"])
        state = self.read(cat_a).states()[-1]
        writer = self.hold_a_commit_in_the_gap("jb")
        # a read of ja alone streams past that commit: the saved position is after it
        state = self.read(cat_a, state=state).states()[-1]
        p, out_path = self.start_until_waiting(configured_catalog(self.discover(), streams=["ja", "jb"]), state,
                                               "join.out")
        self.release_and_check(writer, p, out_path)

    def test_table_added_to_the_publication_waits_for_a_transaction_running(self):
        """A table the read adds to the publication has its changes decoded from then on only. A
        transaction that changed it before, still running, reaches neither the stream nor a copy
        taken before it commits: the copy must wait for it."""
        cluster.psql("DROP TABLE IF EXISTS pa, pb; CREATE TABLE pa (id int PRIMARY KEY, v text);"
                     "CREATE TABLE pb (id int PRIMARY KEY, v text); ALTER TABLE pa OWNER TO capture;"
                     "ALTER TABLE pb OWNER TO capture; INSERT INTO pb SELECT g, 'before' FROM generate_series(1, 10) g;")
        state = self.read(configured_catalog(self.discover(), streams=["pa"])).states()[-1]
        writer = self.psql_until("BEGIN; UPDATE pb SET v = 'running' WHERE id = 1; SELECT pg_sleep(3); COMMIT;",
                                 "SELECT 1 FROM pg_locks WHERE relation = 'pb'::regclass AND mode = 'RowExclusiveLock'",
                                 "the UPDATE never ran")
        cat = configured_catalog(self.discover(), streams=["pa", "pb"])
        dest = Destination({"pa": ["id"], "pb": ["id"]})
        state = dest.apply_until_last_state(self.read(cat, state=state).messages)
        self.assertEqual(writer.wait(timeout=30), 0)
        dest.apply_until_last_state(self.read(cat, state=state).messages)
        self.assertEqual(dest.table("pb"), self.full_refresh(["pb"])["pb"])

    def session(self, db="postgres"):
        """A psql session of the test's own, fed statements as it goes (killed at cleanup)"""
        p = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.sockdir, "-p",
                              str(cluster.port), "-U", "postgres", "-d", db], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))

        def send(sql):
            p.stdin.write(sql + "\n")
            p.stdin.flush()
        return send

    def until(self, sql, never):
        deadline = time.monotonic() + 30
        while not cluster.query(sql):
            self.assertLess(time.monotonic(), deadline, never)
            time.sleep(0.02)

    def running_update(self, table):
        """A transaction of the test's own that updates row 1 of table and stays open: returns
        its session"""
        writer = self.session()
        writer("BEGIN; UPDATE %s SET v = 'running' WHERE id = 1;" % table)
        self.until("SELECT 1 FROM pg_locks WHERE relation = '%s'::regclass AND mode = 'RowExclusiveLock'" % table,
                   "the UPDATE never ran")
        return writer

    def commit_after_the_wait(self, writer, p, out_path, a, b):
        """The read p (of tables a and b) must be waiting for writer's transaction: commit it; the
        read must then end, and its output hold b as it is"""
        self.assertIsNone(p.poll(), "the read did not wait for the transaction")
        writer("COMMIT;")
        self.assertEqual(p.wait(timeout=60), 0)
        dest = Destination({a: ["id"], b: ["id"]})
        dest.apply_until_last_state(self.messages(out_path))
        self.assertEqual(dest.table(b), self.full_refresh([b])[b])

    def read_stopped_waiting_for_the_slot(self, cat, state, other_cat):
        """Start a read of cat from state while a read of other_cat holds the slot, and stop it
        once it says it waits for the slot. Returns its messages."""
        holder = self.start(self.read_argv(other_cat, state=state) + ["--follow"])
        self.until("SELECT 1 FROM pg_replication_slots WHERE slot_name = '%s' AND active" % self.slot,
                   "the first read never took the slot")
        out_path = os.path.join(self.tmp, "stopped.out")
        p = self.start(self.read_argv(cat, state=state), out_path)
        deadline = time.monotonic() + 30
        while b"is in use by process" not in open(out_path, "rb").read():
            self.assertLess(time.monotonic(), deadline, "the read never waited for the slot")
            time.sleep(0.02)
        self.sigterm(p)
        self.sigterm(holder)
        return self.messages(out_path)

    def test_retry_of_a_read_stopped_before_adding_a_table_waits(self):
        """A read that would add a table to the publication, stopped before (here while it waits
        for the slot): its retry must still wait for a transaction that changed the table before
        the table joined, which the stream never delivers."""
        cluster.psql("DROP TABLE IF EXISTS qa, qb; CREATE TABLE qa (id int PRIMARY KEY, v text);"
                     "CREATE TABLE qb (id int PRIMARY KEY, v text); ALTER TABLE qa OWNER TO capture;"
                     "ALTER TABLE qb OWNER TO capture; INSERT INTO qb SELECT g, 'before' FROM generate_series(1, 10) g;")
        cat_a = configured_catalog(self.discover(), streams=["qa"])
        state = self.read(cat_a).states()[-1]
        writer = self.running_update("qb")
        cat = configured_catalog(self.discover(), streams=["qa", "qb"])
        self.read_stopped_waiting_for_the_slot(cat, state, cat_a)
        p, out_path = self.start_until_waiting(cat, state, "retry.out")
        self.commit_after_the_wait(writer, p, out_path, "qa", "qb")

    def test_retry_of_a_read_stopped_before_adding_back_a_table_backfills_it(self):
        """The same for a table out of the publication for a while: the retry must know that its
        changes meanwhile were not decoded, and backfill it again."""
        cluster.psql("DROP TABLE IF EXISTS ra, rz; CREATE TABLE ra (id int PRIMARY KEY, v text);"
                     "CREATE TABLE rz (id int PRIMARY KEY); ALTER TABLE ra OWNER TO capture; ALTER TABLE rz OWNER TO capture;"
                     "INSERT INTO ra SELECT g, 'old' FROM generate_series(1, 10) g;")
        cat = configured_catalog(self.discover(), streams=["ra", "rz"])
        dest = Destination({"ra": ["id"], "rz": ["id"]})
        state = dest.apply_until_last_state(self.read(cat).messages)
        cluster.psql("ALTER PUBLICATION %s DROP TABLE ra; UPDATE ra SET v = 'while out' WHERE id <= 3;" % self.pub)
        self.read_stopped_waiting_for_the_slot(cat, state, configured_catalog(self.discover(), streams=["rz"]))
        r = self.read(cat, state=state)
        self.assertTrue(any("backfilling it again" in l for l in r.logs()), r.logs())
        dest.apply_until_last_state(r.messages)
        self.assertEqual(dest.table("ra"), self.full_refresh(["ra"])["ra"])

    def test_table_joining_waits_only_for_transactions_writing_on_it(self):
        """A table joining waits for the transactions writing on it, not for every transaction:
        one idle in another database, or on another table, does not hold the read up."""
        cluster.psql("DROP TABLE IF EXISTS ia, ib, ic; CREATE TABLE ia (id int PRIMARY KEY, v text);"
                     "CREATE TABLE ib (id int PRIMARY KEY, v text); CREATE TABLE ic (id int PRIMARY KEY);"
                     "ALTER TABLE ia OWNER TO capture; ALTER TABLE ib OWNER TO capture; INSERT INTO ib VALUES (1, 'x');")
        if not cluster.query("SELECT 1 FROM pg_database WHERE datname = 'otherdb'"):
            cluster.psql("CREATE DATABASE otherdb;")
        state = self.read(configured_catalog(self.discover(), streams=["ia"])).states()[-1]
        elsewhere, other_table = self.session("otherdb"), self.session()
        elsewhere("BEGIN; SELECT txid_current();")
        other_table("BEGIN; INSERT INTO ic VALUES (1);")
        self.until("SELECT count(*) = 2 FROM pg_stat_activity WHERE state = 'idle in transaction' "
                   "AND backend_xid IS NOT NULL HAVING count(*) = 2", "the two transactions never began")
        r = self.read(configured_catalog(self.discover(), streams=["ia", "ib"]), state=state, timeout=60)
        self.assertEqual(len(r.records("ib")), 1)
        self.assertFalse(any("waiting for" in l for l in r.logs()), r.logs())

    def test_table_joining_a_publication_waits_for_a_transaction_running(self):
        """A table you add to the publication yourself, then to the catalog: a change made before
        it joined, by a transaction still running, is not decoded either; the copy waits for it."""
        cluster.psql("DROP TABLE IF EXISTS ua, ub; CREATE TABLE ua (id int PRIMARY KEY, v text);"
                     "CREATE TABLE ub (id int PRIMARY KEY, v text); ALTER TABLE ua OWNER TO capture;"
                     "ALTER TABLE ub OWNER TO capture; INSERT INTO ub SELECT g, 'before' FROM generate_series(1, 10) g;")
        state = self.read(configured_catalog(self.discover(), streams=["ua"])).states()[-1]
        writer = self.running_update("ub")
        cluster.psql("ALTER PUBLICATION %s ADD TABLE ub;" % self.pub)
        cat = configured_catalog(self.discover(), streams=["ua", "ub"])
        p, out_path = self.start_until_waiting(cat, state, "joined.out")
        self.commit_after_the_wait(writer, p, out_path, "ua", "ub")

    def test_keyless_table_joining_for_all_tables_is_not_duplicated(self):
        """A keyless table joining under FOR ALL TABLES (its changes decoded all along): rows
        inserted after the state are in its copy, and must not be streamed after it too (a
        keyless stream is appended: they would stay twice)."""
        pub = "sp_pub_all"
        cluster.psql("DROP PUBLICATION IF EXISTS %s; CREATE PUBLICATION %s FOR ALL TABLES;"
                     "DROP TABLE IF EXISTS rka, rkb; CREATE TABLE rka (id int PRIMARY KEY, v text);"
                     "CREATE TABLE rkb (a int, v text); ALTER TABLE rkb REPLICA IDENTITY FULL;"
                     "ALTER TABLE rka OWNER TO capture; ALTER TABLE rkb OWNER TO capture;"
                     "INSERT INTO rkb SELECT g, 'before' FROM generate_series(1, 10) g;" % (pub, pub))
        self.addCleanup(cluster.psql, "DROP PUBLICATION IF EXISTS %s;" % pub)
        cfg = self.cfg(publication=pub)
        state = self.read(configured_catalog(self.discover(cfg), streams=["rka"]), cfg=cfg).states()[-1]
        cluster.psql("INSERT INTO rkb SELECT g, 'after the state' FROM generate_series(11, 15) g;")
        r = self.read(configured_catalog(self.discover(cfg), streams=["rka", "rkb"]), state=state, cfg=cfg)
        self.assertEqual(sorted(rec["data"]["a"] for rec in r.records("rkb")), list(range(1, 16)))

    def test_table_out_of_the_publication_and_back_before_joining(self):
        """A table its owner takes out of the publication for a while (a delete then is not
        decoded) and puts back before it joins the catalog: the deleted row must not come back
        from the stream's earlier insert."""
        cluster.psql("DROP TABLE IF EXISTS rpa, rpb; CREATE TABLE rpa (id int PRIMARY KEY, v text);"
                     "CREATE TABLE rpb (id int PRIMARY KEY, v text); ALTER TABLE rpa OWNER TO capture;"
                     "ALTER TABLE rpb OWNER TO capture; INSERT INTO rpb SELECT g, 'before' FROM generate_series(1, 10) g;")
        cat_a = configured_catalog(self.discover(), streams=["rpa"])
        dest = Destination({"rpa": ["id"], "rpb": ["id"]})
        state = dest.apply_until_last_state(self.read(cat_a).messages)
        cluster.psql("ALTER PUBLICATION %s ADD TABLE rpb;" % self.pub)
        cluster.psql("INSERT INTO rpb VALUES (100, 'inserted');")
        cluster.psql("ALTER PUBLICATION %s DROP TABLE rpb;" % self.pub)
        cluster.psql("DELETE FROM rpb WHERE id = 100;")
        cluster.psql("ALTER PUBLICATION %s ADD TABLE rpb;" % self.pub)
        dest.apply_until_last_state(self.read(configured_catalog(self.discover(), streams=["rpa", "rpb"]),
                                              state=state).messages)
        self.assertEqual(dest.table("rpb"), self.full_refresh(["rpb"])["rpb"])

    def test_changed_key_restarts_the_backfill(self):
        cluster.psql("DROP TABLE IF EXISTS kc; CREATE TABLE kc (id int PRIMARY KEY, v text); ALTER TABLE kc OWNER TO capture;"
                     "INSERT INTO kc SELECT g, 'v' || g FROM generate_series(1, 1000) g;")
        cfg = self.cfg(backfill_chunk_size=99)
        r = self.read(configured_catalog(self.discover(), streams=["kc"]), cfg=cfg)
        cut = next(i for i, m in enumerate(r.messages) if m["type"] == "STATE")
        state = r.messages[cut]["state"]
        self.assertEqual(state["global"]["stream_states"][0]["stream_state"]["cursor"], ["99"])
        # as text, '99' sorts after '100'..'989': resuming after it would skip 891 rows
        cluster.psql("ALTER TABLE kc ALTER COLUMN id TYPE text;")
        r = self.read(configured_catalog(self.discover(), streams=["kc"]), state=state, cfg=cfg)
        self.assertTrue(any('the key is now "id" text' in l for l in r.logs()), r.logs())
        self.assertEqual(sorted(int(x["data"]["id"]) for x in r.records("kc")), list(range(1, 1001)))

    def test_partitioned_table_whose_partitions_lack_an_identity(self):
        cluster.psql("DROP TABLE IF EXISTS kp; CREATE TABLE kp (a int, b text) PARTITION BY RANGE (a);"
                     "CREATE TABLE kp1 PARTITION OF kp FOR VALUES FROM (0) TO (100);"
                     "ALTER TABLE kp REPLICA IDENTITY FULL; ALTER TABLE kp OWNER TO capture; ALTER TABLE kp1 OWNER TO capture;"
                     "INSERT INTO kp VALUES (1, 'x');")
        disc = self.discover()
        kp = next(s for s in disc["catalog"]["streams"] if s["name"] == "kp")
        self.assertEqual(kp["supported_sync_modes"], ["full_refresh"])
        cat = configured_catalog(disc, streams=["kp"])
        cat["streams"][0]["sync_mode"] = "incremental"
        r = self.read(cat, expect_rc=1)
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("partitions without a replica identity (public.kp1)", err["message"])
        # nothing was published, so the user's writes still work
        cluster.psql("UPDATE kp SET b = 'y' WHERE a = 1; DELETE FROM kp;")
        # with the partition's identity set as the message says, it is captured
        cluster.psql("ALTER TABLE kp1 REPLICA IDENTITY FULL; INSERT INTO kp VALUES (2, 'z');")
        kp = next(s for s in self.discover()["catalog"]["streams"] if s["name"] == "kp")
        self.assertIn("incremental", kp["supported_sync_modes"])
        self.assertEqual([x["data"]["a"] for x in self.read(cat).records("kp")], [2])


class NonCdcIncrementalTest(ReadBase):
    def setUp(self):
        super().setUp()
        cluster.psql("""
            DROP TABLE IF EXISTS inc;
            CREATE TABLE inc (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL);
            ALTER TABLE inc OWNER TO capture;
            INSERT INTO inc SELECT g, 'v' || g, '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 100) g;
        """)

    def catalog(self, cfg, cursor):
        cat = configured_catalog(self.discover(cfg), streams=["inc"])
        self.assertEqual(cat["streams"][0]["sync_mode"], "incremental")
        if cursor:
            cat["streams"][0]["cursor_field"] = [cursor]
        else:
            cat["streams"][0].pop("cursor_field", None)
        return cat

    def stream_state(self, r):
        states = r.states()
        self.assertEqual(states[-1]["type"], "STREAM")
        return states[-1]

    def test_standard_cursor(self):
        cfg = cluster.config(cdc=False)
        cat = self.catalog(cfg, "updated_at")
        r = self.read(cat, cfg=cfg)
        self.assertEqual(len(r.records("inc")), 100)
        st = self.stream_state(r)
        self.assertEqual(st["stream"]["stream_state"]["cursor"], "2024-01-01 01:40:00+00")
        cluster.psql("UPDATE inc SET v = 'changed', updated_at = '2025-01-01' WHERE id IN (3, 4);"
                     "INSERT INTO inc VALUES (101, 'new', '2025-01-02');")
        r = self.read(cat, state=st, cfg=cfg)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records()), [3, 4, 101])
        st = self.stream_state(r)
        r = self.read(cat, state=st, cfg=cfg)
        self.assertEqual(r.records(), [])
        self.assertEqual(self.stream_state(r)["stream"]["stream_state"]["cursor"], "2025-01-02 00:00:00+00")
        # a state whose cursor the column's type refuses: a config error, not a system error
        st["stream"]["stream_state"]["cursor"] = "not a time"
        r = self.read(cat, state=st, cfg=cfg, expect_rc=1)
        self.assertEqual(r.trace_errors()[0]["failure_type"], "config_error")
        self.assertIn("not a time", r.trace_errors()[0]["message"])
        # a cursor column that does not exist is a clear config error
        bad = self.catalog(cfg, "nope")
        r = self.read(bad, cfg=cfg, expect_rc=1)
        self.assertIn("cursor_field", r.trace_errors()[0]["message"])

    def test_standard_cursor_ties_changed_field_and_nulls(self):
        cfg = cluster.config(cdc=False)
        cat = self.catalog(cfg, "updated_at")
        st = self.stream_state(self.read(cat, cfg=cfg))
        self.assertEqual(st["stream"]["stream_state"]["cursor_record_count"], 1)
        # committed later with the saved value itself: read (with the row already sent at it)
        cluster.psql("INSERT INTO inc VALUES (102, 'tie', '2024-01-01 01:40:00+00');")
        r = self.read(cat, state=st, cfg=cfg)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records()), [100, 102])
        st = self.stream_state(r)
        self.assertEqual(st["stream"]["stream_state"]["cursor_record_count"], 2)
        self.assertEqual(self.read(cat, state=st, cfg=cfg).records(), [])
        # a state whose cursor is of another column: every row, not rows past a foreign value
        r = self.read(self.catalog(cfg, "id"), state=st, cfg=cfg)
        self.assertTrue(any("the saved cursor is of column updated_at" in l for l in r.logs()), r.logs())
        self.assertEqual(len(r.records("inc")), 101)
        # a state whose cursor column was retyped since: every row, not rows past a value of
        # another type ('99' sorts after '100' as text)
        cluster.psql("ALTER TABLE inc ADD COLUMN ver int; UPDATE inc SET ver = id;")
        st = self.stream_state(self.read(self.catalog(cfg, "ver"), cfg=cfg))
        self.assertEqual(st["stream"]["stream_state"]["cursor_type"], "integer")
        cluster.psql("ALTER TABLE inc ALTER COLUMN ver TYPE text; INSERT INTO inc VALUES (200, 'retyped', now(), '1000');")
        r = self.read(self.catalog(cfg, "ver"), state=st, cfg=cfg)
        self.assertTrue(any("the saved cursor is of type integer" in l for l in r.logs()), r.logs())
        self.assertIn(200, [x["data"]["id"] for x in r.records()])
        cluster.psql("DELETE FROM inc WHERE id = 200; ALTER TABLE inc DROP COLUMN ver;")
        # NULLs in a nullable cursor column: a config error, not rows silently left out
        cluster.psql("ALTER TABLE inc ADD COLUMN maybe int; UPDATE inc SET maybe = id WHERE id > 1;")
        r = self.read(self.catalog(cfg, "maybe"), cfg=cfg, expect_rc=1)
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("rows with no value in the cursor column maybe", err["message"])
        cluster.psql("ALTER TABLE inc DROP COLUMN maybe;")

    def big_cursor_table(self):
        """inc_big: 25,000 rows, cursor grp in groups of 7 rows (6 at 0); its configured
        catalog (Standard, cursor grp) and config"""
        cluster.psql("DROP TABLE IF EXISTS inc_big; CREATE TABLE inc_big (id int PRIMARY KEY, grp int NOT NULL);"
                     "ALTER TABLE inc_big OWNER TO capture;"
                     "INSERT INTO inc_big SELECT g, g / 7 FROM generate_series(1, 25000) g;")
        return self.standard_catalog("inc_big", "grp")

    def test_standard_checkpoints_during_the_read(self):
        """A Standard read emits STATE as it goes (every 10,000 rows by default), each between
        two cursor values: every row up to its cursor is before it, none after. A read resumed
        from one reads exactly the rest; a row committed since at its value reads that value's
        rows again too (at least once, as at the end of a read)."""
        cat, cfg = self.big_cursor_table()
        r = self.read(cat, cfg=cfg)
        seen, states = [], []
        for m in r.messages:
            if m["type"] == "RECORD":
                seen.append(m["record"]["data"])
            elif m["type"] == "STATE":
                states.append((len(seen), m["state"]))
        self.assertEqual(len(seen), 25000)
        self.assertGreaterEqual(len(states), 3, "two states during the read, one at its end")
        total = 0
        for n, st in states:
            self.assertEqual(st["type"], "STREAM")
            total += st["sourceStats"]["recordCount"]
            self.assertEqual(total, n, "recordCount counts the records since the last state")
            ss = st["stream"]["stream_state"]
            v = int(ss["cursor"])
            self.assertTrue(all(x["grp"] <= v for x in seen[:n]))
            self.assertTrue(all(x["grp"] > v for x in seen[n:]))
            self.assertEqual(ss["cursor_record_count"], sum(1 for x in seen[:n] if x["grp"] == v))
        self.assertGreater(states[0][0], 0)
        self.assertLess(states[0][0], 25000)
        n, st = states[1]
        rest = self.read(cat, state=st, cfg=cfg)
        self.assertEqual(sorted(x["data"]["id"] for x in rest.records()), sorted(x["id"] for x in seen[n:]))
        v = int(st["stream"]["stream_state"]["cursor"])
        cluster.psql("INSERT INTO inc_big VALUES (100000, %d);" % v)
        again = self.read(cat, state=st, cfg=cfg)
        group = [x["id"] for x in seen if x["grp"] == v] + [100000]
        self.assertEqual(sorted(x["data"]["id"] for x in again.records()),
                         sorted(group + [x["id"] for x in seen[n:]]))

    def sigterm_after_first_record(self, cat, cfg):
        """A read of cat stopped by SIGTERM once its first record is out, its stdout not read
        meanwhile: it exits 0, with no record after its last state and its stream INCOMPLETE.
        Returns the records' data and that state."""
        p = subprocess.Popen(self.read_argv(cat, cfg=cfg), stdout=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.wait()))
        line = p.stdout.readline()
        while b'"RECORD"' not in line:
            line = p.stdout.readline()
        p.send_signal(signal.SIGTERM)
        out = line + p.stdout.read()
        p.stdout.close()
        self.assertEqual(p.wait(timeout=30), 0)
        msgs = [json.loads(l) for l in out.decode().splitlines()]
        last_state = max(i for i, m in enumerate(msgs) if m["type"] == "STATE")
        self.assertFalse([m for m in msgs[last_state:] if m["type"] == "RECORD"], "no record after the last state")
        statuses = [m["trace"]["stream_status"]["status"] for m in msgs
                    if m["type"] == "TRACE" and m["trace"]["type"] == "STREAM_STATUS"]
        self.assertEqual(statuses[-1], "INCOMPLETE")
        return [m["record"]["data"] for m in msgs if m["type"] == "RECORD"], msgs[last_state]["state"]

    def test_standard_state_between_equal_values_sent_differently(self):
        """numeric 10000.0 and 10000.00 are equal but sent differently: a state between them
        counts no rows at its value, so a read resumed from it reads the rows at the value again
        (with a count of 1, the count still matching once the first row moved on would skip
        the second)"""
        cluster.psql("DROP TABLE IF EXISTS numc; CREATE TABLE numc (id int PRIMARY KEY, c numeric NOT NULL);"
                     "ALTER TABLE numc OWNER TO capture; INSERT INTO numc SELECT g, g FROM generate_series(1, 9999) g;"
                     "INSERT INTO numc VALUES (100001, 10000.0), (100002, 10000.00), (100003, 20000);")
        cat, cfg = self.standard_catalog("numc", "c")
        r = self.read(cat, cfg=cfg)
        cut = next(i for i, m in enumerate(r.messages) if m["type"] == "STATE")
        sent = [m["record"]["data"]["id"] for m in r.messages[:cut] if m["type"] == "RECORD"]
        state = r.messages[cut]["state"]
        self.assertEqual(sent[-1], 100001)
        self.assertEqual(state["stream"]["stream_state"]["cursor"], "10000.0")
        self.assertNotIn("cursor_record_count", state["stream"]["stream_state"])
        cluster.psql("UPDATE numc SET c = 30000 WHERE id = 100001;")
        rest = self.read(cat, state=state, cfg=cfg)
        self.assertEqual(sorted(x["data"]["id"] for x in rest.records()), [100001, 100002, 100003])

    def test_stream_state_counts_its_own_records(self):
        """Each STREAM state's recordCount is its stream's records since its last state: every
        full refresh stream is read before the first state, but each counts its own"""
        cat, cfg = self.big_cursor_table()
        fr = configured_catalog(self.discover(cfg), streams=["inc", "inc_big"], sync_mode="full_refresh")
        r = self.read(fr, cfg=cfg)
        since = {"inc": 0, "inc_big": 0}
        for m in r.messages:
            if m["type"] == "RECORD":
                since[m["record"]["stream"]] += 1
            elif m["type"] == "STATE":
                name = m["state"]["stream"]["stream_descriptor"]["name"]
                self.assertEqual(m["state"]["sourceStats"]["recordCount"], since[name], name)
                since[name] = 0
        self.assertEqual(since, {"inc": 0, "inc_big": 0})

    def test_standard_read_stopped_by_sigterm_ends_at_a_state(self):
        """SIGTERM during a Standard read: it ends at the next state, exits 0 with the stream
        INCOMPLETE, and a read resumed from that state reads the rest"""
        cat, cfg = self.big_cursor_table()
        seen, state = self.sigterm_after_first_record(cat, cfg)
        self.assertLess(len(seen), 25000, "stopped before the end (stdout was not read meanwhile)")
        rest = self.read(cat, state=state, cfg=cfg)
        self.assertEqual(sorted([x["id"] for x in seen] + [x["data"]["id"] for x in rest.records()]),
                         list(range(1, 25001)))

    def test_inheritance_children_are_read(self):
        cluster.psql("DROP TABLE IF EXISTS par CASCADE; CREATE TABLE par (id int PRIMARY KEY, v text);"
                     "CREATE TABLE par_child () INHERITS (par); ALTER TABLE par OWNER TO capture;"
                     "ALTER TABLE par_child OWNER TO capture;"
                     "INSERT INTO par VALUES (0, 'parent'); INSERT INTO par_child VALUES (1, 'child');")
        cfg = cluster.config(cdc=False)
        cat = configured_catalog(self.discover(cfg), streams=["par"], sync_mode="full_refresh")
        self.assertEqual(sorted(x["data"]["id"] for x in self.read(cat, cfg=cfg).records("par")), [0, 1])
        # CDC: the table's own rows only; the child's changes would come under its own name
        self.drop_slot()
        cat = configured_catalog(self.discover(), streams=["par"])
        self.assertEqual(cat["streams"][0]["sync_mode"], "incremental")
        self.assertEqual([x["data"]["id"] for x in self.read(cat).records("par")], [0])
        # the publication holds the parent ONLY: a keyless child published would make the
        # application's UPDATEs and DELETEs on it fail, both when the read creates the
        # publication and when it adds the table to one that exists
        for created in (True, False):
            self.drop_slot()
            if not created:
                cluster.psql("CREATE PUBLICATION %s; ALTER PUBLICATION %s OWNER TO capture;" % (self.pub, self.pub))
            self.read(cat)
            self.assertEqual(cluster.query("SELECT tablename FROM pg_publication_tables WHERE pubname = '%s'"
                                           % self.pub), [["par"]])
            cluster.psql("UPDATE par_child SET v = 'updated'; DELETE FROM par WHERE id = 1;"
                         "INSERT INTO par_child VALUES (1, 'child');")
        self.drop_slot()

    def test_generated_column_is_read(self):
        """A stored generated column is a column like any other in a full refresh (COPY by name
        refuses it); CDC leaves it out, since pgoutput does not send it."""
        cluster.psql("DROP TABLE IF EXISTS gen; CREATE TABLE gen (id int PRIMARY KEY, a int, "
                     "g int GENERATED ALWAYS AS (a * 2) STORED); ALTER TABLE gen OWNER TO capture;"
                     "INSERT INTO gen VALUES (1, 21);")
        cfg = cluster.config(cdc=False)
        cat = configured_catalog(self.discover(cfg), streams=["gen"], sync_mode="full_refresh")
        self.assertEqual([x["data"] for x in self.read(cat, cfg=cfg).records("gen")], [{"id": 1, "a": 21, "g": 42}])
        self.drop_slot()
        cat = configured_catalog(self.discover(), streams=["gen"])
        self.assertEqual([{k: v for k, v in x["data"].items() if not k.startswith("_ab_")}
                          for x in self.read(cat).records("gen")], [{"id": 1, "a": 21}])
        self.drop_slot()

    def test_sql_ascii_database_with_bytes_that_are_not_utf8(self):
        """A SQL_ASCII database stores bytes in no encoding, and the server refuses to convert
        those that are not UTF-8: a read meeting one fails with a config error that says so, in
        a copy and in the stream (where no retry gets past it), never with rows silently lost."""
        cluster.psql("DROP DATABASE IF EXISTS sqlascii; CREATE DATABASE sqlascii ENCODING SQL_ASCII "
                     "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0;")
        cluster.psql("GRANT ALL ON SCHEMA public TO capture; GRANT CREATE ON DATABASE sqlascii TO capture;", db="sqlascii")
        cluster.psql("CREATE TABLE a (id int PRIMARY KEY, t text); ALTER TABLE a OWNER TO capture;"
                     "INSERT INTO a VALUES (1, E'ok\\xff\\xfebad'), (2, 'fine');", db="sqlascii")

        def drop():
            cluster.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                         "WHERE slot_name = 'sp_slot_ascii';")
            cluster.psql("DROP DATABASE IF EXISTS sqlascii;")
        self.addCleanup(drop)

        def fails(cat, cfg, state=None):
            err = self.read(cat, cfg=cfg, state=state, expect_rc=1).trace_errors()[0]
            self.assertEqual(err["failure_type"], "config_error", err)
            self.assertIn("invalid byte sequence", err["message"])
        cfg = cluster.config(db="sqlascii", cdc=False)
        fails(configured_catalog(self.discover(cfg), streams=["a"], sync_mode="full_refresh"), cfg)
        cfg = cluster.config(db="sqlascii")
        cfg["replication_method"].update({"replication_slot": "sp_slot_ascii", "publication": "sp_pub_ascii"})
        cat = configured_catalog(self.discover(cfg), streams=["a"])
        cluster.psql("DELETE FROM a WHERE id = 1;", db="sqlascii")
        state = self.read(cat, cfg=cfg).states()[-1]
        cluster.psql("INSERT INTO a VALUES (3, E'again\\xff');", db="sqlascii")
        fails(cat, cfg, state)

    def test_xmin(self):
        cfg = cluster.config(cdc=False, replication_method={"method": "Xmin"})
        cat = self.catalog(cfg, None)
        r = self.read(cat, cfg=cfg)
        self.assertEqual(len(r.records("inc")), 100)
        st = self.stream_state(r)
        self.assertIn("xmin_raw_value", st["stream"]["stream_state"])
        cluster.psql("UPDATE inc SET v = 'x' WHERE id = 7; INSERT INTO inc VALUES (200, 'new', now());")
        r = self.read(cat, state=st, cfg=cfg)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records()), [7, 200])
        r = self.read(cat, state=self.stream_state(r), cfg=cfg)
        self.assertEqual(r.records(), [])

    def test_xmin_and_standard_states_that_cannot_be_theirs(self):
        """A state these reads could not have written: an xmin ahead of the server's transactions
        fails naming it; a value of the wrong type reads every row, with a warning; a CDC GLOBAL
        state fails naming the fix"""
        cfg = cluster.config(cdc=False, replication_method={"method": "Xmin"})
        cat = self.catalog(cfg, None)
        st = self.stream_state(self.read(cat, cfg=cfg))
        ahead = json.loads(json.dumps(st))
        ahead["stream"]["stream_state"]["xmin_raw_value"] = 1 << 40
        r = self.read(cat, state=ahead, cfg=cfg, expect_rc=1)
        err = r.trace_errors()[0]
        self.assertEqual(err["failure_type"], "config_error")
        self.assertIn("xmin_raw_value %d is ahead of this server's transactions" % (1 << 40), err["message"])
        self.assertEqual(r.records(), [])
        garbage = json.loads(json.dumps(st))
        garbage["stream"]["stream_state"]["xmin_raw_value"] = "garbage"
        r = self.read(cat, state=garbage, cfg=cfg)
        self.assertEqual(len(r.records("inc")), int(cluster.query("SELECT count(*) FROM inc")[0][0]))
        self.assertTrue(any("xmin_raw_value is not a positive integer" in m for m in r.logs()), r.raw[-2000:])
        std = cluster.config(cdc=False)
        std_cat = self.catalog(std, "id")
        st = self.stream_state(self.read(std_cat, cfg=std))
        st["stream"]["stream_state"]["cursor"] = 5
        r = self.read(std_cat, state=st, cfg=std)
        self.assertEqual(len(r.records("inc")), int(cluster.query("SELECT count(*) FROM inc")[0][0]))
        self.assertTrue(any("the saved cursor is a JSON number" in m for m in r.logs()), r.raw[-2000:])
        # the other mode's state: every row, with a warning saying why
        xst = self.stream_state(self.read(cat, cfg=cfg))
        sst = self.stream_state(self.read(std_cat, cfg=std))
        for c, f, other, says in ((std_cat, std, xst, "an Xmin read's"), (cat, cfg, sst, "a Standard read's")):
            r = self.read(c, state=other, cfg=f)
            self.assertEqual(len(r.records("inc")), int(cluster.query("SELECT count(*) FROM inc")[0][0]))
            self.assertTrue(any("the saved state is %s" % says in m for m in r.logs()), r.logs())
        glob = {"type": "GLOBAL", "global": {"shared_state": {"lsn": "0/1"}, "stream_states": []}}
        for method, cursor in (("Xmin", None), ("Standard", "id")):
            mcfg = cluster.config(cdc=False, replication_method={"method": method})
            r = self.read(self.catalog(mcfg, cursor), state=glob, cfg=mcfg, expect_rc=1)
            err = r.trace_errors()[0]
            self.assertEqual(err["failure_type"], "config_error")
            self.assertIn("reset the streams after changing replication_method", err["message"])

    def big_xmin_table(self):
        """xmin_big: 9,000 rows one to a block (fillfactor 10, 700-byte rows), so an Xmin pass
        takes three ctid chunks of 4,001 blocks; its configured catalog and config"""
        cluster.psql("DROP TABLE IF EXISTS xmin_big; CREATE TABLE xmin_big (id int PRIMARY KEY, pad text)"
                     " WITH (fillfactor = 10); ALTER TABLE xmin_big OWNER TO capture;"
                     "INSERT INTO xmin_big SELECT g, repeat('x', 700) FROM generate_series(1, 9000) g;")
        cfg = cluster.config(cdc=False, replication_method={"method": "Xmin"})
        cat = configured_catalog(self.discover(cfg), streams=["xmin_big"])
        cat["streams"][0].pop("cursor_field", None)
        return cat, cfg

    def test_xmin_pass_checkpoints_and_resumes(self):
        """An Xmin pass emits a state after each ctid chunk; a read resumed from one reads
        exactly the blocks left, ends with the horizon of the read that began the pass, and
        the next read has the rows changed meanwhile (in blocks already read, too)"""
        cat, cfg = self.big_xmin_table()
        r = self.read(cat, cfg=cfg)
        seen, states = [], []
        for m in r.messages:
            if m["type"] == "RECORD":
                seen.append(m["record"]["data"]["id"])
            elif m["type"] == "STATE":
                states.append((len(seen), m["state"]))
        self.assertEqual(sorted(seen), list(range(1, 9001)))
        self.assertEqual(len(states), 3, [s for _, s in states])
        total = 0
        for n, st in states:
            total += st["sourceStats"]["recordCount"]
            self.assertEqual(total, n)
        mid = states[0][1]["stream"]["stream_state"]
        self.assertEqual(mid["xmin_pass"]["ctid_block"], 4001)
        self.assertEqual(states[-1][1]["stream"]["stream_state"], {"xmin_raw_value": mid["xmin_pass"]["xmin_next"]})
        cluster.psql("UPDATE xmin_big SET pad = 'changed' WHERE id = 1;")
        rest = self.read(cat, state=states[0][1], cfg=cfg)
        self.assertEqual(sorted(x["data"]["id"] for x in rest.records()), sorted(seen[states[0][0]:]))
        # its own first pass saves xmin_raw_value 0: nothing to warn about
        self.assertFalse([l for l in rest.logs() if "not a positive integer" in l], rest.logs())
        ahead = json.loads(json.dumps(states[0][1]))
        ahead["stream"]["stream_state"]["xmin_pass"]["xmin_next"] = 1 << 40
        err = self.read(cat, state=ahead, cfg=cfg, expect_rc=1).trace_errors()[0]
        self.assertIn("xmin_pass.xmin_next %d is ahead" % (1 << 40), err["message"])
        end = self.stream_state(rest)["stream"]["stream_state"]
        self.assertEqual(end, {"xmin_raw_value": mid["xmin_pass"]["xmin_next"]})
        after = self.read(cat, state=self.stream_state(rest), cfg=cfg)
        self.assertEqual([x["data"]["id"] for x in after.records()], [1])

    def test_full_refresh_checkpoints_and_resumes(self):
        """A full refresh of a table larger than a chunk emits a state after each ctid range, all
        in one snapshot; stopped by SIGTERM it ends at one, and a read resumed from it, in a new
        snapshot, copies the ranges left and the rows an update moved into the ranges copied
        before (which a copy of the ranges left alone would miss)"""
        cat, cfg = self.big_xmin_table()
        cat["streams"][0]["sync_mode"] = "full_refresh"
        # by default a table this small (70 MB) is one faster COPY, with one state at its end
        self.assertEqual([s["stream"]["stream_state"] for s in self.read(cat, cfg=cfg).states()], [{}])
        cfg["replication_method"]["full_refresh_checkpoint_min_mb"] = 0
        cluster.psql("ANALYZE xmin_big;")   # the size is the catalog's
        r = self.read(cat, cfg=cfg)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records()), list(range(1, 9001)))
        states = [s["stream"]["stream_state"] for s in r.states()]
        self.assertEqual([s.get("ctid_block") for s in states], [4001, 8002, None])
        self.assertEqual(states[-1], {})
        self.assertEqual(sum(s["sourceStats"]["recordCount"] for s in r.states()), 9000)
        # its last state follows its last record at once (a stop after it then costs nothing)
        last = max(i for i, m in enumerate(r.messages) if m["type"] == "RECORD")
        self.assertEqual([m["type"] for m in r.messages[last + 1:] if m["type"] != "LOG"][0], "STATE")
        # a role granted only columns cannot name ctid or xmin: one COPY instead
        cluster.psql("DROP TABLE IF EXISTS cols_only; CREATE TABLE cols_only (id int PRIMARY KEY, pad text,"
                     " secret text) WITH (fillfactor = 10); INSERT INTO cols_only SELECT g, repeat('x', 700),"
                     " 's' FROM generate_series(1, 9000) g; ANALYZE cols_only; GRANT SELECT (id, pad) ON cols_only TO capture;")
        self.addCleanup(cluster.psql, "DROP TABLE cols_only;")
        cc = configured_catalog(self.discover(cfg), streams=["cols_only"], sync_mode="full_refresh")
        cr = self.read(cc, cfg=cfg)
        self.assertEqual(len(cr.records()), 9000)
        self.assertEqual([s["stream"]["stream_state"] for s in cr.states()], [{}])
        # a CDC config copies in one COPY (its states are GLOBAL once it captures a table)
        cdc = self.cfg()
        cdc["replication_method"]["full_refresh_checkpoint_min_mb"] = 0
        fr = self.read(cat, cfg=cdc)
        self.assertEqual([s["stream"]["stream_state"] for s in fr.states()], [{}])
        self.assertEqual(len(fr.records()), 9000)
        seen, state = self.sigterm_after_first_record(cat, cfg)
        self.assertEqual(sorted(x["id"] for x in seen), list(range(1, 4002)))
        # id 9000 (block 8999, not copied yet) moves to block 0 (copied): too big for its own
        # block, it goes where VACUUM found room
        cluster.psql("ALTER TABLE xmin_big ALTER pad SET STORAGE PLAIN, SET (fillfactor = 100);"
                     "DELETE FROM xmin_big WHERE id = 1; VACUUM (INDEX_CLEANUP on) xmin_big;"
                     "UPDATE xmin_big SET pad = repeat('y', 7600) WHERE id = 9000;")
        self.assertEqual(cluster.query("SELECT (ctid::text::point)[0] FROM xmin_big WHERE id = 9000"), [["0"]])
        rest = self.read(cat, state=state, cfg=cfg)
        self.assertTrue(any("resuming the full refresh at block 4001" in l for l in rest.logs()), rest.logs())
        self.assertEqual(sorted(x["data"]["id"] for x in rest.records()), list(range(4002, 9001)))
        self.assertEqual(rest.states()[-1]["stream"]["stream_state"], {})
        # the platform starts the next sync from its final state: the whole table again
        again = self.read(cat, state=rest.states()[-1], cfg=cfg)
        self.assertEqual(len(again.records()), 8999)

    def test_xmin_pass_stopped_by_sigterm_ends_at_a_state(self):
        cat, cfg = self.big_xmin_table()
        seen, state = self.sigterm_after_first_record(cat, cfg)
        self.assertEqual(len(seen), 4001, "stopped after the first chunk (stdout was not read meanwhile)")
        rest = self.read(cat, state=state, cfg=cfg)
        self.assertEqual(sorted([x["id"] for x in seen] + [x["data"]["id"] for x in rest.records()]),
                         list(range(1, 9001)))

class PartitionTest(ReadBase):
    slot = "sp_slot_part"
    pub = "sp_pub_part"

    def test_partitioned_table_through_its_root(self):
        self.drop_slot()
        cluster.psql("""
            DROP TABLE IF EXISTS pt;
            CREATE TABLE pt (id int, d date, v text, PRIMARY KEY (id, d)) PARTITION BY RANGE (d);
            CREATE TABLE pt_2024 PARTITION OF pt FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
            CREATE TABLE pt_2025 PARTITION OF pt FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
            ALTER TABLE pt OWNER TO capture; ALTER TABLE pt_2024 OWNER TO capture; ALTER TABLE pt_2025 OWNER TO capture;
            INSERT INTO pt VALUES (1, '2024-05-01', 'a'), (2, '2025-05-01', 'b');
        """)
        cat = configured_catalog(self.discover(), streams=["pt"])
        r = self.read(cat)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records()), [1, 2])
        cluster.psql("INSERT INTO pt VALUES (3, '2025-06-01', 'c'); UPDATE pt SET v = 'A' WHERE id = 1;")
        r = self.read(cat, state=r.states()[-1])
        self.assertEqual([(x["stream"], x["data"]["id"]) for x in r.records()], [("pt", 3), ("pt", 1)])
        # a publication made without publish_via_partition_root would hide those changes: refused
        self.drop_slot()
        cluster.psql("SET ROLE capture; CREATE PUBLICATION %s FOR TABLE pt; RESET ROLE;" % self.pub)
        r = self.read(cat, expect_rc=1)
        self.assertIn("publish_via_partition_root", r.trace_errors()[0]["message"])


    def test_partition_attached_or_detached_between_reads(self):
        """ATTACH and DETACH PARTITION are not changes pgoutput sends. A read finding that a table
        with rows of its own was attached (the usual way to load a partition), or attached again
        after a detach, backfills the partitioned table again, so those rows reach the
        destination; a partition made empty (and filled through the stream since) does not
        cause a backfill, and one detached is warned about"""
        self.drop_slot()
        cluster.psql("""
            DROP TABLE IF EXISTS pr, pr3, pr4, pr5;
            CREATE TABLE pr (id int PRIMARY KEY, v int) PARTITION BY RANGE (id);
            CREATE TABLE pr1 PARTITION OF pr FOR VALUES FROM (0) TO (10);
            CREATE TABLE pr2 PARTITION OF pr FOR VALUES FROM (10) TO (20);
            ALTER TABLE pr OWNER TO capture; ALTER TABLE pr1 OWNER TO capture; ALTER TABLE pr2 OWNER TO capture;
            INSERT INTO pr VALUES (1, 1), (11, 2);
        """)
        cat = configured_catalog(self.discover(), streams=["pr"])
        r = self.read(cat)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records()), [1, 11])

        def again(sql, expect_ids, backfilled):
            cluster.psql(sql)
            res = self.read(cat, state=self.state)
            self.assertEqual(any("reading the table again in full" in l for l in res.logs()), backfilled, res.logs())
            self.assertEqual(sorted(x["data"]["id"] for x in res.records()), expect_ids)
            self.state = res.states()[-1]
            return res
        self.state = r.states()[-1]
        # made ahead of time, empty when a read first sees it, filled since: the stream has its rows
        again("CREATE TABLE pr4 PARTITION OF pr FOR VALUES FROM (30) TO (40); ALTER TABLE pr4 OWNER TO capture;",
              [], False)
        again("INSERT INTO pr VALUES (31, 5);", [31], False)
        # loaded in a subtransaction, then attached in the same transaction (its rows' xmin is
        # newer than the attach's): backfilled again
        again("BEGIN; CREATE TABLE pr5 (id int PRIMARY KEY, v int); ALTER TABLE pr5 OWNER TO capture; SAVEPOINT s;"
              "INSERT INTO pr5 VALUES (41, 6); RELEASE s; ALTER TABLE pr ATTACH PARTITION pr5 FOR VALUES FROM (40) TO (50);"
              "COMMIT;", [1, 11, 31, 41], True)
        # a loaded table attached: backfilled again
        again("CREATE TABLE pr3 (id int PRIMARY KEY, v int); ALTER TABLE pr3 OWNER TO capture;"
              "INSERT INTO pr3 VALUES (21, 3); ALTER TABLE pr ATTACH PARTITION pr3 FOR VALUES FROM (20) TO (30);"
              "INSERT INTO pr VALUES (2, 4);", [1, 2, 11, 21, 31, 41], True)
        # detached: warned about; changed while out and attached again: backfilled again
        res = again("ALTER TABLE pr DETACH PARTITION pr3;", [], False)
        self.assertTrue(any("detached or dropped" in l for l in res.logs()), res.logs())
        again("UPDATE pr3 SET v = 30; ALTER TABLE pr ATTACH PARTITION pr3 FOR VALUES FROM (20) TO (30);",
              [1, 2, 11, 21, 31, 41], True)
        self.drop_slot()

    def standard_and_xmin_reads(self, table, cursor):
        """A Standard read of table by cursor and an Xmin read of it: [(result, catalog, config)]"""
        cat, cfg = self.standard_catalog(table, cursor)
        xcfg = cluster.config(cdc=False, replication_method={"method": "Xmin"})
        xcat = configured_catalog(self.discover(xcfg), streams=[table])
        xcat["streams"][0].pop("cursor_field", None)
        return [(self.read(cat, cfg=cfg), cat, cfg), (self.read(xcat, cfg=xcfg), xcat, xcfg)]

    def test_partition_attached_between_standard_and_xmin_reads(self):
        """A loaded table attached between Standard or Xmin reads: its rows are below the saved
        cursor, or older than the saved horizon, and would never be read; the read finds the new
        partition and reads every row"""
        cluster.psql("""
            DROP TABLE IF EXISTS ps, ps_old;
            CREATE TABLE ps (id int, ts int NOT NULL, PRIMARY KEY (id, ts)) PARTITION BY RANGE (id);
            CREATE TABLE ps1 PARTITION OF ps FOR VALUES FROM (0) TO (10);
            CREATE TABLE ps_old (id int NOT NULL, ts int NOT NULL, PRIMARY KEY (id, ts));
            ALTER TABLE ps OWNER TO capture; ALTER TABLE ps1 OWNER TO capture; ALTER TABLE ps_old OWNER TO capture;
            INSERT INTO ps VALUES (1, 100); INSERT INTO ps_old VALUES (11, 5);
        """)
        reads = self.standard_and_xmin_reads("ps", "ts")
        cluster.psql("ALTER TABLE ps ATTACH PARTITION ps_old FOR VALUES FROM (10) TO (20);")
        for r0, c, f in reads:
            r = self.read(c, state=r0.states()[-1], cfg=f)
            self.assertTrue(any("reading the table again in full" in l for l in r.logs()), r.logs())
            self.assertIn(11, [x["data"]["id"] for x in r.records()])
            # and the next read, from a state that lists the partition, reads nothing again
            r = self.read(c, state=r.states()[-1], cfg=f)
            self.assertNotIn(11, [x["data"]["id"] for x in r.records()])

    def test_inheritance_child_joining_between_standard_and_xmin_reads(self):
        """ALTER TABLE ... INHERIT of a loaded table between Standard or Xmin reads, which read a
        parent with its children: as with an attached partition, its rows are below the saved
        cursor or older than the saved horizon, so the read reads every row; for a parent that
        had children at the first read, and one that had none"""
        for had_child in (True, False):
            cluster.psql("""
                DROP TABLE IF EXISTS ih, ih_c1, ih_loaded;
                CREATE TABLE ih (id int PRIMARY KEY, c int NOT NULL);
                CREATE TABLE ih_loaded (id int PRIMARY KEY, c int NOT NULL);
                ALTER TABLE ih OWNER TO capture; ALTER TABLE ih_loaded OWNER TO capture;
                INSERT INTO ih VALUES (1, 100); INSERT INTO ih_loaded VALUES (11, 5), (12, 6);
            """ + ("CREATE TABLE ih_c1 () INHERITS (ih); ALTER TABLE ih_c1 OWNER TO capture;"
                   "INSERT INTO ih_c1 VALUES (2, 200);" if had_child else ""))
            reads = self.standard_and_xmin_reads("ih", "c")
            xmin = reads[1][0]
            self.assertEqual(sorted(x["data"]["id"] for x in xmin.records()), [1, 2] if had_child else [1])
            cluster.psql("ALTER TABLE ih_loaded INHERIT ih;")
            for r0, c, f in reads:
                r = self.read(c, state=r0.states()[-1], cfg=f)
                self.assertTrue(any("reading the table again in full" in l for l in r.logs()), r.logs())
                self.assertIn(11, [x["data"]["id"] for x in r.records()])
                r = self.read(c, state=r.states()[-1], cfg=f)
                self.assertEqual(r.records(), [])
            # the last child leaving is warned about: its rows stay in the destination
            cluster.psql("ALTER TABLE ih_loaded NO INHERIT ih;" + ("DROP TABLE ih_c1;" if had_child else ""))
            r = self.read(c, state=r.states()[-1], cfg=f)
            self.assertTrue(any("were detached or dropped" in l for l in r.logs()), r.logs())
        # CDC reads the parent ONLY: a child joining changes nothing of it
        self.drop_slot()
        cat = configured_catalog(self.discover(), streams=["ih"])
        r = self.read(cat)
        self.assertEqual([x["data"]["id"] for x in r.records()], [1])
        cluster.psql("CREATE TABLE ih_c2 () INHERITS (ih); INSERT INTO ih_c2 VALUES (3, 300);")
        r = self.read(cat, state=r.states()[-1])
        self.assertEqual(r.records(), [])
        self.drop_slot()
        cluster.psql("DROP TABLE ih, ih_loaded, ih_c2;")


class TlsTest(ReadBase):
    """Backfill, streaming and full refresh over TLS (the server rejects plaintext TCP). Reads over
    TLS take libpq's one-record-at-a-time path, which the batched socket reads must not stall."""

    @classmethod
    def setUpClass(cls):
        cls.tls_cluster = Cluster(tls=True).start()
        cls.tls_cluster.create_capture_role()
        cls.tls_cluster.psql("""
            CREATE TABLE tls_t (id bigint PRIMARY KEY, t text, n numeric);
            ALTER TABLE tls_t OWNER TO capture;
            INSERT INTO tls_t SELECT g, md5(g::text), g / 7.0 FROM generate_series(1, 30000) g;""")

    @classmethod
    def tearDownClass(cls):
        cls.tls_cluster.stop()

    def tls_cfg(self, mode, cdc=True, **kw):
        c = self.tls_cluster.config(cdc=cdc, ssl_mode={"mode": mode})
        if cdc:
            c["replication_method"].update({"replication_slot": "tls_slot", "publication": "tls_pub"}, **kw)
        return c

    def test_connection_errors_name_the_fix(self):
        """A refused connection is explained by the attempt that got furthest (libpq reports one
        line per attempt), and names what to change"""
        def failed(cfg, expect):
            r = run_connector(["check"], self.tmp, config=cfg)
            st = r.of_type("CONNECTION_STATUS")[0]["connectionStatus"]
            self.assertEqual(st["status"], "FAILED")
            self.assertIn(expect, st["message"])
            self.assertNotIn(PASSWORD, r.raw)
            return st["message"]
        # plaintext refused by pg_hba.conf (hostssl only)
        failed(self.tls_cfg("disable", cdc=False), "set ssl_mode to require")
        # allow: refused in plaintext, then the password is wrong over TLS
        cfg = self.tls_cfg("allow", cdc=False)
        cfg["password"] = "wrong"
        self.assertNotIn("no encryption", failed(cfg, "check the username and password"))
        # an encrypted client key with the wrong passphrase
        key, crt, ekey = (os.path.join(self.tmp, n) for n in ("k.pem", "c.pem", "ek.pem"))
        subprocess.run(["openssl", "req", "-new", "-x509", "-days", "2", "-nodes", "-subj", "/CN=capture",
                        "-keyout", key, "-out", crt], check=True, capture_output=True)
        subprocess.run(["openssl", "pkcs8", "-topk8", "-in", key, "-out", ekey, "-passout", "pass:right"],
                       check=True, capture_output=True)
        cfg = self.tls_cfg("require", cdc=False)
        with open(crt) as c, open(ekey) as k:
            cfg["ssl_mode"].update(client_certificate=c.read(), client_key=k.read(), client_key_password="wrong")
        failed(cfg, "client_key_password")
        # an encrypted client key without client_key_password: a clear failure, not OpenSSL asking
        # for the passphrase on the terminal or, without one, on stdin (here a pipe kept open)
        del cfg["ssl_mode"]["client_key_password"]
        path = os.path.join(self.tmp, "nopw.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        rfd, wfd = os.pipe()
        try:
            r = subprocess.run([BINARY, "check", "--config", path], stdin=rfd, capture_output=True, timeout=30,
                               start_new_session=True)
        finally:
            os.close(rfd)
            os.close(wfd)
        self.assertEqual(r.returncode, 0)
        self.assertNotIn(b"pass phrase", r.stderr + r.stdout)
        st = [json.loads(l) for l in r.stdout.decode().split("\n") if l][-1]["connectionStatus"]
        self.assertEqual(st["status"], "FAILED")
        self.assertIn("client_key_password", st["message"])

    def test_reads_over_tls(self):
        # plaintext is refused, so every read below went over TLS
        r = run_connector(["check"], self.tmp, config=self.tls_cfg("disable"))
        self.assertEqual(r.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"], "FAILED")

        cfg = self.tls_cfg("require", backfill_chunk_size=7000)
        cat = configured_catalog(self.discover(cfg), streams=["tls_t"])
        r = self.read(cat, cfg=cfg)
        self.assertEqual(sorted(x["data"]["id"] for x in r.records()), list(range(1, 30001)))
        self.assertGreaterEqual(len(r.states()), 5, "a state after every chunk")

        # one large transaction and many small ones, streamed
        self.tls_cluster.psql("INSERT INTO tls_t SELECT g, md5(g::text), g / 7.0 FROM generate_series(30001, 60000) g;")
        self.tls_cluster.psql("DO $$ BEGIN FOR k IN 0..99 LOOP UPDATE tls_t SET t = 'u' WHERE id BETWEEN k * 10 + 1 AND k * 10 + 10; "
                              "COMMIT; END LOOP; END $$;")
        r = self.read(cat, state=r.states()[-1], cfg=cfg)
        recs = r.records()
        self.assertEqual(sorted(x["data"]["id"] for x in recs if x["data"]["t"] != "u"), list(range(30001, 60001)))
        self.assertEqual(sorted(x["data"]["id"] for x in recs if x["data"]["t"] == "u"), list(range(1, 1001)))

        std = self.tls_cfg("require", cdc=False)
        fr = configured_catalog(self.discover(std), streams=["tls_t"], sync_mode="full_refresh")
        r = self.read(fr, cfg=std)
        self.assertEqual(len(r.records()), 60000)
        self.assertEqual(sum(1 for x in r.records() if x["data"]["t"] == "u"), 1000)


if __name__ == "__main__":
    unittest.main()
