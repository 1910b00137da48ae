package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parley-chat/parley/rpc"
)

// maxResponseBytes bounds a response body the client reads.
const maxResponseBytes = 64 << 20

// Error is a JSON-RPC error returned by the node; Code is one of the
// rpc.Code* constants. It is rpc.Error, so errors.As works with either name.
type Error = rpc.Error

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
	Error   *Error          `json:"error"`
}

// Call calls method with params (a slice for positional params; nil means
// []) and decodes the result into result (which may be nil to discard it).
// A JSON-RPC error is returned as *Error; transport failures wrap
// ErrNotRunning (connection refused) or ErrUnauthorized (HTTP 401).
func (c *Client) Call(ctx context.Context, method string, params any, result any) error {
	if params == nil {
		params = []any{}
	}
	id := c.id.Add(1)
	body, err := json.Marshal(request{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return fmt.Errorf("rpc: encoding params of %s: %w", method, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("rpc: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w (nothing listens at %s)", ErrNotRunning, c.url)
		}
		return fmt.Errorf("rpc: %s: %w", method, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return fmt.Errorf("rpc: %s: reading response: %w", method, err)
	}
	if err := httpStatusError(resp); err != nil {
		return err
	}
	var r response
	if err := json.Unmarshal(data, &r); err != nil {
		return fmt.Errorf("rpc: %s: malformed response: %w", method, err)
	}
	if string(r.ID) != fmt.Sprint(id) {
		return fmt.Errorf("rpc: %s: response id %s does not match request id %d", method, r.ID, id)
	}
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
