package rpc

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/parley-chat/parley/rpc/api"
)

// ServeHTTP is the endpoint. Paths other than Path and MetricsPath go to
// the chat page (serveUI; 404 on a node without chat). For the API it
// checks, in order, the Host header (403), the Origin header (403) and the
// bearer token (401, empty body), then serves a scrape of
// MetricsPath, a WebSocket upgrade (GET) or a POST (other methods: 405). POST bodies over Config.MaxBodyBytes get 413. A POST that holds
// only notifications gets 204 with no body. A client over its rate limit
// (per remote IP) gets 429 with Retry-After; an upgrade beyond
// Config.MaxConns gets 503.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	scrape := r.URL.Path == MetricsPath && s.cfg.Metrics != nil
	if r.URL.Path != Path && !scrape {
		s.serveUI(w, r)
		return
	}
	if !s.checkHostOrigin(w, r) {
		return
	}
	ws := isWebSocket(r)
	if !s.authorized(r, ws) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="parley"`)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	switch {
	case scrape:
		s.serveMetrics(w, r)
	case ws:
		if rerr := admit(s.ipLimits.get(r.RemoteAddr, time.Now()), 1); rerr != nil {
			tooMany(w, rerr, encodeResponses([]*response{errorResponse(nil, rerr)}, false))
			return
		}
		s.serveWS(w, r)
	case r.Method == http.MethodPost:
		s.servePOST(w, r)
	default:
		w.Header().Set("Allow", "POST, GET")
		http.Error(w, "use POST, or GET with a WebSocket upgrade", http.StatusMethodNotAllowed)
	}
}

// checkHostOrigin applies the DNS-rebinding (Host) and CSRF (Origin)
// checks, answering 403 itself when one fails.
func (s *Server) checkHostOrigin(w http.ResponseWriter, r *http.Request) bool {
	if !s.hostAllowed(r.Host) {
		s.log.Debug("rpc refused host", "host", r.Host)
		http.Error(w, "forbidden host", http.StatusForbidden)
		return false
	}
	if origin, ok := r.Header["Origin"]; ok && (len(origin) != 1 || !s.originAllowed(origin[0], r.Host)) {
		s.log.Debug("rpc refused origin", "origin", origin)
		http.Error(w, "forbidden origin", http.StatusForbidden)
		return false
	}
	return true
}

// serveUI serves the chat page (package webui) behind the same Host and
// Origin checks as the API. The page's files hold no data, so they need no
// token; everything the page shows it asks /rpc for, with the token.
func (s *Server) serveUI(w http.ResponseWriter, r *http.Request) {
	if s.ui == nil {
		http.NotFound(w, r)
		return
	}
	if s.checkHostOrigin(w, r) {
		s.ui.ServeHTTP(w, r)
	}
}

func (s *Server) servePOST(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading request body failed", http.StatusBadRequest)
		return
	}
	resp, limited := s.handleMessage(r.Context(), body, &callEnv{limit: s.ipLimits.get(r.RemoteAddr, time.Now())})
	if limited != nil {
		s.log.Debug("rpc http client rate limited", "remote", r.RemoteAddr)
		tooMany(w, limited, resp)
		return
	}
	if resp == nil {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write(resp)
}

// tooMany answers 429 with Retry-After (whole seconds, at least 1) taken
// from rerr, and the JSON-RPC body if there is one.
func tooMany(w http.ResponseWriter, rerr *api.Error, body []byte) {
	var d api.RateLimitData
	json.Unmarshal(rerr.Data, &d)
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, (d.RetryAfterMs+999)/1000), 10))
	if body != nil {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
	}
	w.WriteHeader(http.StatusTooManyRequests)
	w.Write(body)
}

// hostAllowed implements the DNS-rebinding check on the Host header.
func (s *Server) hostAllowed(host string) bool {
	host = strings.ToLower(host)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hosts[host] {
		return true
	}
	if s.anyIP {
		h, port, err := net.SplitHostPort(host)
		return err == nil && port == s.port && net.ParseIP(h) != nil
	}
	return false
}

// originAllowed implements the CSRF check on a present Origin header. host
// is the request's Host, already checked by hostAllowed: an Origin naming
// that same host is a page this server served (the chat page reached at,
// say, a LAN address of a wildcard bind), so it passes too.
func (s *Server) originAllowed(origin, host string) bool {
	if strings.EqualFold(origin, "http://"+host) {
		return true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.origins[origin]
}

// authorized checks the bearer token in constant time. WebSocket upgrades
// may carry it as ?token= instead (browsers cannot set headers there).
func (s *Server) authorized(r *http.Request, ws bool) bool {
	tok, ok := bearer(r.Header.Get("Authorization"))
	if !ok && ws {
		tok, ok = r.URL.Query().Get("token"), r.URL.Query().Has("token")
	}
	if !ok {
		return false
	}
	h := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(h[:], s.tokenHash[:]) == 1
}

func bearer(h string) (string, bool) {
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(h[len(prefix):]), true
}

func isWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet && headerHasToken(r.Header, "Connection", "upgrade") &&
		headerHasToken(r.Header, "Upgrade", "websocket")
}

func headerHasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
