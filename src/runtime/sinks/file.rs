//! `sink file(path)`: csv with a header line, or jsonl.
//!
//! A file sink whose target is a regular file (or nothing yet) writes to a
//! hidden temporary file beside it and renames it into place only when the
//! run succeeds, so a failed or stopped run never replaces the target; the
//! temporary file is removed on every other way out (`temporary.rs`). A
//! symbolic link is followed: the file it points to is replaced, the link
//! stays. A target that is not a regular file — a device, a FIFO, a
//! socket — and any path in `/dev` or `/proc` is written to directly, since
//! renaming over it would replace the device (or, for `/dev/stdout`
//! redirected to a file, the file the shell holds open) itself.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::check::program::{Format, Value};
use crate::check::types::RecordType;
use crate::compile::interp::to_text;
use crate::compile::row::Batch;

use super::RecordWriter;

pub struct FileSink {
    record: Arc<RecordType>,
    format: Format,
    /// The path as written in the `.flow` file (resolved against its folder).
    target: PathBuf,
    /// Where the output goes: to a temporary file renamed over `target`'s
    /// final file, or straight into a device or FIFO.
    destination: Destination,
    writer: Option<BufWriter<File>>,
}

enum Destination {
    Replace { file: PathBuf, temporary: crate::runtime::temporary::Listed },
    WriteThrough,
}

impl FileSink {
    pub(super) fn create(path: &str, format: Format, record: &Arc<RecordType>) -> Result<FileSink, String> {
        let target = PathBuf::from(path);
        let (file, destination) = open_destination(&target)?;
        let mut sink = FileSink {
            record: record.clone(),
            format,
            target,
            destination,
            writer: Some(BufWriter::with_capacity(64 << 10, file)),
        };
        if format == Format::Csv {
            let header: Vec<String> = record.field_names().map(csv_field).collect();
            let writer = sink.writer.as_mut().expect("just opened");
            writeln!(writer, "{}", header.join(",")).map_err(|error| format!("cannot write `{path}`: {error}"))?;
        }
        Ok(sink)
    }

    fn write_batch(&mut self, batch: &Batch) -> io::Result<()> {
        let Some(writer) = self.writer.as_mut() else { return Ok(()) };
        // The whole batch in one write: the buffer then hands on whole lines
        // only, so a stream shared with `print` sinks (`/dev/stdout`) never
        // gets a line torn by another sink's.
        let mut lines = String::new();
        for row in 0..batch.len() {
            let values = batch.row(row, &self.record).values();
            match self.format {
                Format::Csv => push_csv_record(&mut lines, &values),
                Format::Jsonl => push_json_record(&mut lines, &self.record, &values),
            }
            lines.push('\n');
        }
        if writer.capacity() - writer.buffer().len() < lines.len() {
            writer.flush()?;
        }
        writer.write_all(lines.as_bytes())
    }

    fn complete(&mut self) -> io::Result<()> {
        let Some(writer) = self.writer.take() else { return Ok(()) };
        let result = writer.into_inner().map_err(|error| error.into_error()).and_then(|file| match &self.destination {
            Destination::Replace { file: final_file, temporary } => {
                file.sync_all()?;
                std::fs::rename(temporary.path(), final_file)
            }
            // A pipe or terminal has nothing to sync.
            Destination::WriteThrough => Ok(()),
        });
        if let Destination::Replace { temporary, .. } = &mut self.destination {
            match result {
                Ok(()) => temporary.unlist(),
                Err(_) => temporary.remove(),
            }
        }
        result
    }
}

impl RecordWriter for FileSink {
    fn write(&mut self, batch: &Batch) -> io::Result<()> {
        self.write_batch(batch)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.as_mut().map_or(Ok(()), |writer| writer.flush())
    }

    fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
        self.complete()
    }

    fn target(&self) -> Option<&Path> {
        Some(&self.target)
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        if let Destination::Replace { temporary, .. } = &mut self.destination {
            if self.writer.take().is_some() {
                temporary.remove();
            }
        }
    }
}

