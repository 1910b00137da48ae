// Package client is the Go client of a Parley node's JSON-RPC API
// (docs/API.md). The parley CLI uses it; an app imports this package and
// the wire types of package rpc/api, and nothing else of Parley: neither
// the server (package rpc) nor the domain behind it (a test keeps it so).
//
//	url, token, err := client.ReadEndpoint(dataDir) // <data>/rpc.addr, <data>/rpc.token
//	c := client.Dial(url, token)
//	var info api.NodeInfo
//	err = c.Call(ctx, "node_info", nil, &info)
//
// # Where to start
//
// client.go has Dial, Call and Batch; subscribe.go has Subscribe, a
// message stream over a WebSocket; endpoint.go finds a local daemon's
// endpoint. The results decode into the types of rpc/api.
//
// JSON-RPC errors come back as *api.Error (use errors.As and compare Code
// with the api.Code* constants). Batch sends several calls in one request
// (a JSON-RPC batch), which a program sending many messages should use:
// one round trip for all, and their disk syncs shared. Subscribe opens a
// WebSocket and streams a room's new messages as api.Message, and on
// Redactions the messages a moderated room's ban withdrew. A Client is
// safe for concurrent use.
package client
