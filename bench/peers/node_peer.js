#!/usr/bin/env node
// Peer consumer for the source-postgres benchmark, written the way a typical
// Node.js connector would be: pg-logical-replication (PgoutputPlugin) for CDC,
// pg with keyset pagination for the snapshot.
//
// Dependencies: see package.json (cd bench/peers && npm ci).
//
//   node node_peer.js cdc --host H --port P --user U --password W --database D \
//        --slot S --publication P --endpos X/Y
//   node node_peer.js snapshot --host H --port P --user U --password W --database D \
//        --table T [--key id] [--chunk 10000]
//
// Output: one JSON object per row (snapshot) or per insert/update/delete (cdc)
// on stdout, written in ~64 KiB chunks. A final count goes to stderr.
'use strict';

const { Client } = require('pg');
const { LogicalReplicationService, PgoutputPlugin } = require('pg-logical-replication');

const FLUSH_BYTES = 64 * 1024;
const ACK_EVERY_MSGS = 10000;
const ACK_EVERY_MS = 1000;

function parseArgs(argv) {
  const mode = argv[0];
  const opts = {};
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument: ${a}`);
    const eq = a.indexOf('=');
    if (eq > 0) opts[a.slice(2, eq)] = a.slice(eq + 1);
    else opts[a.slice(2)] = argv[++i];
  }
  return { mode, opts };
}

function need(opts, name) {
  if (opts[name] === undefined) {
    process.stderr.write(`missing --${name}\n`);
    process.exit(2);
  }
  return opts[name];
}

function clientConfig(opts) {
  return {
    host: opts.host || '127.0.0.1',
    port: Number(opts.port || 5432),
    user: opts.user,
    password: opts.password,
    database: opts.database,
  };
}

// Buffered stdout: lines are collected and written in large chunks.
class Out {
  constructor() {
    this.parts = [];
    this.size = 0;
  }
  line(s) {
    this.parts.push(s);
    this.size += s.length + 1;
    if (this.size >= FLUSH_BYTES) this.flush();
  }
  flush() {
    if (this.parts.length === 0) return;
    process.stdout.write(this.parts.join('\n') + '\n');
    this.parts = [];
    this.size = 0;
  }
  end() {
    this.flush();
    return new Promise((resolve) => process.stdout.write('', resolve));
  }
}

function replacer(_key, value) {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Buffer) return value.toString('hex');
  return value;
}

function parseLsn(s) {
  const [hi, lo] = s.split('/');
  return (BigInt(parseInt(hi, 16)) << 32n) | BigInt(parseInt(lo, 16));
}

async function runSnapshot(opts) {
  const table = need(opts, 'table');
  const key = opts.key || 'id';
  const chunk = Number(opts.chunk || 10000);
  const out = new Out();
  const client = new Client(clientConfig(opts));
  await client.connect();
  const ident = table.split('.').map((p) => client.escapeIdentifier(p)).join('.');
  const k = client.escapeIdentifier(key);
  const firstQ = `SELECT * FROM ${ident} ORDER BY ${k} LIMIT $1`;
  const nextQ = `SELECT * FROM ${ident} WHERE ${k} > $1 ORDER BY ${k} LIMIT $2`;
  const stream = table.split('.').pop();

  await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  let count = 0;
  let last = null;
  for (;;) {
    const res = last === null
      ? await client.query(firstQ, [chunk])
      : await client.query(nextQ, [last, chunk]);
    for (const row of res.rows) {
      out.line(JSON.stringify({ stream, data: row }, replacer));
    }
    count += res.rows.length;
    if (res.rows.length === 0) break;
    last = res.rows[res.rows.length - 1][key];
    if (res.rows.length < chunk) break;
  }
  await client.query('COMMIT');
  await client.end();
  await out.end();
  process.stderr.write(`node_peer snapshot: ${count} rows\n`);
}

async function runCdc(opts) {
  const slot = need(opts, 'slot');
  const publication = need(opts, 'publication');
  const endpos = parseLsn(need(opts, 'endpos'));
  const out = new Out();

  const service = new LogicalReplicationService(clientConfig(opts), {
    // we acknowledge ourselves, periodically; the library's own timer still
    // sends a standby status every timeoutSeconds while idle.
    acknowledge: { auto: false, timeoutSeconds: 10 },
  });
  const plugin = new PgoutputPlugin({ protoVersion: 1, publicationNames: [publication] });

  let count = 0;
  let msgsSinceAck = 0;
  let lastAckAt = Date.now();
  let lastLsn = null;   // LSN string of the last handled message
  let lastMsgAt = Date.now();
  let done = false;
  let finish;
  const finished = new Promise((resolve) => { finish = resolve; });

  function stop() {
    if (done) return;
    done = true;
    finish();
  }

  service.on('data', (lsn, msg) => {
    if (done) return;
    lastMsgAt = Date.now();
    const pos = parseLsn(lsn);
    if (pos > endpos) { stop(); return; }
    switch (msg.tag) {
      case 'insert':
        out.line(JSON.stringify({ stream: msg.relation.name, op: 'insert', data: msg.new, lsn }, replacer));
        count++;
        break;
      case 'update': {
        const rec = { stream: msg.relation.name, op: 'update', data: msg.new, lsn };
        if (msg.old || msg.key) rec.before = msg.old || msg.key;
        out.line(JSON.stringify(rec, replacer));
        count++;
        break;
      }
      case 'delete':
        out.line(JSON.stringify({ stream: msg.relation.name, op: 'delete', data: msg.old || msg.key, lsn }, replacer));
        count++;
        break;
      default:
        break; // begin/commit/relation/type/origin/truncate/message
    }
    lastLsn = lsn;
    msgsSinceAck++;
    const now = Date.now();
    if (msgsSinceAck >= ACK_EVERY_MSGS || now - lastAckAt >= ACK_EVERY_MS) {
      service.acknowledge(lsn);
      msgsSinceAck = 0;
      lastAckAt = now;
    }
    if (pos >= endpos) stop();
  });

  // Primary keepalive: lsn is the server's WAL end (everything before it has
  // already been sent), so reaching endpos here means nothing is pending.
  service.on('heartbeat', (lsn, _timestamp, shouldRespond) => {
    if (done) return;
    if (parseLsn(lsn) >= endpos) { stop(); return; }
    if (shouldRespond) {
      service.acknowledge(lastLsn || lsn);
      lastAckAt = Date.now();
    }
  });

  service.on('error', (err) => {
    process.stderr.write(`node_peer cdc error: ${err && err.stack || err}\n`);
    process.exitCode = 1;
    stop();
  });

  // While idle, ask the server for a keepalive so its WAL end becomes visible
  // (it does not send one on its own while our flush position is current).
  const idleTimer = setInterval(() => {
    if (done || service.isStop()) return;
    if (Date.now() - lastMsgAt >= ACK_EVERY_MS) {
      service.acknowledge(lastLsn || service.lastLsn(), true);
      lastAckAt = Date.now();
    }
  }, ACK_EVERY_MS);

  const sub = service.subscribe(plugin, slot).catch((err) => {
    if (!done) {
      process.stderr.write(`node_peer cdc: replication failed: ${err && err.message || err}\n`);
      process.exitCode = 1;
      stop();
    }
  });

  await finished;
  clearInterval(idleTimer);
  await out.end();
  if (lastLsn && !service.isStop()) await service.acknowledge(lastLsn);
  await service.destroy();
  await sub;
  process.stderr.write(`node_peer cdc: ${count} changes (last lsn ${lastLsn || '-'})\n`);
}

async function main() {
  const { mode, opts } = parseArgs(process.argv.slice(2));
  if (mode === 'snapshot') await runSnapshot(opts);
  else if (mode === 'cdc') await runCdc(opts);
  else {
    process.stderr.write('usage: node node_peer.js {cdc|snapshot} --host H --port P --user U '
      + '--password W --database D [cdc: --slot S --publication P --endpos X/Y] '
      + '[snapshot: --table T --key id --chunk 10000]\n');
    process.exit(2);
  }
}

main().catch((err) => {
  process.stderr.write(`node_peer: ${err && err.stack || err}\n`);
  process.exit(1);
});
