-- The inventory: every vehicle the backend knows, its ECUs and its common parts.

CREATE TABLE vehicles (
    -- The vehicle's id in the fleet (its Zenoh vehicle id and its director repository).
    id            TEXT PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
    brand         TEXT NOT NULL CHECK (length(brand) BETWEEN 1 AND 64 AND brand !~ '[[:cntrl:]]'),
    model         TEXT NOT NULL CHECK (length(model) BETWEEN 1 AND 64 AND model !~ '[[:cntrl:]]'),
    -- The vehicle profile it runs (profiles/<id>).
    profile       TEXT NOT NULL CHECK (length(profile) BETWEEN 1 AND 128 AND profile !~ '[[:cntrl:]]'),
    -- The primary ECU's Ed25519 public key (SPKI PEM): it signs the vehicle's
    -- version manifests.
    primary_key   TEXT NOT NULL CHECK (length(primary_key) <= 4096),
    registered_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen     TIMESTAMPTZ
);

CREATE INDEX vehicles_by_model ON vehicles (brand, model);

-- The ECUs of a vehicle and their hardware ids (what an update must be built for).
CREATE TABLE ecus (
    vehicle_id  TEXT NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    -- Letters, digits, '-', '_', '.' and ':' (the update agent's app ECUs: app:<workload>).
    ecu_id      TEXT NOT NULL CHECK (ecu_id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    hardware_id TEXT NOT NULL CHECK (length(hardware_id) BETWEEN 1 AND 128),
    is_primary  BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (vehicle_id, ecu_id)
);

CREATE INDEX ecus_by_hardware ON ecus (hardware_id);
-- At most one primary per vehicle (the API requires exactly one).
CREATE UNIQUE INDEX ecus_one_primary ON ecus (vehicle_id) WHERE is_primary;

-- Common parts installed in a vehicle: a slot (traction-battery, e-axle-front, ...)
-- and the part's id in the parts catalog.
CREATE TABLE parts (
    vehicle_id TEXT NOT NULL REFERENCES vehicles (id) ON DELETE CASCADE,
    slot       TEXT NOT NULL CHECK (slot ~ '^[A-Za-z0-9_-]{1,64}$'),
    catalog_id TEXT NOT NULL CHECK (length(catalog_id) BETWEEN 1 AND 128),
    PRIMARY KEY (vehicle_id, slot)
);

CREATE INDEX parts_by_catalog_id ON parts (catalog_id);
