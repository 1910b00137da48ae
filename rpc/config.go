package rpc

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"
)

// Defaults used by DefaultConfig.
const (
	DefaultAddr               = "127.0.0.1:0"
	DefaultMaxBodyBytes       = 1 << 20 // 1 MiB
	DefaultCallTimeout        = 30 * time.Second
	DefaultMaxBatch           = 100
	DefaultWSQueue            = 256
	DefaultWSWriteTimeout     = 30 * time.Second
	DefaultMaxReplyBytes      = 4 << 20 // 4 MiB: msg_history's 1,000-message page of 1 KiB messages is ~1.3 MiB
	DefaultMaxBatchReplyBytes = 8 << 20 // 8 MiB
	DefaultRateLimit          = 20000   // requests per second, per client: stops a runaway app, not a busy one
	DefaultRateBurst          = 20000
	DefaultMaxConns           = 1024 // concurrent WebSocket connections
	DefaultMaxSubs            = 64   // subscriptions per WebSocket connection
	DefaultJoinWait           = 10 * time.Second
)

// Config configures a Server. Start from DefaultConfig and set Token; New
// fills every other zero field with its default.
type Config struct {
	// Addr is the host:port to listen on, e.g. "127.0.0.1:0" (any free port).
	// Default DefaultAddr.
	Addr string
	// Token is the bearer token every request must carry. Required.
	Token string
	// AllowRemote permits a non-loopback Addr. Without it New (through
	// Validate) and Start refuse such an address.
	AllowRemote bool
	// MaxBodyBytes bounds one HTTP request body or WebSocket message;
	// larger ones get HTTP 413 (WebSocket: the connection is closed with
	// status 1009). Default 1 MiB.
	MaxBodyBytes int64
	// CallTimeout bounds every method call. Default 30s.
	CallTimeout time.Duration
	// MaxBatch bounds the number of requests in one batch. Default 100.
	MaxBatch int
	// WSQueue is the per-WebSocket outbound queue length (messages).
	// Responses and notifications wait for room in it, so a subscription
	// is delivered at the pace the client reads (it catches up from the
	// ledger when it falls behind). Default 256.
	WSQueue int
	// WSWriteTimeout bounds one write to a WebSocket client. A client that
	// does not read for this long (its socket buffers full) is dropped:
	// subscriptions end and the TCP connection is closed; it resumes with
	// chat_subscribe's since. Default 30s.
	WSWriteTimeout time.Duration
	// MaxReplyBytes bounds the encoded result of one call; a call whose
	// result would be larger gets api.CodeReplyTooLarge instead (and
	// msg_history stops reading once over it). Default 4 MiB.
	MaxReplyBytes int
	// MaxBatchReplyBytes bounds the encoded results of one batch
	// together; once they are over it, the batch's remaining calls are
	// not run, and they and the call that crossed it get
	// api.CodeReplyTooLarge. Default 8 MiB.
	MaxBatchReplyBytes int
	// RateLimit is the sustained number of requests per second one client
	// may make: per remote IP address over HTTP, per connection over
	// WebSocket. Each request of a batch counts. Over the limit a message is
	// refused with api.CodeRateLimited (HTTP: status 429 and Retry-After).
	// Default DefaultRateLimit; negative: no rate limit.
	RateLimit float64
	// RateBurst is the bucket size: how many requests a client may make at
	// once after being idle. Default DefaultRateBurst; raised to MaxBatch if
	// lower, so that a full batch is always admissible.
	RateBurst int
	// MaxConns bounds concurrent WebSocket connections; further upgrades
	// get HTTP 503 with Retry-After. Default 1024.
	MaxConns int
	// MaxSubscriptions bounds the subscriptions of one WebSocket
	// connection; chat_subscribe beyond it fails with
	// api.CodeLimitExceeded. Default 64.
	MaxSubscriptions int
	// AllowedOrigins lists extra exact Origin values to accept besides
	// http://127.0.0.1:PORT, http://localhost:PORT and http://[::1]:PORT,
	// e.g. "tauri://localhost" for a desktop app.
	AllowedOrigins []string
	// Logger receives the server's logs, which New tags with
	// subsystem=rpc. Default slog.Default().
	Logger *slog.Logger
	// Metrics, if set, counts every answered call (by method and code)
	// and is served at MetricsPath behind the same checks as the API. Nil
	// (the default): no call metrics, and MetricsPath answers 404. Pass a
	// nil interface, not a typed nil pointer, for none.
	Metrics Metrics
	// JoinWait bounds how long room_join by a moderated room's ID waits
	// for the room's genesis to arrive by sync; if it does not, the join
	// is undone and the call fails with api.CodeInviteOnly (members serve
	// a private room to members only). Default 10 s.
	JoinWait time.Duration
}

