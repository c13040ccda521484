//! Model-checking suites of the timelog protocol (rules R1–R10 of
//! `docs/protocol.md`); see `docs/verification.md`.
//!
//! The suites are the integration tests `tests/loom_*.rs` (built with
//! `--cfg timelog_loom`) and `tests/shuttle_*.rs` (`--cfg timelog_shuttle`);
//! `run.sh` runs both, `faults.sh` shows that each seeded protocol bug is
//! caught. This library holds what they share:
//!
//! - the **snapshot-consistency oracle**: every snapshot an execution took
//!   must show *exactly* the effect of a prefix of one single write order
//!   (the sequence order), of the length of its watermark — and a
//!   snapshot's view must not change while it is held;
//! - the model-checker drivers (`loom_model`, `shuttle_check`) that count
//!   executions and print the one-line reports `run.sh` sums up.

use std::collections::HashSet;
use std::fmt::Write as _;

pub use timelog;

/// A timestamp.
pub type Ts = i64;
/// A payload: a unique id per written record, so a view names its records.
pub type Id = u64;

/// The ledger of [`Tracked`] payloads: which copies exist and which ended.
/// Plain std bookkeeping (not model-checked state): it only records what
/// the engine did to its payloads.
#[derive(Debug, Default)]
pub struct Ledger {
    next: std::sync::atomic::AtomicU64,
    ended: std::sync::Mutex<HashSet<u64>>,
    live: std::sync::atomic::AtomicI64,
}

impl Ledger {
    /// A new payload `id` (its first copy).
    pub fn payload(self: &std::sync::Arc<Self>, id: Id) -> Tracked {
        Tracked { id, copy: self.new_copy(), ledger: self.clone() }
    }

