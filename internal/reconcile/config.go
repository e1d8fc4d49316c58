// Package reconcile is the core of idlink: it matches Entra users with
// Salesforce users, resolves each user's subject per OIDC provider, decides one
// situation per identity and provider, and computes a deterministic plan of
// link changes (Plan, pure: data in, plan out). Apply executes a plan through
// small interfaces declared here, behind a safety limit.
package reconcile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile/subject"
)

// ProviderConfig is one OIDC provider and how its subjects are known.
type ProviderConfig struct {
	identity.Provider
	// Pairwise is the recipe when Strategy is pairwise. The local account id
	// hashed is the Entra object id (lower case): the issuer must use the oid
	// as its local account id.
	Pairwise subject.Pairwise
	// RevokeAccountLinks plans revoking Salesforce's ThirdPartyAccountLink
	// of a misrouted subject once idlink's correct link is in Salesforce
	// (through the package's revocation resource, which serves one Auth.
	// Provider). Off by default: with the package's confirmUser the wrong
	// link no longer decides where the person lands, and a revoke is a
	// disruptive change.
	RevokeAccountLinks bool
}

// SuffixRewrite maps a userPrincipalName suffix to a Salesforce Username
// suffix, e.g. "@contoso.com" -> "@contoso.com.uat" for a sandbox.
type SuffixRewrite struct {
	From string
	To   string
}

// OrphanScope says which unmatched Salesforce users are reported as orphaned.
type OrphanScope string

const (
	// OrphansProvisioned: only users that look provisioned by Entra: a
	// FederationIdentifier is set, or a link or ThirdPartyAccountLink of a
	// configured provider points at them.
	OrphansProvisioned OrphanScope = "provisioned"
	// OrphansAll: every active Salesforce user of type Standard (or no type),
	// i.e. not integration, automated-process, partner or portal users.
	OrphansAll OrphanScope = "all"
)

// Limits is the safety limit on disruptive changes: revoking a link that is
// active, or re-pointing an active link to another Salesforce user.
type Limits struct {
	// MaxChanges holds the plan when it would make more disruptive changes
	// than this; -1 switches the count limit off.
	MaxChanges int
	// MaxPercent holds the plan when disruptive changes exceed this share of
	// the currently active links (0 < p <= 100); -1 switches it off.
	MaxPercent float64
	// MaxCreates holds the plan when, with links already active, it would
	// create more links with computed subjects (object-id, pairwise) than
	// this: a changed strategy, salt or sector identifier would otherwise
	// write a wrong link for everyone at once. Links whose subject a sign-in
	// or import proved are not counted. -1 switches it off.
	MaxCreates int
	// MaxCreatePercent is the same limit as a share of the matched
	// identities (0 < p <= 100); -1 switches it off.
	MaxCreatePercent float64
	// MaxCoverageDrop holds the plan when linked coverage would fall by more
	// than this many percentage points below the previous successful run
	// (a renamed provider, a broken scope); -1 switches it off.
	MaxCoverageDrop float64
}

// Validate refuses a limit that is neither positive nor -1. Zero is refused
// rather than read as "off" or "default": a limit left out by mistake must
// not switch the safety net off.
func (l Limits) Validate() error {
	var errs []error
	count := func(name string, v int) {
		if v != -1 && v < 1 {
			errs = append(errs, fmt.Errorf("safety limit %s is %d: use a count of 1 or more, or -1 to switch it off", name, v))
		}
	}
	share := func(name string, v float64) {
		if v != -1 && (v <= 0 || v > 100) {
			errs = append(errs, fmt.Errorf("safety limit %s is %v: use a value within 0 < v <= 100, or -1 to switch it off", name, v))
		}
	}
	count("max_changes", l.MaxChanges)
	share("max_change_percent", l.MaxPercent)
	count("max_creates", l.MaxCreates)
	share("max_create_percent", l.MaxCreatePercent)
	share("max_coverage_drop", l.MaxCoverageDrop)
	return errors.Join(errs...)
}

