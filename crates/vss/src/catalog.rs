//! The catalog: loading, merging overlays, validation and queries.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::{Map, Value as Json};

use crate::value::Number;
use crate::{CatalogError, DataType, EntryType, PathPattern, Value, ValueError};

/// Index of a leaf in its catalog; also the numeric signal id served over the KUKSA API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeafId(pub u32);

/// A VSS leaf (sensor, actuator or attribute) with its metadata.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Leaf {
    /// Numeric id, stable for a given catalog and overlays.
    pub id: LeafId,
    /// Full dotted path, for example `Vehicle.Speed`.
    pub path: String,
    /// Sensor, actuator or attribute.
    pub entry_type: EntryType,
    /// Datatype, arrays included.
    pub datatype: DataType,
    /// Unit of measurement, if any.
    pub unit: Option<String>,
    /// Smallest allowed value (each element, for arrays).
    pub min: Option<Value>,
    /// Largest allowed value (each element, for arrays).
    pub max: Option<Value>,
    /// The only values allowed (each element, for arrays); empty when unrestricted.
    pub allowed: Vec<Value>,
    /// Default value (attributes, mostly).
    pub default: Option<Value>,
    /// Description.
    pub description: String,
    /// Informal comment.
    pub comment: Option<String>,
    /// Deprecation note.
    pub deprecation: Option<String>,
    /// Keys the catalog does not interpret (`dbc2vss`, `pattern`, vendor keys), kept for
    /// the layers that do.
    pub extensions: BTreeMap<String, Json>,
}

/// A VSS branch.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Branch {
    /// Full dotted path.
    pub path: String,
    /// Description.
    pub description: String,
}

impl Leaf {
    /// Checks that `value` may be written to this leaf: wire type, datatype range,
    /// `min`/`max` and `allowed`.
    pub fn check_value(&self, value: &Value) -> Result<(), ValueError> {
        if !value.fits_datatype(self.datatype) {
            return Err(ValueError::WrongType {
                path: self.path.clone(),
                expected: self.datatype,
                found: value.type_name(),
            });
        }
        let out_of_range = |range: String| ValueError::OutOfRange {
            path: self.path.clone(),
            value: value.clone(),
            range,
        };
        let min = self.min.as_ref().and_then(|m| m.numbers().first().copied());
        let max = self.max.as_ref().and_then(|m| m.numbers().first().copied());
        let type_range = self.datatype.integer_range();
        for number in value.numbers() {
            if let Number::Real(real) = number {
                if !real.is_finite() {
                    return Err(ValueError::NotFinite {
                        path: self.path.clone(),
                        value: value.clone(),
                    });
                }
            }
            if let (Some((low, high)), Number::Integer(n)) = (type_range, number) {
                if n < low || n > high {
                    return Err(out_of_range(format!("{low}..={high} of {}", self.datatype)));
                }
            }
            let below = min.is_some_and(|m| {
                number.partial_cmp(m) != Some(std::cmp::Ordering::Greater) && number != m
            });
            let above = max.is_some_and(|m| {
                number.partial_cmp(m) != Some(std::cmp::Ordering::Less) && number != m
            });
            if below || above {
                return Err(out_of_range(self.range_text()));
            }
        }
        if !self.allowed.is_empty() {
            for element in value.elements() {
                if !self.allowed.contains(&element) {
                    return Err(ValueError::NotAllowed {
                        path: self.path.clone(),
                        value: element,
                        allowed: self.allowed.iter().map(Value::to_string).collect(),
                    });
                }
            }
        }
        Ok(())
    }

    fn range_text(&self) -> String {
        let bound = |b: &Option<Value>| b.as_ref().map(Value::to_string).unwrap_or_default();
        format!("{}..={}", bound(&self.min), bound(&self.max))
    }

    /// Whether the leaf's value can be commanded (it has a target value).
    pub fn is_actuator(&self) -> bool {
        self.entry_type == EntryType::Actuator
    }
}

/// A loaded, validated VSS catalog.
#[derive(Debug, Clone)]
pub struct Catalog {
    leaves: Vec<Leaf>,
    by_path: HashMap<String, LeafId>,
    branches: BTreeMap<String, Branch>,
    origins: Vec<String>,
}

impl Catalog {
    /// The leaf at `path`.
    pub fn leaf(&self, path: &str) -> Option<&Leaf> {
        self.by_path.get(path).map(|id| &self.leaves[id.0 as usize])
    }

