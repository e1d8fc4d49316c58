package entra

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/jsonscan"
)

// selectUsers is the $select of every users call: only what idlink needs.
// With delta it also decides which property changes Graph reports.
const selectUsers = "id,userPrincipalName,mail,displayName,givenName,surname,accountEnabled,userType"

// optString remembers whether a property was present in the JSON and whether
// it was null: in a delta page an absent property is unchanged, a null one
// was cleared.
type optString struct {
	set bool
	v   string
}

func (o *optString) UnmarshalJSON(b []byte) error {
	o.set = true
	if string(b) == "null" {
		o.v = ""
		return nil
	}
	// Fast path: a quoted string without escapes (encoding/json has already
	// validated the token).
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		o.v = string(b[1 : len(b)-1])
		return nil
	}
	return json.Unmarshal(b, &o.v)
}

type optBool struct {
	set bool
	v   bool
}

func (o *optBool) UnmarshalJSON(b []byte) error {
	o.set = true
	if string(b) == "null" {
		o.v = false
		return nil
	}
	return json.Unmarshal(b, &o.v)
}

type wireUser struct {
	ODataType      string    `json:"@odata.type"`
	ID             string    `json:"id"`
	UPN            optString `json:"userPrincipalName"`
	Mail           optString `json:"mail"`
	DisplayName    optString `json:"displayName"`
	GivenName      optString `json:"givenName"`
	Surname        optString `json:"surname"`
	AccountEnabled optBool   `json:"accountEnabled"`
	UserType       optString `json:"userType"`
	Removed        *struct {
		Reason string `json:"reason"`
	} `json:"@removed"`
}

type userPage struct {
	NextLink  string     `json:"@odata.nextLink"`
	DeltaLink string     `json:"@odata.deltaLink"`
	Value     []wireUser `json:"value"`
}

// memberPage is a page of a group's members: only their type and id, read
// without a string per member (a million-member scope is read whole).
type memberPage struct {
	NextLink string   `json:"@odata.nextLink"`
	Value    []member `json:"value"`
}

type member struct {
	Type memberType `json:"@odata.type"`
	ID   memberID   `json:"id"`
}

// decodeMemberPage decodes into p, reusing its slice (as decodeUserPage).
// A scan of the page's structure reads the two fields of each member
// (encoding/json took 0.7 s of a scheduled run's 4.5 s of CPU at a million
// members); a page the scan does not expect is decoded by encoding/json,
// which also says what is wrong with it. The scan checks the structure and
// the values it reads, not the scalars it skips.
func decodeMemberPage(body []byte, p *memberPage) error {
	return decodeListPage(body, p, &p.NextLink, &p.Value, memberField)
}

// scanMemberPage decodes a member page as encoding/json would, or reports
// false when it meets what it does not handle itself: a key that is not
// plain ASCII, a value of the wrong type, anything after the page.
func scanMemberPage(b []byte, p *memberPage) bool {
	return scanListPage(b, &p.NextLink, &p.Value, memberField)
}

func memberField(m *member, key, raw []byte) bool {
	switch {
	case jsonscan.Key(key, "@odata.type"):
		return m.Type.UnmarshalJSON(raw) == nil
	case jsonscan.Key(key, "id"):
		return m.ID.UnmarshalJSON(raw) == nil
	}
	return true
}

// decodeListPage decodes body into page, whose only fields are its link,
// next, and its objects, value (whose memory it reuses): by scanListPage
// when the scan reads it, else by encoding/json.
func decodeListPage[T any](body []byte, page any, next *string, value *[]T, field func(x *T, key, raw []byte) bool) error {
	reset := func() {
		v := (*value)[:cap(*value)]
		clear(v)
		*next, *value = "", v[:0]
	}
	reset()
	if scanListPage(body, next, value, field) {
		return nil
	}
	reset()
	return json.Unmarshal(body, page)
}

// scanListPage reads a Graph collection page: its @odata.nextLink into next
// and the objects of its value onto *value, each of an object's fields
// handed to field (which reports false for a value it does not accept). It
// reports false for a page it does not handle; the caller then decodes the
// page with encoding/json, which also says what is wrong with it.
func scanListPage[T any](b []byte, next *string, value *[]T, field func(x *T, key, raw []byte) bool) bool {
	sawValue := false
	end, ok := jsonscan.Object(b, jsonscan.Space(b, 0), func(key []byte, v int) (int, bool) {
		switch {
		case jsonscan.Key(key, "@odata.nextLink"):
			vend := jsonscan.ValueEnd(b, v)
			return vend, vend >= 0 && string(b[v:vend]) != "null" && jsonscan.Text(next, b[v:vend])
		case jsonscan.Key(key, "value"):
			if sawValue || v >= len(b) || b[v] != '[' {
				return 0, false
			}
			sawValue = true
			return jsonscan.Array(b, v, func(v int) (int, bool) {
				var x T
				end, ok := jsonscan.Object(b, v, func(key []byte, v int) (int, bool) {
					vend := jsonscan.ValueEnd(b, v)
					return vend, vend >= 0 && field(&x, key, b[v:vend])
				})
				*value = append(*value, x)
				return end, ok
			})
		}
		vend := jsonscan.ValueEnd(b, v)
		return vend, vend >= 0
	})
	return ok && jsonscan.Space(b, end) == len(b)
}

