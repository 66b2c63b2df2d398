//! Vehicle modes in manifests: written in lowercase (`parked`, `driving`), read ignoring
//! case, and every name that is no vehicle mode refused with its place.

use serde::ser::SerializeSeq;
use tomoe_types::VehicleMode;

use super::{deserialize, ManifestError, Problem};

/// The manifest's name of a mode.
pub(crate) fn name(mode: VehicleMode) -> String {
    mode.as_str().to_ascii_lowercase()
}

/// `a, b, c` of lowercase mode names.
pub(crate) fn list(modes: &[VehicleMode]) -> String {
    modes
        .iter()
        .map(|m| name(*m))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Serializes modes as their lowercase names.
pub(crate) fn serialize<S: serde::Serializer>(
    modes: &[VehicleMode],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(modes.len()))?;
    for mode in modes {
        seq.serialize_element(&name(*mode))?;
    }
    seq.end()
}

/// Whether a location is an entry of `modes` or `access.modeRequests`.
pub(super) fn names_a_mode(location: &str) -> bool {
    let field = location
        .rsplit_once('[')
        .map_or(location, |(field, _)| field);
    field.ends_with(".modes") || field.ends_with(".modeRequests")
}

/// The refusal of a manifest naming a mode that is no vehicle mode: every such name with
/// its place, and every other problem of the manifest, as when all names are known.
pub(super) fn refuse_unknown_modes(text: &str, first: Problem) -> ManifestError {
    let single = |problem: Problem| ManifestError {
        problems: vec![problem],
    };
    let Ok(mut value) = serde_yaml::from_str::<serde_yaml::Value>(text) else {
        return single(first);
    };
    let mut unknown = replace_unknown_modes(&mut value);
    if unknown.is_empty() {
        return single(first);
    }
    match deserialize(value) {
        Ok(manifest) => ManifestError {
            problems: manifest.problems(unknown),
        },
        Err(problem) => {
            unknown.push(problem);
            ManifestError { problems: unknown }
        }
    }
}

/// Replaces every mode name that is no vehicle mode by `service` (keeping the places of
/// the others, and adding no problem of its own) and returns a problem for each.
fn replace_unknown_modes(manifest: &mut serde_yaml::Value) -> Vec<Problem> {
    let mut problems = Vec::new();
    let Some(workloads) = manifest
        .get_mut("workloads")
        .and_then(serde_yaml::Value::as_sequence_mut)
    else {
        return problems;
    };
    for (index, workload) in workloads.iter_mut().enumerate() {
        if let Some(modes) = workload
            .get_mut("modes")
            .and_then(serde_yaml::Value::as_sequence_mut)
        {
            replace_unknown(modes, &mut problems, |m, name| Problem {
                location: format!("workloads[{index}].modes[{m}]"),
                message: format!(
                    "\"{name}\" is not a vehicle mode ({})",
                    list(&VehicleMode::ALL)
                ),
            });
        }
        if let Some(requests) = workload
            .get_mut("access")
            .and_then(|access| access.get_mut("modeRequests"))
            .and_then(serde_yaml::Value::as_sequence_mut)
        {
            replace_unknown(requests, &mut problems, |m, name| Problem {
                location: format!("workloads[{index}].access.modeRequests[{m}]"),
                message: format!("\"{name}\" cannot be requested (only service)"),
            });
        }
    }
    problems
}

/// Replaces the entries of `names` that are no vehicle mode, with a problem for each.
fn replace_unknown(
    names: &mut [serde_yaml::Value],
    problems: &mut Vec<Problem>,
    problem: impl Fn(usize, &str) -> Problem,
) {
    for (index, entry) in names.iter_mut().enumerate() {
        let Some(given) = entry.as_str() else {
            continue;
        };
        if given.parse::<VehicleMode>().is_err() {
            problems.push(problem(index, given));
            *entry = serde_yaml::Value::String(name(VehicleMode::Service));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::{Manifest, Workload};

    #[test]
    fn modes_are_vehicle_modes_in_any_case_written_lowercase() {
        let manifest = Manifest::parse(
            "apiVersion: tomoe.dev/v1\nworkloads:\n  - {name: a, command: x, modes: [parked, DRIVING, Charging, off], access: {modeRequests: [Service]}}\n",
        )
        .unwrap();
        let workload = &manifest.workloads[0];
        assert_eq!(
            workload.modes,
            [
                VehicleMode::Parked,
                VehicleMode::Driving,
                VehicleMode::Charging,
                VehicleMode::Off
            ]
        );
        assert_eq!(workload.access.mode_requests, [VehicleMode::Service]);
        let json = serde_json::to_value(workload).unwrap();
        assert_eq!(
            json["modes"],
            serde_json::json!(["parked", "driving", "charging", "off"])
        );
        assert_eq!(
            json["access"]["modeRequests"],
            serde_json::json!(["service"])
        );
        let back: Workload = serde_json::from_value(json).unwrap();
        assert_eq!(&back, workload);
    }

    #[test]
    fn unknown_modes_are_listed_in_place_with_every_other_problem() {
        let bad = r#"
apiVersion: tomoe.dev/v1
workloads:
  - name: a
    command: ""
    modes: [parked, flying]
    access: {modeRequests: [driving, teleport], read: ["Vehicle..Speed"]}
  - {name: b, command: x, modes: [swimming]}
"#;
        let error = Manifest::parse(bad).unwrap_err();
        let text: Vec<String> = error.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "workloads[0].command: must not be empty",
                "workloads[0].modes[1]: \"flying\" is not a vehicle mode (off, parked, charging, driving, service)",
                "workloads[0].access.modeRequests[0]: \"driving\" cannot be requested (only service)",
                "workloads[0].access.modeRequests[1]: \"teleport\" cannot be requested (only service)",
                "workloads[0].access.read[0]: invalid path pattern \"Vehicle..Speed\": it has an empty segment",
                "workloads[1].modes[0]: \"swimming\" is not a vehicle mode (off, parked, charging, driving, service)",
            ]
        );
        // With another structural problem, both are reported.
        let error = Manifest::parse(
            "apiVersion: tomoe.dev/v1\nworkloads:\n  - {name: a, command: x, modes: [flying], restart: {policy: sometimes}}\n",
        )
        .unwrap_err();
        let locations: Vec<&str> = error.problems.iter().map(|p| p.location.as_str()).collect();
        assert_eq!(
            locations,
            ["workloads[0].modes[0]", "workloads[0].restart.policy"]
        );
        // A mode that is not a name at all is a structural problem.
        let error = Manifest::parse(
            "apiVersion: tomoe.dev/v1\nworkloads:\n  - {name: a, command: x, modes: [[parked]]}\n",
        )
        .unwrap_err();
        assert_eq!(error.problems.len(), 1);
        assert_eq!(error.problems[0].location, "workloads[0].modes[0]");
    }
}
