using MailServer.Protocols.Imap.Syntax;

namespace MailServer.Protocols.Imap.Commands;

/// <summary>CANCELUPDATE (RFC 5267 §4.3): the named search results are no longer kept updated.</summary>
internal static class CancelUpdateHandler
{
    public static Task<ImapCompletion> RunAsync(CancelUpdateCommand command, ImapSession session, CancellationToken cancellationToken)
    {
        if (!session.SearchContexts.Cancel(session.Selected!, command.Tags))
            throw new ImapSyntaxException("No search result with that tag is kept updated");
        return Task.FromResult(ImapCompletion.Ok("CANCELUPDATE completed"));
    }
}
