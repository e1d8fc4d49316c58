package sfsim

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// LinkState is the Identity_Link__c found for (provider, sub) at sign-in.
type LinkState string

const (
	LinkNone    LinkState = "none"
	LinkActive  LinkState = "active"
	LinkRevoked LinkState = "revoked"
)

// TenantState is what the userinfo's tid says about the tenant.
type TenantState string

const (
	TenantConfigured TenantState = "configured"
	TenantOther      TenantState = "other"
	TenantMissing    TenantState = "missing"
)

// Outcome is the registration handler's decision (the "outcome" column of
// configs/salesforce/decision-table.json).
type Outcome string

const (
	OutcomeLinkUser       Outcome = "link-user"
	OutcomeFederationUser Outcome = "federation-user"
	OutcomeCreateUser     Outcome = "create-user"
	OutcomeFailPending    Outcome = "fail-pending"
	OutcomeFailInactive   Outcome = "fail-inactive"
	OutcomeFailAmbiguous  Outcome = "fail-ambiguous"
	// OutcomeAccountLinkUser is confirmUser keeping the user the existing
	// ThirdPartyAccountLink points at.
	OutcomeAccountLinkUser Outcome = "account-link-user"
)

// Handler is the registration handler method Salesforce calls.
type Handler string

const (
	// HandlerCreate: no ThirdPartyAccountLink exists for the sub.
	HandlerCreate Handler = "createUser"
	// HandlerConfirm: a ThirdPartyAccountLink exists
	// (Auth.ConfirmUserRegistrationHandler.confirmUser, called before
	// updateUser; it returns the Id of the user to sign in).
	HandlerConfirm Handler = "confirmUser"
)

// Failed reports whether the sign-in is refused.
func (o Outcome) Failed() bool {
	return o == OutcomeFailPending || o == OutcomeFailInactive || o == OutcomeFailAmbiguous
}

// Message is what the person signing in is shown for a failure (the same
// words as the Apex handler: what to do, nothing about the data behind it).
func (o Outcome) Message() string {
	switch o {
	case OutcomeFailPending:
		return "No Salesforce account is linked to this sign-in yet. Your account is being linked: try again in a few minutes, or contact your administrator if this persists."
	case OutcomeFailInactive:
		return "The Salesforce account linked to this sign-in is deactivated. Contact your administrator."
	case OutcomeFailAmbiguous:
		return "Several Salesforce accounts claim this identity. Your administrator must resolve it before you can sign in."
	}
	return ""
}

// DecisionInput holds the facts of one sign-in, one field per input column
// of decision-table.json (the JSON names are the table's).
type DecisionInput struct {
	Handler                 Handler     `json:"handler"`
	Link                    LinkState   `json:"link"`
	LinkUserActive          bool        `json:"linkUserActive"`
	OID                     bool        `json:"oid"`
	TID                     TenantState `json:"tid"`
	FederationMatches       int         `json:"federationMatches"`
	FederationInactiveMatch bool        `json:"federationInactiveMatch"`
	EmailMatches            bool        `json:"emailMatches"`
	JIT                     bool        `json:"jit"`
	// AccountLinkUserActive: confirmUser only, whether the user the
	// existing ThirdPartyAccountLink points at is active.
	AccountLinkUserActive bool `json:"accountLinkUserActive"`
}

// Decide is the registration handler's decision, free of I/O, for both
// methods Salesforce calls:
//  1. an active Identity_Link__c decides alone (its user if active, else a
//     failure: a link to a deactivated account never falls through to another);
//  2. with an oid from the configured tenant, exactly one active user whose
//     FederationIdentifier is that oid; several is a failure, and so is a
//     deactivated user alone with that oid;
//  3. createUser: JIT creation when enabled, otherwise fail; confirmUser: the
//     user the existing ThirdPartyAccountLink points at when active (nothing
//     changes), otherwise fail. confirmUser never creates a user.
//
// Email never decides.
func Decide(in DecisionInput) Outcome {
	if in.Link == LinkActive {
		if in.LinkUserActive {
			return OutcomeLinkUser
		}
		return OutcomeFailInactive
	}
	if in.OID && in.TID == TenantConfigured {
		switch {
		case in.FederationMatches == 1:
			return OutcomeFederationUser
		case in.FederationMatches > 1:
			return OutcomeFailAmbiguous
		case in.FederationInactiveMatch:
			// The person's provisioned account is deactivated: neither JIT
			// nor a duplicate's old link may let them in behind the admin's back.
			return OutcomeFailInactive
		}
	}
	if in.Handler == HandlerConfirm {
		if in.AccountLinkUserActive {
			return OutcomeAccountLinkUser
		}
		return OutcomeFailInactive
	}
	if in.JIT {
		return OutcomeCreateUser
	}
	return OutcomeFailPending
}

