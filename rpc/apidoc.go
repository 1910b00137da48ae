package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/parley-chat/parley/rpc/api"
)

// This file renders docs/API.md from the method registry, the error table,
// the component schemas and the default limits, so that the reference and
// rpc.discover cannot drift apart. TestAPIDocUpToDate compares the file
// with renderAPIDoc; run it with -update to rewrite the file.

const (
	docTokenCmd = `$(cat ~/.parley/rpc.token)`
	docAddrCmd  = `$(cat ~/.parley/rpc.addr)`
	docWSURLCmd = `"$(sed 's/^http/ws/' ~/.parley/rpc.addr)"`
)

// renderAPIDoc returns the Markdown of docs/API.md.
func renderAPIDoc() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	methods := registry()

	p("# Parley JSON-RPC API\n\n")
	p("<!-- Generated from the method registry (rpc/registry.go, rpc/methods.go) by\n")
	p("     go test ./rpc -run TestAPIDocUpToDate -update\n")
	p("     Do not edit by hand. -->\n\n")
	p("API version %s. The same description is served by the node itself as an\n", APIVersion)
	p("[OpenRPC %s](https://spec.open-rpc.org/) document: call `rpc.discover`.\n\n", OpenRPCVersion)
	p("Go programs can use the client of package `rpc/client`; the objects below are the\n")
	p("types of package `rpc/api`, with the same field names, and the error codes its `Code`\n")
	p("constants.\n\n")

	p("## Contents\n\n")
	p("- [Endpoint](#endpoint)\n- [Authentication, Origin and Host](#authentication-origin-and-host)\n")
	p("- [Limits](#limits)\n- [Errors](#errors)\n- [Subscriptions](#subscriptions)\n- [Methods](#methods)\n")
	for _, m := range methods {
		p("  - [`%s`](#%s)\n", m.Name, anchor(m.Name))
	}
	p("- [Types](#types)\n\n")

	p("## Endpoint\n\n")
	p("`parley daemon` serves JSON-RPC 2.0 at `http://127.0.0.1:<port>%s` (default port 4748; `--rpc HOST:PORT`).\n", Path)
	p("Once it listens it writes the endpoint URL to `<data>/rpc.addr` and a random token to\n")
	p("`<data>/rpc.token` (mode 0600); `<data>` is `--data`, else `$PARLEY_DATA`, else the OS's default\n")
	p("(`~/.parley` on Linux and BSD, `~/Library/Application Support/Parley` on macOS,\n")
	p("`%%LocalAppData%%\\Parley` on Windows). Examples below use `~/.parley`.\n\n")
	p("- **HTTP**: `POST` a request object or a batch (array) to the URL. The answer is the\n")
	p("  response (or the array of responses, in request order). The calls of a batch run\n")
	p("  concurrently, up to %d at a time, so a batch of `msg_send` shares disk syncs. A body\n", batchWorkers)
	p("  holding only notifications (requests without `id`) gets `204 No Content`.\n")
	p("- **WebSocket**: `GET` the same URL with a WebSocket upgrade. Every text message is a\n")
	p("  request or batch, answered on the same connection; messages on one connection run\n")
	p("  concurrently (up to %d at a time, and the calls of each batch as above), so match\n", wsInflightPerConn)
	p("  responses by `id`. Subscriptions push notifications on it.\n")
	p("- `\"jsonrpc\":\"2.0\"` is required; `id` may be a string, number or null and is echoed\n")
	p("  byte for byte. Params are **positional arrays**; omitted or `null` params mean `[]`.\n")
	p("  Named (object) params are refused with -32602.\n")
	p("- Results only ever gain fields; no field is removed or changes meaning.\n\n")
	p("```sh\n%s\n```\n\n", curlCmd("node_info", "[]"))

	p("## Authentication, Origin and Host\n\n")
	p("Every HTTP request and WebSocket upgrade is checked in this order:\n\n")
	p("1. **Host** must be the address the node bound, or a loopback spelling of it with the\n")
	p("   same port (`127.0.0.1:PORT`, `localhost:PORT`, `[::1]:PORT`); otherwise `403`. This\n")
	p("   defeats DNS rebinding.\n")
	p("2. **Origin**, when present, must be `http://127.0.0.1:PORT`, `http://localhost:PORT`,\n")
	p("   `http://[::1]:PORT`, an origin the operator allowed, or `http://` plus the request's\n")
	p("   Host (the node's own chat page); otherwise `403`. This stops other web pages from\n")
	p("   calling the node (CSRF). Native apps send no Origin.\n")
	p("3. **Token**: `Authorization: Bearer <token>` with the content of `rpc.token`, compared\n")
	p("   in constant time. WebSocket clients that cannot set headers may pass `?token=<token>`\n")
	p("   on the upgrade URL (not accepted for POST). A missing or wrong token gets `401` with\n")
	p("   an empty body.\n\n")
	p("The node listens on loopback only, unless it is started with `--rpc-allow-remote`.\n\n")
	p("With `--metrics` (config `metrics = true`) the same listener also serves Prometheus\n")
	p("metrics at `GET %s`, behind the same three checks (scrape with\n", MetricsPath)
	p("`authorization: {credentials_file: ~/.parley/rpc.token}`); without it that path answers\n")
	p("`404`. [METRICS.md](METRICS.md) lists the metrics.\n\n")
	p("A node with chat (not a bootstrap node) also serves its **chat page** at `GET /`: static\n")
	p("files, embedded in the binary, behind the Host and Origin checks but no token (they\n")
	p("hold no data). The daemon prints its link, `http://127.0.0.1:PORT/#token=<token>`, and\n")
	p("`parley ui` prints and opens it; the page keeps the token from the fragment (which\n")
	p("browsers never send) in session storage and uses only this API: one `POST` of\n")
	p("`rpc.discover` to check the token, then a WebSocket to `%s?token=<token>`.\n", Path)
	p("Its source (`rpc/webui/static`) is a small worked example of the API for app authors.\n\n")

	p("## Limits\n\n")
	p("| limit | default | over the limit |\n|---|---|---|\n")
	p("| request body / WebSocket message | %d MiB | HTTP `413`; WebSocket closed with status 1009 |\n", DefaultMaxBodyBytes>>20)
	p("| requests in one batch | %d | -32600 |\n", DefaultMaxBatch)
	p("| time per call | %s | -32008 |\n", DefaultCallTimeout)
	p("| encoded result of one call | %d MiB | -32014 (nothing is truncated) |\n", DefaultMaxReplyBytes>>20)
	p("| encoded results of one batch together | %d MiB | -32014 for each call that does not fit; calls not yet started then do not run |\n", DefaultMaxBatchReplyBytes>>20)
	p("| request rate, per remote IP (HTTP) and per WebSocket connection | %d requests/s sustained, bursts of %d | every request of the message gets -32011 with `data.retryAfterMs`; over HTTP the status is `429` with `Retry-After` (seconds) |\n", DefaultRateLimit, DefaultRateBurst)
	p("| concurrent WebSocket connections | %d | HTTP `503` with `Retry-After` on the upgrade |\n", DefaultMaxConns)
	p("| subscriptions per WebSocket connection | %d | -32012 |\n", DefaultMaxSubs)
	p("| one write to a WebSocket client (a client that stopped reading) | %s | the connection is dropped (see [Subscriptions](#subscriptions)) |\n\n", DefaultWSWriteTimeout)
	p("Rate limits are token buckets: each request costs one token (each element of a batch,\n")
	p("notifications and unparsable messages included); a message over the limit is refused\n")
	p("as a whole and nothing in it runs. A WebSocket upgrade costs one token of the HTTP\n")
	p("bucket of its IP. The node keeps serving other clients, and the same client once its\n")
	p("bucket has refilled.\n\n")

	p("## Errors\n\n")
	p("Errors are JSON-RPC error objects `{code, message, data?}`. Messages are for people;\n")
	p("programs switch on `code`. Application codes never change meaning.\n\n")
	p("| code | message | when |\n|---|---|---|\n")
	for _, e := range api.Codes() {
		p("| %d | %s | %s |\n", e.Code, e.Message, e.When)
	}
	p("\nHTTP status codes: `401` (token), `403` (Host or Origin), `404` (a path that is neither\n")
	p("the API nor one of the chat page's files), `405` (not POST or a WebSocket upgrade), `413`\n")
	p("(body too large), `429` (rate limit), `503` (too many WebSocket connections). Every\n")
	p("JSON-RPC answer, errors included, is `200`, except a rate-limited one (`429`).\n\n")

	p("## Subscriptions\n\n")
	p("Over a WebSocket, `chat_subscribe [\"messages\", {room?, since?}]` answers a subscription\n")
	p("ID and then pushes one notification per message, oldest first, each exactly once:\n\n")
	p("```json\n{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":{\"subscription\":\"0x9f0c…\",\"result\":<Message>}}\n```\n\n", api.NotificationMethod)
	p("Every `Message` carries a `cursor`, this node's arrival position of the message. With\n")
	p("`since` set to a cursor (or a message ID) the subscription first replays every message\n")
	p("that arrived after it, then continues live, with no gap and no duplicate. A burst\n")
	p("(a catch-up storing thousands of messages at once) never ends a subscription: past\n")
	p("1,024 messages waiting, the node reads the rest from its ledger by cursor.\n\n")
	p("In a moderated room (`room_create`), when a ban arrives that hides a message the\n")
	p("subscription already delivered, a notification withdraws it; its `result` has no\n")
	p("`cursor` (resume from the last message's) and `msg_history` no longer returns the message:\n\n")
	p("```json\n{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":{\"subscription\":\"0x9f0c…\",\"result\":{\"redacted\":\"v28g3s8v…\",\"room\":\"mc4ogv2u…\"}}}\n```\n\n", api.NotificationMethod)
	p("A subscription that fell behind (reading from the ledger) may miss a redaction queued\n")
	p("meanwhile; it never replays hidden messages, and `msg_history` is authoritative.\n\n")
	p("If the node ends a subscription (a failed ledger read, the node is shutting\n")
	p("down its chat, …) a last notification carries `error` instead of `result`:\n\n")
	p("```json\n{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"params\":{\"subscription\":\"0x9f0c…\",\"error\":{\"code\":%d,\"message\":\"subscription ended: …\",\"data\":{\"cursor\":\"42\"}}}}\n```\n\n", api.NotificationMethod, api.CodeSubscriptionDropped)
	p("Notifications are sent at the pace the client reads its WebSocket (at most %d wait\n", DefaultWSQueue)
	p("in the connection's queue; behind that, the subscription reads on from the ledger), so a\n")
	p("burst never drops a client that is reading. A client that stops reading is dropped\n")
	p("once one write to it has waited %s: its subscriptions end and the TCP connection is\n", DefaultWSWriteTimeout)
	p("closed (no close frame can get through a full buffer). It never slows the node or\n")
	p("other clients; it resumes from its last cursor as below.\n\n")
	p("**Resume from a cursor** (what a desktop app should do):\n\n")
	p("1. Remember the `cursor` of the last message you processed (persist it if you like).\n")
	p("2. Subscribe with `since` = that cursor; on first start omit `since` (live only) or load\n")
	p("   the past with `msg_history` first and then subscribe with the newest message's `id`.\n")
	p("3. When the connection drops or the final `error` notification arrives, reconnect and\n")
	p("   subscribe again with `since` = the last cursor (`error.data.cursor` holds it too).\n\n")
	p("```sh\n# subscribe to #general from cursor 41 with websocat; notifications print as they come\n")
	p("echo '{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"chat_subscribe\",\"params\":[\"messages\",{\"room\":\"general\",\"since\":\"41\"}]}' |\n")
	p("  websocat -n -H \"Authorization: Bearer %s\" %s\n```\n\n", docTokenCmd, docWSURLCmd)
	p("The same in JavaScript (Node.js 20 with the `ws` package; a complete client is in\n")
	p("[examples/desktop-client](../examples/desktop-client)):\n\n")
	p("```js\nimport WebSocket from 'ws';\n")
	p("const ws = new WebSocket(url.replace(/^http/, 'ws'), { headers: { Authorization: `Bearer ${token}` } });\n")
	p("ws.on('open', () => ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'chat_subscribe', params: ['messages', { room: 'general', since: lastCursor }] })));\n")
	p("ws.on('message', (data) => {\n  const m = JSON.parse(data);\n")
	p("  if (m.method === '%s' && m.params.result) { lastCursor = m.params.result.cursor; show(m.params.result); }\n", api.NotificationMethod)
	p("  if (m.method === '%s' && m.params.error) { /* resubscribe with since: m.params.error.data.cursor */ }\n});\n```\n\n", api.NotificationMethod)

	p("## Methods\n\n")
	p("Methods marked *chat* are not served by bootstrap nodes (they answer -32601). Every\n")
	p("method may also answer %s.\n\n", codeList(commonErrors))
	for _, m := range methods {
		renderMethod(&b, m)
	}

	p("## Types\n\n")
	p("JSON Schemas of the types above (`components.schemas` of `rpc.discover`).\n\n")
	names := make([]string, 0, len(componentSchemas))
	for n := range componentSchemas {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		js, _ := json.MarshalIndent(componentSchemas[n], "", "  ")
		p("### %s\n\n```json\n%s\n```\n\n", n, js)
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}

func renderMethod(b *bytes.Buffer, m *method) {
	p := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	p("### `%s`\n\n", m.Name)
	var tags []string
	if m.NeedsChat {
		tags = append(tags, "*chat*")
	}
	if m.WebSocketOnly {
		tags = append(tags, "*WebSocket only*")
	}
	if len(tags) > 0 {
		p("%s. ", strings.Join(tags, ", "))
	}
	p("%s\n\n", m.Summary)
	if len(m.Params) == 0 {
		p("**Params:** none (`[]`).\n\n")
	} else {
		p("**Params** (positional):\n\n| # | name | type | required | description |\n|---|---|---|---|---|\n")
		for i, ps := range m.Params {
			req := "no"
			if ps.Required {
				req = "yes"
			}
			p("| %d | `%s` | %s | %s | %s |\n", i+1, ps.Name, schemaType(ps.Schema), req, ps.Summary)
		}
		p("\n")
	}
	p("**Result:** `%s`: %s", m.Result.Name, schemaType(m.Result.Schema))
	if m.Result.Summary != "" {
		p(", %s", m.Result.Summary)
	}
	if len(m.Errors) > 0 {
		p("\n\n**Errors:** %s, and the common ones.\n\n", codeList(m.Errors))
	} else {
		p("\n\n**Errors:** only the common ones.\n\n")
	}
	if m.Example == "" {
		return
	}
	req := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"%s","params":%s}`, m.Name, m.Example)
	if !m.WebSocketOnly {
		p("```sh\n%s\n```\n\n", curlCmd(m.Name, m.Example))
	}
	p("```sh\necho '%s' |\n  websocat -n1 -H \"Authorization: Bearer %s\" %s\n```\n\n", req, docTokenCmd, docWSURLCmd)
	if m.ExampleResult != "" {
		p("Response:\n\n```json\n{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":%s}\n```\n\n", m.ExampleResult)
	}
}

func curlCmd(name, params string) string {
	return fmt.Sprintf(`curl -s -H "Authorization: Bearer %s" -d '{"jsonrpc":"2.0","id":1,"method":"%s","params":%s}' %s`,
		docTokenCmd, name, params, docAddrCmd)
}

func codeList(codes []api.Code) string {
	parts := make([]string, len(codes))
	for i, c := range codes {
		parts[i] = fmt.Sprintf("%d (%s)", c, c.Message())
	}
	return strings.Join(parts, ", ")
}

// schemaType renders a schema briefly: a link for a $ref, [T] for arrays,
// else its JSON.
func schemaType(s schema) string {
	if r, ok := s["$ref"].(string); ok {
		n := r[strings.LastIndexByte(r, '/')+1:]
		return fmt.Sprintf("[%s](#%s)", n, strings.ToLower(n))
	}
	if s["type"] == "array" {
		if items, ok := s["items"].(schema); ok {
			return "array of " + schemaType(items)
		}
	}
	if v, ok := s["const"]; ok {
		js, _ := json.Marshal(v)
		return "`" + string(js) + "`"
	}
	if e, ok := s["enum"].([]string); ok {
		return "`\"" + strings.Join(e, "\"` or `\"") + "\"`"
	}
	if t, ok := s["type"].(string); ok && len(s) <= 2 {
		if s["minLength"] == 1 {
			return t + ", non-empty"
		}
		if len(s) == 1 {
			return t
		}
	}
	js, _ := json.Marshal(s)
	return "`" + string(js) + "`"
}

// anchor is GitHub's heading anchor for a method name heading.
func anchor(name string) string {
	return strings.ReplaceAll(strings.ToLower(name), ".", "")
}
