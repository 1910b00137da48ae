// Package api holds the wire types of a Parley node's JSON-RPC API: the
// values its methods take and return (Message, Room, Member, NodeInfo,
// PeerInfo, VerifyReport, HistoryQuery, SubscribeFilter), the shape of a
// chat_subscription notification, and the JSON-RPC error codes. The server
// (package rpc), the Go client (package rpc/client) and the parley CLI share
// them; an app imports the client and this package, never the server or the
// domain packages behind it. It imports only the standard library.
//
// # Where to start
//
// types.go has the results of the methods, one type per JSON object of
// docs/API.md, with the same field names. errors.go has the error codes:
// Codes is the one table of them, from which rpc.discover and docs/API.md
// are rendered, and Error is the JSON-RPC error object a call fails with.
// notify.go has the notification of a message subscription.
//
// The JSON of these types is the API contract (DESIGN §5): fields are only
// ever added, never renamed or removed, and times are RFC 3339 strings.
package api
