using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;
using static MailServer.Tests.Protocols.Imap.Messages.MessageFixtures;

namespace MailServer.Tests.Protocols.Imap.Messages;

[TestFixture]
public sealed class SortAndThreadTests
{
    // RFC 5256 §2.1 base subject extraction.
    [TestCase("Hello", "Hello", false)]
    [TestCase("Re: Hello", "Hello", true)]
    [TestCase("RE:Hello", "Hello", true)]
    [TestCase("re: Re: Fwd: hello", "hello", true)]
    [TestCase("Fw: hello", "hello", true)]
    [TestCase("Re[2]: hello", "hello", true)]
    [TestCase("Re [2]: hello", "hello", true)]
    [TestCase("[list] Re: hello", "hello", true)]
    [TestCase("[list] hello", "hello", false)]
    [TestCase("[list]", "[list]", false)]
    [TestCase("[a][b] [c] hello", "hello", false)]
    [TestCase("hello (fwd)", "hello", true)]
    [TestCase("hello (FWD) (fwd)  ", "hello", true)]
    [TestCase("[Fwd: hello]", "hello", true)]
    [TestCase("[fwd: Re: [list] hello (fwd)]", "hello", true)]
    [TestCase("  hello \t  world  ", "hello world", false)]
    [TestCase("Reply: hello", "Reply: hello", false)]
    [TestCase("Re hello", "Re hello", false)]
    [TestCase("", "", false)]
    public void Base_subject(string subject, string expected, bool reply)
    {
        Assert.That(SortKeys.BaseSubject(subject, out var isReply), Is.EqualTo(expected));
        Assert.That(isReply, Is.EqualTo(reply));
    }

    private static SearchContext Message(uint seq, string from, string to, string cc, string subject, string? date, int day, long size) =>
        Context(seq, seq * 10, Crlf(
            "From: " + from,
            "To: " + to,
            "Cc: " + cc,
            "Subject: " + subject,
            date is null ? "X-No-Date: 1" : "Date: " + date,
            "",
            "body"), internalDate: new DateTimeOffset(2024, 5, day, 0, 0, 0, TimeSpan.Zero), size: size);

    private static readonly SearchContext[] SortSet =
    [
        Message(1, "Zed <zed@example.com>", "amy@example.com", "", "Re: beta", "Mon, 6 May 2024 10:00:00 +0000", 3, 300),
        Message(2, "\"Adam\" <ya@example.com>", "Zoe <zoe@example.com>", "bea@example.com", "[list] alpha", "Sun, 5 May 2024 10:00:00 +0000", 1, 100),
        Message(3, "mike@example.com", "bob@example.com", "abe@example.com", "Fwd: Gamma", null, 2, 200),
        Message(4, "=?utf-8?q?Bj=C3=B6rn?= <bea@example.com>", "carl@example.com", "", "ALPHA (fwd)", "Sat, 4 May 2024 23:00:00 -0500", 4, 200),
    ];

    [TestCase("ARRIVAL", new uint[] { 2, 3, 1, 4 })]
    [TestCase("REVERSE ARRIVAL", new uint[] { 4, 1, 3, 2 })]
    // Message 3 has no Date: its internal date (2 May) stands in (RFC 5256 §2.2); 4 is 5 May 04:00 UTC.
    [TestCase("DATE", new uint[] { 3, 4, 2, 1 })]
    [TestCase("SIZE", new uint[] { 2, 3, 4, 1 })]
    [TestCase("REVERSE SIZE", new uint[] { 1, 3, 4, 2 })]
    // Empty Cc sorts first; then abe, bea.
    [TestCase("CC", new uint[] { 1, 4, 3, 2 })]
    [TestCase("FROM", new uint[] { 4, 3, 2, 1 })]
    [TestCase("TO", new uint[] { 1, 3, 4, 2 })]
    [TestCase("SUBJECT", new uint[] { 2, 4, 1, 3 })]
    [TestCase("SUBJECT REVERSE DATE", new uint[] { 2, 4, 1, 3 })]
    [TestCase("SUBJECT DATE", new uint[] { 4, 2, 1, 3 })]
    [TestCase("REVERSE SUBJECT ARRIVAL", new uint[] { 3, 1, 2, 4 })]
    [TestCase("DISPLAYFROM", new uint[] { 2, 4, 3, 1 })]
    [TestCase("DISPLAYTO", new uint[] { 1, 3, 4, 2 })]
    public void Sort_by_criteria(string criteria, uint[] expected)
    {
        var command = (SortCommand)((ParseResult.Ok)ImapCommandParser.Parse($"a SORT ({criteria}) UTF-8 ALL")).Command;
        var sorted = SortKeys.Sort(SortSet, command.Criteria).Select(m => m.SequenceNumber);
        Assert.That(sorted, Is.EqualTo(expected));
    }

