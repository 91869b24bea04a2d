//! Compiling a chain's per-record work. `backend` is the seam: the runtime
//! asks a `Backend` for projections, predicates, scalars and generators and
//! runs them over whole batches. `interp` is the reference interpreter for
//! expressions and `Interpreter` the backend built on it; `row` is the
//! fixed-width row format and the `Batch` that carries rows; `builtins`
//! holds the functions every backend must reproduce bit for bit, and
//! `text` the string functions that take strings apart; `fusion` says which operators of a chain compile into one function.

pub mod backend;
pub mod bits;
pub mod builtins;
pub mod fusion;
pub mod interp;
pub mod jit;
pub mod row;
pub mod text;

pub use backend::{Backend, Interpreter};
pub use jit::Jit;
pub use row::Batch;
