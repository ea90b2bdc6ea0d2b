package extract

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the extraction counters, labelled by tenant, provider and
// model. A nil *metrics records nothing.
type metrics struct {
	requests *prometheus.CounterVec // + outcome
	tokens   *prometheus.CounterVec // + direction (input, output)
	cost     *prometheus.CounterVec
	errors   *prometheus.CounterVec // + kind
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telamentis_llm_requests_total",
			Help: "LLM provider calls made for extraction, by outcome."}, []string{"tenant", "provider", "model", "outcome"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telamentis_llm_tokens_total",
			Help: "LLM tokens used for extraction, by direction."}, []string{"tenant", "provider", "model", "direction"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telamentis_llm_cost_usd_total",
			Help: "LLM cost of extraction in US dollars."}, []string{"tenant", "provider", "model"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "telamentis_llm_errors_total",
			Help: "Failed LLM calls and rejected envelopes, by kind."}, []string{"tenant", "provider", "model", "kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.tokens, m.cost, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) call(tenant, provider, model, outcome string, in, out int64, cost float64) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(tenant, provider, model, outcome).Inc()
	m.tokens.WithLabelValues(tenant, provider, model, "input").Add(float64(in))
	m.tokens.WithLabelValues(tenant, provider, model, "output").Add(float64(out))
	m.cost.WithLabelValues(tenant, provider, model).Add(cost)
}

func (m *metrics) fail(tenant, provider, model, kind string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(tenant, provider, model, kind).Inc()
}
