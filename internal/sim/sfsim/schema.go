package sfsim

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"
)

type fieldType uint8

const (
	ftID fieldType = iota + 1
	ftRef
	ftString
	ftPicklist
	ftBool
	ftDateTime
)

func (t fieldType) String() string {
	switch t {
	case ftID:
		return "id"
	case ftRef:
		return "reference"
	case ftBool:
		return "boolean"
	case ftDateTime:
		return "dateTime"
	case ftPicklist:
		return "picklist"
	}
	return "string"
}

type fieldDef struct {
	name          string
	typ           fieldType
	caseSensitive bool
}

// value is one field of one row. Strings are null when empty, times when 0.
type value struct {
	s string
	b bool
	t int64
}

// sobject describes one queryable object and reads its rows (under the org's
// read lock).
type sobject struct {
	name     string
	fields   []fieldDef
	byLower  map[string]int
	rowCount func(o *Org) int
	idSorted func(o *Org) bool
	get      func(o *Org, row int32, fi int) value
	// removed, for objects whose rows can be deleted, is the log of deleted
	// row indexes (Org.tpalRemoved, Org.linksRemoved); nil when rows are
	// never deleted.
	removed func(o *Org) []int32
	// inRecycleBin, for objects whose deleted rows go to the Recycle Bin
	// first, tells such a row: only queryAll returns it.
	inRecycleBin func(o *Org, row int32) bool
	// pageCap and chainCap bound the rows a query chain returns (0 = none).
	pageCap, chainCap int
}

func newSObject(name string, fields []fieldDef) *sobject {
	s := &sobject{name: name, fields: fields, byLower: map[string]int{}}
	for i, f := range fields {
		s.byLower[strings.ToLower(f.name)] = i
	}
	return s
}

var (
	userObject = newSObject("User", []fieldDef{
		{name: "Id", typ: ftID}, {name: "Username", typ: ftString}, {name: "FederationIdentifier", typ: ftString},
		{name: "Email", typ: ftString}, {name: "IsActive", typ: ftBool}, {name: "UserType", typ: ftPicklist},
		{name: "CreatedDate", typ: ftDateTime}, {name: "SystemModstamp", typ: ftDateTime}, {name: "LastModifiedDate", typ: ftDateTime},
	})
	accountLinkObject = newSObject("ThirdPartyAccountLink", []fieldDef{
		{name: "Id", typ: ftID}, {name: "SsoProviderName", typ: ftString}, {name: "Provider", typ: ftString},
		{name: "RemoteIdentifier", typ: ftString}, {name: "UserId", typ: ftRef}, {name: "Handle", typ: ftString},
		{name: "IsNotSsoUsable", typ: ftBool}, {name: "SsoProviderId", typ: ftRef},
	})
	authProviderObject = newSObject("AuthProvider", []fieldDef{
		{name: "Id", typ: ftID}, {name: "DeveloperName", typ: ftString}, {name: "FriendlyName", typ: ftString},
		{name: "ProviderType", typ: ftPicklist},
	})
	identityLinkObject = newSObject("Identity_Link__c", []fieldDef{
		{name: "Id", typ: ftID}, {name: "Subject__c", typ: ftString, caseSensitive: true}, {name: "User__c", typ: ftRef},
		{name: "Entra_Object_Id__c", typ: ftString}, {name: "Tenant_Id__c", typ: ftString}, {name: "Provider__c", typ: ftString},
		{name: "Match_Rule__c", typ: ftPicklist}, {name: "Status__c", typ: ftPicklist}, {name: "Revoke_Reason__c", typ: ftString},
		{name: "Last_Reconciled__c", typ: ftDateTime}, {name: "CreatedDate", typ: ftDateTime}, {name: "SystemModstamp", typ: ftDateTime},
		{name: "Store_Id__c", typ: ftString}, {name: "IsDeleted", typ: ftBool},
	})
	sobjects = map[string]*sobject{}
)

