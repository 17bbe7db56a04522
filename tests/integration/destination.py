"""A model of a deduplicating Airbyte destination (append_dedup on the primary key).

Records are applied in arrival order; per key the record with the highest _ab_cdc_lsn wins, ties
going to the later one (Airbyte's dedup: cursor, then extraction order). A record whose
_ab_cdc_deleted_at is set removes the key. Keyless streams use the whole row (minus the CDC
columns) as the key, which is what REPLICA IDENTITY FULL deletes carry.
"""
import json

META = ("_ab_cdc_lsn", "_ab_cdc_updated_at", "_ab_cdc_deleted_at")


def canon(v):
    return json.dumps(v, sort_keys=True)


class Destination:
    def __init__(self, keys):
        """keys: {stream name: [key column, ...] or None for keyless}"""
        self.keys = keys
        self.rows = {name: {} for name in keys}
        self.seq = 0
        self.applied = 0
        self.repeated = 0
        self._seen = set()

    def key_of(self, stream, data):
        cols = self.keys[stream]
        if cols:
            return canon([data.get(c) for c in cols])
        return canon({k: v for k, v in data.items() if k not in META})

    def apply(self, record):
        stream = record["stream"]
        if stream not in self.rows:
            return
        data = record["data"]
        self.seq += 1
        self.applied += 1
        k = self.key_of(stream, data)
        lsn = data.get("_ab_cdc_lsn", 0) or 0
        fingerprint = hash((stream, k, lsn, canon(data)))
        if fingerprint in self._seen:
            self.repeated += 1
        self._seen.add(fingerprint)
        cur = self.rows[stream].get(k)
        if cur is not None and (cur[0], cur[1]) > (lsn, self.seq):
            return
        deleted = data.get("_ab_cdc_deleted_at") is not None
        self.rows[stream][k] = (lsn, self.seq, None if deleted else {c: v for c, v in data.items() if c not in META})

    def apply_until_last_state(self, messages):
        """Apply the records a platform commits: those before the last STATE."""
        last = max([i for i, m in enumerate(messages) if m["type"] == "STATE"], default=-1)
        for m in messages[:last + 1]:
            if m["type"] == "RECORD":
                self.apply(m["record"])
        return messages[last]["state"] if last >= 0 else None

    def table(self, stream):
        """The live rows of a stream, as a sorted list of canonical JSON strings."""
        return sorted(canon(r[2]) for r in self.rows[stream].values() if r[2] is not None)


def source_rows(records, stream):
    """Sorted canonical rows from full-refresh records of a stream (CDC columns dropped)."""
    return sorted(canon({k: v for k, v in r["data"].items() if k not in META}) for r in records
                  if r["stream"] == stream)
