//! The `nexmark(events, kind, seed, event_rate, rate)` source: the Nexmark
//! benchmark's events, as its reference generator makes them. This file
//! owns what the checker knows of them — the three kinds, each kind's
//! fields with their Nexmark names and types, the arguments and their
//! defaults — and checks a source's schema against its kind. The model
//! itself is `runtime/sources/nexmark/`.

use std::sync::Arc;

use crate::diag::{did_you_mean, Code, Diagnostic, Span};
use crate::syntax::ast::SourceDecl;

use super::args::{bind, Param};
use super::connectors::ConnectorSpec;
use super::constant::{expect, require_positive, Const, Expected};
use super::program::SourceConnector;
use super::types::{RecordType, Type};

pub const NEXMARK: ConnectorSpec = ConnectorSpec {
    name: "nexmark",
    params: &[
        Param::named("events"),
        Param::required("kind"),
        Param::named("seed"),
        Param::named("event_rate"),
        Param::named("rate"),
    ],
    usage: "nexmark(events = 1_000_000, kind = bid)",
    one_subtask: None,
};

/// The reference generator's first rate (`firstEventRate`): events of all
/// kinds per second of event time.
pub const DEFAULT_EVENT_RATE: f64 = 10_000.0;

/// Which of the three Nexmark event types a source makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NexmarkKind {
    Person,
    Auction,
    Bid,
}

const KIND_WORDS: &[&str] = &["person", "auction", "bid"];

impl NexmarkKind {
    pub fn name(self) -> &'static str {
        match self {
            NexmarkKind::Person => "person",
            NexmarkKind::Auction => "auction",
            NexmarkKind::Bid => "bid",
        }
    }

    /// The kind's fields in the Nexmark order, with their types.
    pub fn fields(self) -> &'static [(NexmarkField, &'static str, Type)] {
        use NexmarkField::*;
        match self {
            NexmarkKind::Person => &[
                (PersonId, "id", Type::Int),
                (Name, "name", Type::String),
                (EmailAddress, "emailAddress", Type::String),
                (CreditCard, "creditCard", Type::String),
                (City, "city", Type::String),
                (State, "state", Type::String),
                (DateTime, "dateTime", Type::Timestamp),
                (Extra, "extra", Type::String),
            ],
            NexmarkKind::Auction => &[
                (AuctionId, "id", Type::Int),
                (ItemName, "itemName", Type::String),
                (Description, "description", Type::String),
                (InitialBid, "initialBid", Type::Int),
                (Reserve, "reserve", Type::Int),
                (DateTime, "dateTime", Type::Timestamp),
                (Expires, "expires", Type::Timestamp),
                (Seller, "seller", Type::Int),
                (Category, "category", Type::Int),
                (Extra, "extra", Type::String),
            ],
            NexmarkKind::Bid => &[
                (Auction, "auction", Type::Int),
                (Bidder, "bidder", Type::Int),
                (Price, "price", Type::Int),
                (Channel, "channel", Type::String),
                (Url, "url", Type::String),
                (DateTime, "dateTime", Type::Timestamp),
                (Extra, "extra", Type::String),
            ],
        }
    }

    /// `auction: int, bidder: int, …`: the kind's fields as a schema says them.
    pub fn field_list(self) -> String {
        self.fields().iter().map(|(_, name, ty)| format!("{name}: {}", ty.name())).collect::<Vec<_>>().join(", ")
    }
}

/// One field of a Nexmark event; `DateTime` and `Extra` are every kind's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NexmarkField {
    PersonId,
    Name,
    EmailAddress,
    CreditCard,
    City,
    State,
    AuctionId,
    ItemName,
    Description,
    InitialBid,
    Reserve,
    Expires,
    Seller,
    Category,
    Auction,
    Bidder,
    Price,
    Channel,
    Url,
    DateTime,
    Extra,
}

/// A checked `nexmark(…)` source.
#[derive(Debug, Clone, PartialEq)]
pub struct NexmarkSource {
    pub kind: NexmarkKind,
    /// Events of all kinds in the whole sequence (`None`: until stopped);
    /// the source makes those of its kind.
    pub events: Option<u64>,
    pub seed: u64,
    /// Events of all kinds per second of event time.
    pub event_rate: f64,
    /// Records of this source per second of wall-clock time.
    pub rate_per_second: Option<f64>,
    /// The Nexmark field behind each field of the source's record.
    pub columns: Vec<NexmarkField>,
}

/// Where a schema declares each of its fields: the name's span and the type's.
pub type FieldSpans = [(Span, Span)];

