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
