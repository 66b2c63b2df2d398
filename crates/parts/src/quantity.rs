//! Physical quantities written with their unit (`"360 V"`) and kept in canonical units.
//!
//! Every dimension has a small unit table of its own. A value is parsed against the
//! table of the dimension its field expects, so `"360 kg"` for a voltage is refused
//! with a message that says what `kg` is and which units would do.

use std::fmt;
use std::marker::PhantomData;
use std::ops::{Add, Mul, Sub};

/// One unit of a dimension: the spellings accepted for it and how it converts.
#[derive(Debug, Clone, Copy)]
pub struct Unit {
    /// Accepted spellings; the first is the one printed.
    pub symbols: &'static [&'static str],
    /// Multiplies a value in this unit on its way to the canonical unit.
    pub factor: f64,
    /// Divides it (so that decimal prefixes convert exactly: 1570 mm is 1570 / 1000 m).
    pub divisor: f64,
    /// Added last (temperatures only).
    pub offset: f64,
}

impl Unit {
    /// The printed symbol.
    pub fn symbol(&self) -> &'static str {
        self.symbols[0]
    }

    fn matches(&self, text: &str) -> bool {
        self.symbols.contains(&text)
    }
}

const fn unit(symbols: &'static [&'static str], factor: f64) -> Unit {
    Unit {
        symbols,
        factor,
        divisor: 1.0,
        offset: 0.0,
    }
}

const fn per(symbols: &'static [&'static str], divisor: f64) -> Unit {
    Unit {
        symbols,
        factor: 1.0,
        divisor,
        offset: 0.0,
    }
}

/// A physical dimension: its name, its units and the unit values are shown in.
///
/// The first unit of [`Dimension::UNITS`] is the canonical one (no conversion):
/// [`Quantity::value`] is expressed in it.
pub trait Dimension: Copy + fmt::Debug + PartialEq + PartialOrd + 'static {
    /// The dimension's name in messages, for example `voltage`.
    const NAME: &'static str;
    /// The accepted units; the first is canonical.
    const UNITS: &'static [Unit];
    /// The symbol values are shown in, one of `UNITS`.
    const DISPLAY: &'static str;
}

