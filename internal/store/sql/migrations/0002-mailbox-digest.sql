-- The digest of the desired contacts a mailbox was last brought fully in
-- line with: when it still matches and the mailbox's contacts delta shows no
-- change, a run skips the mailbox without reading its contact map.
ALTER TABLE mailboxes ADD COLUMN synced_digest TEXT NOT NULL DEFAULT '';
