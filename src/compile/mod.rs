//! Compiling a chain's per-record work. So far: the reference interpreter
//! for expressions (`interp`) and the built-in functions whose results
//! every backend must reproduce bit for bit (`builtins`). The chain
//! lowering and the Cranelift backend come with the runtime and JIT issues.

pub mod builtins;
pub mod interp;
