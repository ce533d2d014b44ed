//! OpenAPI 3.0/3.1 documents (JSON or YAML): parsed with the `oas3` crate when uploaded,
//! with an error that says where the problem is, and turned into [`Reference`], the
//! browsable form the API page renders (operations by tag, parameters, bodies, responses).
//!
//! Building the reference is bounded, because an uploaded document is untrusted input: a
//! `$ref` back to a schema that is being expanded is shown as a recursion marker instead of
//! being expanded again, nesting stops at [`MAX_DEPTH`], and a document whose reference
//! would take more than a work budget (schema nodes and names made) is refused. Descriptions
//! are Markdown: they are rendered and sanitized here, once, like an API's description.

use crate::domain::Route;
use serde::{Deserialize, Serialize};

/// The largest document a publisher can upload (real vendor documents are 1–5 MB).
pub const MAX_DOCUMENT_BYTES: usize = 8 * 1024 * 1024;

/// The editor shows the current document, and accepts pasted text, up to this size; larger
/// documents are uploaded as files (a text area holding megabytes makes the browser crawl).
pub const MAX_PASTE_BYTES: usize = 128 * 1024;

/// Nested schemas deeper than this are shown by name only.
pub const MAX_DEPTH: usize = 6;

/// How many schema nodes (and variant names) building one reference may make. Real
/// documents of 0.3–3 MB (Spotify, OpenAI, PagerDuty, Plaid) make 3,000–16,000.
pub const MAX_SCHEMA_NODES: usize = 250_000;

/// How much description HTML one reference may hold: a schema's description is repeated
/// wherever the schema is shown. Those documents hold 0.5–4.5 MB.
pub const MAX_DESCRIPTION_BYTES: usize = 32 * 1024 * 1024;

/// The shape of [`Reference`]: one stored in an older shape is rebuilt from its document.
pub const REFERENCE_FORMAT: u32 = 3;

/// "1.5 MB" (1 MB = 1,048,576 bytes, as the limits are set), rounded up to a tenth so that a
/// document just over a limit never reads as equal to it.
pub fn megabytes(bytes: usize) -> String {
    let tenths = (bytes as u64 * 10).div_ceil(1024 * 1024);
    if tenths.is_multiple_of(10) {
        format!("{} MB", tenths / 10)
    } else {
        format!("{}.{} MB", tenths / 10, tenths % 10)
    }
}

/// The message for a document over [`MAX_DOCUMENT_BYTES`] (the browser checks it first too).
pub fn too_large(bytes: usize) -> String {
    format!(
        "The document is {}; the limit is {}.",
        megabytes(bytes),
        megabytes(MAX_DOCUMENT_BYTES)
    )
}

/// Every `*_html` field holds HTML that was rendered from the document's Markdown and
/// sanitized (ammonia) when the document was uploaded; pages insert it as is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(default)]
    pub format: u32,
    pub openapi: String,
    pub title: String,
    pub version: String,
    pub servers: Vec<String>,
    pub groups: Vec<OperationGroup>,
    /// Every operation with the scopes its `security` asks for (the operation's own, else
    /// the document's), as the gateway enforces them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
}

impl Reference {
    pub fn operation_count(&self) -> usize {
        self.groups.iter().map(|g| g.operations.len()).sum()
    }