// DefaultConfig returns a Config listening on 127.0.0.1:0 with default
// limits. Token is empty and must be set.
func DefaultConfig() Config {
	return Config{
		Addr:               DefaultAddr,
		MaxBodyBytes:       DefaultMaxBodyBytes,
		CallTimeout:        DefaultCallTimeout,
		MaxBatch:           DefaultMaxBatch,
		WSQueue:            DefaultWSQueue,
		WSWriteTimeout:     DefaultWSWriteTimeout,
		MaxReplyBytes:      DefaultMaxReplyBytes,
		MaxBatchReplyBytes: DefaultMaxBatchReplyBytes,
		RateLimit:          DefaultRateLimit,
		RateBurst:          DefaultRateBurst,
		MaxConns:           DefaultMaxConns,
		MaxSubscriptions:   DefaultMaxSubs,
		JoinWait:           DefaultJoinWait,
	}
}

// ErrNonLoopback is returned by New (through Validate) and Start for a
// non-loopback address when Config.AllowRemote is false.
var ErrNonLoopback = errors.New("refusing to listen on a non-loopback address without AllowRemote (--rpc-allow-remote)")

// withDefaults returns c with every zero field set from DefaultConfig,
// RateBurst raised to MaxBatch, and Logger slog.Default() if nil.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.Addr == "" {
		c.Addr = d.Addr
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = d.MaxBodyBytes
	}
	if c.CallTimeout == 0 {
		c.CallTimeout = d.CallTimeout
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = d.MaxBatch
	}
	if c.WSQueue == 0 {
		c.WSQueue = d.WSQueue
	}
	if c.WSWriteTimeout == 0 {
		c.WSWriteTimeout = d.WSWriteTimeout
	}
	if c.MaxReplyBytes == 0 {
		c.MaxReplyBytes = d.MaxReplyBytes
	}
	if c.MaxBatchReplyBytes == 0 {
		c.MaxBatchReplyBytes = d.MaxBatchReplyBytes
	}
	if c.RateLimit == 0 {
		c.RateLimit = d.RateLimit
	}
	if c.RateBurst == 0 {
		c.RateBurst = d.RateBurst
	}
	c.RateBurst = max(c.RateBurst, c.MaxBatch)
	if c.MaxConns == 0 {
		c.MaxConns = d.MaxConns
	}
	if c.MaxSubscriptions == 0 {
		c.MaxSubscriptions = d.MaxSubscriptions
	}
	if c.JoinWait == 0 {
		c.JoinWait = d.JoinWait
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Validate reports the first field that makes c unusable: an empty Token,
// an Addr that is not host:port or not loopback without AllowRemote
// (ErrNonLoopback), a negative limit. Zero limits are valid (New fills in
// their defaults).
func (c Config) Validate() error {
	if c.Token == "" {
		return errors.New("Token is required")
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return fmt.Errorf("Addr %q: %w", c.Addr, err)
	}
	if !c.AllowRemote && !isLoopbackHost(host) {
		return fmt.Errorf("Addr %q: %w", c.Addr, ErrNonLoopback)
	}
	switch {
	case c.MaxBodyBytes < 0:
		return fmt.Errorf("MaxBodyBytes %d is negative", c.MaxBodyBytes)
	case c.CallTimeout < 0:
		return fmt.Errorf("CallTimeout %s is negative", c.CallTimeout)
	case c.JoinWait < 0:
		return fmt.Errorf("JoinWait %s is negative", c.JoinWait)
	case c.MaxBatch < 0:
		return fmt.Errorf("MaxBatch %d is negative", c.MaxBatch)
	case c.WSQueue < 0:
		return fmt.Errorf("WSQueue %d is negative", c.WSQueue)
	case c.WSWriteTimeout < 0:
		return fmt.Errorf("WSWriteTimeout %s is negative", c.WSWriteTimeout)
	case c.MaxReplyBytes < 0:
		return fmt.Errorf("MaxReplyBytes %d is negative", c.MaxReplyBytes)
	case c.MaxBatchReplyBytes < 0:
		return fmt.Errorf("MaxBatchReplyBytes %d is negative", c.MaxBatchReplyBytes)
	case c.RateBurst < 0:
		return fmt.Errorf("RateBurst %d is negative", c.RateBurst)
	case c.MaxConns < 0:
		return fmt.Errorf("MaxConns %d is negative", c.MaxConns)
	case c.MaxSubscriptions < 0:
		return fmt.Errorf("MaxSubscriptions %d is negative", c.MaxSubscriptions)
	}
	return nil
}

// isLoopbackHost reports whether host (no port) names only loopback
// interfaces: "localhost" or a loopback IP literal. An empty host means all
// interfaces and is not loopback.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
