package bridge

import "context"

// Flush writes coalesced sightings now (tests only).
func Flush(s *Server, ctx context.Context) (int, error) { return s.obs.flush(ctx) }

// KeysReady has one channel per key set, closed once its keys have loaded (tests only).
func KeysReady(s *Server) []<-chan struct{} {
	var out []<-chan struct{}
	for _, ks := range s.keySets {
		out = append(out, ks.Ready())
	}
	return out
}
