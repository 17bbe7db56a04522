"""A random writer: inserts, updates, deletes, multi-row transactions and primary-key updates on
the consistency test's tables, through one long-lived psql session, until stopped."""
import random
import subprocess
import threading
import time


class RandomWriter:
    def __init__(self, cluster, seed=1, db="postgres", pause=0.02):
        self.pause = pause
        self.cluster = cluster
        self.rng = random.Random(seed)
        self.db = db
        self.stop_event = threading.Event()
        self.ops = 0
        self.thread = None
        self.next_id = 1_000_000
        self.next_kl = 1_000_000

    def _statement(self):
        r = self.rng
        op = r.random()
        i = r.randint(1, 4000)
        region = r.choice(["north", "South", "éast", "WEST", "Zürich", "a b", "x\"y"]).replace("'", "''")
        if op < 0.25:
            self.next_id += 1
            return "INSERT INTO acct VALUES (%d, %d, 'ins-%d', now()) ON CONFLICT DO NOTHING;" % (
                self.next_id, r.randint(-1000, 1000), self.next_id)
        if op < 0.45:
            return "UPDATE acct SET balance = balance + %d, note = 'upd-%d' WHERE id = %d;" % (r.randint(1, 9), self.ops, i)
        if op < 0.55:
            return "DELETE FROM acct WHERE id = %d;" % i
        if op < 0.62:
            # primary key update
            self.next_id += 1
            return "UPDATE acct SET id = %d WHERE id = %d;" % (self.next_id, i)
        if op < 0.75:
            # a multi-row, multi-table transaction
            self.next_id += 2
            return ("BEGIN; INSERT INTO acct VALUES (%d, 1, 'tx', now()); UPDATE acct SET balance = -balance WHERE id BETWEEN %d AND %d;"
                    " UPDATE ckey SET qty = qty + 1 WHERE region = '%s' AND code BETWEEN 'c%03d' AND 'c%03d'; DELETE FROM acct WHERE id = %d; COMMIT;" % (
                        self.next_id, i, i + 20, region, i % 1000, i % 1000 + 30, i + 30))
        if op < 0.85:
            code = "c%03d" % r.randint(0, 999)
            if r.random() < 0.5:
                return "INSERT INTO ckey VALUES ('%s', '%s', %d) ON CONFLICT DO NOTHING;" % (region, code, r.randint(0, 9))
            if r.random() < 0.5:
                return "DELETE FROM ckey WHERE region = '%s' AND code = '%s';" % (region, code)
            return "UPDATE ckey SET code = code || 'm' WHERE region = '%s' AND code = '%s';" % (region, code)
        self.next_kl += 1
        k = r.randint(1, 3000)
        return r.choice([
            "INSERT INTO kl VALUES (%d, 'kl-%d');" % (self.next_kl, self.next_kl),
            "UPDATE kl SET b = b || '+' WHERE a = %d;" % k,
            "DELETE FROM kl WHERE a = %d;" % k,
        ])

    def _run(self):
        p = subprocess.Popen(["psql", "-X", "-q", "-h", self.cluster.sockdir, "-p", str(self.cluster.port),
                              "-U", "postgres", "-d", self.db], stdin=subprocess.PIPE,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True)
        try:
            while not self.stop_event.is_set():
                p.stdin.write(self._statement() + "\n")
                self.ops += 1
                if self.ops % 20 == 0:
                    p.stdin.flush()
                    time.sleep(self.pause)
        finally:
            p.stdin.write("\\q\n")
            p.stdin.close()
            p.wait(timeout=60)

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.stop_event.set()
        self.thread.join(timeout=120)
