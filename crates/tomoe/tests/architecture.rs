//! ARCHITECTURE.md checks itself against the code.
//!
//! - The crate dependency table in ARCHITECTURE.md must equal what `cargo metadata`
//!   reports: every workspace crate listed once, its Tomoe dependencies and the
//!   Tomoe crates its tests and benchmarks also use. A crate that gains a Tomoe
//!   dependency without the table saying so fails here.
//! - The binary's modules import each other without cycles.
//! - Size budgets: the binary (`crates/tomoe/src`) is glue, at most
//!   [`BINARY_LINE_BUDGET`] lines; no source file's non-test part is longer than
//!   [`FILE_LINE_BUDGET`] lines.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Lines of `crates/tomoe/src` at most: 2,500 until `tomoe diag` came, 3,000 until
/// the Zenoh options and `up --ecu` came, 3,400 until the fleet operator commands
/// (`tomoe fleet vehicles | vehicle | campaign | simulate`) came, 3,700 until
/// `tomoe variant`, `tomoe ota repo delegate|add --role`, `tomoe service battery-swap`
/// and the `--variant`/`--alliance` options came; it grows only with
/// a new command or option family, never for logic (see ARCHITECTURE.md).
const BINARY_LINE_BUDGET: usize = 4_200;
/// Lines of a source file before its `#[cfg(test)]` module, at most.
const FILE_LINE_BUDGET: usize = 900;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

/// Per crate: (Tomoe dependencies, Tomoe crates only its tests and benchmarks use).
type Table = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

/// The dependency graph of the workspace's crates, from `cargo metadata`.
fn metadata_table() -> Table {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(root())
        .output()
        .expect("cargo metadata runs");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("cargo metadata prints JSON");
    let members: BTreeSet<String> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_owned())
        .collect();
    let mut table = Table::new();
    for package in metadata["packages"].as_array().expect("packages") {
        let name = package["name"].as_str().expect("name").to_owned();
        let mut normal = BTreeSet::new();
        let mut dev = BTreeSet::new();
        for dependency in package["dependencies"].as_array().expect("dependencies") {
            let dep = dependency["name"].as_str().expect("name").to_owned();
            if !members.contains(&dep) {
                continue;
            }
            match dependency["kind"].as_str() {
                Some("dev") => dev.insert(dep),
                _ => normal.insert(dep),
            };
        }
        let dev = dev.difference(&normal).cloned().collect();
        table.insert(name, (normal, dev));
    }
    table
}

/// The backticked crate names of a table cell (`none` is the empty set).
fn names(cell: &str) -> BTreeSet<String> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The table under "| crate | depends on | tests and benchmarks also use |".
fn documented_table(text: &str) -> Table {
    let mut lines = text
        .lines()
        .skip_while(|line| !line.starts_with("| crate | depends on |"))
        .skip(2);
    let mut table = Table::new();
    for line in lines.by_ref().take_while(|line| line.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        assert_eq!(
            cells.len(),
            3,
            "ARCHITECTURE.md: a row needs 3 cells: {line}"
        );
        for name in names(cells[0]) {
            let previous = table.insert(name.clone(), (names(cells[1]), names(cells[2])));
            assert!(previous.is_none(), "ARCHITECTURE.md lists {name} twice");
        }
    }
    assert!(
        !table.is_empty(),
        "ARCHITECTURE.md has no crate dependency table"
    );
    table
}

fn describe(set: &BTreeSet<String>) -> String {
    if set.is_empty() {
        "none".into()
    } else {
        set.iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The differences between the documented and the actual table, one line each.
fn differences(documented: &Table, actual: &Table) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, (normal, dev)) in actual {
        match documented.get(name) {
            None => problems.push(format!(
                "`{name}` is missing: | `{name}` | {} | {} |",
                describe(normal),
                describe(dev)
            )),
            Some((doc_normal, doc_dev)) => {
                if doc_normal != normal {
                    problems.push(format!(
                        "`{name}` depends on {}, ARCHITECTURE.md says {}",
                        describe(normal),
                        describe(doc_normal)
                    ));
                }
                if doc_dev != dev {
                    problems.push(format!(
                        "`{name}`'s tests and benchmarks also use {}, ARCHITECTURE.md says {}",
                        describe(dev),
                        describe(doc_dev)
                    ));
                }
            }
        }
    }
    for name in documented.keys() {
        if !actual.contains_key(name) {
            problems.push(format!(
                "ARCHITECTURE.md lists `{name}`, which is not in the workspace"
            ));
        }
    }
    problems
}

