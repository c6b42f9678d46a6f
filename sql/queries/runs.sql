-- Discovery runs as the analytics tools see them: the current one, and earlier published ones.

-- name: current
SELECT run_id, as_of, finished_at
FROM discovery_runs
WHERE is_current
LIMIT 1;

-- name: days_ago
-- The newest published run at least `days` days older than the current one, by data date (as_of)
-- or, when the data has not moved (same as_of), by when it finished. Half a day of slack: runs are
-- scheduled, and a run "as of 2024-12-03" (end of day) is the one 28 days before 2024-12-31.
SELECT r.run_id, r.as_of, r.finished_at
FROM discovery_runs r, discovery_runs c
WHERE c.is_current
  AND r.run_id <> c.run_id
  AND r.status = 'published'
  AND (r.as_of <= c.as_of - make_interval(days => %(days)s) + interval '12 hours'
       OR r.finished_at <= c.finished_at - make_interval(days => %(days)s) + interval '12 hours')
ORDER BY r.as_of DESC, r.finished_at DESC NULLS LAST
LIMIT 1;

-- name: previous
SELECT r.run_id, r.as_of, r.finished_at
FROM discovery_runs r, discovery_runs c
WHERE c.is_current
  AND r.run_id <> c.run_id
  AND r.status = 'published'
  AND r.finished_at <= c.finished_at
ORDER BY r.finished_at DESC, r.run_id DESC
LIMIT 1;
