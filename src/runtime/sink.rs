//! Sinks: `print` (one line per record on standard output), `file` (csv
//! with a header line, or jsonl) and `discard`.
//!
//! A file sink writes to a hidden temporary file beside its target and
//! renames it into place only when the run succeeds, so a failed or stopped
//! run never leaves a file that looks complete; the temporary file is
//! removed when the sink is dropped unfinished.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::check::program::{Format, SinkConnector, Value};
use crate::check::types::RecordType;
use crate::compile::interp::to_text;
use crate::compile::row::Batch;

/// Print output is handed to stdout in pieces about this big.
const PRINT_CHUNK: usize = 64 << 10;

pub enum SinkWriter {
    Discard,
    Print { record: Arc<RecordType>, prefix: String, pending: String },
    File(FileSink),
}

pub struct FileSink {
    record: Arc<RecordType>,
    format: Format,
    target: PathBuf,
    temporary: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl SinkWriter {
    /// Opens the sink of subtask `subtask` (of `parallelism`).
    pub fn open(
        connector: &SinkConnector,
        record: &Arc<RecordType>,
        subtask: u32,
        parallelism: u32,
    ) -> Result<SinkWriter, String> {
        Ok(match connector {
            SinkConnector::Discard => SinkWriter::Discard,
            SinkConnector::Print => SinkWriter::Print {
                record: record.clone(),
                // Flink's print sink marks each line with its subtask when there are several.
                prefix: if parallelism > 1 { format!("{}> ", subtask + 1) } else { String::new() },
                pending: String::new(),
            },
            SinkConnector::File { path, format } => SinkWriter::File(FileSink::create(path, *format, record)?),
        })
    }

    pub fn write(&mut self, batch: &Batch) -> io::Result<()> {
        match self {
            SinkWriter::Discard => Ok(()),
            SinkWriter::Print { record, prefix, pending } => {
                for row in 0..batch.len() {
                    pending.push_str(prefix);
                    let values = batch.row(row, record).values();
                    for (index, (field, value)) in record.fields().iter().zip(&values).enumerate() {
                        if index > 0 {
                            pending.push(' ');
                        }
                        pending.push_str(&field.name);
                        pending.push('=');
                        push_print_value(pending, value);
                    }
                    pending.push('\n');
                }
                if pending.len() >= PRINT_CHUNK {
                    self.flush()?;
                }
                Ok(())
            }
            SinkWriter::File(sink) => sink.write(batch),
        }
    }

    /// Hands buffered output on: called when the subtask goes idle and at the end.
    pub fn flush(&mut self) -> io::Result<()> {
        match self {
            SinkWriter::Print { pending, .. } if !pending.is_empty() => {
                let mut stdout = io::stdout().lock();
                stdout.write_all(pending.as_bytes())?;
                stdout.flush()?;
                pending.clear();
                Ok(())
            }
            SinkWriter::File(sink) => sink.writer.as_mut().map_or(Ok(()), |writer| writer.flush()),
            _ => Ok(()),
        }
    }

    /// Completes the output: the file sink's file appears under its name only now.
    pub fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
        if let SinkWriter::File(sink) = self {
            sink.finish()?;
        }
        Ok(())
    }

    pub fn has_pending(&self) -> bool {
        matches!(self, SinkWriter::Print { pending, .. } if !pending.is_empty())
    }

    /// The file a sink writes, for error messages.
    pub fn target(&self) -> Option<&Path> {
        match self {
            SinkWriter::File(sink) => Some(&sink.target),
            _ => None,
        }
    }
}

fn push_print_value(out: &mut String, value: &Value) {
    match value {
        Value::Str(text)
            if text.is_empty() || text.chars().any(|c| c.is_whitespace() || c == '"' || c == '=' || c.is_control()) =>
        {
            out.push_str(&format!("{:?}", &**text));
        }
        other => out.push_str(&to_text(other)),
    }
}

