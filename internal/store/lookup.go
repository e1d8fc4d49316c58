package store

// LookupIndexes are the indexes Related uses to find records by key.
// Only incremental plans read by them: a backfill drops them (StopJournal)
// and the first incremental plan after it builds them (PrepareRelated), in
// one sort each. Maintained row by row, they made a 1M-user backfill 4.5
// times as slow. The users' case-folded keys live in tables of their own
// (entra_user_keys, salesforce_user_keys) with the same lifecycle: emptied
// by StopJournal, filled by PrepareRelated, kept current by the user writes
// in between.
var LookupIndexes = []struct{ Name, Table, Columns string }{
	{"entra_user_keys_upn", "entra_user_keys", "upn_key"},
	{"entra_user_keys_mail", "entra_user_keys", "mail_key"},
	{"salesforce_user_keys_username", "salesforce_user_keys", "username_key"},
	{"salesforce_user_keys_email", "salesforce_user_keys", "email_key"},
	{"salesforce_user_keys_fed", "salesforce_user_keys", "fed_key"},
	{"account_links_subject", "account_links", "provider, remote_identifier"},
	{"account_links_user", "account_links", "user_id"},
	{"remote_links_user", "remote_links", "salesforce_user_id"},
	{"remote_links_oid", "remote_links", "object_id"},
	{"links_user", "links", "salesforce_user_id"},
	{"links_oid", "links", "object_id"},
	{"observations_oid", "observations", "object_id"},
	{"observation_conflicts_oid", "observation_conflicts", "object_id"},
	{"observation_conflicts_other", "observation_conflicts", "other_object_id"},
	{"decisions_subject", "decisions", "provider, subject"},
	{"decisions_user", "decisions", "salesforce_user_id"},
	{"decisions_oid", "decisions", "object_id"},
	// An incremental plan reads its base run's assessments of the
	// identities it plans again (AssessmentsAbout): without this, a scan of
	// the full run's million rows in every scheduled run.
	{"run_assessments_identity", "run_assessments", "run_id, object_id, salesforce_user_id"},
}

// CreateLookupIndexes and DropLookupIndexes are the statements that make and
// remove LookupIndexes; both dialects accept them.
func CreateLookupIndexes() []string {
	out := make([]string, len(LookupIndexes))
	for i, x := range LookupIndexes {
		out[i] = "CREATE INDEX IF NOT EXISTS " + x.Name + " ON " + x.Table + " (" + x.Columns + ")"
	}
	return out
}

func DropLookupIndexes() []string {
	out := make([]string, len(LookupIndexes))
	for i, x := range LookupIndexes {
		out[i] = "DROP INDEX IF EXISTS " + x.Name
	}
	return out
}
