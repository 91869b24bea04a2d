//! `flowc explain --jit`: compiles every chain of a plan as a run would
//! and says, per task and operator, what became native code (its size and
//! compile time, and with `--jit-ir` its Cranelift IR) and what stays on
//! the interpreter, and why.

use std::fmt::Write;
use std::time::Duration;

use crate::check::program::{OperatorKind, SourceConnector};
use crate::diag::line_number;
use crate::plan::{NodeKind, PhysicalPlan};

use super::{Compiled, Jit};
use crate::compile::backend::Backend;

/// The JIT section of `flowc explain`; `text` is the `.flow` file.
pub fn describe(plan: &PhysicalPlan, text: &str, show_ir: bool) -> String {
    let mut out = String::from("\nJIT (Cranelift):\n");
    let mut total = Duration::ZERO;
    for task in &plan.tasks {
        let _ = writeln!(out, "  Task {}: {}", task.id + 1, task.name);
        for &operator in &task.operators {
            let jit = Jit::new();
            let node = plan.node(operator);
            let input = plan.operators[operator].inputs.first().map(|&edge| plan.edges[edge].record.clone());
            let output = plan.operators[operator].outputs.first().map(|&edge| plan.edges[edge].record.clone());
            match &node.kind {
                NodeKind::Source(source) => {
                    if let SourceConnector::Generate { fields, .. } = &source.connector {
                        let _ = jit.generator(fields, &source.record);
                    }
                }
                NodeKind::Operator { kind: OperatorKind::Map { fields }, .. } => {
                    if let (Some(input), Some(output)) = (&input, &output) {
                        let _ = jit.projection(fields, input, output);
                    }
                }
                NodeKind::Operator { kind: OperatorKind::Filter { predicate }, .. } => {
                    if let Some(input) = &input {
                        let _ = jit.predicate(predicate, input);
                    }
                }
                NodeKind::Operator {
                    kind: OperatorKind::Window { key, aggregates, .. } | OperatorKind::Aggregate { key, aggregates },
                    ..
                } => {
                    if let Some(input) = &input {
                        let _ = jit.scalar(&key.expr, input);
                        for argument in aggregates.iter().filter_map(|aggregate| aggregate.arg.as_ref()) {
                            let _ = jit.scalar(argument, input);
                        }
                    }
                }
                _ => {}
            }
            let line = line_number(text, node.span.start);
            let name = &plan.operators[operator].name;
            let compiled = jit.compiled();
            if compiled.is_empty() {
                let _ = writeln!(out, "    {name} (line {line}): no expressions");
            }
            for function in compiled {
                let what = function.what;
                match function.outcome {
                    Compiled::Native { code_bytes, compile_time, ir } => {
                        total += compile_time;
                        let _ = writeln!(
                            out,
                            "    {name} (line {line}), {what}: native, {code_bytes} bytes, compiled in {:.2} ms",
                            compile_time.as_secs_f64() * 1000.0
                        );
                        if show_ir {
                            for ir_line in ir.lines() {
                                let _ = writeln!(out, "      | {ir_line}");
                            }
                        }
                    }
                    Compiled::Interpreted { reason } => {
                        let _ = writeln!(out, "    {name} (line {line}), {what}: interpreted: {reason}");
                    }
                }
            }
        }
    }
    let _ = writeln!(out, "  compile time in all: {:.2} ms", total.as_secs_f64() * 1000.0);
    out
}
