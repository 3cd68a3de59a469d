-- Tactical alerts in force, kept with the events that raise and clear them, so that every API
-- process can answer for them (whichever runs the tactical picture).
CREATE TABLE tactical_alerts (
    kind TEXT NOT NULL,
    alert_key TEXT NOT NULL,
    parties TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, alert_key)
);
