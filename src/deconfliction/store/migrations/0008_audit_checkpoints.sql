-- Signed checkpoints of the audit chain, the parties' keys, and their countersignatures.
CREATE TABLE audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL
);

CREATE TABLE party_keys (
    key_id TEXT PRIMARY KEY,
    party TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    at TEXT NOT NULL
);

CREATE TABLE audit_countersignatures (
    seq BIGINT NOT NULL,
    party TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (seq, party)
);
