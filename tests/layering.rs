//! The arrows of the design run one way (page -> server function or HTTP
//! handler -> core -> db), and this test holds them, reading the sources:
//! a cheaper keeper than splitting the crate into a workspace (see the
//! README's "Layout"). Each rule names the files it reads and what they
//! must not mention; comments (`//`) are not read.

use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("a source directory") {
                stack.push(entry.expect("an entry").path());
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    assert!(!found.is_empty(), "no sources under {dir}");
    found
}

/// The code of `path` without its comments.
fn code(path: &Path) -> String {
    std::fs::read_to_string(path)
        .expect("a readable source")
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The full paths a `use` tree names: `crate::server::{core::Error, db}`
/// is `crate::server::core::Error` and `crate::server::db`.
fn expand(tree: &str, prefix: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    match tree.find('{') {
        None => out.push(format!("{prefix}{tree}")),
        Some(open) => {
            let head = format!("{prefix}{}", &tree[..open]);
            let close = tree.rfind('}').filter(|c| *c > open).unwrap_or(tree.len());
            let inner = &tree[open + 1..close];
            let (mut depth, mut start) = (0, 0);
            for (i, c) in inner.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        expand(&inner[start..i], &head, out);
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            if !inner[start..].trim().is_empty() {
                expand(&inner[start..], &head, out);
            }
        }
    }
}

/// The code with every `use` tree spelled out as full paths, so a grouped
/// import cannot hide a path from the rules.
fn spelled_out(code: &str) -> String {
    let mut out = String::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before_ok =
            at == 0 || !rest.as_bytes()[at - 1].is_ascii_alphanumeric() && rest.as_bytes()[at - 1] != b'_';
        let Some(end) = rest[at..].find(';') else { break };
        let tree: String = rest[at + 4..at + end].split_whitespace().collect();
        // A `use` declaration names a path; prose that says "use " does not.
        let is_path = tree
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_:{},*".contains(c));
        if before_ok && is_path && !tree.is_empty() {
            let mut paths = Vec::new();
            expand(&tree, "", &mut paths);
            out.push_str(&paths.join("\n"));
            out.push('\n');
        }
        rest = &rest[at + end + 1..];
    }
    out
}

/// Every place in `dirs` where the code mentions one of `forbidden`, in
/// its text or in the paths its `use` trees name.
fn mentions(dirs: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for dir in dirs {
        for path in sources(dir) {
            let code = code(&path);
            let paths = spelled_out(&code);
            for word in forbidden {
                if code.contains(word) || paths.contains(word) {
                    found.push(format!("{} mentions {word}", path.display()));
                }
            }
        }
    }
    found
}

#[test]
fn use_trees_are_spelled_out() {
    let paths = spelled_out(
        "use crate::{\n    app::Site,\n    server::{core::{Error, Result}, db::email_tokens::Purpose},\n};",
    );
    for want in [
        "crate::app::Site",
        "crate::server::core::Error",
        "crate::server::core::Result",
        "crate::server::db::email_tokens::Purpose",
    ] {
        assert!(paths.lines().any(|p| p == want), "{want} in {paths}");
    }
}

#[test]
fn the_core_knows_nothing_of_http_leptos_or_the_machinery() {
    let found = mentions(
        &["src/server/core"],
        &[
            "axum",
            "leptos",
            "tower",
            "hyper",
            "server::http",
            "server::auth",
            "server::router",
            "server::serve",
            "server::breach",
            "server::hashing",
            "server::federation",
            "reqwest::",
            "oauth2::",
            "server::mail",
            "server::jobs",
            "server::metrics",
            "server_fns",
            "crate::pages",
            "crate::components",
            "crate::app",
            "unsafe",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn the_provider_and_the_client_roles_share_nothing_but_the_jose_library() {
    // Gatehouse as an OpenID Connect provider (core/oidc, core/keys,
    // http/oidc.rs) and as a client of other providers (federation/,
    // core/identities.rs, http/federation.rs) never reach into each other.
    let provider = mentions(
        &[
            "src/server/core/oidc",
            "src/server/http/oidc.rs",
            "src/server/core/keys.rs",
        ],
        &["federation", "identities"],
    );
    assert!(provider.is_empty(), "{provider:#?}");
    let client = mentions(
        &[
            "src/server/federation",
            "src/server/http/federation.rs",
            "src/server/core/identities.rs",
        ],
        &["core::oidc", "oidc::", "core::keys", "keys::"],
    );
    assert!(client.is_empty(), "{client:#?}");
}

#[test]
fn the_database_layer_knows_nothing_above_it() {
    let found = mentions(
        &["src/server/db"],
        &[
            "server::core",
            "super::core",
            "server::http",
            "server::auth",
            "server_fns",
            "leptos",
            "axum",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn adapters_never_talk_to_the_database_themselves() {
    let found = mentions(
        &["src/server_fns", "src/server/http", "src/pages", "src/components"],
        &["server::db", "sqlx"],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn pages_and_components_import_nothing_back_from_the_app() {
    let found = mentions(&["src/pages", "src/components"], &["crate::app"]);
    assert!(found.is_empty(), "{found:#?}");
}
