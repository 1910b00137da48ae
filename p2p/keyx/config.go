package keyx

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// ProtocolID is the key-bundle exchange stream protocol. A change to its
// wire format (wire.go) gets a new version.
const ProtocolID = "/parley/keys/1.0.0"

// ServiceName is the resource-manager service scope of key-exchange
// streams, both directions.
const ServiceName = "parley.keys"

// ErrInvalidConfig is returned (wrapped) by Validate and New.
var ErrInvalidConfig = errors.New("keyx: invalid config")

// MaxSizeLimit bounds Config.MaxSize, so that a reply fits in the
// stream's buffers and the per-peer limits of AddServiceLimits.
const MaxSizeLimit = 64 << 10

// Config configures a Service. Zero fields take DefaultConfig's values,
// except MaxSize and Verify, which the caller must set: keyx moves the
// bundles and the caller knows what they are.
type Config struct {
	// MaxSize bounds a bundle's bytes, served or fetched: 1 to
	// MaxSizeLimit. It sets the wire's length bound (wire.go), so every
	// node of a network must use the same value.
	MaxSize int
	// Verify checks a bundle fetched from p before Fetch returns it or
	// OnBundle receives it: that it decodes and is signed by p (wrapping
	// ErrWrongPeer when it names another peer). Its error is returned by
	// Fetch, wrapped. It runs on the fetching goroutine, once per fetch.
	Verify func(p peer.ID, raw []byte) error
	// Timeout bounds one exchange, asking or serving: the stream is reset
	// when it passes. Default 10 s.
	Timeout time.Duration
	// MaxFetches bounds the fetches on connect running at once; a peer
	// identified while all are busy is skipped (a lookup fetches it on
	// demand). Default 8.
	MaxFetches int
	// Refetch is how long after fetching a peer's bundle on connect a new
	// connection to it fetches again. Default 10 min.
	Refetch time.Duration
	// ServeBurst requests per peer are served per ServeWindow; more are
	// reset unanswered. Defaults 4 per minute.
	ServeBurst  int
	ServeWindow time.Duration
	// OnBundle receives each bundle fetched on connect once Verify
	// accepted it. It must not block for long and must not keep raw past
	// its return without copying it. Nil drops them.
	OnBundle func(p peer.ID, raw []byte)
	// Logger is the parent logger (tagged subsystem=keyx); nil means
	// slog.Default().
	Logger *slog.Logger
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{
		Timeout:     10 * time.Second,
		MaxFetches:  8,
		Refetch:     10 * time.Minute,
		ServeBurst:  4,
		ServeWindow: time.Minute,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Timeout == 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxFetches == 0 {
		c.MaxFetches = d.MaxFetches
	}
	if c.Refetch == 0 {
		c.Refetch = d.Refetch
	}
	if c.ServeBurst == 0 {
		c.ServeBurst = d.ServeBurst
	}
	if c.ServeWindow == 0 {
		c.ServeWindow = d.ServeWindow
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Timeout < 0 || c.Refetch < 0 || c.ServeWindow < 0 || c.MaxFetches < 0 || c.ServeBurst < 0:
		return fmt.Errorf("%w: negative value", ErrInvalidConfig)
	case c.MaxSize < 1 || c.MaxSize > MaxSizeLimit:
		return fmt.Errorf("%w: max size %d, want 1 to %d", ErrInvalidConfig, c.MaxSize, MaxSizeLimit)
	case c.Verify == nil:
		return fmt.Errorf("%w: nil Verify", ErrInvalidConfig)
	}
	return nil
}

// Resource-manager limits of ServiceName. A reply fits in the stream's
// own buffers (≤ ReplySize(MaxSizeLimit)), so only streams are limited: per peer,
// two each way (one exchange per connection and a lookup), and in all
// enough for a burst of connections.
var (
	serviceLimit         = rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 4 << 20}
	serviceLimitIncrease = rcmgr.BaseLimitIncrease{StreamsInbound: 32, StreamsOutbound: 32, Streams: 64, Memory: 1 << 20}
	servicePeerLimit     = rcmgr.BaseLimit{StreamsInbound: 2, StreamsOutbound: 2, Streams: 4, Memory: 1 << 20}
)

// AddServiceLimits adds the key-exchange service's limits to cfg, as
// libp2p.SetDefaultServiceLimits does for libp2p's own services.
func AddServiceLimits(cfg *rcmgr.ScalingLimitConfig) {
	cfg.AddServiceLimit(ServiceName, serviceLimit, serviceLimitIncrease)
	cfg.AddServicePeerLimit(ServiceName, servicePeerLimit, rcmgr.BaseLimitIncrease{})
}
