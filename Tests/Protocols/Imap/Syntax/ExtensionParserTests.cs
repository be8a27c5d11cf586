using System.Text;
using MailServer.Protocols.Imap.Syntax;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Syntax;

/// <summary>Parser rows taken from the examples of REPLACE (RFC 8508), CATENATE (RFC 4469), PARTIAL (RFC 9394),
/// UIDONLY (RFC 9586) and CONTEXT (RFC 5267), and the IMAP URLs (RFC 5092) CATENATE takes.</summary>
[TestFixture]
public sealed class ExtensionParserTests
{
    private static ImapCommand ParseOk(string wire)
    {
        var result = ImapCommandParser.Parse(wire);
        if (result is ParseResult.Bad bad)
            Assert.Fail($"Expected Ok, got BAD: {bad.Reason}");
        return ((ParseResult.Ok)result).Command;
    }

    private const string Draft = "Date: Thu, 1 Jan 2015 00:05:00 -0500 (EST)\r\nFrom: Fritz Schmidt <fritz.ww@example.org>\r\nTo: Helga Mueller <helga@example.com>\r\nSubject: Saturday lunch\r\n\r\nHelga,\r\n";

    [Test]
    public void Replace_and_uid_replace_from_rfc_8508_examples()
    {
        // RFC 8508 §3.1 / §3.2 examples (message text shortened, its length announced exactly).
        var replace = ParseOk($"A003 REPLACE 4 Drafts (\\Seen \\Draft) {{{Draft.Length}}}\r\n{Draft}");
        Assert.That(replace, Is.EqualTo(new ReplaceCommand("A003", false, 4, "Drafts",
            new AppendMessage(ValueList.Of(@"\Seen", @"\Draft"), null, Encoding.ASCII.GetBytes(Draft), false))));
        var uidReplace = ParseOk($"B003 UID REPLACE 2000 Drafts (\\Seen \\Draft) {{{Draft.Length}+}}\r\n{Draft}");
        Assert.That(uidReplace, Is.EqualTo(new ReplaceCommand("B003", true, 2000, "Drafts",
            new AppendMessage(ValueList.Of(@"\Seen", @"\Draft"), null, Encoding.ASCII.GetBytes(Draft), false))));
        Assert.That(ParseOk("C1 UID REPLACE * INBOX {1+}\r\nx"), Is.EqualTo(new ReplaceCommand("C1", true, null, "INBOX",
            new AppendMessage(ValueList<string>.Empty, null, "x"u8.ToArray(), false))));
        // RFC 8508 §6: seq-number is nz-number / "*": no sets, no zero.
        Assert.That(ImapCommandParser.Parse("a REPLACE 1:2 INBOX {1+}\r\nx"), Is.TypeOf<ParseResult.Bad>());
        Assert.That(ImapCommandParser.Parse("a REPLACE 0 INBOX {1+}\r\nx"), Is.TypeOf<ParseResult.Bad>());
        Assert.That(ImapCommandParser.Parse("a REPLACE 1 INBOX"), Is.TypeOf<ParseResult.Bad>());
    }

    [Test]
    public void Catenate_append_from_the_rfc_4469_example()
    {
        // RFC 4469 §3 example: URL and TEXT parts, flags.
        const string boundary = "\r\n--------------030308070208000400050907\r\n";
        var wire = "A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER\" " +
                   $"TEXT {{{boundary.Length}}}\r\n{boundary} URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME\" " +
                   $"URL \"/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1\" TEXT {{{boundary.Length}+}}\r\n{boundary})";
        var append = (AppendCommand)ParseOk(wire);
        var message = append.Messages.Single();
        Assert.That(message.Flags, Is.EqualTo(ValueList.Of(@"\Seen", @"\Draft", "$MDNSent")));
        Assert.That(message.Catenate, Is.EqualTo(ValueList.Of<CatenatePart>(
            new CatenatePart.Url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=HEADER"),
            new CatenatePart.Text(Encoding.ASCII.GetBytes(boundary), false),
            new CatenatePart.Url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME"),
            new CatenatePart.Url("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1"),
            new CatenatePart.Text(Encoding.ASCII.GetBytes(boundary), false))));
        // MULTIAPPEND with a CATENATE message and a plain one (RFC 4469 §4); a literal8 TEXT part (RFC 3516 §4.4).
        var multi = (AppendCommand)ParseOk("a APPEND INBOX CATENATE (TEXT ~{2}\r\nx\0) (\\Seen) {1+}\r\ny");
        Assert.That(multi.Messages, Has.Count.EqualTo(2));
        Assert.That(multi.Messages[0].Catenate, Is.EqualTo(ValueList.Of<CatenatePart>(new CatenatePart.Text(new byte[] { (byte)'x', 0 }, true))));
        Assert.That(ImapCommandParser.Parse("a APPEND INBOX CATENATE ()"), Is.TypeOf<ParseResult.Bad>());
        Assert.That(ImapCommandParser.Parse("a APPEND INBOX CATENATE (TEXT \"quoted\")"), Is.TypeOf<ParseResult.Bad>());
        Assert.That(ImapCommandParser.Parse("a APPEND INBOX CATENATE (FILE \"x\")"), Is.TypeOf<ParseResult.Bad>());
    }