// Config is everything the core needs to decide.
type Config struct {
	Providers []ProviderConfig
	// Rules are the match rules in precedence order. Default: oid, upn.
	// Email is never a rule.
	Rules []identity.Rule
	// UPNRewrites are tried in addition to the plain userPrincipalName.
	UPNRewrites []SuffixRewrite
	// AutoLink are the rules whose matches link without an admin's approval.
	// Default: oid only. Adding upn is a deliberate widening.
	AutoLink []identity.Rule
	// Orphans is the orphan scope. Default: all.
	Orphans OrphanScope
	Limits  Limits
	// StoreID is this idlink database's id; AdoptedStores are the other
	// databases whose Identity_Link__c rows an admin adopted. Active rows of
	// any other database hold the run: two databases on one org would undo
	// each other. Rows without a store id (written before the field existed)
	// count as this database's.
	StoreID       string
	AdoptedStores []string
}

// Validate reports every problem in c with its fix. The core keeps no
// defaults: internal/config owns every one, so an empty setting here is a
// mistake of the caller, not a request for a default.
func (c Config) Validate() error {
	errs := c.providerErrors()
	errs = append(errs, c.ruleErrors()...)
	for i, rw := range c.UPNRewrites {
		if !strings.HasPrefix(rw.From, "@") || !strings.HasPrefix(rw.To, "@") || len(rw.From) < 2 || len(rw.To) < 2 {
			errs = append(errs, fmt.Errorf("upn_rewrites[%d] %q -> %q: both sides must be a domain suffix starting with @, e.g. @contoso.com -> @contoso.com.uat", i, rw.From, rw.To))
		}
	}
	switch c.Orphans {
	case OrphansProvisioned, OrphansAll:
	default: // including "": the scope is a choice, not a default
		errs = append(errs, fmt.Errorf("orphan scope %q is unknown: use provisioned or all", c.Orphans))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// providerErrors: at least one provider, each named once, with a known
// strategy (and a valid recipe for pairwise).
func (c Config) providerErrors() []error {
	var errs []error
	if len(c.Providers) == 0 {
		errs = append(errs, errors.New("no OIDC provider configured: add one under providers (name = the Auth. Provider's developer name)"))
	}
	seen := map[string]bool{}
	for i, p := range c.Providers {
		where := fmt.Sprintf("providers[%d] (%q)", i, p.Name)
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is empty: set it to the Auth. Provider's developer name (ThirdPartyAccountLink.SsoProviderName)", where))
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("%s: name is used twice: each Auth. Provider appears once", where))
		}
		seen[p.Name] = true
		switch p.Strategy {
		case identity.StrategyObjectID, identity.StrategyObserved:
		case identity.StrategyPairwise:
			if err := p.Pairwise.Validate(); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: strategy %q is unknown: use object-id, pairwise or observed", where, p.Strategy))
		}
	}
	return errs
}

// ruleErrors: match rules oid and/or upn, each once (email never links),
// and auto-link rules among them.
func (c Config) ruleErrors() []error {
	var errs []error
	ruleSeen := map[identity.Rule]bool{}
	for _, r := range c.Rules {
		switch r {
		case identity.RuleObjectID, identity.RuleUPN:
		case identity.RuleEmail:
			errs = append(errs, errors.New("match rule email is not allowed: an email address never links (it is only shown to admins as a candidate); remove it from rules"))
		default:
			errs = append(errs, fmt.Errorf("match rule %q is unknown: use oid and/or upn", r))
		}
		if ruleSeen[r] {
			errs = append(errs, fmt.Errorf("match rule %q is listed twice", r))
		}
		ruleSeen[r] = true
	}
	if len(c.Rules) == 0 {
		errs = append(errs, errors.New("no match rule: use oid and/or upn"))
	}
	for _, r := range c.AutoLink {
		switch r {
		case identity.RuleObjectID, identity.RuleUPN:
			if !ruleSeen[r] {
				errs = append(errs, fmt.Errorf("auto-link rule %q is not among the match rules: add it to rules or remove it from auto_link", r))
			}
		case identity.RuleEmail:
			errs = append(errs, errors.New("auto-link rule email is not allowed: an email address never links"))
		default:
			errs = append(errs, fmt.Errorf("auto-link rule %q is unknown: use oid and/or upn", r))
		}
	}
	return errs
}
