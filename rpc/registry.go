package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/parley-chat/parley/rpc/api"
)

// The method registry: one table that is both the dispatch table and the
// source of the rpc.discover (OpenRPC) document.

// schema is a JSON Schema fragment.
type schema = map[string]any

// paramSpec describes one positional parameter (or the result).
type paramSpec struct {
	Name     string
	Summary  string
	Schema   schema
	Required bool
}

// handlerFunc runs a method. p holds the positional params, already checked
// against the method's count and required params.
type handlerFunc func(ctx context.Context, s *Server, c *callEnv, p params) (any, error)

// method is one registry entry.
type method struct {
	Name    string
	Summary string
	Params  []paramSpec
	Result  paramSpec
	// NeedsChat: not served (not registered) when the server has no chat.
	NeedsChat bool
	// WebSocketOnly: documented in rpc.discover; the handler enforces it.
	WebSocketOnly bool
	// Fallback replaces api.CodeInternal for unclassified handler errors.
	Fallback api.Code
	// Errors are the application error codes (see api.Codes) the method
	// may answer besides the ones every method may (commonErrors).
	Errors []api.Code
	// Example holds example params and ExampleResult a matching result,
	// both JSON; they appear in rpc.discover (examples) and docs/API.md.
	Example, ExampleResult string
	Handler                handlerFunc
}

// params are the positional params of one call.
type params struct {
	m   *method
	raw []json.RawMessage
}

// has reports whether param i is present and not null.
func (p params) has(i int) bool { return i < len(p.raw) && kind(p.raw[i]) != 'n' }

// decode decodes param i into v, rejecting unknown object fields. Failures
// are -32602 errors that name the param.
func (p params) decode(i int, v any) error {
	dec := json.NewDecoder(bytes.NewReader(p.raw[i]))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return p.invalid(i, "%s", describeDecodeError(err))
	}
	return nil
}

// invalid returns a -32602 error naming param i.
func (p params) invalid(i int, format string, args ...any) error {
	return invalidParams("param %q (position %d): %s", p.m.Params[i].Name, i+1, fmt.Sprintf(format, args...))
}

// str decodes param i as a string.
func (p params) str(i int) (string, error) {
	var s string
	err := p.decode(i, &s)
	return s, err
}

func describeDecodeError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := jsonTypeName(te.Type.Kind().String())
		if te.Field != "" {
			return fmt.Sprintf("field %q: want %s, got %s", te.Field, want, te.Value)
		}
		return fmt.Sprintf("want %s, got %s", want, te.Value)
	}
	msg := err.Error()
	if f, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		return "unknown field " + f
	}
	return strings.TrimPrefix(msg, "json: ")
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "string"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "number"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	case "slice", "array":
		return "array"
	}
	return goKind
}

// checkParams splits raw params into positions and checks count and
// required params. Params must be positional; omitted or null params are an
// empty array.
func (m *method) checkParams(raw json.RawMessage) (params, *api.Error) {
	p := params{m: m}
	switch kind(raw) {
	case 0, 'n':
	case '[':
		if err := json.Unmarshal(raw, &p.raw); err != nil {
			return p, invalidParams("%v", err)
		}
	default:
		return p, invalidParams("params must be a positional array (see rpc.discover)")
	}
	if len(p.raw) > len(m.Params) {
		return p, invalidParams("%s takes at most %d params, got %d", m.Name, len(m.Params), len(p.raw))
	}
	for i, ps := range m.Params {
		if ps.Required && !p.has(i) {
			return p, invalidParams("missing required param %q (position %d)", ps.Name, i+1)
		}
	}
	return p, nil
}

// registry returns every method Parley serves, in documentation order.
// The server registers those it can serve (see NeedsChat).
func registry() []*method {
	return []*method{
		mNodeInfo, mNodePeers, mNodeConnect,
		mRoomJoin, mRoomLeave, mRoomList, mRoomMembers,
		mRoomCreate, mRoomBan, mRoomPurge, mRoomUnban, mRoomAdmins, mRoomAdmin, mRoomUnadmin, mRoomAdmit, mRoomPolicy,
		mRoomInvite, mRoomInvites, mRoomInviteRevoke, mRoomKick, mDMSend, mDMHistory,
		mMsgSend, mMsgHistory,
		mChatSubscribe, mChatUnsubscribe,
		mLedgerVerify,
		mDiscover,
	}
}
