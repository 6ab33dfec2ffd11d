%% @doc Measures what the bridge costs Amoc: users started per second, and throttle waits per
%% second, on one node. Run it with and without the bridge (see `BUILD.md'):
%% ```
%% rookery_bench_scenario:measure(20000, 0).   % users/s: users that only start and end
%% rookery_bench_scenario:measure(1000, 20).   % waits/s: 1000 users x 20 throttle waits
%% '''
%% Each measure resets Amoc, starts every user at once (`user_rate' infinity) and times until
%% the last user has ended. The `bench' throttle has an infinite rate: every wait goes through
%% the throttle process (and its request/execute events) without being held back.
-module(rookery_bench_scenario).
-behaviour(amoc_scenario).

-required_variable(#{name => rookery_bench_waits, description => "throttle waits per user",
                     default_value => 0, verification => none}).

-export([init/0, start/2, measure/2]).

init() ->
    {ok, _} = amoc_throttle:start(bench, #{rate => infinity}),
    {ok, #{waits => amoc_config:get(rookery_bench_waits),
           done => persistent_term:get({?MODULE, done})}}.

start(_Id, #{waits := Waits, done := Done}) ->
    [ok = amoc_throttle:wait(bench) || _ <- lists:seq(1, Waits)],
    counters:add(Done, 1, 1).

-spec measure(pos_integer(), non_neg_integer()) -> map().
measure(Users, Waits) ->
    %% What amoc:reset/0 does, also before the first run.
    _ = application:stop(amoc),
    {ok, _} = application:ensure_all_started(amoc),
    Done = counters:new(1, [write_concurrency]),
    persistent_term:put({?MODULE, done}, Done),
    T0 = erlang:monotonic_time(microsecond),
    ok = amoc:do(?MODULE, Users, [{user_rate, infinity}, {rookery_bench_waits, Waits}]),
    wait_done(Done, Users),
    Seconds = (erlang:monotonic_time(microsecond) - T0) / 1.0e6,
    ok = amoc:stop(),
    #{users => Users, waits => Users * Waits, seconds => Seconds,
      users_per_s => round(Users / Seconds), waits_per_s => round(Users * Waits / Seconds)}.

wait_done(Done, Users) ->
    case counters:get(Done, 1) >= Users of
        true -> ok;
        false -> timer:sleep(1), wait_done(Done, Users)
    end.
