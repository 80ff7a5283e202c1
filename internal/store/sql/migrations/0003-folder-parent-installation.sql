-- The id of the folder the managed folder sits in when galmirror created or
-- found it (the mailbox's default Contacts folder): a managed folder whose
-- parent is no longer this one was moved (to Deleted Items, by its owner)
-- and is left where it is.
ALTER TABLE mailboxes ADD COLUMN parent_folder_id TEXT NOT NULL DEFAULT '';

-- Facts about this installation. 'installation' is a random id made once per
-- state database: galmirror stamps it on the folders it creates, which tells
-- a second installation working the same folders from a lost state.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

INSERT INTO meta (key, value) VALUES ('installation', lower(hex(randomblob(16))));
