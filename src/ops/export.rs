//! `bromsync export`: one roster table of one school as CSV (RFC 4180, UTF-8, a header row),
//! the product's "Export Classes" button. Rows in ID order; ID lists ascending, one space
//! between IDs; a value that is absent is an empty field; dates `yyyy-mm-dd`.
//!
//! Rows are written as the database sends them. With `--output FILE` they go to a file next
//! to FILE that is renamed over it at the end, so a failed export never leaves a short file
//! that looks whole.

use std::io::Write;
use std::path::{Path, PathBuf};

use futures::StreamExt;

use super::{OpsError, Verdict, configured_school, connect, store_failed};
use crate::config::Settings;
use crate::snapshot::SchoolId;
use crate::store::{RowStream, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportTable {
    Classes,
    Students,
    Teachers,
    Parents,
    Groups,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// What to export.
    #[arg(value_enum)]
    pub table: ExportTable,
    /// The school (must be in the configuration).
    #[arg(long)]
    pub school: SchoolId,
    /// Write to this file (replaced only once the export is complete); default stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// The header row of each export, exactly.
pub fn header(table: ExportTable) -> &'static [&'static str] {
    match table {
        ExportTable::Classes => &[
            "class_id",
            "name",
            "subject",
            "kind",
            "main_teacher_staff_id",
            "staff_ids",
            "student_ids",
        ],
        ExportTable::Students => &[
            "student_id",
            "first_name",
            "last_name",
            "date_of_birth",
            "tutor_group",
            "year_group",
        ],
        ExportTable::Teachers => &[
            "staff_id",
            "title",
            "first_name",
            "last_name",
            "email",
            "room",
        ],
        ExportTable::Parents => &[
            "person_id",
            "title",
            "first_name",
            "last_name",
            "email",
            "phone",
            "student_ids",
        ],
        ExportTable::Groups => &["group_id", "name", "kind", "student_ids"],
    }
}

pub async fn run(settings: &Settings, args: &ExportArgs) -> Result<Verdict, OpsError> {
    configured_school(settings, args.school)?;
    let store = connect(settings).await?;
    let result = match &args.output {
        None => {
            let stdout = std::io::stdout().lock();
            write_csv(&store, args.school, args.table, stdout).await
        }
        Some(path) => write_file(&store, args, path).await,
    };
    store.close().await;
    let rows = result?;
    tracing::info!(school_id = args.school, rows, table = ?args.table, "exported");
    Ok(Verdict::AllWell)
}

async fn write_file(store: &Store, args: &ExportArgs, path: &Path) -> Result<u64, OpsError> {
    let mut partial = path.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let io_error =
        |what: &str, e: std::io::Error| OpsError::Failed(format!("{what} {}: {e}", path.display()));
    let file = std::fs::File::create(&partial).map_err(|e| io_error("cannot create", e))?;
    let written = write_csv(
        store,
        args.school,
        args.table,
        std::io::BufWriter::new(file),
    )
    .await;
    match written {
        Ok(rows) => {
            std::fs::rename(&partial, path).map_err(|e| io_error("cannot write", e))?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            Err(e)
        }
    }
}

/// Writes the header and every row; returns the number of rows.
pub async fn write_csv<W: Write>(
    store: &Store,
    school: SchoolId,
    table: ExportTable,
    out: W,
) -> Result<u64, OpsError> {
    let mut csv = csv::Writer::from_writer(out);
    let csv_error = |e: csv::Error| OpsError::Failed(format!("writing the export: {e}"));
    csv.write_record(header(table)).map_err(csv_error)?;
    let rows = match table {
        ExportTable::Classes => {
            let rows = store.export_classes(school);
            write_rows(&mut csv, rows, |c| {
                vec![
                    c.class_id.to_string(),
                    c.name,
                    c.subject.unwrap_or_default(),
                    c.kind,
                    optional(c.main_teacher_staff_id),
                    ids(&c.staff_ids),
                    ids(&c.student_ids),
                ]
            })
            .await?
        }
        ExportTable::Students => {
            let rows = store.export_students(school);
            write_rows(&mut csv, rows, |s| {
                vec![
                    s.student_id.to_string(),
                    s.first_name,
                    s.last_name,
                    s.date_of_birth
                        .map(|d| d.format("%Y-%m-%d").to_string())
                        .unwrap_or_default(),
                    s.tutor_group.unwrap_or_default(),
                    s.year_group.unwrap_or_default(),
                ]
            })
            .await?
        }
        ExportTable::Teachers => {
            let rows = store.export_teachers(school);
            write_rows(&mut csv, rows, |t| {
                vec![
                    t.staff_id.to_string(),
                    t.title,
                    t.first_name,
                    t.last_name,
                    t.email.unwrap_or_default(),
                    t.room.unwrap_or_default(),
                ]
            })
            .await?
        }
        ExportTable::Parents => {
            let rows = store.export_parents(school);
            write_rows(&mut csv, rows, |p| {
                vec![
                    p.person_id.to_string(),
                    p.title,
                    p.first_name,
                    p.last_name,
                    p.email.unwrap_or_default(),
                    p.phone.unwrap_or_default(),
                    ids(&p.student_ids),
                ]
            })
            .await?
        }
        ExportTable::Groups => {
            let rows = store.export_groups(school);
            write_rows(&mut csv, rows, |g| {
                vec![g.group_id.to_string(), g.name, g.kind, ids(&g.student_ids)]
            })
            .await?
        }
    };
    csv.flush()
        .map_err(|e| OpsError::Failed(format!("writing the export: {e}")))?;
    Ok(rows)
}

async fn write_rows<W: Write, T>(
    csv: &mut csv::Writer<W>,
    mut rows: RowStream<'_, T>,
    fields: impl Fn(T) -> Vec<String>,
) -> Result<u64, OpsError> {
    let mut count = 0;
    while let Some(row) = rows.next().await {
        let row = row.map_err(store_failed)?;
        csv.write_record(fields(row))
            .map_err(|e| OpsError::Failed(format!("writing the export: {e}")))?;
        count += 1;
    }
    Ok(count)
}

fn optional(id: Option<i64>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

/// IDs (already ascending from the database) separated by one space.
fn ids(ids: &[i64]) -> String {
    ids.iter().map(i64::to_string).collect::<Vec<_>>().join(" ")
}
