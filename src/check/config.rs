//! Runtime settings: the `config { … }` keys, their kinds, ranges and
//! defaults (Flink's where Flink has one), in one table that `check`, the
//! docs test and `flowc run --set` all read.

use std::collections::BTreeMap;

use crate::diag::{did_you_mean, one_of, Code, Diagnostic, Span};
use crate::syntax::ast::Expr;

use super::constant::{expect, Const, Expected};

/// The settings of one run.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Subtasks per operator unless `@parallelism` says otherwise.
    pub parallelism: u32,
    /// Bytes in one network buffer.
    pub buffer_size: u64,
    /// Exclusive buffers of each input channel.
    pub buffers_per_channel: u32,
    /// Buffers shared by the channels of one input gate.
    pub floating_buffers: u32,
    /// A partly filled buffer is flushed after this long.
    pub buffer_timeout_nanos: i64,
    /// Simulated network delay of every buffer and credit.
    pub channel_latency_nanos: i64,
    /// Whether neighbouring operators are fused into chains.
    pub chaining: bool,
    /// The longest record a file or stdin source reads, in bytes.
    pub max_line_length: u64,
    /// Where each setting that is not at its default was set, for messages
    /// and advice.
    pub origins: BTreeMap<&'static str, SettingOrigin>,
}

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingOrigin {
    /// The value written in the file's `config { … }`.
    File(Span),
    /// `--set key=value` or a flag such as `--no-chaining`.
    CommandLine,
}

impl Default for Config {
    fn default() -> Config {
        let mut config = Config {
            parallelism: 0,
            buffer_size: 0,
            buffers_per_channel: 0,
            floating_buffers: 0,
            buffer_timeout_nanos: 0,
            channel_latency_nanos: 0,
            chaining: false,
            max_line_length: 0,
            origins: BTreeMap::new(),
        };
        for key in KEYS {
            (key.apply)(&mut config, &key.default);
        }
        config
    }
}

/// One setting: its name, kind, range, default and meaning.
pub struct ConfigKey {
    pub name: &'static str,
    pub expected: Expected,
    /// Inclusive bounds, in the setting's unit (count, bytes, nanoseconds).
    pub min: i64,
    pub max: i64,
    pub default: Const,
    /// The default as written in a `.flow` file.
    pub default_text: &'static str,
    pub doc: &'static str,
    apply: fn(&mut Config, &Const),
}

const NANOS_PER_SECOND: i64 = 1_000_000_000;

pub const KEYS: &[ConfigKey] = &[
    ConfigKey {
        name: "parallelism",
        expected: Expected::Int,
        min: 1,
        max: 256,
        default: Const::Int(1),
        default_text: "1",
        doc: "subtasks (threads) per operator, unless the operator says `@parallelism(n)`",
        apply: |config, value| config.parallelism = as_i64(value) as u32,
    },
    ConfigKey {
        name: "buffer_size",
        expected: Expected::Size,
        min: 64,
        max: 64 << 20,
        default: Const::Size(32 << 10),
        default_text: "32KiB",
        doc: "bytes in one network buffer; records travel between subtasks in buffers",
        apply: |config, value| config.buffer_size = as_i64(value) as u64,
    },
    ConfigKey {
        name: "buffers_per_channel",
        expected: Expected::Int,
        min: 1,
        max: 1024,
        default: Const::Int(2),
        default_text: "2",
        doc: "exclusive buffers each receiver owns per input channel (the credit a sender starts with)",
        apply: |config, value| config.buffers_per_channel = as_i64(value) as u32,
    },
    ConfigKey {
        name: "floating_buffers",
        expected: Expected::Int,
        min: 0,
        max: 1024,
        default: Const::Int(8),
        default_text: "8",
        doc: "buffers shared by all channels of one input gate, handed out by the senders' backlog",
        apply: |config, value| config.floating_buffers = as_i64(value) as u32,
    },
    ConfigKey {
        name: "buffer_timeout",
        expected: Expected::Duration,
        min: 0,
        max: 3600 * NANOS_PER_SECOND,
        default: Const::Duration(100_000_000),
        default_text: "100ms",
        doc: "a partly filled buffer is sent after this long; `0ms` sends after every record",
        apply: |config, value| config.buffer_timeout_nanos = as_i64(value),
    },
    ConfigKey {
        name: "channel_latency",
        expected: Expected::Duration,
        min: 0,
        max: 10 * NANOS_PER_SECOND,
        default: Const::Duration(0),
        default_text: "0ms",
        doc: "simulated network delay of every buffer and credit on every channel",
        apply: |config, value| config.channel_latency_nanos = as_i64(value),
    },
    ConfigKey {
        name: "chaining",
        expected: Expected::Bool,
        min: 0,
        max: 1,
        default: Const::Bool(true),
        default_text: "true",
        doc: "fuse neighbouring operators into chains (tasks) by Flink's rules",
        apply: |config, value| config.chaining = as_i64(value) != 0,
    },
    ConfigKey {
        name: "max_line_length",
        expected: Expected::Size,
        min: 64,
        max: 1 << 30,
        default: Const::Size(1 << 20),
        default_text: "1MiB",
        doc: "the longest line (csv record) a `file` or `stdin` source reads; a longer one is a bad line",
        apply: |config, value| config.max_line_length = as_i64(value) as u64,
    },
];

