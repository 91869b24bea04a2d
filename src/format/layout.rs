//! Where lines break and how far they are indented: walks the syntax tree
//! in source order, takes each piece's text from the tokens (so literals,
//! parentheses and names stay exactly as written), and places every
//! comment where it stood: on its own line before the code that followed
//! it, or at the end of the line it ended.

use crate::diag::Span;
use crate::syntax::ast::*;

use super::spacing;
use super::tokens::{Token, TokenKind};
use super::WIDTH;

/// One `name = value` (or `name: type`, or a bare `name`) of a `{ … }` body.
struct Entry<'a> {
    name: &'a str,
    start: usize,
    value: Option<Span>,
}

impl<'a> Entry<'a> {
    fn new(name: &'a Ident, start: usize, value: Option<Span>) -> Entry<'a> {
        Entry { name: &name.name, start, value }
    }

    fn assignment(assignment: &'a Assignment) -> Entry<'a> {
        let value = match &assignment.condition {
            Some(condition) => Span::new(assignment.value.span.start, condition.span.end),
            None => assignment.value.span,
        };
        Entry::new(&assignment.name, assignment.span.start, Some(value))
    }
}

/// A line of output: its code, and the comment that ends it.
struct Line<'s> {
    code: String,
    comment: Option<&'s str>,
    /// The code itself ends in a comment, so nothing may follow on this line.
    closed: bool,
}

impl Line<'_> {
    fn new(code: String) -> Self {
        Line { code, comment: None, closed: false }
    }

    fn closed(code: String) -> Self {
        Line { code, comment: None, closed: true }
    }

    /// Whether a comment may still be put at the end of this line.
    fn takes_comment(&self) -> bool {
        !self.is_blank() && self.comment.is_none() && !self.closed
    }

    fn is_blank(&self) -> bool {
        self.code.trim().is_empty() && self.comment.is_none()
    }
}

/// How a body's entries are written.
#[derive(Clone, Copy, PartialEq)]
enum BodyStyle {
    /// `name = value`, with the `=` aligned; on one line when written so and short.
    Assignments,
    /// The same, but always one entry per line (`config`).
    AssignmentsMultiLine,
    /// `name: type`, one per line, not aligned (`schema`).
    Fields,
}

pub struct Printer<'s> {
    source: &'s str,
    tokens: Vec<Token>,
    /// Indexes into `tokens` of the comments, and which are printed.
    comments: Vec<usize>,
    placed: Vec<bool>,
    first_unplaced: usize,
    lines: Vec<Line<'s>>,
    /// A blank line is owed before the next own-line comment or code line.
    blank_owed: bool,
    /// The last line opened a bracket, so no blank line may follow it.
    after_open: bool,
    /// Laying out on one line: line breaks become spaces, and anything that
    /// needs a line of its own sets `flat_failed`.
    flat: bool,
    flat_failed: bool,
}

