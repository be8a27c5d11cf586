using System.Diagnostics;
using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;
using MimeKit;

namespace MailServer.Bench;

/// <summary>
/// <c>mailserver-bench search</c>: fills the folder "Search Bench" with N generated messages (MULTIAPPEND, 64 per
/// command; about 2 KiB of text each, words drawn from a 20,000-word vocabulary with Zipf frequencies, so some words are
/// in almost every message and most are rare; "xylophonist" is in one message of 10,000), waits until a body SEARCH is
/// answered from the server's search index, then times SEARCH BODY / TEXT for a rare word, a common word, substrings,
/// a phrase and a key with no letter (which the index cannot answer: every message is read, as before the index).
/// </summary>
internal static class SearchBench
{
    private const string Folder = "Search Bench";
    private const string Rare = "xylophonist";

    public static async Task<int> RunAsync(string[] args)
    {
        string host = "127.0.0.1", user = "alice@example.test", password = "";
        int port = 2143, messages = 100_000, runs = 5;
        var startTls = true;
        for (var i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--host": host = args[++i]; break;
                case "--port": port = int.Parse(args[++i]); break;
                case "--user": user = args[++i]; break;
                case "--password": password = args[++i]; break;
                case "--messages": messages = int.Parse(args[++i]); break;
                case "--runs": runs = int.Parse(args[++i]); break;
                case "--plain": startTls = false; break;
                default: Console.Error.WriteLine($"unknown option {args[i]}"); return 1;
            }
        }
        var vocabulary = Vocabulary(20_000);
        using var client = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 600_000 };
        await client.ConnectAsync(host, port, startTls ? SecureSocketOptions.StartTls : SecureSocketOptions.None);
        await client.AuthenticateAsync(user, password);
        var root = client.GetFolder(client.PersonalNamespaces[0]);
        var folder = (await root.GetSubfoldersAsync(false)).FirstOrDefault(f => f.Name == Folder) ?? (await root.CreateAsync(Folder, true))!;
        await folder.OpenAsync(FolderAccess.ReadWrite);
        if (folder.Count < messages)
        {
            var clock = Stopwatch.StartNew();
            var missing = messages - folder.Count;
            var random = new Random(42 + folder.Count);
            for (var next = folder.Count; next < messages; next += 64)
            {
                var batch = Enumerable.Range(next, Math.Min(64, messages - next))
                    .Select(n => (IAppendRequest)new AppendRequest(Message(n, vocabulary, random), MessageFlags.Seen)).ToList();
                await folder.AppendAsync(batch);
            }
            Console.WriteLine($"# filled {missing:N0} messages in {clock.Elapsed.TotalSeconds:F1} s");
        }
        await folder.CloseAsync();
        await folder.OpenAsync(FolderAccess.ReadOnly);
        Console.WriteLine($"# folder {Folder}: {folder.Count:N0} messages");

        // The index is built behind intake: wait until a rare-word search takes less than a second twice running.
        var waited = Stopwatch.StartNew();
        var fast = 0;
        while (fast < 2 && waited.Elapsed < TimeSpan.FromMinutes(20))
        {
            var (_, ms) = await TimeAsync(() => folder.SearchAsync(SearchQuery.BodyContains(Rare)));
            fast = ms < 1000 ? fast + 1 : 0;
            if (fast < 2)
                await Task.Delay(2000);
        }
        Console.WriteLine($"# index ready after {waited.Elapsed.TotalSeconds:F0} s of waiting");

        var common = vocabulary[0];
        var queries = new (string Label, SearchQuery Query)[]
        {
            ($"BODY {Rare} (rare word)", SearchQuery.BodyContains(Rare)),
            ($"BODY {common} (common word)", SearchQuery.BodyContains(common)),
            ($"BODY {vocabulary[500]} (mid-frequency word)", SearchQuery.BodyContains(vocabulary[500])),
            ("BODY lophoni (substring of the rare word)", SearchQuery.BodyContains("lophoni")),
            ($"BODY {vocabulary[3][1..^1]} (substring of a common word)", SearchQuery.BodyContains(vocabulary[3][1..^1])),
            ($"TEXT {Rare}", SearchQuery.MessageContains(Rare)),
            ($"BODY \"{vocabulary[0]} {vocabulary[1]}\" (phrase: candidates read)", SearchQuery.BodyContains($"{vocabulary[0]} {vocabulary[1]}")),
            ($"BODY \"{Rare} {vocabulary[0]}\" (rare phrase: candidates read)", SearchQuery.BodyContains($"{Rare} {vocabulary[0]}")),
            ("BODY \"~\" (no letter: every message read, as without the index)", SearchQuery.BodyContains("~")),
        };
        Console.WriteLine($"{"UID SEARCH",-70} {"median",10} {"min",10} {"hits",8}");
        foreach (var (label, query) in queries)
        {
            var times = new List<double>();
            var hits = 0;
            for (var r = 0; r < (label.Contains('~') ? Math.Min(runs, 2) : runs); r++)
            {
                var (found, ms) = await TimeAsync(() => folder.SearchAsync(query));
                hits = found.Count;
                times.Add(ms);
            }
            times.Sort();
            Console.WriteLine($"{label,-70} {times[times.Count / 2],7:F1} ms {times[0],7:F1} ms {hits,8:N0}");
        }
        await client.DisconnectAsync(true);
        return 0;
    }

    private static async Task<(T Result, double Milliseconds)> TimeAsync<T>(Func<Task<T>> action)
    {
        var started = Stopwatch.GetTimestamp();
        var result = await action();
        return (result, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    /// <summary>Pronounceable pseudo-words, most frequent first.</summary>
    private static List<string> Vocabulary(int count)
    {
        string[] syllables = ["ka", "lo", "mi", "ne", "tu", "ra", "se", "vo", "pi", "da", "ge", "bu", "fo", "ri", "sa", "te", "no", "li", "mo", "ze"];
        var random = new Random(7);
        var words = new HashSet<string>(StringComparer.Ordinal);
        var ordered = new List<string>();
        while (ordered.Count < count)
        {
            var length = 2 + random.Next(3);
            var word = string.Concat(Enumerable.Range(0, length).Select(_ => syllables[random.Next(syllables.Length)]));
            if (words.Add(word))
                ordered.Add(word);
        }
        return ordered;
    }

    private static MimeMessage Message(int n, List<string> vocabulary, Random random)
    {
        var body = new StringBuilder();
        var line = 0;
        while (body.Length < 2000)
        {
            // Zipf: rank r with probability ~ 1/r.
            var rank = (int)Math.Floor(Math.Pow(vocabulary.Count, random.NextDouble())) - 1;
            body.Append(vocabulary[Math.Clamp(rank, 0, vocabulary.Count - 1)]);
            body.Append(++line % 12 == 0 ? "\r\n" : " ");
        }
        if (n % 10_000 == 4321)
            body.Append(' ').Append(Rare).Append(' ').Append(vocabulary[0]).Append("\r\n");
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress($"Sender {n % 97}", $"sender{n % 97}@bench.test"));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.Subject = $"bench message {n}";
        message.Date = new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero).AddMinutes(n);
        message.Body = new TextPart("plain") { Text = body.ToString() };
        return message;
    }
}
