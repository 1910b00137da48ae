#!/usr/bin/env node
// A minimal desktop-app client of a Parley node's JSON-RPC API.
//
//   node client.js [DATA_DIR] [--room NAME] [--timeout MS]
//
// It reads the endpoint URL and token the daemon wrote to DATA_DIR/rpc.addr
// and DATA_DIR/rpc.token (DATA_DIR defaults to $PARLEY_DATA, else
// ~/.parley), joins the room over HTTP, subscribes to it over a WebSocket,
// sends a message over HTTP and prints every pushed message. It exits 0 once
// its own message came back as a push, 1 on error or timeout.
//
// HTTP uses Node 20's global fetch; the WebSocket uses the `ws` package
// (Node 20 has no WebSocket client of its own).

import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';

function parseArgs(argv) {
  const opts = { dataDir: process.env.PARLEY_DATA || join(homedir(), '.parley'), room: 'general', timeoutMs: 10000 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--room') opts.room = argv[++i];
    else if (a === '--timeout') opts.timeoutMs = Number(argv[++i]);
    else if (a.startsWith('--')) throw new Error(`unknown flag ${a}`);
    else opts.dataDir = a;
  }
  return opts;
}

function readEndpoint(dataDir) {
  const read = (name) => {
    try {
      return readFileSync(join(dataDir, name), 'utf8').trim();
    } catch (err) {
      throw new Error(`cannot read ${join(dataDir, name)} (is "parley daemon --data ${dataDir}" running?): ${err.message}`);
    }
  };
  return { url: read('rpc.addr'), token: read('rpc.token') };
}

/** RpcError is a JSON-RPC error answered by the node; code is documented in docs/API.md. */
class RpcError extends Error {
  constructor({ code, message, data }) {
    super(`${message} (code ${code})`);
    this.code = code;
    this.data = data;
  }
}

/** Calls one method over HTTP POST. */
async function httpCall(ep, method, params = []) {
  const res = await fetch(ep.url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${ep.token}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  if (res.status === 401) throw new Error('unauthorized: wrong token (is DATA_DIR the daemon\'s data directory?)');
  if (res.status === 429) throw new Error(`rate limited, retry after ${res.headers.get('retry-after')}s`);
  if (res.status !== 200) throw new Error(`${method}: HTTP ${res.status}`);
  const body = await res.json();
  if (body.error) throw new RpcError(body.error);
  return body.result;
}

/** A JSON-RPC connection over WebSocket: calls and subscription notifications. */
class WsRpc {
  constructor(ep, onNotification) {
    this.pending = new Map();
    this.nextId = 1;
    this.ws = new WebSocket(ep.url.replace(/^http/, 'ws'), { headers: { Authorization: `Bearer ${ep.token}` } });
    this.ws.on('message', (data) => {
      const msg = JSON.parse(data.toString());
      if (msg.id !== undefined && this.pending.has(msg.id)) {
        const { resolve, reject } = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) reject(new RpcError(msg.error));
        else resolve(msg.result);
      } else if (msg.method) {
        onNotification(msg.method, msg.params);
      }
    });
    this.ws.on('close', () => {
      for (const { reject } of this.pending.values()) reject(new Error('WebSocket closed'));
      this.pending.clear();
    });
  }

  open() {
    return new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
      this.ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket upgrade refused: HTTP ${res.statusCode}`)));
    });
  }

  call(method, params = []) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    });
  }

  close() {
    this.ws.close();
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const ep = readEndpoint(opts.dataDir);

  const info = await httpCall(ep, 'node_info');
  console.log(`node ${info.peerId} (version ${info.version}, ${info.peers} peers)`);
  const room = await httpCall(ep, 'room_join', [opts.room]);
  console.log(`joined #${room.name} (${room.id})`);

  const text = `hello from the desktop-client example ${randomUUID()}`;
  let sentId = null; // set once msg_send answered
  let ownSeen = null; // the id of our message, if pushed before msg_send answered
  let lastCursor = '';
  let done;
  const finished = new Promise((resolve) => { done = resolve; });

  let rpc;
  const subscribe = (since) => rpc.call('chat_subscribe', ['messages', since ? { room: room.id, since } : { room: room.id }]);
  rpc = new WsRpc(ep, (method, params) => {
    if (method !== 'chat_subscription') return;
    if (params.error) {
      // The node ended the subscription (e.g. we were too slow): resume
      // from the last cursor, without gaps or duplicates.
      const since = params.error.data?.cursor || lastCursor;
      console.error(`subscription ended (${params.error.message}); resuming from cursor ${since}`);
      subscribe(since).catch((err) => done(err));
      return;
    }
    const m = params.result;
    if (m.redacted) {
      // A moderated room's ban withdrew a message shown before (no cursor).
      console.log(`[withdrawn by a moderator: ${m.redacted}]`);
      return;
    }
    lastCursor = m.cursor;
    console.log(`[${m.time}] ${m.authorName || m.author.slice(-8)}: ${m.text}`);
    if (m.text === text) ownSeen = m.id;
    if (ownSeen && ownSeen === sentId) done(null);
  });
  await rpc.open();
  const subId = await subscribe('');
  console.log(`subscribed (${subId})`);

  const sent = await httpCall(ep, 'msg_send', [room.id, text]);
  sentId = sent.id;
  console.log(`sent ${sent.id} at cursor ${sent.cursor}`);
  if (ownSeen === sentId) done(null);

  const timer = setTimeout(() => done(new Error(`timed out after ${opts.timeoutMs} ms waiting for our message to be pushed back`)), opts.timeoutMs);
  const err = await finished;
  clearTimeout(timer);
  rpc.close();
  if (err) throw err;
  console.log('own message pushed back: OK');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`desktop-client: ${err.message}`);
    process.exit(1);
  },
);
