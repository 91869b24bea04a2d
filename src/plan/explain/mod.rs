//! `flowc explain`: the plan drawn for a person (`text`), for Graphviz
//! (`dot`) and for programs (`json`). The three share the phrases here, so
//! a chain-break reason reads the same everywhere.

mod dot;
pub mod json;
mod text;

use crate::check::config::SettingOrigin;
use crate::check::format_size;
use crate::check::ops::{PartitionKind, Routing};
use crate::diag::{LineIndex, Span};

use super::chain::ChainBreak;
use super::physical::{ParallelismOrigin, Partitioning, PartitioningCause, PhysicalEdge, PhysicalPlan};

/// The ways `flowc explain` can draw a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Dot,
    Json,
}

/// Draws `plan`, made from `source` (shown as `file_name`), in `format`.
pub fn explain(plan: &PhysicalPlan, format: Format, file_name: &str, source: &str) -> String {
    let words = Words { plan, file_name, source, lines: LineIndex::new(source) };
    match format {
        Format::Text => text::render(&words),
        Format::Dot => dot::render(&words),
        Format::Json => json::render(&words),
    }
}

/// The plan with its source text: everything a renderer needs to name
/// things and point at them.
struct Words<'a> {
    plan: &'a PhysicalPlan,
    file_name: &'a str,
    source: &'a str,
    lines: LineIndex<'a>,
}

/// Longest code excerpt shown beside an operator, in characters.
const SNIPPET_CHARS: usize = 64;

impl Words<'_> {
    /// `line:column` of a span's start.
    fn at(&self, span: Span) -> String {
        let (line, column) = self.lines.line_col(span.start);
        format!("{line}:{column}")
    }

    /// The code of a span on one line: comments dropped, white space
    /// collapsed, cut at `SNIPPET_CHARS` with an ellipsis.
    fn snippet(&self, span: Span) -> String {
        let code = self.source.get(span.start..span.end).unwrap_or("");
        let collapsed = collapse_code(code);
        if collapsed.chars().count() <= SNIPPET_CHARS {
            return collapsed;
        }
        let cut: String = collapsed.chars().take(SNIPPET_CHARS - 1).collect();
        format!("{}…", cut.trim_end())
    }

    /// `left` or `right` for an edge into a join.
    fn side(&self, edge: &PhysicalEdge) -> Option<&'static str> {
        self.plan.join_side(edge)
    }

    /// `hash(sensor)`, `rebalance`, …
    fn partitioning(&self, edge: &PhysicalEdge) -> String {
        match &edge.partitioning {
            Partitioning::Hash(key) => format!("hash({})", key.name),
            other => other.kind_name().to_string(),
        }
    }

    /// Why the edge is partitioned so, when the file did not say it.
    fn partitioning_cause(&self, edge: &PhysicalEdge) -> Option<String> {
        let (from, to) = (self.plan.operators[edge.from].parallelism, self.plan.operators[edge.to].parallelism);
        match edge.cause {
            PartitioningCause::ParallelismChange if matches!(edge.partitioning, Partitioning::Hash(_)) => {
                Some(format!("parallelism {from} → {to} before a window or aggregate: hashed again by the key"))
            }
            PartitioningCause::ParallelismChange if edge.key.is_some() => {
                Some(format!("parallelism {from} → {to}; no window or aggregate after it needs the key"))
            }
            PartitioningCause::ParallelismChange => Some(format!("parallelism {from} → {to} without a key")),
            PartitioningCause::Requested { node } => {
                Some(format!("asked for at {}", self.at(self.plan.logical.node(node).keyword)))
            }
            PartitioningCause::Forward => None,
        }
    }

    /// One rule that kept an edge from chaining, in words.
    fn chain_break(&self, edge: &PhysicalEdge, chain_break: &ChainBreak) -> String {
        match chain_break {
            ChainBreak::Partitioning { node } => {
                let node = self.plan.logical.node(*node);
                let what = match node.spec().map(|spec| spec.routing) {
                    Some(Routing::Partitions(PartitionKind::Hash)) => "hash partitioning after key_by",
                    Some(Routing::Partitions(PartitionKind::Broadcast)) => "broadcast partitioning",
                    Some(Routing::Partitions(PartitionKind::Rebalance)) => "rebalance partitioning",
                    Some(Routing::Runs) | None => unreachable!("only a partitioner asks for a partitioning"),
                };
                format!("{what} at {}", self.at(node.keyword))
            }
            ChainBreak::ParallelismChange { from, to } => format!("parallelism {from} → {to}"),
            ChainBreak::MultipleInputs { inputs } => {
                format!("`{}` reads {inputs} inputs", self.plan.operators[edge.to].name)
            }
            ChainBreak::NoChain { operator, at } => {
                format!("@no_chain on `{}` at {}", self.plan.operators[*operator].name, self.at(*at))
            }
            ChainBreak::NewChain { operator, at } => {
                format!("@new_chain on `{}` at {}", self.plan.operators[*operator].name, self.at(*at))
            }
            ChainBreak::ChainingOff { origin: SettingOrigin::File(span) } => {
                format!("chaining = false at {}", self.at(*span))
            }
            ChainBreak::ChainingOff { origin: SettingOrigin::CommandLine } => {
                "chaining is off on the command line".to_string()
            }
        }
    }

    /// Where an operator's parallelism comes from.
    /// `async: up to 8 calls in flight per subtask, in input order`, for an
    /// operator with `@async`.
    fn async_calls(&self, operator: crate::plan::OperatorId) -> Option<String> {
        let node = self.plan.node(operator);
        let calls = node.attributes().async_calls?;
        if let crate::plan::NodeKind::Operator { kind: crate::check::program::OperatorKind::Lookup { .. }, .. } =
            &node.kind
        {
            return Some(format!(
                "async: up to {} queries in flight per subtask, one per batch of records, each on its own connection, in input order",
                calls.capacity
            ));
        }
        let order = if calls.ordered { "in input order" } else { "as they complete, watermarks kept in place" };
        Some(format!("async: up to {} calls in flight per subtask, {order}", calls.capacity))
    }

    fn parallelism_origin(&self, origin: ParallelismOrigin) -> String {
        match origin {
            ParallelismOrigin::Attribute(span) => format!("@parallelism at {}", self.at(span)),
            ParallelismOrigin::Config(SettingOrigin::File(span)) => format!("config at {}", self.at(span)),
            ParallelismOrigin::Config(SettingOrigin::CommandLine) => "--set parallelism".to_string(),
            ParallelismOrigin::Default => "default".to_string(),
            ParallelismOrigin::NotParallel(reason) => reason.to_string(),
        }
    }

    /// What one receiving subtask of `edge` holds in network buffers.
    fn input_buffers(&self, edge: &PhysicalEdge) -> InputBuffers {
        let config = &self.plan.config;
        let channels = match edge.partitioning {
            Partitioning::Forward => 1,
            _ => self.plan.operators[edge.from].parallelism,
        };
        let buffers = channels * config.buffers_per_channel + config.floating_buffers;
        InputBuffers {
            channels,
            exclusive: config.buffers_per_channel,
            floating: config.floating_buffers,
            buffers,
            bytes: u64::from(buffers) * config.buffer_size,
        }
    }
}

