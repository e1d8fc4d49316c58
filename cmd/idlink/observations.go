package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/idlinkhq/idlink/internal/csvsafe"

	"github.com/idlinkhq/idlink/internal/config"
	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/obsfile"
	"github.com/idlinkhq/idlink/internal/store"
)

const observationsUsage = "usage: idlink observations import|list|delete [flags]"

func cmdObservations(ctx context.Context, e env, args []string) error {
	if len(args) == 0 {
		return withCode(ExitUsage, errors.New(observationsUsage))
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(e.stderr, observationsUsage+"; 'idlink observations <command> -h' describes each")
		return nil
	}
	switch args[0] {
	case "import":
		return observationsImport(ctx, e, args[1:])
	case "list":
		return observationsList(ctx, e, args[1:])
	case "delete":
		return observationsDelete(ctx, e, args[1:])
	}
	return withCode(ExitUsage, fmt.Errorf("unknown 'observations' command %q: use import, list or delete", args[0]))
}

// configuredTenants are the tenants observations may come from.
func configuredTenants(cfg config.Config) map[string]bool {
	out := map[string]bool{}
	add := func(t string) {
		if g, ok := identity.NormalizeGUID(t); ok {
			out[g] = true
		}
	}
	add(cfg.Entra.TenantID)
	for _, is := range cfg.Bridge.Issuers {
		for _, t := range is.TenantIDs {
			add(t)
		}
	}
	return out
}

