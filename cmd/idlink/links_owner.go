package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/store"
)

// linksAdopt records that the Identity_Link__c rows another idlink database
// wrote are this database's now (a move to another database, or a retired
// second deployment), so that its runs stop holding on them.
func linksAdopt(ctx context.Context, e env, args []string) error {
	fs := newFlags("links adopt", e)
	cfgPath := configFlag(fs, e)
	id := fs.String("store-id", "", "id of the other idlink database, as the held run names it (required)")
	actor := fs.String("actor", os.Getenv("USER"), "who decides (kept in the audit log)")
	reason := fs.String("reason", "", "why, e.g. \"moved from SQLite to PostgreSQL; the old deployment is stopped\" (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *id == "" || *reason == "" || *actor == "" {
		return withCode(ExitUsage, errors.New("links adopt needs --store-id, --reason and --actor; the held run names the other database's id"))
	}
	if !strings.HasPrefix(*id, "idl-") {
		return withCode(ExitUsage, fmt.Errorf("--store-id %q is not an idlink database id (idl-...)", *id))
	}
	_, st, err := configAndStore(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	own, err := st.StoreID(ctx)
	if err != nil {
		return err
	}
	if *id == own {
		return withCode(ExitUsage, fmt.Errorf("%s is this database's own id; nothing to adopt", own))
	}
	if err := st.AdoptStore(ctx, identity.StoreAdoption{StoreID: *id, Actor: *actor, Reason: *reason}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "database %s adopts the Identity_Link__c rows of %s; the next run records the rows that agree with its plan and writes the others\n", own, *id)
	return nil
}

// decisionRecord is one line of an exported decisions file (JSON lines).
type decisionRecord struct {
	Provider         string `json:"provider"`
	Subject          string `json:"subject"`
	SalesforceUserID string `json:"salesforce_user_id"`
	ObjectID         string `json:"entra_object_id"`
	Approved         bool   `json:"approved"`
	Actor            string `json:"actor"`
	Reason           string `json:"reason"`
	At               string `json:"at"`
}

func linksExportDecisions(ctx context.Context, e env, args []string) error {
	fs := newFlags("links export-decisions", e)
	cfgPath := configFlag(fs, e)
	out := fs.String("o", "", "write to this file instead of standard output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	_, st, err := configAndExistingStore(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	var w io.Writer = e.stdout
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
		if err != nil {
			return fmt.Errorf("decisions file: %w", err)
		}
		defer f.Close()
		w = f
	}
	enc := json.NewEncoder(w)
	n := 0
	err = st.ScanDecisions(ctx, func(d identity.Decision) error {
		n++
		return enc.Encode(decisionRecord{d.Provider, d.Subject, d.SalesforceUserID, d.ObjectID, d.Approved, d.Actor, d.Reason, d.At.UTC().Format("2006-01-02T15:04:05.000000Z")})
	})
	if err != nil {
		return fmt.Errorf("export decisions: %w", err)
	}
	fmt.Fprintf(e.stderr, "exported %d decision(s)\n", n)
	return nil
}

// linksImportDecisions reads an exported decisions file whole, checks every
// line, then records the decisions (each audited) in their order, so that
// the latest decision still wins in the new database.
func linksImportDecisions(ctx context.Context, e env, args []string) error {
	fs := newFlags("links import-decisions", e)
	cfgPath := configFlag(fs, e)
	file, err := parseFileFlags(fs, args)
	if err != nil {
		return err
	}
	if file == "" {
		return withCode(ExitUsage, errors.New("links import-decisions takes the file 'idlink links export-decisions' wrote"))
	}
	f, err := os.Open(file)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("decisions file: %w", err))
	}
	defer f.Close()
	var ds []identity.Decision
	var bad []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var r decisionRecord
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			bad = append(bad, fmt.Sprintf("line %d: not a decision: %v", line, err))
			continue
		}
		d := identity.Decision{Provider: r.Provider, Subject: r.Subject, SalesforceUserID: r.SalesforceUserID, ObjectID: r.ObjectID, Approved: r.Approved, Actor: r.Actor, Reason: r.Reason}
		if d.At, err = time.Parse(time.RFC3339Nano, r.At); err != nil {
			bad = append(bad, fmt.Sprintf("line %d: at %q is not a time", line, r.At))
			continue
		}
		if _, ok := identity.NormalizeGUID(d.ObjectID); !ok || d.SalesforceUserID == "" {
			bad = append(bad, fmt.Sprintf("line %d: a decision names the Entra object id (a GUID) and the Salesforce user id", line))
			continue
		}
		if err := store.CheckDecision(d); err != nil {
			bad = append(bad, fmt.Sprintf("line %d: %v", line, err))
			continue
		}
		ds = append(ds, d)
	}
	if err := sc.Err(); err != nil {
		return withCode(ExitUsage, fmt.Errorf("%s: %w", file, err))
	}
	if len(bad) > 0 {
		return withCode(ExitUsage, fmt.Errorf("%s: %d bad line(s), nothing was imported:\n  %s", file, len(bad), strings.Join(bad, "\n  ")))
	}
	_, st, err := configAndStore(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	have := map[string]bool{}
	key := func(d identity.Decision) string {
		return strings.Join([]string{d.Provider, d.Subject, d.SalesforceUserID, d.ObjectID, fmt.Sprint(d.Approved), d.At.UTC().Format("2006-01-02T15:04:05.000000")}, "\x00")
	}
	if err := st.ScanDecisions(ctx, func(d identity.Decision) error { have[key(d)] = true; return nil }); err != nil {
		return err
	}
	added := 0
	for i, d := range ds {
		if have[key(d)] {
			continue // imported before: importing again is harmless
		}
		if err := st.RecordDecisions(ctx, d); err != nil {
			return fmt.Errorf("record decision %d of %d (%d recorded before it; re-running the import is safe): %w", i+1, len(ds), added, err)
		}
		added++
	}
	fmt.Fprintf(e.stdout, "imported %d decision(s) from %s (%d already here)\n", added, file, len(ds)-added)
	return nil
}
