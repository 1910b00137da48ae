package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds one read of the ledger sizes.
const scrapeTimeout = 5 * time.Second

// RoomSizes calls yield with the event count of every joined room. It runs
// on each scrape and must honour ctx.
type RoomSizes func(ctx context.Context, yield func(room string, events uint64)) error

var ledgerEventsDesc = prometheus.NewDesc(
	prometheus.BuildFQName(Namespace, "", "ledger_events"),
	"Events stored in the ledger of each joined room (all kinds, including joins and leaves).",
	[]string{"room"}, nil,
)

// WatchLedger adds the gauge parley_ledger_events{room}, read with sizes
// on each scrape. Call it at most once; a nil *Metrics ignores it.
func (m *Metrics) WatchLedger(sizes RoomSizes) {
	if m == nil || sizes == nil {
		return
	}
	m.reg.MustRegister(ledgerCollector{sizes})
}

type ledgerCollector struct{ sizes RoomSizes }

func (c ledgerCollector) Describe(ch chan<- *prometheus.Desc) { ch <- ledgerEventsDesc }

func (c ledgerCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	err := c.sizes(ctx, func(room string, n uint64) {
		ch <- prometheus.MustNewConstMetric(ledgerEventsDesc, prometheus.GaugeValue, float64(n), room)
	})
	if err != nil {
		ch <- prometheus.NewInvalidMetric(ledgerEventsDesc, err)
	}
}
