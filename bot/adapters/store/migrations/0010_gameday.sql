-- Game days (issue 14; bot/services/gameday.py): one row per drill. `reserved` is
-- raised before each batch of synthetic jobs is pushed, so the ids a run may have put
-- on its queue are always `job_prefix || run_id || '-' || 000000 .. reserved-1`: a run
-- whose process died (finished_at still NULL) is cleaned up from this row alone.
CREATE TABLE gameday_runs (
    run_id        text        PRIMARY KEY,
    playbook      text        NOT NULL,
    queue         text        NOT NULL,
    job_prefix    text        NOT NULL,
    started_at    timestamptz NOT NULL,
    reserved      integer     NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    pushed        integer     NOT NULL DEFAULT 0,
    removed       integer     NOT NULL DEFAULT 0,
    taken         integer     NOT NULL DEFAULT 0,
    incident_id   bigint,
    crossed_at    timestamptz,
    detected_at   timestamptz,
    posted_at     timestamptz,
    paged_at      timestamptz,
    -- 'passed', 'failed', 'interrupted' (its process died; cleaned up later)
    outcome       text,
    failures      text[]      NOT NULL DEFAULT '{}',
    finished_at   timestamptz
);
CREATE INDEX gameday_runs_unfinished ON gameday_runs (playbook) WHERE finished_at IS NULL;