/// Opens where a file sink's output goes (see the module comment).
fn open_destination(target: &Path) -> Result<(File, Destination), String> {
    let shown = target.display();
    if let Some(fd) = standard_stream(target) {
        // A new open of `/dev/stdout` would start at offset 0 of a file the
        // shell opened, overwriting what `print` sinks write there: share
        // the process's own descriptor, and its offset, instead.
        // SAFETY: `dup` of a descriptor number has no memory effects; the
        // new descriptor is owned by the `File` alone.
        let copy = unsafe { libc::dup(fd) };
        if copy < 0 {
            return Err(format!("cannot write `{shown}`: {}", io::Error::last_os_error()));
        }
        use std::os::fd::FromRawFd;
        return Ok((unsafe { File::from_raw_fd(copy) }, Destination::WriteThrough));
    }
    let write_through = || {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(target)
            .map_err(|error| format!("cannot open `{shown}` for writing: {error}"))?;
        Ok((file, Destination::WriteThrough))
    };
    // Devices and the process's own files are never files to replace.
    if target.starts_with("/dev") || target.starts_with("/proc") {
        return write_through();
    }
    let final_file = follow_links(target).map_err(|error| format!("cannot follow the link `{shown}`: {error}"))?;
    match std::fs::metadata(&final_file) {
        Ok(metadata) if metadata.is_dir() => Err(format!("cannot write `{shown}`: it is a folder")),
        Ok(metadata) if !metadata.is_file() => write_through(),
        _ => {
            let path = crate::runtime::temporary::name_beside(&final_file);
            // Listed before it exists, so that a signal in between still removes it.
            let mut temporary = crate::runtime::temporary::list(&path);
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => Ok((file, Destination::Replace { file: final_file, temporary })),
                Err(error) => {
                    temporary.unlist();
                    Err(match error.kind() {
                        io::ErrorKind::NotFound => format!(
                            "cannot create `{shown}`: the folder `{}` does not exist",
                            final_file
                                .parent()
                                .filter(|parent| !parent.as_os_str().is_empty())
                                .unwrap_or(Path::new("."))
                                .display()
                        ),
                        _ => format!("cannot create `{shown}`: {error}"),
                    })
                }
            }
        }
    }
}

/// The descriptor a path names when it is the process's standard output
/// or error: `/dev/stdout`, `/dev/fd/1`, `/proc/self/fd/2`, ….
pub fn standard_stream(path: &Path) -> Option<libc::c_int> {
    match path.to_str()? {
        "/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1" => Some(1),
        "/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2" => Some(2),
        _ => None,
    }
}

/// The file a sink on `path` replaces when the run succeeds, as the
/// operating system sees it (links followed, folders made absolute); `None`
/// for devices, FIFOs and the process's own streams, which are written
/// through, and where the path cannot be resolved yet.
pub fn replaced_file(path: &Path) -> Option<PathBuf> {
    if path.starts_with("/dev") || path.starts_with("/proc") {
        return None;
    }
    let final_file = follow_links(path).ok()?;
    if std::fs::metadata(&final_file).is_ok_and(|metadata| !metadata.is_file()) {
        return None;
    }
    let folder = final_file.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(std::fs::canonicalize(folder).ok()?.join(final_file.file_name()?))
}

/// The path at the end of a chain of symbolic links (which may not exist
/// yet: a dangling link names the file to create).
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&path) {
            Ok(metadata) if metadata.file_type().is_symlink() => {
                let link = std::fs::read_link(&path)?;
                path = match path.parent() {
                    Some(parent) if link.is_relative() => parent.join(link),
                    _ => link,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// One csv record, without its line break, as the csv source reads it back.
pub(crate) fn push_csv_record(line: &mut String, values: &[Value]) {
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
pub(crate) fn push_json_record(line: &mut String, record: &RecordType, values: &[Value]) {
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
