//! The area graph of `app/src`, read from the sources: areas import each other without
//! cycles, and `platform` (the layer below the areas) imports no area.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules every area may import (they import no area themselves).
const SHARED: &[&str] = &["domain", "error", "components"];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The top-level modules each `crate::name` reference in `source` names, comments left out.
fn referenced(source: &str) -> BTreeSet<String> {
    let code: String = source
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a::x, b}`: the first name of each top-level item of the group.
            let (mut depth, mut item) = (1, String::new());
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                if depth == 0 || (depth == 1 && c == ',') {
                    names.insert(first_name(item.trim()));
                    item.clear();
                    if depth == 0 {
                        break;
                    }
                } else {
                    item.push(c);
                }
            }
        } else {
            names.insert(first_name(rest));
        }
    }
    names.retain(|n| !n.is_empty() && n != "self");
    names
}

fn first_name(path: &str) -> String {
    path.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

fn area_graph(src: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let mut parts = relative.components();
            let first = parts.next().unwrap().as_os_str().to_string_lossy();
            let area = if parts.next().is_some() {
                first.to_string()
            } else {
                first.trim_end_matches(".rs").to_string()
            };
            let source = std::fs::read_to_string(&path).unwrap();
            let imports = graph.entry(area.clone()).or_default();
            imports.extend(referenced(&source).into_iter().filter(|n| *n != area));
        }
    }
    graph
}

/// One cycle of `graph`, if it has any.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &Graph,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut Vec::new(), &mut done))
}

#[test]
fn areas_import_each_other_without_cycles() {
    let graph = area_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.contains_key("platform") && graph.contains_key("keys"));
    assert_eq!(find_cycle(&graph), None, "an import cycle between areas");
}

#[test]
fn platform_and_shared_modules_import_no_area() {
    let graph = area_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    for low in SHARED.iter().chain(&["platform"]) {
        let upward: Vec<_> = graph[*low]
            .iter()
            .filter(|n| !SHARED.contains(&n.as_str()))
            .collect();
        assert!(upward.is_empty(), "{low} imports {upward:?}");
    }
}

#[test]
fn the_reader_finds_grouped_imports_and_cycles() {
    let names = referenced("use crate::{auth::guard, domain::{Role, Email}, error};\n// crate::keys\nlet x = crate::platform::Ctx::current();");
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["auth", "domain", "error", "platform"]
    );
    let mut graph = Graph::new();
    graph.entry("a".into()).or_default().insert("b".into());
    graph.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&graph), None);
    graph.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&graph),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
