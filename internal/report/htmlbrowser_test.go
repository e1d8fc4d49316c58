//go:build unix

package report

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestHTMLBrowser opens the HTML report in a real headless Chromium, driven
// over the DevTools protocol, and checks what a person would see: no errors
// (a CSP violation is one), no script, no resource loaded, the situation
// cards showing the report's counts, tables with header cells, text contrast
// of at least 4.5:1, nothing wider than the window. It writes a full-page
// screenshot: to $IDLINK_TEST_ARTIFACTS/report-html.png when that is set,
// otherwise to a temporary directory.
func TestHTMLBrowser(t *testing.T) {
	bin := findChromium()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed: .ci/run installs it")
		}
		t.Skip("no chromium, chromium-browser or google-chrome on PATH")
	}
	began := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	r := Build(sample())
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := r.WriteHTML(&b, htmlOptions()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(page, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}

	wsURL := startChromium(ctx, t, bin, filepath.Join(dir, "profile"))
	target, err := pageTarget(ctx, wsURL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dialCDP(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)

	for _, m := range []string{"Page.enable", "Runtime.enable", "Log.enable"} {
		if _, err := c.call(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.call(ctx, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false}); err != nil {
		t.Fatal(err)
	}
	mark := c.mark()
	res, err := c.call(ctx, "Page.navigate", map[string]any{"url": (&url.URL{Scheme: "file", Path: page}).String()})
	if err != nil {
		t.Fatal(err)
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if json.Unmarshal(res, &nav); nav.ErrorText != "" {
		t.Fatalf("navigation: %s", nav.ErrorText)
	}
	if _, err := c.waitEvent(ctx, "Page.loadEventFired", mark); err != nil {
		t.Fatal(err)
	}

	var got struct {
		Cards           [][3]any `json:"cards"`
		Scripts         int      `json:"scripts"`
		Tables          int      `json:"tables"`
		TablesWithoutTh int      `json:"tablesWithoutTh"`
		H1              int      `json:"h1"`
		Lang            string   `json:"lang"`
		Title           string   `json:"title"`
		Resources       []string `json:"resources"`
		UnlabelledSVG   int      `json:"unlabelledSvg"`
		Contrast        []string `json:"contrast"`
		TextChecked     int      `json:"textChecked"`
		ScrollWidth     int      `json:"scrollWidth"`
	}
	if err := c.evaluate(ctx, pageChecks, &got); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, card := range got.Cards {
		s, _ := card[0].(string)
		n, _ := card[1].(float64)
		counts[s] = int(n)
		if shown, _ := card[2].(string); shown != thousands(int(n)) {
			t.Errorf("card %s shows %q, data-count %v", s, shown, n)
		}
	}
	if len(counts) != len(r.Counts) {
		t.Errorf("cards %v, want one per situation %v", counts, r.Counts)
	}
	for s, n := range r.Counts {
		if counts[s] != n {
			t.Errorf("card %s = %d in the browser, Report.Counts = %d", s, counts[s], n)
		}
	}
	if got.Scripts != 0 {
		t.Errorf("document.scripts.length = %d, want 0", got.Scripts)
	}
	if got.Tables == 0 || got.TablesWithoutTh != 0 {
		t.Errorf("%d tables, %d without th cells", got.Tables, got.TablesWithoutTh)
	}
	if got.H1 != 1 || got.Lang != "en" || got.Title == "" {
		t.Errorf("h1 %d, lang %q, title %q", got.H1, got.Lang, got.Title)
	}
	if len(got.Resources) != 0 {
		t.Errorf("the page loaded resources: %v", got.Resources)
	}
	if got.UnlabelledSVG != 0 {
		t.Errorf("%d charts without a title or aria-label", got.UnlabelledSVG)
	}
	if got.TextChecked == 0 {
		t.Error("the contrast check saw no text")
	}
	for _, f := range got.Contrast {
		t.Errorf("contrast below 4.5:1: %s", f)
	}
	if got.ScrollWidth > 1280 {
		t.Errorf("the page is %d px wide in a 1280 px window", got.ScrollWidth)
	}

	// The screenshot is the test's artifact: kept in IDLINK_TEST_ARTIFACTS
	// when set (.ci/run sets it), else in the test's temporary directory.
	shot := filepath.Join(t.TempDir(), "report.png")
	if dir := os.Getenv("IDLINK_TEST_ARTIFACTS"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		shot = filepath.Join(dir, "report-html.png")
	}
	var metrics struct {
		Content struct{ Width, Height float64 } `json:"cssContentSize"`
	}
	if err := c.callInto(ctx, "Page.getLayoutMetrics", nil, &metrics); err != nil {
		t.Fatal(err)
	}
	var png struct {
		Data []byte `json:"data"` // base64 in JSON
	}
	if err := c.callInto(ctx, "Page.captureScreenshot", map[string]any{
		"format": "png", "captureBeyondViewport": true,
		"clip": map[string]any{"x": 0, "y": 0, "width": 1280, "height": metrics.Content.Height, "scale": 1},
	}, &png); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(shot, png.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (1280 x %.0f px, %d bytes): %s", metrics.Content.Height, len(png.Data), shot)

	// Anything the page logged, threw or had blocked (CSP) is a failure.
	for _, e := range c.eventsSince(0) {
		switch e.Method {
		case "Runtime.consoleAPICalled", "Runtime.exceptionThrown":
			t.Errorf("%s: %s", e.Method, e.Params)
		case "Log.entryAdded":
			var le struct {
				Entry struct{ Level, Source, Text, URL string } `json:"entry"`
			}
			json.Unmarshal(e.Params, &le)
			if le.Entry.Level == "error" || le.Entry.Level == "warning" {
				t.Errorf("browser log %s (%s): %s %s", le.Entry.Level, le.Entry.Source, le.Entry.Text, le.Entry.URL)
			} else {
				t.Logf("browser log %s (%s): %s", le.Entry.Level, le.Entry.Source, le.Entry.Text)
			}
		}
	}
	t.Logf("browser test took %v (%s)", time.Since(began).Round(time.Millisecond), bin)
}

// pageChecks runs in the page (Runtime.evaluate is not subject to the
// page's CSP) and returns what the test asserts.
const pageChecks = `(() => {
  const lum = (c) => {
    const m = c.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/);
    if (!m) return null;
    const ch = [m[1], m[2], m[3]].map(Number).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return {l: 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2], a: m[4] === undefined ? 1 : Number(m[4])};
  };
  const background = (el) => {
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const b = lum(getComputedStyle(e).backgroundColor);
      if (b && b.a > 0) return {b, css: getComputedStyle(e).backgroundColor};
    }
    return {b: {l: 1, a: 1}, css: 'white'};
  };
  const contrast = [];
  let textChecked = 0;
  for (const el of document.body.querySelectorAll('*')) {
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.textContent.trim() !== '');
    if (!own || el.getClientRects().length === 0) continue;
    const cs = getComputedStyle(el);
    if (cs.visibility === 'hidden') continue;
    const isSvg = el instanceof SVGElement;
    const fgCss = isSvg ? cs.fill : cs.color;
    const fg = lum(fgCss);
    const bg = background(isSvg ? el.closest('svg').parentElement : el);
    if (!fg) { contrast.push('unparsed colour ' + fgCss + ' of ' + el.tagName); continue; }
    textChecked++;
    const ratio = (Math.max(fg.l, bg.b.l) + 0.05) / (Math.min(fg.l, bg.b.l) + 0.05);
    if (ratio < 4.5) contrast.push(ratio.toFixed(2) + ' ' + fgCss + ' on ' + bg.css + ': ' + el.tagName + ' ' + JSON.stringify(el.textContent.trim().slice(0, 40)));
  }
  return {
    cards: Array.from(document.querySelectorAll('[data-count]')).map(e => [e.getAttribute('data-situation'), Number(e.getAttribute('data-count')), (e.querySelector('.card-n') || {}).textContent || '']),
    scripts: document.scripts.length,
    tables: document.querySelectorAll('table').length,
    tablesWithoutTh: Array.from(document.querySelectorAll('table')).filter(t => t.querySelectorAll('th').length === 0).length,
    h1: document.querySelectorAll('h1').length,
    lang: document.documentElement.lang,
    title: document.title,
    resources: performance.getEntriesByType('resource').map(e => e.name),
    unlabelledSvg: Array.from(document.querySelectorAll('svg')).filter(s => !s.getAttribute('aria-label') && !s.querySelector(':scope > title')).length,
    contrast, textChecked,
    scrollWidth: document.documentElement.scrollWidth,
  };
})()`

func findChromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// startChromium starts a headless Chromium in its own process group, which
// the test's cleanup kills, and returns its DevTools WebSocket URL.
func startChromium(ctx context.Context, t *testing.T, bin, profile string) string {
	t.Helper()
	cmd := exec.Command(bin, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check", "--hide-scrollbars",
		"--remote-debugging-port=0", "--user-data-dir="+profile, "about:blank")
	lw := &devtoolsLine{found: make(chan string, 1)}
	cmd.Stderr = lw
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // the group this test started
		cmd.Wait()
		if t.Failed() {
			t.Logf("chromium stderr:\n%s", lw.String())
		}
	})
	select {
	case u := <-lw.found:
		return u
	case <-ctx.Done():
		t.Fatalf("no DevTools listening line from chromium: %v\n%s", ctx.Err(), lw.String())
	}
	return ""
}

// devtoolsLine collects Chromium's stderr and reports the WebSocket URL of
// its "DevTools listening on ws://..." line.
type devtoolsLine struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	seen  int
	sent  bool
	found chan string
}

func (d *devtoolsLine) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.buf.Len() < 1<<20 {
		d.buf.Write(p)
	}
	for !d.sent {
		rest := d.buf.Bytes()[d.seen:]
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSpace(string(rest[:i]))
		d.seen += i + 1
		if u, ok := strings.CutPrefix(line, "DevTools listening on "); ok {
			d.sent = true
			d.found <- u
		}
	}
	return len(p), nil
}

