package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

//go:embed static
var static embed.FS

// file is one embedded asset, read once at init.
type file struct {
	body  []byte
	ctype string
	etag  string
}

var files = func() map[string]file {
	m := map[string]file{}
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := static.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		m["/"+strings.TrimPrefix(p, "static/")] = file{
			body:  b,
			ctype: mime.TypeByExtension(path.Ext(p)),
			etag:  `"` + hex.EncodeToString(sum[:8]) + `"`,
		}
		return nil
	})
	if err != nil {
		panic("webui: embedded files: " + err.Error()) // cannot happen: embed checked them at build time
	}
	return m
}()

// contentTypes pins the types the page depends on: a module script served
// as anything but JavaScript does not run, and the platform's MIME table
// (on Windows, the registry) may say otherwise.
var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
}

func init() {
	for p, f := range files {
		if ct, ok := contentTypes[path.Ext(p)]; ok {
			f.ctype = ct
			files[p] = f
		}
	}
}

// Handler returns the handler of the page: GET or HEAD of / (index.html)
// and of the page's own files; 404 for any other path, 405 for other
// methods. It authenticates nothing: the files hold no data, and every
// call the page makes goes to /rpc with the token. The caller checks Host
// (DNS rebinding) before calling it, since the Content-Security-Policy
// names r.Host as the WebSocket origin.
func Handler() http.Handler { return http.HandlerFunc(serve) }

func serve(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if p == "/" {
		p = "/index.html"
	}
	f, ok := files[p]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	setSecurityHeaders(h, r.Host)
	h.Set("Content-Type", f.ctype)
	// Revalidate every time (the ETag makes that a 304): a new binary
	// must never run with the old page's scripts.
	h.Set("Cache-Control", "no-cache")
	h.Set("ETag", f.etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(f.body))
}

// setSecurityHeaders sets the page's Content-Security-Policy and the
// headers that go with it. host is the (checked) Host header: the page
// may open a WebSocket to it and to nothing else.
func setSecurityHeaders(h http.Header, host string) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"connect-src 'self' ws://"+host+"; img-src 'self' data:; base-uri 'none'; "+
		"frame-ancestors 'none'; form-action 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY") // for browsers without frame-ancestors
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
}

// URL returns the link to the page of the node whose RPC endpoint is
// rpcURL (as written to <data>/rpc.addr, e.g. http://127.0.0.1:4748/rpc),
// carrying token in the fragment: http://127.0.0.1:4748/#token=T.
// Browsers never send the fragment, so the token stays out of requests,
// server logs and Referer headers.
func URL(rpcURL, token string) (string, error) {
	u, err := url.Parse(rpcURL)
	if err != nil {
		return "", err
	}
	u.Path, u.RawQuery, u.RawFragment = "/", "", ""
	u.Fragment = "token=" + token
	return u.String(), nil
}
