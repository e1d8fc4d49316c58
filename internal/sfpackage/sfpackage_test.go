package sfpackage

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// packageRoot is configs/salesforce, found from this file so the test runs from any
// working directory.
func packageRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	root := filepath.Join(filepath.Dir(file), "..", "..", "configs", "salesforce")
	if _, err := os.Stat(filepath.Join(root, "sfdx-project.json")); err != nil {
		t.Fatalf("Salesforce package not found at %s: %v", root, err)
	}
	return root
}

func TestPackageMetadata(t *testing.T) {
	pkg, problems, err := Validate(packageRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
	for _, want := range []string{"IdlinkRegistrationHandler", "IdlinkSignInDecision", "IdlinkDecisionTableTest", "IdlinkLinkRevocationResource"} {
		if _, ok := pkg.Classes[want]; !ok {
			t.Errorf("Apex class %s is missing", want)
		}
	}
}

// copyTree copies the package (without node_modules) so a test can break the copy.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() && d.Name() == "node_modules" {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		raw, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, raw, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(raw, []byte(old)) {
		t.Fatalf("%s does not contain %q", file, old)
	}
	if err := os.WriteFile(file, bytes.Replace(raw, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestValidateReportsBrokenMetadata(t *testing.T) {
	dir := t.TempDir()
	copyTree(t, packageRoot(t), dir)
	d := filepath.Join(dir, "force-app", "main", "default")
	fields := filepath.Join(d, "objects", "Identity_Link__c", "fields")

	edit(t, filepath.Join(fields, "Subject__c.field-meta.xml"), "<caseSensitive>true</caseSensitive>", "<caseSensitive>false</caseSensitive>")
	edit(t, filepath.Join(fields, "Status__c.field-meta.xml"), "<fullName>Revoked</fullName>", "<fullName>Disabled</fullName>")
	edit(t, filepath.Join(d, "objects", "Identity_Link__c", "Identity_Link__c.object-meta.xml"), "<sharingModel>Private</sharingModel>", "<sharingModel>ReadWrite</sharingModel>")
	edit(t, filepath.Join(fields, "Tenant_Id__c.field-meta.xml"), "</CustomField>", "</CustomFld>")
	ps := filepath.Join(d, "permissionsets", "Idlink_Integration.permissionset-meta.xml")
	edit(t, ps, "<field>Identity_Link__c.Provider__c</field>", "<field>Identity_Link__c.Subject__c</field>")
	edit(t, ps, "<allowDelete>false</allowDelete>", "<allowDelete>true</allowDelete>")
	edit(t, filepath.Join(d, "customMetadata", "Idlink_Setting.Default.md-meta.xml"),
		`<field>JIT_Enabled__c</field>
        <value xsi:type="xsd:boolean">false</value>`,
		`<field>JIT_Enabled__c</field>
        <value xsi:type="xsd:boolean">true</value>`)
	edit(t, filepath.Join(d, "classes", "IdlinkRegistrationHandler.cls"), "Provider__c, Status__c,", "Provider__c, Stauts__c,")
	if err := os.Remove(filepath.Join(d, "classes", "IdlinkSettings.cls-meta.xml")); err != nil {
		t.Fatal(err)
	}

	_, problems, err := Validate(dir)
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, p := range problems {
		all = append(all, p.String())
	}
	got := strings.Join(all, "\n")
	for _, want := range []string{
		"Subject__c.field-meta.xml: must be a required Text external id, unique and case-sensitive",
		"Status__c.field-meta.xml: must be a restricted picklist of [Active Revoked]",
		"identity data must be private",
		"Tenant_Id__c.field-meta.xml: not well-formed XML",
		"field permission for required field Identity_Link__c.Subject__c",
		"no field permission for Identity_Link__c.Provider__c",
		"must not allow delete or modify all",
		"JIT_Enabled__c must ship as false",
		"refers to Stauts__c, which the package does not define",
		"IdlinkSettings.cls: has no IdlinkSettings.cls-meta.xml beside it",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing problem %q in:\n%s", want, got)
		}
	}
}

// TestGeneratedApexTestCoversEveryRow cross-checks, independently of the Node
// generator, that the committed Apex test checks each row of the table with the row's
// outcome.
func TestGeneratedApexTestCoversEveryRow(t *testing.T) {
	root := packageRoot(t)
	raw, err := os.ReadFile(filepath.Join(root, "decision-table.json"))
	if err != nil {
		t.Fatal(err)
	}
	var table struct {
		Outcomes map[string]string `json:"outcomes"`
		Rows     []struct {
			Name    string `json:"name"`
			Outcome string `json:"outcome"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatalf("decision-table.json: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(root, "force-app", "main", "default", "classes", "IdlinkDecisionTableTest.cls"))
	if err != nil {
		t.Fatal(err)
	}
	calls := regexp.MustCompile(`(?s)new IdlinkSignInTestWorld\.Row\(\s*(\d+),\s*'((?:[^'\\]|\\.)*)',.*?'([a-z-]+)'\s*\)`).FindAllStringSubmatch(string(src), -1)
	if len(calls) != len(table.Rows) {
		t.Fatalf("IdlinkDecisionTableTest has %d rows, decision-table.json %d: run npm run generate in configs/salesforce/check", len(calls), len(table.Rows))
	}
	for i, row := range table.Rows {
		c := calls[i]
		name := strings.ReplaceAll(c[2], `\'`, `'`)
		if name != row.Name || c[3] != row.Outcome {
			t.Errorf("row %d: Apex checks (%q, %s), table says (%q, %s)", i+1, name, c[3], row.Name, row.Outcome)
		}
		if _, ok := table.Outcomes[row.Outcome]; !ok {
			t.Errorf("row %d: outcome %q is not declared in outcomes", i+1, row.Outcome)
		}
	}
}

// tools returns node's path, failing under CI=true and skipping elsewhere when node
// or java is missing: in CI a missing toolchain must not pass silently.
func tools(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		_, err = exec.LookPath("java")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Apex checker needs node and java on PATH: %v", err)
		}
		t.Skipf("skipping the Apex checker: %v (install Node 18+ and Java 11+; under CI=true this fails)", err)
	}
	return node
}

