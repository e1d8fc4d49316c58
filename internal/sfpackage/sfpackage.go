// Package sfpackage checks the idlink Salesforce package (configs/salesforce, Salesforce
// DX source format) without an org: every metadata XML file is well formed, and the
// identity object, the settings type, the permission set and the Apex classes agree
// with each other and with what the idlink job and the registration handler need.
//
// The Apex syntax check and the decision-table drift check run in Node
// (configs/salesforce/check); this package's test runs them too.
package sfpackage

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// MetadataNamespace is the XML namespace of every Salesforce metadata file.
const MetadataNamespace = "http://soap.sforce.com/2006/04/metadata"

// Problem is one thing wrong with the package, named by file (relative to the
// package root) and what to fix.
type Problem struct {
	File string
	Msg  string
}

func (p Problem) String() string { return p.File + ": " + p.Msg }

// Package is what Validate read: enough to check the parts against each other.
type Package struct {
	Root       string
	APIVersion string
	Objects    map[string]*CustomObject // by API name, e.g. Identity_Link__c
	PermSets   map[string]*PermissionSet
	Records    map[string]*CustomMetadata // by file stem, e.g. Idlink_Setting.Default
	Classes    map[string]string          // Apex class name -> source
}

// CustomObject is the part of a CustomObject file (and its fields/ folder) we check.
type CustomObject struct {
	SharingModel         string `xml:"sharingModel"`
	ExternalSharingModel string `xml:"externalSharingModel"`
	EnableSearch         string `xml:"enableSearch"`
	EnableSharing        string `xml:"enableSharing"`
	EnableBulkAPI        string `xml:"enableBulkApi"`
	EnableStreamingAPI   string `xml:"enableStreamingApi"`
	Fields               map[string]*CustomField
}

// CustomField is one *.field-meta.xml.
type CustomField struct {
	FullName      string `xml:"fullName"`
	Label         string `xml:"label"`
	Description   string `xml:"description"`
	HelpText      string `xml:"inlineHelpText"`
	Type          string `xml:"type"`
	Length        int    `xml:"length"`
	Required      bool   `xml:"required"`
	ExternalID    bool   `xml:"externalId"`
	Unique        bool   `xml:"unique"`
	CaseSensitive bool   `xml:"caseSensitive"`
	ReferenceTo   string `xml:"referenceTo"`
	DefaultValue  string `xml:"defaultValue"`
	ValueSet      struct {
		Restricted bool `xml:"restricted"`
		Values     []struct {
			FullName string `xml:"fullName"`
			Default  bool   `xml:"default"`
		} `xml:"valueSetDefinition>value"`
	} `xml:"valueSet"`
}

// PicklistValues returns the API names of a picklist's values, in file order.
func (f *CustomField) PicklistValues() []string {
	var out []string
	for _, v := range f.ValueSet.Values {
		out = append(out, v.FullName)
	}
	return out
}

// PermissionSet is the part of a *.permissionset-meta.xml we check.
type PermissionSet struct {
	Label         string `xml:"label"`
	Description   string `xml:"description"`
	ClassAccesses []struct {
		ApexClass string `xml:"apexClass"`
		Enabled   bool   `xml:"enabled"`
	} `xml:"classAccesses"`
	FieldPermissions []struct {
		Field    string `xml:"field"`
		Readable bool   `xml:"readable"`
		Editable bool   `xml:"editable"`
	} `xml:"fieldPermissions"`
	ObjectPermissions []struct {
		Object           string `xml:"object"`
		AllowCreate      bool   `xml:"allowCreate"`
		AllowRead        bool   `xml:"allowRead"`
		AllowEdit        bool   `xml:"allowEdit"`
		AllowDelete      bool   `xml:"allowDelete"`
		ViewAllRecords   bool   `xml:"viewAllRecords"`
		ModifyAllRecords bool   `xml:"modifyAllRecords"`
	} `xml:"objectPermissions"`
	UserPermissions []struct {
		Name    string `xml:"name"`
		Enabled bool   `xml:"enabled"`
	} `xml:"userPermissions"`
}

// CustomMetadata is one custom metadata record (*.md-meta.xml).
type CustomMetadata struct {
	Label  string `xml:"label"`
	Values []struct {
		Field string `xml:"field"`
		Value struct {
			Nil   string `xml:"http://www.w3.org/2001/XMLSchema-instance nil,attr"`
			Type  string `xml:"http://www.w3.org/2001/XMLSchema-instance type,attr"`
			Value string `xml:",chardata"`
		} `xml:"value"`
	} `xml:"values"`
}

