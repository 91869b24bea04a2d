//! Values of the fixed-width types as 64-bit words, as rows store them: what
//! the keyed path hashes, compares and orders without a `Value` per record.
//! The hash is `builtins::hash_value`'s and the order is `KeyValue`'s, so
//! the fast path sends a key to the subtask, and fires it in the place, that
//! the `Value` path would.

use crate::check::program::Value;
use crate::check::types::Type;

use super::builtins::{hash_bool, hash_float, hash_int};

/// A fixed-width value's word: an int's, timestamp's or duration's own
/// bits, a float's IEEE bits, a bool as 0 or 1. A string has none (0).
pub fn value_bits(value: &Value) -> u64 {
    match value {
        Value::Int(v) | Value::Timestamp(v) | Value::Duration(v) => *v as u64,
        Value::Float(v) => v.to_bits(),
        Value::Bool(v) => u64::from(*v),
        Value::Str(_) => 0,
    }
}

/// The value of `ty` whose word is `bits`.
pub fn value_of_bits(ty: Type, bits: u64) -> Value {
    match ty {
        Type::Float => Value::Float(f64::from_bits(bits)),
        Type::Bool => Value::Bool(bits & 0xff != 0),
        Type::Timestamp => Value::Timestamp(bits as i64),
        Type::Duration => Value::Duration(bits as i64),
        Type::Int | Type::String => Value::Int(bits as i64),
    }
}

/// `hash_value` of the value of `ty` whose word is `bits`.
#[inline]
pub fn hash_bits(ty: Type, bits: u64) -> u64 {
    (match ty {
        Type::Float => hash_float(f64::from_bits(bits)),
        Type::Bool => hash_bool(bits & 0xff != 0),
        _ => hash_int(bits as i64),
    }) as u64
}

/// Where the value of `ty` whose word is `bits` sorts among values of its
/// type: floats in IEEE total order, as `KeyValue` orders them.
#[inline]
pub fn order_of_bits(ty: Type, bits: u64) -> i64 {
    match ty {
        Type::Float => {
            let bits = bits as i64;
            bits ^ (((bits >> 63) as u64) >> 1) as i64
        }
        Type::Bool => i64::from(bits & 0xff != 0),
        _ => bits as i64,
    }
}

/// Whether values of `ty` have a word of their own (all but strings).
pub fn is_fixed_width(ty: Type) -> bool {
    ty != Type::String
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::builtins::hash_value;

    #[test]
    fn words_hash_and_order_as_their_values_do() {
        let values = [
            (Type::Int, vec![Value::Int(-3), Value::Int(0), Value::Int(7), Value::Int(i64::MAX)]),
            (Type::Float, vec![Value::Float(-2.5), Value::Float(-0.0), Value::Float(0.0), Value::Float(1e300)]),
            (Type::Bool, vec![Value::Bool(false), Value::Bool(true)]),
            (Type::Timestamp, vec![Value::Timestamp(-1), Value::Timestamp(5)]),
            (Type::Duration, vec![Value::Duration(0), Value::Duration(9)]),
        ];
        for (ty, values) in values {
            for pair in values.windows(2) {
                let (a, b) = (value_bits(&pair[0]), value_bits(&pair[1]));
                assert!(order_of_bits(ty, a) < order_of_bits(ty, b), "{pair:?}");
            }
            for value in &values {
                let bits = value_bits(value);
                assert_eq!(hash_bits(ty, bits), hash_value(value) as u64, "{value:?}");
                assert_eq!(format!("{:?}", value_of_bits(ty, bits)), format!("{value:?}"));
            }
        }
        // Equal floats hash alike, as `hash_value` has them.
        assert_eq!(hash_bits(Type::Float, (-0.0f64).to_bits()), hash_bits(Type::Float, 0.0f64.to_bits()));
    }
}
