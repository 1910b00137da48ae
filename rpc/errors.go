package rpc

import (
	"context"
	"errors"
	"fmt"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/chat/e2ee"
	"github.com/parley-chat/parley/rpc/api"
)

// The error codes and their meanings are the table of package rpc/api
// (api.Codes); this file maps Go errors onto them.

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

// domainErrors maps the sentinels of package chat, of this package and of
// context to their codes. ErrorCode tries them in this order with
// errors.Is, so an error wrapping two sentinels gets the first one's code
// (chat.ErrNotDurable before the storage sentinels).
var domainErrors = []struct {
	err  error
	code api.Code
}{
	{chat.ErrUnknownRoom, api.CodeUnknownRoom},
	{chat.ErrNotMember, api.CodeNotMember},
	{chat.ErrInviteOnly, api.CodeInviteOnly},
	{chat.ErrTooLarge, api.CodeTooLarge},
	{chat.ErrInvalidName, api.CodeInvalidArgument},
	{chat.ErrEmptyMessage, api.CodeInvalidArgument},
	{chat.ErrInvalidText, api.CodeInvalidArgument},
	{chat.ErrBadCursor, api.CodeInvalidArgument},
	{chat.ErrBadModeration, api.CodeInvalidArgument},
	{chat.ErrNotAdmin, api.CodeNotAdmin},
	{chat.ErrNoAdmins, api.CodeNoAdmins},
	{chat.ErrNotAllowed, api.CodeNotAllowed},
	{chat.ErrNotGenesis, api.CodeNotAllowed},
	{chat.ErrPrivateRooms, api.CodeNotSupportedYet},
	{chat.ErrNoEpochKeys, api.CodeNotAllowed},
	{chat.ErrBadInvite, api.CodeInvalidArgument},
	{chat.ErrBadDMInit, api.CodeInvalidArgument},
	{chat.ErrRateLimited, api.CodeRateLimited}, // dm_send with a full outbox
	{e2ee.ErrNoBundle, api.CodeUnreachable},
	{e2ee.ErrExpired, api.CodeUnreachable},
	{ErrInvalidArgument, api.CodeInvalidArgument},
	{ErrUnreachable, api.CodeUnreachable}, // and any node_connect failure (its Fallback)
	{chat.ErrNotDurable, api.CodeNotDurable},
	{ErrStorage, api.CodeStorage},
	{chat.ErrStorage, api.CodeStorage},
	{context.DeadlineExceeded, api.CodeTimeout},
	{context.Canceled, api.CodeTimeout},
}

func newError(code api.Code, format string, args ...any) *api.Error {
	return &api.Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func invalidParams(format string, args ...any) *api.Error {
	return newError(api.CodeInvalidParams, "invalid params: "+format, args...)
}

// ErrorCode maps a Go error to its JSON-RPC code with errors.Is/As: an
// *api.Error keeps its code, the sentinels of domainErrors get their
// application codes, anything else api.CodeInternal; nil is 0.
func ErrorCode(err error) api.Code {
	var re *api.Error
	switch {
	case err == nil:
		return 0
	case errors.As(err, &re):
		return re.Code
	}
	for _, d := range domainErrors {
		if errors.Is(err, d.err) {
			return d.code
		}
	}
	return api.CodeInternal
}

// toError converts a handler error into the *api.Error sent to the client.
// fallback replaces CodeInternal for unclassified errors (node_connect uses
// CodeUnreachable). Messages of application errors are the Go error text;
// they never contain message bodies because the chat package does not put
// them there.
func toError(err error, fallback api.Code) *api.Error {
	var re *api.Error
	if errors.As(err, &re) {
		return re
	}
	code := ErrorCode(err)
	if code == api.CodeInternal && fallback != 0 {
		code = fallback
	}
	switch code {
	case api.CodeTimeout:
		return &api.Error{Code: code, Message: "request timed out or canceled"}
	case api.CodeInternal:
		return &api.Error{Code: code, Message: "internal error: " + err.Error()}
	}
	return &api.Error{Code: code, Message: err.Error()}
}

// commonErrors can be answered by any method.
var commonErrors = []api.Code{api.CodeInvalidParams, api.CodeInternal, api.CodeTimeout, api.CodeRateLimited, api.CodeReplyTooLarge}
