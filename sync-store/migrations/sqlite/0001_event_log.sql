-- The event log (SQLite: one writer, so commit order is position order and txid is 0).
CREATE TABLE events
(
    aggregate_type  text                         NOT NULL,
    aggregate_id    text                         NOT NULL,
    sequence        bigint CHECK (sequence >= 0) NOT NULL,
    event_type      text                         NOT NULL,
    event_version   text                         NOT NULL,
    payload         text                         NOT NULL,
    metadata        text                         NOT NULL,
    global_position integer PRIMARY KEY AUTOINCREMENT,
    txid            bigint                       NOT NULL DEFAULT 0,
    recorded_at     bigint                       NOT NULL DEFAULT 0,
    UNIQUE (aggregate_type, aggregate_id, sequence)
);
CREATE UNIQUE INDEX events_global_position ON events (global_position);
CREATE INDEX events_txid_position ON events (txid, global_position);

-- One snapshot per aggregate: the state after `last_sequence`.
CREATE TABLE snapshots
(
    aggregate_type   text                                 NOT NULL,
    aggregate_id     text                                 NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          text                                 NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id)
);

-- Durable cursors: the last (txid, global_position) a consumer has handled.
CREATE TABLE consumer_cursors
(
    consumer text   PRIMARY KEY,
    txid     bigint NOT NULL,
    position bigint NOT NULL
);

-- Projection: one row per link.
CREATE TABLE link_view
(
    link_id        text PRIMARY KEY,
    project_id     text   NOT NULL,
    work_item_id   text,
    issue_id       text,
    issue_key      text,
    status         text   NOT NULL,
    last_synced_at bigint,
    open_conflicts bigint NOT NULL,
    open_intents   bigint NOT NULL,
    intents_emitted bigint NOT NULL,
    next_due_at    bigint,
    seq            bigint NOT NULL
);
CREATE INDEX link_view_work_item ON link_view (work_item_id);
CREATE INDEX link_view_issue ON link_view (issue_id);
CREATE INDEX link_view_due ON link_view (next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX link_view_status ON link_view (status);

-- Projection: the conflict queue.
CREATE TABLE conflict_view
(
    link_id     text   NOT NULL,
    conflict_id text   NOT NULL,
    project_id  text   NOT NULL,
    field       text   NOT NULL,
    conflict    text   NOT NULL,
    detected_at bigint NOT NULL,
    PRIMARY KEY (link_id, conflict_id)
);
CREATE INDEX conflict_view_project ON conflict_view (project_id, detected_at);

-- Projection: open intents, the dispatch queue.
CREATE TABLE intent_queue
(
    link_id   text   NOT NULL,
    intent_id text   NOT NULL,
    seq       bigint NOT NULL,
    due_at    bigint NOT NULL,
    attempts  bigint NOT NULL,
    intent    text   NOT NULL,
    PRIMARY KEY (link_id, intent_id)
);

-- Dispatch leases, one per link (operational state, not a projection: rebuild keeps it).
CREATE TABLE dispatch_leases
(
    link_id     text PRIMARY KEY,
    owner       text   NOT NULL,
    lease_until bigint NOT NULL
);

-- The webhook inbox, deduplicated by delivery id.
CREATE TABLE inbox
(
    delivery_id  text PRIMARY KEY,
    source       text   NOT NULL,
    body         text   NOT NULL,
    received_at  bigint NOT NULL,
    processed_at bigint,
    outcome      text
);
CREATE INDEX inbox_unprocessed ON inbox (received_at) WHERE processed_at IS NULL;

-- Deliveries refused before the inbox (bad signature, unparseable body, ...).
CREATE TABLE inbox_rejected
(
    id          integer PRIMARY KEY AUTOINCREMENT,
    source      text   NOT NULL,
    delivery_id text,
    reason      text   NOT NULL,
    body        text   NOT NULL,
    received_at bigint NOT NULL
);

-- One row per dispatch attempt.
CREATE TABLE sync_log
(
    id          integer PRIMARY KEY AUTOINCREMENT,
    link_id     text   NOT NULL,
    intent_id   text   NOT NULL,
    direction   text   NOT NULL,
    kind        text   NOT NULL,
    started_at  bigint NOT NULL,
    duration_ms bigint NOT NULL,
    outcome     text   NOT NULL,
    error       text
);
CREATE INDEX sync_log_link ON sync_log (link_id, id);
CREATE INDEX sync_log_started ON sync_log (started_at);
