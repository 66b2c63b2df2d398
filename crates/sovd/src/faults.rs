//! Fault resources: an entity's stored faults with their SOVD status, one fault
//! with its environment data, and clearing.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use tomoe_diag::{ClearScope, DtcCode, DtcStatus, Fault, Severity};
use utoipa::ToSchema;

use crate::caller::Caller;
use crate::entities::Collection;
use crate::error::SovdError;
use crate::{include_schema, parse_bool, query_pairs, respond, rfc3339_ms, SovdState};

/// A fault as SOVD lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FaultItem {
    /// The trouble code (`P0A7E`).
    pub code: String,
    /// The code as shown to people.
    pub display_code: String,
    /// What it means.
    pub fault_name: String,
    /// 1 (critical) to 4 (information).
    pub severity: u8,
    /// Where it comes from: `rule`, `can-supervision` or `platform`.
    pub scope: String,
    /// The UDS status bits by name (`"0"`/`"1"`), `mask` (the status byte, hex)
    /// and `aggregatedStatus` (`active` while the test fails, else `passive`).
    #[schema(value_type = Object)]
    pub status: BTreeMap<String, String>,
}

/// An entity's faults.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FaultList {
    /// The faults.
    pub items: Vec<FaultItem>,
}

/// One fault with its environment data.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FaultDetails {
    /// The fault.
    pub item: FaultItem,
    /// Extended data records and freeze frames (snapshots).
    pub environment_data: EnvironmentData,
}

/// A fault's environment: counters and reporter data, and its freeze frames.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnvironmentData {
    /// Occurrence and aging counters, first and last failure, what the reporter said.
    pub extended_data_records: Records,
    /// Freeze frames by record number: `1` the first occurrence, `2` the latest.
    pub snapshots: Records,
}

/// A set of records.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Records {
    /// The records.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// The SOVD status object of a status byte.
pub(crate) fn status_object(status: DtcStatus) -> BTreeMap<String, String> {
    let mut object: BTreeMap<String, String> = DtcStatus::FLAGS
        .iter()
        .map(|(bit, name)| {
            (
                (*name).to_owned(),
                if status.has(*bit) { "1" } else { "0" }.to_owned(),
            )
        })
        .collect();
    object.insert("mask".to_owned(), status.to_string());
    object.insert(
        "aggregatedStatus".to_owned(),
        if status.has(DtcStatus::TEST_FAILED) {
            "active"
        } else {
            "passive"
        }
        .to_owned(),
    );
    object
}

pub(crate) fn item(fault: &Fault) -> FaultItem {
    FaultItem {
        code: fault.code.to_string(),
        display_code: fault.code.to_string(),
        fault_name: fault.name.clone(),
        severity: fault.severity.level(),
        scope: serde_json::to_value(fault.source)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        status: status_object(fault.status),
    }
}

/// Which faults a list asks for.
#[derive(Debug, Default)]
pub(crate) struct FaultFilter {
    /// Faults with any of these bits set (`status[...]=1` and `status[mask]=`).
    any_bits: u8,
    /// Faults with any of these bits clear (`status[...]=0`).
    any_clear: u8,
    /// Faults at least this severe (1 the most).
    severity: Option<u8>,
    /// Faults of this scope.
    scope: Option<String>,
}

