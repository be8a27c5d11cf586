using System.Text;
using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Syntax;

/// <summary>The framer cuts commands out of a byte stream and enforces its bounds without buffering discarded input.</summary>
[TestFixture]
public sealed class FramerTests
{
    private static readonly ImapSyntaxLimits Small = new()
    {
        MaxLineLength = 128,
        MaxLiteralSize = 1000,
        MaxNonSynchronizingLiteralSize = 100,
        MaxNestingDepth = 4,
        MaxLiteralsPerCommand = 2,
        MaxCommandSize = 4096,
    };

    /// <summary>Feeds all of <paramref name="input"/>, in chunks of <paramref name="chunk"/> bytes, collecting events.</summary>
    private static List<FramerEvent> Feed(ImapCommandFramer framer, byte[] input, int chunk = int.MaxValue)
    {
        var events = new List<FramerEvent>();
        for (var offset = 0; offset < input.Length; offset += Math.Min(chunk, input.Length - offset))
        {
            var piece = input.AsSpan(offset, Math.Min(chunk, input.Length - offset));
            while (!piece.IsEmpty)
            {
                var evt = framer.Push(piece, out var consumed);
                piece = piece[consumed..];
                if (evt is not null)
                {
                    events.Add(evt);
                }
                else
                {
                    Assert.That(piece.IsEmpty, "Push returned no event but left input unread");
                }
            }
        }
        return events;
    }

    private static string Text(FramerEvent evt) => Encoding.UTF8.GetString(((FramerEvent.CommandReady)evt).Command.Span);

    [Test]
    public void Two_pipelined_commands_are_framed_one_at_a_time()
    {
        var framer = new ImapCommandFramer();
        var input = "a1 NOOP\r\na2 CAPABILITY\r\n"u8;

        var first = framer.Push(input, out var consumed);

        Assert.That(Text(first!), Is.EqualTo("a1 NOOP"));
        Assert.That(consumed, Is.EqualTo(9), "bytes after the first command stay with the caller (STARTTLS injection)");
        var second = framer.Push(input[consumed..], out consumed);
        Assert.That(Text(second!), Is.EqualTo("a2 CAPABILITY"));
        Assert.That(framer.IsIdle, Is.True);
    }

    [Test]
    public void Command_fed_one_byte_at_a_time_is_framed_once()
    {
        var events = Feed(new ImapCommandFramer(), "a1 LOGIN {5+}\r\nalice \"pw\"\r\n"u8.ToArray(), chunk: 1);

        Assert.That(events, Has.Count.EqualTo(1));
        Assert.That(Text(events[0]), Is.EqualTo("a1 LOGIN {5+}\r\nalice \"pw\""));
    }

    [Test]
    public void Synchronising_literal_asks_for_continuation_then_completes()
    {
        var framer = new ImapCommandFramer();

        var events = Feed(framer, "A001 LOGIN {11}\r\n"u8.ToArray());
        Assert.That(events, Is.EqualTo(new FramerEvent[] { new FramerEvent.ContinuationNeeded("A001", 11) }));

        events = Feed(framer, "FRED FOOBAR {7}\r\n"u8.ToArray());
        Assert.That(events, Is.EqualTo(new FramerEvent[] { new FramerEvent.ContinuationNeeded("A001", 7) }));

        events = Feed(framer, "fat man\r\n"u8.ToArray());
        Assert.That(events, Has.Count.EqualTo(1));
        var parsed = ImapCommandParser.Parse(((FramerEvent.CommandReady)events[0]).Command);
        Assert.That(parsed, Is.EqualTo(new ParseResult.Ok(new LoginCommand("A001", "FRED FOOBAR", "fat man")))); // RFC 9051 §6.2.3 / RFC 7888 §3
    }

    [Test]
    public void Literal_containing_crlf_and_parentheses_is_not_mistaken_for_line_structure()
    {
        var framer = new ImapCommandFramer(Small);

        var events = Feed(framer, "a APPEND INBOX {12+}\r\n((((\r\n{3}\r\nx\r\n"u8.ToArray());

        Assert.That(events, Has.Count.EqualTo(1));
        Assert.That(Text(events[0]), Is.EqualTo("a APPEND INBOX {12+}\r\n((((\r\n{3}\r\nx"));
    }

    [Test]
    public void Empty_lines_between_commands_are_ignored()
    {
        var events = Feed(new ImapCommandFramer(), "\r\n\r\na NOOP\r\n"u8.ToArray());

        Assert.That(events.Select(Text), Is.EqualTo(new[] { "a NOOP" }));
    }