    private static SearchContext Threaded(uint seq, string id, string subject, string? references = null, string? inReplyTo = null, string? date = null) =>
        Context(seq, seq + 100, Crlf(
            "Message-ID: " + id,
            "Subject: " + subject,
            "Date: " + (date ?? $"Wed, 1 May 2024 {seq:00}:00:00 +0000"),
            references is null ? "X-Refs: none" : "References: " + references,
            inReplyTo is null ? "X-Irt: none" : "In-Reply-To: " + inReplyTo,
            "",
            "body"));

    private static readonly SearchContext[] ThreadSet =
    [
        Threaded(1, "<1@x>", "Thread A"),
        Threaded(2, "<2@x>", "Re: Thread A", "<1@x>"),
        Threaded(3, "<3@x>", "Other"),
        Threaded(4, "<4@x>", "Re: Thread A", "<1@x> <2@x>"),
        Threaded(5, "<5@x>", "Re: Thread A", inReplyTo: "<1@x> (from someone)"),
        Threaded(6, "<6@x>", "Lost parent", "<missing@x>"),
        Threaded(7, "<7@x>", "Re: Other"),
        Threaded(8, "<8@x>", "Gone", "<gone@x>"),
        Threaded(9, "<9@x>", "Re: Gone", "<gone@x>"),
    ];

    [Test]
    public void Thread_references()
    {
        var threads = Threading.Thread("references", ThreadSet, useUid: false);
        // 1 has replies 2 (with 4 under it) and 5; 7 joins 3 by subject; 6's missing parent is pruned;
        // 8 and 9 share a missing parent, kept as a dummy at the root (RFC 5256 §3 REFERENCES (4)).
        Assert.That(Threading.Format(threads), Is.EqualTo("(1 (2 4)(5))(3 7)(6)((8)(9))"));
        Assert.That(Threading.Format(Threading.Thread("REFERENCES", ThreadSet, useUid: true)),
            Is.EqualTo("(101 (102 104)(105))(103 107)(106)((108)(109))"));
    }

    [Test]
    public void Thread_references_with_loops_and_duplicates_terminates()
    {
        SearchContext[] set =
        [
            Threaded(1, "<a@x>", "loop", "<b@x>"),
            Threaded(2, "<b@x>", "loop", "<a@x>"),
            Threaded(3, "<a@x>", "duplicate id"),
            Threaded(4, "<c@x>", "self", "<c@x>"),
        ];
        var text = Threading.Format(Threading.Thread(Threading.References, set, false));
        // Every message appears exactly once.
        var numbers = text.Split(['(', ')', ' '], StringSplitOptions.RemoveEmptyEntries).Select(uint.Parse).Order();
        Assert.That(numbers, Is.EqualTo(new uint[] { 1, 2, 3, 4 }));
        Assert.That(text, Does.Contain("(1 2)").Or.Contain("(2 1)"));
    }

    [Test]
    public void Thread_references_merges_non_reply_roots_under_a_dummy()
    {
        SearchContext[] set =
        [
            Threaded(1, "<a@x>", "Same topic"),
            Threaded(2, "<b@x>", "Same topic"),
            Threaded(3, "<c@x>", "Re: Same topic"),
        ];
        // Two non-replies share a dummy; the reply joins the dummy as a sibling (RFC 5256 §3 (6)).
        Assert.That(Threading.Format(Threading.Thread(Threading.References, set, false)), Is.EqualTo("((1)(2)(3))"));
    }

    [Test]
    public void Thread_ordered_subject()
    {
        var threads = Threading.Thread("ORDEREDSUBJECT", ThreadSet, useUid: false);
        Assert.That(Threading.Format(threads), Is.EqualTo("(1 (2)(4)(5))(3 7)(6)(8 9)"));
    }

    [Test]
    public void Thread_list_syntax_matches_rfc_5256_example()
    {
        static ThreadNode N(uint n, params ThreadNode[] children) => new(n, children);
        // RFC 5256 §4: (2)(3 6 (4 23)(44 7 96))
        ThreadNode[] threads = [N(2), N(3, N(6, N(4, N(23)), N(44, N(7, N(96)))))];
        Assert.That(Threading.Format(threads), Is.EqualTo("(2)(3 6 (4 23)(44 7 96))"));
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var writer = new ImapResponseWriter(buffer);
        writer.BeginUntagged().Atom("THREAD");
        Threading.Write(writer, threads);
        writer.End();
        Assert.That(System.Text.Encoding.ASCII.GetString(buffer.WrittenSpan), Is.EqualTo("* THREAD (2)(3 6 (4 23)(44 7 96))\r\n"));
        Assert.Throws<ArgumentException>(() => Threading.Thread("X-UNKNOWN", ThreadSet, false));
    }
}
