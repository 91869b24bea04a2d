//! The report on fixed recordings, so its text is deterministic: each case
//! in `tests/golden/report/<case>/` holds the `.flow` file, the metrics a
//! real run saved (`flowc run input.flow --save-metrics metrics.json`), and
//! the expected text and JSON reports. `UPDATE_GOLDEN=1 cargo test --test
//! report_golden` rewrites the expected files. The HTML page of each case
//! is loaded in headless Chromium when it is installed (CI installs it and
//! sets `FLOWC_REQUIRE_CHROMIUM=1`) at 800 and 1400 px wide: it must show
//! the graph and verdict, fit the window with the bottleneck in view and
//! marked as such, and its screenshots are kept in
//! `target/tmp/report-screenshots/`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flowc::metrics::recording::Recording;
use flowc::report::{
    analyze, html, text, thresholds, Cause, CpuSignal, Evidence, JoinInput, Report, Status, Summary, MIN_SAMPLED_KEYS,
    MIN_SAMPLES,
};

/// The cores the reports are written for, whatever machine runs the test.
const CORES: u32 = 2;

fn cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> =
        fs::read_dir("tests/golden/report").unwrap().map(|entry| entry.unwrap().path()).collect();
    cases.sort();
    cases
}

fn report_of(case: &Path) -> (Report, String) {
    let flow = fs::read_to_string(case.join("input.flow")).unwrap();
    let program = flowc::check::check_source(&flow).program.expect("the case checks");
    let plan = flowc::plan::plan(&program).plan.unwrap();
    let recording = Recording::from_json(&fs::read_to_string(case.join("metrics.json")).unwrap()).unwrap();
    let name = format!("{}.flow", case.file_name().unwrap().to_string_lossy());
    (analyze(&plan, &recording, &name, &flow, CORES), flow)
}

fn compare(path: &Path, actual: &str, mismatches: &mut Vec<String>) {
    if std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| !v.is_empty() && v != "0") {
        fs::write(path, actual).unwrap();
        return;
    }
    match fs::read_to_string(path) {
        Ok(expected) if expected == actual => {}
        Ok(expected) => mismatches.push(format!(
            "{}:\n{}",
            path.display(),
            similar_asserts::SimpleDiff::from_str(&expected, actual, "expected", "actual")
        )),
        Err(_) => mismatches.push(format!("{}: missing; run with UPDATE_GOLDEN=1", path.display())),
    }
}

#[test]
fn reports_of_fixed_recordings_match_their_golden_text_and_json() {
    let mut mismatches = Vec::new();
    for case in cases() {
        let (report, flow) = report_of(&case);
        compare(&case.join("report.txt"), &text::render(&report, &flow), &mut mismatches);
        let json = serde_json::to_string_pretty(&report).unwrap() + "\n";
        compare(&case.join("report.json"), &json, &mut mismatches);
        let parsed: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(parsed, report, "{}: the JSON report reads back", case.display());
    }
    assert!(mismatches.is_empty(), "{} golden file(s) differ:\n\n{}", mismatches.len(), mismatches.join("\n\n"));
}

#[test]
fn the_report_json_schema_is_pinned() {
    // The top-level and per-task fields programs rely on; a change here is
    // a schema change and must bump `SCHEMA_VERSION`.
    let (report, _) = report_of(Path::new("tests/golden/report/data_skew"));
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    let keys = |value: &serde_json::Value| {
        let mut keys: Vec<String> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys.join(" ")
    };
    assert_eq!(json["schema_version"], 2);
    assert_eq!(
        keys(&json),
        "advice analysed_from_ms analysed_to_ms bottleneck cores duration_ms file hot_keys machine moving scaling schema_version sources tasks too_short verdict"
    );
    assert_eq!(
        keys(&json["tasks"][0]),
        "backpressured_ratio busy_ratio bytes_out_per_second cpu_ratio downstream exclusive_buffers_usage \
         floating_buffers_usage id idle_ratio in_pool_usage is_bottleneck max_backpressured_ratio max_busy_ratio \
         name operators out_pool_usage parallelism records_in_per_second records_in_total records_out_per_second \
         run_queue_ratio status subtasks timeline"
    );
    assert_eq!(keys(&json["verdict"]), "cause evidence summary");
    assert_eq!(json["verdict"]["cause"], "data_skew");
    assert_eq!(json["tasks"][0]["status"], "HIGH");
}

