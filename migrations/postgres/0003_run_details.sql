-- Runs whose assessments and actions were deleted by the retention of run
-- details (store.keep_run_details); the run's record and counts stay.
ALTER TABLE runs ADD COLUMN details_pruned BOOLEAN NOT NULL DEFAULT false;
