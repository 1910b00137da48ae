package bench

import (
	"net"
	"os"
	"strconv"
	"strings"

	manet "github.com/multiformats/go-multiaddr/net"
	"golang.org/x/sys/unix"
)

// The nodes' hosts are not built with a bandwidth reporter, so bytes on the
// wire are read from the kernel instead: TCP_INFO of every TCP socket of
// this process (tcpi_bytes_acked = payload bytes sent and acknowledged,
// tcpi_bytes_received), attributed to a node by matching the socket's
// local and remote address with that node's libp2p connections. The figures
// are TCP payload: Noise, yamux, gossipsub framing and control traffic
// included; IP and TCP headers excluded. Linux only; elsewhere they are 0.

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

// tcpSockets lists this process's connected TCP sockets with counters.
func tcpSockets() []tcpSock {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var out []tcpSock
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err != nil || !strings.HasPrefix(l, "socket:") {
			continue
		}
		la, err1 := unix.Getsockname(fd)
		ra, err2 := unix.Getpeername(fd)
		if err1 != nil || err2 != nil {
			continue
		}
		info, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			continue
		}
		out = append(out, tcpSock{key: sockString(la) + ">" + sockString(ra), sent: info.Bytes_acked, recv: info.Bytes_received})
	}
	return out
}

func sockString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return (&net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}).String()
	case *unix.SockaddrInet6:
		return (&net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}).String()
	}
	return ""
}