/// The JSON's verdict is data: what limits, and each fact with its
/// figures and the threshold it was compared with.
#[test]
fn the_json_verdict_holds_typed_evidence() {
    let (report, _) = report_of(Path::new("tests/golden/report/cpu_bound"));
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    let verdict = &json["verdict"];
    assert_eq!(verdict["summary"]["kind"], "operator");
    assert_eq!(verdict["summary"]["operator_name"], "compress");
    assert_eq!(verdict["summary"]["line"], 22);
    assert_eq!(verdict["summary"]["in_chain"], true);
    let kinds: Vec<&str> =
        verdict["evidence"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["busy", "operator_share", "cpu_share", "machine_near_limit"]);
    let busy = &verdict["evidence"][0];
    assert_eq!(busy["task"], 0);
    assert!(busy["busy_ratio"].as_f64().unwrap() > 0.9, "{busy}");
    assert!(busy["cpu_ratio"].as_f64().is_some(), "{busy}");
    let cpu = &verdict["evidence"][2];
    // No run-queue times in this recording, and the run kept both cores busy.
    assert_eq!(cpu["signal"], "full_machine_fallback");
    assert_eq!(cpu["threshold"], thresholds::CPU_BOUND_ON_A_FULL_MACHINE);
    assert!(cpu["run_queue_share"].is_null());
    assert!(cpu["cpu_share"].as_f64().unwrap() >= cpu["threshold"].as_f64().unwrap());
    let machine = &verdict["evidence"][3];
    assert_eq!(machine["cores"], CORES);
    assert_eq!(machine["threshold"], thresholds::MACHINE_NEAR_LIMIT);

    let (report, _) = report_of(Path::new("tests/golden/report/data_skew"));
    let Evidence::Skew { subtask, of, share, threshold, .. } = &report.verdict.evidence[1] else {
        panic!("skew second: {:?}", report.verdict.evidence)
    };
    assert_eq!((*subtask, *of, *threshold), (0, 4, thresholds::SKEWED));
    assert!(*share > 0.5);
    assert!(
        matches!(&report.verdict.evidence[2], Evidence::HotKey { key, key_by, line: 25, .. } if key == "7" && key_by == "customer")
    );
    assert!(matches!(report.verdict.summary, Summary::Operator { hot_subtask: Some(0), parallelism: 4, .. }));

    let (report, _) = report_of(Path::new("tests/golden/report/network_bottleneck"));
    assert!(matches!(report.verdict.summary, Summary::Channels { from_task: 0, to_task: 1, .. }));
    assert!(matches!(
        report.verdict.evidence[2],
        Evidence::CreditRoundTrip { channel_latency_ms, buffers_per_channel: 1, floating_buffers: 0, .. } if channel_latency_ms == 5.0
    ));

    let (report, _) = report_of(Path::new("tests/golden/report/cpu_drain"));
    let Some(Evidence::Drain { sources_ended_ms, drain_ms, share, threshold }) = report.verdict.evidence.last() else {
        panic!("the drain last: {:?}", report.verdict.evidence)
    };
    assert!(*sources_ended_ms < *drain_ms && *share >= *threshold, "{:?}", report.verdict.evidence);
    assert!(report
        .verdict
        .evidence
        .iter()
        .any(|e| matches!(e, Evidence::CpuShare { signal: CpuSignal::RunQueue, .. })));
}

