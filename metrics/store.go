package metrics

import (
	"regexp"
	"runtime"
	"runtime/debug"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/telamentis/telamentis"
)

// SetBuildInfo publishes telamentis_build_info{version, goversion,
// revision} = 1. revision "" takes the VCS revision the go command stamped
// into the binary (with "-dirty" for a modified tree), else "unknown".
// Call it once.
func (m *Metrics) SetBuildInfo(version, revision string) {
	if m == nil {
		return
	}
	if revision == "" {
		revision = vcsRevision()
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "The running build: version, Go release and source revision. Always 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version(), "revision": revision},
	})
	g.Set(1)
	m.reg.MustRegister(g)
}

// vcsRevision reads the revision the go command stamped (-buildvcs).
func vcsRevision() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	var rev, modified string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		}
	}
	if rev == "" {
		return "unknown"
	}
	if modified == "true" {
		rev += "-dirty"
	}
	return rev
}

// WatchStore publishes the store's own values (telamentis.StoreMetrics)
// as telamentis_store_<name>{backend, …}, read on every scrape. A stat
// whose name or labels break the naming rules of telamentis.StoreMetric is
// dropped rather than exported. Call it once.
func (m *Metrics) WatchStore(backend string, r telamentis.StoreMetrics) {
	if m == nil || r == nil {
		return
	}
	m.reg.MustRegister(storeCollector{backend: word(backend), r: r})
}

var (
	statNameRE   = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)
	labelNameRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)
	labelValueRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,39}$`)
)

// storeCollector is an unchecked collector: the stats a store reports may
// change between scrapes (a dedicated tenant's database opens), so it
// describes nothing up front.
type storeCollector struct {
	backend string
	r       telamentis.StoreMetrics
}

func (storeCollector) Describe(chan<- *prometheus.Desc) {}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.r.StoreMetrics() {
		if !statNameRE.MatchString(s.Name) || s.Help == "" {
			continue
		}
		names, values, ok := statLabels(s.Labels)
		if !ok {
			continue
		}
		desc := prometheus.NewDesc(namespace+"_store_"+s.Name, s.Help, append([]string{"backend"}, names...), nil)
		vt := prometheus.GaugeValue
		if s.Kind == telamentis.StoreCounter {
			vt = prometheus.CounterValue
		}
		if m, err := prometheus.NewConstMetric(desc, vt, s.Value, append([]string{c.backend}, values...)...); err == nil {
			ch <- m
		}
	}
}

// statLabels returns a stat's label names (sorted) and values, or false
// if one breaks the rules.
func statLabels(l map[string]string) (names, values []string, ok bool) {
	for k, v := range l {
		if !labelNameRE.MatchString(k) || k == "backend" || !labelValueRE.MatchString(v) {
			return nil, nil, false
		}
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		values = append(values, l[k])
	}
	return names, values, true
}
