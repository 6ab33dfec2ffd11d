%% @doc The scenario Rookery's tests run on a real Amoc: two throttles (`login', `post'), a
%% coordinator (`rooms', groups of 3) and a declared setting (`rookery_posts'), whose
%% environment variable the tests set to a bad value so Amoc reports a config error.
-module(rookery_test_scenario).
-behaviour(amoc_scenario).

-required_variable(#{name => rookery_posts, description => "posts per user",
                     default_value => 3, verification => {?MODULE, positive_integer, 1},
                     update => read_only}).
-required_variable(#{name => rookery_post_rate, description => "posts per minute",
                     default_value => 600, verification => {?MODULE, positive_integer, 1},
                     update => {?MODULE, update_post_rate, 2}}).

-export([init/0, start/2, positive_integer/1, update_post_rate/2]).

%% Runs on every worker of a cluster: throttles live on the master, so all but the first
%% find them `already_started'.
init() ->
    {ok, _} = amoc_throttle:start(login, #{rate => 1200, interval => 60000}),
    {ok, _} = amoc_throttle:start(post, #{rate => amoc_config:get(rookery_post_rate),
                                          interval => 60000}),
    ok = amoc_coordinator:start(rooms, [{3, fun(_Event, _Users) -> ok end}], 2),
    {ok, #{posts => amoc_config:get(rookery_posts)}}.

start(Id, #{posts := Posts}) ->
    ok = wait(login, 500),
    amoc_coordinator:add(rooms, Id),
    [ok = wait(post, 500) || _ <- lists:seq(1, Posts)],
    ok.

%% A worker learns of the master's throttle processes through pg, a moment after init/0: a
%% user that starts sooner finds none yet.
wait(Name, Tries) ->
    case amoc_throttle:wait(Name) of
        {error, no_throttle_process_registered} when Tries > 0 ->
            timer:sleep(10),
            wait(Name, Tries - 1);
        Other ->
            Other
    end.

positive_integer(V) -> is_integer(V) andalso V > 0.

update_post_rate(rookery_post_rate, Rate) ->
    amoc_throttle:change_rate(post, #{rate => Rate, interval => 60000}).