// Value returns a record's value for field, and whether it is set (not nil).
func (m *CustomMetadata) Value(field string) (string, bool) {
	for _, v := range m.Values {
		if v.Field == field {
			return v.Value.Value, v.Value.Nil != "true"
		}
	}
	return "", false
}

type problems []Problem

func (ps *problems) add(file, format string, args ...any) {
	*ps = append(*ps, Problem{File: file, Msg: fmt.Sprintf(format, args...)})
}

// Validate reads the package at root (the directory holding sfdx-project.json) and
// returns every problem found. The error is for a package that cannot be read at all.
func Validate(root string) (*Package, []Problem, error) {
	var ps problems
	pkg, err := load(root, &ps)
	if err != nil {
		return nil, nil, err
	}
	checkIdentityLink(pkg, &ps)
	checkSettings(pkg, &ps)
	checkPermissionSet(pkg, &ps)
	checkApexReferences(pkg, &ps)
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].File < ps[j].File })
	return pkg, ps, nil
}

type sfdxProject struct {
	PackageDirectories []struct {
		Path    string `json:"path"`
		Default bool   `json:"default"`
	} `json:"packageDirectories"`
	SourceAPIVersion string `json:"sourceApiVersion"`
}

var apiVersionRE = regexp.MustCompile(`^[0-9]{2,3}\.0$`)

func load(root string, ps *problems) (*Package, error) {
	raw, err := os.ReadFile(filepath.Join(root, "sfdx-project.json"))
	if err != nil {
		return nil, fmt.Errorf("read Salesforce DX project: %w", err)
	}
	var proj sfdxProject
	if err := json.Unmarshal(raw, &proj); err != nil {
		return nil, fmt.Errorf("sfdx-project.json is not valid JSON: %w", err)
	}
	if !apiVersionRE.MatchString(proj.SourceAPIVersion) {
		ps.add("sfdx-project.json", "sourceApiVersion %q must look like 62.0", proj.SourceAPIVersion)
	}
	if len(proj.PackageDirectories) == 0 {
		return nil, errors.New("sfdx-project.json has no packageDirectories")
	}
	pkg := &Package{
		Root:       root,
		APIVersion: proj.SourceAPIVersion,
		Objects:    map[string]*CustomObject{},
		PermSets:   map[string]*PermissionSet{},
		Records:    map[string]*CustomMetadata{},
		Classes:    map[string]string{},
	}
	classMeta := map[string]bool{}
	for _, dir := range proj.PackageDirectories {
		base := filepath.Join(root, filepath.FromSlash(dir.Path))
		if st, err := os.Stat(base); err != nil || !st.IsDir() {
			ps.add("sfdx-project.json", "package directory %q does not exist", dir.Path)
			continue
		}
		err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			rel = filepath.ToSlash(rel)
			name := d.Name()
			switch {
			case strings.HasSuffix(name, ".xml"):
				loadXML(pkg, p, rel, name, classMeta, ps)
			case strings.HasSuffix(name, ".cls"), strings.HasSuffix(name, ".trigger"):
				src, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				pkg.Classes[strings.TrimSuffix(strings.TrimSuffix(name, ".cls"), ".trigger")] = string(src)
				if _, err := os.Stat(p + "-meta.xml"); err != nil {
					ps.add(rel, "has no %s-meta.xml beside it", name)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("walk %s: %w", dir.Path, err)
		}
	}
	for c := range classMeta {
		if _, ok := pkg.Classes[c]; !ok {
			ps.add("force-app", "%s-meta.xml has no Apex source %s", c, c)
		}
	}
	return pkg, nil
}

// wellFormed decodes every token, so that any XML syntax error surfaces, and returns
// the root element.
func wellFormed(raw []byte) (xml.StartElement, error) {
	dec := xml.NewDecoder(strings.NewReader(string(raw)))
	var root xml.StartElement
	seen := false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return root, err
		}
		if se, ok := tok.(xml.StartElement); ok && !seen {
			root, seen = se, true
		}
	}
	if !seen {
		return root, errors.New("no root element")
	}
	return root, nil
}