impl FileSink {
    fn create(path: &str, format: Format, record: &Arc<RecordType>) -> Result<FileSink, String> {
        let target = PathBuf::from(path);
        let name = target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
        let temporary = target.with_file_name(format!(".{name}.flowc-{}.tmp", std::process::id()));
        let file = File::create(&temporary).map_err(|error| format!("cannot create `{path}`: {error}"))?;
        let mut sink = FileSink {
            record: record.clone(),
            format,
            target,
            temporary,
            writer: Some(BufWriter::with_capacity(64 << 10, file)),
        };
        if format == Format::Csv {
            let header: Vec<String> = record.field_names().map(csv_field).collect();
            let writer = sink.writer.as_mut().expect("just opened");
            writeln!(writer, "{}", header.join(",")).map_err(|error| format!("cannot write `{path}`: {error}"))?;
        }
        Ok(sink)
    }

    fn write(&mut self, batch: &Batch) -> io::Result<()> {
        let Some(writer) = self.writer.as_mut() else { return Ok(()) };
        let mut line = String::new();
        for row in 0..batch.len() {
            line.clear();
            let values = batch.row(row, &self.record).values();
            match self.format {
                Format::Csv => push_csv_record(&mut line, &values),
                Format::Jsonl => push_json_record(&mut line, &self.record, &values),
            }
            line.push('\n');
            writer.write_all(line.as_bytes())?;
        }
        Ok(())
    }

    fn finish(&mut self) -> io::Result<()> {
        if let Some(writer) = self.writer.take() {
            let file = writer.into_inner().map_err(|error| error.into_error())?;
            file.sync_all()?;
            std::fs::rename(&self.temporary, &self.target)?;
        }
        Ok(())
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = std::fs::remove_file(&self.temporary);
        }
    }
}

/// One csv record, without its line break, as the csv source reads it back.
pub(super) fn push_csv_record(line: &mut String, values: &[Value]) {
    if let [value] = values {
        let text = to_text(value);
        // A blank line is no record to the reader; quoted, it is one empty (or blank) string.
        if text.trim().is_empty() {
            line.push_str(&format!("\"{text}\""));
            return;
        }
    }
    for (index, value) in values.iter().enumerate() {
        if index > 0 {
            line.push(',');
        }
        line.push_str(&csv_field(&to_text(value)));
    }
}

/// One JSON object, members in the record's field order (a
/// `serde_json::Map` would sort them by name).
pub(super) fn push_json_record(line: &mut String, record: &RecordType, values: &[Value]) {
    line.push('{');
    for (index, (field, value)) in record.fields().iter().zip(values).enumerate() {
        if index > 0 {
            line.push(',');
        }
        line.push_str(&serde_json::Value::from(field.name.as_str()).to_string());
        line.push(':');
        line.push_str(&json_value(value).to_string());
    }
    line.push('}');
}

/// A csv field, quoted when it holds a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Numbers and bools as JSON; timestamps, durations and the floats JSON has
/// no number for (NaN, infinities) as the text `str()` gives them.
fn json_value(value: &Value) -> serde_json::Value {
    match value {
        Value::Int(v) => (*v).into(),
        Value::Float(v) if v.is_finite() => (*v).into(),
        Value::Bool(v) => (*v).into(),
        Value::Str(v) => (**v).into(),
        other => to_text(other).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::types::{Field, Type};

    #[test]
    fn a_json_record_keeps_the_field_order() {
        let record = RecordType::new(vec![
            Field { name: "zone".into(), ty: Type::String },
            Field { name: "amount".into(), ty: Type::Float },
            Field { name: "id".into(), ty: Type::Int },
        ]);
        let mut line = String::new();
        push_json_record(&mut line, &record, &[Value::Str("a\"b".into()), Value::Float(f64::NAN), Value::Int(7)]);
        assert_eq!(line, r#"{"zone":"a\"b","amount":"NaN","id":7}"#);
    }

    #[test]
    fn a_lone_blank_csv_field_is_quoted_so_it_is_no_blank_line() {
        for (text, written) in [("", "\"\""), (" ", "\" \""), ("a b", "a b"), ("a\nb", "\"a\nb\"")] {
            let mut line = String::new();
            push_csv_record(&mut line, &[Value::Str(text.into())]);
            assert_eq!(line, written);
        }
        let mut line = String::new();
        push_csv_record(&mut line, &[Value::Str("".into()), Value::Int(1)]);
        assert_eq!(line, ",1");
    }
}
