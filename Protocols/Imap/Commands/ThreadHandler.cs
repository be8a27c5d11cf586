using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>THREAD / UID THREAD (RFC 5256 §3) with the algorithms of <see cref="Threading.Algorithms"/>.</summary>
internal static class ThreadHandler
{
    public static async Task<ImapCompletion> RunAsync(ThreadCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (!Threading.Algorithms.Contains(command.Algorithm, StringComparer.OrdinalIgnoreCase))
            throw new ImapSyntaxException("Unsupported threading algorithm");
        var matches = await SearchHandler.MatchAsync(session, command.Charset, command.Search, loadHeaders: true, cancellationToken);
        var threads = Threading.Thread(command.Algorithm.ToUpperInvariant(), matches, command.Uid);
        var w = session.Writer.BeginUntagged().Atom("THREAD");
        Threading.Write(w, threads);
        w.End();
        return ImapCompletion.Ok("THREAD completed");
    }
}
