//! The core against synthetic instants: no runtime, no clock, no sleeping.
use super::super::config::Rate;
use super::super::gradual::GradualPlan;
use super::*;
use proptest::prelude::*;
use tokio::sync::oneshot;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn per_second(rate: u64) -> ThrottleConfig {
    ThrottleConfig::new(Rate::Finite(rate), 1000)
}

/// A state with `users` requests always queued, driven by hand.
struct Sim {
    st: State,
    t0: Instant,
    now: Instant,
    waiting: Vec<oneshot::Receiver<Delivery>>,
    got: Vec<Grant>,
    rates: Vec<(Instant, Report)>,
}

impl Sim {
    fn new(cfg: ThrottleConfig) -> Sim {
        let t0 = Instant::now();
        Sim {
            st: State::new(cfg, t0, Arc::default(), 1 << 30, Duration::from_secs(3600)),
            t0,
            now: t0,
            waiting: Vec::new(),
            got: Vec::new(),
            rates: Vec::new(),
        }
    }

    fn request(&mut self) {
        if let Some(g) = self.st.admit_now(self.now, false) {
            self.record(g);
            return;
        }
        let (tx, rx) = oneshot::channel();
        let mut fx = Effects::default();
        self.st
            .push(Waiter { tx, counted: false }, self.now, &mut fx);
        self.waiting.push(rx);
    }

    fn record(&mut self, g: Grant) {
        self.got.push(g);
    }

    fn collect(&mut self, fx: Effects) {
        for item in fx.items {
            if let Fx::Rate(r) = item {
                self.rates.push((self.now, r));
            }
        }
        let mut still = Vec::new();
        for mut rx in std::mem::take(&mut self.waiting) {
            match rx.try_recv() {
                Ok(Ok(g)) => self.record(g),
                Ok(Err(e)) => panic!("unexpected {e}"),
                Err(_) => still.push(rx),
            }
        }
        self.waiting = still;
    }

    /// Whether requests pass at once (`infinity`, running): users then stop re-requesting.
    fn open(&self) -> bool {
        self.st.config.rate == Rate::Infinity && self.st.releasing()
    }

    /// Runs the scheduler's loop until `until` (ms since `t0`), keeping `users` queued
    /// (except at `infinity`, where they would never stop).
    fn run(&mut self, users: usize, until: u64) {
        let end = self.t0 + ms(until);
        loop {
            while self.waiting.len() < users && !self.open() {
                self.request();
            }
            let mut fx = Effects::default();
            self.st.advance_ramp(self.now, &mut fx);
            self.st.pump(self.now, &mut fx);
            self.collect(fx);
            if self.waiting.len() < users && !self.open() {
                continue;
            }
            match self.st.deadline() {
                Some(d) if d < end => self.now = d.max(self.now),
                _ => break,
            }
        }
        self.now = end;
    }

    fn at(&mut self, t: u64, f: impl FnOnce(&mut State, Instant, &mut Effects)) {
        self.now = self.t0 + ms(t);
        let mut fx = Effects::default();
        f(&mut self.st, self.now, &mut fx);
        self.collect(fx);
    }

    fn released_from(&self, t: u128) -> Vec<u128> {
        self.got
            .iter()
            .map(|g| g.released.duration_since(self.t0).as_millis())
            .filter(|r| *r >= t)
            .collect()
    }
}

#[test]
fn slot_times_are_exact_and_never_drift() {
    let t0 = Instant::now();
    let ns = |k, rate, interval_ms: u64| {
        slot_time(t0, k, rate, u128::from(interval_ms) * 1_000_000)
            .map(|t| t.duration_since(t0).as_nanos())
    };
    // 7 per second: ⌈k · 10^9 / 7⌉ ns; after 7 million releases exactly 10^6 s.
    assert_eq!(ns(1, 7, 1000), Some(142_857_143));
    assert_eq!(ns(7_000_000, 7, 1000), Some(1_000_000 * 1_000_000_000));
    // 200,000 per second: 5 µs apart.
    assert_eq!(ns(3, 200_000, 1000), Some(15_000));
    // Beyond any representable instant: never, not a panic.
    assert_eq!(ns(u64::MAX, 1, u64::MAX), None);
}

#[test]
fn a_decrease_follows_the_new_rate_from_the_change_on() {
    let mut s = Sim::new(per_second(100));
    s.run(5, 995);
    s.at(995, |st, now, fx| {
        st.apply_config(per_second(50), now, fx, false);
    });
    s.run(5, 3000);
    let want: Vec<u128> = (0..100).map(|i| 1010 + 20 * i).collect();
    assert_eq!(s.released_from(995), want);
    assert_eq!(s.rates.len(), 1);
}

