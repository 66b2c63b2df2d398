//! The shipped catalog (`parts/`) and the `[platform]` sections of the shipped vehicle
//! profiles (`profiles/*/profile.toml`): they load, each vehicle's installed parts fit it,
//! and the fits documented in docs/parts.md hold.

use std::path::{Path, PathBuf};

use tomoe_parts::{check_fit, Catalog, Check, FitReport, PartKind, Powertrain, VehiclePlatform};

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn catalog() -> Catalog {
    Catalog::load(&repository().join("parts")).unwrap_or_else(|e| panic!("{e}"))
}

fn platform(profile: &str) -> VehiclePlatform {
    let path = repository()
        .join("profiles")
        .join(profile)
        .join("profile.toml");
    read_platform(&path)
}

fn read_platform(path: &Path) -> VehiclePlatform {
    let text = std::fs::read_to_string(path).unwrap();
    let mut table: toml::Table = toml::from_str(&text).unwrap();
    let Some(toml::Value::Table(section)) = table.remove("platform") else {
        panic!("{} has no [platform] table", path.display())
    };
    VehiclePlatform::from_table(&section, &path.display().to_string())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn fit(profile: &str, part: &str) -> FitReport {
    let catalog = catalog();
    let part = catalog
        .get(part)
        .unwrap_or_else(|| panic!("no part {part}"));
    check_fit(&platform(profile), part)
}

fn failed_checks(report: &FitReport) -> Vec<Check> {
    report.failures().map(|r| r.check).collect()
}

#[test]
fn the_catalog_has_the_required_parts_each_with_a_source() {
    let catalog = catalog();
    for (id, kind) in [
        ("nissan-leaf-40kwh", PartKind::BatteryPack),
        ("nissan-leaf-e-plus-62kwh", PartKind::BatteryPack),
        ("honda-e-35kwh", PartKind::BatteryPack),
        ("hyundai-kona-64kwh", PartKind::BatteryPack),
        ("nissan-leaf-em57", PartKind::EAxle),
        ("honda-e-mcf5", PartKind::EAxle),
        ("hyundai-kona-150kw", PartKind::EAxle),
        ("tesla-model3-rear-drive-unit", PartKind::EAxle),
        ("nissan-leaf-2018-charger", PartKind::Charger),
        ("hyundai-kona-ev-2019-charger", PartKind::Charger),
        ("honda-e-charger", PartKind::Charger),
        ("tesla-model3-2018-charger", PartKind::Charger),
    ] {
        let part = catalog.get(id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(part.kind(), kind, "{id}");
        assert!(!part.sources.is_empty(), "{id}");
    }
}

#[test]
fn every_shipped_profile_has_a_platform_whose_installed_parts_fit_it() {
    let catalog = catalog();
    let mut seen = 0;
    for entry in std::fs::read_dir(repository().join("profiles")).unwrap() {
        let file = entry.unwrap().path().join("profile.toml");
        if !file.is_file() {
            continue;
        }
        seen += 1;
        let platform = read_platform(&file);
        let problems = catalog.check_installed(&platform);
        assert!(problems.is_empty(), "{}: {problems:?}", file.display());
        if platform.powertrain == Powertrain::BatteryElectric {
            for kind in PartKind::ALL {
                assert!(
                    platform.installed(*kind).is_some(),
                    "{}: no installed {kind}",
                    file.display()
                );
            }
            let electric = platform.electric.as_ref().unwrap();
            let pack = catalog
                .get(platform.installed(PartKind::BatteryPack).unwrap())
                .unwrap();
            let tomoe_parts::PartSpec::BatteryPack(pack) = &pack.spec else {
                panic!("not a pack")
            };
            assert_eq!(
                electric.drivetrain.battery_power,
                pack.max_discharge_power,
                "{}: battery_power is the installed pack's max_discharge_power",
                file.display()
            );
        }
    }
    assert_eq!(seen, 5);
}

#[test]
fn the_combustion_rav4_takes_no_electric_part() {
    let catalog = catalog();
    let rav4 = platform("toyota-rav4-2017");
    assert_eq!(rav4.powertrain, Powertrain::Combustion);
    for part in catalog.parts() {
        let report = check_fit(&rav4, part);
        assert_eq!(failed_checks(&report), [Check::Powertrain], "{}", part.id);
    }
}

#[test]
fn the_kia_e_niro_pack_fits_the_hyundai_kona_cross_brand() {
    let report = fit("hyundai-kona-ev-2019", "kia-e-niro-64kwh");
    assert!(report.fits, "{report:#?}");
}

#[test]
fn the_leaf_e_plus_pack_is_too_tall_for_the_2018_leaf_bay() {
    let report = fit("nissan-leaf-2018", "nissan-leaf-e-plus-62kwh");
    assert_eq!(failed_checks(&report), [Check::Height]);
}

#[test]
fn packs_of_other_makers_fail_on_their_interfaces() {
    let report = fit("nissan-leaf-2018", "honda-e-35kwh");
    assert_eq!(
        failed_checks(&report),
        [
            Check::Mounting,
            Check::HvConnector,
            Check::Cooling,
            Check::BmsProtocol
        ]
    );
}

#[test]
fn chargers_fit_every_vehicle_with_the_same_inlet_standards() {
    assert!(fit("hyundai-kona-ev-2019", "honda-e-charger").fits);
    assert!(fit("honda-e-2020", "hyundai-kona-ev-2019-charger").fits);
    assert_eq!(
        failed_checks(&fit("nissan-leaf-2018", "honda-e-charger")),
        [Check::DcInlet]
    );
    assert_eq!(
        failed_checks(&fit("tesla-model3", "honda-e-charger")),
        [Check::AcInlet, Check::DcInlet]
    );
}
