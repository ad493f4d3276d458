//! The spool's exact-tally invariant, against a model: random sequences of
//! appends (under random size and age budgets), leases, acks, delivered
//! marks, removals, quarantines, requeues, purges, counter additions and
//! reopenings run on a real spool file and on a plain in-memory model of
//! its rows. After every step the spool's rows (ids and states), its
//! totals and every counter equal the model's, and each operation returns
//! what the model says it did.
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use tracespool_spool::*;

const HOUR_NS: u64 = 3600 * 1_000_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Pending,
    Quarantined,
}

#[derive(Debug, Clone)]
struct Row {
    state: State,
    bytes: u64,
    end_ns: u64,
}

/// A budget as the test chooses it.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Rows of 100-byte records the size budget holds.
    max_rows: Option<u64>,
    drop_newest: bool,
    /// An age budget of one hour.
    max_age: bool,
}

impl Limits {
    fn budget(self) -> Budget {
        let mut b = Budget::default();
        if let Some(n) = self.max_rows {
            b = b.with_max_bytes(n * row_bytes(100));
        }
        if self.drop_newest {
            b = b.with_on_budget(OnBudget::DropNewest);
        }
        if self.max_age {
            b = b.with_max_age(Duration::from_secs(3600));
        }
        b
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Records of these lengths; `true`: ended two hours ago.
    Append(Vec<(usize, bool)>, (u64, u64)),
    Lease(Option<Index>, usize),
    Ack(Index, Index),
    MarkDelivered(Index),
    AckDelivered,
    Remove(Vec<Index>),
    Quarantine(Vec<Index>),
    RequeueSome(Vec<Index>),
    RequeueAll,
    PurgeQuarantined,
    /// Rows that ended more than 90 minutes ago.
    PurgeOld,
    AddRetries(u64),
    Reopen(Limits),
}

fn limits() -> impl Strategy<Value = Limits> {
    (
        prop::option::of(3u64..40),
        any::<bool>(),
        prop::bool::weighted(0.3),
    )
        .prop_map(|(max_rows, drop_newest, max_age)| Limits {
            max_rows,
            drop_newest,
            max_age,
        })
}

fn op() -> impl Strategy<Value = Op> {
    let ids = || prop::collection::vec(any::<Index>(), 1..6);
    prop_oneof![
        6 => (
            prop::collection::vec((0usize..300, prop::bool::weighted(0.15)), 1..12),
            (0u64..3, 0u64..3)
        )
            .prop_map(|(rows, drops)| Op::Append(rows, drops)),
        2 => (prop::option::of(any::<Index>()), 1usize..20).prop_map(|(a, n)| Op::Lease(a, n)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Op::Ack(a, b)),
        1 => any::<Index>().prop_map(Op::MarkDelivered),
        1 => Just(Op::AckDelivered),
        1 => ids().prop_map(Op::Remove),
        2 => ids().prop_map(Op::Quarantine),
        1 => ids().prop_map(Op::RequeueSome),
        1 => Just(Op::RequeueAll),
        1 => Just(Op::PurgeQuarantined),
        1 => Just(Op::PurgeOld),
        1 => (1u64..5).prop_map(Op::AddRetries),
        1 => limits().prop_map(Op::Reopen),
    ]
}

#[derive(Default)]
struct Model {
    rows: BTreeMap<i64, Row>,
    /// AUTOINCREMENT: the next id is one past the largest ever used.
    next_id: i64,
    counters: HashMap<Counter, u64>,
    delivered_through: Option<i64>,
}

impl Model {
    fn count(&mut self, c: Counter, n: u64) {
        *self.counters.entry(c).or_default() += n;
    }

    fn insert(&mut self, state: State, bytes: u64, end_ns: u64) {
        self.next_id += 1;
        self.rows.insert(
            self.next_id,
            Row {
                state,
                bytes,
                end_ns,
            },
        );
    }

    /// Deletes the rows `keep` says no to; returns how many.
    fn delete(&mut self, mut gone: impl FnMut(i64, &Row) -> bool) -> u64 {
        let before = self.rows.len();
        self.rows.retain(|id, r| !gone(*id, r));
        (before - self.rows.len()) as u64
    }

    fn used(&self) -> u64 {
        self.rows.values().map(|r| r.bytes).sum()
    }

    /// An existing row id chosen by `i` (0 when there is none).
    fn pick(&self, i: &Index) -> i64 {
        if self.rows.is_empty() {
            return 0;
        }
        *self.rows.keys().nth(i.index(self.rows.len())).unwrap()
    }

    fn ids_in(&self, state: State) -> Vec<i64> {
        self.rows
            .iter()
            .filter(|(_, r)| r.state == state)
            .map(|(id, _)| *id)
            .collect()
    }

