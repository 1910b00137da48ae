// Direct conversations: room_list shows them with kind "dm" (and the
// name "dm"), so the page learns who is on the other side from
// room_members and labels them by that peer. A conversation not started
// yet is a pending view: its first dm_send creates it.
import { peerLabel } from './view.js';

export const isDM = (r) => r?.kind === 'dm';

// pendingDM is the view of a conversation with peer that has no room yet.
export function pendingDM(peer) {
  return { id: '', name: '', kind: 'dm', pending: true, peer };
}

// dmLabel names a direct conversation by its other member.
export function dmLabel(room, peers) {
  const p = room.pending ? { peerId: room.peer } : peers.get(room.id);
  return p ? '@' + peerLabel(p.peerId, p.name) : 'direct conversation';
}

// resolvePeers fills peers (room ID → {peerId, name}) for the DM rooms it
// lacks, with one room_members batch; it reports whether any were added.
export async function resolvePeers(conn, rooms, me, peers) {
  const todo = rooms.filter((r) => isDM(r) && !peers.has(r.id));
  if (todo.length === 0) return false;
  const res = await conn.batch(todo.map((r) => ['room_members', [r.id]]));
  let added = false;
  res.forEach((x, i) => {
    const other = (x.result ?? []).find((m) => m.peerId !== me);
    if (other) {
      peers.set(todo[i].id, other);
      added = true;
    }
  });
  return added;
}
