//! Rows in their fixed-width layout, and `Batch`, the block of rows every
//! stage of a run reads and writes: a network buffer between subtasks, and
//! the hand-over between operators inside a chain.
//!
//! A batch holds `n` rows of `width` bytes back to back, and a string area.
//! A string field's 8-byte slot holds a little-endian `u32` offset and `u32`
//! length into the string area of the batch the row is in, so a row never
//! points outside its own batch; copying a row into another batch copies its
//! strings and rewrites the slots. The layout itself is `check::Layout`.

use std::sync::Arc;

use crate::check::program::Value;
use crate::check::types::{RecordType, Type};

use super::interp::Fields;

/// Rows of one record type, back to back, and the strings they point into.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    width: usize,
    n_rows: usize,
    rows: Vec<u8>,
    strings: Vec<u8>,
}

impl Batch {
    pub fn new(record: &RecordType) -> Batch {
        Batch { width: record.layout().width as usize, ..Batch::default() }
    }

    /// An empty batch with room for `bytes` of rows and strings.
    pub fn with_capacity(record: &RecordType, bytes: usize) -> Batch {
        Batch { width: record.layout().width as usize, n_rows: 0, rows: Vec::with_capacity(bytes), strings: Vec::new() }
    }

    pub fn len(&self) -> usize {
        self.n_rows
    }

    pub fn is_empty(&self) -> bool {
        self.n_rows == 0
    }

    /// Bytes the rows and strings take: what counts against `buffer_size`.
    pub fn bytes(&self) -> usize {
        self.rows.len() + self.strings.len()
    }

    pub fn clear(&mut self) {
        self.n_rows = 0;
        self.rows.clear();
        self.strings.clear();
    }

    pub fn row<'a>(&'a self, index: usize, record: &'a RecordType) -> RowRef<'a> {
        let start = index * self.width;
        RowRef { bytes: &self.rows[start..start + self.width], strings: &self.strings, record }
    }

    /// The 8-byte int (or timestamp, or duration) at byte `offset` of row
    /// `row` (the field's `Layout` offset): for loops that read one field
    /// of every row without a `RowRef` each.
    #[inline]
    pub fn i64_at(&self, row: usize, offset: usize) -> i64 {
        let at = row * self.width + offset;
        i64::from_le_bytes(self.rows[at..at + 8].try_into().expect("8-byte slot"))
    }

    /// The rows' bytes, `len() × width` of them: what compiled code reads.
    pub fn row_bytes_all(&self) -> &[u8] {
        &self.rows
    }

    /// The string area's bytes: what compiled code reads string fields from.
    pub fn string_bytes_all(&self) -> &[u8] {
        &self.strings
    }

    /// Appends `n` zeroed rows and returns their bytes for compiled code to
    /// fill, and the string area for the strings it stores; `keep_rows`
    /// then keeps the rows it completed.
    pub fn append_zeroed_rows(&mut self, n: usize) -> (&mut [u8], &mut Vec<u8>) {
        let start = self.rows.len();
        self.rows.resize(start + n * self.width, 0);
        self.n_rows += n;
        (&mut self.rows[start..], &mut self.strings)
    }

    /// Drops the rows from `n` on (after compiled code stopped at row `n`).
    pub fn keep_rows(&mut self, n: usize) {
        if n < self.n_rows {
            self.n_rows = n;
            self.rows.truncate(n * self.width);
        }
    }

    /// Appends the rows `selected` of `source`, with their strings.
    pub fn extend_selected(&mut self, source: &Batch, selected: &[u32], record: &RecordType) {
        debug_assert_eq!(self.width, source.width);
        if !source.strings.is_empty() {
            for &index in selected {
                self.push_row_of(source, index as usize, record);
            }
            return;
        }
        // No strings: rows copy as they are, slots and all.
        self.rows.reserve(selected.len() * self.width);
        for &index in selected {
            let start = index as usize * self.width;
            self.rows.extend_from_slice(&source.rows[start..start + self.width]);
        }
        self.n_rows += selected.len();
    }

