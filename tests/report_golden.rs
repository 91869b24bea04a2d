//! The report on fixed recordings, so its text is deterministic: each case
//! in `tests/golden/report/<case>/` holds the `.flow` file, the metrics a
//! real run saved (`flowc run input.flow --save-metrics metrics.json`), and
//! the expected text and JSON reports. `UPDATE_GOLDEN=1 cargo test --test
//! report_golden` rewrites the expected files. The HTML page of each case
//! is loaded in headless Chromium when it is installed (CI installs it and
//! sets `FLOWC_REQUIRE_CHROMIUM=1`), and must show the graph and verdict.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use flowc::metrics::recording::Recording;
use flowc::report::{analyze, html, text, Report};

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
    assert_eq!(json["schema_version"], 1);
    assert_eq!(
        keys(&json),
        "advice analysed_from_ms analysed_to_ms bottleneck cores duration_ms file hot_keys moving schema_version sources tasks verdict"
    );
    assert_eq!(
        keys(&json["tasks"][0]),
        "backpressured_ratio busy_ratio bytes_out_per_second cpu_ratio downstream exclusive_buffers_usage \
         floating_buffers_usage id idle_ratio in_pool_usage is_bottleneck max_backpressured_ratio max_busy_ratio \
         name operators out_pool_usage parallelism records_in_per_second records_in_total records_out_per_second \
         status subtasks timeline"
    );
    assert_eq!(keys(&json["verdict"]), "cause evidence summary");
    assert_eq!(json["verdict"]["cause"], "data_skew");
    assert_eq!(json["tasks"][0]["status"], "HIGH");
}

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok_and(|output| output.status.success()))
}

#[test]
fn the_html_report_shows_the_coloured_graph_and_the_verdict_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(std::env::var_os("FLOWC_REQUIRE_CHROMIUM").is_none(), "Chromium is required but not installed");
        eprintln!("skipped: no Chromium to load the HTML report in");
        return;
    };
    let dir = std::env::temp_dir().join(format!("flowc-html-{}", std::process::id()));
    fs::create_dir_all(&dir).unwrap();
    for case in cases() {
        let (report, flow) = report_of(&case);
        let page = dir.join(format!("{}.html", case.file_name().unwrap().to_string_lossy()));
        fs::write(&page, html::render(&report, &flow)).unwrap();
        let output = Command::new(browser)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--dump-dom"])
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&output.stdout);
        assert!(dom.contains("data-rendered=\"yes\""), "{}: the page's script ran", case.display());
        assert!(dom.contains("id=\"task-graph\""), "{}: the task graph", case.display());
        assert_eq!(
            dom.matches("class=\"task-timeline\"").count(),
            report.tasks.len(),
            "{}: a timeline per task",
            case.display()
        );
        for task in &report.tasks {
            let colour = html::task_colour(task);
            assert!(
                dom.contains(&format!("fill=\"{colour}\"")),
                "{}: `{}` coloured {colour}",
                case.display(),
                task.name
            );
        }
        let bottleneck = report.bottleneck.as_ref().expect("every case has a bottleneck");
        assert!(
            dom.contains(&format!("class=\"task bottleneck\" data-task=\"{}\"", bottleneck.task)),
            "{}: the bottleneck is marked",
            case.display()
        );
        assert!(dom.contains(&format!("Verdict: {}", report.verdict.cause.label())), "{}: the verdict", case.display());
    }
    let _ = fs::remove_dir_all(&dir);
}
