package bench

import (
	manet "github.com/multiformats/go-multiaddr/net"
)

// The nodes' hosts are not built with a bandwidth reporter, so bytes on the
// wire are read from the kernel instead: TCP_INFO of every TCP socket of
// this process (tcpi_bytes_acked = payload bytes sent and acknowledged,
// tcpi_bytes_received), attributed to a node by matching the socket's
// local and remote address with that node's libp2p connections. The figures
// are TCP payload: Noise, yamux, gossipsub framing and control traffic
// included; IP and TCP headers excluded. Linux only (tcpSockets in
// sys_linux.go); elsewhere the table shows n/a.

// sockStat is one socket's cumulative counters and its owner node.
type sockStat struct {
	node       int
	sent, recv uint64
}

// wireSnap maps "local>remote" to a socket's counters.
type wireSnap map[string]sockStat

// nodeBytes are bytes sent per node (index as in cluster.nodes).
type nodeBytes []uint64

func (b nodeBytes) total() uint64 {
	var t uint64
	for _, v := range b {
		t += v
	}
	return t
}

// wireBytes snapshots the TCP counters of every node's connections.
func (c *cluster) wireBytes() wireSnap {
	owner := map[string]int{}
	for i, nd := range c.nodes {
		for _, conn := range nd.P2P().Host().Network().Conns() {
			la, err1 := manet.ToNetAddr(conn.LocalMultiaddr())
			ra, err2 := manet.ToNetAddr(conn.RemoteMultiaddr())
			if err1 != nil || err2 != nil {
				continue
			}
			owner[la.String()+">"+ra.String()] = i
		}
	}
	snap := wireSnap{}
	for _, s := range tcpSockets() {
		if i, ok := owner[s.key]; ok {
			snap[s.key] = sockStat{node: i, sent: s.sent, recv: s.recv}
		}
	}
	return snap
}

// sub returns the bytes each node sent since prev, over n nodes.
func (s wireSnap) sub(prev wireSnap, n int) (sent, recv nodeBytes) {
	sent, recv = make(nodeBytes, n), make(nodeBytes, n)
	for k, v := range s {
		p := prev[k]
		if v.sent >= p.sent && v.recv >= p.recv && v.node < n {
			sent[v.node] += v.sent - p.sent
			recv[v.node] += v.recv - p.recv
		}
	}
	return sent, recv
}

type tcpSock struct {
	key        string
	sent, recv uint64
}
