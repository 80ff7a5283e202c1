-- The admin audit trail (events 600-602) is kept under its own retention, so
-- that ordinary events cannot push it out, nor the reverse. class: 0 an
-- ordinary event, 1 an operator action (600), 2 a denied call (601) or failed
-- authentication (602), which a full audit trail gives up before operator
-- actions.
ALTER TABLE events ADD COLUMN class INTEGER NOT NULL
    GENERATED ALWAYS AS (CASE WHEN event_id = 600 THEN 1 WHEN event_id IN (601, 602) THEN 2 ELSE 0 END) VIRTUAL;
CREATE INDEX events_by_class ON events (class, seq);

-- How many events of each class are kept, so that trimming a class costs
-- the rows it removes rather than a count of the table.
CREATE TABLE event_counts (
    class INTEGER PRIMARY KEY,
    n     INTEGER NOT NULL
) STRICT;
INSERT INTO event_counts (class, n)
    SELECT c.class, (SELECT count(*) FROM events WHERE events.class = c.class)
    FROM (SELECT 0 AS class UNION ALL SELECT 1 UNION ALL SELECT 2) AS c;
CREATE TRIGGER events_count_insert AFTER INSERT ON events BEGIN
    UPDATE event_counts SET n = n + 1 WHERE class = new.class;
END;
CREATE TRIGGER events_count_delete AFTER DELETE ON events BEGIN
    UPDATE event_counts SET n = n - 1 WHERE class = old.class;
END;
