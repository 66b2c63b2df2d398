-- What vehicles report: each signed version manifest as received, and the image
-- each ECU runs according to the latest one.

CREATE TABLE manifests (
    id          BIGSERIAL PRIMARY KEY,
    vehicle_id  TEXT NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    -- The manifest's own timestamp (signed by the primary); later ones only.
    signed_at   TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The signed manifest as received (signatures and all).
    body        JSONB NOT NULL,
    UNIQUE (vehicle_id, signed_at)
);

CREATE TABLE installed (
    vehicle_id       TEXT NOT NULL,
    ecu_id           TEXT NOT NULL,
    filename         TEXT NOT NULL,
    sha256           TEXT,
    length           BIGINT NOT NULL,
    release_counter  BIGINT NOT NULL,
    attacks_detected TEXT NOT NULL DEFAULT '',
    reported_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (vehicle_id, ecu_id),
    FOREIGN KEY (vehicle_id, ecu_id) REFERENCES ecus (vehicle_id, ecu_id) ON DELETE CASCADE
);

CREATE INDEX installed_by_image ON installed (filename, release_counter);
