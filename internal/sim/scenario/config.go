package scenario

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

// Config describes the world to generate. Only Seed and Users are required;
// Generate fills every other zero field with the default named on it.
type Config struct {
	// Seed makes the world reproducible: the same Config gives a
	// byte-identical World.
	Seed int64
	// Users is the number of Entra users (members and guests, including the
	// disabled and deleted ones). Salesforce users are derived from them plus
	// the orphans and integration users. 1 to 5,000,000.
	Users int
	// TenantID is the Entra tenant (tid). Default: a GUID drawn from the seed.
	TenantID string
	// Domain is the verified domain of member UPNs. Default "contoso.com".
	Domain string
	// Providers are the OIDC clients (Salesforce Auth. Providers) users sign in
	// with. Default: one provider "EntraID" with a client id drawn from the seed.
	// Issuer defaults to the tenant's v2.0 issuer; Strategy to observed
	// (Entra ID's secret pairwise sub); object-id makes sub = oid.
	Providers []identity.Provider
	// SandboxName, when set, makes every provisioned Username the UPN plus
	// "." + SandboxName, as Salesforce does when it copies production into a
	// sandbox. Letters and digits, starting with a letter, at most 10.
	SandboxName string
	// IntegrationUsers is the number of API-only Salesforce users that Entra
	// never provisioned (the job's own integration user among them).
	// Default 1; set NoIntegrationUsers to have none.
	IntegrationUsers   int
	NoIntegrationUsers bool
	// Epoch and Now bound every generated timestamp. Defaults 2022-01-01 and
	// 2025-06-01 UTC (fixed, so that output never depends on the wall clock).
	Epoch, Now time.Time
	// Rates are the fractions of each mess. Nil means DefaultRates(); a
	// non-nil zero Rates gives a pristine world (every user clean).
	Rates *Rates
}

// Rates are fractions (0..1) of Config.Users for each kind of mess. The Entra
// messes (every field but Guest, ManualOrphan and LeftoverOrphan) are
// exclusive: each Entra user has exactly one Mess, the remainder is MessClean,
// so their sum must not exceed 1. Counts are exact: round(rate × Users).
type Rates struct {
	SignedIn              float64 // provisioned, signed in, ThirdPartyAccountLink to the provisioned user
	Linked                float64 // as SignedIn, and an Identity_Link__c row from an earlier idlink run
	JITDuplicate          float64 // an earlier sign-in JIT-created a second Salesforce user
	RenamedUPN            float64 // UPN and mail changed after provisioning; Username stale
	UPNOnly               float64 // Salesforce user has Username = UPN but no FederationIdentifier
	Disabled              float64 // accountEnabled false, Salesforce user still active
	SoftDeleted           float64 // in the recycle bin, Salesforce user still active
	HardDeleted           float64 // permanently deleted, Salesforce user still active
	DuplicateFederationID float64 // two Salesforce users carry the user's oid
	Unprovisioned         float64 // assigned to the app, never provisioned
	OutOfScope            float64 // not assigned to the app, not provisioned
	NestedOnly            float64 // only in a group nested inside an assigned group: out of scope
	// Guest is the fraction of guest users among the users whose mess allows
	// a guest (clean, signed-in, linked, unprovisioned, out-of-scope).
	Guest float64
	// ManualOrphan and LeftoverOrphan add Salesforce-only users (fraction of
	// Users): created by hand without FederationIdentifier, or left from
	// another tenant with a FederationIdentifier that is no oid here.
	ManualOrphan   float64
	LeftoverOrphan float64
}

// DefaultRates gives a few percent of each mess, about half the users clean.
func DefaultRates() Rates {
	return Rates{
		SignedIn:              0.15,
		Linked:                0.05,
		JITDuplicate:          0.03,
		RenamedUPN:            0.03,
		UPNOnly:               0.02,
		Disabled:              0.03,
		SoftDeleted:           0.02,
		HardDeleted:           0.02,
		DuplicateFederationID: 0.01,
		Unprovisioned:         0.03,
		OutOfScope:            0.08,
		NestedOnly:            0.01,
		Guest:                 0.05,
		ManualOrphan:          0.01,
		LeftoverOrphan:        0.01,
	}
}

// MaxUsers bounds Config.Users; the simulator is sized for one million.
const MaxUsers = 5_000_000

var (
	defaultEpoch = time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC)
	defaultNow   = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
)

// entraRates returns the exclusive Entra messes in Mess order with their rates.
func (r Rates) entraRates() [numEntraMess]float64 {
	var out [numEntraMess]float64
	out[MessSignedIn] = r.SignedIn
	out[MessLinked] = r.Linked
	out[MessJITDuplicate] = r.JITDuplicate
	out[MessRenamedUPN] = r.RenamedUPN
	out[MessUPNOnly] = r.UPNOnly
	out[MessDisabled] = r.Disabled
	out[MessSoftDeleted] = r.SoftDeleted
	out[MessHardDeleted] = r.HardDeleted
	out[MessDuplicateFederationID] = r.DuplicateFederationID
	out[MessUnprovisioned] = r.Unprovisioned
	out[MessOutOfScope] = r.OutOfScope
	out[MessNestedOnly] = r.NestedOnly
	return out
}