impl<'s> Printer<'s> {
    pub fn new(source: &'s str, tokens: Vec<Token>) -> Printer<'s> {
        let comments: Vec<usize> = (0..tokens.len()).filter(|&i| tokens[i].kind == TokenKind::Comment).collect();
        let placed = vec![false; comments.len()];
        Printer {
            source,
            tokens,
            comments,
            placed,
            first_unplaced: 0,
            lines: Vec::new(),
            blank_owed: false,
            after_open: false,
            flat: false,
            flat_failed: false,
        }
    }

    pub fn finish(mut self) -> String {
        self.place_comments_before(usize::MAX, 0);
        let mut text = String::new();
        // Comments at the ends of neighbouring lines line up in one column.
        let mut column = 0;
        for (i, line) in self.lines.iter().enumerate() {
            let code = line.code.trim_end();
            text.push_str(code);
            if let Some(comment) = line.comment {
                if i == 0 || self.lines[i - 1].comment.is_none() {
                    column = self.lines[i..]
                        .iter()
                        .take_while(|line| line.comment.is_some())
                        .map(|line| line.code.trim_end().len())
                        .max()
                        .unwrap_or(0);
                }
                text.push_str(&" ".repeat(column - code.len() + 2));
                text.push_str(comment);
            }
            text.push('\n');
        }
        text
    }

    // ------------------------------------------------------------- items

    pub fn file(&mut self, file: &File) {
        let mut previous_is_block = false;
        for (i, item) in file.items.iter().enumerate() {
            // Items of more than one line (leading comments count) stand
            // apart; one-line items may stay together.
            self.blank_owed = i > 0 && previous_is_block;
            let mark = self.lines.len();
            self.item(item);
            let is_block = self.lines[mark..].iter().filter(|line| !line.is_blank()).count() > 1;
            if is_block && mark > 0 && !self.lines[mark - 1].is_blank() && !self.lines[mark].is_blank() {
                self.lines.insert(mark, Line::new(String::new()));
            }
            previous_is_block = is_block;
        }
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Config(config) => {
                self.new_line(config.span.start, 0, true);
                self.push("config");
                let entries: Vec<Entry> = config
                    .entries
                    .iter()
                    .map(|entry| Entry::new(&entry.key, entry.span.start, Some(entry.value.span)))
                    .collect();
                self.body(&entries, config.span.start, 0, BodyStyle::AssignmentsMultiLine);
            }
            Item::Schema(schema) => {
                self.new_line(schema.span.start, 0, true);
                self.push(&format!("schema {}", schema.name.name));
                let entries: Vec<Entry> = schema
                    .fields
                    .iter()
                    .map(|field| Entry::new(&field.name, field.span.start, Some(field.type_name.span)))
                    .collect();
                self.body(&entries, schema.name.span.end, 0, BodyStyle::Fields);
            }
            Item::Source(source) => {
                self.new_line(source.span.start, 0, true);
                self.push(&format!("source {}: {} = ", source.name.name, source.schema.name));
                self.inline(source.connector.span, 4);
                if let Some(body) = &source.body {
                    let entries: Vec<Entry> = body.iter().map(Entry::assignment).collect();
                    self.body(&entries, source.connector.span.end, 0, BodyStyle::Assignments);
                }
                self.attributes(&source.attributes, 4);
            }
            Item::Table(table) => {
                self.new_line(table.span.start, 0, true);
                self.push(&format!("table {}: {} = ", table.name.name, table.schema.name));
                self.inline(table.connector.span, 4);
                self.push(&format!(" key_by {}", table.key.name));
            }
            Item::Let(let_decl) => {
                self.new_line(let_decl.span.start, 0, true);
                self.push(&format!("let {} = ", let_decl.name.name));
                self.stream(&let_decl.stream, 0);
            }
            Item::Pipeline(pipeline) => {
                self.new_line(pipeline.span.start, 0, true);
                self.stream(&pipeline.stream, 0);
            }
        }
    }

    // ----------------------------------------------------------- streams

    /// A stream whose head goes on the current line; its operators go one
    /// per line below, two columns deeper than `indent`.
    fn stream(&mut self, stream: &Stream, indent: usize) {
        match &stream.head {
            StreamHead::Named(name) => self.push(&name.name),
            StreamHead::Union { inputs, span, .. } => self.union(inputs, *span, indent),
        }
        for operator in &stream.operators {
            let pipe = self.token_before(operator.span.start).map_or(operator.span.start, |pipe| pipe.span.start);
            // A comment between the `|` and the keyword goes before the line.
            self.place_comments_before(operator.keyword.start, indent + 2);
            self.new_line(pipe, indent + 2, true);
            self.push("| ");
            self.operator(operator, indent + 4);
        }
    }

    /// Prints with `print` on the current line; keeps it when it fits there
    /// and placed no comment, and otherwise takes it back (the caller then
    /// prints it over several lines).
    fn fits_flat(&mut self, print: impl FnOnce(&mut Self)) -> bool {
        let saved = (self.lines.len(), self.lines.last().map(|line| line.code.clone()));
        self.flat = true;
        self.flat_failed = false;
        print(self);
        self.flat = false;
        let fits = self.lines.len() == saved.0 && self.lines.last().is_some_and(|line| line.code.len() <= WIDTH);
        if !self.flat_failed && fits {
            return true;
        }
        self.lines.truncate(saved.0);
        if let (Some(line), Some(before)) = (self.lines.last_mut(), saved.1) {
            line.code = before;
        }
        false
    }

