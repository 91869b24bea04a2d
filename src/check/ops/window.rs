//! `window tumbling(1m) on ts { … }`, `window sliding(1m, every = 10s) on ts
//! { … }`: keyed event-time windows, emitted when the watermark passes their end.

use std::sync::Arc;

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::ast;

use super::super::args::{bind, Param};
use super::super::constant::{expect, require_positive, Const, Expected};
use super::super::expr::Scope;
use super::super::program::{Key, OperatorKind, SourceId, WindowKind};
use super::super::types::{Field, RecordType, Type};
use super::super::Checker;
use super::{FlinkForm, KeyUse, OperatorSpec, Pace, Records, Routing, StateKind};

/// The kinds of window a `window` takes; a window join takes the first two.
pub const WINDOW_KINDS: &[&str] = &["tumbling", "sliding", "session"];

fn window_usage(kind: &str) -> &'static str {
    match kind {
        "tumbling" => "tumbling(size)",
        "sliding" => "sliding(size, every = slide)",
        _ => "session(gap)",
    }
}

/// The most windows a sliding window may put one record in (`size / every`).
pub const MAX_WINDOWS_PER_RECORD: i64 = 10_000;

pub const SPEC: OperatorSpec = OperatorSpec {
    keyword: "window",
    summary: "aggregates each key's records per tumbling or sliding event-time window",
    inputs: 1,
    records: Records::New,
    keys: KeyUse::Needs,
    routing: Routing::Runs,
    fuses: false,
    pace: Pace::Free,
    blocking: false,
    state: StateKind::KeysInOpenWindows,
    flink: FlinkForm::Translates,
};