macro_rules! dimension {
    ($(#[$doc:meta])* $marker:ident, $name:literal, display $display:literal, [$($unit:expr),+ $(,)?]) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
        pub struct $marker;

        impl Dimension for $marker {
            const NAME: &'static str = $name;
            const UNITS: &'static [Unit] = &[$($unit),+];
            const DISPLAY: &'static str = $display;
        }
    };
}

dimension!(
    /// Electric potential; canonical unit volt.
    Voltage, "voltage", display "V",
    [unit(&["V"], 1.0), per(&["mV"], 1e3), unit(&["kV"], 1e3)]
);
dimension!(
    /// Electric current; canonical unit ampere.
    Current, "current", display "A",
    [unit(&["A"], 1.0), per(&["mA"], 1e3), unit(&["kA"], 1e3)]
);
dimension!(
    /// Power; canonical unit watt.
    Power, "power", display "kW",
    [
        unit(&["W"], 1.0),
        unit(&["kW"], 1e3),
        unit(&["MW"], 1e6),
        unit(&["hp"], 745.699_871_582_270_2),
        unit(&["PS"], 735.498_75),
    ]
);
dimension!(
    /// Energy; canonical unit watt-hour (1 Wh = 3600 J), the unit batteries are rated in.
    Energy, "energy", display "kWh",
    [
        unit(&["Wh"], 1.0),
        unit(&["kWh"], 1e3),
        unit(&["MWh"], 1e6),
        per(&["J"], 3600.0),
        per(&["kJ"], 3.6),
        Unit { symbols: &["MJ"], factor: 1e6, divisor: 3600.0, offset: 0.0 },
    ]
);
dimension!(
    /// Electric charge; canonical unit ampere-hour (1 Ah = 3600 C), the unit cells are rated in.
    Charge, "charge", display "Ah",
    [unit(&["Ah"], 1.0), per(&["mAh"], 1e3), per(&["C"], 3600.0)]
);
dimension!(
    /// Electric resistance; canonical unit ohm.
    Resistance, "resistance", display "mOhm",
    [
        unit(&["Ohm", "ohm", "Ω"], 1.0),
        per(&["mOhm", "mohm", "mΩ"], 1e3),
        unit(&["kOhm", "kohm", "kΩ"], 1e3),
    ]
);
dimension!(
    /// Mass; canonical unit kilogram.
    Mass, "mass", display "kg",
    [
        unit(&["kg"], 1.0),
        per(&["g"], 1e3),
        unit(&["t"], 1e3),
        unit(&["lb"], 0.453_592_37),
    ]
);
dimension!(
    /// Length; canonical unit metre.
    Length, "length", display "mm",
    [
        unit(&["m"], 1.0),
        per(&["mm"], 1e3),
        per(&["cm"], 1e2),
        unit(&["km"], 1e3),
        unit(&["in"], 0.0254),
    ]
);
dimension!(
    /// Area; canonical unit square metre.
    Area, "area", display "m^2",
    [
        unit(&["m^2", "m2", "m²"], 1.0),
        per(&["cm^2", "cm2", "cm²"], 1e4),
        unit(&["ft^2", "ft2", "ft²"], 0.092_903_04),
    ]
);
dimension!(
    /// Torque; canonical unit newton-metre.
    Torque, "torque", display "N*m",
    [
        unit(&["N*m", "Nm", "N·m", "N m"], 1.0),
        unit(&["kN*m", "kNm", "kN·m"], 1e3),
        unit(&["lb*ft", "lb-ft", "lb·ft", "lbf*ft"], 1.355_817_948_331_400_4),
    ]
);
dimension!(
    /// Rotational speed; canonical unit radian per second.
    AngularSpeed, "rotational speed", display "rpm",
    [
        unit(&["rad/s"], 1.0),
        Unit { symbols: &["rpm", "r/min", "min^-1"], factor: std::f64::consts::PI, divisor: 30.0, offset: 0.0 },
    ]
);
dimension!(
    /// Temperature; canonical unit degree Celsius.
    Temperature, "temperature", display "degC",
    [
        unit(&["degC", "°C"], 1.0),
        Unit { symbols: &["K"], factor: 1.0, divisor: 1.0, offset: -273.15 },
    ]
);
dimension!(
    /// A dimensionless ratio such as an efficiency; canonical unit 1 (a fraction).
    Ratio, "ratio", display "%",
    [unit(&["1"], 1.0), per(&["%"], 1e2)]
);

/// The unit tables of every dimension, to say what a misplaced unit measures.
const ALL_DIMENSIONS: &[(&str, &[Unit])] = &[
    (Voltage::NAME, Voltage::UNITS),
    (Current::NAME, Current::UNITS),
    (Power::NAME, Power::UNITS),
    (Energy::NAME, Energy::UNITS),
    (Charge::NAME, Charge::UNITS),
    (Resistance::NAME, Resistance::UNITS),
    (Mass::NAME, Mass::UNITS),
    (Length::NAME, Length::UNITS),
    (Area::NAME, Area::UNITS),
    (Torque::NAME, Torque::UNITS),
    (AngularSpeed::NAME, AngularSpeed::UNITS),
    (Temperature::NAME, Temperature::UNITS),
    (Ratio::NAME, Ratio::UNITS),
];

/// Why a quantity string could not be read.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum QuantityError {
    /// The text does not start with a number.
    #[error("\"{text}\" is not a number followed by a unit")]
    NotANumber {
        /// The text given.
        text: String,
    },
    /// A number without a unit.
    #[error("{number} has no unit (a {dimension} takes {units})")]
    MissingUnit {
        /// The number given.
        number: String,
        /// The dimension expected.
        dimension: &'static str,
        /// The units it takes.
        units: String,
    },
    /// A unit of another dimension, such as `kg` for a voltage.
    #[error("\"{unit}\" is a unit of {found}, not of {dimension} (use {units})")]
    WrongDimension {
        /// The unit given.
        unit: String,
        /// What that unit measures.
        found: &'static str,
        /// The dimension expected.
        dimension: &'static str,
        /// The units it takes.
        units: String,
    },
    /// A unit Tomoe does not know.
    #[error("unknown unit \"{unit}\" (a {dimension} takes {units})")]
    UnknownUnit {
        /// The unit given.
        unit: String,
        /// The dimension expected.
        dimension: &'static str,
        /// The units it takes.
        units: String,
    },
}

