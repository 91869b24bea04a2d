//! The plan as a Graphviz graph: each task a cluster, its operators inside
//! joined by chained edges, and the edges between tasks labelled with
//! their partitioning and the rules that kept them from chaining.
//! `flowc explain f.flow --format dot | dot -Tsvg > plan.svg` draws it.

use std::fmt::Write;

use super::{plural, Words};
use crate::plan::logical::{source_connector_name, NodeKind};

pub(super) fn render(words: &Words) -> String {
    let plan = words.plan;
    let mut out = String::new();
    let _ = writeln!(out, "digraph plan {{");
    let _ = writeln!(
        out,
        "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=11, labelloc=t, label={}];",
        quote(&format!("plan of {}", words.file_name))
    );
    let _ = writeln!(
        out,
        "  node [shape=box, style=\"rounded,filled\", fillcolor=\"#f4f6fa\", fontname=\"Helvetica\", fontsize=10];"
    );
    let _ = writeln!(out, "  edge [fontname=\"Helvetica\", fontsize=9];");
    for task in &plan.tasks {
        let _ = writeln!(out, "  subgraph cluster_task{} {{", task.id);
        let label = format!("Task {}: {}\n× {}", task.id + 1, task.name, plural(task.parallelism as usize, "subtask"));
        let _ = writeln!(out, "    label={};", quote(&label));
        let _ = writeln!(out, "    style=\"rounded\"; color=\"#4a6fa5\";");
        for operator in &task.operators {
            let node = plan.node(*operator);
            let name = &plan.operators[*operator].name;
            let kind = match &node.kind {
                NodeKind::Source(source) => source_connector_name(&source.connector),
                _ => node.operator_name(),
            };
            let mut label = if name.contains(kind) {
                format!("{name}\n{}", words.at(node.span))
            } else {
                format!("{name}\n{} · {kind}", words.at(node.span))
            };
            if let Some(calls) = node.attributes().async_calls {
                let order = if calls.ordered { "ordered" } else { "unordered" };
                label.push_str(&format!("\nasync ×{}, {order}", calls.capacity));
            }
            let _ = writeln!(out, "    op{operator} [label={}];", quote(&label));
        }
        for operator in &task.operators {
            for edge in plan.operators[*operator].outputs.iter().map(|e| &plan.edges[*e]).filter(|e| e.chained) {
                let _ = writeln!(out, "    op{} -> op{};", edge.from, edge.to);
            }
        }
        let _ = writeln!(out, "  }}");
    }
    for edge in plan.edges.iter().filter(|edge| !edge.chained) {
        let mut label = words.partitioning(edge);
        if let Some(side) = words.side(edge) {
            label = format!("{side}: {label}");
        }
        for chain_break in &edge.chain_breaks {
            label.push('\n');
            label.push_str(&words.chain_break(edge, chain_break));
        }
        let style = match edge.partitioning {
            crate::plan::Partitioning::Forward => "solid",
            _ => "bold",
        };
        let _ = writeln!(
            out,
            "  op{} -> op{} [label={}, style={style}, color=\"#b03a2e\"];",
            edge.from,
            edge.to,
            quote(&label)
        );
    }
    out.push_str("}\n");
    out
}

/// A DOT string: quotes and backslashes escaped, newlines as `\n` (a
/// centred line break in a label).
fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => {}
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_what_dot_would_misread() {
        assert_eq!(super::quote("a \"b\" \\N\nc"), "\"a \\\"b\\\" \\\\N\\nc\"");
    }
}