func loadXML(pkg *Package, path, rel, name string, classMeta map[string]bool, ps *problems) {
	raw, err := os.ReadFile(path)
	if err != nil {
		ps.add(rel, "unreadable: %v", err)
		return
	}
	root, err := wellFormed(raw)
	if err != nil {
		ps.add(rel, "not well-formed XML: %v", err)
		return
	}
	if root.Name.Space != MetadataNamespace {
		ps.add(rel, "root element <%s> must be in namespace %s", root.Name.Local, MetadataNamespace)
	}
	decode := func(v any, wantRoot string) bool {
		if root.Name.Local != wantRoot {
			ps.add(rel, "root element is <%s>, want <%s>", root.Name.Local, wantRoot)
			return false
		}
		if err := xml.Unmarshal(raw, v); err != nil {
			ps.add(rel, "cannot decode %s: %v", wantRoot, err)
			return false
		}
		return true
	}
	dir := filepath.Base(filepath.Dir(path))
	switch {
	case strings.HasSuffix(name, ".object-meta.xml"):
		obj := object(pkg, strings.TrimSuffix(name, ".object-meta.xml"))
		fields := obj.Fields
		if decode(obj, "CustomObject") {
			obj.Fields = fields
		}
	case strings.HasSuffix(name, ".field-meta.xml") && dir == "fields":
		objName := filepath.Base(filepath.Dir(filepath.Dir(path)))
		var f CustomField
		if decode(&f, "CustomField") {
			want := strings.TrimSuffix(name, ".field-meta.xml")
			if f.FullName != want {
				ps.add(rel, "fullName %q does not match the file name %q", f.FullName, want)
			}
			// Metadata API limits; a longer value fails the deployment.
			if f.Label == "" || len(f.Label) > 40 || len(f.Description) > 1000 || len(f.HelpText) > 510 {
				ps.add(rel, "label must be 1-40 characters, description at most 1000, help text at most 510: %d, %d, %d",
					len(f.Label), len(f.Description), len(f.HelpText))
			}
			object(pkg, objName).Fields[want] = &f
		}
	case strings.HasSuffix(name, ".permissionset-meta.xml"):
		var p PermissionSet
		if decode(&p, "PermissionSet") {
			pkg.PermSets[strings.TrimSuffix(name, ".permissionset-meta.xml")] = &p
		}
	case strings.HasSuffix(name, ".md-meta.xml"):
		var m CustomMetadata
		if decode(&m, "CustomMetadata") {
			pkg.Records[strings.TrimSuffix(name, ".md-meta.xml")] = &m
		}
	case strings.HasSuffix(name, ".cls-meta.xml"), strings.HasSuffix(name, ".trigger-meta.xml"):
		want := "ApexClass"
		if strings.HasSuffix(name, ".trigger-meta.xml") {
			want = "ApexTrigger"
		}
		var meta struct {
			APIVersion string `xml:"apiVersion"`
			Status     string `xml:"status"`
		}
		if decode(&meta, want) {
			if !apiVersionRE.MatchString(meta.APIVersion) {
				ps.add(rel, "apiVersion %q must look like %s", meta.APIVersion, pkg.APIVersion)
			}
			if meta.Status != "Active" {
				ps.add(rel, "status %q must be Active", meta.Status)
			}
		}
		classMeta[strings.TrimSuffix(strings.TrimSuffix(name, ".cls-meta.xml"), ".trigger-meta.xml")] = true
	}
}

func object(pkg *Package, name string) *CustomObject {
	o, ok := pkg.Objects[name]
	if !ok {
		o = &CustomObject{Fields: map[string]*CustomField{}}
		pkg.Objects[name] = o
	}
	return o
}

const (
	identityLinkFile = "force-app/main/default/objects/Identity_Link__c"
	settingsFile     = "force-app/main/default/objects/Idlink_Setting__mdt"
	permSetFile      = "force-app/main/default/permissionsets/Idlink_Integration.permissionset-meta.xml"
	defaultRecord    = "force-app/main/default/customMetadata/Idlink_Setting.Default.md-meta.xml"
)

// IdentityLinkFields are the Identity_Link__c fields the job writes and the handler reads.
var IdentityLinkFields = []string{
	"Subject__c", "User__c", "Entra_Object_Id__c", "Tenant_Id__c", "Provider__c",
	"Match_Rule__c", "Status__c", "Revoke_Reason__c", "Last_Reconciled__c", "Store_Id__c",
}

