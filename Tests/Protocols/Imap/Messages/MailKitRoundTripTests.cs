using System.Buffers;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;
using MimeKit;
using NUnit.Framework;
using static MailServer.Tests.Protocols.Imap.Messages.MessageFixtures;

namespace MailServer.Tests.Protocols.Imap.Messages;

/// <summary>
/// MailKit's ImapClient reads our FETCH data over a loopback socket: a scripted one-message server (not the real
/// session, which lives elsewhere) answers FETCH through <see cref="FetchDataWriter"/>, so MailKit's own parsers judge
/// the ENVELOPE / BODYSTRUCTURE / section syntax.
/// </summary>
[TestFixture]
public sealed class MailKitRoundTripTests
{
    private sealed class OneMessageServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly byte[] _message;
        private readonly Task _serve;
        private readonly CancellationTokenSource _stop = new();

        private readonly IReadOnlyList<SearchContext> _threadSet;

        public OneMessageServer(string message, IReadOnlyList<SearchContext>? threadSet = null)
        {
            _message = Encoding.UTF8.GetBytes(message);
            _threadSet = threadSet ?? [];
            _listener.Start();
            _serve = ServeAsync(_stop.Token);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public List<string> Commands { get; } = [];

        private async Task ServeAsync(CancellationToken cancellationToken)
        {
            using var client = await _listener.AcceptTcpClientAsync(cancellationToken);
            var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.Latin1);
            await Send(stream, "* OK [CAPABILITY IMAP4rev1 BINARY THREAD=REFERENCES THREAD=ORDEREDSUBJECT] ready\r\n", cancellationToken);
            while (await reader.ReadLineAsync(cancellationToken) is { } line)
            {
                lock (Commands)
                {
                    Commands.Add(line);
                }
                var parts = line.Split(' ', 3);
                var tag = parts[0];
                var verb = parts.Length > 1 ? parts[1].ToUpperInvariant() : "";
                var reply = verb switch
                {
                    "LOGIN" => $"{tag} OK [CAPABILITY IMAP4rev1 BINARY THREAD=REFERENCES THREAD=ORDEREDSUBJECT] logged in\r\n",
                    "CAPABILITY" => $"* CAPABILITY IMAP4rev1 BINARY\r\n{tag} OK done\r\n",
                    "LIST" when line.EndsWith("\"\"", StringComparison.Ordinal) => $"* LIST (\\Noselect) \"/\" \"\"\r\n{tag} OK done\r\n",
                    "LIST" => $"* LIST (\\HasNoChildren) \"/\" INBOX\r\n{tag} OK done\r\n",
                    "EXAMINE" or "SELECT" => $"* 1 EXISTS\r\n* FLAGS (\\Seen)\r\n* OK [UIDVALIDITY 7] ok\r\n* OK [UIDNEXT 2] ok\r\n{tag} OK [READ-ONLY] done\r\n",
                    "UID" when line.Contains(" THREAD ", StringComparison.OrdinalIgnoreCase) => Thread(line),
                    "FETCH" or "UID" => Fetch(line),
                    "LOGOUT" => $"* BYE bye\r\n{tag} OK done\r\n",
                    _ => $"{tag} OK done\r\n",
                };
                await Send(stream, reply, cancellationToken);
                if (verb == "LOGOUT")
                {
                    break;
                }
            }
        }

        private string Fetch(string line)
        {
            var command = (FetchCommand)((ParseResult.Ok)ImapCommandParser.Parse(line)).Command;
            var view = ImapMessageView.Parse(_message);
            var buffer = new ArrayBufferWriter<byte>();
            var writer = new ImapResponseWriter(buffer);
            writer.BeginUntagged().Number(1).Atom("FETCH").BeginList();
            foreach (var item in command.Items)
            {
                if (FetchDataWriter.IsContentItem(item))
                {
                    FetchDataWriter.Write(writer, item, view);
                }
                else if (item is FetchItem.Attribute { Kind: FetchAttribute.Uid })
                {
                    writer.Atom("UID").Number(1);
                }
                else if (item is FetchItem.Attribute { Kind: FetchAttribute.Flags })
                {
                    writer.Atom("FLAGS").FlagList([]);
                }
                else if (item is FetchItem.Attribute { Kind: FetchAttribute.Rfc822Size })
                {
                    writer.Atom("RFC822.SIZE").Number((ulong)_message.Length);
                }
            }
            if (!command.Items.Any(i => i is FetchItem.Attribute { Kind: FetchAttribute.Uid }))
            {
                writer.Atom("UID").Number(1);
            }
            writer.EndList().End();
            writer.Tagged(command.Tag, ImapStatus.Ok, null, "done");
            return Encoding.Latin1.GetString(buffer.WrittenSpan);
        }

