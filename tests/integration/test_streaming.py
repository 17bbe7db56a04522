"""Large transactions through pgoutput protocol 2 streaming (PostgreSQL 14+): spooled until their
commit, dropped on abort, aborted subtransactions skipped, no server-side spill."""
import shutil
import subprocess
import tempfile
import time
import unittest

from destination import Destination, source_rows
from harness import Cluster, configured_catalog, run_connector


def first_read(cluster, tmp, ddl, table):
    """A capture role, the table (ddl, owned by it), and a first read of it alone: returns the
    config, the configured catalog and that read."""
    cluster.create_capture_role()
    cluster.psql("%s; ALTER TABLE %s OWNER TO capture;" % (ddl, table))
    cfg = cluster.config()
    cat = configured_catalog(run_connector(["discover"], tmp, config=cfg).of_type("CATALOG")[0], streams=[table])
    r = run_connector(["read"], tmp, config=cfg, catalog=cat)
    assert r.rc == 0, r.raw[-2000:]
    return cfg, cat, r


class StreamingTest(unittest.TestCase):
    def test_streamed_transactions(self):
        cluster = Cluster(settings={"logical_decoding_work_mem": "64kB"}).start()
        tmp = tempfile.mkdtemp()
        try:
            cfg, cat, r = first_read(cluster, tmp, "CREATE TABLE big (id int PRIMARY KEY, pad text, v int)", "big")
            dest = Destination({"big": ["id"]})
            state = dest.apply_until_last_state(r.messages)

            # a big transaction open while a small one commits, with an aborted savepoint inside
            big = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.sockdir, "-p",
                                    str(cluster.port), "-U", "postgres"], stdin=subprocess.PIPE, text=True)
            big.stdin.write("BEGIN;\nINSERT INTO big SELECT g, repeat('x', 200), 0 FROM generate_series(1, 20000) g;\n"
                            "SAVEPOINT s;\nINSERT INTO big SELECT g, 'rolled back', 0 FROM generate_series(900001, 900500) g;\n"
                            "ROLLBACK TO SAVEPOINT s;\nUPDATE big SET v = 1 WHERE id <= 100;\n"
                            # one message larger than the spool's read block
                            "INSERT INTO big VALUES (40000, repeat('q', 600000), 9);\n")
            big.stdin.flush()
            time.sleep(1.5)
            cluster.psql("INSERT INTO big VALUES (50000, 'small', 7);")
            big.stdin.write("INSERT INTO big SELECT g, repeat('y', 200), 2 FROM generate_series(20001, 30000) g;\nCOMMIT;\n")
            big.stdin.close()
            self.assertEqual(big.wait(timeout=120), 0)
            # a big transaction that aborts
            cluster.psql("BEGIN; INSERT INTO big SELECT g, repeat('z', 200), 3 FROM generate_series(100001, 120000) g; ROLLBACK;")

            r = run_connector(["read"], tmp, config=cfg, catalog=cat, state=[state])
            self.assertEqual(r.rc, 0, r.raw[-2000:])
            ids = [x["data"]["id"] for x in r.records()]
            self.assertNotIn(900001, ids)
            self.assertFalse([i for i in ids if 100001 <= i <= 120000], "an aborted transaction's rows")
            self.assertEqual(len([i for i in ids if i <= 30000]), 30000 + 100)  # inserts + the 100 updates
            self.assertEqual([len(x["data"]["pad"]) for x in r.records() if x["data"]["id"] == 40000], [600000])
            # the small transaction committed first, so it comes first
            self.assertEqual(ids[0], 50000)
            dest.apply_until_last_state(r.messages)
            cfg_std = cluster.config(cdc=False)
            fr = configured_catalog(run_connector(["discover"], tmp, config=cfg_std).of_type("CATALOG")[0],
                                    streams=["big"], sync_mode="full_refresh")
            src = run_connector(["read"], tmp, config=cfg_std, catalog=fr)
            self.assertEqual(dest.table("big"), source_rows(src.records(), "big"))
            stats = cluster.query("SELECT stream_txns, spill_txns FROM pg_stat_replication_slots WHERE slot_name = 'sp_slot'")
            self.assertGreater(int(stats[0][0]), 0, "the server streamed the large transactions")
            self.assertEqual(int(stats[0][1]), 0, "and spilled nothing to disk")

            # after a streamed transaction committed, pgoutput does not announce the table again:
            # an ordinary transaction on it must still decode, in this read and the next
            state = r.states()[-1]
            cluster.psql("BEGIN; INSERT INTO big SELECT g, repeat('w', 200), 4 FROM generate_series(200001, 215000) g; COMMIT;"
                         "INSERT INTO big VALUES (300000, 'small after big', 5);")
            r = run_connector(["read"], tmp, config=cfg, catalog=cat, state=[state])
            self.assertEqual(r.rc, 0, r.raw[-2000:])
            self.assertEqual(r.records()[-1]["data"]["id"], 300000)
            self.assertEqual(len(r.records()), 15001)
            cluster.psql("INSERT INTO big VALUES (300001, 'next read', 6);")
            r = run_connector(["read"], tmp, config=cfg, catalog=cat, state=[r.states()[-1]])
            self.assertEqual(r.rc, 0, r.raw[-2000:])
            self.assertEqual([x["data"]["id"] for x in r.records()], [300001])
        finally:
            cluster.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_spool_directory_unusable(self):
        """A streamed transaction that cannot be spooled (TMPDIR missing) fails the read naming
        the directory and why, emits no state past it, and the next read delivers it whole"""
        cluster = Cluster(settings={"logical_decoding_work_mem": "64kB"}).start()
        tmp = tempfile.mkdtemp()
        try:
            cfg, cat, r = first_read(cluster, tmp, "CREATE TABLE sp (id int PRIMARY KEY, pad text)", "sp")
            state = r.states()[-1]
            cluster.psql("INSERT INTO sp SELECT g, repeat('x', 200) FROM generate_series(1, 5000) g;")
            end = cluster.query("SELECT pg_current_wal_lsn()")[0][0]
            missing = tmp + "/no-such-dir"
            r = run_connector(["read"], tmp, config=cfg, catalog=cat, state=[state], env={"TMPDIR": missing})
            self.assertEqual(r.rc, 1, r.raw[-2000:])
            err = r.trace_errors()[-1]
            self.assertEqual(err["failure_type"], "system_error")
            self.assertIn("could not create a temporary file in %s" % missing, err["message"])
            self.assertIn("No such file or directory", err["message"])
            self.assertEqual(r.records(), [])
            for st in r.states():
                lsn = st["global"]["shared_state"]["lsn"]
                self.assertEqual(cluster.query("SELECT '%s'::pg_lsn < '%s'::pg_lsn" % (lsn, end)), [["t"]],
                                 "a state past the transaction that was not delivered")
            r = run_connector(["read"], tmp, config=cfg, catalog=cat, state=[state])
            self.assertEqual(r.rc, 0, r.raw[-2000:])
            self.assertEqual(sorted(x["data"]["id"] for x in r.records()), list(range(1, 5001)))
        finally:
            cluster.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_many_transactions_streamed_at_once(self):
        """Twelve transactions in progress together, each streamed in several blocks that
        interleave (they share one write buffer in the connector): each comes out whole and in
        commit order, the two that abort not at all, and a message larger than the buffer intact."""
        cluster = Cluster(settings={"logical_decoding_work_mem": "64kB"}).start()
        tmp = tempfile.mkdtemp()
        sessions = []
        try:
            cfg, cat, r = first_read(cluster, tmp, "CREATE TABLE conc (id int PRIMARY KEY, k int, pad text)", "conc")
            state = r.states()[-1]
            for k in range(12):
                p = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", cluster.sockdir, "-p",
                                      str(cluster.port), "-U", "postgres"], stdin=subprocess.PIPE, text=True)
                p.stdin.write("BEGIN;\n")
                sessions.append(p)
            for rnd in range(4):
                for k, p in enumerate(sessions):
                    base = k * 10000 + rnd * 500
                    p.stdin.write("INSERT INTO conc SELECT g, %d, repeat('x', 100) FROM generate_series(%d, %d) g;\n"
                                  % (k, base, base + 499))
                    if k == 5 and rnd == 2:
                        p.stdin.write("INSERT INTO conc VALUES (%d, 5, repeat('q', 400000));\n" % (k * 10000 + 9999))
                    p.stdin.flush()
                time.sleep(0.3)
            for k, p in enumerate(sessions):
                p.stdin.write("ROLLBACK;\n" if k in (3, 7) else "COMMIT;\n")
                p.stdin.close()
            for p in sessions:
                self.assertEqual(p.wait(timeout=120), 0)

            r = run_connector(["read"], tmp, config=cfg, catalog=cat, state=[state])
            self.assertEqual(r.rc, 0, r.raw[-2000:])
            recs = [x["data"] for x in r.records()]
            lsns = [int(x["_ab_cdc_lsn"]) for x in recs]
            self.assertEqual(lsns, sorted(lsns), "transactions in commit order")
            order = [x["k"] for x in recs]
            runs = [k for i, k in enumerate(order) if i == 0 or order[i - 1] != k]
            self.assertEqual(sorted(runs), [k for k in range(12) if k not in (3, 7)], "each transaction whole, once")
            for k in runs:
                ids = sorted(x["id"] for x in recs if x["k"] == k)
                expect = list(range(k * 10000, k * 10000 + 2000)) + ([k * 10000 + 9999] if k == 5 else [])
                self.assertEqual(ids, expect)
            self.assertEqual([len(x["pad"]) for x in recs if x["id"] == 59999], [400000])
            self.assertTrue(all(x["pad"] == "x" * 100 for x in recs if x["id"] != 59999))
            txns = int(cluster.query("SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = 'sp_slot'")[0][0])
            self.assertGreaterEqual(txns, 10, "the server streamed them while in progress")
        finally:
            for p in sessions:
                if p.poll() is None:
                    p.kill()
            cluster.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_decoding_memory_lowered_unless_set(self):
        """Under the server's default logical_decoding_work_mem (64 MB) a 27 MB transaction would
        reach us only after its COMMIT, all at once; our walsender session lowers the setting, so
        it is streamed while in progress. A value set for the connector's role is kept."""
        cluster = Cluster().start()
        tmp = tempfile.mkdtemp()
        try:
            cfg, cat, r = first_read(cluster, tmp, "CREATE TABLE mid (id int PRIMARY KEY, pad text)", "mid")
            state = r.states()[-1]

            def one_transaction(first):
                cluster.psql("INSERT INTO mid SELECT g, repeat('m', 100) FROM generate_series(%d, %d) g;"
                             % (first, first + 99999))
                r = run_connector(["read"], tmp, config=cfg, catalog=cat, state=[state])
                self.assertEqual(r.rc, 0, r.raw[-2000:])
                self.assertEqual(sorted(x["data"]["id"] for x in r.records()), list(range(first, first + 100000)))
                return [int(v) for v in cluster.query(
                    "SELECT stream_txns, stream_count, spill_txns FROM pg_stat_replication_slots "
                    "WHERE slot_name = 'sp_slot'")[0]], r.states()[-1]

            (txns, blocks, spilled), state = one_transaction(1)
            self.assertEqual(txns, 1, "the transaction was streamed while in progress")
            self.assertGreaterEqual(blocks, 3, "in blocks of at most 8 MB")
            self.assertEqual(spilled, 0)
            cluster.psql("ALTER ROLE capture SET logical_decoding_work_mem = '64MB';")
            (txns, blocks2, spilled), state = one_transaction(200001)
            self.assertEqual((txns, blocks2, spilled), (1, blocks, 0), "the role's own setting was kept")
        finally:
            cluster.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
