//! Value types, record types and their fixed-width row layout.
//!
//! Every stream has a `RecordType` known after checking, and with it a
//! `Layout`: where each field sits in a row, and how wide a row is. The
//! runtime, the interpreter and the JIT all read rows through this one
//! layout, so it is decided here, once.
//!
//! A row holds 8-byte slots first (int, float, timestamp, duration, and
//! string handles), then 1-byte bools, padded to a multiple of 8. A string
//! slot is a (u32 offset, u32 length) pair into the arena of the buffer the
//! row travels in.

use std::fmt;
use std::sync::Arc;

/// The type of a value in an expression or a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    Int,
    Float,
    Bool,
    String,
    Timestamp,
    Duration,
}

impl Type {
    pub const ALL: [Type; 6] = [Type::Int, Type::Float, Type::Bool, Type::String, Type::Timestamp, Type::Duration];

    pub fn name(self) -> &'static str {
        match self {
            Type::Int => "int",
            Type::Float => "float",
            Type::Bool => "bool",
            Type::String => "string",
            Type::Timestamp => "timestamp",
            Type::Duration => "duration",
        }
    }

    pub fn from_name(name: &str) -> Option<Type> {
        Type::ALL.into_iter().find(|ty| ty.name() == name)
    }

    /// Bytes the type takes in a row.
    pub fn width(self) -> u32 {
        match self {
            Type::Bool => 1,
            _ => 8,
        }
    }

    /// "an int", "a float": the type with its article, for messages.
    pub fn with_article(self) -> String {
        let article = if self == Type::Int { "an" } else { "a" };
        format!("{article} {}", self.name())
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, Type::Int | Type::Float)
    }

    /// Whether `<`, `min` and `max` apply.
    pub fn is_ordered(self) -> bool {
        !matches!(self, Type::Bool)
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Field {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: Type,
}

/// The fields of a stream's records, in order, with their row layout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RecordType {
    fields: Vec<Field>,
    layout: Layout,
}

/// Where each field of a record sits in a row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Layout {
    /// Byte offset of each field, in field order.
    pub offsets: Vec<u32>,
    /// Bytes per row, a multiple of 8.
    pub width: u32,
}

impl RecordType {
    /// A record of `(name, type)` fields, for tests.
    #[cfg(test)]
    pub fn of(fields: &[(&str, Type)]) -> Arc<RecordType> {
        RecordType::new(fields.iter().map(|&(name, ty)| Field { name: name.into(), ty }).collect())
    }

    pub fn new(fields: Vec<Field>) -> Arc<RecordType> {
        let layout = Layout::of(&fields);
        Arc::new(RecordType { fields, layout })
    }

    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub fn field_index(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|field| field.name == name)
    }

    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|field| field.name.as_str())
    }

    /// Same field names and types in the same order: what `union` needs.
    pub fn same_fields(&self, other: &RecordType) -> bool {
        self.fields == other.fields
    }
}

impl fmt::Display for RecordType {
    /// `{ id: int, value: float }`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{ ")?;
        for (index, field) in self.fields.iter().enumerate() {
            if index > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}: {}", field.name, field.ty)?;
        }
        f.write_str(" }")
    }
}

impl Layout {
    fn of(fields: &[Field]) -> Layout {
        let mut offsets = vec![0; fields.len()];
        let mut next = 0;
        // Wide slots first keep every 8-byte slot aligned with no padding.
        for wide in [true, false] {
            for (index, field) in fields.iter().enumerate() {
                if (field.ty.width() == 8) == wide {
                    offsets[index] = next;
                    next += field.ty.width();
                }
            }
        }
        Layout { offsets, width: next.div_ceil(8) * 8 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, ty: Type) -> Field {
        Field { name: name.into(), ty }
    }

    #[test]
    fn lays_out_wide_slots_first_and_pads_to_eight() {
        let record = RecordType::new(vec![
            field("ok", Type::Bool),
            field("id", Type::Int),
            field("name", Type::String),
            field("late", Type::Bool),
        ]);
        assert_eq!(record.layout().offsets, vec![16, 0, 8, 17]);
        assert_eq!(record.layout().width, 24);
    }

    #[test]
    fn empty_record_is_zero_wide() {
        assert_eq!(RecordType::new(vec![]).layout().width, 0);
    }
}
