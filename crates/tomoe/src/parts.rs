//! `tomoe parts list|check|matrix`.

use std::path::PathBuf;

use anyhow::bail;
use serde_json::json;
use tomoe_parts::{
    check_fit, default_parts_dir, Catalog, FitReport, Part, PartKind, VehiclePlatform,
};
use tomoe_vehicle::{default_profiles_dir, Profile};

use crate::cli::{PartKindArg, PartsCheckArgs, PartsListArgs, PartsMatrixArgs};

impl From<PartKindArg> for PartKind {
    fn from(kind: PartKindArg) -> PartKind {
        match kind {
            PartKindArg::Battery => PartKind::BatteryPack,
            PartKindArg::EAxle => PartKind::EAxle,
            PartKindArg::Charger => PartKind::Charger,
        }
    }
}

fn load_catalog(dir: &Option<PathBuf>) -> anyhow::Result<Catalog> {
    // The errors name the catalog's files (one line per problem); no context is added so
    // that every line reads "file: field: reason".
    Ok(Catalog::load(
        &dir.clone().unwrap_or_else(default_parts_dir),
    )?)
}

/// A vehicle profile with its platform specification.
struct Vehicle {
    profile: Profile,
    platform: VehiclePlatform,
}

fn load_vehicle(name: &str, profiles: &Option<PathBuf>) -> anyhow::Result<Vehicle> {
    let dir = profiles.clone().unwrap_or_else(default_profiles_dir);
    let (profile_dir, profile) = Profile::find(name, &dir)?;
    match profile.platform_spec(&profile_dir)? {
        Some(platform) => Ok(Vehicle { profile, platform }),
        None => bail!(
            "vehicle profile \"{}\" has no [platform] section",
            profile.id
        ),
    }
}

fn load_vehicles(profiles: &Option<PathBuf>) -> anyhow::Result<Vec<Vehicle>> {
    let dir = profiles.clone().unwrap_or_else(default_profiles_dir);
    let mut vehicles = Vec::new();
    for (profile_dir, profile) in Profile::list(&dir)? {
        match profile.platform_spec(&profile_dir)? {
            Some(platform) => vehicles.push(Vehicle { profile, platform }),
            None => {
                tracing::warn!(profile = %profile.id, "profile has no [platform] section; left out")
            }
        }
    }
    Ok(vehicles)
}

fn kinds(filter: Option<PartKindArg>) -> Vec<PartKind> {
    match filter {
        Some(kind) => vec![kind.into()],
        None => PartKind::ALL.to_vec(),
    }
}

pub fn list(args: PartsListArgs) -> anyhow::Result<()> {
    let catalog = load_catalog(&args.parts)?;
    let kinds = kinds(args.kind);
    let parts: Vec<&Part> = catalog
        .parts()
        .iter()
        .filter(|p| kinds.contains(&p.kind()))
        .collect();
    if args.json {
        out!("{}", serde_json::to_string_pretty(&parts)?)?;
        return Ok(());
    }
    let width = parts.iter().map(|p| p.id.len()).max().unwrap_or(2);
    out!("{:<width$}  {:<12}  {:<3}  figures", "id", "kind", "est")?;
    for part in &parts {
        out!(
            "{:<width$}  {:<12}  {:<3}  {}",
            part.id,
            part.kind().as_str(),
            if part.estimated { "yes" } else { "no" },
            part.summary()
        )?;
    }
    Ok(())
}

fn report_json(vehicle: &Vehicle, part: &Part, report: &FitReport) -> serde_json::Value {
    json!({
        "vehicle": vehicle.profile.id,
        "part": part.id,
        "kind": part.kind(),
        "installed": vehicle.platform.installed(part.kind()) == Some(part.id.as_str()),
        "fits": report.fits,
        "reasons": report.reasons,
    })
}