#[test]
fn an_increase_and_a_resume_restart_from_the_last_release() {
    let mut s = Sim::new(per_second(2));
    s.run(3, 1200);
    // Releases at 0, 500, 1000; at 1200, 10/s: the next at 1000 + 100 → now (1200).
    s.at(1200, |st, now, fx| {
        st.apply_config(per_second(10), now, fx, false);
    });
    s.run(3, 1450);
    assert_eq!(s.released_from(0), [0, 500, 1000, 1200, 1300, 1400]);
    s.at(1450, |st, now, fx| {
        st.pause(now, fx);
    });
    s.run(3, 5000);
    assert_eq!(
        s.released_from(1450),
        [] as [u128; 0],
        "nothing while paused"
    );
    s.at(5000, |st, now, fx| {
        st.resume(now, fx);
    });
    s.run(3, 5250);
    assert_eq!(s.released_from(1450), [5000, 5100, 5200]);
    let paused: Vec<bool> = s.rates.iter().map(|r| r.1.paused).collect();
    assert_eq!(paused, [false, true, false]);
}

#[test]
fn a_late_scheduler_never_puts_more_than_the_rate_in_an_interval() {
    let mut s = Sim::new(per_second(10));
    s.run(20, 1000);
    // The scheduler wakes 450 ms late: slots 1000..1400 fell due together.
    s.now = s.t0 + ms(1450);
    s.run(20, 3000);
    let rel = s.released_from(0);
    for (i, r) in rel.iter().enumerate() {
        let n = rel[i..].iter().take_while(|x| **x < r + 1000).count();
        assert!(n <= 10, "window from {r} ms holds {n}: {rel:?}");
    }
    // The slots that fell due (1000..=1400) go at once, as the window allows, then on time.
    assert_eq!(&rel[10..17], [1450, 1450, 1450, 1450, 1450, 1500, 1600]);
}

#[test]
fn a_ramp_replaced_and_a_decreasing_ramp_step() {
    let mut s = Sim::new(per_second(100));
    s.run(5, 500);
    let plan = GradualPlan {
        from: 100,
        to: 10,
        steps: 3,
        interval_ms: 1000,
        step_interval_ms: 1000,
    };
    s.at(500, |st, now, fx| {
        assert!(st.start_ramp(plan, now, fx).is_none());
    });
    assert_eq!(s.rates.last().map(|r| r.1.ramp), Some(Some((10, 3000))));
    s.run(5, 1700);
    // The step to 70/s at 1500 ms: the next release one new period (14.29 ms) after the
    // last (1490), and so on.
    let after: Vec<u128> = s.released_from(1490);
    assert_eq!(&after[..4], [1490, 1504, 1518, 1532]);
    let replaced = s.at_ramp(1700, plan);
    assert_eq!(replaced.map(|r| r.idx), Some(1));
}

impl Sim {
    fn at_ramp(&mut self, t: u64, plan: GradualPlan) -> Option<Ramp> {
        let mut out = None;
        self.at(t, |st, now, fx| out = st.start_ramp(plan, now, fx));
        out
    }
}

#[test]
fn catch_up_owes_what_came_due_and_drops_beyond_its_bound() {
    let mut s = Sim::new(per_second(10).catch_up(4));
    s.run(0, 1000);
    let now = s.now;
    assert_eq!(s.st.overdue(now), 4);
    s.request();
    s.request();
    let got: Vec<_> = s
        .got
        .iter()
        .map(|g| (g.released - s.t0, g.scheduled - s.t0))
        .collect();
    assert_eq!(got, [(ms(1000), ms(700)), (ms(1000), ms(800))]);
    assert_eq!(s.st.report(now).overdue, Some(2));
    // Rate 0 holds, and owes nothing.
    s.at(1000, |st, now, fx| {
        st.apply_config(per_second(0), now, fx, false);
    });
    assert_eq!(s.st.overdue(now + ms(5000)), 0);
}

#[test]
fn counted_grants_hold_a_parallel_place_until_returned() {
    let in_flight = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut st = State::new(
        ThrottleConfig::new(Rate::Finite(2), 0),
        t0,
        in_flight.clone(),
        100,
        Duration::from_secs(60),
    );
    assert!(st.admit_now(t0, true).is_some());
    assert!(st.admit_now(t0, true).is_some());
    assert_eq!(st.admit_now(t0, true), None);
    let (tx, mut rx) = oneshot::channel();
    let mut fx = Effects::default();
    st.push(Waiter { tx, counted: true }, t0, &mut fx);
    st.pump(t0, &mut fx);
    assert!(rx.try_recv().is_err(), "both places are taken");
    in_flight.fetch_sub(1, Ordering::SeqCst);
    st.pump(t0 + ms(3), &mut fx);
    let g = rx.try_recv().ok().and_then(Result::ok);
    assert_eq!(g.map(|g| (g.counted, g.released)), Some((true, t0 + ms(3))));
    assert_eq!(in_flight.load(Ordering::SeqCst), 2);
}

#[derive(Clone, Copy, Debug)]
enum Change {
    /// Per second.
    Rate(u64),
    Infinity,
    Pause,
    Resume,
    /// From the rate in force (or 100 at infinity) to `to` per second.
    Ramp {
        to: u64,
        steps: u64,
        step_ms: u64,
    },
    Cancel,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Paced(u64),
    Nothing,
    AtOnce,
}

