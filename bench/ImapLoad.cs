using System.Diagnostics;
using System.Runtime.CompilerServices;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailKit.Security;
using MimeKit;

namespace MailServer.Bench;

/// <summary>
/// IMAP measurements against a running server, all over STARTTLS with MailKit: single-client command times on the
/// INBOX as it is, then APPEND, LOGIN and mixed-load rates over concurrent clients. Prints one line per figure.
/// </summary>
internal static class ImapLoad
{
    private const string AppendFolder = "Bench Appends";

    public static async IAsyncEnumerable<string> RunAsync(BenchArguments options, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        yield return $"imap {options.Host}:{options.Port} user={options.User}";
        using (var client = await ConnectAsync(options, cancellationToken))
        {
            if (!options.Runs("single"))
            {
                await EnsureFolderAsync(client, cancellationToken);
                await client.DisconnectAsync(true, cancellationToken);
                goto rates;
            }
            var inbox = client.Inbox;
            var (_, select) = await TimeAsync(() => inbox.OpenAsync(FolderAccess.ReadWrite, cancellationToken));
            yield return $"SELECT INBOX                         {select,9:F1} ms   exists={inbox.Count}";
            // The store's folder metadata cache is shared: a second session's SELECT copies it instead of reading LiteDB.
            using (var second = await ConnectAsync(options, cancellationToken))
            {
                var (_, again) = await TimeAsync(() => second.Inbox.OpenAsync(FolderAccess.ReadWrite, cancellationToken));
                yield return $"SELECT INBOX, another session        {again,9:F1} ms   exists={second.Inbox.Count}";
                await second.DisconnectAsync(true, cancellationToken);
            }

            var (flags, fetchFlags) = await TimeAsync(() => inbox.FetchAsync(0, -1, MessageSummaryItems.Flags, cancellationToken));
            yield return $"FETCH 1:* (FLAGS)                    {fetchFlags,9:F1} ms   {flags.Count} messages";

            var headers = new FetchRequest(MessageSummaryItems.Envelope, new HeaderSet([HeaderId.From, HeaderId.Subject, HeaderId.Date]));
            var first = Math.Max(0, inbox.Count - 50);
            var (page, fetchHeaders) = await TimeAsync(() => inbox.FetchAsync(first, -1, headers, cancellationToken));
            yield return $"FETCH 50 (ENVELOPE BODY.PEEK[HEADER.FIELDS (From Subject Date)]) {fetchHeaders,9:F1} ms   {page.Count} messages";

            var (hits, search) = await TimeAsync(() => inbox.SearchAsync(SearchQuery.BodyContains(options.Word), cancellationToken));
            yield return $"UID SEARCH BODY {options.Word,-20} {search,9:F1} ms   {hits.Count} hits";

            // One client, one command at a time: the round trip of a page FETCH with nothing else running.
            var random = new Random(1);
            var pageTimes = new double[200];
            for (var i = 0; i < pageTimes.Length; i++)
            {
                var start = random.Next(Math.Max(1, inbox.Count - 19));
                (_, pageTimes[i]) = await TimeAsync(() => inbox.FetchAsync(start, Math.Min(inbox.Count - 1, start + 19), MessageSummaryItems.Flags, cancellationToken));
            }
            Array.Sort(pageTimes);
            yield return $"FETCH 20 (FLAGS), one client x{pageTimes.Length}      p50={Percentile(pageTimes, 0.50):F2}ms p99={Percentile(pageTimes, 0.99):F2}ms";

            await EnsureFolderAsync(client, cancellationToken);
            await client.DisconnectAsync(true, cancellationToken);
        }

    rates:
        // Each rate run is preceded by a shorter one of the same kind, not reported (--warmup percent of it): the
        // figures are the server's steady state, after the runtime has compiled the paths they take.
        var warm = options.WarmupPercent / 100.0;
        if (options.Runs("append"))
        {
            if (warm > 0)
                await AppendRateAsync(options with { Messages = Math.Max(1, (int)(options.Messages * warm)) }, cancellationToken);
            yield return (await AppendRateAsync(options, cancellationToken)).Format("APPEND", "appends");
        }
        if (options.Runs("login"))
        {
            if (warm > 0)
                await LoginRateAsync(options with { Logins = Math.Max(1, (int)(options.Logins * warm)) }, cancellationToken);
            yield return (await LoginRateAsync(options, cancellationToken)).Format("LOGIN (connect+STARTTLS+LOGIN+LOGOUT)", "logins");
        }
        if (!options.Runs("mixed"))
            yield break;
        if (warm > 0)
            await MixedLoadAsync(options with { Operations = Math.Max(1, (int)(options.Operations * warm)) }, cancellationToken);
        foreach (var line in await MixedLoadAsync(options, cancellationToken))
            yield return line;
        if (warm > 0)
            yield return $"(each rate after an unreported warm-up run of {options.WarmupPercent}% of its size)";
    }