    fn new_copy(&self) -> u64 {
        self.live.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Copies made and not dropped yet.
    pub fn live(&self) -> i64 {
        self.live.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A payload whose copies are tracked by a [`Ledger`]: a clone is a new
/// copy, a drop ends one, and a move (a bitwise copy: the flush moves the
/// payloads of a memtable without tombstones into its segment, R8) keeps
/// it. Cloning an ended copy — reading a payload dropped under its reader —
/// or dropping one twice panics.
#[derive(Debug)]
pub struct Tracked {
    /// The record's id.
    pub id: Id,
    copy: u64,
    ledger: std::sync::Arc<Ledger>,
}

impl Clone for Tracked {
    fn clone(&self) -> Self {
        let ended = self.ledger.ended.lock().unwrap().contains(&self.copy);
        assert!(!ended, "payload {} read after its copy {} was dropped", self.id, self.copy);
        Tracked { id: self.id, copy: self.ledger.new_copy(), ledger: self.ledger.clone() }
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return; // a report is unwinding: leave the ledger as it was
        }
        let first = self.ledger.ended.lock().unwrap().insert(self.copy);
        assert!(first, "payload {}: its copy {} dropped twice", self.id, self.copy);
        self.ledger.live.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// One write, as issued by a thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `append(ts, id)`.
    Append { ts: Ts, id: Id },
    /// `delete_range(t1, t2)`.
    Delete { t1: Ts, t2: Ts },
}

/// What one snapshot showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// Index of the writer thread that took it (its writes before the
    /// snapshot are in its prefix, its later ones are not), or `None`.
    pub thread: Option<usize>,
    /// How many of that thread's writes had returned when it was taken.
    pub own_done: usize,
    /// The snapshot's watermark.
    pub w: u64,
    /// Every visible record, ascending (equal timestamps in write order).
    pub view: Vec<(Ts, Id)>,
}

/// The view a prefix of the write order produces (R5, R7): a record is
/// hidden by a later delete that covers it; equal timestamps keep order.
pub fn apply(prefix: &[Op]) -> Vec<(Ts, Id)> {
    let mut recs: Vec<(Ts, usize, Id)> = Vec::new();
    for (seq, op) in prefix.iter().enumerate() {
        match *op {
            Op::Append { ts, id } => recs.push((ts, seq, id)),
            Op::Delete { t1, t2 } => recs.retain(|r| !(t1 <= r.0 && r.0 < t2)),
        }
    }
    recs.sort_by_key(|r| (r.0, r.1));
    recs.into_iter().map(|r| (r.0, r.2)).collect()
}

/// Exact oracle for small histories: searches for one interleaving of the
/// threads' writes (in program order) such that every observation equals
/// `apply(order[..w])` and a thread's own snapshot holds exactly its writes
/// that returned before it. Exponential: for loom-sized scenarios.
pub fn check_linearizable(threads: &[Vec<Op>], obs: &[Observed]) -> Result<(), String> {
    let total: usize = threads.iter().map(Vec::len).sum();
    if let Some(o) = obs.iter().find(|o| o.w as usize > total) {
        return Err(report("watermark above the number of writes", threads, obs, o));
    }
    let mut pos = vec![0usize; threads.len()];
    let mut order = Vec::with_capacity(total);
    if dfs(threads, obs, &mut pos, &mut order, total) {
        Ok(())
    } else {
        let at = obs.iter().max_by_key(|o| o.w).expect("with no snapshot, any order works");
        Err(report("no single write order explains every snapshot", threads, obs, at))
    }
}

fn prefix_ok(obs: &[Observed], pos: &[usize], order: &[Op]) -> bool {
    let len = order.len() as u64;
    let mut view = None;
    for o in obs.iter().filter(|o| o.w == len) {
        if let Some(t) = o.thread {
            if pos[t] != o.own_done {
                return false;
            }
        }
        let v = view.get_or_insert_with(|| apply(order));
        if *v != o.view {
            return false;
        }
    }
    // A thread's snapshot with a larger watermark must not come before
    // writes of that thread that had returned.
    obs.iter().all(|o| match o.thread {
        Some(t) if o.w > len => pos[t] <= o.own_done,
        _ => true,
    })
}

fn dfs(threads: &[Vec<Op>], obs: &[Observed], pos: &mut Vec<usize>, order: &mut Vec<Op>, total: usize) -> bool {
    if !prefix_ok(obs, pos, order) {
        return false;
    }
    if order.len() == total {
        return true;
    }
    for t in 0..threads.len() {
        if pos[t] < threads[t].len() {
            order.push(threads[t][pos[t]]);
            pos[t] += 1;
            let ok = dfs(threads, obs, pos, order, total);
            pos[t] -= 1;
            order.pop();
            if ok {
                return true;
            }
        }
    }
    false
}

/// Width of a shuttle writer's lane: writer `t` writes only timestamps in
/// `t * LANE .. (t + 1) * LANE` (see [`check_lanes`]).
pub const LANE: Ts = 1000;

/// The lane of `ts`: the writer thread that may write it ([`check_lanes`]).
pub fn lane(ts: Ts) -> usize {
    (ts / LANE) as usize
}

/// Oracle for larger (shuttle) histories where each writer thread `t` only
/// touches its own *lane* of timestamps (`lane(ts) == t`, deletes included),
/// so a view splits into one independent part per thread. Each snapshot
/// then needs, per thread, a count `k_t` of its writes with
/// `apply(ops_t[..k_t]) == view_t`, `sum k_t == w`, and the count vectors of
/// all snapshots must grow together with `w` (prefixes of one order).
pub fn check_lanes(threads: &[Vec<Op>], obs: &[Observed], lane: impl Fn(Ts) -> usize) -> Result<(), String> {
    let n = threads.len();
    let total: usize = threads.iter().map(Vec::len).sum();
    // Per thread, the views of every prefix.
    let prefixes: Vec<Vec<Vec<(Ts, Id)>>> =
        threads.iter().map(|ops| (0..=ops.len()).map(|k| apply(&ops[..k])).collect()).collect();
    let mut sorted: Vec<&Observed> = obs.iter().collect();
    sorted.sort_by_key(|o| o.w);
    let mut frontier: Option<HashSet<Vec<usize>>> = None;
    for o in sorted {
        if o.w as usize > total {
            return Err(report("watermark above the number of writes", threads, obs, o));
        }
        let mut parts: Vec<Vec<(Ts, Id)>> = vec![Vec::new(); n];
        for &(ts, id) in &o.view {
            let t = lane(ts);
            if t >= n {
                return Err(report("record outside every lane", threads, obs, o));
            }
            parts[t].push((ts, id));
        }
        let mut cands: Vec<Vec<usize>> = Vec::with_capacity(n);
        for t in 0..n {
            let mut c: Vec<usize> = (0..=threads[t].len()).filter(|&k| prefixes[t][k] == parts[t]).collect();
            if o.thread == Some(t) {
                c.retain(|&k| k == o.own_done);
            }
            if c.is_empty() {
                return Err(report(&format!("thread {t}'s part is no prefix of its writes"), threads, obs, o));
            }
            cands.push(c);
        }
        let mut combos = Vec::new();
        combine(&cands, 0, &mut Vec::new(), o.w as usize, &mut combos);
        let next: HashSet<Vec<usize>> = match &frontier {
            None => combos.into_iter().collect(),
            Some(prev) => {
                combos.into_iter().filter(|v| prev.iter().any(|u| u.iter().zip(v).all(|(a, b)| a <= b))).collect()
            }
        };
        if next.is_empty() {
            return Err(report("no single write order explains every snapshot", threads, obs, o));
        }
        frontier = Some(next);
    }
    Ok(())
}

fn combine(cands: &[Vec<usize>], t: usize, cur: &mut Vec<usize>, left: usize, out: &mut Vec<Vec<usize>>) {
    if t == cands.len() {
        if left == 0 {
            out.push(cur.clone());
        }
        return;
    }
    for &k in &cands[t] {
        if k <= left {
            cur.push(k);
            combine(cands, t + 1, cur, left - k, out);
            cur.pop();
        }
    }
}

fn report(what: &str, threads: &[Vec<Op>], obs: &[Observed], at: &Observed) -> String {
    let mut s = format!("snapshot consistency violated: {what}\n  at: {at:?}\n  writes per thread:\n");
    for (t, ops) in threads.iter().enumerate() {
        let _ = writeln!(s, "    {t}: {ops:?}");
    }
    s.push_str("  snapshots:\n");
    for o in obs {
        let _ = writeln!(s, "    {o:?}");
    }
    s
}

/// Reads everything a snapshot shows through every read path and checks
/// that they agree (cursor both ways, count, min/max, point reads), then
/// returns the ascending view.
pub fn read_view(s: &timelog::Snapshot<Id>) -> Vec<(Ts, Id)> {
    let view: Vec<(Ts, Id)> = s.all(timelog::Order::Asc).collect();
    let mut desc: Vec<(Ts, Id)> = s.all(timelog::Order::Desc).collect();
    desc.reverse();
    // Descending order reverses equal timestamps too.
    assert_eq!(view, desc, "descending cursor disagrees with ascending");
    assert_eq!(s.len(), view.len(), "count disagrees with cursor");
    assert_eq!(s.min_ts(), view.first().map(|r| r.0), "min_ts disagrees with cursor");
    assert_eq!(s.max_ts(), view.last().map(|r| r.0), "max_ts disagrees with cursor");
    if let Some(&(ts, _)) = view.first() {
        let mut at = Vec::new();
        s.point_with(ts, |v| at.push(*v));
        let expect: Vec<Id> = view.iter().filter(|r| r.0 == ts).map(|r| r.1).collect();
        assert_eq!(at, expect, "point read disagrees with cursor");
    }
    view
}

/// What one one-shot read returned (read with its view's watermark through
/// the model-only twins `Timelog::model_len`, `model_next_ts`,
/// `model_point`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OneShot {
    /// `len()`.
    Len(usize),
    /// `next_ts(t)`: the smallest visible timestamp `> t`.
    NextTs(Ts, Option<Ts>),
    /// `point(ts)`: the payloads at `ts`, in write order.
    Point(Ts, Vec<Id>),
}

/// Checks a one-shot read with watermark `w` against the view of the first
/// `w` writes of `order` (R5: exactly a prefix; the single-writer form of
/// the snapshot oracle).
pub fn check_one_shot(order: &[Op], w: u64, r: &OneShot) -> Result<(), String> {
    check_one_shot_in(order, w, w, r)
}

/// Checks a one-shot read made between two loads of the watermark,
/// `lo <= hi`, against the views of the prefixes of `order` of every length
/// in `[lo, hi]`: one of them must match (R15: a read that skips the
/// watermark reads some state between the two).
pub fn check_one_shot_in(order: &[Op], lo: u64, hi: u64, r: &OneShot) -> Result<(), String> {
    let mut last = Err(String::new());
    for w in lo..=hi {
        last = check_one_shot_at(order, w, r);
        if last.is_ok() {
            return last;
        }
    }
    if lo < hi {
        return Err(format!("no watermark in [{lo}, {hi}] explains the read: {}", last.unwrap_err()));
    }
    last
}

/// [`check_one_shot_in`] for writes of several threads: `prefix` (written
/// before any of them started), then `lanes` (each thread's writes in
/// program order) in some interleaving — one interleaving must explain the
/// read. Exponential in the lanes' lengths: for a few writes.
pub fn check_one_shot_lanes(prefix: &[Op], lanes: &[Vec<Op>], lo: u64, hi: u64, r: &OneShot) -> Result<(), String> {
    fn go(order: &mut Vec<Op>, lanes: &[Vec<Op>], pos: &mut [usize], f: &mut dyn FnMut(&[Op]) -> bool) -> bool {
        if pos.iter().zip(lanes).all(|(&p, l)| p == l.len()) {
            return f(order);
        }
        for i in 0..lanes.len() {
            if pos[i] < lanes[i].len() {
                order.push(lanes[i][pos[i]]);
                pos[i] += 1;
                let found = go(order, lanes, pos, f);
                pos[i] -= 1;
                order.pop();
                if found {
                    return true;
                }
            }
        }
        false
    }
    let mut last = String::new();
    let mut order = prefix.to_vec();
    let found = go(&mut order, lanes, &mut vec![0; lanes.len()], &mut |o| match check_one_shot_in(o, lo, hi, r) {
        Ok(()) => true,
        Err(e) => {
            last = e;
            false
        }
    });
    if found {
        Ok(())
    } else {
        Err(format!("no interleaving of the threads' writes explains the read: {last}"))
    }
}

fn check_one_shot_at(order: &[Op], w: u64, r: &OneShot) -> Result<(), String> {
    if w as usize > order.len() {
        return Err(format!("one-shot read: watermark {w} above the number of writes {}", order.len()));
    }
    let view = apply(&order[..w as usize]);
    let expect = match r {
        OneShot::Len(_) => OneShot::Len(view.len()),
        OneShot::NextTs(t, _) => OneShot::NextTs(*t, view.iter().map(|r| r.0).find(|&ts| ts > *t)),
        OneShot::Point(ts, _) => OneShot::Point(*ts, view.iter().filter(|r| r.0 == *ts).map(|r| r.1).collect()),
    };
    if *r == expect {
        Ok(())
    } else {
        Err(format!(
            "snapshot consistency violated by a one-shot read at watermark {w}: got {r:?}, the prefix shows {expect:?}\n  writes: {order:?}"
        ))
    }
}

/// Takes a snapshot and reads it ([`read_view`]).
pub fn observe(
    log: &timelog::Timelog<Id>,
    thread: Option<usize>,
    own_done: usize,
) -> (timelog::Snapshot<Id>, Observed) {
    let s = log.snapshot().expect("log is open");
    let view = read_view(&s);
    let o = Observed { thread, own_done, w: s.watermark(), view };
    (s, o)
}

/// The configuration of the model scenarios: no background worker
/// (maintenance is driven from model threads), no busy status, and a
/// memtable that seals after `memtable_max_bytes` (24 bytes per `u64`
/// record, 64 per tombstone; the page size shrinks under the checker cfgs).
pub fn model_config(memtable_max_bytes: usize) -> timelog::Config {
    timelog::Config {
        maintenance: timelog::MaintenanceMode::Disabled,
        busy_policy: timelog::BusyPolicy::Silent,
        memtable_max_bytes,
        sealed_max_runs: 1000,
        ..timelog::Config::default()
    }
}

/// [`model_config`] with the [`BitwisePayloads`](timelog::BitwisePayloads)
/// promise, so that a flush without tombstones moves its payloads (R8,
/// "payloads move"): for [`Tracked`] payloads, whose fields no `&Tracked`
/// changes (the ledger is behind an `Arc`).
pub fn moving_config(memtable_max_bytes: usize) -> timelog::Config {
    // SAFETY: `BitwisePayloads::promise`'s contract, for the `Tracked`
    // payloads of the scenarios that use this: an id, a copy number and an
    // `Arc`, none changed through a `&Tracked`.
    let promise = unsafe { timelog::BitwisePayloads::promise() };
    timelog::Config { bitwise_payloads: Some(promise), ..model_config(memtable_max_bytes) }
}

/// Bytes one `u64` record adds to a memtable (seal accounting).
pub const RECORD_BYTES: usize = 24;

/// Shorthand for an append in a history.
pub fn app(ts: Ts, id: Id) -> Op {
    Op::Append { ts, id }
}

/// Appends `id` at `ts`; panics on error (a committed `Busy` is fine).
pub fn append(log: &timelog::Timelog<Id>, ts: Ts, id: Id) {
    let _committed = log.append(ts, id).expect("append");
}

/// Deletes `[t1, t2)`; panics on error.
pub fn delete(log: &timelog::Timelog<Id>, t1: Ts, t2: Ts) {
    let _committed = log.delete_range(t1, t2).expect("delete");
}

/// The final check of a scenario, after every thread joined: the log holds
/// exactly every write, its invariants hold, and the observations are
/// prefixes of one write order (exact oracle).
pub fn finish(log: &timelog::Timelog<Id>, threads: &[Vec<Op>], obs: Vec<Observed>) {
    finish_with(log, threads, obs, check_linearizable);
}

/// [`finish`] with the lane oracle ([`check_lanes`] by [`lane`]) instead of
/// the exact one: for the shuttle scenarios, whose histories are too long
/// to enumerate.
pub fn finish_lanes(log: &timelog::Timelog<Id>, threads: &[Vec<Op>], obs: Vec<Observed>) {
    finish_with(log, threads, obs, |t, o| check_lanes(t, o, lane));
}

fn finish_with(
    log: &timelog::Timelog<Id>,
    threads: &[Vec<Op>],
    mut obs: Vec<Observed>,
    check: impl Fn(&[Vec<Op>], &[Observed]) -> Result<(), String>,
) {
    let total: usize = threads.iter().map(Vec::len).sum();
    // R9 (Parking): no publication leaves a snapshot of a manifest it
    // replaced in a park. Checked before the final observation, whose
    // snapshot would take (and free) a stale one on this thread's stripe.
    assert_eq!(log.parked_stale(), 0, "a parked snapshot keeps a replaced manifest (R9, Parking)");
    let (_s, last) = observe(log, None, 0);
    assert_eq!(last.w as usize, total, "every write is visible once all writers returned");
    obs.push(last);
    if let Err(e) = check(threads, &obs) {
        panic!("{e}");
    }
    log.validate().expect("engine invariants");
}

/// Collects observations from model threads (a plain std mutex: held for a
/// push only, never across a model-checked operation).
#[derive(Debug, Default)]
pub struct Journal(std::sync::Mutex<Vec<Observed>>);

impl Journal {
    pub fn push(&self, o: Observed) {
        self.0.lock().unwrap().push(o);
    }
    pub fn take(&self) -> Vec<Observed> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[cfg(any(timelog_loom, timelog_shuttle))]
fn report_line(tool: &str, name: &str, execs: usize, secs: f64, detail: &str) {
    // One line per scenario; run.sh sums them up.
    eprintln!("[verification] {tool} scenario={name} schedules={execs} secs={secs:.2} {detail}");
}

/// Runs a loom model (bounded by `LOOM_MAX_PREEMPTIONS`, default 3) and
/// reports how many executions it explored.
#[cfg(timelog_loom)]
pub fn loom_model<F: Fn() + Sync + Send + 'static>(name: &str, f: F) {
    loom_model_min(name, 0, f)
}

/// Like [`loom_model`], with a preemption bound of at least `min`: for the
/// few small scenarios whose bug needs more preemptions than CI's bound.
#[cfg(timelog_loom)]
pub fn loom_model_min<F: Fn() + Sync + Send + 'static>(name: &str, min: usize, f: F) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(b.preemption_bound.unwrap_or(3).max(min));
    b.max_branches = b.max_branches.max(100_000);
    let n = Arc::new(AtomicUsize::new(0));
    let n2 = n.clone();
    let t0 = std::time::Instant::now();
    b.check(move || {
        n2.fetch_add(1, Ordering::Relaxed);
        f();
    });
    let detail = format!("preemptions={}", b.preemption_bound.unwrap_or(0));
    report_line("loom", name, n.load(Ordering::Relaxed), t0.elapsed().as_secs_f64(), &detail);
}

