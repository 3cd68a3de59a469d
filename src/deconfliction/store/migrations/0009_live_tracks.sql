-- Live tracks shared by several API processes (the database-backed track table): the newest
-- state of each (party, id), when it was received, and a revision that grows with each change.
CREATE TABLE live_tracks (
    party TEXT NOT NULL,
    id TEXT NOT NULL,
    state TEXT NOT NULL,
    state_time TEXT NOT NULL,
    received_at DOUBLE PRECISION NOT NULL,
    rev BIGINT NOT NULL,
    PRIMARY KEY (party, id)
);
CREATE INDEX live_tracks_received ON live_tracks (received_at);
