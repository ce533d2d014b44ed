//! The SQLite and PostgreSQL migrations describe one schema: the same files, line for line,
//! except for the few lines where the two dialects must differ, listed here.

use std::collections::BTreeSet;
use std::path::Path;

/// (SQLite line, PostgreSQL line), compared without surrounding whitespace.
const ALLOWED: &[(&str, &str)] = &[
    // audit_events.id: a 64-bit sequence (SQLite's INTEGER is already 64 bits).
    (
        "id          INTEGER PRIMARY KEY AUTOINCREMENT,",
        "id          BIGSERIAL PRIMARY KEY,",
    ),
    // changes.seq, the same.
    (
        "seq       INTEGER PRIMARY KEY AUTOINCREMENT,",
        "seq       BIGSERIAL PRIMARY KEY,",
    ),
    // Usage rollups: on SQLite stored in their primary key (PostgreSQL has no such table);
    // on PostgreSQL the counts ride in the indexes (INCLUDE), on SQLite the time indexes
    // hold them as a column (an index of a table without rowid holds its key too).
    (") WITHOUT ROWID;", ");"),
    (
        "PRIMARY KEY (minute, application_id, api_id, key_id, code)",
        "PRIMARY KEY (minute, application_id, api_id, key_id, code) INCLUDE (requests)",
    ),
    (
        "PRIMARY KEY (application_id, hour, api_id, key_id, code)",
        "PRIMARY KEY (application_id, hour, api_id, key_id, code) INCLUDE (requests)",
    ),
    (
        "PRIMARY KEY (application_id, day, api_id, key_id, code)",
        "PRIMARY KEY (application_id, day, api_id, key_id, code) INCLUDE (requests)",
    ),
    (
        "PRIMARY KEY (api_id, hour, code)",
        "PRIMARY KEY (api_id, hour, code) INCLUDE (requests)",
    ),
    (
        "CREATE INDEX usage_hours_hour_idx ON usage_hours (hour, requests);",
        "CREATE INDEX usage_hours_hour_idx ON usage_hours (hour) INCLUDE (application_id, api_id, key_id, code, requests);",
    ),
    (
        "CREATE INDEX usage_days_day_idx ON usage_days (day, requests);",
        "CREATE INDEX usage_days_day_idx ON usage_days (day) INCLUDE (application_id, api_id, key_id, code, requests);",
    ),
];

/// Files written in each dialect's own procedural syntax: compared by what they do
/// ([`watched`], read in order: a later trigger's `UPDATE OF` replaces an earlier one's),
/// not line by line.
const DIALECT_FILES: &[&str] = &[
    "0010_change_triggers.sql",
    "0016_gateway.sql",
    "0017_gateway_routes.sql",
    "0019_gateway_protocol_and_host.sql",
];

/// What the change-feed triggers of one backend watch: (table, kind written, id column,
/// operations with their columns), one entry per table.
fn watched(sql: &str) -> BTreeSet<(String, String, String, String)> {
    // Each trigger statement, joined to one line.
    let statements: Vec<String> = sql
        .split(';')
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|s| s.contains("CREATE TRIGGER"))
        .collect();
    let mut by_table: std::collections::BTreeMap<(String, String, String), BTreeSet<String>> =
        Default::default();
    for st in statements {
        let words: Vec<&str> = st.split_whitespace().collect();
        let on = words.iter().position(|w| *w == "ON").unwrap();
        let table = words[on + 1].to_string();
        let after = words.iter().position(|w| *w == "AFTER").unwrap();
        let mut ops = BTreeSet::new();
        let mut replaces_update = false;
        let events = words[after + 1..on].join(" ");
        for event in events.split(" OR ") {
            match event.strip_prefix("UPDATE OF ") {
                Some(cols) => {
                    let mut cols: Vec<&str> = cols.split(',').map(str::trim).collect();
                    cols.sort();
                    ops.insert(format!("UPDATE OF {}", cols.join(",")));
                    replaces_update = true;
                }
                None => {
                    ops.insert(event.trim().to_string());
                }
            }
        }
        // SQLite: `VALUES ('kind', NEW.col, …)`; PostgreSQL: `keyport_record_change('kind', 'col')`.
        let quoted: Vec<&str> = st.split('\'').skip(1).step_by(2).collect();
        let (kind, column) = if let Some(at) = st.find("VALUES ('") {
            let rest = &st[at..];
            let column = rest
                .split(['(', ',', ' '])
                .find_map(|w| w.strip_prefix("NEW.").or_else(|| w.strip_prefix("OLD.")))
                .unwrap();
            (quoted[0].to_string(), column.to_string())
        } else {
            let args: Vec<&str> = quoted.iter().rev().take(2).copied().collect();
            (args[1].to_string(), args[0].to_string())
        };
        let entry = by_table.entry((table, kind, column)).or_default();
        if replaces_update {
            entry.retain(|op| !op.starts_with("UPDATE OF "));
        }
        entry.extend(ops);
    }
    by_table
        .into_iter()
        .map(|((t, k, c), ops)| (t, k, c, ops.into_iter().collect::<Vec<_>>().join(" | ")))
        .collect()
}

