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
// Config's zero fields take their defaults (DefaultConfig; a zero Limits
// means DefaultLimits), and New logs with subsystem=chat.
//
// Incoming gossip is checked by the room topic's one validator (ledger
// decoding, signature, room, rate limits) before pubsub forwards it, and
// its Verdict says what happens: Accept forwards it and hands the decoded
// event to the room's ingest worker, so each signature is verified once;
// Reject (only what every honest forwarder has checked too: encoding,
// signature, size, room, a parentless clock above 1) drops it and
// penalises the forwarding peer; Ignore drops it without penalty for
// anything that depends on our state (a copy of a stored event, over a
// rate limit, parents we lack, or our store failed). The Network delivers only after Accept, only from
// peers: our own events are stored before they are published. Ingest
// stores events in batches; an event whose parents have not arrived waits
// in the orphan pool (orphans.go: byte budgets per node, room and
// forwarder address group, and an age limit), Config.OnMissing asks for
// a sync, and once stored it is published again. Gossip is
// queued for the ingest worker straight from the validator, which must not
// wait: past the room's queue limit an event is dropped (it is still
// forwarded) and Config.OnMissing asks for a sync that fetches it, again
// with backoff while it stays missing. Subscribers see every newly stored
// message exactly once, in arrival order, from the ledger's commit hook; a
// subscriber that falls more than 1,024 messages behind (a slow reader, or
// a catch-up storing thousands at once) reads on from the ledger by cursor
// instead, so it is never cut off and memory stays bounded.
//
// Where to start reading: network.go is the contract with the transport;
// service.go has the Service, New and Close; rooms.go joins and leaves
// (membership records, the room's topic via gossip.go), send.go and
// publisher.go take our own messages out, gossip.go and ingest.go take
// others' in (validator, ingest worker, orphans.go, repair.go), and
// feed.go fans stored messages out to subscribers. history.go reads them
// back; room.go and message.go are the value types, members.go tracks who
// is in a room, and config.go and limits.go hold the knobs; newcomers.go
// is the per-room budget of authors new to a room, on gossip and sync
// (Ingest returns ErrRateLimited when it left events for later);
// committed.go keeps each room's newest committed IDs, so that the
// validator finds recent parents without a datastore read.
//
// Moderated rooms (Create; docs/PROTOCOL.md "Moderation") start from
// moderation.go: the Service side (Create, Moderate, Admins, and the
// ledger's Check and Parents hooks). moddag.go judges each event in its
// causal past, through interned mod frontiers; modvisible.go decides what
// the whole known DAG hides and which parents ours may name; modstate.go is the pure evaluation of a set of
// mod events (admins, bans, policy, the revocation rule); modbody.go is
// the format of create and mod bodies. Rooms found by name have no
// admins and pay nothing for this.
//
// Private rooms (CreatePrivate, Invite, Kick, JoinInvite; docs/PROTOCOL.md
// "Private rooms") are moderated rooms whose content only members read,
// with keys from Config.Keys (node provides them). Start from private.go
// (create, invite, kick, rekey); privepoch.go judges epoch, epoch_keys and
// enc events in their causal past and picks the winning epoch;
// privbody.go is their format; dm.go makes direct conversations of two
// members (DMSend, AcceptDM); dminit.go binds their first epoch to the
// recipient (e2ee.DMInit) and dmoutbox.go keeps it for an offline
// recipient (PendingDMs, DMInbox); dmmerge.go makes two crossed ones one
// conversation (its canonical room, merged History, ListRooms);
// dmrekey.go gives each a new epoch every Config.DMRekeyInterval;
// privinvite.go admits by an invite's secret (AdmitByInvite,
// Config.Admission); privrevoke.go revokes and lists invites
// (RevokeInvite, Invites); privcrypt.go opens epoch secrets, decrypts
// each enc event once in the ledger's Check and seals ours; privkeys.go
// is the Keys contract and what is kept under the local data key;
// privtopic.go keeps each epoch's topic and DHT rendezvous (derived from
// the epoch secret) and who its topic admits; roomtopic.go moves a
// moderated room joined through a PrivateNetwork from topic to topic as
// epochs change, with a grace period on the old one; joinid.go refuses
// joining a private room by ID without an invite (ErrInviteOnly,
// AwaitGenesis).
package chat
