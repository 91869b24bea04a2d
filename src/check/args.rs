//! Binds the arguments of a connector, window kind or attribute to its
//! parameters: positional ones in order, named ones by name.

use crate::diag::{did_you_mean, one_of, Code, Diagnostic, Span};
use crate::syntax::ast::{Arg, Expr};

#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    /// May be given without its name, in order.
    pub positional: bool,
    pub required: bool,
}

impl Param {
    pub const fn positional(name: &'static str) -> Param {
        Param { name, positional: true, required: true }
    }

    pub const fn named(name: &'static str) -> Param {
        Param { name, positional: false, required: false }
    }

    pub const fn required(name: &'static str) -> Param {
        Param { name, positional: false, required: true }
    }
}

/// The argument given for each parameter, by parameter index.
pub struct Bound<'a> {
    values: Vec<Option<&'a Arg>>,
    names: Vec<&'static str>,
}

impl<'a> Bound<'a> {
    pub fn get(&self, name: &str) -> Option<&'a Expr> {
        let index = self.names.iter().position(|n| *n == name).expect("a parameter asked for by its own spec");
        self.values[index].map(|arg| &arg.value)
    }
}

/// Binds `args` to `params`, reporting unknown, repeated, surplus and
/// missing arguments. `callee` names what is called (`file`), `usage`
/// shows a correct call for the help line.
pub fn bind<'a>(
    args: &'a [Arg],
    params: &[Param],
    callee: &str,
    call_span: Span,
    usage: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Bound<'a>> {
    let errors_before = diagnostics.len();
    let mut values: Vec<Option<&Arg>> = vec![None; params.len()];
    let mut next_positional = params.iter().enumerate().filter(|(_, p)| p.positional).map(|(i, _)| i);
    for arg in args {
        let index = match &arg.name {
            None => match next_positional.next() {
                Some(index) => index,
                None => {
                    let named: Vec<&str> = params.iter().map(|p| p.name).collect();
                    diagnostics.push(
                        Diagnostic::error(
                            Code::UnknownArgument,
                            format!("`{callee}` takes no more arguments without a name"),
                        )
                        .label(arg.span, "surplus argument")
                        .help(if named.is_empty() {
                            format!("`{callee}` takes no arguments: write `{usage}`")
                        } else {
                            format!("name it: `{callee}` takes {}; for example `{usage}`", one_of(&named))
                        }),
                    );
                    continue;
                }
            },
            Some(name) => match params.iter().position(|p| p.name == name.name) {
                Some(index) => index,
                None => {
                    let help = did_you_mean(&name.name, params.iter().map(|p| p.name)).unwrap_or_else(|| {
                        if params.is_empty() {
                            format!("`{callee}` takes no arguments")
                        } else {
                            format!("`{callee}` takes {}", one_of(params.iter().map(|p| p.name)))
                        }
                    });
                    diagnostics.push(
                        Diagnostic::error(Code::UnknownArgument, format!("`{callee}` has no argument `{}`", name.name))
                            .label(name.span, "unknown argument")
                            .help(help),
                    );
                    continue;
                }
            },
        };
        if let Some(previous) = values[index] {
            diagnostics.push(
                Diagnostic::error(Code::DuplicateArgument, format!("`{}` is given twice", params[index].name))
                    .label(arg.span, "given again here")
                    .label(previous.span, "first given here")
                    .help("keep one of them"),
            );
            continue;
        }
        values[index] = Some(arg);
    }
    for (param, value) in params.iter().zip(&values) {
        if param.required && value.is_none() {
            diagnostics.push(
                Diagnostic::error(Code::MissingArgument, format!("`{callee}` needs `{}`", param.name))
                    .label(call_span, format!("`{}` is missing", param.name))
                    .help(format!("for example `{usage}`")),
            );
        }
    }
    (diagnostics.len() == errors_before).then(|| Bound { values, names: params.iter().map(|p| p.name).collect() })
}
