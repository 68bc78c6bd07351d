//! eligibility.md's worked examples as hand-written Bromcom rows, one small school each (every
//! record not mentioned passes its own rules), served by the simulator and synced by the real
//! binary into a fresh database. What must come through, and the reasons stored for what must
//! not, are written out here by hand from the document, with literal IDs: nothing is computed
//! by bromsync's own code, so a wrong rule cannot supply its own expectation. A last school
//! holds a student, a teacher and a contact whose consent is `Pending`.

use std::collections::BTreeMap;

use bromsync::snapshot::{EntityKind, SchoolId};
use bromsync_sim::dataset::{Dataset, SchoolData};
use serde_json::{Value, json};

use crate::harness::{run_binary, stderr, stdout, write_config};
use crate::support::{TestDb, start_sim, today};

// IDs shared by the examples (each school has its own rows, so the same ID in two schools is
// two records).
const A: i64 = 4101;
const T: i64 = 88;
const MA1: i64 = 301;

const GRANTED: &str = "Granted";

fn student(id: i64, first: &str, last: &str, consent: Option<&str>) -> Value {
    let mut row = json!({"studentID": id, "firstName": first, "lastName": last,
        "dateOfBirth": "2011-03-14T00:00:00", "tutorGroup": "NoTutorGrp", "yearGroup": "7",
        "startDate": "2020-09-01T00:00:00", "endDate": null});
    if let Some(consent) = consent {
        row["dataProcessingConsent"] = json!(consent);
    }
    row
}

fn staff(id: i64, title: Option<&str>, first: &str, last: &str, consent: &str) -> Value {
    let mut row = json!({"staffID": id, "firstName": first, "lastName": last,
        "workEmail": format!("{id}@school.example"), "startDate": "2019-09-01T00:00:00",
        "dataProcessingConsent": consent});
    if let Some(title) = title {
        row["title"] = json!(title);
    }
    row
}

fn collection(id: i64, name: &str, kind: &str, subject: &str) -> Value {
    json!({"collectionID": id, "collectionName": name, "collectionTypeName": kind,
           "subjectName": subject, "startDate": "2020-09-01T00:00:00"})
}

fn member(collection: i64, student: i64) -> Value {
    json!({"collectionID": collection, "personID": student, "startDate": "2020-09-01T00:00:00"})
}

fn attached(collection: i64, staff: i64, role: &str) -> Value {
    json!({"collectionID": collection, "staffID": staff, "collectionRoleTypeDescription": role})
}

fn contact(id: i64, title: Option<&str>, first: &str, last: &str, consent: &str) -> Value {
    let mut row = json!({"personID": id, "firstName": first, "lastName": last,
                         "dataProcessingConsent": consent});
    if let Some(title) = title {
        row["title"] = json!(title);
    }
    row
}

fn link(student: i64, person: i64, relationship: &str, responsibility: &str) -> Value {
    json!({"studentID": student, "personID": person, "relationship": relationship,
           "parentalResponsibility": responsibility})
}

/// Example 1: student A in class 7X/Ma1 (301) taught by teacher T (88), main teacher; all
/// consented. `edit` changes it before it is served.
fn example_one(edit: impl FnOnce(&mut SchoolData)) -> SchoolData {
    let mut school = BTreeMap::from([
        (
            EntityKind::Students,
            vec![student(A, "Amelia", "Khan", Some(GRANTED))],
        ),
        (
            EntityKind::Staff,
            vec![staff(T, Some("Ms"), "Tia", "Teach", GRANTED)],
        ),
        (
            EntityKind::Collections,
            vec![collection(MA1, "7X/Ma1", "CLASS", "Maths")],
        ),
        (EntityKind::CollectionAssociates, vec![member(MA1, A)]),
        (
            EntityKind::CollectionExecutives,
            vec![attached(MA1, T, "Main Teacher")],
        ),
    ]);
    edit(&mut school);
    school
}

fn push(school: &mut SchoolData, entity: EntityKind, row: Value) {
    school.entry(entity).or_default().push(row);
}

fn rows(school: &mut SchoolData, entity: EntityKind) -> &mut Vec<Value> {
    school.entry(entity).or_default()
}

