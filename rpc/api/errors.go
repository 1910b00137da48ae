package api

import (
	"encoding/json"
	"fmt"
	"slices"
)

// Code is a JSON-RPC 2.0 error code. What each one means is in the table
// that Codes returns (codes, below); rpc.discover and docs/API.md are
// rendered from it. The first five are defined by the JSON-RPC 2.0
// specification; the others are Parley's application codes, part of the
// public API, and never change meaning.
type Code int

// The codes Parley answers. Every one is in the table codes (a test checks
// that constants and table match).
const (
	CodeParseError     Code = -32700
	CodeInvalidRequest Code = -32600
	CodeMethodNotFound Code = -32601
	CodeInvalidParams  Code = -32602
	CodeInternal       Code = -32603

	CodeUnknownRoom         Code = -32001
	CodeNotMember           Code = -32002
	CodeUnreachable         Code = -32003
	CodeTooLarge            Code = -32004
	CodeInvalidArgument     Code = -32005
	CodeUnsupported         Code = -32006
	CodeUnknownSubscription Code = -32007
	CodeTimeout             Code = -32008
	CodeSubscriptionDropped Code = -32009
	CodeStorage             Code = -32010
	CodeRateLimited         Code = -32011
	CodeLimitExceeded       Code = -32012
	CodeNotDurable          Code = -32013
	CodeReplyTooLarge       Code = -32014
	CodeNotAdmin            Code = -32015
	CodeNoAdmins            Code = -32016
	CodeNotAllowed          Code = -32017
	CodeNotSupportedYet     Code = -32018
	CodeInviteOnly          Code = -32019
)

// CodeInfo documents one error code.
type CodeInfo struct {
	Code    Code
	Message string // short message, as in rpc.discover's error objects
	When    string // when a call gets it
}

// codes is the error-code table, in documentation order.
var codes = []CodeInfo{
	{CodeParseError, "parse error", "the message is not valid JSON (id null)"},
	{CodeInvalidRequest, "invalid request", "not a JSON-RPC 2.0 request object, empty batch, batch over the limit"},
	{CodeMethodNotFound, "method not found", "unknown method (also: a chat method on a bootstrap node, which has no chat)"},
	{CodeInvalidParams, "invalid params", "wrong count or type of params, unknown field; the message names the param"},
	{CodeInternal, "internal error", "unexpected failure, including a recovered handler panic"},
	{CodeUnknownRoom, "unknown room", "no room with that ID or public name"},
	{CodeNotMember, "not a member", "the room exists but this node has not joined it"},
	{CodeUnreachable, "peer unreachable", "dialing the peer failed"},
	{CodeTooLarge, "payload too large", "message text over 16 KiB"},
	{CodeInvalidArgument, "invalid argument", "bad room name, empty text, bad cursor or message ID, malformed multiaddr"},
	{CodeUnsupported, "not supported on this transport", "chat_subscribe / chat_unsubscribe over HTTP POST"},
	{CodeUnknownSubscription, "unknown subscription", "chat_unsubscribe with an ID this connection does not hold"},
	{CodeTimeout, "timeout", "the call exceeded the node's call timeout (30 s) or was canceled"},
	{CodeSubscriptionDropped, "subscription dropped", "only in a final chat_subscription notification; data {cursor}"},
	{CodeStorage, "storage failure", "the node's datastore failed"},
	{CodeRateLimited, "rate limited", "the client exceeded its rate limit; data {retryAfterMs}; over HTTP also status 429"},
	{CodeLimitExceeded, "limit exceeded", "too many subscriptions on this WebSocket connection"},
	{CodeNotDurable, "sent, not durable", "msg_send: the message was stored and sent to the room, but the disk did not confirm the write (fsync failed), so a power cut may lose it on this node; do not send it again (it would appear twice)"},
	{CodeNotAdmin, "not an admin", "a moderation method (room_ban, room_admin, room_policy, …) by a node that is not an admin of the moderated room"},
	{CodeNoAdmins, "room has no admins", "a moderation method on a room found by name: it is open and ownerless (create a moderated room with room_create)"},
	{CodeNotAllowed, "not allowed to write", "msg_send in a moderated room where this node is banned, or not admitted under the members policy, or whose history has not arrived yet"},
	{CodeNotSupportedYet, "not supported yet", "a private-room method on a chat service without key material (Config.Keys); nodes have it"},
	{CodeInviteOnly, "invite only", "room_join with the ID of a private room this node is not a member of, or of a moderated room no reachable peer served within the join wait (10 s; members serve a private room to members only): join private rooms with an invite token"},
	{CodeReplyTooLarge, "reply too large", "the result would exceed the node's reply cap (4 MiB for one call, 8 MiB for a batch's results together); nothing is truncated: ask for less (a smaller msg_history limit, fewer requests per batch); data {maxBytes}"},
}

// Codes returns every error code with its meaning, in documentation order.
// The slice is a copy.
func Codes() []CodeInfo { return slices.Clone(codes) }

// Message returns c's short message from the table, or "" for a code
// Parley does not use.
func (c Code) Message() string {
	for _, e := range codes {
		if e.Code == c {
			return e.Message
		}
	}
	return ""
}

// Error is a JSON-RPC 2.0 error object: what a failed call answers, and
// the error of a final chat_subscription notification. Programs switch on
// Code; Message is for people. The server's method implementations may
// return one to choose the code themselves.
type Error struct {
	Code    Code            `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

// ReplyTooLargeData is the Data of a CodeReplyTooLarge error.
type ReplyTooLargeData struct {
	// MaxBytes is the cap the reply would have exceeded: the node's
	// per-call cap, or what was left of its per-batch cap.
	MaxBytes int `json:"maxBytes"`
}

// RateLimitData is the Data of a CodeRateLimited error.
type RateLimitData struct {
	// RetryAfterMs is how long to wait before the same message would be
	// admitted, in milliseconds.
	RetryAfterMs int64 `json:"retryAfterMs"`
}
