package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Key listener timing: how long the listener waits for a notification
// before it pings itself, how long a ping may take, and the bounds of the
// wait between reconnects.
const (
	listenPing       = 30 * time.Second
	listenPingWait   = 5 * time.Second
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// keyChannel is the channel the api_keys trigger notifies
// (migrations/system/0002_api_key_notify.sql): the schema's name + "_keys".
func (s *Store) keyChannel() string { return s.schema + "_keys" }

// WatchKeys reports changes of API keys as they commit, whoever made them:
// this store, another replica on the same database and schema, or an
// operator in SQL. The api_keys trigger notifies in the transaction of
// every insert, deletion, revocation or other change of a key (not of its
// last use). WatchKeys holds a connection of its own, outside the pool,
// that LISTENs; it calls changed with the key's ID for each notification,
// and resync each time the LISTEN is established, the first time
// included: notifications sent while it was not listening are lost, so the
// caller must then drop everything it cached.
//
// Before it reports the LISTEN established, and after every 30 s without a
// notification, it notifies the channel itself and waits up to 5 s for
// that notification: this proves the connection alive and notifications
// flowing (a transaction-mode pooler such as PgBouncer's would swallow
// them). When that fails or the connection breaks, it logs a warning and
// reconnects with backoff (at most 5 s apart); until it is back, the
// caller's cache TTL is the bound.
//
// WatchKeys runs until ctx ends and then returns ctx's error. The
// callbacks run on its goroutine, in commit order, and must not block.
func (s *Store) WatchKeys(ctx context.Context, changed func(id string), resync func()) error {
	backoff := listenBackoffMin
	for {
		listened, err := s.listenKeys(ctx, changed, resync)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if listened {
			backoff = listenBackoffMin
		}
		s.log.Warn("postgres: key listener down; other replicas' key changes reach the key cache only through its TTL until it is back",
			"err", sanitize(err), "retry_in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenBackoffMax)
	}
}

// pingPrefix starts the payload of the listeners' own notifications; no
// API key ID contains a colon.
const pingPrefix = "ping:"

// listenKeys connects, LISTENs, proves notifications arrive, calls resync
// and then relays notifications until the connection fails or ctx ends.
// listened reports whether the LISTEN was established.
func (s *Store) listenKeys(ctx context.Context, changed func(id string), resync func()) (listened bool, err error) {
	cfg := s.pool.Config().ConnConfig
	cfg.RuntimeParams["application_name"] = "telamentis key listener"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), listenPingWait)
		defer cancel()
		conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+ident(s.keyChannel())); err != nil {
		return false, err
	}
	if err := s.pingKeys(ctx, conn, changed, resync); err != nil {
		return false, err
	}
	resync()
	s.log.Info("postgres: key listener up", "channel", s.keyChannel())
	for {
		wctx, cancel := context.WithTimeout(ctx, listenPing)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			relay(n.Payload, changed, resync)
		case ctx.Err() != nil:
			return true, ctx.Err()
		case pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded):
			if err := s.pingKeys(ctx, conn, changed, resync); err != nil {
				return true, err
			}
		default:
			return true, err
		}
	}
}

// pingKeys notifies the key channel from conn and waits up to
// listenPingWait for that notification, relaying the others meanwhile.
func (s *Store) pingKeys(ctx context.Context, conn *pgx.Conn, changed func(id string), resync func()) error {
	var b [8]byte
	rand.Read(b[:])
	ping := pingPrefix + hex.EncodeToString(b[:])
	pctx, cancel := context.WithTimeout(ctx, listenPingWait)
	defer cancel()
	if _, err := conn.Exec(pctx, `SELECT pg_notify($1, $2)`, s.keyChannel(), ping); err != nil {
		return err
	}
	for {
		n, err := conn.WaitForNotification(pctx)
		if err != nil {
			if ctx.Err() == nil && (pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded)) {
				return errors.New("its own notification did not arrive (a transaction-mode pooler in the DSN?)")
			}
			return err
		}
		if n.Payload == ping {
			return nil
		}
		relay(n.Payload, changed, resync)
	}
}

// relay passes a notification's payload on: a key ID to changed, the
// empty payload of a TRUNCATE to resync; other listeners' pings are
// dropped.
func relay(payload string, changed func(id string), resync func()) {
	switch {
	case payload == "":
		resync()
	case strings.HasPrefix(payload, pingPrefix):
	default:
		changed(payload)
	}
}
