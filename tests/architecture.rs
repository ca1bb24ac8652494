//! docs/architecture.md against the workspace: its crate table lists
//! exactly the workspace members (package name and path), and its Mermaid
//! diagram draws exactly the normal dependencies between them. A crate
//! added, removed, renamed or rewired without updating the page fails here.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn manifest(rel_dir: &str) -> toml::Table {
    let path = if rel_dir == "." { "Cargo.toml".to_string() } else { format!("{rel_dir}/Cargo.toml") };
    read(&path).parse().unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (package name, member path) of every workspace member.
fn members() -> BTreeSet<(String, String)> {
    let ws = manifest(".");
    let list = ws["workspace"]["members"].as_array().expect("workspace.members");
    list.iter()
        .map(|m| {
            let dir = m.as_str().expect("member path").to_string();
            let name = manifest(&dir)["package"]["name"].as_str().expect("package.name").to_string();
            (name, dir)
        })
        .collect()
}

/// (from, to) for every normal dependency of a member on another member.
fn dependency_edges(members: &BTreeSet<(String, String)>) -> BTreeSet<(String, String)> {
    let names: BTreeSet<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
    let mut edges = BTreeSet::new();
    for (name, dir) in members {
        let m = manifest(dir);
        let Some(deps) = m.get("dependencies").and_then(|d| d.as_table()) else { continue };
        for dep in deps.keys().filter(|d| names.contains(d.as_str())) {
            edges.insert((name.clone(), dep.clone()));
        }
    }
    edges
}

/// The rows of the table under "## The crates": first cell the crate,
/// second its path, both in backticks.
fn documented_crates(doc: &str) -> BTreeSet<(String, String)> {
    let section = doc.split("## The crates").nth(1).expect("a \"## The crates\" section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let cell = |c: &str| c.trim().trim_matches('`').to_string();
    section
        .lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').collect();
            assert!(cells.len() > 3, "table row without a path: {l}");
            (cell(cells[1]), cell(cells[2]))
        })
        .collect()
}

/// The edges of the first ```mermaid block, node ids mapped to crate names
/// through their labels (`boot_config["boot-config"]`) or as written.
fn documented_edges(doc: &str) -> (BTreeSet<String>, BTreeSet<(String, String)>) {
    let block = doc.split("```mermaid").nth(1).expect("a mermaid block").split("```").next().expect("closed block");
    let mut labels = std::collections::BTreeMap::new();
    let mut nodes = BTreeSet::new();
    let mut raw_edges = Vec::new();
    // `id` or `id["label"]`.
    fn node(text: &str, labels: &mut std::collections::BTreeMap<String, String>) -> String {
        let text = text.trim();
        match text.split_once("[\"") {
            Some((id, rest)) => {
                let label = rest.strip_suffix("\"]").unwrap_or_else(|| panic!("bad node {text}"));
                labels.insert(id.to_string(), label.to_string());
                id.to_string()
            }
            None => text.to_string(),
        }
    }
    for line in block.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("graph")) {
        match line.split_once("-->") {
            Some((a, b)) => {
                let (a, b) = (node(a, &mut labels), node(b, &mut labels));
                nodes.insert(a.clone());
                nodes.insert(b.clone());
                raw_edges.push((a, b));
            }
            None => {
                nodes.insert(node(line, &mut labels));
            }
        }
    }
    let name = |id: &String| labels.get(id).cloned().unwrap_or_else(|| id.clone());
    (nodes.iter().map(name).collect(), raw_edges.iter().map(|(a, b)| (name(a), name(b))).collect())
}

#[test]
fn the_crate_table_lists_the_workspace_members() {
    let doc = read("docs/architecture.md");
    assert_eq!(documented_crates(&doc), members(), "docs/architecture.md's crate table (name, path) vs Cargo.toml");
}

#[test]
fn the_diagram_draws_the_workspace_dependencies() {
    let doc = read("docs/architecture.md");
    let members = members();
    let (nodes, edges) = documented_edges(&doc);
    let names: BTreeSet<String> = members.iter().map(|(n, _)| n.clone()).collect();
    assert_eq!(nodes, names, "docs/architecture.md's diagram nodes vs the workspace members");
    assert_eq!(edges, dependency_edges(&members), "docs/architecture.md's diagram edges vs [dependencies]");
}

#[test]
fn the_parsers_read_what_they_claim() {
    let doc = "x\n## The crates\n\n| crate | path |\n| --- | --- |\n| `a-b` | `crates/a-b` | owns |\n\n## Next\n| `no` | `x` |\n\
               ```mermaid\ngraph TD\n    a_b[\"a-b\"] --> c\n    d\n```\n";
    assert_eq!(documented_crates(doc), BTreeSet::from([("a-b".to_string(), "crates/a-b".to_string())]));
    let (nodes, edges) = documented_edges(doc);
    assert_eq!(nodes, BTreeSet::from(["a-b".to_string(), "c".to_string(), "d".to_string()]));
    assert_eq!(edges, BTreeSet::from([("a-b".to_string(), "c".to_string())]));
}
