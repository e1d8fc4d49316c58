package scenario

import "fmt"

// Mess is why an Entra user or a Salesforce-only user looks the way it does.
// Every Entra user has exactly one; see the package comment for the
// situation each one leads to.
type Mess uint8

// Entra messes: one per Entra user, drawn in the proportions of Rates.
const (
	MessClean                 Mess = iota // provisioned by oid, never signed in
	MessSignedIn                          // provisioned; ThirdPartyAccountLink to the provisioned user
	MessLinked                            // as MessSignedIn plus an active Identity_Link__c from an earlier idlink run
	MessJITDuplicate                      // provisioned; an earlier sign-in JIT-created a duplicate that its ThirdPartyAccountLink points at
	MessRenamedUPN                        // provisioned; UPN and mail changed afterwards, Username and Email stale
	MessUPNOnly                           // a Salesforce user has Username = UPN (+ sandbox suffix) and no FederationIdentifier
	MessDisabled                          // accountEnabled false; provisioned user still active
	MessSoftDeleted                       // deleted into the recycle bin; provisioned user still active
	MessHardDeleted                       // permanently deleted; provisioned user still active
	MessDuplicateFederationID             // provisioned, and a second Salesforce user carries the same FederationIdentifier
	MessUnprovisioned                     // assigned to the app (in scope) but never provisioned
	MessOutOfScope                        // not assigned, not provisioned
	MessNestedOnly                        // only a member of a group nested in an assigned group: not in scope, not provisioned
	numEntraMess

	// Salesforce-only users, with no Entra user behind them.
	MessManualOrphan   // created by hand in Salesforce: no FederationIdentifier, Username no UPN
	MessLeftoverOrphan // left from another tenant: FederationIdentifier is no oid of this tenant
	MessIntegration    // API-only integration user (the job's own among them); never from Entra
	numMess
)

var messNames = [numMess]string{
	MessClean:                 "clean",
	MessSignedIn:              "signed-in",
	MessLinked:                "linked",
	MessJITDuplicate:          "jit-duplicate",
	MessRenamedUPN:            "renamed-upn",
	MessUPNOnly:               "upn-only",
	MessDisabled:              "disabled",
	MessSoftDeleted:           "soft-deleted",
	MessHardDeleted:           "hard-deleted",
	MessDuplicateFederationID: "duplicate-federation-id",
	MessUnprovisioned:         "unprovisioned",
	MessOutOfScope:            "out-of-scope",
	MessNestedOnly:            "nested-only",
	MessManualOrphan:          "manual-orphan",
	MessLeftoverOrphan:        "leftover-orphan",
	MessIntegration:           "integration-user",
}

// messFields names the Rates field of each Entra mess, for error messages.
var messFields = [numEntraMess]string{
	MessSignedIn:              "SignedIn",
	MessLinked:                "Linked",
	MessJITDuplicate:          "JITDuplicate",
	MessRenamedUPN:            "RenamedUPN",
	MessUPNOnly:               "UPNOnly",
	MessDisabled:              "Disabled",
	MessSoftDeleted:           "SoftDeleted",
	MessHardDeleted:           "HardDeleted",
	MessDuplicateFederationID: "DuplicateFederationID",
	MessUnprovisioned:         "Unprovisioned",
	MessOutOfScope:            "OutOfScope",
	MessNestedOnly:            "NestedOnly",
}

func (m Mess) String() string {
	if m < numMess {
		return messNames[m]
	}
	return fmt.Sprintf("mess(%d)", uint8(m))
}

// Messes lists every mess in order, Entra messes first.
func Messes() []Mess {
	out := make([]Mess, 0, numMess-1)
	for m := Mess(0); m < numMess; m++ {
		if m != numEntraMess {
			out = append(out, m)
		}
	}
	return out
}

// guestAllowed reports whether a user with this mess may be a guest. Guests
// are provisioned with their external mail as Username, so the UPN-based
// messes (renamed, UPN-only) do not apply to them; keeping the deletion
// messes for members only keeps the proportions easy to read.
func (m Mess) guestAllowed() bool {
	switch m {
	case MessClean, MessSignedIn, MessLinked, MessUnprovisioned, MessOutOfScope:
		return true
	}
	return false
}

// inScope reports whether a user with this mess is assigned to the app.
func (m Mess) inScope() bool {
	return m != MessOutOfScope && m != MessNestedOnly
}

// provisioned reports whether Entra provisioning created a Salesforce user
// (FederationIdentifier = oid) for a user with this mess.
func (m Mess) provisioned() bool {
	switch m {
	case MessUPNOnly, MessUnprovisioned, MessOutOfScope, MessNestedOnly:
		return false
	}
	return true
}

// Role is why one Salesforce user exists.
type Role uint8

const (
	RoleProvisioned    Role = iota // created by Entra provisioning: FederationIdentifier = oid, Username = UPN
	RoleJITDuplicate               // created by a JIT sign-in: no FederationIdentifier, Username = mail + ".jit"
	RoleSecondClaim                // a second user with the same FederationIdentifier (copied by an admin)
	RoleUPNOnly                    // Username = UPN, no FederationIdentifier (created before provisioning was set up)
	RoleManualOrphan               // created by hand, no Entra user
	RoleLeftoverOrphan             // FederationIdentifier from another tenant
	RoleIntegration                // API-only integration user
)

var roleNames = [...]string{"provisioned", "jit-duplicate", "second-claim", "upn-only", "manual-orphan", "leftover-orphan", "integration"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}
