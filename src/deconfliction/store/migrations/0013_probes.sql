-- Probes: previews and queries that touched another party's records below 'full', counted per
-- owner, prober and hour (the owner sees them; the agreement sets the budget).
CREATE TABLE probes (
    owner TEXT NOT NULL,
    prober TEXT NOT NULL,
    hour BIGINT NOT NULL,
    count INTEGER NOT NULL,
    last_via TEXT NOT NULL,
    last_at TEXT NOT NULL,
    PRIMARY KEY (owner, prober, hour)
);
