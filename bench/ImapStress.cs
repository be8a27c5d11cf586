using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace MailServer.Bench;

/// <summary>What the state-checking stress run is to do.</summary>
/// <param name="Host">Server address.</param>
/// <param name="Port">The plain IMAP port (STARTTLS when <paramref name="StartTls"/>).</param>
/// <param name="User">The account; every session works on its INBOX.</param>
/// <param name="Password">Its password.</param>
/// <param name="Sessions">Concurrent sessions on the one mailbox.</param>
/// <param name="Duration">How long the sessions run commands before the final check.</param>
/// <param name="StartTls">Upgrade with STARTTLS before LOGIN (any certificate is accepted: a scratch server).</param>
/// <param name="Seed">Seed of the random choice of commands (session i uses Seed + i).</param>
public sealed record ImapStressOptions(string Host, int Port, string User, string Password, int Sessions, TimeSpan Duration,
    bool StartTls = false, int Seed = 1);

/// <summary>The outcome: commands run by kind and every response the RFC forbids (empty when the server conforms).</summary>
public sealed record ImapStressReport(IReadOnlyDictionary<string, long> Commands, IReadOnlyList<string> Violations, TimeSpan Elapsed)
{
    /// <summary>All commands run.</summary>
    public long Total => Commands.Values.Sum();

    /// <summary>One line per figure, for the bench's output.</summary>
    public IEnumerable<string> Format()
    {
        yield return $"imap-stress: {Total} commands in {Elapsed.TotalSeconds:F0} s ({Total / Math.Max(1, Elapsed.TotalSeconds):F0}/s), {Violations.Count} violations";
        foreach (var (name, count) in Commands.OrderBy(c => c.Key, StringComparer.Ordinal))
            yield return $"  {name,-10} {count,8}";
        // By kind (numbers and session ids blanked), then the first examples.
        foreach (var kind in Violations.GroupBy(v => Regex.Replace(v, @"\$?Stress\d+|\d+", "#")).OrderByDescending(g => g.Count()))
            yield return $"  {kind.Count(),6} x {kind.Key}";
        foreach (var violation in Violations.Take(20))
            yield return "  VIOLATION " + violation;
    }
}

/// <summary>
/// A state-checking IMAP stress client: N sessions on one INBOX run random APPEND, FETCH, STORE, SEARCH, EXPUNGE,
/// MOVE, IDLE and NOOP. Each keeps its own model of the mailbox (sequence number → UID, flags, MODSEQ, announced
/// keywords) from the responses alone and reports every response RFC 9051 / RFC 3501 / RFC 7162 forbid: a sequence
/// number out of range, an EXPUNGE during FETCH / STORE / SEARCH (§7.5.1), a FETCH whose UID contradicts the model,
/// a keyword not announced by FLAGS (§7.3.5), a MODSEQ going backwards (RFC 7162 §3.1.1), a UID given twice or not
/// ascending (§2.3.1.1), an EXISTS that shrinks, and, at the end, a flag change the session was never told of.
/// Each session owns a keyword of its own (only it sets or clears it), so its model of that keyword is exact.
/// </summary>
public static partial class ImapStress
{
    /// <summary>Runs the sessions for the duration, then checks every model against the server.</summary>
    public static async Task<ImapStressReport> RunAsync(ImapStressOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(options);
        var shared = new Shared();
        var sessions = new List<Session>();
        try
        {
            for (var i = 0; i < options.Sessions; i++)
                sessions.Add(await Session.OpenAsync(options, i, shared, cancellationToken));
            var clock = Stopwatch.StartNew();
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            stop.CancelAfter(options.Duration);
            await Task.WhenAll(sessions.Select(s => Task.Run(() => s.RunAsync(stop.Token), CancellationToken.None)));
            // Quiet now: each session hears what is pending and compares its model with the server's state.
            foreach (var session in sessions)
                await session.FinalCheckAsync(cancellationToken);
            return new ImapStressReport(shared.Commands.ToDictionary(p => p.Key, p => p.Value), [.. shared.Violations], clock.Elapsed);
        }
        finally
        {
            foreach (var session in sessions)
                session.Dispose();
        }
    }

