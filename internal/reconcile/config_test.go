package reconcile

import (
	"strings"
	"testing"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile/subject"
)

func TestConfigValidate(t *testing.T) {
	ok := observedCfg()
	tests := []struct {
		name string
		mod  func(*Config)
		want []string // substrings of the error; none = valid
	}{
		{"defaults are valid", func(*Config) {}, nil},
		{"no provider", func(c *Config) { c.Providers = nil }, []string{"no OIDC provider configured"}},
		{"email rule", func(c *Config) { c.Rules = []identity.Rule{identity.RuleObjectID, identity.RuleEmail} }, []string{"email is not allowed", "never links"}},
		{"email auto-link", func(c *Config) { c.AutoLink = []identity.Rule{identity.RuleEmail} }, []string{"auto-link rule email is not allowed"}},
		{"auto-link rule not matched", func(c *Config) {
			c.Rules = []identity.Rule{identity.RuleObjectID}
			c.AutoLink = []identity.Rule{identity.RuleUPN}
		}, []string{`auto-link rule "upn" is not among the match rules`}},
		{"unknown strategy", func(c *Config) { c.Providers[0].Strategy = "guess" }, []string{`strategy "guess" is unknown`}},
		{"duplicate provider", func(c *Config) { c.Providers = append(c.Providers, c.Providers[0]) }, []string{"used twice"}},
		{"pairwise without recipe", func(c *Config) {
			c.Providers[0].Strategy = identity.StrategyPairwise
			c.Providers[0].Pairwise = subject.Pairwise{Salt: "hunter2", Encoding: "rot13"}
		}, []string{"sector identifier is empty", `encoding "rot13" is unknown`}},
		{"bad rewrite", func(c *Config) { c.UPNRewrites = []SuffixRewrite{{From: "contoso.com", To: "@x"}} }, []string{"must be a domain suffix starting with @"}},
		{"bad orphan scope", func(c *Config) { c.Orphans = "some" }, []string{`orphan scope "some" is unknown`}},
		{"bad limits", func(c *Config) { c.Limits.MaxPercent = 150 }, []string{"max_change_percent is 150"}},
		{"a limit left out is refused, not read as off", func(c *Config) { c.Limits.MaxCreates = 0 }, []string{"max_creates is 0"}},
		{"no rules", func(c *Config) { c.Rules = nil }, []string{"no match rule"}},
		{"no orphan scope", func(c *Config) { c.Orphans = "" }, []string{`orphan scope "" is unknown`}},
		{"limits off", func(c *Config) { c.Limits = noLimits }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			c.Providers = append([]ProviderConfig(nil), ok.Providers...)
			tt.mod(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("want an error mentioning %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the salt: %v", err)
			}
			if _, perr := Plan(c, NewSnapshot()); perr == nil {
				t.Error("Plan accepted an invalid config")
			}
		})
	}
}

func TestLimitsExceeded(t *testing.T) {
	d := Limits{MaxChanges: 500, MaxPercent: 20, MaxCreates: 500, MaxCreatePercent: 20, MaxCoverageDrop: 10}
	tests := []struct {
		l                  Limits
		disruptive, active int
		want               bool
	}{
		{d, 0, 0, false},
		{d, 500, 100000, false},
		{d, 501, 100000, true}, // count
		{d, 3, 10, true},       // 30% > 20%
		{d, 2, 10, false},      // 20% is not more than 20%
		{d, 5, 0, false},       // first backfill: no active links, count only
		{noLimits, 1 << 20, 1, false},
		{Limits{MaxChanges: 10, MaxPercent: -1}, 11, 1000, true},
	}
	for _, tt := range tests {
		if got := tt.l.Exceeded(tt.disruptive, tt.active); got != tt.want {
			t.Errorf("%v.Exceeded(%d, %d) = %v, want %v", tt.l, tt.disruptive, tt.active, got, tt.want)
		}
	}
}
