//! Resource limits through cgroup v2, where the machine offers it.

use std::path::Path;

use crate::manifest::{parse_cpu, parse_memory, Resources};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Puts `pid` into a cgroup `tomoe/<name>` with the requested limits; returns what was
/// done, or why not (for `tomoe describe`).
pub fn apply(name: &str, pid: u32, resources: Option<&Resources>) -> String {
    let Some(resources) = resources else {
        return "none requested".into();
    };
    if resources.memory_max.is_none() && resources.cpu_max.is_none() {
        return "none requested".into();
    }
    let root = Path::new(CGROUP_ROOT);
    if !root.join("cgroup.controllers").exists() {
        return fallback(
            name,
            resources,
            "cgroup v2 is not available on this machine",
        );
    }
    match try_apply(root, name, pid, resources) {
        Ok(text) => text,
        Err(error) => fallback(name, resources, &error.to_string()),
    }
}

fn try_apply(root: &Path, name: &str, pid: u32, resources: &Resources) -> std::io::Result<String> {
    let parent = root.join("tomoe");
    std::fs::create_dir_all(&parent)?;
    // Controllers must be enabled for the children of every level.
    std::fs::write(root.join("cgroup.subtree_control"), "+memory +cpu").ok();
    std::fs::write(parent.join("cgroup.subtree_control"), "+memory +cpu")?;
    let group = parent.join(name);
    std::fs::create_dir_all(&group)?;
    let mut applied = Vec::new();
    if let Some(memory) = resources
        .memory_max
        .as_deref()
        .and_then(|m| parse_memory(m).ok())
    {
        std::fs::write(group.join("memory.max"), memory.to_string())?;
        applied.push(format!("memory.max={memory}"));
    }
    if let Some(quota) = resources.cpu_max.as_deref().and_then(|c| parse_cpu(c).ok()) {
        std::fs::write(group.join("cpu.max"), format!("{quota} 100000"))?;
        applied.push(format!("cpu.max={quota}/100000"));
    }
    std::fs::write(group.join("cgroup.procs"), pid.to_string())?;
    Ok(format!(
        "cgroup {}: {}",
        group.display(),
        applied.join(", ")
    ))
}

/// Without a cgroup the runtime polls the resident memory of the workload's process
/// group and kills it over `memoryMax`; a CPU limit is not enforced.
fn fallback(name: &str, resources: &Resources, why: &str) -> String {
    let cpu = if resources.cpu_max.is_some() {
        tracing::warn!(workload = %name, reason = why, "CPU limit not enforced");
        "; cpuMax not enforced"
    } else {
        ""
    };
    if resources.memory_max.is_some() {
        format!("memoryMax enforced by polling the resident memory ({why}){cpu}")
    } else {
        format!("not enforced: {why}")
    }
}
