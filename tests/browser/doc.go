// Package browser holds the browser tests of the chat page that parley
// daemon serves at / (package rpc/webui). They run real daemons and
// Debian's chromium, driven by playwright-core from Node.
//
// # Where to start
//
// chat.test.mjs tests rooms and moderation, private.test.mjs private
// rooms, the invite dialog and direct messages (three daemons, one never
// invited); both use node:test. harness.mjs starts daemons and the
// browser and runs axe-core; browser_test.go is the Go entry point, which builds the
// binary and runs them. Plain `go test ./...` skips them; to run them:
//
//	apt-get install -y --no-install-recommends chromium
//	(cd tests/browser && npm ci)
//	PARLEY_BROWSER=1 go test ./tests/browser -v
//
// The screenshot of the room view goes to $PARLEY_ARTIFACTS (default: a
// parley-browser-artifacts directory under the system temp dir); the
// test prints its path.
package browser