pub fn check(args: PartsCheckArgs) -> anyhow::Result<()> {
    let catalog = load_catalog(&args.parts)?;
    let vehicle = load_vehicle(&args.vehicle, &args.profiles)?;
    let Some(part) = catalog.get(&args.part) else {
        bail!(
            "no part \"{}\" in the catalog (tomoe parts list shows them)",
            args.part
        );
    };
    let report = check_fit(&vehicle.platform, part);
    if args.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&report_json(&vehicle, part, &report))?
        )?;
    } else {
        let p = &vehicle.profile;
        out!(
            "{} ({}) in {} ({} {} {}):",
            part.id,
            part.name,
            p.id,
            p.brand,
            p.model,
            p.year
        )?;
        for reason in &report.reasons {
            out!("  {reason}")?;
        }
        let failed: Vec<&str> = report.failures().map(|r| r.check.as_str()).collect();
        if report.fits {
            out!("fits: all {} checks passed", report.reasons.len())?;
        } else {
            out!(
                "does not fit: {} of {} checks failed ({})",
                failed.len(),
                report.reasons.len(),
                failed.join(", ")
            )?;
        }
    }
    if !report.fits {
        bail!(
            "part \"{}\" does not fit vehicle \"{}\"",
            part.id,
            vehicle.profile.id
        );
    }
    Ok(())
}

fn kind_title(kind: PartKind) -> &'static str {
    match kind {
        PartKind::BatteryPack => "battery packs",
        PartKind::EAxle => "e-axles",
        PartKind::Charger => "chargers",
    }
}

pub fn matrix(args: PartsMatrixArgs) -> anyhow::Result<()> {
    let catalog = load_catalog(&args.parts)?;
    let vehicles = load_vehicles(&args.profiles)?;
    let kinds = kinds(args.kind);
    if args.json {
        let mut cells = Vec::new();
        for part in catalog.parts().iter().filter(|p| kinds.contains(&p.kind())) {
            for vehicle in &vehicles {
                let report = check_fit(&vehicle.platform, part);
                cells.push(report_json(vehicle, part, &report));
            }
        }
        let ids: Vec<&str> = vehicles.iter().map(|v| v.profile.id.as_str()).collect();
        out!(
            "{}",
            serde_json::to_string_pretty(&json!({"vehicles": ids, "cells": cells}))?
        )?;
        return Ok(());
    }
    for (index, kind) in kinds.iter().enumerate() {
        if index > 0 {
            out!("")?;
        }
        let parts: Vec<&Part> = catalog.of_kind(*kind).collect();
        let rows: Vec<Vec<(String, Vec<&'static str>)>> = parts
            .iter()
            .map(|part| {
                vehicles
                    .iter()
                    .map(|vehicle| {
                        let report = check_fit(&vehicle.platform, part);
                        let installed = vehicle.platform.installed(*kind) == Some(part.id.as_str());
                        let failed = report.failures().map(|r| r.check.as_str()).collect();
                        (report.cell(installed), failed)
                    })
                    .collect()
            })
            .collect();
        let first = parts
            .iter()
            .map(|p| p.id.len())
            .chain([kind_title(*kind).len()])
            .max()
            .unwrap_or(0);
        let widths: Vec<usize> = vehicles
            .iter()
            .enumerate()
            .map(|(column, vehicle)| {
                rows.iter()
                    .map(|row| row[column].0.len())
                    .chain([vehicle.profile.id.len()])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut header = format!("{:<first$}", kind_title(*kind));
        for (vehicle, width) in vehicles.iter().zip(&widths) {
            header.push_str(&format!("  {:<width$}", vehicle.profile.id));
        }
        out!("{}", header.trim_end())?;
        for (part, row) in parts.iter().zip(&rows) {
            let mut line = format!("{:<first$}", part.id);
            for ((text, _), width) in row.iter().zip(&widths) {
                line.push_str(&format!("  {text:<width$}"));
            }
            out!("{}", line.trim_end())?;
        }
        let misfits: Vec<String> = parts
            .iter()
            .zip(&rows)
            .flat_map(|(part, row)| {
                row.iter()
                    .zip(&vehicles)
                    .filter(|((_, failed), _)| !failed.is_empty())
                    .map(move |((_, failed), vehicle)| {
                        format!(
                            "  {} in {}: {}",
                            part.id,
                            vehicle.profile.id,
                            failed.join(", ")
                        )
                    })
            })
            .collect();
        if !misfits.is_empty() {
            out!("failed checks:")?;
            for line in misfits {
                out!("{line}")?;
            }
        }
    }
    Ok(())
}