    /// Every operation's one line, without its details (a tenth of the size or less).
    pub fn outline(&self) -> Outline {
        Outline {
            openapi: self.openapi.clone(),
            servers: self.servers.clone(),
            groups: self
                .groups
                .iter()
                .map(|g| GroupOutline {
                    tag: g.tag.clone(),
                    description_html: g.description_html.clone(),
                    operations: g
                        .operations
                        .iter()
                        .map(|op| OperationLine {
                            anchor: op.anchor.clone(),
                            method: op.method.clone(),
                            path: op.path.clone(),
                            summary_html: op.summary_html.clone(),
                            deprecated: op.deprecated,
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// The operation with this anchor.
    pub fn into_operation(self, anchor: &str) -> Option<Operation> {
        self.groups
            .into_iter()
            .flat_map(|g| g.operations)
            .find(|op| op.anchor == anchor)
    }
}

/// What the API page sends first: the reference without the operations' details, which
/// are fetched one operation at a time as they are opened. A real 97-operation document
/// is 1.7 MB as a whole reference; its outline is a few dozen kilobytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outline {
    pub openapi: String,
    pub servers: Vec<String>,
    pub groups: Vec<GroupOutline>,
}

impl Outline {
    pub fn operation_count(&self) -> usize {
        self.groups.iter().map(|g| g.operations.len()).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupOutline {
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
    pub operations: Vec<OperationLine>,
}

/// An operation's summary line: what the API page lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationLine {
    pub anchor: String,
    pub method: String,
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_html: Option<String>,
    #[serde(default)]
    pub deprecated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationGroup {
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
    pub operations: Vec<Operation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// A stable anchor for links (`op-get-pets-id`).
    pub anchor: String,
    pub method: String,
    pub path: String,
    /// Inline HTML (no enclosing paragraph): it sits in the operation's one-line summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_html: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<Parameter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Body>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub responses: Vec<Response>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub location: String,
    pub required: bool,
    pub ty: String,
    /// The parameter's description, or else its schema's (many documents put it there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
    pub required: bool,
    pub content: Vec<Content>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub content: Vec<Content>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub media_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<SchemaNode>,
}

/// A schema as a tree of named fields: `ty` is a short description ("string (date-time)",
/// "array of Pet", "object"); `fields` are an object's properties or an array item's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaNode {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub ty: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_html: Option<String>,
    /// The component schema this node refers back to (one of its ancestors), which is
    /// therefore not expanded again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recursive: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<SchemaNode>,
}

#[cfg(feature = "ssr")]
pub use build::{parse, parse_with_budget};

#[cfg(feature = "ssr")]
mod build {
    use super::*;
    use oas3::spec::{
        Components, ObjectOrReference, ObjectSchema, Schema, SchemaType as Type,
        SchemaTypeSet as TypeSet, Spec,
    };
    use std::borrow::Cow;
    use std::collections::HashMap;

    /// A chain of `$ref`s to `$ref`s longer than this is treated as unresolvable (a chain
    /// that loops would otherwise never end).
    const MAX_HOPS: usize = 8;

    /// Parses a document and derives its reference, or says what is wrong and where.
    /// CPU-bound (up to the work budget): call it off the async executor.
    pub fn parse(source: &str) -> Result<Reference, String> {
        parse_with_budget(source, MAX_SCHEMA_NODES)
    }

    /// [`parse`] with another work budget (tests use small ones).
    pub fn parse_with_budget(source: &str, budget: usize) -> Result<Reference, String> {
        let (spec, routes) = spec(source)?;
        Builder::new(&spec, budget)
            .reference()
            .map(|reference| Reference {
                routes,
                ..reference
            })
            .map_err(|e| match e {
                TooComplex::Nodes => format!(
                    "The document is too complex to show: its reference would need more than \
                 {budget} schema fields, because nested schemas are expanded wherever they \
                 are used (up to {MAX_DEPTH} levels deep). Use fewer nested `$ref`s in \
                 properties, or split the document."
                ),
                TooComplex::Descriptions => format!(
                    "The document is too complex to show: its descriptions, repeated wherever \
                 their schemas are used, would take more than {}. Shorten the descriptions \
                 of schemas used in many places, or split the document.",
                    megabytes(MAX_DESCRIPTION_BYTES)
                ),
            })
    }

    fn spec(source: &str) -> Result<(Spec, Vec<Route>), String> {
        if source.len() > MAX_DOCUMENT_BYTES {
            return Err(too_large(source.len()));
        }
        let trimmed = source.trim_start();
        if trimmed.is_empty() {
            return Err("The document is empty.".into());
        }
        // A first look as plain data, for the version and a syntax error with its position.
        // (Both parsers bound nesting; serde_yaml_ng also bounds alias expansion.)
        let value: serde_json::Value = if trimmed.starts_with('{') {
            serde_json::from_str(source).map_err(|e| {
                format!(
                    "This is not valid JSON (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                )
            })?
        } else {
            serde_yaml_ng::from_str::<Lenient>(source)
                .map(|v| v.0)
                .map_err(|e| match e.location() {
                    Some(at) => format!(
                        "This is not valid YAML (line {}, column {}): {e}",
                        at.line(),
                        at.column()
                    ),
                    None => format!("This is not valid YAML: {e}"),
                })?
        };
        if !value.is_object() {
            return Err(
                "An OpenAPI document is an object with `openapi`, `info` and `paths`.".into(),
            );
        }
        if value.get("swagger").is_some() {
            return Err("This is a Swagger 2.0 document; convert it to OpenAPI 3 first.".into());
        }
        match value.get("openapi").and_then(|v| v.as_str()) {
            Some(v) if v.starts_with("3.0.") || v.starts_with("3.1.") => {}
            Some(v) => return Err(format!("OpenAPI {v} is not supported; use 3.0.x or 3.1.x.")),
            None => return Err("The `openapi` field (such as \"3.1.0\") is missing.".into()),
        }
        let mut value = value;
        normalize(&mut value);
        let routes = routes(&value);
        let spec = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                format!("The document is not valid OpenAPI: {inner}")
            } else {
                format!("The document is not valid OpenAPI at `{path}`: {inner}")
            }
        })?;
        Ok((spec, routes))
    }

    /// Every operation of the document (`paths`, read as data: oas3 reads an operation's
    /// `security: []`, which removes the document's requirement, as if it were absent) with
    /// the scope sets that allow it. A requirement set without scopes (`{}` or
    /// `{api_key: []}`) needs none, so the operation needs none.
    fn routes(doc: &serde_json::Value) -> Vec<Route> {
        const METHODS: [&str; 8] = [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ];
        let global = doc.get("security").map(scope_sets).unwrap_or_default();
        let Some(paths) = doc.get("paths").and_then(|p| p.as_object()) else {
            return Vec::new();
        };
        let mut routes = Vec::new();
        for (path, item) in paths {
            for method in METHODS {
                let Some(op) = item.get(method).filter(|op| op.is_object()) else {
                    continue;
                };
                routes.push(Route {
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                    scopes: op
                        .get("security")
                        .map(scope_sets)
                        .unwrap_or_else(|| global.clone()),
                });
            }
        }
        routes
    }

    /// A `security` list as scope sets, or none when one of its requirements needs no scope.
    fn scope_sets(security: &serde_json::Value) -> Vec<Vec<String>> {
        let mut sets = Vec::new();
        for requirement in security.as_array().into_iter().flatten() {
            let mut set: Vec<String> = requirement
                .as_object()
                .into_iter()
                .flat_map(|schemes| schemes.values())
                .filter_map(|scopes| scopes.as_array())
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect();
            if set.is_empty() {
                return Vec::new();
            }
            set.sort();
            set.dedup();
            sets.push(set);
        }
        sets
    }

    /// Smooths over what real documents get wrong in ways that do not matter to the
    /// reference, before the typed parse refuses them:
    /// - OpenAPI 3.0 writes `exclusiveMinimum: true` next to `minimum: 1`, 3.1 (and oas3)
    ///   `exclusiveMinimum: 1`; documents mix them (OpenAI's, marked 3.1, uses both), so
    ///   booleans become the 3.1 form;
    /// - `externalDocs.url` must be an absolute URL, but documents write paths on their own
    ///   site (Plaid's `/api/products/…`); such an `externalDocs` is dropped.
    fn normalize(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                for (flag, bound) in [
                    ("exclusiveMinimum", "minimum"),
                    ("exclusiveMaximum", "maximum"),
                ] {
                    if let Some(serde_json::Value::Bool(exclusive)) = map.get(flag) {
                        let bound = if *exclusive { map.remove(bound) } else { None };
                        match bound {
                            Some(n) => map.insert(flag.into(), n),
                            None => map.remove(flag),
                        };
                    }
                }
                let relative_docs = map
                    .get("externalDocs")
                    .and_then(|d| d.get("url"))
                    .and_then(|u| u.as_str())
                    .is_some_and(|u| ammonia::Url::parse(u).is_err());
                if relative_docs {
                    map.remove("externalDocs");
                }
                map.values_mut().for_each(normalize);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(normalize),
            _ => {}
        }
    }

    /// YAML read as JSON data. Real documents write integers beyond 64 bits (OpenAI's
    /// `minimum: -9223372036854776000`), which `serde_json::Value` refuses from YAML; they
    /// become floating-point numbers, as a JSON parser reads them. Keys that are numbers or
    /// booleans (`200:` for a response) become strings.
    struct Lenient(serde_json::Value);

    impl<'de> serde::Deserialize<'de> for Lenient {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(LenientVisitor).map(Lenient)
        }
    }

    struct LenientVisitor;

    fn float(f: f64) -> serde_json::Value {
        serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }

    impl<'de> serde::de::Visitor<'de> for LenientVisitor {
        type Value = serde_json::Value;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("YAML data")
        }
        fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_i128<E>(self, v: i128) -> Result<Self::Value, E> {
            Ok(i64::try_from(v).map_or_else(|_| float(v as f64), Into::into))
        }
        fn visit_u128<E>(self, v: u128) -> Result<Self::Value, E> {
            Ok(u64::try_from(v).map_or_else(|_| float(v as f64), Into::into))
        }
        fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
            Ok(float(v))
        }
        fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
            Ok(v.into())
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(serde_json::Value::Null)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(serde_json::Value::Null)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(Lenient(v)) = seq.next_element()? {
                out.push(v);
            }
            Ok(out.into())
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = serde_json::Map::new();
            while let Some((Lenient(k), Lenient(v))) = map.next_entry()? {
                let key = match k {
                    serde_json::Value::String(s) => s,
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Null => "null".into(),
                    _ => return Err(serde::de::Error::custom("a mapping key is not a string")),
                };
                out.insert(key, v);
            }
            Ok(out.into())
        }
    }

    /// A work budget ran out.
    enum TooComplex {
        Nodes,
        Descriptions,
    }

    /// A schema after following its `$ref`s.
    enum Resolved<'a> {
        Object(&'a ObjectSchema),
        Boolean(bool),
        Unresolved,
    }

    /// Builds a [`Reference`] from a parsed document, borrowing from it. `$ref`s are
    /// followed here rather than with oas3's `resolve`, which clones the target and
    /// recurses without end on a `$ref` that refers to itself.
    struct Builder<'a> {
        spec: &'a Spec,
        /// Work still allowed (schema nodes and variant names).
        left: usize,
        /// Description HTML still allowed, in bytes.
        html_left: usize,
        /// The component schemas being expanded, outermost first: a `$ref` to one of them
        /// is a cycle.
        expanding: Vec<Cow<'a, str>>,
        /// Rendered Markdown by source text: the same description recurs wherever its
        /// schema is used.
        html: HashMap<&'a str, String>,
        sanitizer: ammonia::Builder<'static>,
    }

    impl<'a> Builder<'a> {
        fn new(spec: &'a Spec, budget: usize) -> Self {
            // Relative links in a vendor's document point into the vendor's site, not
            // Keyport: resolve them against the document's own documentation URL when it
            // has an absolute one, otherwise drop their target (the text stays).
            let base = spec
                .external_docs
                .as_ref()
                .and_then(|d| ammonia::Url::parse(d.url.as_str()).ok())
                .filter(|u| matches!(u.scheme(), "http" | "https"));
            Builder {
                spec,
                left: budget,
                html_left: MAX_DESCRIPTION_BYTES,
                expanding: Vec::new(),
                html: HashMap::new(),
                sanitizer: crate::catalog::markdown::sanitizer(base),
            }
        }

        fn spend(&mut self, units: usize) -> Result<(), TooComplex> {
            self.left = self.left.checked_sub(units).ok_or(TooComplex::Nodes)?;
            Ok(())
        }

        fn markdown(&mut self, text: Option<&'a str>) -> Result<Option<String>, TooComplex> {
            let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
                return Ok(None);
            };
            let html = match self.html.get(text) {
                Some(html) => html.clone(),
                None => {
                    let html = crate::catalog::markdown::render_with(text, &self.sanitizer);
                    self.html.insert(text, html.clone());
                    html
                }
            };
            self.html_left = self
                .html_left
                .checked_sub(html.len())
                .ok_or(TooComplex::Descriptions)?;
            Ok(Some(html))
        }

        /// Markdown for a one-line place: a lone paragraph loses its `<p>`.
        fn inline_markdown(&mut self, text: Option<&'a str>) -> Result<Option<String>, TooComplex> {
            Ok(self.markdown(text)?.map(|html| {
                let trimmed = html.trim();
                match trimmed
                    .strip_prefix("<p>")
                    .and_then(|s| s.strip_suffix("</p>"))
                {
                    Some(inner) if !inner.contains("<p>") => inner.to_string(),
                    _ => html,
                }
            }))
        }

        fn components(&self) -> Option<&'a Components> {
            self.spec.components.as_ref()
        }

        /// Follows a parameter, response or request body `$ref` (and `$ref`s to `$ref`s).
        fn follow<T>(
            &self,
            mut item: &'a ObjectOrReference<T>,
            kind: &str,
            map: impl Fn(&'a Components) -> &'a oas3::Map<String, ObjectOrReference<T>>,
        ) -> Option<&'a T> {
            for _ in 0..MAX_HOPS {
                match item {
                    ObjectOrReference::Object(t) => return Some(t),
                    ObjectOrReference::Ref { ref_path, .. } => {
                        let name = component_name(ref_path, kind)?;
                        item = map(self.components()?).get(name.as_ref())?;
                    }
                }
            }
            None
        }

        /// Follows a schema's `$ref`s; also returns the name of the last component reached
        /// (the one whose object is expanded).
        fn resolve(&self, mut schema: &'a Schema) -> (Resolved<'a>, Option<Cow<'a, str>>) {
            let mut component = None;
            for _ in 0..MAX_HOPS {
                match schema {
                    Schema::Boolean(b) => return (Resolved::Boolean(b.0), component),
                    Schema::Object(o) => match o.as_ref() {
                        ObjectOrReference::Object(o) => return (Resolved::Object(o), component),
                        ObjectOrReference::Ref { ref_path, .. } => {
                            let Some(name) = component_name(ref_path, "schemas") else {
                                return (Resolved::Unresolved, component);
                            };
                            let Some(next) =
                                self.components().and_then(|c| c.schemas.get(name.as_ref()))
                            else {
                                return (Resolved::Unresolved, Some(name));
                            };
                            component = Some(name);
                            schema = next;
                        }
                    },
                }
            }
            (Resolved::Unresolved, component)
        }

        fn reference(mut self) -> Result<Reference, TooComplex> {
            let spec = self.spec;
            let mut groups: Vec<OperationGroup> = Vec::new();
            for t in &spec.tags {
                let description_html = self.markdown(t.description.as_deref())?;
                groups.push(OperationGroup {
                    tag: t.name.clone(),
                    description_html,
                    operations: Vec::new(),
                });
            }
            for (path, item) in spec.paths.iter().flatten() {
                for (method, op) in item.methods() {
                    let mut parameters: Vec<Parameter> = Vec::new();
                    for p in item.parameters.iter().chain(op.parameters.iter()) {
                        let Some(p) = self.follow(p, "parameters", |c| &c.parameters) else {
                            continue;
                        };
                        let location = format!("{:?}", p.location).to_lowercase();
                        parameters.retain(|q| !(q.name == p.name && q.location == location));
                        let description = p.description.as_deref().or_else(|| {
                            parameter_schema_description(self.resolve_opt(p.schema.as_ref()))
                        });
                        let ty = match &p.schema {
                            // One level is enough for "array of string" or "Pet".
                            Some(s) => self.node(s, None, false, 1)?.ty,
                            None => "any".into(),
                        };
                        parameters.push(Parameter {
                            ty,
                            required: p.required.unwrap_or(false) || location == "path",
                            name: p.name.clone(),
                            location,
                            description_html: self.markdown(description)?,
                        });
                    }
                    let request = match op
                        .request_body
                        .as_ref()
                        .and_then(|b| self.follow(b, "requestBodies", |c| &c.request_bodies))
                    {
                        Some(b) => Some(Body {
                            description_html: self.markdown(b.description.as_deref())?,
                            required: b.required.unwrap_or(false),
                            content: self.contents(&b.content)?,
                        }),
                        None => None,
                    };
                    let mut responses = Vec::new();
                    for (status, r) in op.responses.iter().flatten() {
                        let Some(r) = self.follow(r, "responses", |c| &c.responses) else {
                            continue;
                        };
                        responses.push(Response {
                            status: status.clone(),
                            description_html: self.markdown(r.description.as_deref())?,
                            content: self.contents(&r.content)?,
                        });
                    }
                    let method = method.as_str().to_uppercase();
                    let operation = Operation {
                        anchor: anchor(&method, path),
                        method,
                        path: path.clone(),
                        summary_html: self.inline_markdown(op.summary.as_deref())?,
                        description_html: self.markdown(op.description.as_deref())?,
                        deprecated: op.deprecated.unwrap_or(false),
                        parameters,
                        request,
                        responses,
                    };
                    let tag = op.tags.first().cloned().unwrap_or_else(|| "Other".into());
                    match groups.iter_mut().find(|g| g.tag == tag) {
                        Some(g) => g.operations.push(operation),
                        None => groups.push(OperationGroup {
                            tag,
                            description_html: None,
                            operations: vec![operation],
                        }),
                    }
                }
            }
            groups.retain(|g| !g.operations.is_empty());
            Ok(Reference {
                format: REFERENCE_FORMAT,
                openapi: spec.openapi.clone(),
                title: spec.info.title.clone(),
                version: spec.info.version.clone(),
                servers: spec.servers.iter().map(|s| s.url.clone()).collect(),
                groups,
                routes: Vec::new(),
            })
        }

        fn resolve_opt(&self, schema: Option<&'a Schema>) -> Option<&'a ObjectSchema> {
            match self.resolve(schema?).0 {
                Resolved::Object(o) => Some(o),
                _ => None,
            }
        }

        fn contents(
            &mut self,
            content: &'a oas3::Map<String, oas3::spec::MediaType>,
        ) -> Result<Vec<Content>, TooComplex> {
            let mut out = Vec::new();
            for (media_type, m) in content {
                let schema = match &m.schema {
                    Some(s) => Some(self.node(s, None, false, MAX_DEPTH)?),
                    None => None,
                };
                out.push(Content {
                    media_type: media_type.clone(),
                    schema,
                });
            }
            Ok(out)
        }

        /// A short name for a schema without expanding it: its component's name, or its type.
        fn label(&self, schema: &'a Schema) -> String {
            if let Some(name) = ref_name(schema) {
                return name;
            }
            match self.resolve(schema).0 {
                Resolved::Object(o) => type_name(o),
                Resolved::Boolean(true) => "any".into(),
                Resolved::Boolean(false) => "nothing".into(),
                Resolved::Unresolved => "unresolved reference".into(),
            }
        }

        fn node(
            &mut self,
            schema: &'a Schema,
            name: Option<String>,
            required: bool,
            depth: usize,
        ) -> Result<SchemaNode, TooComplex> {
            self.spend(1)?;
            let named = ref_name(schema);
            let mut node = SchemaNode {
                name,
                ty: String::new(),
                required,
                description_html: None,
                recursive: None,
                fields: Vec::new(),
            };
            let (object, component) = match self.resolve(schema) {
                (Resolved::Object(o), component) => (o, component),
                (Resolved::Boolean(b), _) => {
                    node.ty = if b { "any" } else { "nothing" }.into();
                    return Ok(node);
                }
                (Resolved::Unresolved, _) => {
                    node.ty = named.unwrap_or_else(|| "unresolved reference".into());
                    return Ok(node);
                }
            };
            // OpenAPI 3.1 lets a `$ref` carry its own description, which wins.
            let own = match schema {
                Schema::Object(o) => match o.as_ref() {
                    ObjectOrReference::Ref { description, .. } => description.as_deref(),
                    ObjectOrReference::Object(_) => None,
                },
                Schema::Boolean(_) => None,
            };
            node.description_html = self.markdown(own.or(object.description.as_deref()))?;
            if let Some(c) = &component {
                if self.expanding.contains(c) {
                    let shown = named.unwrap_or_else(|| c.to_string());
                    node.ty = shown.clone();
                    node.recursive = Some(shown);
                    return Ok(node);
                }
            }
            if depth == 0 {
                node.ty = named.unwrap_or_else(|| type_name(object));
                return Ok(node);
            }
            let pushed = component.is_some();
            if let Some(c) = component {
                self.expanding.push(c);
            }
            let expanded = self.expand(object, &mut node, depth);
            if pushed {
                self.expanding.pop();
            }
            expanded?;
            if let Some(n) = &named {
                if node.fields.is_empty() || node.ty == "object" {
                    node.ty = if node.ty == "object" {
                        n.clone()
                    } else {
                        format!("{} ({n})", node.ty)
                    };
                }
            }
            Ok(node)
        }

        /// Fills in `node`'s type and fields from `object`, one level down.
        fn expand(
            &mut self,
            object: &'a ObjectSchema,
            node: &mut SchemaNode,
            depth: usize,
        ) -> Result<(), TooComplex> {
            node.ty = type_name(object);
            if let Some(items) = &object.items {
                let item = self.node(items, None, false, depth - 1)?;
                node.ty = format!("array of {}", ref_name(items).unwrap_or(item.ty));
                node.recursive = item.recursive;
                node.fields = item.fields;
                return Ok(());
            }
            for (prop, s) in &object.properties {
                let field = self.node(
                    s,
                    Some(prop.clone()),
                    object.required.contains(prop),
                    depth - 1,
                )?;
                node.fields.push(field);
            }
            for (label, variants) in [
                ("all of", &object.all_of),
                ("one of", &object.one_of),
                ("any of", &object.any_of),
            ] {
                if variants.is_empty() {
                    continue;
                }
                self.spend(variants.len())?;
                let names: Vec<String> = variants.iter().map(|v| self.label(v)).collect();
                node.ty = format!("{label}: {}", names.join(", "));
                if label == "all of" {
                    for v in variants {
                        let part = self.node(v, None, false, depth - 1)?;
                        node.fields.extend(part.fields);
                    }
                }
            }
            Ok(())
        }
    }

    /// The description a parameter's schema carries (many documents put it there only).
    fn parameter_schema_description(schema: Option<&ObjectSchema>) -> Option<&str> {
        schema.and_then(|s| s.description.as_deref())
    }

    /// The name in `#/components/<kind>/<name>` (JSON-pointer unescaped), if `path` is one.
    fn component_name<'p>(path: &'p str, kind: &str) -> Option<Cow<'p, str>> {
        let name = path
            .strip_prefix("#/components/")?
            .strip_prefix(kind)?
            .strip_prefix('/')?;
        if name.contains('~') {
            Some(Cow::Owned(name.replace("~1", "/").replace("~0", "~")))
        } else {
            Some(Cow::Borrowed(name))
        }
    }

    fn anchor(method: &str, path: &str) -> String {
        let mut out = format!("op-{}", method.to_lowercase());
        for c in path.chars() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        out.trim_end_matches('-').to_string()
    }

    /// The referenced component's name, if `schema` is a `$ref`.
    fn ref_name(schema: &Schema) -> Option<String> {
        match schema {
            Schema::Object(o) => match o.as_ref() {
                ObjectOrReference::Ref { ref_path, .. } => {
                    ref_path.rsplit('/').next().map(str::to_string)
                }
                ObjectOrReference::Object(_) => None,
            },
            Schema::Boolean(_) => None,
        }
    }

    fn type_name(o: &ObjectSchema) -> String {
        let base = match &o.schema_type {
            Some(TypeSet::Single(t)) => type_label(*t).to_string(),
            Some(TypeSet::Multiple(ts)) => ts
                .iter()
                .map(|t| type_label(*t))
                .collect::<Vec<_>>()
                .join(" | "),
            None if !o.properties.is_empty() => "object".into(),
            None => "any".into(),
        };
        let mut out = match &o.format {
            Some(f) => format!("{base} ({f})"),
            None => base,
        };
        if !o.enum_values.is_empty() {
            let values: Vec<String> = o
                .enum_values
                .iter()
                .take(8)
                .map(|v| v.to_string())
                .collect();
            out = format!("{out}, one of {}", values.join(", "));
        }
        out
    }

    fn type_label(t: Type) -> &'static str {
        match t {
            Type::Boolean => "boolean",
            Type::Integer => "integer",
            Type::Number => "number",
            Type::String => "string",
            Type::Array => "array",
            Type::Object => "object",
            Type::Null => "null",
        }
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    const PETSTORE: &str = r##"
openapi: 3.0.3
info:
  title: Petstore
  version: 1.0.0
  description: Pets for everyone.
