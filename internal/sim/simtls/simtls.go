// Package simtls makes the certificate the simulated Entra and Salesforce
// serve. MSAL (and so azidentity) refuses authorities that are not https, so
// the simulator must speak TLS, and its clients must be told to trust it.
package simtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"time"
)

// Authority is a throw-away certificate authority plus one server certificate
// it signed for loopback names (and any extra host names given to New).
type Authority struct {
	caPEM  []byte
	pool   *x509.CertPool
	server tls.Certificate
}

// New creates an authority and a server certificate valid for localhost,
// 127.0.0.1, ::1 and hosts, for 30 days.
func New(hosts ...string) (*Authority, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("simtls: ca key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "idlink simulator CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(30 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("simtls: ca certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("simtls: parse ca: %w", err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("simtls: server key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "idlink simulator"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			leafTmpl.IPAddresses = append(leafTmpl.IPAddresses, ip)
		} else {
			leafTmpl.DNSNames = append(leafTmpl.DNSNames, h)
		}
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("simtls: server certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return &Authority{
		caPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		pool:   pool,
		server: tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey, Leaf: nil},
	}, nil
}

// ServerTLS is the configuration a simulator listener serves with.
func (a *Authority) ServerTLS() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{a.server}, MinVersion: tls.VersionTLS12}
}

// Pool holds the authority's certificate, for clients that must trust it.
func (a *Authority) Pool() *x509.CertPool { return a.pool }

// CAPEM is the authority certificate in PEM form (what an admin passes as a CA bundle).
func (a *Authority) CAPEM() []byte { return append([]byte(nil), a.caPEM...) }

// WriteCA writes the authority certificate to path as PEM.
func (a *Authority) WriteCA(path string) error {
	if err := os.WriteFile(path, a.caPEM, 0o644); err != nil {
		return fmt.Errorf("simtls: write CA bundle: %w", err)
	}
	return nil
}

// WriteServerCert writes the loopback server certificate (with the
// authority's) and its private key as PEM, for a server started outside the
// simulator that clients trusting the authority should reach over TLS.
func (a *Authority) WriteServerCert(certPath, keyPath string) error {
	var chain []byte
	for _, der := range a.server.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(a.server.PrivateKey)
	if err != nil {
		return fmt.Errorf("simtls: server key: %w", err)
	}
	if err := os.WriteFile(certPath, chain, 0o644); err != nil {
		return fmt.Errorf("simtls: write server certificate: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("simtls: write server key: %w", err)
	}
	return nil
}

// ClientTransport returns a transport that trusts the authority (and nothing else).
func (a *Authority) ClientTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: a.pool, MinVersion: tls.VersionTLS12}
	t.MaxIdleConnsPerHost = 64
	return t
}

// Client returns an HTTP client that trusts the authority.
func (a *Authority) Client() *http.Client { return &http.Client{Transport: a.ClientTransport()} }