    /// What `SpoolWriter::append` does (see its code): the age sweep and
    /// refusal, the size budget, then the inserts and the counters.
    fn append(
        &mut self,
        limits: Limits,
        rows: &[(u64, u64)],
        now: u64,
        drops: (u64, u64),
    ) -> AppendOutcome {
        let mut out = AppendOutcome::default();
        let cutoff = limits.max_age.then(|| now - HOUR_NS);
        if let Some(c) = cutoff {
            if self.rows.values().next().is_some_and(|r| r.end_ns < c) {
                out.evicted_age += self.delete(|_, r| r.end_ns < c);
            }
        }
        let fresh = |end: u64| cutoff.is_none_or(|c| end >= c);
        let incoming: u64 = rows.iter().filter(|r| fresh(r.1)).map(|r| r.0).sum();
        let mut skip_first = 0;
        let mut accept_limit = u64::MAX;
        if let Some(n) = limits.max_rows {
            let max = n * row_bytes(100);
            let used = self.used();
            if used + incoming > max {
                if limits.drop_newest {
                    accept_limit = max.saturating_sub(used);
                } else {
                    let mut new_bytes = incoming;
                    for r in rows {
                        if new_bytes <= max {
                            break;
                        }
                        if fresh(r.1) {
                            new_bytes -= r.0;
                        }
                        skip_first += 1;
                    }
                    let need = (used + new_bytes).saturating_sub(max);
                    if need > 0 {
                        let mut freed = 0;
                        let mut last = None;
                        for (id, r) in &self.rows {
                            last = Some(*id);
                            freed += r.bytes;
                            if freed >= need {
                                break;
                            }
                        }
                        if let Some(last) = last {
                            out.evicted_oldest += self.delete(|id, _| id <= last);
                        }
                    }
                }
            }
        }
        let mut accepted = 0;
        for (i, &(bytes, end)) in rows.iter().enumerate() {
            if !fresh(end) {
                out.refused_age += 1;
            } else if i < skip_first {
                out.refused_oversize += 1;
            } else if accepted + bytes > accept_limit {
                out.refused_newest += 1;
            } else {
                accepted += bytes;
                self.insert(State::Pending, bytes, end);
                out.written += 1;
            }
        }
        self.count(Counter::Appended, out.written);
        self.count(
            Counter::BudgetDroppedOldest,
            out.evicted_oldest + out.refused_oversize,
        );
        self.count(Counter::BudgetDroppedNewest, out.refused_newest);
        self.count(Counter::AgeExpired, out.evicted_age + out.refused_age);
        self.count(Counter::RecorderQueueFull, drops.0);
        self.count(Counter::RecorderWriteErrors, drops.1);
        out
    }

    fn ack(&mut self, first: i64, last: i64) -> u64 {
        let n = self.delete(|id, r| (first..=last).contains(&id) && r.state == State::Pending);
        self.count(Counter::Uploaded, n);
        n
    }

