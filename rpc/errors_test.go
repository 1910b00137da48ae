package rpc

import (
	"fmt"
	"testing"

	"github.com/parley-chat/parley/rpc/api"
)

// Every code the server maps to or documents is a row of the one table in
// rpc/api, so rpc.discover and docs/API.md name it.
func TestCodesAreInTable(t *testing.T) {
	check := func(where string, c api.Code) {
		t.Helper()
		if c.Message() == "" {
			t.Errorf("%s: code %d is not in api.Codes", where, c)
		}
	}
	for _, d := range domainErrors {
		check("domainErrors "+d.err.Error(), d.code)
	}
	for _, c := range commonErrors {
		check("commonErrors", c)
	}
	for _, m := range registry() {
		for _, c := range m.Errors {
			check(m.Name, c)
		}
		if m.Fallback != 0 {
			check(m.Name+" fallback", m.Fallback)
		}
	}
}

// ErrorCode gives each sentinel of domainErrors its code, also wrapped.
func TestErrorCodeTable(t *testing.T) {
	for _, d := range domainErrors {
		if got := ErrorCode(d.err); got != d.code {
			t.Errorf("ErrorCode(%v) = %d, want %d", d.err, got, d.code)
		}
		if got := ErrorCode(fmt.Errorf("room_leave: %w", d.err)); got != d.code {
			t.Errorf("ErrorCode(wrapped %v) = %d, want %d", d.err, got, d.code)
		}
	}
}