    [Test]
    public void Oversized_line_fails_with_its_tag_without_buffering_the_rest()
    {
        var framer = new ImapCommandFramer(Small);
        var longLine = "t1 SEARCH " + new string('x', 100_000);

        var evt = framer.Push(Encoding.ASCII.GetBytes(longLine), out var consumed);

        Assert.That(evt, Is.EqualTo(new FramerEvent.Failed(new ImapFramingError("t1", FramingErrorKind.LineTooLong, "Line longer than 128 octets", false))));
        Assert.That(framer.BufferedBytes, Is.Zero);
        var rest = Encoding.ASCII.GetBytes(longLine[consumed..] + "\r\nt2 NOOP\r\n");
        var events = Feed(framer, rest);
        Assert.That(events.Select(Text), Is.EqualTo(new[] { "t2 NOOP" }));
        Assert.That(framer.BufferedBytes, Is.Zero);
    }

    [Test]
    public void Oversized_synchronising_literal_fails_before_any_data_is_sent()
    {
        var framer = new ImapCommandFramer(Small);

        var events = Feed(framer, "a1 APPEND INBOX {1001}\r\na2 NOOP\r\n"u8.ToArray());

        Assert.That(events, Has.Count.EqualTo(2));
        Assert.That(((FramerEvent.Failed)events[0]).Error, Is.EqualTo(new ImapFramingError("a1", FramingErrorKind.LiteralTooLarge, "Literal larger than 1000 octets", false)));
        Assert.That(Text(events[1]), Is.EqualTo("a2 NOOP"), "the client never got '+', so the next line is a new command");
    }

    [Test]
    public void Oversized_non_synchronising_literal_is_skipped_so_its_content_is_never_run_as_a_command()
    {
        var framer = new ImapCommandFramer(Small);
        var injected = "x DELETE INBOX\r\n" + new string('y', 200 - 16);

        var events = Feed(framer, Encoding.ASCII.GetBytes("a1 APPEND INBOX {200+}\r\n" + injected + "\r\na2 NOOP\r\n"), chunk: 7);

        Assert.That(events, Has.Count.EqualTo(2));
        var error = ((FramerEvent.Failed)events[0]).Error;
        Assert.That(error.Kind, Is.EqualTo(FramingErrorKind.NonSynchronizingLiteralTooLarge));
        Assert.That(error.Tag, Is.EqualTo("a1"));
        Assert.That(Text(events[1]), Is.EqualTo("a2 NOOP"));
    }

    [Test]
    public void Huge_non_synchronising_literal_is_discarded_with_bounded_memory()
    {
        var framer = new ImapCommandFramer(Small with { MaxNonSynchronizingLiteralSize = null });
        Assert.That(framer.Push("a1 APPEND INBOX {50000000+}\r\n"u8, out _), Is.TypeOf<FramerEvent.Failed>());

        var block = new byte[1 << 20];
        for (var i = 0; i < 47; i++)
        {
            Assert.That(framer.Push(block, out var consumed), Is.Null);
            Assert.That(consumed, Is.EqualTo(block.Length));
            Assert.That(framer.BufferedBytes, Is.Zero);
        }
        var tail = new byte[50_000_000 - 47 * block.Length];
        Assert.That(Feed(framer, tail), Is.Empty);
        Assert.That(Feed(framer, "\r\na2 NOOP\r\n"u8.ToArray()).Select(Text), Is.EqualTo(new[] { "a2 NOOP" }));
    }

    [Test]
    public void Deep_nesting_fails_with_a_typed_error()
    {
        var framer = new ImapCommandFramer(Small);

        var events = Feed(framer, "n1 SEARCH ((((((ALL))))))\r\nn2 NOOP\r\n"u8.ToArray());

        Assert.That(((FramerEvent.Failed)events[0]).Error.Kind, Is.EqualTo(FramingErrorKind.NestingTooDeep));
        Assert.That(Text(events[1]), Is.EqualTo("n2 NOOP"));
    }

    [Test]
    public void Too_many_literals_fail_with_a_typed_error()
    {
        var framer = new ImapCommandFramer(Small);

        var events = Feed(framer, "m1 LOGIN {1+}\r\na {1+}\r\nb {1}\r\nm2 NOOP\r\n"u8.ToArray());

        Assert.That(((FramerEvent.Failed)events[0]).Error.Kind, Is.EqualTo(FramingErrorKind.TooManyLiterals));
        Assert.That(Text(events[1]), Is.EqualTo("m2 NOOP"));
    }

    [Test]
    public void Unreadable_non_synchronising_literal_size_makes_the_connection_unusable()
    {
        var framer = new ImapCommandFramer();

        var evt = framer.Push("a1 APPEND INBOX {99999999999999999999+}\r\n"u8, out _);

        var error = ((FramerEvent.Failed)evt!).Error;
        Assert.That(error.Kind, Is.EqualTo(FramingErrorKind.InvalidLiteralSize));
        Assert.That(error.ConnectionUnusable, Is.True);
    }