// SignInConfig is the Auth. Provider and registration handler setup.
type SignInConfig struct {
	// Provider is the Auth. Provider's developer name (SsoProviderName).
	Provider string
	// TenantID is the Entra tenant the handler trusts for oid matching.
	TenantID string
	// JIT enables creating a user when nothing matches (a duplicate when the
	// person already has an account).
	JIT bool
	// JITUsernameSuffix is appended to usernames of JIT users (default ".jit").
	JITUsernameSuffix string
	// LegacyHandler is a registration handler that does not implement
	// Auth.ConfirmUserRegistrationHandler (what orgs run before idlink): an
	// existing ThirdPartyAccountLink then decides alone.
	LegacyHandler bool
	// RepointOnConfirm makes the org re-point the ThirdPartyAccountLink to
	// the user confirmUser returned. Salesforce does not document whether it
	// does; idlink decides routing again at every sign-in so that either
	// answer works, and the tests run both.
	RepointOnConfirm bool
}

// SignInResult is what one simulated sign-in did.
type SignInResult struct {
	// Subject is the sub the userinfo endpoint returned.
	Subject string
	// ExistingLink is true when Salesforce found a ThirdPartyAccountLink for
	// (provider, sub): confirmUser ran instead of createUser (or, with a
	// LegacyHandler, nothing ran and the link decided).
	ExistingLink bool
	// AccountLinkUserID is the user the existing ThirdPartyAccountLink
	// pointed at before the sign-in.
	AccountLinkUserID string
	// Routed is true when confirmUser signed the person in as another user
	// than the existing ThirdPartyAccountLink's.
	Routed bool
	// Decision is the handler's input, set when createUser or confirmUser ran.
	Decision *DecisionInput
	// Outcome is the handler's decision (account-link-user when a
	// LegacyHandler let the existing link decide).
	Outcome Outcome
	// UserID is the user signed in; empty on failure.
	UserID string
	// CreatedUser is true when JIT created UserID.
	CreatedUser bool
	// AccountLink is the link used or created; zero on failure.
	AccountLink identity.ThirdPartyAccountLink
	// Message is shown to the person when the sign-in fails.
	Message string
}

// SignIn emulates an OpenID Connect login through an Auth. Provider whose
// user info endpoint is userinfoURL (Entra's own, or idlink's bridge): it
// calls it with the access token, then does what Salesforce does
// (https://help.salesforce.com/s/articleView?id=sf.sso_provider_openid_connect.htm
// and the Auth.RegistrationHandler and Auth.ConfirmUserRegistrationHandler
// references): when a ThirdPartyAccountLink for (provider, sub) exists,
// confirmUser runs and names the user to sign in; otherwise createUser runs
// and, when it returns a user, Salesforce creates the ThirdPartyAccountLink.
// Both decide through Decide, the rows of decision-table.json.
// client must trust the userinfo endpoint's certificate.
func (s *Server) SignIn(ctx context.Context, client *http.Client, userinfoURL, accessToken string, cfg SignInConfig) (SignInResult, error) {
	if cfg.Provider == "" {
		return SignInResult{}, fmt.Errorf("sim salesforce sign-in: SignInConfig.Provider (the Auth. Provider developer name) is empty")
	}
	claims, err := fetchUserinfo(ctx, client, userinfoURL, accessToken)
	if err != nil {
		return SignInResult{}, err
	}
	sub, _ := claims["sub"].(string)
	if sub == "" {
		return SignInResult{}, fmt.Errorf("sim salesforce sign-in: userinfo from %s has no sub claim", userinfoURL)
	}
	return s.Org.signIn(claims, sub, cfg)
}

func fetchUserinfo(ctx context.Context, client *http.Client, userinfoURL, accessToken string) (map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, userinfoURL, nil)
	if err != nil {
		return nil, fmt.Errorf("sim salesforce sign-in: userinfo request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sim salesforce sign-in: call userinfo %s: %w", userinfoURL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("sim salesforce sign-in: read userinfo: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sim salesforce sign-in: userinfo %s answered %d: %.200s", userinfoURL, resp.StatusCode, body)
	}
	claims := map[string]any{}
	if err := json.Unmarshal(body, &claims); err != nil {
		return nil, fmt.Errorf("sim salesforce sign-in: userinfo is not a JSON object: %w", err)
	}
	return claims, nil
}

func (o *Org) signIn(claims map[string]any, sub string, cfg SignInConfig) (SignInResult, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	res := SignInResult{Subject: sub}
	if i, ok := o.tpalByKey[cfg.Provider+"\x00"+sub]; ok {
		return o.confirm(claims, sub, cfg, i)
	}
	in, linkUser, fedUser := o.facts(claims, sub, cfg)
	res.Decision = &in
	res.Outcome = Decide(in)
	switch res.Outcome {
	case OutcomeLinkUser:
		res.UserID = linkUser
	case OutcomeFederationUser:
		res.UserID = fedUser
	case OutcomeCreateUser:
		id, err := o.createJITUser(claims, sub, cfg)
		if err != nil {
			return res, err
		}
		res.UserID, res.CreatedUser = id, true
	default:
		res.Message = res.Outcome.Message()
		return res, nil
	}
	handle, _ := claims["preferred_username"].(string)
	tl := identity.ThirdPartyAccountLink{Provider: cfg.Provider, RemoteIdentifier: sub, UserID: res.UserID}
	id, err := o.addAccountLinkLocked(tl)
	if err != nil {
		return res, err
	}
	o.accountLinks.rows[o.tpalByKey[cfg.Provider+"\x00"+sub]].handle = handle
	tl.ID = id
	res.AccountLink = tl
	return res, nil
}

