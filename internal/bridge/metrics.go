package bridge

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/idlinkhq/idlink/internal/bridge/jwtverify"
	"github.com/idlinkhq/idlink/internal/identity"
)

// Request results (label values of idlink_bridge_requests_total).
const (
	resultOK          = "ok"
	resultInvalid     = "invalid_token" // 401
	resultConflict    = "conflict"      // 403
	resultUnavailable = "unavailable"   // 503: keys or store unavailable
	resultBadRequest  = "bad_request"   // 400/405
)

// metrics are the bridge's Prometheus series, on a registry of its own so
// several servers (tests) never collide. Hot-path series are resolved once.
type metrics struct {
	reg       *prometheus.Registry
	requests  map[string]prometheus.Counter
	failures  map[jwtverify.Reason]prometheus.Counter
	latency   prometheus.Histogram
	obsWrites *prometheus.CounterVec
	flushVec  *prometheus.CounterVec
	cached    prometheus.Counter
}

func newMetrics(keyStats func() []keyStat) *metrics {
	m := &metrics{reg: prometheus.NewRegistry(), requests: map[string]prometheus.Counter{}, failures: map[jwtverify.Reason]prometheus.Counter{}}
	req := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idlink_bridge_requests_total", Help: "Userinfo requests by result.",
	}, []string{"result"})
	for _, r := range []string{resultOK, resultInvalid, resultConflict, resultUnavailable, resultBadRequest} {
		m.requests[r] = req.WithLabelValues(r)
	}
	fail := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idlink_bridge_verification_failures_total", Help: "Refused tokens by reason.",
	}, []string{"reason"})
	for _, r := range jwtverify.Reasons {
		m.failures[r] = fail.WithLabelValues(string(r))
	}
	m.latency = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "idlink_bridge_request_duration_seconds", Help: "Userinfo request latency.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
	})
	m.obsWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idlink_bridge_observation_writes_total",
		Help: "Synchronous observation writes by store outcome (new, known, conflict, error).",
	}, []string{"outcome"})
	for _, o := range []string{string(identity.ObservationNew), string(identity.ObservationKnown), string(identity.ObservationConflicting), "error"} {
		m.obsWrites.WithLabelValues(o)
	}
	m.cached = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "idlink_bridge_observations_coalesced_total",
		Help: "Sightings of known pairs answered from memory without a store write.",
	})
	m.flushVec = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "idlink_bridge_observation_flush_writes_total",
		Help: "Background writes of coalesced sightings by result.",
	}, []string{"result"})
	m.flushVec.WithLabelValues("ok")
	m.flushVec.WithLabelValues("error")
	m.reg.MustRegister(req, fail, m.latency, m.obsWrites, m.cached, m.flushVec,
		newKeyCollector(keyStats),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

func (m *metrics) observations(outcome string) {
	switch outcome {
	case "cached":
		m.cached.Inc()
	case "conflict_cached":
		// A repeat of a recorded conflict: no write, counted as a conflict request elsewhere.
	default:
		m.obsWrites.WithLabelValues(outcome).Inc()
	}
}

func (m *metrics) flushes(result string) { m.flushVec.WithLabelValues(result).Inc() }

// keyStat is one issuer's key cache state.
type keyStat struct {
	issuer          string
	keys            int
	fetches, failed int64
}

type keyCollector struct {
	stats                 func() []keyStat
	keys, fetches, failed *prometheus.Desc
}

func newKeyCollector(stats func() []keyStat) *keyCollector {
	return &keyCollector{
		stats:   stats,
		keys:    prometheus.NewDesc("idlink_bridge_jwks_keys", "Usable signing keys cached per issuer.", []string{"issuer"}, nil),
		fetches: prometheus.NewDesc("idlink_bridge_jwks_fetches_total", "JWKS document requests per issuer.", []string{"issuer"}, nil),
		failed:  prometheus.NewDesc("idlink_bridge_jwks_fetch_failures_total", "Failed JWKS refreshes per issuer.", []string{"issuer"}, nil),
	}
}

func (c *keyCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.keys
	ch <- c.fetches
	ch <- c.failed
}

func (c *keyCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.stats() {
		ch <- prometheus.MustNewConstMetric(c.keys, prometheus.GaugeValue, float64(s.keys), s.issuer)
		ch <- prometheus.MustNewConstMetric(c.fetches, prometheus.CounterValue, float64(s.fetches), s.issuer)
		ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(s.failed), s.issuer)
	}
}
