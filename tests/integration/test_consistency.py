"""Backfill under concurrent writes, and kill -9 at random moments with resumption from the last
STATE a platform would have committed: the replayed destination must equal the source."""
import json
import os
import random
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from destination import Destination, canon, source_rows
from harness import BINARY, Cluster, configured_catalog, protocol_validator, run_connector
from writer import RandomWriter

TABLES = ["acct", "ckey", "kl"]
KEYS = {"acct": ["id"], "ckey": ["region", "code"], "kl": None}

SCHEMA = """
    CREATE TABLE acct (id bigint PRIMARY KEY, balance int, note text, touched timestamptz);
    CREATE TABLE ckey (region text COLLATE "en_US.utf8", code text, qty int, PRIMARY KEY (region, code));
    CREATE TABLE kl (a int, b text);
    ALTER TABLE kl REPLICA IDENTITY FULL;
    ALTER TABLE acct OWNER TO capture; ALTER TABLE ckey OWNER TO capture; ALTER TABLE kl OWNER TO capture;
    INSERT INTO acct SELECT g, g % 100, 'n' || g, now() FROM generate_series(1, 4000) g;
    INSERT INTO ckey SELECT r, 'c' || lpad((g % 1000)::text, 3, '0'), g % 7
      FROM generate_series(1, 3000) g, (VALUES ('north'), ('South'), ('éast'), ('WEST'), ('Zürich'), ('a b'), ('x"y')) v(r)
      WHERE g % 7 = (ascii(r) % 7) ON CONFLICT DO NOTHING;
    INSERT INTO kl SELECT g, 'kl-' || g FROM generate_series(1, 3000) g;
"""


def collation_available(cluster):
    return bool(cluster.query("SELECT 1 FROM pg_collation WHERE collname = 'en_US.utf8'"))


def shows_interleaving(msgs, acct_id):
    """acct's 'paced' record for acct_id comes between two of ckey's backfill checkpoints with
    different cursors: a chunk of ckey was copied on either side of it"""
    def ckey_cursor(m):
        if m["type"] != "STATE":
            return None
        ck = [s["stream_state"] for s in m["state"]["global"]["stream_states"]
              if s["stream_descriptor"]["name"] == "ckey"]
        return json.dumps(ck[0].get("cursor")) if ck and ck[0]["phase"] == "backfill" else None
    at = [i for i, m in enumerate(msgs) if m["type"] == "RECORD" and m["record"]["stream"] == "acct"
          and m["record"]["data"].get("id") == acct_id and m["record"]["data"].get("note") == "paced"]
    if len(at) != 1:
        return False
    before = [c for c in map(ckey_cursor, msgs[:at[0]]) if c is not None]
    after = [c for c in map(ckey_cursor, msgs[at[0]:]) if c is not None]
    return bool(before) and bool(after) and before[-1] != after[-1]


def lsn_number(text):
    """An LSN ("16/B374D848") as a number"""
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def kill_if_running(p):
    """Kill p (a subprocess, or None) if it is still running, and reap it"""
    if p is not None and p.poll() is None:
        p.kill()
        p.wait()


class TableLock:
    """A session of the test's own that holds ACCESS EXCLUSIVE on a table, one transaction after
    another, so that the connector's next statement on that table waits where the test says."""
    APP = "sp-test-lock"

    def __init__(self, cluster, table, lock_sql=None):
        self.cluster = cluster
        self.table = table
        self.lock_sql = lock_sql or "LOCK TABLE %s IN ACCESS EXCLUSIVE MODE" % table
        self.p = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.sockdir,
                                   "-p", str(cluster.port), "-U", "postgres", "-d", "postgres"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL, text=True,
                                  env=dict(os.environ, PGAPPNAME=self.APP))
        self.vxid = None

    def _send(self, sql):
        self.p.stdin.write(sql + "\n")
        self.p.stdin.flush()

    def _granted(self):
        rows = self.cluster.query(
            "SELECT l.virtualtransaction FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE a.application_name = '%s' AND l.relation = '%s'::regclass "
            "AND l.mode = 'AccessExclusiveLock' AND l.granted" % (self.APP, self.table))
        return rows[0][0] if rows else None

    def take(self, wait_until):
        """End the transaction holding the lock (if any) and take the lock in a new one. A
        statement waiting for the table runs first: the lock comes back once it is done."""
        old = self.vxid
        self._send(("COMMIT; " if old else "") + "BEGIN; %s;" % self.lock_sql)
        wait_until(lambda: self._granted() not in (None, old), "the test's lock on %s" % self.table)
        self.vxid = self._granted()

    def waiting(self):
        """The statements of the sessions waiting for the table"""
        return [r[0] for r in self.cluster.query(
            "SELECT a.query FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
            "WHERE l.relation = '%s'::regclass AND NOT l.granted" % self.table)]

    def close(self):
        try:
            self._send("COMMIT;")
            self.p.stdin.close()
            self.p.wait(timeout=30)
        finally:
            kill_if_running(self.p)


