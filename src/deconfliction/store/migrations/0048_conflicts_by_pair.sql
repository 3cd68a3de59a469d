-- A record's conflicts are found by a_id through conflicts_pair (a_id, b_id), as they already
-- were by b_id through conflicts_b: conflicts_a (a_id, state) served nothing that index does
-- not (a record has few conflicts, whose state is read from their rows), and every conflict
-- written or resolved wrote both. At 1.1 M stored, it was 1.3 to 1.5 of the 21 to 22 pages a
-- checked write commits.
DROP INDEX conflicts_a;
