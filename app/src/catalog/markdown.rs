//! Markdown becomes HTML once, when it is saved: CommonMark (with tables and
//! strikethrough) through pulldown-cmark, then ammonia's allow-list sanitizer, so no script,
//! event handler or `javascript:` link survives. Pages render the stored HTML as is. Used
//! for API descriptions and for the descriptions inside uploaded OpenAPI documents.

use pulldown_cmark::{html, Options, Parser};

/// An API's description, written by its publisher in the portal.
pub fn render(markdown: &str) -> String {
    render_with(markdown, &sanitizer_with(ammonia::UrlRelative::PassThrough))
}

/// The sanitizer for Markdown from an uploaded OpenAPI document. Its relative links (such as
/// Spotify's `/documentation/…`) point into the vendor's site, not Keyport's: they are
/// resolved against `base` (the document's `externalDocs` URL) when there is one, and
/// otherwise lose their target, keeping their text.
pub fn sanitizer(base: Option<ammonia::Url>) -> ammonia::Builder<'static> {
    sanitizer_with(match base {
        Some(url) => ammonia::UrlRelative::RewriteWithBase(url),
        None => ammonia::UrlRelative::Deny,
    })
}

fn sanitizer_with(relative: ammonia::UrlRelative<'static>) -> ammonia::Builder<'static> {
    let mut builder = ammonia::Builder::default();
    builder
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .url_relative(relative)
        .link_rel(Some("noopener noreferrer nofollow"));
    builder
}

/// Markdown to HTML, cleaned by `sanitizer`.
pub fn render_with(markdown: &str, sanitizer: &ammonia::Builder<'_>) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let mut unsafe_html = String::with_capacity(markdown.len() * 3 / 2);
    html::push_html(&mut unsafe_html, Parser::new_ext(markdown, options));
    sanitizer.clean(&unsafe_html).to_string()
}

#[cfg(test)]
mod tests {
    use super::{render, render_with, sanitizer};

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

    #[test]
    fn document_links_never_point_into_keyport() {
        let md = "The [Spotify ID](/documentation/web-api/#ids), [site](https://spotify.com) \
                  and [bad](javascript:alert(1)).";
        let html = render_with(md, &sanitizer(None));
        assert!(!html.contains("href=\"/"), "{html}");
        assert!(html.contains("Spotify ID"), "{html}");
        assert!(html.contains(r#"href="https://spotify.com""#), "{html}");
        assert!(
            html.contains("nofollow") && !html.contains("javascript"),
            "{html}"
        );
        let base = ammonia::Url::parse("https://developer.example.com/docs/").ok();
        let html = render_with(md, &sanitizer(base));
        assert!(
            html.contains(r#"href="https://developer.example.com/documentation/web-api/#ids""#),
            "{html}"
        );
    }
}
