//! Charging equipment and the connector standards of vehicle inlets: which standard
//! carries AC or DC, and which AC and DC standards go together on one vehicle.

use serde::Serialize;
use toml::Table;

use crate::quantity::{Power, Quantity};
use crate::reader::{choice_enum, join, Reader};

choice_enum!(
    /// A charging connector standard, as found on a vehicle inlet.
    ChargeConnector, "charging connector standard" {
        /// SAE J1772 (AC, North America, Japan).
        Type1 = "Type1" | "J1772",
        /// IEC 62196-2 Type 2 (AC, Europe).
        Type2 = "Type2",
        /// Combined Charging System with a Type 1 inlet (DC).
        Ccs1 = "CCS1",
        /// Combined Charging System with a Type 2 inlet (DC).
        Ccs2 = "CCS2",
        /// CHAdeMO (DC).
        Chademo = "CHAdeMO",
        /// North American Charging Standard, SAE J3400 (AC and DC on one inlet).
        Nacs = "NACS" | "J3400",
        /// GB/T 20234.2 (AC, China).
        GbtAc = "GB/T-AC",
        /// GB/T 20234.3 (DC, China).
        GbtDc = "GB/T-DC",
    }
);

impl ChargeConnector {
    /// Whether the standard carries AC charging.
    pub fn carries_ac(self) -> bool {
        matches!(
            self,
            ChargeConnector::Type1
                | ChargeConnector::Type2
                | ChargeConnector::Nacs
                | ChargeConnector::GbtAc
        )
    }

    /// Whether the standard carries DC charging.
    pub fn carries_dc(self) -> bool {
        matches!(
            self,
            ChargeConnector::Ccs1
                | ChargeConnector::Ccs2
                | ChargeConnector::Chademo
                | ChargeConnector::Nacs
                | ChargeConnector::GbtDc
        )
    }

    /// Whether a DC standard can sit beside this AC standard on one vehicle (CCS2 extends
    /// Type 2, CCS1 extends Type 1, NACS is one inlet for both, CHAdeMO is a second inlet).
    pub fn pairs_with_dc(self, dc: ChargeConnector) -> bool {
        match dc {
            ChargeConnector::Ccs1 => self == ChargeConnector::Type1,
            ChargeConnector::Ccs2 => self == ChargeConnector::Type2,
            ChargeConnector::Nacs => self == ChargeConnector::Nacs,
            ChargeConnector::GbtDc => self == ChargeConnector::GbtAc,
            ChargeConnector::Chademo => {
                matches!(self, ChargeConnector::Type1 | ChargeConnector::Type2)
            }
            _ => false,
        }
    }
}

/// Charging equipment: the on-board charger and the DC path, with their standards.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Charger {
    /// AC charging power.
    pub ac_power: Quantity<Power>,
    /// AC connector standard.
    pub ac_connector: ChargeConnector,
    /// DC charging power, if the part charges on DC.
    pub dc_power: Option<Quantity<Power>>,
    /// DC connector standard, if the part charges on DC.
    pub dc_connector: Option<ChargeConnector>,
}

pub(super) const CHARGER_KEYS: &[&str] = &["ac_power", "ac_connector", "dc_power", "dc_connector"];

/// Checks an AC/DC connector pair (of a charger or an inlet); `at` prefixes the fields.
pub(crate) fn check_connectors(
    reader: &mut Reader,
    at: &str,
    (ac_key, ac): (&str, Option<ChargeConnector>),
    (dc_key, dc): (&str, Option<ChargeConnector>),
) {
    if let Some(ac) = ac {
        if !ac.carries_ac() {
            reader.problem(
                join(at, ac_key),
                format!("{ac} is not an AC charging standard"),
            );
        }
    }
    if let Some(dc) = dc {
        if !dc.carries_dc() {
            reader.problem(
                join(at, dc_key),
                format!("{dc} is not a DC charging standard"),
            );
        }
    }
    if let (Some(ac), Some(dc)) = (ac, dc) {
        if ac.carries_ac() && dc.carries_dc() && !ac.pairs_with_dc(dc) {
            reader.problem(
                join(at, dc_key),
                format!("{dc} does not go with the AC standard {ac} on one vehicle"),
            );
        }
    }
}

pub(super) fn read_charger(reader: &mut Reader, table: &Table) -> Option<Charger> {
    let ac_power = reader.positive::<Power>(table, "", "ac_power");
    let ac_connector = reader.choice::<ChargeConnector>(table, "", "ac_connector");
    let dc_power = reader.optional_positive::<Power>(table, "", "dc_power");
    let dc_connector = reader.optional_choice::<ChargeConnector>(table, "", "dc_connector");
    match (
        table.contains_key("dc_power"),
        table.contains_key("dc_connector"),
    ) {
        (true, false) => reader.problem("dc_connector", "missing (dc_power is given)"),
        (false, true) => reader.problem("dc_power", "missing (dc_connector is given)"),
        _ => {}
    }
    check_connectors(
        reader,
        "",
        ("ac_connector", ac_connector),
        ("dc_connector", dc_connector),
    );
    Some(Charger {
        ac_power: ac_power?,
        ac_connector: ac_connector?,
        dc_power,
        dc_connector,
    })
}

#[cfg(test)]
mod tests {
    use crate::part::tests::{parse, problems};

    #[test]
    fn charger_connectors_must_be_real_pairs() {
        let charger = r#"
id = "test-charger"
kind = "charger"
name = "Test charger"
manufacturer = "Test"
source = "unit test"
ac_power = "7.4 kW"
ac_connector = "Type2"
dc_power = "56 kW"
dc_connector = "CCS1"
"#;
        assert_eq!(
            problems(charger),
            ["dc_connector: CCS1 does not go with the AC standard Type2 on one vehicle"]
        );
        let ok = parse(&charger.replace("CCS1", "ccs2")).unwrap();
        assert_eq!(ok.summary(), "AC 7.4 kW Type2, DC 56 kW CCS2");
        assert_eq!(
            problems(
                &charger
                    .replace("CCS1", "CCS2")
                    .replace("dc_power = \"56 kW\"\n", "")
            ),
            ["dc_power: missing (dc_connector is given)"]
        );
    }
}
