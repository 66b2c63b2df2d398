//! `tomoe profile list|show|check`.

use std::path::PathBuf;

use anyhow::{bail, Context};
use serde_json::json;
use tomoe_mapping::Transform;
use tomoe_vehicle::{check_profile, default_profiles_dir, LoadedProfile, Profile, Severity};

use crate::cli::{ProfileArgs, ProfileListArgs};

fn profiles_dir(option: &Option<PathBuf>) -> PathBuf {
    option.clone().unwrap_or_else(default_profiles_dir)
}

fn load(args: &ProfileArgs) -> anyhow::Result<LoadedProfile> {
    let (dir, profile) = Profile::find(&args.profile, &profiles_dir(&args.profiles))?;
    LoadedProfile::load(&dir, profile).context("cannot load the profile")
}

pub fn list(args: ProfileListArgs) -> anyhow::Result<()> {
    let dir = profiles_dir(&args.profiles);
    let profiles = Profile::list(&dir)?;
    if args.json {
        let items: Vec<_> = profiles
            .iter()
            .map(|(path, p)| {
                json!({"id": p.id, "brand": p.brand, "model": p.model, "year": p.year,
                       "buses": p.buses.iter().map(|b| &b.name).collect::<Vec<_>>(),
                       "path": path.display().to_string()})
            })
            .collect();
        out!("{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(());
    }
    out!(
        "{:<24} {:<10} {:<16} {:<5} buses",
        "id",
        "brand",
        "model",
        "year"
    )?;
    for (_, profile) in &profiles {
        let buses: Vec<String> = profile
            .buses
            .iter()
            .map(|b| format!("{} ({})", b.name, b.channel))
            .collect();
        out!(
            "{:<24} {:<10} {:<16} {:<5} {}",
            profile.id,
            profile.brand,
            profile.model,
            profile.year,
            buses.join(", ")
        )?;
    }
    Ok(())
}

fn transform_text(transform: &Transform) -> String {
    match transform {
        Transform::Identity => String::new(),
        Transform::Math(expression) => format!("math: {expression}"),
        Transform::Mapping(pairs) => format!("mapping: {} entries", pairs.len()),
    }
}

pub fn show(args: ProfileArgs) -> anyhow::Result<()> {
    let loaded = load(&args)?;
    let p = &loaded.profile;
    if args.json {
        let buses: Vec<_> = loaded
            .buses
            .iter()
            .map(|bus| {
                json!({
                    "name": bus.spec.name, "channel": bus.spec.channel, "dbc": bus.spec.dbc, "mapping": bus.spec.mapping,
                    "messages": bus.database.messages().len(),
                    "dbc2vss": bus.mapping.dbc2vss().iter().map(|r| json!({
                        "path": r.path, "signal": r.signal, "interval_ms": r.interval_ms, "on_change": r.on_change,
                        "transform": transform_text(&r.transform)})).collect::<Vec<_>>(),
                    "vss2dbc": bus.mapping.vss2dbc().iter().map(|r| json!({
                        "path": r.path, "signal": r.signal, "transform": transform_text(&r.transform)})).collect::<Vec<_>>(),
                })
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"id": p.id, "brand": p.brand, "model": p.model, "year": p.year,
                "description": p.description, "catalog": p.catalog.vss, "buses": buses})
            )?
        )?;
        return Ok(());
    }
    out!("{} — {} {} ({})", p.id, p.brand, p.model, p.year)?;
    if !p.description.is_empty() {
        out!("{}", p.description)?;
    }
    out!("catalog: {}", p.catalog.vss)?;
    for bus in &loaded.buses {
        out!("")?;
        out!(
            "bus {} on {}: {} ({} messages), mapping {}",
            bus.spec.name,
            bus.spec.channel,
            bus.spec.dbc,
            bus.database.messages().len(),
            bus.spec.mapping
        )?;
        for rule in bus.mapping.dbc2vss() {
            out!(
                "  {:<62} <- {:<28} {}",
                rule.path,
                rule.signal,
                transform_text(&rule.transform)
            )?;
        }
        for rule in bus.mapping.vss2dbc() {
            out!(
                "  {:<62} -> {:<28} {}",
                rule.path,
                rule.signal,
                transform_text(&rule.transform)
            )?;
        }
    }
    Ok(())
}

pub fn check(args: ProfileArgs) -> anyhow::Result<()> {
    let loaded = load(&args)?;
    let catalog = loaded.catalog()?;
    let findings = check_profile(&loaded, &catalog);
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let rules: usize = loaded
        .buses
        .iter()
        .map(|b| b.mapping.dbc2vss().len() + b.mapping.vss2dbc().len())
        .sum();
    if args.json {
        let items: Vec<_> = findings
            .iter()
            .map(|f| {
                json!({"severity": if f.severity == Severity::Error { "error" } else { "warning" },
                       "bus": f.bus, "path": f.path, "signal": f.signal, "message": f.message})
            })
            .collect();
        out!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"profile": loaded.profile.id, "rules": rules, "errors": errors, "findings": items})
            )?
        )?;
    } else {
        for finding in &findings {
            out!("{finding}")?;
        }
        out!(
            "{}: {rules} mapping rules, {errors} errors, {} warnings",
            loaded.profile.id,
            findings.len() - errors
        )?;
    }
    if errors > 0 {
        bail!("profile \"{}\" has {errors} error(s)", loaded.profile.id);
    }
    Ok(())
}
