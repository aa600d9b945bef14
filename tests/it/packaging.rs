//! Packaging: docker-compose.yml, the Dockerfile, the README's "Run with
//! Docker" section and `.env.example` agree with the settings the binary reads
//! (every `env = "..."` of src/config.rs). The files are read as text: no
//! Docker engine is needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const APP_SERVICES: [&str; 3] = ["migrate", "api", "worker"];
const ALL_SERVICES: [&str; 7] = ["postgres", "redis", "rabbitmq", "mailpit", "migrate", "api", "worker"];

fn read(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("cannot read {}: {err}", full.display()))
}

/// Every `env = "NAME"` of src/config.rs, with whether its flag is hidden (test-only).
fn config_env_names() -> Vec<(String, bool)> {
    read("src/config.rs")
        .split("#[arg(")
        .skip(1)
        .filter_map(|attr| {
            let attr = &attr[..attr.find(")]")?];
            let name = attr.split("env = \"").nth(1)?.split('"').next()?;
            Some((name.to_string(), attr.contains("hide = true")))
        })
        .collect()
}

/// A `key: value` line of docker-compose.yml; comments, blank lines and list items are left out.
struct Line {
    indent: usize,
    key: String,
    value: String,
}

fn compose_lines() -> Vec<Line> {
    read("docker-compose.yml")
        .lines()
        .filter_map(|raw| {
            let text = raw.trim_start();
            if text.is_empty() || text.starts_with('#') || text.starts_with('-') {
                return None;
            }
            let (key, value) = text.split_once(':')?;
            let key = key.trim().trim_matches('"').to_string();
            Some(Line { indent: raw.len() - text.len(), key, value: value.trim().to_string() })
        })
        .collect()
}

/// Indices of the direct children of line `at`.
fn children(lines: &[Line], at: usize) -> Vec<usize> {
    let block: Vec<usize> = (at + 1..lines.len()).take_while(|&i| lines[i].indent > lines[at].indent).collect();
    let Some(&first) = block.first() else { return Vec::new() };
    block.into_iter().filter(|&i| lines[i].indent == lines[first].indent).collect()
}

/// The line an alias (`*name`) points at (the one holding `&name`), or `at` itself.
fn resolve(lines: &[Line], at: usize) -> usize {
    match lines[at].value.strip_prefix('*') {
        Some(name) => lines
            .iter()
            .position(|line| line.value == format!("&{name}"))
            .unwrap_or_else(|| panic!("docker-compose.yml: no anchor &{name}")),
        None => at,
    }
}

/// The services of docker-compose.yml, by name, with the index of their line.
fn services(lines: &[Line]) -> BTreeMap<String, usize> {
    let top = lines.iter().position(|l| l.indent == 0 && l.key == "services").expect("docker-compose.yml: no services");
    children(lines, top).into_iter().map(|i| (lines[i].key.clone(), i)).collect()
}

/// The names in a service's `environment`: its own, or else the one it merges in with `<<: *anchor`.
fn environment(lines: &[Line], at: usize) -> BTreeSet<String> {
    let kids = children(lines, at);
    if let Some(&env) = kids.iter().find(|&&i| lines[i].key == "environment") {
        return children(lines, resolve(lines, env)).into_iter().map(|i| lines[i].key.clone()).collect();
    }
    kids.iter().find(|&&i| lines[i].key == "<<").map(|&i| environment(lines, resolve(lines, i))).unwrap_or_default()
}

#[test]
fn compose_sets_only_settings_the_binary_reads_and_all_core_ones() {
    let read_by_binary: BTreeSet<String> =
        config_env_names().into_iter().map(|(name, _)| name).chain(["RUST_LOG".to_string()]).collect();
    let lines = compose_lines();
    let services = services(&lines);
    for service in APP_SERVICES {
        let at = *services.get(service).unwrap_or_else(|| panic!("docker-compose.yml has no service {service}"));
        let env = environment(&lines, at);
        let unknown: Vec<&String> = env.difference(&read_by_binary).collect();
        assert!(unknown.is_empty(), "docker-compose.yml sets {unknown:?} for {service}; boxoffice reads none of them");
        for core in ["DATABASE_URL", "REDIS_URL", "AMQP_URL", "SMTP_URL", "JWT_SECRET"] {
            assert!(env.contains(core), "docker-compose.yml does not set {core} for {service}");
        }
    }
}

