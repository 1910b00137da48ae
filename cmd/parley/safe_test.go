package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/parley-chat/parley/rpc/api"
)

// hostile strings a peer may put in a display name or message text.
var hostile = []string{
	"\x1b]0;pwned\x07",              // retitle the window (OSC)
	"\x1b[2K\x1b[1A\rfake line",     // clear and move up
	"\u009b31m",                     // C1 CSI
	"abc\u202edcba\u2066x\u2069",    // bidi override and isolate
	"a\u2028b\u2029c\u200bd\ufeffe", // separators, zero-width
	"\xff\xfeinvalid",               // not UTF-8
	"x\x7fy\x00z",                   // DEL, NUL
	"bob (…12345678): hi\n[2025-01-01 00:00:00] mallory (…", // fake suffix and line
}

// assertSafe fails if out holds anything a terminal would act on: a
// control or format rune other than the printers' own newlines and tabs.
func assertSafe(t *testing.T, what, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("%s: invalid UTF-8 in %q", what, out)
	}
	for _, r := range out {
		if r == '\n' || r == '\t' { // the printers' own line ends and columns
			continue
		}
		if r != ' ' && !unicode.IsPrint(r) {
			t.Fatalf("%s: unsafe rune %U in %q", what, r, out)
		}
	}
}

func TestCleanEscapes(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text, ünïcode ✓", "plain text, ünïcode ✓"},
		{"\x1b]0;pwned\x07", `\x1b]0;pwned\a`},
		{"a\u202eb", `a\u202eb`},
		{"\u009b", `\u009b`},
		{"\xff", `\xff`},
		{"line1\nline2\t", `line1\nline2\t`},
	} {
		if got := clean(tt.in, false); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := clean("a\nb\tc\x1b", true); got != "a\nb\tc\\x1b" {
		t.Errorf("multiline clean = %q", got)
	}
}

func TestDisplayName(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"alice", "alice"},
		{"  Alice   Smith\n", "Alice Smith"},
		{"bob (…12345678)", `"bob (…12345678)"`},
		{"evil\x1b]0;x\x07\u202e", `"evil]0;x"`},
		{"line\nbreak", "line break"},
		{strings.Repeat("n", 100), strings.Repeat("n", maxNameRunes) + "…"},
		{"\x1b\u202e", ""},
	} {
		if got := displayName(tt.in); got != tt.want {
			t.Errorf("displayName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Every printer keeps hostile names and texts on their line and inert,
// and a name never ends in something that looks like the real suffix.
func TestPrintersRenderHostileInputSafely(t *testing.T) {
	const author = "12D3KooWAbCdEfGhIjKlMnOpQrStUvWxYz1234567890ABCD"
	for _, h := range hostile {
		var b bytes.Buffer
		printMessage(&b, api.Message{Author: author, AuthorName: h, Text: h, Time: "2025-01-02T03:04:05Z"})
		out := b.String()
		assertSafe(t, "history", out)
		if strings.Count(out, "\n") != 1 {
			t.Fatalf("message spans lines: %q", out)
		}
		if !strings.Contains(out, "(…"+author[len(author)-8:]+"): ") {
			t.Fatalf("real suffix missing: %q", out)
		}
		if n := displayName(h); utf8.RuneCountInString(n) > maxNameRunes+3 {
			t.Fatalf("name %q printed as %d runes", h, utf8.RuneCountInString(n))
		}

		b.Reset()
		printMembers(&b, []api.Member{{PeerID: author, Name: h, LastSeen: h}})
		assertSafe(t, "members", b.String())
		if strings.Count(b.String(), "\n") != 1 {
			t.Fatalf("member spans lines: %q", b.String())
		}
	}
	// Rooms, peers and errors, through the command code paths.
	var b bytes.Buffer
	for _, h := range hostile {
		b.WriteString(clean(h, false) + "\n")
	}
	assertSafe(t, "rooms", b.String())

	var stderr bytes.Buffer
	printErr(&stderr, errors.New("unknown room "+strings.Join(hostile, " ")))
	assertSafe(t, "error", stderr.String())
}
