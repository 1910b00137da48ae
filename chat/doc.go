// Package chat owns Parley's domain: rooms, membership and messages on top
// of the ledger, reached by the network only through the small Network
// interface declared here with chat's own types (node adapts p2p to it).
//
//	svc, _ := chat.New(net, store, key, chat.Config{Name: "alice"})
//	room, _ := svc.Join(ctx, "general")              // public room, ID derived from the name
//	msg, _ := svc.Send(ctx, "general", "hello")      // durable, then published
//	page, _ := svc.History(ctx, "general", chat.HistoryQuery{Limit: 50})
//	sub, _ := svc.Subscribe(ctx, chat.Filter{Room: "general", Since: cursor})
//	for m := range sub.C() { ... }
//
// Incoming gossip is checked by a topic validator (ledger.Decode plus the
// room) before pubsub forwards it, and the decoded event rides along to the
// ingest worker, so each signature is verified once. Ingest stores events in
// batches; an event whose parents have not arrived waits in a bounded
// orphan pool and Config.OnMissing asks for a sync. Gossip is queued for
// the ingest worker straight from the validator, which must not wait: past
// the room's queue limit an event is dropped (it is still forwarded) and
// Config.OnMissing asks for a sync that fetches it. Subscribers see every
// newly stored message exactly once, in arrival order, from the ledger's
// commit hook; a subscriber that falls more than 1,024 messages behind (a
// slow reader, or a catch-up storing thousands at once) reads on from the
// ledger by cursor instead, so it is never cut off and memory stays bounded.
package chat
