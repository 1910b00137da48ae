package ledgersync

import (
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// Resource-manager limits of the ServiceName scope, which every sync
// stream joins (both directions). Memory is what conn reserves for frames
// over 64 KiB, at high priority (up to 80 % of a limit): a served session
// holds one frame (≤ MaxFrameSize, 2 MiB), a requester up to four (two
// read ahead, one being read, one in use). Per peer: the 4 background
// sessions a peer's syncer runs at most, twice over, each way, and 16 MiB
// (two catch-ups of 1 MiB event frames, or many hostile 2 MiB frames,
// refused past it). In all: enough for MaxInbound and MaxOutbound sessions
// with headroom, and 64 MiB (+32 MiB per GiB the resource manager is
// scaled to), so frames from strangers cannot take the node's memory.
var (
	serviceLimit         = rcmgr.BaseLimit{StreamsInbound: 64, StreamsOutbound: 64, Streams: 128, Memory: 64 << 20}
	serviceLimitIncrease = rcmgr.BaseLimitIncrease{StreamsInbound: 32, StreamsOutbound: 32, Streams: 64, Memory: 32 << 20}
	servicePeerLimit     = rcmgr.BaseLimit{StreamsInbound: 8, StreamsOutbound: 8, Streams: 16, Memory: 16 << 20}
)

// AddServiceLimits adds the sync service's limits (above: streams and
// memory in all, more per GiB, and per peer) to cfg, as
// libp2p.SetDefaultServiceLimits does for libp2p's own services. Without
// them the service takes rcmgr's defaults (128 inbound streams and 16 MiB
// per peer).
func AddServiceLimits(cfg *rcmgr.ScalingLimitConfig) {
	cfg.AddServiceLimit(ServiceName, serviceLimit, serviceLimitIncrease)
	cfg.AddServicePeerLimit(ServiceName, servicePeerLimit, rcmgr.BaseLimitIncrease{})
}
