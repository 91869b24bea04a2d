//! Checking: resolves every name, types every expression, infers every
//! stream's record type, and evaluates every constant, turning the syntax
//! tree into a `Program` the planner uses as it is.
//!
//! Like parsing, checking collects and continues: each item is checked even
//! when an earlier one failed, and a name whose definition failed is not
//! reported again where it is used.

mod args;
mod attributes;
pub mod config;
pub mod connectors;
mod constant;
mod describe;
mod expr;
pub mod functions;
mod nexmark;
pub mod ops;
pub mod patterns;
pub mod postgres;
pub mod program;
mod streams;
pub mod types;
pub mod units;

use std::collections::HashMap;
use std::sync::Arc;

use crate::diag::{did_you_mean, one_of, Code, Diagnostic, Span};
use crate::syntax::ast;
use crate::syntax::Parsed;

pub use attributes::{ATTRIBUTE_NAMES, LOOKUP_POLL, MAX_ASYNC_CAPACITY, MAX_LOOKUP_CONNECTIONS, MAX_PARALLELISM};
pub use config::Config;
pub use connectors::{SINK_CONNECTORS, SOURCE_CONNECTORS};
pub use describe::describe;
pub use program::Program;
pub use units::{format_duration, format_size};

use attributes::{check_attributes, watermark_field, Carrier};
use program::{LetId, LetStream, Pipeline, Source, SourceId, Watermark};
use types::{Field, RecordType, Type};

/// The result of checking: a program when there were no errors, and every
/// diagnostic (warnings come with a program too).
pub struct Checked {
    pub program: Option<Program>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks a parsed file.
pub fn check(parsed: &Parsed) -> Checked {
    let mut checker = Checker::new(&parsed.unparsed_names);
    checker.check_file(&parsed.file);
    checker.finish(parsed.diagnostics.iter().any(Diagnostic::is_error))
}

/// Parses and checks `.flow` text: the whole front end. Diagnostics of both
/// stages come back together, in source order.
pub fn check_source(text: &str) -> Checked {
    let parsed = crate::syntax::parse(text);
    let checked = check(&parsed);
    let mut all = crate::diag::Diagnostics::new();
    all.extend(parsed.diagnostics);
    all.extend(checked.diagnostics);
    Checked { program: checked.program, diagnostics: all.into_sorted() }
}

/// What a stream name stands for while checking.
#[derive(Debug, Clone, Copy)]
enum StreamName {
    Source(SourceId),
    Let(LetId),
    Table(program::TableId),
    /// Defined, but its definition had errors: uses are not reported again.
    Failed,
}

/// A declared schema: its record (`None` when its declaration failed), its
/// name's span, and where it declares each field (name, type).
struct SchemaEntry {
    record: Option<Arc<RecordType>>,
    span: Span,
    field_spans: Vec<(Span, Span)>,
}

struct Checker<'a> {
    diagnostics: Vec<Diagnostic>,
    unparsed_names: &'a [String],
    config: Config,
    /// `None` for a schema whose declaration had errors.
    schemas: HashMap<String, SchemaEntry>,
    /// Streams defined so far, in file order.
    streams: HashMap<String, (StreamName, Span)>,
    /// Every stream defined anywhere in the file, for "used before defined".
    definitions: HashMap<String, Span>,
    uses: HashMap<String, usize>,
    sources: Vec<Source>,
    lets: Vec<LetStream>,
    tables: Vec<program::Table>,
    pipelines: Vec<Pipeline>,
}

