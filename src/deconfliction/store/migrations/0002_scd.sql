-- ASTM F3548-21 DSS entities: operational intent references ('oir'), constraint references
-- ('constraint') and subscriptions ('sub'), with the level-13 S2 cells each one covers.
CREATE TABLE scd_entities (
    kind TEXT NOT NULL,
    id TEXT NOT NULL,
    manager TEXT NOT NULL,
    ref TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX scd_entities_ref ON scd_entities (ref);

CREATE TABLE scd_cells (
    kind TEXT NOT NULL,
    cell BIGINT NOT NULL,
    id TEXT NOT NULL,
    PRIMARY KEY (kind, cell, id)
) CLUSTERED;

CREATE TABLE scd_availability (
    uss TEXT PRIMARY KEY,
    availability TEXT NOT NULL,
    version TEXT NOT NULL
);
