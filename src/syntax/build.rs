//! Builds the syntax tree from pest pairs: the one place that knows both.
//!
//! Expressions are assembled by precedence climbing over the flat
//! `unary (infix unary)*` list the grammar yields, with explicit stacks, and
//! their depth is tracked as they grow: a tree deeper than `MAX_EXPR_DEPTH`
//! is refused before it exists, so no later recursive pass can overflow.

use pest::iterators::Pair;

use crate::diag::{Code, Diagnostic, Span};

use super::ast::*;
use super::literal;
use super::parser::Rule;

/// How deep an expression tree may grow; `a + b + … ` with this many terms,
/// or this many nested calls and `not`s.
pub const MAX_EXPR_DEPTH: usize = 200;

pub struct Builder<'d> {
    /// Where the parsed chunk starts in the file.
    offset: usize,
    diagnostics: &'d mut Vec<Diagnostic>,
    /// One too-deep expression is reported once, not once per level.
    too_deep_reported: bool,
}

impl<'d> Builder<'d> {
    pub fn new(offset: usize, diagnostics: &'d mut Vec<Diagnostic>) -> Builder<'d> {
        Builder { offset, diagnostics, too_deep_reported: false }
    }

    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        Span::from(pair.as_span()).shifted(self.offset)
    }

    fn ident(&self, pair: Pair<'_, Rule>) -> Ident {
        debug_assert_eq!(pair.as_rule(), Rule::ident);
        Ident { name: pair.as_str().to_string(), span: self.span(&pair) }
    }

    pub fn items(&mut self, items: Pair<'_, Rule>) -> Vec<Item> {
        items.into_inner().filter(|pair| pair.as_rule() != Rule::EOI).map(|pair| self.item(pair)).collect()
    }

