package node

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"

	"github.com/pelletier/go-toml/v2"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/p2p"
)

// DefaultRPCAddr is where the daemon's JSON-RPC listens unless told otherwise.
const DefaultRPCAddr = "127.0.0.1:4748"

// Config is the node configuration: the TOML file <data>/config.toml,
// overridden by command-line flags. Zero fields mean the default: New
// fills them from DefaultConfig, then checks the result with Validate.
type Config struct {
	// Name is the display name announced when joining rooms.
	Name string `toml:"name"`
	// Listen are the libp2p listen multiaddrs.
	Listen []string `toml:"listen"`
	// Peers are bootstrap peers: full multiaddrs ending in /p2p/<id>.
	Peers []string `toml:"peers"`
	// RPC is the JSON-RPC listen address (host:port).
	RPC string `toml:"rpc"`
	// RPCAllowRemote allows a non-loopback RPC address.
	RPCAllowRemote bool `toml:"rpc_allow_remote"`
	// MDNS enables LAN discovery (nil means on).
	MDNS *bool `toml:"mdns"`
	// NATPortMap asks the router for a port mapping (nil means on).
	NATPortMap *bool `toml:"nat_port_map"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `toml:"log_level"`
	// Metrics serves Prometheus metrics at /metrics on the RPC listener,
	// behind the RPC token (docs/METRICS.md). Default off.
	Metrics bool `toml:"metrics"`
	// AuthorRate caps the gossip events accepted per author per second
	// (burst 5×), PeerRate those per forwarding peer (burst 2.5×). 0 keeps
	// the default (20 and 200); -1 turns the limit off, for a node whose
	// rooms carry bots or bridges.
	AuthorRate float64 `toml:"author_rate"`
	PeerRate   float64 `toml:"peer_rate"`
}

// maxRate bounds a configured rate (events/s); -1 is the way to say "no
// limit", and a bound keeps the burst (rate × 5) a sane integer.
const maxRate = 1e9

// chatLimits turns the rate settings into chat's limits.
func (c Config) chatLimits() (chat.Limits, error) {
	l := chat.DefaultLimits()
	set := func(name string, v float64, rate *float64, burst *int, factor float64) error {
		switch {
		case v == 0:
		case v == -1:
			*rate, *burst = -1, 0
		case v > 0 && v <= maxRate:
			*rate, *burst = v, max(1, int(math.Ceil(v*factor)))
		default:
			return fmt.Errorf("%s = %g: use a rate up to %g, 0 for the default or -1 for no limit", name, v, float64(maxRate))
		}
		return nil
	}
	if err := set("author_rate", c.AuthorRate, &l.AuthorRate, &l.AuthorBurst, 5); err != nil {
		return l, err
	}
	if err := set("peer_rate", c.PeerRate, &l.PeerRate, &l.PeerBurst, 2.5); err != nil {
		return l, err
	}
	return l, nil
}

// DefaultConfig returns the defaults for a user node.
func DefaultConfig() Config {
	return Config{
		Listen:   p2p.DefaultConfig().ListenAddrs,
		RPC:      DefaultRPCAddr,
		LogLevel: "info",
	}
}

// withDefaults fills zero fields from DefaultConfig.
func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if len(c.Listen) == 0 {
		c.Listen = d.Listen
	}
	if c.RPC == "" {
		c.RPC = d.RPC
	}
	if c.LogLevel == "" {
		c.LogLevel = d.LogLevel
	}
	return c
}

// Validate reports the first setting that cannot work, wrapped in
// ErrBadConfig.
func (c Config) Validate() error {
	if _, err := c.chatLimits(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if c.LogLevel != "" {
		var l slog.Level
		if err := l.UnmarshalText([]byte(c.LogLevel)); err != nil {
			return fmt.Errorf("%w: log_level %q: use debug, info, warn or error", ErrBadConfig, c.LogLevel)
		}
	}
	return nil
}

// ErrBadConfig is returned (wrapped) for an unreadable config file, naming
// the file, and by Validate for a setting out of range.
var ErrBadConfig = errors.New("bad config file")

// LoadConfig reads a TOML config file. A missing file gives the zero
// Config; unknown keys are errors, so typos do not pass silently.
func LoadConfig(path string) (Config, error) {
	var c Config
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read config %s: %w", path, err)
	}
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w %s: %v (fix it, or move it away to start from the defaults)", ErrBadConfig, path, err)
	}
	return c, nil
}

// defaultConfigFile is written by Init: every setting, commented out at
// its default value.
const defaultConfigFile = `# Parley node configuration. Command-line flags override these settings.
# Every line below is commented out and shows the default.

# Display name announced when you join a room.
# name = ""

# libp2p listen addresses (TCP and QUIC, IPv4 and IPv6, port 4747).
# listen = ["/ip4/0.0.0.0/tcp/4747", "/ip4/0.0.0.0/udp/4747/quic-v1", "/ip6/::/tcp/4747", "/ip6/::/udp/4747/quic-v1"]

# Bootstrap peers your community gives you: full multiaddrs ending in /p2p/<peer-id>.
# No peer is built in.
# peers = []

# Local JSON-RPC endpoint for apps and the parley CLI (loopback only unless
# rpc_allow_remote is true; every request needs the token in rpc.token).
# rpc = "127.0.0.1:4748"
# rpc_allow_remote = false

# Find peers on the local network with mDNS.
# mdns = true

# Ask the router for a port mapping (UPnP / NAT-PMP).
# nat_port_map = true

# debug, info, warn or error.
# log_level = "info"

# Serve Prometheus metrics at /metrics on the RPC address, behind the same
# token (Authorization: Bearer <rpc.token>). See docs/METRICS.md.
# metrics = false

# Gossip accepted per author and per forwarding peer, events per second
# (bursts of 5x and 2.5x). Raise them, or set -1 for no limit, if your rooms
# carry bots or bridges that post faster than people do.
# author_rate = 20
# peer_rate = 200
`
