package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
)

// Dur is a duration that marshals to JSON as milliseconds (a float), so
// the JSON report is easy to plot.
type Dur time.Duration

// MarshalJSON implements json.Marshaler.
func (d Dur) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(d) / float64(time.Millisecond))
}

// UnmarshalJSON reads what MarshalJSON writes, so a saved report can be
// loaded and compared.
func (d *Dur) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	*d = Dur(math.Round(ms * float64(time.Millisecond)))
	return nil
}

// String formats d for the table: µs below 1 ms, ms with two decimals
// below 1 s, else seconds.
func (d Dur) String() string {
	t := time.Duration(d)
	switch {
	case t < time.Millisecond:
		return fmt.Sprintf("%d µs", t.Microseconds())
	case t < time.Second:
		return fmt.Sprintf("%.2f ms", float64(t)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2f s", t.Seconds())
}

// Report holds every figure of one Run.
type Report struct {
	Machine  Machine          `json:"machine"`
	Config   ReportConfig     `json:"config"`
	Ingest   []IngestResult   `json:"ingest"`
	Delivery []DeliveryResult `json:"delivery"`
	// ProcDelivery is delivery with one daemon process per node.
	ProcDelivery []DeliveryResult `json:"deliveryProcesses"`
	// Bare and BareSaturation are the bare-pubsub baseline (Config.Bare).
	Bare           []DeliveryResult   `json:"bare,omitempty"`
	BareSaturation []SaturationResult `json:"bareSaturation,omitempty"`
	Saturation     []SaturationResult `json:"saturation"`
	Catchup        []CatchupResult    `json:"catchup"`
	Cost           []CostResult       `json:"cost"`
	Rooms          *RoomsResult       `json:"rooms,omitempty"`
	Soak           *SoakResult        `json:"soak,omitempty"`
	Startup        []StartupResult    `json:"startup"`
	// Notes say what was skipped and why.
	Notes   []string `json:"notes"`
	Elapsed Dur      `json:"elapsed"`
}

// ReportConfig is the part of Config that shapes the figures.
type ReportConfig struct {
	Store string `json:"store"` // "pebble" or "memory"
	// Transport the in-process nodes listen on: "tcp" (Noise, yamux) or "quic".
	Transport string  `json:"transport"`
	Nodes     []int   `json:"nodes"`
	Messages  int     `json:"messages"`
	Rates     []int   `json:"rates"`
	LoadSecs  float64 `json:"loadSeconds"`
	// TextBytes is the size of the load's message texts (0: about sixty).
	TextBytes int `json:"textBytes,omitempty"`
	// ProcNodes and ProcRates shape the one-process-per-node delivery.
	ProcNodes []int `json:"procNodes,omitempty"`
	ProcRates []int `json:"procRates,omitempty"`
}

func (r *Report) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// WriteTable prints the report as aligned text tables.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	m := r.Machine
	text := "about 60 bytes"
	if r.Config.TextBytes > 0 {
		text = fmt.Sprintf("%d bytes", r.Config.TextBytes)
	}
	p("machine: %s, %d CPUs, %s, %s/%s; store %s; transport %s; message texts %s", m.CPU, m.CPUs, m.Go, m.OS, m.Arch, r.Config.Store, r.Config.Transport, text)
	p("")
	p("INGEST (durable msg_send on node 0; node 1 connected and receiving, except \"no peer\")")
	p("api\tconcurrency\tmessages\tmsg/s\tcall p50\tcall p99\treceived\tlost\terrors\tCPU/msg\tcores busy")
	for _, x := range r.Ingest {
		api, received, lost := x.API, fmt.Sprint(x.Received), fmt.Sprint(x.Lost)
		if x.Batch > 1 {
			api = fmt.Sprintf("%s (batches of %d)", x.API, x.Batch)
		}
		if x.Alone {
			api, received, lost = x.API+" (no peer)", "-", "-"
		}
		p("%s\t%d\t%d\t%.0f\t%s\t%s\t%s\t%s\t%d\t%s\t%.2f", api, x.Concurrency, x.Messages, x.PerSec, x.CallP50, x.CallP99, received, lost, x.Errors, x.CPUPerMsg, x.Cores)
	}
	p("")
	// Wire bytes are read from TCP sockets (wire.go): none over QUIC, and
	// RSS and wire bytes only on Linux (sys_linux.go).
	wire := func(v float64) string {
		if r.Config.Transport == "quic" || !linuxStats {
			return "n/a"
		}
		return fmt.Sprintf("%.0f", v)
	}
	rss := func(b float64) string {
		if !linuxStats {
			return "n/a"
		}
		return mib(b)
	}
	p("DELIVERY (send on node 0 → every other node's subscription feed)")
	p("nodes\toffered/s\tachieved/s\tsent\tdelivered\tdelivered/s\tp50\tp99\tmax\tfirst p50/p99\twire B/delivery\tsender B/msg\tCPU/delivery")
	for _, x := range r.Delivery {
		p("%d\t%d\t%.0f\t%d\t%.4f\t%.0f\t%s\t%s\t%s\t%s / %s\t%s\t%s\t%s%s", x.Nodes, x.Offered, x.Achieved, x.Sent, x.Delivered, x.DeliveredRate, x.P50, x.P99, x.Max, x.FirstP50, x.FirstP99, wire(x.WireBytesPerDelivery), wire(x.SenderBytesPerMsg), x.CPUPerDelivery, disconnects(x)+errSuffix(x.Err))
	}
	if len(r.ProcDelivery) > 0 {
		p("")
		p("DELIVERY, ONE PROCESS PER NODE (parley daemons on TCP; msg_send over RPC on node 0 → every other node's WebSocket feed)")
		p("nodes\toffered/s\tachieved/s\tsent\tdelivered\tdelivered/s\tp50\tp99\tmax")
		for _, x := range r.ProcDelivery {
			p("%d\t%d\t%.0f\t%d\t%.4f\t%.0f\t%s\t%s\t%s%s", x.Nodes, x.Offered, x.Achieved, x.Sent, x.Delivered, x.DeliveredRate, x.P50, x.P99, x.Max, errSuffix(x.Err))
		}
	}
	saturation := func(title string, sat []SaturationResult) {
		if len(sat) == 0 {
			return
		}
		p("")
		p("%s (highest offered rate with 100%% delivered to every node; best delivered/s of those points)", title)
		p("nodes\tlossless msg/s\tdelivered/s\ttried (rate: delivered, delivered/s, p99)")
		for _, s := range sat {
			var tried []string
			for _, t := range s.Tried {
				tried = append(tried, fmt.Sprintf("%d: %.4f, %.0f/s, %s%s%s", t.Offered, t.Delivered, t.DeliveredRate, t.P99, disconnects(t), errSuffix(t.Err)))
			}
			lim := ""
			if s.SenderLimited {
				lim = " (sender-limited)"
			}
			p("%d\t%d%s\t%.0f\t%s", s.Nodes, s.Lossless, lim, s.BestDeliveredRate, strings.Join(tried, "; "))
		}
	}
	saturation("SATURATION", r.Saturation)
	if len(r.Bare) > 0 {
		p("")
		p("BARE PUBSUB BASELINE (go-libp2p-pubsub alone on default go-libp2p hosts, same topology, load, payload size and gossip parameters;")
		p("pubsub signs every message and each hop checks it; no ledger, store or feed: what the transport costs here)")
		p("hosts\toffered/s\tachieved/s\tsent\tdelivered\tdelivered/s\tp50\tp99\tmax\tfirst p50/p99\tCPU/delivery")
		for _, x := range r.Bare {
			p("%d\t%d\t%.0f\t%d\t%.4f\t%.0f\t%s\t%s\t%s\t%s / %s\t%s%s", x.Nodes, x.Offered, x.Achieved, x.Sent, x.Delivered, x.DeliveredRate, x.P50, x.P99, x.Max, x.FirstP50, x.FirstP99, x.CPUPerDelivery, disconnects(x)+errSuffix(x.Err))
		}
	}
	saturation("BARE PUBSUB SATURATION", r.BareSaturation)
	p("")
	p("CATCH-UP (node B missed N events, then connects to A)")
	if len(r.Catchup) == 0 {
		p("n/a")
	} else {
		p("missed\twiring\ttime\tevents/s\twire bytes\tbytes/event\tcomplete")
		for _, x := range r.Catchup {
			if x.Wiring == "n/a" {
				p("%d\tn/a (sync not wired)\t\t\t\t\t%s", x.Missed, x.Err)
				continue
			}
			p("%d\t%s\t%s\t%.0f\t%s\t%s\t%v%s", x.Missed, x.Wiring, x.Duration, x.PerSec, wire(float64(x.WireBytes)), wire(x.BytesPerEvent), x.Complete, errSuffix(x.Err))
		}
	}
	p("")
	p("COST (in-process nodes; per node = growth over the empty process / nodes)")
	p("nodes\tstate\tRSS/node\theap/node\tgoroutines/node\tprocess RSS\twire B/delivery\tsender B/msg\tCPU/node")
	for _, x := range r.Cost {
		idleCPU := ""
		if x.IdleCPU > 0 {
			idleCPU = fmt.Sprintf("%s/s (%.2f %% of a core)", x.IdleCPU, float64(x.IdleCPU)/float64(time.Second)*100)
		}
		p("%d\tidle\t%s\t%s\t%.0f\t%s\t\t\t%s", x.Nodes, rss(x.Idle.RSSPerNode), mib(x.Idle.HeapPerNode), x.Idle.GoroutinesPN, rss(float64(x.Idle.RSS)), idleCPU)
		if x.Load != nil {
			p("%d\tload (peak)\t%s\t%s\t%.0f\t%s\t%s\t%s", x.Nodes, rss(x.Load.RSSPerNode), mib(x.Load.HeapPerNode), x.Load.GoroutinesPN, rss(float64(x.Load.RSS)), wire(x.WireBytesPerDelivery), wire(x.SenderBytesPerMsg))
		}
	}
	p("")
	if x := r.Rooms; x != nil {
		p("ROOMS (%d nodes in one room, then each joins %d quiet rooms; per node and joined room)", x.Nodes, x.Rooms)
		p("rooms\tjoin all\theap/room\tRSS/room\tgoroutines/room\tidle CPU/node, 1 room\tidle CPU/node, %d rooms", x.Rooms+1)
		rssRoom := "n/a"
		if linuxStats {
			rssRoom = fmt.Sprintf("%.1f KiB", x.RSSPerRoom/1024)
		}
		p("%d\t%s\t%.1f KiB\t%s\t%.1f\t%s/s\t%s/s%s", x.Rooms, x.Join, x.HeapPerRoom/1024, rssRoom, x.GoroutinesPerRoom, x.IdleCPUOne, x.IdleCPUAll, errSuffix(x.Err))
		p("")
	}
	if r.Soak != nil {
		p("SOAK (%d nodes at %d msg/s; memory after a GC at the end of each interval, per node)", r.Soak.Nodes, r.Soak.Rate)
		p("elapsed\tsent\tdelivered\tp50\tp99\theap/node\tRSS/node\tgoroutines/node")
		for _, x := range r.Soak.Samples {
			p("%s\t%d\t%.4f\t%s\t%s\t%s\t%s\t%.0f", time.Duration(x.Elapsed).Round(time.Second), x.Sent, x.Delivered, x.P50, x.P99,
				mib(x.Mem.HeapPerNode), rss(x.Mem.RSSPerNode), x.Mem.GoroutinesPN)
		}
		p("whole soak: p50 %s, p99 %s, max %s; heap growth over the second half: %.1f KiB per node per minute%s",
			r.Soak.P50, r.Soak.P99, r.Soak.Max, r.Soak.HeapSlope/1024, errSuffix(r.Soak.Err))
		p("")
	}
	p("STARTUP (exec parley daemon → first answered node_info)")
	if len(r.Startup) == 0 {
		p("n/a")
	} else {
		p("events in data dir\tmedian\truns\tdaemon idle RSS\tof it, own (RssAnon)\tdata dir (file sizes)")
		for _, x := range r.Startup {
			var runs []string
			for _, d := range x.Runs {
				runs = append(runs, d.String())
			}
			idle, anon := "-", "-"
			if !linuxStats {
				idle, anon = "n/a", "n/a"
			} else if x.IdleRSS > 0 {
				idle, anon = mib(float64(x.IdleRSS)), mib(float64(x.IdleRSSAnon))
			}
			disk := "-"
			if x.DiskBytes > 0 && x.Events > 0 {
				disk = fmt.Sprintf("%s (%.0f B/event; tables %.0f B/event)", mib(float64(x.DiskBytes)),
					float64(x.DiskBytes)/float64(x.Events), float64(x.TableBytes)/float64(x.Events))
			}
			p("%d\t%s\t%s\t%s\t%s\t%s%s", x.Events, x.Median, strings.Join(runs, ", "), idle, anon, disk, errSuffix(x.Err))
		}
		var hist []StartupResult
		for _, x := range r.Startup {
			if x.History != nil {
				hist = append(hist, x)
			}
		}
		if len(hist) > 0 {
			p("")
			p("HISTORY (msg_history pages of %d on a fresh daemon over that data dir, oldest first)", historyPage)
			p("events in data dir\tnewest page (first read)\tpages back: p50 / max (pages)\tpage from the middle: first read / again")
			for _, x := range hist {
				h := x.History
				back, middle := "-", "-"
				if h.Pages > 0 {
					back = fmt.Sprintf("%s / %s (%d)", h.BackP50, h.BackMax, h.Pages)
				}
				if h.Middle > 0 {
					middle = fmt.Sprintf("%s / %s", h.Middle, h.MiddleWarm)
				}
				p("%d\t%s\t%s\t%s%s", x.Events, h.Newest, back, middle, errSuffix(h.Err))
			}
		}
	}
	for _, n := range r.Notes {
		p("note: %s", n)
	}
	p("elapsed %s", time.Duration(r.Elapsed).Round(time.Millisecond))
	return tw.Flush()
}

// disconnects notes the connections a load point saw close, if any.
func disconnects(r DeliveryResult) string {
	if r.Disconnects == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d disconnects)", r.Disconnects)
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "  ERROR: " + e
}
