//! Stream expressions: resolves the head (a source, a `let`, a `union`),
//! threads the record type and key through the operators, and places the
//! sink. The operators themselves are checked in `operators`.

use crate::diag::{did_you_mean, Code, Diagnostic};
use crate::syntax::ast;

use super::program::{sources_feeding_head, Sink, SourceId, Stream, StreamHead};
use super::{Checker, StreamName};

/// Where a stream expression stands, which decides whether it may end in a sink.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Context {
    Pipeline,
    Let,
    UnionInput,
    /// The stream in a join's brackets.
    JoinInput,
}

impl Checker<'_> {
    /// Checks a stream expression; a pipeline's comes back with its sink.
    pub(super) fn check_stream(&mut self, stream: &ast::Stream, context: Context) -> Option<(Stream, Option<Sink>)> {
        let (head, mut record, mut key) = self.check_head(&stream.head)?;
        let mut feeding: Vec<SourceId> = sources_feeding_head(&self.lets, &head);

        let mut operators = Vec::new();
        let mut sink = None;
        let mut ok = true;
        for (index, op_use) in stream.operators.iter().enumerate() {
            if let ast::Operator::Sink(call) = &op_use.operator {
                ok &= self.place_sink(stream, index, context);
                if let Some(checked) = self.check_sink_use(op_use, call, &record) {
                    sink = Some(checked);
                } else {
                    ok = false;
                }
                continue;
            }
            match self.check_operator(op_use, &record, key.as_ref(), &mut feeding) {
                Some((operator, new_key)) => {
                    record = operator.output.clone();
                    key = new_key;
                    operators.push(operator);
                }
                // An operator that passes records through leaves the record type
                // known, so the rest can still be checked; after any other, later
                // operators would only repeat the damage.
                None if passes_records_through(&op_use.operator) => ok = false,
                None => return None,
            }
        }
        if context == Context::Pipeline && sink.is_none() && ok {
            let end = stream.operators.last().map_or(stream.span, |op| op.span);
            self.diagnostics.push(
                Diagnostic::error(Code::MissingSink, "this pipeline does not end in a sink")
                    .label(end, "records go nowhere after this")
                    .help("end it with `| sink print`, `| sink discard` or `| sink file(\"out.csv\")`; to name a stream for later use, write `let name = …`"),
            );
            return None;
        }
        ok.then_some((Stream { head, operators, record, key, span: stream.span }, sink))
    }

    /// A sink may only end a pipeline; says why not otherwise.
    fn place_sink(&mut self, stream: &ast::Stream, index: usize, context: Context) -> bool {
        let op_use = &stream.operators[index];
        let diagnostic = if index + 1 < stream.operators.len() {
            let after = &stream.operators[index + 1];
            Diagnostic::error(Code::SinkNotLast, "nothing can follow a sink")
                .label(after.keyword, "after the sink")
                .label(op_use.keyword, "the sink")
                .help("a sink ends a pipeline; to send a stream to two places, name it with `let` and start two pipelines from it")
        } else if context == Context::Let {
            Diagnostic::error(Code::SinkInLet, "a `let` stream cannot end in a sink").label(op_use.span, "a sink").help(
                "a `let` names a stream for later pipelines; write the sink at the end of a pipeline that reads it",
            )
        } else if context == Context::UnionInput {
            Diagnostic::error(Code::SinkNotLast, "a `union` input cannot end in a sink")
                .label(op_use.span, "a sink")
                .help("put the sink after the `union(…)`")
        } else if context == Context::JoinInput {
            Diagnostic::error(Code::SinkNotLast, "the stream a join reads cannot end in a sink")
                .label(op_use.span, "a sink")
                .help("put the sink after the join")
        } else {
            return true;
        };
        self.diagnostics.push(diagnostic);
        false
    }

    fn check_head(
        &mut self,
        head: &ast::StreamHead,
    ) -> Option<(StreamHead, std::sync::Arc<super::types::RecordType>, Option<super::program::Key>)> {
        match head {
            ast::StreamHead::Named(name) => {
                *self.uses.entry(name.name.clone()).or_default() += 1;
                match self.streams.get(&name.name).map(|(stream, _)| *stream) {
                    Some(StreamName::Source(id)) => {
                        Some((StreamHead::Source(id), self.sources[id].record.clone(), None))
                    }
                    Some(StreamName::Let(id)) => {
                        let stream = &self.lets[id].stream;
                        Some((StreamHead::Let(id), stream.record.clone(), stream.key.clone()))
                    }
                    Some(StreamName::Table(_)) => {
                        self.diagnostics.push(
                            Diagnostic::error(Code::UnknownStream, format!("`{}` is a table, not a stream", name.name))
                                .label(name.span, "a table")
                                .help(format!(
                                    "a table is read by `lookup`: `stream | lookup {} by key_field`",
                                    name.name
                                )),
                        );
                        None
                    }
                    Some(StreamName::Failed) => None,
                    None => {
                        self.unknown_stream(name);
                        None
                    }
                }
            }
            ast::StreamHead::Union { inputs, span, .. } => {
                let checked: Vec<Option<Stream>> = inputs
                    .iter()
                    .map(|input| self.check_stream(input, Context::UnionInput).map(|(stream, _)| stream))
                    .collect();
                if inputs.len() < 2 {
                    self.diagnostics.push(
                        Diagnostic::error(Code::UnionMismatch, "`union` needs at least two streams")
                            .label(*span, "one stream")
                            .help("list the streams to merge: `union(a, b)`; a single stream needs no union"),
                    );
                    return None;
                }
                let checked: Vec<Stream> = checked.into_iter().collect::<Option<_>>()?;
                let first = &checked[0];
                for (input, ast_input) in checked.iter().zip(inputs).skip(1) {
                    if !input.record.same_fields(&first.record) {
                        self.diagnostics.push(
                            Diagnostic::error(Code::UnionMismatch, "the streams of a `union` have different records")
                                .label(ast_input.span, format!("records {}", input.record))
                                .label(inputs[0].span, format!("records {}", first.record))
                                .help("make them alike with a `map` on each input: same field names, types and order"),
                        );
                        return None;
                    }
                }
                let record = first.record.clone();
                Some((StreamHead::Union { inputs: checked, span: *span }, record, None))
            }
        }
    }

    fn unknown_stream(&mut self, name: &ast::Ident) {
        if self.unparsed_names.contains(&name.name) {
            return;
        }
        if let Some(definition) = self.definitions.get(&name.name) {
            self.diagnostics.push(
                Diagnostic::error(Code::UsedBeforeDefined, format!("`{}` is used before it is defined", name.name))
                    .label(name.span, "used here")
                    .label(*definition, "defined below")
                    .help(format!(
                        "move the definition of `{}` above its first use: data flows down the file",
                        name.name
                    )),
            );
            return;
        }
        let help = if self.schemas.contains_key(&name.name) {
            format!("`{}` is a schema; a pipeline starts from a source or a `let` stream", name.name)
        } else {
            did_you_mean(&name.name, self.streams.keys().map(String::as_str)).unwrap_or_else(|| {
                format!(
                    "define it first: `source {}: Schema = generate(…) {{ … }}` or `let {} = …`",
                    name.name, name.name
                )
            })
        };
        self.diagnostics.push(
            Diagnostic::error(Code::UnknownStream, format!("unknown stream `{}`", name.name))
                .label(name.span, "no source or `let` has this name")
                .help(help),
        );
    }
}

/// Operators whose output record is their input record, keyed as it was.
fn passes_records_through(operator: &ast::Operator) -> bool {
    super::ops::by_keyword(operator.keyword())
        .is_some_and(|spec| spec.records == super::ops::Records::PassThrough && spec.keys == super::ops::KeyUse::Keeps)
}
