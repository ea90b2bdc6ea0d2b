package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"slices"
)

// listenUnix listens on a Unix socket at path with mode 0600 and admits only
// peers whose uid is in uids (the server's own uid when empty).
func listenUnix(path string, uids []int, logger *slog.Logger) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// The socket is created under the process umask; tighten it before
	// accepting anything. The uid check below also covers the window.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	if len(uids) == 0 {
		uids = []int{os.Getuid()}
	}
	return &uidListener{Listener: ln, uids: slices.Clone(uids), logger: logger}, nil
}

// uidListener closes accepted connections whose peer uid is not allowed.
type uidListener struct {
	net.Listener
	uids   []int
	logger *slog.Logger
}

func (l *uidListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		uid, err := peerUID(c)
		if err == nil && slices.Contains(l.uids, uid) {
			return c, nil
		}
		if err != nil {
			l.logger.Warn("unix socket peer credentials unavailable; connection refused", slog.String("err", err.Error()))
		} else {
			l.logger.Warn("unix socket peer uid not allowed; connection refused", slog.Int("uid", uid))
		}
		c.Close()
	}
}
