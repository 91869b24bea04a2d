//! The plan for a terminal: the logical plan as a tree (indented only where
//! it forks, so a long pipeline stays a column), then every task with its
//! parallelism, operators, inputs and outputs, why each output did not
//! chain, and the record layout its channels carry.

use crate::check::program::TableSource;
use std::fmt::Write;

use crate::check::format_size;
use crate::check::types::RecordType;

use super::super::logical::NodeId;
use super::{plural, Words};

pub(super) fn render(words: &Words) -> String {
    let plan = words.plan;
    let mut out = String::new();
    let subtasks: u32 = plan.tasks.iter().map(|task| task.parallelism).sum();
    let _ = writeln!(out, "plan of {}", words.file_name);
    let _ = writeln!(
        out,
        "{}; {} in {}, {}; chaining {}",
        plural(plan.logical.graph.node_count(), "logical node"),
        plural(plan.operators.len(), "operator"),
        plural(plan.tasks.len(), "task"),
        plural(subtasks as usize, "subtask"),
        if plan.config.chaining { "on" } else { "off" },
    );
    out.push_str("\nLogical plan\n");
    logical_tree(words, &mut out);
    if !plan.logical.tables.is_empty() {
        out.push_str("\nTables (a file is read whole before the first record, shared by every lookup)\n");
        for table in &plan.logical.tables {
            let path = match &table.connector {
                TableSource::File(crate::check::program::SourceConnector::File { path, .. }) => {
                    format!("file {path:?}")
                }
                other => other.describe(),
            };
            let key = &table.record.fields()[table.key_field].name;
            let _ = writeln!(out, "  {} ({}): {path}, one row per {key}", table.name, words.at(table.name_span));
            let _ = writeln!(out, "    records {}", table.record);
        }
    }
    out.push_str("\nTasks\n");
    for task in &plan.tasks {
        out.push('\n');
        tasks(words, task, &mut out);
    }
    out
}

/// One line per logical node: the tree drawing and name, its location and
/// its code. A node with several inputs (a union) is drawn under its first
/// and referred to under the others.
fn logical_tree(words: &Words, out: &mut String) {
    let logical = &words.plan.logical;
    let mut lines: Vec<(String, Option<NodeId>)> = Vec::new();
    let mut drawn = vec![false; logical.graph.node_count()];
    let roots = logical.graph.node_indices().filter(|node| logical.inputs(*node).is_empty());
    for (index, root) in roots.enumerate() {
        if index > 0 {
            lines.push((String::new(), None));
        }
        // (node, prefix of its own line, prefix of the lines under it)
        let mut stack = vec![(root, String::new(), String::new())];
        while let Some((node, first, rest)) = stack.pop() {
            let mut label = format!("{first}#{} {}", node.index() + 1, logical.node(node).name);
            let inputs = logical.inputs(node);
            if let Some(name) = &logical.node(node).ends_let {
                label.push_str(&format!(" (let {name})"));
            }
            if inputs.len() > 1 {
                let numbers: Vec<String> = inputs.iter().map(|(input, _)| format!("#{}", input.index() + 1)).collect();
                label.push_str(&format!(" ← {}", numbers.join(", ")));
            }
            if std::mem::replace(&mut drawn[node.index()], true) {
                lines.push((format!("{label} (above)"), None));
                continue;
            }
            lines.push((label, Some(node)));
            let children = logical.outputs(node);
            if let [(only, _)] = children.as_slice() {
                stack.push((*only, rest.clone(), rest));
                continue;
            }
            for (index, (child, _)) in children.iter().enumerate().rev() {
                let last = index + 1 == children.len();
                let (branch, under) = if last { ("└─ ", "   ") } else { ("├─ ", "│  ") };
                stack.push((*child, format!("{rest}{branch}"), format!("{rest}{under}")));
            }
        }
    }
    let width = lines.iter().map(|(label, _)| label.chars().count()).max().unwrap_or(0);
    let at_width =
        lines.iter().filter_map(|(_, node)| node.map(|n| words.at(logical.node(n).span).len())).max().unwrap_or(0);
    for (label, node) in lines {
        match node {
            None if label.is_empty() => out.push('\n'),
            None => {
                let _ = writeln!(out, "  {label}");
            }
            Some(node) => {
                let node = logical.node(node);
                let pad = width - label.chars().count();
                let _ = writeln!(
                    out,
                    "  {label}{:pad$}  {:<at_width$}  {}",
                    "",
                    words.at(node.span),
                    words.snippet(node.span)
                );
            }
        }
    }
}

