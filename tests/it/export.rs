//! `bromsync export` as the real binary after a real sync: exact headers, rows by ID, ID lists,
//! empty fields for absent values, and values a CSV writer can get wrong (commas, quotes,
//! newlines, non-ASCII), read back with a CSV parser; cells a spreadsheet would run as formulas,
//! neutralised by default and kept with `--raw`; and `--output`'s file, private and replaced
//! whole, through no link planted beside it.

use bromsync::ops::export::{Cells, ExportTable, header, write_csv};
use bromsync::snapshot::SchoolId;

use crate::harness::{one_school_config, run_binary, stderr, stdout};
use crate::ops_fixture::*;
use crate::support::{TestDb, start_sim};

const SCHOOL: SchoolId = 41;

/// The CSV's records, header included, parsed as RFC 4180.
fn parse(text: &str) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes())
        .records()
        .map(|r| {
            r.unwrap_or_else(|e| panic!("not CSV ({e}):\n{text}"))
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn id(offset: i64) -> String {
    (base(SCHOOL) + offset).to_string()
}

fn ids(offsets: &[i64]) -> String {
    offsets.iter().map(|&o| id(o)).collect::<Vec<_>>().join(" ")
}

fn row(fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| f.to_string()).collect()
}

#[tokio::test]
async fn every_export_has_its_columns_rows_by_id_and_survives_a_round_trip() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[SCHOOL])).await;
    let dir = tempfile::tempdir().unwrap();
    let config = one_school_config(dir.path(), &db, &sim, SCHOOL);
    let synced = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(synced.status.code(), Some(0), "{}", stderr(&synced));
    // Rooms are the operators' free text: the one place a newline can reach the roster.
    sqlx::query("UPDATE teachers SET room = $1 WHERE school_id = $2 AND staff_id = $3")
        .bind("Block B, \"Lab\"\nupstairs")
        .bind(SCHOOL)
        .bind(base(SCHOOL) + TEACHER_WITH_EMAIL)
        .execute(db.store.pool())
        .await
        .unwrap();

    let export = |table: &'static str| {
        let config = config.clone();
        async move {
            let school = SCHOOL.to_string();
            let output = run_binary(&config, &["export", table, "--school", &school], &[]).await;
            assert_eq!(
                output.status.code(),
                Some(0),
                "{table}: {}",
                stderr(&output)
            );
            parse(&stdout(&output))
        }
    };

    let classes = export("classes").await;
    assert_eq!(
        classes,
        vec![
            row(&[
                "class_id",
                "name",
                "subject",
                "kind",
                "main_teacher_staff_id",
                "staff_ids",
                "student_ids"
            ]),
            row(&[
                &id(CLASS),
                "7QM/Ma1, \"set 2\"",
                "Maths",
                "class",
                &id(TEACHER_WITH_EMAIL),
                &ids(&[TEACHER_WITH_EMAIL, TEACHER_WITHOUT_EMAIL]),
                &ids(&STUDENTS),
            ]),
            row(&[
                &id(TUTOR_GROUP),
                "7QM",
                "",
                "tutor_group",
                &id(TEACHER_WITHOUT_EMAIL),
                &id(TEACHER_WITHOUT_EMAIL),
                &ids(&STUDENTS),
            ]),
        ]
    );

    let students = export("students").await;
    assert_eq!(
        students,
        vec![
            row(&[
                "student_id",
                "first_name",
                "last_name",
                "date_of_birth",
                "tutor_group",
                "year_group"
            ]),
            row(&[
                &id(1),
                "Zoë, \"Jo\"",
                "O'Brien-Smith",
                "2012-04-01",
                "7QM",
                "7"
            ]),
            row(&[&id(2), "Ørjan", "Łukasz; Ñúñez", "2012-04-02", "7QM", "7"]),
            row(&[&id(3), "Plain", "Student", "2012-04-03", "7QM", "7"]),
        ]
    );

    let teachers = export("teachers").await;
    assert_eq!(
        teachers,
        vec![
            row(&[
                "staff_id",
                "title",
                "first_name",
                "last_name",
                "email",
                "room"
            ]),
            row(&[
                &id(TEACHER_WITH_EMAIL),
                "Ms",
                "Ada",
                "Quill, Jr",
                "ada.quill@school.example",
                "Block B, \"Lab\"\nupstairs",
            ]),
            row(&[&id(TEACHER_WITHOUT_EMAIL), "Mr", "Bo", "Nomail", "", ""]),
        ]
    );

    let parents = export("parents").await;
    assert_eq!(
        parents,
        vec![
            row(&[
                "person_id",
                "title",
                "first_name",
                "last_name",
                "email",
                "phone",
                "student_ids"
            ]),
            row(&[
                &id(PARENT_WITH_EMAIL),
                "Mrs",
                "Cé",
                "Parent, \"A\"",
                "ce.parent@home.example",
                // A spreadsheet would read the `+` as a formula (docs/security.md).
                "'+44 7700 900123",
                &ids(&[1, 2]),
            ]),
            row(&[
                &id(PARENT_WITHOUT_EMAIL),
                "Mr",
                "Dee",
                "Nomail",
                "",
                "",
                &id(3)
            ]),
        ]
    );

    let groups = export("groups").await;
    assert_eq!(
        groups,
        vec![
            row(&["group_id", "name", "kind", "student_ids"]),
            row(&[&id(HOUSE), "Brontë", "house", &ids(&STUDENTS)]),
        ]
    );
}