    /// `union(a, b | filter x)` on one line when it fits and holds no
    /// comment; otherwise one input per line.
    fn union(&mut self, inputs: &[Stream], span: Span, indent: usize) {
        if !self.flat && !self.has_comment_within(span) && self.fits_flat(|printer| printer.union(inputs, span, indent))
        {
            return;
        }
        self.push("union(");
        self.after_open = true;
        for (i, input) in inputs.iter().enumerate() {
            if self.flat {
                if i > 0 {
                    self.push(", ");
                }
            } else {
                self.new_line(input.span.start, indent + 2, false);
            }
            self.stream(input, indent + 2);
            if !self.flat {
                self.push(",");
            }
        }
        if !self.flat {
            self.place_comments_before(span.end - 1, indent + 2);
            self.new_line(span.end - 1, indent, false);
        }
        self.push(")");
    }

    fn operator(&mut self, operator: &OperatorUse, indent: usize) {
        let keyword = operator.operator.keyword();
        match &operator.operator {
            Operator::Map(items) => {
                self.push(keyword);
                let entries: Vec<Entry> = items
                    .iter()
                    .map(|item| Entry::new(&item.name, item.span.start, item.value.as_ref().map(|value| value.span)))
                    .collect();
                self.body(&entries, operator.keyword.end, indent, BodyStyle::Assignments);
            }
            Operator::Filter(expr)
            | Operator::KeyBy(expr)
            | Operator::Throttle(expr)
            | Operator::Work(expr)
            | Operator::Sleep(expr) => {
                self.push(keyword);
                self.push(" ");
                self.inline(expr.span, indent + 2);
            }
            Operator::Rebalance | Operator::Broadcast => self.push(keyword),
            Operator::Window { kind, time_field, aggregates } => {
                self.push("window ");
                self.inline(kind.span, indent + 2);
                self.push(&format!(" on {}", time_field.name));
                let entries: Vec<Entry> = aggregates.iter().map(Entry::assignment).collect();
                self.body(&entries, time_field.span.end, indent, BodyStyle::Assignments);
            }
            Operator::Top { count, order } => {
                self.push("top ");
                let end = order.last().map_or(count.span.end, |key| key.span.end);
                self.inline(Span::new(count.span.start, end), indent + 2);
            }
            Operator::Aggregate(assignments) => {
                self.push(keyword);
                let entries: Vec<Entry> = assignments.iter().map(Entry::assignment).collect();
                self.body(&entries, operator.keyword.end, indent, BodyStyle::Assignments);
            }
            Operator::Join(join) => self.join(join, indent),
            Operator::Lookup { left, table, key, residual } => {
                self.push(if *left { "lookup left " } else { "lookup " });
                self.push(&format!("{} by ", table.name));
                self.inline(key.span, indent + 2);
                if let Some(condition) = residual {
                    self.push(" where ");
                    self.inline(condition.span, indent + 2);
                }
            }
            Operator::Sink(call) => {
                self.push("sink ");
                self.inline(call.span, indent + 2);
            }
        }
        self.attributes(&operator.attributes, indent + 2);
    }