servers:
  - url: https://pets.example.com/v1
tags:
  - name: pets
    description: Everything about pets
paths:
  /pets:
    get:
      tags: [pets]
      summary: List pets
      parameters:
        - name: limit
          in: query
          schema: { type: integer, format: int32 }
      responses:
        "200":
          description: A page of pets
          content:
            application/json:
              schema:
                type: array
                items: { $ref: "#/components/schemas/Pet" }
    post:
      tags: [pets]
      summary: Add a pet
      requestBody:
        required: true
        content:
          application/json:
            schema: { $ref: "#/components/schemas/Pet" }
      responses:
        "201": { description: Created }
  /pets/{id}:
    parameters:
      - name: id
        in: path
        schema: { type: string }
    get:
      summary: One pet
      deprecated: true
      responses:
        "200":
          description: The pet
          content:
            application/json:
              schema: { $ref: "#/components/schemas/Pet" }
components:
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        id: { type: integer, format: int64 }
        name: { type: string, description: The pet's name }
        status: { type: string, enum: [available, sold] }
        owner: { $ref: "#/components/schemas/Owner" }
    Owner:
      type: object
      properties:
        pet: { $ref: "#/components/schemas/Pet" }
"##;

    #[test]
    fn yaml_document_becomes_a_reference() {
        let r = parse(PETSTORE).unwrap();
        assert_eq!(
            (r.title.as_str(), r.version.as_str()),
            ("Petstore", "1.0.0")
        );
        assert_eq!(r.servers, vec!["https://pets.example.com/v1"]);
        assert_eq!(r.operation_count(), 3);
        let pets = &r.groups[0];
        assert_eq!(pets.tag, "pets");
        assert_eq!(pets.operations.len(), 2);
        let list = &pets.operations[0];
        assert_eq!((list.method.as_str(), list.path.as_str()), ("GET", "/pets"));
        assert_eq!(list.parameters[0].ty, "integer (int32)");
        let ok = &list.responses[0];
        let schema = ok.content[0].schema.as_ref().unwrap();
        assert_eq!(schema.ty, "array of Pet");
        let name = schema
            .fields
            .iter()
            .find(|f| f.name.as_deref() == Some("name"))
            .unwrap();
        assert!(name.required);
        assert_eq!(
            name.description_html.as_deref(),
            Some("<p>The pet's name</p>\n")
        );
        let status = schema
            .fields
            .iter()
            .find(|f| f.name.as_deref() == Some("status"))
            .unwrap();
        assert!(status.ty.contains("\"available\""), "{}", status.ty);
        // Untagged operations land in "Other"; path-level parameters are inherited and required.
        let other = &r.groups[1];
        assert_eq!(other.tag, "Other");
        let one = &other.operations[0];
        assert!(one.deprecated);
        assert_eq!(one.anchor, "op-get-pets-id");
        assert!(one.parameters[0].required);
    }

    #[test]
    fn operations_carry_the_scopes_their_security_asks_for() {
        let doc = r#"{
          "openapi": "3.1.0",
          "info": {"title": "Pets", "version": "1"},
          "components": {"securitySchemes": {
            "key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"},
            "oauth": {"type": "oauth2", "flows": {"clientCredentials": {"tokenUrl": "https://x.example/t", "scopes": {}}}}
          }},
          "security": [{"oauth": ["pets:read"]}],
          "paths": {
            "/pets": {
              "get": {"responses": {"200": {"description": "ok"}}},
              "post": {"security": [{"oauth": ["pets:write"], "key": ["pets:admin"]}, {"oauth": ["root"]}],
                       "responses": {"201": {"description": "ok"}}}
            },
            "/health": {"get": {"security": [], "responses": {"200": {"description": "ok"}}}},
            "/open": {"get": {"security": [{}, {"oauth": ["x"]}], "responses": {"200": {"description": "ok"}}}},
            "/plain": {"get": {"security": [{"key": []}], "responses": {"200": {"description": "ok"}}}}
          }
        }"#;
        let routes = parse(doc).unwrap().routes;
        let scopes = |method: &str, path: &str| {
            routes
                .iter()
                .find(|r| r.method == method && r.path == path)
                .map(|r| r.scopes.clone())
                .unwrap()
        };
        let sets = |s: &[&[&str]]| {
            s.iter()
                .map(|set| set.iter().map(|x| x.to_string()).collect())
                .collect::<Vec<Vec<String>>>()
        };
        assert_eq!(routes.len(), 5);
        assert_eq!(
            scopes("GET", "/pets"),
            sets(&[&["pets:read"]]),
            "the document's"
        );
        assert_eq!(
            scopes("POST", "/pets"),
            sets(&[&["pets:admin", "pets:write"], &["root"]])
        );
        assert!(
            scopes("GET", "/health").is_empty(),
            "security: [] removes it"
        );
        assert!(scopes("GET", "/open").is_empty(), "{{}} makes it optional");
        assert!(scopes("GET", "/plain").is_empty(), "a key without scopes");
    }

    #[test]
    fn recursive_schemas_are_marked_not_expanded_again() {
        let r = parse(PETSTORE).unwrap();
        let pet = r.groups[1].operations[0].responses[0].content[0]
            .schema
            .as_ref()
            .unwrap();
        assert_eq!(pet.ty, "Pet");
        let owner = pet
            .fields
            .iter()
            .find(|f| f.name.as_deref() == Some("owner"))
            .unwrap();
        assert_eq!(
            (owner.ty.as_str(), owner.recursive.as_deref()),
            ("Owner", None)
        );
        // Owner.pet refers back to Pet, which is being expanded: a marker, no fields.
        let back = &owner.fields[0];
        assert_eq!(back.name.as_deref(), Some("pet"));
        assert_eq!(back.recursive.as_deref(), Some("Pet"));
        assert!(back.fields.is_empty());
    }

    /// A ~1 KB schema whose 20 properties each refer back to it: expanded naively to depth 6
    /// it is 20^6 (64 million) nodes.
    pub(crate) fn self_referencing(properties: usize) -> String {
        let mut doc = String::from(
            "openapi: 3.0.3\ninfo: {title: Tree, version: '1'}\npaths:\n  /nodes:\n    get:\n      \
             responses:\n        '200':\n          description: ok\n          content:\n            \
             application/json:\n              schema: {$ref: '#/components/schemas/Node'}\n\
             components:\n  schemas:\n    Node:\n      type: object\n      properties:\n",
        );
        for i in 0..properties {
            doc.push_str(&format!(
                "        child{i:02}: {{$ref: '#/components/schemas/Node'}}\n"
            ));
        }
        doc
    }

    #[test]
    fn a_schema_referring_to_itself_twenty_times_stays_small_and_fast() {
        let doc = self_referencing(20);
        assert!(doc.len() < 1500, "{}", doc.len());
        let started = std::time::Instant::now();
        let r = parse(&doc).unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        let node = r.groups[0].operations[0].responses[0].content[0]
            .schema
            .as_ref()
            .unwrap();
        assert_eq!(node.ty, "Node");
        assert_eq!(node.fields.len(), 20);
        for f in &node.fields {
            assert_eq!(f.recursive.as_deref(), Some("Node"), "{f:?}");
            assert!(f.fields.is_empty());
        }
    }

    #[test]
    fn a_document_over_the_work_budget_is_refused() {
        // No cycle, but every level refers to the next 20 times: 20^5 nodes at depth 6.
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
        let started = std::time::Instant::now();
        let e = parse(&doc).unwrap_err();
        assert!(e.contains("too complex"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        // The same budget mechanism, small: Petstore needs more than 5 nodes.
        assert!(parse_with_budget(PETSTORE, 5)
            .unwrap_err()
            .contains("more than 5"));
        assert!(parse_with_budget(PETSTORE, 500).is_ok());
    }

    #[test]
    fn refs_that_refer_to_themselves_do_not_crash() {
        let doc = r##"
openapi: 3.1.0
info: {title: Loops, version: '1'}
paths:
  /x:
    parameters:
      - $ref: '#/components/parameters/P'
    get:
      requestBody: {$ref: '#/components/requestBodies/B'}
      responses:
        '200': {$ref: '#/components/responses/R'}
        '201':
          description: ok
          content:
            application/json:
              schema: {$ref: '#/components/schemas/A'}
components:
  schemas:
    A: {$ref: '#/components/schemas/B'}
    B: {$ref: '#/components/schemas/A'}
  parameters:
    P: {$ref: '#/components/parameters/P'}
  requestBodies:
    B: {$ref: '#/components/requestBodies/B'}
  responses:
    R: {$ref: '#/components/responses/R'}
"##;
        let r = parse(doc).unwrap();
        let op = &r.groups[0].operations[0];
        assert!(op.parameters.is_empty() && op.request.is_none());
        assert_eq!(op.responses.len(), 1);
        assert_eq!(op.responses[0].content[0].schema.as_ref().unwrap().ty, "A");
    }

    #[test]
    fn a_yaml_alias_bomb_is_refused_quickly() {
        let mut doc = String::from("openapi: 3.0.3\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let prev = i - 1;
            doc.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let started = std::time::Instant::now();
        let e = parse(&doc).unwrap_err();
        assert!(e.contains("not valid YAML"), "{e}");
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn descriptions_are_markdown_rendered_and_sanitized() {
        let doc = r##"
openapi: 3.0.3
info: {title: Music, version: '1'}
paths:
  /albums/{id}:
    get:
      summary: Get an *album*
      description: "_**NOTE**_: see <script>alert(1)</script>[docs](javascript:alert(2))."
      parameters:
        - name: id
          in: path
          schema:
            type: string
            description: The [Spotify ID](/documentation/web-api/#ids) of the album.
        - name: market
          in: query
          description: An **ISO** code.
          schema: {type: string, description: ignored}
      responses:
        '200':
          description: An `Album`.
          content:
            application/json:
              schema:
                type: object
                properties:
                  name: {type: string, description: "The <img src=x onerror=alert(3)> name."}
"##;
        let r = parse(doc).unwrap();
        let op = &r.groups[0].operations[0];
        assert_eq!(op.summary_html.as_deref(), Some("Get an <em>album</em>"));
        let d = op.description_html.as_deref().unwrap();
        assert!(d.contains("<em><strong>NOTE</strong></em>"), "{d}");
        assert!(!d.contains("<script") && !d.contains("javascript:"), "{d}");
        let id = op.parameters[0].description_html.as_deref().unwrap();
        assert!(id.contains("Spotify ID") && !id.contains("href"), "{id}");
        assert_eq!(
            op.parameters[1].description_html.as_deref(),
            Some("<p>An <strong>ISO</strong> code.</p>\n")
        );
        let ok = &op.responses[0];
        assert!(ok
            .description_html
            .as_deref()
            .unwrap()
            .contains("<code>Album</code>"));
        let name = &ok.content[0].schema.as_ref().unwrap().fields[0];
        let html = name.description_html.as_deref().unwrap();
        assert!(!html.contains("onerror"), "{html}");
    }

    #[test]
    fn what_real_documents_get_wrong_is_smoothed_over() {
        // From OpenAI's (3.1 with 3.0 idioms) and Plaid's documents.
        let doc = r##"
openapi: 3.1.0
info: {title: Real, version: '1'}
paths:
  /jobs:
    post:
      externalDocs: {url: /api/products/#jobs}
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties:
                  seed: {type: integer, minimum: -9223372036854776000, maximum: 9223372036854776000}
                  rate: {type: number, minimum: 0, exclusiveMinimum: true}
                  size: {type: integer, maximum: 10, exclusiveMaximum: false}
"##;
        let r = parse(doc).unwrap();
        let fields = &r.groups[0].operations[0].responses[0].content[0]
            .schema
            .as_ref()
            .unwrap()
            .fields;
        assert_eq!(fields.len(), 3);
    }

    #[test]
    fn a_long_description_repeated_everywhere_is_refused() {
        let mut doc = String::from(
            "openapi: 3.0.3\ninfo: {title: Long, version: '1'}\npaths:\n  /a:\n    get:\n      \
             responses:\n        '200':\n          description: ok\n          content:\n            \
             application/json:\n              schema: {$ref: '#/components/schemas/Root'}\n\
             components:\n  schemas:\n    Root:\n      type: object\n      properties:\n",
        );
        for i in 0..200 {
            doc.push_str(&format!(
                "        p{i}: {{$ref: '#/components/schemas/Long'}}\n"
            ));
        }
        doc.push_str(&format!(
            "    Long: {{type: string, description: '{}'}}\n",
            "word ".repeat(40_000)
        ));
        let e = parse(&doc).unwrap_err();
        assert!(e.contains("descriptions"), "{e}");
    }

    #[test]
    fn sizes_read_in_megabytes() {
        assert_eq!(megabytes(1_572_864), "1.5 MB");
        assert_eq!(megabytes(MAX_DOCUMENT_BYTES), "8 MB");
        assert_eq!(megabytes(MAX_DOCUMENT_BYTES + 1), "8.1 MB");
        assert_eq!(megabytes(700 * 1024), "0.7 MB");
    }

    #[test]
    fn json_documents_parse_too() {
        let doc = r#"{"openapi":"3.1.0","info":{"title":"T","version":"2"},"paths":{"/x":{"get":{"responses":{"204":{"description":"none"}}}}}}"#;
        let r = parse(doc).unwrap();
        assert_eq!(r.operation_count(), 1);
        assert_eq!(r.groups[0].operations[0].responses[0].status, "204");
    }

    #[test]
    fn errors_say_where() {
        let cases = [
            ("", "empty"),
            ("{\"openapi\": ", "not valid JSON (line 1"),
            ("openapi: 3.0.0\ninfo: [\n", "not valid YAML (line"),
            ("swagger: '2.0'\n", "Swagger 2.0"),
            ("openapi: 2.5.0\n", "not supported"),
            ("info: {}\n", "`openapi` field"),
            ("- a\n- b\n", "is an object"),
            ("openapi: 3.1.0\npaths: {}\n", "info"),
            (
                "openapi: 3.1.0\ninfo: {title: T, version: '1'}\npaths:\n  /x:\n    get:\n      parameters: 5\n",
                "paths./x.get.parameters",
            ),
        ];
        for (doc, expected) in cases {
            let e = parse(doc).unwrap_err();
            assert!(e.contains(expected), "{doc:?}: {e}");
        }
        assert_eq!(
            parse(&"x".repeat(MAX_DOCUMENT_BYTES + 1)).unwrap_err(),
            "The document is 8.1 MB; the limit is 8 MB."
        );
    }
}
