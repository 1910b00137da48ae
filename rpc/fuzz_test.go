package rpc

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/parley-chat/parley/rpc/api"
)

// FuzzDecodeRequest checks the decoder's properties on arbitrary input: it
// never panics; invalid JSON is exactly a -32700; otherwise every element
// yields a request that is either an error (answered) or a well-formed call
// whose id, when present, is a JSON string, number or null and whose params
// are absent or structured; and the encoded answers are valid JSON.
func FuzzDecodeRequest(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		reqs, batch, perr := decodeMessage(data, DefaultMaxBatch)
		if !json.Valid(data) {
			if perr == nil || perr.Code != api.CodeParseError {
				t.Fatalf("invalid JSON not a parse error: %v", perr)
			}
			return
		}
		if perr != nil {
			if perr.Code != api.CodeInvalidRequest || !batch && bytes.HasPrefix(bytes.TrimSpace(data), []byte("[")) {
				t.Fatalf("unexpected whole-message error %v", perr)
			}
			return
		}
		if len(reqs) == 0 {
			t.Fatal("no requests and no error")
		}
		resps := make([]*response, len(reqs))
		for i, r := range reqs {
			if r.err != nil {
				if r.err.Code != api.CodeInvalidRequest {
					t.Fatalf("element error code %d", r.err.Code)
				}
				resps[i] = errorResponse(r.responseID(), r.err)
				continue
			}
			if r.method == "" {
				t.Fatal("valid request without method")
			}
			if r.hasID {
				if k := kind(r.id); k != '"' && k != '0' && k != 'n' {
					t.Fatalf("id %s accepted", r.id)
				}
				resps[i] = &response{JSONRPC: version, ID: r.responseID(), Result: json.RawMessage(`true`)}
			}
			if r.params != nil {
				if k := kind(r.params); k != '[' && k != '{' {
					t.Fatalf("params %s accepted", r.params)
				}
			}
		}
		if out := encodeResponses(resps, batch); out != nil && !json.Valid(out) {
			t.Fatalf("invalid response JSON %s", out)
		}
	})
}