/// Joins shuttle writer threads that return their history and their
/// observations (a `Vec`, or an array of one): the histories, in thread
/// order, and every observation.
#[cfg(timelog_shuttle)]
pub fn join_writers<O: IntoIterator<Item = Observed>>(
    writers: Vec<shuttle::thread::JoinHandle<(Vec<Op>, O)>>,
) -> (Vec<Vec<Op>>, Vec<Observed>) {
    let mut histories = Vec::new();
    let mut obs = Vec::new();
    for w in writers {
        let (h, o) = w.join().unwrap();
        histories.push(h);
        obs.extend(o);
    }
    (histories, obs)
}

/// Schedules per shuttle scheduler: `TIMELOG_SHUTTLE_SCHEDULES` (default
/// `default`).
#[cfg(timelog_shuttle)]
pub fn shuttle_schedules(default: usize) -> usize {
    std::env::var("TIMELOG_SHUTTLE_SCHEDULES").ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs a shuttle test under the random scheduler and under PCT (depth 3),
/// `iters` schedules each, and reports the total.
#[cfg(timelog_shuttle)]
pub fn shuttle_check<F: Fn() + Send + Sync + 'static>(name: &str, iters: usize, f: F) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let n = Arc::new(AtomicUsize::new(0));
    let f = Arc::new(f);
    let t0 = std::time::Instant::now();
    // A failing schedule that shuttle printed, replayed exactly (e.g.
    // `TIMELOG_SHUTTLE_REPLAY="$(cat verification/replays/NAME.txt)"` with
    // the test that printed it; docs/verification.md).
    if let Ok(sched) = std::env::var("TIMELOG_SHUTTLE_REPLAY") {
        let f = f.clone();
        shuttle::replay(move || f(), sched.trim());
        return;
    }
    {
        let (n, f) = (n.clone(), f.clone());
        shuttle::check_random(
            move || {
                n.fetch_add(1, Ordering::Relaxed);
                f()
            },
            iters,
        );
    }
    {
        let (n, f) = (n.clone(), f.clone());
        shuttle::check_pct(
            move || {
                n.fetch_add(1, Ordering::Relaxed);
                f()
            },
            iters,
            3,
        );
    }
    report_line("shuttle", name, n.load(Ordering::Relaxed), t0.elapsed().as_secs_f64(), "schedulers=random+pct(3)");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(ts: Ts, id: Id) -> Op {
        Op::Append { ts, id }
    }

    #[test]
    fn apply_hides_older_records_only() {
        let ops = [a(1, 1), Op::Delete { t1: 0, t2: 5 }, a(1, 2), a(9, 3)];
        assert_eq!(apply(&ops), vec![(1, 2), (9, 3)]);
        assert_eq!(apply(&ops[..2]), vec![]);
    }

    #[test]
    fn linearizable_accepts_prefixes_and_rejects_gaps() {
        let threads = vec![vec![a(1, 1), a(2, 2)], vec![a(3, 3)]];
        let ok = Observed { thread: None, own_done: 0, w: 2, view: vec![(1, 1), (3, 3)] };
        assert!(check_linearizable(&threads, std::slice::from_ref(&ok)).is_ok());
        let gap = Observed { thread: None, own_done: 0, w: 2, view: vec![(2, 2), (3, 3)] };
        assert!(check_linearizable(&threads, &[gap]).is_err());
        let short = Observed { thread: None, own_done: 0, w: 2, view: vec![(1, 1)] };
        assert!(check_linearizable(&threads, &[short]).is_err());
        // Two snapshots must be prefixes of the same order.
        let other = Observed { thread: None, own_done: 0, w: 1, view: vec![(1, 1)] };
        assert!(check_linearizable(&threads, &[ok.clone(), other]).is_ok());
        let clash = Observed { thread: None, own_done: 0, w: 1, view: vec![(3, 3)] };
        let ok2 = Observed { thread: None, own_done: 0, w: 2, view: vec![(1, 1), (2, 2)] };
        assert!(check_linearizable(&threads, &[ok2, clash]).is_err());
        // Own writes: a thread's snapshot holds exactly the writes it finished.
        let own = Observed { thread: Some(1), own_done: 0, w: 1, view: vec![(3, 3)] };
        assert!(check_linearizable(&threads, &[own]).is_err());
    }

    #[test]
    fn one_shot_reads_match_their_prefix() {
        let order = [a(1, 1), a(2, 2)];
        assert!(check_one_shot(&order, 1, &OneShot::Len(1)).is_ok());
        assert!(check_one_shot(&order, 2, &OneShot::Len(1)).is_err(), "a watermark that claims a write it missed");
        assert!(check_one_shot(&order, 2, &OneShot::NextTs(1, Some(2))).is_ok());
        assert!(check_one_shot(&order, 1, &OneShot::NextTs(1, Some(2))).is_err());
        assert!(check_one_shot(&order, 1, &OneShot::Point(2, vec![])).is_ok());
        assert!(check_one_shot(&order, 2, &OneShot::Point(2, vec![])).is_err());
        assert!(check_one_shot(&order, 3, &OneShot::Len(2)).is_err(), "watermark above the writes");
    }

    #[test]
    fn lanes_agree_with_the_exact_oracle() {
        let lane = |ts: Ts| (ts / 100) as usize;
        let threads = vec![vec![a(1, 1), Op::Delete { t1: 0, t2: 100 }, a(2, 2)], vec![a(101, 3), a(102, 4)]];
        let o1 = Observed { thread: None, own_done: 0, w: 2, view: vec![(1, 1), (101, 3)] };
        let o2 = Observed { thread: None, own_done: 0, w: 4, view: vec![(101, 3), (102, 4)] };
        let o3 = Observed { thread: None, own_done: 0, w: 5, view: vec![(2, 2), (101, 3), (102, 4)] };
        let all = [o1.clone(), o2.clone(), o3.clone()];
        assert!(check_lanes(&threads, &all, lane).is_ok());
        assert!(check_linearizable(&threads, &all).is_ok());
        // Three writes cannot show both of thread 1's and none of thread 0's.
        let odd = Observed { thread: None, own_done: 0, w: 3, view: vec![(101, 3), (102, 4)] };
        assert!(check_lanes(&threads, std::slice::from_ref(&odd), lane).is_err());
        assert!(check_linearizable(&threads, &[odd]).is_err());
        // A later snapshot cannot undo a delete an earlier one saw.
        let back = Observed { thread: None, own_done: 0, w: 4, view: vec![(1, 1), (101, 3), (102, 4)] };
        let bad = [o1, o2, back];
        assert!(check_lanes(&threads, &bad, lane).is_err());
        assert!(check_linearizable(&threads, &bad).is_err());
    }
}