func checkIdentityLink(pkg *Package, ps *problems) {
	obj, ok := pkg.Objects["Identity_Link__c"]
	if !ok {
		ps.add(identityLinkFile, "custom object Identity_Link__c is missing")
		return
	}
	if obj.SharingModel != "Private" || obj.ExternalSharingModel != "Private" {
		ps.add(identityLinkFile, "identity data must be private: sharingModel %q, externalSharingModel %q", obj.SharingModel, obj.ExternalSharingModel)
	}
	if obj.EnableSearch != "false" {
		ps.add(identityLinkFile, "enableSearch must be false for identity data")
	}
	// Salesforce turns these three on or off together (an "Enterprise Application" object).
	if obj.EnableSharing != "true" || obj.EnableBulkAPI != "true" || obj.EnableStreamingAPI != "true" {
		ps.add(identityLinkFile, "enableSharing, enableBulkApi and enableStreamingApi must all be true (the job upserts through the API; Salesforce sets the three together): %q %q %q",
			obj.EnableSharing, obj.EnableBulkAPI, obj.EnableStreamingAPI)
	}
	field := func(name string) *CustomField {
		f, ok := obj.Fields[name]
		if !ok {
			ps.add(identityLinkFile+"/fields", "field %s is missing", name)
		}
		return f
	}
	for _, name := range IdentityLinkFields {
		field(name)
	}
	text := func(name string, minLen int) {
		if f := obj.Fields[name]; f != nil && (f.Type != "Text" || f.Length < minLen) {
			ps.add(identityLinkFile+"/fields/"+name+".field-meta.xml", "must be Text of at least %d characters, is %s(%d)", minLen, f.Type, f.Length)
		}
	}
	if f := obj.Fields["Subject__c"]; f != nil {
		if f.Type != "Text" || !f.ExternalID || !f.Unique || !f.CaseSensitive || !f.Required {
			ps.add(identityLinkFile+"/fields/Subject__c.field-meta.xml",
				"must be a required Text external id, unique and case-sensitive (subs are case-sensitive): type=%s externalId=%t unique=%t caseSensitive=%t required=%t",
				f.Type, f.ExternalID, f.Unique, f.CaseSensitive, f.Required)
		}
	}
	text("Subject__c", 255)
	text("Entra_Object_Id__c", 36)
	text("Tenant_Id__c", 36)
	text("Provider__c", 80)
	text("Revoke_Reason__c", 80)
	text("Store_Id__c", 28)
	if f := obj.Fields["User__c"]; f != nil && (f.Type != "Lookup" || f.ReferenceTo != "User") {
		ps.add(identityLinkFile+"/fields/User__c.field-meta.xml", "must be Lookup(User), is %s(%s)", f.Type, f.ReferenceTo)
	}
	if f := obj.Fields["Last_Reconciled__c"]; f != nil && f.Type != "DateTime" {
		ps.add(identityLinkFile+"/fields/Last_Reconciled__c.field-meta.xml", "must be DateTime, is %s", f.Type)
	}
	picklist := func(name string, want []string) {
		f := obj.Fields[name]
		if f == nil {
			return
		}
		if f.Type != "Picklist" || !f.ValueSet.Restricted || !slices.Equal(f.PicklistValues(), want) {
			ps.add(identityLinkFile+"/fields/"+name+".field-meta.xml", "must be a restricted picklist of %v, is %s restricted=%t %v",
				want, f.Type, f.ValueSet.Restricted, f.PicklistValues())
		}
	}
	picklist("Status__c", []string{"Active", "Revoked"})
	picklist("Match_Rule__c", []string{"oid", "upn"})
}

// SettingsFields are the fields of Idlink_Setting__mdt and their types.
var SettingsFields = map[string]string{
	"Tenant_Id__c":           "Text",
	"Auth_Provider__c":       "Text",
	"JIT_Enabled__c":         "Checkbox",
	"JIT_Profile__c":         "Text",
	"JIT_Username_Suffix__c": "Text",
	"Revoke_Enabled__c":      "Checkbox",
}

func checkSettings(pkg *Package, ps *problems) {
	obj, ok := pkg.Objects["Idlink_Setting__mdt"]
	if !ok {
		ps.add(settingsFile, "custom metadata type Idlink_Setting__mdt is missing")
		return
	}
	for name, typ := range SettingsFields {
		f, ok := obj.Fields[name]
		switch {
		case !ok:
			ps.add(settingsFile+"/fields", "field %s is missing", name)
		case f.Type != typ:
			ps.add(settingsFile+"/fields/"+name+".field-meta.xml", "must be %s, is %s", typ, f.Type)
		case typ == "Checkbox" && f.DefaultValue != "false":
			ps.add(settingsFile+"/fields/"+name+".field-meta.xml", "a switch must default to false, defaults to %q", f.DefaultValue)
		}
	}
	rec, ok := pkg.Records["Idlink_Setting.Default"]
	if !ok {
		ps.add(defaultRecord, "the Default record the handler reads is missing")
		return
	}
	for _, v := range rec.Values {
		if _, ok := obj.Fields[v.Field]; !ok {
			ps.add(defaultRecord, "value for %s, which Idlink_Setting__mdt does not have", v.Field)
		}
	}
	// The repository ships the safe defaults: no JIT duplicates, no revocation. An org
	// turns them on in Setup, not in this file.
	for _, sw := range []string{"JIT_Enabled__c", "Revoke_Enabled__c"} {
		if v, set := rec.Value(sw); !set || v != "false" {
			ps.add(defaultRecord, "%s must ship as false, is %q", sw, v)
		}
	}
}

