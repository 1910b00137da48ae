// Parley's chat page: wires the token, the connection, the room list, the
// open room's messages and the status line. See rpc/webui/doc.go.
import { checkToken, Codes, Conn } from './rpc.js';
import { VirtualList } from './vlist.js';
import { Members } from './members.js';
import { el, messageRow, roomLabel } from './view.js';
import { InviteDialog } from './dialog.js';
import { dmLabel, isDM, pendingDM, resolvePeers } from './dm.js';

const firstPage = 100; // messages shown when a room opens
const olderPage = 500; // messages per msg_history page while scrolling back
const infoEvery = 10000; // ms between node_info polls
const tokenKey = 'parley.token';

const $ = (id) => document.getElementById(id);

// takeToken moves a token from the URL fragment into session storage and
// out of the address bar (and so out of history and bookmarks).
function takeToken() {
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.has('token')) {
    sessionStorage.setItem(tokenKey, frag.get('token'));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem(tokenKey) ?? '';
}

function showGate(detail) {
  $('app').hidden = true;
  $('gate').hidden = false;
  $('gate-detail').textContent = detail;
}

const state = {
  conn: null,
  methods: new Set(),
  me: '',
  rooms: [], // Room objects, room_list order
  unread: new Map(), // room ID → count of messages that came while it was not open
  current: null, // the open Room
  view: null, // {gen, ids, atStart, loading} of the open room
  gen: 0,
  cursor: '', // last delivered chat_subscription cursor: resume point
  subscription: '',
  opened: false, // the first connection has picked a room
  list: null,
  members: null,
  infoTimer: 0,
  roomsFrame: 0,
  token: '',
  dmPeers: new Map(), // DM room ID → its other member {peerId, name}
  dialog: null,
};

// label names a room or direct conversation for the list and the title.
const label = (r) => (isDM(r) ? dmLabel(r, state.dmPeers) : roomLabel(r));

async function main() {
  const token = takeToken();
  if (!token) {
    showGate('This page has no token: it was opened without the link\'s #token=… part.');
    return;
  }
  state.token = token;
  let methods;
  try {
    methods = await checkToken(token);
  } catch (e) {
    if (e.kind === 'token') {
      refused();
    } else {
      showGate('Your node does not answer. Start it (parley daemon), then open the link it prints.');
    }
    return;
  }
  state.methods = new Set(methods);
  $('gate').hidden = true;
  $('app').hidden = false;
  $('create-form').hidden = !state.methods.has('room_create');
  $('create-private-row').hidden = !state.methods.has('room_invite');
  $('dms').hidden = !state.methods.has('dm_send');
  state.dialog = new InviteDialog();
  state.list = new VirtualList($('messages'), {
    render: messageRow,
    keyOf: (m) => (m.start ? '^start' : m.id),
    onNearTop: loadOlder,
  });
  state.conn = new Conn(token, { onNotify, onState });
  state.members = new Members(state.conn, state.methods, state.dialog, label);
  wireForms();
  state.conn.start();
}

// refused forgets a token the node refused and removes everything the
// page showed with it.
function refused() {
  sessionStorage.removeItem(tokenKey);
  state.conn?.stop();
  clearInterval(state.infoTimer);
  $('app').replaceChildren();
  showGate('The node refused the token in this link. Tokens belong to one node (and change if its rpc.token is replaced); open the link that node printed.');
}

function onState(open, retryMs) {
  const s = $('status');
  if (!open) {
    clearInterval(state.infoTimer);
    s.classList.add('offline');
    s.textContent = `Not connected to your node; retrying in ${Math.ceil(retryMs / 1000)} s…`;
    state.subscription = '';
    // A WebSocket refused with 401 looks like any other failure to the
    // page: ask over POST whether the token is still good.
    checkToken(state.token).catch((e) => { if (e.kind === 'token') refused(); });
    return;
  }
  s.classList.remove('offline');
  s.textContent = 'Connected';
  onOpen().catch((e) => { s.textContent = 'Error: ' + e.message; });
}

