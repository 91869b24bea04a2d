//! `sink print`: one line per record on standard output, `field=value`
//! pairs, handed on in chunks and whenever the subtask idles.

use std::io::{self, Write};
use std::sync::Arc;

use crate::check::program::Value;
use crate::check::types::RecordType;
use crate::compile::interp::to_text;
use crate::compile::row::Batch;

use super::RecordWriter;

/// Print output is handed to stdout in pieces about this big.
const PRINT_CHUNK: usize = 64 << 10;

pub struct Print {
    record: Arc<RecordType>,
    prefix: String,
    pending: String,
}

impl Print {
    pub fn new(record: &Arc<RecordType>, subtask: u32, parallelism: u32) -> Print {
        Print {
            record: record.clone(),
            // Flink's print sink marks each line with its subtask when there are several.
            prefix: if parallelism > 1 { format!("{}> ", subtask + 1) } else { String::new() },
            pending: String::new(),
        }
    }
}

impl RecordWriter for Print {
    fn write(&mut self, batch: &Batch) -> io::Result<()> {
        for row in 0..batch.len() {
            self.pending.push_str(&self.prefix);
            let values = batch.row(row, &self.record).values();
            for (index, (field, value)) in self.record.fields().iter().zip(&values).enumerate() {
                if index > 0 {
                    self.pending.push(' ');
                }
                self.pending.push_str(&field.name);
                self.pending.push('=');
                push_print_value(&mut self.pending, value);
            }
            self.pending.push('\n');
        }
        if self.pending.len() >= PRINT_CHUNK {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        stdout.write_all(self.pending.as_bytes())?;
        stdout.flush()?;
        self.pending.clear();
        Ok(())
    }

    fn has_pending(&self) -> bool {
        !self.pending.is_empty()
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
