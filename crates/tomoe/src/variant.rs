//! `tomoe variant list|show|check`.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::json;
use tomoe_alliance::{default_alliance_dir, default_variants_dir, Alliance, Variant, VariantTable};

/// `tomoe variant ...`
#[derive(Debug, Subcommand)]
pub enum VariantCommand {
    /// List the variants: badge, model and the hardware profile under it
    List(VariantDirs),
    /// Show one variant: tenants, OTA channel, badge attributes, apps
    Show(VariantArgs),
    /// Check a variant (or all): the badge applies, the apps' declared paths exist and
    /// belong to the tenants present (exit 1 with every problem)
    Check(VariantCheckArgs),
}

/// Where variants, profiles and the alliance are.
#[derive(Debug, Args)]
pub struct VariantDirs {
    /// Variants folder (default: $TOMOE_VARIANTS, ./variants, or the shipped one)
    #[arg(long, value_name = "DIR")]
    pub variants: Option<PathBuf>,
    /// Profiles folder (default: $TOMOE_PROFILES, ./profiles, or the shipped one)
    #[arg(long, value_name = "DIR")]
    pub profiles: Option<PathBuf>,
    /// Alliance file or directory (default: $TOMOE_ALLIANCE, ./alliance, or the shipped one)
    #[arg(long, value_name = "FILE")]
    pub alliance: Option<PathBuf>,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
}

/// One variant.
#[derive(Debug, Args)]
pub struct VariantArgs {
    /// Variant id or path
    pub variant: String,
    #[command(flatten)]
    pub dirs: VariantDirs,
}

/// `tomoe variant check`.
#[derive(Debug, Args)]
pub struct VariantCheckArgs {
    /// Variant id or path; every variant when absent
    pub variant: Option<String>,
    #[command(flatten)]
    pub dirs: VariantDirs,
}

impl VariantDirs {
    fn variants(&self) -> PathBuf {
        self.variants.clone().unwrap_or_else(default_variants_dir)
    }

    fn profiles(&self) -> PathBuf {
        self.profiles
            .clone()
            .unwrap_or_else(tomoe_vehicle::default_profiles_dir)
    }

    fn alliance(&self) -> anyhow::Result<Alliance> {
        crate::serve::load_alliance(&self.alliance.clone().unwrap_or_else(default_alliance_dir))
    }
}

pub fn run(command: VariantCommand) -> anyhow::Result<()> {
    match command {
        VariantCommand::List(dirs) => list(dirs),
        VariantCommand::Show(args) => show(args),
        VariantCommand::Check(args) => check(args),
    }
}

fn list(dirs: VariantDirs) -> anyhow::Result<()> {
    let variants = Variant::list(&dirs.variants())?;
    if dirs.json {
        let items: Vec<&Variant> = variants.iter().map(|(_, variant)| variant).collect();
        out!("{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(());
    }
    out!("{}", VariantTable(&variants).to_string().trim_end())?;
    Ok(())
}

fn show(args: VariantArgs) -> anyhow::Result<()> {
    let (_, variant) = Variant::find(&args.variant, &args.dirs.variants())?;
    if args.dirs.json {
        out!("{}", serde_json::to_string_pretty(&variant)?)?;
    } else {
        out!("{}", variant.to_string().trim_end())?;
    }
    Ok(())
}

fn check(args: VariantCheckArgs) -> anyhow::Result<()> {
    let dirs = &args.dirs;
    let alliance = dirs.alliance()?;
    let variants = match &args.variant {
        Some(name) => vec![Variant::find(name, &dirs.variants())?],
        None => Variant::list(&dirs.variants())?,
    };
    let mut failed = 0;
    let mut report = Vec::new();
    for (file, variant) in &variants {
        let problems = variant.check(file, &alliance, &dirs.profiles());
        if !problems.is_empty() {
            failed += 1;
        }
        if dirs.json {
            report.push(json!({"id": variant.id, "ok": problems.is_empty(), "problems": problems}));
        } else if problems.is_empty() {
            out!("{}: ok", variant.id)?;
        } else {
            out!("{}: {} problem(s)", variant.id, problems.len())?;
            for problem in &problems {
                out!("  {problem}")?;
            }
        }
    }
    if dirs.json {
        out!("{}", serde_json::to_string_pretty(&report)?)?;
    }
    if failed > 0 {
        bail!("{failed} of {} variant(s) have problems", variants.len());
    }
    Ok(())
}
