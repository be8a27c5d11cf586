using MailServer.Protocols.Imap.Messages;
using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>SORT / UID SORT (RFC 5256 §3): the SEARCH result ordered by <see cref="SortKeys"/>.</summary>
internal static class SortHandler
{
    public static async Task<ImapCompletion> RunAsync(SortCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (command.Return is not null)
            throw new ImapSyntaxException("ESORT is not supported");
        var matches = await SearchHandler.MatchAsync(session, command.Charset, command.Search, loadHeaders: true, cancellationToken);
        var sorted = SortKeys.Sort(matches, command.Criteria);
        var numbers = sorted.Select(m => command.Uid ? m.Uid : m.SequenceNumber).ToList();
        var w = session.Writer.BeginUntagged().Atom("SORT");
        foreach (var n in numbers)
            w.Number(n);
        w.End();
        return ImapCompletion.Ok("SORT completed");
    }
}
