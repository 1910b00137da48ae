// Test harness: real `parley daemon` processes on 127.0.0.1 (mDNS and NAT
// port mapping off) and Debian's chromium driven by playwright-core.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';

const require = createRequire(import.meta.url);

// waitFor polls cond (sync or async) until it returns a truthy value,
// which it returns; it throws naming what after timeoutMs.
export async function waitFor(what, cond, timeoutMs = 15000, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// freePort returns a loopback port that was free a moment ago, for a
// daemon that must come back on the same RPC address after a restart.
export async function freePort() {
  const srv = createServer();
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const { port } = srv.address();
  srv.close();
  await once(srv, 'close');
  return port;
}

export class Daemon {
  // start runs `parley daemon` with a new data directory (or dir) and
  // waits for the ui line it prints.
  static async start(name, { dir, rpcPort = 0, peers = [] } = {}) {
    const d = new Daemon();
    d.name = name;
    d.dir = dir ?? await mkdtemp(join(tmpdir(), `parley-browser-${name}-`));
    d.rpcPort = rpcPort;
    d.peers = peers;
    await d.run();
    return d;
  }

  async run() {
    const bin = process.env.PARLEY_BIN;
    if (!bin) throw new Error('PARLEY_BIN must name a built parley binary (go test ./tests/browser sets it)');
    const args = ['--data', this.dir, 'daemon', '--name', this.name,
      '--listen', '/ip4/127.0.0.1/tcp/0', '--rpc', `127.0.0.1:${this.rpcPort}`,
      '--no-mdns', '--no-nat-portmap', '--log-level', 'warn'];
    for (const p of this.peers) args.push('--peer', p);
    this.out = '';
    this.proc = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = once(this.proc, 'exit');
    this.proc.stdout.on('data', (b) => { this.out += b; });
    this.proc.stderr.on('data', (b) => { this.out += b; });
    const m = await waitFor(`${this.name} to print its ui link`, () => /^ui (\S+)$/m.exec(this.out)
      || (this.proc.exitCode !== null && Promise.reject(new Error(`${this.name} exited:\n${this.out}`))));
    this.ui = m[1];
    this.base = this.ui.slice(0, this.ui.indexOf('#'));
    this.token = (await readFile(join(this.dir, 'rpc.token'), 'utf8')).trim();
    this.rpcURL = (await readFile(join(this.dir, 'rpc.addr'), 'utf8')).trim();
    this.rpcPort = Number(new URL(this.rpcURL).port);
    this.info = await this.call('node_info');
  }

  // post sends one JSON-RPC message (object or batch) and returns the
  // decoded answer.
  async post(body) {
    const resp = await fetch(this.rpcURL, {
      method: 'POST',
      headers: { 'Authorization': `Bearer ${this.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!resp.ok) throw new Error(`${this.name}: HTTP ${resp.status}`);
    return resp.json();
  }

  async call(method, params = []) {
    const r = await this.post({ jsonrpc: '2.0', id: 1, method, params });
    if (r.error) throw Object.assign(new Error(`${this.name} ${method}: ${r.error.message}`), { code: r.error.code });
    return r.result;
  }

  async methods() {
    return new Set((await this.call('rpc.discover')).methods.map((m) => m.name));
  }

  async stop() {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 15000);
      await this.exited;
      clearTimeout(t);
    }
  }

  async restart() {
    await this.stop();
    await this.run();
  }

  async remove() {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

// The flags the issue fixes for Debian's chromium in CI.
const chromiumArgs = ['--no-sandbox', '--headless', '--disable-gpu', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function launchBrowser() {
  const executablePath = process.env.CHROMIUM || execFileSync('which', ['chromium'], { encoding: 'utf8' }).trim();
  return chromium.launch({ executablePath, args: chromiumArgs });
}

// watch records what a page must never do (open a dialog, as an injected
// alert would; throw; log a CSP violation) and the WebSocket frames it
// sends.
export function watch(page) {
  const seen = { dialogs: [], errors: [], sockets: 0, sent: [] };
  page.on('dialog', (d) => {
    seen.dialogs.push(d.message());
    d.dismiss().catch(() => {});
  });
  page.on('pageerror', (e) => seen.errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/status of 401|ERR_CONNECTION_REFUSED|WebSocket connection/.test(m.text())) seen.errors.push(m.text());
  });
  page.on('websocket', (ws) => {
    seen.sockets++;
    ws.on('framesent', (f) => seen.sent.push(String(f.payload)));
  });
  return seen;
}

export async function artifactsDir() {
  const dir = process.env.PARLEY_ARTIFACTS || join(tmpdir(), 'parley-browser-artifacts');
  await mkdir(dir, { recursive: true });
  return dir;
}

// axeCheck runs axe-core on page and fails on serious or critical
// violations.
export async function axeCheck(page, what) {
  const src = await readFile(require.resolve('axe-core/axe.min.js'), 'utf8');
  // Evaluated over the DevTools protocol, which the page's CSP does not
  // govern (an injected <script> would be refused, rightly).
  await page.evaluate(src);
  const res = await page.evaluate(() => window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] }));
  const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  console.log(`axe on ${what}: ${res.passes.length} rules pass, ${res.violations.length} violations (${bad.length} serious or critical)`);
  assert.deepEqual(bad.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`), [], `axe on ${what}`);
}