// onOpen runs on every (re)connection. One batch asks for the node's
// state, subscribes (from the last cursor, so nothing that arrived while
// disconnected is missed) and lists the rooms; the subscription's
// notifications start only after that batch's answer.
async function onOpen() {
  const since = state.cursor;
  const [info, sub, rooms] = await state.conn.batch([
    ['node_info', []],
    ['chat_subscribe', ['messages', since ? { since } : {}]],
    ['room_list', []],
  ]);
  if (info.error) throw info.error;
  showInfo(info.result);
  state.infoTimer = setInterval(() => refreshInfo().catch(() => {}), infoEvery);
  let resumed = since !== '';
  if (sub.error) {
    if (!since || sub.error.code !== Codes.invalidArgument) throw sub.error;
    resumed = false; // the node no longer knows the cursor: start live, reload
    state.cursor = '';
    await subscribe();
  } else {
    state.subscription = sub.result;
  }
  if (rooms.error) throw rooms.error;
  setRooms(rooms.result);
  if (!state.opened) {
    state.opened = true;
    const recent = await mostRecent();
    if (recent) openRoom(recent);
    else showEmpty();
  } else if (state.current && !resumed) {
    openRoom(state.current); // no cursor to resume from: reload what is shown
  }
}

// refreshInfo updates the status line, and the room list too: rooms
// joined elsewhere (the CLI, another app) appear, and a moderated room
// joined by ID gets its name once its history arrives.
async function refreshInfo() {
  const [info, rooms] = await state.conn.batch([['node_info', []], ['room_list', []]]);
  if (info.result) showInfo(info.result);
  if (rooms.result && JSON.stringify(rooms.result) !== JSON.stringify(state.rooms)) {
    const open = state.current;
    setRooms(rooms.result);
    const cur = open && rooms.result.find((r) => r.id === open.id);
    if (cur) {
      state.current = cur;
      $('room-title').textContent = label(cur);
    } else if (open && !open.pending) {
      // Left elsewhere (the CLI, another app): move on.
      const next = await mostRecent();
      if (next) openRoom(next);
      else showEmpty();
    }
  }
}

function showInfo(info) {
  state.me = info.peerId;
  const peers = info.peers === 1 ? '1 peer' : `${info.peers} peers`;
  const reach = info.reachability && info.reachability !== 'unknown' ? ` · ${info.reachability} network` : '';
  const s = $('status');
  s.classList.toggle('offline', info.peers === 0);
  s.textContent = `Connected · ${peers}${reach}`;
  s.title = 'Your peer ID: ' + info.peerId;
}

// subscribe (re)opens the all-rooms subscription from the last cursor,
// or live if the node no longer knows that cursor.
async function subscribe() {
  const since = state.cursor;
  try {
    state.subscription = await state.conn.call('chat_subscribe', ['messages', since ? { since } : {}]);
  } catch (e) {
    if (!since || e.code !== Codes.invalidArgument) throw e;
    state.cursor = '';
    state.subscription = await state.conn.call('chat_subscribe', ['messages', {}]);
  }
}

function onNotify(method, params) {
  if (method !== 'chat_subscription' || params?.subscription !== state.subscription) return;
  if (params.error) {
    // The node ended the subscription; resume from the last cursor.
    if (params.error.code === Codes.subscriptionDropped && params.error.data?.cursor) state.cursor = params.error.data.cursor;
    subscribe().catch(() => {});
    return;
  }
  const r = params.result ?? params;
  if (r && r.redacted) {
    redact(r.room, r.redacted);
    return;
  }
  if (r && r.id) onMessage(r);
}

