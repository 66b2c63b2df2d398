//! Signal metadata: a catalog leaf as v1 or v2 metadata, and finding one signal
//! in a v2 `ListMetadata` answer.

use kuksa_rust_sdk::v1_proto as v1;
use kuksa_rust_sdk::v2_proto as v2;
use tomoe_vss::{DataType, EntryType, Leaf, Value};

use crate::codes::{datatype_code, entry_type_code};
use crate::value::value_to_v2;
use crate::wire::{integer_of, pack_array, real_of};

/// A leaf's metadata as v2 metadata (`ListMetadata`). Its id is the leaf's
/// [`LeafId`](tomoe_vss::LeafId); the allowed values travel as one array value.
pub fn metadata_to_v2(leaf: &Leaf) -> v2::Metadata {
    let allowed = (!leaf.allowed.is_empty())
        .then(|| pack_array(leaf.datatype.element(), leaf.allowed.clone()));
    v2::Metadata {
        path: leaf.path.clone(),
        id: leaf.id.0 as i32,
        data_type: datatype_code(leaf.datatype),
        entry_type: entry_type_code(leaf.entry_type),
        description: leaf.description.clone(),
        comment: leaf.comment.clone().unwrap_or_default(),
        deprecation: leaf.deprecation.clone().unwrap_or_default(),
        unit: leaf.unit.clone().unwrap_or_default(),
        allowed_values: allowed.as_ref().map(value_to_v2),
        min: leaf.min.as_ref().map(value_to_v2),
        max: leaf.max.as_ref().map(value_to_v2),
        min_sample_interval: None,
    }
}

