package job

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/idlinkhq/idlink/internal/identity"
	"github.com/idlinkhq/idlink/internal/reconcile"
	"github.com/idlinkhq/idlink/internal/store"
)

// Progress is what a long run reports while it works (for a terminal).
type Progress struct {
	Stage           string // reading, matching, writing, done
	Elapsed         time.Duration
	EntraUsers      int64 // Entra users written to the store so far
	SalesforceUsers int64
	AccountLinks    int64
	Identities      int64 // assessed, once matching is done
	Written         int64 // link records Salesforce answered for
	ToWrite         int64 // link records the plan writes
}

// meter counts what the sources and the writer pass through it.
type meter struct {
	start                          time.Time
	stage                          atomic.Value // string
	entra, sf, links, ids, written atomic.Int64
	toWrite                        atomic.Int64
}

func newMeter() *meter {
	m := &meter{start: time.Now()}
	m.stage.Store("reading")
	return m
}

func (m *meter) snapshot() Progress {
	return Progress{
		Stage: m.stage.Load().(string), Elapsed: time.Since(m.start),
		EntraUsers: m.entra.Load(), SalesforceUsers: m.sf.Load(), AccountLinks: m.links.Load(),
		Identities: m.ids.Load(), Written: m.written.Load(), ToWrite: m.toWrite.Load(),
	}
}

// report calls fn with the meter's state every interval until ctx is done,
// and once more at the end.
func (m *meter) report(ctx context.Context, fn func(Progress), every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fn(m.snapshot())
			return
		case <-t.C:
			fn(m.snapshot())
		}
	}
}

// countingStore counts the snapshot pages the sources write.
type countingStore struct {
	store.Store
	m *meter
}

func (c countingStore) UpsertEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser, cursor *identity.Cursor) error {
	err := c.Store.UpsertEntraUsers(ctx, runID, users, cursor)
	if err == nil {
		c.m.entra.Add(int64(len(users)))
	}
	return err
}

func (c countingStore) StageEntraUsers(ctx context.Context, runID int64, users []identity.EntraUser) error {
	err := c.Store.StageEntraUsers(ctx, runID, users)
	if err == nil {
		c.m.entra.Add(int64(len(users)))
	}
	return err
}

func (c countingStore) UpsertSalesforceUsers(ctx context.Context, runID int64, users []identity.SalesforceUser, cursor *identity.Cursor) error {
	err := c.Store.UpsertSalesforceUsers(ctx, runID, users, cursor)
	if err == nil {
		c.m.sf.Add(int64(len(users)))
	}
	return err
}

func (c countingStore) UpsertAccountLinks(ctx context.Context, runID int64, links []identity.ThirdPartyAccountLink) error {
	err := c.Store.UpsertAccountLinks(ctx, runID, links)
	if err == nil {
		c.m.links.Add(int64(len(links)))
	}
	return err
}

// countingWriter counts the link records Salesforce answered for.
type countingWriter struct {
	reconcile.LinkWriter
	m *meter
}

func (c countingWriter) UpsertLinks(ctx context.Context, links []identity.Link) ([]identity.WriteResult, error) {
	res, err := c.LinkWriter.UpsertLinks(ctx, links)
	c.m.written.Add(int64(len(res)))
	return res, err
}
