//! Advice written into the `.flow` text: `@parallelism(n)` and `@new_chain`
//! on an operator, a setting in the `config` block. Each edit is a splice
//! at a place the lossless tokens (`format::tokens`) find, so everything
//! else (comments, layout, how numbers are spelt) stays byte for byte.

use crate::check::config::SettingOrigin;
use crate::diag::Span;
use crate::format::tokens::{tokenize, TokenKind};
use crate::plan::{NodeId, PhysicalPlan};
use crate::report::Edit;
use crate::syntax::{self, ast};

/// `text` with `edits` made; `plan` is the plan of `text` (for where each
/// operator and setting stands). An error names an edit that points at
/// nothing in this text.
pub fn apply(text: &str, plan: &PhysicalPlan, edits: &[Edit]) -> Result<String, String> {
    let mut splices: Vec<(Span, String)> = Vec::new();
    for edit in edits {
        if let Some(splice) = splice(text, plan, edit)? {
            if !splices.contains(&splice) {
                splices.push(splice);
            }
        }
    }
    // From the end, so earlier offsets stay right.
    splices.sort_by_key(|(span, _)| std::cmp::Reverse((span.start, span.end)));
    let mut edited = text.to_string();
    for (span, replacement) in splices {
        edited.replace_range(span.start..span.end, &replacement);
    }
    Ok(edited)
}

