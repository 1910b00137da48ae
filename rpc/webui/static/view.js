// DOM helpers. Everything that comes from the node or from peers (names,
// message text, room names) enters the page as text nodes: el appends
// strings with Node.append, which never parses HTML.

export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs ?? {})) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

// roomLabel names a room: #name, or its short ID while a moderated room
// joined by ID has not learnt its name yet.
export function roomLabel(r) {
  return r.name ? '#' + r.name : 'room ' + r.id.slice(0, 10) + '…';
}

// shortPeer abbreviates a peer ID to its last 8 characters.
export function shortPeer(id) {
  return id.length > 12 ? '…' + id.slice(-8) : id;
}

// peerLabel is "name (…suffix)", or the short ID alone.
export function peerLabel(id, name) {
  const n = (name ?? '').trim();
  return n ? `${n} (${shortPeer(id)})` : shortPeer(id);
}

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

// when renders an RFC 3339 time as the time of day (today) or a date.
export function when(rfc3339) {
  const d = new Date(rfc3339);
  if (Number.isNaN(d.getTime())) return '';
  const today = new Date();
  return d.toDateString() === today.toDateString() ? timeFmt.format(d) : dateFmt.format(d);
}

// messageRow renders one message (or the start-of-room marker).
export function messageRow(m) {
  if (m.start) return el('div', { class: 'room-start' }, 'This is the beginning of the room.');
  const time = el('time', { class: 'msg-time', datetime: m.time }, when(m.time));
  const row = el('article', { class: m.redacted ? 'msg redacted' : 'msg', 'data-id': m.id },
    el('div', { class: 'msg-head' },
      el('span', { class: 'msg-author', title: m.author }, peerLabel(m.author, m.authorName)),
      time),
    el('p', { class: 'msg-text' }, m.redacted ? 'Message removed by a moderator.' : m.text));
  return row;
}