function onMessage(m) {
  if (m.cursor) state.cursor = m.cursor;
  if (!state.rooms.some((r) => r.id === m.room)) {
    // A conversation another peer just started with us, or a room joined
    // elsewhere: list it, and count this message as unread in it.
    state.unread.set(m.room, (state.unread.get(m.room) ?? 0) + 1);
    reloadRooms();
    return;
  }
  // A room joined by ID or invite learns its name from its history: now
  // that some has come, show the name without waiting for the next poll.
  if (!state.rooms.find((r) => r.id === m.room).name) reloadRooms();
  if (state.current && m.room === state.current.id) {
    insertLive(m);
    return;
  }
  state.unread.set(m.room, (state.unread.get(m.room) ?? 0) + 1);
  // A busy room can deliver thousands of messages a second: redraw the
  // list once a frame, not once a message.
  if (!state.roomsFrame) state.roomsFrame = requestAnimationFrame(() => { state.roomsFrame = 0; renderRooms(); });
}

const order = (a, b) => (a.lamport - b.lamport) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

// insertLive puts m in (Lamport, ID) order; new messages land at the end.
function insertLive(m) {
  const v = state.view;
  if (v.ids.has(m.id)) return;
  v.ids.add(m.id);
  const items = state.list.items;
  let i = items.length;
  while (i > 0 && !items[i - 1].start && order(items[i - 1], m) > 0) i--;
  state.list.insertAt(i, m);
}

function redact(roomId, id) {
  if (!state.current || state.current.id !== roomId) return;
  const i = state.list.indexOf(id);
  if (i < 0) return;
  state.list.items[i] = { ...state.list.items[i], redacted: true, text: '' };
  state.list.refresh(id);
}

// reloadRooms refreshes the room list at most once a second, however
// many messages ask for it.
function reloadRooms() {
  if (state.roomsLoad) return;
  const wait = Math.max(0, (state.roomsAt ?? 0) + 1000 - Date.now());
  state.roomsLoad = new Promise((r) => setTimeout(r, wait))
    .then(() => { state.roomsAt = Date.now(); return refreshInfo(); })
    .catch(() => {})
    .finally(() => { state.roomsLoad = null; });
}

async function loadRooms() {
  setRooms(await state.conn.call('room_list'));
}

function setRooms(rooms) {
  state.rooms = rooms;
  const cur = state.current;
  if (cur?.pending) {
    // The conversation being started exists now: open it.
    const dm = rooms.find((r) => isDM(r) && state.dmPeers.get(r.id)?.peerId === cur.peer);
    if (dm) openRoom(dm);
  } else if (cur && !rooms.some((r) => r.id === cur.id)) {
    state.current = null;
  }
  renderRooms();
  resolvePeers(state.conn, rooms, state.me, state.dmPeers).then((added) => {
    if (!added) return;
    renderRooms();
    if (isDM(state.current)) $('room-title').textContent = label(state.current);
    if (state.current?.pending) setRooms(state.rooms);
  }, () => {});
}

// mostRecent returns the joined room whose newest message arrived last
// (by this node's arrival cursor; a peer's claimed time could lie).
async function mostRecent() {
  if (state.rooms.length === 0) return null;
  const res = await state.conn.batch(state.rooms.map((r) => ['msg_history', [r.id, { limit: 1 }]]));
  let best = state.rooms[0];
  let bestKey = -1n;
  res.forEach((x, i) => {
    const m = x.result?.[0];
    if (!m) return;
    const key = /^\d+$/.test(m.cursor ?? '') ? BigInt(m.cursor) : 0n;
    if (key > bestKey) {
      bestKey = key;
      best = state.rooms[i];
    }
  });
  return best;
}

