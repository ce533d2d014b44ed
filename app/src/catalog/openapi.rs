//! OpenAPI 3.0/3.1 documents (JSON or YAML): parsed with the `oas3` crate when uploaded,
//! with an error that says where the problem is, and turned into [`Reference`], the
//! browsable form the API page renders (operations by tag, parameters, bodies, responses).

use serde::{Deserialize, Serialize};

/// Documents larger than this are refused (the request body limit is 1 MiB).
pub const MAX_DOCUMENT_BYTES: usize = 768 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub openapi: String,
    pub title: String,
    pub version: String,
    pub description: Option<String>,
    pub servers: Vec<String>,
    pub groups: Vec<OperationGroup>,
}

impl Reference {
    pub fn operation_count(&self) -> usize {
        self.groups.iter().map(|g| g.operations.len()).sum()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperationGroup {
    pub tag: String,
    pub description: Option<String>,
    pub operations: Vec<Operation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Operation {
    /// A stable anchor for links (`op-get-pets-id`).
    pub anchor: String,
    pub method: String,
    pub path: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub deprecated: bool,
    pub parameters: Vec<Parameter>,
    pub request: Option<Body>,
    pub responses: Vec<Response>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Parameter {
    pub name: String,
    pub location: String,
    pub required: bool,
    pub ty: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub description: Option<String>,
    pub required: bool,
    pub content: Vec<Content>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub status: String,
    pub description: Option<String>,
    pub content: Vec<Content>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    pub media_type: String,
    pub schema: Option<SchemaNode>,
}

/// A schema as a tree of named fields: `ty` is a short description ("string (date-time)",
/// "array of Pet", "object"); `fields` are an object's properties or an array item's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaNode {
    pub name: Option<String>,
    pub ty: String,
    pub required: bool,
    pub description: Option<String>,
    pub fields: Vec<SchemaNode>,
}

#[cfg(feature = "ssr")]
pub use parse::parse;

#[cfg(feature = "ssr")]
mod parse {
    use super::*;
    use oas3::spec::{
        ObjectOrReference, ObjectSchema, Schema, SchemaType as Type, SchemaTypeSet as TypeSet, Spec,
    };

    /// Nested schemas deeper than this are shown by name only.
    const MAX_DEPTH: usize = 6;

    /// Parses a document and derives its reference, or says what is wrong and where.
    pub fn parse(source: &str) -> Result<Reference, String> {
        if source.len() > MAX_DOCUMENT_BYTES {
            return Err(format!(
                "The document is larger than {} KiB.",
                MAX_DOCUMENT_BYTES / 1024
            ));
        }
        let trimmed = source.trim_start();
        if trimmed.is_empty() {
            return Err("The document is empty.".into());
        }
        // A first look as plain data, for the version and a syntax error with its position.
        let value: serde_json::Value = if trimmed.starts_with('{') {
            serde_json::from_str(source).map_err(|e| {
                format!(
                    "This is not valid JSON (line {}, column {}): {e}",
                    e.line(),
                    e.column()
                )
            })?
        } else {
            serde_yaml_ng::from_str(source).map_err(|e| match e.location() {
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
        let spec: Spec = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                format!("The document is not valid OpenAPI: {inner}")
            } else {
                format!("The document is not valid OpenAPI at `{path}`: {inner}")
            }
        })?;
        Ok(reference(&spec))
    }

    fn reference(spec: &Spec) -> Reference {
        let mut groups: Vec<OperationGroup> = spec
            .tags
            .iter()
            .map(|t| OperationGroup {
                tag: t.name.clone(),
                description: t.description.clone(),
                operations: Vec::new(),
            })
            .collect();
        for (path, item) in spec.paths.iter().flatten() {
            let shared: Vec<_> = item.parameters.iter().collect();
            for (method, op) in item.methods() {
                let mut parameters: Vec<Parameter> = Vec::new();
                for p in shared.iter().copied().chain(op.parameters.iter()) {
                    let Ok(p) = p.resolve(spec) else { continue };
                    let location = format!("{:?}", p.location).to_lowercase();
                    parameters.retain(|q| !(q.name == p.name && q.location == location));
                    parameters.push(Parameter {
                        ty: p
                            .schema
                            .as_ref()
                            .map(|s| node(spec, s, None, false, MAX_DEPTH).ty)
                            .unwrap_or_else(|| "any".into()),
                        required: p.required.unwrap_or(false) || location == "path",
                        name: p.name,
                        location,
                        description: p.description,
                    });
                }
                let request = op
                    .request_body
                    .as_ref()
                    .and_then(|b| b.resolve(spec).ok())
                    .map(|b| Body {
                        description: b.description,
                        required: b.required.unwrap_or(false),
                        content: contents(spec, &b.content),
                    });
                let responses = op
                    .responses
                    .iter()
                    .flatten()
                    .filter_map(|(status, r)| {
                        let r = r.resolve(spec).ok()?;
                        Some(Response {
                            status: status.clone(),
                            description: r.description,
                            content: contents(spec, &r.content),
                        })
                    })
                    .collect();
                let method = method.as_str().to_uppercase();
                let operation = Operation {
                    anchor: anchor(&method, path),
                    method,
                    path: path.clone(),
                    summary: op.summary.clone(),
                    description: op.description.clone(),
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
                        description: None,
                        operations: vec![operation],
                    }),
                }
            }
        }
        groups.retain(|g| !g.operations.is_empty());
        Reference {
            openapi: spec.openapi.clone(),
            title: spec.info.title.clone(),
            version: spec.info.version.clone(),
            description: spec.info.description.clone(),
            servers: spec.servers.iter().map(|s| s.url.clone()).collect(),
            groups,
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

    fn contents(spec: &Spec, content: &oas3::Map<String, oas3::spec::MediaType>) -> Vec<Content> {
        content
            .iter()
            .map(|(media_type, m)| Content {
                media_type: media_type.clone(),
                schema: m
                    .schema
                    .as_ref()
                    .map(|s| node(spec, s, None, false, MAX_DEPTH)),
            })
            .collect()
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

    fn node(
        spec: &Spec,
        schema: &Schema,
        name: Option<String>,
        required: bool,
        depth: usize,
    ) -> SchemaNode {
        let named = ref_name(schema);
        let leaf = |ty: String, description: Option<String>| SchemaNode {
            name: name.clone(),
            ty,
            required,
            description,
            fields: Vec::new(),
        };
        let object = match schema.resolve(spec) {
            Ok(Schema::Object(o)) => match *o {
                ObjectOrReference::Object(o) => o,
                ObjectOrReference::Ref { ref_path, .. } => return leaf(ref_path, None),
            },
            Ok(Schema::Boolean(b)) => {
                return leaf(if b.0 { "any" } else { "nothing" }.into(), None)
            }
            Err(_) => return leaf(named.unwrap_or_else(|| "unresolved reference".into()), None),
        };
        if depth == 0 {
            return leaf(
                named.unwrap_or_else(|| type_name(&object)),
                object.description.clone(),
            );
        }
        let mut fields = Vec::new();
        let mut ty = type_name(&object);
        if let Some(items) = &object.items {
            let item = node(spec, items, None, false, depth - 1);
            ty = format!("array of {}", ref_name(items).unwrap_or(item.ty.clone()));
            fields = item.fields;
        } else {
            for (prop, s) in &object.properties {
                fields.push(node(
                    spec,
                    s,
                    Some(prop.clone()),
                    object.required.contains(prop),
                    depth - 1,
                ));
            }
            for (label, variants) in [
                ("all of", &object.all_of),
                ("one of", &object.one_of),
                ("any of", &object.any_of),
            ] {
                if variants.is_empty() {
                    continue;
                }
                let names: Vec<String> = variants
                    .iter()
                    .map(|v| ref_name(v).unwrap_or_else(|| node(spec, v, None, false, 0).ty))
                    .collect();
                ty = format!("{label}: {}", names.join(", "));
                if label == "all of" {
                    for v in variants {
                        fields.extend(node(spec, v, None, false, depth - 1).fields);
                    }
                }
            }
        }
        if let Some(n) = &named {
            if fields.is_empty() || ty == "object" {
                ty = if ty == "object" {
                    n.clone()
                } else {
                    format!("{ty} ({n})")
                };
            }
        }
        SchemaNode {
            name,
            ty,
            required,
            description: object.description.clone(),
            fields,
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
        assert_eq!(name.description.as_deref(), Some("The pet's name"));
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
    fn recursive_schemas_stop() {
        let r = parse(PETSTORE).unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.len() < 200_000);
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
        assert!(parse(&"x".repeat(MAX_DOCUMENT_BYTES + 1))
            .unwrap_err()
            .contains("larger"));
    }
}
