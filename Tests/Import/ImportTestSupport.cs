using System.Security.Cryptography;
using System.Text.Json.Nodes;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MailServer.Server;
using MailServer.Server.Security;
using MailServer.Tests.Support;
using MimeKit;

namespace MailServer.Tests.Import;

/// <summary>What the import tests share: a real server whose users have a known password, the CLI, and MailKit readers.</summary>
internal static class ImportTestSupport
{
    public const string Password = "import test password";

    internal sealed record CliOutcome(int Code, string Out, string Error)
    {
        public override string ToString() => $"exit {Code}\n--- stdout ---\n{Out}\n--- stderr ---\n{Error}";
    }

    /// <summary>A server (not started) whose users log in with <see cref="Password"/>; <paramref name="edit"/> changes the organization.</summary>
    public static ServerProcess Create(Action<JsonObject>? edit = null)
    {
        var server = ServerProcess.Create();
        var root = JsonNode.Parse(File.ReadAllText(server.ConfigPath))!.AsObject();
        var org = root["MailServer"]!["Organizations"]![0]!.AsObject();
        var users = org["Users"]!.AsArray();
        users.Add(new JsonObject { ["Email"] = "carol@example.test", ["DisplayName"] = "Carol" });
        foreach (var user in users)
            user!["PasswordHash"] = PasswordHasher.Hash(Password, iterations: 1000);
        edit?.Invoke(org);
        File.WriteAllText(server.ConfigPath, root.ToJsonString());
        return server;
    }

    /// <summary>Runs a CLI verb in-process against the server's config (through its admin listener while it runs).</summary>
    public static async Task<CliOutcome> CliAsync(ServerProcess server, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var code = await Program.RunAsync([.. args, "--config", server.ConfigPath], output, error, new StringReader(""));
        return new CliOutcome(code, output.ToString(), error.ToString());
    }

    /// <summary>MailKit logged in to the server as <paramref name="user"/>.</summary>
    public static async Task<ImapClient> ImapAsync(ServerProcess server, string user)
    {
        var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", server.ListenerPorts.Imaps, SecureSocketOptions.SslOnConnect);
        await imap.AuthenticateAsync(user, Password);
        return imap;
    }

    /// <summary>One message as a reader sees it: Message-ID, flags, keywords, internal date, size and SHA-256 of the octets.</summary>
    internal sealed record Seen(string MessageId, MessageFlags Flags, string[] Keywords, DateTimeOffset InternalDate, long Size, string Sha256);

    /// <summary>Every message of a folder, by Message-ID (reads each message's octets).</summary>
    public static async Task<List<Seen>> ReadFolderAsync(IMailFolder folder)
    {
        await folder.OpenAsync(FolderAccess.ReadOnly);
        var result = new List<Seen>();
        if (folder.Count == 0)
            return result;
        var summaries = await folder.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.InternalDate
                                                       | MessageSummaryItems.Size | MessageSummaryItems.Envelope);
        foreach (var s in summaries)
        {
            using var stream = await folder.GetStreamAsync(s.UniqueId);
            var hash = Convert.ToHexString(await SHA256.HashDataAsync(stream));
            result.Add(new Seen(s.Envelope!.MessageId!, s.Flags!.Value & ~MessageFlags.Recent, s.Keywords.OrderBy(k => k, StringComparer.Ordinal).ToArray(),
                s.InternalDate!.Value, (long)s.Size!.Value, hash));
        }
        await folder.CloseAsync();
        return result.OrderBy(r => r.MessageId, StringComparer.Ordinal).ToList();
    }

    /// <summary>A small text message with a unique Message-ID.</summary>
    public static MimeMessage Message(string subject, string? body = null, string? messageId = null)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("sender@elsewhere.test"));
        message.To.Add(MailboxAddress.Parse("alice@example.test"));
        message.Subject = subject;
        message.MessageId = messageId ?? $"{Guid.NewGuid():N}@elsewhere.test";
        message.Date = new DateTimeOffset(2020, 1, 2, 3, 4, 5, TimeSpan.Zero);
        message.Body = new TextPart("plain") { Text = body ?? $"Body of {subject}.\r\n" };
        return message;
    }
}