fn expect(r: &Report) -> Expect {
    match (r.paused, r.config.rate) {
        (true, _) | (false, Rate::Finite(0)) => Expect::Nothing,
        (false, Rate::Infinity) => Expect::AtOnce,
        (false, Rate::Finite(n)) => Expect::Paced(n),
    }
}

fn apply(st: &mut State, c: Change, now: Instant, fx: &mut Effects) {
    match c {
        Change::Rate(r) => {
            st.ramp = None;
            st.apply_config(per_second(r), now, fx, false);
        }
        Change::Infinity => {
            st.ramp = None;
            let cfg = ThrottleConfig::new(Rate::Infinity, 1000);
            st.apply_config(cfg, now, fx, false);
        }
        Change::Pause => {
            st.pause(now, fx);
        }
        Change::Resume => {
            st.resume(now, fx);
        }
        Change::Ramp { to, steps, step_ms } => {
            let from = match st.config.rate {
                Rate::Finite(r) => r,
                Rate::Infinity => 100,
            };
            let plan = GradualPlan {
                from,
                to,
                steps,
                interval_ms: 1000,
                step_interval_ms: step_ms,
            };
            st.start_ramp(plan, now, fx);
        }
        Change::Cancel => {
            if st.ramp.take().is_some() {
                fx.items.push(Fx::Rate(st.report(now)));
            }
        }
    }
}

/// Checks one stretch `[from, to)` of a paced rate: exact instants, released on time.
fn check_paced(rate: u64, from: Instant, to: Instant, rel: &[Grant]) -> Result<(), String> {
    let second = 1_000_000_000u128;
    let (lo, hi) = (second / u128::from(rate), second.div_ceil(u128::from(rate)));
    let mut prev = from;
    for (i, g) in rel.iter().enumerate() {
        if g.released != g.scheduled {
            return Err(format!("release {i} is late: {g:?}"));
        }
        let gap = g.scheduled.saturating_duration_since(prev).as_nanos();
        if g.scheduled < from || gap > hi || (i > 0 && gap < lo) {
            return Err(format!(
                "gap of {gap} ns before release {i} (not {lo}..={hi})"
            ));
        }
        prev = g.scheduled;
        let n = rel[i..]
            .iter()
            .take_while(|x| x.released < g.released + Duration::from_secs(1))
            .count();
        if n as u64 > rate {
            return Err(format!("{n} in the second from release {i}"));
        }
    }
    if to.duration_since(prev).as_nanos() > hi {
        return Err(format!(
            "nothing for {:?} before the stretch ends",
            to - prev
        ));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Issue 12 item 1 on the pure core, ramps included (their steps are changes too):
    /// from every change on, releases come exactly at the new rate's instants.
    #[test]
    fn every_change_and_ramp_step_restarts_the_schedule_exactly(
        start in 1u64..=400,
        changes in prop::collection::vec(
            (
                prop_oneof![
                    4 => (0u64..=400).prop_map(Change::Rate),
                    1 => Just(Change::Infinity),
                    1 => Just(Change::Pause),
                    1 => Just(Change::Resume),
                    3 => (0u64..=400, 1u64..=12, 10u64..=400)
                        .prop_map(|(to, steps, step_ms)| Change::Ramp { to, steps, step_ms }),
                    1 => Just(Change::Cancel),
                ],
                1u64..=1500,
            ),
            1..8,
        ),
    ) {
        let users = 4;
        let mut s = Sim::new(per_second(start));
        let start_report = s.st.report(s.t0);
        s.rates.push((s.t0, start_report));
        let mut at = 0;
        for (c, gap) in &changes {
            at += gap;
            s.run(users, at);
            s.at(at, |st, now, fx| apply(st, *c, now, fx));
        }
        at += 2000;
        s.run(users, at);
        let end = s.now;
        // Stretches between the reports that changed what is expected.
        let mut stretches: Vec<(Instant, Expect)> = Vec::new();
        for (t, r) in &s.rates {
            let e = expect(r);
            if stretches.last().map(|x| x.1) != Some(e) {
                stretches.push((*t, e));
            }
        }
        stretches.push((end, Expect::Nothing));
        for w in stretches.windows(2) {
            let ((from, e), (to, _)) = (w[0], w[1]);
            let inside: Vec<Grant> = s
                .got
                .iter()
                .copied()
                .filter(|g| g.released >= from && g.released < to)
                .collect();
            let res = match e {
                Expect::Paced(r) => check_paced(r, from, to, &inside),
                Expect::Nothing if !inside.is_empty() => Err("released while held".into()),
                Expect::AtOnce if inside.iter().any(|g| g.released != g.scheduled) => {
                    Err("a request waited at infinity".into())
                }
                _ => Ok(()),
            };
            if let Err(msg) = res {
                prop_assert!(false, "{e:?} from {:?}: {msg}", from - s.t0);
            }
        }
    }
}
