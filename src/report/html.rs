//! The report as one self-contained HTML page: the task graph coloured as
//! Flink's web UI colours it (idle blue, busy red, backpressured black,
//! blended by the ratios), the bottleneck outlined, a stacked timeline per
//! task drawn from the report's JSON embedded in the page, the verdict,
//! the evidence and the advice. No external file, font or script.

use std::fmt::Write;

use super::analyze::{group, percent};
use super::thresholds::{HEAVY_KEY_WORTH_SAYING, MIN_SAMPLED_KEYS};
use super::{Report, TaskReport};
use crate::metrics::sketch::SAMPLE_EVERY;

const IDLE: (f64, f64, f64) = (0x5d as f64, 0xb1 as f64, 0xff as f64);
const BUSY: (f64, f64, f64) = (0xee as f64, 0x64 as f64, 0x64 as f64);
const BACKPRESSURED: (f64, f64, f64) = (0x20 as f64, 0x20 as f64, 0x20 as f64);

const BOX_WIDTH: usize = 300;
const BOX_HEIGHT: usize = 84;
const COLUMN_GAP: usize = 70;
const ROW_GAP: usize = 24;

/// The page; `text` is the `.flow` file, quoted at the bottleneck's line.
pub fn render(report: &Report, text: &str) -> String {
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>flowc backpressure: {}</title>\n<style>{}</style>\n</head>\n<body>\n",
        escape(&report.file),
        STYLE
    );
    let _ = writeln!(page, "<h1>Backpressure of <code>{}</code></h1>", escape(&report.file));
    let ran = if report.duration_ms < 100.0 {
        format!("{:.1} ms", report.duration_ms)
    } else {
        format!("{:.1} s", report.duration_ms / 1000.0)
    };
    let _ = writeln!(page, "<p class=\"meta\">ran {ran} on {} cores</p>", report.cores);
    verdict(&mut page, report, text);
    let _ = writeln!(page, "<h2>Tasks</h2>");
    graph(&mut page, report);
    table(&mut page, report);
    async_calls(&mut page, report);
    databases(&mut page, report);
    let _ = writeln!(page, "<h2>Over time</h2>\n{LEGEND}\n<div id=\"timelines\"></div>");
    let json = serde_json::to_string(report).expect("a report is plain data").replace("</", "<\\/");
    let _ = writeln!(page, "<script id=\"report-data\" type=\"application/json\">{json}</script>");
    let _ = writeln!(page, "<script>{SCRIPT}</script>\n</body>\n</html>");
    page
}

/// Flink's colours: the blend of idle, busy and backpressured by their ratios.
pub fn task_colour(task: &TaskReport) -> String {
    let total = (task.idle_ratio + task.busy_ratio + task.backpressured_ratio).max(1e-9);
    let mix = |channel: fn((f64, f64, f64)) -> f64| {
        ((channel(IDLE) * task.idle_ratio
            + channel(BUSY) * task.busy_ratio
            + channel(BACKPRESSURED) * task.backpressured_ratio)
            / total)
            .round()
            .clamp(0.0, 255.0) as u8
    };
    format!("#{:02x}{:02x}{:02x}", mix(|c| c.0), mix(|c| c.1), mix(|c| c.2))
}