/// A value of dimension `D`, held in the dimension's canonical unit.
#[derive(Clone, Copy, PartialEq, PartialOrd)]
pub struct Quantity<D: Dimension> {
    value: f64,
    dimension: PhantomData<D>,
}

impl<D: Dimension> Quantity<D> {
    /// A quantity of `value` canonical units (volts, watts, watt-hours, metres, ...).
    pub fn new(value: f64) -> Quantity<D> {
        Quantity {
            value,
            dimension: PhantomData,
        }
    }

    /// A quantity of `value` in the unit spelled `symbol`, if the dimension has it.
    pub fn from_unit(value: f64, symbol: &str) -> Option<Quantity<D>> {
        let unit = D::UNITS.iter().find(|u| u.matches(symbol))?;
        Some(Quantity::new(
            value * unit.factor / unit.divisor + unit.offset,
        ))
    }

    /// The value in canonical units.
    pub fn value(self) -> f64 {
        self.value
    }

    /// The value in the unit spelled `symbol`, if the dimension has it.
    pub fn in_unit(self, symbol: &str) -> Option<f64> {
        let unit = D::UNITS.iter().find(|u| u.matches(symbol))?;
        Some((self.value - unit.offset) * unit.divisor / unit.factor)
    }

    /// Reads `"<number> <unit>"`, for example `"39.5 kWh"` or `"-20 degC"`.
    pub fn parse(text: &str) -> Result<Quantity<D>, QuantityError> {
        let trimmed = text.trim();
        let split = number_prefix_len(trimmed);
        let (number, unit) = trimmed.split_at(split);
        let unit = unit.trim();
        let value: f64 = match number.parse() {
            Ok(value) if f64::is_finite(value) => value,
            _ => {
                return Err(QuantityError::NotANumber {
                    text: text.to_owned(),
                })
            }
        };
        if unit.is_empty() {
            return Err(QuantityError::MissingUnit {
                number: number.to_owned(),
                dimension: D::NAME,
                units: units_list::<D>(),
            });
        }
        if let Some(quantity) = Quantity::from_unit(value, unit) {
            return Ok(quantity);
        }
        let other = ALL_DIMENSIONS
            .iter()
            .find(|(_, units)| units.iter().any(|u| u.matches(unit)));
        Err(match other {
            Some((found, _)) => QuantityError::WrongDimension {
                unit: unit.to_owned(),
                found,
                dimension: D::NAME,
                units: units_list::<D>(),
            },
            None => QuantityError::UnknownUnit {
                unit: unit.to_owned(),
                dimension: D::NAME,
                units: units_list::<D>(),
            },
        })
    }
}

/// The length of the number at the start of `text` (sign, digits, point, exponent).
fn number_prefix_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    let mut end = 0;
    let mut seen_digit = false;
    while end < bytes.len() {
        let byte = bytes[end];
        let accept = match byte {
            b'0'..=b'9' => {
                seen_digit = true;
                true
            }
            b'.' => true,
            b'+' | b'-' => end == 0 || matches!(bytes[end - 1], b'e' | b'E'),
            b'e' | b'E' => {
                seen_digit
                    && bytes
                        .get(end + 1)
                        .is_some_and(|next| next.is_ascii_digit() || matches!(next, b'+' | b'-'))
            }
            _ => false,
        };
        if !accept {
            break;
        }
        end += 1;
    }
    end
}

fn units_list<D: Dimension>() -> String {
    D::UNITS
        .iter()
        .map(Unit::symbol)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Formats a number with five significant digits, without trailing zeros.
pub(crate) fn format_number(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (4 - magnitude).clamp(0, 6) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

impl<D: Dimension> fmt::Display for Quantity<D> {
    /// Shows the value in the dimension's display unit, for example `39.5 kWh`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.in_unit(D::DISPLAY).unwrap_or(self.value);
        write!(f, "{} {}", format_number(shown), D::DISPLAY)
    }
}

impl<D: Dimension> fmt::Debug for Quantity<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quantity({self})")
    }
}

