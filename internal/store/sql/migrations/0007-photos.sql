-- Photos (settings: "photos": true).
--
-- source_photos: what galmirror last read of each source user's photo: the
-- @odata.mediaEtag Graph gave (empty when it gave none) and the SHA-256 of
-- the JPEG galmirror uploads for it (after downscaling to Exchange's 4 MB).
-- A user without a photo has no row.
CREATE TABLE source_photos (
    tenant    INTEGER NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    source_id TEXT NOT NULL,
    etag      TEXT NOT NULL,
    hash      TEXT NOT NULL,
    size      INTEGER NOT NULL,
    PRIMARY KEY (tenant, source_id)
) STRICT, WITHOUT ROWID;

-- contact_photos: the photo galmirror uploaded to a managed contact (the
-- hash of its bytes), so that only a different photo is uploaded again. A
-- row whose contact_id is not the contact map's is stale (the contact was
-- made again) and counts as no photo.
CREATE TABLE contact_photos (
    mailbox    INTEGER NOT NULL REFERENCES mailboxes (id) ON DELETE CASCADE,
    source_id  TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    hash       TEXT NOT NULL,
    PRIMARY KEY (mailbox, source_id)
) STRICT, WITHOUT ROWID;
