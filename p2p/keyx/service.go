package keyx

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/event"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

// ErrClosed is returned by Fetch after Close.
var ErrClosed = errors.New("keyx: service closed")

// Service serves this node's bundle on ProtocolID and fetches the bundle
// of every peer that supports it once identify has completed. Bundles are
// opaque bytes to it: Config.Verify checks them. It is safe for
// concurrent use; Close stops it.
type Service struct {
	h   host.Host
	own func() []byte
	cfg Config
	log *slog.Logger
	sub event.Subscription

	fetches chan struct{} // semaphore of on-connect fetches
	served  *windowCounter
	fetched *windowCounter // peers fetched on connect within Refetch

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	closeOnce sync.Once
}

// New starts the service on h. own returns the bundle to serve (nil when
// there is none); it is called for each request and its bytes are not
// modified. On error nothing is left running.
func New(h host.Host, own func() []byte, cfg Config) (*Service, error) {
	if h == nil || own == nil {
		return nil, fmt.Errorf("%w: nil host or bundle source", ErrInvalidConfig)
	}
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	sub, err := h.EventBus().Subscribe(new(event.EvtPeerIdentificationCompleted))
	if err != nil {
		return nil, fmt.Errorf("keyx: subscribe to identify: %w", err)
	}
	s := &Service{
		h:       h,
		own:     own,
		cfg:     cfg,
		log:     cfg.Logger.With("subsystem", "keyx"),
		sub:     sub,
		fetches: make(chan struct{}, cfg.MaxFetches),
		served:  newWindowCounter(cfg.ServeWindow),
		fetched: newWindowCounter(cfg.Refetch),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	h.SetStreamHandler(ProtocolID, s.serve)
	s.wg.Go(s.watch)
	return s, nil
}

// Close stops serving, stops the on-connect fetches and waits for every
// goroutine the service started. It is idempotent.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		s.h.RemoveStreamHandler(ProtocolID)
		s.cancel()
		s.sub.Close()
		s.wg.Wait()
	})
	return nil
}

// serve answers one request with our current bundle.
func (s *Service) serve(str network.Stream) {
	p := str.Conn().RemotePeer()
	if !s.served.allow(p, s.cfg.ServeBurst) {
		s.log.Debug("bundle request over the rate limit", "peer", p)
		_ = str.Reset()
		return
	}
	if err := str.Scope().SetService(ServiceName); err != nil {
		_ = str.ResetWithError(network.StreamResourceLimitExceeded)
		return
	}
	_ = str.SetDeadline(time.Now().Add(s.cfg.Timeout))
	var req [1]byte
	if _, err := io.ReadFull(str, req[:]); err != nil || req[0] != wireVersion {
		_ = str.Reset()
		return
	}
	raw := s.own()
	if len(raw) > s.cfg.MaxSize {
		// Every asker would refuse it; say so here, where it can be fixed.
		s.log.Error("own bundle exceeds the max size, not served", "size", len(raw), "max", s.cfg.MaxSize)
		_ = str.Reset()
		return
	}
	if _, err := str.Write(encodeReply(raw)); err != nil {
		_ = str.Reset()
		return
	}
	_ = str.Close()
}

// Fetch asks p for its bundle over a new stream and returns its bytes
// once Config.Verify accepted them. Errors wrap ErrNoBundle (p has none),
// ErrTooLarge, ErrMalformed, Verify's error, or the stream's error.
func (s *Service) Fetch(ctx context.Context, p peer.ID) ([]byte, error) {
	if s.ctx.Err() != nil {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	str, err := s.h.NewStream(ctx, p, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("keyx: open stream to %s: %w", p, err)
	}
	defer str.Close()
	if err := str.Scope().SetService(ServiceName); err != nil {
		_ = str.ResetWithError(network.StreamResourceLimitExceeded)
		return nil, fmt.Errorf("keyx: %s: %w", p, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = str.Reset() })
	defer stop()
	if dl, ok := ctx.Deadline(); ok {
		_ = str.SetDeadline(dl)
	}
	if _, err := str.Write([]byte{wireVersion}); err != nil {
		_ = str.Reset()
		return nil, fmt.Errorf("keyx: ask %s: %w", p, err)
	}
	_ = str.CloseWrite()
	raw, err := readReply(str, s.cfg.MaxSize)
	if err != nil {
		_ = str.Reset()
		return nil, fmt.Errorf("from %s: %w", p, err)
	}
	if raw == nil {
		return nil, fmt.Errorf("%w: %s", ErrNoBundle, p)
	}
	if err := s.cfg.Verify(p, raw); err != nil {
		return nil, fmt.Errorf("keyx: bundle from %s: %w", p, err)
	}
	return raw, nil
}

// watch fetches the bundle of each newly identified peer that speaks
// ProtocolID, at most MaxFetches at once and once per Refetch per peer.
func (s *Service) watch() {
	for {
		var e any
		select {
		case <-s.ctx.Done():
			return
		case e = <-s.sub.Out():
		}
		ev, ok := e.(event.EvtPeerIdentificationCompleted)
		if !ok || ev.Peer == s.h.ID() || !slices.Contains(ev.Protocols, ProtocolID) {
			continue
		}
		if !s.fetched.allow(ev.Peer, 1) {
			continue
		}
		select {
		case s.fetches <- struct{}{}:
		default:
			s.log.Debug("bundle fetch skipped: too many running", "peer", ev.Peer)
			s.fetched.forget(ev.Peer)
			continue
		}
		s.wg.Go(func() {
			defer func() { <-s.fetches }()
			b, err := s.Fetch(s.ctx, ev.Peer)
			if err != nil {
				if s.ctx.Err() == nil {
					s.log.Debug("bundle fetch failed", "peer", ev.Peer, "err", err)
				}
				return
			}
			if s.cfg.OnBundle != nil {
				s.cfg.OnBundle(ev.Peer, b)
			}
		})
	}
}