    fn requeue(&mut self, ids: &[i64]) -> u64 {
        let mut n = 0;
        for id in ids {
            if self
                .rows
                .get(id)
                .is_some_and(|r| r.state == State::Quarantined)
            {
                let r = self.rows.remove(id).unwrap();
                self.insert(State::Pending, r.bytes, r.end_ns);
                n += 1;
            }
        }
        self.count(Counter::Requeued, n);
        n
    }
}

/// The spool and the model agree: rows, totals, every counter.
fn check(r: &SpoolReader, m: &Model, step: &str) {
    let pending: Vec<i64> = r
        .lease(0, usize::MAX >> 1)
        .unwrap()
        .iter()
        .map(|l| l.row_id)
        .collect();
    assert_eq!(
        pending,
        m.ids_in(State::Pending),
        "pending rows after {step}"
    );
    let quarantined: Vec<i64> = r
        .quarantined(usize::MAX >> 1)
        .unwrap()
        .iter()
        .map(|q| q.row_id)
        .collect();
    assert_eq!(
        quarantined,
        m.ids_in(State::Quarantined),
        "quarantined rows after {step}"
    );
    let t = r.totals().unwrap();
    let sum = |s: State| -> (u64, u64) {
        m.rows
            .values()
            .filter(|x| x.state == s)
            .fold((0, 0), |(n, b), x| (n + 1, b + x.bytes))
    };
    assert_eq!(
        (t.pending_rows, t.pending_bytes),
        sum(State::Pending),
        "pending totals after {step}"
    );
    assert_eq!(
        (t.quarantined_rows, t.quarantined_bytes),
        sum(State::Quarantined),
        "quarantined totals after {step}"
    );
    for &c in Counter::ALL {
        assert_eq!(
            r.counter(c).unwrap(),
            m.counters.get(&c).copied().unwrap_or(0),
            "counter {} after {step}",
            c.name()
        );
    }
}

fn run(start: Limits, ops: Vec<Op>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.spool");
    // No space reserve: its file depends on the free space, not on the model.
    let opts = SpoolOptions::default().with_reserve_bytes(0);
    let mut limits = start;
    let mut w = SpoolWriter::open(&path, limits.budget(), &opts).unwrap();
    let mut r = SpoolReader::open(&path, &opts).unwrap();
    let mut m = Model::default();
    let record = vec![0x5a; 300];
    for (step, op) in ops.into_iter().enumerate() {
        let step = format!("step {step}: {op:?}");
        match &op {
            Op::Append(rows, drops) => {
                let now = now_ns();
                let ends: Vec<u64> = rows
                    .iter()
                    .map(|&(_, old)| if old { now - 2 * HOUR_NS } else { now })
                    .collect();
                let new: Vec<NewRow<'_>> = rows
                    .iter()
                    .zip(&ends)
                    .map(|(&(len, _), &end)| {
                        NewRow::new(&[1; 16], &[2; 8], None, "s", (end - 1, end), &record[..len])
                    })
                    .collect();
                let got = w
                    .append(&new, RecorderDrops::new(drops.0, drops.1))
                    .unwrap();
                let sized: Vec<(u64, u64)> = rows
                    .iter()
                    .zip(&ends)
                    .map(|(&(len, _), &end)| (row_bytes(len), end))
                    .collect();
                assert_eq!(got, m.append(limits, &sized, now, *drops), "{step}");
            }
            Op::Lease(after, limit) => {
                let after = after.as_ref().map_or(0, |a| m.pick(a));
                let got: Vec<i64> = r
                    .lease(after, *limit)
                    .unwrap()
                    .iter()
                    .map(|l| l.row_id)
                    .collect();
                let want: Vec<i64> = m
                    .ids_in(State::Pending)
                    .into_iter()
                    .filter(|id| *id > after)
                    .take(*limit)
                    .collect();
                assert_eq!(got, want, "{step}");
            }
            Op::Ack(a, b) => {
                let (x, y) = (m.pick(a), m.pick(b));
                let (first, last) = (x.min(y), x.max(y));
                assert_eq!(r.ack(first, last).unwrap(), m.ack(first, last), "{step}");
            }
            Op::MarkDelivered(i) => {
                let last = m.pick(i);
                r.mark_delivered(last).unwrap();
                m.delivered_through = Some(m.delivered_through.map_or(last, |d| d.max(last)));
            }
            Op::AckDelivered => {
                let want = match m.delivered_through {
                    Some(last) => m.ack(i64::MIN, last),
                    None => 0,
                };
                assert_eq!(r.ack_delivered().unwrap(), want, "{step}");
            }
            Op::Remove(ids) => {
                let ids: Vec<i64> = ids.iter().map(|i| m.pick(i)).collect();
                let n = m.delete(|id, r| ids.contains(&id) && r.state == State::Pending);
                m.count(Counter::UploadExpired, n);
                assert_eq!(r.remove(&ids, Counter::UploadExpired).unwrap(), n, "{step}");
            }
            Op::Quarantine(ids) => {
                let ids: Vec<i64> = ids.iter().map(|i| m.pick(i)).collect();
                let mut n = 0;
                for id in &ids {
                    if let Some(row) = m.rows.get_mut(id).filter(|x| x.state == State::Pending) {
                        row.state = State::Quarantined;
                        n += 1;
                    }
                }
                m.count(Counter::Quarantined, n);
                let rows: Vec<(i64, &str)> = ids.iter().map(|id| (*id, "model")).collect();
                assert_eq!(r.quarantine(&rows).unwrap(), n, "{step}");
            }
            Op::RequeueSome(ids) => {
                let ids: Vec<i64> = ids.iter().map(|i| m.pick(i)).collect();
                let n = m.requeue(&ids);
                assert_eq!(r.requeue(Some(&ids)).unwrap(), n, "{step}");
            }
            Op::RequeueAll => {
                let ids = m.ids_in(State::Quarantined);
                let n = m.requeue(&ids);
                assert_eq!(r.requeue(None).unwrap(), n, "{step}");
            }
            Op::PurgeQuarantined => {
                let n = m.delete(|_, r| r.state == State::Quarantined);
                m.count(Counter::Purged, n);
                assert_eq!(r.purge_quarantined().unwrap(), n, "{step}");
            }
            Op::PurgeOld => {
                let cutoff = now_ns() - 3 * HOUR_NS / 2;
                let n = m.delete(|_, r| r.end_ns < cutoff);
                m.count(Counter::Purged, n);
                assert_eq!(r.purge_ended_before(cutoff).unwrap(), n, "{step}");
            }
            Op::AddRetries(n) => {
                r.add_counters(&[(Counter::UploadRetries, *n)]).unwrap();
                m.count(Counter::UploadRetries, *n);
            }
            Op::Reopen(next) => {
                drop(w);
                drop(r);
                limits = *next;
                w = SpoolWriter::open(&path, limits.budget(), &opts).unwrap();
                r = SpoolReader::open(&path, &opts).unwrap();
            }
        }
        check(&r, &m, &step);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn every_operation_keeps_the_tallies_exact(
        start in limits(),
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(start, ops);
    }
}
