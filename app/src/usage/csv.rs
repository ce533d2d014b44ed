//! CSV for usage exports (RFC 4180: comma-separated, CRLF line ends, fields quoted when
//! they hold a comma, quote or line break), with spreadsheet formula injection
//! neutralised: a text cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return
//! gets a leading apostrophe, so a spreadsheet shows it as text instead of running it
//! (OWASP "CSV injection"). Numbers are written as numbers.

/// A cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    Text(&'a str),
    Int(i64),
}

/// One CSV line (with its CRLF) of `cells`.
pub fn line(cells: &[Cell<'_>]) -> String {
    let mut out = String::new();
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cell {
            Cell::Int(n) => out.push_str(&n.to_string()),
            Cell::Text(text) => {
                let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
                let text = if risky {
                    format!("'{text}")
                } else {
                    text.to_string()
                };
                if text.contains([',', '"', '\n', '\r']) {
                    out.push('"');
                    out.push_str(&text.replace('"', "\"\""));
                    out.push('"');
                } else {
                    out.push_str(&text);
                }
            }
        }
    }
    out.push_str("\r\n");
    out
}

/// A header line of plain column names.
pub fn header(names: &[&str]) -> String {
    line(&names.iter().map(|n| Cell::Text(n)).collect::<Vec<_>>())
}

/// A chart as a table: one line per period, one column per series, and the total.
pub fn chart(data: &crate::components::chart::ChartData) -> String {
    let mut names = vec!["period"];
    names.extend(data.series.iter().map(|s| s.label.as_str()));
    names.push("total");
    let mut out = header(&names);
    for (i, bucket) in data.buckets.iter().enumerate() {
        let values: Vec<i64> = data
            .series
            .iter()
            .map(|s| s.values.get(i).copied().unwrap_or(0))
            .collect();
        let mut cells = vec![Cell::Text(&bucket.full)];
        cells.extend(values.iter().map(|v| Cell::Int(*v)));
        cells.push(Cell::Int(values.iter().sum()));
        out.push_str(&line(&cells));
    }
    out
}

/// A breakdown table (by application, key, API or subscription).
pub fn rows(rows: &[super::UsageRow]) -> String {
    let mut out = header(&[
        "name",
        "detail",
        "allowed",
        "refused",
        "total",
        "most_refused_as",
    ]);
    for r in rows {
        out.push_str(&line(&[
            Cell::Text(&r.label),
            Cell::Text(&r.detail),
            Cell::Int(r.allowed),
            Cell::Int(r.refused),
            Cell::Int(r.allowed + r.refused),
            Cell::Text(r.top_refusal.as_deref().unwrap_or("")),
        ]));
    }
    out
}

/// The header of the billing export.
pub fn daily_header() -> String {
    header(&[
        "date",
        "application",
        "application_id",
        "api",
        "api_id",
        "subscription_id",
        "plan",
        "allowed",
        "refused",
        "total",
    ])
}

/// One line of the billing export; `date` is the UTC day (`2026-11-27`).
pub fn daily_line(date: &str, d: &super::store::DailyUse) -> String {
    line(&[
        Cell::Text(date),
        Cell::Text(&d.application),
        Cell::Text(&d.application_id),
        Cell::Text(&d.api),
        Cell::Text(&d.api_id),
        Cell::Text(&d.subscription_id),
        Cell::Text(&d.plan),
        Cell::Int(d.allowed),
        Cell::Int(d.refused),
        Cell::Int(d.allowed + d.refused),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use Cell::{Int, Text};

    #[test]
    fn fields_are_quoted_only_when_they_must_be() {
        assert_eq!(line(&[Text("Shop"), Int(42)]), "Shop,42\r\n");
        assert_eq!(
            line(&[Text("a,b"), Text("say \"hi\"")]),
            "\"a,b\",\"say \"\"hi\"\"\"\r\n"
        );
        assert_eq!(line(&[Text("two\nlines")]), "\"two\nlines\"\r\n");
        assert_eq!(line(&[Text("")]), "\r\n");
        assert_eq!(header(&["date", "allowed"]), "date,allowed\r\n");
    }

    #[test]
    fn formulas_are_neutralised_but_numbers_stay_numbers() {
        assert_eq!(
            line(&[Text("=HYPERLINK(\"http://x\")")]),
            "\"'=HYPERLINK(\"\"http://x\"\")\"\r\n"
        );
        assert_eq!(line(&[Text("+1")]), "'+1\r\n");
        assert_eq!(line(&[Text("-2+3")]), "'-2+3\r\n");
        assert_eq!(line(&[Text("@SUM(A1)")]), "'@SUM(A1)\r\n");
        assert_eq!(line(&[Text("\tx")]), "'\tx\r\n");
        assert_eq!(line(&[Text("\rx")]), "\"'\rx\"\r\n");
        assert_eq!(line(&[Int(-5)]), "-5\r\n", "a negative number is a number");
        assert_eq!(
            line(&[Text("a=b")]),
            "a=b\r\n",
            "only a leading sign is risky"
        );
    }
}