func (d *devtoolsLine) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.buf.String()
}

// pageTarget returns the WebSocket URL of a page of the browser, from
// /json/list on the DevTools port (a new page when there is none yet).
func pageTarget(ctx context.Context, browserWS string) (string, error) {
	u, err := url.Parse(browserWS)
	if err != nil {
		return "", err
	}
	get := func(method, path string) ([]byte, error) {
		req, err := http.NewRequestWithContext(ctx, method, "http://"+u.Host+path, nil)
		if err != nil {
			return nil, err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, body)
		}
		return body, err
	}
	type target struct {
		Type string `json:"type"`
		WS   string `json:"webSocketDebuggerUrl"`
	}
	body, err := get(http.MethodGet, "/json/list")
	if err != nil {
		return "", err
	}
	var ts []target
	if err := json.Unmarshal(body, &ts); err != nil {
		return "", err
	}
	for _, tg := range ts {
		if tg.Type == "page" && tg.WS != "" {
			return tg.WS, nil
		}
	}
	body, err = get(http.MethodPut, "/json/new?about:blank")
	if err != nil {
		return "", err
	}
	var tg target
	if err := json.Unmarshal(body, &tg); err != nil || tg.WS == "" {
		return "", fmt.Errorf("no page target: %v %s", err, body)
	}
	return tg.WS, nil
}