impl FaultFilter {
    pub(crate) fn parse(pairs: &[(String, String)]) -> Result<FaultFilter, SovdError> {
        let mut filter = FaultFilter::default();
        for (key, value) in pairs {
            if let Some(name) = key
                .strip_prefix("status[")
                .and_then(|rest| rest.strip_suffix(']'))
            {
                if name.eq_ignore_ascii_case("mask") {
                    let digits = value.trim_start_matches("0x").trim_start_matches("0X");
                    let mask = u8::from_str_radix(digits, 16).map_err(|_| {
                        SovdError::bad_request(format!(
                            "status[mask] must be a hex byte such as 0x08, not \"{value}\""
                        ))
                    })?;
                    filter.any_bits |= mask;
                    continue;
                }
                let bit = DtcStatus::flag_named(name).ok_or_else(|| {
                    SovdError::bad_request(format!(
                        "unknown status key \"{}\" (expected mask or one of {})",
                        name.chars().take(64).collect::<String>(),
                        DtcStatus::FLAGS.map(|(_, n)| n).join(", ")
                    ))
                })?;
                match parse_bool(value) {
                    Some(true) => filter.any_bits |= bit,
                    Some(false) => filter.any_clear |= bit,
                    None => {
                        return Err(SovdError::bad_request(format!(
                            "status[{name}] must be 0, 1, true or false, not \"{value}\""
                        )))
                    }
                }
                continue;
            }
            match key.as_str() {
                "severity" => {
                    let level = value
                        .parse::<u8>()
                        .ok()
                        .and_then(Severity::from_level)
                        .ok_or_else(|| {
                            SovdError::bad_request(format!(
                                "severity must be 1 (critical) to 4 (information), not \"{value}\""
                            ))
                        })?;
                    filter.severity = Some(level.level());
                }
                "scope" => filter.scope = Some(value.clone()),
                "include-schema" => {}
                other => {
                    return Err(SovdError::bad_request(format!(
                        "unknown query parameter \"{}\" (expected status[KEY], severity, scope or include-schema)",
                        other.chars().take(64).collect::<String>()
                    )))
                }
            }
        }
        Ok(filter)
    }

    pub(crate) fn matches(&self, fault: &Fault) -> bool {
        let status_given = self.any_bits != 0 || self.any_clear != 0;
        // Status conditions combine with OR, as SOVD specifies.
        let status_ok = !status_given
            || fault.status.0 & self.any_bits != 0
            || !fault.status.0 & self.any_clear != 0;
        let severity_ok = self
            .severity
            .is_none_or(|level| fault.severity.level() <= level);
        let scope_ok = self.scope.as_ref().is_none_or(|scope| {
            serde_json::to_value(fault.source)
                .ok()
                .and_then(|v| v.as_str().map(|s| s == scope))
                .unwrap_or(false)
        });
        status_ok && severity_ok && scope_ok
    }
}

/// An entity's faults.
#[utoipa::path(get, path = "/{collection}/{entity_id}/faults", tag = "faults",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("status[mask]" = Option<String>, Query, description = "Faults with any of these status bits (hex, 0x08)"),
        ("status[confirmedDTC]" = Option<String>, Query, description = "Faults with (1) or without (0) this bit; any status key works the same way"),
        ("severity" = Option<u8>, Query, description = "Faults at least this severe (1 critical .. 4 information)"),
        ("scope" = Option<String>, Query, description = "Faults from rule, can-supervision or platform"),
        ("include-schema" = Option<bool>, Query, description = "Add the response's JSON schema")),
    responses((status = 200, description = "The faults", body = FaultList)))]
pub(crate) async fn list(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, SovdError> {
    caller.require_read()?;
    let pairs = query_pairs(query.as_deref())?;
    let include = include_schema(&pairs)?;
    let filter = FaultFilter::parse(&pairs)?;
    let entity = state.resolve(collection, &id).await?;
    Ok(respond(
        &fault_list(&state, &entity.entity, &filter),
        include,
    ))
}

pub(crate) fn fault_list(
    state: &SovdState,
    entity: &tomoe_diag::Entity,
    filter: &FaultFilter,
) -> FaultList {
    FaultList {
        items: state
            .config()
            .memory
            .faults_of(entity)
            .iter()
            .filter(|fault| filter.matches(fault))
            .map(item)
            .collect(),
    }
}

fn parse_code(code: &str, entity: &str) -> Result<DtcCode, SovdError> {
    code.parse().map_err(|_| {
        SovdError::not_found(format!(
            "{entity} has no fault {}",
            code.chars().take(64).collect::<String>()
        ))
    })
}

/// One fault with its environment data.
#[utoipa::path(get, path = "/{collection}/{entity_id}/faults/{fault_code}", tag = "faults",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("fault_code" = String, Path, description = "The trouble code", example = "P0A7E"),
        ("include-schema" = Option<bool>, Query, description = "Add the response's JSON schema")),
    responses((status = 200, description = "The fault", body = FaultDetails)))]
