#!/usr/bin/python3
# Peer consumer for the source-postgres benchmark, written the way a typical
# Python connector would be: psycopg2 + json, pgoutput decoded in Python.
#
# Dependency (Debian package): python3-psycopg2   (apt-get install -y python3-psycopg2)
# Run with /usr/bin/python3 (the Debian interpreter that package installs into).
#
#   psycopg2_peer.py snapshot --dsn DSN --table T [--key id] [--chunk 10000]
#   psycopg2_peer.py cdc --dsn DSN --slot S --publication P --endpos X/Y
#
# Output: one JSON object per row (snapshot) or per insert/update/delete (cdc)
# on stdout, through a 64 KiB buffer. A final count goes to stderr.

import argparse
import datetime
import decimal
import json
import select
import struct
import sys
import time

import psycopg2
import psycopg2.extras
from psycopg2 import sql

FEEDBACK_EVERY_MSGS = 10000
FEEDBACK_EVERY_SECS = 1.0
IDLE_POLL_SECS = 1.0


def open_stdout():
    # Buffered text stream on fd 1: many lines per write(2).
    return open(sys.stdout.fileno(), "w", buffering=1 << 16, encoding="utf-8",
                closefd=False)


def json_default(v):
    if isinstance(v, decimal.Decimal):
        return str(v)  # keep numeric exact
    if isinstance(v, (datetime.datetime, datetime.date, datetime.time)):
        return v.isoformat()
    if isinstance(v, datetime.timedelta):
        return str(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v).hex()
    return str(v)


# --------------------------------------------------------------------------
# snapshot: keyset pagination
# --------------------------------------------------------------------------

def run_snapshot(args):
    out = open_stdout()
    conn = psycopg2.connect(args.dsn)
    conn.set_session(readonly=True,
                     isolation_level=psycopg2.extensions.ISOLATION_LEVEL_REPEATABLE_READ)
    table = sql.Identifier(*args.table.split(".", 1))
    key = sql.Identifier(args.key)
    first_q = sql.SQL("SELECT * FROM {} ORDER BY {} LIMIT %s").format(table, key)
    next_q = sql.SQL("SELECT * FROM {} WHERE {} > %s ORDER BY {} LIMIT %s").format(
        table, key, key)
    stream = args.table.split(".")[-1]

    count = 0
    last = None
    with conn.cursor() as cur:
        while True:
            if last is None:
                cur.execute(first_q, (args.chunk,))
            else:
                cur.execute(next_q, (last, args.chunk))
            rows = cur.fetchall()
            if not rows:
                break
            names = [d.name for d in cur.description]
            kidx = names.index(args.key)
            for row in rows:
                rec = {"stream": stream, "data": dict(zip(names, row))}
                out.write(json.dumps(rec, default=json_default))
                out.write("\n")
            count += len(rows)
            last = rows[-1][kidx]
            if len(rows) < args.chunk:
                break
    conn.rollback()
    conn.close()
    out.flush()
    print("psycopg2_peer snapshot: %d rows" % count, file=sys.stderr)


# --------------------------------------------------------------------------
# cdc: pgoutput (proto_version 1) decoded in Python
# --------------------------------------------------------------------------

def parse_lsn(s):
    hi, lo = s.split("/")
    return (int(hi, 16) << 32) | int(lo, 16)


def fmt_lsn(v):
    return "%X/%X" % (v >> 32, v & 0xFFFFFFFF)


# Convert a few common types from their text form; everything else (numeric,
# timestamps, text, ...) stays the server's text representation.
INT_OIDS = {20, 21, 23, 26}   # int8, int2, int4, oid
BOOL_OID = 16
FLOAT_OIDS = {700, 701}       # float4, float8


def convert(oid, text):
    if oid in INT_OIDS:
        return int(text)
    if oid == BOOL_OID:
        return text == "t"
    if oid in FLOAT_OIDS:
        try:
            return float(text)
        except ValueError:
            return text
    return text


class Relation(object):
    __slots__ = ("oid", "schema", "name", "columns")

    def __init__(self, oid, schema, name, columns):
        self.oid = oid
        self.schema = schema
        self.name = name
        self.columns = columns  # list of (name, type_oid)


def read_cstr(buf, pos):
    end = buf.index(b"\0", pos)
    return buf[pos:end].decode("utf-8"), end + 1


def read_tuple(buf, pos, rel):
    (ncols,) = struct.unpack_from("!h", buf, pos)
    pos += 2
    row = {}
    cols = rel.columns
    for i in range(ncols):
        kind = buf[pos]
        pos += 1
        name, oid = cols[i]
        if kind == 0x74:  # 't' text value
            (n,) = struct.unpack_from("!i", buf, pos)
            pos += 4
            row[name] = convert(oid, buf[pos:pos + n].decode("utf-8"))
            pos += n
        elif kind == 0x6E:  # 'n' null
            row[name] = None
        elif kind == 0x75:  # 'u' unchanged toasted value: not sent
            pass
        elif kind == 0x62:  # 'b' binary (not requested with proto 1)
            (n,) = struct.unpack_from("!i", buf, pos)
            pos += 4
            row[name] = buf[pos:pos + n].hex()
            pos += n
        else:
            raise ValueError("unknown tuple column kind %r" % kind)
    return row, pos


