// The members panel of the open room, and the moderation controls in it.
// Ban, purge (a ban that hides all the member wrote) and unban are shown
// only when room_admins lists this node's peer ID,
// and only when the node has those methods (rpc.discover); a node without
// them (-32601) shows members alone. In a private room an admin also
// invites (room_invite, shown in the invite dialog), sees the invites
// still open and revokes them (room_invites, room_invite_revoke), and
// removes members (room_kick). Peers added but not joined yet are tagged
// invited (room_members' state).
import { Codes } from './rpc.js';
import { el, peerLabel, shortPeer, when } from './view.js';

export class Members {
  constructor(conn, methods, dialog, label) {
    this.conn = conn;
    this.methods = methods;
    this.dialog = dialog;
    this.label = label;
    this.inviteForm = document.getElementById('invite-form');
    this.panel = document.getElementById('members');
    this.toggle = document.getElementById('members-toggle');
    this.list = document.getElementById('member-list');
    this.invitesTitle = document.getElementById('invites-title');
    this.inviteList = document.getElementById('invite-list');
    this.unban = document.getElementById('unban-form');
    this.status = document.getElementById('admin-status');
    this.room = null;
    this.me = '';
    this.gen = 0;
    this.toggle.addEventListener('click', () => this.setOpen(this.panel.hidden));
    this.unban.addEventListener('submit', (e) => {
      e.preventDefault();
      const input = document.getElementById('unban-peer');
      const peer = input.value.trim();
      if (peer) this.moderate('room_unban', peer, () => { input.value = ''; });
    });
    this.inviteForm.addEventListener('submit', (e) => {
      e.preventDefault();
      this.invite(document.getElementById('invite-peer'));
    });
  }

  // privateAdmin: this room takes room_invite and room_kick from us.
  privateAdmin(admins) {
    const r = this.room;
    return r.private && r.kind !== 'dm' && admins.has(this.me) && this.methods.has('room_invite');
  }

  async invite(input) {
    const peer = input.value.trim();
    const room = this.room;
    try {
      const res = await this.conn.call('room_invite', peer ? [room.id, peer] : [room.id]);
      input.value = '';
      this.status.textContent = '';
      this.dialog.open(this.label(room), res.invite, peer
        ? `${shortPeer(peer)} is a member now and can read what is written from here on; it joins with this invite.`
        : 'Anyone with this invite can join once, while your node is reachable. It holds no key; treat it like a password until used.');
      this.load();
    } catch (e) {
      this.status.textContent = 'Invite failed: ' + e.message;
    }
  }

  get moderation() {
    return ['room_admins', 'room_ban', 'room_unban'].every((m) => this.methods.has(m));
  }

  // show switches the panel to room (null: none).
  show(room, me) {
    this.room = room;
    this.me = me;
    this.status.textContent = '';
    this.toggle.disabled = !room;
    if (!room) this.setOpen(false);
    else if (!this.panel.hidden) this.load();
  }

  setOpen(open) {
    this.panel.hidden = !open;
    this.toggle.setAttribute('aria-expanded', String(open));
    if (open) this.load();
  }

  async load() {
    const room = this.room;
    const gen = ++this.gen;
    const calls = [['room_members', [room.id]]];
    // Rooms found by name have no admins (room_admins: -32016).
    if (this.moderation && room.moderated) calls.push(['room_admins', [room.id]]);
    // Only admins may list invites (others get -32015: nothing shown).
    const invites = room.private && room.kind !== 'dm' && this.methods.has('room_invites');
    if (invites) calls.push(['room_invites', [room.id]]);
    let res;
    try {
      res = await this.conn.batch(calls);
    } catch (e) {
      this.status.textContent = 'Could not load members: ' + e.message;
      return;
    }
    if (gen !== this.gen) return;
    const [members, admins] = res;
    const invs = invites ? res[res.length - 1] : null;
    if (members.error) {
      this.status.textContent = 'Could not load members: ' + members.error.message;
      return;
    }
    let adminSet = new Set();
    if (admins && admins.error?.code === Codes.methodNotFound) {
      this.methods.delete('room_admins'); // degrade: no moderation on this node
    } else if (admins && !admins.error) {
      adminSet = new Set(admins.result ?? []);
    }
    this.render(members.result ?? [], adminSet);
    this.renderInvites(invs && !invs.error ? invs.result ?? [] : []);
  }

