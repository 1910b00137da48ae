// Package bench is the benchmark harness behind `parley bench`: it starts
// real Parley nodes in one process on 127.0.0.1, connects them into one
// room, and measures what users and operators feel:
//
//   - ingest: durable msg_send rate on one node, through chat.Service.Send
//     with concurrent senders and through the JSON-RPC (HTTP keep-alive),
//     while one connected peer receives every message;
//   - delivery: latency percentiles from Send to arrival in every other
//     node's subscription feed, at paced offered loads, the delivered
//     fraction, and a saturation probe (highest lossless rate);
//   - catch-up: events/s and bytes for a node that missed many events;
//   - cost: RSS, Go heap and goroutines per node, idle and under load, and
//     TCP bytes sent per delivered message;
//   - startup: time from starting `parley daemon` to its first answered
//     RPC call, on an empty and on a large data directory.
//
// Run drives all of it from a Config and returns a Report, which prints as
// a table (Report.WriteTable) or marshals to JSON. Everything Run starts it
// stops: every node is closed and every temporary directory removed, also
// on error or cancellation. Run is not safe to call concurrently with
// itself (it measures the whole process's memory).
//
// Start reading at Run in bench.go; each part has its own file (ingest.go,
// delivery.go, catchup.go, cost.go, rooms.go, soak.go, startup.go, bare.go)
// and cluster.go starts the in-process nodes.
//
// It runs wherever parley builds. RSS (/proc), TCP wire bytes (TCP_INFO)
// and daemons that die with the bench (Pdeathsig) are Linux only
// (sys_linux.go); elsewhere the table shows those figures as n/a
// (sys_other.go). CPU time comes from getrusage on Unix and
// GetProcessTimes on Windows (sys_unix.go, sys_windows.go).
//
// Nodes listen on /ip4/127.0.0.1/tcp/0 only (/ip4/127.0.0.1/udp/0/quic-v1
// with Config.QUIC), with mDNS and NAT port mapping off; by default each
// has Pebble (fsync on) in a temporary directory, Config.Mem gives them
// in-memory datastores instead.
package bench
