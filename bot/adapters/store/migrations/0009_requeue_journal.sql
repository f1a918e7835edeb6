-- The journal of requeues that cannot be atomic: on a Redis Cluster whose processing
-- set, heartbeat keys and target queue are in different hash slots, each batch is
-- recorded here before its ids are pushed onto the queue, and deleted once they
-- have been removed from the processing set (bot/adapters/queues/journaled.py).
-- A row that remains is a batch a crash interrupted: the next requeue of that
-- processing set finishes it (the batch's marker key in Redis says whether its
-- push happened) or gives it up, before doing anything else.
CREATE TABLE requeue_batches (
    id              uuid        PRIMARY KEY,
    run_id          uuid        NOT NULL,
    processing_set  text        NOT NULL,
    target_queue    text        NOT NULL,
    heartbeat_key   text        NOT NULL,
    -- In the queue's hash slot: 'pushed' or 'abandoned', set once, by a script.
    marker_key      text        NOT NULL,
    -- Raw job ids (any bytes Redis holds), in the order they are pushed.
    job_ids         bytea[]     NOT NULL CHECK (cardinality(job_ids) > 0),
    journaled_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX requeue_batches_set ON requeue_batches (processing_set, journaled_at);
