-- Record ids are per owner: a record is stored and referred to by its key OWNER/ID (an id has
-- no '/'). Conflicts keep the kinds of their two records and, per side, a digest of what that
-- party was last told (so that it hears of a change only when what it may know changes).
-- A secret of the store keys conflict ids.
ALTER TABLE conflicts ADD COLUMN a_kind TEXT NOT NULL DEFAULT 'intent';
ALTER TABLE conflicts ADD COLUMN b_kind TEXT NOT NULL DEFAULT 'intent';
ALTER TABLE conflicts ADD COLUMN a_note TEXT;
ALTER TABLE conflicts ADD COLUMN b_note TEXT;
UPDATE conflicts SET a_note = 'migrated', b_note = 'migrated';
UPDATE conflicts SET a_kind = COALESCE((SELECT kind FROM records WHERE records.id = conflicts.a_id), 'intent');
UPDATE conflicts SET b_kind = COALESCE((SELECT kind FROM records WHERE records.id = conflicts.b_id), 'intent');
UPDATE threads SET subject_id = COALESCE((SELECT owner FROM records WHERE records.id = threads.subject_id) || '/' || subject_id, subject_id) WHERE subject_kind = 'record';
UPDATE disclosures SET record_id = owner || '/' || record_id WHERE record_id NOT LIKE 'track:%';
UPDATE conflicts SET a_id = a_owner || '/' || a_id, b_id = b_owner || '/' || b_id;
UPDATE record_cells SET record_id = owner || '/' || record_id;
UPDATE records SET id = owner || '/' || id;
CREATE INDEX conflicts_pair ON conflicts (a_id, b_id);
CREATE TABLE service_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
