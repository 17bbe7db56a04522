"""test_spec_schema.py: the connector spec checked with a real draft-07 validator.

spec/spec.json (and what `source-postgres spec` prints) must be a valid draft-07 schema that
accepts the configs Airbyte's own source-postgres writes (CDC with verify-full TLS and no tunnel,
Standard, Xmin, minimal) and rejects wrongly typed ones; the printed line must be a valid
AirbyteMessage of the protocol. Needs no database.

Environment (set by ctest): SP_BINARY, the built source-postgres; SP_SOURCE_DIR, the source tree.
"""

import copy
import json
import os
import subprocess
import unittest

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("SP_SOURCE_DIR", os.path.normpath(os.path.join(HERE, "..", "..")))
SPEC_FILE = os.path.join(SOURCE_DIR, "spec", "spec.json")
PROTOCOL_FILE = os.path.normpath(
    os.path.join(SOURCE_DIR, "..", "shared", "airbyte", "airbyte_protocol.yaml"))

CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUabc\n-----END CERTIFICATE-----\n"

# A CDC config as Airbyte's UI writes it.
CDC_CONFIG = {
    "host": "db.internal.example.com",
    "port": 5432,
    "database": "app",
    "schemas": ["public", "sales"],
    "username": "airbyte_capture",
    "password": "s3cr3t-pw",
    "jdbc_url_params": "connectTimeout=15&ApplicationName=airbyte",
    "ssl_mode": {
        "mode": "verify-full",
        "ca_certificate": CA_PEM,
        "client_certificate": CA_PEM,
        "client_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
        "client_key_password": "k3y-pw",
    },
    "replication_method": {
        "method": "CDC",
        "plugin": "pgoutput",
        "replication_slot": "airbyte_slot",
        "publication": "airbyte_publication",
        "initial_waiting_seconds": 1200,
        "queue_size": 10000,
        "lsn_commit_behaviour": "After loading Data in the destination",
        "heartbeat_action_query": "",
        "invalid_cdc_cursor_position_behavior": "Fail sync",
        "initial_load_timeout_hours": 8,
    },
    "tunnel_method": {"tunnel_method": "NO_TUNNEL"},
}

STANDARD_CONFIG = {
    "host": "localhost",
    "port": 5432,
    "database": "postgres",
    "schemas": ["public"],
    "username": "postgres",
    "password": "s3cr3t-pw",
    "ssl_mode": {"mode": "disable"},
    "replication_method": {"method": "Standard"},
    "tunnel_method": {"tunnel_method": "NO_TUNNEL"},
}

XMIN_CONFIG = {
    "host": "localhost",
    "port": 5432,
    "database": "postgres",
    "username": "postgres",
    "ssl_mode": {"mode": "require"},
    "replication_method": {"method": "Xmin"},
}

MINIMAL_CONFIG = {"host": "h", "port": 5432, "database": "d", "username": "u"}