impl Checker<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn check_window(
        &mut self,
        op_use: &ast::OperatorUse,
        kind: &ast::Call,
        time_field: &ast::Ident,
        aggregates: &[ast::Assignment],
        input: &Arc<RecordType>,
        key: Option<&Key>,
        feeding: &[SourceId],
    ) -> Option<(OperatorKind, Arc<RecordType>)> {
        let key = self.require_key(op_use, key);
        let window_kind = self.check_window_kind(kind, WINDOW_KINDS);
        let time_index = self.time_field(time_field, input, "a window");
        let all_watermarked = self.require_watermarks(op_use.keyword, feeding, "the window", "an event-time window");
        let scope = Scope { record: input, in_generator: false };
        let checked = self.check_aggregates(aggregates, &scope);
        let (key, window_kind, time_field, checked) = (key?, window_kind?, time_index?, checked?);
        let window_fields = [
            Field { name: "window_start".into(), ty: Type::Timestamp },
            Field { name: "window_end".into(), ty: Type::Timestamp },
        ];
        let output = self.output_record(&key, &window_fields, &checked, aggregates)?;
        // Reported above, source by source; checked last so the output's own
        // problems are still reported.
        all_watermarked.then_some(())?;
        Some((OperatorKind::Window { kind: window_kind, time_field, key, aggregates: checked }, output))
    }

    /// The window `kind` names, one of `allowed` (a window join takes no
    /// sessions: a session's end is known only once it closes).
    pub(super) fn check_window_kind(&mut self, kind: &ast::Call, allowed: &[&str]) -> Option<WindowKind> {
        let name = kind.name.name.as_str();
        let (params, usage): (&[Param], &str) = match name {
            "tumbling" => (&[Param::positional("size")], "tumbling(1s)"),
            "sliding" => (&[Param::positional("size"), Param::positional("every")], "sliding(10s, every = 1s)"),
            "session" if allowed.contains(&"session") => (&[Param::positional("gap")], "session(30s)"),
            "session" => {
                self.diagnostics.push(
                    Diagnostic::error(Code::BadArgument, "a window join takes tumbling or sliding windows")
                        .label(kind.name.span, "a session window")
                        .help("join within an `interval(lower, upper)` instead, or window each side before the join"),
                );
                return None;
            }
            _ => {
                let usages: Vec<String> = allowed.iter().map(|kind| format!("`{}`", window_usage(kind))).collect();
                let usages = match usages.split_last() {
                    Some((last, [])) => last.clone(),
                    Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
                    None => String::new(),
                };
                self.diagnostics.push(
                    Diagnostic::error(Code::BadArgument, format!("unknown window `{name}`"))
                        .label(kind.name.span, "not a kind of window")
                        .help(
                            did_you_mean(name, allowed.iter().copied())
                                .unwrap_or_else(|| format!("windows are {usages}")),
                        ),
                );
                return None;
            }
        };
        let bound = bind(&kind.args, params, name, kind.span, usage, &mut self.diagnostics)?;
        let mut duration = |param: &str| -> Option<i64> {
            let expr = bound.get(param).expect("required");
            let what = format!("the window `{param}`");
            let Const::Duration(nanos) =
                expect(expr, Expected::Duration, Code::BadArgument, &what, &mut self.diagnostics)?
            else {
                return None;
            };
            require_positive(nanos > 0, expr.span, &what, &mut self.diagnostics).then_some(nanos)
        };
        if name == "session" {
            return Some(WindowKind::Session { gap_nanos: duration("gap")? });
        }
        let size_nanos = duration("size");
        if name == "tumbling" {
            return Some(WindowKind::Tumbling { size_nanos: size_nanos? });
        }
        let (size_nanos, slide_nanos) = (size_nanos?, duration("every")?);
        // Each record is counted into size / every windows; past a bound the
        // state and the work per record explode (1d every 1ms is 86 million
        // windows per record).
        let windows_per_record = (size_nanos as u64).div_ceil(slide_nanos as u64) as i64;
        if windows_per_record > MAX_WINDOWS_PER_RECORD {
            let units = super::super::units::format_duration;
            self.diagnostics.push(
                Diagnostic::error(
                    Code::TooManyWindows,
                    format!(
                        "every record would belong to {} windows; flowc allows at most {}",
                        super::super::units::format_count(windows_per_record as u64),
                        super::super::units::format_count(MAX_WINDOWS_PER_RECORD as u64)
                    ),
                )
                .label(kind.span, format!("{} / {} windows per record", units(size_nanos), units(slide_nanos)))
                .help(format!(
                    "slide by at least {} (`every = …`), or use a shorter window",
                    units((size_nanos as u64).div_ceil(MAX_WINDOWS_PER_RECORD as u64) as i64)
                )),
            );
            return None;
        }
        Some(WindowKind::Sliding { size_nanos, slide_nanos })
    }

    /// The index of `field`, a timestamp of `input`, that `what` reads event time from.
    pub(super) fn time_field(&mut self, field: &ast::Ident, input: &Arc<RecordType>, what: &str) -> Option<usize> {
        match input.field_index(&field.name) {
            None => {
                self.diagnostics.push(
                    Diagnostic::error(Code::UnknownField, format!("unknown field `{}`", field.name))
                        .label(field.span, "not a field of this stream")
                        .help(
                            did_you_mean(&field.name, input.field_names())
                                .unwrap_or_else(|| format!("the stream's records are {input}")),
                        ),
                );
                None
            }
            Some(index) if input.fields()[index].ty != Type::Timestamp => {
                self.diagnostics.push(
                    Diagnostic::error(
                        Code::WindowTimeField,
                        format!(
                            "{what} is `on` a timestamp, but `{}` is {}",
                            field.name,
                            input.fields()[index].ty.with_article()
                        ),
                    )
                    .label(field.span, input.fields()[index].ty.with_article())
                    .help("name a timestamp field, or compute one in a `map` first: `ts = epoch + millis * 1ms`"),
                );
                None
            }
            Some(index) => Some(index),
        }
    }

    /// Whether every source in `feeding` has a watermark; says which lack one.
    pub(super) fn require_watermarks(&mut self, at: Span, feeding: &[SourceId], what: &str, label: &str) -> bool {
        let mut all_watermarked = true;
        for source in feeding.iter().map(|id| &self.sources[*id]) {
            if source.watermark.is_none() {
                all_watermarked = false;
                let diagnostic = Diagnostic::error(
                    Code::MissingWatermark,
                    format!("{what} reads event time, but source `{}` has no watermark", source.name),
                )
                .label(at, label.to_string())
                .label(source.name_span, "no `@watermark` on this source")
                .help(format!(
                    "add `@watermark(delay = 0s)` after the body of `{}`; a larger delay waits longer for late records",
                    source.name
                ));
                self.diagnostics.push(diagnostic);
            }
        }
        all_watermarked
    }
}
