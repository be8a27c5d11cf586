namespace MailServer.Bench;

/// <summary>The bench tool's options, parsed from the command line.</summary>
/// <param name="Mode">"smtp", "imap", "submit" or "imap-stress".</param>
/// <param name="Host">The server's address.</param>
/// <param name="Port">smtp: the SMTP port. imap: the IMAP port.</param>
/// <param name="From">smtp: the envelope sender.</param>
/// <param name="To">smtp: the envelope recipient.</param>
/// <param name="Messages">smtp: messages per size. imap: APPENDs in the append-rate run.</param>
/// <param name="Sessions">smtp: concurrent sessions. imap: clients of the APPEND and LOGIN runs.</param>
/// <param name="Sizes">smtp: the message sizes to run, in bytes.</param>
/// <param name="User">The user that logs in (submission or IMAP).</param>
/// <param name="Password">That user's password.</param>
/// <param name="Logins">imap: connections (STARTTLS + LOGIN + LOGOUT) in the login-rate run.</param>
/// <param name="Clients">imap: concurrent clients of the mixed load.</param>
/// <param name="Operations">imap: operations per client in the mixed load.</param>
/// <param name="Word">imap: the word of the body SEARCH.</param>
/// <param name="SinkPort">smtp: the port of the local receiver that remote deliveries go to.</param>
/// <param name="WarmupPercent">imap: size of the unreported warm-up run before each rate run, in percent of it.</param>
/// <param name="ExternalSink">submit: another program receives the delivered mail; only the submission rate is measured.</param>
/// <param name="Seconds">imap-stress: how long the sessions run.</param>
/// <param name="StartTls">imap-stress: STARTTLS before LOGIN (false: plain).</param>
/// <param name="Phases">imap: which runs to make, of single (one-client command times), append, login and mixed.</param>
internal sealed record BenchArguments(
    string Mode,
    string Host,
    int Port,
    string From,
    string To,
    int Messages,
    int Sessions,
    IReadOnlyList<int> Sizes,
    string User = "alice@example.test",
    string Password = "",
    int Logins = 1000,
    int Clients = 10,
    int Operations = 500,
    string Word = "zebra",
    int SinkPort = 2526,
    bool ExternalSink = false,
    IReadOnlySet<string>? Phases = null,
    int WarmupPercent = 20,
    int Seconds = 60,
    bool StartTls = true)
{
    /// <summary>The imap runs, in the order they are made.</summary>
    public static readonly IReadOnlySet<string> AllPhases = new HashSet<string>(["single", "append", "login", "mixed"], StringComparer.Ordinal);

    /// <summary>Whether the imap run <paramref name="phase"/> was asked for (all are, by default).</summary>
    public bool Runs(string phase) => (Phases ?? AllPhases).Contains(phase);

    public static BenchArguments? Parse(string[] args)
    {
        if (args.Length == 0 || args[0] is not ("smtp" or "imap" or "submit" or "imap-stress"))
            return null;
        if (args[0] == "imap-stress")
            return ParseStress(args);
        var imap = args[0] == "imap";
        var submit = args[0] == "submit";
        var result = imap
            ? new BenchArguments("imap", "127.0.0.1", 2143, "bench@bench.test", "alice@example.test", 1000, 10, [])
            : submit
                ? new BenchArguments("submit", "127.0.0.1", 2587, "", "", 1000, 10, [])
                : new BenchArguments("smtp", "127.0.0.1", 2525, "bench@bench.test", "alice@example.test", 2000, 20, []);
        var sizes = new List<int>();
        for (var i = 1; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--host": result = result with { Host = Next() }; break;
                case "--port": result = result with { Port = int.Parse(Next()) }; break;
                case "--from" when !imap: result = result with { From = Next() }; break;
                case "--to" when !imap: result = result with { To = Next() }; break;
                case "--messages" when !imap: result = result with { Messages = int.Parse(Next()) }; break;
                case "--sessions" when !imap: result = result with { Sessions = int.Parse(Next()) }; break;
                case "--size" when !imap:
                    while (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                        sizes.Add(ParseSize(args[++i]));
                    break;
                case "--user" when imap || submit: result = result with { User = Next() }; break;
                // The password on the command line is acceptable for a bench account on a scratch server only.
                case "--password" when imap || submit: result = result with { Password = Next() }; break;
                case "--sink-port" when submit: result = result with { SinkPort = int.Parse(Next()) }; break;
                case "--external-sink" when submit: result = result with { ExternalSink = true }; break;
                case "--appends" when imap: result = result with { Messages = int.Parse(Next()) }; break;
                case "--append-clients" when imap: result = result with { Sessions = int.Parse(Next()) }; break;
                case "--logins" when imap: result = result with { Logins = int.Parse(Next()) }; break;
                case "--clients" when imap: result = result with { Clients = int.Parse(Next()) }; break;
                case "--operations" when imap: result = result with { Operations = int.Parse(Next()) }; break;
                case "--word" when imap: result = result with { Word = Next() }; break;
                case "--warmup" when imap: result = result with { WarmupPercent = int.Parse(Next()) }; break;
                case "--phases" when imap:
                    var phases = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToHashSet(StringComparer.Ordinal);
                    if (phases.Count == 0 || !phases.IsSubsetOf(AllPhases))
                        return null;
                    result = result with { Phases = phases };
                    break;
                default: return null;
            }
        }
        return result with { Sizes = sizes.Count > 0 ? sizes : [10 * 1024] };
    }

    // imap-stress [--host H] [--port P] [--user U] --password PW [--sessions N] [--seconds S] [--plain]
    private static BenchArguments? ParseStress(string[] args)
    {
        var result = new BenchArguments("imap-stress", "127.0.0.1", 2143, "", "", 0, 20, []);
        for (var i = 1; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--host": result = result with { Host = Next() }; break;
                case "--port": result = result with { Port = int.Parse(Next()) }; break;
                case "--user": result = result with { User = Next() }; break;
                case "--password": result = result with { Password = Next() }; break;
                case "--sessions": result = result with { Sessions = int.Parse(Next()) }; break;
                case "--seconds": result = result with { Seconds = int.Parse(Next()) }; break;
                case "--plain": result = result with { StartTls = false }; break;
                default: return null;
            }
        }
        return result;
    }

    private static int ParseSize(string text)
    {
        var lower = text.ToLowerInvariant();
        return lower.EndsWith('k') ? int.Parse(lower[..^1]) * 1024
             : lower.EndsWith('m') ? int.Parse(lower[..^1]) * 1024 * 1024
             : int.Parse(lower);
    }
}