fn as_i64(value: &Const) -> i64 {
    match value {
        Const::Int(v) | Const::Duration(v) => *v,
        Const::Size(v) => i64::try_from(*v).unwrap_or(i64::MAX),
        Const::Bool(v) => i64::from(*v),
        _ => unreachable!("config values are checked against their kind before they are applied"),
    }
}

impl Config {
    /// Sets `key` from an expression in the file (or from `--set`), checking
    /// its kind and range. `key_span` points at the key for messages.
    pub fn set(&mut self, key: &str, key_span: Span, value: &Expr, diagnostics: &mut Vec<Diagnostic>) -> bool {
        let Some(spec) = KEYS.iter().find(|spec| spec.name == key) else {
            diagnostics.push(
                Diagnostic::error(Code::UnknownConfigKey, format!("unknown setting `{key}`"))
                    .label(key_span, "not a setting")
                    .help(
                        did_you_mean(key, KEYS.iter().map(|spec| spec.name))
                            .unwrap_or_else(|| format!("the settings are {}", one_of(KEYS.iter().map(|s| s.name)))),
                    ),
            );
            return false;
        };
        let what = format!("the `{key}` setting");
        let Some(value_const) = expect(value, spec.expected, Code::ConfigValue, &what, diagnostics) else {
            return false;
        };
        let number = as_i64(&value_const);
        if number < spec.min || number > spec.max {
            diagnostics.push(
                Diagnostic::error(Code::ConfigValue, format!("{what} is out of range"))
                    .label(value.span, format!("allowed: {} to {}", spec.show(spec.min), spec.show(spec.max)))
                    .help(format!("the default is `{}`: {}", spec.default_text, spec.doc)),
            );
            return false;
        }
        (spec.apply)(self, &value_const);
        self.origins.insert(spec.name, SettingOrigin::File(value.span));
        true
    }

    /// Sets a key from `--set key=value` text.
    pub fn set_from_str(&mut self, assignment: &str) -> Result<(), Diagnostic> {
        let Some((key, text)) = assignment.split_once('=') else {
            return Err(Diagnostic::error(Code::ConfigValue, format!("`{assignment}` is not `key=value`"))
                .help("write settings as `--set parallelism=4`"));
        };
        let value = crate::syntax::parse_value(text.trim())?;
        let mut diagnostics = Vec::new();
        if self.set(key.trim(), Span::default(), &value, &mut diagnostics) {
            let name = KEYS.iter().find(|spec| spec.name == key.trim()).expect("a key just set exists").name;
            self.origins.insert(name, SettingOrigin::CommandLine);
            return Ok(());
        }
        Err(diagnostics.into_iter().next().expect("a refused setting is reported"))
    }
}

impl ConfigKey {
    /// A bound in the key's own unit, as a user would write it.
    fn show(&self, value: i64) -> String {
        match self.expected {
            Expected::Size => super::units::format_size(value as u64),
            Expected::Duration => super::units::format_duration(value),
            Expected::Bool => (if value == 0 { "false" } else { "true" }).into(),
            _ => value.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_flink() {
        let config = Config::default();
        assert_eq!(config.parallelism, 1);
        assert_eq!(config.buffer_size, 32 * 1024);
        assert_eq!(config.buffers_per_channel, 2);
        assert_eq!(config.floating_buffers, 8);
        assert_eq!(config.buffer_timeout_nanos, 100_000_000);
        assert!(config.chaining);
    }

    #[test]
    fn sets_from_command_line_text() {
        let mut config = Config::default();
        config.set_from_str("parallelism=4").unwrap();
        config.set_from_str("buffer_timeout = 5ms").unwrap();
        assert_eq!(config.parallelism, 4);
        assert_eq!(config.buffer_timeout_nanos, 5_000_000);
        assert_eq!(config.origins.get("parallelism"), Some(&SettingOrigin::CommandLine));
        assert_eq!(config.set_from_str("parallelism=0").unwrap_err().code, Code::ConfigValue);
        assert_eq!(config.set_from_str("paralelism=2").unwrap_err().code, Code::UnknownConfigKey);
        assert_eq!(config.set_from_str("parallelism").unwrap_err().code, Code::ConfigValue);
        assert_eq!(config.set_from_str("buffer_size=1k").unwrap_err().code, Code::ConfigValue);
    }
}
