using System.Text;
using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Syntax;

/// <summary>Arbitrary client bytes never make the parser or framer throw, and the framer stays within its bounds.</summary>
[TestFixture]
public sealed class RobustnessTests
{
    private static readonly string[] Seeds =
    [
        "A1 UID FETCH 1:*,5:3 (FLAGS BODY.PEEK[1.2.HEADER.FIELDS (From To)]<0.100> BINARY[1]) (CHANGEDSINCE 5 VANISHED)",
        "A2 SEARCH RETURN (MIN MAX) CHARSET UTF-8 OR (FROM \"a\\\"b\" SINCE 1-Jan-2020) NOT UID $ MODSEQ \"/flags/\\\\seen\" all 5",
        "A3 APPEND INBOX (\\Seen) \"01-Jan-0001 00:30:00 +0100\" {3}\r\nabc",
        "A4 SELECT INBOX (QRESYNC (1 2 1:5 (1:3 4:6)) CONDSTORE)",
        "A5 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (\"%\" \"*\") RETURN (STATUS (MESSAGES SIZE) CHILDREN)",
        "A6 UID STORE 1:3 (UNCHANGEDSINCE 9) -FLAGS.SILENT (\\Deleted $Junk)",
        "A7 SORT RETURN (COUNT) (REVERSE ARRIVAL SUBJECT) UTF-8 TEXT {2}\r\nhi",
        "A8 ID (\"name\" NIL \"x\" \"y\")",
        "A9 AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=",
        "B1 SETQUOTA \"\" (STORAGE 9223372036854775807)",
    ];

    [Test]
    public void Date_time_beyond_the_representable_range_is_bad_not_an_exception()
    {
        var result = ImapCommandParser.Parse("A3 APPEND INBOX \"01-Jan-0001 00:30:00 +0100\" {3}\r\nabc");

        Assert.That(result, Is.EqualTo(new ParseResult.Bad("A3", "date-time out of range")));
    }

    [Test]
    public void Parser_never_throws_on_mutated_commands()
    {
        var random = new Random(20261127);
        var seeds = Seeds.Select(Encoding.UTF8.GetBytes).ToArray();
        var outcomes = new Dictionary<Type, int>();
        for (var i = 0; i < 20_000; i++)
        {
            var input = Mutate(seeds[random.Next(seeds.Length)], random);
            var result = ImapCommandParser.Parse(input.AsSpan());
            outcomes[result.GetType()] = outcomes.GetValueOrDefault(result.GetType()) + 1;
        }
        Assert.That(outcomes.Keys, Is.EquivalentTo(new[] { typeof(ParseResult.Ok), typeof(ParseResult.Bad) }));
    }

    [Test]
    public void Framer_never_throws_and_stays_within_bounds_on_random_streams()
    {
        var limits = new ImapSyntaxLimits { MaxLineLength = 256, MaxLiteralSize = 512, MaxNonSynchronizingLiteralSize = 64, MaxCommandSize = 2048 };
        var framer = new ImapCommandFramer(limits);
        var random = new Random(42);
        var seeds = Seeds.Select(s => Encoding.UTF8.GetBytes(s + "\r\n")).ToArray();
        var commands = 0;
        for (var i = 0; i < 5_000; i++)
        {
            var input = Mutate(seeds[random.Next(seeds.Length)], random);
            var span = input.AsSpan();
            while (!span.IsEmpty)
            {
                var chunk = span[..Math.Min(span.Length, random.Next(1, 64))];
                var evt = framer.Push(chunk, out var consumed);
                span = span[consumed..];
                Assert.That(framer.BufferedBytes, Is.LessThanOrEqualTo(limits.MaxCommandSize));
                if (evt is FramerEvent.CommandReady ready)
                {
                    commands++;
                    Assert.That(ready.Command.Length, Is.LessThanOrEqualTo(limits.MaxCommandSize));
                    _ = ImapCommandParser.Parse(ready.Command, limits);
                }
                else if (evt is FramerEvent.Failed { Error.ConnectionUnusable: true })
                {
                    framer = new ImapCommandFramer(limits); // what a session does: drop the connection
                }
            }
        }
        Assert.That(commands, Is.GreaterThan(100));
    }

    private static readonly byte[] Specials = "(){}[]<>\"\\*%$+-:,. \r\n0123456789~"u8.ToArray();

    private static byte[] Mutate(byte[] seed, Random random)
    {
        var bytes = new List<byte>(seed);
        var edits = random.Next(1, 6);
        for (var e = 0; e < edits && bytes.Count > 0; e++)
        {
            var at = random.Next(bytes.Count);
            switch (random.Next(5))
            {
                case 0: bytes[at] = (byte)random.Next(256); break;
                case 1: bytes.RemoveAt(at); break;
                case 2: bytes.Insert(at, Specials[random.Next(Specials.Length)]); break;
                case 3: bytes.RemoveRange(at, Math.Min(bytes.Count - at, random.Next(1, 10))); break;
                default: bytes.InsertRange(at, bytes.GetRange(0, Math.Min(at, random.Next(1, 20)))); break;
            }
        }
        return bytes.ToArray();
    }
}
