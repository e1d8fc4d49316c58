package reconcile

import (
	"slices"
	"strings"

	"github.com/idlinkhq/idlink/internal/identity"
)

// foldKey is the case-insensitive key of a username, UPN or email address.
// strings.ToLower returns s unchanged when it has no upper case letters.
func foldKey(s string) string {
	return strings.ToLower(strings.TrimSpace(s))
}

// upnKeys returns the Salesforce Username keys a userPrincipalName may match:
// the UPN itself, then each configured suffix rewrite that applies, without
// repeats. Both sides are case-insensitive.
func upnKeys(upn string, rewrites []SuffixRewrite, buf []string) []string {
	buf = buf[:0]
	k := foldKey(upn)
	if k == "" {
		return buf
	}
	buf = append(buf, k)
	for _, rw := range rewrites {
		from := strings.ToLower(rw.From)
		if len(k) > len(from) && strings.HasSuffix(k, from) {
			r := k[:len(k)-len(from)] + strings.ToLower(rw.To)
			dup := false
			for _, x := range buf {
				if x == r {
					dup = true
					break
				}
			}
			if !dup {
				buf = append(buf, r)
			}
		}
	}
	return buf
}

// MatchesByObjectID reports whether a FederationIdentifier names the Entra
// object id oid, compared as the oid rule compares them.
func MatchesByObjectID(federationIdentifier, oid string) bool {
	fed, ok := identity.NormalizeGUID(federationIdentifier)
	o, ok2 := identity.NormalizeGUID(oid)
	return ok && ok2 && fed == o
}

// MatchesByUPN reports whether a Salesforce username is one the
// userPrincipalName may match, compared as the upn rule compares them (case
// folded, suffix rewrites included).
func MatchesByUPN(upn, username string, rewrites []SuffixRewrite) bool {
	k := foldKey(username)
	return k != "" && slices.Contains(upnKeys(upn, rewrites, nil), k)
}
