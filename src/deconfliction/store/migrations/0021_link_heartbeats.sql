-- The last heartbeat of each party's clients (exchange/links.py): a party with no webhook
-- proves it is there by its clients' signed calls.
CREATE TABLE link_heartbeats (
    party TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    at_s DOUBLE PRECISION NOT NULL,
    client TEXT NOT NULL
);
