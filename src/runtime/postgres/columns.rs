//! A PostgreSQL table's columns, read from the catalog once before the
//! first record, and whether a record type fits them: every field needs a
//! column of its name whose type takes (for a sink) or gives (for a lookup)
//! the field's values; a sink's table may have more columns only if each
//! can be left to its default. Also `CREATE TABLE` from a record type.

use postgres::Client;

use crate::check::types::{RecordType, Type};
use crate::diag::did_you_mean;

use super::{describe_error, quote_ident};

/// One column as the catalog describes it.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// Its type (a domain's base type), as `format_type` writes it:
    /// `bigint`, `character varying`, `timestamp with time zone`.
    pub ty: String,
    pub not_null: bool,
    /// A default, an identity or a generated value: it may be left out.
    pub has_default: bool,
}

/// What the catalog says about a table.
#[derive(Debug, Clone)]
pub struct TableShape {
    pub columns: Vec<Column>,
    /// The column sets of its unique indexes (and primary key), each sorted.
    pub unique_keys: Vec<Vec<String>>,
}

/// What a record type is used for against a table.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Access {
    Write,
    Read,
}

/// Why a record type does not fit a table: the message, and how to fix it.
#[derive(Debug)]
pub struct Misfit {
    pub message: String,
    pub help: String,
}

/// Reads `table`'s columns and unique keys; `None` if there is no such table.
pub fn describe(client: &mut Client, table: &str) -> Result<Option<TableShape>, String> {
    let wrap = |error: postgres::Error| format!("cannot read the columns of `{table}`: {}", describe_error(&error));
    let row = client.query_one("SELECT to_regclass($1)::oid", &[&table]).map_err(wrap)?;
    let Some(oid) = row.get::<_, Option<u32>>(0) else { return Ok(None) };
    let columns = client
        .query(
            "SELECT a.attname::text,
                    format_type(CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE a.atttypid END, NULL),
                    a.attnotnull,
                    a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
             WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
             ORDER BY a.attnum",
            &[&oid],
        )
        .map_err(wrap)?
        .iter()
        .map(|row| Column { name: row.get(0), ty: row.get(1), not_null: row.get(2), has_default: row.get(3) })
        .collect();
    let unique_keys = client
        .query(
            "SELECT array_agg(a.attname::text ORDER BY a.attname::text)
             FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
             WHERE i.indrelid = $1 AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL
             GROUP BY i.indexrelid",
            &[&oid],
        )
        .map_err(wrap)?
        .iter()
        .map(|row| row.get::<_, Vec<String>>(0))
        .collect();
    Ok(Some(TableShape { columns, unique_keys }))
}

/// The column types a field of type `ty` may be written to or read from.
/// Writing goes through each type's text input, so an int may go to a
/// narrower column (a value out of its range fails the batch); reading
/// casts to the field's type, so only types that convert without loss.
pub fn fits(ty: Type, column: &str, access: Access) -> bool {
    let accepted: &[&str] = match (ty, access) {
        (Type::Int, Access::Write) => &["bigint", "integer", "smallint", "numeric", "double precision", "real"],
        (Type::Int, Access::Read) => &["bigint", "integer", "smallint"],
        (Type::Float, _) => &["double precision", "real", "numeric"],
        (Type::Bool, _) => &["boolean"],
        (Type::String, _) => &["text", "character varying", "character", "name", "json", "jsonb", "uuid", "citext"],
        (Type::Timestamp, _) => &["timestamp with time zone", "timestamp without time zone"],
        (Type::Duration, _) => &["interval"],
    };
    accepted.contains(&column)
}

/// The column type `CREATE TABLE` gives a field.
pub fn column_type(ty: Type) -> &'static str {
    match ty {
        Type::Int => "bigint",
        Type::Float => "double precision",
        Type::Bool => "boolean",
        Type::String => "text",
        Type::Timestamp => "timestamp with time zone",
        Type::Duration => "interval",
    }
}

/// Whether `record` fits `table` for `access`, with `key` (field indexes)
/// as the unique key an upsert needs.
pub fn check_fit(
    table: &str,
    shape: &TableShape,
    record: &RecordType,
    access: Access,
    key: Option<&[usize]>,
) -> Result<(), Misfit> {
    for field in record.fields() {
        let Some(column) = shape.columns.iter().find(|column| column.name == field.name) else {
            let names = shape.columns.iter().map(|column| column.name.as_str());
            let near = did_you_mean(&field.name, names);
            return Err(Misfit {
                message: format!("the table `{table}` has no column `{}`", field.name),
                help: match (near, access) {
                    (Some(near), _) => format!("{near}: rename the field with a `map`, or the column"),
                    (None, Access::Write) => format!(
                        "add it (`ALTER TABLE {table} ADD COLUMN {} {}`), or leave the field out with a `map` before the sink",
                        quote_ident(&field.name),
                        column_type(field.ty)
                    ),
                    (None, Access::Read) => format!("the table's columns are {}", column_list(shape)),
                },
            });
        };
        if !fits(field.ty, &column.ty, access) {
            let direction = if access == Access::Write { "written to" } else { "read from" };
            return Err(Misfit {
                message: format!(
                    "the column `{}` of `{table}` is {}, which {} cannot be {direction}",
                    column.name,
                    column.ty,
                    field.ty.with_article()
                ),
                help: format!(
                    "make the field's type fit with a `map` (the column takes {}), or change the column: `ALTER TABLE {table} ALTER COLUMN {} TYPE {}`",
                    accepted_types(field.ty, access),
                    quote_ident(&column.name),
                    column_type(field.ty)
                ),
            });
        }
    }
    if access == Access::Write {
        let required: Vec<&Column> = shape
            .columns
            .iter()
            .filter(|column| column.not_null && !column.has_default)
            .filter(|column| record.field_index(&column.name).is_none())
            .collect();
        if let Some(column) = required.first() {
            return Err(Misfit {
                message: format!(
                    "the column `{}` of `{table}` is NOT NULL without a default, and the records have no `{}`",
                    column.name, column.name
                ),
                help: format!(
                    "compute it in a `map` before the sink, or give the column a default: `ALTER TABLE {table} ALTER COLUMN {} SET DEFAULT …`",
                    quote_ident(&column.name)
                ),
            });
        }
    }
    if let Some(key) = key {
        let mut wanted: Vec<String> = key.iter().map(|&field| record.fields()[field].name.clone()).collect();
        wanted.sort();
        if !shape.unique_keys.contains(&wanted) {
            let columns = key.iter().map(|&field| quote_ident(&record.fields()[field].name)).collect::<Vec<_>>();
            return Err(Misfit {
                message: format!(
                    "an upsert by {} needs a primary key or unique index on exactly those columns of `{table}`, and it has none",
                    wanted.iter().map(|name| format!("`{name}`")).collect::<Vec<_>>().join(", ")
                ),
                help: format!(
                    "add one: `ALTER TABLE {table} ADD PRIMARY KEY ({})`; PostgreSQL finds the row to update through it",
                    columns.join(", ")
                ),
            });
        }
    }
    Ok(())
}

