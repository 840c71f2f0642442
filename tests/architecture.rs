//! The layout's rules, checked by reading the source (docs/ARCHITECTURE.md):
//!
//! - no import circle between files of `src/` (a file's imports are its `use` lines and the
//!   `crate::` / `super::` / `self::` paths in its code);
//! - every import runs down the layers ([`LAYERS`]): nothing imports a process's top
//!   (`src/startup/`), and no folder imports one of its own layer or a layer above.
//!
//! A path is resolved to the deepest module file it names, so `crate::store::Store`
//! is an import of `src/store/mod.rs`, which re-exports it from the file that defines it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module: its path from the crate root (`["store", "keys"]`).
type Module = Vec<String>;

struct Crate {
    src: PathBuf,
    /// Every module file, by module path.
    files: BTreeMap<Module, PathBuf>,
}

impl Crate {
    fn read() -> Self {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = BTreeMap::new();
        let mut stack = vec![src.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("src is readable") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    if !path.ends_with("bin") {
                        stack.push(path);
                    }
                    continue;
                }
                if path.extension().is_some_and(|e| e == "rs") {
                    files.insert(module_of(&src, &path), path);
                }
            }
        }
        Self { src, files }
    }

    /// The deepest module file `path` names, written in `from`.
    fn resolve(&self, from: &Module, path: &[String]) -> Option<Module> {
        let mut module: Module = match path.first().map(String::as_str) {
            Some("crate") => Vec::new(),
            Some("super") | Some("self") => from.clone(),
            // `use child::Item` in a module that declares `child`.
            Some(first) => {
                let mut child = from.clone();
                child.push(first.to_owned());
                if !self.files.contains_key(&child) {
                    return None; // an external crate
                }
                from.clone()
            }
            None => return None,
        };
        for segment in path {
            match segment.as_str() {
                "crate" | "self" => {}
                "super" => {
                    module.pop();
                }
                name => {
                    let mut deeper = module.clone();
                    deeper.push(name.to_owned());
                    if self.files.contains_key(&deeper) {
                        module = deeper;
                    } else {
                        break;
                    }
                }
            }
        }
        Some(module)
    }

    /// Each module file and the module files it imports (itself and the crate root left out).
    fn imports(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        self.files
            .iter()
            .map(|(module, file)| {
                let text = strip_comments(&std::fs::read_to_string(file).expect("a file"));
                // Inside the inline `mod tests { ... }` at the end of a file, `super` is the
                // file's own module.
                let (code, tests) = text.split_at(text.find("\nmod tests {").unwrap_or(text.len()));
                let mut paths = paths_in(code);
                paths.extend(paths_in(tests).into_iter().map(|mut path| {
                    if path.first().is_some_and(|p| p == "super") {
                        path[0] = "self".into();
                    }
                    path
                }));
                let imported = paths
                    .iter()
                    .filter_map(|path| self.resolve(module, path))
                    .filter(|target| target != module && !target.is_empty())
                    .collect();
                (module.clone(), imported)
            })
            .collect()
    }

    fn name(&self, module: &Module) -> String {
        self.files[module].strip_prefix(&self.src).map_or_else(
            |_| format!("{module:?}"),
            |p| format!("src/{}", p.display()),
        )
    }
}

