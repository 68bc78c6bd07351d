//! The bound on schools running at once, across reloads that change it, with a stand-in runner
//! whose runs last until the test lets them end: runs in flight count against the new bound,
//! so a reload never lets more schools run together than the bound in force. On paused time.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{Semaphore, mpsc};

use super::runner::{Job, JobOutcome, Runner};
use super::school::SystemClock;
use super::supervisor::{Control, Daemon};
use crate::config::{self, Settings};

fn settings(max_concurrent: usize) -> Settings {
    let schools: String = (1..=5)
        .map(|id| format!("[[schools]]\nid = {id}\n"))
        .collect();
    config::from_toml(&format!(
        "[database]\nurl = \"postgres://nobody@127.0.0.1:1/none\"\n\
         [bromcom]\nbase_url = \"http://127.0.0.1:1\"\napplication_id = \"t\"\napplication_secret = \"s\"\n\
         [daemon]\nschedule = \"0 0 1 1 *\"\nmax_concurrent_schools = {max_concurrent}\n{schools}"
    ))
    .unwrap_or_else(|e| panic!("test settings: {e}"))
}

/// Runs that end one at a time when the test says, counting how many run at once.
struct Held {
    running: AtomicUsize,
    most: AtomicUsize,
    ends: Semaphore,
}

impl Default for Held {
    fn default() -> Self {
        Held {
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            ends: Semaphore::new(0),
        }
    }
}

#[derive(Clone, Default)]
struct HeldRunner(Arc<Held>);

impl Runner for HeldRunner {
    fn run(&self, _job: Job) -> BoxFuture<'static, JobOutcome> {
        let held = Arc::clone(&self.0);
        Box::pin(async move {
            let now = held.running.fetch_add(1, Ordering::SeqCst) + 1;
            held.most.fetch_max(now, Ordering::SeqCst);
            if let Ok(end) = held.ends.acquire().await {
                end.forget();
            }
            held.running.fetch_sub(1, Ordering::SeqCst);
            JobOutcome::Succeeded
        })
    }
}

impl HeldRunner {
    fn running(&self) -> usize {
        self.0.running.load(Ordering::SeqCst)
    }

    fn most(&self) -> usize {
        self.0.most.load(Ordering::SeqCst)
    }

    fn reset_most(&self) {
        self.0.most.store(self.running(), Ordering::SeqCst);
    }

    fn end_one(&self) {
        self.0.ends.add_permits(1);
    }

    /// Waits until `want` runs are going on at once.
    async fn until_running(&self, want: usize) {
        tokio::time::timeout(Duration::from_secs(5), async {
            while self.running() != want {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{} running, wanted {want}", self.running()));
    }

    /// Gives waiting schools a moment in which a wrong bound would let one more start. On
    /// paused time the clock only moves once every task is idle, so by then any school that
    /// could start has started: the moment is not a guess at the machine's speed.
    async fn settle(&self) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn started(
    max_concurrent: usize,
) -> (
    HeldRunner,
    mpsc::Sender<Control>,
    tokio::task::JoinHandle<()>,
) {
    let runner = HeldRunner::default();
    let daemon = Daemon::start(
        settings(max_concurrent),
        Arc::new(runner.clone()),
        Arc::new(SystemClock),
    );
    let (tx, rx) = mpsc::channel(8);
    let task = tokio::spawn(daemon.run(rx));
    (runner, tx, task)
}

async fn send(tx: &mpsc::Sender<Control>, control: Control) {
    tx.send(control)
        .await
        .unwrap_or_else(|_| panic!("the daemon stopped listening"));
}

#[tokio::test(start_paused = true)]
async fn shrinking_the_bound_counts_the_runs_in_flight() {
    let (runner, tx, task) = started(3).await;
    send(&tx, Control::ResyncAll).await;
    runner.until_running(3).await;

    send(&tx, Control::Reload(Box::new(Ok(settings(1))))).await;
    runner.settle().await;
    assert_eq!(
        runner.most(),
        3,
        "no run started beside the three in flight"
    );
    runner.end_one();
    runner.until_running(2).await;
    runner.settle().await;
    assert_eq!(runner.running(), 2, "two in flight, bound one: none starts");
    runner.end_one();
    runner.until_running(1).await;
    runner.settle().await;
    assert_eq!(runner.running(), 1);
    runner.end_one();
    // Now one of the two waiting schools starts, and only one.
    runner.reset_most();
    runner.until_running(1).await;
    runner.settle().await;
    assert_eq!(runner.most(), 1);

    send(&tx, Control::Stop).await;
    let _ = task.await;
}

#[tokio::test(start_paused = true)]
async fn growing_the_bound_adds_only_the_difference() {
    let (runner, tx, task) = started(1).await;
    send(&tx, Control::ResyncAll).await;
    runner.until_running(1).await;

    send(&tx, Control::Reload(Box::new(Ok(settings(2))))).await;
    runner.until_running(2).await;
    runner.settle().await;
    assert_eq!(
        runner.most(),
        2,
        "the run in flight counts against the new bound"
    );

    // A reload that keeps the bound changes nothing either.
    send(&tx, Control::Reload(Box::new(Ok(settings(2))))).await;
    runner.settle().await;
    assert_eq!(runner.most(), 2);

    send(&tx, Control::Stop).await;
    let _ = task.await;
}
