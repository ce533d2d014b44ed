//! Page structure that keyboard and screen-reader users depend on, checked in the served
//! HTML: wide tables scroll in focusable, named regions, and the header keeps the admin
//! pages and the account's pages in menus that open without JavaScript.

use crate::backends;
use crate::helpers::{draft, plan, publish};
use crate::helpers::{Client, TestApp};
use app::domain::Role;
use scraper::{ElementRef, Html, Selector};

fn sel(s: &str) -> Selector {
    Selector::parse(s).unwrap()
}

async fn page(c: &Client, path: &str) -> Html {
    let res = c.get(path).await;
    assert_eq!(res.status(), 200, "GET {path}");
    Html::parse_document(&res.text().await.unwrap())
}

/// An OpenAPI document with a parameter table.
const WITH_PARAMETERS: &str = "openapi: 3.0.3\ninfo: {title: Pets, version: '1'}\npaths:\n  /pets:\n    get:\n      summary: List pets\n      parameters:\n        - {name: limit, in: query, schema: {type: integer}}\n      responses:\n        '200': {description: ok}\n";

backends!(
    tables_scroll_in_focusable_named_regions,
    admin_and_account_pages_sit_in_header_menus
);

async fn tables_scroll_in_focusable_named_regions(app: TestApp) {
    let (publisher, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let api = draft(&publisher, "pets", &[]).await;
    plan(&publisher, &api, "Standard", "automatic").await;
    publisher
        .call(
            "upload_openapi",
            &[("api_id", &api), ("document", WITH_PARAMETERS)],
        )
        .await
        .ok();
    publish(&publisher, &api).await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let (admin, _) = app.signed_in("root@example.com", Role::Admin).await;

    let pages: [(&Client, &str, usize); 6] = [
        (&dev, "/dashboard", 1),
        // The operation opened by its address shows its parameter table.
        (&dev, "/catalog/pets?op=op-get-pets", 1),
        (&publisher, "/publish", 1),
        (&admin, "/dashboard", 2),
        (&admin, "/admin/audit", 1),
        (&admin, "/admin/users", 1),
    ];
    for (who, path, tables) in pages {
        let doc = page(who, path).await;
        let mut seen = 0;
        for table in doc.select(&sel("table")) {
            seen += 1;
            let region = table
                .ancestors()
                .filter_map(ElementRef::wrap)
                .find(|e| e.value().classes().any(|c| c.starts_with("overflow")))
                .unwrap_or_else(|| panic!("{path}: a table outside a scrolling region"));
            let v = region.value();
            assert_eq!(v.attr("tabindex"), Some("0"), "{path}: {}", v.name());
            assert_eq!(v.attr("role"), Some("region"), "{path}");
            assert!(
                v.attr("aria-label").is_some_and(|l| !l.trim().is_empty()),
                "{path}: a scrolling region without a name"
            );
        }
        assert_eq!(seen, tables, "{path}: tables");
    }
}

async fn admin_and_account_pages_sit_in_header_menus(app: TestApp) {
    let (admin, _) = app.signed_in("root@example.com", Role::Admin).await;
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let doc = page(&admin, "/admin/users").await;
    let nav = doc
        .select(&sel("nav[aria-label=Main]"))
        .next()
        .expect("the main navigation");
    let menus: Vec<ElementRef> = nav.select(&sel("details")).collect();
    assert_eq!(menus.len(), 1, "one menu in the header");
    let menu = menus[0];
    let summary = menu.select(&sel("summary")).next().expect("its button");
    assert_eq!(summary.text().collect::<String>().trim(), "Admin");
    let list_id = summary
        .value()
        .attr("aria-controls")
        .expect("aria-controls");
    let list = menu
        .select(&sel(&format!("ul#{list_id}")))
        .next()
        .expect("the controlled list");
    assert_eq!(list.value().attr("aria-label"), Some("Admin"));
    let links: Vec<(String, String)> = list
        .select(&sel("a"))
        .map(|a| {
            (
                a.text().collect::<String>(),
                a.value().attr("href").unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want = [
        ("Users", "/admin/users"),
        ("Audit log", "/admin/audit"),
        ("Keys", "/admin/keys"),
        ("Usage", "/admin/usage"),
        ("Settings", "/admin/settings"),
    ];
    assert_eq!(
        links,
        want.map(|(n, h)| (n.to_string(), h.to_string())).to_vec()
    );
    // On an admin page the menu says so, and the page's own link is marked current.
    assert!(summary.value().classes().any(|c| c == "font-semibold"));
    let current: Vec<String> = list
        .select(&sel("a[aria-current=page]"))
        .map(|a| a.text().collect())
        .collect();
    assert_eq!(current, ["Users"]);
    // No admin link stands outside the menu.
    for a in nav.select(&sel("a")) {
        let href = a.value().attr("href").unwrap_or_default();
        let in_menu = a
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(|e| e.value().name() == "details");
        assert!(
            !href.starts_with("/admin/") || in_menu,
            "{href} outside the menu"
        );
    }

    // The account's pages sit in a second menu, beside the notifications and sign-out.
    let account = doc
        .select(&sel("nav[aria-label=Account] details"))
        .next()
        .expect("the account menu");
    let links: Vec<String> = account
        .select(&sel("ul[aria-label='Your account'] a"))
        .map(|a| a.text().collect())
        .collect();
    assert_eq!(links, ["Account", "Security", "Sessions"]);

    let doc = page(&dev, "/dashboard").await;
    assert_eq!(doc.select(&sel("nav[aria-label=Main] details")).count(), 0);
    assert_eq!(doc.select(&sel("header a[href^='/admin/']")).count(), 0);
    assert_eq!(
        doc.select(&sel("nav[aria-label=Account] details")).count(),
        1
    );
}
