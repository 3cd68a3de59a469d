-- Delivery of outbox events: one webhook per party, with its delivery cursor and retry state;
-- events given up on after the last retry; leases that elect the one process that delivers.
CREATE TABLE webhooks (
    party TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    delivered_seq BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    updated_at TEXT NOT NULL
);

CREATE TABLE webhook_dead_letters (
    party TEXT NOT NULL,
    seq BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (party, seq)
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
