//! Properties of every plan, over many generated pipelines: random mixes
//! of operators, partitioners, parallelism and chaining attributes. Each
//! chained edge must satisfy all of Flink's chaining rules, tasks must
//! partition the operators, keyed operators must read keyed records, and
//! the JSON plan must round-trip.

use flowc::check::check_source;
use flowc::diag::Code;
use flowc::plan::explain::json::{plan_document, PlanDocument};
use flowc::plan::{plan, Partitioning};
use proptest::prelude::*;

const OPERATORS: &[&str] = &[
    "map { id, k, ts }",
    "filter id > 3",
    "key_by k",
    "rebalance",
    "broadcast",
    "work 1us",
    "throttle 1k/s",
    "window tumbling(1ms) on ts { n = count() }",
    "aggregate { n = count() }",
];

fn attributes() -> impl Strategy<Value = String> {
    (prop::option::of(1..4u32), any::<bool>(), any::<bool>()).prop_map(|(parallelism, no_chain, new_chain)| {
        let mut text = String::new();
        if let Some(n) = parallelism {
            text.push_str(&format!(" @parallelism({n})"));
        }
        if no_chain {
            text.push_str(" @no_chain");
        }
        if new_chain {
            text.push_str(" @new_chain");
        }
        text
    })
}

/// One operator: its code, with attributes where the language allows them.
fn operator() -> impl Strategy<Value = String> {
    (0..OPERATORS.len(), attributes()).prop_map(|(index, attributes)| match OPERATORS[index] {
        partitioner @ ("key_by k" | "rebalance" | "broadcast") => partitioner.to_string(),
        operator => format!("{operator}{attributes}"),
    })
}

fn program() -> impl Strategy<Value = String> {
    let pipeline = prop::collection::vec(operator(), 0..7);
    (1..4u32, any::<bool>(), pipeline, prop::collection::vec(operator(), 0..3), any::<bool>()).prop_map(
        |(parallelism, chaining, operators, second, union)| {
            let mut text = format!(
                "config {{ parallelism = {parallelism}, chaining = {chaining} }}\n\
                 schema R {{ id: int, k: int, ts: timestamp }}\n\
                 source a: R = generate(count = 10) {{ id = seq, k = seq % 3, ts = epoch + seq * 1ms }} @watermark(delay = 0s)\n\
                 source b: R = generate(count = 10) {{ id = seq, k = seq % 3, ts = epoch + seq * 1ms }} @watermark(delay = 0s)\n"
            );
            let head = if union { "union(a, b | filter id > 1)" } else { "a" };
            text.push_str(&format!("let s = {head}{}\n", operators.iter().map(|op| format!(" | {op}")).collect::<String>()));
            text.push_str("s | sink discard\n");
            text.push_str(&format!("s{} | sink print\n", second.iter().map(|op| format!(" | {op}")).collect::<String>()));
            text.push_str("b | sink discard\n");
            text
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(400),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_plan_follows_the_chaining_rules(text in program()) {
        let checked = check_source(&text);
        // Many generated programs are wrong (a window without `key_by`); the
        // checker's verdict on them is tested elsewhere.
        let Some(program) = checked.program else { return Ok(()) };
        let planned = plan(&program);
        prop_assert!(planned.diagnostics.iter().all(|d| d.code != Code::Internal), "{:?}\n{text}", planned.diagnostics);
        let plan = planned.plan.expect("a checked program plans");

        let mut seen = vec![0; plan.operators.len()];
        for task in &plan.tasks {
            for operator in &task.operators {
                seen[*operator] += 1;
                prop_assert_eq!(plan.operators[*operator].task, task.id);
                prop_assert_eq!(plan.operators[*operator].parallelism, task.parallelism);
                prop_assert!(task.name.contains(plan.operators[*operator].name.as_str()));
            }
        }
        prop_assert!(seen.iter().all(|n| *n == 1), "every operator in exactly one task:\n{text}");
        let chained = plan.edges.iter().filter(|edge| edge.chained).count();
        prop_assert_eq!(plan.tasks.len(), plan.operators.len() - chained, "chains are trees");

        for edge in &plan.edges {
            let (from, to) = (&plan.operators[edge.from], &plan.operators[edge.to]);
            if matches!(edge.partitioning, Partitioning::Forward) {
                prop_assert_eq!(from.parallelism, to.parallelism, "forward joins equal parallelism");
            }
            let attributes = |operator: &flowc::plan::physical::PhysicalOperator| plan.logical.node(operator.node).attributes();
            let chainable = matches!(edge.partitioning, Partitioning::Forward)
                && from.parallelism == to.parallelism
                && to.inputs.len() == 1
                && attributes(from).no_chain.is_none()
                && attributes(to).no_chain.is_none()
                && attributes(to).new_chain.is_none()
                && plan.config.chaining;
            prop_assert_eq!(edge.chained, chainable, "edge {} of\n{}", edge.id, text);
            prop_assert_eq!(edge.chained, edge.chain_breaks.is_empty());
            prop_assert_eq!(edge.chained, from.task == to.task);
        }

        let document = plan_document(&plan, "generated.flow", &text);
        let json = serde_json::to_string(&document).unwrap();
        prop_assert_eq!(serde_json::from_str::<PlanDocument>(&json).unwrap(), document);
    }
}