func checkPermissionSet(pkg *Package, ps *problems) {
	p, ok := pkg.PermSets["Idlink_Integration"]
	if !ok {
		ps.add(permSetFile, "permission set Idlink_Integration is missing")
		return
	}
	if len(p.Description) > 255 || len(p.Label) > 80 {
		ps.add(permSetFile, "label (max 80) or description (max 255 characters) too long: %d, %d", len(p.Label), len(p.Description))
	}
	api := false
	for _, u := range p.UserPermissions {
		if u.Name == "ApiEnabled" && u.Enabled {
			api = true
		}
	}
	if !api {
		ps.add(permSetFile, "ApiEnabled must be granted: the job signs in through the API")
	}
	obj := pkg.Objects["Identity_Link__c"]
	found := false
	for _, o := range p.ObjectPermissions {
		if o.Object != "Identity_Link__c" {
			ps.add(permSetFile, "grants access to %s, which the job does not need", o.Object)
			continue
		}
		found = true
		if !o.AllowCreate || !o.AllowRead || !o.AllowEdit || !o.ViewAllRecords {
			ps.add(permSetFile, "Identity_Link__c needs create, read, edit and view all")
		}
		if o.AllowDelete || o.ModifyAllRecords {
			ps.add(permSetFile, "Identity_Link__c must not allow delete or modify all: links are revoked, never deleted")
		}
	}
	if !found {
		ps.add(permSetFile, "no object permission for Identity_Link__c")
	}
	granted := map[string]bool{}
	for _, fp := range p.FieldPermissions {
		objName, fieldName, ok := strings.Cut(fp.Field, ".")
		o := pkg.Objects[objName]
		var f *CustomField
		if ok && o != nil {
			f = o.Fields[fieldName]
		}
		switch {
		case f == nil:
			ps.add(permSetFile, "field permission for %s, which the package does not define", fp.Field)
		case f.Required:
			// The Metadata API rejects field permissions on required fields.
			ps.add(permSetFile, "field permission for required field %s: remove it (required fields are always accessible)", fp.Field)
		case !fp.Readable || !fp.Editable:
			ps.add(permSetFile, "%s must be readable and editable: the job writes it", fp.Field)
		}
		granted[fp.Field] = true
	}
	if obj != nil {
		for name, f := range obj.Fields {
			if !f.Required && !granted["Identity_Link__c."+name] {
				ps.add(permSetFile, "no field permission for Identity_Link__c.%s, which the job writes", name)
			}
		}
	}
	for _, c := range p.ClassAccesses {
		if _, ok := pkg.Classes[c.ApexClass]; !ok {
			ps.add(permSetFile, "class access for %s, which the package does not define", c.ApexClass)
		}
	}
}

var customNameRE = regexp.MustCompile(`\b([A-Za-z][A-Za-z0-9_]*?)__(c|r|mdt)\b`)

// checkApexReferences finds custom object, field and relationship names in Apex and
// reports those the package does not define: the parser checks syntax only, so a
// misspelt field would otherwise surface only at deploy time.
func checkApexReferences(pkg *Package, ps *problems) {
	known := map[string]bool{}
	for objName, o := range pkg.Objects {
		known[strings.ToLower(objName)] = true
		for f, def := range o.Fields {
			known[strings.ToLower(f)] = true
			if def.Type == "Lookup" || def.Type == "MasterDetail" {
				known[strings.ToLower(strings.TrimSuffix(f, "__c")+"__r")] = true
			}
		}
	}
	names := make([]string, 0, len(pkg.Classes))
	for n := range pkg.Classes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, class := range names {
		seen := map[string]bool{}
		for _, m := range customNameRE.FindAllString(pkg.Classes[class], -1) {
			key := strings.ToLower(m)
			if known[key] || seen[key] {
				continue
			}
			seen[key] = true
			ps.add("force-app/main/default/classes/"+class+".cls", "refers to %s, which the package does not define", m)
		}
	}
}