#[tokio::test]
async fn output_goes_to_a_file_and_an_unconfigured_school_is_refused() {
    let db = TestDb::new().await;
    let sim = start_sim(dataset(&[SCHOOL])).await;
    let dir = tempfile::tempdir().unwrap();
    let config = one_school_config(dir.path(), &db, &sim, SCHOOL);
    let synced = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(synced.status.code(), Some(0), "{}", stderr(&synced));
    let school = SCHOOL.to_string();

    let to_stdout = run_binary(&config, &["export", "classes", "--school", &school], &[]).await;
    let file = dir.path().join("classes.csv");
    let to_file = run_binary(
        &config,
        &[
            "export",
            "classes",
            "--school",
            &school,
            "--output",
            file.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    assert_eq!(to_file.status.code(), Some(0), "{}", stderr(&to_file));
    assert!(stdout(&to_file).is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), stdout(&to_stdout));
    assert!(!dir.path().join("classes.csv.partial").exists());
    // The log says what was exported by IDs and counts, never a name.
    assert!(!stderr(&to_file).contains("Brontë") && !stderr(&to_file).contains("Quill"));

    let refused = run_binary(&config, &["export", "classes", "--school", "999"], &[]).await;
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("school 999 is not in the configuration"),
        "{}",
        stderr(&refused)
    );
    assert!(stdout(&refused).is_empty());
}

/// A synced school whose third student's first name is `first_name` as Bromcom sends it, and
/// the configuration to export it with.
async fn synced_with_first_name(
    first_name: &str,
) -> (
    TestDb,
    bromsync_sim::server::SimHandle,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let db = TestDb::new().await;
    let mut data = dataset(&[SCHOOL]);
    let students = data
        .schools
        .get_mut(&SCHOOL)
        .and_then(|rows| rows.get_mut(&bromsync::snapshot::EntityKind::Students))
        .unwrap();
    students[2]["firstName"] = serde_json::Value::from(first_name);
    let sim = start_sim(data).await;
    let dir = tempfile::tempdir().unwrap();
    let config = one_school_config(dir.path(), &db, &sim, SCHOOL);
    let synced = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(synced.status.code(), Some(0), "{}", stderr(&synced));
    (db, sim, dir, config)
}

const BOM: &[u8] = b"\xef\xbb\xbf";

