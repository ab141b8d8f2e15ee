-- Where the runtime's pollers stand, so a restart goes on from there: one row per named
-- checkpoint (e.g. `jira-poll:<project>`, `host-poll:<project>`), an opaque value written
-- by its one owner, and when it was written.
CREATE TABLE checkpoints
(
    name       text   PRIMARY KEY,
    value      text   NOT NULL,
    updated_at bigint NOT NULL
);
