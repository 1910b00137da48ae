// Package webui is the chat page a Parley node serves at / on its RPC
// listener: plain HTML, CSS and JavaScript modules embedded in the binary,
// with no build step and nothing fetched from elsewhere. The page talks to
// the node only through the public JSON-RPC API at /rpc (a WebSocket with
// ?token=), so it is also a worked example of that API for app authors.
//
// # Where to start
//
// webui.go is the Go side: Handler serves the embedded files with a strict
// Content-Security-Policy, and URL builds the link the daemon prints
// (http://HOST:PORT/#token=T; the fragment never reaches the server or a
// log). Package rpc mounts Handler for every path but /rpc and /metrics,
// after its own Host and Origin checks. In static/, app.js wires the page
// (token, rooms, messages, status, resume by cursor after a reconnect),
// rpc.js is the JSON-RPC connection (the token check over POST, then a
// WebSocket that reopens with backoff), vlist.js the virtualised message
// list, view.js the DOM helpers that render peer data as text, and
// members.js the members panel with the moderation controls, shown only to
// a room's admins and only when rpc.discover lists the methods (in a
// private room: invite by peer ID and remove, room_invite and room_kick;
// the open invites with a Revoke button, room_invites and
// room_invite_revoke; peers added but not joined are tagged invited).
// dm.js handles direct conversations (room_list kind "dm", labelled by
// the other member; dm_send and dm_history), and dialog.js the invite
// dialog that room_create of a private room and room_invite open.
//
// Token handling: the page reads the token from the URL fragment, keeps it
// in sessionStorage (this tab only) and removes it from the address bar.
// It checks the token with one POST to /rpc before opening the WebSocket,
// so a wrong token shows the "open the link printed by your node" message
// rather than an endless reconnect. Peer data is only ever inserted as text
// (textContent); TestNoHTMLSinks keeps it that way.
package webui