fn verdict(page: &mut String, report: &Report, text: &str) {
    let _ = writeln!(page, "<section id=\"verdict\">\n<h2>Verdict: {}</h2>", escape(report.verdict.cause.label()));
    let _ = writeln!(page, "<p class=\"summary\">{}</p>\n<ul>", code_spans(&super::words::summary(report)));
    for evidence in &report.verdict.evidence {
        let _ = writeln!(page, "<li>{}</li>", code_spans(&evidence.sentence()));
    }
    let _ = writeln!(page, "</ul>");
    if let Some(line) = report.bottleneck.as_ref().and_then(|b| b.line) {
        if let Some(source_line) = text.lines().nth(line.saturating_sub(1)) {
            let _ = writeln!(
                page,
                "<pre class=\"source\"><span class=\"line\">{line:>4} |</span> {}</pre>",
                escape(source_line)
            );
        }
    }
    if let Some(moving) = &report.moving {
        let _ = writeln!(
            page,
            "<p>The bottleneck moves: {} switches; one letter per {:.0} ms:</p>",
            moving.switches, moving.step_ms
        );
        let _ = writeln!(page, "<pre class=\"moving\">{}</pre>", escape(&moving.timeline));
    }
    for source in &report.sources {
        let _ = writeln!(
            page,
            "<p>Source <code>{}</code> (line {}): wanted {}/s, got {}/s; {} records behind at the end, {} at most.</p>",
            escape(&source.name),
            source.line,
            rounded(source.wanted_per_second),
            rounded(source.achieved_per_second),
            group(source.lag_at_end),
            group(source.lag_max)
        );
    }
    hot_keys(page, report);
    if !report.advice.is_empty() {
        let _ = writeln!(page, "<h2>Advice</h2>\n<ol id=\"advice\">");
        for advice in &report.advice {
            let place = advice.line.map(|line| format!(" (line {line})")).unwrap_or_default();
            let _ = writeln!(
                page,
                "<li><code>{}</code> on {}{place}<br><span class=\"why\">{}</span></li>",
                escape(&advice.change),
                code_spans(&advice.target),
                code_spans(&advice.why)
            );
        }
        let _ = writeln!(page, "</ol>");
    }
    let _ = writeln!(page, "</section>");
}

/// As the text report says them: the heaviest keys of each edge, or why
/// there are too few records to name them.
fn hot_keys(page: &mut String, report: &Report) {
    for edge in &report.hot_keys {
        if edge.keys.is_empty() && edge.records > 0 {
            let _ = writeln!(
                page,
                "<p class=\"keys\">Too few records on <code>key_by {}</code> (line {}) to name its heaviest keys: {} counted of {} (one in {SAMPLE_EVERY}); {MIN_SAMPLED_KEYS} needed.</p>",
                escape(&edge.key),
                edge.line,
                group(edge.sampled),
                group(edge.records)
            );
        } else if edge.keys.first().is_some_and(|key| key.share >= HEAVY_KEY_WORTH_SAYING) {
            let keys: Vec<String> = edge
                .keys
                .iter()
                .take(3)
                .map(|key| format!("<code>{}</code> ({})", escape(&key.key), percent(key.share)))
                .collect();
            let _ = writeln!(
                page,
                "<p class=\"keys\">Heaviest keys on <code>key_by {}</code> (line {}): {}.</p>",
                escape(&edge.key),
                edge.line,
                keys.join(", ")
            );
        }
    }
}