// confirm is a sign-in whose sub already has the ThirdPartyAccountLink at
// row i: Salesforce calls confirmUser before updateUser (Apex Reference,
// "ConfirmUserRegistrationHandler Interface") and signs in the user it
// returns. A legacy handler has no confirmUser: the link decides alone.
func (o *Org) confirm(claims map[string]any, sub string, cfg SignInConfig, i int32) (SignInResult, error) {
	l := o.accountLinks.rows[i]
	res := SignInResult{Subject: sub, ExistingLink: true, AccountLinkUserID: l.userID}
	active := false
	if u, ok := o.userByID[l.userID]; ok {
		active = o.users.rows[u].isActive
	}
	if cfg.LegacyHandler {
		res.Outcome = OutcomeAccountLinkUser
		if !active {
			res.Outcome = OutcomeFailInactive
		}
	} else {
		in, linkUser, fedUser := o.facts(claims, sub, cfg)
		in.Handler, in.AccountLinkUserActive = HandlerConfirm, active
		res.Decision = &in
		res.Outcome = Decide(in)
		switch res.Outcome {
		case OutcomeLinkUser:
			res.UserID = linkUser
		case OutcomeFederationUser:
			res.UserID = fedUser
		}
	}
	if res.Outcome.Failed() {
		res.Message = res.Outcome.Message()
		return res, nil
	}
	if res.Outcome == OutcomeAccountLinkUser {
		res.UserID = l.userID
	}
	res.Routed = res.UserID != l.userID
	if res.Routed && cfg.RepointOnConfirm {
		o.accountLinks.rows[i].userID = res.UserID
		l.userID = res.UserID
	}
	res.AccountLink = identity.ThirdPartyAccountLink{ID: l.id, Provider: l.providerName, RemoteIdentifier: l.remoteID, UserID: l.userID}
	return res, nil
}

// facts gathers the decision inputs from the org (under the write lock).
func (o *Org) facts(claims map[string]any, sub string, cfg SignInConfig) (in DecisionInput, linkUser, fedUser string) {
	in = DecisionInput{Handler: HandlerCreate, Link: LinkNone, TID: TenantMissing, JIT: cfg.JIT}
	if i, ok := o.linkBySub[sub]; ok {
		l := o.links.rows[i]
		if l.provider == "" || l.provider == cfg.Provider {
			in.Link = LinkRevoked
			if l.status == "Active" {
				in.Link = LinkActive
				linkUser = l.userID
				if u, ok := o.userByID[l.userID]; ok {
					in.LinkUserActive = o.users.rows[u].isActive
				}
			}
		}
	}
	oidClaim, _ := claims["oid"].(string)
	oid, oidOK := identity.NormalizeGUID(oidClaim)
	in.OID = oidOK
	if tid, _ := claims["tid"].(string); tid != "" {
		in.TID = TenantOther
		if want, ok := identity.NormalizeGUID(cfg.TenantID); ok {
			if got, ok := identity.NormalizeGUID(tid); ok && got == want {
				in.TID = TenantConfigured
			}
		}
	}
	email, _ := claims["email"].(string)
	for _, u := range o.users.rows {
		if oidOK && u.federationID != "" {
			if fid, ok := identity.NormalizeGUID(u.federationID); ok && fid == oid {
				if u.isActive {
					in.FederationMatches++
					fedUser = u.id
				} else {
					in.FederationInactiveMatch = true
				}
			}
		}
		if email != "" && strings.EqualFold(u.email, email) {
			in.EmailMatches = true
		}
	}
	in.FederationMatches = min(in.FederationMatches, 2)
	return in, linkUser, fedUser
}

func (o *Org) createJITUser(claims map[string]any, sub string, cfg SignInConfig) (string, error) {
	suffix := cfg.JITUsernameSuffix
	if suffix == "" {
		suffix = ".jit"
	}
	base, _ := claims["preferred_username"].(string)
	email, _ := claims["email"].(string)
	if base == "" {
		base = email
	}
	if base == "" || !strings.Contains(base, "@") {
		base = "user-" + strings.ToLower(sub[:min(len(sub), 12)]) + "@jit.invalid"
	}
	name := base + suffix
	for n := 2; ; n++ {
		if _, taken := o.userByName[strings.ToLower(name)]; !taken {
			break
		}
		name = base + suffix + strconv.Itoa(n)
	}
	now := o.nowMillis()
	id := o.newID(prefixUser)
	row := userRow{id: id, username: name, email: email, userType: "Standard", isActive: true, created: now, modstamp: now}
	i := appendRow(&o.users, row, id, func(r userRow) string { return r.id })
	o.userByID[id] = i
	o.userByName[strings.ToLower(name)] = i
	return id, nil
}
