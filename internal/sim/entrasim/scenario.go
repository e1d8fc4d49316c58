package entrasim

import (
	"fmt"
	"strings"

	"github.com/idlinkhq/idlink/internal/sim/scenario"
)

// LoadScenario loads a generated world into the simulator: every Entra user
// (deleted ones included, so that delta can report them), groups with their
// user and nested-group members, the Salesforce enterprise application with
// its app-role assignments, and one app registration per OIDC provider so
// that sign-ins can be simulated. Subjects follow w.Subject, so the
// scenario's expected situations and the tokens agree. Call it before the
// simulator serves requests. The simulator's tenant must be w.TenantID.
func (s *Sim) LoadScenario(w *scenario.World) error {
	if !strings.EqualFold(w.TenantID, s.opts.TenantID) {
		return fmt.Errorf("entra sim: scenario tenant %s differs from the simulator's %s: create the simulator with Options.TenantID = world.TenantID", w.TenantID, s.opts.TenantID)
	}
	s.opts.Subject = w.Subject
	if s.ServicePrincipalID(w.App.AppID) == "" {
		if err := s.AddApp(App{ClientID: w.App.AppID, DisplayName: w.App.DisplayName, ServicePrincipalID: w.App.ServicePrincipalID}); err != nil {
			return err
		}
	}
	for _, p := range w.Providers {
		s.mu.RLock()
		_, known := s.apps[strings.ToLower(p.ClientID)]
		s.mu.RUnlock()
		if known {
			continue
		}
		if err := s.AddApp(App{ClientID: p.ClientID, DisplayName: p.Name}); err != nil {
			return fmt.Errorf("entra sim: provider %s: %w", p.Name, err)
		}
	}
	if err := s.AddUser(w.Entra...); err != nil {
		return err
	}
	for _, g := range w.Groups {
		if err := s.AddGroup(g.ID, g.DisplayName); err != nil {
			return err
		}
	}
	for _, g := range w.Groups {
		for _, u := range g.Members {
			if err := s.AddMember(g.ID, w.Entra[u].ObjectID); err != nil {
				return err
			}
		}
		for _, n := range g.Groups {
			if err := s.AddMember(g.ID, w.Groups[n].ID); err != nil {
				return err
			}
		}
	}
	for _, a := range w.Assignments {
		if err := s.AssignAppRole(w.App.AppID, a.PrincipalID, a.AppRoleID); err != nil {
			return err
		}
	}
	return nil
}
