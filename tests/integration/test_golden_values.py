"""Golden values: SQL literal in, expected JSON out, through both the backfill and the change
stream, which must agree byte for byte (and with the expectation)."""
import json
import os
import shutil
import tempfile
import unittest

from harness import Cluster, configured_catalog, run_connector

# (column type, SQL literal, expected JSON value, nulled with a meta change)
GOLDEN = [
    ("smallint", "-32768", -32768, False),
    ("integer", "2147483647", 2147483647, False),
    ("bigint", "-9223372036854775808", -9223372036854775808, False),
    ("bigint", "9223372036854775807", 9223372036854775807, False),
    ("numeric", "12345678901234567890123456789012345678", "N:12345678901234567890123456789012345678", False),
    ("numeric(38,10)", "-1234567890123456789012345678.0123456789", "N:-1234567890123456789012345678.0123456789", False),
    ("numeric", "0.000000000000000000000000000001", "N:0.000000000000000000000000000001", False),
    ("numeric", "1.50", "N:1.50", False),
    ("numeric", "'NaN'", None, True),
    ("numeric", "'Infinity'", None, True),
    ("numeric", "'-Infinity'", None, True),
    ("real", "3.4028235e38", "N:3.4028235e+38", False),
    ("double precision", "0.1", "N:0.1", False),
    ("double precision", "1e-300", "N:1e-300", False),
    ("double precision", "'-0'", "N:-0", False),
    ("double precision", "'NaN'", None, True),
    ("double precision", "'-Infinity'", None, True),
    ("boolean", "true", True, False),
    ("boolean", "false", False, False),
    ("text", "E'tab\\there\\nnewline \"quoted\" back\\\\slash \\x01 ctl'", 'tab\there\nnewline "quoted" back\\slash \x01 ctl', False),
    ("text", "'unicode: é 日本 😀'", "unicode: é 日本 😀", False),
    ("text", "E'line\\u2028sep\\u2029para'", "line\u2028sep\u2029para", False),
    ("varchar(10)", "'short'", "short", False),
    ("char(4)", "'ab'", "ab  ", False),
    ("bytea", "'\\x00ff10'", "AP8Q", False),
    ("bytea", "''", "", False),
    ("int2vector", "'1 2 3'", "1 2 3", False),
    ("oidvector", "'4 5'", "4 5", False),
    ("json", "'{\"a\": [1, 2.50, null]}'", '{"a": [1, 2.50, null]}', False),
    ("jsonb", "'{\"b\": 1, \"a\": \"x\"}'", '{"a": "x", "b": 1}', False),
    ("date", "'2024-02-29'", "2024-02-29", False),
    ("date", "'0044-03-15 BC'", "0044-03-15 BC", False),
    ("date", "'infinity'", None, True),
    ("time", "'23:59:59.999999'", "23:59:59.999999", False),
    ("timetz", "'05:00:45.5+05'", "05:00:45.5+05:00", False),
    ("timestamp", "'2024-01-15 05:00:45.5'", "2024-01-15T05:00:45.5", False),
    ("timestamp", "'0044-03-15 12:00:00 BC'", "0044-03-15T12:00:00 BC", False),
    ("timestamptz", "'2024-01-15 10:00:45.5+05'", "2024-01-15T05:00:45.5Z", False),
    ("timestamptz", "'2024-03-01 01:30:00+03'", "2024-02-29T22:30:00Z", False),
    ("timestamptz", "'-infinity'", None, True),
    ("interval", "'1 year 2 mons 3 days 04:05:06.5'", "1 year 2 mons 3 days 04:05:06.5", False),
    ("uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", False),
    ("inet", "'192.168.0.1/24'", "192.168.0.1/24", False),
    ("cidr", "'10.0.0.0/8'", "10.0.0.0/8", False),
    ("macaddr", "'08:00:2b:01:02:03'", "08:00:2b:01:02:03", False),
    ("bit(4)", "B'1010'", "1010", False),
    ("varbit", "B'101'", "101", False),
    ("money", "12.34", "$12.34", False),
    ("xml", "'<a>1</a>'", "<a>1</a>", False),
    ("tsvector", "'a fat cat'", "'a' 'cat' 'fat'", False),
    ("point", "'(1.5,2)'", "(1.5,2)", False),
    ("box", "'((0,0),(1,1))'", "(1,1),(0,0)", False),
    ("int4range", "'[1,10)'", "[1,10)", False),
    ("tstzrange", "'[2024-01-01 00:00+00,2024-01-02 00:00+00)'", "[\"2024-01-01 00:00:00+00\",\"2024-01-02 00:00:00+00\")", False),
    ("mood", "'happy'", "happy", False),
    ("posint", "42", 42, False),
    ("integer[]", "'{1,2,NULL,4}'", [1, 2, None, 4], False),
    ("integer[]", "'{{1,2},{3,4}}'", [[1, 2], [3, 4]], False),
    ("text[]", "ARRAY['a,b', 'c\"d', NULL, 'NULL', '']", ["a,b", 'c"d', None, "NULL", ""], False),
    ("numeric[]", "'{1.5,NaN}'", ["N:1.5", None], True),
    ("timestamptz[]", "ARRAY['2024-01-01 00:00:00+02'::timestamptz]", ["2023-12-31T22:00:00Z"], False),
    ("bytea[]", "ARRAY['\\x0102'::bytea]", ["AQI="], False),
    ("mood[]", "'{sad,happy}'", ["sad", "happy"], False),
    ("posint[]", "'{1,2}'", [1, 2], False),
    ("box[]", "ARRAY['((0,0),(1,1))'::box, '((2,2),(3,3))'::box]", ["(1,1),(0,0)", "(3,3),(2,2)"], False),
    ("text", "NULL", None, False),
]


