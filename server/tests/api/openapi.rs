//! OpenAPI uploads under load and at size: a small document that would expand without end,
//! a document over the work budget, real vendor documents of megabytes uploaded as files
//! (with and without JavaScript), the size limits and their messages, who may upload, and
//! the Markdown of descriptions rendered safely.

use crate::backends;
use crate::helpers::{draft, edit_view, plan, publish};
use crate::helpers::{Answer, Client, TestApp};
use app::domain::Role;
use serde_json::Value;
use std::io::Read;
use std::time::{Duration, Instant};

/// A ~1 KB document whose one schema has `properties` properties, each a `$ref` back to it:
/// expanded naively to depth 6 that is 20^6 (64 million) nodes.
fn self_referencing(properties: usize) -> String {
    let mut doc = String::from(
        "openapi: 3.0.3\ninfo: {title: Tree, version: '1'}\npaths:\n  /nodes:\n    get:\n      \
         summary: The tree\n      responses:\n        '200':\n          description: ok\n          \
         content:\n            application/json:\n              \
         schema: {$ref: '#/components/schemas/Node'}\ncomponents:\n  schemas:\n    Node:\n      \
         type: object\n      properties:\n",
    );
    for i in 0..properties {
        doc.push_str(&format!(
            "        child{i:02}: {{$ref: '#/components/schemas/Node'}}\n"
        ));
    }
    doc
}

/// No cycle, but each of 7 levels refers to the next 20 times: 20^5 nodes at depth 6.
fn wide_and_deep() -> String {
    let mut doc = String::from(
        "openapi: 3.0.3\ninfo: {title: Wide, version: '1'}\npaths:\n  /a:\n    get:\n      \
         responses:\n        '200':\n          description: ok\n          content:\n            \
         application/json:\n              schema: {$ref: '#/components/schemas/L0'}\n\
         components:\n  schemas:\n",
    );
    for level in 0..6 {
        doc.push_str(&format!(
            "    L{level}:\n      type: object\n      properties:\n"
        ));
        for i in 0..20 {
            doc.push_str(&format!(
                "        p{i}: {{$ref: '#/components/schemas/L{}'}}\n",
                level + 1
            ));
        }
    }
    doc.push_str("    L6: {type: string}\n");
    doc
}

/// OpenAI's published OpenAPI document (3 MB of YAML; see tests/fixtures/openapi/README.md).
fn openai_document() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/openapi/openai-openapi.yaml.gz"
    );
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text
}

const BOUNDARY: &str = "keyport-test-boundary-7MA4YWxkTrZu0gW";

/// A `multipart/form-data` body as a browser builds it: `(name, file name, content)`.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, content) in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!(
                    "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                     Content-Type: application/yaml\r\n\r\n"
                )
                .as_bytes(),
            ),
            None => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
            ),
        }
        body.extend_from_slice(content);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

/// Posts the OpenAPI form the way the hydrated editor does (multipart, JSON answer).
async fn upload_file(c: &Client, api_id: &str, document: &str) -> Answer {
    post_multipart(
        c,
        multipart(&[
            ("api_id", None, api_id.as_bytes()),
            ("file", Some("openapi.yaml"), document.as_bytes()),
            ("document", None, b""),
        ]),
        &[("Accept", "application/json")],
    )
    .await
}

async fn post_multipart(c: &Client, body: Vec<u8>, headers: &[(&str, &str)]) -> Answer {
    let mut req = c
        .http
        .post(format!("{}{}", c.base, app::catalog::OPENAPI_UPLOAD_PATH))
        .header(
            "Content-Type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    answer(req.send().await.unwrap()).await
}

async fn answer(res: reqwest::Response) -> Answer {
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

/// Every schema node of the reference, depth first.
fn nodes(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(map) => {
            if map.contains_key("ty") {
                out.push(v.clone());
            }
            map.values().for_each(|x| nodes(x, out));
        }
        Value::Array(items) => items.iter().for_each(|x| nodes(x, out)),
        _ => {}
    }
}

fn operation<'a>(reference: &'a Value, method: &str, path: &str) -> &'a Value {
    reference["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["operations"].as_array().unwrap())
        .find(|o| o["method"] == method && o["path"] == path)
        .unwrap_or_else(|| panic!("no {method} {path}"))
}