func init() {
	userObject.rowCount = func(o *Org) int { return len(o.users.rows) }
	userObject.idSorted = func(o *Org) bool { return o.users.idSorted }
	userObject.get = func(o *Org, row int32, fi int) value {
		r := &o.users.rows[row]
		switch fi {
		case 0:
			return value{s: r.id}
		case 1:
			return value{s: r.username}
		case 2:
			return value{s: r.federationID}
		case 3:
			return value{s: r.email}
		case 4:
			return value{b: r.isActive}
		case 5:
			return value{s: r.userType}
		case 6:
			return value{t: r.created}
		default:
			return value{t: r.modstamp}
		}
	}
	accountLinkObject.rowCount = func(o *Org) int { return len(o.accountLinks.rows) }
	accountLinkObject.idSorted = func(o *Org) bool { return o.accountLinks.idSorted }
	accountLinkObject.removed = func(o *Org) []int32 { return o.tpalRemoved }
	accountLinkObject.get = func(o *Org, row int32, fi int) value {
		r := &o.accountLinks.rows[row]
		switch fi {
		case 0:
			return value{s: r.id}
		case 1:
			// SsoProviderName is documented only as "the name associated
			// with the AuthProvider"; the org can be told to answer with the
			// friendly name instead of the developer name, so that clients
			// are tested against both.
			if ap, ok := o.authProviders[r.providerName]; ok && o.ssoNameFriendly {
				return value{s: ap.friendlyName}
			}
			return value{s: r.providerName}
		case 2:
			return value{s: "OpenIdConnect"}
		case 3:
			return value{s: r.remoteID}
		case 4:
			return value{s: r.userID}
		case 5:
			return value{s: r.handle}
		case 7:
			return value{s: o.authProviders[r.providerName].id}
		default:
			return value{}
		}
	}
	authProviderObject.rowCount = func(o *Org) int { return len(o.authProviderList) }
	authProviderObject.idSorted = func(o *Org) bool { return false }
	authProviderObject.get = func(o *Org, row int32, fi int) value {
		r := o.authProviders[o.authProviderList[row]]
		switch fi {
		case 0:
			return value{s: r.id}
		case 1:
			return value{s: r.developerName}
		case 2:
			return value{s: r.friendlyName}
		default:
			return value{s: r.providerType}
		}
	}
	// "In API version 34.0 and later ... A query() call returns up to 500
	// rows. A queryMore() call returns 500 more, up to 2500 total. No more
	// records are returned after 2500. ... If there are more than 2500
	// records, divide your query by filtering on fields, like UserId."
	// https://developer.salesforce.com/docs/atlas.en-us.object_reference.meta/object_reference/sforce_api_objects_thirdpartyaccountlink.htm
	// The page says nothing of an error, so the chain simply ends (done=true).
	accountLinkObject.pageCap, accountLinkObject.chainCap = 500, 2500
	identityLinkObject.rowCount = func(o *Org) int { return len(o.links.rows) }
	identityLinkObject.idSorted = func(o *Org) bool { return o.links.idSorted }
	identityLinkObject.removed = func(o *Org) []int32 { return o.linksRemoved }
	identityLinkObject.inRecycleBin = func(o *Org, row int32) bool { return o.links.rows[row].deleted }
	identityLinkObject.get = func(o *Org, row int32, fi int) value {
		r := &o.links.rows[row]
		switch fi {
		case 0:
			return value{s: r.id}
		case 1:
			return value{s: r.subject}
		case 2:
			return value{s: r.userID}
		case 3:
			return value{s: r.objectID}
		case 4:
			return value{s: r.tenantID}
		case 5:
			return value{s: r.provider}
		case 6:
			return value{s: r.matchRule}
		case 7:
			return value{s: r.status}
		case 8:
			return value{s: r.revokeReason}
		case 9:
			return value{t: r.lastReconciled}
		case 10:
			return value{t: r.created}
		case 12:
			return value{s: r.storeID}
		case 13:
			return value{b: r.deleted}
		default:
			return value{t: r.modstamp}
		}
	}
	for _, s := range []*sobject{userObject, accountLinkObject, identityLinkObject, authProviderObject} {
		sobjects[strings.ToLower(s.name)] = s
	}
}