    fn item(&mut self, pair: Pair<'_, Rule>) -> Item {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::config => {
                let entries = pair
                    .into_inner()
                    .skip(1)
                    .map(|entry| {
                        let span = self.span(&entry);
                        let mut inner = entry.into_inner();
                        let key = self.ident(inner.next().expect("config entry key"));
                        let value = self.expr(inner.next().expect("config entry value"));
                        ConfigEntry { key, value, span }
                    })
                    .collect();
                Item::Config(ConfigBlock { entries, span })
            }
            Rule::schema => {
                let mut inner = pair.into_inner().skip(1);
                let name = self.ident(inner.next().expect("schema name"));
                let fields = inner
                    .map(|field| {
                        let span = self.span(&field);
                        let mut parts = field.into_inner();
                        let name = self.ident(parts.next().expect("field name"));
                        let type_pair = parts.next().expect("field type").into_inner().next().expect("type ident");
                        FieldDecl { name, type_name: self.ident(type_pair), span }
                    })
                    .collect();
                Item::Schema(SchemaDecl { name, fields, span })
            }
            Rule::source => {
                let mut inner = pair.into_inner().skip(1);
                let name = self.ident(inner.next().expect("source name"));
                let schema = self.ident(inner.next().expect("source schema"));
                let connector = self.call(inner.next().expect("source connector"));
                let mut body = None;
                let mut attributes = Vec::new();
                for part in inner {
                    match part.as_rule() {
                        Rule::source_body => body = Some(part.into_inner().map(|a| self.assignment(a)).collect()),
                        Rule::attribute => attributes.push(self.attribute(part)),
                        rule => unreachable!("unexpected {rule:?} in a source"),
                    }
                }
                Item::Source(SourceDecl { name, schema, connector, body, attributes, span })
            }
            Rule::table => {
                let mut inner = pair.into_inner().skip(1);
                let name = self.ident(inner.next().expect("table name"));
                let schema = self.ident(inner.next().expect("table schema"));
                let connector = self.call(inner.next().expect("table connector"));
                let _key_by = inner.next();
                let key = self.ident(inner.next().expect("table key"));
                Item::Table(TableDecl { name, schema, connector, key, span })
            }
            Rule::let_stream => {
                let mut inner = pair.into_inner().skip(1);
                let name = self.ident(inner.next().expect("let name"));
                let stream = self.stream(inner.next().expect("let stream"));
                Item::Let(LetDecl { name, stream, span })
            }
            Rule::pipeline => {
                let stream = self.stream(pair.into_inner().next().expect("pipeline stream"));
                Item::Pipeline(Pipeline { stream, span })
            }
            rule => unreachable!("unexpected {rule:?} as an item"),
        }
    }

    fn stream(&mut self, pair: Pair<'_, Rule>) -> Stream {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let head_pair = inner.next().expect("stream head");
        let head = match head_pair.as_rule() {
            Rule::ident => StreamHead::Named(self.ident(head_pair)),
            Rule::union => {
                let union_span = self.span(&head_pair);
                let mut parts = head_pair.into_inner();
                let keyword = self.span(&parts.next().expect("union keyword"));
                let inputs = parts.map(|input| self.stream(input)).collect();
                StreamHead::Union { inputs, keyword, span: union_span }
            }
            rule => unreachable!("unexpected {rule:?} as a stream head"),
        };
        let operators = inner.map(|op| self.operator(op)).collect();
        Stream { head, operators, span }
    }

    fn operator(&mut self, pair: Pair<'_, Rule>) -> OperatorUse {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let op_pair = inner.next().expect("operator body");
        let attributes = inner.map(|attribute| self.attribute(attribute)).collect();
        let rule = op_pair.as_rule();
        let mut parts = op_pair.into_inner();
        let keyword = self.span(&parts.next().expect("operator keyword"));
        let operator = match rule {
            Rule::map_op => Operator::Map(
                parts
                    .map(|item| {
                        let span = self.span(&item);
                        let mut item_parts = item.into_inner();
                        let name = self.ident(item_parts.next().expect("map item name"));
                        let value = item_parts.next().map(|value| self.expr(value));
                        MapItem { name, value, span }
                    })
                    .collect(),
            ),
            Rule::filter_op => Operator::Filter(self.expr(parts.next().expect("filter predicate"))),
            Rule::key_by_op => Operator::KeyBy(self.expr(parts.next().expect("key expression"))),
            Rule::rebalance_op => Operator::Rebalance,
            Rule::broadcast_op => Operator::Broadcast,
            Rule::window_op => {
                let kind = self.call(parts.next().expect("window kind"));
                let _on = parts.next();
                let time_field = self.ident(parts.next().expect("window time field"));
                let aggregates = parts.map(|a| self.assignment(a)).collect();
                Operator::Window { kind, time_field, aggregates }
            }
            Rule::aggregate_op => Operator::Aggregate(parts.map(|a| self.assignment(a)).collect()),
            Rule::top_op => {
                let count = self.expr(parts.next().expect("top count"));
                let _by = parts.next();
                let order = parts
                    .map(|key| {
                        let span = self.span(&key);
                        let mut key_parts = key.into_inner();
                        let expr = self.expr(key_parts.next().expect("sort expression"));
                        let order = key_parts.next().expect("sort order");
                        let descending = order.into_inner().next().is_some_and(|word| word.as_rule() == Rule::kw_desc);
                        SortKey { expr, descending, span }
                    })
                    .collect();
                Operator::Top { count, order }
            }
            Rule::join_op => {
                let (mut left, mut right, mut time, mut residual) = (false, None, None, None);
                for part in parts {
                    match part.as_rule() {
                        Rule::join_outer => left = true,
                        Rule::stream => right = Some(self.stream(part)),
                        Rule::join_time => time = Some(self.join_time(part)),
                        Rule::join_where => residual = Some(self.residual(part)),
                        rule => unreachable!("unexpected {rule:?} in a join"),
                    }
                }
                let right = right.expect("a join's right stream");
                Operator::Join(Box::new(Join { left, right, time, residual }))
            }
            Rule::lookup_op => {
                let mut left = false;
                let mut table = None;
                let mut key = None;
                let mut residual = None;
                for part in parts {
                    match part.as_rule() {
                        Rule::lookup_outer => left = true,
                        Rule::ident => table = Some(self.ident(part)),
                        Rule::kw_by => {}
                        Rule::join_where => residual = Some(self.residual(part)),
                        _ => key = Some(self.expr(part)),
                    }
                }
                Operator::Lookup { left, table: table.expect("lookup table"), key: key.expect("lookup key"), residual }
            }
            Rule::throttle_op => Operator::Throttle(self.expr(parts.next().expect("throttle rate"))),
            Rule::work_op => Operator::Work(self.expr(parts.next().expect("work duration"))),
            Rule::sleep_op => Operator::Sleep(self.expr(parts.next().expect("sleep duration"))),
            Rule::sink_op => Operator::Sink(self.call(parts.next().expect("sink connector"))),
            rule => unreachable!("unexpected {rule:?} as an operator"),
        };
        OperatorUse { operator, keyword, attributes, span }
    }

    fn join_time(&mut self, pair: Pair<'_, Rule>) -> JoinTime {
        let span = self.span(&pair);
        let mut parts = pair.into_inner().peekable();
        let kind = match parts.peek().map(|part| part.as_rule()) {
            Some(Rule::interval_kw) => {
                let keyword = parts.next().expect("interval keyword");
                let args = parts.next().expect("interval bounds");
                let args_span = self.span(&args);
                let bounds = args.into_inner().map(|bound| self.expr(bound)).collect();
                JoinTimeKind::Interval { bounds, span: Span::new(self.span(&keyword).start, args_span.end) }
            }
            Some(Rule::kw_window) => {
                let _window = parts.next();
                JoinTimeKind::Window(self.call(parts.next().expect("window kind")))
            }
            _ => JoinTimeKind::Missing,
        };
        let _on = parts.next();
        let left_field = self.ident(parts.next().expect("join time field"));
        let right_field = parts.next().map(|field| self.ident(field));
        // Up to the last field: pest's span would run on over what follows.
        let end = right_field.as_ref().map_or(left_field.span.end, |field| field.span.end);
        JoinTime { kind, left_field, right_field, span: Span::new(span.start, end) }
    }

    fn residual(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let mut parts = pair.into_inner();
        let _where = parts.next();
        self.expr(parts.next().expect("where condition"))
    }

    fn assignment(&mut self, pair: Pair<'_, Rule>) -> Assignment {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("assigned name"));
        let value = self.expr(inner.next().expect("assigned value"));
        let condition = inner.next().map(|clause| self.residual(clause));
        Assignment { name, value, condition, span }
    }

    fn attribute(&mut self, pair: Pair<'_, Rule>) -> Attribute {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("attribute name"));
        let args = inner.map(|arg| self.arg(arg)).collect();
        Attribute { name, args, span }
    }

    fn call(&mut self, pair: Pair<'_, Rule>) -> Call {
        let span = self.span(&pair);
        let mut inner = pair.into_inner();
        let name = self.ident(inner.next().expect("callee name"));
        let args = inner.map(|arg| self.arg(arg)).collect();
        Call { name, args, span }
    }

    fn arg(&mut self, pair: Pair<'_, Rule>) -> Arg {
        let span = self.span(&pair);
        let mut inner = pair.into_inner().peekable();
        let name = match inner.peek().map(Pair::as_rule) {
            Some(Rule::ident) => inner.next().map(|name| self.ident(name)),
            _ => None,
        };
        let value = self.expr(inner.next().expect("argument value"));
        Arg { name, value, span }
    }

    /// An `expr` pair: an `if` chain or a binary expression.
    pub fn expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        self.expr_with_depth(pair).0
    }

    fn expr_with_depth(&mut self, pair: Pair<'_, Rule>) -> (Expr, usize) {
        let inner = pair.into_inner().next().expect("expr has one child");
        match inner.as_rule() {
            Rule::if_expr => self.if_chain(inner),
            Rule::binary => self.binary(inner),
            rule => unreachable!("unexpected {rule:?} in an expression"),
        }
    }

    /// `if a then b else if c then d else e`, folded from the last `else` back.
    fn if_chain(&mut self, pair: Pair<'_, Rule>) -> (Expr, usize) {
        let span = self.span(&pair);
        let mut branches = Vec::new();
        for part in pair.into_inner() {
            if part.as_rule() == Rule::binary {
                branches.push(self.binary(part));
            }
        }
        let (mut otherwise, mut depth) = branches.pop().expect("an if has an else branch");
        while let (Some((then, then_depth)), Some((condition, condition_depth))) = (branches.pop(), branches.pop()) {
            // The outermost `if` spans from its keyword; an `else if` from its condition.
            let start = if branches.is_empty() { span } else { condition.span };
            let if_span = start.to(otherwise.span);
            depth = depth.max(then_depth).max(condition_depth) + 1;
            otherwise = Expr {
                kind: ExprKind::If {
                    condition: Box::new(condition),
                    then: Box::new(then),
                    otherwise: Box::new(otherwise),
                },
                span: if_span,
            };
        }
        self.limit_depth(otherwise, depth)
    }

    fn binary(&mut self, pair: Pair<'_, Rule>) -> (Expr, usize) {
        let mut operands: Vec<(Expr, usize)> = Vec::new();
        let mut operators: Vec<(BinaryOp, Span)> = Vec::new();
        let mut chained_comparison_reported = false;
        for part in pair.into_inner() {
            if part.as_rule() == Rule::unary {
                let operand = self.unary(part);
                operands.push(operand);
                continue;
            }
            let op_span = self.span(&part);
            let op = binary_op(part.as_rule());
            while let Some(&(top, top_span)) = operators.last() {
                if top.precedence() < op.precedence() {
                    break;
                }
                if op.is_comparison() && top.is_comparison() && !chained_comparison_reported {
                    chained_comparison_reported = true;
                    self.diagnostics.push(
                        Diagnostic::error(Code::ChainedComparison, "comparisons do not chain")
                            .label(op_span, "this comparison")
                            .label(top_span, "follows this one")
                            .help("compare twice and join with `and`: `a < b and b < c`"),
                    );
                }
                operators.pop();
                self.reduce(&mut operands, top);
            }
            operators.push((op, op_span));
        }
        while let Some((op, _)) = operators.pop() {
            self.reduce(&mut operands, op);
        }
        let (expr, depth) = operands.pop().expect("a binary expression has an operand");
        if chained_comparison_reported {
            // `1 < x < 5` would also be a type error; say only what is wrong.
            let span = expr.span;
            drop_iteratively(expr);
            return (Expr { kind: ExprKind::Error, span }, 1);
        }
        self.limit_depth(expr, depth)
    }

    fn reduce(&mut self, operands: &mut Vec<(Expr, usize)>, op: BinaryOp) {
        let (rhs, rhs_depth) = operands.pop().expect("an operator has a right operand");
        let (lhs, lhs_depth) = operands.pop().expect("an operator has a left operand");
        let span = lhs.span.to(rhs.span);
        let depth = lhs_depth.max(rhs_depth) + 1;
        let expr = Expr { kind: ExprKind::Binary { op, lhs: Box::new(lhs), rhs: Box::new(rhs) }, span };
        operands.push(self.limit_depth(expr, depth));
    }

    fn unary(&mut self, pair: Pair<'_, Rule>) -> (Expr, usize) {
        let mut prefixes = Vec::new();
        let mut operand = None;
        for part in pair.into_inner() {
            if part.as_rule() == Rule::prefix {
                let span = self.span(&part);
                let op = match part.into_inner().next().map(|p| p.as_rule()) {
                    Some(Rule::neg) => UnaryOp::Neg,
                    _ => UnaryOp::Not,
                };
                prefixes.push((op, span));
            } else {
                operand = Some(self.primary(part));
            }
        }
        let (mut expr, mut depth) = operand.expect("a unary expression has an operand");
        while let Some((op, span)) = prefixes.pop() {
            depth += 1;
            let span = span.to(expr.span);
            expr = Expr { kind: ExprKind::Unary { op, operand: Box::new(expr) }, span };
            (expr, depth) = self.limit_depth(expr, depth);
        }
        (expr, depth)
    }

    fn primary(&mut self, pair: Pair<'_, Rule>) -> (Expr, usize) {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::expr => return self.expr_with_depth(pair),
            Rule::name_or_call => {
                let mut inner = pair.into_inner();
                let function = self.ident(inner.next().expect("a name"));
                // The pair's span may hold the white space pest skipped while
                // looking for `(`; a bare name spans just its identifier.
                let Some(call_args) = inner.next() else {
                    return (Expr { kind: ExprKind::Name(function.name), span: function.span }, 1);
                };
                let span = function.span.to(self.span(&call_args));
                let mut depth = 0;
                let args = call_args
                    .into_inner()
                    .map(|arg| {
                        let (arg, arg_depth) = self.expr_with_depth(arg);
                        depth = depth.max(arg_depth);
                        arg
                    })
                    .collect();
                return self.limit_depth(Expr { kind: ExprKind::Call { function, args }, span }, depth + 1);
            }
            Rule::boolean => ExprKind::Bool(pair.into_inner().next().map(|p| p.as_rule()) == Some(Rule::kw_true)),
            Rule::number => literal::number(pair.as_str(), span).unwrap_or_else(|d| self.error(d)),
            Rule::rate => literal::rate(pair.as_str(), span).unwrap_or_else(|d| self.error(d)),
            Rule::string => {
                let body = pair.into_inner().next().expect("string body");
                let body_offset = self.span(&body).start;
                match literal::string(body.as_str(), body_offset) {
                    Ok(text) => ExprKind::Str(text),
                    Err(diagnostic) => self.error(diagnostic),
                }
            }
            rule => unreachable!("unexpected {rule:?} as a primary expression"),
        };
        (Expr { kind, span }, 1)
    }

    fn error(&mut self, diagnostic: Diagnostic) -> ExprKind {
        self.diagnostics.push(diagnostic);
        ExprKind::Error
    }

    /// Passes `expr` through, or reports it and stands an error in its
    /// place once it is deeper than any later pass may recurse.
    fn limit_depth(&mut self, expr: Expr, depth: usize) -> (Expr, usize) {
        if depth <= MAX_EXPR_DEPTH {
            return (expr, depth);
        }
        let span = expr.span;
        drop_iteratively(expr);
        if std::mem::replace(&mut self.too_deep_reported, true) {
            return (Expr { kind: ExprKind::Error, span }, 1);
        }
        self.diagnostics.push(
            Diagnostic::error(Code::TooDeep, format!("this expression nests more than {MAX_EXPR_DEPTH} levels deep"))
                .label(Span::new(span.start, span.start + 1), "this expression")
                .help("split it into steps: compute parts in a `map` and combine them in the next one"),
        );
        (Expr { kind: ExprKind::Error, span }, 1)
    }
}

