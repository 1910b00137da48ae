package rpc

import (
	"bytes"
	"encoding/json"

	"github.com/parley-chat/parley/rpc/api"
)

// This file is the JSON-RPC 2.0 wire format: decoding requests strictly and
// encoding responses and notifications. It knows nothing about methods.

const version = "2.0"

var nullID = json.RawMessage("null")

// request is one decoded element of a call. When err is set the element is
// not a valid Request object and is answered with err (and id, if a valid
// one could be read, else null) without being executed.
type request struct {
	id     json.RawMessage // exact bytes of the id; nil when absent
	hasID  bool            // false: a notification
	method string
	params json.RawMessage // nil when absent or null
	err    *api.Error
}

// notification reports whether the request gets no response.
func (r *request) notification() bool { return !r.hasID && r.err == nil }

// responseID is the id echoed in the response: the request's own bytes, or
// null.
func (r *request) responseID() json.RawMessage {
	if r.id == nil {
		return nullID
	}
	return r.id
}

// response is a JSON-RPC 2.0 Response object. Exactly one of result and
// error is set; result is the already-encoded value.
type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *api.Error      `json:"error,omitempty"`
}

// decodeMessage parses one HTTP body or WebSocket message. It returns the
// requests in order and whether the message was a batch. A non-nil *api.Error
// is a whole-message failure answered by a single response with id null:
// -32700 for invalid JSON, -32600 for an empty batch, a batch over
// maxBatch (when maxBatch > 0) or a value that is neither object nor array.
func decodeMessage(data []byte, maxBatch int) (reqs []*request, batch bool, err *api.Error) {
	if !json.Valid(data) {
		return nil, false, newError(api.CodeParseError, "parse error: invalid JSON")
	}
	data = bytes.TrimSpace(data)
	if data[0] != '[' {
		return []*request{decodeRequest(data)}, false, nil
	}
	var elems []json.RawMessage
	if e := json.Unmarshal(data, &elems); e != nil {
		return nil, true, newError(api.CodeParseError, "parse error: %v", e)
	}
	if len(elems) == 0 {
		return nil, true, newError(api.CodeInvalidRequest, "invalid request: empty batch")
	}
	if maxBatch > 0 && len(elems) > maxBatch {
		return nil, true, newError(api.CodeInvalidRequest, "invalid request: batch of %d requests exceeds the limit of %d", len(elems), maxBatch)
	}
	reqs = make([]*request, len(elems))
	for i, e := range elems {
		reqs[i] = decodeRequest(e)
	}
	return reqs, true, nil
}

// decodeRequest decodes one Request object from valid JSON.
func decodeRequest(data json.RawMessage) *request {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return &request{err: newError(api.CodeInvalidRequest, "invalid request: not a JSON object")}
	}
	var fields map[string]json.RawMessage
	if e := json.Unmarshal(data, &fields); e != nil {
		return &request{err: newError(api.CodeInvalidRequest, "invalid request: %v", e)}
	}
	r := &request{}
	if id, ok := fields["id"]; ok {
		switch kind(id) {
		case '"', '0', 'n':
			r.id, r.hasID = id, true
		default:
			r.hasID = true // answer (with id null) even though the id is unusable
			r.err = newError(api.CodeInvalidRequest, "invalid request: id must be a string, number or null")
			return r
		}
	}
	var v string
	if raw, ok := fields["jsonrpc"]; !ok || kind(raw) != '"' || json.Unmarshal(raw, &v) != nil || v != version {
		r.err = newError(api.CodeInvalidRequest, `invalid request: "jsonrpc" must be "2.0"`)
		return r
	}
	raw, ok := fields["method"]
	if !ok || kind(raw) != '"' || json.Unmarshal(raw, &r.method) != nil || r.method == "" {
		r.err = newError(api.CodeInvalidRequest, `invalid request: "method" must be a non-empty string`)
		return r
	}
	if p, ok := fields["params"]; ok {
		switch kind(p) {
		case '[', '{':
			r.params = p
		case 'n':
			// Treated as omitted.
		default:
			r.err = newError(api.CodeInvalidRequest, `invalid request: "params" must be an array or object`)
			return r
		}
	}
	return r
}

// kind classifies a valid JSON value by its first byte: '{', '[', '"',
// '0' (number), 'n' (null), 't' (true/false) or 0 (empty).
func kind(v json.RawMessage) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	switch c := v[0]; {
	case c == '-' || (c >= '0' && c <= '9'):
		return '0'
	case c == 'f':
		return 't'
	default:
		return c
	}
}

// marshal encodes v as compact JSON without HTML escaping.
func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// encodeResponses encodes the non-nil responses: a single object, a batch
// array, or nil when there is nothing to send.
func encodeResponses(resps []*response, batch bool) []byte {
	out := resps[:0:0]
	for _, r := range resps {
		if r != nil {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil
	}
	if !batch {
		return appendResponse(nil, out[0])
	}
	// Written by hand into one buffer of the right size: a batch reply can
	// be megabytes, and encoding/json would copy every result again while
	// growing its buffer.
	size := 2
	for _, r := range out {
		size += len(r.Result) + len(r.ID) + 64
	}
	b := make([]byte, 0, size)
	b = append(b, '[')
	for i, r := range out {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendResponse(b, r)
	}
	return append(b, ']')
}

// appendResponse appends r's encoding to dst. Results are compact JSON
// already (marshal) and ids are the request's bytes, so a result response
// is put together as is; error responses go through encoding/json.
func appendResponse(dst []byte, r *response) []byte {
	if r.Error == nil {
		dst = append(dst, `{"jsonrpc":"2.0","id":`...)
		dst = append(dst, r.ID...)
		dst = append(dst, `,"result":`...)
		dst = append(dst, r.Result...)
		return append(dst, '}')
	}
	b, err := marshal(r)
	if err != nil {
		// Error objects always encode; cannot happen.
		b = []byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error: encoding response"}}`)
	}
	return append(dst, b...)
}

func errorResponse(id json.RawMessage, e *api.Error) *response {
	if id == nil {
		id = nullID
	}
	return &response{JSONRPC: version, ID: id, Error: e}
}

// notificationMsg is a server-to-client notification.
type notificationMsg struct {
	JSONRPC string `json:"jsonrpc"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}