    [Test]
    public void Imap_urls_of_rfc_5092_and_rfc_4469()
    {
        Assert.That(ImapUrl.Parse("/Drafts;UIDVALIDITY=385759045/;UID=20/;section=1.MIME"),
            Is.EqualTo(new ImapUrl(null, null, null, "Drafts", 385759045, 20, "1.MIME", null, null, false)));
        Assert.That(ImapUrl.Parse("imap://fred@example.com/INBOX/;uid=20/;section=1.2/;partial=0.1024"),
            Is.EqualTo(new ImapUrl("fred", "example.com", null, "INBOX", null, 20, "1.2", 0, 1024, false)));
        Assert.That(ImapUrl.Parse("imap://michael@example.org:143/INBOX;UIDVALIDITY=12345/;UID=1/;SECTION=HEADER.FIELDS%20(TO)"),
            Is.EqualTo(new ImapUrl("michael", "example.org", 143, "INBOX", 12345, 1, "HEADER.FIELDS (TO)", null, null, false)));
        // RFC 5092 §3: mailbox names are percent-encoded UTF-8.
        Assert.That(ImapUrl.Parse("/Gr%C3%BC%C3%9Fe/;UID=3")!.Mailbox, Is.EqualTo("Grüße"));
        Assert.That(ImapUrl.Parse(";UID=7/;PARTIAL=10"), Is.EqualTo(new ImapUrl(null, null, null, null, null, 7, null, 10, null, false)));
        Assert.That(ImapUrl.Parse("imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038")!.HasUrlAuth, Is.True);
        Assert.That(ImapUrl.Parse("imap://example.com/INBOX"), Is.Null, "a mailbox, not a message");
        Assert.That(ImapUrl.Parse("/INBOX/;UID=0"), Is.Null);
        Assert.That(ImapUrl.Parse("http://example.com/INBOX/;UID=1"), Is.Null);
        Assert.That(ImapUrl.Parse("/INBOX/;UID=1/;SECTION=%ZZ"), Is.Null);
    }

    [Test]
    public void Partial_ranges_from_the_rfc_9394_examples()
    {
        var first = (SearchCommand)ParseOk("E01 UID SEARCH RETURN (PARTIAL 1:500) UNDELETED");
        Assert.That(first.Return, Is.EqualTo(SearchReturnOptions.Partial));
        Assert.That(first.Partial, Is.EqualTo(new PartialRange(false, 1, 500)));
        Assert.That(((SearchCommand)ParseOk("E02 UID SEARCH RETURN (PARTIAL -1:-100) UNDELETED")).Partial, Is.EqualTo(new PartialRange(true, 1, 100)));
        var counted = (SearchCommand)ParseOk("E03 UID SEARCH RETURN (COUNT PARTIAL 23500:24000) UNDELETED");
        Assert.That(counted.Return, Is.EqualTo(SearchReturnOptions.Count | SearchReturnOptions.Partial));
        Assert.That(counted.Partial!.ToString(), Is.EqualTo("23500:24000"));
        Assert.That(((SearchCommand)ParseOk("a SEARCH RETURN (PARTIAL -100:-1) ALL")).Partial!.ToString(), Is.EqualTo("-1:-100"));
        Assert.That(((FetchCommand)ParseOk("1 UID FETCH 1:* (FLAGS) (PARTIAL -1:-30)")).Partial, Is.EqualTo(new PartialRange(true, 1, 30)));
        Assert.That(((SortCommand)ParseOk("s UID SORT RETURN (PARTIAL 1:10) (DATE) UTF-8 ALL")).Partial, Is.EqualTo(new PartialRange(false, 1, 10)));
        foreach (var bad in new[] { "a SEARCH RETURN (PARTIAL 1:-2) ALL", "a SEARCH RETURN (PARTIAL 0:2) ALL", "a SEARCH RETURN (PARTIAL 5) ALL",
                     "a SEARCH RETURN (ALL PARTIAL 1:2) ALL", "a SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL" })
            Assert.That(ImapCommandParser.Parse(bad), Is.TypeOf<ParseResult.Bad>(), bad);
        // Windows: positions beyond the result give nothing; from the end, -1 is the last.
        Assert.That(new PartialRange(false, 3, 5).Window(4), Is.EqualTo((2, 2)));
        Assert.That(new PartialRange(true, 1, 3).Window(10), Is.EqualTo((7, 3)));
        Assert.That(new PartialRange(true, 5, 8).Window(3), Is.EqualTo((0, 0)));
        Assert.That(new PartialRange(false, 9, 12).Window(8), Is.EqualTo((0, 0)));
    }