    /// The leaf with numeric id `id`.
    pub fn leaf_by_id(&self, id: LeafId) -> Option<&Leaf> {
        self.leaves.get(id.0 as usize)
    }

    /// The branch at `path`.
    pub fn branch(&self, path: &str) -> Option<&Branch> {
        self.branches.get(path)
    }

    /// Every leaf, sorted by path.
    pub fn leaves(&self) -> impl Iterator<Item = &Leaf> {
        self.leaves.iter()
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.leaves.len()
    }

    /// Whether the catalog has no leaves.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty()
    }

    /// Every branch, sorted by path.
    pub fn branches(&self) -> impl Iterator<Item = &Branch> {
        self.branches.values()
    }

    /// The leaves a pattern selects, sorted by path.
    pub fn matching<'a>(&'a self, pattern: &'a PathPattern) -> impl Iterator<Item = &'a Leaf> + 'a {
        self.leaves
            .iter()
            .filter(move |leaf| pattern.selects(&leaf.path))
    }

    /// The sources the catalog was built from, base first, then each overlay.
    pub fn origins(&self) -> &[String] {
        &self.origins
    }
}

/// Builds a catalog from a base VSS JSON tree and overlays applied in order.
///
/// Overlays are merged into the raw tree before validation: an overlay node that
/// exists changes the metadata it names; one that does not exist is added and must
/// be complete (a `type`, and a `datatype` for a leaf).
#[derive(Debug, Default, Clone)]
pub struct CatalogBuilder {
    roots: Map<String, Json>,
    origins: Vec<String>,
    /// Origin of each node that an overlay created or touched last, for error messages.
    node_origin: HashMap<String, String>,
}

impl CatalogBuilder {
    /// An empty builder.
    pub fn new() -> CatalogBuilder {
        CatalogBuilder::default()
    }

    /// Adds a VSS JSON tree (`{"Vehicle": {...}}`) from a file: the base catalog or an overlay.
    pub fn json_file(self, path: &Path) -> Result<CatalogBuilder, CatalogError> {
        let origin = path.display().to_string();
        let text = crate::read_data_file(path)
            .map_err(|problem| CatalogError::new(&origin, "", problem))?;
        self.json_str(&text, &origin)
    }

    /// Adds a VSS JSON tree given as text; `origin` names it in errors.
    pub fn json_str(mut self, text: &str, origin: &str) -> Result<CatalogBuilder, CatalogError> {
        let json: Json = serde_json::from_str(text)
            .map_err(|e| CatalogError::new(origin, "", format!("invalid JSON: {e}")))?;
        let Json::Object(roots) = json else {
            return Err(CatalogError::new(
                origin,
                "",
                "the top level must be a JSON object of root branches",
            ));
        };
        for (name, node) in roots {
            let Json::Object(node) = node else {
                return Err(CatalogError::new(
                    origin,
                    &name,
                    "a node must be a JSON object",
                ));
            };
            let existing = self
                .roots
                .entry(name.clone())
                .or_insert_with(|| Json::Object(Map::new()));
            merge_node(existing, node, &name, origin, &mut self.node_origin)?;
        }
        self.origins.push(origin.to_owned());
        Ok(self)
    }

    /// Adds an overlay in the YAML `.vspec` form: a map from full dotted paths to node
    /// attributes, each node after its parent. Instance expansion (`instances`) is not
    /// supported; write expanded paths instead.
    pub fn vspec_file(self, path: &Path) -> Result<CatalogBuilder, CatalogError> {
        let origin = path.display().to_string();
        let text = crate::read_data_file(path)
            .map_err(|problem| CatalogError::new(&origin, "", problem))?;
        self.vspec_str(&text, &origin)
    }

