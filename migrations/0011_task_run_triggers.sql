-- What started a run: `manual` (a person, from the console or `opsdeck run`) or `schedule`
-- (`opsdeck run --due`, from cron or a systemd timer).
ALTER TABLE task_runs ADD COLUMN run_trigger TEXT NOT NULL DEFAULT 'manual';
