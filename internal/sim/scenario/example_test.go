package scenario_test

import (
	"fmt"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

func ExampleGenerate() {
	w, err := scenario.Generate(scenario.Config{Seed: 1, Users: 1000, Domain: "contoso.com"})
	if err != nil {
		panic(err)
	}
	listed := 0
	for i := range w.Entra {
		if w.Listed(i) { // what GET /users returns
			listed++
		}
	}
	fmt.Println("Entra users listed:", listed, "of", len(w.Entra))
	fmt.Println("Salesforce users:", len(w.Salesforce))
	counts := scenario.CountSituations(w.Expected())
	for _, s := range identity.Situations {
		fmt.Printf("%s %d\n", s, counts[s])
	}
	fmt.Println("sub length:", len(w.Subject(w.Providers[0].ClientID, w.Entra[0].ObjectID)))
	// Output:
	// Entra users listed: 960 of 1000
	// Salesforce users: 941
	// linked 50
	// unlinked 720
	// unmatched 30
	// orphaned 41
	// disputed 10
	// misrouted 30
	// deprovisioned 50
	// sub length: 43
}