    private sealed class Shared
    {
        public readonly ConcurrentDictionary<string, long> Commands = new(StringComparer.Ordinal);
        public readonly ConcurrentQueue<string> Violations = new();
        public readonly ConcurrentDictionary<uint, int> AssignedUids = new(); // UID → session that was given it
        public void Count(string command) => Commands.AddOrUpdate(command, 1, (_, n) => n + 1);
    }

    private sealed class Message(uint uid)
    {
        public uint Uid = uid; // 0 until a FETCH told it
        public readonly HashSet<string> Flags = new(StringComparer.OrdinalIgnoreCase);
        public ulong ModSeq;
    }

    private sealed partial class Session : IDisposable
    {
        private readonly TcpClient _tcp;
        private Stream _stream;
        private readonly byte[] _buffer = new byte[64 * 1024];
        private int _start, _end;
        private readonly int _id;
        private readonly Shared _shared;
        private readonly Random _random;
        private readonly string _keyword;
        private readonly List<Message> _messages = [];
        private readonly HashSet<string> _announced = new(StringComparer.OrdinalIgnoreCase);
        private readonly HashSet<uint> _seenUids = [];
        private readonly Dictionary<uint, bool> _ownKeyword = []; // UID → whether this session's keyword is set
        private readonly HashSet<uint> _touched = []; // UIDs a FETCH response named during the current command
        private uint _maxUid;
        private int _tag;
        private string _command = "";

        private Session(TcpClient tcp, int id, Shared shared, int seed)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
            _id = id;
            _shared = shared;
            _random = new Random(seed);
            _keyword = "$Stress" + id.ToString(CultureInfo.InvariantCulture);
        }