backends!(
    a_schema_referring_to_itself_twenty_times_is_answered_at_once,
    a_document_over_the_work_budget_is_refused_and_the_old_one_stays,
    a_real_three_megabyte_document_uploads_as_a_file_and_renders,
    documents_over_the_limit_are_refused_with_their_size_and_the_limit,
    the_upload_form_works_without_javascript,
    only_the_apis_publisher_uploads_its_document,
    editor_text_areas_round_trip_markup_as_text,
    a_reference_stored_by_an_older_version_is_rebuilt_from_its_document,
);

async fn a_schema_referring_to_itself_twenty_times_is_answered_at_once(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let api = draft(&p, "tree", &[]).await;
    let doc = self_referencing(20);
    assert!(doc.len() < 1500, "{} bytes", doc.len());
    let started = Instant::now();
    let saved = tokio::time::timeout(
        Duration::from_secs(10),
        p.call("upload_openapi", &[("api_id", &api), ("document", &doc)]),
    )
    .await
    .expect("the upload is answered within 10 s");
    println!(
        "20-property self-referencing document: answered in {:?}",
        started.elapsed()
    );
    assert_eq!(saved.ok(), &serde_json::json!(1));
    // Valid recursion still renders: each property refers back, shown as a marker.
    let reference = p.reference_in_full("tree").await;
    let schema = &operation(&reference, "GET", "/nodes")["responses"][0]["content"][0]["schema"];
    assert_eq!(schema["ty"], "Node");
    let fields = schema["fields"].as_array().unwrap();
    assert_eq!(fields.len(), 20);
    assert!(fields.iter().all(|f| f["recursive"] == "Node"), "{schema}");
    let page = p.get("/catalog/tree").await.text().await.unwrap();
    assert!(
        !page.contains("(recursive: Node)"),
        "details wait to be opened"
    );
    let page = p
        .get("/catalog/tree?op=op-get-nodes")
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("(recursive: Node)"));
    assert!(page.len() < 200_000, "{} bytes", page.len());
}

async fn a_document_over_the_work_budget_is_refused_and_the_old_one_stays(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let api = draft(&p, "wide", &[]).await;
    p.call(
        "upload_openapi",
        &[("api_id", &api), ("document", &self_referencing(3))],
    )
    .await
    .ok();
    let started = Instant::now();
    let refused = tokio::time::timeout(
        Duration::from_secs(20),
        p.call(
            "upload_openapi",
            &[("api_id", &api), ("document", &wide_and_deep())],
        ),
    )
    .await
    .expect("answered within 20 s");
    println!("over-budget document: refused in {:?}", started.elapsed());
    assert_eq!(refused.status, 422, "{}", refused.body);
    let message = refused.field("document").join(" ");
    assert!(message.contains("too complex"), "{message}");
    // Through the file upload too.
    let refused = upload_file(&p, &api, &wide_and_deep()).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(refused.field("document")[0].contains("too complex"));
    let kept = edit_view(&p, "wide").await;
    assert_eq!(kept["operations"], 1);
    assert!(kept["openapi_source"].as_str().unwrap().contains("child02"));
    assert_eq!(app.audit("api.openapi_upload").await.len(), 1);
}

