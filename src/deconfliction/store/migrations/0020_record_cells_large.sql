-- The cells of large footprints (a cap over 25 km), for the live picture: a track may meet the
-- released extent of such a record far from the record's own cells (exchange/live.py).
CREATE INDEX record_cells_large ON record_cells (cap_r) WHERE cap_r > 25000.0;
