-- Update campaigns: which vehicles get which image, wave by wave, and how each is
-- doing; and the director metadata signed for each vehicle from that state.

CREATE TABLE campaigns (
    id                BIGSERIAL PRIMARY KEY,
    name              TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 128 AND name !~ '[[:cntrl:]]'),
    -- The image: its target name in the image repository and its description
    -- there (length, hashes, hardware id, release counter), as assigned.
    image             TEXT NOT NULL CHECK (length(image) BETWEEN 1 AND 255),
    image_target      JSONB NOT NULL,
    hardware_id       TEXT NOT NULL,
    release_counter   BIGINT NOT NULL,
    -- What selected the vehicles (brand, model, profile, hardware id, current version).
    targeting         JSONB NOT NULL,
    canary_fraction   DOUBLE PRECISION NOT NULL CHECK (canary_fraction > 0 AND canary_fraction <= 1),
    waves             INTEGER NOT NULL CHECK (waves BETWEEN 1 AND 100),
    failure_threshold DOUBLE PRECISION NOT NULL CHECK (failure_threshold >= 0 AND failure_threshold <= 1),
    state             TEXT NOT NULL CHECK (state IN ('active', 'paused', 'cancelled', 'completed')),
    -- Why it is paused or cancelled (an operator, or the failure rate).
    state_reason      TEXT NOT NULL DEFAULT '',
    -- The highest wave opened (0 is the canary).
    open_wave         INTEGER NOT NULL DEFAULT 0,
    -- Failures and outcomes counted before the last resume: acknowledged by the
    -- operator, so the threshold applies to what came after.
    baseline_failures INTEGER NOT NULL DEFAULT 0,
    baseline_outcomes INTEGER NOT NULL DEFAULT 0,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per targeted ECU of a vehicle.
CREATE TABLE campaign_vehicles (
    campaign_id BIGINT NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    vehicle_id  TEXT NOT NULL,
    ecu_id      TEXT NOT NULL,
    wave        INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('waiting', 'offered', 'downloading', 'installed',
                                                'rolled_back', 'failed', 'cancelled')),
    reason      TEXT NOT NULL DEFAULT '',
    -- When the vehicle first fetched director metadata assigning the image.
    fetched_at  TIMESTAMPTZ,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (campaign_id, vehicle_id, ecu_id),
    FOREIGN KEY (vehicle_id, ecu_id) REFERENCES ecus (vehicle_id, ecu_id) ON DELETE CASCADE
);

CREATE INDEX campaign_vehicles_by_vehicle ON campaign_vehicles (vehicle_id);

-- The director metadata last signed for each vehicle. Versions only rise; the
-- files are served as stored, so timestamp, snapshot and targets always agree.
CREATE TABLE director_metadata (
    vehicle_id TEXT PRIMARY KEY REFERENCES vehicles (id) ON DELETE CASCADE,
    version    BIGINT NOT NULL,
    -- The assignments the targets list, to tell when they change.
    assignment JSONB NOT NULL,
    -- The ids of the keys that signed, to re-sign after a key rotation, and the
    -- root version they belong to (never re-signed with keys of an older root).
    signed_by  TEXT NOT NULL,
    root_version BIGINT NOT NULL,
    expires    TIMESTAMPTZ NOT NULL,
    targets    BYTEA NOT NULL,
    snapshot   BYTEA NOT NULL,
    timestamp  BYTEA NOT NULL,
    signed_at  TIMESTAMPTZ NOT NULL
);
