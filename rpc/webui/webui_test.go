package webui

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func get(t *testing.T, method, path string, hdr map[string]string) *http.Response {
	t.Helper()
	r := httptest.NewRequest(method, path, nil)
	r.Host = "127.0.0.1:4748"
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	Handler().ServeHTTP(w, r)
	return w.Result()
}

func TestHandlerServesPage(t *testing.T) {
	tests := []struct {
		path, ctype string
	}{
		{"/", "text/html; charset=utf-8"},
		{"/index.html", "text/html; charset=utf-8"},
		{"/app.js", "text/javascript; charset=utf-8"},
		{"/vlist.js", "text/javascript; charset=utf-8"},
		{"/app.css", "text/css; charset=utf-8"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp := get(t, http.MethodGet, tt.path, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Content-Type"); got != tt.ctype {
				t.Errorf("Content-Type = %q, want %q", got, tt.ctype)
			}
			want := map[string]string{
				"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' ws://127.0.0.1:4748; " +
					"img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'none'",
				"X-Content-Type-Options": "nosniff",
				"Referrer-Policy":        "no-referrer",
				"Cache-Control":          "no-cache",
			}
			for k, v := range want {
				if got := resp.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestHandlerRefuses(t *testing.T) {
	if s := get(t, http.MethodGet, "/rpc.go", nil).StatusCode; s != 404 {
		t.Errorf("unknown file: status %d, want 404", s)
	}
	if s := get(t, http.MethodGet, "/static/app.js", nil).StatusCode; s != 404 {
		t.Errorf("embed path: status %d, want 404", s)
	}
	if s := get(t, http.MethodPost, "/", nil).StatusCode; s != 405 {
		t.Errorf("POST /: status %d, want 405", s)
	}
}

func TestHandlerRevalidates(t *testing.T) {
	etag := get(t, http.MethodGet, "/app.js", nil).Header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	if s := get(t, http.MethodGet, "/app.js", map[string]string{"If-None-Match": etag}).StatusCode; s != http.StatusNotModified {
		t.Fatalf("If-None-Match: status %d, want 304", s)
	}
}

// The budget: the whole page under 150 KB uncompressed.
func TestPageWeight(t *testing.T) {
	const budget = 150 << 10
	total := 0
	for _, f := range files {
		total += len(f.body)
	}
	t.Logf("page weight %d bytes in %d files", total, len(files))
	if total >= budget {
		t.Fatalf("page weighs %d bytes, budget %d", total, budget)
	}
}

// The page works offline: every reference it makes (src, href, CSS url(),
// module imports, fetch) is to the node itself.
func TestNoExternalReferences(t *testing.T) {
	refs := regexp.MustCompile(`(?:src|href)="([^"]*)"|url\(([^)]*)\)|from '([^']*)'|import\('([^']*)'|fetch\('([^']*)'`)
	for name, f := range files {
		for _, m := range refs.FindAllStringSubmatch(string(f.body), -1) {
			ref := strings.Join(m[1:], "")
			if !strings.HasPrefix(ref, "/") && !strings.HasPrefix(ref, "./") && !strings.HasPrefix(ref, "data:") || strings.HasPrefix(ref, "//") {
				t.Errorf("%s refers to %q: the page must not load anything from elsewhere", name, ref)
			}
		}
	}
}

// Peer data must only ever enter the page as text. No script uses an API
// that parses HTML or code from a string.
func TestNoHTMLSinks(t *testing.T) {
	sinks := []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
		"new Function", "DOMParser", "createContextualFragment", "srcdoc", "setHTML"}
	n := 0
	for name, f := range files {
		if !strings.HasSuffix(name, ".js") {
			continue
		}
		n++
		for _, s := range sinks {
			if strings.Contains(string(f.body), s) {
				t.Errorf("%s uses %s", name, s)
			}
		}
	}
	if n < 3 {
		t.Fatalf("found %d scripts, want the page's modules", n)
	}
}

func TestURL(t *testing.T) {
	tests := []struct{ rpc, want string }{
		{"http://127.0.0.1:4748/rpc", "http://127.0.0.1:4748/#token=0a1b"},
		{"http://[::1]:4748/rpc", "http://[::1]:4748/#token=0a1b"},
	}
	for _, tt := range tests {
		got, err := URL(tt.rpc, "0a1b")
		if err != nil || got != tt.want {
			t.Errorf("URL(%q) = %q, %v; want %q", tt.rpc, got, err, tt.want)
		}
	}
	if _, err := URL("http://[::1", "t"); err == nil {
		t.Error("URL of a malformed address succeeded")
	}
}
