package rpc

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/parley-chat/parley/rpc/api"
)

// OpenRPCVersion is the OpenRPC specification version of rpc.discover's
// document; APIVersion is the version of the Parley API it describes.
const (
	OpenRPCVersion = "1.2.6"
	APIVersion     = "1.0.0"
)

var mDiscover = &method{
	Name:          "rpc.discover",
	Summary:       "The OpenRPC document of this API, as served by this node.",
	Result:        paramSpec{Name: "openrpc", Schema: schema{"type": "object", "description": "OpenRPC 1.2 document"}},
	Example:       `[]`,
	ExampleResult: `{"openrpc":"1.2.6","info":{"title":"Parley node JSON-RPC API","version":"1.0.0"},"methods":[],"components":{"schemas":{}}}`,
	Handler: func(_ context.Context, s *Server, _ *callEnv, _ params) (any, error) {
		return s.discover, nil
	},
}

// OpenRPC document types (the subset Parley uses).
type (
	openrpcDoc struct {
		OpenRPC    string            `json:"openrpc"`
		Info       openrpcInfo       `json:"info"`
		Methods    []openrpcMethod   `json:"methods"`
		Components openrpcComponents `json:"components"`
	}
	openrpcInfo struct {
		Title       string `json:"title"`
		Description string `json:"description"`
		Version     string `json:"version"`
	}
	openrpcMethod struct {
		Name           string               `json:"name"`
		Summary        string               `json:"summary"`
		Description    string               `json:"description,omitempty"`
		ParamStructure string               `json:"paramStructure"`
		Params         []openrpcDescriptor  `json:"params"`
		Result         openrpcDescriptor    `json:"result"`
		Errors         []openrpcErrorObject `json:"errors,omitempty"`
		Examples       []openrpcExample     `json:"examples,omitempty"`
	}
	openrpcExample struct {
		Name   string                `json:"name"`
		Params []openrpcExampleValue `json:"params"`
		Result *openrpcExampleValue  `json:"result,omitempty"`
	}
	openrpcExampleValue struct {
		Name  string          `json:"name"`
		Value json.RawMessage `json:"value"`
	}
	openrpcDescriptor struct {
		Name        string `json:"name"`
		Description string `json:"description,omitempty"`
		Required    bool   `json:"required,omitempty"`
		Schema      schema `json:"schema"`
	}
	openrpcErrorObject struct {
		Code    api.Code `json:"code"`
		Message string   `json:"message"`
	}
	openrpcComponents struct {
		Schemas map[string]schema `json:"schemas"`
	}
)

// openrpc builds the OpenRPC document for the given (registered) methods.
func openrpc(methods []*method) *openrpcDoc {
	doc := &openrpcDoc{
		OpenRPC: OpenRPCVersion,
		Info: openrpcInfo{
			Title:       "Parley node JSON-RPC API",
			Description: "JSON-RPC 2.0 over HTTP POST and WebSocket at /rpc; positional params; Authorization: Bearer <token>.",
			Version:     APIVersion,
		},
		Components: openrpcComponents{Schemas: componentSchemas},
	}
	for _, m := range methods {
		om := openrpcMethod{
			Name:           m.Name,
			Summary:        m.Summary,
			ParamStructure: "by-position",
			Params:         []openrpcDescriptor{},
			Result:         openrpcDescriptor{Name: m.Result.Name, Description: m.Result.Summary, Schema: m.Result.Schema},
		}
		if m.WebSocketOnly {
			om.Description = "WebSocket only."
		}
		for _, code := range methodErrors(m) {
			om.Errors = append(om.Errors, openrpcErrorObject{Code: code, Message: code.Message()})
		}
		if ex, ok := example(m); ok {
			om.Examples = append(om.Examples, ex)
		}
		for _, p := range m.Params {
			om.Params = append(om.Params, openrpcDescriptor{Name: p.Name, Description: p.Summary, Required: p.Required, Schema: p.Schema})
		}
		doc.Methods = append(doc.Methods, om)
	}
	return doc
}

// methodErrors returns the codes m may answer: its own, then the common
// ones, without duplicates.
func methodErrors(m *method) []api.Code {
	codes := slices.Clone(m.Errors)
	for _, c := range commonErrors {
		if !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	return codes
}

// example turns m's Example and ExampleResult into an OpenRPC example
// pairing (params named by position).
func example(m *method) (openrpcExample, bool) {
	if m.Example == "" {
		return openrpcExample{}, false
	}
	ex := openrpcExample{Name: m.Name + " example", Params: []openrpcExampleValue{}}
	var vals []json.RawMessage
	if err := json.Unmarshal([]byte(m.Example), &vals); err != nil {
		return openrpcExample{}, false
	}
	for i, v := range vals {
		if i < len(m.Params) {
			ex.Params = append(ex.Params, openrpcExampleValue{Name: m.Params[i].Name, Value: v})
		}
	}
	if m.ExampleResult != "" {
		ex.Result = &openrpcExampleValue{Name: m.Result.Name, Value: json.RawMessage(m.ExampleResult)}
	}
	return ex, true
}