// cdpClient speaks the DevTools protocol over the minimal WebSocket client
// below: calls wait for their answer, events are kept in order.
type cdpClient struct {
	ws      *wsConn
	mu      sync.Mutex
	next    int
	pending map[int]chan cdpMessage
	events  []cdpMessage
	notify  chan struct{}
	done    chan struct{}
	err     error
}

type cdpMessage struct {
	ID     int             `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Params json.RawMessage `json:"params,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func dialCDP(ctx context.Context, target string) (*cdpClient, error) {
	ws, err := dialWS(ctx, target)
	if err != nil {
		return nil, err
	}
	c := &cdpClient{ws: ws, pending: map[int]chan cdpMessage{}, notify: make(chan struct{}, 1), done: make(chan struct{})}
	go c.read()
	return c, nil
}

func (c *cdpClient) read() {
	defer close(c.done)
	for {
		data, err := c.ws.read()
		if err != nil {
			c.mu.Lock()
			c.err = err
			c.mu.Unlock()
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		c.mu.Lock()
		if m.ID != 0 {
			if ch := c.pending[m.ID]; ch != nil {
				ch <- m
				delete(c.pending, m.ID)
			}
		} else if m.Method != "" {
			c.events = append(c.events, m)
			select {
			case c.notify <- struct{}{}:
			default:
			}
		}
		c.mu.Unlock()
	}
}

func (c *cdpClient) close() { c.ws.c.Close(); <-c.done }

func (c *cdpClient) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Errorf("devtools connection closed: %v", c.err)
}

func (c *cdpClient) call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	c.mu.Lock()
	c.next++
	id := c.next
	ch := make(chan cdpMessage, 1)
	c.pending[id] = ch
	c.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return nil, err
	}
	if err := c.ws.write(opText, data); err != nil {
		return nil, err
	}
	select {
	case m := <-ch:
		if m.Error != nil {
			return nil, fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		}
		return m.Result, nil
	case <-c.done:
		return nil, c.failure()
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: %w", method, ctx.Err())
	}
}

