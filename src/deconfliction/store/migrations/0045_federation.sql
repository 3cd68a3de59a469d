-- Federation (federation/ owns these tables): the peers of this node and the parties each hosts;
-- what goes to each peer (its outbox, in order, with its own sequence) and what came from each
-- (its inbox: one row per message applied or refused, so that a message is applied once); the
-- nonces of signed requests, remembered while their signatures are fresh; what was last sent of
-- each record to each other node's party; the views other nodes released to this node's parties
-- (kept apart from the node's own records, with their own cell index); the conflicts found
-- between this node's records and other nodes' releases, with both sides' findings; the
-- agreements' signed texts; the checkpoints exchanged and countersigned; tracks as released.
CREATE TABLE fed_peers (
    name TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    key_id TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    added_at TEXT NOT NULL,
    next_seq BIGINT NOT NULL,
    delivered_seq BIGINT NOT NULL,
    received_seq BIGINT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    last_ok_at DOUBLE PRECISION,
    synced INTEGER NOT NULL,
    checkpoint_seq BIGINT NOT NULL,
    audit_key_pem TEXT
);
CREATE UNIQUE INDEX fed_peers_key ON fed_peers (key_id);

CREATE TABLE fed_peer_parties (
    party TEXT PRIMARY KEY,
    peer TEXT NOT NULL
);
CREATE INDEX fed_peer_parties_peer ON fed_peer_parties (peer);

CREATE TABLE fed_outbox (
    peer TEXT NOT NULL,
    seq BIGINT NOT NULL,
    msg_id TEXT NOT NULL,
    type TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (peer, seq)
);

CREATE TABLE fed_inbox (
    peer TEXT NOT NULL,
    seq BIGINT NOT NULL,
    msg_id TEXT NOT NULL,
    type TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT,
    at TEXT NOT NULL,
    PRIMARY KEY (peer, seq)
);
CREATE UNIQUE INDEX fed_inbox_msg ON fed_inbox (peer, msg_id);

CREATE TABLE fed_nonces (
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX fed_nonces_expiry ON fed_nonces (expires_at);

CREATE TABLE fed_sent (
    to_party TEXT NOT NULL,
    record_key TEXT NOT NULL,
    peer TEXT NOT NULL,
    level TEXT NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (to_party, record_key)
);
CREATE INDEX fed_sent_key ON fed_sent (record_key);

CREATE TABLE fed_views (
    record_key TEXT NOT NULL,
    to_party TEXT NOT NULL,
    owner TEXT NOT NULL,
    peer TEXT NOT NULL,
    kind TEXT NOT NULL,
    level TEXT NOT NULL,
    ref TEXT NOT NULL,
    version BIGINT NOT NULL,
    body TEXT NOT NULL,
    received_at TEXT NOT NULL,
    PRIMARY KEY (record_key, to_party)
);
CREATE INDEX fed_views_to ON fed_views (to_party, owner);

CREATE TABLE fed_view_cells (
    cell BIGINT NOT NULL,
    record_key TEXT NOT NULL,
    to_party TEXT NOT NULL,
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
    PRIMARY KEY (cell, record_key, to_party, volume)
) CLUSTERED;
CREATE INDEX fed_view_cells_key ON fed_view_cells (record_key, to_party);

CREATE TABLE fed_conflicts (
    id TEXT PRIMARY KEY,
    peer TEXT NOT NULL,
    local_key TEXT NOT NULL,
    local_party TEXT NOT NULL,
    remote_party TEXT NOT NULL,
    remote_key TEXT,
    ours TEXT,
    ours_state TEXT,
    told TEXT,
    theirs TEXT,
    theirs_state TEXT,
    detected_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX fed_conflicts_local ON fed_conflicts (local_key);
CREATE INDEX fed_conflicts_remote ON fed_conflicts (remote_key, local_party);
CREATE INDEX fed_conflicts_party ON fed_conflicts (local_party);

CREATE TABLE fed_agreements (
    party_a TEXT NOT NULL,
    party_b TEXT NOT NULL,
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    digest TEXT NOT NULL,
    proposer_key_id TEXT NOT NULL,
    proposer_signature TEXT NOT NULL,
    accepter_key_id TEXT,
    accepter_signature TEXT,
    PRIMARY KEY (party_a, party_b, version)
);

CREATE TABLE fed_checkpoints (
    peer TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    at TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    countersignature TEXT NOT NULL,
    PRIMARY KEY (peer, seq)
);

CREATE TABLE fed_countersignatures (
    peer TEXT NOT NULL,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL,
    key_id TEXT NOT NULL,
    signature TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (peer, seq)
);

CREATE TABLE fed_tracks (
    from_party TEXT NOT NULL,
    to_party TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (from_party, to_party, id)
);
