package rpc

// JSON Schemas of the API's types, shared by the registry and the OpenRPC
// document (components.schemas). They describe the wire types of package
// rpc/api; TestSchemasMatchWireTypes checks their properties against the
// types' json tags.

func ref(name string) schema { return schema{"$ref": "#/components/schemas/" + name} }

func arrayOf(s schema) schema { return schema{"type": "array", "items": s} }

var (
	sString    = schema{"type": "string"}
	sNonEmpty  = schema{"type": "string", "minLength": 1}
	sTrue      = schema{"type": "boolean", "const": true}
	sStringArr = arrayOf(sString)
)

// componentSchemas are the named schemas referenced with ref.
var componentSchemas = map[string]schema{
	"NodeInfo": {
		"type":     "object",
		"required": []string{"peerId", "addrs", "version", "peers", "rooms", "reachability", "relayAddrs", "sync"},
		"properties": schema{
			"peerId":  schema{"type": "string", "description": "libp2p peer ID"},
			"addrs":   schema{"type": "array", "items": sString, "description": "full multiaddrs ending in /p2p/<peerId>"},
			"version": sString,
			"peers":   schema{"type": "integer", "minimum": 0},
			"rooms":   schema{"type": "integer", "minimum": 0},
			"reachability": schema{"type": "string", "enum": []string{"unknown", "public", "private"},
				"description": "what AutoNAT concluded about our reachability"},
			"relayAddrs": schema{"type": "array", "items": sString, "description": "our addresses through relays"},
			"sync":       schema{"type": "array", "items": ref("RoomSync"), "description": "ledger sync state per joined room"},
		},
	},
	"RoomSync": {
		"type":     "object",
		"required": []string{"room", "events", "orphans", "inProgress", "eventsFetched"},
		"properties": schema{
			"room":          schema{"type": "string", "description": "room ID"},
			"events":        schema{"type": "integer", "minimum": 0, "description": "events stored"},
			"orphans":       schema{"type": "integer", "minimum": 0, "description": "events waiting for their parents (catching up)"},
			"inProgress":    schema{"type": "boolean", "description": "a sync session is running"},
			"lastSync":      schema{"type": "string", "format": "date-time", "description": "end of the last successful sync"},
			"eventsFetched": schema{"type": "integer", "minimum": 0, "description": "events stored by sync since start"},
			"lastError":     schema{"type": "string", "description": "error of the last failed sync"},
		},
	},
	"PeerInfo": {
		"type":     "object",
		"required": []string{"peerId", "addrs"},
		"properties": schema{
			"peerId": sString,
			"addrs":  sStringArr,
		},
	},
	"Room": {
		"type":     "object",
		"required": []string{"id", "name", "private"},
		"properties": schema{
			"id":        sString,
			"name":      sString,
			"private":   schema{"type": "boolean"},
			"moderated": schema{"type": "boolean", "description": "made by room_create: has admins, bans and a join policy"},
			"policy":    schema{"type": "string", "enum": []string{"open", "members"}, "description": "a moderated room's join policy"},
			"invite":    schema{"type": "string", "description": "room_create of a private room only: an invite token for it"},
			"kind":      schema{"type": "string", "enum": []string{"dm"}, "description": "dm: a direct conversation (dm_send)"},
		},
	},
	"CreateRoom": {
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"name"},
		"properties": schema{
			"name":    schema{"type": "string", "minLength": 1, "description": "room name (a-z, 0-9, '-', '_', '.')"},
			"private": schema{"type": "boolean", "description": "a private room: end-to-end encrypted, members only, its name encrypted"},
		},
	},
	"Member": {
		"type":     "object",
		"required": []string{"peerId", "name", "state"},
		"properties": schema{
			"peerId":   schema{"type": "string", "description": "libp2p peer ID"},
			"name":     schema{"type": "string", "description": "display name from their join or profile events (may be empty)"},
			"lastSeen": schema{"type": "string", "format": "date-time", "description": "claimed time of their newest event in the room, RFC 3339 UTC, clamped into years 0001-9999; absent for an invited peer"},
			"state": schema{"type": "string", "enum": []string{"member", "invited"},
				"description": "member: has events in the room; invited: a private room's admins added it (a named invite, or one it proved) and it has written nothing yet"},
		},
	},
	"Invite": {
		"type":     "object",
		"required": []string{"id", "inviter", "maxUses", "uses", "revoked"},
		"properties": schema{
			"id":      schema{"type": "string", "description": "the invite's ID, 32 hex digits (room_invite_revoke's param)"},
			"inviter": schema{"type": "string", "description": "peer ID of the admin whose node admits by it"},
			"invitee": schema{"type": "string", "description": "the one peer it admits (absent: whoever proves its secret)"},
			"expires": schema{"type": "string", "format": "date-time", "description": "when it stops admitting, RFC 3339 UTC"},
			"maxUses": schema{"type": "integer", "minimum": 1},
			"uses":    schema{"type": "integer", "minimum": 0, "description": "admissions by it (a named invite: 1 once its peer has written in the room)"},
			"revoked": schema{"type": "boolean", "description": "an admin revoked it: it admits nobody any more"},
		},
	},
	"Message": {
		"type":     "object",
		"required": []string{"id", "room", "author", "text", "time", "lamport", "parents"},
		"properties": schema{
			"id":         sString,
			"room":       schema{"type": "string", "description": "the room's ID; in a direct conversation always its canonical room (the lowest ID, if two first messages crossed and it spans two rooms)"},
			"author":     schema{"type": "string", "description": "author's peer ID"},
			"authorName": sString,
			"text":       sString,
			"time":       schema{"type": "string", "format": "date-time", "description": "the author's claimed time, RFC 3339 UTC; not checked by the node (order by lamport), clamped into years 0001-9999 for display"},
			"lamport":    schema{"type": "integer", "minimum": 0},
			"parents":    sStringArr,
			"cursor":     schema{"type": "string", "description": "opaque; pass as chat_subscribe since to resume after this message"},
		},
	},
	"HistoryQuery": {
		"type":                 "object",
		"additionalProperties": false,
		"properties": schema{
			"limit":  schema{"type": "integer", "minimum": 0, "description": "at most this many messages (0: the node's default)"},
			"before": schema{"type": "string", "description": "a message ID; only messages before it"},
		},
	},
	"SubscribeFilter": {
		"type":                 "object",
		"additionalProperties": false,
		"properties": schema{
			"room":  schema{"type": "string", "description": "ROOM; empty: all joined rooms; a direct conversation's room: the whole conversation (both rooms, if two first messages crossed)"},
			"since": schema{"type": "string", "description": "a Message cursor; replay what came after it first"},
		},
	},
	"VerifyReport": {
		"type":     "object",
		"required": []string{"ok", "events", "problems"},
		"properties": schema{
			"ok":     schema{"type": "boolean"},
			"events": schema{"type": "integer", "minimum": 0},
			"problems": arrayOf(schema{
				"type":     "object",
				"required": []string{"event", "reason"},
				"properties": schema{
					"event":  sString,
					"reason": sString,
				},
			}),
		},
	},
}