fn module_of(src: &Path, file: &Path) -> Module {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Module = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The source without comments, so paths named in docs do not count.
fn strip_comments(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path in `use` declarations (braces expanded) and every `crate::`, `super::` or
/// `self::` path in the code.
fn paths_in(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    // A `use` declaration starts a line (after `pub`, `pub(crate)`, ...) and ends at `;`.
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let declaration = trimmed.strip_prefix("pub").map_or(trimmed, |rest| {
            rest.trim_start_matches(|c| c != ' ').trim_start()
        });
        if let Some(tree) = declaration.strip_prefix("use ") {
            let start = offset + (line.len() - tree.len());
            let end = text[start..].find(';').map_or(text.len(), |e| start + e);
            expand(&text[start..end].replace('\n', " "), &mut paths);
        }
        offset += line.len();
    }
    for prefix in ["crate::", "super::", "self::"] {
        let mut rest = text;
        while let Some(at) = find_word(rest, prefix) {
            let path: String = rest[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(split_path(&path));
            rest = &rest[at + prefix.len()..];
        }
    }
    paths
}

/// The next occurrence of `word` that starts a word.
fn find_word(text: &str, word: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(found) = text[from..].find(word) {
        let at = from + found;
        let before = text[..at].chars().next_back();
        if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            return Some(at);
        }
        from = at + word.len();
    }
    None
}

fn split_path(path: &str) -> Vec<String> {
    path.split("::")
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Expands `a::{b, c::{d, e}}` into `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str, out: &mut Vec<Vec<String>>) {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        // `path as Alias`: the path is the first word.
        out.push(split_path(tree.split_whitespace().next().unwrap_or(tree)));
        return;
    };
    let prefix = tree[..open].trim();
    let close = tree
        .rfind('}')
        .filter(|close| *close > open)
        .unwrap_or(tree.len());
    let inner = &tree[open + 1..close];
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand_item(prefix, &inner[start..i], out);
                start = i + 1;
            }
            _ => {}
        }
    }
    expand_item(prefix, &inner[start..], out);
}

fn expand_item(prefix: &str, item: &str, out: &mut Vec<Vec<String>>) {
    let item = item.trim();
    if item.is_empty() {
        return;
    }
    if item == "self" {
        out.push(split_path(prefix));
    } else {
        expand(&format!("{prefix}{item}"), out);
    }
}

/// The layers, top first (docs/ARCHITECTURE.md). A file may import its own folder and the
/// folders of any layer below its own, never one above: so nothing imports `startup`, the
/// two processes' surfaces (`http`, `worker`) never import each other, and neither do the two
/// stores.
const LAYERS: &[&[&str]] = &[
    &["startup"],
    &["http", "worker"],
    &["services"],
    &["actors"],
    &["caches"],
    &["store", "postgres"],
    &["runtime"],
    &["domain"],
];

/// The top folder of a module and its layer's rank (0 is the top); `None` for the crate root.
fn layer(module: &Module) -> Option<(&str, usize)> {
    let folder = module.first()?;
    let rank = LAYERS
        .iter()
        .position(|layer| layer.contains(&folder.as_str()))
        .unwrap_or_else(|| panic!("src/{folder}/ is in no layer: add it to LAYERS"));
    Some((folder.as_str(), rank))
}

/// Whether a file in `from` may import one in `to`.
fn may_import(from: &Module, to: &Module) -> bool {
    match (layer(from), layer(to)) {
        (Some((from, _)), Some((to, _))) if from == to => true,
        (Some((_, above)), Some((_, below))) => below > above,
        _ => true,
    }
}

/// Every import that runs up a layer or across one, as "file -> file".
fn imports_against_the_layers(krate: &Crate) -> Vec<String> {
    let mut wrong = Vec::new();
    for (module, imported) in krate.imports() {
        for target in imported {
            if !may_import(&module, &target) {
                wrong.push(format!(
                    "{} -> {}",
                    krate.name(&module),
                    krate.name(&target)
                ));
            }
        }
    }
    wrong
}

#[test]
fn every_import_runs_down_the_layers() {
    let krate = Crate::read();
    let wrong = imports_against_the_layers(&krate);
    assert!(
        wrong.is_empty(),
        "imports that run up or across a layer:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_layer_rule_refuses_upward_and_sideways_imports() {
    let module = |path: &str| -> Module { split_path(path) };
    assert!(may_import(
        &module("http::holds"),
        &module("services::sales")
    ));
    assert!(may_import(&module("store::holds"), &module("store::keys")));
    assert!(may_import(&module("startup::api"), &module("http::state")));
    assert!(!may_import(
        &module("store::holds"),
        &module("services::sales")
    ));
    assert!(!may_import(
        &module("actors::reservation"),
        &module("services::purchases")
    ));
    assert!(!may_import(&module("http::state"), &module("startup::api")));
    assert!(!may_import(
        &module("worker::audit"),
        &module("http::errors")
    ));
    assert!(!may_import(&module("store::audit"), &module("postgres")));
    assert!(!may_import(
        &module("domain::sale"),
        &module("runtime::settings")
    ));
}

#[test]
fn no_import_circle_between_files() {
    let krate = Crate::read();
    let imports = krate.imports();
    assert!(imports.len() > 40, "read only {} files", imports.len());
    // Depth-first search for a back edge; the circle is the stack from the target on.
    let mut state: BTreeMap<&Module, u8> = BTreeMap::new(); // 1: on the stack, 2: done
    let mut circles = Vec::new();
    for start in imports.keys() {
        let mut stack: Vec<(&Module, Vec<&Module>)> = Vec::new();
        if state.contains_key(start) {
            continue;
        }
        state.insert(start, 1);
        stack.push((start, imports[start].iter().collect()));
        while let Some((module, pending)) = stack.last_mut() {
            let module = *module;
            match pending.pop() {
                Some(next) => match state.get(next) {
                    None => {
                        state.insert(next, 1);
                        stack.push((next, imports[next].iter().collect()));
                    }
                    Some(1) => {
                        let from = stack.iter().position(|(m, _)| *m == next).unwrap_or(0);
                        let circle: Vec<String> =
                            stack[from..].iter().map(|(m, _)| krate.name(m)).collect();
                        circles.push(format!("{} -> {}", circle.join(" -> "), krate.name(next)));
                    }
                    Some(_) => {}
                },
                None => {
                    state.insert(module, 2);
                    stack.pop();
                }
            }
        }
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_checker_sees_imports_and_circles() {
    let mut paths = Vec::new();
    expand(
        "crate::runtime::{settings::{Settings, RedisSettings}, telemetry::names as N, self}",
        &mut paths,
    );
    let joined: Vec<String> = paths.iter().map(|p| p.join("::")).collect();
    assert_eq!(
        joined,
        [
            "crate::runtime::settings::Settings",
            "crate::runtime::settings::RedisSettings",
            "crate::runtime::telemetry::names",
            "crate::runtime"
        ]
    );
    let krate = Crate::read();
    let from: Module = vec!["caches".into(), "sold_out".into()];
    assert_eq!(
        krate.resolve(&from, &split_path("super::rounds::FollowsRounds")),
        Some(vec!["caches".to_owned(), "rounds".to_owned()])
    );
    assert_eq!(
        krate.resolve(&from, &split_path("crate::store::Store")),
        Some(vec!["store".to_owned()])
    );
    assert_eq!(krate.resolve(&from, &split_path("tokio::time")), None);
}