class Decoder(object):
    def __init__(self):
        self.relations = {}
        self.xid = None

    def decode(self, buf):
        """Returns (op, relation, before, after) for row changes, else None."""
        tag = buf[0]
        if tag == 0x49:  # 'I'
            (relid,) = struct.unpack_from("!I", buf, 1)
            rel = self.relations[relid]
            # buf[5] == 'N'
            new, _ = read_tuple(buf, 6, rel)
            return "insert", rel, None, new
        if tag == 0x55:  # 'U'
            (relid,) = struct.unpack_from("!I", buf, 1)
            rel = self.relations[relid]
            pos = 5
            old = None
            if buf[pos] in (0x4B, 0x4F):  # 'K' / 'O'
                old, pos = read_tuple(buf, pos + 1, rel)
            # buf[pos] == 'N'
            new, _ = read_tuple(buf, pos + 1, rel)
            return "update", rel, old, new
        if tag == 0x44:  # 'D'
            (relid,) = struct.unpack_from("!I", buf, 1)
            rel = self.relations[relid]
            old, _ = read_tuple(buf, 6, rel)  # buf[5] is 'K' or 'O'
            return "delete", rel, old, None
        if tag == 0x42:  # 'B': final_lsn, commit_ts, xid
            _final_lsn, _ts, self.xid = struct.unpack_from("!QqI", buf, 1)
            return None
        if tag == 0x43:  # 'C': flags, commit_lsn, end_lsn, commit_ts
            self.xid = None
            return None
        if tag == 0x52:  # 'R'
            (relid,) = struct.unpack_from("!I", buf, 1)
            schema, pos = read_cstr(buf, 5)
            name, pos = read_cstr(buf, pos)
            pos += 1  # replica identity setting
            (ncols,) = struct.unpack_from("!h", buf, pos)
            pos += 2
            cols = []
            for _ in range(ncols):
                pos += 1  # flags
                cname, pos = read_cstr(buf, pos)
                typoid, _typmod = struct.unpack_from("!Ii", buf, pos)
                pos += 8
                cols.append((cname, typoid))
            self.relations[relid] = Relation(relid, schema, name, cols)
            return None
        # 'O' origin, 'Y' type, 'T' truncate, 'M' message: skipped
        return None


def run_cdc(args):
    endpos = parse_lsn(args.endpos)
    out = open_stdout()
    conn = psycopg2.connect(
        args.dsn, connection_factory=psycopg2.extras.LogicalReplicationConnection)
    cur = conn.cursor()
    cur.start_replication(
        slot_name=args.slot, decode=False,
        options={"proto_version": "1", "publication_names": args.publication})

    dec = Decoder()
    count = 0
    msgs_since_fb = 0
    last_fb = time.monotonic()
    last_lsn = 0          # data_start of the last message handled
    dumps = json.dumps

    while True:
        msg = cur.read_message()
        if msg is None:
            # Nothing buffered. wal_end is updated by keepalives too; once the
            # server says it has sent everything up to endpos we are done.
            if cur.wal_end >= endpos:
                break
            now = time.monotonic()
            if now - last_fb >= FEEDBACK_EVERY_SECS:
                # report progress and ask for a keepalive so wal_end moves on
                # even when the server has nothing to send
                cur.send_feedback(flush_lsn=last_lsn, reply=True, force=True)
                last_fb = now
                msgs_since_fb = 0
            try:
                select.select([cur], [], [], IDLE_POLL_SECS)
            except InterruptedError:
                pass
            continue

        lsn = msg.data_start
        if lsn > endpos:
            break
        change = dec.decode(msg.payload)
        if change is not None:
            op, rel, before, after = change
            rec = {"stream": rel.name, "op": op,
                   "data": after if after is not None else before,
                   "lsn": fmt_lsn(lsn)}
            if op == "update" and before is not None:
                rec["before"] = before
            out.write(dumps(rec, default=json_default))
            out.write("\n")
            count += 1
        last_lsn = lsn
        msgs_since_fb += 1
        if msgs_since_fb >= FEEDBACK_EVERY_MSGS:
            msg.cursor.send_feedback(flush_lsn=lsn, force=True)
            msgs_since_fb = 0
            last_fb = time.monotonic()
        elif time.monotonic() - last_fb >= FEEDBACK_EVERY_SECS:
            msg.cursor.send_feedback(flush_lsn=lsn, force=True)
            msgs_since_fb = 0
            last_fb = time.monotonic()
        if lsn >= endpos:
            break

    out.flush()
    if last_lsn:
        cur.send_feedback(flush_lsn=last_lsn, force=True)
    wal_end = cur.wal_end
    cur.close()
    conn.close()
    print("psycopg2_peer cdc: %d changes (last lsn %s, server wal_end %s)"
          % (count, fmt_lsn(last_lsn), fmt_lsn(wal_end)), file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(prog="psycopg2_peer.py")
    sub = ap.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("snapshot")
    s.add_argument("--dsn", required=True)
    s.add_argument("--table", required=True)
    s.add_argument("--key", default="id")
    s.add_argument("--chunk", type=int, default=10000)
    c = sub.add_parser("cdc")
    c.add_argument("--dsn", required=True)
    c.add_argument("--slot", required=True)
    c.add_argument("--publication", required=True)
    c.add_argument("--endpos", required=True, help="stop at this LSN (X/Y)")
    args = ap.parse_args()
    if args.mode == "snapshot":
        run_snapshot(args)
    else:
        run_cdc(args)


if __name__ == "__main__":
    main()