    /// Adds a `.vspec` overlay given as text; `origin` names it in errors.
    pub fn vspec_str(mut self, text: &str, origin: &str) -> Result<CatalogBuilder, CatalogError> {
        if let Err(error) = crate::check_yaml_nesting(text) {
            return Err(CatalogError::new(
                origin,
                "",
                format!("invalid YAML: {error}"),
            ));
        }
        let entries: serde_yaml::Mapping = match serde_yaml::from_str(text) {
            Ok(serde_yaml::Value::Mapping(map)) => map,
            Ok(serde_yaml::Value::Null) => serde_yaml::Mapping::new(),
            Ok(_) => {
                return Err(CatalogError::new(
                    origin,
                    "",
                    "a .vspec overlay must be a map of paths to nodes",
                ))
            }
            Err(e) => return Err(CatalogError::new(origin, "", format!("invalid YAML: {e}"))),
        };
        for (key, node) in entries {
            let path = key
                .as_str()
                .ok_or_else(|| {
                    CatalogError::new(origin, "", format!("node name {key:?} is not a string"))
                })?
                .to_owned();
            let node: Json = serde_json::to_value(&node).map_err(|e| {
                CatalogError::new(origin, &path, format!("cannot convert the node: {e}"))
            })?;
            let node = match node {
                Json::Object(map) => map,
                Json::Null => Map::new(),
                _ => {
                    return Err(CatalogError::new(
                        origin,
                        &path,
                        "a node must be a map of attributes",
                    ))
                }
            };
            if node.contains_key("instances") {
                return Err(CatalogError::new(
                    origin,
                    &path,
                    "\"instances\" is not supported in overlays; write the expanded paths",
                ));
            }
            self.insert_flat(&path, node, origin)?;
        }
        self.origins.push(origin.to_owned());
        Ok(self)
    }

    fn insert_flat(
        &mut self,
        path: &str,
        node: Map<String, Json>,
        origin: &str,
    ) -> Result<(), CatalogError> {
        let mut segments = path.split('.');
        let root_name = segments.next().unwrap_or_default();
        let rest: Vec<&str> = segments.collect();
        if rest.is_empty() {
            let existing = self
                .roots
                .entry(root_name.to_owned())
                .or_insert_with(|| Json::Object(Map::new()));
            return merge_node(existing, node, path, origin, &mut self.node_origin);
        }
        let mut current = self.roots.get_mut(root_name).ok_or_else(|| {
            CatalogError::new(
                origin,
                path,
                format!("parent branch \"{root_name}\" does not exist"),
            )
        })?;
        let mut current_path = root_name.to_owned();
        for (i, segment) in rest.iter().enumerate() {
            let is_last = i + 1 == rest.len();
            let object = current.as_object_mut().expect("nodes are objects");
            if object
                .get("type")
                .and_then(Json::as_str)
                .is_some_and(|t| t != "branch")
            {
                return Err(CatalogError::new(
                    origin,
                    path,
                    format!("parent \"{current_path}\" is a leaf, not a branch"),
                ));
            }
            let children = object
                .entry("children")
                .or_insert_with(|| Json::Object(Map::new()))
                .as_object_mut()
                .ok_or_else(|| {
                    CatalogError::new(origin, &current_path, "\"children\" must be an object")
                })?;
            if is_last {
                let existing = children
                    .entry(segment.to_string())
                    .or_insert_with(|| Json::Object(Map::new()));
                return merge_node(existing, node, path, origin, &mut self.node_origin);
            }
            current_path = format!("{current_path}.{segment}");
            current = children.get_mut(*segment).ok_or_else(|| {
                CatalogError::new(origin, path, format!("parent branch \"{current_path}\" does not exist; declare it before its children"))
            })?;
        }
        Ok(())
    }

    /// Validates the merged tree and builds the catalog.
    pub fn build(self) -> Result<Catalog, CatalogError> {
        let base_origin = self
            .origins
            .first()
            .cloned()
            .unwrap_or_else(|| "catalog".to_owned());
        let mut found_leaves = Vec::new();
        let mut branches = BTreeMap::new();
        for (name, node) in &self.roots {
            let context = BuildContext {
                base_origin: &base_origin,
                node_origin: &self.node_origin,
            };
            context.walk(name, node, &mut found_leaves, &mut branches)?;
        }
        found_leaves.sort_by(|a: &Leaf, b| a.path.cmp(&b.path));
        let mut by_path = HashMap::with_capacity(found_leaves.len());
        for (index, leaf) in found_leaves.iter_mut().enumerate() {
            leaf.id = LeafId(index as u32);
            by_path.insert(leaf.path.clone(), leaf.id);
        }
        Ok(Catalog {
            leaves: found_leaves,
            by_path,
            branches,
            origins: self.origins,
        })
    }
}

