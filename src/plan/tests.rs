//! Planner rules a `.flow` file cannot break (the checker guards them), so
//! they are tested here on programs altered after checking; and shapes
//! whose size golden files would drown in.

use crate::check::check_source;
use crate::check::program::{OperatorKind, Program, StreamHead};
use crate::diag::Code;

use super::{plan, Partitioning, PartitioningCause};

fn program(text: &str) -> Program {
    let checked = check_source(text);
    assert!(checked.diagnostics.iter().all(|d| !d.is_error()), "{:?}", checked.diagnostics);
    checked.program.expect("a clean program")
}

const PRELUDE: &str = "config { parallelism = 2 }\nschema R { id: int, k: int }\n\
    source r: R = generate(count = 10) { id = seq, k = seq % 3 }\n";

fn codes(program: &Program) -> Vec<Code> {
    plan(program).diagnostics.iter().map(|d| d.code).collect()
}

#[test]
fn a_let_read_before_it_is_built_is_a_cycle() {
    let mut program =
        program(&format!("{PRELUDE}let a = r | filter id > 1\nlet b = a | filter id > 2\nb | sink print\n"));
    program.lets[0].stream.head = StreamHead::Let(1);
    let planned = plan(&program);
    assert!(planned.plan.is_none());
    assert_eq!(planned.diagnostics[0].code, Code::Internal);
    assert!(planned.diagnostics[0].message.contains("cycle"), "{}", planned.diagnostics[0].message);
}

#[test]
fn parallelism_zero_is_refused() {
    let mut program = program(&format!("{PRELUDE}r | sink print\n"));
    program.config.parallelism = 0;
    assert_eq!(codes(&program), vec![Code::Internal, Code::Internal]);
}

#[test]
fn a_keyed_operator_without_key_by_is_refused() {
    let mut program = program(&format!("{PRELUDE}r | key_by k | aggregate {{ n = count() }} | sink print\n"));
    let operators = &mut program.pipelines[0].stream.operators;
    assert!(matches!(operators[0].kind, OperatorKind::KeyBy { .. }));
    operators.remove(0);
    let planned = plan(&program);
    assert_eq!(planned.diagnostics.len(), 1);
    assert!(planned.diagnostics[0].message.contains("not partitioned by its key"));
}

#[test]
fn a_keyed_stream_keeps_its_hash_through_a_parallelism_change() {
    let program = program(&format!(
        "{PRELUDE}r | key_by k | filter id > 1 @parallelism(5) | aggregate {{ n = count() }} | sink print\n"
    ));
    let plan = plan(&program).plan.expect("plans");
    let into_aggregate = plan.edges.iter().find(|e| plan.operators[e.to].name == "Aggregate").expect("an edge");
    assert!(matches!(into_aggregate.partitioning, Partitioning::Hash(_)));
    assert_eq!(into_aggregate.cause, PartitioningCause::ParallelismChange);
}

#[test]
fn a_union_of_one_stream_with_itself_reads_it_twice() {
    let plan = plan(&program(&format!("{PRELUDE}union(r, r) | map {{ id }} | sink print\n"))).plan.expect("plans");
    let map = plan.operators.iter().find(|op| op.name == "Map").expect("a map");
    assert_eq!(map.inputs.len(), 2);
    assert_eq!(plan.tasks.len(), 2);
}

#[test]
fn a_long_pipeline_is_one_task_and_needs_no_deep_stack() {
    let operators = "\n  | filter id > 0".repeat(5_000);
    let plan = plan(&program(&format!("{PRELUDE}r{operators} | sink discard\n"))).plan.expect("plans");
    assert_eq!(plan.tasks.len(), 1);
    assert_eq!(plan.tasks[0].operators.len(), 5_002);
    assert!(plan.tasks[0].name.starts_with("Source: r -> Filter -> Filter"));
    assert!(plan.tasks[0].name.ends_with("Filter -> Sink: discard"));
}

#[test]
fn a_fan_out_chain_is_named_like_flinks() {
    let text = format!("{PRELUDE}let m = r | map {{ id, k }}\nm | filter id > 1 | sink print\nm | sink discard\n");
    let plan = plan(&program(&text)).plan.expect("plans");
    assert_eq!(plan.tasks.len(), 1);
    assert_eq!(plan.tasks[0].name, "Source: r -> Map -> (Filter -> Sink: print, Sink: discard)");
}

#[test]
fn replan_splits_and_merges_chains_as_the_attributes_would() {
    let text = format!(
        "{PRELUDE}r | map {{ id, k }} | work 1ms @name(\"slow\") @parallelism(1) | filter id > 0 | sink discard\n"
    );
    let planned = plan(&program(&text)).plan.expect("a plan");
    let tasks = |plan: &super::PhysicalPlan| -> Vec<String> { plan.tasks.iter().map(|t| t.name.clone()).collect() };
    assert_eq!(tasks(&planned), ["Source: r -> Map", "slow", "Filter -> Sink: discard"]);
    let node = |name: &str| planned.operators.iter().find(|op| op.name == name).unwrap().node;
    // At the parallelism of its neighbours, `slow` joins them in one chain …
    let merged = super::replan(&planned, &[super::Override::Parallelism(node("slow"), 2)]);
    assert_eq!(tasks(&merged), ["Source: r -> Map -> slow -> Filter -> Sink: discard"]);
    // … unless `@new_chain` keeps it apart from what comes before it.
    let apart = super::replan(
        &planned,
        &[super::Override::Parallelism(node("slow"), 2), super::Override::NewChain(node("slow"))],
    );
    assert_eq!(tasks(&apart), ["Source: r -> Map", "slow -> Filter -> Sink: discard"]);
    // Operator ids stay those of the plan replanned.
    assert_eq!(
        merged.operators.iter().map(|op| op.node).collect::<Vec<_>>(),
        planned.operators.iter().map(|op| op.node).collect::<Vec<_>>()
    );
}