/// A leaf's metadata as v1 metadata (the `metadata` field of a v1 entry). `min`,
/// `max` and the allowed values travel as a value restriction of the leaf's
/// (element) kind: string, floating point, unsigned or signed.
pub fn metadata_to_v1(leaf: &Leaf) -> v1::Metadata {
    use v1::metadata::EntrySpecific;
    use v1::value_restriction::Type;
    let integer = |value: &Option<Value>| value.as_ref().and_then(integer_of);
    let real = |value: &Option<Value>| value.as_ref().and_then(real_of);
    let has_restriction = leaf.min.is_some() || leaf.max.is_some() || !leaf.allowed.is_empty();
    let restriction = has_restriction.then(|| {
        let kind = match leaf.datatype.element() {
            DataType::String => Type::String(v1::ValueRestrictionString {
                allowed_values: leaf.allowed.iter().map(Value::to_string).collect(),
            }),
            DataType::Float | DataType::Double => Type::FloatingPoint(v1::ValueRestrictionFloat {
                min: real(&leaf.min),
                max: real(&leaf.max),
                allowed_values: leaf.allowed.iter().filter_map(real_of).collect(),
            }),
            DataType::Uint8 | DataType::Uint16 | DataType::Uint32 | DataType::Uint64 => {
                Type::Unsigned(v1::ValueRestrictionUint {
                    min: integer(&leaf.min).map(|x| x as u64),
                    max: integer(&leaf.max).map(|x| x as u64),
                    allowed_values: leaf
                        .allowed
                        .iter()
                        .filter_map(integer_of)
                        .map(|x| x as u64)
                        .collect(),
                })
            }
            _ => Type::Signed(v1::ValueRestrictionInt {
                min: integer(&leaf.min).map(|x| x as i64),
                max: integer(&leaf.max).map(|x| x as i64),
                allowed_values: leaf
                    .allowed
                    .iter()
                    .filter_map(integer_of)
                    .map(|x| x as i64)
                    .collect(),
            }),
        };
        v1::ValueRestriction { r#type: Some(kind) }
    });
    v1::Metadata {
        data_type: datatype_code(leaf.datatype),
        entry_type: entry_type_code(leaf.entry_type),
        description: Some(leaf.description.clone()),
        comment: leaf.comment.clone(),
        deprecation: leaf.deprecation.clone(),
        unit: leaf.unit.clone(),
        value_restriction: restriction,
        entry_specific: Some(match leaf.entry_type {
            EntryType::Actuator => EntrySpecific::Actuator(v1::Actuator {}),
            EntryType::Sensor => EntrySpecific::Sensor(v1::Sensor {}),
            EntryType::Attribute => EntrySpecific::Attribute(v1::Attribute {}),
        }),
    }
}

/// The metadata of the signal at exactly `path` in a `ListMetadata` answer. A
/// branch path (or a pattern) lists many leaves; only an exact match is the
/// signal.
pub fn find_signal(metadata: Vec<v2::Metadata>, path: &str) -> Option<v2::Metadata> {
    metadata.into_iter().find(|metadata| metadata.path == path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{datatype_from_code, entry_type_from_code};
    use crate::value::value_from_v2;
    use tomoe_vss::{Catalog, CatalogBuilder};

    const CATALOG: &str = r#"{"Vehicle": {"type": "branch", "description": "root", "children": {
        "Speed": {"type": "sensor", "datatype": "float", "unit": "km/h", "min": 0, "max": 250, "description": "speed"},
        "Gear": {"type": "actuator", "datatype": "int8", "min": -1, "max": 6, "description": "gear", "comment": "R is -1"},
        "Doors": {"type": "attribute", "datatype": "uint8", "allowed": [2, 4], "description": "doors", "deprecation": "moved"},
        "Light": {"type": "actuator", "datatype": "string", "allowed": ["OFF", "ON"], "description": "light"},
        "Codes": {"type": "sensor", "datatype": "uint16[]", "allowed": [1, 2, 3], "description": "codes"},
        "Ratio": {"type": "sensor", "datatype": "double", "allowed": [0.5, 1.5], "description": "ratio"},
        "Name": {"type": "attribute", "datatype": "string", "description": "name"}
    }}}"#;

    fn catalog() -> Catalog {
        CatalogBuilder::new()
            .json_str(CATALOG, "test.json")
            .and_then(CatalogBuilder::build)
            .expect("the test catalog loads")
    }

    fn leaf<'a>(catalog: &'a Catalog, path: &str) -> &'a Leaf {
        catalog.leaf(path).expect("the leaf exists")
    }

    #[test]
    fn v2_metadata_carries_every_field() {
        let catalog = catalog();
        let speed = metadata_to_v2(leaf(&catalog, "Vehicle.Speed"));
        assert_eq!(speed.path, "Vehicle.Speed");
        assert_eq!(speed.id, leaf(&catalog, "Vehicle.Speed").id.0 as i32);
        assert_eq!(datatype_from_code(speed.data_type), Some(DataType::Float));
        assert_eq!(
            entry_type_from_code(speed.entry_type),
            Some(EntryType::Sensor)
        );
        assert_eq!(speed.unit, "km/h");
        assert_eq!(speed.description, "speed");
        assert_eq!(speed.min.and_then(value_from_v2), Some(Value::Float(0.0)));
        assert_eq!(speed.max.and_then(value_from_v2), Some(Value::Float(250.0)));
        assert_eq!(speed.allowed_values, None);

        let gear = metadata_to_v2(leaf(&catalog, "Vehicle.Gear"));
        assert_eq!(gear.comment, "R is -1");
        assert_eq!(gear.min.and_then(value_from_v2), Some(Value::Int32(-1)));
        let doors = metadata_to_v2(leaf(&catalog, "Vehicle.Doors"));
        assert_eq!(doors.deprecation, "moved");
        assert_eq!(doors.unit, "");
        assert_eq!(
            doors.allowed_values.and_then(value_from_v2),
            Some(Value::Uint32Array(vec![2, 4]))
        );
        let codes = metadata_to_v2(leaf(&catalog, "Vehicle.Codes"));
        assert_eq!(
            datatype_from_code(codes.data_type),
            Some(DataType::Uint16Array)
        );
        assert_eq!(
            codes.allowed_values.and_then(value_from_v2),
            Some(Value::Uint32Array(vec![1, 2, 3]))
        );
    }

    #[test]
    fn v1_metadata_restricts_by_element_kind() {
        use v1::value_restriction::Type;
        let catalog = catalog();
        let restriction = |path: &str| {
            metadata_to_v1(leaf(&catalog, path))
                .value_restriction
                .and_then(|r| r.r#type)
        };
        assert_eq!(
            restriction("Vehicle.Speed"),
            Some(Type::FloatingPoint(v1::ValueRestrictionFloat {
                min: Some(0.0),
                max: Some(250.0),
                allowed_values: vec![],
            }))
        );
        assert_eq!(
            restriction("Vehicle.Gear"),
            Some(Type::Signed(v1::ValueRestrictionInt {
                min: Some(-1),
                max: Some(6),
                allowed_values: vec![],
            }))
        );
        assert_eq!(
            restriction("Vehicle.Doors"),
            Some(Type::Unsigned(v1::ValueRestrictionUint {
                min: None,
                max: None,
                allowed_values: vec![2, 4],
            }))
        );
        assert_eq!(
            restriction("Vehicle.Light"),
            Some(Type::String(v1::ValueRestrictionString {
                allowed_values: vec!["OFF".into(), "ON".into()],
            }))
        );
        assert_eq!(
            restriction("Vehicle.Ratio"),
            Some(Type::FloatingPoint(v1::ValueRestrictionFloat {
                min: None,
                max: None,
                allowed_values: vec![0.5, 1.5],
            }))
        );
        assert_eq!(restriction("Vehicle.Name"), None);
    }

    #[test]
    fn v1_metadata_names_the_entry_kind() {
        use v1::metadata::EntrySpecific;
        let catalog = catalog();
        let check = |path: &str, expected: EntrySpecific, entry_type: EntryType| {
            let metadata = metadata_to_v1(leaf(&catalog, path));
            assert_eq!(metadata.entry_specific, Some(expected), "{path}");
            assert_eq!(
                entry_type_from_code(metadata.entry_type),
                Some(entry_type),
                "{path}"
            );
        };
        check(
            "Vehicle.Gear",
            EntrySpecific::Actuator(v1::Actuator {}),
            EntryType::Actuator,
        );
        check(
            "Vehicle.Speed",
            EntrySpecific::Sensor(v1::Sensor {}),
            EntryType::Sensor,
        );
        check(
            "Vehicle.Doors",
            EntrySpecific::Attribute(v1::Attribute {}),
            EntryType::Attribute,
        );
        let gear = metadata_to_v1(leaf(&catalog, "Vehicle.Gear"));
        assert_eq!(gear.description.as_deref(), Some("gear"));
        assert_eq!(gear.comment.as_deref(), Some("R is -1"));
        assert_eq!(gear.unit, None);
    }

    #[test]
    fn only_an_exact_path_is_the_signal() {
        let catalog = catalog();
        let all: Vec<v2::Metadata> = catalog.leaves().map(metadata_to_v2).collect();
        let found = find_signal(all.clone(), "Vehicle.Speed").map(|m| m.path);
        assert_eq!(found.as_deref(), Some("Vehicle.Speed"));
        assert_eq!(find_signal(all.clone(), "Vehicle"), None);
        assert_eq!(find_signal(all, "Vehicle.Spee"), None);
    }
}