    private static async Task<ImapClient> ConnectAsync(BenchArguments options, CancellationToken cancellationToken)
    {
        var client = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true, Timeout = 600_000 };
        await client.ConnectAsync(options.Host, options.Port, SecureSocketOptions.StartTls, cancellationToken);
        await client.AuthenticateAsync(options.User, options.Password, cancellationToken);
        return client;
    }

    private static async Task EnsureFolderAsync(ImapClient client, CancellationToken cancellationToken)
    {
        var root = client.GetFolder(client.PersonalNamespaces[0]);
        var existing = await root.GetSubfoldersAsync(false, cancellationToken);
        if (!existing.Any(f => f.Name == AppendFolder))
            await root.CreateAsync(AppendFolder, true, cancellationToken);
    }

    private static async Task<RateResult> AppendRateAsync(BenchArguments options, CancellationToken cancellationToken)
    {
        var next = -1;
        var latencies = new double[options.Messages];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, options.Sessions).Select(async clientIndex =>
        {
            using var client = await ConnectAsync(options, cancellationToken);
            var folder = await client.GetFolderAsync(AppendFolder, cancellationToken);
            int index;
            while ((index = Interlocked.Increment(ref next)) < options.Messages)
            {
                var message = new MimeMessage();
                message.From.Add(MailboxAddress.Parse("bench@bench.test"));
                message.To.Add(MailboxAddress.Parse(options.User));
                message.Subject = $"appended #{index} c{clientIndex}";
                message.Body = new TextPart("plain") { Text = Filler };
                var started = Stopwatch.GetTimestamp();
                await folder.AppendAsync(message, MessageFlags.Seen, cancellationToken);
                latencies[index] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            }
            await client.DisconnectAsync(true, cancellationToken);
        }));
        clock.Stop();
        return new RateResult(options.Messages, options.Sessions, clock.Elapsed, latencies);
    }

    /// <summary>Each login is a fresh connection; the latency is the LOGIN command alone (the password hash check).</summary>
    private static async Task<RateResult> LoginRateAsync(BenchArguments options, CancellationToken cancellationToken)
    {
        var next = -1;
        var latencies = new double[options.Logins];
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, options.Sessions).Select(async _ =>
        {
            int index;
            while ((index = Interlocked.Increment(ref next)) < options.Logins)
            {
                using var client = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
                await client.ConnectAsync(options.Host, options.Port, SecureSocketOptions.StartTls, cancellationToken);
                var started = Stopwatch.GetTimestamp();
                await client.AuthenticateAsync(options.User, options.Password, cancellationToken);
                latencies[index] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                await client.DisconnectAsync(true, cancellationToken);
            }
        }));
        clock.Stop();
        return new RateResult(options.Logins, options.Sessions, clock.Elapsed, latencies);
    }

    private enum Operation { Noop, FetchPage, SearchUnseen, StoreFlag }

    private static async Task<IReadOnlyList<string>> MixedLoadAsync(BenchArguments options, CancellationToken cancellationToken)
    {
        var total = options.Clients * options.Operations;
        var latencies = new double[total];
        var kinds = new Operation[total];
        var clients = new List<ImapClient>();
        // Connect and SELECT first, so the measured window holds only the mixed operations.
        foreach (var _ in Enumerable.Range(0, options.Clients))
        {
            var client = await ConnectAsync(options, cancellationToken);
            await client.Inbox.OpenAsync(FolderAccess.ReadWrite, cancellationToken);
            clients.Add(client);
        }
        var clock = Stopwatch.StartNew();
        await Task.WhenAll(clients.Select(async (client, clientIndex) =>
        {
            var random = new Random(clientIndex);
            var inbox = client.Inbox;
            for (var i = 0; i < options.Operations; i++)
            {
                var slot = clientIndex * options.Operations + i;
                var kind = (Operation)random.Next(4);
                var count = inbox.Count;
                var started = Stopwatch.GetTimestamp();
                switch (kind)
                {
                    case Operation.Noop:
                        await client.NoOpAsync(cancellationToken);
                        break;
                    case Operation.FetchPage when count > 0:
                        var start = random.Next(Math.Max(1, count - 19));
                        await inbox.FetchAsync(start, Math.Min(count - 1, start + 19), MessageSummaryItems.Flags, cancellationToken);
                        break;
                    case Operation.SearchUnseen:
                        await inbox.SearchAsync(SearchQuery.NotSeen, cancellationToken);
                        break;
                    case Operation.StoreFlag when count > 0:
                        await inbox.AddFlagsAsync(random.Next(count), MessageFlags.Flagged, true, cancellationToken);
                        break;
                    default:
                        await client.NoOpAsync(cancellationToken);
                        kind = Operation.Noop;
                        break;
                }
                latencies[slot] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                kinds[slot] = kind;
            }
        }));
        clock.Stop();
        foreach (var client in clients)
        {
            await client.DisconnectAsync(true, cancellationToken);
            client.Dispose();
        }

        var lines = new List<string> { new RateResult(total, options.Clients, clock.Elapsed, latencies).Format("mixed load", "ops") };
        foreach (var kind in Enum.GetValues<Operation>())
        {
            var own = latencies.Where((_, i) => kinds[i] == kind).ToArray();
            Array.Sort(own);
            lines.Add($"  {kind,-13} n={own.Length,6}  p50={Percentile(own, 0.50):F2}ms p99={Percentile(own, 0.99):F2}ms");
        }
        return lines;
    }

    private sealed record RateResult(int Count, int Clients, TimeSpan Elapsed, double[] Latencies)
    {
        public string Format(string what, string unit)
        {
            var sorted = Latencies.ToArray();
            Array.Sort(sorted);
            return $"{what}: {Count} {unit} from {Clients} clients in {Elapsed.TotalSeconds:F2}s  " +
                   $"{Count / Elapsed.TotalSeconds,8:F1} {unit}/s  p50={Percentile(sorted, 0.50):F2}ms p99={Percentile(sorted, 0.99):F2}ms";
        }
    }

    private static async Task<(T Result, double Milliseconds)> TimeAsync<T>(Func<Task<T>> action)
    {
        var started = Stopwatch.GetTimestamp();
        var result = await action();
        return (result, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private static async Task<(bool, double)> TimeAsync(Func<Task> action)
    {
        var started = Stopwatch.GetTimestamp();
        await action();
        return (true, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    private static double Percentile(double[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))];

    /// <summary>About 2 KB of text: a typical short message body.</summary>
    private static readonly string Filler = string.Concat(Enumerable.Repeat(
        "The quick brown fox jumps over the lazy dog while the bench appends messages.\r\n", 26));
}
