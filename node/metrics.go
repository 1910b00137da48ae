package node

import (
	"context"
	"errors"
	"strings"

	"github.com/parley-chat/parley/chat"
	"github.com/parley-chat/parley/internal/metrics"
	"github.com/parley-chat/parley/p2p/ledgersync"
	"github.com/parley-chat/parley/rpc"
)

var _ chat.Metrics = (*metrics.Metrics)(nil)
var _ rpc.Metrics = (*metrics.Metrics)(nil)

// syncSessionMetrics returns the ledgersync.Config.OnSession hook that
// counts sessions in m.
func syncSessionMetrics(m *metrics.Metrics) func(bool, ledgersync.Stats, error) {
	return func(outbound bool, st ledgersync.Stats, err error) {
		m.SyncSession(metrics.Session{
			Outbound:       outbound,
			Result:         syncResult(err),
			EventsReceived: st.EventsReceived,
			EventsStored:   st.EventsStored,
			BytesSent:      st.BytesSent,
			BytesReceived:  st.BytesReceived,
		})
	}
}

// syncResult labels a session's outcome for parley_sync_sessions_total.
func syncResult(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ledgersync.ErrLimit):
		return "limit"
	case errors.Is(err, ledgersync.ErrBusy):
		return "busy"
	case errors.Is(err, ledgersync.ErrRoomUnknown):
		return "room_unknown"
	case errors.Is(err, ledgersync.ErrMisbehaving):
		return "misbehaving"
	}
	return "error"
}

// roomSizes reports the event count of every joined room of svc, for
// parley_ledger_events.
func roomSizes(svc *chat.Service) metrics.RoomSizes {
	return func(ctx context.Context, yield func(string, uint64)) error {
		rooms, err := svc.Rooms(ctx)
		if err != nil {
			return err
		}
		for _, r := range rooms {
			n, err := svc.Ledger().Count(ctx, r.ID)
			if err != nil {
				return err
			}
			yield(r.ID, n)
		}
		return nil
	}
}

// MetricsURL returns the Prometheus endpoint, e.g.
// http://127.0.0.1:PORT/metrics, or "" unless Config.Metrics is set and
// the RPC server runs. Scrapes need the RPC token, like RPC calls.
func (n *Node) MetricsURL() string {
	if n.met == nil || n.rpc == nil {
		return ""
	}
	return strings.TrimSuffix(n.rpc.URL(), rpc.Path) + rpc.MetricsPath
}