    [Test]
    public void Enable_uidonly_from_rfc_9586()
    {
        Assert.That(ParseOk("A01 ENABLE UIDONLY"), Is.EqualTo(new EnableCommand("A01", ValueList.Of("UIDONLY"))));
    }

    [Test]
    public void Context_update_and_cancelupdate_from_rfc_5267()
    {
        // RFC 5267 §4.4 / §4.5 example shapes.
        var search = (SearchCommand)ParseOk("B01 UID SEARCH RETURN (UPDATE) FLAGGED");
        Assert.That(search.Return, Is.EqualTo(SearchReturnOptions.Update));
        var sort = (SortCommand)ParseOk("C01 UID SORT RETURN (UPDATE PARTIAL 23500:24000) (REVERSE DATE) UTF-8 UNDELETED UNKEYWORD $Junk");
        Assert.That(sort.Return, Is.EqualTo(SearchReturnOptions.Update | SearchReturnOptions.Partial));
        Assert.That(((SearchCommand)ParseOk("A01 UID SEARCH RETURN (CONTEXT MIN) ALL")).Return, Is.EqualTo(SearchReturnOptions.Context | SearchReturnOptions.Min));
        Assert.That(ParseOk("B02 CANCELUPDATE \"B01\""), Is.EqualTo(new CancelUpdateCommand("B02", ValueList.Of("B01"))));
        Assert.That(ParseOk("B03 CANCELUPDATE \"B01\" \"C01\""), Is.EqualTo(new CancelUpdateCommand("B03", ValueList.Of("B01", "C01"))));
        Assert.That(ImapCommandParser.Parse("B04 CANCELUPDATE"), Is.TypeOf<ParseResult.Bad>());
    }

    [Test]
    public void Getmetadata_and_setmetadata_from_rfc_5464_examples()
    {
        // RFC 5464 §4.2 / §4.3 examples.
        Assert.That(ParseOk("a GETMETADATA \"\" /shared/comment"),
            Is.EqualTo(new GetMetadataCommand("a", "", ValueList.Of("/shared/comment"), null, MetadataDepth.Zero)));
        Assert.That(ParseOk("a GETMETADATA INBOX (/shared/comment /private/comment)"),
            Is.EqualTo(new GetMetadataCommand("a", "INBOX", ValueList.Of("/shared/comment", "/private/comment"), null, MetadataDepth.Zero)));
        Assert.That(ParseOk("a GETMETADATA (MAXSIZE 1024) INBOX /shared/comment"),
            Is.EqualTo(new GetMetadataCommand("a", "INBOX", ValueList.Of("/shared/comment"), 1024, MetadataDepth.Zero)));
        Assert.That(ParseOk("a GETMETADATA (DEPTH 1) INBOX (/private/filters/values)"),
            Is.EqualTo(new GetMetadataCommand("a", "INBOX", ValueList.Of("/private/filters/values"), null, MetadataDepth.One)));
        Assert.That(((GetMetadataCommand)ParseOk("a GETMETADATA (MAXSIZE 10 DEPTH infinity) INBOX /shared")).Depth, Is.EqualTo(MetadataDepth.Infinity));
        Assert.That(ParseOk("a SETMETADATA INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)"),
            Is.EqualTo(new SetMetadataCommand("a", "INBOX", ValueList.Of(new MetadataEntry("/private/comment", Encoding.ASCII.GetBytes("My new comment across\r\ntwo lines."))))));
        Assert.That(ParseOk("a SETMETADATA INBOX (/private/comment NIL)"),
            Is.EqualTo(new SetMetadataCommand("a", "INBOX", ValueList.Of(new MetadataEntry("/private/comment", null)))));
        Assert.That(((SetMetadataCommand)ParseOk("a SETMETADATA \"\" (/shared/vendor/x ~{2}\r\na\0)")).Entries[0].Value, Is.EqualTo(new byte[] { (byte)'a', 0 }));
        foreach (var bad in new[] { "a GETMETADATA INBOX", "a GETMETADATA (DEPTH 2) INBOX /shared", "a GETMETADATA (MAXSIZE 1 MAXSIZE 2) INBOX /shared",
                     "a SETMETADATA INBOX ()", "a SETMETADATA INBOX (/shared/x)" })
            Assert.That(ImapCommandParser.Parse(bad), Is.TypeOf<ParseResult.Bad>(), bad);
    }

