package bench

import (
	"context"
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// MemSample is the process's memory, and the share of it per node: the
// growth over the baseline taken before any node started, divided by the
// number of nodes running.
type MemSample struct {
	RSS          uint64  `json:"rssBytes"`
	Heap         uint64  `json:"heapBytes"` // live heap objects
	Goroutines   int     `json:"goroutines"`
	RSSPerNode   float64 `json:"rssPerNodeBytes"`
	HeapPerNode  float64 `json:"heapPerNodeBytes"`
	GoroutinesPN float64 `json:"goroutinesPerNode"`
}

// baseline is the process before the first node started.
type baseline struct {
	rss, heap uint64
	gor       int
}

func takeBaseline() baseline {
	runtime.GC()
	r, h, g := readMem()
	return baseline{r, h, g}
}

// settledBaseline takes a baseline once the heap has stopped shrinking,
// for at most limit: nodes closed by an earlier part leave goroutines and
// timers (a closing host's, a sync's retry) that hold some of their
// memory for a moment after Close, and that memory must not count as the
// baseline's.
func settledBaseline(ctx context.Context, limit time.Duration) baseline {
	deadline := time.Now().Add(limit)
	b := takeBaseline()
	for time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		next := takeBaseline()
		if next.heap+64<<10 > b.heap { // shrank by less than 64 KiB
			return next
		}
		b = next
	}
	return b
}

// readMem reads RSS (VmRSS of /proc/self/status; 0 off Linux), live heap
// bytes and the goroutine count without stopping the world.
func readMem() (rss, heap uint64, goroutines int) {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return procRSS("self"), s[0].Value.Uint64(), runtime.NumGoroutine()
}

// procRSS returns VmRSS of /proc/<pid>/status in bytes (0 if unknown, as
// off Linux).
func procRSS(pid string) uint64 { return procStatus(pid, "VmRSS:") }

// procRSSAnon returns RssAnon: the resident memory that is the process's
// own. VmRSS adds RssFile, the pages of the executable and other mapped
// files that are resident, which are shared with the page cache and vary
// with its state (an identical binary measured 37.4 or 45.8 MiB of VmRSS
// depending on how much of the file was cached: 32 or 40 MiB of RssFile,
// 6 MiB of RssAnon both times).
func procRSSAnon(pid string) uint64 { return procStatus(pid, "RssAnon:") }

// sampleNow measures the process with n nodes running (after a GC, for
// the idle figures).
func (b baseline) sampleNow(n int, gc bool) MemSample {
	if gc {
		runtime.GC()
	}
	r, h, g := readMem()
	return b.sample(r, h, g, n)
}

func (b baseline) sample(r, h uint64, g, n int) MemSample {
	s := MemSample{RSS: r, Heap: h, Goroutines: g}
	if n > 0 {
		s.RSSPerNode = (float64(r) - float64(b.rss)) / float64(n)
		s.HeapPerNode = (float64(h) - float64(b.heap)) / float64(n)
		s.GoroutinesPN = float64(g-b.gor) / float64(n)
	}
	return s
}

// memSampler records the peak RSS, heap and goroutines while a load runs.
type memSampler struct {
	base  baseline
	mu    sync.Mutex
	peak  [3]uint64
	stopc chan struct{}
	done  chan struct{}
}

func (m *memSampler) start() {
	m.peak = [3]uint64{}
	m.stopc, m.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			r, h, g := readMem()
			m.mu.Lock()
			m.peak = [3]uint64{max(m.peak[0], r), max(m.peak[1], h), max(m.peak[2], uint64(g))}
			m.mu.Unlock()
			select {
			case <-m.stopc:
				return
			case <-t.C:
			}
		}
	}()
}

func (m *memSampler) stop(n int) MemSample {
	close(m.stopc)
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.base.sample(m.peak[0], m.peak[1], int(m.peak[2]), n)
}

// CostResult is the cost of one room size.
type CostResult struct {
	Nodes int       `json:"nodes"`
	Idle  MemSample `json:"idle"`
	// IdleCPU is the CPU time one idle node uses per second of wall time
	// (the whole process's CPU while the room was quiet for
	// Config.IdleWindow, over the nodes): 10 ms is 1 % of a core.
	IdleCPU Dur `json:"idleCpuPerNodePerSec,omitempty"`
	// Load is the peak during the highest offered load of Rates.
	Load *MemSample `json:"load,omitempty"`
	// WireBytesPerDelivery and SenderBytesPerMsg are those of that load.
	WireBytesPerDelivery float64 `json:"wireBytesPerDelivery"`
	SenderBytesPerMsg    float64 `json:"senderBytesPerMsg"`
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
