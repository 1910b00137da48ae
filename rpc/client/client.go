package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-chat/parley/rpc/api"
)

// maxResponseBytes bounds a response body the client reads.
const maxResponseBytes = 64 << 20

var (
	// ErrUnauthorized is returned when the node rejects the token (HTTP 401).
	ErrUnauthorized = errors.New("rpc: unauthorized (wrong or missing token; is --data the daemon's data directory?)")
	// ErrRateLimited is returned when the node refused a call because the
	// client exceeded its rate limit (HTTP 429); retry later.
	ErrRateLimited = errors.New("rpc: rate limited by the node (HTTP 429); retry later")
	// ErrNotRunning is returned when no daemon answers at the endpoint (or
	// its endpoint files are missing).
	ErrNotRunning = errors.New("parley daemon is not running")
)

// Client calls one node. Create it with Dial.
type Client struct {
	url   string
	token string
	hc    *http.Client
	id    atomic.Uint64
}

// Dial returns a Client for the endpoint URL (http://127.0.0.1:PORT/rpc, as
// written to rpc.addr) and token. It does not connect; calls do.
func Dial(url, token string) *Client {
	// Its own transport: the default keeps only 2 idle connections per
	// host, so concurrent callers would reconnect on most calls. Loopback
	// only, so no proxy.
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        64,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	return &Client{url: url, token: token, hc: &http.Client{Transport: tr}}
}

// URL returns the endpoint URL the client calls.
func (c *Client) URL() string { return c.url }

type request struct {
	JSONRPC string `json:"jsonrpc"`
	ID      uint64 `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params"`
}

type response struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  json.RawMessage `json:"result"`
	Error   *api.Error      `json:"error"`
}

// Call calls method with params (a slice for positional params; nil means
// []) and decodes the result into result (which may be nil to discard it).
// A JSON-RPC error is returned as *api.Error; transport failures wrap
// ErrNotRunning (connection refused) or ErrUnauthorized (HTTP 401).
func (c *Client) Call(ctx context.Context, method string, params any, result any) error {
	id := c.id.Add(1)
	body, err := json.Marshal(newRequest(id, method, params))
	if err != nil {
		return fmt.Errorf("rpc: encoding params of %s: %w", method, err)
	}
	data, err := c.post(ctx, method, body)
	if err != nil {
		return err
	}
	var r response
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("rpc: %s: malformed response: %w", method, err)
	}
	if string(r.ID) != strconv.FormatUint(id, 10) {
		return fmt.Errorf("rpc: %s: response id %s does not match request id %d", method, r.ID, id)
	}
	return r.decode(method, result)
}

// BatchCall is one call of a Batch: Method and Params as for Call; Batch
// decodes the result into Result (nil discards it) and sets Err to that
// call's error (an *api.Error from the node, or a decoding error).
type BatchCall struct {
	Method string
	Params any
	Result any
	Err    error
}

// Batch sends calls as one JSON-RPC batch (one HTTP request; the node runs
// up to 32 of them at once and answers when all are done; at most 100 per
// batch by default). It returns an error only when the batch
// as a whole failed (transport, HTTP status, a malformed or incomplete
// answer, or the node refusing the batch); each call's own outcome is in
// its Err. A program that sends many messages, such as a bridge, saves a
// round trip per call, and its sends share the node's disk syncs.
func (c *Client) Batch(ctx context.Context, calls []BatchCall) error {
	if len(calls) == 0 {
		return nil
	}
	for i := range calls {
		calls[i].Err = nil // a reused slice must not keep an earlier outcome
	}
	first := c.id.Add(uint64(len(calls))) - uint64(len(calls)) + 1
	reqs := make([]request, len(calls))
	for i, bc := range calls {
		reqs[i] = newRequest(first+uint64(i), bc.Method, bc.Params)
	}
	body, err := json.Marshal(reqs)
	if err != nil {
		return fmt.Errorf("rpc: encoding batch params: %w", err)
	}
	data, err := c.post(ctx, "batch", body)
	if err != nil {
		return err
	}
	var resps []response
	if err := json.Unmarshal(data, &resps); err != nil {
		// A batch the node refuses as a whole (too large, rate limited)
		// is answered with a single error object.
		var r response
		if json.Unmarshal(data, &r) == nil && r.Error != nil {
			return r.Error
		}
		return fmt.Errorf("rpc: batch: malformed response: %w", err)
	}
	seen := make([]bool, len(calls))
	for _, r := range resps {
		id, err := strconv.ParseUint(string(r.ID), 10, 64)
		if err != nil || id < first || id-first >= uint64(len(calls)) || seen[id-first] {
			return fmt.Errorf("rpc: batch: unexpected response id %s", r.ID)
		}
		i := id - first
		seen[i] = true
		calls[i].Err = r.decode(calls[i].Method, calls[i].Result)
	}
	if missing := slices.Index(seen, false); missing >= 0 {
		return fmt.Errorf("rpc: batch: no response for call %d (%s)", missing, calls[missing].Method)
	}
	return nil
}

func newRequest(id uint64, method string, params any) request {
	if params == nil {
		params = []any{}
	}
	return request{JSONRPC: "2.0", ID: id, Method: method, Params: params}
}

// post sends one request body and returns the response body; what names
// the call in errors.
func (c *Client) post(ctx context.Context, what string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("rpc: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w (nothing listens at %s)", ErrNotRunning, c.url)
		}
		return nil, fmt.Errorf("rpc: %s: %w", what, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("rpc: %s: reading response: %w", what, err)
	}
	if err := httpStatusError(resp); err != nil {
		return nil, err
	}
	return data, nil
}

// decode returns the response's error, or decodes its result into result.
func (r *response) decode(method string, result any) error {
	if r.Error != nil {
		return r.Error
	}
	if result == nil {
		return nil
	}
	if err := json.Unmarshal(r.Result, result); err != nil {
		return fmt.Errorf("rpc: %s: decoding result: %w", method, err)
	}
	return nil
}

func httpStatusError(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusOK, http.StatusSwitchingProtocols:
		return nil
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusTooManyRequests:
		return fmt.Errorf("%w (Retry-After: %ss)", ErrRateLimited, resp.Header.Get("Retry-After"))
	}
	return fmt.Errorf("rpc: unexpected HTTP status %s", resp.Status)
}