/// Merges `overlay` into `base` at `path`: metadata keys replace, children merge.
fn merge_node(
    base: &mut Json,
    overlay: Map<String, Json>,
    path: &str,
    origin: &str,
    node_origin: &mut HashMap<String, String>,
) -> Result<(), CatalogError> {
    let base = base
        .as_object_mut()
        .ok_or_else(|| CatalogError::new(origin, path, "a node must be a JSON object"))?;
    node_origin.insert(path.to_owned(), origin.to_owned());
    for (key, value) in overlay {
        if key == "children" {
            let Json::Object(children) = value else {
                return Err(CatalogError::new(
                    origin,
                    path,
                    "\"children\" must be an object",
                ));
            };
            let base_children = base
                .entry("children")
                .or_insert_with(|| Json::Object(Map::new()));
            for (name, child) in children {
                let child_path = format!("{path}.{name}");
                let Json::Object(child) = child else {
                    return Err(CatalogError::new(
                        origin,
                        &child_path,
                        "a node must be a JSON object",
                    ));
                };
                let slot = base_children
                    .as_object_mut()
                    .ok_or_else(|| {
                        CatalogError::new(origin, path, "\"children\" must be an object")
                    })?
                    .entry(name)
                    .or_insert_with(|| Json::Object(Map::new()));
                merge_node(slot, child, &child_path, origin, node_origin)?;
            }
        } else {
            base.insert(key, value);
        }
    }
    Ok(())
}

struct BuildContext<'a> {
    base_origin: &'a str,
    node_origin: &'a HashMap<String, String>,
}