#[tokio::test]
async fn the_default_export_is_formula_safe_for_spreadsheets_and_raw_is_as_stored() {
    // Cleaning strips the tab, so what is stored (and would reach a spreadsheet) is `=1+1`.
    let (_db, _sim, _dir, config) = synced_with_first_name("\t=1+1").await;
    let school = SCHOOL.to_string();
    let export = |table: &'static str, raw: bool| {
        let config = config.clone();
        let school = school.clone();
        async move {
            let mut args = vec!["export", table, "--school", &school];
            if raw {
                args.push("--raw");
            }
            let output = run_binary(&config, &args, &[]).await;
            assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
            output.stdout
        }
    };

    let students = export("students", false).await;
    assert!(
        students.starts_with(BOM),
        "{}",
        String::from_utf8_lossy(&students)
    );
    let text = String::from_utf8(students[BOM.len()..].to_vec()).unwrap();
    assert_eq!(
        text.lines().next(),
        Some(
            "\"student_id\",\"first_name\",\"last_name\",\"date_of_birth\",\"tutor_group\",\"year_group\""
        ),
        "every cell is quoted"
    );
    let rows = parse(&text);
    assert_eq!(
        rows[3],
        row(&[&id(3), "'=1+1", "Student", "2012-04-03", "7QM", "7"])
    );
    let parents = export("parents", false).await;
    let parents = parse(std::str::from_utf8(&parents).unwrap());
    assert_eq!(
        parents[1][5], "'+44 7700 900123",
        "a phone's + is a formula lead"
    );

    let raw = export("students", true).await;
    let raw = String::from_utf8(raw).unwrap();
    assert!(!raw.starts_with('\u{feff}'));
    assert_eq!(
        raw.lines().next(),
        Some("student_id,first_name,last_name,date_of_birth,tutor_group,year_group")
    );
    assert_eq!(
        parse(&raw)[3],
        row(&[&id(3), "=1+1", "Student", "2012-04-03", "7QM", "7"])
    );
    let raw_parents = export("parents", true).await;
    assert_eq!(
        parse(std::str::from_utf8(&raw_parents).unwrap())[1][5],
        "+44 7700 900123"
    );
}

#[cfg(unix)]
#[tokio::test]
async fn output_is_private_replaces_the_target_whole_and_follows_no_planted_link() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    let (_db, _sim, dir, config) = synced_with_first_name("Plain").await;
    let school = SCHOOL.to_string();
    let file = dir.path().join("classes.csv");
    // Another user's links at the name the old export wrote through, one to a file of the
    // victim's and one dangling (opening it to create would create its target).
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "the victim's data").unwrap();
    symlink(&victim, dir.path().join("classes.csv.partial")).unwrap();
    let dangling = dir.path().join("created-through-a-link");
    // An existing, world-readable target, with a second name that shows whether its bytes were
    // rewritten in place or the name was given a new file.
    std::fs::write(&file, "the previous export").unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let previous = dir.path().join("previous");
    std::fs::hard_link(&file, &previous).unwrap();

    let args = [
        "export",
        "classes",
        "--school",
        &school,
        "--output",
        file.to_str().unwrap(),
    ];
    let export = || run_binary(&config, &args, &[]);
    let done = export().await;
    assert_eq!(done.status.code(), Some(0), "{}", stderr(&done));
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        "the victim's data"
    );
    assert_eq!(
        std::fs::read_link(dir.path().join("classes.csv.partial")).unwrap(),
        victim
    );
    let written = std::fs::read(&file).unwrap();
    assert_eq!(parse(&String::from_utf8_lossy(&written)).len(), 3);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600, "the export is the owner's only");
    assert_ne!(meta.ino(), std::fs::metadata(&previous).unwrap().ino());
    assert_eq!(
        std::fs::read_to_string(&previous).unwrap(),
        "the previous export",
        "the old file was replaced by rename, not rewritten"
    );

    std::fs::remove_file(dir.path().join("classes.csv.partial")).unwrap();
    symlink(&dangling, dir.path().join("classes.csv.partial")).unwrap();
    let again = export().await;
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    assert!(!dangling.exists(), "nothing was created through the link");
    // Nothing is left beside the export but what the test put there.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "bromsync.toml")
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["classes.csv", "classes.csv.partial", "previous", "victim"]
    );
}