    /// `join [left] (stream) time where …` on one line when all of it fits
    /// and the bracketed stream holds no comment; otherwise the stream's
    /// operators one per line, and the time condition after the closing
    /// bracket. (A comment after the bracket ends the line either way, so it
    /// decides nothing: the layout must not change when it has moved.)
    fn join(&mut self, join: &Join, indent: usize) {
        if !self.flat
            && !self.has_comment_within(join.right.span)
            && self.fits_flat(|printer| printer.join(join, indent))
        {
            return;
        }
        self.push(if join.left { "join left (" } else { "join (" });
        self.after_open = true;
        let stream = &join.right;
        if self.flat {
            self.stream(stream, indent);
        } else {
            self.new_line(stream.span.start, indent + 2, false);
            self.stream(stream, indent + 2);
            self.place_comments_before(stream.span.end, indent + 2);
            self.new_line(stream.span.end, indent, false);
        }
        self.push(")");
        if let Some(time) = &join.time {
            self.push(" ");
            match &time.kind {
                JoinTimeKind::Interval { span, .. } => self.inline(*span, indent + 2),
                JoinTimeKind::Window(call) => {
                    self.push("window ");
                    self.inline(call.span, indent + 2);
                }
                JoinTimeKind::Missing => {}
            }
            let on = if matches!(time.kind, JoinTimeKind::Missing) { "on" } else { " on" };
            self.push(&format!("{on} {}", time.left_field.name));
            if let Some(right) = &time.right_field {
                self.push(&format!(", {}", right.name));
            }
        }
        if let Some(condition) = &join.residual {
            self.push(" where ");
            self.inline(condition.span, indent + 2);
        }
    }

    fn attributes(&mut self, attributes: &[Attribute], continuation: usize) {
        for attribute in attributes {
            self.push(" ");
            self.inline(attribute.span, continuation);
        }
    }

    // ------------------------------------------------------------ bodies

    /// ` { … }` after the current line's text: the `{` is the first after
    /// `after`. `indent` is that of the line the body belongs to; entries
    /// go two columns deeper and the `}` lines up with `indent`.
    fn body(&mut self, entries: &[Entry], after: usize, indent: usize, style: BodyStyle) {
        let open = self.tokens.partition_point(|token| token.span.start < after);
        let open = open
            + self.tokens[open..].iter().position(|token| token.text(self.source) == "{").expect("a body has a `{`");
        let close = self.matching_close(open);
        let (open_at, close_at) = (self.tokens[open].span.start, self.tokens[close].span.start);

        let written_on_one_line = !self.source[open_at..close_at].contains('\n');
        if entries.is_empty() && !self.has_comment_within(Span::new(open_at, close_at)) {
            self.push(" {}");
            return;
        }
        if style == BodyStyle::Assignments && written_on_one_line {
            let flat = entries
                .iter()
                .map(|entry| match entry.value {
                    Some(value) => format!("{} = {}", entry.name, self.joined(self.code_span(value)).join(" ")),
                    None => entry.name.to_string(),
                })
                .collect::<Vec<_>>()
                .join(", ");
            let line_len = self.lines.last().map_or(0, |line| line.code.len());
            if line_len + flat.len() + 5 <= WIDTH {
                self.push(&format!(" {{ {flat} }}"));
                self.skip_comments_within(Span::new(open_at, close_at));
                return;
            }
        }
        if self.flat {
            self.flat_failed = true;
            return;
        }
        self.push(" {");
        self.after_open = true;
        let name_width = match style {
            BodyStyle::Fields => 0,
            _ => entries.iter().filter(|entry| entry.value.is_some()).map(|entry| entry.name.len()).max().unwrap_or(0),
        };
        for (i, entry) in entries.iter().enumerate() {
            self.new_line(entry.start, indent + 2, i > 0);
            match (entry.value, style) {
                (Some(value), BodyStyle::Fields) => {
                    self.push(&format!("{}: ", entry.name));
                    self.inline(value, indent + 4);
                }
                (Some(value), _) => {
                    self.push(&format!("{:name_width$} = ", entry.name));
                    self.inline(value, indent + 4);
                }
                (None, _) => self.push(entry.name),
            }
        }
        self.place_comments_before(close_at, indent + 2);
        self.new_line(close_at, indent, false);
        self.push("}");
    }

