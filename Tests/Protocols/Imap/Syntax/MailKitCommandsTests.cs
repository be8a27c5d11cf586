using System.Net;
using System.Net.Sockets;
using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Search;
using MailServer.Protocols.Imap.Syntax;
using MimeKit;
using NUnit.Framework;

namespace MailServer.Tests.Protocols.Imap.Syntax;

/// <summary>
/// Every command a real client (MailKit) sends in a typical session frames and parses. A scripted loopback peer
/// answers with just enough canned data for the client to continue; it has no mailbox behaviour.
/// </summary>
[TestFixture]
public sealed class MailKitCommandsTests
{
    [Test]
    public async Task Commands_sent_by_mailkit_all_parse()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var peer = new ScriptedPeer();
        var serverTask = Task.Run(async () =>
        {
            using var socket = await listener.AcceptTcpClientAsync(cts.Token);
            await peer.RunAsync(socket.GetStream(), cts.Token);
        }, cts.Token);

        using (var client = new ImapClient())
        {
            client.Timeout = 20_000;
            await client.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None, cts.Token);
            await client.AuthenticateAsync("alice", "pass word", cts.Token);
            await client.IdentifyAsync(new ImapImplementation { Name = "MailKit", Version = "4.18" }, cts.Token);
            await client.Inbox.OpenAsync(FolderAccess.ReadWrite, cts.Token);
            var query = SearchQuery.FromContains("bob").And(SearchQuery.DeliveredAfter(new DateTime(2024, 1, 2)))
                .And(SearchQuery.SubjectContains("caf\u00e9 \"quoted\"").Or(SearchQuery.NotSeen)).And(SearchQuery.LargerThan(1000));
            var uids = await client.Inbox.SearchAsync(query, cts.Token);
            await client.Inbox.FetchAsync(uids, MessageSummaryItems.Full | MessageSummaryItems.UniqueId | MessageSummaryItems.BodyStructure
                | MessageSummaryItems.References | MessageSummaryItems.PreviewText, cts.Token);
            await client.Inbox.AddFlagsAsync(uids, MessageFlags.Seen | MessageFlags.Flagged, true, cts.Token);
            await client.Inbox.RemoveFlagsAsync(new UniqueId(2), MessageFlags.Deleted, false, cts.Token);
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Bob", "bob@example.test"));
            message.Subject = "Hello \u00fcber";
            message.Body = new TextPart("plain") { Text = "Line one\r\nLine two\r\n" };
            await client.Inbox.AppendAsync(new AppendRequest(message, MessageFlags.Seen) { InternalDate = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.FromHours(2)) }, cts.Token);
            var folders = await client.GetFoldersAsync(client.PersonalNamespaces[0], cancellationToken: cts.Token);
            var target = folders.First(f => f.FullName != "INBOX");
            await client.Inbox.CopyToAsync(uids, target, cts.Token);
            await client.Inbox.ExpungeAsync(cts.Token);
            await client.Inbox.CloseAsync(false, cts.Token);
            await client.DisconnectAsync(true, cts.Token);
        }
        await serverTask;
        listener.Stop();

        Assert.That(peer.Bad, Is.Empty, "commands the parser rejected");
        var kinds = peer.Parsed.Select(c => c.GetType().Name).ToList();
        Assert.That(kinds, Is.SupersetOf(new[]
        {
            nameof(AuthenticateCommand), nameof(NamespaceCommand), nameof(IdCommand), nameof(SelectCommand), nameof(SearchCommand),
            nameof(FetchCommand), nameof(StoreCommand), nameof(AppendCommand), nameof(ListCommand), nameof(CopyCommand),
            nameof(ExpungeCommand), nameof(LogoutCommand),
        }));
        var append = peer.Parsed.OfType<AppendCommand>().Single();
        Assert.That(Encoding.UTF8.GetString(append.Messages[0].Content.Span), Does.Contain("Line two"));
        Assert.That(append.Messages[0].InternalDate, Is.EqualTo(new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.FromHours(2))));
        var auth = peer.Parsed.OfType<AuthenticateCommand>().Single();
        Assert.That(Encoding.UTF8.GetString(auth.InitialResponse!), Is.EqualTo("\0alice\0pass word"));
        var search = peer.Parsed.OfType<SearchCommand>().Single();
        Assert.That(search.Uid, Is.True);
        Assert.That(search.ToString(), Does.Contain("caf\u00e9 \"quoted\""));
    }

    /// <summary>Answers each framed command with fixed, minimal responses; records what the parser made of it.</summary>
    private sealed class ScriptedPeer
    {
        public List<ImapCommand> Parsed { get; } = [];
        public List<string> Bad { get; } = [];

        public async Task RunAsync(NetworkStream stream, CancellationToken ct)
        {
            var framer = new ImapCommandFramer();
            await Write(stream, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR ID UIDPLUS ESEARCH NAMESPACE UNSELECT SPECIAL-USE LIST-EXTENDED] ready\r\n", ct);
            var buffer = new byte[4096];
            while (true)
            {
                var n = await stream.ReadAsync(buffer, ct);
                if (n == 0)
                {
                    return;
                }
                var input = new ReadOnlyMemory<byte>(buffer, 0, n);
                while (!input.IsEmpty)
                {
                    var evt = framer.Push(input.Span, out var consumed);
                    input = input[consumed..];
                    switch (evt)
                    {
                        case FramerEvent.ContinuationNeeded:
                            await Write(stream, "+ Ready for literal data\r\n", ct);
                            break;
                        case FramerEvent.Failed failed:
                            Bad.Add(failed.Error.Message);
                            return;
                        case FramerEvent.CommandReady ready:
                            var result = ImapCommandParser.Parse(ready.Command);
                            if (result is ParseResult.Bad bad)
                            {
                                Bad.Add($"{Encoding.UTF8.GetString(ready.Command.Span)} -> {bad.Reason}");
                                await Write(stream, $"{bad.Tag ?? "*"} BAD {bad.Reason}\r\n", ct);
                                continue;
                            }
                            var command = ((ParseResult.Ok)result).Command;
                            Parsed.Add(command);
                            TestContext.Out.WriteLine("C: " + Encoding.UTF8.GetString(ready.Command.Span).Split("\r\n")[0]);
                            await Write(stream, Respond(command), ct);
                            if (command is LogoutCommand)
                            {
                                return;
                            }
                            break;
                    }
                }
            }
        }

        private static string Respond(ImapCommand command) => command switch
        {
            CapabilityCommand c => $"* CAPABILITY IMAP4rev1 AUTH=PLAIN SASL-IR ID UIDPLUS ESEARCH NAMESPACE UNSELECT SPECIAL-USE LIST-EXTENDED\r\n{c.Tag} OK done\r\n",
            AuthenticateCommand c => $"{c.Tag} OK [CAPABILITY IMAP4rev1 ID UIDPLUS ESEARCH NAMESPACE UNSELECT SPECIAL-USE LIST-EXTENDED] logged in\r\n",
            NamespaceCommand c => $"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n{c.Tag} OK done\r\n",
            IdCommand c => $"* ID NIL\r\n{c.Tag} OK done\r\n",
            ListCommand c when c.Patterns.SequenceEqual([""]) => $"* LIST (\\Noselect) \"/\" \"\"\r\n{c.Tag} OK done\r\n",
            ListCommand c => $"* LIST (\\HasNoChildren) \"/\" INBOX\r\n* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"\r\n{c.Tag} OK done\r\n",
            SelectCommand c => $"* FLAGS (\\Seen \\Deleted \\Flagged)\r\n* 3 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 4] n\r\n{c.Tag} OK [READ-WRITE] selected\r\n",
            SearchCommand { Return: not null } c => $"* ESEARCH (TAG \"{c.Tag}\") UID ALL 1:3\r\n{c.Tag} OK done\r\n",
            SearchCommand c => $"* SEARCH 1 2 3\r\n{c.Tag} OK done\r\n",
            AppendCommand c => $"{c.Tag} OK [APPENDUID 7 4] appended\r\n",
            CopyCommand c => $"{c.Tag} OK [COPYUID 7 1:3 1:3] copied\r\n",
            LogoutCommand c => $"* BYE bye\r\n{c.Tag} OK done\r\n",
            _ => $"{command.Tag} OK done\r\n",
        };

        private static async Task Write(NetworkStream stream, string text, CancellationToken ct) =>
            await stream.WriteAsync(Encoding.UTF8.GetBytes(text), ct);
    }
}
