//! The Rust functions compiled code calls, by name: their symbols, their
//! addresses for the JIT linker, their signatures, and their lazy import
//! into a function, so a kernel's IR lists only the helpers it uses.

use cranelift_codegen::ir::{types, AbiParam, ExtFuncData, ExternalName, FuncRef, Signature, Type, UserExternalName};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::JITBuilder;

use super::strings::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Helper {
    Fmod,
    HashFloat,
    RoundFloat,
    RoundInt,
    HashStr,
    Compare,
    Len,
    Contains,
    StartsWith,
    EndsWith,
    Upper,
    Lower,
    Concat,
    StrOfInt,
    StrOfFloat,
    StrOfTimestamp,
    StrOfDuration,
    SplitIndex,
    Occurrences,
    RegexpExtract,
    Matches,
    Hour,
    Minute,
    FormatTime,
    Store,
}

extern "C" fn flowc_fmod(a: f64, b: f64) -> f64 {
    a % b
}

extern "C" fn flowc_hash_float(value: f64) -> i64 {
    crate::compile::builtins::hash_float(value)
}

extern "C" fn flowc_round_float(value: f64, digits: i64) -> f64 {
    crate::compile::builtins::round_float(value, digits)
}

extern "C" fn flowc_round_int(value: i64, digits: i64) -> i64 {
    crate::compile::builtins::round_int(value, digits)
}

extern "C" fn flowc_hour(nanos: i64) -> i64 {
    crate::compile::builtins::hour(nanos)
}

extern "C" fn flowc_minute(nanos: i64) -> i64 {
    crate::compile::builtins::minute(nanos)
}

const I: Type = types::I64;
const F: Type = types::F64;

impl Helper {
    pub const ALL: [Helper; 25] = [
        Helper::Fmod,
        Helper::HashFloat,
        Helper::RoundFloat,
        Helper::RoundInt,
        Helper::HashStr,
        Helper::Compare,
        Helper::Len,
        Helper::Contains,
        Helper::StartsWith,
        Helper::EndsWith,
        Helper::Upper,
        Helper::Lower,
        Helper::Concat,
        Helper::StrOfInt,
        Helper::StrOfFloat,
        Helper::StrOfTimestamp,
        Helper::StrOfDuration,
        Helper::SplitIndex,
        Helper::Occurrences,
        Helper::RegexpExtract,
        Helper::Matches,
        Helper::Hour,
        Helper::Minute,
        Helper::FormatTime,
        Helper::Store,
    ];

