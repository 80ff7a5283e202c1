-- Schema version 1. Times are Unix milliseconds (UTC); NULL is "never".

-- One row per configured tenant (by settings name).
CREATE TABLE tenants (
    id                      INTEGER PRIMARY KEY,
    name                    TEXT NOT NULL UNIQUE,
    tenant_id               TEXT NOT NULL DEFAULT '',
    users_delta_link        TEXT NOT NULL DEFAULT '',
    org_contacts_delta_link TEXT NOT NULL DEFAULT '',
    paused                  INTEGER NOT NULL DEFAULT 0,
    paused_at               INTEGER,
    paused_by               TEXT NOT NULL DEFAULT '',
    cert_expiry             INTEGER,
    consecutive_failures    INTEGER NOT NULL DEFAULT 0,
    next_run                INTEGER,
    last_success            INTEGER
) STRICT;

-- The source directory as last read; data is the directory package's JSON.
CREATE TABLE persons (
    tenant    INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    kind      TEXT NOT NULL,
    enabled   INTEGER NOT NULL,
    user_type TEXT NOT NULL,
    has_mail  INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (tenant, source_id)
) STRICT;

-- Pages of a full resync, swapped into persons on commit.
CREATE TABLE persons_staging (
    tenant    INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind      TEXT NOT NULL,
    source_id TEXT NOT NULL,
    enabled   INTEGER NOT NULL,
    user_type TEXT NOT NULL,
    has_mail  INTEGER NOT NULL,
    data      BLOB NOT NULL,
    PRIMARY KEY (tenant, kind, source_id)
) STRICT;

CREATE TABLE mailboxes (
    id                  INTEGER PRIMARY KEY,
    tenant              INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id             TEXT NOT NULL,
    upn                 TEXT NOT NULL DEFAULT '',
    folder_id           TEXT NOT NULL DEFAULT '',
    contacts_delta_link TEXT NOT NULL DEFAULT '',
    status              TEXT NOT NULL DEFAULT '',
    error_code          TEXT NOT NULL DEFAULT '',
    error_message       TEXT NOT NULL DEFAULT '',
    request_id          TEXT NOT NULL DEFAULT '',
    uncertain           INTEGER NOT NULL DEFAULT 0,
    last_synced         INTEGER,
    UNIQUE (tenant, user_id)
) STRICT;

-- source id → managed contact, per mailbox. contact_key is a 64-bit FNV-1a
-- hash of contact_id: indexing it instead of the ~150-character id keeps
-- the by-contact-id lookup from doubling the table's size.
CREATE TABLE contacts (
    mailbox     INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    source_id   TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    contact_key INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    change_key  TEXT NOT NULL,
    PRIMARY KEY (mailbox, source_id)
) STRICT, WITHOUT ROWID;

CREATE INDEX contacts_by_key ON contacts (mailbox, contact_key);

-- Run history. tenant is the name, not a reference: history outlives a
-- tenant's state.
CREATE TABLE runs (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant            TEXT NOT NULL,
    trigger_kind      TEXT NOT NULL,
    status            TEXT NOT NULL,
    owner             TEXT NOT NULL DEFAULT '',
    started           INTEGER NOT NULL,
    heartbeat         INTEGER,
    finished          INTEGER,
    duration_ms       INTEGER NOT NULL DEFAULT 0,
    mailboxes_synced  INTEGER NOT NULL DEFAULT 0,
    mailboxes_skipped INTEGER NOT NULL DEFAULT 0,
    mailboxes_failed  INTEGER NOT NULL DEFAULT 0,
    created           INTEGER NOT NULL DEFAULT 0,
    updated           INTEGER NOT NULL DEFAULT 0,
    deleted           INTEGER NOT NULL DEFAULT 0,
    unchanged         INTEGER NOT NULL DEFAULT 0,
    held_back         INTEGER NOT NULL DEFAULT 0,
    graph_requests    INTEGER NOT NULL DEFAULT 0,
    batch_items       INTEGER NOT NULL DEFAULT 0,
    throttled_429     INTEGER NOT NULL DEFAULT 0,
    throttled_503     INTEGER NOT NULL DEFAULT 0,
    error             TEXT NOT NULL DEFAULT ''
) STRICT;

CREATE INDEX runs_by_tenant ON runs (tenant, id);
CREATE INDEX runs_running ON runs (tenant) WHERE status = 'running';

CREATE TABLE run_mailboxes (
    run               INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    user_id           TEXT NOT NULL,
    upn               TEXT NOT NULL DEFAULT '',
    status            TEXT NOT NULL,
    mailboxes_synced  INTEGER NOT NULL DEFAULT 0,
    mailboxes_skipped INTEGER NOT NULL DEFAULT 0,
    mailboxes_failed  INTEGER NOT NULL DEFAULT 0,
    created           INTEGER NOT NULL DEFAULT 0,
    updated           INTEGER NOT NULL DEFAULT 0,
    deleted           INTEGER NOT NULL DEFAULT 0,
    unchanged         INTEGER NOT NULL DEFAULT 0,
    held_back         INTEGER NOT NULL DEFAULT 0,
    graph_requests    INTEGER NOT NULL DEFAULT 0,
    batch_items       INTEGER NOT NULL DEFAULT 0,
    throttled_429     INTEGER NOT NULL DEFAULT 0,
    throttled_503     INTEGER NOT NULL DEFAULT 0,
    error_code        TEXT NOT NULL DEFAULT '',
    error_message     TEXT NOT NULL DEFAULT '',
    request_id        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (run, user_id)
) STRICT, WITHOUT ROWID;

-- The event catalog as it happened; seq is the watch cursor (AUTOINCREMENT:
-- never reused after trimming).
CREATE TABLE events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    time     INTEGER NOT NULL,
    tenant   TEXT NOT NULL DEFAULT '',
    event_id INTEGER NOT NULL CHECK (event_id BETWEEN 1 AND 1000),
    level    TEXT NOT NULL,
    message  TEXT NOT NULL,
    fields   TEXT
) STRICT;
