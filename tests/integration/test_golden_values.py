"""Golden values: SQL literal in, expected JSON out, through both the backfill and the change
stream, which must agree byte for byte (and with the expectation)."""
import json
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
    ("varchar(10)", "'short'", "short", False),
    ("char(4)", "'ab'", "ab  ", False),
    ("bytea", "'\\x00ff10'", "AP8Q", False),
    ("bytea", "''", "", False),
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


class GoldenTest(unittest.TestCase):
    def test_golden_values_backfill_and_cdc_identical(self):
        cluster = Cluster().start()
        tmp = tempfile.mkdtemp()
        try:
            cluster.create_capture_role()
            cols = ", ".join("c%d %s" % (i, t) for i, (t, _, _, _) in enumerate(GOLDEN))
            vals = ", ".join(lit for _, lit, _, _ in GOLDEN)
            cluster.psql("""
                CREATE TYPE mood AS ENUM ('sad', 'happy');
                CREATE DOMAIN posint AS int CHECK (VALUE > 0);
                CREATE TABLE golden (id int PRIMARY KEY, %s);
                ALTER TABLE golden OWNER TO capture;
                INSERT INTO golden VALUES (1, %s);
            """ % (cols, vals))
            cfg = cluster.config()
            cat = run_connector(["discover"], tmp, config=cfg).of_type("CATALOG")[0]
            configured = configured_catalog(cat, streams=["golden"])
            r1 = run_connector(["read"], tmp, config=cfg, catalog=configured)
            self.assertEqual(r1.rc, 0, r1.raw[-2000:])
            cluster.psql("INSERT INTO golden VALUES (2, %s);" % vals)
            r2 = run_connector(["read"], tmp, config=cfg, catalog=configured, state=[r1.states()[-1]])
            self.assertEqual(r2.rc, 0, r2.raw[-2000:])
            backfilled = [l for l in r1.raw.splitlines() if '"type":"RECORD"' in l]
            streamed = [l for l in r2.raw.splitlines() if '"type":"RECORD"' in l]
            self.assertEqual(len(backfilled), 1)
            self.assertEqual(len(streamed), 1)
            b = raw_values(backfilled[0])
            s = raw_values(streamed[0])
            for i, (typ, lit, want, nulled) in enumerate(GOLDEN):
                col = "c%d" % i
                with self.subTest(type=typ, literal=lit):
                    # identical in backfill and CDC
                    self.assertEqual(b[col], s[col])
                    got = b[col]
                    self.assertEqual(expected_json(got), expected_json(want))
            for rec in (json.loads(backfilled[0])["record"], json.loads(streamed[0])["record"]):
                nulled_fields = sorted(c["field"] for c in rec.get("meta", {}).get("changes", []))
                self.assertEqual(nulled_fields, sorted("c%d" % i for i, g in enumerate(GOLDEN) if g[3]))
            # the JSON text of each value is byte-identical too
            strip = lambda line: line.split('"data":{', 1)[1].split(',"_ab_cdc_lsn"', 1)[0].replace('"id":1,', "").replace('"id":2,', "")
            self.assertEqual(strip(backfilled[0]), strip(streamed[0]))
        finally:
            cluster.stop()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
