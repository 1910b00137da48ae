// Package client is the Go client of a Parley node's JSON-RPC API (see
// package rpc and docs/API.md). The parley CLI uses it.
//
//	url, token, err := client.ReadEndpoint(dataDir) // <data>/rpc.addr, <data>/rpc.token
//	c := client.Dial(url, token)
//	var info rpc.NodeInfo
//	err = c.Call(ctx, "node_info", nil, &info)
//
// JSON-RPC errors come back as *Error (use errors.As and compare Code with
// the rpc.Code* constants). Batch sends several calls in one request (a
// JSON-RPC batch), which a program sending many messages should use: one
// round trip for all, and their disk syncs shared. Subscribe opens a WebSocket and streams a room's
// new messages. A Client is safe for concurrent use.
package client