#[test]
fn dependency_table_matches_cargo_metadata() {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let problems = differences(&documented_table(&text), &metadata_table());
    assert!(
        problems.is_empty(),
        "ARCHITECTURE.md's crate table disagrees with Cargo.toml:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn an_undeclared_dependency_is_reported() {
    // The check itself must be able to fail: a crate that gains a dependency the
    // table does not list is named.
    let mut actual = Table::new();
    actual.insert(
        "tomoe-vss".into(),
        (BTreeSet::from(["tomoe-broker".to_owned()]), BTreeSet::new()),
    );
    let documented = documented_table(
        "| crate | depends on | tests and benchmarks also use |\n|---|---|---|\n| `tomoe-vss` | none | none |\n",
    );
    assert_eq!(
        differences(&documented, &actual),
        ["`tomoe-vss` depends on `tomoe-broker`, ARCHITECTURE.md says none"]
    );
}

/// The `crate::module` paths a file of the binary uses.
fn module_references(text: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (index, _) in text.match_indices("crate::") {
        let rest = &text[index + "crate::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        if modules.contains(&name) {
            found.insert(name);
        }
    }
    found
}

/// A cycle in a module graph, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_binary_s_modules_have_no_import_cycle() {
    let src = root().join("crates/tomoe/src");
    let files: Vec<PathBuf> = std::fs::read_dir(&src)
        .expect("crates/tomoe/src")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .collect();
    let modules: BTreeSet<String> = files
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|m| m != "main")
        .collect();
    let mut graph = BTreeMap::new();
    for file in &files {
        let module = file.file_stem().unwrap().to_string_lossy().into_owned();
        if module == "main" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("source");
        let mut uses = module_references(&text, &modules);
        uses.remove(&module);
        graph.insert(module, uses);
    }
    assert_eq!(find_cycle(&graph), None, "module graph: {graph:?}");
}

#[test]
fn a_cycle_is_found() {
    let graph = BTreeMap::from([
        ("cli".to_owned(), BTreeSet::from(["ota".to_owned()])),
        ("ota".to_owned(), BTreeSet::from(["serve".to_owned()])),
        ("serve".to_owned(), BTreeSet::from(["cli".to_owned()])),
    ]);
    assert_eq!(
        find_cycle(&graph),
        Some(vec![
            "cli".into(),
            "ota".into(),
            "serve".into(),
            "cli".into()
        ])
    );
}

/// The `.rs` files below `dir`, skipping build output.
fn rust_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable directory") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// Lines before the file's test module.
fn non_test_lines(text: &str) -> usize {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .count()
}

#[test]
fn the_binary_is_glue_and_no_file_is_too_long() {
    let root = root();
    let mut binary = Vec::new();
    rust_files(&root.join("crates/tomoe/src"), &mut binary);
    let binary_lines: usize = binary
        .iter()
        .map(|f| std::fs::read_to_string(f).expect("source").lines().count())
        .sum();
    assert!(
        binary_lines <= BINARY_LINE_BUDGET,
        "crates/tomoe/src has {binary_lines} lines; the binary only parses, wires and prints (budget {BINARY_LINE_BUDGET})"
    );

    let mut sources = Vec::new();
    for top in ["crates", "apps"] {
        rust_files(&root.join(top), &mut sources);
    }
    let too_long: Vec<String> = sources
        .iter()
        .filter(|path| path.components().any(|c| c.as_os_str() == "src"))
        .filter_map(|path| {
            let lines = non_test_lines(&std::fs::read_to_string(path).expect("source"));
            (lines > FILE_LINE_BUDGET).then(|| {
                format!(
                    "{} ({lines} lines)",
                    path.strip_prefix(&root).unwrap_or(path).display()
                )
            })
        })
        .collect();
    assert!(
        too_long.is_empty(),
        "over {FILE_LINE_BUDGET} lines of non-test code: {}",
        too_long.join(", ")
    );
}

/// docs/limits.md lists every limit: each public `MAX_*` constant of the
/// workspace is named there, so a new limit cannot go undocumented.
#[test]
fn every_public_limit_is_in_docs_limits() {
    let root = root();
    let limits = std::fs::read_to_string(root.join("docs/limits.md")).expect("docs/limits.md");
    let mut sources = Vec::new();
    rust_files(&root.join("crates"), &mut sources);
    let mut missing = BTreeSet::new();
    for path in sources
        .iter()
        .filter(|path| path.components().any(|c| c.as_os_str() == "src"))
    {
        let text = std::fs::read_to_string(path).expect("source");
        for line in text.lines() {
            let Some(rest) = line.trim_start().strip_prefix("pub const MAX_") else {
                continue;
            };
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            let name = format!("MAX_{name}");
            if !limits.contains(&name) {
                missing.insert(name);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/limits.md does not name {missing:?}"
    );
}
