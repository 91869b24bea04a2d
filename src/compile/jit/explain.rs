//! `flowc explain --jit`: compiles every chain of a plan as a run would
//! and says, per task and operator, what became native code (its size and
//! compile time, and with `--jit-ir` its Cranelift IR) and what stays on
//! the interpreter, and why; then the runs of filters and maps that run as
//! one kernel (the operators' own kernels replay a batch on an error).

use std::fmt::Write;
use std::time::Duration;

use std::sync::Arc;

use crate::check::program::{OperatorKind, SourceConnector};
use crate::check::types::RecordType;
use crate::diag::line_number;
use crate::plan::{NodeKind, PhysicalPlan};

use super::{Compiled, Jit};
use crate::compile::backend::Backend;
use crate::compile::fusion::fusable_runs;

/// The JIT section of `flowc explain`; `text` is the `.flow` file.
pub fn describe(plan: &PhysicalPlan, text: &str, show_ir: bool) -> String {
    let mut out = String::from("\nJIT (Cranelift):\n");
    let mut total = Duration::ZERO;
    for task in &plan.tasks {
        let _ = writeln!(out, "  Task {}: {}", task.id + 1, task.name);
        for &operator in &task.operators {
            let jit = Jit::new();
            let node = plan.node(operator);
            let input = plan.input_record(operator, 0);
            let output = plan.operators[operator].outputs.first().map(|&edge| plan.edges[edge].record.clone());
            match &node.kind {
                NodeKind::Source(source) => {
                    if let SourceConnector::Generate { fields, .. } = &source.connector {
                        let _ = jit.generator(fields, &source.record);
                    }
                }
                NodeKind::Operator { kind, .. } => {
                    if let (Some(input), Some(output)) = (&input, &output) {
                        compile_operator(&jit, plan, kind, input, output);
                    }
                }
                NodeKind::Union | NodeKind::Sink(_) => {}
            }
            let line = line_number(text, node.span.start);
            let name = &plan.operators[operator].name;
            let compiled = jit.compiled();
            if compiled.is_empty() {
                let _ = writeln!(out, "    {name} (line {line}): no expressions");
            }
            for function in compiled {
                let label = format!("{name} (line {line}), {}", function.what);
                total += write_outcome(&mut out, &label, function.outcome, show_ir);
            }
        }
        for run in fusable_runs(plan, task) {
            let jit = Jit::new();
            let _ = jit.fused(&run.stages, &run.input);
            let members: Vec<String> = run
                .positions
                .iter()
                .map(|&position| {
                    let operator = task.operators[position];
                    let line = line_number(text, plan.node(operator).span.start);
                    format!("{} (line {line})", plan.operators[operator].name)
                })
                .collect();
            let label = format!("fused, one kernel: {}", members.join(" + "));
            for function in jit.compiled() {
                total += write_outcome(&mut out, &label, function.outcome, show_ir);
            }
        }
    }
    let _ = writeln!(out, "  compile time in all: {:.2} ms", total.as_secs_f64() * 1000.0);
    out
}

/// One line for a compiled function (and its IR when asked); returns its compile time.
fn write_outcome(out: &mut String, label: &str, outcome: Compiled, show_ir: bool) -> Duration {
    match outcome {
        Compiled::Native { code_bytes, compile_time, ir } => {
            let millis = compile_time.as_secs_f64() * 1000.0;
            let _ = writeln!(out, "    {label}: native, {code_bytes} bytes, compiled in {millis:.2} ms");
            if show_ir {
                for ir_line in ir.lines() {
                    let _ = writeln!(out, "      | {ir_line}");
                }
            }
            compile_time
        }
        Compiled::Interpreted { reason } => {
            let _ = writeln!(out, "    {label}: interpreted: {reason}");
            Duration::ZERO
        }
    }
}

/// Compiles what operator `kind` asks the backend for, as a run would.
fn compile_operator(
    jit: &Jit,
    plan: &PhysicalPlan,
    kind: &OperatorKind,
    input: &Arc<RecordType>,
    output: &Arc<RecordType>,
) {
    match kind {
        OperatorKind::Map { fields } => {
            let _ = jit.projection(fields, input, output);
        }
        OperatorKind::Filter { predicate } => {
            let _ = jit.predicate(predicate, input);
        }
        OperatorKind::Window { key, aggregates, .. } | OperatorKind::Aggregate { key, aggregates } => {
            let _ = jit.scalar(&key.expr, input);
            for aggregate in aggregates {
                for expr in aggregate.arg.iter().chain(&aggregate.filter) {
                    let _ = jit.scalar(expr, input);
                }
            }
        }
        OperatorKind::Top { key, order, .. } => {
            let _ = jit.scalar(&key.expr, input);
            for sort in order {
                let _ = jit.scalar(&sort.expr, input);
            }
        }
        OperatorKind::Join(join) => {
            let _ = jit.scalar(&join.left_key.expr, input);
            let _ = jit.scalar(&join.right_key.expr, &join.right.record);
            if let Some(residual) = &join.residual {
                let _ = jit.scalar(residual, &join.pair_record());
            }
        }
        OperatorKind::Lookup { table, key, residual, .. } => {
            let _ = jit.scalar(key, input);
            if let Some(residual) = residual {
                let _ = jit.scalar(residual, &plan.logical.tables[*table].pair_record(input));
            }
        }
        OperatorKind::KeyBy { .. }
        | OperatorKind::Rebalance
        | OperatorKind::Broadcast
        | OperatorKind::Throttle { .. }
        | OperatorKind::Work { .. }
        | OperatorKind::Sleep { .. } => {}
    }
}