pub(crate) async fn details(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, code)): Path<(Collection, String, String)>,
    RawQuery(query): RawQuery,
) -> Result<Json<serde_json::Value>, SovdError> {
    caller.require_read()?;
    let include = include_schema(&query_pairs(query.as_deref())?)?;
    let entity = state.resolve(collection, &id).await?;
    let name = entity.entity.to_string();
    let code = parse_code(&code, &name)?;
    let fault = state
        .config()
        .memory
        .fault(&entity.entity, &code)
        .ok_or_else(|| SovdError::not_found(format!("{name} has no fault {code}")))?;
    let mut extended = serde_json::Map::new();
    extended.insert("occurrence_counter".into(), fault.occurrences.into());
    extended.insert("aging_counter".into(), fault.aging_counter.into());
    extended.insert(
        "first_failure".into(),
        rfc3339_ms(fault.first_failure_ms).into(),
    );
    extended.insert(
        "last_failure".into(),
        rfc3339_ms(fault.last_failure_ms).into(),
    );
    for (key, value) in &fault.environment {
        extended.insert(key.clone(), value.clone().into());
    }
    let snapshots: serde_json::Map<String, serde_json::Value> = fault
        .snapshots
        .iter()
        .map(|snapshot| {
            (
                snapshot.record.to_string(),
                serde_json::json!({
                    "timestamp": rfc3339_ms(snapshot.timestamp_ms),
                    "values": snapshot.values,
                }),
            )
        })
        .collect();
    let details = FaultDetails {
        item: item(&fault),
        environment_data: EnvironmentData {
            extended_data_records: Records {
                data: extended.into(),
            },
            snapshots: Records {
                data: snapshots.into(),
            },
        },
    };
    Ok(respond(&details, include))
}

/// Clears all of an entity's faults. The caller must hold the entity's lock.
#[utoipa::path(delete, path = "/{collection}/{entity_id}/faults", tag = "faults",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms")),
    responses((status = 204, description = "Cleared")))]
pub(crate) async fn clear_all(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id)): Path<(Collection, String)>,
) -> Result<StatusCode, SovdError> {
    caller.require_write("clearing faults")?;
    let entity = state.resolve(collection, &id).await?;
    state.require_lock(&caller, &entity)?;
    clear(
        &state,
        ClearScope {
            entity: Some(entity.entity.clone()),
            code: None,
        },
    )?;
    Ok(StatusCode::NO_CONTENT)
}

/// Clears one fault. The caller must hold the entity's lock.
#[utoipa::path(delete, path = "/{collection}/{entity_id}/faults/{fault_code}", tag = "faults",
    params(("collection" = Collection, Path, description = "components or apps"),
        ("entity_id" = String, Path, description = "The entity", example = "bms"),
        ("fault_code" = String, Path, description = "The trouble code", example = "P0A7E")),
    responses((status = 204, description = "Cleared")))]
pub(crate) async fn clear_one(
    State(state): State<SovdState>,
    caller: Caller,
    Path((collection, id, code)): Path<(Collection, String, String)>,
) -> Result<StatusCode, SovdError> {
    caller.require_write("clearing faults")?;
    let entity = state.resolve(collection, &id).await?;
    let name = entity.entity.to_string();
    let code = parse_code(&code, &name)?;
    if state.config().memory.fault(&entity.entity, &code).is_none() {
        return Err(SovdError::not_found(format!("{name} has no fault {code}")));
    }
    state.require_lock(&caller, &entity)?;
    clear(
        &state,
        ClearScope {
            entity: Some(entity.entity.clone()),
            code: Some(code),
        },
    )?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) fn clear(state: &SovdState, scope: ClearScope) -> Result<usize, SovdError> {
    state
        .config()
        .memory
        .clear(&scope)
        .map(|cleared| cleared.len())
        .map_err(|e| SovdError::unavailable(format!("the fault memory: {e}")))
}