#[test]
fn both_backends_record_the_same_changes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let read = |dialect: &str| {
        DIALECT_FILES
            .iter()
            .map(|name| std::fs::read_to_string(root.join(dialect).join(name)).unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    };
    let lite_text = read("sqlite");
    // Writes made with an older sqlite3 shell (Debian 12 has 3.40) must not fail:
    // unixepoch('subsec') needs 3.42.
    let code: Vec<&str> = lite_text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect();
    assert!(
        !code.iter().any(|l| l.contains("unixepoch")),
        "use julianday() in the triggers"
    );
    let lite = watched(&lite_text);
    let pg = watched(&read("postgres"));
    assert_eq!(lite.len(), 7, "{lite:#?}");
    assert_eq!(lite, pg);
    let keys = lite.iter().find(|(t, ..)| t == "api_keys").unwrap();
    assert!(
        !keys.3.contains("remaining_uses") && !keys.3.contains("last_used_at"),
        "counting must not write to the feed: {keys:?}"
    );
    let apis = lite.iter().find(|(t, ..)| t == "apis").unwrap();
    assert!(
        apis.3.contains("upstream_url"),
        "the gateway routes from the view: {apis:?}"
    );
}

fn files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every difference between the two folders that `ALLOWED` does not list, as readable lines.
fn unexplained_differences(sqlite: &Path, postgres: &Path) -> Vec<String> {
    let (lite_files, pg_files) = (files(sqlite), files(postgres));
    let mut found: Vec<String> = lite_files
        .symmetric_difference(&pg_files)
        .map(|name| format!("{name} exists for one backend only"))
        .collect();
    for name in lite_files.intersection(&pg_files) {
        if DIALECT_FILES.contains(&name.as_str()) {
            continue;
        }
        let lite = std::fs::read_to_string(sqlite.join(name)).unwrap();
        let pg = std::fs::read_to_string(postgres.join(name)).unwrap();
        let (lite, pg): (Vec<&str>, Vec<&str>) = (lite.lines().collect(), pg.lines().collect());
        if lite.len() != pg.len() {
            found.push(format!(
                "{name}: {} lines for SQLite, {} for PostgreSQL",
                lite.len(),
                pg.len()
            ));
            continue;
        }
        for (number, (l, p)) in lite.iter().zip(&pg).enumerate() {
            let (l, p) = (l.trim(), p.trim());
            if l != p && !ALLOWED.contains(&(l, p)) {
                found.push(format!(
                    "{name}:{}: SQLite `{l}` / PostgreSQL `{p}`",
                    number + 1
                ));
            }
        }
    }
    found
}

#[test]
fn sqlite_and_postgres_migrations_differ_only_where_the_dialects_must() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let found = unexplained_differences(&root.join("sqlite"), &root.join("postgres"));
    assert!(
        found.is_empty(),
        "the migrations drifted apart (add a line to ALLOWED in {} if a dialect needs it):\n{}",
        file!(),
        found.join("\n")
    );
}

#[test]
fn a_drifted_line_or_a_missing_file_is_reported() {
    let (lite, pg) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let write = |dir: &tempfile::TempDir, name: &str, text: &str| {
        std::fs::write(dir.path().join(name), text).unwrap();
    };
    write(
        &lite,
        "0001.sql",
        "CREATE TABLE t (\n    id          INTEGER PRIMARY KEY AUTOINCREMENT,\n    a TEXT\n);\n",
    );
    write(
        &pg,
        "0001.sql",
        "CREATE TABLE t (\n    id          BIGSERIAL PRIMARY KEY,\n    a TEXT\n);\n",
    );
    assert!(unexplained_differences(lite.path(), pg.path()).is_empty());

    write(
        &pg,
        "0001.sql",
        "CREATE TABLE t (\n    id          BIGSERIAL PRIMARY KEY,\n    a BYTEA\n);\n",
    );
    write(&lite, "0002.sql", "SELECT 1;\n");
    assert_eq!(
        unexplained_differences(lite.path(), pg.path()),
        [
            "0002.sql exists for one backend only",
            "0001.sql:3: SQLite `a TEXT` / PostgreSQL `a BYTEA`",
        ]
    );
}