        private string Thread(string line)
        {
            var command = (ThreadCommand)((ParseResult.Ok)ImapCommandParser.Parse(line)).Command;
            var buffer = new ArrayBufferWriter<byte>();
            var writer = new ImapResponseWriter(buffer);
            writer.BeginUntagged().Atom("THREAD");
            Threading.Write(writer, Threading.Thread(command.Algorithm, _threadSet, command.Uid));
            writer.End();
            writer.Tagged(command.Tag, ImapStatus.Ok, null, "done");
            return Encoding.Latin1.GetString(buffer.WrittenSpan);
        }

        private static async Task Send(NetworkStream stream, string text, CancellationToken cancellationToken) =>
            await stream.WriteAsync(Encoding.Latin1.GetBytes(text), cancellationToken);

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            try
            {
                await _serve;
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or IOException)
            {
                // The client hung up or the test ended first.
            }
            _stop.Dispose();
        }
    }

    private static async Task<(ImapClient Client, IMailFolder Inbox)> ConnectAsync(OneMessageServer server)
    {
        var client = new ImapClient();
        await client.ConnectAsync("127.0.0.1", server.Port, MailKit.Security.SecureSocketOptions.None);
        await client.AuthenticateAsync("user", "secret");
        await client.Inbox.OpenAsync(FolderAccess.ReadOnly);
        return (client, client.Inbox);
    }

    [Test]
    public async Task MailKit_reads_the_nested_structure_and_envelope()
    {
        await using var server = new OneMessageServer(Nested());
        var (client, inbox) = await ConnectAsync(server);
        using var _ = client;
        var summary = (await inbox.FetchAsync(0, 0, MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure | MessageSummaryItems.UniqueId)).Single();

        Assert.That(summary.Envelope!.Subject, Is.EqualTo("nested"));
        Assert.That(summary.Envelope!.From.Mailboxes.Single().Address, Is.EqualTo("a@example.com"));
        Assert.That(summary.Envelope!.From.Mailboxes.Single().Name, Is.EqualTo("Ann"));
        var root = (BodyPartMultipart)summary.Body!;
        Assert.That(root.ContentType.MimeType, Is.EqualTo("multipart/mixed"));
        Assert.That(root.ContentType.Boundary, Is.EqualTo("outer"));
        Assert.That(root.BodyParts.Select(p => p.PartSpecifier), Is.EqualTo(new[] { "1", "2", "3", "4", "5" }));
        var text = (BodyPartText)root.BodyParts[0];
        Assert.That((text.Octets, text.Lines, text.ContentType.Charset), Is.EqualTo((10u, 1u, "utf-8")));
        var message = (BodyPartMessage)root.BodyParts[1];
        Assert.That(message.ContentDescription, Is.EqualTo("forwarded"));
        Assert.That(message.Envelope!.Subject, Is.EqualTo("inner subject"));
        var inner = (BodyPartMultipart)message.Body!;
        Assert.That(inner.BodyParts.Select(p => p.PartSpecifier), Is.EqualTo(new[] { "2.1", "2.2" }));
        Assert.That(inner.BodyParts[1].ContentType.MimeType, Is.EqualTo("text/html"));
        var attachment = (BodyPartBasic)root.BodyParts[2];
        Assert.That(attachment.IsAttachment, Is.True);
        Assert.That(attachment.FileName, Is.EqualTo("data.bin"));
        Assert.That(attachment.ContentLanguage, Is.EqualTo(new[] { "en", "de" }));
        Assert.That(attachment.ContentLocation, Is.EqualTo(new Uri("http://example.com/data.bin")));
        Assert.That(attachment.ContentMd5, Is.EqualTo("Q2hlY2sgSW50ZWdyaXR5IQ=="));

        // Section fetches: MailKit asks for BODY.PEEK[n.MIME] and BODY.PEEK[n] and decodes the part itself.
        var part = (MimePart)await inbox.GetBodyPartAsync(summary.UniqueId, attachment);
        using var decoded = new MemoryStream();
        await part.Content!.DecodeToAsync(decoded);
        Assert.That(decoded.ToArray(), Is.EqualTo(new byte[] { 0, 1, 2, 3, 4 }));
        var html = (TextPart)await inbox.GetBodyPartAsync(summary.UniqueId, inner.BodyParts[1]);
        Assert.That(html.Text, Is.EqualTo("<p>inner html</p>"));
        var whole = await inbox.GetMessageAsync(summary.UniqueId);
        Assert.That(whole.Subject, Is.EqualTo("nested"));
        Assert.That(whole.Attachments.Single(a => a is MimePart).ContentDisposition!.FileName, Is.EqualTo("data.bin"));
        await client.DisconnectAsync(true);
        Assert.That(server.Commands, Has.Some.Contains("BODY.PEEK[3]"));
    }

    [Test]
    public async Task MailKit_reads_the_rfc9051_example_and_an_envelope_with_groups()
    {
        await using var server = new OneMessageServer(Rfc9051Example());
        var (client, inbox) = await ConnectAsync(server);
        using var _ = client;
        var summary = (await inbox.FetchAsync(0, 0, MessageSummaryItems.Envelope | MessageSummaryItems.BodyStructure)).Single();
        var body = (BodyPartText)summary.Body!;
        Assert.That((body.Octets, body.Lines, body.ContentType.MimeType), Is.EqualTo((3028u, 92u, "TEXT/PLAIN")));
        Assert.That(summary.Envelope!.Cc.Mailboxes.Select(m => m.Address), Is.EqualTo(new[] { "minutes@CNRI.Reston.VA.US", "KLENSIN@MIT.EDU" }));
        Assert.That(summary.Envelope!.MessageId, Is.EqualTo("B27397-0100000@cac.washington.edu"));
        Assert.That(summary.Envelope!.Date, Is.EqualTo(new DateTimeOffset(1996, 7, 17, 2, 23, 25, TimeSpan.FromHours(-7))));
        await client.DisconnectAsync(true);
    }

    [Test]
    public async Task MailKit_reads_encoded_names_and_groups()
    {
        await using var server = new OneMessageServer(Crlf(
            "From: =?utf-8?q?J=C3=B6rg?= <jorg@example.com>",
            "To: Team: ann@example.com, \"Bob B\" <bob@example.com>;, carol@example.com",
            "Subject: =?utf-8?q?caf=C3=A9?=",
            "",
            "body"));
        var (client, inbox) = await ConnectAsync(server);
        using var _ = client;
        var summary = (await inbox.FetchAsync(0, 0, MessageSummaryItems.Envelope)).Single();
        Assert.That(summary.Envelope!.Subject, Is.EqualTo("café"));
        Assert.That(summary.Envelope!.From.Mailboxes.Single().Name, Is.EqualTo("Jörg"));
        var group = (GroupAddress)summary.Envelope!.To[0];
        Assert.That(group.Name, Is.EqualTo("Team"));
        Assert.That(group.Members.Mailboxes.Select(m => m.Address), Is.EqualTo(new[] { "ann@example.com", "bob@example.com" }));
        Assert.That(((MailboxAddress)summary.Envelope!.To[1]).Address, Is.EqualTo("carol@example.com"));
        await client.DisconnectAsync(true);
    }
    [Test]
    public async Task MailKit_reads_our_thread_lists()
    {
        static SearchContext M(uint seq, string id, string subject, string? references = null) =>
            Context(seq, seq + 100, Crlf("Message-ID: " + id, "Subject: " + subject, $"Date: Wed, 1 May 2024 {seq:00}:00:00 +0000",
                references is null ? "X-None: 1" : "References: " + references, "", "body"));
        SearchContext[] set =
        [
            M(1, "<1@x>", "A"), M(2, "<2@x>", "Re: A", "<1@x>"), M(3, "<3@x>", "B"), M(4, "<4@x>", "Re: A", "<1@x> <2@x>"),
            M(5, "<5@x>", "Re: A", "<1@x>"), M(6, "<6@x>", "C", "<gone@x>"), M(7, "<7@x>", "Re: C", "<gone@x>"),
        ];
        await using var server = new OneMessageServer(Crlf("Subject: x", "", "y"), set);
        var (client, inbox) = await ConnectAsync(server);
        using var _ = client;
        var threads = await inbox.ThreadAsync(ThreadingAlgorithm.References, MailKit.Search.SearchQuery.All);
        Assert.That(threads.Select(t => t.UniqueId?.Id), Is.EqualTo(new uint?[] { 101, 103, null }));
        Assert.That(threads[0].Children.Select(c => c.UniqueId?.Id), Is.EqualTo(new uint?[] { 102, 105 }));
        Assert.That(threads[0].Children[0].Children.Single().UniqueId?.Id, Is.EqualTo(104u));
        Assert.That(threads[2].Children.Select(c => c.UniqueId?.Id), Is.EqualTo(new uint?[] { 106, 107 }));
        var bySubject = await inbox.ThreadAsync(ThreadingAlgorithm.OrderedSubject, MailKit.Search.SearchQuery.All);
        Assert.That(bySubject.Select(t => t.UniqueId?.Id), Is.EqualTo(new uint?[] { 101, 103, 106 }));
        Assert.That(bySubject[0].Children.Select(c => c.UniqueId?.Id), Is.EqualTo(new uint?[] { 102, 104, 105 }));
        await client.DisconnectAsync(true);
    }
}
