// JSON-RPC 2.0 to the node: one POST to check the token, then a WebSocket
// (?token=, since browsers cannot set headers on it) for calls and
// subscription notifications. The connection reopens by itself with
// backoff; the app resubscribes from its last cursor when it does.

export class RpcError extends Error {
  constructor(code, message, data) {
    super(message);
    this.code = code;
    this.data = data;
  }
}

// Codes of docs/API.md the page acts on.
export const Codes = {
  methodNotFound: -32601,
  invalidArgument: -32005,
  subscriptionDropped: -32009,
};

// checkToken asks the node for its method list with one POST. It resolves
// to the list of method names, or rejects with an Error whose kind is
// "token" (401: missing or wrong token) or "offline" (no answer).
export async function checkToken(token) {
  let resp;
  try {
    resp = await fetch('/rpc', {
      method: 'POST',
      headers: { 'Authorization': 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'rpc.discover', params: [] }),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (e) {
    throw Object.assign(new Error('the node does not answer'), { kind: 'offline' });
  }
  if (resp.status === 401) {
    throw Object.assign(new Error('the node refused the token'), { kind: 'token' });
  }
  if (!resp.ok) {
    throw Object.assign(new Error('the node answered HTTP ' + resp.status), { kind: 'offline' });
  }
  const body = await resp.json();
  return (body.result?.methods ?? []).map((m) => m.name);
}

const minDelay = 500;
const maxDelay = 15000;

export class Conn {
  // onNotify(method, params) gets every notification; onState(open, retryMs)
  // every change of connection state.
  constructor(token, { onNotify, onState }) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    this.url = `${scheme}//${location.host}/rpc?token=${encodeURIComponent(token)}`;
    this.onNotify = onNotify;
    this.onState = onState;
    this.pending = new Map();
    this.nextId = 1;
    this.ws = null;
    this.delay = minDelay;
    this.timer = 0;
    this.stopped = false;
  }

  get open() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  // stop closes the connection for good.
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    const ws = this.ws;
    this.ws = null;
    ws?.close();
  }

  start() {
    if (this.stopped) return;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.delay = minDelay;
      this.onState(true, 0);
    };
    ws.onmessage = (e) => this.receive(e.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      for (const p of this.pending.values()) p.reject(new RpcError(0, 'connection to the node lost'));
      this.pending.clear();
      const wait = this.delay;
      this.delay = Math.min(this.delay * 2, maxDelay);
      this.onState(false, wait);
      this.timer = setTimeout(() => this.start(), wait);
    };
  }

  receive(data) {
    let msg;
    try {
      msg = JSON.parse(data);
    } catch {
      return;
    }
    for (const m of Array.isArray(msg) ? msg : [msg]) {
      if (m.id === undefined && m.method) {
        this.onNotify(m.method, m.params);
        continue;
      }
      const p = this.pending.get(m.id);
      if (!p) continue;
      this.pending.delete(m.id);
      if (m.error) p.reject(new RpcError(m.error.code, m.error.message, m.error.data));
      else p.resolve(m.result);
    }
  }

  request(method, params) {
    const id = this.nextId++;
    const promise = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
    return { req: { jsonrpc: '2.0', id, method, params }, promise };
  }

  // call sends one request and resolves to its result (rejects with an
  // RpcError).
  call(method, params = []) {
    if (!this.open) return Promise.reject(new RpcError(0, 'not connected to the node'));
    const { req, promise } = this.request(method, params);
    this.ws.send(JSON.stringify(req));
    return promise;
  }

  // batch sends calls ([method, params] pairs) as one batch and resolves
  // to one {result} or {error} per call, in order.
  batch(calls) {
    if (calls.length === 0) return Promise.resolve([]);
    if (!this.open) return Promise.reject(new RpcError(0, 'not connected to the node'));
    const reqs = [];
    const settled = [];
    for (const [method, params] of calls) {
      const { req, promise } = this.request(method, params);
      reqs.push(req);
      settled.push(promise.then((result) => ({ result }), (error) => ({ error })));
    }
    this.ws.send(JSON.stringify(reqs));
    return Promise.all(settled);
  }
}