  // renderInvites lists the invites that still admit someone, each with
  // a Revoke button.
  renderInvites(invites) {
    const open = invites.filter((v) => !v.revoked && v.uses < v.maxUses);
    this.inviteList.replaceChildren(...open.map((v) => {
      const who = v.invitee ? 'for ' + peerLabel(v.invitee, '') : 'anyone with the token';
      const li = el('li', { class: 'member', 'data-invite': v.id },
        el('span', { class: 'who', title: v.id }, who));
      li.append(el('span', { class: 'tag' }, `used ${v.uses} of ${v.maxUses}`));
      if (v.expires) li.append(el('span', { class: 'msg-time' }, 'expires ' + when(v.expires)));
      li.append(this.revokeButton(v, who));
      return li;
    }));
    this.invitesTitle.hidden = this.inviteList.hidden = open.length === 0;
  }

  // revokeButton asks for a second press, then revokes invite v.
  revokeButton(v, who) {
    const b = el('button', { type: 'button', class: 'danger' }, 'Revoke');
    b.setAttribute('aria-label', `Revoke the invite ${who}`);
    b.addEventListener('click', async () => {
      if (b.dataset.confirm !== '1') {
        b.dataset.confirm = '1';
        b.textContent = 'Confirm revoke';
        b.setAttribute('aria-label', `Confirm revoking the invite ${who}`);
        return;
      }
      b.disabled = true;
      try {
        await this.conn.call('room_invite_revoke', [this.room.id, v.id]);
        this.status.textContent = 'Revoked the invite.';
      } catch (e) {
        this.status.textContent = 'Revoke failed: ' + e.message;
      }
      this.load();
    });
    return b;
  }

  render(members, admins) {
    const isAdmin = this.moderation && admins.has(this.me);
    const priv = this.privateAdmin(admins);
    this.unban.hidden = !isAdmin || this.room.private;
    this.inviteForm.hidden = !priv;
    this.list.replaceChildren(...members.map((m) => {
      const li = el('li', { class: 'member' },
        el('span', { class: 'who', title: m.peerId }, peerLabel(m.peerId, m.name)));
      if (m.peerId === this.me) li.append(el('span', { class: 'tag' }, 'you'));
      if (admins.has(m.peerId)) li.append(el('span', { class: 'tag' }, 'admin'));
      if (m.state === 'invited') li.append(el('span', { class: 'tag', title: 'added, has not written yet' }, 'invited'));
      if (m.lastSeen) li.append(el('span', { class: 'msg-time' }, 'seen ' + when(m.lastSeen)));
      if (m.peerId !== this.me && !admins.has(m.peerId)) {
        if (priv && this.methods.has('room_kick')) li.append(this.confirmButton(m, 'Remove', 'room_kick'));
        else if (isAdmin && !this.room.private) {
          li.append(this.confirmButton(m, 'Ban', 'room_ban'));
          if (this.methods.has('room_purge')) {
            const purge = this.confirmButton(m, 'Purge', 'room_purge');
            purge.title = 'Ban and hide everything this member wrote';
            li.append(purge);
          }
        }
      }
      return li;
    }));
    if (members.length === 0) this.list.append(el('li', { class: 'hint' }, 'No members known yet.'));
  }

  // confirmButton (Ban, Purge, Remove) asks for a second press before acting.
  confirmButton(m, verb, method) {
    const label = peerLabel(m.peerId, m.name);
    const b = el('button', { type: 'button', class: 'danger' }, verb);
    b.setAttribute('aria-label', `${verb} ${label}`);
    b.addEventListener('click', () => {
      if (b.dataset.confirm !== '1') {
        b.dataset.confirm = '1';
        b.textContent = 'Confirm ' + verb.toLowerCase();
        b.setAttribute('aria-label', `Confirm ${verb.toLowerCase()} of ${label}`);
        return;
      }
      b.disabled = true;
      this.moderate(method, m.peerId, () => this.load());
    });
    return b;
  }

  async moderate(method, peer, then) {
    const verbs = { room_ban: ['Banned', 'Ban'], room_purge: ['Purged', 'Purge'], room_unban: ['Unbanned', 'Unban'], room_kick: ['Removed', 'Remove'] };
    const [verb, name] = verbs[method];
    try {
      await this.conn.call(method, [this.room.id, peer]);
      this.status.textContent = `${verb} ${shortPeer(peer)}.`;
      then();
    } catch (e) {
      this.status.textContent = `${name} failed: ${e.message}`;
      if (e.code === Codes.methodNotFound) {
        this.methods.delete(method);
        this.load();
      }
    }
  }
}