/// Tasks left to right by their distance from the sources.
fn graph(page: &mut String, report: &Report) {
    let n = report.tasks.len();
    let mut column = vec![0usize; n];
    // Tasks are in plan order, upstream before downstream.
    for (task, links) in report_links(report).iter().enumerate() {
        for &downstream in links {
            column[downstream] = column[downstream].max(column[task] + 1);
        }
    }
    let mut row = vec![0usize; n];
    let mut per_column = vec![0usize; n.max(1)];
    for task in 0..n {
        row[task] = per_column[column[task]];
        per_column[column[task]] += 1;
    }
    let columns = column.iter().copied().max().map_or(1, |c| c + 1);
    let rows = per_column.iter().copied().max().unwrap_or(1).max(1);
    let width = columns * (BOX_WIDTH + COLUMN_GAP);
    let height = rows * (BOX_HEIGHT + ROW_GAP) + ROW_GAP;
    let position =
        |task: usize| (column[task] * (BOX_WIDTH + COLUMN_GAP) + 10, row[task] * (BOX_HEIGHT + ROW_GAP) + ROW_GAP);
    // Drawn at its natural size where it fits; scaled down to the page's
    // width (CSS `max-width: 100%` with the viewBox) where it does not, so
    // no task, the bottleneck least of all, is cut off.
    let _ = writeln!(
        page,
        "<svg id=\"task-graph\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" preserveAspectRatio=\"xMinYMin meet\" role=\"img\" aria-label=\"task graph\">"
    );
    let _ = writeln!(page, "<defs><marker id=\"arrow\" markerWidth=\"10\" markerHeight=\"8\" refX=\"9\" refY=\"4\" orient=\"auto\"><path d=\"M0,0 L10,4 L0,8 z\" fill=\"#555\"/></marker></defs>");
    for (from, links) in report_links(report).iter().enumerate() {
        for &to in links {
            let ((x1, y1), (x2, y2)) = (position(from), position(to));
            let _ = writeln!(
                page,
                "<line class=\"edge\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#555\" stroke-width=\"2\" marker-end=\"url(#arrow)\"/>",
                x1 + BOX_WIDTH,
                y1 + BOX_HEIGHT / 2,
                x2 - 2,
                y2 + BOX_HEIGHT / 2
            );
        }
    }
    for task in &report.tasks {
        let (x, y) = position(task.id);
        let class = if task.is_bottleneck { "task bottleneck" } else { "task" };
        let stroke = if task.is_bottleneck {
            "stroke=\"#ffcc00\" stroke-width=\"5\""
        } else {
            "stroke=\"#333\" stroke-width=\"1\""
        };
        // What fits the box at the name's font size; the whole name is its title.
        let name: String = if task.name.chars().count() > 36 {
            task.name.chars().take(35).chain(['…']).collect()
        } else {
            task.name.clone()
        };
        let state = if task.is_bottleneck {
            "▶ BOTTLENECK: limits the pipeline".to_string()
        } else {
            format!("backpressure {}", task.status.label())
        };
        let _ = writeln!(
            page,
            "<g class=\"{class}\" data-task=\"{}\" data-status=\"{}\" data-backpressure=\"{}\"><title>{}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{BOX_WIDTH}\" height=\"{BOX_HEIGHT}\" rx=\"6\" fill=\"{}\" {stroke}/>\
             <text x=\"{}\" y=\"{}\" class=\"name\">{}</text>\
             <text x=\"{}\" y=\"{}\">p={} · busy {} · backpr. {} · idle {}</text>\
             <text x=\"{}\" y=\"{}\" class=\"state\">{}</text></g>",
            task.id,
            super::text::status(task),
            task.status.label(),
            escape(&task.name),
            task_colour(task),
            x + 10,
            y + 24,
            escape(&name),
            x + 10,
            y + 46,
            task.parallelism,
            percent(task.busy_ratio),
            percent(task.backpressured_ratio),
            percent(task.idle_ratio),
            x + 10,
            y + 68,
            state
        );
    }
    let _ = writeln!(page, "</svg>");
}

/// For each task, the tasks it sends to (`TaskReport::downstream`): the
/// page draws from the report alone, not the plan.
fn report_links(report: &Report) -> Vec<Vec<usize>> {
    report.tasks.iter().map(|task| task.downstream.clone()).collect()
}

fn table(page: &mut String, report: &Report) {
    let _ = writeln!(
        page,
        "<div class=\"wide\"><table id=\"tasks\"><thead><tr><th>task</th><th>p</th><th>status</th><th>busy</th><th title=\"backpressured\">backpr.</th><th>idle</th><th>cpu</th><th>in/s</th><th>out/s</th><th>in pool</th><th>out pool</th></tr></thead><tbody>"
    );
    for task in &report.tasks {
        let _ = writeln!(
            page,
            "<tr{}><td>{}</td><td>{}</td><td class=\"status {}\"{}>{}</td><td>{:.0}</td><td>{:.0}</td><td>{:.0}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if task.is_bottleneck { " class=\"bottleneck\"" } else { "" },
            escape(&task.name),
            task.parallelism,
            super::text::status(task),
            if task.is_bottleneck {
                format!(
                    " title=\"limits the pipeline: its busiest subtask is busy {}; backpressure {}, as nothing downstream blocks it\"",
                    percent(task.max_busy_ratio),
                    task.status.label()
                )
            } else {
                String::new()
            },
            super::text::status(task),
            task.busy_ratio * 1000.0,
            task.backpressured_ratio * 1000.0,
            task.idle_ratio * 1000.0,
            task.cpu_ratio.map_or("?".into(), |cpu| format!("{:.0}", cpu * 1000.0)),
            rounded(task.records_in_per_second),
            rounded(task.records_out_per_second),
            percent(task.in_pool_usage),
            percent(task.out_pool_usage)
        );
    }
    let _ = writeln!(page, "</tbody></table></div>\n<p class=\"meta\">busy, backpressured, idle and cpu in ms per second, mean of the subtasks; status from the most backpressured subtask, BOTTLENECK for the task that limits the pipeline</p>");
}

