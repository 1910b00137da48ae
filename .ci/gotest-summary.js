// Reads `go test -json` on stdin and prints what plain `go test` would
// (package result lines, plus the output of every failing test), then one
// closing line: "tests: N passed, N failed, N skipped".
// Node.js is on every machine that runs .ci/run; no packages needed.
'use strict';
const readline = require('readline');
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const buffered = new Map(); // "pkg test" -> output lines
let passed = 0, failed = 0, skipped = 0;
rl.on('line', (line) => {
  let ev;
  try { ev = JSON.parse(line); } catch { process.stdout.write(line + '\n'); return; }
  const key = ev.Package + ' ' + (ev.Test || '');
  if (ev.Action === 'output') {
    if (!ev.Test) {
      // Package-level lines: "ok  pkg 1.2s", "FAIL pkg", "? pkg [no test files]", build errors.
      if (!/^(=== |--- |PASS$|FAIL$|coverage:)/.test(ev.Output.trim()) || /^FAIL\s/.test(ev.Output)) {
        process.stdout.write(ev.Output);
      }
      return;
    }
    if (!buffered.has(key)) buffered.set(key, []);
    const b = buffered.get(key);
    if (b.length < 2000) b.push(ev.Output);
    return;
  }
  if (!ev.Test) return;
  if (ev.Action === 'pass') { passed++; buffered.delete(key); }
  if (ev.Action === 'skip') { skipped++; buffered.delete(key); }
  if (ev.Action === 'fail') {
    failed++;
    process.stdout.write((buffered.get(key) || []).join(''));
    buffered.delete(key);
  }
});
rl.on('close', () => {
  process.stdout.write(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
});