/// The edits for a person, the same parallelism on several operators said
/// once: "@parallelism(3) on `a`, `b`".
pub fn describe_all(plan: &PhysicalPlan, edits: &[Edit]) -> Vec<String> {
    let name = |node: usize| {
        plan.logical.graph.node_weight(NodeId::new(node)).map_or_else(|| format!("node {node}"), |n| n.name.clone())
    };
    let mut said: Vec<(String, Vec<String>)> = Vec::new();
    for edit in edits {
        let (what, on) = match edit {
            Edit::Parallelism { node, to } => (format!("@parallelism({to})"), Some(name(*node))),
            Edit::NewChain { node } => ("@new_chain".to_string(), Some(name(*node))),
            Edit::Async { node, capacity } => (format!("@async(capacity = {capacity})"), Some(name(*node))),
            Edit::Setting { key, value } => (format!("{key} = {value}"), None),
            Edit::SinkArgument { node, name: argument, value } => (format!("{argument} = {value}"), Some(name(*node))),
        };
        match (said.iter_mut().find(|(w, _)| *w == what), on) {
            (Some((_, names)), Some(on)) => names.push(on),
            (_, on) => said.push((what, on.into_iter().collect())),
        }
    }
    said.into_iter()
        .map(|(what, names)| match names.as_slice() {
            [] => what,
            _ => format!("{what} on {}", names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")),
        })
        .collect()
}

fn splice(text: &str, plan: &PhysicalPlan, edit: &Edit) -> Result<Option<(Span, String)>, String> {
    let node_of = |node: usize| {
        plan.logical.graph.node_weight(NodeId::new(node)).ok_or_else(|| format!("the plan has no node {node}"))
    };
    match edit {
        Edit::Parallelism { node, to } => {
            let node = node_of(*node)?;
            let attribute = format!("@parallelism({to})");
            Ok(Some(match node.attributes().parallelism {
                Some((_, span)) => (span, attribute),
                None => {
                    (Span::new(end_of_code(text, node.span), end_of_code(text, node.span)), format!(" {attribute}"))
                }
            }))
        }
        Edit::NewChain { node } => {
            let node = node_of(*node)?;
            if node.attributes().new_chain.is_some() {
                return Ok(None);
            }
            let at = end_of_code(text, node.span);
            Ok(Some((Span::new(at, at), " @new_chain".into())))
        }
        Edit::Async { node, capacity } => {
            let node = node_of(*node)?;
            Ok(Some(match node.attributes().async_calls {
                Some(calls) => {
                    let ordered = if calls.ordered { "" } else { ", ordered = false" };
                    (calls.span, format!("@async(capacity = {capacity}{ordered})"))
                }
                None => {
                    let at = end_of_code(text, node.span);
                    (Span::new(at, at), format!(" @async(capacity = {capacity})"))
                }
            }))
        }
        Edit::Setting { key, value } => setting(text, plan, key, value).map(Some),
        Edit::SinkArgument { node, name, value } => {
            let node = node_of(*node)?;
            let crate::plan::NodeKind::Sink(sink) = &node.kind else {
                return Err(format!("`{}` is no sink", node.name));
            };
            let crate::check::program::SinkConnector::Postgres(settings) = &sink.connector else {
                return Err(format!("`{}` takes no `{name}`", node.name));
            };
            if name != "batch_size" {
                return Err(format!("flowc does not edit `{name}`"));
            }
            Ok(Some(match settings.batch_size_span {
                Some(span) => (span, value.clone()),
                None => {
                    let call = &text[settings.call_span.start..settings.call_span.end];
                    let close = call.rfind(')').ok_or("the sink's call has no closing parenthesis")?;
                    let at = settings.call_span.start + close;
                    let empty = call[..close].trim_end().ends_with('(');
                    (Span::new(at, at), format!("{}{name} = {value}", if empty { "" } else { ", " }))
                }
            }))
        }
    }
}

/// Where the last token of `span` that is code (not a comment) ends.
fn end_of_code(text: &str, span: Span) -> usize {
    tokenize(text)
        .into_iter()
        .filter(|token| {
            token.kind != TokenKind::Comment && token.span.start >= span.start && token.span.end <= span.end
        })
        .map(|token| token.span.end)
        .next_back()
        .unwrap_or(span.end)
}

/// `key = value`: over the value the file gives, else a new line in the
/// `config` block, else a new `config` block before the first item.
fn setting(text: &str, plan: &PhysicalPlan, key: &str, value: &str) -> Result<(Span, String), String> {
    if let Some(SettingOrigin::File(span)) = plan.config.origins.get(key) {
        return Ok((*span, value.to_string()));
    }
    let file = syntax::parse(text).file;
    let block = file.items.iter().find_map(|item| match item {
        ast::Item::Config(block) => Some(block),
        _ => None,
    });
    match block {
        Some(block) => {
            let indent = block
                .entries
                .first()
                .map(|entry| {
                    let line_start = text[..entry.span.start].rfind('\n').map_or(0, |newline| newline + 1);
                    text[line_start..entry.span.start].to_string()
                })
                .filter(|indent| indent.chars().all(|c| c == ' ' || c == '\t'))
                .unwrap_or_else(|| "  ".into());
            let close = text[block.span.start..block.span.end]
                .rfind('}')
                .map(|at| block.span.start + at)
                .ok_or("the config block has no closing brace")?;
            let line_start = text[..close].rfind('\n').map_or(0, |newline| newline + 1);
            if text[line_start..close].trim().is_empty() {
                Ok((Span::new(line_start, line_start), format!("{indent}{key} = {value}\n")))
            } else {
                Ok((Span::new(close, close), format!("\n{indent}{key} = {value}\n")))
            }
        }
        None => {
            let first = file.items.first().map_or(text.len(), item_start);
            Ok((Span::new(first, first), format!("config {{\n  {key} = {value}\n}}\n\n")))
        }
    }
}

fn item_start(item: &ast::Item) -> usize {
    match item {
        ast::Item::Config(block) => block.span.start,
        ast::Item::Schema(schema) => schema.span.start,
        ast::Item::Source(source) => source.span.start,
        ast::Item::Table(table) => table.span.start,
        ast::Item::Let(binding) => binding.span.start,
        ast::Item::Pipeline(pipeline) => pipeline.span.start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> PhysicalPlan {
        let program = crate::check::check_source(text).program.expect("the test program checks");
        crate::plan::plan(&program).plan.expect("the test program plans")
    }

    fn node(plan: &PhysicalPlan, name: &str) -> usize {
        plan.operators.iter().find(|op| op.name == name).expect("an operator of that name").node.index()
    }

    const PROGRAM: &str = "\
// a header comment
config {
  parallelism = 2   // two of everything
}

schema Job { id: int }

source jobs: Job = generate(count = 10) { id = seq }

jobs
  | sleep 1ms @name(\"lookup\")   // the slow call
  | map { id } @parallelism(1)
  | sink discard
";

    #[test]
    fn edits_splice_in_and_keep_comments_and_layout() {
        let plan = plan(PROGRAM);
        let edits = [
            Edit::Parallelism { node: node(&plan, "lookup"), to: 4 },
            Edit::Parallelism { node: node(&plan, "Map"), to: 3 },
            Edit::NewChain { node: node(&plan, "Sink: discard") },
            Edit::Setting { key: "buffers_per_channel".into(), value: "4".into() },
            Edit::Setting { key: "parallelism".into(), value: "3".into() },
        ];
        let edited = apply(PROGRAM, &plan, &edits).unwrap();
        similar_asserts::assert_eq!(
            edited,
            "\
// a header comment
config {
  parallelism = 3   // two of everything
  buffers_per_channel = 4
}

schema Job { id: int }

source jobs: Job = generate(count = 10) { id = seq }

jobs
  | sleep 1ms @name(\"lookup\") @parallelism(4)   // the slow call
  | map { id } @parallelism(3)
  | sink discard @new_chain
"
        );
        assert!(crate::check::check_source(&edited).program.is_some(), "the edited program checks");
    }

    #[test]
    fn a_setting_without_a_config_block_gets_one_before_the_first_item() {
        let text = "// jobs\nschema Job { id: int }\nsource jobs: Job = generate(count = 1) { id = seq }\njobs | sink discard\n";
        let plan = plan(text);
        let edited =
            apply(text, &plan, &[Edit::Setting { key: "floating_buffers".into(), value: "8".into() }]).unwrap();
        assert_eq!(
            edited,
            "// jobs\nconfig {\n  floating_buffers = 8\n}\n\nschema Job { id: int }\nsource jobs: Job = generate(count = 1) { id = seq }\njobs | sink discard\n"
        );
        assert!(crate::check::check_source(&edited).program.is_some());
    }

    #[test]
    fn a_source_gets_its_parallelism_after_its_body_and_attributes() {
        let text = "schema Job { id: int, ts: timestamp }\nsource jobs: Job = generate(count = 1) {\n  id = seq\n  ts = epoch + seq * 1ms\n} @watermark(delay = 0s)\njobs | sink discard\n";
        let plan = plan(text);
        let edited = apply(text, &plan, &[Edit::Parallelism { node: node(&plan, "Source: jobs"), to: 2 }]).unwrap();
        assert!(edited.contains("} @watermark(delay = 0s) @parallelism(2)\n"), "{edited}");
        assert!(crate::check::check_source(&edited).program.is_some());
    }

    #[test]
    fn async_capacity_is_written_or_replaced_keeping_ordered() {
        let plan = plan(PROGRAM);
        let edited = apply(PROGRAM, &plan, &[Edit::Async { node: node(&plan, "lookup"), capacity: 8 }]).unwrap();
        assert!(
            edited.contains("  | sleep 1ms @name(\"lookup\") @async(capacity = 8)   // the slow call\n"),
            "{edited}"
        );
        let plan = super::tests::plan(&edited);
        let again = apply(&edited, &plan, &[Edit::Async { node: node(&plan, "lookup"), capacity: 32 }]).unwrap();
        assert!(again.contains("@async(capacity = 32)   // the slow call"), "{again}");
        let unordered = edited.replace("@async(capacity = 8)", "@async(capacity = 8, ordered = false)");
        let plan = super::tests::plan(&unordered);
        let again = apply(&unordered, &plan, &[Edit::Async { node: node(&plan, "lookup"), capacity: 32 }]).unwrap();
        assert!(again.contains("@async(capacity = 32, ordered = false)"), "{again}");
        assert!(crate::check::check_source(&again).program.is_some());
    }

    #[test]
    fn an_edit_for_a_node_that_is_not_there_is_an_error() {
        let plan = plan(PROGRAM);
        assert!(apply(PROGRAM, &plan, &[Edit::NewChain { node: 999 }]).is_err());
    }
}
