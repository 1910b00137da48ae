package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/chat"
)

// JSON-RPC 2.0 error codes used by Parley.
//
// The first five are defined by the JSON-RPC 2.0 specification. The others
// are Parley application codes; they are part of the public API and never
// change meaning.
//
//	code    meaning                              produced by
//	-32700  parse error (invalid JSON)           the server, id null
//	-32600  invalid request                      the server
//	-32601  method not found                     the server (also: chat method on a node without chat)
//	-32602  invalid params (names the param)     the server
//	-32603  internal error (incl. handler panic) the server, unclassified errors
//	-32001  unknown room                         chat.ErrUnknownRoom
//	-32002  not a member of the room             chat.ErrNotMember
//	-32003  peer unreachable / connect failed    ErrUnreachable; any node_connect failure
//	-32004  payload too large                    chat.ErrTooLarge
//	-32005  invalid argument                     chat.ErrInvalidName, chat.ErrEmptyMessage, chat.ErrInvalidText, chat.ErrBadCursor, ErrInvalidArgument
//	-32006  not supported on this transport      chat_subscribe over HTTP POST
//	-32007  unknown subscription                 chat_unsubscribe with an unknown ID
//	-32008  timeout / canceled                   context.DeadlineExceeded, context.Canceled
//	-32009  subscription dropped                 final chat_subscription notification (ledger read failed, shutdown, …)
//	-32010  storage failure                      ErrStorage, chat.ErrStorage
//	-32011  rate limited (retry later)           over Config.RateLimit; data {retryAfterMs}; HTTP 429
//	-32012  limit exceeded                       chat_subscribe over Config.MaxSubscriptions
//	-32013  sent, not durable                    chat.ErrNotDurable: msg_send stored and sent it, the fsync failed; do not resend
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternal       = -32603

	CodeUnknownRoom         = -32001
	CodeNotMember           = -32002
	CodeUnreachable         = -32003
	CodeTooLarge            = -32004
	CodeInvalidArgument     = -32005
	CodeUnsupported         = -32006
	CodeUnknownSubscription = -32007
	CodeTimeout             = -32008
	CodeSubscriptionDropped = -32009
	CodeStorage             = -32010
	CodeRateLimited         = -32011
	CodeLimitExceeded       = -32012
	CodeNotDurable          = -32013
)

// Sentinels for errors that do not come from package chat. The node wraps
// its errors around them (fmt.Errorf("%w: %w", rpc.ErrUnreachable, err)) so
// that clients get a specific code.
var (
	// ErrUnreachable is wrapped by NodeAPI.Connect (or any method) when a
	// peer cannot be reached or a connection attempt failed.
	ErrUnreachable = errors.New("peer unreachable")
	// ErrInvalidArgument is wrapped when an argument is malformed, e.g. a
	// multiaddr that does not parse.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrStorage is wrapped when the datastore failed.
	ErrStorage = errors.New("storage failure")
)

// Error is a JSON-RPC 2.0 error object. It implements error, so method
// implementations may return one to choose the code themselves.
type Error struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *Error) Error() string { return fmt.Sprintf("rpc error %d: %s", e.Code, e.Message) }

func newError(code int, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidParams(format string, args ...any) *Error {
	return newError(CodeInvalidParams, "invalid params: "+format, args...)
}

// ErrorCode maps a Go error to its JSON-RPC code with errors.Is/As: an
// *Error keeps its code, the chat sentinels and this package's sentinels
// get their application codes (table above), anything else CodeInternal.
func ErrorCode(err error) int {
	var re *Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &re):
		return re.Code
	case errors.Is(err, chat.ErrUnknownRoom):
		return CodeUnknownRoom
	case errors.Is(err, chat.ErrNotMember):
		return CodeNotMember
	case errors.Is(err, chat.ErrTooLarge):
		return CodeTooLarge
	case errors.Is(err, chat.ErrInvalidName),
		errors.Is(err, chat.ErrEmptyMessage),
		errors.Is(err, chat.ErrInvalidText),
		errors.Is(err, chat.ErrBadCursor),
		errors.Is(err, ErrInvalidArgument):
		return CodeInvalidArgument
	case errors.Is(err, ErrUnreachable):
		return CodeUnreachable
	case errors.Is(err, chat.ErrNotDurable):
		return CodeNotDurable
	case errors.Is(err, ErrStorage), errors.Is(err, chat.ErrStorage):
		return CodeStorage
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return CodeTimeout
	}
	return CodeInternal
}

// toError converts a handler error into the *Error sent to the client.
// fallback replaces CodeInternal for unclassified errors (node_connect uses
// CodeUnreachable). Messages of application errors are the Go error text;
// they never contain message bodies because the chat package does not put
// them there.
func toError(err error, fallback int) *Error {
	var re *Error
	if errors.As(err, &re) {
		return re
	}
	code := ErrorCode(err)
	if code == CodeInternal && fallback != 0 {
		code = fallback
	}
	switch code {
	case CodeTimeout:
		return &Error{Code: code, Message: "request timed out or canceled"}
	case CodeInternal:
		return &Error{Code: code, Message: "internal error: " + err.Error()}
	}
	return &Error{Code: code, Message: err.Error()}
}

// errorInfo documents one error code for rpc.discover and docs/API.md.
type errorInfo struct {
	Code    int
	Message string // short message, as in the OpenRPC error object
	Cause   string // when it happens
}

// errorCodes is the error table, in documentation order. Keep it in step
// with the table above.
var errorCodes = []errorInfo{
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
}

// commonErrors can be answered by any method.
var commonErrors = []int{CodeInvalidParams, CodeInternal, CodeTimeout, CodeRateLimited}

func errorMessage(code int) string {
	for _, e := range errorCodes {
		if e.Code == code {
			return e.Message
		}
	}
	return ""
}
