-- Telemetry: the values each vehicle's telemetry policy lets out, with time.

-- The policy a vehicle was given (the same TOML file the vehicle runs with): the
-- backend stores only values of paths it selects.
CREATE TABLE telemetry_policies (
    vehicle_id TEXT PRIMARY KEY REFERENCES vehicles (id) ON DELETE CASCADE,
    policy     TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per value, partitioned by day: a day's partition is created when its
-- first value arrives and dropped as a whole when it falls out of the retention.
CREATE TABLE telemetry (
    vehicle_id TEXT NOT NULL,
    path       TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL,
    -- The value as the vehicle sent it (JSON; null: not available).
    value      JSONB NOT NULL
) PARTITION BY RANGE (at);

CREATE INDEX telemetry_by_vehicle ON telemetry (vehicle_id, path, at DESC);
