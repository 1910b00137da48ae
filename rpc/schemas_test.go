package rpc

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/parley-chat/parley/rpc/api"
)

// The component schemas describe the wire types field for field: the same
// JSON names, and only fields that are always present marked required.
func TestSchemasMatchWireTypes(t *testing.T) {
	for name, v := range map[string]any{
		"NodeInfo": api.NodeInfo{}, "RoomSync": api.RoomSync{}, "PeerInfo": api.PeerInfo{},
		"Room": api.Room{}, "Member": api.Member{}, "Message": api.Message{},
		"HistoryQuery": api.HistoryQuery{}, "SubscribeFilter": api.SubscribeFilter{},
		"VerifyReport": api.VerifyReport{}, "Problem": api.Problem{}, "Invite": api.Invite{},
	} {
		s, ok := componentSchemas[name]
		if name == "Problem" {
			s, ok = componentSchemas["VerifyReport"]["properties"].(schema)["problems"].(schema)["items"].(schema)
		}
		if !ok {
			t.Errorf("no schema for %s", name)
			continue
		}
		var fields, always []string
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			tag, opts, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
			fields = append(fields, tag)
			if !strings.Contains(opts, "omitempty") {
				always = append(always, tag)
			}
		}
		var props []string
		for p := range s["properties"].(schema) {
			props = append(props, p)
		}
		slices.Sort(fields)
		slices.Sort(props)
		if !slices.Equal(fields, props) {
			t.Errorf("%s: schema properties %v, type's JSON fields %v", name, props, fields)
		}
		req, _ := s["required"].([]string)
		for _, r := range req {
			if !slices.Contains(always, r) {
				t.Errorf("%s: %q is required but may be omitted", name, r)
			}
		}
	}
}
