// Package e2ebench measures `idlink backfill` end to end against the
// simulated Entra tenant and Salesforce org (issue 7, Performance): requests
// per endpoint against the floor of DESIGN §10, wall time against the floor
// of the request chains, and peak memory; and what a scheduled run costs
// after a backfill when few users changed (issue 16). Everything lives in
// its tests:
//
//	IDLINK_BENCH_BACKFILL=1 go test -run TestBackfillReport -v -timeout 20m ./internal/e2ebench/
//	go test -run '^$' -bench BenchmarkBackfill100k -benchtime 1x -timeout 20m ./internal/e2ebench/
//	IDLINK_BENCH_SCHEDULED=1 go test -run TestScheduledRunReport -v -timeout 30m ./internal/e2ebench/
//
// IDLINK_BENCH_USERS sets the tenant size (default 100,000), IDLINK_BENCH_CHANGES
// the changes before the scheduled run (default 1,000). IDLINK_BENCH_POSTGRES=1
// stores the runs of either in a new schema of IDLINK_TEST_POSTGRES_DSN's
// server instead of the world's SQLite file. IDLINK_BENCH_SIM_CPUPROFILE names a file
// for a CPU profile of the simulator's process (the last world started).
// IDLINK_BENCH_LOG names a file that keeps the job's own JSON log of a
// backfill report (its times place the read's end, the plan and the hold of
// a listing).
//
// The simulated world runs in a child process (this test binary re-executed),
// so that the memory and CPU measured are the job's alone, as for the real
// program talking to real services. Every endpoint answers
// IDLINK_BENCH_LATENCY (default 50 ms) after a request arrives, the
// simulator's own work done within it (fault.Faults.WorkInLatency): the
// floors count each request at the latency.
package e2ebench