    [Test]
    public void Command_size_bound_covers_lines_and_literals_together()
    {
        var framer = new ImapCommandFramer(Small with { MaxCommandSize = 1200, MaxLiteralsPerCommand = 10, MaxNonSynchronizingLiteralSize = null });

        var events = Feed(framer, Encoding.ASCII.GetBytes("c1 APPEND INBOX {900+}\r\n" + new string('m', 900) + " {900+}\r\n" + new string('n', 900) + "\r\nc2 NOOP\r\n"));

        Assert.That(((FramerEvent.Failed)events[0]).Error.Kind, Is.EqualTo(FramingErrorKind.CommandTooLarge));
        Assert.That(Text(events[1]), Is.EqualTo("c2 NOOP"));
    }

    [Test]
    public void Brace_inside_an_unterminated_quoted_string_is_not_a_literal()
    {
        var framer = new ImapCommandFramer();

        var events = Feed(framer, "q1 LOGIN \"x {5}\r\nq2 NOOP\r\n"u8.ToArray());

        Assert.That(events.Select(Text), Is.EqualTo(new[] { "q1 LOGIN \"x {5}", "q2 NOOP" }));
        Assert.That(ImapCommandParser.Parse(((FramerEvent.CommandReady)events[0]).Command), Is.TypeOf<ParseResult.Bad>());
    }

    [Test]
    public void Literal_octets_are_kept_as_sent_including_eight_bit_and_crlf()
    {
        byte[] content = [0xE2, 0x82, 0xAC, 0x0D, 0x0A, 0xFF];
        byte[] input = [.. "a1 APPEND INBOX {6+}\r\n"u8, .. content, .. "\r\n"u8];

        var events = Feed(new ImapCommandFramer(), input);
        var append = (AppendCommand)((ParseResult.Ok)ImapCommandParser.Parse(((FramerEvent.CommandReady)events.Single()).Command)).Command;

        Assert.That(append.Messages.Single().Content.ToArray(), Is.EqualTo(content));
    }

    [Test]
    public void A_synchronising_literal_over_budget_is_refused_before_the_continuation_and_the_next_command_is_framed()
    {
        var asked = new List<long>();
        var framer = new ImapCommandFramer(null, size => { asked.Add(size); return false; });

        var events = Feed(framer, "b1 APPEND INBOX {300}\r\nb2 NOOP\r\n"u8.ToArray());

        Assert.That(asked, Is.EqualTo(new long[] { 300 }), "asked once, with the announced size");
        Assert.That(events[0], Is.TypeOf<FramerEvent.Failed>(), "no continuation request: the client never sends the literal");
        var error = ((FramerEvent.Failed)events[0]).Error;
        Assert.That((error.Tag, error.Kind, error.ConnectionUnusable), Is.EqualTo(("b1", FramingErrorKind.OverBudget, false)));
        Assert.That(Text(events[1]), Is.EqualTo("b2 NOOP"));
        Assert.That(events, Has.Count.EqualTo(2));
    }

    [Test]
    public void A_non_synchronising_literal_over_budget_is_read_and_discarded_and_only_then_refused()
    {
        var framer = new ImapCommandFramer(null, _ => false);
        var literal = "x1 NOOP\r\nx2 NOOP\r\n"u8.ToArray(); // command-like lines inside the literal are never framed
        byte[] input = [.. Encoding.ASCII.GetBytes($"c1 APPEND INBOX {{{literal.Length}+}}\r\n"), .. literal, .. " {3+}\r\nabc\r\nc2 NOOP\r\n"u8];

        var first = framer.Push(input, out var consumed);

        Assert.That(first, Is.TypeOf<FramerEvent.Failed>());
        Assert.That(((FramerEvent.Failed)first!).Error.Kind, Is.EqualTo(FramingErrorKind.OverBudget));
        Assert.That(Encoding.ASCII.GetString(input, consumed, input.Length - consumed), Is.EqualTo("c2 NOOP\r\n"),
            "the refusal comes once the whole command (both literals, MULTIAPPEND) has been read");
        Assert.That(Feed(framer, input[consumed..]).Select(Text), Is.EqualTo(new[] { "c2 NOOP" }));
        Assert.That(framer.BufferedBytes, Is.Zero, "the discarded literal was never buffered");
    }

    [Test]
    public void An_admitted_literal_is_framed_as_before()
    {
        var framer = new ImapCommandFramer(null, size => size <= 5);

        var events = Feed(framer, "d1 APPEND INBOX {5+}\r\nhello\r\n"u8.ToArray());

        Assert.That(events.Select(Text), Is.EqualTo(new[] { "d1 APPEND INBOX {5+}\r\nhello" }));
    }

    [Test]
    public void Limits_are_validated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImapCommandFramer(new ImapSyntaxLimits { MaxLineLength = 10 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ImapCommandFramer(new ImapSyntaxLimits { MaxCommandSize = 100 }));
    }
}