func (c *cdpClient) callInto(ctx context.Context, method string, params, into any) error {
	res, err := c.call(ctx, method, params)
	if err != nil {
		return err
	}
	return json.Unmarshal(res, into)
}

// evaluate runs a JavaScript expression in the page and decodes its value.
func (c *cdpClient) evaluate(ctx context.Context, expr string, into any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		Exception *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	if err := c.callInto(ctx, "Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true}, &res); err != nil {
		return err
	}
	if res.Exception != nil {
		return fmt.Errorf("evaluate: %s %s", res.Exception.Text, res.Exception.Exception.Description)
	}
	return json.Unmarshal(res.Result.Value, into)
}

// mark is the position in the event list from which waitEvent looks.
func (c *cdpClient) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.events)
}

func (c *cdpClient) eventsSince(i int) []cdpMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]cdpMessage(nil), c.events[i:]...)
}

func (c *cdpClient) waitEvent(ctx context.Context, method string, from int) (cdpMessage, error) {
	for {
		for _, e := range c.eventsSince(from) {
			if e.Method == method {
				return e, nil
			}
			from++
		}
		select {
		case <-c.notify:
		case <-c.done:
			return cdpMessage{}, c.failure()
		case <-ctx.Done():
			return cdpMessage{}, fmt.Errorf("waiting for %s: %w", method, ctx.Err())
		}
	}
}

// wsConn is a minimal WebSocket client (RFC 6455): the opening handshake,
// masked frames out, unmasked frames in, fragments joined, pings answered.
// It is enough for the DevTools protocol's JSON messages.
type wsConn struct {
	c   net.Conn
	br  *bufio.Reader
	wmu sync.Mutex
}

const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

func dialWS(ctx context.Context, raw string) (*wsConn, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "ws" {
		return nil, fmt.Errorf("websocket: scheme %q", u.Scheme)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	nonce := make([]byte, 16)
	rand.Read(nonce)
	key := base64.StdEncoding.EncodeToString(nonce)
	// No Origin header: Chromium accepts DevTools clients without one.
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet})
	if err != nil {
		conn.Close()
		return nil, err
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %s, accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	return &wsConn{c: conn, br: br}, nil
}

func (w *wsConn) write(op byte, payload []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	frame := []byte{0x80 | op} // FIN: one frame per message
	switch n := len(payload); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	case n <= 0xFFFF:
		frame = append(frame, 0x80|126)
		frame = binary.BigEndian.AppendUint16(frame, uint16(n))
	default:
		frame = append(frame, 0x80|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	var mask [4]byte
	rand.Read(mask[:])
	frame = append(frame, mask[:]...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	_, err := w.c.Write(frame)
	return err
}

// read returns the next text or binary message.
func (w *wsConn) read() ([]byte, error) {
	var msg []byte
	for {
		var h [2]byte
		if _, err := io.ReadFull(w.br, h[:]); err != nil {
			return nil, err
		}
		fin, op, masked := h[0]&0x80 != 0, h[0]&0x0F, h[1]&0x80 != 0
		n := uint64(h[1] & 0x7F)
		switch n {
		case 126:
			var l [2]byte
			if _, err := io.ReadFull(w.br, l[:]); err != nil {
				return nil, err
			}
			n = uint64(binary.BigEndian.Uint16(l[:]))
		case 127:
			var l [8]byte
			if _, err := io.ReadFull(w.br, l[:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(l[:])
		}
		if n > 512<<20 {
			return nil, fmt.Errorf("websocket: frame of %d bytes", n)
		}
		var mask [4]byte
		if masked {
			if _, err := io.ReadFull(w.br, mask[:]); err != nil {
				return nil, err
			}
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(w.br, p); err != nil {
			return nil, err
		}
		if masked {
			for i := range p {
				p[i] ^= mask[i%4]
			}
		}
		switch op {
		case opPing:
			if err := w.write(opPong, p); err != nil {
				return nil, err
			}
		case opPong:
		case opClose:
			w.write(opClose, nil)
			return nil, errors.New("websocket: closed by the server")
		case opText, opBinary, opContinuation:
			msg = append(msg, p...)
			if fin {
				return msg, nil
			}
		default:
			return nil, fmt.Errorf("websocket: opcode %d", op)
		}
	}
}
