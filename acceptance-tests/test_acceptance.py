"""The core checks of Airbyte's connector acceptance tests (CAT), run without Docker against a
throwaway PostgreSQL: spec, connection, discovery, basic read, full refresh and incremental, with
every message validated against the Airbyte protocol and every record against its stream schema.
The catalogs are the ones in catalogs/ (for the demo table)."""
import json
import os
import shutil
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
import jsonschema  # noqa: E402
from harness import Cluster, run_connector  # noqa: E402

cluster = None


def setUpModule():
    global cluster
    cluster = Cluster().start()
    cluster.create_capture_role()
    cluster.psql("""
        CREATE TABLE public.users (id bigint PRIMARY KEY, name text NOT NULL, balance numeric(20,2),
                                   signed_up timestamptz, tags text[]);
        INSERT INTO public.users VALUES (1, 'Ada', 1234.50, '2024-01-15 10:00:45.5+05', '{admin,early}'),
          (2, 'Grace', 99999999999999999.99, '2023-06-01 00:00:00+00', '{}'), (3, 'Edsger', NULL, NULL, NULL);
        ALTER TABLE public.users OWNER TO capture;
    """)


def tearDownModule():
    cluster.stop()


def catalog(name):
    with open(os.path.join(ROOT, "catalogs", name)) as f:
        return json.load(f)


class Acceptance(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp()
        self.cdc = cluster.config()
        self.std = cluster.config(cdc=False)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_cmd(self, args, **kw):
        r = run_connector(args, self.tmp, **kw)
        self.assertNotIn("Segmentation", r.stderr)
        return r

    def test_spec(self):
        r = self.run_cmd(["spec"])
        spec = r.of_type("SPEC")[0]["spec"]
        jsonschema.Draft7Validator.check_schema(spec["connectionSpecification"])
        jsonschema.Draft7Validator(spec["connectionSpecification"]).validate(self.cdc)
        jsonschema.Draft7Validator(spec["connectionSpecification"]).validate(self.std)
        text = json.dumps(spec)
        for forbidden in ('"$ref"', '"anyOf"', '"allOf"'):
            self.assertNotIn(forbidden, text)

    def test_connection(self):
        for cfg, want in ((self.cdc, "SUCCEEDED"), (self.std, "SUCCEEDED"),
                          (dict(self.std, password="not-the-password"), "FAILED")):
            r = self.run_cmd(["check"], config=cfg)
            self.assertEqual(r.rc, 0)
            self.assertEqual(r.of_type("CONNECTION_STATUS")[0]["connectionStatus"]["status"], want)

    def test_discovery(self):
        r = self.run_cmd(["discover"], config=self.cdc)
        streams = {s["name"]: s for s in r.of_type("CATALOG")[0]["catalog"]["streams"]}
        users = streams["users"]
        jsonschema.Draft7Validator.check_schema(users["json_schema"])
        props = users["json_schema"]["properties"]
        for pk in users["source_defined_primary_key"]:
            self.assertIn(pk[0], props)
        for cf in users["default_cursor_field"]:
            self.assertIn(cf, props)
        # the example catalog still matches what discover says
        self.assertEqual(catalog("users_cdc.json")["streams"][0]["stream"]["json_schema"]["properties"], props)

    def check_records(self, r, cat):
        schemas = {s["stream"]["name"]: jsonschema.Draft7Validator(s["stream"]["json_schema"]) for s in cat["streams"]}
        for rec in r.records():
            schemas[rec["stream"]].validate(rec["data"])

    def test_basic_read_and_incremental(self):
        cluster.psql("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots; DROP PUBLICATION IF EXISTS sp_pub;")
        cat = catalog("users_cdc.json")
        r1 = self.run_cmd(["read"], config=self.cdc, catalog=cat)
        self.assertEqual(r1.rc, 0, r1.raw[-2000:])
        self.assertEqual(len(r1.records("users")), 3)
        self.check_records(r1, cat)
        # incremental: a second read from the state has nothing new, and says so quickly
        r2 = self.run_cmd(["read"], config=self.cdc, catalog=cat, state=[r1.states()[-1]])
        self.assertEqual(r2.records(), [])
        # and a change shows up exactly once
        cluster.psql("UPDATE users SET name = 'Ada L.' WHERE id = 1;")
        r3 = self.run_cmd(["read"], config=self.cdc, catalog=cat, state=[r2.states()[-1]])
        self.assertEqual([x["data"]["name"] for x in r3.records()], ["Ada L."])
        self.check_records(r3, cat)

    def test_full_refresh_is_repeatable(self):
        cat = catalog("users_full_refresh.json")
        a = self.run_cmd(["read"], config=self.std, catalog=cat)
        b = self.run_cmd(["read"], config=self.std, catalog=cat)
        self.check_records(a, cat)
        strip = lambda r: sorted(json.dumps(x["data"], sort_keys=True) for x in r.records())
        self.assertEqual(strip(a), strip(b))
        self.assertEqual(len(a.records()), 3)


if __name__ == "__main__":
    unittest.main()
