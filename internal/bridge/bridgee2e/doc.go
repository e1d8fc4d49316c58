// Package bridgee2e holds the bridge's end-to-end tests against the simulated
// Entra tenant (internal/sim/entrasim): real TLS, real discovery and JWKS, real
// pairwise subjects the test cannot compute. It has no non-test code; it is a
// separate package so that the bridge's unit tests do not depend on the simulator.
package bridgee2e
