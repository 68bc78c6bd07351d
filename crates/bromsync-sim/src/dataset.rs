//! A whole simulated Bromcom: school -> entity -> rows, each row a JSON object exactly as the
//! API would send it. This is also the format of the JSON file `bromsync sim serve --data`
//! reads, so tests can state exact cases:
//!
//! ```json
//! {"20001": {"Students": [{"studentID": 1, "firstName": "A"}], "Staff": []}}
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use bromcom_api::{EntityKind, SchoolId};

/// The rows of one school, by entity. A missing entity serves an empty list.
pub type SchoolData = BTreeMap<EntityKind, Vec<Value>>;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Dataset {
    pub schools: BTreeMap<SchoolId, SchoolData>,
}