fn tasks(words: &Words, task: &crate::plan::physical::Task, out: &mut String) {
    let plan = words.plan;
    let head = &plan.operators[task.head];
    let _ = writeln!(out, "  Task {}: {}", task.id + 1, task.name);
    let _ =
        writeln!(out, "    parallelism  {} ({})", task.parallelism, words.parallelism_origin(head.parallelism_origin));
    for (index, edge) in task.inputs.iter().map(|e| &plan.edges[*e]).enumerate() {
        let title = if index == 0 { "input" } else { "" };
        let sender = &plan.operators[edge.from];
        let side = words.side(edge).map(|side| format!(", {side} input")).unwrap_or_default();
        let _ = writeln!(
            out,
            "    {title:<11}  ← Task {} (#{} {}) by {}{side}: per subtask {}",
            sender.task + 1,
            sender.node.index() + 1,
            sender.name,
            words.partitioning(edge),
            words.input_buffers(edge)
        );
    }
    if task.inputs.len() > 1 {
        let (buffers, bytes) = task
            .inputs
            .iter()
            .map(|edge| words.input_buffers(&plan.edges[*edge]))
            .fold((0, 0), |(buffers, bytes), gate| (buffers + gate.buffers, bytes + gate.bytes));
        let _ = writeln!(out, "                 in all {buffers} buffers, {} per subtask", format_size(bytes));
    }
    let names: Vec<String> = task
        .operators
        .iter()
        .map(|op| format!("#{} {}", plan.operators[*op].node.index() + 1, plan.operators[*op].name))
        .collect();
    let width = names.iter().map(|name| name.chars().count()).max().unwrap_or(0);
    for (index, (operator, name)) in task.operators.iter().zip(&names).enumerate() {
        let title = if index == 0 { "operators" } else { "" };
        let at = words.at(plan.node(*operator).span);
        let pad = width - name.chars().count();
        let calls = words.async_calls(*operator).map(|calls| format!("  {calls}")).unwrap_or_default();
        let _ = writeln!(out, "    {title:<11}  {name}{:pad$}  {at}{calls}", "");
    }
    if task.outputs.is_empty() {
        let _ = writeln!(out, "    output       none");
    }
    for (index, edge) in task.outputs.iter().map(|e| &plan.edges[*e]).enumerate() {
        let title = if index == 0 { "output" } else { "" };
        let receiver_task = plan.operators[edge.to].task;
        let cause = words.partitioning_cause(edge).map(|cause| format!(" ({cause})")).unwrap_or_default();
        let _ = writeln!(
            out,
            "    {title:<11}  → Task {} by {}{cause}, {} ({} → {} subtasks)",
            receiver_task + 1,
            words.partitioning(edge),
            plural(plan.channels(edge) as usize, "channel"),
            plan.operators[edge.from].parallelism,
            plan.operators[edge.to].parallelism,
        );
        let side = words.side(edge).map(|side| format!(" ({side} input)")).unwrap_or_default();
        let _ = writeln!(
            out,
            "                   from #{} {} to #{} {}{side}",
            plan.operators[edge.from].node.index() + 1,
            plan.operators[edge.from].name,
            plan.operators[edge.to].node.index() + 1,
            plan.operators[edge.to].name
        );
        let reasons: Vec<String> = edge.chain_breaks.iter().map(|b| words.chain_break(edge, b)).collect();
        let _ = writeln!(out, "                   not chained: {}", reasons.join("; "));
        let _ = writeln!(out, "                   records {}", edge.record);
        let _ = writeln!(out, "                   layout {}", layout(&edge.record));
    }
}

/// `32 bytes per record: id@0 sensor@8 fahrenheit@16 ts@24`, by offset.
fn layout(record: &RecordType) -> String {
    let layout = record.layout();
    let mut fields: Vec<(u32, &str)> =
        record.fields().iter().zip(&layout.offsets).map(|(field, offset)| (*offset, field.name.as_str())).collect();
    fields.sort_unstable();
    let mut text = format!("{} bytes per record:", layout.width);
    for (offset, name) in fields {
        let _ = write!(text, " {name}@{offset}");
    }
    text
}
