-- The cap index's cells of each record (JSON, one list per volume), kept with it as `cells` keeps
-- those of the cell index, so that a replace or a delete removes its record_caps rows by their
-- keys instead of reading the whole table (record_caps has no index on record_id). NULL for a
-- record written before: its rows are found by record_id.
ALTER TABLE records ADD COLUMN cap_cells TEXT;
