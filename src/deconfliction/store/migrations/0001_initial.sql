-- Initial schema. Portable SQL: the runner replaces SERIAL_PK and CLUSTERED per dialect.
CREATE TABLE parties (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE records (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL REFERENCES parties (id),
    version BIGINT NOT NULL,
    ovn TEXT NOT NULL,
    body TEXT NOT NULL,
    cells TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX records_owner ON records (owner, kind);

-- One row per (record, volume, S2 cell of the volume's covering); the 4D bounds and a cap that
-- holds the footprint ride along, so that the candidate search filters on time, altitude and
-- distance without reading the record.
CREATE TABLE record_cells (
    cell BIGINT NOT NULL,
    record_id TEXT NOT NULL,
    volume INTEGER NOT NULL,
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    t_start DOUBLE PRECISION NOT NULL,
    t_end DOUBLE PRECISION NOT NULL,
    alt_lower DOUBLE PRECISION NOT NULL,
    alt_upper DOUBLE PRECISION NOT NULL,
    cap_lon DOUBLE PRECISION NOT NULL,
    cap_lat DOUBLE PRECISION NOT NULL,
    cap_r DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (cell, record_id, volume)
) CLUSTERED;

CREATE TABLE conflicts (
    id TEXT PRIMARY KEY,
    a_id TEXT NOT NULL,
    b_id TEXT NOT NULL,
    a_owner TEXT NOT NULL,
    b_owner TEXT NOT NULL,
    state TEXT NOT NULL,
    time_start TEXT NOT NULL,
    time_end TEXT NOT NULL,
    horizontal_m DOUBLE PRECISION NOT NULL,
    vertical_m DOUBLE PRECISION NOT NULL,
    time_s DOUBLE PRECISION NOT NULL,
    lateral_buffer_m DOUBLE PRECISION NOT NULL,
    vertical_buffer_m DOUBLE PRECISION NOT NULL,
    time_buffer_s DOUBLE PRECISION NOT NULL,
    detected_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX conflicts_a ON conflicts (a_id, state);
CREATE INDEX conflicts_b ON conflicts (b_id, state);
CREATE INDEX conflicts_a_owner ON conflicts (a_owner, state);
CREATE INDEX conflicts_b_owner ON conflicts (b_owner, state);

-- Events for delivery to parties, written in the same transaction as the change.
CREATE TABLE outbox (
    seq SERIAL_PK,
    party TEXT NOT NULL,
    type TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX outbox_party ON outbox (party, seq);

-- Append-only hash chain: hash = sha256 of the entry's canonical JSON, which holds prev_hash.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    digest TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
