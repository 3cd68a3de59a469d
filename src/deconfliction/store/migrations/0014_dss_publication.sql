-- What each party publishes of its native records to F3548 clients, and the published
-- references themselves (indexed in scd_cells under kinds 'n-oir' and 'n-con').
CREATE TABLE dss_publication (
    party TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE dss_native (
    dss_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    record_key TEXT NOT NULL,
    owner TEXT NOT NULL,
    version BIGINT NOT NULL,
    ovn TEXT NOT NULL,
    state TEXT,
    volumes TEXT NOT NULL
);
CREATE UNIQUE INDEX dss_native_key ON dss_native (record_key);