/// Drops a tree without recursion, so a huge one cannot overflow the stack.
fn drop_iteratively(expr: Expr) {
    let mut pending = vec![expr];
    while let Some(expr) = pending.pop() {
        match expr.kind {
            ExprKind::Unary { operand, .. } => pending.push(*operand),
            ExprKind::Binary { lhs, rhs, .. } => pending.extend([*lhs, *rhs]),
            ExprKind::If { condition, then, otherwise } => pending.extend([*condition, *then, *otherwise]),
            ExprKind::Call { args, .. } => pending.extend(args),
            _ => {}
        }
    }
}

fn binary_op(rule: Rule) -> BinaryOp {
    match rule {
        Rule::or_op => BinaryOp::Or,
        Rule::and_op => BinaryOp::And,
        Rule::eq_op => BinaryOp::Eq,
        Rule::ne_op => BinaryOp::Ne,
        Rule::lt_op => BinaryOp::Lt,
        Rule::le_op => BinaryOp::Le,
        Rule::gt_op => BinaryOp::Gt,
        Rule::ge_op => BinaryOp::Ge,
        Rule::concat_op => BinaryOp::Concat,
        Rule::add_op => BinaryOp::Add,
        Rule::sub_op => BinaryOp::Sub,
        Rule::mul_op => BinaryOp::Mul,
        Rule::div_op => BinaryOp::Div,
        Rule::rem_op => BinaryOp::Rem,
        rule => unreachable!("{rule:?} is not an infix operator"),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_value;
    use super::*;

    /// The tree, fully parenthesised.
    fn shape(text: &str) -> String {
        fn show(expr: &Expr) -> String {
            match &expr.kind {
                ExprKind::Name(name) => name.clone(),
                ExprKind::Int(v) => v.to_string(),
                ExprKind::Bool(v) => v.to_string(),
                ExprKind::Unary { op, operand } => format!("({} {})", op.symbol(), show(operand)),
                ExprKind::Binary { op, lhs, rhs } => format!("({} {} {})", show(lhs), op.symbol(), show(rhs)),
                ExprKind::If { condition, then, otherwise } => {
                    format!("(if {} then {} else {})", show(condition), show(then), show(otherwise))
                }
                ExprKind::Call { function, args } => {
                    format!("{}({})", function.name, args.iter().map(show).collect::<Vec<_>>().join(", "))
                }
                other => format!("{other:?}"),
            }
        }
        show(&parse_value(text).unwrap())
    }

    #[test]
    fn binds_by_precedence_and_groups_left() {
        assert_eq!(shape("1 + 2 * 3 - 4"), "((1 + (2 * 3)) - 4)");
        assert_eq!(shape("a - b - c"), "((a - b) - c)");
        assert_eq!(shape("a ++ b ++ c"), "((a ++ b) ++ c)");
        assert_eq!(shape("a or b and c"), "(a or (b and c))");
        assert_eq!(shape("not a and b"), "((not a) and b)");
        assert_eq!(shape("-x * y"), "((- x) * y)");
        assert_eq!(shape("a + b < c * d or e == f"), "(((a + b) < (c * d)) or (e == f))");
        assert_eq!(shape("(a + b) * c"), "((a + b) * c)");
        assert_eq!(shape("f(a + b, g(c))"), "f((a + b), g(c))");
    }

    #[test]
    fn folds_else_if_chains_to_the_right() {
        assert_eq!(shape("if a then 1 else if b then 2 else 3"), "(if a then 1 else (if b then 2 else 3))");
        assert_eq!(shape("if a then x + 1 else y * 2"), "(if a then (x + 1) else (y * 2))");
    }

    #[test]
    fn spans_cover_each_node() {
        let expr = parse_value("a + bc * d").unwrap();
        assert_eq!(expr.span, Span::new(0, 10));
        let ExprKind::Binary { rhs, .. } = &expr.kind else { panic!("a sum") };
        assert_eq!(rhs.span, Span::new(4, 10));
    }

    #[test]
    fn refuses_chained_comparisons_once() {
        let error = parse_value("a < b < c").unwrap_err();
        assert_eq!(error.code, Code::ChainedComparison);
        assert_eq!(parse_value("a < b and b < c").map(|_| ()), Ok(()));
    }
}
