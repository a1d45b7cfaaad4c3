//! From a source table's `WITH` options to a running connector: the one place that
//! knows every built-in source connector.

use laaster_connectors::datagen::DatagenConfig;
use laaster_connectors::nexmark::{NexmarkConfig, NexmarkStream, event_schema};
use laaster_dataflow::source::SourceConnector;
use laaster_repr::{ErrorResponse, RelationDesc, ScalarType};
use laaster_sql::plans::CreateSourcePlan;

/// The connectors `CREATE TABLE ... WITH ('connector' = ...)` accepts.
pub const SOURCE_CONNECTORS: &[&str] = &["datagen", "nexmark"];

/// What to do with rows behind the watermark (`'late-data'`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LateData {
    /// Drop them (counted in SHOW SOURCES).
    Drop,
    /// Also write them to the table `<source>_late`.
    SideTable,
}

/// The options the engine handles itself, and the ones for the connector.
pub(crate) fn split_options(
    source: &CreateSourcePlan,
) -> Result<(LateData, Vec<(String, String)>), ErrorResponse> {
    let mut late = LateData::Drop;
    let mut rest = Vec::new();
    for (key, value) in &source.options {
        if key.eq_ignore_ascii_case("late-data") {
            late = match value.to_ascii_lowercase().as_str() {
                "drop" => LateData::Drop,
                "side-table" => LateData::SideTable,
                other => {
                    return Err(ErrorResponse::new(
                        "22023",
                        format!("invalid value for option 'late-data': \"{other}\""),
                    )
                    .with_hint(
                        "Use 'drop' (the default; late rows are counted in SHOW SOURCES) or 'side-table' (late rows also go to the table <source>_late).",
                    ));
                }
            };
        } else {
            rest.push((key.clone(), value.clone()));
        }
    }
    Ok((late, rest))
}

/// Validates the options and the declared columns against the connector.
pub(crate) fn source_connector(
    source: &CreateSourcePlan,
    options: &[(String, String)],
) -> Result<SourceConnector, ErrorResponse> {
    match source.connector.as_str() {
        "datagen" => {
            let physical = RelationDesc::new(
                source.desc.columns[..source.physical_arity.min(source.desc.arity())].to_vec(),
            );
            let config = DatagenConfig::from_options(&physical, options)
                .map_err(|e| ErrorResponse::new("22023", e.message.clone()).with_hint(e.hint))?;
            Ok(SourceConnector::Datagen(std::sync::Arc::new(config)))
        }
        "nexmark" => {
            let config = NexmarkConfig::from_options(options).map_err(|e| {
                let mut response = ErrorResponse::new("22023", e.to_string());
                let rendered = e.render();
                if rendered != e.to_string() {
                    response = response.with_detail(rendered);
                }
                response
            })?;
            check_physical_columns(source, &event_schema())?;
            let stream = NexmarkStream::new(config)
                .map_err(|e| ErrorResponse::new("22023", e.to_string()))?;
            Ok(SourceConnector::Nexmark(stream))
        }
        other => Err(ErrorResponse::new(
            "0A000",
            format!("connector \"{other}\" is not supported"),
        )
        .with_hint(format!(
            "Source connectors: {}.",
            SOURCE_CONNECTORS.join(", ")
        ))),
    }
}

/// The declared physical columns must have the connector's types, in order (names
/// may differ).
fn check_physical_columns(
    source: &CreateSourcePlan,
    produced: &RelationDesc,
) -> Result<(), ErrorResponse> {
    let declared = &source.desc.columns[..source.physical_arity.min(source.desc.arity())];
    let matches = declared.len() == produced.arity()
        && declared
            .iter()
            .zip(&produced.columns)
            .all(|(d, p)| compatible(&d.typ.scalar, &p.typ.scalar));
    if matches {
        return Ok(());
    }
    let describe = |columns: Vec<String>| columns.join(", ");
    Err(ErrorResponse::new(
        "42804",
        format!(
            "the columns of \"{}\" do not match what connector \"{}\" produces",
            source.name, source.connector
        ),
    )
    .with_detail(format!(
        "Declared: {}. The connector produces: {}.",
        describe(
            declared
                .iter()
                .map(|c| format!("{} {}", c.name, c.typ.scalar))
                .collect()
        ),
        describe(
            produced
                .columns
                .iter()
                .map(|c| format!("{} {}", c.name, c.typ.scalar))
                .collect()
        ),
    ))
    .with_hint("Declare the physical columns as in Flink's Nexmark DDL (ddl_gen.sql)."))
}

/// Same shape: same base types, records field by field (names ignored).
fn compatible(declared: &ScalarType, produced: &ScalarType) -> bool {
    match (declared, produced) {
        (ScalarType::Record(a), ScalarType::Record(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|((_, x), (_, y))| compatible(x, y))
        }
        (ScalarType::Array(a), ScalarType::Array(b)) => compatible(a, b),
        (a, b) => a.same_base(b),
    }
}