/// Each export: the table it reads, its columns of outside text (names, emails, phones, rooms,
/// group names: what a spreadsheet could be made to run), and the columns we write ourselves
/// (IDs, dates, ID lists, and `kind`, which the schema holds to a few words of ours).
const COLUMNS: [(ExportTable, &str, &[&str], &[&str]); 5] = [
    (
        ExportTable::Classes,
        "classes",
        &["name", "subject"],
        &[
            "class_id",
            "kind",
            "main_teacher_staff_id",
            "staff_ids",
            "student_ids",
        ],
    ),
    (
        ExportTable::Students,
        "students",
        &["first_name", "last_name", "tutor_group", "year_group"],
        &["student_id", "date_of_birth"],
    ),
    (
        ExportTable::Teachers,
        "teachers",
        &["title", "first_name", "last_name", "email", "room"],
        &["staff_id"],
    ),
    (
        ExportTable::Parents,
        "parents",
        &["title", "first_name", "last_name", "email", "phone"],
        &["person_id", "student_ids"],
    ),
    (
        ExportTable::Groups,
        "groups",
        &["name"],
        &["group_id", "kind", "student_ids"],
    ),
];

async fn export_in_process(db: &TestDb, table: ExportTable, cells: Cells) -> Vec<u8> {
    let mut out = Vec::new();
    write_csv(&db.store, SCHOOL, table, cells, &mut out)
        .await
        .unwrap_or_else(|e| panic!("{table:?}: {e}"));
    out
}

#[tokio::test]
async fn every_text_column_of_every_export_is_formula_safe_for_every_lead() {
    let (db, _sim, _dir, _config) = synced_with_first_name("Plain").await;
    for (table, _, text, ours) in COLUMNS {
        let mut classified: Vec<&str> = text.iter().chain(ours).copied().collect();
        classified.sort_unstable();
        let mut columns = header(table).to_vec();
        columns.sort_unstable();
        assert_eq!(classified, columns, "{table:?}: a column is unclassified");
    }

    for lead in ['=', '+', '-', '@', '\t', '\r'] {
        // Every text cell of every row begins with `lead`; the column's name tells them apart.
        let stored = |column: &str| format!("{lead}cmd|' /C calc'!A0 {column}");
        for (table, sql_table, text, _) in COLUMNS {
            let sets: Vec<String> = text
                .iter()
                .map(|column| format!("{column} = $1 || '{column}'"))
                .collect();
            let sql = format!(
                "UPDATE {sql_table} SET {} WHERE school_id = $2",
                sets.join(", ")
            );
            let updated = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(stored(""))
                .bind(SCHOOL)
                .execute(db.store.pool())
                .await
                .unwrap();
            assert!(updated.rows_affected() > 0, "{sql_table}");

            let safe = export_in_process(&db, table, Cells::Spreadsheet).await;
            assert!(safe.starts_with(BOM));
            let safe = parse(std::str::from_utf8(&safe).unwrap());
            let raw = export_in_process(&db, table, Cells::Raw).await;
            assert!(!raw.starts_with(BOM));
            let raw = parse(std::str::from_utf8(&raw).unwrap());
            assert_eq!(safe.len(), raw.len());
            assert_eq!(safe[0], header(table));
            for (safe_row, raw_row) in safe[1..].iter().zip(&raw[1..]) {
                for (i, column) in header(table).iter().enumerate() {
                    let at = format!("{table:?}.{column}, lead {lead:?}");
                    if text.contains(column) {
                        assert_eq!(raw_row[i], stored(column), "{at}: raw is as stored");
                        assert_eq!(safe_row[i], format!("'{}", stored(column)), "{at}");
                    } else {
                        assert_eq!(safe_row[i], raw_row[i], "{at}: ours is never prefixed");
                        assert!(!raw_row[i].starts_with('\''), "{at}");
                    }
                }
            }
        }
    }
}
