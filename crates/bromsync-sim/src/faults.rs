//! Faults the simulator can inject, and the deterministic rules that decide which request gets
//! which fault: at chosen requests ("the 3rd request overall", "the first 2 requests for page 1
//! of Contacts of school 20001") or at a rate from a seed. Tests change the plan at runtime
//! through [`super::server::SimHandle::set_faults`].

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;

use bromcom_api::{EntityKind, SchoolId};

/// What a faulty answer looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// This HTTP status with a small JSON body (`success: false`). 500/502/503, 401, 403, 404...
    Status(u16),
    /// 429, with or without `Retry-After: <seconds>`.
    TooManyRequests { retry_after_secs: Option<u64> },
    /// 429 with `Retry-After` in its HTTP-date form: this many seconds after the answer.
    TooManyRequestsUntil { wait_secs: u64 },
    /// 200 with `{"success": false}` and, when given, a `message`.
    SuccessFalse { message: Option<String> },
    /// 200 with JSON cut off in the middle (the HTTP body itself is complete).
    BrokenJson,
    /// 200 with an HTML error page, as a misconfigured proxy sends.
    HtmlPage,
    /// 200 with no body at all.
    EmptyBody,
    /// 200, headers and part of the real page sent, then the connection is dropped.
    CutMidBody,
    /// Waits this long, then answers normally (for testing the client's timeout).
    Stall(Duration),
    /// 200 with exactly these bytes as an `application/json` body, for envelopes and odd
    /// input a dataset row cannot express (lone surrogates, huge bodies, `data` not a list).
    Body(Bytes),
}

impl Fault {
    /// A short label for the request log.
    pub fn label(&self) -> String {
        match self {
            Fault::Status(code) => format!("status {code}"),
            Fault::TooManyRequests {
                retry_after_secs: Some(secs),
            } => format!("429 retry-after {secs}"),
            Fault::TooManyRequests {
                retry_after_secs: None,
            } => "429".to_owned(),
            Fault::TooManyRequestsUntil { wait_secs } => {
                format!("429 retry-after date +{wait_secs}s")
            }
            Fault::SuccessFalse { .. } => "success false".to_owned(),
            Fault::BrokenJson => "broken json".to_owned(),
            Fault::HtmlPage => "html page".to_owned(),
            Fault::EmptyBody => "empty body".to_owned(),
            Fault::CutMidBody => "cut mid-body".to_owned(),
            Fault::Stall(d) => format!("stall {}ms", d.as_millis()),
            Fault::Body(body) => format!("custom body of {} bytes", body.len()),
        }
    }

    /// The faults a client must recover from; the random plan draws from these.
    pub fn transient_kinds() -> Vec<Fault> {
        vec![
            Fault::Status(500),
            Fault::Status(502),
            Fault::Status(503),
            Fault::TooManyRequests {
                retry_after_secs: None,
            },
            Fault::SuccessFalse {
                message: Some("simulated server-side failure".to_owned()),
            },
            Fault::BrokenJson,
            Fault::HtmlPage,
            Fault::EmptyBody,
            Fault::CutMidBody,
        ]
    }
}

/// Which of the requests passing a rule's filters get its fault, counting from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hits {
    Always,
    /// Only the Nth.
    Nth(u64),
    /// The first N.
    FirstN(u64),
}

impl Hits {
    fn includes(self, count: u64) -> bool {
        match self {
            Hits::Always => true,
            Hits::Nth(n) => count == n,
            Hits::FirstN(n) => count <= n,
        }
    }
}

/// One fault at chosen requests. Filters left `None` match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    pub fault: Fault,
    pub school: Option<SchoolId>,
    pub entity: Option<EntityKind>,
    pub page: Option<u32>,
    pub hits: Hits,
}

impl FaultRule {
    /// `fault` on every request, until narrowed with the builder methods.
    pub fn new(fault: Fault) -> Self {
        FaultRule {
            fault,
            school: None,
            entity: None,
            page: None,
            hits: Hits::Always,
        }
    }

    /// `fault` on the Nth request the server receives (counting from 1, since the plan was set).
    pub fn nth_request(n: u64, fault: Fault) -> Self {
        FaultRule::new(fault).nth(n)
    }

    pub fn school(mut self, school: SchoolId) -> Self {
        self.school = Some(school);
        self
    }
    pub fn entity(mut self, entity: EntityKind) -> Self {
        self.entity = Some(entity);
        self
    }
    pub fn page(mut self, page: u32) -> Self {
        self.page = Some(page);
        self
    }
    pub fn nth(mut self, n: u64) -> Self {
        self.hits = Hits::Nth(n);
        self
    }
    pub fn first(mut self, n: u64) -> Self {
        self.hits = Hits::FirstN(n);
        self
    }

    fn matches(&self, school: Option<SchoolId>, entity: Option<EntityKind>, page: u32) -> bool {
        self.school.is_none_or(|s| Some(s) == school)
            && self.entity.is_none_or(|e| Some(e) == entity)
            && self.page.is_none_or(|p| p == page)
    }
}