        public static async Task<Session> OpenAsync(ImapStressOptions options, int id, Shared shared, CancellationToken ct)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(options.Host, options.Port, ct);
            var session = new Session(tcp, id, shared, options.Seed + id);
            await session.ReadLineAsync(ct); // greeting
            if (options.StartTls)
            {
                await session.CommandAsync("STARTTLS", ct);
                var ssl = new SslStream(session._stream, false, (_, _, _, _) => true);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = options.Host }, ct);
                session._stream = ssl;
                session._start = session._end = 0;
            }
            await session.CommandAsync($"LOGIN {Quote(options.User)} {Quote(options.Password)}", ct, expectOk: true);
            await session.CommandAsync("SELECT INBOX (CONDSTORE)", ct, expectOk: true);
            await session.LearnUidsAsync(ct);
            return session;
        }

        public async Task RunAsync(CancellationToken stop)
        {
            try
            {
                while (!stop.IsCancellationRequested)
                    await StepAsync(CancellationToken.None);
            }
            catch (Exception e) when (e is IOException or InvalidOperationException)
            {
                Violation("session failed: " + e.Message);
            }
            catch (OperationCanceledException)
            {
                Violation($"no answer to {_command} within 60 s");
            }
        }

        private async Task StepAsync(CancellationToken ct)
        {
            var roll = _random.Next(100);
            if (_messages.Count < 5 || roll < 16)
            {
                await AppendAsync(ct);
            }
            else if (roll < 35)
            {
                var (from, to) = Range();
                await CommandAsync($"FETCH {from}:{to} (UID FLAGS MODSEQ)", ct, forbidsExpunge: true);
            }
            else if (roll < 42)
            {
                var from = _messages[_random.Next(_messages.Count)].Uid; // 0 while only EXISTS told of it
                if (from != 0)
                    await CommandAsync($"UID FETCH {from}:* (FLAGS MODSEQ)", ct);
            }
            else if (roll < 57)
            {
                await StoreAsync(ct);
            }
            else if (roll < 67)
            {
                await CommandAsync(_random.Next(3) switch
                {
                    0 => "SEARCH KEYWORD " + _keyword,
                    1 => "SEARCH UNDELETED FLAGGED",
                    _ => "SEARCH MODSEQ 1",
                }, ct, forbidsExpunge: true);
            }
            else if (roll < 72)
            {
                await CommandAsync("UID SEARCH KEYWORD " + _keyword, ct);
            }
            else if (roll < 81)
            {
                // Expunge one message of the model (only UIDs this session knows): flag it, then UID EXPUNGE it.
                var target = _messages[_random.Next(_messages.Count)];
                if (target.Uid != 0)
                {
                    await CommandAsync($"UID STORE {target.Uid} +FLAGS.SILENT (\\Deleted)", ct);
                    await CommandAsync($"UID EXPUNGE {target.Uid}", ct);
                }
            }
            else if (roll < 86)
            {
                var target = _messages[_random.Next(_messages.Count)];
                if (target.Uid != 0)
                    await CommandAsync($"UID MOVE {target.Uid} INBOX", ct); // to itself: a new UID (RFC 6851 §3.3)
            }
            else if (roll < 92)
            {
                await IdleAsync(ct);
            }
            else
            {
                await CommandAsync("NOOP", ct);
            }
            await LearnUidsAsync(ct);
        }

        private (int From, int To) Range()
        {
            var from = _random.Next(1, _messages.Count + 1);
            return (from, Math.Min(_messages.Count, from + _random.Next(20)));
        }

        private async Task AppendAsync(CancellationToken ct)
        {
            var body = $"From: stress@example.test\r\nSubject: stress {_id}\r\nMessage-ID: <{Guid.NewGuid():N}@stress>\r\n\r\n{new string('x', _random.Next(10, 6000))}\r\n";
            var maxBefore = _maxUid;
            var flags = _random.Next(2) == 0 ? "(\\Seen)" : "()";
            var reply = await CommandAsync($"APPEND INBOX {flags} {{{Encoding.ASCII.GetByteCount(body)}+}}\r\n{body}", ct);
            var match = AppendUid().Match(reply);
            if (!match.Success)
                return;
            var uid = uint.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
            if (uid <= maxBefore)
                Violation($"APPENDUID {uid} not above the highest UID already seen ({maxBefore})");
            Assign(uid);
        }

        private async Task StoreAsync(CancellationToken ct)
        {
            var index = _random.Next(_messages.Count);
            var message = _messages[index];
            if (message.Uid == 0)
                return;
            var set = _random.Next(2) == 0;
            var flag = _random.Next(3) switch { 0 => _keyword, 1 => "\\Flagged", _ => "\\Seen" };
            var uid = message.Uid;
            _touched.Clear();
            var reply = await CommandAsync($"STORE {index + 1} {(set ? "+" : "-")}FLAGS ({flag})", ct, forbidsExpunge: true);
            // Only a message the STORE answered for was changed (one expunged meanwhile by another session is not).
            if (flag == _keyword && reply.Contains(" OK ", StringComparison.Ordinal) && _touched.Contains(uid))
            {
                _ownKeyword[uid] = set;
                var now = _messages.FirstOrDefault(m => m.Uid == uid);
                if (now is not null && now.Flags.Contains(_keyword) != set)
                    Violation($"STORE {(set ? "+" : "-")}FLAGS ({flag}) on UID {uid}: its FETCH response shows the flag {(set ? "unset" : "set")}");
            }
        }

        private async Task IdleAsync(CancellationToken ct)
        {
            var tag = NextTag();
            _command = "IDLE";
            _shared.Count("IDLE");
            await SendAsync($"{tag} IDLE\r\n", ct);
            while (true)
            {
                var line = await ReadLineAsync(ct);
                if (line.StartsWith('+'))
                    break;
                if (line.StartsWith(tag + " ", StringComparison.Ordinal))
                    return;
                Untagged(line);
            }
            // Responses that arrive meanwhile wait in the socket; they are read after DONE (a cancelled read could
            // leave a TLS stream unusable).
            await Task.Delay(_random.Next(20, 300), ct);
            await SendAsync("DONE\r\n", ct);
            while (true)
            {
                var line = await ReadLineAsync(ct);
                if (line.StartsWith(tag + " ", StringComparison.Ordinal))
                    return;
                Untagged(line);
            }
        }

        /// <summary>Asks for the UIDs of messages the model knows only by EXISTS.</summary>
        private async Task LearnUidsAsync(CancellationToken ct)
        {
            var first = _messages.FindIndex(m => m.Uid == 0);
            if (first >= 0)
                await CommandAsync($"FETCH {first + 1}:{_messages.Count} (UID FLAGS MODSEQ)", ct, forbidsExpunge: true);
        }

        /// <summary>After the run: NOOP for anything pending, then every message's flags from the server must equal the
        /// model (a difference is a change the session was not told of), and the session's own keyword as it set it.</summary>
        public async Task FinalCheckAsync(CancellationToken ct)
        {
            await CommandAsync("NOOP", ct);
            await LearnUidsAsync(ct);
            var model = _messages.ToDictionary(m => m.Uid, m => m.Flags.Where(f => !f.Equals("\\Recent", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.OrdinalIgnoreCase).ToList());
            var count = _messages.Count;
            var server = new Dictionary<uint, List<string>>();
            var tag = NextTag();
            _command = "CHECK-FETCH";
            await SendAsync($"{tag} UID FETCH 1:* (FLAGS)\r\n", ct);
            while (true)
            {
                var line = await ReadLineAsync(ct);
                if (line.StartsWith(tag + " ", StringComparison.Ordinal))
                    break;
                var fetch = FetchLine().Match(line);
                if (fetch.Success && UidItem().Match(line) is { Success: true } u && FlagsItem().Match(line) is { Success: true } f)
                    server[uint.Parse(u.Groups[1].Value, CultureInfo.InvariantCulture)] = Split(f.Groups[1].Value)
                        .Where(x => !x.Equals("\\Recent", StringComparison.OrdinalIgnoreCase)).Order(StringComparer.OrdinalIgnoreCase).ToList();
                else
                    Untagged(line);
            }
            if (server.Count != count)
                Violation($"final: the model holds {count} messages, the server {server.Count}");
            foreach (var (uid, flags) in server)
            {
                if (!model.TryGetValue(uid, out var known))
                    Violation($"final: UID {uid} is on the server but was never announced");
                else if (!known.SequenceEqual(flags, StringComparer.OrdinalIgnoreCase))
                    Violation($"final: UID {uid} has flags ({string.Join(' ', flags)}), the session was told ({string.Join(' ', known)}): a flag change lost");
                if (_ownKeyword.TryGetValue(uid, out var set) && flags.Contains(_keyword, StringComparer.OrdinalIgnoreCase) != set)
                    Violation($"final: UID {uid}: {_keyword} was {(set ? "set" : "cleared")} by this session and is {(set ? "missing" : "still there")}");
            }
            await CommandAsync("LOGOUT", ct);
        }

        private string NextTag() => "s" + _id.ToString(CultureInfo.InvariantCulture) + "x" + (++_tag).ToString(CultureInfo.InvariantCulture);

        /// <summary>Sends a command, checks every untagged response against the model, returns the tagged line.</summary>
        private async Task<string> CommandAsync(string command, CancellationToken ct, bool forbidsExpunge = false, bool expectOk = false)
        {
            var tag = NextTag();
            var name = command.StartsWith("UID ", StringComparison.Ordinal) ? "UID " + command.Split(' ')[1] : command.Split(' ')[0];
            _command = name;
            _shared.Count(name);
            await SendAsync($"{tag} {command}\r\n", ct);
            while (true)
            {
                var line = await ReadLineAsync(ct);
                if (line.StartsWith(tag + " ", StringComparison.Ordinal))
                {
                    if (expectOk && !line.StartsWith(tag + " OK", StringComparison.Ordinal))
                        throw new InvalidOperationException($"{name} failed: {line}");
                    if (line.StartsWith(tag + " BAD", StringComparison.Ordinal))
                        Violation($"{name} answered BAD: {line}");
                    return line;
                }
                Untagged(line, forbidsExpunge);
            }
        }

        private void Untagged(string line, bool forbidsExpunge = false)
        {
            var numbered = Numbered().Match(line);
            if (numbered.Success)
            {
                var n = long.Parse(numbered.Groups[1].Value, CultureInfo.InvariantCulture);
                switch (numbered.Groups[2].Value.ToUpperInvariant())
                {
                    case "EXISTS":
                        if (n < _messages.Count)
                            Violation($"EXISTS {n} below the {_messages.Count} messages known (only EXPUNGE removes)");
                        while (_messages.Count < n)
                            _messages.Add(new Message(0));
                        return;
                    case "EXPUNGE":
                        if (forbidsExpunge)
                            Violation($"EXPUNGE during {_command} (RFC 9051 §7.5.1)");
                        if (n < 1 || n > _messages.Count)
                        {
                            Violation($"EXPUNGE {n} out of range 1..{_messages.Count}");
                            return;
                        }
                        _ownKeyword.Remove(_messages[(int)n - 1].Uid);
                        _messages.RemoveAt((int)n - 1);
                        return;
                    case "FETCH":
                        Fetch(n, line);
                        return;
                    case "RECENT":
                        return;
                }
                return;
            }
            if (line.StartsWith("* FLAGS ", StringComparison.OrdinalIgnoreCase))
            {
                _announced.Clear();
                foreach (var flag in Split(line[(line.IndexOf('(') + 1)..line.LastIndexOf(')')]))
                    _announced.Add(flag);
                return;
            }
            var copied = CopyUid().Match(line);
            if (copied.Success)
            {
                Assign(uint.Parse(copied.Groups[1].Value, CultureInfo.InvariantCulture));
                return;
            }
            var search = SearchLine().Match(line);
            if (search.Success)
            {
                var uid = _command.StartsWith("UID", StringComparison.Ordinal);
                var current = uid ? _messages.Select(m => m.Uid).ToHashSet() : null;
                // Messages told of by EXISTS whose UID the session has not fetched yet may be named: above every known UID.
                var unknownAbove = uid && current!.Contains(0) ? _maxUid : uint.MaxValue;
                foreach (var token in search.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    if (!uint.TryParse(token, CultureInfo.InvariantCulture, out var number))
                        break; // "(MODSEQ n)"
                    if (uid ? !current!.Contains(number) && number <= unknownAbove : number < 1 || number > _messages.Count)
                        Violation($"{_command} returned {(uid ? "UID" : "sequence number")} {number} the session does not know (count {_messages.Count}, highest known UID {_maxUid})");
                }
                return;
            }
            if (line.StartsWith("* BYE", StringComparison.OrdinalIgnoreCase) && _command != "LOGOUT")
                Violation("unexpected " + line);
        }

        private void Fetch(long n, string line)
        {
            if (n < 1 || n > _messages.Count)
            {
                Violation($"FETCH for sequence number {n} out of range 1..{_messages.Count} during {_command}");
                return;
            }
            var message = _messages[(int)n - 1];
            var uidItem = UidItem().Match(line);
            if (message.Uid != 0)
                _touched.Add(message.Uid);
            if (uidItem.Success)
            {
                var uid = uint.Parse(uidItem.Groups[1].Value, CultureInfo.InvariantCulture);
                if (message.Uid == 0)
                {
                    var previous = n >= 2 ? _messages[(int)n - 2].Uid : 0;
                    if (uid <= previous || (n < _messages.Count && _messages[(int)n].Uid != 0 && uid >= _messages[(int)n].Uid))
                        Violation($"UID {uid} at sequence number {n} breaks ascending order");
                    if (!_seenUids.Add(uid))
                        Violation($"UID {uid} announced again after it was expunged (UIDs are never reused)");
                    message.Uid = uid;
                    _touched.Add(uid);
                    _maxUid = Math.Max(_maxUid, uid);
                }
                else if (message.Uid != uid)
                {
                    Violation($"FETCH {n} says UID {uid}, the model has UID {message.Uid} there");
                }
            }
            var flags = FlagsItem().Match(line);
            if (flags.Success)
            {
                message.Flags.Clear();
                foreach (var flag in Split(flags.Groups[1].Value))
                {
                    message.Flags.Add(flag);
                    if (!flag.StartsWith('\\') && !_announced.Contains(flag))
                        Violation($"keyword {flag} in FETCH before any FLAGS announced it (RFC 9051 §7.3.5)");
                }
            }
            var modseq = ModSeqItem().Match(line);
            if (modseq.Success)
            {
                var value = ulong.Parse(modseq.Groups[1].Value, CultureInfo.InvariantCulture);
                if (value < message.ModSeq)
                    Violation($"MODSEQ of UID {message.Uid} went back from {message.ModSeq} to {value} (RFC 7162 §3.1.1)");
                message.ModSeq = Math.Max(message.ModSeq, value);
            }
        }

        private void Assign(uint uid)
        {
            if (!_shared.AssignedUids.TryAdd(uid, _id))
                Violation($"UID {uid} assigned twice");
        }

        private void Violation(string text) => _shared.Violations.Enqueue($"session {_id}: {text}");

        private static IEnumerable<string> Split(string list) => list.Split(' ', StringSplitOptions.RemoveEmptyEntries);

        private static string Quote(string text) => "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

        private async Task SendAsync(string text, CancellationToken ct) => await _stream.WriteAsync(Encoding.UTF8.GetBytes(text), ct);

        /// <summary>One response line (literals inlined; none are expected).</summary>
        private async Task<string> ReadLineAsync(CancellationToken ct)
        {
            var line = new List<byte>(128);
            while (true)
            {
                if (_start == _end)
                {
                    using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    timeout.CancelAfter(TimeSpan.FromSeconds(60));
                    _start = 0;
                    _end = await _stream.ReadAsync(_buffer, timeout.Token);
                    if (_end == 0)
                        throw new IOException("The server closed the connection.");
                }
                var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (lf < 0)
                {
                    line.AddRange(_buffer.AsSpan(_start, _end - _start));
                    _start = _end;
                    continue;
                }
                line.AddRange(_buffer.AsSpan(_start, lf - _start));
                _start = lf + 1;
                return Encoding.UTF8.GetString([.. line]).TrimEnd('\r');
            }
        }

        public void Dispose()
        {
            _stream.Dispose();
            _tcp.Dispose();
        }

        [GeneratedRegex(@"^\* (\d+) (EXISTS|EXPUNGE|FETCH|RECENT)\b", RegexOptions.IgnoreCase)]
        private static partial Regex Numbered();

        [GeneratedRegex(@"^\* \d+ FETCH ", RegexOptions.IgnoreCase)]
        private static partial Regex FetchLine();

        [GeneratedRegex(@"[ (]UID (\d+)")]
        private static partial Regex UidItem();

        [GeneratedRegex(@"FLAGS \(([^)]*)\)")]
        private static partial Regex FlagsItem();

        [GeneratedRegex(@"MODSEQ \((\d+)\)")]
        private static partial Regex ModSeqItem();

        [GeneratedRegex(@"^\* SEARCH(.*)$")]
        private static partial Regex SearchLine();

        [GeneratedRegex(@"\[COPYUID \d+ \d+ (\d+)\]")]
        private static partial Regex CopyUid();

        [GeneratedRegex(@"\[APPENDUID \d+ (\d+)\]")]
        private static partial Regex AppendUid();
    }
}