    fn symbol(self) -> &'static str {
        match self {
            Helper::Fmod => "flowc_fmod",
            Helper::HashFloat => "flowc_hash_float",
            Helper::RoundFloat => "flowc_round_float",
            Helper::RoundInt => "flowc_round_int",
            Helper::HashStr => "flowc_str_hash",
            Helper::Compare => "flowc_str_compare",
            Helper::Len => "flowc_str_len",
            Helper::Contains => "flowc_str_contains",
            Helper::StartsWith => "flowc_str_starts_with",
            Helper::EndsWith => "flowc_str_ends_with",
            Helper::Upper => "flowc_str_upper",
            Helper::Lower => "flowc_str_lower",
            Helper::Concat => "flowc_str_concat",
            Helper::StrOfInt => "flowc_str_of_int",
            Helper::StrOfFloat => "flowc_str_of_float",
            Helper::StrOfTimestamp => "flowc_str_of_timestamp",
            Helper::StrOfDuration => "flowc_str_of_duration",
            Helper::SplitIndex => "flowc_str_split_index",
            Helper::Occurrences => "flowc_str_occurrences",
            Helper::RegexpExtract => "flowc_str_regexp_extract",
            Helper::Matches => "flowc_str_matches",
            Helper::Hour => "flowc_hour",
            Helper::Minute => "flowc_minute",
            Helper::FormatTime => "flowc_format_time",
            Helper::Store => "flowc_str_store",
        }
    }

    fn address(self) -> *const u8 {
        match self {
            Helper::Fmod => flowc_fmod as *const u8,
            Helper::HashFloat => flowc_hash_float as *const u8,
            Helper::RoundFloat => flowc_round_float as *const u8,
            Helper::RoundInt => flowc_round_int as *const u8,
            Helper::HashStr => flowc_str_hash as *const u8,
            Helper::Compare => flowc_str_compare as *const u8,
            Helper::Len => flowc_str_len as *const u8,
            Helper::Contains => flowc_str_contains as *const u8,
            Helper::StartsWith => flowc_str_starts_with as *const u8,
            Helper::EndsWith => flowc_str_ends_with as *const u8,
            Helper::Upper => flowc_str_upper as *const u8,
            Helper::Lower => flowc_str_lower as *const u8,
            Helper::Concat => flowc_str_concat as *const u8,
            Helper::StrOfInt => flowc_str_of_int as *const u8,
            Helper::StrOfFloat => flowc_str_of_float as *const u8,
            Helper::StrOfTimestamp => flowc_str_of_timestamp as *const u8,
            Helper::StrOfDuration => flowc_str_of_duration as *const u8,
            Helper::SplitIndex => flowc_str_split_index as *const u8,
            Helper::Occurrences => flowc_str_occurrences as *const u8,
            Helper::RegexpExtract => flowc_str_regexp_extract as *const u8,
            Helper::Matches => flowc_str_matches as *const u8,
            Helper::Hour => flowc_hour as *const u8,
            Helper::Minute => flowc_minute as *const u8,
            Helper::FormatTime => flowc_format_time as *const u8,
            Helper::Store => flowc_str_store as *const u8,
        }
    }

    /// Parameters and result. Pointers and lengths are 64-bit integers:
    /// the JIT runs only on 64-bit targets (`kernel::new_module`).
    fn types(self) -> (&'static [Type], Type) {
        match self {
            Helper::Fmod => (&[F, F], F),
            Helper::HashFloat => (&[F], I),
            Helper::RoundFloat => (&[F, I], F),
            Helper::RoundInt => (&[I, I], I),
            Helper::HashStr | Helper::Len => (&[I, I], I),
            Helper::Compare | Helper::Contains | Helper::StartsWith | Helper::EndsWith => (&[I, I, I, I], I),
            Helper::Upper | Helper::Lower | Helper::Store => (&[I, I, I], I),
            Helper::Concat => (&[I, I, I, I, I], I),
            Helper::StrOfInt | Helper::StrOfTimestamp | Helper::StrOfDuration => (&[I, I], I),
            Helper::StrOfFloat => (&[I, F], I),
            Helper::SplitIndex => (&[I, I, I, I, I, I], I),
            Helper::Occurrences => (&[I, I, I, I], I),
            Helper::RegexpExtract => (&[I, I, I, I, I], I),
            Helper::Matches | Helper::FormatTime => (&[I, I, I], I),
            Helper::Hour | Helper::Minute => (&[I], I),
        }
    }

    fn signature(self, call_conv: CallConv) -> Signature {
        let (params, result) = self.types();
        let mut signature = Signature::new(call_conv);
        signature.params.extend(params.iter().map(|ty| AbiParam::new(*ty)));
        signature.returns.push(AbiParam::new(result));
        signature
    }

    /// Tells the JIT linker where every helper is.
    pub fn register_all(builder: &mut JITBuilder) {
        for helper in Helper::ALL {
            builder.symbol(helper.symbol(), helper.address());
        }
    }

    /// The name a function declares for this helper, matching the module's
    /// declaration order (`kernel::compile` declares `ALL` first, in order).
    fn index(self) -> u32 {
        Helper::ALL.iter().position(|helper| *helper == self).expect("every helper is in ALL") as u32
    }

    /// Declares every helper in a module, in `ALL` order.
    pub fn declare_all(module: &mut cranelift_jit::JITModule) -> Result<(), String> {
        use cranelift_module::{Linkage, Module};
        let call_conv = module.isa().default_call_conv();
        for helper in Helper::ALL {
            let id = module
                .declare_function(helper.symbol(), Linkage::Import, &helper.signature(call_conv))
                .map_err(|error| error.to_string())?;
            debug_assert_eq!(id.as_u32(), helper.index());
        }
        Ok(())
    }
}

/// The helpers imported into the function being built, each on first use.
pub struct Helpers {
    call_conv: CallConv,
    imported: [Option<FuncRef>; Helper::ALL.len()],
}

impl Helpers {
    pub fn new(call_conv: CallConv) -> Helpers {
        Helpers { call_conv, imported: [None; Helper::ALL.len()] }
    }

    /// Calls `helper` with `args`; returns its result.
    pub fn call(
        &mut self,
        builder: &mut FunctionBuilder,
        helper: Helper,
        args: &[cranelift_codegen::ir::Value],
    ) -> cranelift_codegen::ir::Value {
        use cranelift_codegen::ir::InstBuilder;
        let index = helper.index() as usize;
        let func_ref = match self.imported[index] {
            Some(func_ref) => func_ref,
            None => {
                // What `Module::declare_func_in_func` does, without the module at hand.
                let signature = builder.import_signature(helper.signature(self.call_conv));
                let name = builder.func.declare_imported_user_function(UserExternalName::new(0, helper.index()));
                let func_ref = builder.import_function(ExtFuncData {
                    name: ExternalName::user(name),
                    signature,
                    colocated: false,
                    patchable: false,
                });
                self.imported[index] = Some(func_ref);
                func_ref
            }
        };
        let call = builder.ins().call(func_ref, args);
        builder.inst_results(call)[0]
    }
}