// ensureModules runs npm ci when configs/salesforce/check/node_modules is missing.
// The lockfile pins prettier and prettier-plugin-apex; npm ci downloads from the npm
// registry (or the npm cache) and nothing is fetched at check time.
func ensureModules(t *testing.T, checkDir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(checkDir, "node_modules", "prettier-plugin-apex", "package.json")); err == nil {
		return
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node_modules is missing and npm is not on PATH: %v", err)
		}
		t.Skipf("node_modules is missing and npm is not on PATH: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = checkDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", checkDir, err, out)
	}
}

func runChecker(t *testing.T, node, checkDir string, env ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "check.mjs")
	cmd.Dir = checkDir
	cmd.Env = append(os.Environ(), env...)
	// On timeout, SIGTERM first so the checker can stop the Java parser it started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestApexChecker parses every Apex file with the real Apex parser and checks the
// generated decision-table test against the table (configs/salesforce/check).
func TestApexChecker(t *testing.T) {
	node := tools(t)
	checkDir := filepath.Join(packageRoot(t), "check")
	ensureModules(t, checkDir)
	out, err := runChecker(t, node, checkDir)
	t.Logf("checker output:\n%s", out)
	if err != nil {
		t.Fatalf("Apex checker failed: %v", err)
	}
	if !strings.Contains(out, "check: ok") {
		t.Fatal("Apex checker did not report ok")
	}
}

