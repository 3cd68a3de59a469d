-- The cap index holds only what the cell index does not: a row of record_cells whose cell is
-- also one of its volume's cap cells is marked (in_cap = 1) and its twin in record_caps goes.
-- Most volumes (circles, compact polygons) are covered through their cap, so their rows were
-- the same in both tables; now a write indexes each cell once, and the cap search reads the
-- marked rows of record_cells with those of record_caps.
ALTER TABLE record_cells ADD COLUMN in_cap INTEGER NOT NULL DEFAULT 0;

UPDATE record_cells SET in_cap = 1 WHERE EXISTS (
    SELECT 1 FROM record_caps c
    WHERE c.cell = record_cells.cell AND c.record_id = record_cells.record_id
        AND c.volume = record_cells.volume
);

DELETE FROM record_caps WHERE EXISTS (
    SELECT 1 FROM record_cells r
    WHERE r.cell = record_caps.cell AND r.record_id = record_caps.record_id
        AND r.volume = record_caps.volume
);