/// "1 task", "2 tasks".
fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

/// Network buffers of one input gate of one receiving subtask.
#[derive(Debug, Clone, Copy)]
struct InputBuffers {
    channels: u32,
    exclusive: u32,
    floating: u32,
    buffers: u32,
    bytes: u64,
}

impl std::fmt::Display for InputBuffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} channel{} × {} exclusive + {} floating = {} buffers, {}",
            self.channels,
            if self.channels == 1 { "" } else { "s" },
            self.exclusive,
            self.floating,
            self.buffers,
            format_size(self.bytes)
        )
    }
}

/// Code on one line: `//` comments dropped (not inside strings), every run
/// of white space made one space, none just inside brackets.
fn collapse_code(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut in_string = false;
    let mut chars = code.chars().peekable();
    let mut pending_space = false;
    while let Some(c) = chars.next() {
        if !in_string && c == '/' && chars.peek() == Some(&'/') {
            for skipped in chars.by_ref() {
                if skipped == '\n' {
                    break;
                }
            }
            pending_space = true;
            continue;
        }
        if !in_string && c.is_whitespace() {
            pending_space = true;
            continue;
        }
        let inside_brackets = out.ends_with(['(', '[']) || matches!(c, ')' | ']');
        if pending_space && !out.is_empty() && !inside_brackets {
            out.push(' ');
        }
        pending_space = false;
        out.push(c);
        if c == '"' {
            in_string = !in_string;
        } else if c == '\\' && in_string {
            if let Some(escaped) = chars.next() {
                out.push(escaped);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::collapse_code;

    #[test]
    fn collapses_code_onto_one_line() {
        assert_eq!(
            collapse_code("window tumbling(1s) on ts {\n  n = count() // per key\n  s = sum(x)\n}"),
            "window tumbling(1s) on ts { n = count() s = sum(x) }"
        );
        assert_eq!(collapse_code("@name(\"a //  b\")  // c"), "@name(\"a //  b\")");
        assert_eq!(collapse_code("filter s == \"\\\"//\""), "filter s == \"\\\"//\"");
    }
}
