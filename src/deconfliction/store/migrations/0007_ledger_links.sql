-- Reciprocity alerts in force per pair of parties, and the liveness of each party's link.
CREATE TABLE ledger_alerts (
    party_a TEXT NOT NULL,
    party_b TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    since TEXT NOT NULL,
    PRIMARY KEY (party_a, party_b, kind)
);

CREATE TABLE link_status (
    party TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_ok TEXT,
    last_check TEXT NOT NULL,
    last_error TEXT,
    latency_ms DOUBLE PRECISION
);

CREATE TABLE link_checks (
    party TEXT NOT NULL,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    latency_ms DOUBLE PRECISION,
    error TEXT
);
CREATE INDEX link_checks_party ON link_checks (party, at);
