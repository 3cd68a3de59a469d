-- Fencing tokens: a lease's token grows each time the lease changes hands, so work done under
-- a lease can check, in its own transaction, that the lease is still the one it took.
ALTER TABLE leases ADD COLUMN token BIGINT NOT NULL DEFAULT 0;