fn column_list(shape: &TableShape) -> String {
    shape.columns.iter().map(|column| format!("`{}` {}", column.name, column.ty)).collect::<Vec<_>>().join(", ")
}

fn accepted_types(ty: Type, access: Access) -> String {
    ["bigint", "integer", "smallint", "numeric", "double precision", "real", "boolean", "text", "character varying"]
        .iter()
        .chain(&["timestamp with time zone", "timestamp without time zone", "interval"])
        .filter(|column| fits(ty, column, access))
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

/// `CREATE TABLE IF NOT EXISTS` with a column per field, each NOT NULL
/// (flowc's values are never null), and the upsert key as primary key.
pub fn create_table(
    client: &mut Client,
    table: &str,
    record: &RecordType,
    key: Option<&[usize]>,
) -> Result<(), String> {
    let statement = create_statement(table, record, key);
    client.batch_execute(&statement).map_err(|error| format!("cannot create `{table}`: {}", describe_error(&error)))
}

/// The `CREATE TABLE IF NOT EXISTS` statement `create_table` runs.
pub fn create_statement(table: &str, record: &RecordType, key: Option<&[usize]>) -> String {
    let mut columns: Vec<String> = record
        .fields()
        .iter()
        .map(|field| format!("{} {} NOT NULL", quote_ident(&field.name), column_type(field.ty)))
        .collect();
    if let Some(key) = key {
        let key = key.iter().map(|&field| quote_ident(&record.fields()[field].name)).collect::<Vec<_>>();
        columns.push(format!("PRIMARY KEY ({})", key.join(", ")));
    }
    format!("CREATE TABLE IF NOT EXISTS {table} ({})", columns.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(columns: &[(&str, &str, bool, bool)], unique: &[&[&str]]) -> TableShape {
        TableShape {
            columns: columns
                .iter()
                .map(|&(name, ty, not_null, has_default)| Column {
                    name: name.into(),
                    ty: ty.into(),
                    not_null,
                    has_default,
                })
                .collect(),
            unique_keys: unique.iter().map(|key| key.iter().map(|name| name.to_string()).collect()).collect(),
        }
    }

    #[test]
    fn a_record_fits_columns_of_its_names_and_types() {
        let table = shape(
            &[
                ("id", "integer", true, false),
                ("note", "text", false, false),
                ("at", "timestamp with time zone", true, true),
            ],
            &[&["id"]],
        );
        let ok = RecordType::of(&[("id", Type::Int), ("note", Type::String)]);
        assert!(check_fit("t", &table, &ok, Access::Write, Some(&[0])).is_ok());
        // Reading an int from an `integer` is fine; a float from it is not.
        assert!(check_fit("t", &table, &RecordType::of(&[("id", Type::Int)]), Access::Read, None).is_ok());
        let misfit = check_fit("t", &table, &RecordType::of(&[("id", Type::Float)]), Access::Read, None).unwrap_err();
        assert!(misfit.message.contains("`id` of `t` is integer"), "{}", misfit.message);
    }

    #[test]
    fn a_missing_column_a_required_column_and_a_missing_key_are_named() {
        let table = shape(&[("id", "bigint", true, false), ("total", "numeric", true, false)], &[]);
        let misfit =
            check_fit("t", &table, &RecordType::of(&[("id", Type::Int), ("totl", Type::Float)]), Access::Write, None)
                .unwrap_err();
        assert!(misfit.message.contains("no column `totl`") && misfit.help.contains("`total`"), "{misfit:?}");
        let misfit = check_fit("t", &table, &RecordType::of(&[("id", Type::Int)]), Access::Write, None).unwrap_err();
        assert!(misfit.message.contains("`total` of `t` is NOT NULL"), "{misfit:?}");
        let both = RecordType::of(&[("id", Type::Int), ("total", Type::Float)]);
        let misfit = check_fit("t", &table, &both, Access::Write, Some(&[0])).unwrap_err();
        assert!(misfit.help.contains("ADD PRIMARY KEY (\"id\")"), "{misfit:?}");
    }
}