async fn a_real_three_megabyte_document_uploads_as_a_file_and_renders(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let api = draft(&p, "openai", &[]).await;
    let doc = openai_document();
    assert!(doc.len() > 2_500_000, "{} bytes", doc.len());
    let started = Instant::now();
    let saved = upload_file(&p, &api, &doc).await;
    println!(
        "OpenAI document ({} bytes): uploaded, parsed and stored in {:?}",
        doc.len(),
        started.elapsed()
    );
    let operations = saved.ok().as_u64().unwrap();
    assert!(operations > 200, "{operations}");
    plan(&p, &api, "Free", "automatic").await;
    publish(&p, &api).await;

    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    let reference = &dev.reference_in_full("openai").await;
    assert_eq!(reference["openapi"], "3.1.0");
    // A parameter described only in its schema gets that description.
    let keys = operation(reference, "GET", "/organization/admin_api_keys");
    let after = keys["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "after")
        .unwrap();
    assert_eq!(
        after["description_html"],
        "<p>Return keys with IDs that come after this ID in the pagination order.</p>\n"
    );
    // Markdown in a parameter's description is rendered; its link into OpenAI's own site
    // keeps its text and loses its target (it would be a broken link on Keyport).
    let items = operation(
        reference,
        "GET",
        "/conversations/{conversation_id}/items/{item_id}",
    );
    let include = items["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "include")
        .unwrap()["description_html"]
        .as_str()
        .unwrap();
    assert!(include.contains("<code>include</code>"), "{include}");
    assert!(
        include.contains("listing Conversation items above"),
        "{include}"
    );
    assert!(
        !include.contains("href=\"/") && !include.contains("](/"),
        "{include}"
    );
    // Field descriptions are rendered Markdown too, and nothing unsafe or Keyport-relative
    // survives anywhere in the reference.
    let mut all = Vec::new();
    nodes(reference, &mut all);
    assert!(all.len() > 1000, "{} nodes", all.len());
    let rendered = all
        .iter()
        .filter_map(|n| n["description_html"].as_str())
        .filter(|d| d.contains("<code>") || d.contains("<a ") || d.contains("<strong>"))
        .count();
    assert!(rendered > 50, "{rendered} rendered field descriptions");
    let json = reference.to_string();
    for bad in ["<script", "javascript:", "href=\\\"/", "onerror"] {
        assert!(!json.contains(bad), "{bad} in the reference");
    }
    assert!(json.contains("rel=\\\"noopener noreferrer nofollow\\\""));
    // The page carries every operation's line and no details: a fraction of the reference.
    let started = Instant::now();
    let page = dev.get("/catalog/openai").await.text().await.unwrap();
    println!(
        "OpenAI API page: {} bytes in {:?} (the whole reference is {} bytes as JSON)",
        page.len(),
        started.elapsed(),
        json.len()
    );
    assert!(page.contains("/conversations/{conversation_id}/items/{item_id}"));
    assert!(!page.contains("<code>include</code>"));
    assert!(page.len() * 3 < json.len(), "{} bytes", page.len());
    // An operation opened by its address is rendered in the page, details and all.
    let anchor = items["anchor"].as_str().unwrap();
    let page = dev
        .get(&format!("/catalog/openai?op={anchor}"))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("<code>include</code>"));
    // The editor does not carry the 3 MB document, only its size.
    let edit = edit_view(&p, "openai").await;
    assert!(edit["openapi_source"].is_null());
    assert_eq!(edit["openapi_bytes"], doc.len());
    let editor = p.get("/publish/openai").await.text().await.unwrap();
    assert!(editor.len() < 500_000, "{} bytes", editor.len());
    assert!(editor.contains("too large to show here"));
}

async fn documents_over_the_limit_are_refused_with_their_size_and_the_limit(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let api = draft(&p, "big", &[]).await;
    p.call(
        "upload_openapi",
        &[("api_id", &api), ("document", &self_referencing(2))],
    )
    .await
    .ok();
    // Over the document limit but within what the upload route reads: the server function
    // says so on the field.
    let just_over = format!(
        "{}\n# {}\n",
        self_referencing(2),
        "x".repeat(app::catalog::openapi::MAX_DOCUMENT_BYTES)
    );
    let refused = upload_file(&p, &api, &just_over).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        refused.field("document"),
        vec!["The document is 8.1 MB; the limit is 8 MB."]
    );
    // Far over it: 413 before anything is read, with a JSON error the page can show.
    let huge = "x".repeat(9 * 1024 * 1024);
    let refused = upload_file(&p, &api, &huge).await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert_eq!(refused.error_kind(), "too_large");
    assert_eq!(
        refused.body["message"],
        "The document is 9.1 MB; the limit is 8 MB."
    );
    // Other requests keep the general 1 MiB limit, with the same kind of answer (a 1.5 MB
    // document pasted the old way used to read "expected value at line 1 column 1").
    let pasted = "x".repeat(1_500_000);
    let refused = p
        .call("upload_openapi", &[("api_id", &api), ("document", &pasted)])
        .await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert_eq!(
        refused.body["message"],
        "The request is 1.5 MB; the limit is 1 MB."
    );
    // A body that is not multipart is refused before decoding.
    let not_multipart = p
        .http
        .post(format!("{}{}", p.base, app::catalog::OPENAPI_UPLOAD_PATH))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("api_id=x&document=y")
        .send()
        .await
        .unwrap();
    assert_eq!(not_multipart.status().as_u16(), 415);
    // An empty form changes nothing; the document stays.
    let empty = post_multipart(
        &p,
        multipart(&[
            ("api_id", None, api.as_bytes()),
            ("file", Some(""), b""),
            ("document", None, b""),
        ]),
        &[("Accept", "application/json")],
    )
    .await;
    assert_eq!(empty.status, 422);
    assert_eq!(
        empty.field("document"),
        vec!["Choose a file, or paste a document."]
    );
    // Pasted text is used when no file is chosen.
    let pasted = post_multipart(
        &p,
        multipart(&[
            ("api_id", None, api.as_bytes()),
            ("file", Some(""), b""),
            ("document", None, self_referencing(4).as_bytes()),
        ]),
        &[("Accept", "application/json")],
    )
    .await;
    assert_eq!(pasted.ok(), &serde_json::json!(1));
    assert!(edit_view(&p, "big").await["openapi_source"]
        .as_str()
        .unwrap()
        .contains("child03"));
}