    /// Appends a row of `values`, which follow `record`'s fields.
    pub fn push_values(&mut self, record: &RecordType, values: &[Value]) {
        let start = self.rows.len();
        self.rows.resize(start + self.width, 0);
        for (value, offset) in values.iter().zip(&record.layout().offsets) {
            let at = start + *offset as usize;
            match value {
                Value::Int(v) | Value::Timestamp(v) | Value::Duration(v) => {
                    self.rows[at..at + 8].copy_from_slice(&v.to_le_bytes());
                }
                Value::Float(v) => self.rows[at..at + 8].copy_from_slice(&v.to_bits().to_le_bytes()),
                Value::Bool(v) => self.rows[at] = u8::from(*v),
                Value::Str(text) => {
                    let slot = string_slot(self.strings.len(), text.len());
                    self.strings.extend_from_slice(text.as_bytes());
                    self.rows[at..at + 8].copy_from_slice(&slot);
                }
            }
        }
        self.n_rows += 1;
    }

    /// Appends row `index` of `source` (of the same record type), moving its
    /// strings into this batch.
    pub fn push_row_of(&mut self, source: &Batch, index: usize, record: &RecordType) {
        let start = self.rows.len();
        let from = index * source.width;
        self.rows.extend_from_slice(&source.rows[from..from + source.width]);
        for (field, offset) in record.fields().iter().zip(&record.layout().offsets) {
            if field.ty == Type::String {
                let at = start + *offset as usize;
                let (text_start, text_len) = read_slot(&self.rows[at..at + 8]);
                let slot = string_slot(self.strings.len(), text_len);
                self.strings.extend_from_slice(&source.strings[text_start..text_start + text_len]);
                self.rows[at..at + 8].copy_from_slice(&slot);
            }
        }
        self.n_rows += 1;
    }

    /// Rows `range` as a batch of their own.
    pub fn slice(&self, range: std::ops::Range<usize>, record: &RecordType) -> Batch {
        let mut slice = Batch::with_capacity(record, range.len() * self.width);
        if has_strings(record) {
            for row in range {
                slice.push_row_of(self, row, record);
            }
        } else {
            slice.extend_rows_without_strings(self, range);
        }
        slice
    }

    /// Appends row `index` of `source`, whose record has no strings: its
    /// bytes as they are.
    pub fn push_row_without_strings(&mut self, source: &Batch, index: usize) {
        debug_assert_eq!(self.width, source.width);
        let from = index * source.width;
        self.rows.extend_from_slice(&source.rows[from..from + source.width]);
        self.n_rows += 1;
    }

    /// Appends the rows `range` of `source`, whose record has no strings.
    pub fn extend_rows_without_strings(&mut self, source: &Batch, range: std::ops::Range<usize>) {
        debug_assert_eq!(self.width, source.width);
        self.rows.extend_from_slice(&source.rows[range.start * source.width..range.end * source.width]);
        self.n_rows += range.len();
    }

    /// Appends every row of `source`.
    pub fn extend_from(&mut self, source: &Batch, record: &RecordType) {
        if !has_strings(record) {
            self.rows.extend_from_slice(&source.rows);
            self.n_rows += source.n_rows;
            return;
        }
        for index in 0..source.len() {
            self.push_row_of(source, index, record);
        }
    }

    /// Bytes row `index` of `source` would add to this batch.
    pub fn row_bytes(source: &Batch, index: usize, record: &RecordType) -> usize {
        let mut bytes = source.width;
        if has_strings(record) {
            let row = source.row(index, record);
            for (field_index, field) in record.fields().iter().enumerate() {
                if field.ty == Type::String {
                    bytes += row.str_at(field_index).len();
                }
            }
        }
        bytes
    }
}

pub fn has_strings(record: &RecordType) -> bool {
    record.fields().iter().any(|field| field.ty == Type::String)
}