/// Faults at a rate, drawn from [`Fault::transient_kinds`]. Whether a request is hit depends
/// only on the seed and on (school, entity, page, how many times that page was asked for), so
/// a run's faults do not depend on how concurrent requests interleave.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RandomFaults {
    /// 0.0 (never) to 1.0 (always).
    pub rate: f64,
    pub seed: u64,
}

/// Everything the server should do wrong. The first matching rule wins; the random faults
/// apply only when no rule did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
    pub random: Option<RandomFaults>,
}

impl FaultPlan {
    pub fn none() -> Self {
        FaultPlan::default()
    }

    pub fn rule(mut self, rule: FaultRule) -> Self {
        self.rules.push(rule);
        self
    }

    pub fn random(rate: f64, seed: u64) -> Self {
        FaultPlan {
            rules: Vec::new(),
            random: Some(RandomFaults { rate, seed }),
        }
    }
}

/// A plan with its counters, as the server keeps it.
#[derive(Debug, Default)]
pub(crate) struct ActiveFaults {
    plan: FaultPlan,
    /// Per rule: how many requests have passed its filters.
    matched: Vec<u64>,
    /// Per (school, entity, page): how many times it was asked for (for the random plan).
    asked: HashMap<(Option<SchoolId>, Option<EntityKind>, u32), u64>,
}

impl ActiveFaults {
    pub(crate) fn new(plan: FaultPlan) -> Self {
        ActiveFaults {
            matched: vec![0; plan.rules.len()],
            plan,
            asked: HashMap::new(),
        }
    }

    /// The fault for this request, if any; counts the request against every rule it passes.
    pub(crate) fn pick(
        &mut self,
        school: Option<SchoolId>,
        entity: Option<EntityKind>,
        page: u32,
    ) -> Option<Fault> {
        let mut chosen = None;
        for (rule, count) in self.plan.rules.iter().zip(self.matched.iter_mut()) {
            if rule.matches(school, entity, page) {
                *count += 1;
                if chosen.is_none() && rule.hits.includes(*count) {
                    chosen = Some(rule.fault.clone());
                }
            }
        }
        if chosen.is_some() {
            return chosen;
        }
        let random = self.plan.random?;
        let asked = self.asked.entry((school, entity, page)).or_insert(0);
        *asked += 1;
        let key = [
            random.seed,
            school.map_or(u64::MAX, |s| s as u64),
            entity.map_or(99, |e| e as u64),
            u64::from(page),
            *asked,
        ];
        let draw = key.iter().fold(0x243F_6A88_85A3_08D3u64, |h, k| mix(h ^ k));
        // The top 53 bits as a fraction in [0, 1).
        let fraction = (draw >> 11) as f64 / (1u64 << 53) as f64;
        if fraction >= random.rate {
            return None;
        }
        let kinds = Fault::transient_kinds();
        let index = usize::try_from(mix(draw) % kinds.len() as u64).unwrap_or(0);
        kinds.into_iter().nth(index)
    }
}

/// splitmix64's finaliser: a cheap, well-spread hash step.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_count_matching_requests_only() {
        let mut faults = ActiveFaults::new(
            FaultPlan::none().rule(
                FaultRule::new(Fault::Status(503))
                    .school(1)
                    .entity(EntityKind::Staff)
                    .page(1)
                    .nth(2),
            ),
        );
        let staff = Some(EntityKind::Staff);
        assert_eq!(faults.pick(Some(1), staff, 0), None);
        assert_eq!(faults.pick(Some(1), staff, 1), None);
        assert_eq!(faults.pick(Some(2), staff, 1), None);
        assert_eq!(faults.pick(Some(1), staff, 1), Some(Fault::Status(503)));
        assert_eq!(faults.pick(Some(1), staff, 1), None);
    }

    #[test]
    fn nth_request_overall_and_first_n() {
        let mut faults = ActiveFaults::new(
            FaultPlan::none()
                .rule(FaultRule::nth_request(3, Fault::EmptyBody))
                .rule(FaultRule::new(Fault::HtmlPage).first(1)),
        );
        let picks: Vec<_> = (0..4).map(|_| faults.pick(Some(1), None, 0)).collect();
        assert_eq!(
            picks,
            vec![Some(Fault::HtmlPage), None, Some(Fault::EmptyBody), None]
        );
    }

    #[test]
    fn random_faults_follow_the_seed_and_rate() {
        let run = |seed| {
            let mut faults = ActiveFaults::new(FaultPlan::random(0.3, seed));
            (0..2000u32)
                .map(|i| faults.pick(Some(1), Some(EntityKind::Emails), i % 50))
                .collect::<Vec<_>>()
        };
        let first = run(42);
        assert_eq!(first, run(42));
        assert_ne!(first, run(43));
        let hit = first.iter().filter(|f| f.is_some()).count();
        assert!((450..750).contains(&hit), "{hit} of 2000 at rate 0.3");
        let mut never = ActiveFaults::new(FaultPlan::random(0.0, 1));
        assert!((0..500).all(|i| never.pick(Some(1), None, i).is_none()));
    }
}
