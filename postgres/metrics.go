package postgres

import (
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/telamentis/telamentis"
)

var _ telamentis.StoreMetrics = (*Store)(nil)

// StoreMetrics implements telamentis.StoreMetrics: the connection pools'
// statistics (pgxpool.Stat), labelled pool="service" and, with an owner
// connection, pool="owner".
func (s *Store) StoreMetrics() []telamentis.StoreMetric {
	s.mu.RLock()
	closing := s.closing
	s.mu.RUnlock()
	if closing {
		return nil
	}
	out := poolMetrics("service", s.pool.Stat())
	if s.owner != nil {
		out = append(out, poolMetrics("owner", s.owner.Stat())...)
	}
	return out
}

// poolMetrics turns one pool's statistics into metrics.
func poolMetrics(pool string, st *pgxpool.Stat) []telamentis.StoreMetric {
	l := map[string]string{"pool": pool}
	g := func(name, help string, v float64) telamentis.StoreMetric {
		return telamentis.StoreMetric{Name: name, Help: help, Labels: l, Value: v}
	}
	c := func(name, help string, v float64) telamentis.StoreMetric {
		return telamentis.StoreMetric{Name: name, Help: help, Kind: telamentis.StoreCounter, Labels: l, Value: v}
	}
	return []telamentis.StoreMetric{
		g("pool_acquired_conns", "Connections in use by the store.", float64(st.AcquiredConns())),
		g("pool_idle_conns", "Idle connections in the pool.", float64(st.IdleConns())),
		g("pool_constructing_conns", "Connections being opened.", float64(st.ConstructingConns())),
		g("pool_total_conns", "Open connections: acquired, idle and being opened.", float64(st.TotalConns())),
		g("pool_max_conns", "The pool's size limit.", float64(st.MaxConns())),
		c("pool_acquires_total", "Successful connection acquisitions.", float64(st.AcquireCount())),
		c("pool_acquire_seconds_total", "Time spent acquiring connections, including waits.", st.AcquireDuration().Seconds()),
		c("pool_empty_acquires_total", "Acquisitions that had to wait for a connection (the pool was empty).", float64(st.EmptyAcquireCount())),
		c("pool_empty_acquire_wait_seconds_total", "Time spent waiting for a connection by acquisitions that found the pool empty.", st.EmptyAcquireWaitTime().Seconds()),
		c("pool_canceled_acquires_total", "Acquisitions given up because their context ended.", float64(st.CanceledAcquireCount())),
		c("pool_new_conns_total", "Connections opened.", float64(st.NewConnsCount())),
		c("pool_max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime.", float64(st.MaxLifetimeDestroyCount())),
		c("pool_max_idle_destroys_total", "Connections closed for idling too long.", float64(st.MaxIdleDestroyCount())),
	}
}
