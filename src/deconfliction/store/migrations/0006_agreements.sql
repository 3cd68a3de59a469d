-- Agreements between two parties (party_a < party_b), versioned: a version is proposed by one
-- side's admin and becomes active when the other side's admin accepts it. Disclosures: what
-- was shown of a record to another party, at which level (the first time per record version).
CREATE TABLE agreements (
    party_a TEXT NOT NULL,
    party_b TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    terms TEXT NOT NULL,
    proposed_by TEXT NOT NULL,
    proposed_at TEXT NOT NULL,
    accepted_by TEXT,
    accepted_at TEXT,
    PRIMARY KEY (party_a, party_b, version)
);

CREATE TABLE disclosures (
    record_id TEXT NOT NULL,
    record_version INTEGER NOT NULL,
    to_party TEXT NOT NULL,
    level TEXT NOT NULL,
    owner TEXT NOT NULL,
    via TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (record_id, record_version, to_party, level)
);
CREATE INDEX disclosures_to ON disclosures (to_party, at);
