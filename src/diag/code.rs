//! The stable codes of every diagnostic flowc reports.
//!
//! A code names a kind of problem, not a message: tools and golden tests
//! match on it, so a code is never renamed. `Code::ALL` lets a test prove
//! that every code is exercised by at least one golden case.

macro_rules! codes {
    ($($variant:ident => $name:literal, $summary:literal;)*) => {
        /// A kind of diagnostic, shown as `flow::name`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $($variant,)*
        }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// Codes a `.flow` file cannot cause; unit tests pin them instead
            /// of golden cases.
            pub fn is_internal(self) -> bool {
                self == Code::Internal
            }

            /// The stable name, as printed: `flow::unknown_field`.
            pub fn name(self) -> &'static str {
                match self {
                    $(Code::$variant => concat!("flow::", $name),)*
                }
            }

            /// One line saying what the code means, for the docs.
            pub fn summary(self) -> &'static str {
                match self {
                    $(Code::$variant => $summary,)*
                }
            }
        }
    };
}

codes! {
    // Reading the file.
    Syntax => "syntax", "the text does not follow the grammar";
    UnknownOperator => "unknown_operator", "a word after `|` that is no operator";
    UnterminatedString => "unterminated_string", "a string literal without its closing quote";
    InvalidEscape => "invalid_escape", "an unknown escape sequence in a string";
    BadNumber => "bad_number", "a number with an unknown unit or a fraction where a whole number is needed";
    NumberOutOfRange => "number_out_of_range", "a literal too large for its type";
    TooDeep => "too_deep", "brackets or expressions nested deeper than flowc allows";
    ChainedComparison => "chained_comparison", "`a < b < c`: comparisons do not chain";
    // Names.
    UnknownSchema => "unknown_schema", "a schema name that is not declared";
    UnknownType => "unknown_type", "a field type that does not exist";
    UnknownStream => "unknown_stream", "a stream name that is neither a source nor a `let`";
    UsedBeforeDefined => "used_before_defined", "a stream used above the line that defines it";
    UnknownField => "unknown_field", "a field name that the stream does not have";
    UnknownFunction => "unknown_function", "a function that does not exist";
    UnknownConnector => "unknown_connector", "a source or sink connector that does not exist";
    UnknownArgument => "unknown_argument", "a named argument the connector, window or attribute does not take";
    UnknownAttribute => "unknown_attribute", "an `@attribute` that does not exist";
    UnknownConfigKey => "unknown_config_key", "a `config` key that does not exist";
    DuplicateDefinition => "duplicate_definition", "a schema, source or `let` name defined twice";
    DuplicateField => "duplicate_field", "a field declared or assigned twice";
    DuplicateArgument => "duplicate_argument", "an argument given twice";
    DuplicateAttribute => "duplicate_attribute", "an attribute given twice on one operator";
    DuplicateConfigKey => "duplicate_config_key", "a `config` key set twice";
    // Types and values.
    TypeMismatch => "type_mismatch", "an expression of the wrong type";
    BadOperands => "bad_operands", "an operator applied to types it does not take";
    WrongArity => "wrong_arity", "a function called with the wrong number of arguments";
    NotAValue => "not_a_value", "a rate or size literal used where a value is needed";
    SeqOutsideGenerator => "seq_outside_generator", "`seq` used outside a `generate` body";
    NotPositive => "not_positive", "a rate, duration or count that must be greater than zero";
    NotConstant => "not_constant", "a field or `seq` where a constant is needed";
    BadPattern => "bad_pattern", "a regular expression or time format that flowc cannot read";
    // Connectors, operators and attributes.
    MissingArgument => "missing_argument", "a required argument is missing";
    BadArgument => "bad_argument", "an argument value the connector does not accept";
    SourceBody => "source_body", "a source body where none is allowed, or none where one is needed";
    MissingField => "missing_field", "a generator body that does not assign every schema field";
    MissingSink => "missing_sink", "a pipeline that does not end in a `sink`";
    SinkNotLast => "sink_not_last", "an operator after a `sink`";
    SinkInLet => "sink_in_let", "a `let` stream that ends in a `sink`";
    NotKeyed => "not_keyed", "a window, aggregate or join on a stream without `key_by`";
    WindowTimeField => "window_time_field", "a window or join `on` a field that is not a timestamp";
    MissingWatermark => "missing_watermark", "an event-time window or join fed by a source without `@watermark`";
    NotAnAggregate => "not_an_aggregate", "a window or aggregate entry that is not one aggregate call";
    MisplacedAggregate => "misplaced_aggregate", "an aggregate function outside a window or aggregate";
    UnionMismatch => "union_mismatch", "`union` inputs whose schemas differ";
    AttributeValue => "attribute_value", "an attribute value out of range or of the wrong kind";
    AttributeNotAllowed => "attribute_not_allowed", "an attribute where it has no meaning";
    ConfigValue => "config_value", "a `config` value of the wrong kind or out of range";
    NoPipeline => "no_pipeline", "a program with nothing to run";
    SharedSinkFile => "shared_sink_file", "two file sinks that would write the same file";
    TooManyWindows => "too_many_windows", "a sliding window that puts each record in more windows than flowc allows";
    JoinFieldClash => "join_field_clash", "a join or lookup whose two sides have a field of the same name";
    UnknownTable => "unknown_table", "a `lookup` of a name that is no `table`";
    BadTable => "bad_table", "a `table` whose connector or key cannot make a table";
    // Planning.
    NotParallel => "not_parallel", "`@parallelism` above 1 on a source or sink that runs as one subtask";
    BadInput => "bad_input", "a line of a file or of standard input that is not a record of the source's schema";
    EvalFailed => "eval_failed", "a record for which an expression cannot be computed, such as an int division by zero";
    SinkFailed => "sink_failed", "a sink that cannot write its output";
    TableMismatch => "table_mismatch", "a PostgreSQL table missing, or whose columns do not fit the records written to or read from it";
    OutOfResources => "out_of_resources", "the machine cannot give the run what it needs, such as a thread for every subtask";
    // Export.
    NoFlinkForm => "no_flink_form", "a construct that Flink SQL cannot express with the same meaning";
    SimulationOnly => "simulation_only", "`throttle`, `work` or `sleep` in an export: they simulate load and have no Flink form";
    Internal => "internal", "a plan that breaks flowc's own rules: a bug in flowc, not in the file";
    // Warnings.
    UnusedStream => "unused_stream", "a source or `let` stream that nothing reads";
    OverriddenPartitioning => "overridden_partitioning", "a `key_by`, `rebalance` or `broadcast` that the next one overrides";
    UnboundedState => "unbounded_state", "a join without a time bound, which keeps every record of both streams";
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
