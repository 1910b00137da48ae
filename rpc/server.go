package rpc

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/parley-chat/parley/rpc/webui"
)

// Path is the HTTP path of the endpoint, for POST and WebSocket alike.
const Path = "/rpc"

// shutdownTimeout bounds Close's graceful phase.
const shutdownTimeout = 5 * time.Second

// Server serves the JSON-RPC API. Create it with New, then Start; it is safe
// for concurrent use. Close stops it.
type Server struct {
	cfg       Config
	log       *slog.Logger
	node      NodeAPI
	chat      chatBackend // nil: node-only server
	methods   map[string]*method
	order     []*method
	discover  *openrpcDoc
	tokenHash [sha256.Size]byte
	ipLimits  *limiterSet  // nil: no rate limit
	ui        http.Handler // the chat page at /; nil without chat
	calls     callMetrics  // nil: no metrics

	ctx    context.Context // canceled by Close
	cancel context.CancelFunc

	mu       sync.Mutex
	started  bool
	closed   bool
	ln       net.Listener
	srv      *http.Server
	addr     string          // actual listen address, host:port
	hosts    map[string]bool // allowed Host headers (lower case)
	anyIP    bool            // wildcard bind: any IP-literal Host with our port
	port     string
	origins  map[string]bool
	conns    map[*wsConn]struct{}
	wsConns  int            // WebSocket connections, counted from before the upgrade
	wg       sync.WaitGroup // Serve and WebSocket connections
	closeErr error
	once     sync.Once
}

// New returns a Server for node and chat, configured by cfg (zero fields
// take their defaults; see Config). node is required; chat may be nil, in
// which case only node_* methods and rpc.discover are served and the others
// answer -32601 (method not found). Note that a typed nil pointer in chat is
// not a nil interface. New starts nothing.
func New(node NodeAPI, chat ChatAPI, cfg Config) (*Server, error) {
	var cb chatBackend
	if chat != nil {
		cb = chatAdapter{chat}
	}
	return newServer(node, cb, cfg)
}

func newServer(node NodeAPI, cb chatBackend, cfg Config) (*Server, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("rpc: config: %w", err)
	}
	if node == nil {
		return nil, errors.New("rpc: NodeAPI is required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:       cfg,
		log:       cfg.Logger.With("subsystem", "rpc"),
		node:      node,
		chat:      cb,
		methods:   make(map[string]*method),
		tokenHash: sha256.Sum256([]byte(cfg.Token)),
		ctx:       ctx,
		cancel:    cancel,
		conns:     make(map[*wsConn]struct{}),
	}
	if cb != nil {
		s.ui = webui.Handler()
	}
	if cfg.RateLimit >= 0 {
		s.ipLimits = newLimiterSet(rate.Limit(cfg.RateLimit), cfg.RateBurst)
	}
	for _, m := range registry() {
		if m.NeedsChat && cb == nil {
			continue
		}
		s.methods[m.Name] = m
		s.order = append(s.order, m)
	}
	s.discover = openrpc(s.order)
	s.calls = newCallMetrics(cfg.Metrics, s.order)
	return s, nil
}

// Start listens on Config.Addr and serves in the background. It refuses a
// non-loopback address unless Config.AllowRemote (ErrNonLoopback). It may be
// called once.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("rpc: server closed")
	}
	if s.started {
		return errors.New("rpc: server already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("rpc: listen %s: %w", s.cfg.Addr, err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	if !s.cfg.AllowRemote && !tcp.IP.IsLoopback() {
		ln.Close()
		return fmt.Errorf("rpc: %w: %s resolved to %s", ErrNonLoopback, s.cfg.Addr, tcp)
	}
	s.started = true
	s.ln = ln
	s.addr = tcp.String()
	s.setAllowed(tcp)
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return s.ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("rpc serve stopped", "err", err)
		}
	}()
	s.log.Info("rpc listening", "addr", s.addr, "remote", s.cfg.AllowRemote)
	return nil
}

// setAllowed computes the accepted Host and Origin headers for the bound
// address tcp. Loopback and wildcard binds accept the loopback spellings
// (127.0.0.1, localhost, [::1]) with the bound port; a wildcard bind
// (AllowRemote) also accepts any IP literal with that port, since IP
// literals cannot be DNS-rebound.
func (s *Server) setAllowed(tcp *net.TCPAddr) {
	s.port = fmt.Sprint(tcp.Port)
	s.hosts = map[string]bool{strings.ToLower(tcp.String()): true}
	cfgHost, _, _ := net.SplitHostPort(s.cfg.Addr)
	if cfgHost != "" {
		s.hosts[strings.ToLower(net.JoinHostPort(cfgHost, s.port))] = true
	}
	if tcp.IP.IsLoopback() || tcp.IP.IsUnspecified() {
		for _, h := range []string{"127.0.0.1", "localhost", "::1"} {
			s.hosts[net.JoinHostPort(h, s.port)] = true
		}
	}
	s.anyIP = tcp.IP.IsUnspecified()
	s.origins = map[string]bool{}
	for _, h := range []string{"127.0.0.1", "localhost", "[::1]"} {
		s.origins["http://"+h+":"+s.port] = true
	}
	for _, o := range s.cfg.AllowedOrigins {
		s.origins[o] = true
	}
}

// Addr returns the address the server listens on (host:port), or "" before
// Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// URL returns the endpoint URL, e.g. http://127.0.0.1:PORT/rpc, or "" before
// Start. For a wildcard bind it names the loopback address, so it is what a
// local client (the CLI, via rpc.addr) should use.
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	tcp := s.ln.Addr().(*net.TCPAddr)
	host := tcp.IP.String()
	switch {
	case tcp.IP.IsUnspecified() && tcp.IP.To4() != nil:
		host = "127.0.0.1"
	case tcp.IP.IsUnspecified():
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, s.port) + Path
}

// Close stops the server: it ends every subscription and closes every
// WebSocket connection (status 1001; net/http's Shutdown does not do that),
// cancels in-flight calls, shuts the HTTP server down with a 5s timeout and
// waits for all goroutines the server started. It is idempotent and safe to
// call before Start.
func (s *Server) Close() error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		conns := make([]*wsConn, 0, len(s.conns))
		for c := range s.conns {
			conns = append(conns, c)
		}
		srv := s.srv
		s.mu.Unlock()

		var wg sync.WaitGroup
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.shutdown(statusGoingAway, "server shutting down")
			}()
		}
		wg.Wait()
		s.cancel()
		if srv != nil {
			ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				s.closeErr = errors.Join(fmt.Errorf("rpc: shutdown: %w", err), srv.Close())
			}
		}
		s.wg.Wait()
		s.log.Debug("rpc closed")
	})
	return s.closeErr
}
