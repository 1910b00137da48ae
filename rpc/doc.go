// Package rpc serves a Parley node's JSON-RPC 2.0 API (DESIGN §5) over HTTP
// POST and WebSocket on one path, /rpc, and maps domain errors to JSON-RPC
// error codes. The values on the wire are the types of package rpc/api; the
// Go client is package rpc/client, which imports only those.
//
// # Where to start
//
// api.go declares what the server needs from the node (NodeAPI) and from
// chat (ChatAPI); registry.go and methods.go are the methods, each a
// registry entry with its handler (moderation.go: room_create and the
// moderation methods of moderated rooms); convert.go turns chat's values into wire
// types, and errors.go maps Go errors onto the codes of api.Codes. The
// transport is server.go (lifecycle), http.go, ws.go and subscribe.go; the
// protocol core is protocol.go and dispatch.go.
//
// # Server
//
//	cfg := rpc.DefaultConfig() // 127.0.0.1:0, 1 MiB bodies, 30s calls
//	cfg.Token = token
//	srv, err := rpc.New(nodeAPI, chatService, cfg) // chatService may be nil (bootstrap)
//	err = srv.Start()        // listens; srv.URL() is http://127.0.0.1:PORT/rpc
//	defer srv.Close()        // ends subscriptions, closes WebSockets, shuts down
//
// New fills zero Config fields with their defaults, then validates; its
// logger is Config.Logger tagged subsystem=rpc. Config.Metrics is the
// consumer-side Metrics interface (metrics.go); the node passes its
// Prometheus sink.
//
// The protocol core is written here rather than taken from jrpc2: it is
// small, and owning it gives exact control of what the contract fixes
// (204 for notification-only POSTs, byte-exact id echo, param-naming
// -32602 messages, one registry for dispatch and rpc.discover, per-connection
// WebSocket queues paced by the socket).
//
// # Protocol
//
// Requests are JSON-RPC 2.0 objects or batches; "jsonrpc":"2.0" is
// required; the id (string, number or null) is echoed byte for byte.
// Notifications (no id) run but get no response; a POST holding only
// notifications gets HTTP 204. Params are positional arrays; omitted or null
// params are []. Batches run concurrently (at most 32 calls at a time), up
// to Config.MaxBatch requests. Every call gets a context with
// Config.CallTimeout; handler panics become -32603 "internal error".
//
// # Security
//
// Checked in this order: the Host header must be the bound address (or its
// loopback spellings 127.0.0.1, localhost, [::1] with the same port): 403;
// a present Origin must be http://127.0.0.1:PORT, http://localhost:PORT,
// http://[::1]:PORT or one of Config.AllowedOrigins: 403; the bearer token
// (Authorization: Bearer T; WebSocket upgrades may use ?token=T instead),
// compared in constant time: 401 with an empty body. Bodies over
// Config.MaxBodyBytes: 413. Without Config.AllowRemote only loopback
// addresses are accepted (ErrNonLoopback). An Origin equal to http:// plus
// the (checked) Host is this server's own page and passes.
//
// # Chat page
//
// A server with chat serves package webui's page at / (every path but Path
// and MetricsPath), behind the Host and Origin checks but no token: its
// files hold no data, and the page calls /rpc with the token like any
// other client.
//
// # Subscriptions
//
// Over WebSocket, chat_subscribe ["messages", {room?, since?}] answers a
// subscription ID, then pushes
//
//	{"jsonrpc":"2.0","method":"chat_subscription","params":{"subscription":ID,"result":Message}}
//
// If the chat side ends the subscription (a failed ledger read, say), a
// last notification carries "error" {code -32009, message, data {cursor}}
// instead of "result"; subscribe again with since=cursor to resume. Each
// connection has a bounded outbound queue (Config.WSQueue) that responses
// and notifications wait for, so a subscription moves at the pace the
// client reads; behind, it catches up from the ledger by cursor, so a
// burst never drops a client that is reading and never slows the node. A
// client that stops reading is dropped once one write has waited
// Config.WSWriteTimeout (subscriptions ended, TCP connection closed without
// a close handshake). Subscriptions end with chat_unsubscribe, the
// connection, or Close.
//
// # Limits
//
// Token-bucket rate limits (Config.RateLimit, Config.RateBurst) apply per
// remote IP to HTTP and per WebSocket connection; every request of a batch
// costs a token. A message over the limit is refused as a whole: its
// requests get CodeRateLimited with data {retryAfterMs}, over HTTP with
// status 429 and Retry-After. Config.MaxConns bounds WebSocket connections
// (503 beyond), Config.MaxSubscriptions the subscriptions of one
// connection (CodeLimitExceeded). Replies are bounded by bytes
// (replycap.go): Config.MaxReplyBytes per call, Config.MaxBatchReplyBytes
// per batch; over them a call gets CodeReplyTooLarge, never a truncated
// result, and msg_history (history.go) stops building once over.
//
// # Errors
//
// The codes and their meanings are one table, api.Codes, from which
// rpc.discover and docs/API.md are rendered. ErrorCode maps Go errors to
// codes with errors.Is against the chat sentinels and this package's
// ErrUnreachable, ErrInvalidArgument and ErrStorage (which the node wraps
// its errors around), in the order of the table domainErrors.
//
// # Methods
//
// One registry (registry.go) is both the dispatch table and the source of
// the OpenRPC 1.2.6 document returned by rpc.discover and of docs/API.md
// (apidoc.go; regenerate with go test ./rpc -run TestAPIDocUpToDate -update). A server without
// chat registers only node_* and rpc.discover; the other methods answer
// -32601 "method not found: NAME (this node has no chat service)".
package rpc
