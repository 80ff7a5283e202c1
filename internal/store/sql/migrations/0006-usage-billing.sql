-- The usage ledger: per settings entry and UTC day, the most target
-- mailboxes a successful run of that day synced, and the sources it
-- mirrored. tenant is the entry's name (like runs: the ledger outlives a
-- tenant's state); tenant_id its Entra tenant, which groups entries into
-- customers. A day without a row has no successful run: billing carries the
-- last known row over it.
CREATE TABLE usage_days (
    tenant    TEXT NOT NULL,
    day       TEXT NOT NULL, -- YYYY-MM-DD, UTC
    tenant_id TEXT NOT NULL DEFAULT '',
    mailboxes INTEGER NOT NULL,
    sources   INTEGER NOT NULL,
    runs      INTEGER NOT NULL DEFAULT 1,
    last_run  INTEGER NOT NULL,
    PRIMARY KEY (tenant, day)
) STRICT, WITHOUT ROWID;

-- Stripe: one customer and one subscription (with one item) per customer,
-- keyed by Entra tenant id.
CREATE TABLE stripe_customers (
    tenant_id    TEXT PRIMARY KEY,
    customer     TEXT NOT NULL,
    subscription TEXT NOT NULL DEFAULT '',
    item         TEXT NOT NULL DEFAULT '',
    updated      INTEGER NOT NULL
) STRICT;

-- What galmirror set on a subscription for a month: a retried `galmirror
-- stripe` finds it here and writes nothing again.
CREATE TABLE stripe_periods (
    tenant_id       TEXT NOT NULL,
    period          TEXT NOT NULL, -- YYYY-MM
    quantity        INTEGER NOT NULL,
    price           TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    applied         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, period)
) STRICT;

-- Stripe prices galmirror made or found, by lookup key (plan, currency,
-- unit amount).
CREATE TABLE stripe_prices (
    lookup_key TEXT PRIMARY KEY,
    price      TEXT NOT NULL
) STRICT;
