//! The protocol's numeric codes of datatypes and entry types. They are the same
//! in v1 and v2, and come from the protocol's own enums.

use kuksa_rust_sdk::v2_proto as v2;
use tomoe_vss::{DataType, EntryType};

/// The protocol's numeric code of a datatype (the same in v1 and v2).
pub fn datatype_code(datatype: DataType) -> i32 {
    let code = match datatype {
        DataType::String => v2::DataType::String,
        DataType::Boolean => v2::DataType::Boolean,
        DataType::Int8 => v2::DataType::Int8,
        DataType::Int16 => v2::DataType::Int16,
        DataType::Int32 => v2::DataType::Int32,
        DataType::Int64 => v2::DataType::Int64,
        DataType::Uint8 => v2::DataType::Uint8,
        DataType::Uint16 => v2::DataType::Uint16,
        DataType::Uint32 => v2::DataType::Uint32,
        DataType::Uint64 => v2::DataType::Uint64,
        DataType::Float => v2::DataType::Float,
        DataType::Double => v2::DataType::Double,
        DataType::Timestamp => v2::DataType::Timestamp,
        DataType::StringArray => v2::DataType::StringArray,
        DataType::BooleanArray => v2::DataType::BooleanArray,
        DataType::Int8Array => v2::DataType::Int8Array,
        DataType::Int16Array => v2::DataType::Int16Array,
        DataType::Int32Array => v2::DataType::Int32Array,
        DataType::Int64Array => v2::DataType::Int64Array,
        DataType::Uint8Array => v2::DataType::Uint8Array,
        DataType::Uint16Array => v2::DataType::Uint16Array,
        DataType::Uint32Array => v2::DataType::Uint32Array,
        DataType::Uint64Array => v2::DataType::Uint64Array,
        DataType::FloatArray => v2::DataType::FloatArray,
        DataType::DoubleArray => v2::DataType::DoubleArray,
        DataType::TimestampArray => v2::DataType::TimestampArray,
    };
    code as i32
}

/// The datatype with the protocol's numeric `code`; `None` for an unknown code
/// (and for `DATA_TYPE_UNSPECIFIED`).
pub fn datatype_from_code(code: i32) -> Option<DataType> {
    DataType::ALL
        .into_iter()
        .find(|datatype| datatype_code(*datatype) == code)
}

/// The protocol's numeric code of an entry type (the same in v1 and v2).
pub fn entry_type_code(entry_type: EntryType) -> i32 {
    let code = match entry_type {
        EntryType::Attribute => v2::EntryType::Attribute,
        EntryType::Sensor => v2::EntryType::Sensor,
        EntryType::Actuator => v2::EntryType::Actuator,
    };
    code as i32
}

/// The entry type with the protocol's numeric `code`; `None` for an unknown code
/// (and for `ENTRY_TYPE_UNSPECIFIED`).
pub fn entry_type_from_code(code: i32) -> Option<EntryType> {
    [EntryType::Attribute, EntryType::Sensor, EntryType::Actuator]
        .into_iter()
        .find(|entry_type| entry_type_code(*entry_type) == code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kuksa_rust_sdk::v1_proto as v1;

    /// The protobuf enum name of a datatype: `float[]` is `DATA_TYPE_FLOAT_ARRAY`.
    fn proto_name(datatype: DataType) -> String {
        let name = datatype.as_str().replace("[]", "_array");
        format!("DATA_TYPE_{}", name.to_uppercase())
    }

    #[test]
    fn datatype_codes_follow_both_protocols() {
        for datatype in DataType::ALL {
            let name = proto_name(datatype);
            let v2_code = v2::DataType::from_str_name(&name).map(|c| c as i32);
            let v1_code = v1::DataType::from_str_name(&name).map(|c| c as i32);
            assert_eq!(v2_code, Some(datatype_code(datatype)), "{name} in v2");
            assert_eq!(v1_code, Some(datatype_code(datatype)), "{name} in v1");
            assert_eq!(datatype_from_code(datatype_code(datatype)), Some(datatype));
        }
    }

    #[test]
    fn known_datatype_codes() {
        let check = |code: i32, expected: Option<DataType>| {
            assert_eq!(datatype_from_code(code), expected, "code {code}");
        };
        check(1, Some(DataType::String));
        check(7, Some(DataType::Uint8));
        check(11, Some(DataType::Float));
        check(13, Some(DataType::Timestamp));
        check(20, Some(DataType::StringArray));
        check(32, Some(DataType::TimestampArray));
        check(0, None);
        check(14, None);
        check(33, None);
        let known = (-5..100).filter_map(datatype_from_code).count();
        assert_eq!(known, DataType::ALL.len());
    }

    #[test]
    fn entry_type_codes_follow_both_protocols() {
        let cases = [
            (EntryType::Attribute, "ENTRY_TYPE_ATTRIBUTE", 1),
            (EntryType::Sensor, "ENTRY_TYPE_SENSOR", 2),
            (EntryType::Actuator, "ENTRY_TYPE_ACTUATOR", 3),
        ];
        for (entry_type, name, code) in cases {
            assert_eq!(entry_type_code(entry_type), code, "{name}");
            assert_eq!(
                v2::EntryType::from_str_name(name).map(|c| c as i32),
                Some(code)
            );
            assert_eq!(
                v1::EntryType::from_str_name(name).map(|c| c as i32),
                Some(code)
            );
            assert_eq!(entry_type_from_code(code), Some(entry_type));
        }
        assert_eq!(entry_type_from_code(0), None);
        assert_eq!(entry_type_from_code(4), None);
    }
}