/// Checks `nexmark(…)`: its arguments, and that the schema names fields of
/// the kind with their Nexmark types.
pub fn check_nexmark(
    decl: &SourceDecl,
    record: &Arc<RecordType>,
    field_spans: &FieldSpans,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<SourceConnector> {
    let call = &decl.connector;
    if let Some(body) = &decl.body {
        let span = match (body.first(), body.last()) {
            (Some(first), Some(last)) => first.span.to(last.span),
            _ => call.span,
        };
        diagnostics.push(
            Diagnostic::error(Code::SourceBody, "a `nexmark` source makes its fields itself and takes no body")
                .label(span, "remove this body")
                .help("compute new fields with a `map` after the source"),
        );
        return None;
    }
    let bound = bind(&call.args, NEXMARK.params, NEXMARK.name, call.span, NEXMARK.usage, diagnostics)?;
    let kind_expr = bound.get("kind").expect("required");
    let kind = match expect(kind_expr, Expected::Word(KIND_WORDS), Code::BadArgument, "`kind`", diagnostics) {
        Some(Const::Word(word)) => match word.as_str() {
            "person" => Some(NexmarkKind::Person),
            "auction" => Some(NexmarkKind::Auction),
            _ => Some(NexmarkKind::Bid),
        },
        _ => None,
    };
    let events = match bound.get("events") {
        None => Some(None),
        Some(expr) => match expect(expr, Expected::Int, Code::BadArgument, "`events`", diagnostics) {
            Some(Const::Int(n)) if n >= 0 => Some(Some(n as u64)),
            Some(Const::Int(_)) => {
                diagnostics.push(
                    Diagnostic::error(Code::BadArgument, "`events` must be 0 or more")
                        .label(expr.span, "a negative count")
                        .help("give the number of events of the whole sequence, such as `events = 1_000_000`"),
                );
                None
            }
            _ => None,
        },
    };
    let seed = match bound.get("seed") {
        None => Some(0),
        Some(expr) => match expect(expr, Expected::Int, Code::BadArgument, "`seed`", diagnostics) {
            Some(Const::Int(n)) => Some(n as u64),
            _ => None,
        },
    };
    let event_rate = match bound.get("event_rate") {
        None => Some(DEFAULT_EVENT_RATE),
        Some(expr) => positive_rate(expr, "`event_rate`", diagnostics),
    };
    let rate_per_second = match bound.get("rate") {
        None => Some(None),
        Some(expr) => positive_rate(expr, "`rate`", diagnostics).map(Some),
    };
    let kind = kind?;
    let columns = schema_columns(decl, kind, kind_expr.span, record, field_spans, diagnostics);
    Some(SourceConnector::Nexmark(NexmarkSource {
        kind,
        events: events?,
        seed: seed?,
        event_rate: event_rate?,
        rate_per_second: rate_per_second?,
        columns: columns?,
    }))
}

fn positive_rate(expr: &crate::syntax::ast::Expr, what: &str, diagnostics: &mut Vec<Diagnostic>) -> Option<f64> {
    match expect(expr, Expected::Rate, Code::BadArgument, what, diagnostics)? {
        Const::Rate(rate) if require_positive(rate > 0.0, expr.span, what, diagnostics) => Some(rate),
        _ => None,
    }
}

/// The Nexmark field behind each schema field, or a diagnostic for every
/// field the kind lacks or declares with another type.
fn schema_columns(
    decl: &SourceDecl,
    kind: NexmarkKind,
    kind_span: Span,
    record: &RecordType,
    field_spans: &FieldSpans,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Vec<NexmarkField>> {
    let mut columns = Vec::new();
    let mut ok = true;
    for (index, field) in record.fields().iter().enumerate() {
        let (name_span, type_span) = field_spans.get(index).copied().unwrap_or((decl.schema.span, decl.schema.span));
        let Some((column, _, ty)) = kind.fields().iter().find(|(_, name, _)| *name == field.name) else {
            let names = kind.fields().iter().map(|(_, name, _)| *name);
            diagnostics.push(
                Diagnostic::error(
                    Code::UnknownField,
                    format!("`{}` is not a field of a Nexmark {}", field.name, kind.name()),
                )
                .label(name_span, format!("not a field of a {}", kind.name()))
                .label(kind_span, format!("the source makes {}s", kind.name()))
                .help(did_you_mean(&field.name, names).unwrap_or_else(|| {
                    format!(
                        "the schema of a `nexmark` source names some of its kind's fields; a {} has {}",
                        kind.name(),
                        kind.field_list()
                    )
                })),
            );
            ok = false;
            continue;
        };
        if field.ty != *ty {
            diagnostics.push(
                Diagnostic::error(
                    Code::TypeMismatch,
                    format!(
                        "`{}` of a Nexmark {} is {}, not {}",
                        field.name,
                        kind.name(),
                        with_article(ty.name()),
                        with_article(field.ty.name())
                    ),
                )
                .label(type_span, format!("should be {}", ty.name()))
                .label(kind_span, format!("the source makes {}s", kind.name()))
                .help(format!("declare it `{}: {}`", field.name, ty.name())),
            );
            ok = false;
            continue;
        }
        columns.push(*column);
    }
    ok.then_some(columns)
}

/// `an int`, `a string`.
fn with_article(word: &str) -> String {
    let article = if word.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {word}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_names_each_field_once_with_date_time_and_extra() {
        for kind in [NexmarkKind::Person, NexmarkKind::Auction, NexmarkKind::Bid] {
            let names: Vec<&str> = kind.fields().iter().map(|(_, name, _)| *name).collect();
            let mut unique = names.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), names.len(), "{kind:?}");
            assert!(names.contains(&"dateTime") && names.contains(&"extra"), "{kind:?}");
        }
    }
}
