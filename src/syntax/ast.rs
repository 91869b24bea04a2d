//! The syntax tree of a `.flow` file, exactly as written, with a span on
//! every node. Names are unresolved and nothing is typed: that is `check`'s
//! work. `build` is the only place that makes these from pest pairs.

use crate::diag::Span;

#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Config(ConfigBlock),
    Schema(SchemaDecl),
    Source(SourceDecl),
    Table(TableDecl),
    Let(LetDecl),
    Pipeline(Pipeline),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigBlock {
    pub entries: Vec<ConfigEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub key: Ident,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SchemaDecl {
    pub name: Ident,
    pub fields: Vec<FieldDecl>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub type_name: Ident,
    pub span: Span,
}

/// `source name: Schema = connector(args) { body } @attributes`
#[derive(Debug, Clone, PartialEq)]
pub struct SourceDecl {
    pub name: Ident,
    pub schema: Ident,
    pub connector: Call,
    pub body: Option<Vec<Assignment>>,
    pub attributes: Vec<Attribute>,
    pub span: Span,
}

/// `table name: Schema = file(args) key_by field`
#[derive(Debug, Clone, PartialEq)]
pub struct TableDecl {
    pub name: Ident,
    pub schema: Ident,
    pub connector: Call,
    pub key: Ident,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LetDecl {
    pub name: Ident,
    pub stream: Stream,
    pub span: Span,
}

/// A stream that should end in a sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub stream: Stream,
    pub span: Span,
}

/// `head | op | op …`
#[derive(Debug, Clone, PartialEq)]
pub struct Stream {
    pub head: StreamHead,
    pub operators: Vec<OperatorUse>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum StreamHead {
    Named(Ident),
    Union { inputs: Vec<Stream>, keyword: Span, span: Span },
}

/// An operator with its attributes, as it stands after a `|`.
#[derive(Debug, Clone, PartialEq)]
pub struct OperatorUse {
    pub operator: Operator,
    /// The operator's keyword, for messages about the operator as a whole.
    pub keyword: Span,
    pub attributes: Vec<Attribute>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Operator {
    Map(Vec<MapItem>),
    Filter(Expr),
    KeyBy(Expr),
    Rebalance,
    Broadcast,
    Window {
        kind: Call,
        time_field: Ident,
        aggregates: Vec<Assignment>,
    },
    Aggregate(Vec<Assignment>),
    /// `top count by expr desc, …`.
    Top {
        count: Expr,
        order: Vec<SortKey>,
    },
    Join(Box<Join>),
    Lookup {
        left: bool,
        table: Ident,
        key: Expr,
        residual: Option<Expr>,
    },
    Throttle(Expr),
    Work(Expr),
    Sleep(Expr),
    Sink(Call),
}

impl Operator {
    /// The keyword, as the user wrote it.
    pub fn keyword(&self) -> &'static str {
        match self {
            Operator::Map(_) => "map",
            Operator::Filter(_) => "filter",
            Operator::KeyBy(_) => "key_by",
            Operator::Rebalance => "rebalance",
            Operator::Broadcast => "broadcast",
            Operator::Window { .. } => "window",
            Operator::Aggregate(_) => "aggregate",
            Operator::Top { .. } => "top",
            Operator::Join(_) => "join",
            Operator::Lookup { .. } => "lookup",
            Operator::Throttle(_) => "throttle",
            Operator::Work(_) => "work",
            Operator::Sleep(_) => "sleep",
            Operator::Sink(_) => "sink",
        }
    }
}

/// Every operator keyword, for suggestions and editor grammars.
pub const OPERATOR_KEYWORDS: &[&str] = &[
    "map",
    "filter",
    "key_by",
    "rebalance",
    "broadcast",
    "window",
    "aggregate",
    "top",
    "join",
    "lookup",
    "throttle",
    "work",
    "sleep",
    "sink",
];

/// One expression of a `top`'s order: `price desc`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
    pub span: Span,
}

/// `join [left] (right) [time] [where expr]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    /// `left`: a left outer join.
    pub left: bool,
    pub right: Stream,
    pub time: Option<JoinTime>,
    pub residual: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JoinTimeKind {
    /// `interval(lower, upper)`; `check` says when there are not two bounds.
    Interval { bounds: Vec<Expr>, span: Span },
    /// `window tumbling(…)` or `window sliding(…)`.
    Window(Call),
    /// `on ts` with neither: an error `check` explains.
    Missing,
}

/// A join's time condition and the time fields it reads: `on ts` (both
/// sides), or `on ts, paid_at` (left, then right).
#[derive(Debug, Clone, PartialEq)]
pub struct JoinTime {
    pub kind: JoinTimeKind,
    pub left_field: Ident,
    pub right_field: Option<Ident>,
    pub span: Span,
}

/// Words that can never be names.
pub const RESERVED_WORDS: &[&str] =
    &["config", "schema", "source", "let", "union", "if", "then", "else", "and", "or", "not", "true", "false"];

/// `name` keeps a field; `name = expr` computes one.
#[derive(Debug, Clone, PartialEq)]
pub struct MapItem {
    pub name: Ident,
    pub value: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Assignment {
    pub name: Ident,
    pub value: Expr,
    /// `where cond` after an aggregate: only the records it holds for count.
    pub condition: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// `name(args)` in a connector, window kind or sink; the parentheses are optional.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// Nanoseconds.
    Duration(i64),
    /// Records per second.
    Rate(f64),
    /// Bytes.
    Size(u64),
    Name(String),
    Call {
        function: Ident,
        args: Vec<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    If {
        condition: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// Stands where a literal or expression could not be read; its error is
    /// already reported, and `check` accepts it anywhere so that one mistake
    /// is not reported twice.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Concat,
    Add,
    Sub,
    Mul,
    Div,
    Rem,
}

impl BinaryOp {
    /// Binding strength: higher binds tighter. All are left-associative
    /// except comparisons, which do not chain.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And => 2,
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => 3,
            BinaryOp::Concat | BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Rem => 5,
        }
    }

    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Concat => "++",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
        }
    }
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Neg => "-",
            UnaryOp::Not => "not",
        }
    }
}