func observationsImport(ctx context.Context, e env, args []string) error {
	fs := newFlags("observations import", e)
	cfgPath := configFlag(fs, e)
	format := fs.String("format", "", "csv or jsonl (default: detected from the content)")
	accept := fs.Bool("accept-conflicts", false, "record conflicting rows as conflicts (the identities involved become disputed) instead of refusing the file")
	file, err := parseFileFlags(fs, args)
	if err != nil {
		return err
	}
	if file == "" {
		return withCode(ExitUsage, errors.New("observations import takes one file: a CSV with header sub,oid,tid,client or JSON lines"))
	}
	cfg, err := loadConfig(*cfgPath, e)
	if err != nil {
		return err
	}
	providerOf := map[string]string{}
	for _, p := range cfg.Providers {
		providerOf[p.ClientID] = p.Name
	}
	f, err := os.Open(file)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("observations file: %w", err))
	}
	defer f.Close()
	br := bufio.NewReader(f)
	fm := obsfile.Format(*format)
	if fm == "" {
		head, _ := br.Peek(512)
		fm = obsfile.Detect(head)
	}
	recs, err := obsfile.Parse(file, br, fm)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	tenants := configuredTenants(cfg)
	if err := obsfile.CheckTenants(file, recs, func(t string) bool { return tenants[t] }); err != nil {
		return withCode(ExitUsage, err)
	}
	obs, err := obsfile.Observations(file, recs, func(c string) (string, bool) { p, ok := providerOf[c]; return p, ok }, time.Now().UTC())
	if err != nil {
		return withCode(ExitUsage, err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	conflicts, err := importConflicts(ctx, st, obs)
	if err != nil {
		return err
	}
	for _, c := range conflicts {
		fmt.Fprintf(e.stderr, "conflict: line %d: %s\n", recs[c.index].Line, c.msg)
	}
	if len(conflicts) > 0 && !*accept {
		return withCode(ExitUsage, fmt.Errorf("%s: %d conflicting row(s), nothing was imported: correct the file, remove the wrong observation with 'idlink observations delete', or re-run with --accept-conflicts to record them (the identities involved are then disputed until an admin resolves them)", file, len(conflicts)))
	}
	var added, known, recorded int
	for i, o := range obs {
		res, err := st.RecordObservation(ctx, o)
		if err != nil {
			return fmt.Errorf("record observation from line %d (%d recorded before it; re-running the import is safe): %w", recs[i].Line, i, err)
		}
		switch res.Outcome {
		case identity.ObservationNew:
			added++
		case identity.ObservationKnown:
			known++
		case identity.ObservationConflicting:
			recorded++
		}
	}
	fmt.Fprintf(e.stdout, "imported %d observation(s) from %s: %d new, %d already known, %d conflicting\n", len(obs), file, added, known, len(conflicts))
	if recorded > 0 || len(conflicts) > 0 {
		fmt.Fprintf(e.stdout, "the %d conflicting row(s) are recorded; the identities involved are disputed until an admin resolves them ('idlink observations list --conflicts')\n", len(conflicts))
	}
	return nil
}

type importConflict struct {
	index int
	msg   string
}

// importConflicts checks the observations against what the store already
// knows and against each other: a subject belongs to one user, and one user
// has one subject per provider (client).
func importConflicts(ctx context.Context, st store.Store, obs []identity.Observation) ([]importConflict, error) {
	type ps struct{ provider, key string }
	subOwner := map[ps]string{} // (provider, sub) -> oid
	oidSub := map[ps]string{}   // (provider, oid) -> sub
	err := st.ScanObservations(ctx, func(o identity.Observation) error {
		oid, _ := identity.NormalizeGUID(o.ObjectID)
		subOwner[ps{o.Provider, o.Subject}] = oid
		oidSub[ps{o.Provider, oid}] = o.Subject
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read observations: %w", err)
	}
	err = st.ScanLinks(ctx, func(l identity.Link) error {
		if l.Status == identity.LinkRevoked {
			return nil
		}
		oid, _ := identity.NormalizeGUID(l.ObjectID)
		if _, ok := subOwner[ps{l.Provider, l.Subject}]; !ok {
			subOwner[ps{l.Provider, l.Subject}] = oid
		}
		if _, ok := oidSub[ps{l.Provider, oid}]; !ok {
			oidSub[ps{l.Provider, oid}] = l.Subject
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read links: %w", err)
	}
	var out []importConflict
	for i, o := range obs {
		if owner, ok := subOwner[ps{o.Provider, o.Subject}]; ok && owner != o.ObjectID {
			out = append(out, importConflict{i, fmt.Sprintf("%s sub %s is already bound to Entra user %s; the file says %s", o.Provider, o.Subject, owner, o.ObjectID)})
			continue
		}
		if sub, ok := oidSub[ps{o.Provider, o.ObjectID}]; ok && sub != o.Subject {
			out = append(out, importConflict{i, fmt.Sprintf("Entra user %s already has sub %s for %s; the file gives it a second one, %s (one user has one sub per client)", o.ObjectID, sub, o.Provider, o.Subject)})
			continue
		}
		subOwner[ps{o.Provider, o.Subject}] = o.ObjectID
		oidSub[ps{o.Provider, o.ObjectID}] = o.Subject
	}
	return out, nil
}

func observationsList(ctx context.Context, e env, args []string) error {
	fs := newFlags("observations list", e)
	cfgPath := configFlag(fs, e)
	provider := fs.String("provider", "", "only this provider")
	oid := fs.String("oid", "", "only this Entra object id")
	subject := fs.String("subject", "", "only this subject")
	onlyConflicts := fs.Bool("conflicts", false, "only subjects with a recorded conflict")
	format := fs.String("format", "table", "table or csv")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *format != "table" && *format != "csv" {
		return withCode(ExitUsage, fmt.Errorf("--format %q: use table or csv", *format))
	}
	wantOID := ""
	if *oid != "" {
		g, ok := identity.NormalizeGUID(*oid)
		if !ok {
			return withCode(ExitUsage, fmt.Errorf("--oid %q is not a GUID", *oid))
		}
		wantOID = g
	}
	_, st, err := configAndExistingStore(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	conflicts, err := st.ListObservationConflicts(ctx)
	if err != nil {
		return err
	}
	contested := map[identity.LinkKey][]identity.ObservationConflict{}
	for _, c := range conflicts {
		k := identity.LinkKey{Provider: c.Provider, Subject: c.Subject}
		contested[k] = append(contested[k], c)
	}
	header := []string{"provider", "subject", "entra_object_id", "tenant_id", "source", "first_seen", "last_seen", "count", "conflict"}
	var rows [][]string
	listed := map[identity.LinkKey]bool{} // subjects whose observation is a row (its conflicts are in its note)
	keep := func(p, s, o string) bool {
		g, _ := identity.NormalizeGUID(o)
		return (*provider == "" || p == *provider) && (*subject == "" || s == *subject) && (wantOID == "" || g == wantOID)
	}
	err = st.ScanObservations(ctx, func(o identity.Observation) error {
		cs := contested[identity.LinkKey{Provider: o.Provider, Subject: o.Subject}]
		if *onlyConflicts && len(cs) == 0 || !keep(o.Provider, o.Subject, o.ObjectID) {
			return nil
		}
		note := ""
		for _, c := range cs {
			note += fmt.Sprintf("also seen with %s (%s, %s); ", c.OtherObject, c.Source, c.SeenAt.UTC().Format(time.RFC3339))
		}
		rows = append(rows, []string{o.Provider, o.Subject, o.ObjectID, o.TenantID, string(o.Source), o.FirstSeen.UTC().Format(time.RFC3339), o.LastSeen.UTC().Format(time.RFC3339), fmt.Sprint(o.Count), strings.TrimSuffix(note, "; ")})
		listed[identity.LinkKey{Provider: o.Provider, Subject: o.Subject}] = true
		return nil
	})
	if err != nil {
		return err
	}
	// Conflicts whose first binding was deleted still bind their other oid.
	for _, c := range conflicts {
		if keep(c.Provider, c.Subject, c.OtherObject) && !listed[identity.LinkKey{Provider: c.Provider, Subject: c.Subject}] {
			rows = append(rows, []string{c.Provider, c.Subject, c.OtherObject, "", string(c.Source), "", c.SeenAt.UTC().Format(time.RFC3339), "", "conflict row: first bound to " + c.ObjectID})
		}
	}
	if *format == "csv" {
		cw := csv.NewWriter(e.stdout)
		_ = cw.Write(header)
		for _, r := range rows {
			for i := range r {
				r[i] = csvsafe.Cell(r[i])
			}
			_ = cw.Write(r)
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tSUBJECT\tENTRA OBJECT ID\tSOURCE\tLAST SEEN\tCOUNT\tCONFLICT")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r[0], r[1], r[2], r[4], r[6], r[7], r[8])
	}
	tw.Flush()
	fmt.Fprintf(e.stdout, "%d observation(s), %d recorded conflict(s)\n", len(rows), len(conflicts))
	return nil
}

func observationsDelete(ctx context.Context, e env, args []string) error {
	fs := newFlags("observations delete", e)
	cfgPath := configFlag(fs, e)
	provider := fs.String("provider", "", "provider of the observation (required)")
	subject := fs.String("subject", "", "subject (sub) of the observation (required)")
	oid := fs.String("oid", "", "the Entra object id the wrong observation binds the subject to (required)")
	actor := fs.String("actor", os.Getenv("USER"), "who deletes (kept in the audit log)")
	reason := fs.String("reason", "", "why it is wrong (required; kept in the audit log)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *provider == "" || *subject == "" || *oid == "" || *reason == "" || *actor == "" {
		return withCode(ExitUsage, errors.New("observations delete needs --provider, --subject, --oid, --reason and --actor; 'idlink observations list --conflicts' shows what is contested"))
	}
	g, ok := identity.NormalizeGUID(*oid)
	if !ok {
		return withCode(ExitUsage, fmt.Errorf("--oid %q is not a GUID", *oid))
	}
	_, st, err := configAndStore(ctx, e, *cfgPath)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := st.DeleteObservation(ctx, identity.ObservationDeletion{Provider: *provider, Subject: *subject, ObjectID: g, Actor: *actor, Reason: *reason})
	if errors.Is(err, store.ErrNotFound) {
		return withCode(ExitUsage, fmt.Errorf("no observation binds %s/%s to %s: 'idlink observations list --subject %s' shows what is recorded", *provider, *subject, g, *subject))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "deleted %d record(s) binding %s/%s to %s; the next run decides the identity again\n", n, *provider, *subject, g)
	return nil
}
