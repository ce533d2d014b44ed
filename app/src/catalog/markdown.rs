//! Markdown descriptions become HTML once, when they are saved: CommonMark (with tables and
//! strikethrough) through pulldown-cmark, then ammonia's allow-list sanitizer, so no script,
//! event handler or `javascript:` link survives. Pages render the stored HTML as is.

use pulldown_cmark::{html, Options, Parser};

pub fn render(markdown: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer nofollow"))
        .clean(&unsafe_html)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn formats_markdown() {
        let html = render("# Pets\n\nA **friendly** API.\n\n| a | b |\n|---|---|\n| 1 | 2 |");
        assert!(html.contains("<h1>Pets</h1>"), "{html}");
        assert!(html.contains("<strong>friendly</strong>"), "{html}");
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn strips_scripts_handlers_and_dangerous_links() {
        let html = render(
            "Hi <script>alert(1)</script>\n\n<img src=x onerror=\"alert(2)\">\n\n\
             [click](javascript:alert(3)) <a href=\"data:text/html,x\">d</a>\n\n\
             <iframe src=\"https://evil.example\"></iframe><style>*{}</style>\
             <div onclick=\"alert(4)\">x</div>",
        );
        for bad in [
            "<script",
            "alert(1)",
            "onerror",
            "javascript:",
            "data:",
            "<iframe",
            "<style",
            "onclick",
        ] {
            assert!(!html.contains(bad), "{bad} survived in {html}");
        }
        assert!(html.contains("click"), "link text stays: {html}");
    }

    #[test]
    fn links_open_safely() {
        let html = render("[docs](https://example.com/docs)");
        assert!(
            html.contains(r#"href="https://example.com/docs""#),
            "{html}"
        );
        assert!(html.contains("noopener"), "{html}");
    }
}