def load_protocol():
    with open(PROTOCOL_FILE, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_spec_file():
    with open(SPEC_FILE, encoding="utf-8") as f:
        return json.load(f)


def run_spec():
    """Run `$SP_BINARY spec`; returns its stdout lines."""
    proc = subprocess.run([os.environ["SP_BINARY"], "spec"], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60, check=False)
    if proc.returncode != 0:
        raise AssertionError("spec exited %d: %s" % (proc.returncode, proc.stderr.decode()))
    return proc.stdout.decode("utf-8").splitlines()


class SpecChecks:
    """The checks, run against a ConnectorSpecification obtained by the subclass."""

    spec = None

    def validator(self):
        return jsonschema.Draft7Validator(self.spec["connectionSpecification"])

    def assert_valid(self, config):
        errors = sorted(self.validator().iter_errors(config), key=str)
        self.assertEqual([], [e.message for e in errors])

    def assert_invalid(self, config):
        self.assertFalse(self.validator().is_valid(config), json.dumps(config))

    def test_is_valid_draft7(self):
        jsonschema.Draft7Validator.check_schema(self.spec["connectionSpecification"])
        self.assertEqual("http://json-schema.org/draft-07/schema#",
                         self.spec["connectionSpecification"]["$schema"])

    def test_is_connector_specification(self):
        definitions = load_protocol()["definitions"]
        schema = {"$ref": "#/definitions/ConnectorSpecification", "definitions": definitions}
        jsonschema.Draft7Validator(schema).validate(self.spec)

    def test_airbyte_cdc_config_validates(self):
        self.assert_valid(CDC_CONFIG)

    def test_standard_xmin_minimal_configs_validate(self):
        self.assert_valid(STANDARD_CONFIG)
        self.assert_valid(XMIN_CONFIG)
        self.assert_valid(MINIMAL_CONFIG)

    def test_every_ssl_mode_validates(self):
        for mode in ("disable", "allow", "prefer", "require"):
            config = dict(MINIMAL_CONFIG, ssl_mode={"mode": mode})
            self.assert_valid(config)
        for mode in ("verify-ca", "verify-full"):
            self.assert_valid(dict(MINIMAL_CONFIG, ssl_mode={"mode": mode, "ca_certificate": CA_PEM}))
            self.assert_invalid(dict(MINIMAL_CONFIG, ssl_mode={"mode": mode}))

    def test_our_additions_validate(self):
        config = copy.deepcopy(CDC_CONFIG)
        config["replication_method"].update(backfill_chunk_size=1000,
                                            checkpoint_interval_seconds=10,
                                            checkpoint_records=500)
        config["connect_timeout_seconds"] = 30
        self.assert_valid(config)
        config["replication_method"]["backfill_chunk_size"] = 0
        self.assert_invalid(config)

    def test_tunnel_configs_validate(self):
        """Airbyte's SSH tunnel configs (which the connector now honours) validate; one lacking
        its key or password does not"""
        key = dict(tunnel_method="SSH_KEY_AUTH", tunnel_host="bastion.example.com", tunnel_port=22,
                   tunnel_user="ec2-user", ssh_key="-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY-----\n")
        pw = dict(tunnel_method="SSH_PASSWORD_AUTH", tunnel_host="10.0.0.5", tunnel_port=2222,
                  tunnel_user="jump", tunnel_user_password="pw")
        self.assert_valid(dict(CDC_CONFIG, tunnel_method=key))
        self.assert_valid(dict(CDC_CONFIG, tunnel_method=pw))
        self.assert_invalid(dict(CDC_CONFIG, tunnel_method={k: v for k, v in key.items() if k != "ssh_key"}))
        self.assert_invalid(dict(CDC_CONFIG, tunnel_method={k: v for k, v in pw.items()
                                                            if k != "tunnel_user_password"}))

    def test_unknown_fields_are_allowed(self):
        self.assert_valid(dict(MINIMAL_CONFIG, some_field_from_a_newer_airbyte=True))

    def test_wrong_types_are_rejected(self):
        self.assert_invalid(dict(MINIMAL_CONFIG, port="5432"))
        self.assert_invalid(dict(MINIMAL_CONFIG, port=70000))
        self.assert_invalid(dict(MINIMAL_CONFIG, host=5))
        self.assert_invalid(dict(MINIMAL_CONFIG, schemas="public"))
        self.assert_valid(dict(MINIMAL_CONFIG, schemas=[]))  # empty = every schema, as in Airbyte
        self.assert_invalid(dict(MINIMAL_CONFIG, password=123))
        self.assert_invalid(dict(MINIMAL_CONFIG, ssl_mode={"mode": "sometimes"}))
        self.assert_invalid(dict(MINIMAL_CONFIG, replication_method={"method": "Magic"}))
        missing_host = dict(MINIMAL_CONFIG)
        del missing_host["host"]
        self.assert_invalid(missing_host)
        config = copy.deepcopy(CDC_CONFIG)
        del config["replication_method"]["replication_slot"]
        self.assert_invalid(config)
        config = copy.deepcopy(CDC_CONFIG)
        config["replication_method"]["plugin"] = "wal2json"
        self.assert_invalid(config)
        config = copy.deepcopy(CDC_CONFIG)
        config["replication_method"]["lsn_commit_behaviour"] = "Sometimes"
        self.assert_invalid(config)

    def test_secrets_are_marked(self):
        secrets = set()

        def walk(node):
            if isinstance(node, dict):
                for key, value in node.get("properties", {}).items():
                    if isinstance(value, dict) and value.get("airbyte_secret") is True:
                        secrets.add(key)
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(self.spec["connectionSpecification"])
        for name in ("password", "ca_certificate", "client_certificate", "client_key",
                     "client_key_password", "ssh_key", "tunnel_user_password"):
            self.assertIn(name, secrets)


class SpecFileTest(SpecChecks, unittest.TestCase):
    """spec/spec.json as committed."""

    @classmethod
    def setUpClass(cls):
        cls.spec = load_spec_file()


@unittest.skipUnless(os.environ.get("SP_BINARY"), "SP_BINARY is not set (run through ctest)")
class SpecBinaryTest(SpecChecks, unittest.TestCase):
    """What `source-postgres spec` prints."""

    @classmethod
    def setUpClass(cls):
        cls.lines = run_spec()
        cls.spec = json.loads(cls.lines[0])["spec"] if cls.lines else None

    def test_prints_one_airbyte_message(self):
        self.assertEqual(1, len(self.lines), "spec must print exactly one line")
        message = json.loads(self.lines[0])
        self.assertEqual("SPEC", message["type"])
        definitions = load_protocol()["definitions"]
        schema = {"$ref": "#/definitions/AirbyteMessage", "definitions": definitions}
        jsonschema.Draft7Validator(schema).validate(message)
        # compact JSON, as every line on stdout must be
        self.assertNotIn("\n", self.lines[0])

    def test_matches_spec_file(self):
        self.assertEqual(load_spec_file(), self.spec)


if __name__ == "__main__":
    unittest.main()
