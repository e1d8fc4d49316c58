package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/idlinkhq/idlink/internal/obsfile"
	"github.com/idlinkhq/idlink/internal/store"
)

func cmdObservations(ctx context.Context, e env, args []string) error {
	if len(args) == 0 || args[0] != "import" {
		return withCode(ExitUsage, errors.New("usage: idlink observations import [--format csv|jsonl] FILE"))
	}
	fs := newFlags("observations import", e)
	cfgPath := configFlag(fs, e)
	format := fs.String("format", "", "csv or jsonl (default: detected from the content)")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return withCode(ExitUsage, err)
	}
	if fs.NArg() != 1 {
		return withCode(ExitUsage, errors.New("observations import takes one file: a CSV with header sub,oid,tid,client or JSON lines"))
	}
	path := fs.Arg(0)
	cfg, err := loadConfig(*cfgPath, e)
	if err != nil {
		return err
	}
	providerOf := map[string]string{}
	for _, p := range cfg.Providers {
		providerOf[p.ClientID] = p.Name
	}
	f, err := os.Open(path)
	if err != nil {
		return withCode(ExitUsage, fmt.Errorf("observations file: %w", err))
	}
	defer f.Close()
	br := bufio.NewReader(f)
	fm := obsfile.Format(*format)
	if fm == "" {
		head, _ := br.Peek(512)
		fm = obsfile.Detect(head)
	}
	recs, err := obsfile.Parse(path, br, fm)
	if err != nil {
		return withCode(ExitUsage, err)
	}
	obs, err := obsfile.Observations(path, recs, func(c string) (string, bool) { p, ok := providerOf[c]; return p, ok }, time.Now().UTC())
	if err != nil {
		return withCode(ExitUsage, err)
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	var added, known, conflicts int
	for _, o := range obs {
		res, err := st.RecordObservation(ctx, o)
		if err != nil {
			return fmt.Errorf("record observation from line %d (%d recorded before it; re-running the import is safe): %w", recs[added+known+conflicts].Line, added+known+conflicts, err)
		}
		switch res.Outcome {
		case store.ObservationNew:
			added++
		case store.ObservationKnown:
			known++
		case store.ObservationConflicting:
			conflicts++
			fmt.Fprintf(e.stderr, "conflict: %s sub %s is already bound to oid %s, the file says %s; kept the first, recorded the conflict (shown as disputed)\n", o.Provider, o.Subject, res.Existing.ObjectID, o.ObjectID)
		}
	}
	fmt.Fprintf(e.stdout, "imported %d observation(s) from %s: %d new, %d already known, %d conflicting\n", len(obs), path, added, known, conflicts)
	return nil
}