/// One of each `Evidence` variant, with plausible figures.
fn every_kind_of_evidence() -> Vec<Evidence> {
    let task_name = || "score -> Sink: discard".to_string();
    vec![
        Evidence::Backpressured {
            task: 0,
            task_name: "Source: r".into(),
            ratio: 0.85,
            status: Status::High,
            out_pool_usage: 0.94,
            threshold: thresholds::BACKPRESSURED,
            join_input: Some(JoinInput { join: "IntervalJoin".into(), side: "left".into() }),
        },
        Evidence::SlowBuffers {
            task: 1,
            task_name: task_name(),
            busy_ratio: 0.01,
            in_pool_usage: 0.0,
            busy_threshold: thresholds::STARVED_BUSY,
            in_pool_threshold: thresholds::STARVED_IN_POOL,
        },
        Evidence::CreditRoundTrip {
            from_task: 0,
            to_task: 1,
            out_pool_usage: 0.86,
            out_pool_threshold: thresholds::FULL_OUT_POOL,
            channel_latency_ms: 0.3,
            buffers_per_channel: 1,
            floating_buffers: 0,
        },
        Evidence::Skew {
            task: 1,
            subtask: 2,
            of: 4,
            share: 0.84,
            records: 30_806,
            total: 36_858,
            busy: 1.0,
            siblings_busy: 0.14,
            threshold: thresholds::SKEWED,
            busy_threshold: thresholds::SATURATED,
            siblings_threshold: thresholds::SIBLINGS_IDLE,
        },
        Evidence::HotKey { edge: 0, key_by: "customer".into(), line: 25, key: "7".into(), records: 1_900, share: 0.8 },
        Evidence::Busy {
            task: 1,
            task_name: task_name(),
            busy_ratio: 0.7,
            max_busy_ratio: 0.95,
            cpu_ratio: Some(0.66),
            max_backpressured_ratio: 0.0,
        },
        Evidence::OperatorShare { task: 1, operator: 3, operator_name: "score".into(), line: 4, share: 0.98 },
        Evidence::CpuShare {
            task: 1,
            cpu_share: 0.9,
            run_queue_share: Some(0.4),
            threshold: thresholds::CPU_BOUND,
            signal: CpuSignal::RunQueue,
        },
        Evidence::MachineNearLimit { cores_used: 1.9, cores: 2, threshold: thresholds::MACHINE_NEAR_LIMIT },
        Evidence::Drain {
            sources_ended_ms: 150.0,
            drain_ms: 7_500.0,
            share: 0.98,
            threshold: thresholds::DRAIN_WORTH_SAYING,
        },
        Evidence::OtherPrograms { other_cores: 0.9, cpus: 2, threshold: thresholds::OTHER_PROGRAMS },
        Evidence::NoBackpressure {
            busiest_task: 0,
            busiest_task_name: "Source: r".into(),
            busy: 0.2,
            threshold: thresholds::SATURATED,
        },
        Evidence::ShortRunWork { source_records: 40, busy_ms: 3.0 },
        Evidence::ShortRunRatios { samples: 1, needed_samples: MIN_SAMPLES },
        Evidence::Database {
            operator: 3,
            operator_name: "Sink: postgres".into(),
            line: 30,
            share: 0.99,
            totals: flowc::metrics::recording::DatabaseTotals {
                transactions: 2_856,
                rows_written: 2_856,
                begin_ms: 230.0,
                write_ms: 2_080.0,
                commit_ms: 1_230.0,
                ..Default::default()
            },
        },
    ]
}

fn every_kind_of_summary() -> Vec<Summary> {
    vec![
        Summary::Operator {
            task: 1,
            task_name: "score -> Sink: discard".into(),
            operator: 3,
            operator_name: "score".into(),
            line: 4,
            in_chain: true,
            hot_subtask: None,
            parallelism: 2,
        },
        Summary::Source { task: 0, task_name: "Source: r".into(), operator: 0, operator_name: "r".into(), line: 3 },
        Summary::Channels {
            from_task: 0,
            from_task_name: "Source: r".into(),
            to_task: 1,
            to_task_name: "Map -> Sink: discard".into(),
        },
        Summary::NoBottleneck,
        Summary::TooShort {
            judged_ms: 5.5,
            samples: 1,
            sample_interval_ms: 50.0,
            needed_samples: MIN_SAMPLES,
            needed_ms: 500.0,
        },
    ]
}

/// Every kind of evidence and summary reads back from its JSON as the
/// same value, is tagged with its `kind`, and docs/report-json.md names
/// the kind and every field.
#[test]
fn every_kind_of_evidence_round_trips_and_is_documented() {
    let doc = fs::read_to_string("docs/report-json.md").unwrap();
    let evidence = every_kind_of_evidence();
    let mut kinds: Vec<&str> = evidence.iter().map(Evidence::kind).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut all = Evidence::KINDS.to_vec();
    all.sort_unstable();
    assert_eq!(kinds, all, "one example of every kind of evidence");
    let mut undocumented = Vec::new();
    let mut check = |json: &serde_json::Value| {
        let object = json.as_object().unwrap();
        let kind = object["kind"].as_str().unwrap();
        if !doc.contains(&format!("| `{kind}` |")) {
            undocumented.push(format!("kind {kind}"));
        }
        for field in object.keys() {
            if !doc.contains(&format!("`{field}`")) {
                undocumented.push(format!("{kind}.{field}"));
            }
        }
    };
    for fact in &evidence {
        let json = serde_json::to_value(fact).unwrap();
        assert_eq!(json["kind"], fact.kind(), "{fact:?}");
        check(&json);
        let back: Evidence = serde_json::from_str(&serde_json::to_string(fact).unwrap()).unwrap();
        assert_eq!(&back, fact);
        assert!(!fact.sentence().is_empty());
    }
    for summary in every_kind_of_summary() {
        let json = serde_json::to_value(&summary).unwrap();
        check(&json);
        let back: Summary = serde_json::from_value(json).unwrap();
        assert_eq!(back, summary);
    }
    assert!(undocumented.is_empty(), "docs/report-json.md does not name {undocumented:?}");
}

