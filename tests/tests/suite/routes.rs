//! The endpoint table (`folio::api::routes::ENDPOINTS`) is the one list of
//! routes: `template.yaml` and the `cargo lambda watch` router must declare
//! exactly its routes, and every function it names must exist.

use std::collections::BTreeSet;

use folio::api::routes::{functions, CONSUMERS, ENDPOINTS};
use folio_tests::{folio, repo_root};

/// (function, method, path) as the table says, paths without the slash.
fn table() -> BTreeSet<(String, String, String)> {
    ENDPOINTS
        .iter()
        .map(|e| {
            let path = e.route.pattern.trim_end_matches('/').to_owned();
            (e.function.to_owned(), e.method.to_owned(), path)
        })
        .collect()
}

/// Reads the routes of `template.yaml`: each function's `Binary:` and the
/// `Method:`/`Path:` pairs of its HttpApi events, up to the next function.
fn template_routes() -> BTreeSet<(String, String, String)> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let mut out = BTreeSet::new();
    let (mut function, mut method) = (None::<String>, None::<String>);
    for line in text.lines() {
        let line = line.trim();
        if line.ends_with(": AWS::Serverless::Function")
            || line == "Type: AWS::Serverless::Function"
        {
            function = None;
        }
        if let Some(b) = line.strip_prefix("Binary:") {
            function = Some(b.trim().to_owned());
        } else if let Some(m) = line.strip_prefix("Method:") {
            method = Some(m.trim().to_owned());
        } else if let Some(p) = line.strip_prefix("Path:") {
            let f = function
                .clone()
                .expect("a Path: belongs to a function with a Binary:");
            let m = method.take().expect("Method: comes before Path:");
            out.insert((f, m, p.trim().to_owned()));
        }
    }
    out
}

#[test]
fn template_declares_exactly_the_endpoint_table() {
    assert_eq!(template_routes(), table());
}

#[test]
fn the_local_router_declares_exactly_the_endpoint_table_in_both_spellings() {
    let text = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let router = doc["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router]");
    let mut got = BTreeSet::new();
    for (path, routes) in router {
        for r in routes.as_array().unwrap() {
            got.insert((
                r["function"].as_str().unwrap().to_owned(),
                r["method"].as_str().unwrap().to_owned(),
                path.clone(),
            ));
        }
    }
    let mut want = BTreeSet::new();
    for (f, m, p) in table() {
        want.insert((f.clone(), m.clone(), format!("{p}/")));
        want.insert((f, m, p));
    }
    assert_eq!(got, want);
}

#[test]
fn every_function_in_the_table_is_a_binary_with_an_event() {
    for f in functions() {
        let dir = repo_root().join("functions").join(f);
        assert!(dir.join("src/main.rs").exists(), "functions/{f}");
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        assert!(
            main.contains("folio::api::"),
            "functions/{f} wires a handler"
        );
        assert!(
            repo_root()
                .join("events")
                .join(format!("{f}.json"))
                .exists(),
            "events/{f}.json"
        );
    }
    let dirs: BTreeSet<String> = std::fs::read_dir(repo_root().join("functions"))
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let named: BTreeSet<String> = functions()
        .into_iter()
        .chain(CONSUMERS)
        .map(str::to_owned)
        .collect();
    assert_eq!(dirs, named, "no function outside the table");
}