/// Each operator that talks to a database, when there are any.
fn databases(page: &mut String, report: &Report) {
    let sentences: Vec<String> =
        report.tasks.iter().flat_map(|task| &task.operators).filter_map(super::text::database_sentence).collect();
    if sentences.is_empty() {
        return;
    }
    let _ = writeln!(page, "<h2>Databases</h2>\n<p class=\"meta\">whole run, all subtasks</p>\n<ul>");
    for sentence in sentences {
        let _ = writeln!(page, "<li>{}</li>", code_spans(&sentence));
    }
    let _ = writeln!(page, "</ul>");
}

/// Each `@async` operator's calls in flight, when there are any.
fn async_calls(page: &mut String, report: &Report) {
    let operators: Vec<&super::OperatorReport> =
        report.tasks.iter().flat_map(|task| &task.operators).filter(|op| op.async_capacity.is_some()).collect();
    if operators.is_empty() {
        return;
    }
    let _ = writeln!(page, "<h2>Async calls</h2>\n<p class=\"meta\">records in flight per subtask</p>\n<ul>");
    for operator in operators {
        let _ = writeln!(page, "<li>{}</li>", code_spans(&super::text::async_calls_sentence(operator)));
    }
    let _ = writeln!(page, "</ul>");
}

/// `36,858`, as the text report groups it.
fn rounded(value: f64) -> String {
    group(value.max(0.0).round() as u64)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// Escapes `text` and turns its `backquoted` parts into `<code>`.
fn code_spans(text: &str) -> String {
    escape(text)
        .split('`')
        .enumerate()
        .map(|(index, part)| if index % 2 == 1 { format!("<code>{part}</code>") } else { part.to_string() })
        .collect()
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}\
code,pre{font-family:ui-monospace,monospace}code{overflow-wrap:anywhere}\
pre.source,pre.moving{background:#f4f4f4;padding:.5em;white-space:pre-wrap;overflow-wrap:anywhere}\
.line{color:#888}.meta{color:#666}.wide{overflow-x:auto}table{border-collapse:collapse;margin-top:1em;font-size:14px}\
td,th{padding:.25em .45em;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child{text-align:left}\
tr.bottleneck{font-weight:bold}.status.HIGH,.status.BOTTLENECK{color:#b00}.status.LOW{color:#c70}.status.OK{color:#080}\
#task-graph{max-width:100%;height:auto;display:block}\
#task-graph text{font-size:11px;fill:#fff}#task-graph text.name{font-weight:bold;font-size:13px}\
#task-graph .bottleneck text.state{font-weight:bold;fill:#ffcc00}\
.legend{font-size:12px;margin:.4em 0}.legend span{display:inline-block;margin-right:1.2em}\
.legend i{display:inline-block;width:12px;height:12px;margin-right:.35em;vertical-align:-2px}\
.timeline{margin:.6em 0}.timeline .label{display:block;font-size:12px;margin-bottom:.15em}\
.timeline svg,svg.time-axis{display:block;width:100%;max-width:640px;height:auto}\
svg.time-axis text{font-size:11px;fill:#444}.why{color:#444}";

/// What each colour of the timelines means, in Flink's colours.
const LEGEND: &str = "<div class=\"legend\" id=\"timeline-legend\">\
<span><i style=\"background:#ee6464\"></i>busy</span>\
<span><i style=\"background:#202020\"></i>backpressured</span>\
<span><i style=\"background:#5db1ff\"></i>idle</span>\
<span>bar height: ms per second, mean of the subtasks</span></div>";

/// Draws each task's busy (red), backpressured (black) and idle (blue)
/// time as stacked bars from the embedded report, and under them an axis
/// in seconds since the start of the run.
const SCRIPT: &str = r#"
(function () {
  var report = JSON.parse(document.getElementById('report-data').textContent);
  var host = document.getElementById('timelines');
  var ns = 'http://www.w3.org/2000/svg';
  var width = 600, height = 40, total = Math.max(report.duration_ms, 1);
  function svgOf(h, cls) {
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('width', width + 40);
    svg.setAttribute('height', h);
    // The same margins on every row and the axis, so their seconds line up.
    svg.setAttribute('viewBox', '-20 0 ' + (width + 40) + ' ' + h);
    svg.setAttribute('preserveAspectRatio', 'none');
    svg.setAttribute('class', cls);
    return svg;
  }
  report.tasks.forEach(function (task) {
    var row = document.createElement('div');
    row.className = 'timeline';
    var label = document.createElement('span');
    label.className = 'label';
    label.textContent = task.name;
    row.appendChild(label);
    var svg = svgOf(height, 'task-timeline');
    svg.setAttribute('data-task', task.id);
    task.timeline.forEach(function (point, i) {
      var next = i + 1 < task.timeline.length ? task.timeline[i + 1].start_ms : total;
      var x = point.start_ms / total * width, w = Math.max((next - point.start_ms) / total * width - 0.5, 0.5);
      var y = height;
      [['#ee6464', point.busy_ms_per_second], ['#202020', point.backpressured_ms_per_second],
       ['#5db1ff', point.idle_ms_per_second]].forEach(function (part) {
        var h = part[1] / 1000 * height;
        y -= h;
        var rect = document.createElementNS(ns, 'rect');
        rect.setAttribute('x', x);
        rect.setAttribute('y', y);
        rect.setAttribute('width', w);
        rect.setAttribute('height', h);
        rect.setAttribute('fill', part[0]);
        svg.appendChild(rect);
      });
    });
    row.appendChild(svg);
    host.appendChild(row);
  });
  // Ticks at 1, 2 or 5 times a power of ten seconds, about six of them.
  var seconds = total / 1000, raw = seconds / 6, power = Math.pow(10, Math.floor(Math.log10(raw)));
  var step = [1, 2, 5, 10].map(function (m) { return m * power; }).find(function (s) { return s >= raw; });
  var digits = Math.max(0, -Math.floor(Math.log10(step)));
  var axis = svgOf(30, 'time-axis');
  var base = document.createElementNS(ns, 'line');
  [['x1', 0], ['y1', 2], ['x2', width], ['y2', 2], ['stroke', '#444']].forEach(function (a) { base.setAttribute(a[0], a[1]); });
  axis.appendChild(base);
  for (var t = 0; t <= seconds + 1e-9; t += step) {
    var x = t / seconds * width;
    var tick = document.createElementNS(ns, 'line');
    [['x1', x], ['y1', 2], ['x2', x], ['y2', 8], ['stroke', '#444']].forEach(function (a) { tick.setAttribute(a[0], a[1]); });
    axis.appendChild(tick);
    var text = document.createElementNS(ns, 'text');
    text.setAttribute('x', x);
    text.setAttribute('y', 20);
    text.setAttribute('text-anchor', 'middle');
    text.textContent = t.toFixed(digits) + ' s';
    axis.appendChild(text);
  }
  host.appendChild(axis);
  document.body.setAttribute('data-rendered', 'yes');
})();
"#;
