package bridgetest

import (
	"github.com/idlinkhq/idlink/internal/bridge"
	"github.com/idlinkhq/idlink/internal/config"
)

// Shipped fills every setting c leaves empty with the shipped default
// (internal/config owns them; the bridge keeps none), so a test states only
// what it is about.
func Shipped(c *bridge.Config) {
	d := config.Defaults().Bridge
	if c.Leeway == 0 {
		c.Leeway = d.Leeway.D()
	}
	if c.JWKSRefreshInterval == 0 {
		c.JWKSRefreshInterval = d.JWKSRefreshInterval.D()
	}
	if c.JWKSMinRefreshInterval == 0 {
		c.JWKSMinRefreshInterval = d.JWKSMinRefreshInterval.D()
	}
	if c.FlushInterval == 0 {
		c.FlushInterval = d.FlushInterval.D()
	}
	if c.EmailPolicy == "" {
		c.EmailPolicy = bridge.EmailPolicy(d.EmailPolicy)
	}
	if c.ListenAddr == "" {
		c.ListenAddr = d.ListenAddr()
	}
}
