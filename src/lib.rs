//! Rookery: a terminal monitor with an embedded Amoc-style load-testing engine.
//!
//! The engine ([`engine`]) runs *scenarios*: numbered virtual users on a simulated cluster of
//! nodes, held back by named *throttles*, grouped by *coordinators*, configured by declared
//! *settings*. Everything it does is a telemetry event ([`telemetry`], a port of Erlang's
//! `telemetry`) named as in [Amoc](https://github.com/esl/amoc); the monitor, the
//! recorder and the headless summary ([`eventlog`]) only read those events.
//!
//! # Writing your own load test
//!
//! A load test is a crate of your own that depends on `rookery` (and `tokio`), implements
//! [`Scenario`](engine::Scenario) and hands it to [`cli::main_with`]. It then has the whole
//! `rookery` command line: the monitor, `--headless` with the summary JSON, `--record` and
//! `replay`, `--set` / `--settings` / `--list-settings`:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use rookery::engine::{InitContext, Scenario, ScenarioError, UserContext, UserResult};
//! # use rookery::telemetry::Value;
//! # struct Shop;
//! # impl Scenario for Shop {
//! #     type State = ();
//! #     fn name(&self) -> &str { "shop" }
//! #     fn init(&self, _: &InitContext<'_>) -> Result<(), ScenarioError> { Ok(()) }
//! #     async fn start(&self, _: UserContext, _: Arc<()>) -> UserResult { Ok(Value::Null) }
//! # }
//! fn main() -> std::process::ExitCode {
//!     // `run` picks a scenario with `--scenario NAME`; without it, the first one.
//!     rookery::cli::main_with(vec![rookery::engine::boxed(Shop)])
//! }
//! ```
//!
//! ```text
//! cargo run --release                                   # the monitor (q quits)
//! cargo run --release -- run --headless --duration 30   # summary JSON on stdout
//! cargo run --release -- run --users 200 --record shop.jsonl.gz --set order_rate=500
//! cargo run --release -- replay shop.jsonl.gz           # watch it again
//! cargo run --release -- run --list-settings            # what can be set, and from where
//! ```
//!
//! `examples/http.rs` (a hyper server on loopback) and `examples/chat.rs` (paired users over
//! TCP) are complete load tests of real servers built this way.
//!
//! ## Scenarios
//!
//! A [`Scenario`](engine::Scenario) has Amoc's callbacks. [`init`](engine::Scenario::init)
//! runs once on each node when the scenario starts there and returns the state that node's
//! users share; it is where throttles and coordinators are started (every node runs it, so
//! the second node finds them running: accept `WrongReconfiguration` / `AlreadyStarted`).
//! [`start`](engine::Scenario::start) is one virtual user's whole life, its own tokio task; it
//! gets a [`UserContext`](engine::UserContext) (id, node, throttles, coordinators, settings,
//! emitter, the removal signal) and should return when
//! [`removed()`](engine::UserContext::removed) completes (or
//! [`removal_requested()`](engine::UserContext::removal_requested) turns true): a stop or a
//! forced removal asks users to leave and cancels those still running after a grace period
//! (2 s by default); a soft removal only asks. `Ok(value)` ends the
//! user's `[amoc, scenario, start, stop]` span with `return`; `Err` or a panic ends it with
//! `exception`, and the monitor counts a failure.
//!
//! ## Throttles
//!
//! Named throttles are cluster-wide ([`engine::throttle`]): `rate` releases per `interval_ms`,
//! evenly spaced, `infinity` for no limit, or interval `0` for "at most `rate` at once":
//!
//! ```
//! use std::time::Duration;
//! use rookery::engine::events::Emitter;
//! use rookery::engine::throttle::{Rate, ThrottleConfig, Throttles};
//! use rookery::telemetry::Telemetry;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! // In a scenario: `ctx.throttles()` in `init`, `user.throttles()` in `start`.
//! let throttles = Throttles::new(Emitter::new(Telemetry::new(), "node1"));
//! throttles.start("logins", ThrottleConfig::new(Rate::Finite(10), 1000)).unwrap(); // 10/s
//! let begin = tokio::time::Instant::now();
//! for _ in 0..11 {
//!     throttles.wait("logins").await.unwrap();
//! }
//! assert!(begin.elapsed() >= Duration::from_secs(1)); // the first passes at once
//!
//! // Interval 0: at most 2 permits out at once, each held until dropped.
//! throttles.start("db", ThrottleConfig::new(Rate::Finite(2), 0)).unwrap();
//! let result = throttles.run_async("db", async { 6 * 7 }).await.unwrap();
//! assert_eq!(result, 42);
//!
//! // Rates change while the test runs (a setting's update rule can do this).
//! throttles.change_rate("logins", ThrottleConfig::new(Rate::Infinity, 1000)).unwrap();
//! // In hot loops, a handle skips the name lookup.
//! let logins = throttles.handle("logins").unwrap();
//! logins.wait().await.unwrap();
//! # }
//! ```
//!
//! ## Coordinators
//!
//! A coordinator ([`engine::coordinator`]) collects the users that
//! [`add`](engine::coordinator::Coordinators::add) themselves and runs a [`Plan`]'s actions on
//! every full group: pairs that chat, rooms of ten. Leftovers are handed over on reset, on
//! timeout (after the last add) and on stop, with a missing partner as `None`. The module
//! docs have a standalone example; in a scenario, start it in `init` and add users in `start`,
//! as the full example below does.
//!
//! [`Plan`]: engine::coordinator::Plan
//!
//! ## Settings
//!
//! [`Scenario::settings`](engine::Scenario::settings) declares
//! [`Setting`](engine::config::Setting)s: a name, a description, a
//! [`SettingType`](engine::config::SettingType) (integer, float, boolean, string, duration
//! such as `250ms`, rate such as `infinity`, list), a default, an optional verification and
//! an update rule (may it change while the test runs, and what to do then). Values come from
//! `--set name=value`, a `--settings` TOML file or `ROOKERY_<NAME>` environment variables,
//! are checked when the scenario starts, and are read with
//! [`InitContext::setting`](engine::InitContext::setting) and
//! [`UserContext::setting`](engine::UserContext::setting). The engine declares `user_rate`
//! (users started per minute) itself.
//!
//! ## Custom events and spans
//!
//! A scenario's own events use names of its own. Emit them through the user's
//! [`Emitter`](engine::events::Emitter) (it adds `node` and `monotonic_time`, and does nothing
//! when nobody listens); wrap timed work in a span (`prefix ++ [start]`, then `[stop]` with a
//! `duration`, or `[exception]`). The monitor shows events of any prefix, the recorder writes
//! them, and the headless summary counts them in `by_event`:
//!
//! ```
//! use std::time::Duration;
//! use rookery::engine::events::Emitter;
//! use rookery::fields;
//! use rookery::telemetry::testing::EventCollector;
//! use rookery::telemetry::{Fields, SpanStop, StaticName, Telemetry};
//!
//! static CHECKOUT: StaticName = StaticName::new(&["shop", "checkout"]);
//! static DISCOUNT: StaticName = StaticName::new(&["shop", "discount", "applied"]);
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let telemetry = Telemetry::new();
//! let seen = EventCollector::attach_prefix(&telemetry, &["shop"]);
//! let emitter = Emitter::new(telemetry.clone(), "node2"); // in `start`: `user.emitter()`
//!
//! // A one-off event: measurements, then metadata.
//! emitter.emit(&DISCOUNT, &fields! {"percent" => 10}, &fields! {"user_id" => 7});
//!
//! // A span around async work; the future returns its result and the stop metadata.
//! let md = emitter.with_node(&fields! {"user_id" => 7});
//! let total = telemetry
//!     .span_async(CHECKOUT.get(), &md, async {
//!         let total = 3 * 15; // the real work: a request, a query...
//!         let stop = emitter.with_node(&fields! {"user_id" => 7, "total" => total});
//!         (total, SpanStop::metadata(stop))
//!     })
//!     .await;
//! assert_eq!(total, 45);
//!
//! // Or start and end it by hand, when the outcome decides between stop and exception.
//! let span = emitter.span_start(&CHECKOUT, &fields! {"user_id" => 8});
//! span.exception(&telemetry, &md, "error", "card declined", rookery::telemetry::Value::Null);
//!
//! let got: Vec<_> = seen.drain().iter().map(|e| e.name.dotted().to_owned()).collect();
//! assert_eq!(
//!     got,
//!     [
//!         "shop.discount.applied",
//!         "shop.checkout.start",
//!         "shop.checkout.stop",
//!         "shop.checkout.start",
//!         "shop.checkout.exception",
//!     ]
//! );
//! # let _ = Duration::ZERO;
//! # }
//! ```
//!
//! ## A whole scenario, tested in-process
//!
//! Settings, a throttle, a coordinator and a span of its own; then run on an
//! [`EngineHandle`](engine::EngineHandle) under virtual time, the way a test of your load
//! test can (the command line does the same with a monitor attached):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//!
//! use rookery::engine::config::{ConfigValue, ExplicitSettings, Setting, SettingType};
//! use rookery::engine::coordinator::{Action, CoordinatorError, Plan};
//! use rookery::engine::throttle::{Rate, ThrottleConfig, ThrottleError};
//! use rookery::engine::{
//!     EngineHandle, EngineOptions, InitContext, Scenario, ScenarioError, UserContext,
//!     UserResult, boxed,
//! };
//! use rookery::fields;
//! use rookery::telemetry::testing::EventCollector;
//! use rookery::telemetry::{SpanStop, StaticName, Telemetry, Value};
//!
//! /// `[shop, order, start | stop | exception]`: one order.
//! static ORDER: StaticName = StaticName::new(&["shop", "order"]);
//! /// `[shop, pair, met]`: the coordinator paired two users.
//! static MET: StaticName = StaticName::new(&["shop", "pair", "met"]);
//!
//! struct Shop;
//!
//! struct ShopState {
//!     think_time: Duration,
//! }
//!
//! fn failed(e: impl std::fmt::Display) -> ScenarioError {
//!     ScenarioError::new(e.to_string())
//! }
//!
//! impl Scenario for Shop {
//!     type State = ShopState;
//!
//!     fn name(&self) -> &str {
//!         "shop"
//!     }
//!
//!     fn settings(&self) -> Vec<Setting> {
//!         vec![
//!             Setting::new("order_rate", "Orders per second, cluster-wide")
//!                 .ty(SettingType::Rate)
//!                 .default_value(ConfigValue::Int(50)),
//!             Setting::new("think_time", "Pause between a user's orders")
//!                 .ty(SettingType::Duration)
//!                 .default_value(ConfigValue::Duration(Duration::from_millis(100))),
//!         ]
//!     }
//!
//!     fn init(&self, ctx: &InitContext<'_>) -> Result<ShopState, ScenarioError> {
//!         let rate = match ctx.setting("order_rate").map_err(failed)?.and_then(|v| v.as_rate()) {
//!             Some(Some(n)) => Rate::Finite(n),
//!             Some(None) => Rate::Infinity,
//!             None => return Err("order_rate has no value".into()),
//!         };
//!         // Every node runs `init`: the first start wins, the others find it running.
//!         match ctx.throttles().start("orders", ThrottleConfig::new(rate, 1000)) {
//!             Ok(_) | Err(ThrottleError::WrongReconfiguration { .. }) => {}
//!             Err(e) => return Err(failed(e)),
//!         }
//!         let emitter = ctx.emitter().clone();
//!         let plan = Plan::new().item(
//!             2,
//!             Action::pairs(move |_event, a, b| {
//!                 if let (Some(a), Some(b)) = (a, b) {
//!                     let users = vec![a.user as i64, b.user as i64];
//!                     emitter.emit(&MET, &fields! {"count" => 1}, &fields! {"users" => users});
//!                 }
//!             }),
//!         );
//!         match ctx.coordinators().start("pairs", plan, None) {
//!             Ok(()) | Err(CoordinatorError::AlreadyStarted { .. }) => {}
//!             Err(e) => return Err(failed(e)),
//!         }
//!         let think_time = ctx
//!             .setting("think_time")
//!             .map_err(failed)?
//!             .and_then(|v| v.as_duration())
//!             .unwrap_or(Duration::from_millis(100));
//!         Ok(ShopState { think_time })
//!     }
//!
//!     async fn start(&self, user: UserContext, state: Arc<ShopState>) -> UserResult {
//!         let id = user.user_id() as i64;
//!         user.coordinators()
//!             .add("pairs", user.user_id(), Value::from(user.node()))
//!             .map_err(failed)?;
//!         let mut orders: u64 = 0;
//!         while !user.removal_requested() {
//!             user.throttles().wait("orders").await.map_err(failed)?;
//!             let md = user.emitter().with_node(&fields! {"user_id" => id});
//!             user.telemetry()
//!                 .span_async(ORDER.get(), &md, async {
//!                     tokio::time::sleep(Duration::from_millis(20)).await; // the order
//!                     let stop = fields! {"user_id" => id, "items" => 3};
//!                     ((), SpanStop::metadata(user.emitter().with_node(&stop)))
//!                 })
//!                 .await;
//!             orders += 1;
//!             tokio::select! {
//!                 () = tokio::time::sleep(state.think_time) => {}
//!                 () = user.removed() => break,
//!             }
//!         }
//!         Ok(Value::from(orders))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let telemetry = Telemetry::new(); // a registry of its own, so parallel tests don't mix
//! let shop_events = EventCollector::attach_prefix(&telemetry, &["shop"]);
//! let engine = EngineHandle::start(EngineOptions {
//!     telemetry: telemetry.clone(),
//!     ..EngineOptions::default()
//! })
//! .unwrap();
//! let settings = ExplicitSettings::new()
//!     .set("user_rate", "infinity")
//!     .set("order_rate", "20");
//! engine.start_scenario_with(boxed(Shop), &settings, &|_| None).unwrap();
//! engine.add_users(4).unwrap();
//! tokio::time::sleep(Duration::from_secs(5)).await; // virtual time: instant
//! engine.stop().unwrap();
//! engine.wait_finished(Duration::from_secs(5)).await.unwrap();
//!
//! let events = shop_events.drain();
//! let count = |name: &str| events.iter().filter(|e| e.name.dotted() == name).count();
//! let orders = count("shop.order.stop");
//! // 20 a second for 5 s, and the last releases to users waiting when the stop came.
//! assert!((100..=105).contains(&orders), "{orders} orders");
//! assert_eq!(count("shop.pair.met"), 2, "4 users make 2 pairs");
//! # }
//! ```
// The surface for scenario authors: the engine's scenario API, telemetry, the command line, the
// event-log format and the built-in HTTP client.
pub mod cli;
pub mod engine;
pub mod eventlog;
pub mod http;
pub mod telemetry;

// The rest is Rookery's own machinery. It is `pub` only so that the project's integration tests,
// benches and examples can reach it; it is hidden from the docs and carries no stability promise.
#[doc(hidden)]
pub mod attach;
#[doc(hidden)]
pub mod cluster_nats;
#[doc(hidden)]
pub mod demo;
#[doc(hidden)]
pub mod monitor;
#[doc(hidden)]
pub mod report;
#[doc(hidden)]
pub mod tap;
#[doc(hidden)]
pub mod tui;
