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
];

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
