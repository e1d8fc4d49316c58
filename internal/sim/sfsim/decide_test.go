package sfsim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestDecideTable drives Decide with every row of the one decision table the
// Apex handler is tested against too.
func TestDecideTable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "configs", "salesforce", "decision-table.json"))
	if err != nil {
		t.Fatalf("read decision table: %v", err)
	}
	var table struct {
		Outcomes map[string]string `json:"outcomes"`
		Rows     []struct {
			DecisionInput
			Name    string  `json:"name"`
			Outcome Outcome `json:"outcome"`
		} `json:"rows"`
	}
	if err := json.Unmarshal(raw, &table); err != nil {
		t.Fatalf("parse decision table: %v", err)
	}
	if len(table.Rows) == 0 {
		t.Fatal("decision table has no rows")
	}
	for _, o := range []Outcome{OutcomeLinkUser, OutcomeFederationUser, OutcomeCreateUser, OutcomeFailPending, OutcomeFailInactive, OutcomeFailAmbiguous, OutcomeAccountLinkUser} {
		if _, ok := table.Outcomes[string(o)]; !ok {
			t.Errorf("outcome %q is not in the table's outcomes", o)
		}
	}
	for _, row := range table.Rows {
		t.Run(row.Name, func(t *testing.T) {
			if _, ok := table.Outcomes[string(row.Outcome)]; !ok {
				t.Fatalf("row names unknown outcome %q", row.Outcome)
			}
			if row.Handler != HandlerCreate && row.Handler != HandlerConfirm {
				t.Fatalf("row names unknown handler %q", row.Handler)
			}
			if row.Handler == HandlerConfirm && row.Outcome == OutcomeCreateUser {
				t.Fatalf("confirmUser cannot create a user")
			}
			if got := Decide(row.DecisionInput); got != row.Outcome {
				t.Errorf("Decide(%+v) = %s, want %s", row.DecisionInput, got, row.Outcome)
			}
			// Email never decides: flipping it must not change the outcome.
			flipped := row.DecisionInput
			flipped.EmailMatches = !flipped.EmailMatches
			if got := Decide(flipped); got != row.Outcome {
				t.Errorf("email match changed the outcome: %s, want %s", got, row.Outcome)
			}
			// JIT never applies to confirmUser.
			if row.Handler == HandlerConfirm {
				flipped := row.DecisionInput
				flipped.JIT = !flipped.JIT
				if got := Decide(flipped); got != row.Outcome {
					t.Errorf("jit changed a confirmUser outcome: %s, want %s", got, row.Outcome)
				}
			}
		})
	}
}
