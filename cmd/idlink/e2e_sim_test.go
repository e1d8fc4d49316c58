package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// lineWaiter hands each line written to it to a channel, so a test can wait
// for a command's "ready" line instead of sleeping.
func lineWaiter(t *testing.T) (io.Writer, <-chan string) {
	pr, pw := io.Pipe()
	lines := make(chan string, 256)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			select { // never block the command on a test that stopped reading
			case lines <- sc.Text():
			default:
			}
		}
		close(lines)
	}()
	t.Cleanup(func() { pw.Close() })
	return pw, lines
}

// waitLine returns the first line matching re, failing after a deadline.
func waitLine(t *testing.T, lines <-chan string, re *regexp.Regexp, seen *[]string) []string {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended before %s:\n%s", re, strings.Join(*seen, "\n"))
			}
			*seen = append(*seen, l)
			if m := re.FindStringSubmatch(l); m != nil {
				return m
			}
		case <-deadline:
			t.Fatalf("no line matching %s within 60s:\n%s", re, strings.Join(*seen, "\n"))
		}
	}
}

// TestSimRehearsesTheBridge follows the README: 'idlink sim' prints a
// sign-in access token and a curl line; 'idlink bridge' with the config sim
// wrote serves /userinfo over TLS to a client trusting the printed CA, and
// answers with the token's sub.
func TestSimRehearsesTheBridge(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	noEnv := func(string) string { return "" }

	simOut, simLines := lineWaiter(t)
	simDone := make(chan int, 1)
	go func() { simDone <- Run(ctx, []string{"sim", "--dir", dir, "--users", "40"}, simOut, io.Discard, noEnv) }()
	var seen []string
	curl := waitLine(t, simLines, regexp.MustCompile(`curl --cacert (\S+) -H "Authorization: Bearer \$\(cat (\S+)\)" https://(\S+)/userinfo`), &seen)
	sub := waitLine(t, simLines, regexp.MustCompile(`sign-in access token \(sub (\S+),`), &seen)[1]
	waitLine(t, simLines, regexp.MustCompile(`^Serving until interrupted`), &seen)
	caFile, tokenFile := curl[1], curl[2]

	// The printed port is fixed (8443); this test lets the kernel choose.
	cfgFile := dir + "/idlink.yaml"
	raw, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	yaml := strings.Replace(string(raw), `listen: "`+curl[3]+`"`, `listen: "127.0.0.1:0"`+"\n  metrics_listen: \"127.0.0.1:0\"", 1)
	if yaml == string(raw) {
		t.Fatalf("config has no bridge listen %s:\n%s", curl[3], raw)
	}
	yaml += "log:\n  format: json\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	bridgeLog, bridgeLines := lineWaiter(t)
	bridgeDone := make(chan int, 1)
	go func() { bridgeDone <- Run(ctx, []string{"bridge", "--config", cfgFile}, io.Discard, bridgeLog, noEnv) }()
	var blog []string
	addr := waitLine(t, bridgeLines, regexp.MustCompile(`"msg":"bridge: listening","addr":"([^"]+)","tls":true`), &blog)[1]

	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	token, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+addr+"/userinfo", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || resp.StatusCode != 200 {
		t.Fatalf("userinfo: %d %v %v", resp.StatusCode, body, err)
	}
	if body["sub"] != sub || body["oid"] == "" {
		t.Errorf("userinfo %v, want sub %s", body, sub)
	}
	cancel()
	for name, done := range map[string]chan int{"sim": simDone, "bridge": bridgeDone} {
		select {
		case code := <-done:
			if code != ExitOK {
				t.Errorf("%s exited %d", name, code)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("%s did not stop after cancel", name)
		}
	}
}
