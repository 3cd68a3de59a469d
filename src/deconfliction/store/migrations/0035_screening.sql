-- Blind screening (screening/service.py owns these tables). For each screened pair (party_a <
-- party_b): the coarse tokens of each side's intents; the findings (tokens at the finest grain
-- both sides reach, one notice and one hotline thread each; each side's own records there, shown
-- to their owner only); rounds and tokens each party used per UTC day (its screening budget,
-- kept here until agreements carry one probe budget per pair); changes held back past a budget;
-- and sessions with a side whose plans are not held here (HTTP now, the federation link later).
CREATE TABLE screening_pairs (
    party_a TEXT NOT NULL,
    party_b TEXT NOT NULL,
    terms_digest TEXT NOT NULL,
    deferred TEXT NOT NULL,
    PRIMARY KEY (party_a, party_b)
);
CREATE INDEX screening_pairs_b ON screening_pairs (party_b);

CREATE TABLE screening_tokens (
    party_a TEXT NOT NULL,
    party_b TEXT NOT NULL,
    token TEXT NOT NULL,
    record_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    PRIMARY KEY (party_a, party_b, token, record_id)
);
CREATE INDEX screening_tokens_record ON screening_tokens (party_a, party_b, record_id);

CREATE TABLE screening_findings (
    id TEXT PRIMARY KEY,
    party_a TEXT NOT NULL,
    party_b TEXT NOT NULL,
    coarse TEXT NOT NULL,
    token TEXT NOT NULL,
    state TEXT NOT NULL,
    place TEXT NOT NULL,
    records_a TEXT NOT NULL,
    records_b TEXT NOT NULL,
    opened_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX screening_findings_pair ON screening_findings (party_a, party_b, coarse);

CREATE TABLE screening_usage (
    party_a TEXT NOT NULL,
    party_b TEXT NOT NULL,
    party TEXT NOT NULL,
    day TEXT NOT NULL,
    rounds BIGINT NOT NULL,
    tokens BIGINT NOT NULL,
    PRIMARY KEY (party_a, party_b, party, day)
);

CREATE TABLE screening_sessions (
    id TEXT PRIMARY KEY,
    party TEXT NOT NULL,
    with_party TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    rev BIGINT NOT NULL,
    state TEXT,
    result TEXT
);
CREATE INDEX screening_sessions_with ON screening_sessions (with_party, created_at);
