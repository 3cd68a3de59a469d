-- The hotline: threads between parties (one per conflict, or opened on a record), their
-- messages (a code and parameters, or free text) and acknowledgements. ``deadline`` is the next
-- time an unacknowledged message escalates (seconds since the epoch), NULL when none.
CREATE TABLE threads (
    id TEXT PRIMARY KEY,
    subject_kind TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    parties TEXT NOT NULL,
    opened_by TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX threads_subject ON threads (subject_kind, subject_id);

CREATE TABLE thread_parties (
    party TEXT NOT NULL,
    thread_id TEXT NOT NULL,
    PRIMARY KEY (party, thread_id)
);

CREATE TABLE messages (
    id TEXT PRIMARY KEY,
    thread_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    party TEXT NOT NULL,
    author TEXT NOT NULL,
    code TEXT,
    params TEXT NOT NULL,
    text TEXT,
    lang TEXT,
    ack_window_s DOUBLE PRECISION,
    deadline DOUBLE PRECISION,
    level INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (thread_id, seq)
);
CREATE INDEX messages_deadline ON messages (deadline);

CREATE TABLE acks (
    message_id TEXT NOT NULL,
    party TEXT NOT NULL,
    author TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (message_id, party)
);