def expected_json(v):
    """Render the expectation as the exact JSON text (N:... marks a number written verbatim)."""
    if isinstance(v, str) and v.startswith("N:"):
        return v[2:]
    if isinstance(v, list):
        return "[" + ",".join(expected_json(x) for x in v) + "]"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))


def raw_values(line):
    """The data members of one RECORD line, as their raw JSON text (so digits are compared exactly)."""
    obj = json.loads(line, parse_float=lambda s: "N:" + s, parse_int=lambda s: "N:" + s)
    return obj["record"]["data"]


# Types whose values a COPY can carry in binary (copybin renders them); a table of only these is
# copied in binary format, any other table in text format.
BINARY_TYPES = {"smallint", "integer", "bigint", "numeric", "boolean", "text", "varchar", "char", "bytea", "json",
                "jsonb", "date", "time", "timestamp", "timestamptz", "uuid", "posint", "oid", "name"}

# More values at the edges of the binary forms: every one through both formats' paths.
BINARY_EDGES = [
    ("numeric", "0", "N:0", False),
    ("numeric(5,2)", "0", "N:0.00", False),
    ("numeric", "-0.5", "N:-0.5", False),
    ("numeric", "10000", "N:10000", False),
    ("numeric", "1e-20", "N:0.00000000000000000001", False),
    ("numeric", "123456789.000100", "N:123456789.000100", False),
    ("numeric(30,0)", "-99999999999999999999999999999", "N:-99999999999999999999999999999", False),
    ("date", "'4714-11-24 BC'", "4714-11-24 BC", False),
    ("date", "'5874897-12-31'", "5874897-12-31", False),
    ("date", "'-infinity'", None, True),
    ("time", "'24:00:00'", "24:00:00", False),
    ("time", "'00:00:00.000001'", "00:00:00.000001", False),
    ("timestamp", "'294276-12-31 23:59:59.999999'", "294276-12-31T23:59:59.999999", False),
    ("timestamp", "'infinity'", None, True),
    ("timestamptz", "'4714-11-24 00:00:00+00 BC'", "4714-11-24T00:00:00Z BC", False),
    ("timestamptz", "'1999-12-31 23:59:59.999999+00'", "1999-12-31T23:59:59.999999Z", False),
    ("timestamptz", "'2000-01-01 00:00:00.1+00'", "2000-01-01T00:00:00.1Z", False),
    ("oid", "4294967295", 4294967295, False),
    ("name", "'a name'", "a name", False),
    ("bytea", "'\\x000102'", "AAEC", False),
    ("jsonb", "'[1, \"\u00e9\"]'", '[1, "\u00e9"]', False),
    ("boolean", "NULL", None, False),
]


def data_text(line):
    """A RECORD line's data members as their raw JSON text, without the CDC columns"""
    data = line.split('"data":{', 1)[1]
    return data.split(',"_ab_cdc_lsn"', 1)[0].split('},"meta":', 1)[0].rstrip("}")


def binary_capable(typ):
    return not typ.endswith("[]") and typ.split("(")[0] in BINARY_TYPES