// TestApexCheckerCatchesDriftAndSyntaxErrors breaks a copy of the package and
// expects the checker to fail for both reasons, so a checker that accepts anything
// cannot pass.
func TestApexCheckerCatchesDriftAndSyntaxErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Java parser; skipped with -short")
	}
	node := tools(t)
	root := packageRoot(t)
	checkDir := filepath.Join(root, "check")
	ensureModules(t, checkDir)

	dir := t.TempDir()
	copyTree(t, filepath.Join(root, "check"), filepath.Join(dir, "check"))
	if err := os.Symlink(filepath.Join(checkDir, "node_modules"), filepath.Join(dir, "check", "node_modules")); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "decision-table.json"))
	if err != nil {
		t.Fatal(err)
	}
	// Flip the first row's outcome: the committed Apex test no longer matches.
	drifted := bytes.Replace(raw, []byte(`"outcome": "link-user"`), []byte(`"outcome": "fail-pending"`), 1)
	if bytes.Equal(drifted, raw) {
		t.Fatal("could not alter decision-table.json for the drift test")
	}
	if err := os.WriteFile(filepath.Join(dir, "decision-table.json"), drifted, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"README.md", "sfdx-project.json"} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	classes := filepath.Join(dir, "force-app", "main", "default", "classes")
	if err := os.MkdirAll(classes, 0o755); err != nil {
		t.Fatal(err)
	}
	srcClasses := filepath.Join(root, "force-app", "main", "default", "classes")
	for _, name := range []string{
		"IdlinkSignInDecision.cls", "IdlinkSignInDecision.cls-meta.xml",
		"IdlinkDecisionTableTest.cls", "IdlinkDecisionTableTest.cls-meta.xml",
		"IdlinkBroken.cls-meta.xml", // a copy of any class's meta file will do
	} {
		from := name
		if name == "IdlinkBroken.cls-meta.xml" {
			from = "IdlinkSignInDecision.cls-meta.xml"
		}
		b, err := os.ReadFile(filepath.Join(srcClasses, from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(classes, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	broken := "public class IdlinkBroken {\n    void f() { Integer x = ; }\n}\n"
	if err := os.WriteFile(filepath.Join(classes, "IdlinkBroken.cls"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}

	// This test is about the checker's verdicts; TestApexChecker already proves the Java
	// parser rejects broken Apex. Use the parser's native build when npm installed it
	// for this platform: same parser, no JVM start on a shared machine.
	var env []string
	if entries, err := os.ReadDir(filepath.Join(checkDir, "node_modules", "@prettier-apex")); err == nil && len(entries) > 0 {
		env = append(env, "IDLINK_APEX_PARSER=native")
	}
	out, err := runChecker(t, node, filepath.Join(dir, "check"), env...)
	if err == nil {
		t.Fatalf("checker passed a drifted table and broken Apex:\n%s", out)
	}
	for _, want := range []string{
		"IdlinkDecisionTableTest.cls differs from decision-table.json",
		"README.md: the decision table differs from decision-table.json",
		"IdlinkBroken.cls: Apex syntax error",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("checker output lacks %q:\n%s", want, out)
		}
	}
	for _, unwanted := range []string{
		"IdlinkSignInDecision.cls: Apex syntax error", // valid Apex next to the broken class
		"README.md: the message",                      // the README was copied unchanged
		"- source format:",                            // the copy is a valid source tree
	} {
		if strings.Contains(out, unwanted) {
			t.Errorf("checker reported %q for valid input:\n%s", unwanted, out)
		}
	}
}

// FuzzWellFormed: the XML check never panics and never accepts a document without a
// root element.
func FuzzWellFormed(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><CustomField xmlns="http://soap.sforce.com/2006/04/metadata"><type>Text</type></CustomField>`))
	f.Add([]byte(`<a><b></a>`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, raw []byte) {
		root, err := wellFormed(raw)
		if err == nil && root.Name.Local == "" {
			t.Fatalf("accepted %q without a root element", raw)
		}
	})
}