impl<'a> Checker<'a> {
    fn new(unparsed_names: &'a [String]) -> Checker<'a> {
        Checker {
            diagnostics: Vec::new(),
            unparsed_names,
            config: Config::default(),
            schemas: HashMap::new(),
            streams: HashMap::new(),
            definitions: HashMap::new(),
            uses: HashMap::new(),
            sources: Vec::new(),
            lets: Vec::new(),
            tables: Vec::new(),
            pipelines: Vec::new(),
        }
    }

    fn check_file(&mut self, file: &ast::File) {
        // Schemas and settings hold wherever they stand; streams must be
        // defined above their first use, as data flows down the file.
        let mut config_keys: HashMap<String, Span> = HashMap::new();
        for item in &file.items {
            match item {
                ast::Item::Config(block) => self.check_config(block, &mut config_keys),
                ast::Item::Schema(schema) => self.check_schema(schema),
                ast::Item::Source(source) => {
                    self.definitions.entry(source.name.name.clone()).or_insert(source.name.span);
                }
                ast::Item::Let(let_decl) => {
                    self.definitions.entry(let_decl.name.name.clone()).or_insert(let_decl.name.span);
                }
                ast::Item::Table(table) => {
                    self.definitions.entry(table.name.name.clone()).or_insert(table.name.span);
                }
                ast::Item::Pipeline(_) => {}
            }
        }
        for item in &file.items {
            match item {
                ast::Item::Source(source) => self.check_source(source),
                ast::Item::Table(table) => self.check_table(table),
                ast::Item::Let(let_decl) => self.check_let(let_decl),
                ast::Item::Pipeline(pipeline) => self.check_pipeline(pipeline),
                ast::Item::Config(_) | ast::Item::Schema(_) => {}
            }
        }
    }

    fn check_config(&mut self, block: &ast::ConfigBlock, seen: &mut HashMap<String, Span>) {
        for entry in &block.entries {
            if let Some(previous) = seen.get(&entry.key.name) {
                self.diagnostics.push(
                    Diagnostic::error(Code::DuplicateConfigKey, format!("`{}` is set twice", entry.key.name))
                        .label(entry.span, "set again here")
                        .label(*previous, "first set here")
                        .help("keep one of them"),
                );
                continue;
            }
            seen.insert(entry.key.name.clone(), entry.span);
            self.config.set(&entry.key.name, entry.key.span, &entry.value, &mut self.diagnostics);
        }
    }

    fn check_schema(&mut self, schema: &ast::SchemaDecl) {
        if let Some(SchemaEntry { span: previous, .. }) = self.schemas.get(&schema.name.name) {
            let previous = *previous;
            self.diagnostics.push(duplicate_definition("schema", &schema.name, previous));
            return;
        }
        let mut fields: Vec<Field> = Vec::new();
        let mut field_spans: Vec<(Span, Span)> = Vec::new();
        let mut ok = true;
        for field in &schema.fields {
            if let Some(index) = fields.iter().position(|f| f.name == field.name.name) {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::DuplicateField,
                        format!("`{}` is declared twice in `{}`", field.name.name, schema.name.name),
                    )
                    .label(field.name.span, "declared again here")
                    .label(field_spans[index].0, "first declared here")
                    .help("give each field its own name"),
                );
                ok = false;
                continue;
            }
            let Some(ty) = Type::from_name(&field.type_name.name) else {
                let known = Type::ALL.map(Type::name);
                self.diagnostics.push(
                    Diagnostic::error(Code::UnknownType, format!("unknown type `{}`", field.type_name.name))
                        .label(field.type_name.span, "not a type")
                        .help(
                            did_you_mean(&field.type_name.name, known)
                                .unwrap_or_else(|| format!("the types are {}", one_of(known))),
                        ),
                );
                ok = false;
                continue;
            };
            fields.push(Field { name: field.name.name.clone(), ty });
            field_spans.push((field.name.span, field.type_name.span));
        }
        let record = ok.then(|| RecordType::new(fields));
        self.schemas.insert(schema.name.name.clone(), SchemaEntry { record, span: schema.name.span, field_spans });
    }

    /// Claims a stream name for a source or `let`; false if it is taken.
    fn define_stream(&mut self, name: &ast::Ident) -> bool {
        self.define_name(name, "stream")
    }

    /// Claims a name for a stream or a table (they share one namespace).
    fn define_name(&mut self, name: &ast::Ident, what: &str) -> bool {
        if let Some((_, previous)) = self.streams.get(&name.name) {
            let previous = *previous;
            self.diagnostics.push(duplicate_definition(what, name, previous));
            return false;
        }
        true
    }

    fn check_source(&mut self, decl: &ast::SourceDecl) {
        if !self.define_stream(&decl.name) {
            return;
        }
        let record = self.lookup_schema(&decl.schema);
        let (attributes, watermark) = check_attributes(&decl.attributes, Carrier::Source, &mut self.diagnostics);
        let checked = record.and_then(|record| {
            let field_spans = self.schema_field_spans(&decl.schema);
            let connector = connectors::check_source_connector(decl, &record, &field_spans, &mut self.diagnostics);
            let watermark = match watermark {
                None => Some(None),
                Some(attribute) => {
                    watermark_field(&attribute, &record, &decl.name.name, &mut self.diagnostics).map(|field| {
                        Some(Watermark {
                            field,
                            delay_nanos: attribute.delay_nanos,
                            every_records: attribute.every_records,
                            span: attribute.span,
                        })
                    })
                }
            };
            Some((record, connector?, watermark?))
        });
        let name = match checked {
            Some((record, connector, watermark)) => {
                self.sources.push(Source {
                    name: decl.name.name.clone(),
                    name_span: decl.name.span,
                    span: decl.span,
                    schema_name: decl.schema.name.clone(),
                    record,
                    connector,
                    attributes,
                    watermark,
                });
                StreamName::Source(self.sources.len() - 1)
            }
            None => StreamName::Failed,
        };
        self.streams.insert(decl.name.name.clone(), (name, decl.name.span));
    }

    fn check_table(&mut self, decl: &ast::TableDecl) {
        if !self.define_name(&decl.name, "table") {
            return;
        }
        let record = self.lookup_schema(&decl.schema);
        let checked = record.and_then(|record| {
            let connector = match decl.connector.name.name.as_str() {
                "file" => {
                    let as_source = ast::SourceDecl {
                        name: decl.name.clone(),
                        schema: decl.schema.clone(),
                        connector: decl.connector.clone(),
                        body: None,
                        attributes: vec![],
                        span: decl.span,
                    };
                    let field_spans = self.schema_field_spans(&decl.schema);
                    connectors::check_source_connector(&as_source, &record, &field_spans, &mut self.diagnostics)
                        .map(program::TableSource::File)
                }
                "postgres" => postgres::check_table(&decl.connector, &mut self.diagnostics)
                    .map(|(target, cache_rows)| program::TableSource::Postgres { target, cache_rows }),
                other => {
                    self.diagnostics.push(
                        Diagnostic::error(Code::BadTable, format!("a table is read from a file or PostgreSQL, not from `{other}`"))
                            .label(decl.connector.name.span, "not a table connector")
                            .help("read the table's rows from a csv or jsonl file, whole, before the first record: `file(\"cards.csv\")`, or find them by key in PostgreSQL: `postgres(table = \"cards\")`; a stream that changes is joined with `join`"),
                    );
                    return None;
                }
            };
            let key_field = match record.field_index(&decl.key.name) {
                Some(index) if record.fields()[index].ty == Type::Float => {
                    self.diagnostics.push(
                        Diagnostic::error(Code::BadTable, format!("a table cannot be keyed by the float `{}`", decl.key.name))
                            .label(decl.key.span, "a float")
                            .help("floats that print alike may differ in their last bits, and NaN equals nothing: key the table by an int or a string field"),
                    );
                    None
                }
                Some(index) => Some(index),
                None => {
                    self.diagnostics.push(
                        Diagnostic::error(Code::UnknownField, format!("unknown field `{}`", decl.key.name))
                            .label(decl.key.span, format!("not a field of `{}`", decl.schema.name))
                            .help(
                                did_you_mean(&decl.key.name, record.field_names())
                                    .unwrap_or_else(|| format!("the table's rows are {record}")),
                            ),
                    );
                    None
                }
            };
            Some((record, connector?, key_field?))
        });
        let name = match checked {
            Some((record, connector, key_field)) => {
                self.tables.push(program::Table {
                    name: decl.name.name.clone(),
                    name_span: decl.name.span,
                    span: decl.span,
                    record,
                    connector,
                    key_field,
                    key_span: decl.key.span,
                });
                StreamName::Table(self.tables.len() - 1)
            }
            None => StreamName::Failed,
        };
        self.streams.insert(decl.name.name.clone(), (name, decl.name.span));
    }

    /// Where schema `name` declares each field (name, type); empty if unknown.
    fn schema_field_spans(&self, name: &ast::Ident) -> Vec<(Span, Span)> {
        self.schemas.get(&name.name).map(|entry| entry.field_spans.clone()).unwrap_or_default()
    }

    fn lookup_schema(&mut self, name: &ast::Ident) -> Option<Arc<RecordType>> {
        if let Some(entry) = self.schemas.get(&name.name) {
            return entry.record.clone();
        }
        if self.unparsed_names.contains(&name.name) {
            return None;
        }
        let help = did_you_mean(&name.name, self.schemas.keys().map(String::as_str)).unwrap_or_else(|| {
            if self.definitions.contains_key(&name.name) {
                format!("`{}` is a stream; after `:` comes the schema of the source's records", name.name)
            } else {
                format!("declare it: `schema {} {{ field: type … }}`", name.name)
            }
        });
        self.diagnostics.push(
            Diagnostic::error(Code::UnknownSchema, format!("unknown schema `{}`", name.name))
                .label(name.span, "no schema has this name")
                .help(help),
        );
        None
    }

    fn check_let(&mut self, decl: &ast::LetDecl) {
        if !self.define_stream(&decl.name) {
            return;
        }
        let name = match self.check_stream(&decl.stream, streams::Context::Let) {
            Some((stream, _)) => {
                self.lets.push(LetStream {
                    name: decl.name.name.clone(),
                    name_span: decl.name.span,
                    span: decl.span,
                    stream,
                });
                StreamName::Let(self.lets.len() - 1)
            }
            None => StreamName::Failed,
        };
        self.streams.insert(decl.name.name.clone(), (name, decl.name.span));
    }

    fn check_pipeline(&mut self, pipeline: &ast::Pipeline) {
        if let Some((stream, Some(sink))) = self.check_stream(&pipeline.stream, streams::Context::Pipeline) {
            self.pipelines.push(Pipeline { stream, sink, span: pipeline.span });
        }
    }

    fn finish(mut self, parse_failed: bool) -> Checked {
        connectors::check_distinct_sink_files(&self.pipelines, &mut self.diagnostics);
        let has_errors = parse_failed || self.diagnostics.iter().any(Diagnostic::is_error);
        // With errors, a stream may look unused only because its reader failed.
        if !has_errors {
            let unused: Vec<Diagnostic> = (self.sources.iter().map(|s| (&s.name, s.name_span, "source")))
                .chain(self.lets.iter().map(|l| (&l.name, l.name_span, "`let` stream")))
                .chain(self.tables.iter().map(|t| (&t.name, t.name_span, "table")))
                .filter(|(name, _, _)| !self.uses.contains_key(name.as_str()))
                .map(|(name, span, what)| {
                    let help = if what == "table" {
                        format!("enrich a stream with it, such as `| lookup {name} by key_field`, or remove it")
                    } else {
                        format!("send it somewhere, such as `{name} | sink print`, or remove it")
                    };
                    Diagnostic::warning(Code::UnusedStream, format!("the {what} `{name}` is never used"))
                        .label(span, format!("nothing reads this {}", if what == "table" { "table" } else { "stream" }))
                        .help(help)
                })
                .collect();
            self.diagnostics.extend(unused);
        }
        if self.pipelines.is_empty() && !has_errors {
            self.diagnostics.push(
                Diagnostic::error(Code::NoPipeline, "the program has no pipeline, so there is nothing to run")
                    .help("add a pipeline that ends in a sink, such as `readings | sink print`"),
            );
        }
        let program = (!has_errors && !self.pipelines.is_empty()).then_some(Program {
            config: self.config,
            sources: self.sources,
            lets: self.lets,
            tables: self.tables,
            pipelines: self.pipelines,
        });
        Checked { program, diagnostics: self.diagnostics }
    }
}

fn duplicate_definition(what: &str, name: &ast::Ident, previous: Span) -> Diagnostic {
    Diagnostic::error(Code::DuplicateDefinition, format!("the {what} `{}` is defined twice", name.name))
        .label(name.span, "defined again here")
        .label(previous, "first defined here")
        .help(format!("rename one of them; every {what} needs its own name"))
}
