//! The built-in functions: scalar functions usable in any expression, and
//! aggregate functions usable in `window` and `aggregate` bodies. Each says
//! which argument types it takes and what it returns.

use super::patterns::PatternKind;
use super::types::Type;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    Float,
    Int,
    Str,
    Abs,
    Round,
    Min,
    Max,
    Hash,
    Len,
    Lower,
    Upper,
    Contains,
    StartsWith,
    EndsWith,
    SplitIndex,
    RegexpExtract,
    Matches,
    Occurrences,
    Hour,
    Minute,
    FormatTime,
    Random,
}

impl Function {
    pub const ALL: [Function; 22] = [
        Function::Float,
        Function::Int,
        Function::Str,
        Function::Abs,
        Function::Round,
        Function::Min,
        Function::Max,
        Function::Hash,
        Function::Len,
        Function::Lower,
        Function::Upper,
        Function::Contains,
        Function::StartsWith,
        Function::EndsWith,
        Function::SplitIndex,
        Function::RegexpExtract,
        Function::Matches,
        Function::Occurrences,
        Function::Hour,
        Function::Minute,
        Function::FormatTime,
        Function::Random,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::Float => "float",
            Function::Int => "int",
            Function::Str => "str",
            Function::Abs => "abs",
            Function::Round => "round",
            Function::Min => "min",
            Function::Max => "max",
            Function::Hash => "hash",
            Function::Len => "len",
            Function::Lower => "lower",
            Function::Upper => "upper",
            Function::Contains => "contains",
            Function::StartsWith => "starts_with",
            Function::EndsWith => "ends_with",
            Function::SplitIndex => "split_index",
            Function::RegexpExtract => "regexp_extract",
            Function::Matches => "matches",
            Function::Occurrences => "occurrences",
            Function::Hour => "hour",
            Function::Minute => "minute",
            Function::FormatTime => "format_time",
            Function::Random => "random",
        }
    }

    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|function| function.name() == name)
    }

    /// How it is written, for messages and docs: `min(a, b)`.
    pub fn signature(self) -> &'static str {
        match self {
            Function::Float => "float(int | float) -> float",
            Function::Int => "int(int | float | bool | timestamp | duration) -> int",
            Function::Str => "str(any) -> string",
            Function::Abs => "abs(int | float | duration) -> same type",
            Function::Round => "round(int | float, digits: int = 0) -> same type",
            Function::Min => "min(a, b) -> same type, for two values of one ordered type",
            Function::Max => "max(a, b) -> same type, for two values of one ordered type",
            Function::Hash => "hash(any) -> int",
            Function::Len => "len(string) -> int",
            Function::Lower => "lower(string) -> string",
            Function::Upper => "upper(string) -> string",
            Function::Contains => "contains(string, string) -> bool",
            Function::StartsWith => "starts_with(string, string) -> bool",
            Function::EndsWith => "ends_with(string, string) -> bool",
            Function::SplitIndex => "split_index(string, separator: string, index: int) -> string",
            Function::RegexpExtract => "regexp_extract(string, pattern: string literal, group: int) -> string",
            Function::Matches => "matches(string, pattern: string literal) -> bool",
            Function::Occurrences => "occurrences(string, part: string) -> int",
            Function::Hour => "hour(timestamp) -> int",
            Function::Minute => "minute(timestamp) -> int",
            Function::FormatTime => "format_time(timestamp, format: string literal) -> string",
            Function::Random => "random(int) -> float in [0, 1)",
        }
    }

    /// The most arguments it takes.
    pub fn arity(self) -> usize {
        match self {
            Function::Min
            | Function::Max
            | Function::Contains
            | Function::StartsWith
            | Function::EndsWith
            | Function::Matches
            | Function::Occurrences
            | Function::FormatTime
            | Function::Round => 2,
            Function::SplitIndex | Function::RegexpExtract => 3,
            _ => 1,
        }
    }

    /// The fewest: `round(x)` is `round(x, 0)`.
    pub fn min_arity(self) -> usize {
        match self {
            Function::Round => 1,
            function => function.arity(),
        }
    }

    /// The result type for these argument types, or `None` when the
    /// function does not take them. `args.len()` is from `min_arity()` to `arity()`.
    pub fn result_type(self, args: &[Type]) -> Option<Type> {
        use Type::*;
        match (self, args) {
            (Function::Float, [Int | Float]) => Some(Float),
            (Function::Int, [Int | Float | Bool | Timestamp | Duration]) => Some(Int),
            (Function::Str, [_]) => Some(String),
            (Function::Abs, [ty @ (Int | Float | Duration)]) => Some(*ty),
            (Function::Round, [ty @ (Int | Float)] | [ty @ (Int | Float), Int]) => Some(*ty),
            (Function::Min | Function::Max, [a, b]) if a == b && a.is_ordered() => Some(*a),
            (Function::Hash, [_]) => Some(Int),
            (Function::Len, [String]) => Some(Int),
            (Function::Lower | Function::Upper, [String]) => Some(String),
            (Function::Contains | Function::StartsWith | Function::EndsWith, [String, String]) => Some(Bool),
            (Function::SplitIndex, [String, String, Int]) => Some(String),
            (Function::RegexpExtract, [String, String, Int]) => Some(String),
            (Function::Matches, [String, String]) => Some(Bool),
            (Function::Occurrences, [String, String]) => Some(Int),
            (Function::Hour | Function::Minute, [Timestamp]) => Some(Int),
            (Function::FormatTime, [Timestamp, String]) => Some(String),
            (Function::Random, [Int]) => Some(Float),
            _ => None,
        }
    }

    /// The argument that must be a string literal, which `check` parses
    /// once into a `Pattern`: its place and what it is.
    pub fn pattern_argument(self) -> Option<(usize, PatternKind)> {
        match self {
            Function::RegexpExtract | Function::Matches => Some((1, PatternKind::Regex)),
            Function::FormatTime => Some((1, PatternKind::Time)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregateFunction {
    Count,
    Sum,
    Min,
    Max,
    Avg,
    CountDistinct,
}

impl AggregateFunction {
    pub const ALL: [AggregateFunction; 6] = [
        AggregateFunction::Count,
        AggregateFunction::Sum,
        AggregateFunction::Min,
        AggregateFunction::Max,
        AggregateFunction::Avg,
        AggregateFunction::CountDistinct,
    ];

    pub fn name(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count",
            AggregateFunction::Sum => "sum",
            AggregateFunction::Min => "min",
            AggregateFunction::Max => "max",
            AggregateFunction::Avg => "avg",
            AggregateFunction::CountDistinct => "count_distinct",
        }
    }

    pub fn from_name(name: &str) -> Option<AggregateFunction> {
        AggregateFunction::ALL.into_iter().find(|function| function.name() == name)
    }

    pub fn signature(self) -> &'static str {
        match self {
            AggregateFunction::Count => "count() -> int",
            AggregateFunction::Sum => "sum(int | float | duration) -> same type",
            AggregateFunction::Min => "min(any type but bool) -> same type",
            AggregateFunction::Max => "max(any type but bool) -> same type",
            AggregateFunction::Avg => "avg(int | float) -> float",
            AggregateFunction::CountDistinct => "count_distinct(any type) -> int",
        }
    }

    pub fn takes_argument(self) -> bool {
        self != AggregateFunction::Count
    }

    /// The result type for an argument of type `arg`, or `None` when the
    /// function does not take it.
    pub fn result_type(self, arg: Option<Type>) -> Option<Type> {
        use Type::*;
        match (self, arg) {
            (AggregateFunction::Count, None) => Some(Int),
            (AggregateFunction::Sum, Some(ty @ (Int | Float | Duration))) => Some(ty),
            (AggregateFunction::Min | AggregateFunction::Max, Some(ty)) if ty.is_ordered() => Some(ty),
            (AggregateFunction::Avg, Some(Int | Float)) => Some(Float),
            (AggregateFunction::CountDistinct, Some(_)) => Some(Int),
            _ => None,
        }
    }

    /// Whether `name(…)` with `n_args` arguments is this aggregate rather
    /// than a scalar function of the same name (`min(x)` vs `min(a, b)`).
    pub fn is_aggregate_call(name: &str, n_args: usize) -> bool {
        match AggregateFunction::from_name(name) {
            Some(AggregateFunction::Min | AggregateFunction::Max) => n_args == 1,
            Some(_) => true,
            None => false,
        }
    }
}