/// The sentences of the facts no golden case shows.
#[test]
fn evidence_reads_as_the_report_says_it() {
    let sentence =
        |kind: &str| every_kind_of_evidence().into_iter().find(|e| e.kind() == kind).map(|e| e.sentence()).unwrap();
    assert_eq!(
        sentence("other_programs"),
        "other programs kept 0.9 of the machine's 2 cores busy during the run (45% of them): busy times include \
         waiting for a core, and the job would run faster on a quiet machine"
    );
    assert_eq!(
        sentence("no_backpressure"),
        "no task is backpressured; the busiest, `Source: r`, is busy 20% of the time"
    );
    assert_eq!(
        sentence("cpu_share"),
        "it waited for a CPU 40% of its busy time (the cores were taken) and was on one 90% of the rest: the work computes"
    );
    assert_eq!(sentence("skew"), "subtask 3 of 4 received 84% of the records (30,806 of 36,858) and is busy 100%; its siblings are busy 14% on average");
    assert_eq!(
        sentence("credit_round_trip"),
        "each buffer and each credit takes 300us to cross (channel_latency); each channel has 1 exclusive buffer(s) and its gate 0 floating"
    );
    assert_eq!(
        sentence("busy"),
        "`score -> Sink: discard` is busy 70% of the time (its busiest subtask 95%), using 66% CPU, and not backpressured"
    );
}

#[test]
fn a_run_too_short_to_judge_gives_its_numbers_instead_of_a_verdict() {
    // `flowc run examples/quickstart.flow --save-metrics`: 40 rows, a few ms.
    let (report, flow) = report_of(Path::new("tests/golden/report/tiny_run"));
    assert_eq!(report.verdict.cause, Cause::TooShort);
    assert!(report.bottleneck.is_none() && report.moving.is_none());
    assert!(report.tasks.iter().all(|task| !task.is_bottleneck));
    let short = report.too_short.as_ref().expect("the numbers of a run too short");
    assert!(short.samples < MIN_SAMPLES, "{short:?}");
    assert_eq!(short.needed_samples, MIN_SAMPLES);
    assert!(short.judged_ms < short.needed_ms, "{short:?}");
    assert_eq!(short.source_records, 40);
    assert!(report.advice.iter().all(|advice| advice.change.starts_with("run it for")), "{:?}", report.advice);

    let text = text::render(&report, &flow);
    assert!(text.contains("verdict: too short to judge:"), "{text}");
    assert!(text.contains("a verdict needs 10 samples"), "{text}");
    assert!(text.contains("give it a file with more records, or use a generator with a `count`"), "{text}");
    assert!(!text.contains("heaviest keys on"), "no heavy keys from one sampled record: {text}");
    assert!(!text.contains("is the bottleneck") && !text.contains("▶"), "{text}");
    let page = html::render(&report, &flow);
    assert!(page.contains("Verdict: too short to judge"));
    assert!(page.contains("Too few records on <code>key_by shop</code>"));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["verdict"]["cause"], "too_short");
    assert_eq!(json["too_short"]["needed_samples"], MIN_SAMPLES);
    assert_eq!(json["hot_keys"][0]["keys"].as_array().map(Vec::len), Some(0));
}

#[test]
fn heavy_keys_are_named_only_from_enough_sampled_records() {
    for case in cases() {
        let (report, _) = report_of(&case);
        assert_eq!(report.too_short.is_some(), report.verdict.cause == Cause::TooShort, "{}", case.display());
        for edge in &report.hot_keys {
            assert!(edge.keys.is_empty() || edge.sampled >= MIN_SAMPLED_KEYS, "{}: {edge:?}", case.display());
        }
    }
    // Recordings saved before the sample count was kept estimate it, and
    // keep naming the hot key of a skewed run.
    let (report, _) = report_of(Path::new("tests/golden/report/data_skew"));
    assert_eq!(report.hot_keys[0].keys[0].key, "7");
    assert_eq!(report.verdict.cause, Cause::DataSkew);
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok_and(|output| output.status.success()))
}

