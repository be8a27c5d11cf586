using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>
/// ID (RFC 2971): the server names itself. Of what the client sends, only its "name" and "version" are kept, as the
/// audit log's user_agent (WorkMail Administrator Guide, "Mailbox access logs"); the other fields (os, address, ...) may identify a person and
/// are neither kept nor logged.
/// </summary>
internal static class IdHandler
{
    /// <summary>The longest user agent kept; a client may send up to 1024 octets per value (RFC 2971 §3.3).</summary>
    public const int MaxUserAgentLength = 128;

    public static Task<ImapCompletion> RunAsync(IdCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (UserAgentOf(command) is { } agent)
            session.UserAgent = agent;
        session.Writer.BeginUntagged().Atom("ID").BeginList().String("name").String("MailServer").EndList().End();
        return Task.FromResult(ImapCompletion.Ok("ID completed"));
    }

    /// <summary><c>name/version</c> (or the name alone) from the client's ID fields, printable ASCII only, bounded.</summary>
    internal static string? UserAgentOf(IdCommand command)
    {
        if (command.Parameters is not { } fields)
            return null;
        string? Field(string key) => fields.FirstOrDefault(f => string.Equals(f.Key, key, StringComparison.OrdinalIgnoreCase)).Value;
        var name = Clean(Field("name"));
        if (name is null)
            return null;
        var version = Clean(Field("version"));
        var agent = version is null ? name : name + "/" + version;
        return agent.Length <= MaxUserAgentLength ? agent : agent[..MaxUserAgentLength];
    }

    private static string? Clean(string? value)
    {
        if (value is null)
            return null;
        var kept = new string(value.Where(c => c is >= ' ' and <= '~').ToArray()).Trim();
        return kept.Length == 0 ? null : kept;
    }
}
