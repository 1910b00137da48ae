package p2p

// BookJudged returns how many identify rounds n's peer book has decided
// on (remembered or not), so that a test can wait for a decision.
func BookJudged(n *Node) int64 {
	if n.book == nil {
		return 0
	}
	return n.book.judged.Load()
}