func (r Rates) validate() error {
	var errs []error
	check := func(name string, v float64) {
		if math.IsNaN(v) || v < 0 || v > 1 {
			errs = append(errs, fmt.Errorf("scenario: Rates.%s = %v: want a fraction between 0 and 1", name, v))
		}
	}
	rates := r.entraRates()
	sum := 0.0
	for m := MessSignedIn; m < numEntraMess; m++ {
		check(messFields[m], rates[m])
		sum += rates[m]
	}
	check("Guest", r.Guest)
	check("ManualOrphan", r.ManualOrphan)
	check("LeftoverOrphan", r.LeftoverOrphan)
	if sum > 1+1e-9 {
		errs = append(errs, fmt.Errorf("scenario: the Entra mess rates add up to %.4f: each user has one mess, so lower them to a sum of at most 1", sum))
	}
	return errors.Join(errs...)
}

// withDefaults validates cfg and returns it with every default filled in.
// Providers is copied so that the caller's slice is never changed.
func (cfg Config) withDefaults(newGUID func() string) (Config, error) {
	var errs []error
	if cfg.Users < 1 || cfg.Users > MaxUsers {
		errs = append(errs, fmt.Errorf("scenario: Config.Users = %d: want 1 to %d Entra users", cfg.Users, MaxUsers))
	}
	// Draw the defaults in a fixed order, whether used or not, so that the
	// rest of the world does not shift when a caller sets one of them.
	tid, clientID := newGUID(), newGUID()
	if cfg.TenantID == "" {
		cfg.TenantID = tid
	} else if norm, ok := identity.NormalizeGUID(cfg.TenantID); ok {
		cfg.TenantID = norm
	} else {
		errs = append(errs, fmt.Errorf("scenario: Config.TenantID %q is not a GUID (want 8-4-4-4-12 hex digits)", cfg.TenantID))
	}
	if cfg.Domain == "" {
		cfg.Domain = "contoso.com"
	}
	cfg.Domain = strings.ToLower(cfg.Domain)
	if !validDomain(cfg.Domain) {
		errs = append(errs, fmt.Errorf("scenario: Config.Domain %q is not a DNS domain such as contoso.com (letters, digits, hyphens, at least one dot)", cfg.Domain))
	}
	if cfg.SandboxName != "" && !validSandboxName(cfg.SandboxName) {
		errs = append(errs, fmt.Errorf("scenario: Config.SandboxName %q: Salesforce sandbox names are 1-10 letters or digits starting with a letter", cfg.SandboxName))
	}
	if cfg.IntegrationUsers < 0 {
		errs = append(errs, fmt.Errorf("scenario: Config.IntegrationUsers = %d: want 0 or more", cfg.IntegrationUsers))
	}
	if cfg.IntegrationUsers == 0 && !cfg.NoIntegrationUsers {
		cfg.IntegrationUsers = 1
	}
	if cfg.NoIntegrationUsers {
		cfg.IntegrationUsers = 0
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = defaultEpoch
	}
	if cfg.Now.IsZero() {
		cfg.Now = defaultNow
	}
	cfg.Epoch, cfg.Now = cfg.Epoch.UTC(), cfg.Now.UTC()
	if cfg.Now.Sub(cfg.Epoch) < 30*24*time.Hour {
		errs = append(errs, fmt.Errorf("scenario: Config.Now (%s) must be at least 30 days after Config.Epoch (%s)", cfg.Now.Format(time.RFC3339), cfg.Epoch.Format(time.RFC3339)))
	}
	if cfg.Rates == nil {
		r := DefaultRates()
		cfg.Rates = &r
	} else {
		r := *cfg.Rates
		cfg.Rates = &r
		if err := r.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(cfg.Providers) == 0 {
		cfg.Providers = []identity.Provider{{Name: "EntraID", ClientID: clientID}}
	} else {
		cfg.Providers = append([]identity.Provider(nil), cfg.Providers...)
	}
	names, clients := map[string]bool{}, map[string]bool{}
	for i := range cfg.Providers {
		p := &cfg.Providers[i]
		if p.Name == "" || p.ClientID == "" {
			errs = append(errs, fmt.Errorf("scenario: Config.Providers[%d] needs a Name (the Auth. Provider developer name) and a ClientID", i))
			continue
		}
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("scenario: Config.Providers[%d]: name %q is used twice; Auth. Provider names are unique", i, p.Name))
		}
		if clients[p.ClientID] {
			errs = append(errs, fmt.Errorf("scenario: Config.Providers[%d]: client id %q is used twice; give each provider its own app registration", i, p.ClientID))
		}
		names[p.Name], clients[p.ClientID] = true, true
		if p.Issuer == "" {
			p.Issuer = "https://login.microsoftonline.com/" + cfg.TenantID + "/v2.0"
		}
		switch p.Strategy {
		case "":
			p.Strategy = identity.StrategyObserved
		case identity.StrategyObserved, identity.StrategyObjectID:
		default:
			errs = append(errs, fmt.Errorf("scenario: Config.Providers[%d] strategy %q is not simulated: use %q (Entra ID's secret pairwise sub) or %q (sub = oid, as Azure AD B2C and Entra External ID)", i, p.Strategy, identity.StrategyObserved, identity.StrategyObjectID))
		}
	}
	return cfg, errors.Join(errs...)
}

func validDomain(d string) bool {
	if len(d) < 3 || len(d) > 200 || !strings.Contains(d, ".") {
		return false
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

func validSandboxName(s string) bool {
	if len(s) == 0 || len(s) > 10 {
		return false
	}
	for i, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !letter || !letter && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