/// Appended to the page under test: measures the layout after the page's
/// own script ran and writes the result into the DOM, where `--dump-dom`
/// prints it.
const LAYOUT_PROBE: &str = r#"<script>
(function () {
  var root = document.documentElement, width = root.clientWidth;
  var wide = document.querySelector('.wide');
  var box = document.querySelector('#task-graph .bottleneck rect');
  var inside = null;
  if (box) {
    var r = box.getBoundingClientRect();
    inside = r.left >= 0 && r.right <= width && r.width > 0;
  }
  var cell = document.querySelector('tr.bottleneck td.status');
  document.body.setAttribute('data-layout', [
    'page-fits=' + (root.scrollWidth <= width),
    'table-fits=' + (!wide || wide.scrollWidth <= wide.clientWidth),
    'bottleneck-inside=' + inside,
    'bottleneck-status=' + (cell ? cell.textContent : 'none'),
    'legend=' + !!document.getElementById('timeline-legend'),
    'axis-ticks=' + document.querySelectorAll('svg.time-axis text').length
  ].join(' '));
})();
</script>"#;

#[test]
fn the_html_report_shows_the_coloured_graph_and_the_verdict_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("FLOWC_REQUIRE_CHROMIUM").is_none(), "Chromium is required but not installed");
        eprintln!("skipped: no Chromium to load the HTML report in");
        return;
    };
    let dir = std::env::temp_dir().join(format!("flowc-html-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    // Kept after the test, to look at.
    let screenshots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-screenshots");
    fs::create_dir_all(&screenshots).unwrap();
    let headless = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars"];
    for case in cases() {
        let (report, flow) = report_of(&case);
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let page = dir.join(format!("{name}.html"));
        let html = html::render(&report, &flow);
        assert!(!html.contains(LAYOUT_PROBE));
        fs::write(&page, html.replace("</body>", &format!("{LAYOUT_PROBE}</body>"))).unwrap();
        for width in [800, 1400] {
            let window = format!("--window-size={width},1200");
            let output = Command::new(browser)
                .args(headless)
                .args([window.as_str(), "--dump-dom"])
                .arg(format!("file://{}", page.display()))
                .output()
                .unwrap();
            let dom = String::from_utf8_lossy(&output.stdout);
            let at = format!("{} at {width} px", case.display());
            assert!(dom.contains("data-rendered=\"yes\""), "{at}: the page's script ran");
            assert!(dom.contains("id=\"task-graph\""), "{at}: the task graph");
            assert_eq!(dom.matches("class=\"task-timeline\"").count(), report.tasks.len(), "{at}: a timeline per task");
            for task in &report.tasks {
                let colour = html::task_colour(task);
                assert!(dom.contains(&format!("fill=\"{colour}\"")), "{at}: `{}` coloured {colour}", task.name);
            }
            let layout = dom
                .split("data-layout=\"")
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("{at}: the layout probe ran"));
            assert!(layout.contains("page-fits=true"), "{at}: the page is wider than the window: {layout}");
            assert!(layout.contains("table-fits=true"), "{at}: the task table is cut off: {layout}");
            assert!(layout.contains("legend=true"), "{at}: the timelines have a legend: {layout}");
            let ticks: usize = layout.split("axis-ticks=").nth(1).unwrap().parse().unwrap();
            assert!(ticks >= 2, "{at}: the timelines have a time axis: {layout}");
            assert!(dom.contains(&format!("Verdict: {}", report.verdict.cause.label())), "{at}: the verdict");
            match &report.bottleneck {
                Some(bottleneck) => {
                    assert!(
                        dom.contains(&format!(
                            "class=\"task bottleneck\" data-task=\"{}\" data-status=\"BOTTLENECK\"",
                            bottleneck.task
                        )),
                        "{at}: the bottleneck is marked, and its box says so"
                    );
                    assert!(layout.contains("bottleneck-inside=true"), "{at}: the bottleneck is cut off: {layout}");
                    assert!(
                        layout.contains("bottleneck-status=BOTTLENECK"),
                        "{at}: the bottleneck's status must not read as healthy: {layout}"
                    );
                }
                None => {
                    assert!(report.too_short.is_some(), "{at}: only a run too short to judge has no bottleneck");
                    assert!(!dom.contains("class=\"task bottleneck\""), "{at}: no bottleneck is marked");
                }
            }
            let png = screenshots.join(format!("{name}-{width}.png"));
            let _ = fs::remove_file(&png);
            let shot = Command::new(browser)
                .args(headless)
                .arg(&window)
                .arg(format!("--screenshot={}", png.display()))
                .arg(format!("file://{}", page.display()))
                .output()
                .unwrap();
            let size = fs::metadata(&png).map(|m| m.len()).unwrap_or(0);
            assert!(size > 10_000, "{at}: a screenshot in {} ({size} bytes): {shot:?}", png.display());
        }
    }
    let _ = fs::remove_dir_all(&dir);
}