    fn matching_close(&self, open: usize) -> usize {
        let mut depth = 0usize;
        for (i, token) in self.tokens.iter().enumerate().skip(open) {
            match token.text(self.source) {
                "{" => depth += 1,
                "}" => {
                    depth -= 1;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
        }
        unreachable!("the parser accepted an unclosed `{{`")
    }

    // ------------------------------------------------------------- lines

    /// Starts a line for code at `at`, first placing the comments before it.
    /// A blank line from the source survives where `blank_allowed`.
    fn new_line(&mut self, at: usize, indent: usize, blank_allowed: bool) {
        if self.flat {
            if self.has_unplaced_comment_before(at) {
                self.flat_failed = true;
            }
            self.push(" ");
            return;
        }
        self.place_comments_before(at, indent);
        if (self.blank_owed || (blank_allowed && self.blank_line_before(at))) && self.can_blank() {
            self.lines.push(Line::new(String::new()));
        }
        self.blank_owed = false;
        self.after_open = false;
        self.lines.push(Line::new(" ".repeat(indent)));
    }

    fn push(&mut self, text: &str) {
        match self.lines.last_mut() {
            Some(line) => line.code.push_str(text),
            None => self.lines.push(Line::new(text.to_string())),
        }
    }

    fn can_blank(&self) -> bool {
        !self.after_open && self.lines.last().is_some_and(|line| !line.is_blank())
    }

    /// Whether the white space before `at` holds an empty line.
    fn blank_line_before(&self, at: usize) -> bool {
        let before = &self.source[..at.min(self.source.len())];
        let gap = before.len() - before.trim_end_matches(is_space).len();
        before[before.len() - gap..].matches('\n').count() >= 2
    }

    /// The text of `span`, spaced canonically, continuing the current line;
    /// lines a comment inside it breaks off go at `continuation`.
    fn inline(&mut self, span: Span, continuation: usize) {
        let span = self.code_span(span);
        self.break_for_comments_before(span.start, continuation);
        let lines = self.joined(span);
        self.skip_comments_within(span);
        let more = lines.len() - 1;
        let mut lines = lines.into_iter();
        self.push(&lines.next().unwrap_or_default());
        // Every line of the joined text but the last ends in a comment.
        for (i, line) in lines.enumerate() {
            self.flat_failed |= self.flat;
            if let Some(previous) = self.lines.last_mut() {
                previous.closed = true;
            }
            let line = format!("{}{line}", " ".repeat(continuation));
            self.lines.push(if i + 1 < more { Line::closed(line) } else { Line::new(line) });
        }
    }

    fn joined(&self, span: Span) -> Vec<String> {
        spacing::join(self.tokens_within(span), self.source)
    }

    /// The tokens a piece of the tree really covers. The tree's spans can
    /// be off both ways: pest lets an optional part's skipped trivia into a
    /// call's span (so trailing comments are trimmed off), and an
    /// expression's span leaves out its outermost parentheses (so the
    /// brackets a span leaves unbalanced, and any that wrap it whole, are
    /// taken in).
    fn code_span(&self, span: Span) -> Span {
        let mut first = self.tokens.partition_point(|token| token.span.start < span.start);
        let mut end = self.tokens.partition_point(|token| token.span.start < span.end);
        while end > first && self.tokens[end - 1].kind == TokenKind::Comment {
            end -= 1;
        }
        let (mut unopened, mut unclosed) = (0usize, 0usize);
        for token in &self.tokens[first..end] {
            match token.text(self.source) {
                "(" => unclosed += 1,
                ")" if unclosed > 0 => unclosed -= 1,
                ")" => unopened += 1,
                _ => {}
            }
        }
        // Comments may stand between a bracket and what it holds.
        let code_before = |index: usize| (0..index).rev().find(|&i| self.tokens[i].kind != TokenKind::Comment);
        let code_from = |index: usize| (index..self.tokens.len()).find(|&i| self.tokens[i].kind != TokenKind::Comment);
        let is = |index: Option<usize>, text: &str| {
            index.and_then(|i| self.tokens.get(i)).is_some_and(|token| token.text(self.source) == text)
        };
        while unopened > 0 && is(code_before(first), "(") {
            first = code_before(first).expect("checked");
            unopened -= 1;
        }
        while unclosed > 0 && is(code_from(end), ")") {
            end = code_from(end).expect("checked") + 1;
            unclosed -= 1;
        }
        while is(code_before(first), "(") && is(code_from(end), ")") {
            first = code_before(first).expect("checked");
            end = code_from(end).expect("checked") + 1;
        }
        if end > first {
            Span::new(self.tokens[first].span.start, self.tokens[end - 1].span.end)
        } else {
            span
        }
    }

    fn tokens_within(&self, span: Span) -> &[Token] {
        let first = self.tokens.partition_point(|token| token.span.start < span.start);
        let end = self.tokens.partition_point(|token| token.span.start < span.end);
        &self.tokens[first..end]
    }

    fn token_before(&self, at: usize) -> Option<Token> {
        let index = self.tokens.partition_point(|token| token.span.start < at);
        index.checked_sub(1).map(|i| self.tokens[i])
    }

    // ---------------------------------------------------------- comments

    fn has_comment_within(&self, span: Span) -> bool {
        self.tokens_within(span).iter().any(|token| token.kind == TokenKind::Comment)
    }

    fn has_unplaced_comment_before(&self, at: usize) -> bool {
        (self.first_unplaced..self.comments.len())
            .any(|c| !self.placed[c] && self.tokens[self.comments[c]].span.start < at)
    }

    /// Marks the comments inside `span` as placed: the span's text carried them.
    fn skip_comments_within(&mut self, span: Span) {
        for c in self.first_unplaced..self.comments.len() {
            let start = self.tokens[self.comments[c]].span.start;
            if start >= span.end {
                break;
            }
            if start >= span.start {
                self.placed[c] = true;
            }
        }
    }

    /// Mid-line, before code from `at`: the comments still unplaced before it
    /// end the current line, so that no comment moves past code that
    /// followed it. The code goes on at `continuation`.
    fn break_for_comments_before(&mut self, at: usize, continuation: usize) {
        if self.flat {
            self.flat_failed |= self.has_unplaced_comment_before(at);
            return;
        }
        for c in self.first_unplaced..self.comments.len() {
            let comment = self.tokens[self.comments[c]];
            if comment.span.start >= at {
                break;
            }
            if self.placed[c] {
                continue;
            }
            self.placed[c] = true;
            let text = comment.text(self.source);
            match self.lines.last_mut() {
                Some(line) if line.is_blank() => {
                    line.code.push_str(text);
                    line.closed = true;
                }
                Some(line) if line.takes_comment() => line.comment = Some(text),
                _ => self.lines.push(Line::closed(format!("{}{text}", " ".repeat(continuation)))),
            }
            self.lines.push(Line::new(" ".repeat(continuation)));
        }
    }

    /// Prints the comments that stand before `at`: at the end of the last
    /// line when code preceded them on their line, else on lines of their own.
    fn place_comments_before(&mut self, at: usize, indent: usize) {
        if self.flat {
            self.flat_failed |= self.has_unplaced_comment_before(at);
            return;
        }
        while self.first_unplaced < self.comments.len() {
            let c = self.first_unplaced;
            let comment = self.tokens[self.comments[c]];
            if comment.span.start >= at {
                break;
            }
            self.first_unplaced += 1;
            if self.placed[c] {
                continue;
            }
            self.placed[c] = true;
            let text = comment.text(self.source);
            let line_start = self.source[..comment.span.start].rfind('\n').map_or(0, |newline| newline + 1);
            let trails_code = !self.source[line_start..comment.span.start].trim_matches(is_space).is_empty();
            if let Some(line) = self.lines.last_mut().filter(|line| trails_code && line.takes_comment()) {
                line.comment = Some(text);
                continue;
            }
            if (self.blank_owed || self.blank_line_before(comment.span.start)) && self.can_blank() {
                self.lines.push(Line::new(String::new()));
            }
            self.blank_owed = false;
            self.after_open = false;
            self.lines.push(Line::closed(format!("{}{text}", " ".repeat(indent))));
        }
    }
}

/// White space to the grammar, a byte-order mark included.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n' | '\u{FEFF}')
}