/// Example 5's mother M (900), consented, relationship `Mother`, no parental responsibility.
fn with_mother(school: &mut SchoolData) {
    push(
        school,
        EntityKind::Contacts,
        contact(900, Some("Mrs"), "Mo", "Khan", GRANTED),
    );
    push(
        school,
        EntityKind::StudentContacts,
        link(A, 900, "Mother", "No"),
    );
}

fn with_aunt(school: &mut SchoolData, responsibility: &str) {
    push(
        school,
        EntityKind::Contacts,
        contact(901, Some("Ms"), "Nia", "Aunty", GRANTED),
    );
    push(
        school,
        EntityKind::StudentContacts,
        link(A, 901, "Aunt", responsibility),
    );
}

/// The schools: 9100 + the example's number; 9113 and 9114 are example 13 with the
/// `preferred` and `legal` name choices; 9115 is `Pending` consent.
fn dataset() -> Dataset {
    let yesterday = (today() - chrono::Duration::days(1))
        .format("%Y-%m-%dT00:00:00")
        .to_string();
    let schools: Vec<(SchoolId, SchoolData)> = vec![
        (9101, example_one(|_| {})),
        (
            9102,
            example_one(|s| {
                rows(s, EntityKind::Students)[0]["dataProcessingConsent"] = json!("Withdrawn");
            }),
        ),
        (
            9103,
            example_one(|s| {
                rows(s, EntityKind::Students)[0]["tutorGroup"] = json!("7X");
                push(
                    s,
                    EntityKind::Staff,
                    staff(89, Some("Mr"), "Uri", "Tutor", GRANTED),
                );
                push(
                    s,
                    EntityKind::Collections,
                    collection(302, "7X", "TUTORGRP", "Tutor group 7X"),
                );
                push(s, EntityKind::CollectionAssociates, member(302, A));
                push(
                    s,
                    EntityKind::CollectionExecutives,
                    attached(302, 89, "Main Tutor"),
                );
            }),
        ),
        (
            9104,
            BTreeMap::from([
                (
                    EntityKind::Students,
                    vec![student(4103, "Bea", "Brown", Some(GRANTED))],
                ),
                (
                    EntityKind::Collections,
                    vec![collection(401, "Darwin", "HOUSE", "Darwin")],
                ),
                (EntityKind::CollectionAssociates, vec![member(401, 4103)]),
            ]),
        ),
        (9105, example_one(with_mother)),
        (9106, example_one(|s| with_aunt(s, "No"))),
        (9107, example_one(|s| with_aunt(s, "Yes"))),
        (
            9108,
            example_one(|s| {
                with_mother(s);
                rows(s, EntityKind::Contacts)[0]
                    .as_object_mut()
                    .map(|row| row.remove("title"));
            }),
        ),
        (
            9109,
            example_one(|s| {
                // C (4102) has no consent at all.
                push(s, EntityKind::Students, student(4102, "Cal", "Khan", None));
                push(s, EntityKind::CollectionAssociates, member(MA1, 4102));
                push(
                    s,
                    EntityKind::Contacts,
                    contact(902, Some("Mr"), "Pat", "Khan", GRANTED),
                );
                push(s, EntityKind::StudentContacts, link(A, 902, "Father", "No"));
                push(
                    s,
                    EntityKind::StudentContacts,
                    link(4102, 902, "Father", "No"),
                );
            }),
        ),
        (
            9110,
            example_one(|s| {
                rows(s, EntityKind::Staff)[0]
                    .as_object_mut()
                    .map(|row| row.remove("title"));
                // D (4104) in another class that stands; M (900) is A's only; Q (903) has both.
                push(
                    s,
                    EntityKind::Students,
                    student(4104, "Dan", "Khan", Some(GRANTED)),
                );
                push(
                    s,
                    EntityKind::Staff,
                    staff(90, Some("Mr"), "Vic", "Other", GRANTED),
                );
                push(
                    s,
                    EntityKind::Collections,
                    collection(303, "8Y/En2", "CLASS", "English"),
                );
                push(s, EntityKind::CollectionAssociates, member(303, 4104));
                push(
                    s,
                    EntityKind::CollectionExecutives,
                    attached(303, 90, "Main Teacher"),
                );
                push(
                    s,
                    EntityKind::Contacts,
                    contact(900, Some("Mrs"), "Mo", "Khan", GRANTED),
                );
                push(
                    s,
                    EntityKind::Contacts,
                    contact(903, Some("Mr"), "Quin", "Khan", GRANTED),
                );
                push(
                    s,
                    EntityKind::StudentContacts,
                    link(A, 900, "Mother", "Yes"),
                );
                push(
                    s,
                    EntityKind::StudentContacts,
                    link(A, 903, "Father", "Yes"),
                );
                push(
                    s,
                    EntityKind::StudentContacts,
                    link(4104, 903, "Father", "Yes"),
                );
            }),
        ),
        (
            9111,
            example_one(|s| {
                rows(s, EntityKind::CollectionAssociates)[0]["endDate"] = json!(yesterday);
            }),
        ),
        (
            9112,
            example_one(|s| {
                with_mother(s);
                push(
                    s,
                    EntityKind::Emails,
                    json!({"personID": 900, "emailAddress": "b@x", "priority": 2}),
                );
                push(
                    s,
                    EntityKind::Emails,
                    json!({"personID": 900, "emailAddress": "a@x", "priority": 1}),
                );
            }),
        ),
        (
            9113,
            example_one(|s| {
                rows(s, EntityKind::Students)[0]["preferredFirstName"] = json!("Millie");
                // 4105's preferred name is empty: the legal one stands.
                let mut bea = student(4105, "Bea", "Brown", Some(GRANTED));
                bea["preferredFirstName"] = json!("");
                push(s, EntityKind::Students, bea);
                push(s, EntityKind::CollectionAssociates, member(MA1, 4105));
            }),
        ),
        (
            9114,
            example_one(|s| {
                rows(s, EntityKind::Students)[0]["preferredFirstName"] = json!("Millie");
            }),
        ),
        (
            9115,
            example_one(|s| {
                // Student 4106, teacher 91 and contact 904 have consent Pending: not granted.
                push(
                    s,
                    EntityKind::Students,
                    student(4106, "Pip", "Pend", Some("Pending")),
                );
                push(s, EntityKind::CollectionAssociates, member(MA1, 4106));
                push(
                    s,
                    EntityKind::Staff,
                    staff(91, Some("Mr"), "Pen", "Ding", "Pending"),
                );
                push(
                    s,
                    EntityKind::CollectionExecutives,
                    attached(MA1, 91, "Teacher"),
                );
                push(
                    s,
                    EntityKind::Contacts,
                    contact(904, Some("Mrs"), "Pam", "Khan", "Pending"),
                );
                push(
                    s,
                    EntityKind::StudentContacts,
                    link(A, 904, "Mother", "Yes"),
                );
                // 905 (granted) is the mother of the Pending student only.
                push(
                    s,
                    EntityKind::Contacts,
                    contact(905, Some("Mrs"), "Peg", "Pend", GRANTED),
                );
                push(
                    s,
                    EntityKind::StudentContacts,
                    link(4106, 905, "Mother", "Yes"),
                );
                // A house of A and the Pending student: it comes through with A alone.
                push(
                    s,
                    EntityKind::Collections,
                    collection(402, "Curie", "HOUSE", "Curie"),
                );
                push(s, EntityKind::CollectionAssociates, member(402, A));
                push(s, EntityKind::CollectionAssociates, member(402, 4106));
            }),
        ),
    ];
    Dataset {
        schools: schools.into_iter().collect(),
    }
}

