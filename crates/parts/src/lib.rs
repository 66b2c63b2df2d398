//! Common vehicle parts and whether they fit a vehicle.
//!
//! Several brands buy the same battery packs, e-axles and chargers; this crate says
//! which part fits which vehicle, and why not. It has three pieces:
//!
//! - **The parts schema.** A [`Part`] is read from a TOML file (`parts/<id>.toml`, one
//!   part per file) whose quantities carry their units as strings, `"360 V"` or
//!   `"39.5 kWh"`. [`Quantity`] parses them against the unit table of the dimension the
//!   field expects and keeps canonical units (V, A, W, Wh, Ah, ohm, kg, m, m^2, N*m,
//!   rad/s, degC). A file is checked in full on load: missing fields, wrong units and
//!   impossible values (min voltage above max, a nominal voltage outside the range,
//!   series x cell voltage more than 15 % off the nominal, ...) are all reported, each
//!   with file, field and reason. [`Catalog`] reads a directory of part files.
//! - **Vehicle platforms.** A [`VehiclePlatform`] is the `[platform]` section of a
//!   vehicle profile: the installed parts, the battery bay (envelope, mounting pattern,
//!   HV connector, BMS protocol, cooling), the drivetrain (DC bus window, power), the
//!   charge inlet and the physics a simulator needs.
//! - **Fit checks.** [`check_fit`] compares a part with a platform and returns a
//!   [`FitReport`] with every check made, passed or failed (see [`fit`] for the rules).
//!
//! Non-goals: reading vehicle profiles (tomoe-vehicle does; this crate only gets the
//! `[platform]` table) and simulating anything.
//!
//! # Example
//!
//! ```
//! use tomoe_parts::{check_fit, Part, Quantity, VehiclePlatform, Voltage};
//!
//! let voltage = Quantity::<Voltage>::parse("355.2 V").unwrap();
//! assert_eq!(voltage.value(), 355.2);
//! assert!(Quantity::<Voltage>::parse("355 kg").is_err());
//!
//! let charger: toml::Table = toml::from_str(r#"
//!     id = "example-charger"
//!     kind = "charger"
//!     name = "Example on-board charger"
//!     manufacturer = "Example"
//!     source = "example"
//!     ac_power = "7.4 kW"
//!     ac_connector = "Type2"
//!     dc_power = "50 kW"
//!     dc_connector = "CCS2"
//! "#).unwrap();
//! let part = Part::from_table(&charger, "example-charger.toml").unwrap();
//!
//! let platform: toml::Table = toml::from_str(r#"
//!     powertrain = "battery-electric"
//!     source = "example"
//!     [battery_bay]
//!     length = "1500 mm"
//!     width = "1200 mm"
//!     height = "250 mm"
//!     mounting = { pattern = "example-bay", bolts = 10 }
//!     hv_connector = "example-hv"
//!     bms_protocol = "example-bms"
//!     cooling = ["liquid"]
//!     [drivetrain]
//!     min_voltage = "250 V"
//!     max_voltage = "400 V"
//!     peak_power = "100 kW"
//!     battery_power = "120 kW"
//!     driven_axle = "rear"
//!     mounting = { pattern = "example-drive", bolts = 4 }
//!     [charge_inlet]
//!     ac = "Type2"
//!     dc = "CHAdeMO"
//!     [physics]
//!     curb_mass = "1500 kg"
//!     drag_coefficient = 0.3
//!     frontal_area = "2.3 m^2"
//!     rolling_resistance = 0.01
//!     wheel_radius = "317 mm"
//!     source = "example"
//! "#).unwrap();
//! let vehicle = VehiclePlatform::from_table(&platform, "profile.toml").unwrap();
//!
//! let report = check_fit(&vehicle, &part);
//! assert!(!report.fits);
//! let failed: Vec<String> = report.failures().map(|r| r.to_string()).collect();
//! assert_eq!(failed, ["FAIL dc-inlet: the part has DC standard CCS2, the vehicle CHAdeMO"]);
//! ```

mod catalog;
mod error;
pub mod fit;
mod part;
mod platform;
mod quantity;
mod reader;

pub use catalog::{default_parts_dir, Catalog};
pub use error::{PartsError, Problem};
pub use fit::{check_fit, Check, FitReport, Outcome, Reason};
pub use part::{
    Axle, BatteryPack, CellArrangement, ChargeConnector, Charger, Chemistry, Cooling, EAxle,
    EfficiencyPoint, Envelope, MotorType, Mounting, Part, PartKind, PartSpec, TemperatureRange,
    VoltageRange,
};
pub use platform::{
    BatteryBay, ChargeInlet, Drivetrain, ElectricSystems, InstalledParts, Physics, Powertrain,
    VehiclePlatform,
};
pub use quantity::{
    AngularSpeed, Area, Charge, Current, Dimension, Energy, Length, Mass, Power, Quantity,
    QuantityError, Ratio, Resistance, Temperature, Torque, Unit, Voltage,
};