impl<D: Dimension> serde::Serialize for Quantity<D> {
    /// Serializes the value in canonical units, as a number.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64(self.value)
    }
}

impl<D: Dimension> Add for Quantity<D> {
    type Output = Quantity<D>;
    fn add(self, other: Quantity<D>) -> Quantity<D> {
        Quantity::new(self.value + other.value)
    }
}

impl<D: Dimension> Sub for Quantity<D> {
    type Output = Quantity<D>;
    fn sub(self, other: Quantity<D>) -> Quantity<D> {
        Quantity::new(self.value - other.value)
    }
}

impl<D: Dimension> Mul<f64> for Quantity<D> {
    type Output = Quantity<D>;
    fn mul(self, factor: f64) -> Quantity<D> {
        Quantity::new(self.value * factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<D: Dimension>(text: &str, canonical: f64) {
        let quantity = Quantity::<D>::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert!(
            (quantity.value() - canonical).abs() <= 1e-9 * canonical.abs().max(1.0),
            "{text}: {} != {canonical}",
            quantity.value()
        );
    }

    #[test]
    fn units_convert_to_canonical_values() {
        check::<Voltage>("360 V", 360.0);
        check::<Voltage>("355.2V", 355.2);
        check::<Energy>("39.5 kWh", 39_500.0);
        check::<Energy>("3.6 MJ", 1000.0);
        check::<Power>("110 kW", 110_000.0);
        check::<Power>("150 PS", 110_324.812_5);
        check::<Resistance>("90 mOhm", 0.09);
        check::<Resistance>("90 mΩ", 0.09);
        check::<Torque>("320 N*m", 320.0);
        check::<Torque>("291 lb-ft", 291.0 * 1.355_817_948_331_400_4);
        check::<AngularSpeed>("10390 rpm", 10_390.0 * std::f64::consts::PI / 30.0);
        check::<Mass>("303 kg", 303.0);
        check::<Length>("1570 mm", 1.57);
        check::<Area>("2.22 m^2", 2.22);
        check::<Temperature>("-25 degC", -25.0);
        check::<Temperature>("298.15 K", 25.0);
        check::<Ratio>("95 %", 0.95);
        check::<Charge>("56.3 Ah", 56.3);
        check::<Current>("1.5e2 A", 150.0);
    }

    #[test]
    fn a_unit_of_another_dimension_is_named() {
        let error = Quantity::<Voltage>::parse("360 kg").unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"kg\" is a unit of mass, not of voltage (use V, mV, kV)"
        );
    }

    #[test]
    fn missing_and_unknown_units_and_bad_numbers_are_refused() {
        assert_eq!(
            Quantity::<Voltage>::parse("360").unwrap_err().to_string(),
            "360 has no unit (a voltage takes V, mV, kV)"
        );
        assert_eq!(
            Quantity::<Power>::parse("110 kw").unwrap_err().to_string(),
            "unknown unit \"kw\" (a power takes W, kW, MW, hp, PS)"
        );
        assert_eq!(
            Quantity::<Power>::parse("lots kW").unwrap_err().to_string(),
            "\"lots kW\" is not a number followed by a unit"
        );
        assert!(Quantity::<Power>::parse("1e999 W").is_err());
    }

    #[test]
    fn display_uses_the_display_unit_with_five_significant_digits() {
        assert_eq!(Quantity::<Energy>::new(39_500.0).to_string(), "39.5 kWh");
        assert_eq!(Quantity::<Length>::new(1.57).to_string(), "1570 mm");
        assert_eq!(Quantity::<Length>::new(1.5705).to_string(), "1570.5 mm");
        assert_eq!(Quantity::<Voltage>::new(405.5).to_string(), "405.5 V");
        assert_eq!(Quantity::<Ratio>::new(0.955).to_string(), "95.5 %");
        assert_eq!(Quantity::<Temperature>::new(-25.0).to_string(), "-25 degC");
        let speed = Quantity::<AngularSpeed>::parse("10390 rpm").unwrap();
        assert_eq!(speed.to_string(), "10390 rpm");
    }
}