/// The 8-byte slot of a string `len` bytes long at `offset` in a batch's string area.
pub fn string_slot(offset: usize, len: usize) -> [u8; 8] {
    // A batch is at most `buffer_size` (64 MiB) plus one oversized row, and
    // a string literal or input line is far below 4 GiB.
    let offset = u32::try_from(offset).expect("string area below 4 GiB");
    let len = u32::try_from(len).expect("string below 4 GiB");
    let mut slot = [0; 8];
    slot[..4].copy_from_slice(&offset.to_le_bytes());
    slot[4..].copy_from_slice(&len.to_le_bytes());
    slot
}

fn read_slot(slot: &[u8]) -> (usize, usize) {
    let offset = u32::from_le_bytes(slot[..4].try_into().expect("4 bytes"));
    let len = u32::from_le_bytes(slot[4..8].try_into().expect("4 bytes"));
    (offset as usize, len as usize)
}

/// One row of a batch, read through its record type.
#[derive(Clone, Copy)]
pub struct RowRef<'a> {
    bytes: &'a [u8],
    strings: &'a [u8],
    record: &'a RecordType,
}

impl<'a> RowRef<'a> {
    fn word(&self, index: usize) -> [u8; 8] {
        let at = self.record.layout().offsets[index] as usize;
        self.bytes[at..at + 8].try_into().expect("8-byte slot")
    }

    pub fn i64_at(&self, index: usize) -> i64 {
        i64::from_le_bytes(self.word(index))
    }

    pub fn f64_at(&self, index: usize) -> f64 {
        f64::from_bits(u64::from_le_bytes(self.word(index)))
    }

    pub fn bool_at(&self, index: usize) -> bool {
        self.bytes[self.record.layout().offsets[index] as usize] != 0
    }

    pub fn str_at(&self, index: usize) -> &'a str {
        let (start, len) = read_slot(&self.word(index));
        // Only `push_values` and `push_row_of` write strings, both from `&str`.
        std::str::from_utf8(&self.strings[start..start + len]).expect("strings in a batch are UTF-8")
    }

    pub fn value(&self, index: usize) -> Value {
        match self.record.fields()[index].ty {
            Type::Int => Value::Int(self.i64_at(index)),
            Type::Float => Value::Float(self.f64_at(index)),
            Type::Bool => Value::Bool(self.bool_at(index)),
            Type::String => Value::Str(Arc::from(self.str_at(index))),
            Type::Timestamp => Value::Timestamp(self.i64_at(index)),
            Type::Duration => Value::Duration(self.i64_at(index)),
        }
    }

    pub fn values(&self) -> Vec<Value> {
        (0..self.record.fields().len()).map(|index| self.value(index)).collect()
    }
}

impl Fields for RowRef<'_> {
    fn field(&self, index: usize) -> Value {
        self.value(index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::types::Field;

    fn record() -> Arc<RecordType> {
        RecordType::new(vec![
            Field { name: "ok".into(), ty: Type::Bool },
            Field { name: "name".into(), ty: Type::String },
            Field { name: "x".into(), ty: Type::Float },
            Field { name: "ts".into(), ty: Type::Timestamp },
        ])
    }

    #[test]
    fn rows_round_trip_through_batches_with_their_strings() {
        let record = record();
        let values = |name: &str, x: f64| {
            vec![Value::Bool(true), Value::Str(Arc::from(name)), Value::Float(x), Value::Timestamp(-5)]
        };
        let mut first = Batch::new(&record);
        first.push_values(&record, &values("héllo", 1.5));
        first.push_values(&record, &values("", f64::NAN));
        first.push_values(&record, &values("world", -0.0));
        let mut second = Batch::new(&record);
        second.push_values(&record, &values("padding", 0.0));
        second.push_row_of(&first, 2, &record);
        second.extend_from(&first, &record);
        assert_eq!(second.len(), 5);
        assert_eq!(second.row(1, &record).values(), values("world", -0.0));
        assert_eq!(second.row(2, &record).str_at(1), "héllo");
        assert!(second.row(3, &record).f64_at(2).is_nan());
        assert_eq!(Batch::row_bytes(&first, 0, &record), 32 + "héllo".len());
        assert_eq!(second.bytes(), 5 * 32 + "paddingworldhélloworld".len());
    }
}