async fn the_upload_form_works_without_javascript(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let api = draft(&p, "plain", &[]).await;
    let editor = format!("{}/publish/plain", p.base);
    let editor_page = p.get("/publish/plain").await.text().await.unwrap();
    assert!(editor_page.contains("enctype=\"multipart/form-data\""));
    assert!(editor_page.contains(&format!("action=\"{}\"", app::catalog::OPENAPI_UPLOAD_PATH)));
    let browser = [
        ("Accept", "text/html,application/xhtml+xml"),
        ("Referer", editor.as_str()),
    ];
    let body = |doc: &str| {
        multipart(&[
            ("api_id", None, api.as_bytes()),
            ("file", Some("tree.yaml"), doc.as_bytes()),
            ("document", None, b""),
        ])
    };
    // Success: back to the editor, which shows the new reference.
    let saved = post_multipart(&p, body(&self_referencing(3)), &browser).await;
    assert!(matches!(saved.status, 302 | 303), "{}", saved.status);
    let back = saved.headers["location"].to_str().unwrap();
    assert_eq!(back.trim_end_matches('?'), editor.as_str());
    assert_eq!(edit_view(&p, "plain").await["operations"], 1);
    // A refused document: back to the editor with the error, which the page shows.
    let refused = post_multipart(&p, body("openapi: '2.5.0'\n"), &browser).await;
    let location = refused.headers["location"].to_str().unwrap().to_string();
    assert!(location.contains("__err="), "{location}");
    let page = p
        .get(location.trim_start_matches(&p.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("OpenAPI 2.5.0 is not supported"),
        "the editor shows the error"
    );
    // Too large: the same way back, with the size and the limit.
    let too_big = post_multipart(&p, body(&"x".repeat(9 * 1024 * 1024)), &browser).await;
    let location = too_big.headers["location"].to_str().unwrap().to_string();
    let page = p
        .get(location.trim_start_matches(&p.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("The document is 9.1 MB; the limit is 8 MB."));
    assert_eq!(edit_view(&p, "plain").await["operations"], 1);
}

async fn only_the_apis_publisher_uploads_its_document(app: TestApp) {
    let (owner, _) = app.signed_in("owner@example.com", Role::Publisher).await;
    let api = draft(&owner, "mine", &[]).await;
    let doc = self_referencing(2);
    let (other, _) = app.signed_in("other@example.com", Role::Publisher).await;
    assert_eq!(upload_file(&other, &api, &doc).await.status, 404);
    let (dev, _) = app.signed_in("dev@example.com", Role::Developer).await;
    assert_eq!(upload_file(&dev, &api, &doc).await.status, 403);
    assert_eq!(upload_file(&app.client(), &api, &doc).await.status, 401);
    // Cross-site posts are refused before the body is looked at.
    let cross = post_multipart(
        &owner,
        multipart(&[("api_id", None, api.as_bytes())]),
        &[("Sec-Fetch-Site", "cross-site")],
    )
    .await;
    assert_eq!(cross.status, 403);
    assert!(edit_view(&owner, "mine").await["openapi_source"].is_null());
}

async fn editor_text_areas_round_trip_markup_as_text(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let evil = "</textarea><script>alert('d')</script>";
    let api = draft(&p, "marked", &[("description", evil)]).await;
    let doc = format!(
        "{}# </textarea><script>alert('o')</script>\n",
        self_referencing(2)
    );
    upload_file(&p, &api, &doc).await.ok();
    let page = p.get("/publish/marked").await.text().await.unwrap();
    assert!(
        !page.contains("<script>alert("),
        "markup from a text area escaped"
    );
    assert!(
        page.matches("&lt;/textarea&gt;&lt;script&gt;alert(")
            .count()
            >= 2,
        "both text areas hold the markup as text"
    );
    let edit = edit_view(&p, "marked").await;
    assert_eq!(edit["description"], evil);
    assert_eq!(edit["openapi_source"], doc.as_str());
}

async fn a_reference_stored_by_an_older_version_is_rebuilt_from_its_document(app: TestApp) {
    let (p, _) = app.signed_in("pub@example.com", Role::Publisher).await;
    let api = draft(&p, "older", &[]).await;
    p.call(
        "upload_openapi",
        &[("api_id", &api), ("document", &self_referencing(2))],
    )
    .await
    .ok();
    // What Keyport stored before descriptions became HTML: plain text, no `format`. Shown
    // as HTML it would be markup from the document, unsanitized.
    let old = r#"{"openapi":"3.0.3","title":"Tree","version":"1","description":null,"servers":[],
        "groups":[{"tag":"Other","description":"<img src=x onerror=alert(1)>","operations":[]}]}"#;
    sqlx::query("UPDATE apis SET openapi_ref = $1 WHERE id = $2")
        .bind(old)
        .bind(&api)
        .execute(&app.state.db)
        .await
        .unwrap();
    let reference = &p.reference_in_full("older").await;
    let stored: String = sqlx::query_scalar("SELECT openapi_ref FROM apis WHERE id = $1")
        .bind(&api)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["format"], app::catalog::openapi::REFERENCE_FORMAT);
    assert_eq!(
        operation(reference, "GET", "/nodes")["summary_html"],
        "The tree"
    );
    assert!(!reference.to_string().contains("onerror"));
    assert_eq!(edit_view(&p, "older").await["operations"], 1);
    // A stored document that no longer builds (over the work budget) loses its reference
    // once, instead of being parsed again on every view.
    sqlx::query("UPDATE apis SET openapi_ref = $1, openapi_source = $2 WHERE id = $3")
        .bind(old)
        .bind(wide_and_deep())
        .bind(&api)
        .execute(&app.state.db)
        .await
        .unwrap();
    let detail = p
        .call("api_detail", &[("slug", "older")])
        .await
        .ok()
        .clone();
    assert!(detail["reference"].is_null());
    let stored: Option<String> = sqlx::query_scalar("SELECT openapi_ref FROM apis WHERE id = $1")
        .bind(&api)
        .fetch_one(&app.state.db)
        .await
        .unwrap();
    assert!(stored.is_none());
    let edit = edit_view(&p, "older").await;
    assert!(edit["operations"].is_null() && edit["openapi_bytes"].is_number());
}
