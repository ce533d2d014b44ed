//! List queries assembled from optional filters: numbered placeholders (`$1`, read by both
//! SQLite and PostgreSQL), one WHERE clause shared by a page of rows and their count.

use crate::error::AppError;
use crate::platform::state::Db;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

/// Whether `e` is a unique-constraint violation (a taken name, slug or email).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A bind value.
#[derive(Debug, Clone)]
pub enum Arg {
    Text(String),
    Int(i64),
}

impl Arg {
    /// `%text%` for `LIKE … ESCAPE '\'`, with the text's own `%`, `_` and `\` taken literally.
    pub fn contains(text: &str) -> Arg {
        let escaped = text
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        Arg::Text(format!("%{escaped}%"))
    }

    pub fn bind<'q>(
        &self,
        q: Query<'q, Any, AnyArguments<'q>>,
    ) -> Query<'q, Any, AnyArguments<'q>> {
        match self {
            Arg::Text(s) => q.bind(s.clone()),
            Arg::Int(i) => q.bind(*i),
        }
    }
}

/// Conditions joined with AND, and their values.
#[derive(Debug, Default)]
pub struct Where {
    clauses: Vec<String>,
    args: Vec<Arg>,
}

impl Where {
    /// Adds `clause`; each `?` in it takes the next of `values`, in order.
    pub fn and(&mut self, clause: &str, values: impl IntoIterator<Item = Arg>) -> &mut Self {
        let mut clause = clause.to_string();
        for value in values {
            self.args.push(value);
            clause = clause.replacen('?', &format!("${}", self.args.len()), 1);
        }
        self.clauses.push(clause);
        self
    }

    /// Text search: any of `targets` contains `text`, ignoring case, the same on both
    /// backends (SQLite's `LIKE` ignores ASCII case and PostgreSQL's does not, so both sides
    /// are lower-cased here; without ICU, SQLite folds only ASCII letters). A target is a
    /// column, or a predicate with one `?` (an `EXISTS` over a child table) that takes the
    /// lower-cased pattern. `%`, `_` and `\` in `text` are literal.
    pub fn contains(&mut self, targets: &[&str], text: &str) -> &mut Self {
        let clause = targets
            .iter()
            .map(|t| {
                if t.contains('?') {
                    t.to_string()
                } else {
                    format!("LOWER({t}) LIKE ? ESCAPE '\\'")
                }
            })
            .collect::<Vec<_>>()
            .join(" OR ");
        let pattern = Arg::contains(&text.to_lowercase());
        self.and(
            &format!("({clause})"),
            std::iter::repeat_n(pattern, targets.len()),
        )
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// One page of `select … {WHERE} {order}` and the count of `SELECT COUNT(*) {from} {WHERE}`.
    pub async fn page<T>(
        &self,
        db: &Db,
        select: &str,
        order: &str,
        from: &str,
        (limit, offset): (i64, i64),
        decode: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
    ) -> Result<(Vec<T>, i64), AppError> {
        let where_sql = self.sql();
        let n = self.args.len();
        let list_sql = format!(
            "{select} {where_sql} {order} LIMIT ${} OFFSET ${}",
            n + 1,
            n + 2
        );
        let count_sql = format!("SELECT COUNT(*) AS n {from} {where_sql}");
        let mut list_q = sqlx::query(&list_sql);
        let mut count_q = sqlx::query(&count_sql);
        for arg in &self.args {
            list_q = arg.bind(list_q);
            count_q = arg.bind(count_q);
        }
        let rows = list_q.bind(limit).bind(offset).fetch_all(db).await?;
        let total: i64 = count_q.fetch_one(db).await?.try_get(0)?;
        let items = rows.iter().map(decode).collect::<Result<Vec<_>, _>>()?;
        Ok((items, total))
    }
}

/// The rows of `sql`, whose `{in}` stands for the list `$1, $2, …` of `ids` (one query; none
/// when `ids` is empty).
pub async fn fetch_in<T>(
    db: &Db,
    sql: &str,
    ids: &[String],
    decode: impl Fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, AppError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let list = (1..=ids.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = sql.replace("{in}", &list);
    let mut q = sqlx::query(&sql);
    for id in ids {
        q = q.bind(id);
    }
    let rows = q.fetch_all(db).await?;
    Ok(rows.iter().map(decode).collect::<Result<_, _>>()?)
}

/// How a statement with many parameters names them. SQLite finds a numbered parameter's
/// name in a list as long as the statement's parameters, so binding n of them costs n²
/// (a 4,500-parameter insert spent most of its time there); anonymous `?` it binds in
/// order. PostgreSQL takes only `$n`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Placeholders {
    Numbered,
    Anonymous,
}

impl Placeholders {
    /// The style for a connection's backend (`AnyConnection::backend_name`).
    pub fn for_backend(name: &str) -> Self {
        if name == "SQLite" {
            Placeholders::Anonymous
        } else {
            Placeholders::Numbered
        }
    }
}

/// Placeholders for `rows` rows of `columns` values each: `($1, $2), ($3, $4)` for two
/// rows of two, numbered, or `(?, ?), (?, ?)`.
pub fn value_rows(rows: usize, columns: usize, style: Placeholders) -> String {
    (0..rows)
        .map(|r| {
            let row = (1..=columns)
                .map(|c| match style {
                    Placeholders::Numbered => format!("${}", r * columns + c),
                    Placeholders::Anonymous => "?".to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            format!("({row})")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{value_rows, Placeholders};

    #[test]
    fn value_rows_number_the_placeholders_row_after_row() {
        use Placeholders::*;
        assert_eq!(value_rows(2, 2, Numbered), "($1, $2), ($3, $4)");
        assert_eq!(value_rows(1, 3, Numbered), "($1, $2, $3)");
        assert_eq!(value_rows(2, 2, Anonymous), "(?, ?), (?, ?)");
        assert_eq!(value_rows(0, 3, Numbered), "");
        assert_eq!(Placeholders::for_backend("SQLite"), Anonymous);
        assert_eq!(Placeholders::for_backend("PostgreSQL"), Numbered);
    }
}