function renderRooms() {
  const item = (r) => {
    const n = state.unread.get(r.id) ?? 0;
    const b = el('button', { type: 'button' }, el('span', { class: 'room-name' }, label(r)));
    if (state.current && r.id === state.current.id) b.setAttribute('aria-current', 'true');
    if (n > 0) b.append(el('span', { class: 'badge' }, String(n), el('span', { class: 'visually-hidden' }, ' new')));
    if (r.private && !isDM(r)) b.append(el('span', { class: 'tag' }, 'private'));
    else if (r.moderated && !isDM(r)) b.append(el('span', { class: 'tag' }, 'moderated'));
    b.title = r.id;
    b.addEventListener('click', () => {
      openRoom(r);
      setSidebar(false);
      $('composer-text').focus();
    });
    return el('li', {}, b);
  };
  const rooms = state.rooms.filter((r) => !isDM(r));
  $('room-list').replaceChildren(...rooms.map(item));
  $('dm-list').replaceChildren(...state.rooms.filter(isDM).map(item));
  $('no-rooms').hidden = rooms.length > 0;
}

function showEmpty() {
  state.current = null;
  state.view = null;
  state.list.reset([]);
  $('room-title').textContent = 'No room open';
  $('empty').textContent = 'Join or pick a room to start.';
  $('empty').hidden = false;
  for (const id of ['composer-text', 'send', 'leave']) $(id).disabled = true;
  state.members.show(null, state.me);
  renderRooms();
}

async function openRoom(room) {
  const gen = ++state.gen;
  state.current = room;
  state.unread.delete(room.id);
  state.view = { gen, ids: new Set(), atStart: false, loading: true };
  state.list.reset([]);
  $('room-title').textContent = label(room);
  document.title = `${label(room)} · Parley`;
  $('empty').hidden = true;
  for (const id of ['composer-text', 'send', 'leave']) $(id).disabled = false;
  $('leave').textContent = 'Leave';
  delete $('leave').dataset.confirm;
  $('send-error').textContent = '';
  state.members.show(room.pending ? null : room, state.me);
  renderRooms();
  if (room.pending) {
    state.list.reset([]);
    $('empty').hidden = false;
    $('empty').textContent = 'No messages yet. Your first message starts an end-to-end encrypted conversation; the peer must be reachable.';
    $('leave').disabled = true;
    state.view.loading = false;
    return;
  }
  $('empty').textContent = 'Join or pick a room to start.';
  let msgs;
  try {
    msgs = await state.conn.call(...historyCall(room, { limit: firstPage }));
  } catch (e) {
    if (gen === state.gen) $('send-error').textContent = 'Could not load messages: ' + e.message;
    return;
  }
  if (gen !== state.gen) return;
  const v = state.view;
  // Live messages that came while the page loaded are already listed.
  const live = state.list.items;
  const items = msgs.filter((m) => !v.ids.has(m.id));
  for (const m of items) v.ids.add(m.id);
  v.atStart = msgs.length < firstPage;
  state.list.reset(v.atStart ? [{ start: true }, ...items] : items);
  for (const m of live) {
    v.ids.delete(m.id);
    insertLive(m);
  }
  v.loading = false;
  if (msgs.length > 0) {
    requestAnimationFrame(() => {
      if (!performance.getEntriesByName('parley:first-message').length) performance.mark('parley:first-message');
    });
  }
}

// historyCall is the call for a page of room's messages: dm_history by the
// other member for a direct conversation whose member is known.
function historyCall(room, q) {
  const p = isDM(room) && state.dmPeers.get(room.id);
  return p && state.methods.has('dm_history') ? ['dm_history', [p.peerId, q]] : ['msg_history', [room.id, q]];
}

// loadOlder fetches the page before the oldest shown message.
async function loadOlder() {
  const v = state.view;
  if (!v || v.loading || v.atStart || !state.current) return;
  const oldest = state.list.items.find((m) => !m.start);
  if (!oldest) return;
  v.loading = true;
  const room = state.current;
  let msgs;
  try {
    msgs = await state.conn.call(...historyCall(room, { limit: olderPage, before: oldest.id }));
  } catch {
    v.loading = false;
    return;
  }
  if (v !== state.view) return;
  const older = msgs.filter((m) => !v.ids.has(m.id));
  for (const m of older) v.ids.add(m.id);
  v.atStart = msgs.length < olderPage;
  state.list.prepend(v.atStart ? [{ start: true }, ...older] : older);
  v.loading = false;
}

