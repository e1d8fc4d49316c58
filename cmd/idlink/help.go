package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/idlinkhq/idlink/internal/report"
)

// helpTopic is what '-h' prints for one command besides its flags: what it
// does, how it is called, what its exit codes mean and an example to copy.
type helpTopic struct {
	usage, about string
	exits        []int
	examples     []string
}

var exitMeaning = map[int]string{
	ExitOK:        "success",
	ExitFailure:   "failure (the message says what failed and what to do)",
	ExitUsage:     "usage or configuration error (nothing was done)",
	ExitSkipped:   "another run holds the lease; nothing was done",
	ExitHeld:      "the safety limit held the plan; nothing was written (review it, then --override RUN)",
	ExitThrottled: "Microsoft Graph or Salesforce throttled past the budget; safe to retry later",
	ExitAPILimit:  "the Salesforce daily API limit is reached; retry after it resets",
	ExitChanges:   "with --detailed-exitcode: the plan has changes",
}

var (
	plainExits = []int{ExitOK, ExitFailure, ExitUsage}
	runExits   = []int{ExitOK, ExitFailure, ExitUsage, ExitSkipped, ExitHeld, ExitThrottled, ExitAPILimit, ExitChanges}
)

// helpTopics are keyed by the flag set's name without "idlink ".
var helpTopics = map[string]helpTopic{
	"demo": {"idlink demo [--users N] [--seed N] [--dir DIR]",
		"Runs the whole story against a simulated tenant and org on SQLite: sign-ins before idlink, the backfill, an approval, sign-ins after. Needs no configuration and writes only under --dir.",
		plainExits, []string{"idlink demo", "idlink demo --users 20000 --dir ./demo"}},
	"bridge": {"idlink bridge [--config FILE]",
		"Serves the Auth. Provider's user info endpoint (/userinfo on bridge.listen) and /healthz and /metrics on bridge.metrics_listen; records each (sub, oid) it sees. Stops on SIGTERM.",
		plainExits, []string{"idlink bridge --config /etc/idlink/idlink.yaml"}},
	"backfill": {"idlink backfill [--config FILE] [--dry-run] [--detailed-exitcode] [--override RUN]",
		"Re-reads both sides in full and re-derives every link: the first run, and after a change of provider, strategy or scope. --dry-run records the plan and writes nothing.",
		runExits, []string{"idlink backfill --config idlink.yaml --dry-run", "idlink backfill --config idlink.yaml --override 12"}},
	"run": {"idlink run [--config FILE] [--dry-run] [--detailed-exitcode] [--override RUN]",
		"One reconciliation: reads what changed since the cursors (everything on the first run), plans, and writes the links the plan allows.",
		runExits, []string{"idlink run --config idlink.yaml", "idlink run --config idlink.yaml --dry-run --detailed-exitcode"}},
	"sim": {"idlink sim [--users N] [--seed N] [--dir DIR]",
		"Serves a simulated Entra tenant and Salesforce org on loopback and prints their endpoints, credentials, a configuration file and a sign-in access token for the bridge, for rehearsing by hand. Stops on Ctrl-C.",
		plainExits, []string{"idlink sim --dir ./rehearsal"}},
	"schedule": {"idlink schedule [--config FILE] [--now] [--grace D]",
		"Daemon: runs a reconciliation on schedule.cron and serves /healthz and /metrics on schedule.listen. Stops on SIGTERM after the current run (at most --grace).",
		plainExits, []string{"idlink schedule --config /etc/idlink/idlink.yaml --now"}},
	"links list": {"idlink links list [--config FILE] [--status S] [--format table|csv] [-o FILE]",
		"Lists links by status, proposals first, with the people they join (Entra UPN and Salesforce username), provider, sub and why. --format csv writes the review file: mark approve or reject in its decision column (and a reason in decision_reason), then give it back to 'idlink links approve|reject --from FILE'.",
		plainExits, []string{"idlink links list --config idlink.yaml", "idlink links list --format csv -o review.csv"}},
	"links approve": {"idlink links approve (--provider P --subject SUB | --from FILE) --actor NAME [--reason TEXT]",
		"Approves a proposed link, or every row marked approve in a review file; the next run writes them to Salesforce. A file is checked whole against the current proposals before anything is stored; the decision and its reason are kept in each link's history.",
		plainExits, []string{`idlink links approve --provider EntraID --subject 1U4Y... --actor alice --reason "checked with HR"`, "idlink links approve --from review.csv --actor alice"}},
	"links reject": {"idlink links reject (--provider P --subject SUB | --from FILE) --actor NAME [--reason TEXT]",
		"Rejects a proposed link, or every row marked reject in a review file; a rejected proposal is withdrawn and not proposed again unless the evidence changes.",
		plainExits, []string{`idlink links reject --provider EntraID --subject 1U4Y... --actor alice --reason "not the same person"`, "idlink links reject --from review.csv --actor alice"}},
	"links history": {"idlink links history --provider P --subject SUB",
		"Shows every change of one link: run, action, old and new user, who decided and why.",
		plainExits, []string{"idlink links history --provider EntraID --subject 1U4Y..."}},
	"links adopt": {"idlink links adopt --store-id ID --reason TEXT --actor NAME",
		"Takes over the Identity_Link__c rows another idlink database wrote to this org (the held run names its id).",
		plainExits, []string{`idlink links adopt --store-id idl-3f9... --reason "old database retired" --actor alice`}},
	"links export-decisions": {"idlink links export-decisions [-o FILE]",
		"Writes every admin decision (approvals, rejections, adoptions) as JSON lines, to carry them to another database.",
		plainExits, []string{"idlink links export-decisions -o decisions.jsonl"}},
	"links import-decisions": {"idlink links import-decisions FILE",
		"Reads decisions written by export-decisions; the whole file is checked before anything is stored.",
		plainExits, []string{"idlink links import-decisions decisions.jsonl"}},
	"migrate": {"idlink migrate [up|status] [--config FILE]",
		"up applies every pending migration (also done at start-up); status shows the applied and the latest schema version.",
		plainExits, []string{"idlink migrate status --config idlink.yaml"}},
	"observations import": {"idlink observations import FILE [--accept-conflicts]",
		"Imports observed (sub, oid, tid, client) pairs from a CSV with header sub,oid,tid,client or from JSON lines. Refused whole when a row contradicts what is recorded, unless --accept-conflicts.",
		plainExits, []string{"idlink observations import --config idlink.yaml signins.csv"}},
	"observations list": {"idlink observations list [--provider P] [--oid OID] [--subject SUB] [--conflicts] [--format table|csv]",
		"Lists recorded observations, or with --conflicts the contested ones.",
		plainExits, []string{"idlink observations list --conflicts"}},
	"observations delete": {"idlink observations delete --provider P --subject SUB --oid OID --reason TEXT --actor NAME",
		"Deletes one wrong observation; the deletion is audited.",
		plainExits, []string{`idlink observations delete --provider EntraID --subject 1U4Y... --oid 3f2a... --reason "test account" --actor alice`}},
	"report": {"idlink report [--config FILE] [--run N] [--format table|csv|json|html|duplicates-csv] [-o FILE] [--all] [--limit N]",
		"Shows a run's coverage, situations, the identities that need a person (in that order), changes since the previous successful run and the plan with each action's outcome; the latest completed run when --run is not given (dry runs by id). --format html writes one self-contained page (no script, no external resource) to open or publish; -o replaces the file only once it is complete.",
		plainExits, []string{"idlink report --config idlink.yaml", "idlink report --format html -o /var/www/idlink/report.html", "idlink report --run 7 --format csv -o run7.csv"}},
	"explain": {"idlink explain [--config FILE] (--upn UPN | --oid OBJECT-ID | --salesforce-id ID)",
		"Shows one identity end to end, as Entra's provision on demand shows one user: what Entra and Salesforce hold, scope, which rule matches and why the others do not, where each provider's sub comes from (bridge, import, link, Salesforce, derivation), the situation and plan of the latest completed run, and the history of its links with who decided what. Reads the database only.",
		plainExits, []string{"idlink explain --upn alice@contoso.com", "idlink explain --salesforce-id 005Hn00000ABCDeIAM"}},
	"runs": {"idlink runs [--config FILE] [--limit N] [--format table|json]",
		"Lists the runs newest first: id, kind (run, backfill, dry-run), status, start, duration, coverage, how many identities need a person, and why a run failed or was held.",
		plainExits, []string{"idlink runs --config idlink.yaml", "idlink runs --limit 0 --format json"}},
	"version": {"idlink version", "Prints the version, the commit and the Go version it was built with.",
		[]int{ExitOK}, []string{"idlink version"}},
}

// setUsage makes fs's -h print the command's topic: usage, description,
// flags, exit codes and examples.
func setUsage(fs *flag.FlagSet, name string, w io.Writer) {
	fs.Usage = func() {
		t, ok := helpTopics[name]
		if !ok {
			fmt.Fprintf(w, "Usage: idlink %s [flags]\n\nFlags:\n", name)
			fs.PrintDefaults()
			return
		}
		fmt.Fprintf(w, "Usage: %s\n\n%s\n", t.usage, report.WrapIndent(t.about, "", 78))
		if hasFlags(fs) {
			fmt.Fprintln(w, "\nFlags:")
			fs.PrintDefaults()
		}
		fmt.Fprintln(w, "\nExit codes:")
		for _, c := range t.exits {
			fmt.Fprintf(w, "  %-3d %s\n", c, exitMeaning[c])
		}
		fmt.Fprintln(w, "\nExamples:")
		for _, ex := range t.examples {
			fmt.Fprintf(w, "  %s\n", ex)
		}
	}
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}
