package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
)

func cmdLinks(ctx context.Context, e env, args []string) error {
	const usage = "usage: idlink links list|approve|reject|history|adopt|export-decisions|import-decisions [flags]; 'idlink links <command> -h' describes each"
	if len(args) == 0 {
		return withCode(ExitUsage, errors.New(usage))
	}
	if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(e.stderr, usage)
		return nil
	}
	switch args[0] {
	case "list":
		return linksList(ctx, e, args[1:])
	case "approve":
		return linksDecide(ctx, e, args[1:], true)
	case "reject":
		return linksDecide(ctx, e, args[1:], false)
	case "history":
		return linksHistory(ctx, e, args[1:])
	case "adopt":
		return linksAdopt(ctx, e, args[1:])
	case "export-decisions":
		return linksExportDecisions(ctx, e, args[1:])
	case "import-decisions":
		return linksImportDecisions(ctx, e, args[1:])
	}
	return withCode(ExitUsage, fmt.Errorf("unknown 'links' command %q: use list, approve, reject, history, adopt, export-decisions or import-decisions", args[0]))
}

func linksDecide(ctx context.Context, e env, args []string, approve bool) error {
	verb := map[bool]string{true: "approve", false: "reject"}[approve]
	fs := newFlags("links "+verb, e)
	cfgPath := configFlag(fs, e)
	provider := fs.String("provider", "", "provider name of the proposed link (required)")
	subject := fs.String("subject", "", "subject (sub) of the proposed link (required)")
	reason := fs.String("reason", "", "why (kept in the link's history and the audit trail; with --from, for rows without a decision_reason)")
	actor := fs.String("actor", os.Getenv("USER"), "who decides (kept in the audit trail)")
	from := fs.String("from", "", "a review file from 'idlink links list --format csv' with the decision column marked: records every row marked "+verb)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *actor == "" {
		return withCode(ExitUsage, fmt.Errorf("links %s needs --actor (who decides); it is kept in the audit trail", verb))
	}
	if *from != "" {
		if *provider != "" || *subject != "" {
			return withCode(ExitUsage, fmt.Errorf("links %s: give either --from FILE or --provider and --subject, not both", verb))
		}
		_, st, err := configAndExistingStore(ctx, e, *cfgPath)
		if err != nil {
			return err
		}
		defer st.Close()
		return decideFromFile(ctx, e, st, *from, approve, *actor, *reason)
	}
	if *provider == "" || *subject == "" {
		return withCode(ExitUsage, fmt.Errorf("links %s needs --provider and --subject, or --from FILE; 'idlink links list' shows the proposed links", verb))
	}
	cfg, err := loadConfig(*cfgPath, e)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	var found *identity.Link
	err = st.ScanLinks(ctx, func(l identity.Link) error {
		if l.Provider == *provider && l.Subject == *subject {
			found = &l
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("find the link: %w", err)
	}
	if found == nil {
		return withCode(ExitUsage, fmt.Errorf("no link %s/%s: 'idlink links list' shows the proposed links", *provider, *subject))
	}
	if found.Status != identity.LinkProposed {
		return withCode(ExitUsage, fmt.Errorf("link %s/%s is %s, not proposed; only proposed links wait for a decision", *provider, *subject, found.Status))
	}
	d := identity.Decision{
		Provider: found.Provider, Subject: found.Subject, SalesforceUserID: found.SalesforceUserID, ObjectID: found.ObjectID,
		Approved: approve, Actor: *actor, Reason: *reason, At: time.Now().UTC(),
	}
	if err := st.RecordDecisions(ctx, d); err != nil {
		return fmt.Errorf("record the decision: %w", err)
	}
	next := "the next 'idlink run' links it"
	if !approve {
		next = "it will not be proposed again for this user"
	}
	fmt.Fprintf(e.stdout, "%sd %s/%s -> Salesforce user %s (Entra %s); %s\n", verb, found.Provider, found.Subject, found.SalesforceUserID, found.ObjectID, next)
	return nil
}

func linksHistory(ctx context.Context, e env, args []string) error {
	fs := newFlags("links history", e)
	cfgPath := configFlag(fs, e)
	provider := fs.String("provider", "", "provider name (required)")
	subject := fs.String("subject", "", "subject (required)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *provider == "" || *subject == "" {
		return withCode(ExitUsage, errors.New("links history needs --provider and --subject"))
	}
	cfg, err := loadConfig(*cfgPath, e)
	if err != nil {
		return err
	}
	st, err := openExistingStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	hist, err := st.LinkHistory(ctx, identity.LinkKey{Provider: *provider, Subject: *subject})
	if err != nil {
		return fmt.Errorf("link history: %w", err)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tRUN\tACTION\tSTATUS\tSALESFORCE ID\tACTOR\tDETAIL")
	for _, v := range hist {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", v.At.Format(time.RFC3339), v.RunID, v.Action, v.Link.Status, v.Link.SalesforceUserID, v.Actor, v.Detail)
	}
	return tw.Flush()
}
