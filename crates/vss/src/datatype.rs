//! VSS data types and entry types.

use std::fmt;
use std::str::FromStr;

/// The kind of a VSS leaf: what it describes and who may write what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryType {
    /// A measured value, written by a provider.
    Sensor,
    /// A value that can be commanded: it has a current value and a target value.
    Actuator,
    /// A (mostly) static property of the vehicle, with an optional default.
    Attribute,
}

impl EntryType {
    /// The VSS spelling (`sensor`, `actuator`, `attribute`).
    pub fn as_str(self) -> &'static str {
        match self {
            EntryType::Sensor => "sensor",
            EntryType::Actuator => "actuator",
            EntryType::Attribute => "attribute",
        }
    }
}

impl fmt::Display for EntryType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sensor" => Ok(EntryType::Sensor),
            "actuator" => Ok(EntryType::Actuator),
            "attribute" => Ok(EntryType::Attribute),
            other => Err(format!(
                "unknown node type \"{other}\" (expected branch, sensor, actuator or attribute)"
            )),
        }
    }
}

/// A VSS datatype, scalar or array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)] // The variant names are the VSS datatype names.
pub enum DataType {
    String,
    Boolean,
    Int8,
    Int16,
    Int32,
    Int64,
    Uint8,
    Uint16,
    Uint32,
    Uint64,
    Float,
    Double,
    Timestamp,
    StringArray,
    BooleanArray,
    Int8Array,
    Int16Array,
    Int32Array,
    Int64Array,
    Uint8Array,
    Uint16Array,
    Uint32Array,
    Uint64Array,
    FloatArray,
    DoubleArray,
    TimestampArray,
}

impl DataType {
    /// All datatypes, scalars first.
    pub const ALL: [DataType; 26] = [
        DataType::String,
        DataType::Boolean,
        DataType::Int8,
        DataType::Int16,
        DataType::Int32,
        DataType::Int64,
        DataType::Uint8,
        DataType::Uint16,
        DataType::Uint32,
        DataType::Uint64,
        DataType::Float,
        DataType::Double,
        DataType::Timestamp,
        DataType::StringArray,
        DataType::BooleanArray,
        DataType::Int8Array,
        DataType::Int16Array,
        DataType::Int32Array,
        DataType::Int64Array,
        DataType::Uint8Array,
        DataType::Uint16Array,
        DataType::Uint32Array,
        DataType::Uint64Array,
        DataType::FloatArray,
        DataType::DoubleArray,
        DataType::TimestampArray,
    ];

    /// The VSS spelling, for example `uint8` or `float[]`.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Boolean => "boolean",
            DataType::Int8 => "int8",
            DataType::Int16 => "int16",
            DataType::Int32 => "int32",
            DataType::Int64 => "int64",
            DataType::Uint8 => "uint8",
            DataType::Uint16 => "uint16",
            DataType::Uint32 => "uint32",
            DataType::Uint64 => "uint64",
            DataType::Float => "float",
            DataType::Double => "double",
            DataType::Timestamp => "timestamp",
            DataType::StringArray => "string[]",
            DataType::BooleanArray => "boolean[]",
            DataType::Int8Array => "int8[]",
            DataType::Int16Array => "int16[]",
            DataType::Int32Array => "int32[]",
            DataType::Int64Array => "int64[]",
            DataType::Uint8Array => "uint8[]",
            DataType::Uint16Array => "uint16[]",
            DataType::Uint32Array => "uint32[]",
            DataType::Uint64Array => "uint64[]",
            DataType::FloatArray => "float[]",
            DataType::DoubleArray => "double[]",
            DataType::TimestampArray => "timestamp[]",
        }
    }

    /// Whether this is an array type.
    pub fn is_array(self) -> bool {
        self.as_str().ends_with("[]")
    }

    /// The element type of an array type, or the type itself for a scalar.
    pub fn element(self) -> DataType {
        match self {
            DataType::StringArray => DataType::String,
            DataType::BooleanArray => DataType::Boolean,
            DataType::Int8Array => DataType::Int8,
            DataType::Int16Array => DataType::Int16,
            DataType::Int32Array => DataType::Int32,
            DataType::Int64Array => DataType::Int64,
            DataType::Uint8Array => DataType::Uint8,
            DataType::Uint16Array => DataType::Uint16,
            DataType::Uint32Array => DataType::Uint32,
            DataType::Uint64Array => DataType::Uint64,
            DataType::FloatArray => DataType::Float,
            DataType::DoubleArray => DataType::Double,
            DataType::TimestampArray => DataType::Timestamp,
            scalar => scalar,
        }
    }

    /// Whether the (element) type is numeric, so that `min` and `max` apply.
    pub fn is_numeric(self) -> bool {
        !matches!(
            self.element(),
            DataType::String | DataType::Boolean | DataType::Timestamp
        )
    }

    /// The inclusive integer range of an integer (element) type, if it is one.
    pub fn integer_range(self) -> Option<(i128, i128)> {
        Some(match self.element() {
            DataType::Int8 => (i8::MIN.into(), i8::MAX.into()),
            DataType::Int16 => (i16::MIN.into(), i16::MAX.into()),
            DataType::Int32 => (i32::MIN.into(), i32::MAX.into()),
            DataType::Int64 => (i64::MIN.into(), i64::MAX.into()),
            DataType::Uint8 => (0, u8::MAX.into()),
            DataType::Uint16 => (0, u16::MAX.into()),
            DataType::Uint32 => (0, u32::MAX.into()),
            DataType::Uint64 => (0, u64::MAX.into()),
            _ => return None,
        })
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DataType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DataType::ALL
            .into_iter()
            .find(|datatype| datatype.as_str() == s)
            .ok_or_else(|| format!("unknown datatype \"{s}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datatype_names_round_trip() {
        for datatype in DataType::ALL {
            assert_eq!(datatype.as_str().parse::<DataType>(), Ok(datatype));
        }
        assert!("uint128".parse::<DataType>().is_err());
    }

    #[test]
    fn array_element_types() {
        assert_eq!(DataType::Uint8Array.element(), DataType::Uint8);
        assert!(DataType::FloatArray.is_array());
        assert!(!DataType::Float.is_array());
        assert!(DataType::Int16Array.is_numeric());
        assert!(!DataType::StringArray.is_numeric());
    }
}