// resolve binds a parsed query to its object and checks fields and literal
// types the way Salesforce does, returning its error codes.
func resolve(pq *parsedQuery) (*sobject, error) {
	obj, ok := sobjects[strings.ToLower(pq.object)]
	if !ok {
		return nil, &queryError{code: "INVALID_TYPE", msg: fmt.Sprintf("sObject type '%s' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names.", pq.object)}
	}
	field := func(name string) (int, error) {
		i, ok := obj.byLower[strings.ToLower(name)]
		if !ok {
			return 0, &queryError{code: "INVALID_FIELD", msg: fmt.Sprintf("No such column '%s' on entity '%s'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names.", name, obj.name)}
		}
		return i, nil
	}
	seen := map[int]bool{}
	for _, f := range pq.fields {
		i, err := field(f)
		if err != nil {
			return nil, err
		}
		if seen[i] {
			return nil, &queryError{code: "MALFORMED_QUERY", msg: fmt.Sprintf("duplicate field selected: %s", obj.fields[i].name)}
		}
		seen[i] = true
		pq.fis = append(pq.fis, i)
	}
	var walk func(e expr) error
	walk = func(e expr) error {
		switch e := e.(type) {
		case andExpr:
			if err := walk(e.l); err != nil {
				return err
			}
			return walk(e.r)
		case orExpr:
			if err := walk(e.l); err != nil {
				return err
			}
			return walk(e.r)
		case notExpr:
			return walk(e.e)
		case *cmpExpr:
			i, err := field(e.field)
			if err != nil {
				return err
			}
			e.fi = i
			return checkLiteral(obj.fields[i], &e.lit, e.op)
		case *inExpr:
			i, err := field(e.field)
			if err != nil {
				return err
			}
			e.fi = i
			for j := range e.lits {
				if err := checkLiteral(obj.fields[i], &e.lits[j], opEq); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if pq.where != nil {
		if err := walk(pq.where); err != nil {
			return nil, err
		}
	}
	for k := range pq.orderBy {
		i, err := field(pq.orderBy[k].field)
		if err != nil {
			return nil, err
		}
		pq.orderBy[k].fi = i
	}
	return obj, nil
}

func checkLiteral(f fieldDef, l *literal, op cmpOp) error {
	if l.kind == litNull {
		if op != opEq && op != opNe {
			return &queryError{code: "MALFORMED_QUERY", msg: fmt.Sprintf("null can only be compared with = or != (field %s)", f.name)}
		}
		return nil
	}
	switch f.typ {
	case ftID, ftRef, ftString, ftPicklist:
		if l.kind != litString {
			return &queryError{code: "INVALID_FIELD", msg: fmt.Sprintf("value of filter criterion for field '%s' must be of type %s and should be enclosed in quotes", f.name, f.typ)}
		}
		if f.typ == ftID || f.typ == ftRef {
			if !validID(l.s) {
				return &queryError{code: "INVALID_QUERY_FILTER_OPERATOR", msg: fmt.Sprintf("invalid ID field: %s", l.s)}
			}
			if len(l.s) == 15 {
				l.s += idSuffix(l.s)
			}
		}
	case ftBool:
		if l.kind != litBool {
			return &queryError{code: "INVALID_FIELD", msg: fmt.Sprintf("value of filter criterion for field '%s' must be of type boolean and should not be enclosed in quotes", f.name)}
		}
		if op != opEq && op != opNe {
			return &queryError{code: "INVALID_QUERY_FILTER_OPERATOR", msg: fmt.Sprintf("invalid operator on boolean field %s", f.name)}
		}
	case ftDateTime:
		if l.kind != litDateTime {
			return &queryError{code: "INVALID_FIELD", msg: fmt.Sprintf("value of filter criterion for field '%s' must be of type dateTime and should not be enclosed in quotes", f.name)}
		}
	}
	return nil
}

func isNull(f fieldDef, v value) bool {
	switch f.typ {
	case ftBool:
		return false
	case ftDateTime:
		return v.t == 0
	}
	return v.s == ""
}

// compare orders a non-null field value against a literal of its type.
func compare(f fieldDef, v value, l *literal) int {
	switch f.typ {
	case ftBool:
		if v.b == l.b {
			return 0
		}
		if !v.b {
			return -1
		}
		return 1
	case ftDateTime:
		return cmp.Compare(v.t, l.t)
	case ftID, ftRef:
		return strings.Compare(v.s, l.s)
	}
	if f.caseSensitive {
		return strings.Compare(v.s, l.s)
	}
	// SOQL compares text case-insensitively.
	return compareFold(v.s, l.s)
}

func compareFold(a, b string) int {
	if strings.EqualFold(a, b) {
		return 0
	}
	return strings.Compare(strings.ToLower(a), strings.ToLower(b))
}

func eval(o *Org, obj *sobject, row int32, e expr) bool {
	switch e := e.(type) {
	case andExpr:
		return eval(o, obj, row, e.l) && eval(o, obj, row, e.r)
	case orExpr:
		return eval(o, obj, row, e.l) || eval(o, obj, row, e.r)
	case notExpr:
		return !eval(o, obj, row, e.e)
	case *cmpExpr:
		f := obj.fields[e.fi]
		v := obj.get(o, row, e.fi)
		null := isNull(f, v)
		if e.lit.kind == litNull {
			return null == (e.op == opEq)
		}
		if null {
			return e.op == opNe
		}
		c := compare(f, v, &e.lit)
		switch e.op {
		case opEq:
			return c == 0
		case opNe:
			return c != 0
		case opLt:
			return c < 0
		case opLe:
			return c <= 0
		case opGt:
			return c > 0
		default:
			return c >= 0
		}
	case *inExpr:
		f := obj.fields[e.fi]
		v := obj.get(o, row, e.fi)
		null := isNull(f, v)
		found := false
		for i := range e.lits {
			l := &e.lits[i]
			if l.kind == litNull {
				found = null
			} else if !null && compare(f, v, l) == 0 {
				found = true
			}
			if found {
				break
			}
		}
		return found != e.not
	}
	return true
}

// idLowerBound finds "Id > x" or "Id >= x" among the top-level AND terms so
// that keyset paging over an id-ordered table starts with a binary search.
func idLowerBound(e expr) (string, bool, bool) {
	switch e := e.(type) {
	case andExpr:
		if s, incl, ok := idLowerBound(e.l); ok {
			return s, incl, ok
		}
		return idLowerBound(e.r)
	case *cmpExpr:
		if e.fi == 0 && e.lit.kind == litString && (e.op == opGt || e.op == opGe) {
			return e.lit.s, e.op == opGe, true
		}
	}
	return "", false, false
}

// execute returns the matching rows in result order, honouring LIMIT; the
// rows in the Recycle Bin only for queryAll (all).
func execute(o *Org, obj *sobject, pq *parsedQuery, all bool) []int32 {
	n := obj.rowCount(o)
	start := 0
	sorted := obj.idSorted(o)
	if sorted && pq.where != nil {
		if bound, incl, ok := idLowerBound(pq.where); ok {
			start = sort.Search(n, func(i int) bool {
				id := obj.get(o, int32(i), 0).s
				if incl {
					return id >= bound
				}
				return id > bound
			})
		}
	}
	byIDOnly := len(pq.orderBy) == 0 || (len(pq.orderBy) == 1 && pq.orderBy[0].fi == 0 && !pq.orderBy[0].desc)
	canStop := pq.limit >= 0 && (len(pq.orderBy) == 0 || (byIDOnly && sorted))
	var rows []int32
	for i := start; i < n; i++ {
		if canStop && len(rows) >= pq.limit {
			break
		}
		if !all && obj.inRecycleBin != nil && obj.inRecycleBin(o, int32(i)) {
			continue
		}
		if pq.where == nil || eval(o, obj, int32(i), pq.where) {
			rows = append(rows, int32(i))
		}
	}
	if len(pq.orderBy) > 0 && !(byIDOnly && sorted) {
		slices.SortStableFunc(rows, func(a, b int32) int {
			for _, t := range pq.orderBy {
				f := obj.fields[t.fi]
				va, vb := obj.get(o, a, t.fi), obj.get(o, b, t.fi)
				na, nb := isNull(f, va), isNull(f, vb)
				var c int
				switch {
				case na && nb:
					c = 0
				case na || nb:
					c = 1
					if na == t.nullsFirst {
						c = -1
					}
					return c
				default:
					c = compareValues(f, va, vb)
				}
				if t.desc {
					c = -c
				}
				if c != 0 {
					return c
				}
			}
			return 0
		})
	}
	if pq.limit >= 0 && len(rows) > pq.limit {
		rows = rows[:pq.limit]
	}
	return rows
}

func compareValues(f fieldDef, a, b value) int {
	switch f.typ {
	case ftBool:
		return cmp.Compare(boolInt(a.b), boolInt(b.b))
	case ftDateTime:
		return cmp.Compare(a.t, b.t)
	case ftID, ftRef:
		return strings.Compare(a.s, b.s)
	}
	if f.caseSensitive {
		return strings.Compare(a.s, b.s)
	}
	return compareFold(a.s, b.s)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
