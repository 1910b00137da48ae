// Browser tests of private rooms and direct messages on the chat page:
// three real daemons (C connected but never invited), Debian's chromium.
// Run with chat.test.mjs through `PARLEY_BROWSER=1 go test ./tests/browser`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { axeCheck, Daemon, launchBrowser, waitFor, watch } from './harness.mjs';

let A, B, C, browser;
let pageA, pageB, pageC, seenA, seenB;
let room; // the private room A creates

// openPage opens url in a context of its own: pages sharing one would be
// background tabs, whose throttled animation frames slow every click.
async function openPage(url) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await ctx.newPage();
  const seen = watch(page);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById('status').textContent.startsWith('Connected'));
  return { page, seen };
}

function shown(page, text, timeout = 20000) {
  return page.waitForFunction((t) => [...document.querySelectorAll('.msg-text')].some((e) => e.textContent === t), text, { timeout });
}

describe('private rooms and direct messages', () => {
  before(async () => {
    [A, B, C] = await Promise.all([Daemon.start('alice'), Daemon.start('bob'), Daemon.start('carol')]);
    await B.call('node_connect', [A.info.addrs[0]]);
    await C.call('node_connect', [A.info.addrs[0]]);
    await C.call('node_connect', [B.info.addrs[0]]);
    browser = await launchBrowser();
  });

  after(async () => {
    await browser?.close();
    await Promise.all([A, B, C].map((d) => d?.remove()));
  });

  test('A creates a private room and the invite dialog shows its invite', async (t) => {
    const have = await A.methods();
    const missing = ['room_create', 'room_invite', 'room_kick', 'dm_send', 'dm_history'].filter((m) => !have.has(m));
    if (missing.length > 0) {
      t.skip(`this node has no ${missing.join(', ')} (rpc.discover)`);
      return;
    }
    ({ page: pageA, seen: seenA } = await openPage(A.ui));
    await pageA.fill('#create-name', 'hideout');
    await pageA.check('#create-private');
    await pageA.focus('#create-name');
    await pageA.keyboard.press('Enter');
    await pageA.waitForSelector('#invite-dialog[open]');
    const invite = await pageA.inputValue('#invite-text');
    assert.match(invite, /^[A-Za-z0-9_-]{40,}$/, 'no invite token in the dialog');
    assert.equal(await pageA.textContent('#room-title'), '#hideout');
    assert.equal(await pageA.evaluate(() => document.activeElement.id), 'invite-text', 'focus not in the dialog');
    await axeCheck(pageA, 'the invite dialog');
    // Copy by keyboard: Tab to the button, Enter.
    await pageA.keyboard.press('Tab');
    assert.equal(await pageA.evaluate(() => document.activeElement.id), 'invite-copy');
    await pageA.keyboard.press('Enter');
    await pageA.waitForFunction(() => document.getElementById('invite-status').textContent !== '');
    // Esc closes it and focus goes back to where it was.
    await pageA.keyboard.press('Escape');
    await pageA.waitForSelector('#invite-dialog:not([open])', { state: 'attached' });
    assert.equal(await pageA.evaluate(() => document.activeElement.id), 'composer-text', 'focus did not return to the composer');
    room = (await A.call('room_list')).find((r) => r.name === 'hideout');
    assert.ok(room?.private, 'room_create made no private room');
    const tags = await pageA.$eval(`#room-list button[title="${room.id}"]`, (b) => b.textContent);
    assert.match(tags, /private/, 'private room not marked in the list');
    room.invite = invite;
  });

  test('B joins by the invite and sees A\'s message live; C cannot', async (t) => {
    if (!room) return t.skip('no private room');
    ({ page: pageB, seen: seenB } = await openPage(B.ui));
    ({ page: pageC } = await openPage(C.ui));
    await pageB.fill('#join-name', room.invite);
    await pageB.press('#join-name', 'Enter');
    await pageB.waitForFunction((id) => document.querySelector(`#room-list button[title="${id}"]`), room.id);
    await pageB.click(`#room-list button[title="${room.id}"]`);
    // B may write once the room's keys have come by sync; A's message is
    // then delivered to B's page by its subscription.
    await waitFor('bob to hold the room key', () => B.call('msg_send', [room.id, 'bob is in']).then(() => true, () => false), 20000, 250);
    await shown(pageA, 'bob is in');
    const secret = 'only members read this <b>bold</b>';
    await pageA.fill('#composer-text', secret);
    await pageA.press('#composer-text', 'Enter');
    await shown(pageB, secret);
    await pageB.waitForFunction(() => document.getElementById('room-title').textContent === '#hideout');
    assert.equal(await pageB.$$eval('#messages b', (els) => els.length), 0, 'peer HTML became an element');
    assert.equal(seenB.sockets, 1, 'B\'s page reconnected instead of getting it live');

    // C is connected to both but was never invited: its page does not
    // list the room, and its node has nothing of it to read.
    assert.ok(!(await C.call('room_list')).some((r) => r.id === room.id), 'C\'s node lists the private room');
    assert.equal(await pageC.$$eval(`button[title="${room.id}"]`, (els) => els.length), 0, 'C lists the private room');
    const hist = await C.call('msg_history', [room.id]).catch((e) => e);
    const texts = Array.isArray(hist) ? hist.map((m) => m.text) : [];
    assert.ok(!texts.includes(secret) && !texts.includes('bob is in'), `C read the private room: ${texts}`);
    assert.doesNotMatch(await pageC.content(), /only members read|hideout/);
  });

  test('an admin invites by peer ID and removes a member', async (t) => {
    if (!room) return t.skip('no private room');
    await pageA.click('#members-toggle');
    await pageA.waitForSelector('#invite-form:not([hidden])');
    await pageA.fill('#invite-peer', C.info.peerId);
    await pageA.press('#invite-peer', 'Enter');
    await pageA.waitForSelector('#invite-dialog[open]');
    assert.match(await pageA.inputValue('#invite-text'), /^[A-Za-z0-9_-]{40,}$/);
    await pageA.click('#invite-close');
    await pageA.waitForSelector('#invite-dialog:not([open])', { state: 'attached' });
    // room_members lists carol, added by room_invite but not joined, as
    // invited (she can still be removed); bob is the one to remove here.
    const carol = pageA.locator(`#member-list li:has([title="${C.info.peerId}"])`);
    await waitFor('carol listed as invited', async () => (await carol.locator('.tag', { hasText: 'invited' }).count()) === 1);
    const remove = pageA.locator(`#member-list li:has([title="${B.info.peerId}"]) button`, { hasText: 'Remove' });
    await waitFor('a Remove button for bob', async () => (await remove.count()) === 1);
    await remove.click();
    await pageA.locator('#member-list button', { hasText: 'Confirm remove' }).click();
    await pageA.waitForFunction(() => document.getElementById('admin-status').textContent.startsWith('Removed'));
    await waitFor('bob gone from the list', async () => (await pageA.locator(`#member-list li:has([title="${B.info.peerId}"])`).count()) === 0);
    assert.deepEqual(await pageA.$$eval('#member-list button', (els) => els.map((b) => b.textContent)), ['Remove'], 'offered to remove someone but carol');
    // Once the removal reaches bob's node it refuses his messages, and his
    // page says so.
    await waitFor('the removal to reach bob', () => B.call('msg_send', [room.id, 'still in?']).then(() => false, () => true), 20000, 250);
    await pageB.fill('#composer-text', 'after the removal');
    await pageB.press('#composer-text', 'Enter');
    await pageB.waitForFunction(() => document.getElementById('send-error').textContent.startsWith('Not sent'));
    await pageA.click('#members-toggle');
    // B's page shows no admin controls.
    await pageB.click('#members-toggle');
    await pageB.waitForSelector('#member-list li');
    assert.equal(await pageB.isHidden('#invite-form'), true);
    assert.equal(await pageB.$$eval('#member-list button', (els) => els.length), 0, 'a non-admin sees Remove buttons');
    await pageB.click('#members-toggle');
  });

  test('an admin sees open invites and revokes one; its token then admits nobody', async (t) => {
    if (!room) return t.skip('no private room');
    if (await pageA.isHidden('#members')) await pageA.click('#members-toggle');
    await pageA.waitForSelector('#invite-form:not([hidden])');
    await pageA.fill('#invite-peer', '');
    await pageA.press('#invite-peer', 'Enter');
    await pageA.waitForSelector('#invite-dialog[open]');
    const token = await pageA.inputValue('#invite-text');
    await pageA.click('#invite-close');
    await pageA.waitForSelector('#invite-dialog:not([open])', { state: 'attached' });
    const newest = (await A.call('room_invites', [room.id])).at(-1);
    assert.ok(newest && !newest.invitee && !newest.revoked, `room_invites: ${JSON.stringify(newest)}`);
    const item = pageA.locator(`#invite-list li[data-invite="${newest.id}"]`);
    await waitFor('the open invite listed', async () => (await item.count()) === 1);
    assert.match(await item.textContent(), /anyone with the token/);
    await item.locator('button', { hasText: 'Revoke' }).click();
    await item.locator('button', { hasText: 'Confirm revoke' }).click();
    await pageA.waitForFunction(() => document.getElementById('admin-status').textContent.startsWith('Revoked'));
    await waitFor('the revoked invite gone from the list', async () => (await item.count()) === 0);
    assert.ok((await A.call('room_invites', [room.id])).find((v) => v.id === newest.id)?.revoked, 'not revoked on the node');
    const err = await C.call('room_join', [token]).then(() => null, (e) => e);
    assert.ok(err && err.code === -32005 && /invite revoked/.test(err.message), `C and the revoked invite: ${err?.message ?? 'joined'}`);
    await axeCheck(pageA, 'members panel with invites');
    if (!(await pageA.isHidden('#members'))) await pageA.click('#members-toggle');
  });

  test('A sends B a direct message; B\'s page shows it live in its own section', async (t) => {
    if (!room) return t.skip('no private room');
    await pageA.fill('#dm-peer', B.info.peerId);
    await pageA.press('#dm-peer', 'Enter');
    await pageA.waitForFunction((p) => document.getElementById('room-title').textContent.startsWith('@') &&
      document.getElementById('room-title').textContent.includes(p), B.info.peerId.slice(-8));
    await axeCheck(pageA, 'the DM view (new conversation)');
    const text = 'psst, bob <img src=x onerror=alert(1)>';
    await pageA.fill('#composer-text', text);
    await pageA.press('#composer-text', 'Enter');
    await shown(pageA, text, 30000);
    // B's page gets it by the same subscription and lists the new
    // conversation under Direct messages, labelled by alice.
    const dmButton = '#dm-list button';
    await pageB.waitForFunction((sel) => [...document.querySelectorAll(sel)].some((b) => b.textContent.includes('@alice')), dmButton, { timeout: 20000 });
    assert.equal(await pageB.$$eval('#room-list button', (els) => els.filter((b) => b.textContent.includes('@alice')).length), 0, 'DM listed among rooms');
    await pageB.click(dmButton);
    await shown(pageB, text);
    await pageB.fill('#composer-text', 'hi alice');
    await pageB.press('#composer-text', 'Enter');
    await shown(pageA, 'hi alice');
    const sent = seenB.sent.join('\n');
    assert.match(sent, /"method":"dm_send"/, 'B did not answer with dm_send');
    assert.match(sent, /"method":"dm_history"/, 'B did not load the conversation with dm_history');
    assert.equal(await pageB.$$eval('#messages img', (els) => els.length), 0, 'peer HTML became an element');
    await axeCheck(pageB, 'the DM view');
    for (const [who, seen] of [['A', seenA], ['B', seenB]]) {
      assert.deepEqual(seen.dialogs, [], `${who}: a dialog opened`);
      assert.deepEqual(seen.errors, [], `${who}: page errors`);
    }
  });
});
