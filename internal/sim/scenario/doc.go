// Package scenario generates the simulated world behind idlink's tests, demo
// and benchmarks: an Entra tenant (users, groups, app-role assignments of the
// Salesforce enterprise application) and the Salesforce org that Entra
// provisioned from it, with the messes real orgs have. It is pure data, no
// I/O: the HTTP simulators in internal/sim/entrasim and internal/sim/sfsim
// serve a World, and tests compare idlink's verdicts with World.Expected.
//
// # Determinism
//
// Generate(Config) draws everything (object ids, names, dates, the order of
// users, the secret behind pairwise subs) from one PCG generator seeded by
// Config.Seed, and never reads the clock: the same Config gives the same
// World byte for byte. Mutations draw from the same generator and are
// stamped with the world's own clock (Now, Advance), so a scripted sequence
// of mutations is reproducible too.
//
// # Who is in scope
//
// Entra users are in scope when the Salesforce app is assigned to them
// directly or to a group they are a direct member of. Members of a group
// nested inside an assigned group are NOT in scope: Entra does not cascade
// application assignment through nested groups (MessNestedOnly builds this
// trap on purpose). EntraUser.InScope is computed from World.Assignments and
// World.Groups, never set by hand.
//
// # Messes and the situation each one leads to (DESIGN §3)
//
// Every Entra user has one Mess; Salesforce-only users have their own. The
// table says what the generator builds and the situation Expected gives,
// for the state before idlink's first run: no idlink link exists except the
// Identity_Link__c rows of MessLinked (an earlier run), and the only
// observations are the bridge's (MessJITDuplicate). One expectation per
// identity per provider; a user's sign-in messes (signed-in, linked, JIT
// duplicate) happened with one provider, drawn from the seed; for every
// other provider the same user is plain "unlinked".
//
//	mess                     world                                                        situation      key
//	clean                    provisioned: FederationIdentifier = oid, Username = UPN     unlinked       entra:<oid>
//	signed-in                + ThirdPartyAccountLink(sub) → provisioned user              unlinked       entra:<oid>
//	                           (sub now known, but idlink has no link yet)
//	linked                   + Identity_Link__c(sub → provisioned user), active           linked         entra:<oid>
//	jit-duplicate            + a JIT-created user (no FederationIdentifier), its          misrouted      entra:<oid>
//	                           ThirdPartyAccountLink(sub) → duplicate, bridge observed
//	                           (sub, oid)
//	renamed-upn              UPN and mail changed after provisioning; Username stale     unlinked       entra:<oid>
//	upn-only                 Salesforce user with Username = UPN, no FederationIdentifier unlinked (UPN  entra:<oid>
//	                                                                                       rule: propose)
//	disabled                 accountEnabled false, Salesforce user active                 deprovisioned  entra:<oid>
//	soft-deleted             in the recycle bin, Salesforce user active                   deprovisioned  entra:<oid>
//	hard-deleted             gone from Entra; Salesforce user active, FederationIdentifier orphaned      salesforce:<Id>
//	                           = the dead oid
//	duplicate-federation-id  two Salesforce users with FederationIdentifier = oid         disputed       entra:<oid>
//	unprovisioned            assigned (in scope), no Salesforce user                      unmatched      entra:<oid>
//	out-of-scope             not assigned, no Salesforce user                             (none)
//	nested-only              only in a nested group, so not assigned, no Salesforce user  (none)
//	manual-orphan            Salesforce-only, no FederationIdentifier                     orphaned       salesforce:<Id>
//	leftover-orphan          Salesforce-only, FederationIdentifier from another tenant    orphaned       salesforce:<Id>
//	integration-user         Salesforce-only, API-only integration user                   orphaned       salesforce:<Id>
//
// Guests (userType Guest, #EXT# UPN) only occur with the clean, signed-in,
// linked, unprovisioned and out-of-scope messes and get the same situation as
// a member would; provisioning wrote their external mail as Username, so
// they match by oid only. Entra always has a UPN, so the generator never
// makes a user without one.
//
// # The rules of Expected, in order
//
// The situation never depends on the mess labels (only the reason text may
// mention them): Expected applies these rules to the data a run reads, so it
// stays right after mutations. For Entra user u (not
// permanently deleted) and provider p, with sub = Subject(p.ClientID, u.oid):
//
//  0. candidates: byOID = Salesforce users with FederationIdentifier = oid
//     (GUIDs compared canonically); byUPN = the Salesforce user without
//     FederationIdentifier whose Username = UPN + sandbox suffix (case-
//     insensitive). The sub is "known" when the bridge recorded (p, sub, oid),
//     or always for a provider whose Strategy is object-id (sub = oid).
//     Email never counts.
//  1. deprovisioned: u is disabled or soft-deleted, and a candidate (or the
//     target of the known sub's ThirdPartyAccountLink, or an active
//     Identity_Link__c of u) is active. If nothing is active: no expectation.
//  2. disputed: more than one byOID, or byOID and byUPN name different users.
//  3. unmatched: no candidate, u in scope. No candidate and out of scope: no
//     expectation (not idlink's business).
//  4. misrouted: the sub is known and its ThirdPartyAccountLink points at
//     a Salesforce user other than the match.
//  5. linked: an active Identity_Link__c (p, sub) of u points at the match.
//  6. unlinked: everything else that matched; by UPN only it is a proposal for
//     an admin, never an automatic link. Scope does not matter once matched.
//
// Salesforce users that no Entra user's rules touched (candidates, and the
// target of a known sub's ThirdPartyAccountLink) are orphaned, one expectation per provider:
// their Entra identity never existed here (no or foreign
// FederationIdentifier, integration users) or is gone (permanently deleted).
// A soft-deleted user's identity still exists, restorable, so its
// Salesforce user counts under "deprovisioned", not "orphaned". A JIT
// duplicate has no key of its own: it belongs to its user's "misrouted".
//
// # Changes over time
//
// RenameUPN, Disable, Enable, SoftDelete, HardDelete, Restore, AddUser and
// Reassign change the Entra side only (Salesforce lags, as when provisioning
// has not run yet) and append to a change log: Version, ChangesSince and
// Tombstones let a Graph delta simulator answer from it.
package scenario
