%% @doc Rookery's bridge into a running Amoc cluster.
%%
%% Start it once, on the Amoc master:
%% ```
%% {ok, Port} = rookery_bridge:start(#{port => 4040, token => <<"secret">>,
%%                                     record => "run.jsonl"}).
%% '''
%% All keys are optional: `port' (0, the default, picks a free one), `token' (a binary or a
%% string; without one, clients may watch from loopback but not send commands), `record' (a
%% Rookery event log, format v1; a name ending in `.gz' is compressed), `ip' (the address to
%% listen on, loopback by default; any other needs a token), `queue' (events waiting per node
%% before new ones are dropped and counted, default 10000), `max_rate' (events forwarded per
%% second per node, default 5000, or `infinity'; the rest are dropped and counted) and
%% `events' (extra telemetry
%% events to forward, e.g. a scenario's own, as a list of lists of atoms).
%%
%% The bridge attaches a telemetry handler to every `[amoc, ...]' event on every node of the
%% cluster (it loads itself on the other nodes, and on nodes that connect later), forwards the
%% events tagged with their node to the master, writes them to the recording, and streams
%% them over TCP to `rookery attach' clients, one JSON line per event. Clients that give the
%% token may send commands (throttle rates, pause, resume, users, settings); each is answered
%% with ok or Amoc's error.
%%
%% Wire protocol (JSON Lines both ways):
%% <ul>
%% <li>client: `{"hello":1,"token":"..."}'; bridge: the log header with `"bridge":1' and
%%     `"commands":true|false', or `{"error":"..."}' and the connection closes;</li>
%% <li>bridge: event lines exactly as in the event log (`{"t_us":...,"node":...,"event":...}');</li>
%% <li>client: `{"id":N,"cmd":"change_rate","name":"login","rate":R,"interval":Ms}' (and
%%     `ramp', `pause', `resume', `add_users', `remove_users', `update_settings', `settings');
%%     bridge: `{"reply":N,"ok":true}' or `{"reply":N,"error":"..."}'.</li>
%% </ul>
%% It needs only OTP 25, telemetry and Amoc (it has its own small JSON encoder and decoder).
-module(rookery_bridge).
-behaviour(gen_server).

-export([start/0, start/1, stop/0, info/0]).
%% run on every node of the cluster
-export([start_forwarder/2, stop_forwarder/0, handle_event/4]).
%% JSON helpers (exported for tests)
-export([encode/1, decode/1]).
%% spawn targets
-export([acceptor/2, client_init/3, forwarder_init/3, reach/3]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-define(SERVER, ?MODULE).
-define(FWD, rookery_bridge_fwd).
-define(HANDLER, rookery_bridge).
-define(DEFAULT_QUEUE, 10000).
-define(DEFAULT_MAX_RATE, 5000).
-define(BATCH, 500).
%% Batches the bridge (and each client) may have waiting before new ones are dropped.
-define(MAX_BATCHES, 200).
-define(TICK_MS, 1000).
-define(HELLO_TIMEOUT, 5000).
-define(RPC_TIMEOUT, 5000).
-define(DROPPED_EVENT, <<"[\"rookery\",\"recorder\",\"dropped\"]">>).

-record(st, {listen, port, ip, token, file, started_us, last_us = 0, fwd_opts,
             clients = #{}, node_dropped = #{}, own_dropped = 0, reported = 0,
             events = 0, header}).

%% ------------------------------------------------------------------
%% API
%% ------------------------------------------------------------------

-spec start() -> {ok, inet:port_number()} | {error, any()}.
start() ->
    start(#{}).

-spec start(map()) -> {ok, inet:port_number()} | {error, any()}.
start(Opts) when is_map(Opts) ->
    case gen_server:start({local, ?SERVER}, ?MODULE, Opts, []) of
        {ok, _} -> gen_server:call(?SERVER, port);
        {error, {already_started, _}} -> {error, already_started};
        {error, Reason} -> {error, Reason}
    end;
start(_) ->
    {error, {bad_options, not_a_map}}.

-spec stop() -> ok | {error, not_started}.
stop() ->
    try gen_server:stop(?SERVER)
    catch exit:noproc -> {error, not_started}
    end.

%% @doc Port, clients, events forwarded and events dropped so far.
-spec info() -> map() | {error, not_started}.
info() ->
    try gen_server:call(?SERVER, info)
    catch exit:{noproc, _} -> {error, not_started}
    end.

%% ------------------------------------------------------------------
%% The bridge (master)
%% ------------------------------------------------------------------

init(Opts) ->
    process_flag(trap_exit, true),
    try
        Port = opt_port(maps:get(port, Opts, 0)),
        Token = opt_token(maps:get(token, Opts, undefined)),
        Ip = opt_ip(maps:get(ip, Opts, {127, 0, 0, 1})),
        Queue = opt_pos(queue, maps:get(queue, Opts, ?DEFAULT_QUEUE)),
        MaxRate = case maps:get(max_rate, Opts, ?DEFAULT_MAX_RATE) of
                      infinity -> infinity;
                      R -> opt_pos(max_rate, R)
                  end,
        Extra = opt_events(maps:get(events, Opts, [])),
        is_loopback(Ip) orelse Token =/= undefined orelse throw({token_required_to_listen_on, Ip}),
        StartedUs = erlang:system_time(microsecond),
        Header = header(StartedUs),
        File = open_record(maps:get(record, Opts, undefined), Header),
        Listen = case gen_tcp:listen(Port, [binary, {ip, Ip}, {packet, line}, {active, false},
                                            {reuseaddr, true}, {buffer, 65536},
                                            {send_timeout, 5000}, {send_timeout_close, true}]) of
                     {ok, L} -> L;
                     {error, E} -> throw({cannot_listen, Ip, Port, E})
                 end,
        {ok, Bound} = inet:port(Listen),
        spawn_link(?MODULE, acceptor, [Listen, self()]),
        FwdOpts = #{queue => Queue, max_rate => MaxRate, events => events() ++ Extra},
        ok = net_kernel:monitor_nodes(true),
        %% Every node now, before start/1 returns; nodes that connect later on nodeup.
        [reach(N, self(), FwdOpts) || N <- [node() | nodes()]],
        erlang:send_after(?TICK_MS, self(), tick),
        {ok, #st{listen = Listen, port = Bound, ip = Ip, token = Token, file = File,
                 started_us = StartedUs, fwd_opts = FwdOpts, header = Header}}
    catch
        throw:Reason -> {stop, Reason}
    end.

handle_call(port, _From, St) ->
    {reply, {ok, St#st.port}, St};
handle_call(info, _From, St) ->
    {reply, #{port => St#st.port, clients => maps:size(St#st.clients),
              events => St#st.events, dropped => total_dropped(St),
              started_us => St#st.started_us}, St};
handle_call({subscribe, Pid}, _From, St) ->
    Ref = erlang:monitor(process, Pid),
    Clients = maps:put(Pid, #{mon => Ref, dropped => 0, reported => 0}, St#st.clients),
    {reply, {ok, St#st.header}, St#st{clients = Clients}};
handle_call(token, _From, St) ->
    {reply, St#st.token, St};
handle_call(_, _From, St) ->
    {reply, {error, unknown_call}, St}.

handle_cast(_, St) ->
    {noreply, St}.

handle_info({batch, _Node, Lines}, St) ->
    {message_queue_len, Waiting} = process_info(self(), message_queue_len),
    case Waiting > ?MAX_BATCHES of
        true -> {noreply, St#st{own_dropped = St#st.own_dropped + length(Lines)}};
        false -> {noreply, publish(Lines, St)}
    end;
handle_info({dropped, Node, Total}, St) ->
    {noreply, St#st{node_dropped = maps:put(Node, Total, St#st.node_dropped)}};
handle_info(tick, St) ->
    erlang:send_after(?TICK_MS, self(), tick),
    {noreply, report_drops(St)};
handle_info({nodeup, Node}, St) ->
    spawn(?MODULE, reach, [Node, self(), St#st.fwd_opts]),
    {noreply, St};
handle_info({nodedown, _Node}, St) ->
    %% Amoc's own [amoc, cluster, nodedown] says it; the node's forwarder is gone with it.
    {noreply, St};
handle_info({'DOWN', _Ref, process, Pid, _}, St) ->
    {noreply, St#st{clients = maps:remove(Pid, St#st.clients)}};
handle_info({'EXIT', _Pid, normal}, St) ->
    {noreply, St};
handle_info({'EXIT', _Pid, Reason}, St) ->
    {stop, {acceptor_died, Reason}, St};
handle_info(_, St) ->
    {noreply, St}.

terminate(_Reason, St) ->
    [catch erlang:send({?FWD, N}, stop) || N <- [node() | nodes()]],
    [exit(Pid, kill) || Pid <- maps:keys(St#st.clients)],
    catch gen_tcp:close(St#st.listen),
    case St#st.file of
        undefined -> ok;
        F -> _ = report_drops(St), file:close(F)
    end,
    ok.

%% Stamps each line with its time since the start (never going backwards), writes it to the
%% recording and hands it to every client.
publish([], St) ->
    St;
publish(Lines, St) ->
    {Out, Last, N} = lists:foldl(
        fun({Us, Frag}, {Acc, Prev, K}) ->
                T = max(Us - St#st.started_us, Prev),
                {[[<<"{\"t_us\":">>, integer_to_binary(T), Frag] | Acc], T, K + 1}
        end, {[], St#st.last_us, 0}, Lines),
    Data = lists:reverse(Out),
    write_record(St#st.file, Data),
    Clients = maps:map(fun(Pid, C) -> to_client(Pid, C, Data, N) end, St#st.clients),
    St#st{last_us = Last, events = St#st.events + N, clients = Clients}.

to_client(Pid, C = #{dropped := D}, Data, N) ->
    case process_info(Pid, message_queue_len) of
        {message_queue_len, Waiting} when Waiting > ?MAX_BATCHES ->
            C#{dropped := D + N};
        _ ->
            Pid ! {lines, Data},
            C
    end.

write_record(undefined, _) -> ok;
write_record(File, Data) -> ok = file:write(File, Data).

total_dropped(St) ->
    St#st.own_dropped + lists:sum(maps:values(St#st.node_dropped)).

%% Lost events become a `[rookery, recorder, dropped]' event: the bridge's own losses go to the
%% recording and every client, a slow client's losses to that client.
report_drops(St) ->
    Now = max(erlang:system_time(microsecond) - St#st.started_us, St#st.last_us),
    Total = total_dropped(St),
    Common = case Total > St#st.reported of
                 true -> [dropped_line(Now, Total - St#st.reported, Total)];
                 false -> []
             end,
    write_record(St#st.file, Common),
    {Clients, Sent} = maps:fold(
        fun(Pid, C = #{dropped := D, reported := R}, {Acc, Any}) ->
                Own = case D > R of
                          true -> [dropped_line(Now, D - R, D)];
                          false -> []
                      end,
                case Common ++ Own of
                    [] -> {Acc#{Pid => C}, Any};
                    Data -> Pid ! {lines, Data}, {Acc#{Pid => C#{reported := D}}, true}
                end
        end, {#{}, Common =/= []}, St#st.clients),
    %% Only a line written moves the clock on: later events must not be stamped before it.
    Last = case Sent of
               true -> Now;
               false -> St#st.last_us
           end,
    St#st{reported = Total, last_us = Last, clients = Clients}.

dropped_line(T, Count, Total) ->
    [<<"{\"t_us\":">>, integer_to_binary(T), <<",\"node\":">>, encode(node()),
     <<",\"event\":">>, ?DROPPED_EVENT, <<",\"measurements\":{\"count\":">>,
     integer_to_binary(Count), <<"},\"metadata\":{\"source\":\"rookery_bridge\",\"total\":">>,
     integer_to_binary(Total), <<"}}\n">>].

header(StartedUs) ->
    At = calendar:system_time_to_rfc3339(StartedUs, [{unit, microsecond}, {offset, "Z"}]),
    Vsn = case application:get_key(amoc, vsn) of
              {ok, V} -> V;
              undefined -> "?"
          end,
    Source = iolist_to_binary(io_lib:format("amoc ~s (~s) via rookery_bridge", [Vsn, node()])),
    iolist_to_binary([<<"{\"rookery_log\":1,\"started_at\":">>, encode(list_to_binary(At)),
                      <<",\"source\":">>, encode(Source)]).

open_record(undefined, _Header) ->
    undefined;
open_record(Path0, Header) ->
    Path = unicode:characters_to_list(Path0),
    Mode = case filename:extension(Path) of
               ".gz" -> [compressed];
               _ -> []
           end,
    case file:open(Path, [write, binary, raw, {delayed_write, 65536, 100} | Mode]) of
        {ok, F} ->
            ok = file:write(F, [Header, <<"}\n">>]),
            F;
        {error, E} ->
            throw({cannot_record, Path, E})
    end.

opt_port(P) when is_integer(P), P >= 0, P < 65536 -> P;
opt_port(P) -> throw({bad_option, port, P}).

opt_token(undefined) -> undefined;
opt_token(T) when is_binary(T), T =/= <<>> -> T;
opt_token(T) when is_list(T), T =/= [] ->
    case unicode:characters_to_binary(T) of
        B when is_binary(B) -> B;
        _ -> throw({bad_option, token, T})
    end;
opt_token(T) -> throw({bad_option, token, T}).

opt_ip(Ip) when is_tuple(Ip) -> Ip;
opt_ip(Ip) when is_list(Ip); is_binary(Ip) ->
    case inet:parse_address(unicode:characters_to_list(Ip)) of
        {ok, A} -> A;
        {error, _} -> throw({bad_option, ip, Ip})
    end;
opt_ip(Ip) -> throw({bad_option, ip, Ip}).

opt_pos(_, N) when is_integer(N), N > 0 -> N;
opt_pos(K, N) -> throw({bad_option, K, N}).

opt_events(L) when is_list(L) ->
    [E || E <- L, is_list(E), E =/= [], lists:all(fun is_atom/1, E)] =:= L
        orelse throw({bad_option, events, L}),
    L;
opt_events(L) -> throw({bad_option, events, L}).

is_loopback({127, _, _, _}) -> true;
is_loopback({0, 0, 0, 0, 0, 0, 0, 1}) -> true;
is_loopback({0, 0, 0, 0, 0, 16#ffff, A, _}) -> A bsr 8 =:= 127;
is_loopback(_) -> false.

%% Every event Amoc 4.1 emits.
events() ->
    [[amoc, scenario, S, P] || S <- [init, start, terminate], P <- [start, stop, exception]]
        ++ [[amoc, controller, users]]
        ++ [[amoc, throttle, E] || E <- [init, rate, request, execute, process]]
        ++ [[amoc, coordinator, E] || E <- [start, stop, add, reset, timeout, execute]]
        ++ [[amoc, config, E] || E <- [get, verify, env]]
        ++ [[amoc, cluster, E] || E <- [connect_nodes, nodedown, master_node_down]].

%% Loads this module on `Node' (unless the same version is there, e.g. uploaded by
%% amoc-arsenal) and starts its forwarder there.
reach(Node, Bridge, FwdOpts) ->
    Result = case ensure_loaded(Node) of
                 ok -> rpc:call(Node, ?MODULE, start_forwarder, [Bridge, FwdOpts], ?RPC_TIMEOUT);
                 Error -> Error
             end,
    case Result of
        {ok, _} -> ok;
        Other -> logger:warning("rookery_bridge: cannot watch ~p: ~0p", [Node, Other])
    end,
    Result.

ensure_loaded(Node) when Node =:= node() ->
    ok;
ensure_loaded(Node) ->
    Md5 = ?MODULE:module_info(md5),
    case rpc:call(Node, ?MODULE, module_info, [md5], ?RPC_TIMEOUT) of
        Md5 -> ok;
        _ ->
            case code:get_object_code(?MODULE) of
                {?MODULE, Bin, File} ->
                    case rpc:call(Node, code, load_binary, [?MODULE, File, Bin], ?RPC_TIMEOUT) of
                        {module, ?MODULE} -> ok;
                        Error -> {error, {cannot_load_on, Node, Error}}
                    end;
                error ->
                    {error, {no_object_code_to_send_to, Node}}
            end
    end.

%% ------------------------------------------------------------------
%% The forwarder (every node): telemetry handler -> bounded queue -> the master's bridge
%% ------------------------------------------------------------------

-spec start_forwarder(pid(), map()) -> {ok, pid()} | {error, any()}.
start_forwarder(Bridge, Opts) ->
    case code:which(telemetry) of
        non_existing -> {error, {no_telemetry_on, node()}};
        _ ->
            _ = stop_forwarder(),
            Pid = spawn(?MODULE, forwarder_init, [Bridge, Opts, self()]),
            Ref = erlang:monitor(process, Pid),
            receive
                {Pid, ready} -> erlang:demonitor(Ref, [flush]), {ok, Pid};
                {'DOWN', Ref, process, Pid, Reason} -> {error, Reason}
            after ?RPC_TIMEOUT ->
                exit(Pid, kill),
                {error, forwarder_timeout}
            end
    end.

-spec stop_forwarder() -> ok.
stop_forwarder() ->
    case whereis(?FWD) of
        undefined -> ok;
        Pid ->
            Ref = erlang:monitor(process, Pid),
            Pid ! stop,
            receive {'DOWN', Ref, process, Pid, _} -> ok
            after ?RPC_TIMEOUT -> exit(Pid, kill), ok
            end
    end.

forwarder_init(Bridge, #{queue := Max, max_rate := MaxRate, events := Events}, Parent) ->
    %% Amoc's users come first: the forwarder gets what CPU they leave (and drops the rest).
    process_flag(priority, low),
    register(?FWD, self()),
    erlang:monitor(process, Bridge),
    %% 1: events queued and not yet forwarded; 2: events dropped (queue full or over the rate);
    %% 3: the current second; 4: events forwarded in it.
    Counters = counters:new(4, [write_concurrency]),
    _ = telemetry:detach(?HANDLER),
    ok = telemetry:attach_many(?HANDLER, Events, fun ?MODULE:handle_event/4,
                               #{fwd => self(), counters => Counters, max => Max,
                                 max_rate => MaxRate}),
    Parent ! {self(), ready},
    erlang:send_after(?TICK_MS, self(), tick),
    forwarder_loop(Bridge, Counters, atom_to_binary(node(), utf8), 0).

%% The handler runs in the emitting process: counter checks and a message, nothing more.
%% Beyond `max_rate' events a second, or `queue' events waiting, events are counted, not sent:
%% forwarding costs CPU that Amoc's users need.
handle_event(Event, Measurements, Metadata,
             #{fwd := Fwd, counters := C, max := Max, max_rate := MaxRate}) ->
    try
        Sec = erlang:monotonic_time(second),
        case counters:get(C, 3) of
            Sec -> ok;
            _ -> counters:put(C, 3, Sec), counters:put(C, 4, 0)
        end,
        case counters:get(C, 1) < Max andalso counters:get(C, 4) < MaxRate of
            true ->
                counters:add(C, 1, 1),
                counters:add(C, 4, 1),
                Fwd ! {ev, erlang:system_time(microsecond), Event, Measurements, Metadata};
            false ->
                counters:add(C, 2, 1)
        end
    catch _:_ -> ok
    end,
    ok.

forwarder_loop(Bridge, C, Node, Reported) ->
    receive
        {ev, Us, E, M, Md} ->
            Lines = collect([line(Us, E, M, Md, Node)], ?BATCH - 1, Node),
            counters:sub(C, 1, length(Lines)),
            Bridge ! {batch, node(), Lines},
            forwarder_loop(Bridge, C, Node, Reported);
        tick ->
            erlang:send_after(?TICK_MS, self(), tick),
            case counters:get(C, 2) of
                Reported -> forwarder_loop(Bridge, C, Node, Reported);
                Dropped ->
                    Bridge ! {dropped, node(), Dropped},
                    forwarder_loop(Bridge, C, Node, Dropped)
            end;
        {'DOWN', _, process, Bridge, _} ->
            telemetry:detach(?HANDLER);
        stop ->
            telemetry:detach(?HANDLER);
        _ ->
            forwarder_loop(Bridge, C, Node, Reported)
    end.

collect(Acc, 0, _Node) ->
    lists:reverse(Acc);
collect(Acc, K, Node) ->
    receive
        {ev, Us, E, M, Md} -> collect([line(Us, E, M, Md, Node) | Acc], K - 1, Node)
    after 0 ->
        lists:reverse(Acc)
    end.

%% An event line without its leading `{"t_us":N' (the bridge adds it). Times in native units
%% (monotonic_time, system_time, duration) become nanoseconds.
line(Us, Event, M, Md, Node) ->
    Frag = iolist_to_binary(
             [<<",\"node\":">>, encode(Node), <<",\"event\":">>, encode(Event),
              <<",\"measurements\":">>, encode(native_to_ns(M)),
              <<",\"metadata\":">>, encode(native_to_ns(maps:remove(node, Md))), <<"}\n">>]),
    {Us, Frag}.

native_to_ns(Map) when is_map(Map) ->
    maps:map(fun(K, V) when is_integer(V), (K =:= monotonic_time orelse K =:= system_time
                                            orelse K =:= duration) ->
                     erlang:convert_time_unit(V, native, nanosecond);
                (_, V) -> V
             end, Map);
native_to_ns(Other) ->
    #{value => Other}.

%% ------------------------------------------------------------------
%% TCP: the acceptor and one process per client (on the master)
%% ------------------------------------------------------------------

acceptor(Listen, Bridge) ->
    case gen_tcp:accept(Listen) of
        {ok, Sock} ->
            Pid = spawn(?MODULE, client_init, [Sock, Bridge, self()]),
            case gen_tcp:controlling_process(Sock, Pid) of
                ok -> Pid ! {self(), go};
                _ -> gen_tcp:close(Sock), exit(Pid, kill)
            end,
            acceptor(Listen, Bridge);
        {error, closed} ->
            ok;
        {error, _} ->
            timer:sleep(100),
            acceptor(Listen, Bridge)
    end.

client_init(Sock, Bridge, Acceptor) ->
    receive {Acceptor, go} -> ok
    after ?HELLO_TIMEOUT -> exit(normal)
    end,
    erlang:monitor(process, Bridge),
    case hello(Sock, Bridge) of
        {ok, Commands} ->
            ok = inet:setopts(Sock, [{active, once}]),
            client_loop(Sock, Commands);
        {error, Why} ->
            _ = gen_tcp:send(Sock, [<<"{\"error\":">>, encode(Why), <<"}\n">>]),
            gen_tcp:close(Sock)
    end.

hello(Sock, Bridge) ->
    case gen_tcp:recv(Sock, 0, ?HELLO_TIMEOUT) of
        {ok, Line} ->
            case decode(Line) of
                {ok, #{<<"hello">> := _} = Hello} ->
                    Given = maps:get(<<"token">>, Hello, null),
                    Token = gen_server:call(Bridge, token),
                    Local = case inet:peername(Sock) of
                                {ok, {Addr, _}} -> is_loopback(Addr);
                                _ -> false
                            end,
                    Match = is_binary(Token) andalso is_binary(Given) andalso same(Given, Token),
                    if
                        Given =/= null, not Match -> {error, <<"wrong token">>};
                        not Local, not Match ->
                            {error, <<"a token is required from a non-loopback address">>};
                        true ->
                            {ok, Header} = gen_server:call(Bridge, {subscribe, self()}),
                            ok = gen_tcp:send(Sock, [Header, <<",\"bridge\":1,\"commands\":">>,
                                                     encode(Match), <<"}\n">>]),
                            {ok, Match}
                    end;
                _ ->
                    {error, <<"expected {\"hello\":1,\"token\":...} as the first line">>}
            end;
        {error, _} ->
            {error, <<"no hello">>}
    end.

%% Compares without stopping at the first difference.
same(A, B) when byte_size(A) =/= byte_size(B) -> false;
same(A, B) ->
    lists:foldl(fun({X, Y}, Acc) -> Acc bor (X bxor Y) end, 0,
                lists:zip(binary_to_list(A), binary_to_list(B))) =:= 0.

client_loop(Sock, Commands) ->
    receive
        {lines, Data} ->
            case gen_tcp:send(Sock, Data) of
                ok -> client_loop(Sock, Commands);
                {error, _} -> gen_tcp:close(Sock)
            end;
        {tcp, Sock, Line} ->
            Reply = command(Line, Commands),
            case gen_tcp:send(Sock, Reply) of
                ok ->
                    ok = inet:setopts(Sock, [{active, once}]),
                    client_loop(Sock, Commands);
                {error, _} ->
                    gen_tcp:close(Sock)
            end;
        {tcp_closed, Sock} ->
            ok;
        {tcp_error, Sock, _} ->
            gen_tcp:close(Sock);
        {'DOWN', _, process, _, _} ->
            gen_tcp:close(Sock);
        _ ->
            client_loop(Sock, Commands)
    end.

%% ------------------------------------------------------------------
%% Commands (run on the master, in the client's process)
%% ------------------------------------------------------------------

command(Line, Allowed) ->
    {Id, Result} =
        case decode(Line) of
            {ok, #{<<"cmd">> := Cmd} = M} ->
                {maps:get(<<"id">>, M, null),
                 case Allowed of
                     false -> {error, commands_need_the_bridge_token};
                     true ->
                         try run(Cmd, M)
                         catch
                             throw:T -> {error, T};
                             C:R -> {error, {C, R}}
                         end
                 end};
            {ok, M} when is_map(M) -> {maps:get(<<"id">>, M, null), {error, no_cmd}};
            _ -> {null, {error, bad_json}}
        end,
    case Result of
        ok -> [<<"{\"reply\":">>, encode(Id), <<",\"ok\":true}\n">>];
        {ok, {settings, L}} ->
            [<<"{\"reply\":">>, encode(Id), <<",\"ok\":true,\"settings\":">>, encode(L), <<"}\n">>];
        {ok, _} -> [<<"{\"reply\":">>, encode(Id), <<",\"ok\":true}\n">>];
        {error, E} ->
            [<<"{\"reply\":">>, encode(Id), <<",\"error\":">>,
             encode(iolist_to_binary(io_lib:format("~0tp", [E]))), <<"}\n">>];
        Other ->
            [<<"{\"reply\":">>, encode(Id), <<",\"error\":">>,
             encode(iolist_to_binary(io_lib:format("~0tp", [Other]))), <<"}\n">>]
    end.

run(<<"change_rate">>, M) ->
    %% Without an interval Amoc would reset it to a minute: keep the throttle's own.
    Name = throttle(M),
    Interval = case maps:get(<<"interval">>, M, null) of
                   null -> maps:get(interval, current(Name));
                   I -> int(I)
               end,
    amoc_throttle:change_rate(Name, #{rate => rate(M, <<"rate">>), interval => Interval});
run(<<"change_rate_gradually">>, M) ->
    Rates = #{from_rate => int(field(M, <<"from_rate">>)),
              to_rate => int(field(M, <<"to_rate">>))},
    Throttle = case maps:get(<<"interval">>, M, null) of
                   null -> Rates;
                   I -> Rates#{interval => int(I)}
               end,
    amoc_throttle:change_rate_gradually(
      throttle(M), #{throttle => Throttle, plan => #{duration => int(field(M, <<"duration">>))}});
run(<<"ramp">>, M) ->
    %% From the throttle's current rate to `to_rate', keeping its interval.
    Name = throttle(M),
    case current(Name) of
        #{rate := From, interval := Interval} when is_integer(From) ->
            amoc_throttle:change_rate_gradually(
              Name, #{throttle => #{from_rate => From, to_rate => int(field(M, <<"to_rate">>)),
                                    interval => Interval},
                      plan => #{duration => int(field(M, <<"duration">>))}});
        #{rate := Rate} ->
            {error, {cannot_ramp_from, Rate}}
    end;
run(<<"pause">>, M) ->
    amoc_throttle:pause(throttle(M));
run(<<"resume">>, M) ->
    amoc_throttle:resume(throttle(M));
run(<<"add_users">>, M) ->
    Count = int(field(M, <<"count">>)),
    case clustered() of
        true -> amoc_dist:add(Count);
        false -> amoc:add(Count)
    end;
run(<<"remove_users">>, M) ->
    Count = int(field(M, <<"count">>)),
    Force = maps:get(<<"force">>, M, false) =:= true,
    case clustered() of
        true -> amoc_dist:remove(Count, Force);
        false -> amoc:remove(Count, Force)
    end;
run(<<"update_settings">>, M) ->
    Settings = case field(M, <<"settings">>) of
                   S when is_map(S) -> [{existing_atom(K), setting(V)} || {K, V} <- maps:to_list(S)];
                   _ -> throw(settings_must_be_an_object)
               end,
    case clustered() of
        true -> amoc_dist:update_settings(Settings);
        false -> amoc_controller:update_settings(Settings)
    end;
run(<<"settings">>, _M) ->
    %% Settings live where the scenario runs: a worker of a cluster, or this node.
    Node = case clustered() of
               true -> hd(amoc_cluster:slave_nodes() ++ [node()]);
               false -> node()
           end,
    case rpc:call(Node, ets, tab2list, [amoc_config], ?RPC_TIMEOUT) of
        Params when is_list(Params) ->
            {ok, {settings, [#{name => Name, module => Mod, value => printed(Value),
                               description => Description, updatable => Update =/= read_only}
                             || {module_parameter, Name, Mod, Value, Description, _, Update}
                                    <- lists:sort(Params)]}};
        Error ->
            {error, {no_settings_on, Node, Error}}
    end;
run(Cmd, _) ->
    {error, {unknown_command, Cmd}}.

%% A throttle's rate and interval. Asked only for a throttle that exists: Amoc's controller
%% crashes on an unknown name.
current(Name) ->
    case amoc_throttle_controller:get_throttle_process(Name) of
        {ok, _} -> amoc_throttle_controller:get_info(Name);
        {error, E} -> throw(E)
    end.

%% The master of a distributed run has its own controller disabled.
clustered() ->
    amoc_controller:get_status() =:= disabled.

field(M, K) ->
    case maps:find(K, M) of
        {ok, V} -> V;
        error -> throw({missing, K})
    end.

throttle(M) -> existing_atom(field(M, <<"name">>)).

%% Throttle and setting names are atoms that exist already; an unknown name is not created.
existing_atom(B) when is_binary(B) ->
    try binary_to_existing_atom(B, utf8)
    catch error:badarg -> throw({unknown_name, B})
    end;
existing_atom(B) -> throw({not_a_name, B}).

rate(M, K) ->
    case field(M, K) of
        <<"infinity">> -> infinity;
        V -> int(V)
    end.

int(V) when is_integer(V), V >= 0 -> V;
int(V) -> throw({not_a_non_negative_integer, V}).

%% A setting: a number as it is; a string is read as an Erlang term (as amoc-arsenal does),
%% or kept as a binary when it is not one.
setting(V) when is_binary(V) ->
    S = unicode:characters_to_list(V),
    case erl_scan:string(S ++ ".") of
        {ok, Tokens, _} ->
            case erl_parse:parse_term(Tokens) of
                {ok, Term} -> Term;
                {error, _} -> V
            end;
        _ -> V
    end;
setting(V) -> V.

%% ------------------------------------------------------------------
%% JSON
%% ------------------------------------------------------------------

%% @doc Any Erlang term as JSON: atoms and printable strings become strings (`undefined' and
%% `nil' become null), tuples arrays, maps objects; pids, refs and other opaque terms their
%% printed form.
-spec encode(term()) -> iodata().
encode(true) -> <<"true">>;
encode(false) -> <<"false">>;
encode(null) -> <<"null">>;
encode(undefined) -> <<"null">>;
encode(nil) -> <<"null">>;
encode(A) when is_atom(A) -> string(atom_to_binary(A, utf8));
encode(I) when is_integer(I) -> integer_to_binary(I);
encode(F) when is_float(F) -> float_to_binary(F, [short]);
encode(B) when is_binary(B) ->
    case unicode:characters_to_binary(B) of
        U when is_binary(U) -> string(U);
        _ -> string(printed(B))
    end;
encode([]) -> <<"[]">>;
encode(L) when is_list(L) ->
    case io_lib:printable_unicode_list(L) of
        true -> string(unicode:characters_to_binary(L));
        false ->
            try [$[, join([encode(X) || X <- L]), $]]
            catch error:_ -> string(printed(L))   % an improper list
            end
    end;
encode(T) when is_tuple(T) -> [$[, join([encode(X) || X <- tuple_to_list(T)]), $]];
encode(M) when is_map(M) ->
    [${, join([[string(key(K)), $:, encode(V)] || {K, V} <- lists:sort(maps:to_list(M))]), $}];
encode(Other) -> string(printed(Other)).

key(K) when is_atom(K) -> atom_to_binary(K, utf8);
key(K) when is_binary(K) -> K;
key(K) ->
    case is_list(K) andalso io_lib:printable_unicode_list(K) of
        true -> unicode:characters_to_binary(K);
        false -> printed(K)
    end.

%% Pids, refs, ports and funs are common (span contexts, throttle states): BIFs print them
%% faster than io_lib.
printed(T) when is_pid(T) -> list_to_binary(pid_to_list(T));
printed(T) when is_reference(T) -> list_to_binary(ref_to_list(T));
printed(T) when is_port(T) -> list_to_binary(port_to_list(T));
printed(T) when is_function(T) -> list_to_binary(erlang:fun_to_list(T));
printed(T) -> unicode:characters_to_binary(io_lib:format("~0tp", [T])).

join([]) -> [];
join([H | T]) -> [H | [[$, | X] || X <- T]].

string(B) ->
    case plain(B) of
        true -> [$", B, $"];
        false -> [$", escape(B, <<>>), $"]
    end.

%% True when nothing in B needs escaping (the common case).
plain(<<>>) -> true;
plain(<<C, _/binary>>) when C < 16#20; C =:= $"; C =:= $\\ -> false;
plain(<<_, R/binary>>) -> plain(R).

escape(<<>>, Acc) -> Acc;
escape(<<$", R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\\"">>);
escape(<<$\\, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\\\">>);
escape(<<$\n, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\n">>);
escape(<<$\r, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\r">>);
escape(<<$\t, R/binary>>, Acc) -> escape(R, <<Acc/binary, "\\t">>);
escape(<<C, R/binary>>, Acc) when C < 16#20 ->
    Hex = list_to_binary(io_lib:format("\\u~4.16.0b", [C])),
    escape(R, <<Acc/binary, Hex/binary>>);
escape(<<C, R/binary>>, Acc) -> escape(R, <<Acc/binary, C>>).

%% @doc JSON to Erlang: objects become maps with binary keys, strings binaries, `null' null.
-spec decode(binary()) -> {ok, term()} | {error, bad_json}.
decode(Bin) ->
    try
        {V, Rest} = value(ws(Bin)),
        <<>> = ws(Rest),
        {ok, V}
    catch _:_ -> {error, bad_json}
    end.

ws(<<C, R/binary>>) when C =:= $\s; C =:= $\t; C =:= $\n; C =:= $\r -> ws(R);
ws(B) -> B.

value(<<${, R/binary>>) -> object(ws(R), #{});
value(<<$[, R/binary>>) -> array(ws(R), []);
value(<<$", R/binary>>) -> str(R, <<>>);
value(<<"true", R/binary>>) -> {true, R};
value(<<"false", R/binary>>) -> {false, R};
value(<<"null", R/binary>>) -> {null, R};
value(B) -> number(B, <<>>).

object(<<$}, R/binary>>, M) when map_size(M) =:= 0 -> {M, R};
object(<<$", R/binary>>, M) ->
    {K, R1} = str(R, <<>>),
    <<$:, R2/binary>> = ws(R1),
    {V, R3} = value(ws(R2)),
    case ws(R3) of
        <<$,, R4/binary>> -> object(ws(R4), M#{K => V});
        <<$}, R4/binary>> -> {M#{K => V}, R4}
    end.

array(<<$], R/binary>>, []) -> {[], R};
array(B, Acc) ->
    {V, R1} = value(B),
    case ws(R1) of
        <<$,, R2/binary>> -> array(ws(R2), [V | Acc]);
        <<$], R2/binary>> -> {lists:reverse([V | Acc]), R2}
    end.

str(<<$", R/binary>>, Acc) -> {Acc, R};
str(<<$\\, E, R/binary>>, Acc) when E =/= $u ->
    C = case E of
            $" -> $"; $\\ -> $\\; $/ -> $/; $b -> $\b; $f -> $\f;
            $n -> $\n; $r -> $\r; $t -> $\t
        end,
    str(R, <<Acc/binary, C>>);
str(<<$\\, $u, H:4/binary, R/binary>>, Acc) ->
    C = binary_to_integer(H, 16),
    str(R, <<Acc/binary, C/utf8>>);
str(<<C, R/binary>>, Acc) when C >= 16#20 -> str(R, <<Acc/binary, C>>).

number(<<C, R/binary>>, Acc) when C >= $0, C =< $9; C =:= $-; C =:= $+; C =:= $.;
                                  C =:= $e; C =:= $E ->
    number(R, <<Acc/binary, C>>);
number(R, Acc) when Acc =/= <<>> ->
    N = try binary_to_integer(Acc)
        catch error:badarg ->
                case binary:match(Acc, <<".">>) of
                    nomatch ->
                        [M, E] = binary:split(string:lowercase(Acc), <<"e">>),
                        binary_to_float(<<M/binary, ".0e", E/binary>>);
                    _ -> binary_to_float(Acc)
                end
        end,
    {N, R}.