async fn rows_of<T>(db: &TestDb, sql: &'static str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sql)
        .fetch_all(db.store.pool())
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// school, person, title, first name, last name, email, phone.
type ParentRow = (
    i64,
    i64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

fn s(text: &str) -> String {
    text.to_owned()
}

/// `(school, entity, id, reasons)` with each record's reasons sorted, so that the order the
/// reasons are stored in does not matter.
fn sorted_reasons(
    rows: Vec<(i64, String, i64, Vec<String>)>,
) -> Vec<(i64, String, i64, Vec<String>)> {
    rows.into_iter()
        .map(|(school, entity, id, mut reasons)| {
            reasons.sort();
            (school, entity, id, reasons)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worked_examples_come_through_exactly_as_the_document_says() {
    let db = TestDb::new().await;
    let data = dataset();
    let schools: Vec<String> = data
        .schools
        .keys()
        .map(|id| match id {
            9114 => format!("id = {id}\nnames = \"legal\""),
            _ => format!("id = {id}"),
        })
        .collect();
    let sim = start_sim(data).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let config = write_config(dir.path(), &db.url, &sim, 100_000, &schools, "");
    let output = run_binary(&config, &["sync"], &[]).await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );

    let students: Vec<(i64, i64, String, String, Option<String>)> = rows_of(
        &db,
        "SELECT school_id, student_id, first_name, last_name, tutor_group FROM students ORDER BY 1, 2",
    )
    .await;
    let amelia = |school: i64| (school, A, s("Amelia"), s("Khan"), None);
    assert_eq!(
        students,
        vec![
            amelia(9101),
            // 9102: A's consent is withdrawn.
            (9103, A, s("Amelia"), s("Khan"), Some(s("7X"))),
            // 9104: B is only in a house.
            amelia(9105),
            amelia(9106),
            amelia(9107),
            amelia(9108),
            amelia(9109),
            // 9110: A lost the class; D stands.
            (9110, 4104, s("Dan"), s("Khan"), None),
            // 9111: A's membership ended yesterday.
            amelia(9112),
            (9113, A, s("Millie"), s("Khan"), None),
            (9113, 4105, s("Bea"), s("Brown"), None),
            amelia(9114),
            amelia(9115),
        ]
    );

    let teachers: Vec<(i64, i64, String, String, String, Option<String>)> = rows_of(
        &db,
        "SELECT school_id, staff_id, title, first_name, last_name, email FROM teachers ORDER BY 1, 2",
    )
    .await;
    let tia = |school: i64| {
        (
            school,
            T,
            s("Ms"),
            s("Tia"),
            s("Teach"),
            Some(s("88@school.example")),
        )
    };
    assert_eq!(
        teachers,
        vec![
            tia(9101),
            tia(9103),
            (
                9103,
                89,
                s("Mr"),
                s("Uri"),
                s("Tutor"),
                Some(s("89@school.example"))
            ),
            tia(9105),
            tia(9106),
            tia(9107),
            tia(9108),
            tia(9109),
            (
                9110,
                90,
                s("Mr"),
                s("Vic"),
                s("Other"),
                Some(s("90@school.example"))
            ),
            tia(9112),
            tia(9113),
            tia(9114),
            tia(9115),
        ]
    );

    let parents: Vec<ParentRow> = rows_of(
        &db,
        "SELECT school_id, person_id, title, first_name, last_name, email, phone FROM parents ORDER BY 1, 2",
    )
    .await;
    assert_eq!(
        parents,
        vec![
            (9105, 900, s("Mrs"), s("Mo"), s("Khan"), None, None),
            (9107, 901, s("Ms"), s("Nia"), s("Aunty"), None, None),
            (9109, 902, s("Mr"), s("Pat"), s("Khan"), None, None),
            (9110, 903, s("Mr"), s("Quin"), s("Khan"), None, None),
            (
                9112,
                900,
                s("Mrs"),
                s("Mo"),
                s("Khan"),
                Some(s("a@x")),
                None
            ),
        ]
    );

    let links: Vec<(i64, i64, i64, String, bool)> = rows_of(
        &db,
        "SELECT school_id, person_id, student_id, relationship, parental_responsibility \
         FROM parent_students ORDER BY 1, 2, 3",
    )
    .await;
    assert_eq!(
        links,
        vec![
            (9105, 900, A, s("Mother"), false),
            (9107, 901, A, s("Aunt"), true),
            // 9109: the link to C (no consent) is left out.
            (9109, 902, A, s("Father"), false),
            // 9110: Q keeps the link to D only.
            (9110, 903, 4104, s("Father"), true),
            (9112, 900, A, s("Mother"), false),
        ]
    );

    let classes: Vec<(i64, i64, String, Option<String>, String)> = rows_of(
        &db,
        "SELECT school_id, class_id, name, subject, kind FROM classes ORDER BY 1, 2",
    )
    .await;
    let ma1 = |school: i64| (school, MA1, s("7X/Ma1"), Some(s("Maths")), s("class"));
    assert_eq!(
        classes,
        vec![
            ma1(9101),
            ma1(9103),
            (
                9103,
                302,
                s("7X"),
                Some(s("Tutor group 7X")),
                s("tutor_group")
            ),
            ma1(9105),
            ma1(9106),
            ma1(9107),
            ma1(9108),
            ma1(9109),
            (9110, 303, s("8Y/En2"), Some(s("English")), s("class")),
            ma1(9112),
            ma1(9113),
            ma1(9114),
            ma1(9115),
        ]
    );

    let class_students: Vec<(i64, i64, i64)> = rows_of(
        &db,
        "SELECT school_id, class_id, student_id FROM class_students ORDER BY 1, 2, 3",
    )
    .await;
    assert_eq!(
        class_students,
        vec![
            (9101, MA1, A),
            (9103, MA1, A),
            (9103, 302, A),
            (9105, MA1, A),
            (9106, MA1, A),
            (9107, MA1, A),
            (9108, MA1, A),
            (9109, MA1, A),
            (9110, 303, 4104),
            (9112, MA1, A),
            (9113, MA1, A),
            (9113, MA1, 4105),
            (9114, MA1, A),
            (9115, MA1, A),
        ]
    );

    let class_teachers: Vec<(i64, i64, i64, bool)> = rows_of(
        &db,
        "SELECT school_id, class_id, staff_id, is_main FROM class_teachers ORDER BY 1, 2, 3",
    )
    .await;
    assert_eq!(
        class_teachers,
        vec![
            (9101, MA1, T, true),
            (9103, MA1, T, true),
            (9103, 302, 89, true),
            (9105, MA1, T, true),
            (9106, MA1, T, true),
            (9107, MA1, T, true),
            (9108, MA1, T, true),
            (9109, MA1, T, true),
            (9110, 303, 90, true),
            (9112, MA1, T, true),
            (9113, MA1, T, true),
            (9114, MA1, T, true),
            // 9115: the Pending teacher 91 is not there.
            (9115, MA1, T, true),
        ]
    );

    let groups: Vec<(i64, i64, String, String)> = rows_of(
        &db,
        "SELECT school_id, group_id, name, kind FROM groups ORDER BY 1, 2",
    )
    .await;
    assert_eq!(groups, vec![(9115, 402, s("Curie"), s("house"))]);
    let group_students: Vec<(i64, i64, i64)> = rows_of(
        &db,
        "SELECT school_id, group_id, student_id FROM group_students ORDER BY 1, 2, 3",
    )
    .await;
    assert_eq!(group_students, vec![(9115, 402, A)]);

    let exclusions = sorted_reasons(
        rows_of(
            &db,
            "SELECT school_id, entity, bromcom_id, reasons FROM exclusions ORDER BY 1, 2, 3",
        )
        .await,
    );
    let out = |school: i64, entity: &str, id: i64, reasons: &[&str]| {
        let mut reasons: Vec<String> = reasons.iter().map(|r| s(r)).collect();
        reasons.sort();
        (school, s(entity), id, reasons)
    };
    assert_eq!(
        exclusions,
        vec![
            // 2: A's consent withdrawn; the class loses its only student and so its teacher.
            out(9102, "class", MA1, &["no_students", "no_teachers"]),
            out(9102, "student", A, &["no_consent", "no_classes"]),
            out(9102, "teacher", T, &["no_eligible_students"]),
            // 4: a house alone brings nobody through.
            out(9104, "group", 401, &["no_students"]),
            out(9104, "student", 4103, &["no_classes"]),
            // 6: an aunt without parental responsibility.
            out(9106, "parent", 901, &["no_eligible_children"]),
            // 8: a mother without a title.
            out(9108, "parent", 900, &["missing_title"]),
            // 9: C has no consent.
            out(9109, "student", 4102, &["no_consent"]),
            // 10: the only teacher has no title.
            out(9110, "class", MA1, &["no_students", "no_teachers"]),
            out(9110, "parent", 900, &["no_eligible_children"]),
            out(9110, "student", A, &["no_classes"]),
            out(
                9110,
                "teacher",
                T,
                &["missing_title", "no_eligible_students"]
            ),
            // 11: the membership ended yesterday.
            out(9111, "class", MA1, &["no_students", "no_teachers"]),
            out(9111, "student", A, &["no_classes"]),
            out(9111, "teacher", T, &["no_eligible_students"]),
            // Pending is not granted, for a student, a teacher and a contact alike.
            out(9115, "parent", 904, &["no_consent"]),
            out(9115, "parent", 905, &["no_eligible_children"]),
            out(9115, "student", 4106, &["no_consent"]),
            out(9115, "teacher", 91, &["no_consent"]),
        ]
    );
}