class ConsistencyTest(unittest.TestCase):
    def setUp(self):
        self.cluster = Cluster().start()
        self.tmp = tempfile.mkdtemp(prefix="sp-cons-")
        self.cluster.create_capture_role()
        schema = SCHEMA if collation_available(self.cluster) else SCHEMA.replace(' COLLATE "en_US.utf8"', "")
        self.cluster.psql(schema)
        cfg = self.cluster.config()
        cfg["replication_method"].update({"backfill_chunk_size": 150, "checkpoint_records": 500,
                                          "checkpoint_interval_seconds": 1})
        self.cfg = cfg
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        self.catalog = configured_catalog(cat, streams=TABLES)
        self.assertEqual({s["sync_mode"] for s in self.catalog["streams"]}, {"incremental"})
        with open(os.path.join(self.tmp, "config.json"), "w") as f:
            json.dump(cfg, f)
        with open(os.path.join(self.tmp, "catalog.json"), "w") as f:
            json.dump(self.catalog, f)

    def tearDown(self):
        self.cluster.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def read_argv(self, state, catalog_path=None):
        """argv of a read from state (none: a first read), the state file written to tmp"""
        argv = [BINARY, "read", "--config", os.path.join(self.tmp, "config.json"),
                "--catalog", catalog_path or os.path.join(self.tmp, "catalog.json")]
        if state is not None:
            with open(os.path.join(self.tmp, "state.json"), "w") as f:
                json.dump([state], f)
            argv += ["--state", os.path.join(self.tmp, "state.json")]
        return argv

    @staticmethod
    def output(out_path):
        """The output's raw text and its complete messages, each validated against the protocol:
        a line cut off by a kill is not a message (the platform drops it)"""
        with open(out_path, "rb") as f:
            raw = f.read().decode("utf-8", "replace")
        msgs = [json.loads(l) for l in raw.split("\n")[:-1] if l]
        for m in msgs:
            protocol_validator().validate(m)
        return raw, msgs

    def read_once(self, state, kill_after=None, catalog_path=None):
        """One read; optionally SIGKILLed after kill_after seconds. Returns complete parsed lines."""
        argv = self.read_argv(state, catalog_path)
        out_path = os.path.join(self.tmp, "out.jsonl")
        with open(out_path, "wb") as out:
            p = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
            killed = False
            if kill_after is not None:
                try:
                    p.wait(timeout=kill_after)
                except subprocess.TimeoutExpired:
                    p.send_signal(signal.SIGKILL)
                    killed = True
            _, err = p.communicate(timeout=600)
        raw, msgs = self.output(out_path)
        if not killed:
            self.assertEqual(p.returncode, 0, raw[-3000:] + err.decode())
        return msgs, killed

    def paced_read(self, state, catalog_path):
        """A read in which ckey's chunk queries wait on a lock this test holds: the first chunk is
        let through, an acct row is updated while the second waits, and the connector is
        SIGKILLed once the third waits. Other statements on ckey (adding it to the publication)
        are let through, and so is the read's wait for the transactions running once it has
        added ckey (the lock's among them). Returns the complete messages and the id of the acct
        row updated."""
        argv = self.read_argv(state, catalog_path)
        out_path = os.path.join(self.tmp, "out.jsonl")
        err_path = os.path.join(self.tmp, "err.log")
        acct_id = 7
        p = None

        def wait_until(cond, what):
            deadline = time.monotonic() + 60
            while not cond():
                if p is not None and p.poll() is not None:
                    with open(out_path, "rb") as o, open(err_path, "rb") as e:
                        self.fail("the connector exited (%d) while the test waited for %s:\n%s%s"
                                  % (p.returncode, what, o.read().decode()[-3000:], e.read().decode()[-3000:]))
                if time.monotonic() > deadline:
                    self.fail("timed out waiting for %s" % what)
                time.sleep(0.02)

        lock = TableLock(self.cluster, "ckey")
        try:
            lock.take(wait_until)
            with open(out_path, "wb") as out, open(err_path, "wb") as err:
                p = subprocess.Popen(argv, stdout=out, stderr=err)
                xact_waits = 0

                def xact_waits_now():
                    with open(out_path, "rb") as o:
                        return o.read().count(b"waiting for 1 transaction")

                for chunk in (1, 2, 3):
                    while True:
                        queries = []
                        wait_until(lambda: bool(queries.extend(lock.waiting()) or queries) or
                                   xact_waits_now() > xact_waits, "ckey's chunk %d to wait on the lock" % chunk)
                        xact_waits = xact_waits_now()
                        # a copy waits in its transaction's LOCK TABLE, taken before the COPY
                        if any(q.lstrip().upper().startswith("COPY") or "LOCK TABLE" in q.upper()
                               for q in queries):
                            break
                        lock.take(wait_until)
                    if chunk == 2:
                        self.cluster.psql("UPDATE acct SET note = 'paced' WHERE id = %d;" % acct_id)
                    if chunk < 3:
                        lock.take(wait_until)
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=60)
        finally:
            kill_if_running(p)
            lock.close()
        return self.output(out_path)[1], acct_id

    def converge(self, dest, state, max_reads=20):
        for _ in range(max_reads):
            msgs, _ = self.read_once(state)
            state = dest.apply_until_last_state(msgs) or state
            if all(s["stream_state"]["phase"] == "streaming" for s in state["global"]["stream_states"]):
                return state
        self.fail("the backfill did not finish")

    def compare(self, dest):
        cfg = self.cluster.config(cdc=False)
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        r = run_connector(["read"], self.tmp, config=cfg, catalog=configured_catalog(cat, streams=TABLES, sync_mode="full_refresh"))
        self.assertEqual(r.rc, 0)
        for t in TABLES:
            src = source_rows(r.records(), t)
            got = dest.table(t)
            missing = sorted(set(src) - set(got))[:5]
            extra = sorted(set(got) - set(src))[:5]
            self.assertEqual(len(got), len(src), "%s: missing %s extra %s" % (t, missing, extra))
            self.assertEqual(got, src, t)

    def test_backfill_under_concurrent_writes(self):
        dest = Destination(KEYS)
        writer = RandomWriter(self.cluster, seed=7).start()
        try:
            state = None
            reads = 0
            while True:
                msgs, _ = self.read_once(state)
                reads += 1
                state = dest.apply_until_last_state(msgs) or state
                if all(s["stream_state"]["phase"] == "streaming" for s in state["global"]["stream_states"]):
                    break
        finally:
            writer.stop()
        self.assertGreater(writer.ops, 200, "the writer ran throughout")
        self.converge(dest, state)
        msgs, _ = self.read_once(state)
        dest.apply_until_last_state(msgs)
        self.compare(dest)

    def test_kill_and_resume(self):
        rng = random.Random(int(os.environ.get("SP_KILL_SEED", "42")))
        dest = Destination(KEYS)
        state = None
        kills = 0
        records = 0
        resent = 0
        writer = RandomWriter(self.cluster, seed=11).start()
        try:
            attempts = 0
            while kills < 12 and attempts < 80:
                attempts += 1
                msgs, killed = self.read_once(state, kill_after=rng.uniform(0.01, 0.25))
                kills += killed
                records += sum(1 for m in msgs if m["type"] == "RECORD")
                last = max([i for i, m in enumerate(msgs) if m["type"] == "STATE"], default=-1)
                resent += sum(1 for m in msgs[last + 1:] if m["type"] == "RECORD")
                state = dest.apply_until_last_state(msgs) or state
                time.sleep(rng.uniform(0, 0.3))
        finally:
            writer.stop()
        self.assertGreaterEqual(kills, 10, "the connector was killed at least 10 times")
        state = self.converge(dest, state)
        msgs, _ = self.read_once(state)
        dest.apply_until_last_state(msgs)
        self.compare(dest)
        print("\nkill-and-resume: %d kills, %d writer ops, %d records emitted, %d applied, %d identical repeats "
              "applied, %d records after a last STATE (sent again on resume), %d rows in the destination"
              % (kills, writer.ops, records, dest.applied, dest.repeated, resent, sum(len(dest.table(t)) for t in TABLES)))

    def test_initial_load_timeout_under_concurrent_writes(self):
        """With a 4 s initial load timeout each read copies what it can (the first waits on a lock
        past it), streams every change so far (of tables not yet copied too) and fails with a
        transient error; the attempts that follow, each given the last STATE, continue the copies (interleaved with the stream once
        the keyless table streams), confirm the slot past what the one before streamed, and end
        with the destination equal to the source."""
        cfg = dict(self.cfg)
        cfg["replication_method"] = dict(cfg["replication_method"], initial_load_timeout_seconds=4,
                                         backfill_chunk_size=1)
        with open(os.path.join(self.tmp, "config.json"), "w") as f:
            json.dump(cfg, f)
        # the keyed tables alone: a first read with a keyless table would stream it once copied,
        # and interleave the others' backfills, where here the first read backfills them first
        tables = ["acct", "ckey"]
        catalog = os.path.join(self.tmp, "catalog_keyed.json")
        with open(catalog, "w") as f:
            json.dump({"streams": [s for s in self.catalog["streams"] if s["stream"]["name"] in tables]}, f)
        dest = Destination({t: KEYS[t] for t in tables})
        state = None
        timed_out = []  # (the last STATE's LSN, the backfill cursors) of each read that timed out
        # the writer starts once the first read has begun its backfill (the slot made, its end of
        # batch set), so that the changes it then writes lie beyond that end
        writer = RandomWriter(self.cluster, seed=13)
        out_path = os.path.join(self.tmp, "out.jsonl")
        try:
            for _ in range(60):
                argv = self.read_argv(state, catalog)
                with open(out_path, "wb") as out:
                    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE)
                    t0 = time.monotonic()
                    while writer.thread is None:
                        with open(out_path, "rb") as f:
                            if b'"type":"STATE"' in f.read():
                                # a change committed after the read set its end of batch, which
                                # its catch-up must stream all the same
                                self.cluster.psql("UPDATE acct SET note = 'during the backfill' WHERE id = 3999;")
                                writer.start()
                                # and ckey locked for 4.5 s: its copy waits past the deadline, so
                                # this read times out however fast it copies
                                locker = threading.Thread(target=self.cluster.psql, daemon=True, args=(
                                    "BEGIN; LOCK TABLE ckey IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(4.5); COMMIT;",))
                                locker.start()
                        self.assertIsNone(p.poll(), "the first read ended before its first STATE")
                        self.assertLess(time.monotonic() - t0, 3.0, "the first read took 3 s to start its backfill")
                        time.sleep(0.01)
                    # the WAL position 0.6 s before the read's deadline (4 s after it started),
                    # past the end of batch it set at its start
                    time.sleep(max(0.0, 3.4 - (time.monotonic() - t0)))
                    wal_before_deadline = lsn_number(self.cluster.query("SELECT pg_current_wal_insert_lsn()")[0][0])
                    _, err = p.communicate(timeout=600)
                raw, msgs = self.output(out_path)
                errors = [m["trace"]["error"] for m in msgs if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
                before = state
                state = dest.apply_until_last_state(msgs) or state
                backfilling = {s["stream_descriptor"]["name"]: s["stream_state"].get("cursor")
                               for s in state["global"]["stream_states"] if s["stream_state"]["phase"] != "streaming"}
                if p.returncode == 0:
                    self.assertEqual(errors, [])
                    self.assertEqual(backfilling, {}, "a read that exits 0 finished every backfill")
                    break
                self.assertEqual(p.returncode, 1, raw[-3000:] + err.decode())
                self.assertEqual(len(errors), 1, errors)
                self.assertEqual(errors[0]["failure_type"], "transient_error")
                self.assertIn("initial load timeout (initial_load_timeout_seconds = 4, counted from the read's start) passed", errors[0]["message"])
                self.assertEqual(msgs[-1]["type"], "TRACE", "the error comes after the last STATE")
                self.assertTrue(backfilling, "a read that timed out left a backfill to do")
                lsn = lsn_number(state["global"]["shared_state"]["lsn"])
                # it streamed the changes up to when its backfill stopped, not only to its start
                self.assertGreaterEqual(lsn, wal_before_deadline)
                if before is None:
                    self.assertIn("during the backfill", [m["record"]["data"].get("note") for m in msgs if m["type"] == "RECORD"])
                else:
                    self.assertGreater(lsn, lsn_number(before["global"]["shared_state"]["lsn"]))
                    # and it copied at least one chunk: the attempts make progress
                    self.assertNotEqual(backfilling, timed_out[-1][1])
                timed_out.append((lsn, backfilling))
            else:
                self.fail("the backfill did not finish in 60 attempts")
        finally:
            if writer.thread is not None:
                writer.stop()
        self.assertGreaterEqual(len(timed_out), 1, "the timeout stopped the first read")
        # each attempt started by confirming the slot at the state it was given
        confirmed = self.cluster.query("SELECT confirmed_flush_lsn FROM pg_replication_slots")[0][0]
        self.assertGreaterEqual(lsn_number(confirmed), timed_out[-1][0])
        msgs, _ = self.read_once(state, catalog_path=catalog)
        dest.apply_until_last_state(msgs)
        cfg = self.cluster.config(cdc=False)
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        r = run_connector(["read"], self.tmp, config=cfg, catalog=configured_catalog(cat, streams=tables, sync_mode="full_refresh"))
        self.assertEqual(r.rc, 0)
        for t in tables:
            self.assertEqual(dest.table(t), source_rows(r.records(), t), t)
        print("\ninitial load timeout: %d reads timed out, %d writer ops, %d records applied"
              % (len(timed_out), writer.ops, dest.applied))

    def test_table_added_while_others_stream(self):
        """ckey joins while acct streams: backfilled in watermark chunks, interleaved with the
        stream, under the writer and repeated SIGKILLs."""
        only_acct = {"streams": [s for s in self.catalog["streams"] if s["stream"]["name"] == "acct"]}
        both = {"streams": [s for s in self.catalog["streams"] if s["stream"]["name"] in ("acct", "ckey")]}
        paths = {}
        for name, cat in (("acct", only_acct), ("both", both)):
            paths[name] = os.path.join(self.tmp, "catalog_%s.json" % name)
            with open(paths[name], "w") as f:
                json.dump(cat, f)
        dest = Destination({"acct": ["id"], "ckey": ["region", "code"]})
        state = None
        while True:
            msgs, _ = self.read_once(state, catalog_path=paths["acct"])
            state = dest.apply_until_last_state(msgs) or state
            if all(s["stream_state"]["phase"] == "streaming" for s in state["global"]["stream_states"]):
                break
        # the first read that includes ckey is paced by a lock on ckey, so that an acct change is
        # committed while ckey's second chunk is being copied: no timing decides the check
        msgs, acct_id = self.paced_read(state, paths["both"])
        self.assertTrue(shows_interleaving(msgs, acct_id),
                        "acct's change committed during ckey's second chunk was streamed between "
                        "two of ckey's backfill checkpoints")
        state = dest.apply_until_last_state(msgs) or state
        ck = [s for s in state["global"]["stream_states"] if s["stream_descriptor"]["name"] == "ckey"]
        self.assertEqual(ck[0]["stream_state"]["phase"], "backfill", "the paced read stopped mid-backfill")
        rng = random.Random(5)
        writer = RandomWriter(self.cluster, seed=3).start()
        kills = 0
        try:
            attempts = 0
            while kills < 10 and attempts < 80:
                attempts += 1
                msgs, killed = self.read_once(state, kill_after=rng.uniform(0.02, 0.3), catalog_path=paths["both"])
                kills += killed
                state = dest.apply_until_last_state(msgs) or state
        finally:
            writer.stop()
        self.assertGreaterEqual(kills, 10)
        for _ in range(30):
            msgs, _ = self.read_once(state, catalog_path=paths["both"])
            state = dest.apply_until_last_state(msgs) or state
            if all(s["stream_state"]["phase"] == "streaming" for s in state["global"]["stream_states"]):
                break
        msgs, _ = self.read_once(state, catalog_path=paths["both"])
        dest.apply_until_last_state(msgs)
        cfg = self.cluster.config(cdc=False)
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        r = run_connector(["read"], self.tmp, config=cfg, catalog=configured_catalog(cat, streams=["acct", "ckey"], sync_mode="full_refresh"))
        for t in ("acct", "ckey"):
            self.assertEqual(dest.table(t), source_rows(r.records(), t), t)
        print("\ntable added while streaming: %d kills, %d writer ops, %d records applied"
              % (kills, writer.ops, dest.applied))


class RewriteDuringReadTest(unittest.TestCase):
    """A table rewritten, or its column types changed, while a read waits to copy it: the copy
    sees every row as it is after the change, or the read fails and says why; never an empty copy
    taken for the whole table, or values read as another type."""

    def setUp(self):
        self.cluster = Cluster().start()
        self.tmp = tempfile.mkdtemp(prefix="sp-rewrite-")
        self.cluster.create_capture_role()
        self.cluster.psql("""
            -- a view that takes 2 s to copy: the test locks b while the read copies it
            CREATE VIEW a AS SELECT g AS id, 'a' || g || pg_sleep(0.02)::text AS v FROM generate_series(1, 100) g;
            CREATE TABLE b (id int PRIMARY KEY, v int, w bigint, ts timestamptz);
            ALTER VIEW a OWNER TO capture; ALTER TABLE b OWNER TO capture;
            INSERT INTO b SELECT g, g, g * 1000, '2024-01-01'::timestamptz + g * interval '1 hour'
              FROM generate_series(1, 3000) g;
        """)

    def tearDown(self):
        self.cluster.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def read_while(self, cfg, sync_mode, change, cursor=None, from_b_record=False, b="b", lock_sql=None):
        """A read of a and then b, with b locked by this test (by lock_sql, or LOCK TABLE) while
        the read copies a (after it listed the tables); once b's copy waits on the lock, change
        (SQL) runs in the lock's transaction, which commits. from_b_record: the lock is taken once
        a record of b is out instead (a CDC read's backfills come after the views' copies).
        Returns (rc, messages)."""
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        catalog = configured_catalog(cat, streams=["a", b], sync_mode=sync_mode)
        if cursor:
            for st in catalog["streams"]:
                st["cursor_field"] = [cursor]
        paths = {}
        for name, obj in (("config", cfg), ("catalog", catalog)):
            paths[name] = os.path.join(self.tmp, name + ".json")
            with open(paths[name], "w") as f:
                json.dump(obj, f)
        out_path = os.path.join(self.tmp, "out.jsonl")
        p = None

        def wait_until(cond, what):
            deadline = time.monotonic() + 60
            while not cond():
                if p is not None and p.poll() is not None:
                    with open(out_path) as f:
                        self.fail("the connector exited (%d) while the test waited for %s:\n%s"
                                  % (p.returncode, what, f.read()[-3000:]))
                if time.monotonic() > deadline:
                    self.fail("timed out waiting for %s" % what)
                time.sleep(0.02)

        def b_record():
            with open(out_path) as f:
                return '"stream":"%s","emitted_at"' % b in f.read()

        def copying_a():
            return bool(self.cluster.query(
                "SELECT 1 FROM pg_stat_activity WHERE state = 'active' AND query LIKE 'COPY%\"a\"%'"))

        lock = TableLock(self.cluster, b, lock_sql)
        try:
            with open(out_path, "wb") as out:
                p = subprocess.Popen([BINARY, "read", "--config", paths["config"], "--catalog",
                                      paths["catalog"]], stdout=out, stderr=subprocess.DEVNULL)
                wait_until(b_record if from_b_record else copying_a,
                           "b's first record" if from_b_record else "the copy of a")
                lock.take(wait_until)
                # the copy waits in its transaction's LOCK TABLE or SELECT FROM b LIMIT 0
                # (without either, in the COPY)
                wait_until(lambda: any("LOCK TABLE" in q.upper() or "SELECT FROM" in q.upper()
                                       or q.lstrip().upper().startswith("COPY")
                                       for q in lock.waiting()), "b's copy to wait on the lock")
                if not from_b_record:
                    with open(out_path) as f:
                        self.assertNotIn('"stream":"%s","emitted_at"' % b, f.read(), "b was copied before the lock")
                lock._send(change + "; COMMIT;")
                lock.vxid = None
                p.wait(timeout=120)
        finally:
            kill_if_running(p)
            lock.close()
        return p.returncode, self.output(out_path)

    @staticmethod
    def output(out_path):
        with open(out_path) as f:
            return [json.loads(l) for l in f.read().split("\n")[:-1] if l]

    @staticmethod
    def records(msgs, stream):
        return [m["record"]["data"] for m in msgs if m["type"] == "RECORD" and m["record"]["stream"] == stream]

    def test_rewrite_while_a_backfill_waits_to_copy(self):
        """ADD COLUMN with a volatile default rewrites b with rows of its own transaction: a copy
        whose snapshot was taken before it got the lock would see none of them"""
        self.cluster.psql("INSERT INTO b SELECT g, g, g * 1000, now() FROM generate_series(3001, 100000) g;")
        cfg = self.cluster.config()
        cfg["replication_method"]["backfill_chunk_size"] = 100
        rc, msgs = self.read_while(cfg, "incremental", "ALTER TABLE b ADD COLUMN z float8 DEFAULT random()",
                                   from_b_record=True)
        self.assertEqual(rc, 0, [m for m in msgs if m["type"] == "TRACE"][-3:])
        got = sorted(r["id"] for r in self.records(msgs, "b"))
        self.assertEqual(sorted(set(got)), list(range(1, 100001)))
        self.assertEqual(len(self.records(msgs, "a")), 100)

    def test_rewrite_while_a_full_refresh_waits_to_copy(self):
        cfg = self.cluster.config(cdc=False)
        rc, msgs = self.read_while(cfg, "full_refresh", "ALTER TABLE b ADD COLUMN z float8 DEFAULT random()")
        self.assertEqual(rc, 0, [m for m in msgs if m["type"] == "TRACE"][-3:])
        self.assertEqual(sorted(r["id"] for r in self.records(msgs, "b")), list(range(1, 3001)))

    def standard_read_across(self, cfg, change):
        """A Standard incremental read (cursor id) while change runs: the rows past the cursor,
        all of them, and the cursor after them. Returns the LOG messages."""
        rc, msgs = self.read_while(cfg, "incremental", change, cursor="id")
        self.assertEqual(rc, 0, [m for m in msgs if m["type"] == "TRACE"][-3:])
        self.assertEqual(sorted(r["id"] for r in self.records(msgs, "b")), list(range(1, 3001)))
        cursors = [m["state"]["stream"]["stream_state"].get("cursor") for m in msgs if m["type"] == "STATE"
                   and m["state"]["stream"]["stream_descriptor"]["name"] == "b"]
        self.assertEqual(cursors, ["3000"])
        return [m["log"]["message"] for m in msgs if m["type"] == "LOG"]

    def test_rewrite_while_a_standard_read_waits_to_copy(self):
        self.standard_read_across(self.cluster.config(cdc=False), "ALTER TABLE b ADD COLUMN z float8 DEFAULT random()")

    def test_type_changed_while_a_full_refresh_waits_to_copy(self):
        """v becomes a date and w an int: the read stops with a transient error naming the column
        (the next attempt discovers the new types), and no value of b is read as another type"""
        cfg = self.cluster.config(cdc=False)
        rc, msgs = self.read_while(cfg, "full_refresh",
                                   "ALTER TABLE b ALTER v TYPE date USING '2000-01-01'::date + v, "
                                   "ALTER w TYPE int USING (w / 1000)::int")
        self.assertEqual(rc, 1)
        errors = [m["trace"]["error"] for m in msgs if m["type"] == "TRACE" and m["trace"]["type"] == "ERROR"]
        self.assertEqual(len(errors), 1, errors)
        self.assertEqual(errors[0]["failure_type"], "transient_error")
        self.assertIn("column v is no longer of type integer", errors[0]["message"])
        self.assertEqual(self.records(msgs, "b"), [])
        # the next read, with the table discovered again, copies the new values
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        r = run_connector(["read"], self.tmp, config=cfg,
                          catalog=configured_catalog(cat, streams=["b"], sync_mode="full_refresh"))
        self.assertEqual(r.rc, 0)
        got = {x["data"]["id"]: x["data"] for x in r.records("b")}
        self.assertEqual((got[1]["v"], got[1]["w"]), ("2000-01-02", 1))

    def test_materialized_view_and_foreign_table(self):
        """Relations LOCK TABLE does not take are copied as before, without it"""
        self.cluster.psql("""
            CREATE MATERIALIZED VIEW mv AS SELECT id, v FROM b WHERE id <= 10;
            CREATE EXTENSION file_fdw; CREATE SERVER files FOREIGN DATA WRAPPER file_fdw;
            CREATE FOREIGN TABLE ft (x int, y text) SERVER files
              OPTIONS (program 'printf "1,one\\n2,two\\n"', format 'csv');
            ALTER MATERIALIZED VIEW mv OWNER TO capture; GRANT SELECT ON ft TO capture;
        """)
        cfg = self.cluster.config(cdc=False)
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        r = run_connector(["read"], self.tmp, config=cfg,
                          catalog=configured_catalog(cat, streams=["mv", "ft"], sync_mode="full_refresh"))
        self.assertEqual(r.rc, 0, r.raw[-2000:])
        self.assertEqual(len(r.records("mv")), 10)
        self.assertEqual(sorted((x["data"]["x"], x["data"]["y"]) for x in r.records("ft")),
                         [(1, "one"), (2, "two")])

    def column_privileged_role(self):
        """A role that may read id, v and ts of b, but not LOCK it (and may read a)"""
        self.cluster.create_capture_role(name="colonly", replication=False, owner_of_public=False)
        self.cluster.psql("GRANT SELECT (id, v, ts) ON b TO colonly; GRANT SELECT ON a TO colonly;")
        cfg = self.cluster.config(cdc=False, username="colonly")
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        b = [st for st in cat["catalog"]["streams"] if st["name"] == "b"][0]
        self.assertEqual(sorted(b["json_schema"]["properties"]), ["id", "ts", "v"])
        return cfg

    def test_role_with_column_privileges_only(self):
        """A role that may not LOCK b: its copy takes the lock with a SELECT (as the log says,
        once), and a rewrite that it waits for hides none of b's rows"""
        cfg = self.column_privileged_role()
        rc, msgs = self.read_while(cfg, "full_refresh", "ALTER TABLE b ADD COLUMN z float8 DEFAULT random()")
        self.assertEqual(rc, 0, [m for m in msgs if m["type"] == "TRACE"][-3:])
        got = sorted((x["id"], x["v"], x["ts"]) for x in self.records(msgs, "b"))
        self.assertEqual([x[0] for x in got], list(range(1, 3001)))
        self.assertEqual(got[0], (1, 1, "2024-01-01T01:00:00Z"))
        logs = [m["log"]["message"] for m in msgs if m["type"] == "LOG"]
        self.assertEqual(len([l for l in logs if "lock it with a SELECT instead" in l]), 1, logs)

    def test_role_with_column_privileges_only_standard_read(self):
        """Its REPEATABLE READ transaction has its snapshot before the SELECT gets the lock: the
        rewrite it waited for is seen, and the transaction starts again after it"""
        logs = self.standard_read_across(self.column_privileged_role(),
                                         "ALTER TABLE b ADD COLUMN z float8 DEFAULT random()")
        self.assertTrue(any("rewritten or replaced while the read waited" in l for l in logs), logs)

    def test_table_swapped_while_a_column_privileged_standard_read_waits(self):
        """b replaced by another table under its name (a rename swap): the relation the SELECT
        locks is one the REPEATABLE READ snapshot has never seen, so the transaction starts again,
        and the rows of the new b are read"""
        logs = self.standard_read_across(self.column_privileged_role(), """
            CREATE TABLE b_new (LIKE b INCLUDING ALL); INSERT INTO b_new SELECT * FROM b;
            ALTER TABLE b RENAME TO b_old; ALTER TABLE b_new RENAME TO b;
            GRANT SELECT (id, v, ts) ON b TO colonly""")
        self.assertTrue(any("rewritten or replaced while the read waited" in l for l in logs), logs)

if __name__ == "__main__":
    unittest.main()
