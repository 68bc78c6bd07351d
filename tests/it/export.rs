//! `bromsync export` as the real binary after a real sync: exact headers, rows by ID, ID lists,
//! empty fields for absent values, and values a CSV writer can get wrong (commas, quotes,
//! newlines, non-ASCII), read back with a CSV parser.

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
                "+44 7700 900123",
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