    [Test]
    public void Notify_set_and_none_from_rfc_5465()
    {
        // RFC 5465 §3.1 example shape, the event lists parenthesised as the §8 grammar has them.
        var set = (NotifyCommand)ParseOk("a NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))");
        Assert.That(set.Status, Is.True);
        Assert.That(set.Groups!.Count, Is.EqualTo(2));
        var selected = set.Groups[0];
        Assert.That(selected.Filter, Is.EqualTo(NotifyFilter.Selected));
        Assert.That(selected.Events.Select(e => e.Name), Is.EqualTo(new[] { "MessageNew", "MessageExpunge" }));
        Assert.That(selected.Events[0].FetchItems?.Count, Is.EqualTo(2));
        Assert.That(selected.Events[0].FetchItems?[1], Is.TypeOf<FetchItem.BodySection>());
        Assert.That(set.Groups[1], Is.EqualTo(new NotifyEventGroup(NotifyFilter.Subtree, ValueList.Of("Lists"),
            ValueList.Of(new NotifyEvent("MessageNew"), new NotifyEvent("MessageExpunge")))));

        // §6: every filter; one-or-more-mailbox as one name or a list; NONE as the events; case-insensitive names.
        var filters = (NotifyCommand)ParseOk("b notify set (SELECTED-DELAYED (messagenew messageexpunge flagchange)) (inboxes NONE) (personal (MailboxName SubscriptionChange)) (subscribed (MessageNew MessageExpunge)) (mailboxes (INBOX Drafts) (MessageNew MessageExpunge)) (subtree \"Other Users\" (MailboxName))");
        Assert.That(filters.Status, Is.False);
        var groups = filters.Groups ?? throw new AssertionException("no groups");
        Assert.That(groups.Select(g => g.Filter), Is.EqualTo(new[] { NotifyFilter.SelectedDelayed, NotifyFilter.Inboxes,
            NotifyFilter.Personal, NotifyFilter.Subscribed, NotifyFilter.Mailboxes, NotifyFilter.Subtree }));
        Assert.That(groups[0].Events.Select(e => e.Name), Is.EqualTo(new[] { "MessageNew", "MessageExpunge", "FlagChange" }));
        Assert.That(groups[1].Events, Is.Empty);
        Assert.That(groups[4].Mailboxes, Is.EqualTo(ValueList.Of("INBOX", "Drafts")));
        Assert.That(groups[5].Mailboxes, Is.EqualTo(ValueList.Of("Other Users")));
        // event-ext = atom: an unknown event parses (the server answers it with BADEVENT).
        Assert.That(((NotifyCommand)ParseOk("c NOTIFY SET (personal (FooChange))")).Groups![0].Events[0].Name, Is.EqualTo("FOOCHANGE"));
        Assert.That(ParseOk("d NOTIFY NONE"), Is.EqualTo(new NotifyCommand("d", false, null)));

        foreach (var bad in new[] { "e NOTIFY", "e NOTIFY SET", "e NOTIFY SET STATUS", "e NOTIFY SET (personal)", "e NOTIFY SET (bogus (MessageNew))",
                     "e NOTIFY SET (subtree (MessageNew))", "e NOTIFY SET (personal ())", "e NOTIFY SET (personal (MessageNew)", "e NOTIFY NONE (personal NONE)",
                     "e NOTIFY SET (selected (MessageNew (NOSUCHITEM) MessageExpunge))" })
            Assert.That(ImapCommandParser.Parse(bad), Is.TypeOf<ParseResult.Bad>(), bad);
    }
}
