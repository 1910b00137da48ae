//go:build !unix

package node

import "log/slog"

// makePrivate does nothing where files have no Unix mode bits. On Windows
// the default data dir is under %LocalAppData%, whose ACL grants only the
// user (and SYSTEM and Administrators); a --data elsewhere inherits the
// ACL of where it is put.
func makePrivate(string, *slog.Logger) error { return nil }
