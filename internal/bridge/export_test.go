package bridge

import "context"

// Flush writes coalesced sightings now (tests only).
func Flush(s *Server, ctx context.Context) (int, error) { return s.obs.flush(ctx) }