// assignmentPage is a page of the Salesforce application's assignments
// (appRoleAssignedTo): who, by id and kind. A million-user scope is read
// whole every run, so it is read like the member pages.
type assignmentPage struct {
	NextLink string       `json:"@odata.nextLink"`
	Value    []assignment `json:"value"`
}

type assignment struct {
	PrincipalID   memberID      `json:"principalId"`
	PrincipalType principalType `json:"principalType"`
}

// decodeAssignmentPage decodes into p, reusing its slice (as decodeMemberPage).
func decodeAssignmentPage(body []byte, p *assignmentPage) error {
	return decodeListPage(body, p, &p.NextLink, &p.Value, func(a *assignment, key, raw []byte) bool {
		switch {
		case jsonscan.Key(key, "principalId"):
			return a.PrincipalID.UnmarshalJSON(raw) == nil
		case jsonscan.Key(key, "principalType"):
			return a.PrincipalType.UnmarshalJSON(raw) == nil
		}
		return true
	})
}

// principalType is an assignment's principalType: User, Group or anything
// else (ServicePrincipal), compared without case.
type principalType uint8

const (
	principalOther principalType = iota
	principalUser
	principalGroup
)

func (t *principalType) UnmarshalJSON(b []byte) error {
	s, err := jsonscan.String(b)
	if err != nil {
		return err
	}
	switch {
	case bytes.EqualFold(s, []byte("User")):
		*t = principalUser
	case bytes.EqualFold(s, []byte("Group")):
		*t = principalGroup
	default:
		*t = principalOther
	}
	return nil
}

// memberType is a member's @odata.type: absent (a user, as /users lists
// them), a user, a group or anything else (devices, service principals,
// contacts), compared without case.
type memberType uint8

const (
	memberAbsent memberType = iota
	memberUser
	memberGroup
	memberOther
)

func (t memberType) user() bool { return t == memberAbsent || t == memberUser }

func (t *memberType) UnmarshalJSON(b []byte) error {
	s, err := jsonscan.String(b)
	if err != nil {
		return err
	}
	switch {
	case s == nil:
		*t = memberAbsent
	case bytes.EqualFold(s, []byte("#microsoft.graph.user")):
		*t = memberUser
	case bytes.EqualFold(s, []byte("#microsoft.graph.group")):
		*t = memberGroup
	default:
		*t = memberOther
	}
	return nil
}

// memberID is a member's id, packed; ok is false when it is not a GUID
// (never linked on).
type memberID struct {
	id identity.ObjectID
	ok bool
}

func (m *memberID) UnmarshalJSON(b []byte) error {
	s, err := jsonscan.String(b)
	if err != nil {
		return err
	}
	if m.id, m.ok = identity.ParseCanonicalObjectID(s); !m.ok && s != nil {
		m.id, m.ok = identity.ParseObjectID(string(s))
	}
	return nil
}

// decodeUserPage decodes into p, reusing its slice. encoding/json decodes a
// reused element over its old content (absent fields keep stale values), so
// the elements are zeroed first.
func decodeUserPage(body []byte, p *userPage) error {
	v := p.Value[:cap(p.Value)]
	clear(v)
	v = v[:0]
	*p = userPage{Value: v}
	return json.Unmarshal(body, p)
}

// merge applies the present properties of w onto u.
func (w *wireUser) merge(u *identity.EntraUser) {
	set := func(dst *string, o optString) {
		if o.set {
			*dst = o.v
		}
	}
	set(&u.UPN, w.UPN)
	set(&u.Mail, w.Mail)
	set(&u.DisplayName, w.DisplayName)
	set(&u.GivenName, w.GivenName)
	set(&u.Surname, w.Surname)
	set(&u.UserType, w.UserType)
	if w.AccountEnabled.set {
		u.AccountEnabled = w.AccountEnabled.v
	}
}

// normOID returns the canonical oid, or "" when Graph sent something that is
// not a GUID (never linked on, reported by the caller).
func normOID(id string) string {
	n, ok := identity.NormalizeGUID(id)
	if !ok {
		return ""
	}
	return n
}

// isUserType reports whether a directoryObject item is a user.
func (w *wireUser) isUser() bool {
	return w.ODataType == "" || strings.EqualFold(w.ODataType, "#microsoft.graph.user")
}

// peekNextLink returns a page's top-level @odata.nextLink without decoding
// the page, so that the next request goes out before this page is decoded:
// Graph sends the link before the value (https://learn.microsoft.com/graph/paging),
// and when it comes after, the scan skips the value without decoding it.
// It returns "" when the page has no link or is not the object it should be
// (decoding the page then says what is wrong).
func peekNextLink(body []byte) string {
	var link string
	jsonscan.Object(body, jsonscan.Space(body, 0), func(key []byte, v int) (int, bool) {
		vend := jsonscan.ValueEnd(body, v)
		if vend < 0 {
			return 0, false
		}
		if string(key) != "@odata.nextLink" {
			return vend, true
		}
		s, err := jsonscan.String(body[v:vend])
		if err == nil && utf8.Valid(s) { // decoding would replace what is not UTF-8
			link = string(s)
		}
		return 0, false // found: the rest of the page is not needed
	})
	return link
}