#[test]
fn readme_docker_section_names_exactly_the_compose_services() {
    let readme = read("README.md");
    let start = readme.find("\n## Run with Docker").expect("README.md has no \"## Run with Docker\" section");
    let section = &readme[start + 1..];
    let section = &section[..section.find("\n## ").unwrap_or(section.len())];
    // The section's table of services has one row per service: | `name` | ...
    let in_table: BTreeSet<String> =
        section.lines().filter_map(|l| Some(l.strip_prefix("| `")?.split('`').next()?.to_string())).collect();
    // Services named in commands: `--scale NAME=N`, `docker compose exec|logs [-flags] NAME`.
    let scaled = section.split("--scale ").skip(1).filter_map(|rest| rest.split('=').next());
    let in_commands = ["docker compose exec ", "docker compose logs "].into_iter().flat_map(|cmd| {
        section
            .split(cmd)
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().find(|word| !word.starts_with('-')))
            .map(|word| word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric()))
    });
    let compose: BTreeSet<String> = services(&compose_lines()).into_keys().collect();
    for name in ALL_SERVICES {
        assert!(compose.contains(name), "docker-compose.yml has no service {name}");
        assert!(in_table.contains(name), "README's Run with Docker table does not list {name}");
    }
    for name in in_table.iter().map(String::as_str).chain(scaled).chain(in_commands) {
        assert!(compose.contains(name), "README (Run with Docker) names {name}, not a compose service");
    }
}

#[test]
fn env_example_documents_every_setting() {
    let example = read(".env.example");
    let documented: BTreeSet<&str> = example
        .lines()
        .filter_map(|line| line.trim_start_matches(['#', ' ']).split_once('=').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .collect();
    let missing: Vec<String> = config_env_names()
        .into_iter()
        .filter(|(name, hidden)| !hidden && !documented.contains(name.as_str()))
        .map(|(name, _)| name)
        .collect();
    assert!(missing.is_empty(), ".env.example does not document {missing:?}, read by src/config.rs");
}

#[test]
fn dockerfile_builds_like_ci_and_runs_the_binary_unprivileged() {
    let dockerfile = read("Dockerfile");
    for expected in [
        "cargo build --release --locked",
        "ENV BIND_ADDR=0.0.0.0:8080",
        "/healthz",
        "ENTRYPOINT [\"boxoffice\"]",
        "CMD [\"serve\"]",
    ] {
        assert!(dockerfile.contains(expected), "Dockerfile lacks `{expected}`");
    }
    let user = dockerfile.lines().rev().find_map(|l| l.strip_prefix("USER ")).expect("Dockerfile sets no USER");
    assert!(!user.starts_with("root") && !user.starts_with('0'), "the image runs as {user}");
}

/// Issue 28: `.env.example` said `WORKER_BATCH_SIZE=200` while the default
/// was 500. Every value it sets uncommented is the default `src/config.rs`
/// gives (numbers and plain strings; the few whose default is computed are
/// left out by having none written there).
#[test]
fn env_example_values_are_the_defaults() {
    let config = read("src/config.rs");
    let defaults: std::collections::HashMap<String, String> = config
        .split("#[arg(")
        .skip(1)
        .filter_map(|attr| {
            let attr = &attr[..attr.find(")]")?];
            let name = attr.split("env = \"").nth(1)?.split('"').next()?;
            let default = match (attr.split("default_value_t = ").nth(1), attr.split("default_value = \"").nth(1)) {
                (Some(value), _) => value.split([',', ')']).next()?.trim().trim_matches('"').to_owned(),
                (None, Some(value)) => value.split('"').next()?.to_owned(),
                (None, None) => return None,
            };
            Some((name.to_owned(), default))
        })
        .collect();
    let mut compared = 0;
    for line in read(".env.example").lines().filter(|l| !l.starts_with('#')) {
        let Some((name, value)) = line.split_once('=') else { continue };
        let Some(default) = defaults.get(name) else { continue };
        // A literal default only (not an expression like `Duration::from_secs(..)`).
        if default.chars().all(|c| c.is_ascii_alphanumeric() || "_.:/@%<> -".contains(c)) {
            // A Rust literal's digit separators: 10_000 is 10000.
            let numeric = default.chars().all(|c| c.is_ascii_digit() || c == '_');
            let default = if numeric { default.replace('_', "") } else { default.clone() };
            assert_eq!(value, default, ".env.example sets {name}={value}; the default is {default}");
            compared += 1;
        }
    }
    assert!(compared >= 10, "only {compared} settings compared: the parsing above went wrong");
}
