package main

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Display rules for what the CLI prints. Names and texts are stored as
// their authors signed them; these rules apply only when rendering, so a
// peer cannot make the terminal act on what it sent: retitle the window,
// clear lines, reorder text with bidi controls, or fake the peer-ID suffix.

// maxNameRunes caps a display name as printed.
const maxNameRunes = 32

// clean returns s for a one-line terminal display: every rune a terminal
// could act on (C0 and C1 controls, ESC, DEL, bidi embeddings, overrides
// and isolates U+202A–U+202E and U+2066–U+2069, other format characters,
// line and paragraph separators) and every invalid UTF-8 byte is written
// as a Go escape (\x1b, \u202e, \n); with multiline, newlines and tabs
// stay as they are.
func clean(s string, multiline bool) string {
	if isClean(s, multiline) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case multiline && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case safeRune(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r) // '\x1b', '\u202e', '\n'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

func isClean(s string, multiline bool) bool {
	for _, r := range s {
		if r == utf8.RuneError || !(safeRune(r) || multiline && (r == '\n' || r == '\t')) {
			return false
		}
	}
	return true
}

// safeRune reports whether r prints as itself: a space or a graphic
// character, not a control or format character (unicode.IsPrint excludes
// categories Cc, Cf, Zl and Zp, which hold all of the above).
func safeRune(r rune) bool { return r == ' ' || unicode.IsPrint(r) }

// displayName returns a peer's self-chosen name for printing before its
// peer-ID suffix: control and format characters removed, whitespace runs
// (newlines included) made one space, at most maxNameRunes runes, and
// quoted when it contains a character of the surrounding format, so that
// "bob (…12345678)" cannot pass for a real suffix.
func displayName(s string) string {
	var b strings.Builder
	n, space, cut := 0, false, false
	for _, r := range strings.TrimSpace(s) {
		switch {
		case unicode.IsSpace(r):
			space = true
			continue
		case r == utf8.RuneError || !unicode.IsPrint(r):
			continue
		}
		if space && n > 0 {
			b.WriteRune(' ')
			n++
		}
		space = false
		if n >= maxNameRunes {
			cut = true
			break
		}
		b.WriteRune(r)
		n++
	}
	name := strings.TrimRight(b.String(), " ")
	if strings.ContainsAny(name, `()[]:"…\`) {
		name = strconv.Quote(name)
	}
	if cut {
		name += "…"
	}
	return name
}