function setSidebar(open) {
  $('sidebar').classList.toggle('open', open);
  $('menu-toggle').setAttribute('aria-expanded', String(open));
}

function wireForms() {
  $('menu-toggle').addEventListener('click', () => setSidebar(!$('sidebar').classList.contains('open')));

  $('join-form').addEventListener('submit', (e) => {
    e.preventDefault();
    roomCall('room_join', $('join-name'));
  });
  $('create-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const priv = $('create-private').checked && !$('create-private-row').hidden;
    roomCall('room_create', $('create-name'), (name) => [priv ? { name, private: true } : { name }]);
  });
  $('dm-form').addEventListener('submit', (e) => {
    e.preventDefault();
    openDM($('dm-peer').value.trim());
  });

  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    send();
  });
  $('composer-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    }
  });

  $('leave').addEventListener('click', async () => {
    const b = $('leave');
    if (!state.current) return;
    if (b.dataset.confirm !== '1') {
      b.dataset.confirm = '1';
      b.textContent = 'Confirm leave';
      return;
    }
    const room = state.current;
    try {
      await state.conn.call('room_leave', [room.id]);
    } catch (e) {
      $('send-error').textContent = 'Leave failed: ' + e.message;
      return;
    }
    await loadRooms();
    const next = await mostRecent();
    if (next) openRoom(next);
    else showEmpty();
  });
}

// roomCall joins or creates the room named in input, then opens it.
async function roomCall(method, input, params = (name) => [name]) {
  const name = input.value.trim().replace(/^#/, '');
  if (!name) return;
  $('side-error').textContent = '';
  let room;
  try {
    room = await state.conn.call(method, params(name));
  } catch (e) {
    $('side-error').textContent = `Could not ${method === 'room_join' ? 'join' : 'create'} ${name}: ${e.message}`;
    return;
  }
  input.value = '';
  await loadRooms();
  openRoom(state.rooms.find((r) => r.id === room.id) ?? room);
  setSidebar(false);
  $('composer-text').focus();
  if (room.invite) {
    $('create-private').checked = false;
    state.dialog.open(label(room), room.invite, 'Anyone with this invite can join once (Join a room by name, ID or invite), while your node is reachable. It holds no key; treat it like a password until used.');
  }
}

// openDM opens the direct conversation with peer, or a pending view of it
// whose first message starts it.
function openDM(peer) {
  if (!peer) return;
  $('side-error').textContent = '';
  if (peer === state.me) {
    $('side-error').textContent = 'That is your own peer ID.';
    return;
  }
  $('dm-peer').value = '';
  const dm = state.rooms.find((r) => isDM(r) && state.dmPeers.get(r.id)?.peerId === peer);
  openRoom(dm ?? pendingDM(peer));
  setSidebar(false);
  $('composer-text').focus();
}

async function send() {
  const box = $('composer-text');
  const text = box.value;
  if (!state.current || text.trim() === '' || box.dataset.busy === '1') return;
  box.dataset.busy = '1';
  $('send-error').textContent = '';
  const room = state.current;
  const peer = isDM(room) && (room.pending ? room.peer : state.dmPeers.get(room.id)?.peerId);
  try {
    const m = await (peer ? state.conn.call('dm_send', [peer, text]) : state.conn.call('msg_send', [room.id, text]));
    box.value = '';
    if (room.pending) {
      // The conversation exists now: list it and open it by its room.
      state.dmPeers.set(m.room, { peerId: peer, name: '' });
      await loadRooms();
      const dm = state.rooms.find((r) => r.id === m.room);
      if (dm && state.current === room) openRoom(dm);
      return;
    }
    if (state.current === room && state.view) {
      state.list.stick = true; // show what we just sent
      insertLive(m);
    }
  } catch (e) {
    $('send-error').textContent = 'Not sent: ' + e.message;
  } finally {
    delete box.dataset.busy;
  }
}

main();
