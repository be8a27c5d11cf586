namespace MailServer.Bench;

/// <summary>The bench tool's options, parsed from the command line.</summary>
internal sealed record BenchArguments(
    string Mode,
    string Host,
    int Port,
    string From,
    string To,
    int Messages,
    int Sessions,
    IReadOnlyList<int> Sizes)
{
    public static BenchArguments? Parse(string[] args)
    {
        if (args.Length == 0 || args[0] != "smtp")
            return null;
        var result = new BenchArguments("smtp", "127.0.0.1", 2525, "bench@bench.test", "alice@example.test", 2000, 20, []);
        var sizes = new List<int>();
        for (var i = 1; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            switch (args[i])
            {
                case "--host": result = result with { Host = Next() }; break;
                case "--port": result = result with { Port = int.Parse(Next()) }; break;
                case "--from": result = result with { From = Next() }; break;
                case "--to": result = result with { To = Next() }; break;
                case "--messages": result = result with { Messages = int.Parse(Next()) }; break;
                case "--sessions": result = result with { Sessions = int.Parse(Next()) }; break;
                case "--size":
                    while (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
                        sizes.Add(ParseSize(args[++i]));
                    break;
                default: return null;
            }
        }
        return result with { Sizes = sizes.Count > 0 ? sizes : [10 * 1024] };
    }

    private static int ParseSize(string text)
    {
        var lower = text.ToLowerInvariant();
        return lower.EndsWith('k') ? int.Parse(lower[..^1]) * 1024
             : lower.EndsWith('m') ? int.Parse(lower[..^1]) * 1024 * 1024
             : int.Parse(lower);
    }
}