class GoldenTest(unittest.TestCase):
    def setUp(self):
        # every statement in the server log, to see which COPY format each table was copied in
        self.cluster = Cluster(settings={"log_statement": "'all'"}).start()
        self.tmp = tempfile.mkdtemp()
        self.cluster.create_capture_role()
        self.cluster.psql("""
            CREATE TYPE mood AS ENUM ('sad', 'happy');
            CREATE DOMAIN posint AS int CHECK (VALUE > 0);
        """)

    def tearDown(self):
        self.cluster.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def copies_of(self, table):
        """The COPY statements the server ran for table"""
        with open(os.path.join(self.cluster.dir, "log")) as f:
            return [l for l in f if "COPY " in l and '"%s"' % table in l]

    def check_golden(self, table, golden):
        """Backfill one row of the golden values, stream the same row, and compare both with the
        expectations and with each other; then a full refresh of the table gives them too."""
        cols = ", ".join("c%d %s" % (i, t) for i, (t, _, _, _) in enumerate(golden))
        vals = ", ".join(lit for _, lit, _, _ in golden)
        self.cluster.psql("CREATE TABLE %s (id int PRIMARY KEY, %s); ALTER TABLE %s OWNER TO capture;"
                          "INSERT INTO %s VALUES (1, %s);" % (table, cols, table, table, vals))
        cfg = self.cluster.config()
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        configured = configured_catalog(cat, streams=[table])
        r1 = run_connector(["read"], self.tmp, config=cfg, catalog=configured)
        self.assertEqual(r1.rc, 0, r1.raw[-2000:])
        self.cluster.psql("INSERT INTO %s VALUES (2, %s);" % (table, vals))
        r2 = run_connector(["read"], self.tmp, config=cfg, catalog=configured, state=[r1.states()[-1]])
        self.assertEqual(r2.rc, 0, r2.raw[-2000:])
        std = self.cluster.config(cdc=False)
        full = configured_catalog(run_connector(["discover"], self.tmp, config=std).of_type("CATALOG")[0],
                                  streams=[table], sync_mode="full_refresh")
        r3 = run_connector(["read"], self.tmp, config=std, catalog=full)
        self.assertEqual(r3.rc, 0, r3.raw[-2000:])
        backfilled = [l for l in r1.raw.split("\n") if '"type":"RECORD"' in l]
        streamed = [l for l in r2.raw.split("\n") if '"type":"RECORD"' in l]
        refreshed = [l for l in r3.raw.split("\n") if '"type":"RECORD"' in l]
        # U+2028 and U+2029 are escaped, so that no line reader breaks a record at them
        for r in (r1, r2, r3):
            self.assertNotIn("\u2028", r.raw)
            self.assertNotIn("\u2029", r.raw)
            self.assertIn("line\\u2028sep\\u2029para", r.raw)
        self.assertEqual(len(backfilled), 1)
        self.assertEqual(len(streamed), 1)
        self.assertEqual(len(refreshed), 2)
        b = raw_values(backfilled[0])
        s = raw_values(streamed[0])
        for i, (typ, lit, want, nulled) in enumerate(golden):
            col = "c%d" % i
            with self.subTest(type=typ, literal=lit):
                # identical in backfill and CDC
                self.assertEqual(b[col], s[col])
                got = b[col]
                self.assertEqual(expected_json(got), expected_json(want))
        for rec in (json.loads(backfilled[0])["record"], json.loads(streamed[0])["record"]):
            nulled_fields = sorted(c["field"] for c in rec.get("meta", {}).get("changes", []))
            self.assertEqual(nulled_fields, sorted("c%d" % i for i, g in enumerate(golden) if g[3]))
        # the JSON text of each value is byte-identical too, and in the full refresh
        strip = lambda line: data_text(line).replace('"id":1,', "").replace('"id":2,', "")
        self.assertEqual(strip(backfilled[0]), strip(streamed[0]))
        self.assertEqual([strip(l) for l in refreshed], [strip(streamed[0])] * 2)

    def test_golden_values_backfill_and_cdc_identical(self):
        """Every type, in one table: copied in text format (some types have no binary form)"""
        self.check_golden("golden", GOLDEN)
        copies = self.copies_of("golden")
        self.assertTrue(copies)
        self.assertFalse([c for c in copies if "FORMAT binary" in c], copies)

    def test_golden_values_copied_in_binary(self):
        """The types with a binary form, in a table of their own: copied in binary format, the
        values rendered by the connector, byte-identical to the change stream's text"""
        golden = [g for g in GOLDEN if binary_capable(g[0])] + BINARY_EDGES
        self.assertGreater(len(golden), 40)
        self.check_golden("golden_bin", golden)
        copies = self.copies_of("golden_bin")
        self.assertTrue(copies)
        self.assertEqual([c for c in copies if "FORMAT binary" not in c], [])

    def test_random_values_binary_copy_matches_the_stream(self):
        """Thousands of random values of each binary type, over each type's whole range: the
        backfill (binary), the full refresh (binary) and the change stream (text) agree byte for
        byte, and a Standard read's cursors are the server's own text"""
        n = 3000
        self.cluster.psql("""
            SELECT setseed(0.25);
            CREATE TABLE rnd (id int PRIMARY KEY, a smallint, b int, c bigint, d numeric, e date, f time,
                              g timestamp, h timestamptz NOT NULL, i boolean, j text, k uuid, l bytea, m jsonb,
                              o numeric(14,4) NOT NULL);
            ALTER TABLE rnd OWNER TO capture;
            INSERT INTO rnd SELECT g,
              CASE WHEN random() < 0.05 THEN NULL ELSE floor(random() * 65536 - 32768) END,
              floor(random() * 4294967296 - 2147483648),
              floor((random() - 0.5) * 2 ^ (floor(random() * 64)))::numeric,
              CASE WHEN g % 97 = 0 THEN 'NaN'::numeric
                   ELSE round(((random() - 0.5) * 10 ^ (floor(random() * 40) - 20))::numeric, floor(random() * 25)::int) END,
              '4714-11-24 BC'::date + floor(random() * 2147483493)::int,
              '00:00'::time + random() * interval '24 hours',
              '4713-01-01 BC'::timestamp + random() * interval '290000 years' + random() * interval '1 day',
              '4713-01-01 BC'::timestamptz + random() * interval '290000 years' + random() * interval '1 day',
              random() < 0.5,
              CASE WHEN random() < 0.05 THEN NULL ELSE md5(random()::text) || E'\\t\\\\ "é"' END,
              md5(random()::text)::uuid,
              decode(md5(random()::text), 'hex'),
              jsonb_build_object('k', random(), 'g', g),
              round((random() * 1e9)::numeric, floor(random() * 5)::int)
            FROM generate_series(1, N_ROWS) g;
        """.replace("N_ROWS", str(n)))
        cfg = self.cluster.config()
        cat = run_connector(["discover"], self.tmp, config=cfg).of_type("CATALOG")[0]
        configured = configured_catalog(cat, streams=["rnd"])
        r1 = run_connector(["read"], self.tmp, config=cfg, catalog=configured)
        self.assertEqual(r1.rc, 0, r1.raw[-2000:])
        self.cluster.psql("INSERT INTO rnd SELECT id + 1000000, a, b, c, d, e, f, g, h, i, j, k, l, m, o FROM rnd;")
        r2 = run_connector(["read"], self.tmp, config=cfg, catalog=configured, state=[r1.states()[-1]])
        self.assertEqual(r2.rc, 0, r2.raw[-2000:])
        self.assertTrue(self.copies_of("rnd"))
        self.assertEqual([c for c in self.copies_of("rnd") if "FORMAT binary" not in c], [])

        def values(raw, lo, hi):
            """id -> the record's data after its id, as raw JSON text (CDC columns cut off)"""
            out = {}
            for line in raw.splitlines():
                if '"type":"RECORD"' not in line:
                    continue
                data = line.split('"data":{', 1)[1]
                rid, rest = data.split(",", 1)
                rid = int(rid.split(":")[1])
                if lo <= rid < hi:
                    out[rid % 1000000] = data_text(line).split(",", 1)[1]
            return out

        backfilled = values(r1.raw, 0, 1000000)
        streamed = values(r2.raw, 1000000, 2000000)
        self.assertEqual(len(backfilled), n)
        self.assertEqual(len(streamed), n)
        for rid in range(1, n + 1):
            self.assertEqual(backfilled[rid], streamed[rid], "row %d" % rid)
        # BC years, fractions, NaN and NULLs all came through
        joined = "".join(backfilled.values())
        for piece in (' BC"', '"d":null', '"a":null', '"j":null', 'Z"', "\\t\\\\ \\\"é\\\""):
            self.assertIn(piece, joined)

        # a full refresh, and Standard reads with a timestamptz and a numeric cursor
        std = self.cluster.config(cdc=False)
        dcat = run_connector(["discover"], self.tmp, config=std).of_type("CATALOG")[0]
        full = configured_catalog(dcat, streams=["rnd"], sync_mode="full_refresh")
        r3 = run_connector(["read"], self.tmp, config=std, catalog=full)
        self.assertEqual(r3.rc, 0, r3.raw[-2000:])
        refreshed = values(r3.raw, 0, 1000000)
        self.assertEqual(refreshed, backfilled)
        for col in ("h", "o"):
            inc = configured_catalog(dcat, streams=["rnd"])
            inc["streams"][0]["cursor_field"] = [col]
            r4 = run_connector(["read"], self.tmp, config=std, catalog=inc)
            self.assertEqual(r4.rc, 0, r4.raw[-2000:])
            self.assertEqual(len(r4.records("rnd")), 2 * n)
            cursor = r4.states()[-1]["stream"]["stream_state"]["cursor"]
            self.assertEqual(cursor, self.cluster.query("SELECT max(%s)::text FROM rnd" % col)[0][0])
            # read again from that state: only the rows at the cursor value come back
            r5 = run_connector(["read"], self.tmp, config=std, catalog=inc, state=[r4.states()[-1]])
            self.assertEqual(r5.rc, 0, r5.raw[-2000:])
            self.assertEqual(r5.records("rnd"), [])


if __name__ == "__main__":
    unittest.main()
