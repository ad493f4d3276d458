//! Paired rounds, shared by the benchmarks that compare tracespool with a
//! peer in the same run: each round runs the two back to back on the same
//! threads (alternating which goes first), and the summary is the median
//! and quartiles of the per-round ratios of nanoseconds per span, which on
//! a noisy VM move far less than two figures taken seconds apart.
use std::time::Duration;

/// Runs `rounds` pairs; `ours` and `theirs` each run `iters` spans per
/// thread and return the elapsed time. Prints one line and returns the
/// median ratio.
pub fn paired_rounds(
    label: &str,
    (our_name, their_name): (&str, &str),
    rounds: usize,
    iters: u64,
    mut ours: impl FnMut() -> Duration,
    mut theirs: impl FnMut() -> Duration,
) -> f64 {
    let (mut ratios, mut a_ns, mut b_ns) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let (a, b) = if round % 2 == 0 {
            let a = ours();
            (a, theirs())
        } else {
            let b = theirs();
            (ours(), b)
        };
        let per = |d: Duration| d.as_nanos() as f64 / iters as f64;
        a_ns.push(per(a));
        b_ns.push(per(b));
        ratios.push(per(a) / per(b));
    }
    let q = |v: &mut Vec<f64>, p: f64| {
        v.sort_by(|x, y| x.total_cmp(y));
        v[((v.len() - 1) as f64 * p).round() as usize]
    };
    let median = q(&mut ratios, 0.5);
    eprintln!(
        "paired, {label}, {rounds} rounds: {our_name} {:.0} ns, {their_name} {:.0} ns per span (medians); \
         ratio median {median:.2} (quartiles {:.2}..{:.2})",
        q(&mut a_ns, 0.5),
        q(&mut b_ns, 0.5),
        q(&mut ratios, 0.25),
        q(&mut ratios, 0.75),
    );
    median
}

/// Warms both peers up (50,000 spans each, one thread), then runs 21
/// paired rounds of 200,000 spans on one thread and on two (100,000
/// each). `ours` and `theirs` run `iters` spans on each of `threads`
/// threads. Returns how many spans `theirs` started, for its drop report.
#[allow(dead_code)]
pub fn on_one_and_two_threads(
    names: (&str, &str),
    ours: impl Fn(usize, u64) -> Duration,
    theirs: impl Fn(usize, u64) -> Duration,
) -> u64 {
    ours(1, 50_000);
    theirs(1, 50_000);
    let mut started = 50_000;
    for threads in [1usize, 2] {
        let iters = 200_000 / threads as u64;
        paired_rounds(
            &format!("{threads} thread(s)"),
            names,
            21,
            iters,
            || ours(threads, iters),
            || theirs(threads, iters),
        );
        started += 21 * iters * threads as u64;
    }
    started
}