impl BuildContext<'_> {
    fn error(&self, path: &str, problem: impl Into<String>) -> CatalogError {
        let origin = self
            .node_origin
            .get(path)
            .map(String::as_str)
            .unwrap_or(self.base_origin);
        CatalogError::new(origin, path, problem)
    }

    fn walk(
        &self,
        path: &str,
        node: &Json,
        leaves: &mut Vec<Leaf>,
        branches: &mut BTreeMap<String, Branch>,
    ) -> Result<(), CatalogError> {
        let object = node
            .as_object()
            .ok_or_else(|| self.error(path, "a node must be a JSON object"))?;
        let node_type = object
            .get("type")
            .ok_or_else(|| self.error(path, "the node has no \"type\" (a new node needs one)"))?
            .as_str()
            .ok_or_else(|| self.error(path, "\"type\" must be a string"))?;
        let description =
            optional_string(object, "description").map_err(|p| self.error(path, p))?;
        if node_type == "branch" {
            branches.insert(
                path.to_owned(),
                Branch {
                    path: path.to_owned(),
                    description: description.unwrap_or_default(),
                },
            );
            if let Some(children) = object.get("children") {
                let children = children
                    .as_object()
                    .ok_or_else(|| self.error(path, "\"children\" must be an object"))?;
                for (name, child) in children {
                    if name.is_empty() || name.contains('.') {
                        return Err(self.error(path, format!("invalid child name \"{name}\"")));
                    }
                    self.walk(&format!("{path}.{name}"), child, leaves, branches)?;
                }
            }
            return Ok(());
        }
        let entry_type: EntryType = node_type.parse().map_err(|e: String| self.error(path, e))?;
        if object.contains_key("children") {
            return Err(self.error(path, format!("a {entry_type} cannot have children")));
        }
        leaves.push(self.leaf(path, entry_type, object, description)?);
        Ok(())
    }

    fn leaf(
        &self,
        path: &str,
        entry_type: EntryType,
        object: &Map<String, Json>,
        description: Option<String>,
    ) -> Result<Leaf, CatalogError> {
        let error = |problem: String| self.error(path, problem);
        let datatype: DataType = object
            .get("datatype")
            .ok_or_else(|| error("a leaf needs a \"datatype\"".into()))?
            .as_str()
            .ok_or_else(|| error("\"datatype\" must be a string".into()))?
            .parse()
            .map_err(error)?;
        let bound = |key: &str| -> Result<Option<Value>, CatalogError> {
            let Some(json) = object.get(key) else {
                return Ok(None);
            };
            if !datatype.is_numeric() {
                return Err(error(format!(
                    "\"{key}\" is only valid for numeric datatypes, not {datatype}"
                )));
            }
            Value::from_json(json, datatype.element())
                .map(Some)
                .map_err(|e| error(format!("invalid \"{key}\": {e}")))
        };
        let min = bound("min")?;
        let max = bound("max")?;
        if let (Some(low), Some(high)) = (&min, &max) {
            if low.numbers()[0].partial_cmp(high.numbers()[0]) == Some(std::cmp::Ordering::Greater)
            {
                return Err(error(format!(
                    "\"min\" {low} is greater than \"max\" {high}"
                )));
            }
        }
        let allowed = match object.get("allowed") {
            None => Vec::new(),
            Some(Json::Array(items)) => items
                .iter()
                .map(|item| Value::from_json(item, datatype.element()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| error(format!("invalid \"allowed\" entry: {e}")))?,
            Some(_) => return Err(error("\"allowed\" must be a list".into())),
        };
        let mut leaf = Leaf {
            id: LeafId(0),
            path: path.to_owned(),
            entry_type,
            datatype,
            unit: optional_string(object, "unit").map_err(error)?,
            min,
            max,
            allowed,
            default: None,
            description: description.unwrap_or_default(),
            comment: optional_string(object, "comment").map_err(error)?,
            deprecation: optional_string(object, "deprecation").map_err(error)?,
            extensions: object
                .iter()
                .filter(|(key, _)| !KNOWN_KEYS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect(),
        };
        if let Some(json) = object.get("default") {
            let default = Value::from_json(json, datatype)
                .map_err(|e| error(format!("invalid \"default\": {e}")))?;
            leaf.check_value(&default)
                .map_err(|e| error(format!("invalid \"default\": {e}")))?;
            leaf.default = Some(default);
        }
        Ok(leaf)
    }
}

const KNOWN_KEYS: &[&str] = &[
    "type",
    "datatype",
    "unit",
    "min",
    "max",
    "allowed",
    "default",
    "description",
    "comment",
    "deprecation",
    "uuid",
];

fn optional_string(object: &Map<String, Json>, key: &str) -> Result<Option<String>, String> {
    match object.get(key) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("\"{key}\" must be a string, found {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"{"Vehicle": {"type": "branch", "description": "root", "children": {
        "Speed": {"type": "sensor", "datatype": "float", "unit": "km/h", "min": 0, "max": 250, "description": "speed"},
        "Cabin": {"type": "branch", "description": "cabin", "children": {
            "DoorCount": {"type": "attribute", "datatype": "uint8", "default": 4, "description": "doors"},
            "Light": {"type": "actuator", "datatype": "string", "allowed": ["OFF", "ON"], "description": "light"}
        }}
    }}}"#;

    fn base() -> CatalogBuilder {
        CatalogBuilder::new().json_str(BASE, "base.json").unwrap()
    }

    #[test]
    fn loads_leaves_with_metadata() {
        let catalog = base().build().unwrap();
        assert_eq!(catalog.len(), 3);
        let speed = catalog.leaf("Vehicle.Speed").unwrap();
        assert_eq!(speed.datatype, DataType::Float);
        assert_eq!(speed.unit.as_deref(), Some("km/h"));
        assert_eq!(speed.max, Some(Value::Float(250.0)));
        let doors = catalog.leaf("Vehicle.Cabin.DoorCount").unwrap();
        assert_eq!(doors.default, Some(Value::Uint32(4)));
        assert!(catalog.branch("Vehicle.Cabin").is_some());
        assert_eq!(catalog.leaf_by_id(speed.id).unwrap().path, "Vehicle.Speed");
    }

    #[test]
    fn json_overlay_adds_and_changes_nodes() {
        let overlay = r#"{"Vehicle": {"children": {
            "Speed": {"max": 300},
            "Tomoe": {"type": "branch", "description": "brand", "children": {
                "Range": {"type": "sensor", "datatype": "uint32", "unit": "km", "description": "range"}}}}}}"#;
        let catalog = base()
            .json_str(overlay, "overlay.json")
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            catalog.leaf("Vehicle.Speed").unwrap().max,
            Some(Value::Float(300.0))
        );
        assert_eq!(
            catalog.leaf("Vehicle.Tomoe.Range").unwrap().unit.as_deref(),
            Some("km")
        );
        assert_eq!(catalog.origins(), ["base.json", "overlay.json"]);
    }

    #[test]
    fn vspec_overlay_adds_and_changes_nodes() {
        let overlay = "Vehicle.Tomoe:\n  type: branch\n  description: brand\nVehicle.Tomoe.Mode:\n  type: sensor\n  datatype: string\n  allowed: [OFF, PARKED]\n  description: mode\nVehicle.Speed:\n  unit: m/s\n  dbc2vss:\n    signal: DI_speed\n";
        let catalog = base()
            .vspec_str(overlay, "brand.vspec")
            .unwrap()
            .build()
            .unwrap();
        let mode = catalog.leaf("Vehicle.Tomoe.Mode").unwrap();
        assert_eq!(mode.allowed.len(), 2);
        let speed = catalog.leaf("Vehicle.Speed").unwrap();
        assert_eq!(speed.unit.as_deref(), Some("m/s"));
        assert!(speed.extensions.contains_key("dbc2vss"));
    }

    fn check_error(overlay: &str, node: &str, problem: &str) {
        let error = base()
            .json_str(overlay, "bad.json")
            .and_then(CatalogBuilder::build)
            .unwrap_err();
        assert_eq!(error.origin, "bad.json", "{error}");
        assert_eq!(error.node, node, "{error}");
        assert!(error.problem.contains(problem), "{error}");
    }

    #[test]
    fn invalid_nodes_are_refused_with_node_and_problem() {
        check_error(
            r#"{"Vehicle": {"children": {"X": {"datatype": "float"}}}}"#,
            "Vehicle.X",
            "no \"type\"",
        );
        check_error(
            r#"{"Vehicle": {"children": {"X": {"type": "sensor"}}}}"#,
            "Vehicle.X",
            "needs a \"datatype\"",
        );
        check_error(
            r#"{"Vehicle": {"children": {"X": {"type": "sensor", "datatype": "float128"}}}}"#,
            "Vehicle.X",
            "unknown datatype",
        );
        check_error(
            r#"{"Vehicle": {"children": {"X": {"type": "signal", "datatype": "float"}}}}"#,
            "Vehicle.X",
            "unknown node type",
        );
        check_error(
            r#"{"Vehicle": {"children": {"Speed": {"min": 10, "max": 5}}}}"#,
            "Vehicle.Speed",
            "greater than",
        );
        check_error(
            r#"{"Vehicle": {"children": {"Speed": {"min": "low"}}}}"#,
            "Vehicle.Speed",
            "invalid \"min\"",
        );
        check_error(
            r#"{"Vehicle": {"children": {"Cabin": {"children": {"Light": {"default": "DIM"}}}}}}"#,
            "Vehicle.Cabin.Light",
            "not allowed",
        );
        check_error(
            r#"{"Vehicle": {"children": {"Cabin": {"children": {"DoorCount": {"default": 300}}}}}}"#,
            "Vehicle.Cabin.DoorCount",
            "outside the range",
        );
    }

    #[test]
    fn malformed_files_are_refused() {
        let error = CatalogBuilder::new()
            .json_str("{not json", "broken.json")
            .unwrap_err();
        assert!(
            error.to_string().starts_with("broken.json: invalid JSON"),
            "{error}"
        );
        let error = base()
            .vspec_str(
                "Vehicle.Nope.X:\n  type: sensor\n  datatype: float\n",
                "o.vspec",
            )
            .unwrap_err();
        assert!(
            error.problem.contains("\"Vehicle.Nope\" does not exist"),
            "{error}"
        );
    }

    #[test]
    fn values_are_checked_against_metadata() {
        let catalog = base().build().unwrap();
        let speed = catalog.leaf("Vehicle.Speed").unwrap();
        assert!(speed.check_value(&Value::Float(100.0)).is_ok());
        assert!(matches!(
            speed.check_value(&Value::Double(1.0)),
            Err(ValueError::WrongType { .. })
        ));
        assert!(matches!(
            speed.check_value(&Value::Float(-1.0)),
            Err(ValueError::OutOfRange { .. })
        ));
        let light = catalog.leaf("Vehicle.Cabin.Light").unwrap();
        let error = light.check_value(&Value::String("DIM".into())).unwrap_err();
        assert_eq!(
            error.to_string(),
            "value DIM is not allowed for \"Vehicle.Cabin.Light\" (allowed: OFF, ON)"
        );
        let doors = catalog.leaf("Vehicle.Cabin.DoorCount").unwrap();
        assert!(matches!(
            doors.check_value(&Value::Uint32(256)),
            Err(ValueError::OutOfRange { .. })
        ));
    }

    #[test]
    fn patterns_select_leaves() {
        let catalog = base().build().unwrap();
        let select = |p: &str| {
            let pattern = PathPattern::parse(p).unwrap();
            catalog
                .matching(&pattern)
                .map(|l| l.path.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            select("Vehicle.Cabin"),
            ["Vehicle.Cabin.DoorCount", "Vehicle.Cabin.Light"]
        );
        assert_eq!(select("Vehicle.*.Light"), ["Vehicle.Cabin.Light"]);
        assert_eq!(select("Vehicle.**").len(), 3);
    }
}
